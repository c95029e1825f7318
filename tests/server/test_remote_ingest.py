"""Remote sessions in-process: join links, what they grant, and the ingest protocol.

A Python client (Starlette's TestClient WebSocket) speaks the protocol of
:mod:`server.remote.protocol` to a real app (``create_app``): duplicates, reordering, oversize
and malformed messages, unknown, foreign, expired and revoked tokens, revocation mid-stream, and
beats of a live session reaching the therapist's live WebSocket.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.routing import APIRoute, APIWebSocketRoute
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from dashboard.phases import DEFAULT_FIRST_SESSION
from server.app import create_app
from server.messages import BeatsMessage, parse_message
from server.remote.links import create_join_link
from server.remote.protocol import (
    CLOSE_EXPIRED,
    CLOSE_MALFORMED,
    CLOSE_NO_CONSENT,
    CLOSE_REVOKED,
    CLOSE_TOO_BIG,
    CLOSE_UNKNOWN_TOKEN,
    MAX_BEATS_PER_MESSAGE,
    MAX_MESSAGE_BYTES,
)
from server.settings import ServerSettings
from server.storage import StorageSettings
from server.storage import schema as t


def _app(tmp_path: Path) -> TestClient:
    settings = ServerSettings(
        storage=StorageSettings(tmp_path),
        max_ws_messages_per_s=50.0,
        allowed_hosts=("testserver",),  # the TestClient's host name (its WebSockets use it too)
    )
    # a loopback peer (the patient's side is refused in clear off loopback)
    return TestClient(create_app(settings), client=("127.0.0.1", 50000))


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with _app(tmp_path / "a") as c:
        yield c


def ctx(client: TestClient) -> Any:
    return client.app.state.ctx  # type: ignore[attr-defined]


def auth(client: TestClient) -> dict[str, str]:
    return {"Authorization": f"Bearer {ctx(client).token}"}


def new_link(client: TestClient, tag: str = "a", *, consent: bool = True) -> tuple[int, int, str]:
    """A planned session with one remote patient; returns (session, participant, token)."""
    store = ctx(client).store
    patient = store.create_participant(f"P-{tag}", "patient")
    session = store.create_session(DEFAULT_FIRST_SESSION.to_dict())
    r = client.post(
        f"/api/sessions/{session.id}/join-links",
        json={"participant_id": patient.id, "expires_in_s": 3600},
        headers=auth(client),
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["url"].endswith(f"/join/{body['token']}")
    if consent:
        for purpose in ("storage", "live_display"):
            c = client.post(
                f"/api/join/{body['token']}/consents", json={"purpose": purpose, "granted": True}
            )
            assert c.status_code == 200, c.text
    return session.id, patient.id, body["token"]


def beats(seq: int, n: int = 3, t0: float | None = None) -> str:
    start = time.time() if t0 is None else t0
    rr = [800.0 + 10 * i for i in range(n)]
    times = [start + 0.8 * i for i in range(n)]
    return json.dumps(
        {"type": "beats", "seq": seq, "rr_ms": rr, "t_device_s": times, "contact": True}
    )


def ingest_url(token: str, stream: str = "s1") -> str:
    return f"/ws/ingest?join={token}&stream={stream}"


def closed_code(ws: Any) -> int:
    while True:
        try:
            ws.receive_text()
        except WebSocketDisconnect as closed:
            return int(closed.code)


def stored(client: TestClient, sid: int) -> int:
    return int(ctx(client).store.count_beats(sid))


# ---------------------------------------------------------------------------- join links


def test_link_stores_only_a_hash_and_is_audited(client: TestClient) -> None:
    sid, pid, token = new_link(client)
    with ctx(client).store.engine.connect() as conn:
        rows = conn.execute(sa.select(t.join_links)).all()
    assert len(rows) == 1
    row = rows[0]._mapping
    assert row["token_sha256"] == hashlib.sha256(token.encode()).hexdigest()
    assert token not in json.dumps({k: str(v) for k, v in row.items()})
    actions = [a.action for a in ctx(client).store.list_audit()]
    assert "join_link.create" in actions
    assert actions.count("join_link.use") >= 2  # the two consents
    listed = client.get(f"/api/sessions/{sid}/join-links", headers=auth(client)).json()
    assert [x["participant_id"] for x in listed] == [pid]
    assert listed[0]["state"] == "active"
    assert "token" not in listed[0]
    # the consents are recorded as given by the participant, for this session only
    consents = ctx(client).store.list_consents(pid)
    assert {c.purpose for c in consents} == {"storage", "live_display"}
    assert all(c.recorded_by == f"participant:{listed[0]['id']}" for c in consents)
    assert all(c.session_id == sid for c in consents)


def test_link_creation_needs_credentials_and_a_sane_lifetime(client: TestClient) -> None:
    store = ctx(client).store
    patient = store.create_participant("P-x", "patient")
    session = store.create_session(DEFAULT_FIRST_SESSION.to_dict())
    path = f"/api/sessions/{session.id}/join-links"
    body = {"participant_id": patient.id, "expires_in_s": 3600}
    assert client.post(path, json=body).status_code == 401
    for bad in (0, 10, 10**9):
        r = client.post(path, json={**body, "expires_in_s": bad}, headers=auth(client))
        assert r.status_code == 422
    assert (
        client.post("/api/sessions/999/join-links", json=body, headers=auth(client)).status_code
        == 404
    )


def _fill(path: str) -> str:
    out = []
    for part in path.split("/"):
        out.append("1" if part.startswith("{") else part)
    return "/".join(out)


def _routes(routes: list[Any]) -> Iterator[Any]:
    """Every route, through the included routers (no router here adds a prefix)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _routes(inner.routes)
        else:
            yield route


