"""Alliance scores through the REST API on the real app (``create_app``, in-process).

SRS (Duncan et al. 2003): four items 0-10, total 0-40. WAI-SR (Hatcher & Gillaspy 2006): twelve
items 1-5; goal = items 4, 6, 8, 11; task = 1, 2, 10, 12; bond = 3, 5, 7, 9. The expected totals
and subscales below are written out by hand from those publications, not taken from the code.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from sensor.types import BeatBatch
from server.app import create_app
from server.context import AppContext
from server.settings import ServerSettings
from server.storage import StorageSettings

#: TestClient sends "Host: testserver"; the app answers configured hosts only.
TEST_HOSTS = ("testserver",)

#: WAI-SR answers used below: item i -> score.
WAI_ANSWERS = {1: 4, 2: 5, 3: 3, 4: 2, 5: 4, 6: 1, 7: 5, 8: 3, 9: 2, 10: 4, 11: 5, 12: 3}
#: By hand: goal 2+1+3+5, task 4+5+4+3, bond 3+4+5+2.
WAI_GOAL, WAI_TASK, WAI_BOND = 11.0, 16.0, 14.0


def _ctx(client: TestClient) -> AppContext:
    ctx: AppContext = client.app.state.ctx  # type: ignore[attr-defined]
    return ctx


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(
        create_app(
            ServerSettings(storage=StorageSettings(tmp_path / "data"), allowed_hosts=TEST_HOSTS)
        )
    ) as c:
        c.headers["Authorization"] = f"Bearer {_ctx(c).token}"
        yield c


def _participant(client: TestClient, code: str, role: str) -> int:
    r = client.post("/api/participants", json={"code": code, "role": role})
    assert r.status_code == 201, r.text
    pid: int = r.json()["id"]
    return pid


def _session(client: TestClient, *pids: int) -> int:
    body = {
        "participants": [
            {"participant_id": p, "device": {"kind": "simulator", "seed": 1}} for p in pids
        ]
    }
    r = client.post("/api/sessions", json=body)
    assert r.status_code == 201, r.text
    sid: int = r.json()["id"]
    return sid


@pytest.fixture
def dyad(client: TestClient) -> tuple[int, int, int]:
    pid = _participant(client, "P-1", "patient")
    tid = _participant(client, "T-1", "therapist")
    return _session(client, pid, tid), pid, tid


def _post(client: TestClient, sid: int, pid: int, instrument: str, scores: dict[int, Any]) -> Any:
    body = {"participant_id": pid, "instrument": instrument, "version": "v1", "scores": scores}
    return client.post(f"/api/sessions/{sid}/alliance", json=body)


def test_srs_total_with_visual_analogue_decimals(
    client: TestClient, dyad: tuple[int, int, int]
) -> None:
    sid, pid, _ = dyad
    r = _post(client, sid, pid, "SRS", {1: 8.5, 2: 9.0, 3: 7.2, 4: 10})
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["total"] == pytest.approx(8.5 + 9.0 + 7.2 + 10)
    assert out["subscales"] == {}
    assert out["participant_code"] == "P-1"
    got = client.get(f"/api/sessions/{sid}/alliance").json()
    assert [s["instrument"] for s in got["scores"]] == ["SRS"]
    assert got["scores"][0]["items"] == {"1": 8.5, "2": 9.0, "3": 7.2, "4": 10.0}


def test_wai_sr_total_and_subscales_by_hand(client: TestClient, dyad: tuple[int, int, int]) -> None:
    sid, pid, tid = dyad
    assert _post(client, sid, tid, "WAI-SR", WAI_ANSWERS).status_code == 201
    assert _post(client, sid, pid, "SRS", {1: 1, 2: 2, 3: 3, 4: 4}).status_code == 201
    scores = client.get(f"/api/sessions/{sid}/alliance").json()["scores"]
    wai = next(s for s in scores if s["instrument"] == "WAI-SR")
    assert wai["participant_code"] == "T-1"
    assert wai["total"] == sum(WAI_ANSWERS.values()) == WAI_GOAL + WAI_TASK + WAI_BOND
    assert wai["subscales"] == {"goal": WAI_GOAL, "task": WAI_TASK, "bond": WAI_BOND}
    srs = next(s for s in scores if s["instrument"] == "SRS")
    assert srs["total"] == 10.0


def test_recording_again_replaces(client: TestClient, dyad: tuple[int, int, int]) -> None:
    sid, pid, _ = dyad
    _post(client, sid, pid, "SRS", {1: 1, 2: 1, 3: 1, 4: 1})
    assert _post(client, sid, pid, "SRS", {1: 10, 2: 10, 3: 10, 4: 9}).json()["total"] == 39.0
    scores = client.get(f"/api/sessions/{sid}/alliance").json()["scores"]
    assert [s["total"] for s in scores] == [39.0]


@pytest.mark.parametrize(
    ("instrument", "scores", "expected"),
    [
        ("SRS", {1: 5, 2: 5, 3: 5}, "missing [4]"),
        ("SRS", {1: 5, 2: 5, 3: 5, 4: 5, 5: 5}, "unexpected [5]"),
        ("SRS", {1: 5, 2: 5, 3: 5, 4: 10.5}, "item 4"),
        ("SRS", {1: -0.1, 2: 5, 3: 5, 4: 5}, "item 1"),
        ("WAI-SR", {i: 3 for i in range(1, 12)}, "missing [12]"),
        ("WAI-SR", {i: 3 for i in range(0, 13)}, "unexpected [0]"),
        ("WAI-SR", {**WAI_ANSWERS, 7: 6}, "item 7"),
        ("WAI-SR", {**WAI_ANSWERS, 2: 0}, "item 2"),
        ("WAI-SR", {**WAI_ANSWERS, 3: 2.5}, "integer"),
        ("WAI", {1: 3}, "instrument"),
        ("srs", {1: 3, 2: 3, 3: 3, 4: 3}, "instrument"),
    ],
)
def test_invalid_scores_are_422_with_a_message(
    client: TestClient,
    dyad: tuple[int, int, int],
    instrument: str,
    scores: dict[int, float],
    expected: str,
) -> None:
    sid, pid, _ = dyad
    r = _post(client, sid, pid, instrument, scores)
    assert r.status_code == 422, r.text
    assert expected in r.text
    assert client.get(f"/api/sessions/{sid}/alliance").json()["scores"] == []


def test_unknown_fields_and_non_numbers_are_422(
    client: TestClient, dyad: tuple[int, int, int]
) -> None:
    sid, pid, _ = dyad
    body = {"participant_id": pid, "instrument": "SRS", "version": "v1"}
    scores = {"1": 5, "2": 5, "3": 5, "4": 5}
    r = client.post(f"/api/sessions/{sid}/alliance", json={**body, "scores": scores, "text": "x"})
    assert r.status_code == 422
    assert "text" in r.text
    r = client.post(f"/api/sessions/{sid}/alliance", json={**body, "scores": {**scores, "4": "a"}})
    assert r.status_code == 422
    r = client.post(f"/api/sessions/{sid}/alliance", json={**body, "version": "", "scores": scores})
    assert r.status_code == 422
    assert "version" in r.text


def test_unknown_session_or_participant_is_404(
    client: TestClient, dyad: tuple[int, int, int]
) -> None:
    sid, pid, _ = dyad
    srs = {1: 5, 2: 5, 3: 5, 4: 5}
    assert _post(client, sid + 100, pid, "SRS", srs).status_code == 404
    assert _post(client, sid, pid + 100, "SRS", srs).status_code == 404
    outsider = _participant(client, "P-2", "patient")
    r = _post(client, sid, outsider, "SRS", srs)
    assert r.status_code == 404
    assert f"session {sid}" in r.text
    assert client.get(f"/api/sessions/{sid + 100}/alliance").status_code == 404
    assert client.get(f"/api/participants/{pid + 100}/alliance").status_code == 404


def test_needs_credentials(client: TestClient, dyad: tuple[int, int, int]) -> None:
    sid, pid, _ = dyad
    bare = {"Authorization": ""}
    assert client.get(f"/api/sessions/{sid}/alliance", headers=bare).status_code == 401
    assert client.get(f"/api/participants/{pid}/alliance", headers=bare).status_code == 401
    assert client.get("/api/alliance/wording", headers=bare).status_code == 401


def _beats(code: str, t0: float, n: int) -> BeatBatch:
    """Alternating RR of 800 and 820 ms: every successive difference is 20 ms."""
    rr = np.where(np.arange(n) % 2 == 0, 800.0, 820.0)
    times = t0 + np.cumsum(rr) / 1000.0
    return BeatBatch(
        participant=code,
        device=f"sim-{code}",
        rr_ms=rr,
        rr_raw=None,
        host_time_s=float(times[-1]),
        beat_times_s=times,
        contact=True,
        seq=0,
        gap_before=True,
    )


def test_participant_trend_with_session_physiology(client: TestClient) -> None:
    store = _ctx(client).store
    pid = _participant(client, "P-9", "patient")
    first = _session(client, pid)
    second = _session(client, pid)
    store.grant_consent(pid, "storage", "v1")
    store.grant_consent(pid, "review", "v1", session_id=first)
    store.start_session(first, at_s=1_700_000_000.0)
    store.append_beats(first, pid, _beats("P-9", 1_700_000_000.0, 450))  # about 6 min
    store.start_session(second, at_s=1_700_600_000.0)
    store.append_beats(second, pid, _beats("P-9", 1_700_600_000.0, 450))  # no review consent
    assert _post(client, second, pid, "SRS", {1: 9, 2: 9, 3: 9, 4: 9}).status_code == 201
    assert _post(client, first, pid, "SRS", {1: 6, 2: 7, 3: 8, 4: 5}).status_code == 201
    assert _post(client, first, pid, "WAI-SR", WAI_ANSWERS).status_code == 201

    r = client.get(f"/api/participants/{pid}/alliance")
    assert r.status_code == 200, r.text
    rows = r.json()["sessions"]
    assert [row["session_id"] for row in rows] == [first, second]  # oldest first
    assert [row["date_s"] for row in rows] == [1_700_000_000.0, 1_700_600_000.0]
    assert [row["srs_total"] for row in rows] == [26.0, 36.0]
    assert rows[0]["wai_sr_total"] == 41.0
    assert rows[1]["wai_sr_total"] is None
    assert (rows[0]["wai_sr_goal"], rows[0]["wai_sr_task"], rows[0]["wai_sr_bond"]) == (
        WAI_GOAL,
        WAI_TASK,
        WAI_BOND,
    )
    # Mean of the instantaneous rates 60000/800 and 60000/820; a window with an odd number of
    # beats weighs one of them by one beat more, which moves its mean by < 0.02 bpm.
    assert rows[0]["mean_hr_bpm"] == pytest.approx((75.0 + 60000.0 / 820.0) / 2, abs=0.02)
    assert rows[0]["mean_rmssd_ms"] == pytest.approx(20.0, rel=1e-9)
    assert rows[1]["mean_hr_bpm"] is None
    assert rows[1]["mean_rmssd_ms"] is None


def test_views_and_recordings_are_audited(client: TestClient, dyad: tuple[int, int, int]) -> None:
    sid, pid, _ = dyad
    _post(client, sid, pid, "SRS", {1: 5, 2: 5, 3: 5, 4: 5})
    client.get(f"/api/sessions/{sid}/alliance")
    client.get(f"/api/participants/{pid}/alliance")
    actions = {(e.action, e.object_id) for e in _ctx(client).store.list_audit()}
    assert ("session.alliance.record", str(sid)) in actions
    assert ("session.alliance.view", str(sid)) in actions
    assert ("participant.alliance.view", str(pid)) in actions


def test_wording_is_empty_until_the_clinic_provides_a_file(client: TestClient) -> None:
    assert client.get("/api/alliance/wording").json() == {}
    path = _ctx(client).settings.data_dir / "alliance_wording.json"
    wording = {"SRS": {"1": "clinic wording one"}, "WAI-SR": {"12": "clinic wording twelve"}}
    path.write_text(json.dumps(wording), encoding="utf-8")
    r = client.get("/api/alliance/wording")
    assert r.status_code == 200
    assert r.json() == wording


@pytest.mark.parametrize(
    "content",
    ['{"SRS": {"5": "no such item"}}', '{"XYZ": {"1": "a"}}', "not json", '["a"]'],
)
def test_a_broken_wording_file_says_so(client: TestClient, content: str) -> None:
    path = _ctx(client).settings.data_dir / "alliance_wording.json"
    path.write_text(content, encoding="utf-8")
    r = client.get("/api/alliance/wording")
    assert r.status_code == 500
    assert "alliance_wording.json" in r.json()["detail"]


def test_wording_is_never_stored(client: TestClient, dyad: tuple[int, int, int]) -> None:
    sid, pid, _ = dyad
    body = {
        "participant_id": pid,
        "instrument": "SRS",
        "version": "v1",
        "scores": {"1": 5, "2": 5, "3": 5, "4": 5},
        "wording": {"1": "some text"},
    }
    assert client.post(f"/api/sessions/{sid}/alliance", json=body).status_code == 422


def test_trend_shows_the_dyads_synchrony_with_its_surrogates_and_only_with_consent(
    client: TestClient,
) -> None:
    from hrv.derive import StoredBeats, derive
    from hrv.synchrony import dyad_grid, segment_synchrony
    from sensor.simulator import Scenario, simulate_session

    store = _ctx(client).store
    pid = _participant(client, "P-S", "patient")
    tid = _participant(client, "T-S", "therapist")
    sid = _session(client, pid, tid)
    t0 = 1_700_000_000.0
    store.start_session(sid, at_s=t0)
    sims = simulate_session(Scenario.first_session(1200.0), seed=5)  # 20 minutes, coupled
    for who, code in ((pid, "P-S"), (tid, "T-S")):
        store.grant_consent(who, "storage", "v1")
        sim = sims["patient" if who == pid else "therapist"]
        batch = BeatBatch(
            participant=code,
            device=f"sim-{code}",
            rr_ms=sim.rr_ms,
            rr_raw=None,
            host_time_s=t0 + float(sim.beat_times_s[-1]),
            beat_times_s=t0 + sim.beat_times_s,
            gap_before=True,
        )
        store.append_beats(sid, who, batch)
    assert _post(client, sid, pid, "SRS", {1: 8, 2: 8, 3: 8, 4: 8}).status_code == 201

    store.grant_consent(pid, "synchrony", "v1")
    row = client.get(f"/api/participants/{pid}/alliance").json()["sessions"][0]
    assert row["synchrony"] is None  # the therapist has not consented to synchrony

    store.grant_consent(tid, "synchrony", "v1")
    sync = client.get(f"/api/participants/{pid}/alliance").json()["sessions"][0]["synchrony"]
    # the same analysis done here directly on the stored beats (independent of the API code path)
    series = [
        derive(
            StoredBeats.from_arrays(page.beat_time_s - t0, page.rr_ms, page.gap_before),
            trace=False,
        )
        for page in (store.read_all_beats(sid, participant_id=p) for p in (pid, tid))
    ]
    grid = dyad_grid(
        series[0].c_rr_ms,
        series[1].c_rr_ms,
        patient_beat_times_s=series[0].c_time_s,
        therapist_beat_times_s=series[1].c_time_s,
        signal="hr",
        smooth_s=10.0,
    )
    expected = segment_synchrony(grid.patient, grid.therapist, fs_hz=grid.fs_hz).z
    assert sync["observed_z"] == pytest.approx(expected.observed, rel=1e-12)
    assert sync["surrogate_mean_z"] == pytest.approx(expected.surrogate_mean, rel=1e-12)
    assert sync["surrogate_sd_z"] == pytest.approx(expected.surrogate_sd, rel=1e-12)
    assert sync["p_value"] == pytest.approx(expected.p_value, rel=1e-12)
    assert sync["n_segments"] >= 30  # 20 minutes of 30 s segments, a few may be masked
    # the simulated therapist follows the patient: the real pairs beat their pseudo pairings
    assert sync["effect_size"] > 0
