"""REST API: stored beats (cursor paging) and the session timeline (derived series, events)."""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from server.api.data import derived_series
from tests.support.api import api_client, ctx_of, store_beats

T0 = 1_700_000_000.0


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with api_client(tmp_path / "data") as c:
        yield c


def _dyad(client: TestClient) -> tuple[int, int, int]:
    pid = client.post("/api/participants", json={"code": "P-1", "role": "patient"}).json()["id"]
    tid = client.post("/api/participants", json={"code": "T-1", "role": "therapist"}).json()["id"]
    sid = client.post(
        "/api/sessions",
        json={
            "participants": [
                {"participant_id": pid, "device": {"kind": "simulator"}},
                {"participant_id": tid, "device": {"kind": "simulator"}},
            ]
        },
    ).json()["id"]
    for p in (pid, tid):
        for purpose in ("storage", "review"):  # stored, and read back (finding 3 of issue 12)
            body = {"purpose": purpose, "version": "v1"}
            assert client.post(f"/api/participants/{p}/consents", json=body).status_code == 201
    return sid, pid, tid


def _rr(n: int, seed: int, mean_ms: float = 850.0) -> np.ndarray:
    """A clean RR series: a slow sine (RSA-like) plus small noise, ms."""
    rng = np.random.default_rng(seed)
    k = np.arange(n)
    return mean_ms + 40.0 * np.sin(2 * np.pi * k / 5.0) + rng.normal(0.0, 5.0, n)


def test_beats_are_paged_with_a_cursor_in_beat_time_order(client: TestClient) -> None:
    sid, pid, tid = _dyad(client)
    store = ctx_of(client).store
    tp = store_beats(store, sid, pid, _rr(40, 1), start_s=T0, device="strap-a")
    tt = store_beats(store, sid, tid, _rr(30, 2, 950.0), start_s=T0 + 0.3, device="strap-b")
    got: list[float] = []
    codes: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, object] = {"limit": 16}
        if cursor:
            params["cursor"] = cursor
        r = client.get(f"/api/sessions/{sid}/beats", params=params)
        assert r.status_code == 200
        page = r.json()
        assert page["n"] == len(page["beat_time_s"]) <= 16
        got += page["beat_time_s"]
        codes += page["participant_code"]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == math.ceil(70 / 16)
    assert got == sorted(got)
    assert sorted(got) == sorted([*tp.tolist(), *tt.tolist()])
    assert codes.count("P-1") == 40
    assert codes.count("T-1") == 30


def test_beats_of_one_participant_have_every_stored_field(client: TestClient) -> None:
    sid, pid, _ = _dyad(client)
    rr = _rr(25, 3)
    times = store_beats(ctx_of(client).store, sid, pid, rr, start_s=T0, device="strap-a", seq=100)
    r = client.get(f"/api/sessions/{sid}/beats", params={"participant": "P-1"})
    page = r.json()
    assert page["n"] == 25
    assert page["next_cursor"] is None
    np.testing.assert_array_equal(page["rr_ms"], rr)  # JSON floats round-trip exactly
    np.testing.assert_array_equal(page["beat_time_s"], times)
    assert page["rr_raw"] == [round(x * 1.024) for x in rr.tolist()]
    assert page["seq"] == list(range(100, 125))
    assert set(page["device"]) == {"strap-a"}
    assert set(page["contact"]) == {True}
    assert page["gap_before"] == [True] + [False] * 24
    assert page["host_time_s"] == [times[-1]] * 25
    none = client.get(f"/api/sessions/{sid}/beats", params={"participant": "T-1"}).json()
    assert none["n"] == 0


def test_beats_errors_and_audit(client: TestClient) -> None:
    sid, _, _ = _dyad(client)
    assert client.get("/api/sessions/99/beats").status_code == 404
    r = client.get(f"/api/sessions/{sid}/beats", params={"participant": "NOPE"})
    assert r.status_code == 404
    client.post("/api/participants", json={"code": "X-1", "role": "patient"})
    r = client.get(f"/api/sessions/{sid}/beats", params={"participant": "X-1"})
    assert r.status_code == 404  # exists, but not in this session
    r = client.get(f"/api/sessions/{sid}/beats", params={"cursor": "not-a-cursor"})
    assert r.status_code == 422
    assert "cursor" in r.json()["detail"]
    huge = base64.urlsafe_b64encode(json.dumps([1.0, 2**70, "d", 0]).encode()).decode()
    assert client.get(f"/api/sessions/{sid}/beats", params={"cursor": huge}).status_code == 422
    assert client.get(f"/api/sessions/{sid}/beats", params={"limit": 0}).status_code == 422
    assert client.get(f"/api/sessions/{sid}/beats", params={"limit": 10**6}).status_code == 422
    client.get(f"/api/sessions/{sid}/beats", params={"participant": "P-1"})
    exports = [
        e
        for e in ctx_of(client).store.list_audit(object_type="session", object_id=sid)
        if e.action == "session.beats.export"
    ]
    assert len(exports) == 1
    assert exports[0].detail == {"participant": "P-1", "n": 0}


