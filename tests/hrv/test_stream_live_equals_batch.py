"""Live equals batch: every streaming value equals the batch function on the same window.

For every update of beat k, the window of corrected beats is selected here independently (plain
comparisons on the update's own times, no ring arithmetic) and fed to :mod:`hrv.time_domain`;
the streaming value must agree to 1e-9. Hypothesis draws the series (realistic synthetic RR with
injected artifacts, or arbitrary RR that trips the detector often), the batch splits and the
dropouts.
"""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hrv import time_domain as td
from hrv.stream import (
    MIN_VALID_RMSSD_MS,
    UPDATE_FIELDS,
    HRVStream,
    StreamConfig,
    StreamUpdates,
)
from hrv.synthetic import inject_artifacts, synthetic_rr
from hrv.windows import trailing_window_trace

#: Live == batch tolerance (DESIGN.md). The streaming sums add and remove the same float values
#: the batch function sums, so the difference is a few ulps of the window sum (~1e-13 relative);
#: 1e-9 relative (plus 1e-9 absolute) is the contract.
TOL: float = 1e-9


def _feed(
    stream: HRVStream, rr: np.ndarray, t: np.ndarray, cuts: list[int], gaps: set[int]
) -> StreamUpdates:
    """Push ``rr`` in the batches given by ``cuts``; a batch starting in ``gaps`` has a dropout."""
    edges = sorted({0, rr.size, *[c for c in cuts if 0 < c < rr.size]})
    parts = []
    for a, b in itertools.pairwise(edges):
        parts.append(stream.push(rr[a:b], t[a:b], gap_before=a in gaps))
    parts.append(stream.flush())
    return StreamUpdates.concatenate(parts)


