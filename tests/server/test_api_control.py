"""REST API: live control (phase advance/extend, markers, cue responses, privacy pause)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from dashboard.cues import GROUNDING_MARKERS
from server.models import MARKER_TYPES
from tests.support.api import api_client, ctx_of, live_dyad


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with api_client(tmp_path / "data") as c:
        yield c


def test_marker_vocabulary_covers_the_cue_engine() -> None:
    assert set(GROUNDING_MARKERS) <= set(MARKER_TYPES)
    assert len(MARKER_TYPES) == 9


def test_advance_and_extend_a_live_session(client: TestClient) -> None:
    sid, _, _ = live_dyad(client)
    r = client.post(f"/api/sessions/{sid}/phase/advance")
    assert r.status_code == 200
    assert (r.json()["session_id"], r.json()["phase_id"], r.json()["previous_id"]) == (
        sid,
        "map",
        "welcome",
    )
    r = client.post(f"/api/sessions/{sid}/phase/extend", json={"by_s": 120})
    assert r.status_code == 200
    assert r.json()["extended_by_s"] == 120.0
    assert client.post(f"/api/sessions/{sid}/phase/advance").json()["phase_id"] == "closing"
    # the last phase cannot be advanced: the hub's PhaseError is a 409
    r = client.post(f"/api/sessions/{sid}/phase/advance")
    assert r.status_code == 409
    assert "last phase" in r.json()["detail"]
    events = ctx_of(client).store.list_phase_events(sid)
    assert [(e.phase_name, e.action) for e in events] == [
        ("map", "enter"),
        ("map", "extend"),
        ("closing", "enter"),
    ]


@pytest.mark.parametrize("by_s", [0, -5, 3601, "soon"])
def test_bad_extension_is_422(client: TestClient, by_s: object) -> None:
    sid, _, _ = live_dyad(client)
    r = client.post(f"/api/sessions/{sid}/phase/extend", json={"by_s": by_s})
    assert r.status_code == 422
    assert ("extend_phase", sid, by_s) not in ctx_of(client).hub.calls


def test_phase_control_needs_a_live_session(client: TestClient) -> None:
    sid, _, _ = live_dyad(client, start=False)
    assert client.post(f"/api/sessions/{sid}/phase/advance").status_code == 409
    r = client.post(f"/api/sessions/{sid}/phase/extend", json={"by_s": 60})
    assert r.status_code == 409
    assert "expected live, found planned" in r.json()["detail"]
    assert client.post("/api/sessions/99/phase/advance").status_code == 404
    assert client.post("/api/sessions/99/phase/extend", json={"by_s": 60}).status_code == 404
    assert ctx_of(client).hub.calls == []


@pytest.mark.parametrize("marker_type", MARKER_TYPES)
def test_every_marker_type_is_stored_and_sent_to_the_hub(
    client: TestClient, marker_type: str
) -> None:
    sid, pid, _ = live_dyad(client)
    body: dict[str, object] = {"type": marker_type, "participant_id": pid}
    if marker_type == "note":
        body["note"] = "patient mentions the exam"
    r = client.post(f"/api/sessions/{sid}/markers", json=body)
    assert r.status_code == 201, r.text
    m = r.json()
    assert (m["type"], m["participant_id"], m["actor"]) == (marker_type, pid, "admin")
    assert ctx_of(client).hub.calls[-1] == ("marker_added", sid, m["id"])
    listed = client.get(f"/api/sessions/{sid}/markers").json()
    assert [x["id"] for x in listed] == [m["id"]]


@pytest.mark.parametrize(
    "body",
    [
        {"type": "panic"},
        {"type": "note"},
        {"type": "note", "note": ""},
        {"type": "silence", "note": "x" * 2001},
        {"type": "silence", "colour": "red"},
        {},
    ],
)
def test_bad_markers_are_422(client: TestClient, body: dict[str, object]) -> None:
    sid, _, _ = live_dyad(client)
    r = client.post(f"/api/sessions/{sid}/markers", json=body)
    assert r.status_code == 422
    assert ctx_of(client).store.list_markers(sid) == []


def test_marker_needs_live_session_and_a_member(client: TestClient) -> None:
    sid, _, _ = live_dyad(client, start=False)
    assert client.post(f"/api/sessions/{sid}/markers", json={"type": "rupture"}).status_code == 409
    assert client.post("/api/sessions/99/markers", json={"type": "rupture"}).status_code == 404
    assert client.post(f"/api/sessions/{sid}/start").status_code == 200
    other = client.post("/api/participants", json={"code": "X-1", "role": "patient"}).json()["id"]
    r = client.post(
        f"/api/sessions/{sid}/markers", json={"type": "silence", "participant_id": other}
    )
    assert r.status_code == 404
    assert ctx_of(client).store.list_markers(sid) == []
    assert client.get("/api/sessions/99/markers").status_code == 404


def test_cue_responses(client: TestClient) -> None:
    sid, pid, _ = live_dyad(client)
    store = ctx_of(client).store
    cue = store.add_cue(
        sid, "pacing", "Consider slowing the pace.", {"phase": "map"}, participant_id=pid
    )
    listed = client.get(f"/api/sessions/{sid}/cues").json()
    assert [(c["id"], c["response"]) for c in listed] == [(cue.id, None)]
    r = client.post(
        f"/api/sessions/{sid}/cues/{cue.id}/response", json={"response": "acknowledged"}
    )
    assert r.status_code == 200
    assert r.json()["response"] == "acknowledged"
    assert r.json()["responded_at_s"] is not None
    assert ctx_of(client).hub.calls[-1] == ("cue_responded", sid, cue.id, "acknowledged")
    # answered once only
    again = client.post(
        f"/api/sessions/{sid}/cues/{cue.id}/response", json={"response": "dismissed"}
    )
    assert again.status_code == 409
    assert store.list_cues(sid)[0].response == "acknowledged"
    # wrong value, unknown cue, a cue of another session
    bad = client.post(f"/api/sessions/{sid}/cues/{cue.id}/response", json={"response": "later"})
    assert bad.status_code == 422
    assert (
        client.post(
            f"/api/sessions/{sid}/cues/999/response", json={"response": "dismissed"}
        ).status_code
        == 404
    )
    sid2 = client.post("/api/sessions", json={}).json()["id"]
    cue2 = store.add_cue(sid2, "closing", "Leave time to settle.", {})
    r = client.post(f"/api/sessions/{sid}/cues/{cue2.id}/response", json={"response": "dismissed"})
    assert r.status_code == 404
    assert store.list_cues(sid2)[0].response is None


def test_cue_response_after_the_session_does_not_call_the_hub(client: TestClient) -> None:
    sid, _, _ = live_dyad(client)
    cue = ctx_of(client).store.add_cue(sid, "pacing", "Consider a pause.", {})
    assert client.post(f"/api/sessions/{sid}/stop").status_code == 200
    r = client.post(f"/api/sessions/{sid}/cues/{cue.id}/response", json={"response": "dismissed"})
    assert r.status_code == 200
    assert not any(c[0] == "cue_responded" for c in ctx_of(client).hub.calls)


def test_privacy_pause(client: TestClient) -> None:
    sid, pid, _ = live_dyad(client)
    hub = ctx_of(client).hub
    r = client.post(f"/api/sessions/{sid}/privacy-pause", json={"participant_id": pid})
    assert r.status_code == 200
    assert r.json() == {"session_id": sid, "participant_id": pid, "paused": True}
    assert hub.paused[(sid, pid)] is True
    r = client.post(
        f"/api/sessions/{sid}/privacy-pause", json={"participant_id": pid, "paused": False}
    )
    assert r.json()["paused"] is False
    assert hub.paused[(sid, pid)] is False
    audit = [
        e.detail
        for e in ctx_of(client).store.list_audit(object_type="session", object_id=sid)
        if e.action == "session.privacy_pause"
    ]
    assert audit == [
        {"participant_id": pid, "paused": True},
        {"participant_id": pid, "paused": False},
    ]
    # not a member, not live, unknown session, bad body
    other = client.post("/api/participants", json={"code": "X-1", "role": "patient"}).json()["id"]
    r = client.post(f"/api/sessions/{sid}/privacy-pause", json={"participant_id": other})
    assert r.status_code == 404
    r = client.post(f"/api/sessions/{sid}/privacy-pause", json={"participant_id": pid, "x": 1})
    assert r.status_code == 422
    assert (
        client.post("/api/sessions/99/privacy-pause", json={"participant_id": pid}).status_code
        == 404
    )
    client.post(f"/api/sessions/{sid}/stop")
    r = client.post(f"/api/sessions/{sid}/privacy-pause", json={"participant_id": pid})
    assert r.status_code == 409


def test_markers_and_cue_responses_are_timed_on_the_session_clock(client: TestClient) -> None:
    sid, _, _ = live_dyad(client)
    hub = ctx_of(client).hub
    store = ctx_of(client).store
    before = store.now()
    m = client.post(f"/api/sessions/{sid}/markers", json={"type": "rupture"}).json()
    # the fake session clock runs clock_offset_s ahead of the host clock
    assert m["time_s"] >= before + hub.clock_offset_s
    cue = store.add_cue(sid, "pacing", "Consider a pause.", {})
    r = client.post(f"/api/sessions/{sid}/cues/{cue.id}/response", json={"response": "dismissed"})
    assert r.json()["responded_at_s"] >= before + hub.clock_offset_s


def test_pacer(client: TestClient) -> None:
    sid, _, _ = live_dyad(client)
    r = client.post(f"/api/sessions/{sid}/pacer", json={"on": True})
    assert r.status_code == 200
    assert r.json() == {"session_id": sid, "on": True}
    assert ctx_of(client).hub.pacer[sid] is True
    assert client.post(f"/api/sessions/{sid}/pacer", json={"on": "maybe"}).status_code == 422
    assert client.post(f"/api/sessions/{sid}/pacer", json={}).status_code == 422
    assert client.post("/api/sessions/99/pacer", json={"on": True}).status_code == 404
    client.post(f"/api/sessions/{sid}/stop")
    assert client.post(f"/api/sessions/{sid}/pacer", json={"on": False}).status_code == 409
    assert ctx_of(client).hub.pacer[sid] is True