def _reference_window_metrics(
    rr: np.ndarray, t: np.ndarray, window_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """Naive per-beat HR and RMSSD of the trailing window (t_k - window_s, t_k]: a loop."""
    hr = np.full(rr.shape, np.nan)
    rmssd = np.full(rr.shape, np.nan)
    for k in range(rr.shape[0]):
        w = rr[(t > t[k] - window_s) & (t <= t[k])]
        if w.shape[0] >= 2:
            hr[k] = np.mean(60000.0 / w)
            rmssd[k] = math.sqrt(np.mean(np.diff(w) ** 2))
    return hr, rmssd


def test_timeline_derived_series_match_the_task_force_definitions(client: TestClient) -> None:
    sid, pid, tid = _dyad(client)
    store = ctx_of(client).store
    rr = _rr(200, 4)
    times = store_beats(store, sid, pid, rr, start_s=T0)
    store_beats(store, sid, tid, _rr(150, 5, 950.0), start_s=T0)
    r = client.get(
        f"/api/sessions/{sid}/timeline",
        params={"participant": "P-1", "start_s": T0, "span_s": 3600, "window_s": 30},
    )
    assert r.status_code == 200
    out = r.json()
    assert [p["code"] for p in out["participants"]] == ["P-1"]
    p = out["participants"][0]
    assert p["artifact"] == [False] * 200  # clean series: nothing flagged, nothing corrected
    np.testing.assert_array_equal(p["rr_ms"], rr)
    d = p["derived"]
    np.testing.assert_array_equal(d["rr_ms"], rr)
    # corrected beats are timed from the anchor t0 - RR0 by cumulative sum (1e-6 s: float sums)
    np.testing.assert_allclose(d["time_s"], times, rtol=0, atol=1e-6)
    hr, rmssd = _reference_window_metrics(rr, np.asarray(d["time_s"]), 30.0)
    valid = np.asarray(d["valid"])
    np.testing.assert_array_equal(valid, ~np.isnan(hr))
    assert d["hr_bpm"][0] is None
    assert d["rmssd_ms"][0] is None
    # prefix sums against a direct loop: agreement to 1e-9 relative (float64 rounding only)
    np.testing.assert_allclose(np.asarray(d["hr_bpm"], float)[valid], hr[valid], rtol=1e-9)
    np.testing.assert_allclose(np.asarray(d["rmssd_ms"], float)[valid], rmssd[valid], rtol=1e-9)
    assert out["next_start_s"] is None


def test_timeline_flags_and_corrects_an_ectopic_beat(client: TestClient) -> None:
    sid, pid, _ = _dyad(client)
    rr = _rr(150, 6)
    rr[80] -= 300.0  # premature beat ...
    rr[81] += 300.0  # ... and its compensatory pause
    store_beats(ctx_of(client).store, sid, pid, rr, start_s=T0)
    p = client.get(
        f"/api/sessions/{sid}/timeline", params={"participant": "P-1", "start_s": T0}
    ).json()["participants"][0]
    flagged = np.flatnonzero(p["artifact"])
    assert 80 in flagged
    assert len(flagged) <= 4
    d = p["derived"]
    # interpolation brings the pair back near the local mean (within the RSA swing of 40 ms)
    assert abs(d["rr_ms"][80] - 850.0) < 60.0
    frac = np.asarray(d["artifact_fraction"])
    assert frac[79] == 0.0
    assert frac[80] > 0.0
    # without correction the ectopic pair would push RMSSD over 200 ms
    assert max(x for x in d["rmssd_ms"] if x is not None) < 100.0


def test_timeline_pages_are_seamless_and_carry_events(client: TestClient) -> None:
    sid, pid, _ = _dyad(client)
    store = ctx_of(client).store
    rr = _rr(400, 7)  # about 340 s
    store_beats(store, sid, pid, rr, start_s=T0)
    store.record_phase_event(sid, 0, "welcome", "enter", at_s=T0)
    store.add_marker(sid, "silence", participant_id=pid, at_s=T0 + 150.0)
    store.add_cue(sid, "pacing", "Consider a pause.", {}, at_s=T0 + 250.0)
    whole = client.get(
        f"/api/sessions/{sid}/timeline", params={"start_s": T0, "span_s": 3600}
    ).json()
    first = client.get(
        f"/api/sessions/{sid}/timeline", params={"start_s": T0, "span_s": 200}
    ).json()
    assert first["next_start_s"] == T0 + 200
    second = client.get(
        f"/api/sessions/{sid}/timeline",
        params={"start_s": first["next_start_s"], "span_s": 200},
    ).json()
    assert second["next_start_s"] is None
    for key in ("time_s", "rmssd_ms", "hr_bpm"):
        joined = (
            first["participants"][0]["derived"][key] + second["participants"][0]["derived"][key]
        )
        expected = whole["participants"][0]["derived"][key]
        # a page re-anchors its cumulative beat times on its own first beat: equal up to float
        # rounding of the sums (1e-12 relative, ~2 us on Unix times)
        np.testing.assert_allclose(
            np.asarray(joined, float), np.asarray(expected, float), rtol=1e-12, err_msg=key
        )
    assert [e["phase_name"] for e in first["phase_events"]] == ["welcome"]
    assert [m["type"] for m in first["markers"]] == ["silence"]
    assert first["cues"] == []
    assert [c["rule"] for c in second["cues"]] == ["pacing"]
    assert second["markers"] == []
    assert second["phase_events"] == []
    # the therapist has no beats: empty series, not an error
    therapist = next(p for p in whole["participants"] if p["code"] == "T-1")
    assert therapist["beat_time_s"] == []
    assert therapist["derived"]["time_s"] == []


def test_timeline_default_start_and_errors(client: TestClient) -> None:
    sid, pid, _ = _dyad(client)
    times = store_beats(ctx_of(client).store, sid, pid, _rr(20, 8), start_s=T0)
    out = client.get(f"/api/sessions/{sid}/timeline").json()
    # the session was created "now", after the synthetic beats: the page starts at the first beat
    assert out["start_s"] == times[0]
    assert len(out["participants"][0]["beat_time_s"]) == 20
    assert client.get("/api/sessions/99/timeline").status_code == 404
    r = client.get(f"/api/sessions/{sid}/timeline", params={"participant": "NOPE"})
    assert r.status_code == 404
    for params in ({"span_s": 0}, {"span_s": 4000}, {"window_s": -1}, {"start_s": "nan"}):
        assert client.get(f"/api/sessions/{sid}/timeline", params=params).status_code == 422
    views = [
        e.action
        for e in ctx_of(client).store.list_audit(object_type="session", object_id=sid)
        if e.action == "session.timeline.view"
    ]
    assert views == ["session.timeline.view"]


def test_derived_series_restarts_at_a_gap() -> None:
    rr = np.full(20, 1000.0)
    t = np.concatenate([1.0 + np.arange(10), 100.0 + np.arange(10)])
    gap = np.zeros(20, bool)
    gap[[0, 10]] = True
    d = derived_series(rr, t, gap, window_s=5.0)
    # each segment is re-anchored on its stored times, not summed across the dropout
    np.testing.assert_allclose(d.time_s, t, atol=1e-9)
    assert d.hr_bpm[12] == 60.0
    assert not d.valid[10]  # the first beat after the gap has a window of one beat


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.floats(400.0, 1400.0), min_size=1, max_size=120),
    st.floats(5.0, 120.0),
)
def test_derived_series_invariants(rr_list: list[float], window_s: float) -> None:
    rr = np.asarray(rr_list)
    t = 1000.0 + np.cumsum(rr) / 1000.0
    gap = np.zeros(rr.shape, bool)
    gap[0] = True
    d = derived_series(rr, t, gap, window_s=window_s)
    assert d.artifact.shape == rr.shape
    n = d.rr_ms.shape[0]
    for a in (d.time_s, d.hr_bpm, d.rmssd_ms, d.sdnn_ms, d.artifact_fraction, d.valid):
        assert a.shape == (n,)
    assert np.all(np.diff(d.time_s) >= 0)
    ok = d.valid
    assert np.all(d.rmssd_ms[ok] >= 0)
    assert np.all((d.artifact_fraction >= 0) & (d.artifact_fraction <= 1))
    assert np.all(np.isnan(d.rmssd_ms[~ok]))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_any_cursor_text_is_refused_cleanly_or_decoded(text: str) -> None:
    from server.api.data import _decode_cursor
    from server.storage import BeatCursor, InvalidRecordError

    message = ""
    try:
        cursor = _decode_cursor(text)
    except InvalidRecordError as exc:  # the only error allowed (a 422), never a 500
        message = str(exc)
    else:
        assert isinstance(cursor, BeatCursor)
        assert math.isfinite(cursor.beat_time_s)
    assert message == "" or "cursor" in message


@settings(max_examples=100, deadline=None)
@given(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(0, 2**31),
    st.text(min_size=1, max_size=40),
    st.integers(0, 2**40),
)
def test_cursor_round_trips(t_s: float, pid: int, device: str, seq: int) -> None:
    from server.api.data import _decode_cursor, _encode_cursor
    from server.storage import BeatCursor

    cursor = BeatCursor(t_s, pid, device, seq)
    assert _decode_cursor(_encode_cursor(cursor)) == cursor