def _series(seed: int, n: int, kind: str) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "synthetic":
        clean = synthetic_rr(max(n, 200) + 60, seed=seed, mean_hr_bpm=float(rng.uniform(50, 110)))
        rr, _ = inject_artifacts(clean, seed=seed, n_per_type=max(1, n // 150))
        return rr[:n]
    if kind == "random":  # white RR: many beats flagged, every branch of the detector runs
        return rng.uniform(300.0, 1500.0, n)
    # steps and spikes: long plateaus (quartile deviation ~0) with jumps
    base = np.repeat(rng.uniform(500.0, 1200.0, n // 20 + 1), 20)[:n]
    base[rng.random(n) < 0.05] *= rng.choice([0.5, 1.6, 2.0])
    return base


def _check_windows(u: StreamUpdates, cfg: StreamConfig) -> None:
    """Assert every update against the batch functions on an independently selected window."""
    order = np.argsort(u.beat_index, kind="stable")
    assert np.array_equal(u.beat_index[order], np.arange(len(u)))
    t = u.time_s[order]
    rr_c = u.rr_corrected_ms[order]
    art = u.artifact[order] != 0
    cap = cfg.ring_capacity
    idx = np.arange(len(u))
    for k in range(len(u)):
        i = order[k]
        recent = (idx <= k) & (idx > k - cap)
        w_hr = rr_c[recent & (t > t[k] - cfg.hr_window_s)]
        in_rm = recent & (t > t[k] - cfg.rmssd_window_s)
        w_rm = rr_c[in_rm]
        assert u.n_hr[i] == w_hr.size
        assert u.n_rmssd[i] == w_rm.size
        if w_hr.size >= cfg.min_beats_hr:
            assert u.valid_hr[i]
            assert u.mean_hr_bpm[i] == pytest.approx(
                td.mean_instantaneous_hr(w_hr), rel=TOL, abs=TOL
            )
        else:
            assert not u.valid_hr[i]
            assert math.isnan(u.mean_hr_bpm[i])
        ok = w_rm.size >= cfg.min_beats_rmssd and td.rmssd(w_rm) > MIN_VALID_RMSSD_MS
        assert bool(u.valid_rmssd[i]) == ok
        if ok:
            assert u.rmssd_ms[i] == pytest.approx(td.rmssd(w_rm), rel=TOL, abs=TOL)
            assert u.ln_rmssd[i] == pytest.approx(td.ln_rmssd(w_rm), rel=TOL, abs=TOL)
        else:
            assert math.isnan(u.rmssd_ms[i])
            assert math.isnan(u.ln_rmssd[i])
        frac = float(np.mean(art[in_rm]))
        assert u.artifact_fraction[i] == pytest.approx(frac, abs=1e-12)
        assert bool(u.valid[i]) == bool(
            u.valid_hr[i] and u.valid_rmssd[i] and frac <= cfg.max_artifact_fraction
        )


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 400),
    kind=st.sampled_from(["synthetic", "random", "plateaus"]),
    cuts=st.lists(st.integers(0, 400), max_size=12),
    gaps=st.lists(st.integers(1, 400), max_size=2),
    hr_window_s=st.sampled_from([10.0, 3.0]),
    rmssd_window_s=st.sampled_from([60.0, 20.0, 5.0]),
)
def test_streaming_metrics_equal_batch_functions_on_the_same_window(
    seed: int,
    n: int,
    kind: str,
    cuts: list[int],
    gaps: list[int],
    hr_window_s: float,
    rmssd_window_s: float,
) -> None:
    rr = _series(seed, n, kind)
    t = np.cumsum(rr) / 1000.0
    for g in gaps:  # dropouts: beat times jump ahead by 3 s
        t[g:] += 3.0
    cfg = StreamConfig(hr_window_s=hr_window_s, rmssd_window_s=rmssd_window_s)
    u = _feed(HRVStream(cfg), rr, t, cuts + gaps, set(gaps))
    assert len(u) == n  # one update per beat, none lost, none twice
    assert np.array_equal(u.rr_ms[np.argsort(u.beat_index)], rr)  # raw RR never changed
    _check_windows(u, cfg)


@pytest.mark.parametrize("array_path", [False, True], ids=["scalar-path", "array-path"])
@pytest.mark.parametrize("resync_every_beats", [1, 8, 100])
def test_frequent_resync_before_the_ring_is_full(array_path: bool, resync_every_beats: int) -> None:
    """A re-sync period shorter than the ring: no warning, and still equal to the batch functions.

    The ring of corrected beats holds ``ring_capacity`` (257) slots; re-syncing every few beats
    reads it while most slots are still empty. Artifacts and two 3 s dropouts (each drops several
    beats out of the windows at once) run the expiry between re-syncs.
    """
    cfg = StreamConfig(resync_every_beats=resync_every_beats)
    assert resync_every_beats < cfg.ring_capacity
    clean = synthetic_rr(700, seed=5, mean_hr_bpm=72.0)
    rr, _ = inject_artifacts(clean, seed=5, n_per_type=4)
    rr = rr[:600]
    t = np.cumsum(rr) / 1000.0
    gaps = {150, 420}
    for g in gaps:
        t[g:] += 3.0
    stream = HRVStream(cfg)
    if array_path:
        stream.engine._scalar_max_rows = 0  # every round on the array path
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        u = _feed(stream, rr, t, [1, 7, 64, 300, 301, *gaps], gaps)
    assert [str(w.message) for w in caught] == []
    assert len(u) == rr.size
    _check_windows(u, cfg)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 300),
    cuts=st.lists(st.integers(0, 300), max_size=15),
)
def test_batch_splits_do_not_change_anything(seed: int, n: int, cuts: list[int]) -> None:
    """Pushing one beat at a time, all at once or in random batches gives identical updates."""
    rr = _series(seed, n, "synthetic")
    t = np.cumsum(rr) / 1000.0
    whole = _feed(HRVStream(), rr, t, [], set())
    split = _feed(HRVStream(), rr, t, cuts, set())
    for f in UPDATE_FIELDS:
        np.testing.assert_array_equal(getattr(split, f), getattr(whole, f), err_msg=f)


