"""The one derivation from stored beats (hrv.derive): the raw/corrected map, segments, interval
statistics checked against the textbook formulas, and no exception on any stored series."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hrv import time_domain as td
from hrv.artifacts import BeatClass, correct_artifacts, detect_artifacts
from hrv.derive import (
    DROPOUT_RR_MS,
    BeatFate,
    CorrectedKind,
    DerivationError,
    StoredBeats,
    derive,
    dyad_synchrony,
    interval_stats,
    per_beat,
)
from hrv.frequency import frequency_domain
from hrv.synthetic import strap_recording, synthetic_rr


def _beats(rr: np.ndarray, gap_at: tuple[int, ...] = (), gap_s: float = 30.0) -> StoredBeats:
    ok = np.isfinite(rr) & (rr > 0)
    t = np.cumsum(np.where(ok, rr, 0.0)) / 1000.0  # an unusable value takes no time
    gap = np.zeros(rr.size, dtype=bool)
    gap[0] = True
    for i in gap_at:
        t[i:] += gap_s
        gap[i] = True
    return StoredBeats.from_arrays(t, rr, gap)


def _check_map(d: object) -> None:
    """Invariants every derivation holds, whatever the input."""
    from hrv.derive import Derivation

    assert isinstance(d, Derivation)
    n, m = len(d), d.c_rr_ms.size
    assert d.classes.shape == d.fate.shape == d.segment.shape == (n,)
    assert (np.diff(d.c_time_s) >= 0).all()
    assert int(d.n_corrected.sum()) == m
    assert (d.c_raw_first <= d.c_raw_last).all()
    # a corrected beat never spans a gap: its raw beats share one segment
    assert (d.segment[d.c_raw_first] == d.c_segment).all()
    assert (d.segment[d.c_raw_last] == d.c_segment).all()
    # unusable values are removed, never corrected into something
    assert (d.fate[~d.usable] == BeatFate.REMOVED).all()
    assert (d.n_corrected[d.fate == BeatFate.REMOVED] == 0).all()
    assert (d.n_corrected[d.fate == BeatFate.SPLIT] >= 2).all()
    kept = d.fate == BeatFate.KEPT
    assert (d.n_corrected[kept] == 1).all()
    # kept beats stay exactly where and what they were
    at = d.first_corrected[kept]
    np.testing.assert_array_equal(d.c_rr_ms[at], d.beats.rr_ms[kept])
    np.testing.assert_array_equal(d.c_time_s[at], d.beats.time_s[kept])
    assert np.isfinite(d.c_rr_ms).all()
    assert (d.c_rr_ms > 0).all()


def test_extra_detection_of_150_ms_is_merged_and_mapped() -> None:
    """Regression (issue 10): the most common strap artifact, one RR split into 150 ms and the
    rest, used to make the review index the corrected series with raw indices and crash."""
    rr = synthetic_rr(400, seed=3)
    split = np.concatenate((rr[:200], [150.0, rr[200] - 150.0], rr[201:]))
    d = derive(_beats(split))
    _check_map(d)
    assert d.c_rr_ms.size == rr.size  # the two detections become one interval again
    assert [BeatFate(int(f)) for f in d.fate[200:202]] == [BeatFate.MERGED, BeatFate.MERGED]
    assert d.n_corrected[200] == 0
    assert d.n_corrected[201] == 1
    k = int(d.first_corrected[201])
    assert d.c_kind[k] == CorrectedKind.MERGED
    assert d.c_rr_ms[k] == pytest.approx(rr[200])
    assert (d.c_raw_first[k], d.c_raw_last[k]) == (200, 201)
    # the merged interval ends where the original beat ended
    assert d.c_time_s[k] == pytest.approx(np.cumsum(rr)[200] / 1000.0)


def test_missed_beat_is_split_and_mapped() -> None:
    rr = synthetic_rr(400, seed=4)
    merged = np.concatenate((rr[:100], [rr[100] + rr[101]], rr[102:]))
    d = derive(_beats(merged))
    _check_map(d)
    assert d.fate[100] == BeatFate.SPLIT
    assert d.n_corrected[100] == 2
    k = int(d.first_corrected[100])
    assert d.c_kind[k] == d.c_kind[k + 1] == CorrectedKind.SPLIT_PART
    assert d.c_rr_ms[k] + d.c_rr_ms[k + 1] == pytest.approx(merged[100])  # duration kept
    assert d.c_rr_ms.size == rr.size


def test_correction_never_crosses_a_gap() -> None:
    rr = synthetic_rr(600, seed=5)
    d = derive(_beats(rr, gap_at=(300,)))
    _check_map(d)
    assert d.n_segments == 2
    # each segment corrected on its own, as the batch functions would on that stretch alone
    for a, b, s in ((0, 300, 0), (300, 600, 1)):
        expected = correct_artifacts(rr[a:b], detect_artifacts(rr[a:b])).rr
        np.testing.assert_array_equal(d.c_rr_ms[d.c_segment == s], expected)


def test_unusable_values_and_dropout_long_intervals_are_removed_not_invented() -> None:
    rr = synthetic_rr(300, seed=6).copy()
    rr[[50, 120]] = [np.nan, 0.0]
    rr[200] = 60_000.0  # a minute without beats reported as one interval
    d = derive(_beats(rr))
    _check_map(d)
    assert not d.usable[[50, 120]].any()
    assert d.fate[200] == BeatFate.REMOVED
    assert rr[200] > DROPOUT_RR_MS
    assert d.by_type()["unusable"] == 2
    assert d.n_segments == 4  # cut at each removed beat
    assert d.c_rr_ms.max() < 2000.0  # no 60 s interval split into dozens of invented beats


def test_interval_stats_equal_the_textbook_formulas() -> None:
    """Against direct numpy formulas (Task Force 1996) on the corrected beats selected by time,
    and the pooled RMSSD across a gap (no successive difference spans it)."""
    rr = synthetic_rr(1500, seed=7)
    d = derive(_beats(rr, gap_at=(700,), gap_s=12.0), trace=False)
    st_ = interval_stats(d, [0.0, 200.0, 0.0], [200.0, 700.0, 1e9], lf_hf=True)
    for i, (a, b) in enumerate([(0.0, 200.0), (200.0, 700.0), (0.0, 1e9)]):
        sel = (d.c_time_s >= a) & (d.c_time_s < b)
        x, seg = d.c_rr_ms[sel], d.c_segment[sel]
        diffs = np.concatenate([np.diff(x[seg == k]) for k in np.unique(seg)])
        assert st_.rmssd_ms[i] == pytest.approx(math.sqrt(np.mean(diffs**2)), rel=1e-12)
        assert st_.mean_hr_bpm[i] == pytest.approx(td.mean_hr(x), rel=1e-12)
        raw = (d.beats.time_s >= a) & (d.beats.time_s < b)
        assert st_.n_beats[i] == raw.sum()
        assert st_.artifact_pct[i] == pytest.approx(100 * np.mean(d.is_artifact[raw]))
        longest = max((x[seg == k] for k in np.unique(seg)), key=lambda v: float(v.sum()))
        if longest.sum() >= 120_000.0:
            assert st_.lf_hf[i] == pytest.approx(frequency_domain(longest).lf_hf, rel=1e-12)
        else:
            assert math.isnan(st_.lf_hf[i])
    # one segment: exactly hrv.time_domain.rmssd
    d1 = derive(_beats(rr), trace=False)
    whole = interval_stats(d1, [-math.inf], [math.inf], lf_hf=False)
    assert whole.rmssd_ms[0] == pytest.approx(td.rmssd(d1.c_rr_ms), rel=1e-12)


def test_interval_stats_against_neurokit2() -> None:
    """An independent implementation on the same corrected beats: NeuroKit2's hrv_time."""
    nk = pytest.importorskip("neurokit2")
    import warnings

    rr = synthetic_rr(600, seed=8)
    d = derive(_beats(rr), trace=False)
    s = interval_stats(d, [-math.inf], [math.inf], lf_hf=False)
    peaks = np.concatenate(([0], np.cumsum(np.rint(d.c_rr_ms).astype(int))))  # 1 kHz samples
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = nk.hrv_time(peaks, sampling_rate=1000)
    # rounding each RR to the 1 ms sampling grid moves RMSSD by well under 0.1 %
    assert s.rmssd_ms[0] == pytest.approx(float(ref["HRV_RMSSD"].iloc[0]), rel=1e-3)


