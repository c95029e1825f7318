"""REST API on the real app (``create_app`` with the real LiveHub and scripted sources).

The other ``test_api_*`` files test each route against a fake hub; these run whole flows through
the real composition root: a live session stores beats, markers reach the hub, a privacy pause and
a consent revocation act mid-stream, and the stored data come back through the timeline. One flow
also runs against PostgreSQL (skipped when no server answers, failing under CI).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from server.app import create_app
from server.context import AppContext
from server.live.scripted import ScriptedSources, scripted_source_factory
from server.settings import ServerSettings
from server.storage import StorageSettings

#: TestClient sends "Host: testserver"; the app answers configured hosts only.
TEST_HOSTS = ("testserver",)

#: Longest wait for the live path to store something, s (it takes milliseconds; generous so a
#: loaded CI machine does not fail the test).
_WAIT_S = 20.0


@pytest.fixture
def sources() -> ScriptedSources:
    return scripted_source_factory(beats_per_batch=2, pause_s=0.005)


def _client(data_dir: Path, sources: ScriptedSources, url: str | None = None) -> TestClient:
    settings = ServerSettings(storage=StorageSettings(data_dir, url), allowed_hosts=TEST_HOSTS)
    return TestClient(create_app(settings, source_factory=sources))


@pytest.fixture
def client(tmp_path: Path, sources: ScriptedSources) -> Iterator[TestClient]:
    with _client(tmp_path / "data", sources) as c:
        c.headers["Authorization"] = f"Bearer {_ctx(c).token}"
        yield c


def _ctx(client: TestClient) -> AppContext:
    ctx: AppContext = client.app.state.ctx  # type: ignore[attr-defined]
    return ctx


def _wait(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + _WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


def _live_dyad(client: TestClient, purposes: tuple[str, ...]) -> tuple[int, int, int]:
    ids = []
    for code, role in (("P-1", "patient"), ("T-1", "therapist")):
        r = client.post("/api/participants", json={"code": code, "role": role})
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
        for purpose in purposes:
            body = {"purpose": purpose, "version": "v1"}
            r = client.post(f"/api/participants/{ids[-1]}/consents", json=body)
            assert r.status_code == 201
    pid, tid = ids
    r = client.post(
        "/api/sessions",
        json={
            "participants": [
                {"participant_id": pid, "device": {"kind": "simulator", "seed": 1}},
                {"participant_id": tid, "device": {"kind": "simulator", "seed": 1}},
            ]
        },
    )
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    r = client.post(f"/api/sessions/{sid}/start")
    assert r.status_code == 200, r.text
    assert r.json()["live"] is True
    return sid, pid, tid


def test_live_session_flow(client: TestClient) -> None:
    store = _ctx(client).store
    sid, pid, tid = _live_dyad(client, ("live_display", "storage", "review"))
    _wait(lambda: store.count_beats(sid, participant_id=pid) >= 20, "stored beats")
    r = client.post(f"/api/sessions/{sid}/markers", json={"type": "silence", "participant_id": pid})
    assert r.status_code == 201
    r = client.post(f"/api/sessions/{sid}/phase/advance")
    assert r.status_code == 200
    assert r.json()["session_id"] == sid
    assert client.post(f"/api/sessions/{sid}/phase/extend", json={"by_s": 60}).status_code == 200
    assert client.post(f"/api/sessions/{sid}/pacer", json={"on": True}).status_code == 200
    r = client.post(f"/api/sessions/{sid}/privacy-pause", json={"participant_id": pid})
    assert r.status_code == 200
    assert client.post(f"/api/sessions/{sid}/start").status_code == 409
    r = client.post(f"/api/sessions/{sid}/stop")
    assert r.status_code == 200
    assert (r.json()["status"], r.json()["live"]) == ("stopped", False)
    assert client.post(f"/api/sessions/{sid}/phase/advance").status_code == 409
    # the stored session comes back through the data routes
    timeline = client.get(f"/api/sessions/{sid}/timeline", params={"span_s": 3600}).json()
    by_code = {p["code"]: p for p in timeline["participants"]}
    n_patient = len(by_code["P-1"]["beat_time_s"])
    assert n_patient == store.count_beats(sid, participant_id=pid) >= 20
    assert any(v is not None for v in by_code["P-1"]["derived"]["rmssd_ms"])
    marker_types = [m["type"] for m in timeline["markers"]]
    assert "silence" in marker_types
    assert "privacy_pause" in marker_types  # the hub records the pause as a marker
    assert [e["action"] for e in timeline["phase_events"]].count("extend") == 1
    beats = client.get(f"/api/sessions/{sid}/beats", params={"participant": "T-1"}).json()
    assert beats["n"] == store.count_beats(sid, participant_id=tid)
    assert set(beats["participant_code"]) == {"T-1"}


def test_revoking_storage_mid_stream_erases_and_stops_storing(client: TestClient) -> None:
    store = _ctx(client).store
    sid, pid, tid = _live_dyad(client, ("live_display", "storage", "review"))
    _wait(lambda: store.count_beats(sid, participant_id=pid) >= 10, "stored beats")
    r = client.post(f"/api/participants/{pid}/consents/revoke", json={"purpose": "storage"})
    assert r.status_code == 200
    assert r.json()["erasure"]["rows"]["beats"] >= 10
    # the therapist keeps streaming and being stored; the patient's beats are refused
    before = store.count_beats(sid, participant_id=tid)
    _wait(lambda: store.count_beats(sid, participant_id=tid) > before + 10, "therapist beats")
    assert store.count_beats(sid, participant_id=pid) == 0
    assert client.post(f"/api/sessions/{sid}/stop").status_code == 200
    assert store.count_beats(sid, participant_id=pid) == 0


def test_start_without_devices_is_refused_and_stays_planned(tmp_path: Path) -> None:
    settings = ServerSettings(storage=StorageSettings(tmp_path / "data"), allowed_hosts=TEST_HOSTS)
    with TestClient(create_app(settings)) as client:  # the default source factory
        client.headers["Authorization"] = f"Bearer {_ctx(client).token}"
        sid = client.post("/api/sessions", json={}).json()["id"]
        r = client.post(f"/api/sessions/{sid}/start")
        assert r.status_code == 422
        assert r.json()["detail"]
        assert client.get(f"/api/sessions/{sid}").json()["status"] == "planned"


@pytest.fixture
def pg_url(postgres_migrated_url: str) -> str:
    """The storage suite's PostgreSQL schema, emptied for this test."""
    import sqlalchemy as sa

    from server.storage import schema
    from server.storage.settings import make_engine

    engine = make_engine(postgres_migrated_url)
    try:
        with engine.begin() as conn:
            for table in reversed(schema.metadata.sorted_tables):
                conn.execute(sa.delete(table))
    finally:
        engine.dispose()
    return postgres_migrated_url