def test_stream_equals_vectorized_trailing_trace() -> None:
    """A second, vectorized batch path (prefix sums, hrv.windows) gives the same trace."""
    rr, _ = inject_artifacts(synthetic_rr(1500, seed=7), seed=7, n_per_type=6)
    t = np.cumsum(rr) / 1000.0
    u = _feed(HRVStream(), rr, t, [100, 101, 700], set())
    trace = trailing_window_trace(
        u.rr_corrected_ms, window_s=60.0, beat_times_s=u.time_s, artifact_mask=u.artifact != 0
    )
    ok = u.valid_rmssd
    np.testing.assert_allclose(u.rmssd_ms[ok], trace.rmssd_ms[ok], rtol=TOL, atol=TOL)
    np.testing.assert_array_equal(u.n_rmssd, trace.n_beats)
    np.testing.assert_allclose(u.artifact_fraction, trace.artifact_fraction, atol=1e-12)
    hr = trailing_window_trace(u.rr_corrected_ms, window_s=10.0, beat_times_s=u.time_s)
    np.testing.assert_allclose(u.mean_hr_bpm, hr.mean_hr_bpm, rtol=TOL, atol=TOL)


def test_running_sums_do_not_drift_over_100k_beats() -> None:
    """100,000 beats (about a day) with artifacts of large dynamic range: still equal to 1e-9.

    Adding and removing large squared differences (a 2000 ms jump squares to 4e6 ms^2) next to
    small ones is where float running sums lose digits; the periodic exact re-sync bounds it.
    """
    n = 100_000
    rng = np.random.default_rng(11)
    rr = 800.0 + 40.0 * np.sin(np.arange(n) / 4.0) + rng.normal(0.0, 8.0, n)
    spikes = rng.choice(n, 400, replace=False)
    rr[spikes] = rng.choice([300.0, 2400.0, 1900.0], spikes.size)
    t = np.cumsum(rr) / 1000.0
    stream = HRVStream()
    mine = StreamUpdates.concatenate([stream.push(rr, t), stream.flush()])
    # the last 5000 beats, where drift would have accumulated, checked one by one
    tail = slice(n - 5000, n)
    t_c, rr_c = mine.time_s, mine.rr_corrected_ms
    for k in range(tail.start, tail.stop, 7):
        w = rr_c[max(0, k - 300) : k + 1][t_c[max(0, k - 300) : k + 1] > t_c[k] - 60.0]
        assert mine.rmssd_ms[k] == pytest.approx(td.rmssd(w), rel=TOL, abs=TOL)
        h = rr_c[max(0, k - 60) : k + 1][t_c[max(0, k - 60) : k + 1] > t_c[k] - 10.0]
        assert mine.mean_hr_bpm[k] == pytest.approx(td.mean_instantaneous_hr(h), rel=TOL, abs=TOL)


def test_compensated_sums_survive_a_large_dynamic_range() -> None:
    """Wild RR (squared differences ~1e5 ms^2) then a near-flat stretch (~1e-4 ms^2).

    When the wild beats leave the 60 s window, a plain float running sum keeps their rounding
    residue (measured here: relative RMSSD error ~5e-7, far above 1e-9); the Neumaier-compensated
    sums of the engine stay exact to ~1e-15 even with the periodic re-sync switched off.
    """
    rng = np.random.default_rng(0)
    rr = np.r_[rng.uniform(300.0, 1500.0, 200), 1000.0 + 0.01 * np.sin(np.arange(300) * 0.7)]
    t = np.cumsum(rr) / 1000.0
    stream = HRVStream(StreamConfig(resync_every_beats=10**9))
    u = StreamUpdates.concatenate([stream.push(rr, t), stream.flush()])
    rr_c, t_c = u.rr_corrected_ms, u.time_s
    naive, head, naive_err, engine_err = 0.0, 0, 0.0, 0.0
    for k in range(rr_c.size):
        if k > head:
            naive += (rr_c[k] - rr_c[k - 1]) ** 2
        while t_c[head] <= t_c[k] - 60.0:
            naive -= (rr_c[head + 1] - rr_c[head]) ** 2
            head += 1
        w = rr_c[head : k + 1]
        if w.size >= 10 and u.valid_rmssd[k]:
            ref = td.rmssd(w)
            naive_err = max(naive_err, abs(np.sqrt(max(naive, 0.0) / (w.size - 1)) - ref) / ref)
            engine_err = max(engine_err, abs(u.rmssd_ms[k] - ref) / ref)
    assert naive_err > 1e-8  # the case is hard: a plain running sum fails the contract
    assert engine_err < TOL