def test_empty_and_tiny_inputs() -> None:
    for rr in (np.zeros(0), np.array([800.0]), np.array([800.0, 810.0])):
        d = derive(StoredBeats.from_arrays(np.cumsum(rr) / 1000.0, rr))
        _check_map(d)
        s = interval_stats(d, [0.0], [10.0])
        assert s.n_beats[0] == rr.size
        assert math.isnan(s.rmssd_ms[0])
    with pytest.raises(DerivationError, match="one value per beat"):
        StoredBeats.from_arrays([1.0, 2.0], [800.0])


def test_per_beat_has_one_row_per_stored_beat() -> None:
    r = strap_recording(900.0, seed=9, n_pauses=1)
    d = derive(StoredBeats.from_arrays(r.time_s, r.rr_ms, r.gap_before))
    p = per_beat(d)
    assert len(p) == r.rr_ms.size
    assert d.arousal is not None
    assert p.arousal_state.shape == (r.rr_ms.size,)
    with pytest.raises(DerivationError, match="trace"):
        per_beat(derive(StoredBeats.from_arrays(r.time_s, r.rr_ms), trace=False))


def test_missed_beat_keeps_dyad_synchrony() -> None:
    """Regression (issue 10): one missed beat used to drop synchrony from the review (corrected
    RR paired with raw beat times of another length)."""
    a = strap_recording(900.0, seed=10, n_dropouts=0, n_missed=1, n_extra=0)
    b = strap_recording(900.0, seed=11, n_dropouts=0, n_missed=0, n_extra=1)
    dp = derive(StoredBeats.from_arrays(a.time_s, a.rr_ms, a.gap_before), trace=False)
    dt = derive(StoredBeats.from_arrays(b.time_s, b.rr_ms, b.gap_before), trace=False)
    assert dp.c_rr_ms.size != len(dp)  # the map matters here
    ds = dyad_synchrony(dp, dt, [0.0, 450.0], [450.0, 900.0])
    assert ds.whole is not None
    assert all(s is not None for s in ds.phases)
    assert ds.wlcc is not None