def test_a_join_token_grants_nothing_else(client: TestClient) -> None:
    sid, _, token = new_link(client)
    join_routes = ("/join/", "/api/join/", "/ws/ingest")
    checked = refused = 0
    for route in _routes(client.app.routes):  # type: ignore[attr-defined]
        if isinstance(route, APIWebSocketRoute):
            if route.path.startswith("/ws/ingest"):
                continue
            with client.websocket_connect(
                _fill(route.path).replace("/1", f"/{sid}") + f"?token={token}"
            ) as ws:
                assert closed_code(ws) == 4401, route.path
            checked += 1
            continue
        if not isinstance(route, APIRoute) or route.path.startswith(join_routes):
            continue
        path = _fill(route.path).replace("/1", f"/{sid}", 1)
        for method in (route.methods or set()) - {"HEAD", "OPTIONS"}:
            plain = client.request(method, path)
            with_header = client.request(method, path, headers={"Authorization": f"Bearer {token}"})
            with_query = client.request(method, path, params={"token": token})
            assert with_header.status_code == plain.status_code, (method, path)
            assert with_query.status_code == plain.status_code, (method, path)
            if path.startswith("/api/") and path not in ("/api/health", "/api/auth/login"):
                assert with_header.status_code in (401, 404), (method, path)
            refused += with_header.status_code == 401
            checked += 1
    assert checked > 30
    assert refused > 25


def test_unknown_expired_and_revoked_links_are_refused_on_the_page(client: TestClient) -> None:
    sid, pid, token = new_link(client)
    assert client.get(f"/join/{token}").status_code == 200
    assert client.get(f"/api/join/{token}").json()["participant_code"] == "P-a"
    assert client.get("/join/not-a-token").status_code == 404
    store = ctx(client).store
    _, old = create_join_link(store, sid, pid, 60.0, actor="test", now_s=time.time() - 120)
    assert client.get(f"/api/join/{old}").status_code == 404
    link_id = client.get(f"/api/sessions/{sid}/join-links", headers=auth(client)).json()[0]["id"]
    r = client.post(f"/api/sessions/{sid}/join-links/{link_id}/revoke", headers=auth(client))
    assert r.status_code == 200
    assert r.json()["state"] == "revoked"
    assert client.get(f"/join/{token}").status_code == 404
    refused = [a for a in store.list_audit() if a.action == "join_link.refused"]
    assert {a.detail["reason"] for a in refused} == {"unknown", "expired", "revoked"}


# ---------------------------------------------------------------------------- ingest protocol


