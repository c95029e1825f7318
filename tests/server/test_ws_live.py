"""The live WebSocket in-process: ``TestClient(create_app(...))`` with ``websocket_connect``.

Sessions are created in the app's store and started on the app's hub (through the TestClient's
event-loop portal), with scripted sources (:mod:`server.live.scripted`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from dashboard.phases import DEFAULT_FIRST_SESSION
from server.app import create_app
from server.live.scripted import ScriptedSources, scripted_source_factory
from server.messages import BeatsMessage, HistoryMessage, SessionMessage, parse_message
from server.settings import ServerSettings
from server.storage import DeviceAssignment, StorageSettings

#: TestClient sends "Host: testserver"; the app answers configured hosts only.
TEST_HOSTS = ("testserver",)


@pytest.fixture
def sources() -> ScriptedSources:
    return scripted_source_factory(pause_s=0.002)


@pytest.fixture
def client(tmp_path: Path, sources: ScriptedSources) -> Iterator[TestClient]:
    settings = ServerSettings(
        storage=StorageSettings(tmp_path), max_ws_messages_per_s=50.0, allowed_hosts=TEST_HOSTS
    )
    with TestClient(create_app(settings, source_factory=sources)) as c:
        yield c


def ctx(client: TestClient) -> Any:
    return client.app.state.ctx  # type: ignore[attr-defined]


def new_session(client: TestClient, tag: str) -> tuple[int, int, int]:
    store = ctx(client).store
    patient = store.create_participant(f"P-{tag}", "patient")
    therapist = store.create_participant(f"T-{tag}", "therapist")
    for p in (patient, therapist):
        for purpose in ("live_display", "storage"):
            store.grant_consent(p.id, purpose, "v1", at_s=0.0)
    session = store.create_session(
        DEFAULT_FIRST_SESSION.to_dict(),
        participants=[
            DeviceAssignment(patient.id, "simulator"),
            DeviceAssignment(therapist.id, "simulator"),
        ],
    )
    return session.id, patient.id, therapist.id


def read_until_closed(ws: Any) -> tuple[list[Any], int]:
    """Every message until the server closes the socket, and the close code."""
    out: list[Any] = []
    while True:
        try:
            out.append(parse_message(ws.receive_text()))
        except WebSocketDisconnect as closed:
            return out, closed.code


def url(client: TestClient, sid: int, token: str | None = None) -> str:
    return f"/ws/sessions/{sid}?token={ctx(client).token if token is None else token}"


@pytest.mark.parametrize("token", ["wrong-token", ""])
def test_bad_or_missing_token_closes_with_4401(client: TestClient, token: str) -> None:
    sid, _, _ = new_session(client, "a")
    with (
        pytest.raises(WebSocketDisconnect) as info,
        client.websocket_connect(url(client, sid, token)) as ws,
    ):
        ws.receive_text()
    assert info.value.code == 4401


def test_unknown_session_closes_with_4404(client: TestClient) -> None:
    with (
        pytest.raises(WebSocketDisconnect) as info,
        client.websocket_connect(url(client, 12345)) as ws,
    ):
        ws.receive_text()
    assert info.value.code == 4404


def test_stream_history_then_beats_then_stopped(
    client: TestClient, sources: ScriptedSources
) -> None:
    sid, pat, ther = new_session(client, "b")
    hub = ctx(client).hub
    client.portal.call(hub.start_session, sid)  # type: ignore[union-attr]
    with client.websocket_connect(url(client, sid)) as ws:
        first = parse_message(ws.receive_text())
        assert isinstance(first, HistoryMessage)
        assert first.session.status == "live"
        assert {p.participant_id for p in first.session.participants} == {pat, ther}
        seen: dict[int, list[float]] = {pat: [], ther: []}
        while len(seen[pat]) < 100:
            msg = parse_message(ws.receive_text())
            if isinstance(msg, BeatsMessage):
                for p in msg.participants:
                    seen[p.participant_id].extend(p.time_s)
        client.portal.call(hub.stop_session, sid)  # type: ignore[union-attr]
        rest, code = read_until_closed(ws)
        assert code == 1000
        last = rest[-1]
        assert isinstance(last, SessionMessage)
        assert last.status == "stopped"
    assert ctx(client).store.count_beats(sid) == sources.built[sid].yielded_beats
    audit = ctx(client).store.list_audit()
    assert any(a.action == "session.watch_live" and a.object_id == str(sid) for a in audit)


def test_two_clients_one_idle_both_served(client: TestClient, sources: ScriptedSources) -> None:
    sid, pat, _ = new_session(client, "c")
    hub = ctx(client).hub
    with (
        client.websocket_connect(url(client, sid)) as idle,
        client.websocket_connect(url(client, sid)) as reader,
    ):
        client.portal.call(hub.start_session, sid)  # type: ignore[union-attr]
        n = 0
        while n < 200:
            msg = parse_message(reader.receive_text())
            if isinstance(msg, BeatsMessage):
                n += sum(len(p.time_s) for p in msg.participants if p.participant_id == pat)
        assert hub.subscribers(sid) == 2
        client.portal.call(hub.stop_session, sid)  # type: ignore[union-attr]
        assert isinstance(parse_message(idle.receive_text()), HistoryMessage)
    assert ctx(client).store.count_beats(sid) == sources.built[sid].yielded_beats


def test_disconnect_unsubscribes(client: TestClient) -> None:
    sid, _, _ = new_session(client, "d")
    hub = ctx(client).hub
    client.portal.call(hub.start_session, sid)  # type: ignore[union-attr]
    with client.websocket_connect(url(client, sid)) as ws:
        ws.receive_text()
        assert hub.subscribers(sid) == 1
    for _ in range(200):  # the server notices the close on its next receive
        if hub.subscribers(sid) == 0:
            break
        client.portal.call(asyncio.sleep, 0.01)  # type: ignore[union-attr]
    assert hub.subscribers(sid) == 0
    client.portal.call(hub.stop_session, sid)  # type: ignore[union-attr]


def test_app_shutdown_stops_live_sessions(tmp_path: Path) -> None:
    settings = ServerSettings(storage=StorageSettings(tmp_path), allowed_hosts=TEST_HOSTS)
    with TestClient(create_app(settings, source_factory=scripted_source_factory())) as c:
        sid, _, _ = new_session(c, "e")
        c.portal.call(ctx(c).hub.start_session, sid)  # type: ignore[union-attr]
        store = ctx(c).store
        assert store.get_session(sid).status == "live"
    from server.storage import Store

    with Store.open(settings.storage) as reopened:
        assert reopened.get_session(sid).status == "stopped"


def test_through_the_api_markers_pause_and_revocation_reach_the_socket(
    client: TestClient,
) -> None:
    """The REST API drives the hub; its effects arrive on the socket at once, in order."""
    auth = {"Authorization": f"Bearer {ctx(client).token}"}

    def post(path: str, body: dict[str, Any], expect: int = 200) -> Any:
        response = client.post(path, json=body, headers=auth)
        assert response.status_code in (expect, 201), response.text
        return response.json()

    pat = post("/api/participants", {"code": "API-P", "role": "patient"})["id"]
    ther = post("/api/participants", {"code": "API-T", "role": "therapist"})["id"]
    for pid in (pat, ther):
        for purpose in ("live_display", "storage"):
            post(f"/api/participants/{pid}/consents", {"purpose": purpose, "version": "v1"})
    sid = post(
        "/api/sessions",
        {
            "participants": [
                {"participant_id": pat, "device": {"kind": "simulator"}},
                {"participant_id": ther, "device": {"kind": "simulator"}},
            ]
        },
    )["id"]
    post(f"/api/sessions/{sid}/start", {})
    with client.websocket_connect(url(client, sid)) as ws:
        assert isinstance(parse_message(ws.receive_text()), HistoryMessage)

        def until(pred: Any) -> list[Any]:
            out = []
            while True:
                out.append(parse_message(ws.receive_text()))
                if pred(out[-1]):
                    return out

        until(lambda m: isinstance(m, BeatsMessage))
        marker = post(f"/api/sessions/{sid}/markers", {"type": "rupture"})
        got = until(lambda m: m.type == "marker")[-1]
        assert (got.marker_id, got.marker_type) == (marker["id"], "rupture")
        assert got.time_s == pytest.approx(marker["time_s"])
        post(f"/api/sessions/{sid}/privacy-pause", {"participant_id": pat, "paused": True})
        until(lambda m: m.type == "visibility" and not m.visible)
        after = until(lambda m: isinstance(m, BeatsMessage) and len(m.participants) > 0)
        assert all(p.participant_id != pat for p in after[-1].participants)
        post(f"/api/participants/{ther}/consents/revoke", {"purpose": "live_display"})
        until(lambda m: m.type == "visibility" and m.participant_id == ther)
        post(f"/api/sessions/{sid}/stop", {})
        rest, code = read_until_closed(ws)
        assert code == 1000
        assert all(not isinstance(m, BeatsMessage) or not m.participants for m in rest[:-1])
        assert isinstance(rest[-1], SessionMessage)
    types = [m.type for m in ctx(client).store.list_markers(sid)]
    assert types == ["rupture", "privacy_pause"]


def test_a_clinician_watches_only_their_own_sessions(client: TestClient) -> None:
    from server.auth import issue_login_token

    store = ctx(client).store
    alice = store.create_clinician("alice")
    bob = store.create_clinician("bob")
    sid, _, _ = new_session(client, "f")
    store_sid = store.create_session(DEFAULT_FIRST_SESSION.to_dict(), clinician_id=alice.id).id
    token_alice, _ = issue_login_token(ctx(client).token, alice.username)
    token_bob, _ = issue_login_token(ctx(client).token, bob.username)
    with client.websocket_connect(url(client, store_sid, token_alice)) as ws:
        first = parse_message(ws.receive_text())
        assert isinstance(first, HistoryMessage)
        assert first.session.status == "planned"
    for other in (store_sid, sid):  # bob's view of alice's session, and of nobody's session
        with (
            pytest.raises(WebSocketDisconnect) as info,
            client.websocket_connect(url(client, other, token_bob)) as ws,
        ):
            ws.receive_text()
        assert info.value.code == 4404


def test_a_finished_session_is_drawn_whole_from_storage(client: TestClient) -> None:
    """Issue 10/13: the live page's view of a finished session gets every beat with the arousal
    the therapist saw (the one derivation), the phases as they ran, and a gap where a privacy
    pause stored nothing."""
    import numpy as np

    from hrv.synthetic import synthetic_rr
    from sensor.types import BeatBatch

    store = ctx(client).store
    sid, pid, tid = new_session(client, "fin")
    for p in (pid, tid):
        store.grant_consent(p, "review", "v1", at_s=0.0)
    t0 = 1_790_000_000.0
    store.start_session(sid, at_s=t0)
    store.record_phase_event(sid, 0, "welcome", "enter", at_s=t0)
    store.record_phase_event(sid, 1, "map", "enter", at_s=t0 + 400.0)
    for who, code, seed in ((pid, "P-fin", 1), (tid, "T-fin", 2)):
        rr = synthetic_rr(duration_s=900.0, seed=seed)
        t = t0 + np.cumsum(rr) / 1000.0
        paused = (t > t0 + 500.0) & (t < t0 + 560.0) if who == pid else np.zeros(t.size, bool)
        keep = ~paused
        after = int(np.argmax(t >= t0 + 560.0)) if who == pid else -1
        for a in range(0, t.size, 40):
            sl = np.arange(a, min(a + 40, t.size))
            sl = sl[keep[sl]]
            if not sl.size:
                continue
            gap = bool(a == 0 or (after in sl and sl[0] == after))
            for part in np.split(sl, np.flatnonzero(np.diff(sl) > 1) + 1):
                store.append_beats(
                    sid,
                    who,
                    BeatBatch(
                        code,
                        "strap",
                        rr[part],
                        None,
                        float(t[part[-1]]),
                        t[part],
                        True,
                        None,
                        int(part[0]),
                        gap or bool(part[0] == after),
                    ),
                )
    store.add_marker(sid, "privacy_pause", participant_id=pid, at_s=t0 + 500.0)
    store.add_marker(sid, "privacy_resume", participant_id=pid, at_s=t0 + 560.0)
    store.stop_session(sid, at_s=t0 + 900.0)

    with client.websocket_connect(url(client, sid)) as ws:
        messages, code = read_until_closed(ws)
    assert code == 1000
    history = messages[0]
    assert isinstance(history, HistoryMessage)
    assert history.session.status == "stopped"
    by_id = {b.participant_id: b for b in history.beats}
    assert set(by_id) == {pid, tid}
    patient = by_id[pid]
    times = np.array(patient.time_s)
    assert times[0] - t0 < 2.0  # from the start, not only the last minutes
    assert t0 + 900.0 - times[-1] < 3.0  # to the end
    # the arousal the therapist saw, after the calibration
    assert sum(a is not None for a in patient.arousal_index) > 0.5 * len(times)
    # nothing drawn inside the privacy pause
    assert not ((times > t0 + 501.0) & (times < t0 + 559.0)).any()
    assert history.phase is not None
    assert [e.actual_start_s for e in history.phase.schedule[:2]] == [t0, t0 + 400.0]
    assert [m.marker_type for m in history.markers] == ["privacy_pause", "privacy_resume"]