def test_api_flow_on_postgresql(tmp_path: Path, sources: ScriptedSources, pg_url: str) -> None:
    with _client(tmp_path / "data", sources, pg_url) as client:
        client.headers["Authorization"] = f"Bearer {_ctx(client).token}"
        assert client.get("/api/health").json()["database"] == "postgresql"
        store = _ctx(client).store
        sid, pid, tid = _live_dyad(client, ("live_display", "storage", "review"))
        _wait(lambda: store.count_beats(sid, participant_id=pid) >= 10, "stored beats")
        assert (
            client.post(f"/api/sessions/{sid}/markers", json={"type": "repair"}).status_code == 201
        )
        r = client.post(f"/api/participants/{tid}/consents/revoke", json={"purpose": "storage"})
        assert r.json()["erasure"]["action"] == "delete"
        assert client.post(f"/api/sessions/{sid}/stop").status_code == 200
        page = client.get(f"/api/sessions/{sid}/beats", params={"limit": 5}).json()
        assert page["n"] == 5
        assert page["next_cursor"] is not None
        nxt = client.get(
            f"/api/sessions/{sid}/beats", params={"limit": 5, "cursor": page["next_cursor"]}
        ).json()
        assert nxt["beat_time_s"][0] >= page["beat_time_s"][-1]
        assert set(page["participant_code"]) | set(nxt["participant_code"]) == {"P-1"}
        assert store.count_beats(sid, participant_id=tid) == 0
        actions = {e["action"] for e in client.get("/api/audit").json()}
        assert {"session.beats.export", "participant.delete", "consent.revoke"} <= actions


@pytest.mark.parametrize("content", [None, "800\nnot a number\n"])
def test_start_with_an_unreadable_replay_file_is_422_and_stays_planned(
    tmp_path: Path, content: str | None
) -> None:
    path = tmp_path / "rec.txt"  # missing (None) or malformed
    if content is not None:
        path.write_text(content)
    settings = ServerSettings(storage=StorageSettings(tmp_path / "data"), allowed_hosts=TEST_HOSTS)
    with TestClient(create_app(settings)) as client:  # the default source factory
        client.headers["Authorization"] = f"Bearer {_ctx(client).token}"
        r = client.post("/api/participants", json={"code": "P-F", "role": "patient"})
        pid = r.json()["id"]
        device = {"kind": "file", "path": str(path)}
        r = client.post(
            "/api/sessions", json={"participants": [{"participant_id": pid, "device": device}]}
        )
        assert r.status_code == 201, r.text
        sid = r.json()["id"]
        r = client.post(f"/api/sessions/{sid}/start")
        assert r.status_code == 422, r.text
        assert "P-F" in r.json()["detail"]
        assert client.get(f"/api/sessions/{sid}").json()["status"] == "planned"