def test_beats_acked_once_stored_duplicates_and_reordering(client: TestClient) -> None:
    sid, _, token = new_link(client)
    with client.websocket_connect(ingest_url(token)) as ws:
        hello = json.loads(ws.receive_text())
        assert hello["type"] == "hello"
        assert hello["session_id"] == sid
        assert hello["max_beats_per_message"] == MAX_BEATS_PER_MESSAGE
        for seq in (0, 1, 2):
            ws.send_text(beats(seq))
            assert json.loads(ws.receive_text()) == {"type": "ack", "seq": seq}
            # acknowledged only after the beats are committed
            assert stored(client, sid) == 3 * (seq + 1)
        ws.send_text(beats(1))  # a duplicate: acknowledged again, stored once
        assert json.loads(ws.receive_text()) == {"type": "ack", "seq": 1}
        ws.send_text(beats(5))  # reordered: 5 before 4
        ws.send_text(beats(4))
        acks = {json.loads(ws.receive_text())["seq"] for _ in range(2)}
        assert acks == {4, 5}
    assert stored(client, sid) == 15
    # the same messages on a new connection of the same stream: stored once
    with client.websocket_connect(ingest_url(token)) as ws:
        ws.receive_text()
        for seq in (0, 4):
            ws.send_text(beats(seq))
            assert json.loads(ws.receive_text())["seq"] == seq
    assert stored(client, sid) == 15


def test_duplicates_after_a_server_restart_are_stored_once(tmp_path: Path) -> None:
    with _app(tmp_path) as client:
        sid, _, token = new_link(client)
        with client.websocket_connect(ingest_url(token)) as ws:
            ws.receive_text()
            ws.send_text(beats(0, t0=1000.0))
            ws.receive_text()
    with _app(tmp_path) as client:  # a new process: no memory of what was acknowledged
        with client.websocket_connect(ingest_url(token)) as ws:
            ws.receive_text()
            for seq in (0, 1):
                ws.send_text(beats(seq, t0=1000.0 + seq * 10))
                assert json.loads(ws.receive_text())["seq"] == seq
        assert stored(client, sid) == 6


def test_ping_pong_estimates_the_clock_offset(client: TestClient) -> None:
    _, _, token = new_link(client)
    with client.websocket_connect(ingest_url(token)) as ws:
        ws.receive_text()
        skew = -37.25  # the device's clock is 37.25 s ahead of the server's
        for _ in range(5):
            ws.send_text(json.dumps({"type": "ping", "t_device_s": time.time() - skew}))
            pong = json.loads(ws.receive_text())
            assert pong["type"] == "pong"
        # offset + smallest one-way delay: in-process, far below 0.5 s
        assert skew <= pong["offset_s"] < skew + 0.5


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("not json", CLOSE_MALFORMED),
        ('{"type": "beats", "seq": -1, "rr_ms": [800], "t_device_s": [1.0]}', CLOSE_MALFORMED),
        ('{"type": "beats", "seq": 0, "rr_ms": [800, 810], "t_device_s": [1.0]}', CLOSE_MALFORMED),
        ('{"type": "beats", "seq": 0, "rr_ms": [NaN], "t_device_s": [1.0]}', CLOSE_MALFORMED),
        ('{"type": "beats", "seq": 0, "rr_ms": [], "t_device_s": []}', CLOSE_MALFORMED),
        ('{"type": "hello"}', CLOSE_MALFORMED),
        (beats(0, MAX_BEATS_PER_MESSAGE + 1), CLOSE_MALFORMED),
        (" " * (MAX_MESSAGE_BYTES + 1), CLOSE_TOO_BIG),
    ],
)
def test_malformed_or_oversize_messages_close_and_store_nothing(
    client: TestClient, message: str, code: int
) -> None:
    sid, _, token = new_link(client)
    with client.websocket_connect(ingest_url(token)) as ws:
        ws.receive_text()
        ws.send_text(message)
        assert closed_code(ws) == code
    assert stored(client, sid) == 0


def test_bad_foreign_expired_tokens_and_missing_consent(tmp_path: Path) -> None:
    with _app(tmp_path / "other") as other:
        _, _, foreign = new_link(other, "f")
    with _app(tmp_path / "here") as client:
        sid, pid, _ = new_link(client)
        _, expired = create_join_link(
            ctx(client).store, sid, pid, 60.0, actor="t", now_s=time.time() - 61
        )
        _, _, no_consent = new_link(client, "n", consent=False)
        for token, code in (
            ("", CLOSE_UNKNOWN_TOKEN),
            ("x" * 43, CLOSE_UNKNOWN_TOKEN),
            (foreign, CLOSE_UNKNOWN_TOKEN),
            (ctx(client).token, CLOSE_UNKNOWN_TOKEN),  # the admin token is no join token
            (expired, CLOSE_EXPIRED),
            (no_consent, CLOSE_NO_CONSENT),
        ):
            with client.websocket_connect(ingest_url(token)) as ws:
                assert closed_code(ws) == code, token
        assert stored(client, sid) == 0


