"""REST API: sessions (plan, devices, start, stop, list, get) and the OpenAPI document."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from dashboard.phases import DEFAULT_FIRST_SESSION
from tests.support.api import api_client, ctx_of


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with api_client(tmp_path / "data") as c:
        yield c


def _participants(client: TestClient) -> tuple[int, int]:
    p = client.post("/api/participants", json={"code": "P-001", "role": "patient"})
    t = client.post("/api/participants", json={"code": "T-001", "role": "therapist"})
    assert p.status_code == t.status_code == 201
    return p.json()["id"], t.json()["id"]


def _session(client: TestClient, **body: object) -> dict[str, object]:
    r = client.post("/api/sessions", json=body)
    assert r.status_code == 201, r.text
    out: dict[str, object] = r.json()
    return out


def test_create_session_defaults_to_the_first_session_template(client: TestClient) -> None:
    s = _session(client, label="intake")
    assert s["status"] == "planned"
    assert s["phase_template"] == DEFAULT_FIRST_SESSION.to_dict()
    assert s["participants"] == []
    assert s["live"] is False
    assert s["label"] == "intake"


def test_create_session_from_a_template_dict_with_devices(client: TestClient) -> None:
    pid, tid = _participants(client)
    template = {
        "name": "short",
        "phases": [
            {"id": "welcome", "label": "Welcome", "minutes": 2},
            {"id": "closing", "label": "Closing", "minutes": 1.5},
        ],
    }
    s = _session(
        client,
        template=template,
        participants=[
            {"participant_id": pid, "device": {"kind": "ble", "address": "C4:7C:8D:6A:12:34"}},
            {"participant_id": tid, "device": {"kind": "simulator", "seed": 7}},
        ],
    )
    assert s["phase_template"] == template
    devices = {p["code"]: (p["role"], p["source_kind"], p["address"]) for p in s["participants"]}
    assert devices == {
        "P-001": ("patient", "ble", "C4:7C:8D:6A:12:34"),
        "T-001": ("therapist", "simulator", "7"),
    }
    # what the store holds is what the API said
    stored = ctx_of(client).store.get_session(int(s["id"]))
    assert stored.phase_template == template


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"template": {"name": "x", "phases": []}}, "phases"),
        (
            {
                "template": {
                    "name": "x",
                    "phases": [
                        {"id": "a", "label": "A", "minutes": 1},
                        {"id": "a", "label": "B", "minutes": 1},
                    ],
                }
            },
            "repeats phase ids",
        ),
        ({"template": {"name": "x", "phases": [{"id": "a", "label": "A", "minutes": 0}]}}, "0"),
        ({"label": "x", "colour": "red"}, "colour"),
        ({"participants": [{"participant_id": 1, "device": {"kind": "usb"}}]}, "kind"),
        ({"participants": [{"participant_id": 1, "device": {"kind": "ble"}}]}, "address"),
    ],
)
def test_bad_session_bodies_are_422_naming_the_problem(
    client: TestClient, body: dict[str, object], needle: str
) -> None:
    r = client.post("/api/sessions", json=body)
    assert r.status_code == 422
    assert needle in r.text
    assert ctx_of(client).store.list_sessions() == []  # nothing half-written


def test_repeated_participant_is_422(client: TestClient) -> None:
    pid, _ = _participants(client)
    dev = {"kind": "simulator"}
    r = client.post(
        "/api/sessions",
        json={"participants": [{"participant_id": pid, "device": dev}] * 2},
    )
    assert r.status_code == 422
    assert "once" in r.text


def test_unknown_participant_creates_nothing(client: TestClient) -> None:
    pid, _ = _participants(client)
    r = client.post(
        "/api/sessions",
        json={
            "participants": [
                {"participant_id": pid, "device": {"kind": "simulator"}},
                {"participant_id": 999, "device": {"kind": "simulator"}},
            ]
        },
    )
    assert r.status_code == 404
    assert "999" in r.json()["detail"]
    assert ctx_of(client).store.list_sessions() == []


def test_get_and_list_sessions(client: TestClient) -> None:
    a = _session(client, label="a")
    b = _session(client, label="b")
    r = client.get("/api/sessions")
    assert r.status_code == 200
    assert [s["id"] for s in r.json()["sessions"]] == [b["id"], a["id"]]  # newest first
    r = client.get("/api/sessions", params={"limit": 1, "offset": 1})
    assert [s["id"] for s in r.json()["sessions"]] == [a["id"]]
    r = client.get(f"/api/sessions/{a['id']}")
    assert r.status_code == 200
    assert r.json()["label"] == "a"
    assert client.get("/api/sessions/12345").status_code == 404
    assert client.get("/api/sessions/abc").status_code == 422
    assert client.get("/api/sessions", params={"status": "sleeping"}).status_code == 422


def test_list_filters_by_status(client: TestClient) -> None:
    a = _session(client)
    _session(client)
    assert client.post(f"/api/sessions/{a['id']}/start").status_code == 200
    live = client.get("/api/sessions", params={"status": "live"}).json()["sessions"]
    assert [s["id"] for s in live] == [a["id"]]


def test_start_and_stop_go_through_the_hub(client: TestClient) -> None:
    s = _session(client)
    sid = s["id"]
    r = client.post(f"/api/sessions/{sid}/start")
    assert r.status_code == 200
    assert r.json()["status"] == "live"
    assert r.json()["live"] is True
    assert r.json()["started_at_s"] is not None
    assert client.post(f"/api/sessions/{sid}/start").status_code == 409
    r = client.post(f"/api/sessions/{sid}/stop")
    assert r.status_code == 200
    assert r.json()["status"] == "stopped"
    assert r.json()["live"] is False
    r = client.post(f"/api/sessions/{sid}/stop")
    assert r.status_code == 409
    assert "expected live, found stopped" in r.json()["detail"]
    assert client.post(f"/api/sessions/{sid}/start").status_code == 409
    assert ctx_of(client).hub.calls == [("start_session", sid), ("stop_session", sid)]
    assert client.post("/api/sessions/999/start").status_code == 404
    assert client.post("/api/sessions/999/stop").status_code == 404


def test_stop_of_a_planned_session_is_409(client: TestClient) -> None:
    s = _session(client)
    assert client.post(f"/api/sessions/{s['id']}/stop").status_code == 409
    assert ctx_of(client).hub.calls == []


def test_assign_and_change_devices_before_start_only(client: TestClient) -> None:
    pid, tid = _participants(client)
    s = _session(client)
    sid = s["id"]
    r = client.post(
        f"/api/sessions/{sid}/participants",
        json={"participant_id": pid, "device": {"kind": "file", "path": "/data/p1.csv"}},
    )
    assert r.status_code == 200
    assert (r.json()["source_kind"], r.json()["address"], r.json()["code"]) == (
        "file",
        "/data/p1.csv",
        "P-001",
    )
    r = client.post(
        f"/api/sessions/{sid}/participants",
        json={"participant_id": pid, "device": {"kind": "lsl", "stream": "polar-rr"}},
    )
    assert r.json()["source_kind"] == "lsl"
    detail = client.get(f"/api/sessions/{sid}").json()
    assert [(p["code"], p["address"]) for p in detail["participants"]] == [("P-001", "polar-rr")]
    # unknown participant, unknown session, bad body
    bad = {"participant_id": 777, "device": {"kind": "simulator"}}
    assert client.post(f"/api/sessions/{sid}/participants", json=bad).status_code == 404
    good = {"participant_id": tid, "device": {"kind": "simulator"}}
    assert client.post("/api/sessions/777/participants", json=good).status_code == 404
    wrong = {"participant_id": tid, "device": {"kind": "simulator", "seed": -1}}
    assert client.post(f"/api/sessions/{sid}/participants", json=wrong).status_code == 422
    # once live, devices are fixed
    assert client.post(f"/api/sessions/{sid}/start").status_code == 200
    r = client.post(f"/api/sessions/{sid}/participants", json=good)
    assert r.status_code == 409
    assert "found live" in r.json()["detail"]


def test_views_are_audited(client: TestClient) -> None:
    s = _session(client)
    client.get("/api/sessions")
    client.get(f"/api/sessions/{s['id']}")
    actions = [(e.actor, e.action) for e in ctx_of(client).store.list_audit()]
    assert ("admin", "session.create") in actions
    assert ("admin", "session.list") in actions
    assert ("admin", "session.view") in actions


def test_openapi_documents_every_route(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    expected = {
        ("get", "/api/health"),
        ("post", "/api/auth/login"),
        ("post", "/api/auth/logout"),
        ("post", "/api/auth/password"),
        ("post", "/api/clinicians/{username}/tokens/revoke"),
        ("get", "/api/me"),
        ("post", "/api/clinicians"),
        ("get", "/api/audit"),
        ("post", "/api/participants"),
        ("get", "/api/participants"),
        ("get", "/api/participants/{participant_id}"),
        ("delete", "/api/participants/{participant_id}/data"),
        ("get", "/api/participants/{participant_id}/consents"),
        ("post", "/api/participants/{participant_id}/consents"),
        ("post", "/api/participants/{participant_id}/consents/revoke"),
        ("post", "/api/sessions"),
        ("get", "/api/sessions"),
        ("get", "/api/sessions/{session_id}"),
        ("post", "/api/sessions/{session_id}/participants"),
        ("post", "/api/sessions/{session_id}/start"),
        ("post", "/api/sessions/{session_id}/stop"),
        ("post", "/api/sessions/{session_id}/phase/advance"),
        ("post", "/api/sessions/{session_id}/phase/extend"),
        ("post", "/api/sessions/{session_id}/markers"),
        ("get", "/api/sessions/{session_id}/markers"),
        ("post", "/api/sessions/{session_id}/markers/{marker_id}/undo"),
        ("post", "/api/sessions/{session_id}/markers/{marker_id}/retract"),
        ("post", "/api/sessions/{session_id}/markers/{marker_id}/correct"),
        ("get", "/api/sessions/{session_id}/cues"),
        ("post", "/api/sessions/{session_id}/cues/{cue_id}/response"),
        ("post", "/api/sessions/{session_id}/privacy-pause"),
        ("post", "/api/sessions/{session_id}/pacer"),
        ("get", "/api/sessions/{session_id}/beats"),
        ("get", "/api/sessions/{session_id}/timeline"),
        ("get", "/api/devices/scan"),
        ("post", "/api/sessions/{session_id}/alliance"),
        ("get", "/api/sessions/{session_id}/alliance"),
        ("get", "/api/participants/{participant_id}/alliance"),
        ("get", "/api/alliance/wording"),
    }
    documented = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    assert documented == expected
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            where = f"{method.upper()} {path}"
            assert op.get("summary"), where
            ok = [c for c in op["responses"] if c.startswith("2")]
            assert ok, where
            assert "$ref" in str(op["responses"][ok[0]]["content"]["application/json"]), where
            if path != "/api/health":
                assert "401" in op["responses"], where
                assert "ErrorOut" in str(op["responses"]["422"]), where
            if path not in ("/api/health", "/api/auth/login"):  # these two need no token
                assert op.get("security"), where
    schemes = doc["components"]["securitySchemes"]
    assert {s["type"] for s in schemes.values()} == {"http", "apiKey"}
