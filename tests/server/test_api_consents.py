"""REST API: participants, consents (grant, revoke and its effects), deletion of data, audit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.support.api import api_client, ctx_of, store_beats


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with api_client(tmp_path / "data") as c:
        yield c


def _participant(client: TestClient, code: str = "P-001", role: str = "patient") -> int:
    r = client.post("/api/participants", json={"code": code, "role": role})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _grant(client: TestClient, pid: int, purpose: str, **extra: object) -> dict[str, object]:
    r = client.post(
        f"/api/participants/{pid}/consents", json={"purpose": purpose, "version": "v1", **extra}
    )
    assert r.status_code == 201, r.text
    out: dict[str, object] = r.json()
    return out


def _session_with(client: TestClient, *pids: int) -> int:
    r = client.post(
        "/api/sessions",
        json={
            "participants": [{"participant_id": p, "device": {"kind": "simulator"}} for p in pids]
        },
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def test_participants_create_list_get(client: TestClient) -> None:
    pid = _participant(client)
    tid = _participant(client, "T-001", "therapist")
    r = client.get("/api/participants")
    assert [(p["id"], p["code"], p["role"]) for p in r.json()] == [
        (pid, "P-001", "patient"),
        (tid, "T-001", "therapist"),
    ]
    assert client.get(f"/api/participants/{pid}").json()["code"] == "P-001"
    assert client.get("/api/participants/999").status_code == 404
    dup = client.post("/api/participants", json={"code": "P-001", "role": "patient"})
    assert dup.status_code == 409
    assert "cannot be used" in dup.json()["detail"]  # the same answer whoever holds it


@pytest.mark.parametrize(
    "body",
    [
        {"code": "P-002", "role": "doctor"},
        {"code": "", "role": "patient"},
        {"code": "Maria Rossi", "role": "patient"},  # spaces: looks like a name, refused
        {"code": "P-002", "role": "patient", "name": "Maria"},
        {"code": "x" * 65, "role": "patient"},
        {"role": "patient"},
    ],
)
def test_bad_participants_are_422(client: TestClient, body: dict[str, object]) -> None:
    r = client.post("/api/participants", json=body)
    assert r.status_code == 422
    assert ctx_of(client).store.list_participants() == []


def test_grant_list_and_hub_notified(client: TestClient) -> None:
    pid = _participant(client)
    sid = _session_with(client, pid)
    c = _grant(client, pid, "live_display", session_id=sid)
    assert (c["purpose"], c["version"], c["session_id"], c["revoked_at_s"]) == (
        "live_display",
        "v1",
        sid,
        None,
    )
    assert c["recorded_by"] == "admin"
    _grant(client, pid, "storage", on_revoke="deidentify")
    listed = client.get(f"/api/participants/{pid}/consents").json()
    assert [x["purpose"] for x in listed] == ["live_display", "storage"]
    assert ctx_of(client).store.active_purposes(pid, session_id=sid) == {"live_display", "storage"}
    assert ctx_of(client).hub.calls == [("consent_changed", pid)] * 2


@pytest.mark.parametrize(
    "body",
    [
        {"purpose": "advertising", "version": "v1"},
        {"purpose": "storage"},
        {"purpose": "storage", "version": ""},
        {"purpose": "storage", "version": "v1", "on_revoke": "shred"},
        {"purpose": "storage", "version": "v1", "expires": "never"},
    ],
)
def test_bad_consents_are_422(client: TestClient, body: dict[str, object]) -> None:
    pid = _participant(client)
    r = client.post(f"/api/participants/{pid}/consents", json=body)
    assert r.status_code == 422
    assert ctx_of(client).store.list_consents(pid) == []


def test_consent_for_unknown_participant_or_session_is_404(client: TestClient) -> None:
    pid = _participant(client)
    body = {"purpose": "storage", "version": "v1"}
    assert client.post("/api/participants/999/consents", json=body).status_code == 404
    r = client.post(f"/api/participants/{pid}/consents", json={**body, "session_id": 999})
    assert r.status_code == 404
    assert ctx_of(client).store.list_consents(pid) == []
    assert client.get("/api/participants/999/consents").status_code == 404
    r = client.post("/api/participants/999/consents/revoke", json={"purpose": "storage"})
    assert r.status_code == 404


def test_revoking_storage_deletes_the_stored_beats_and_says_so(client: TestClient) -> None:
    store = ctx_of(client).store
    pid = _participant(client)
    tid = _participant(client, "T-001", "therapist")
    sid = _session_with(client, pid, tid)
    for p in (pid, tid):
        _grant(client, p, "storage")
    store_beats(store, sid, pid, np.full(30, 800.0))
    store_beats(store, sid, tid, np.full(20, 900.0))
    r = client.post(f"/api/participants/{pid}/consents/revoke", json={"purpose": "storage"})
    assert r.status_code == 200
    out = r.json()
    assert [c["purpose"] for c in out["revoked"]] == ["storage"]
    assert out["revoked"][0]["revoked_at_s"] is not None
    assert out["erasure"]["action"] == "delete"
    assert out["erasure"]["rows"]["beats"] == 30
    assert any("deleted" in e and "30" in e for e in out["effects"])
    assert any("no further beats" in e for e in out["effects"])
    assert store.count_beats(sid, participant_id=pid) == 0
    assert store.count_beats(sid, participant_id=tid) == 20  # the other person is untouched
    assert not store.has_consent(pid, "storage")
    assert ("consent_changed", pid) in ctx_of(client).hub.calls
    # a second revocation changes nothing and says so
    again = client.post(f"/api/participants/{pid}/consents/revoke", json={"purpose": "storage"})
    assert again.status_code == 200
    assert again.json()["revoked"] == []
    assert again.json()["erasure"] is None
    assert "nothing changed" in again.json()["effects"][0]


def test_revoking_storage_deidentifies_when_the_consent_says_so(client: TestClient) -> None:
    store = ctx_of(client).store
    pid = _participant(client)
    sid = _session_with(client, pid)
    _grant(client, pid, "storage", on_revoke="deidentify")
    store_beats(store, sid, pid, np.full(12, 750.0))
    out = client.post(
        f"/api/participants/{pid}/consents/revoke", json={"purpose": "storage"}
    ).json()
    assert out["erasure"]["action"] == "deidentify"
    anon = out["erasure"]["anonymous_participant_id"]
    assert anon is not None
    assert anon != pid
    assert any("de-identified" in e for e in out["effects"])
    assert store.count_beats(sid, participant_id=pid) == 0
    assert store.count_beats(sid, participant_id=anon) == 12


def test_revoking_live_display_stops_display_only(client: TestClient) -> None:
    store = ctx_of(client).store
    pid = _participant(client)
    sid = _session_with(client, pid)
    _grant(client, pid, "live_display")
    _grant(client, pid, "storage")
    store_beats(store, sid, pid, np.full(10, 800.0))
    out = client.post(
        f"/api/participants/{pid}/consents/revoke", json={"purpose": "live_display"}
    ).json()
    assert out["erasure"] is None
    assert any("live display" in e for e in out["effects"])
    assert store.active_purposes(pid) == {"storage"}
    assert store.count_beats(sid) == 10
    assert ctx_of(client).hub.calls[-1] == ("consent_changed", pid)


def test_revoke_body_is_validated(client: TestClient) -> None:
    pid = _participant(client)
    for body in ({"purpose": "all"}, {}, {"purpose": "storage", "why": "x"}):
        r = client.post(f"/api/participants/{pid}/consents/revoke", json=body)
        assert r.status_code == 422


def test_delete_participant_data(client: TestClient) -> None:
    store = ctx_of(client).store
    pid = _participant(client)
    s1 = _session_with(client, pid)
    s2 = _session_with(client, pid)
    _grant(client, pid, "storage")
    store_beats(store, s1, pid, np.full(10, 800.0))
    store_beats(store, s2, pid, np.full(15, 800.0))
    r = client.delete(f"/api/participants/{pid}/data", params={"session_id": s1})
    assert r.status_code == 200
    assert r.json()["rows"]["beats"] == 10
    assert r.json()["total"] >= 10
    assert (store.count_beats(s1), store.count_beats(s2)) == (0, 15)
    r = client.delete(f"/api/participants/{pid}/data", params={"action": "deidentify"})
    assert r.json()["action"] == "deidentify"
    assert r.json()["rows"]["beats"] == 15
    assert store.count_beats(s2, participant_id=pid) == 0
    assert client.delete("/api/participants/999/data").status_code == 404
    bad = client.delete(f"/api/participants/{pid}/data", params={"action": "burn"})
    assert bad.status_code == 422
    r = client.delete(f"/api/participants/{pid}/data", params={"session_id": 999})
    assert r.status_code == 404
    deletions = [
        e
        for e in store.list_audit(object_type="participant", object_id=pid)
        if e.action in ("participant.delete", "participant.deidentify")
    ]
    assert [(e.actor, e.action) for e in deletions] == [
        ("admin", "participant.delete"),
        ("admin", "participant.deidentify"),
    ]


def test_views_of_participants_and_consents_are_audited(client: TestClient) -> None:
    pid = _participant(client)
    client.get("/api/participants")
    client.get(f"/api/participants/{pid}")
    client.get(f"/api/participants/{pid}/consents")
    r = client.get("/api/audit")
    assert r.status_code == 200
    actions = [(e["actor"], e["action"]) for e in r.json()]
    for expected in ("participant.create", "participant.list", "participant.view", "consent.list"):
        assert ("admin", expected) in actions
    ids = [e["id"] for e in r.json()]
    later = client.get("/api/audit", params={"after_id": ids[1]}).json()
    # the same entries after ids[1], then the first read of the log itself
    assert [e["id"] for e in later][:-1] == [i for i in ids if i > ids[1]]
    assert (later[-1]["action"], later[-1]["detail"]) == ("audit.view", {"n": len(ids)})