def test_revocation_mid_stream_stops_at_once(client: TestClient) -> None:
    sid, _, token = new_link(client)
    link_id = client.get(f"/api/sessions/{sid}/join-links", headers=auth(client)).json()[0]["id"]
    with client.websocket_connect(ingest_url(token)) as ws:
        ws.receive_text()
        ws.send_text(beats(0))
        assert json.loads(ws.receive_text())["seq"] == 0
        r = client.post(f"/api/sessions/{sid}/join-links/{link_id}/revoke", headers=auth(client))
        assert r.status_code == 200
        with pytest.raises(WebSocketDisconnect) as info:
            ws.receive_text()  # the close arrives without the client sending anything
        assert info.value.code == CLOSE_REVOKED
    assert stored(client, sid) == 3
    with client.websocket_connect(ingest_url(token)) as ws:
        assert closed_code(ws) == CLOSE_REVOKED
    assert stored(client, sid) == 3


def test_revoking_storage_consent_on_the_page_closes_the_stream(client: TestClient) -> None:
    sid, _, token = new_link(client)
    with client.websocket_connect(ingest_url(token)) as ws:
        ws.receive_text()
        ws.send_text(beats(0))
        ws.receive_text()
        r = client.post(
            f"/api/join/{token}/consents", json={"purpose": "storage", "granted": False}
        )
        assert r.status_code == 200
        assert not next(p for p in r.json()["purposes"] if p["purpose"] == "storage")["granted"]
        with pytest.raises(WebSocketDisconnect) as info:
            ws.receive_text()
        assert info.value.code == CLOSE_NO_CONSENT
    assert stored(client, sid) == 0  # the consent said: delete


def test_live_session_beats_reach_the_therapist_page(client: TestClient) -> None:
    sid, pid, token = new_link(client)
    hub = ctx(client).hub
    client.portal.call(hub.start_session, sid)  # type: ignore[union-attr]
    live = f"/ws/sessions/{sid}?token={ctx(client).token}"
    with (
        client.websocket_connect(live) as therapist,
        client.websocket_connect(ingest_url(token)) as patient,
    ):
        patient.receive_text()
        patient.send_text(json.dumps({"type": "ping", "t_device_s": time.time()}))
        patient.receive_text()
        t0 = time.time()
        for seq in range(10):
            patient.send_text(beats(seq, 5, t0 + 4 * seq))
            assert json.loads(patient.receive_text())["seq"] == seq
        seen: list[float] = []
        while len(seen) < 10:  # the engine keeps a few beats of look-ahead back
            msg = parse_message(therapist.receive_text())
            if isinstance(msg, BeatsMessage):
                for p in msg.participants:
                    if p.participant_id == pid:
                        seen.extend(p.rr_ms)
        assert seen[:5] == [800.0, 810.0, 820.0, 830.0, 840.0]
    assert stored(client, sid) == 50
    client.portal.call(hub.stop_session, sid)  # type: ignore[union-attr]


def test_link_quality_in_the_list(client: TestClient) -> None:
    sid, _, token = new_link(client)
    with client.websocket_connect(ingest_url(token)) as ws:
        ws.receive_text()
        ws.send_text(json.dumps({"type": "ping", "t_device_s": time.time() - 2.0, "buffered": 7}))
        ws.receive_text()
        ws.send_text(beats(0, 3, time.time() - 5.0))
        ws.receive_text()
        listed = client.get(f"/api/sessions/{sid}/join-links", headers=auth(client)).json()
        q = listed[0]["quality"]
        assert q["connected"] == 1
        assert q["beats_received"] == 3
        assert q["client_buffered_beats"] == 7
        assert 2.0 <= q["clock_offset_s"] < 2.5  # the device clock runs 2 s behind
        # the newest beat was 3.4 s old on the device clock: 1.4 s after the offset
        assert 1.0 < q["upload_delay_s"] < 2.0
        assert q["last_beat_age_s"] >= 0.0
    listed = client.get(f"/api/sessions/{sid}/join-links", headers=auth(client)).json()
    assert listed[0]["quality"]["connected"] == 0