@st.composite
def _recordings(draw: st.DrawFn) -> StoredBeats:
    r = strap_recording(
        draw(st.floats(60.0, 900.0)),
        seed=draw(st.integers(0, 10_000)),
        mean_hr_bpm=draw(st.floats(45.0, 150.0)),
        n_extra=draw(st.integers(0, 5)),
        n_missed=draw(st.integers(0, 5)),
        n_ectopic=draw(st.integers(0, 5)),
        n_duplicate=draw(st.integers(0, 3)),
        n_long=draw(st.integers(0, 3)),
        n_dropouts=draw(st.integers(0, 3)),
        n_pauses=draw(st.integers(0, 2)),
    )
    rr = r.rr_ms.copy()
    # stored values no strap should send but legacy data or a file may hold
    for i in draw(st.lists(st.integers(0, max(rr.size - 1, 0)), max_size=3 if rr.size else 0)):
        rr[i] = draw(st.sampled_from([0.0, -5.0, np.nan, np.inf, 1e308, 30_000.0, 80.0]))
    return StoredBeats.from_arrays(r.time_s, rr, r.gap_before)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_recordings(), st.lists(st.floats(-100.0, 1000.0), min_size=2, max_size=6))
def test_any_stored_series_derives_and_summarises(b: StoredBeats, edges: list[float]) -> None:
    d = derive(b)
    _check_map(d)
    assert d.trace is not None
    assert d.trace.time_s.size == int(d.usable.sum())
    e = np.sort(np.asarray(edges))
    s = interval_stats(d, e[:-1], e[1:])
    assert int(s.n_beats.sum()) <= len(b)
    ok = np.isfinite(s.rmssd_ms)
    assert (s.rmssd_ms[ok] >= 0).all()
    assert (s.artifact_pct[np.isfinite(s.artifact_pct)] >= 0).all()
    assert (s.artifact_pct[np.isfinite(s.artifact_pct)] <= 100).all()
    hr = s.mean_hr_bpm[np.isfinite(s.mean_hr_bpm)]
    assert ((hr > 10) & (hr < 400)).all()


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.floats(-1e5, 1e9))
def test_a_shift_of_the_clock_changes_nothing(seed: int, shift: float) -> None:
    """Session-relative and epoch times give the same corrected series and interval numbers."""
    r = strap_recording(300.0, seed=seed)
    a = derive(StoredBeats.from_arrays(r.time_s, r.rr_ms, r.gap_before), trace=False)
    b = derive(StoredBeats.from_arrays(r.time_s + shift, r.rr_ms, r.gap_before), trace=False)
    np.testing.assert_array_equal(a.c_rr_ms, b.c_rr_ms)
    np.testing.assert_array_equal(a.classes, b.classes)
    assert not np.any(a.classes[a.usable] > max(BeatClass))
