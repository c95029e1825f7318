"""Tests of hrv.artifacts: Lipponen & Tarvainen (2019) detection and correction.

Performance is measured on synthetic series (hrv.synthetic) with artifacts injected at known
positions, so that sensitivity and false positives are exact counts, not estimates.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from hrv.artifacts import (
    MIN_ADAPTIVE_BEATS,
    ArtifactDetection,
    BeatClass,
    _classify,
    _drr,
    _quartile_deviation_threshold,
    _rolling_median,
    _rolling_quantiles,
    _subspaces,
    correct_artifacts,
    detect_artifacts,
)
from hrv.errors import InsufficientDataError, InvalidRRError
from hrv.synthetic import (
    ARTIFACT_TYPES,
    inject_artifacts,
    rmssd_error_pct,
    score_detection,
    synthetic_rr,
)
from hrv.validate import PLAUSIBLE_RR_MAX_MS, PLAUSIBLE_RR_MIN_MS

N, L, S, M, E, X = (
    BeatClass.NORMAL,
    BeatClass.LONG,
    BeatClass.SHORT,
    BeatClass.MISSED,
    BeatClass.ECTOPIC,
    BeatClass.EXTRA,
)


@pytest.fixture(scope="module")
def long_series() -> tuple[NDArray[np.float64], NDArray[np.float64], Any]:
    """About 12 h of beats with 100 events of each type (500 events, 1 % of the beats)."""
    clean = synthetic_rr(50_000, seed=11)
    bad, truth = inject_artifacts(clean, seed=11, n_per_type=100)
    return clean, bad, truth


# --------------------------------------------------------------------------------------------
# Performance on injected artifacts
# --------------------------------------------------------------------------------------------


def test_sensitivity_per_type_and_false_positives(long_series: Any) -> None:
    """Sensitivity >= 99 % per type; false positives <= 0.05 % of the normal beats.

    The bounds are the issue's targets. Sensitivity: the paper reports 100 % for simulated
    missed/extra beats; our injected magnitudes (ectopic prematurity >= 20 %, long/short
    >= 25 %) are well outside the thresholds (Th1 is ~2 SD of dRR here), so anything below
    99 % is a bug. FP: ~49,500 normal beats give a resolution of 0.002 %; the paper reports a
    specificity of 99.94 % on real data; on this model we measure ~0.02 %.
    """
    _, bad, truth = long_series
    scores = score_detection(truth, detect_artifacts(bad).classes)
    assert set(scores.sensitivity) == set(ARTIFACT_TYPES)
    for name in ARTIFACT_TYPES:
        assert scores.n_events[name] == 100
        assert scores.sensitivity[name] >= 0.99, name
        # The class itself, not only "some artifact", is right for nearly every event.
        assert scores.type_agreement[name] >= 0.95, name
    assert scores.false_positive_pct <= 0.05


def test_correction_restores_five_minute_rmssd(long_series: Any) -> None:
    """Median absolute error of 5-min RMSSD after correction <= 1 % of the clean value.

    With 1 % of the beats corrupted nearly every 5-min window holds artifacts, so the median is
    over corrupted windows, not over untouched ones (checked below). Uncorrected, the error is
    far above 100 %: a single missed beat dominates RMSSD.
    """
    clean, bad, truth = long_series
    corrected = correct_artifacts(bad).rr
    err = rmssd_error_pct(clean, corrected)
    t_event = np.cumsum(bad)[truth.event_start] / 1000.0
    windows_hit = np.unique(np.floor(t_event / 300.0)).shape[0]
    assert windows_hit >= 0.9 * err.shape[0]
    assert np.median(err) <= 1.0
    assert np.median(rmssd_error_pct(clean, bad)) > 50.0


def test_correction_recovers_each_type_exactly_or_closely() -> None:
    """Merges restore an extra detection exactly; splits and interpolation come close."""
    clean = synthetic_rr(600, seed=2)
    pos = {"extra": [100], "missed": [200], "ectopic": [300], "long": [400], "short": [500]}
    bad, _truth = inject_artifacts(clean, seed=2, positions=pos)
    out = correct_artifacts(bad)
    assert out.rr.shape == clean.shape  # one merge and one split cancel out
    # Merge: the two parts of a split beat sum back to it (to rounding).
    assert out.rr[100] == pytest.approx(clean[100], rel=1e-12)
    # Split: two equal halves of the merged pair.
    assert out.rr[200] == out.rr[201] == pytest.approx((clean[200] + clean[201]) / 2)
    # Interpolated beats land within the local spread of the clean series (RSA ~30 ms).
    for j in (300, 301, 400, 500):
        assert abs(out.rr[j] - clean[j]) < 60.0, j
    # Every other beat is untouched.
    untouched = np.ones(clean.shape[0], dtype=bool)
    untouched[[100, 200, 201, 300, 301, 400, 500]] = False
    np.testing.assert_array_equal(out.rr[untouched], clean[untouched])


# --------------------------------------------------------------------------------------------
# Correction mechanics
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "parts",
    [
        [0.3, 0.3, 0.4],  # two spurious detections in one beat
        [0.1, 0.15, 0.75],  # ... two of them implausibly short
        [0.2, 0.2, 0.2, 0.4],  # three
    ],
)
def test_burst_of_spurious_detections_merges_back_exactly(parts: list[float]) -> None:
    clean = synthetic_rr(300, seed=2)
    j = 100
    bad = np.concatenate((clean[:j], clean[j] * np.array(parts), clean[j + 1 :]))
    det = detect_artifacts(bad)
    m = len(parts)
    np.testing.assert_array_equal(np.flatnonzero(det.classes), np.arange(j, j + m))
    assert np.all(det.classes[j : j + m] == X)
    out = correct_artifacts(bad, det)
    assert out.n_merged == m - 1
    np.testing.assert_allclose(out.rr, clean, rtol=1e-12)


def test_two_consecutive_split_beats() -> None:
    clean = synthetic_rr(300, seed=2)
    bad = np.concatenate((clean[:100], np.repeat(clean[100:102] / 2, 2), clean[102:]))
    out = correct_artifacts(bad)
    np.testing.assert_array_equal(np.flatnonzero(out.classes), [100, 101, 102, 103])
    assert out.n_merged == 2
    np.testing.assert_allclose(out.rr, clean, rtol=1e-12)


def test_correction_bookkeeping() -> None:
    rr = synthetic_rr(300, seed=4)
    rr[50] = rr[50] + rr[51]  # missed
    rr = np.delete(rr, 51)
    first = rr[150] * 0.3
    rr = np.insert(rr, 150, first)  # extra: 150 and 151 are the two parts
    rr[151] -= first
    rr[250] *= 1.4  # long
    out = correct_artifacts(rr)
    np.testing.assert_array_equal(np.flatnonzero(out.classes), [50, 150, 151, 250])
    assert (out.n_split, out.n_inserted, out.n_merged, out.n_interpolated) == (1, 1, 1, 1)
    assert out.rr.shape[0] == rr.shape[0] + 1 - 1
    src = out.source_index
    assert src[50] == 50
    assert src[51] == -1
    merged = int(np.flatnonzero(src == 150)[0])
    assert out.rr[merged] == pytest.approx(rr[150] + rr[151])
    assert not np.any(src == 151)  # the spurious detection is gone
    normal = (out.classes[np.maximum(src, 0)] == N) & (src >= 0)
    np.testing.assert_array_equal(out.rr[normal], rr[src[normal]])


def test_input_never_modified() -> None:
    clean = synthetic_rr(500, seed=3)
    bad, _ = inject_artifacts(clean, seed=3, n_per_type=3)
    before = bad.copy()
    bad.setflags(write=False)  # any in-place write would raise
    det = detect_artifacts(bad)
    out = correct_artifacts(bad, det)
    np.testing.assert_array_equal(bad, before)
    assert not np.shares_memory(out.rr, bad)
    as_list = before.tolist()
    correct_artifacts(as_list)
    assert as_list == before.tolist()


def test_detection_of_other_length_is_rejected() -> None:
    det = detect_artifacts(synthetic_rr(100, seed=0))
    with pytest.raises(InvalidRRError, match="100 beats"):
        correct_artifacts(synthetic_rr(101, seed=0), det)


# --------------------------------------------------------------------------------------------
# Physiologically implausible values
# --------------------------------------------------------------------------------------------


def test_dropout_gap_is_missed_and_split_in_median_sized_parts() -> None:
    rr = synthetic_rr(300, seed=5)
    rr[150] = 4000.0
    out = correct_artifacts(rr)
    assert out.classes[150] == M
    k = int(np.rint(4000.0 / np.median(rr[140:161])))
    assert out.n_inserted == k - 1
    assert out.rr.sum() == pytest.approx(rr.sum(), rel=1e-12)  # time preserved
    assert np.all(out.rr <= PLAUSIBLE_RR_MAX_MS)


def test_double_detection_is_extra_and_merged() -> None:
    rr = synthetic_rr(300, seed=6)
    rr = np.insert(rr, 120, 150.0)
    rr[121] -= 150.0
    out = correct_artifacts(rr)
    assert out.classes[120] == X
    assert out.classes[121] == X
    assert out.n_merged == 1
    assert np.all(out.rr >= PLAUSIBLE_RR_MIN_MS)
    assert out.rr.sum() == pytest.approx(rr.sum(), rel=1e-12)


@pytest.mark.parametrize("n", [1, 3, MIN_ADAPTIVE_BEATS, 40])
def test_implausible_values_flagged_even_when_thresholds_are_blind(n: int) -> None:
    """Huge variability (or too few beats) makes Th1/Th2 blind; plausibility rules still apply."""
    rng = np.random.default_rng(n)
    rr = rng.uniform(300.0, 2400.0, size=n)  # wildly variable: thresholds are huge
    rr[0] = 2600.0
    if n > 1:
        rr[-1] = 240.0
    det = detect_artifacts(rr)
    assert det.classes[0] == M
    if n > 1:
        assert det.classes[-1] in (X, S)
    out = correct_artifacts(rr, det)
    assert np.all(np.isfinite(out.rr))
    assert np.all(out.rr > 0)
    assert np.all(out.rr <= PLAUSIBLE_RR_MAX_MS)


def test_plausible_thresholds_do_not_fire_on_plausible_extremes() -> None:
    """A steady 28 bpm or 230 bpm (inside 250-2500 ms) is not an artifact."""
    for value in (2100.0, 260.0):
        assert detect_artifacts(np.full(200, value)).n_artifacts == 0


# --------------------------------------------------------------------------------------------
# Edges and short input
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("position", "kind"),
    [(0, "long"), (1, "long"), (0, "short"), (-1, "long"), (-2, "short"), (-1, "short")],
)
def test_first_and_last_beats_are_classified(position: int, kind: str) -> None:
    rr = synthetic_rr(200, seed=7)
    rr[position] *= 1.4 if kind == "long" else 0.65
    det = detect_artifacts(rr)
    expected = np.zeros(200, dtype=np.int8)
    expected[position] = L if kind == "long" else S
    np.testing.assert_array_equal(det.classes, expected)


@pytest.mark.parametrize("start", [0, 198])
def test_ectopic_pair_at_the_edges(start: int) -> None:
    rr = synthetic_rr(200, seed=8)
    d = 0.3 * rr[start]
    rr[start] -= d
    rr[start + 1] += d
    det = detect_artifacts(rr)
    assert np.flatnonzero(det.classes).tolist() == [start, start + 1]
    assert set(det.classes[start : start + 2].tolist()) == {E}


def test_short_series() -> None:
    with pytest.raises(InsufficientDataError):
        detect_artifacts([])
    for n in range(1, MIN_ADAPTIVE_BEATS):
        det = detect_artifacts([800.0, 1300.0, 600.0, 900.0][:n])
        assert det.n_artifacts == 0  # adaptive rules off: all normal
        for arr in (det.drr, det.th1, det.mrr, det.th2, det.medrr):
            assert arr.shape == (n,)
            assert np.all(np.isfinite(arr))
        assert np.all(det.th1 > 0)
        assert np.all(det.th2 > 0)


def test_corrupt_input_raises() -> None:
    for bad in ([800.0, np.nan, 800.0], [800.0, -5.0], [[800.0, 800.0]], ["a"]):
        with pytest.raises(InvalidRRError):
            detect_artifacts(bad)
        with pytest.raises(InvalidRRError):
            correct_artifacts(bad)


def test_invalid_parameters_raise() -> None:
    with pytest.raises(InvalidRRError):
        detect_artifacts([800.0] * 10, alpha=0.0)
    with pytest.raises(InvalidRRError):
        detect_artifacts([800.0] * 10, window_beats=0)


def test_summary_helpers() -> None:
    rr = synthetic_rr(200, seed=9)
    rr[100] *= 2.0
    det = detect_artifacts(rr)
    counts = det.by_type()
    assert list(counts) == ["normal", "ectopic", "long", "short", "missed", "extra"]
    assert sum(counts.values()) == 200
    assert counts["missed"] == 1
    assert det.n_artifacts == 1
    assert det.artifact_fraction == pytest.approx(1 / 200)
    np.testing.assert_allclose(det.drrs, det.drr / det.th1)


# --------------------------------------------------------------------------------------------
# Known weaknesses of public implementations
# --------------------------------------------------------------------------------------------


def test_outlier_visible_only_in_mrr_is_found() -> None:
    """NeuroKit2 skips every beat with |dRRs| <= 1, so a plateau's inner beats are missed.

    Three consecutive beats 500 ms too long: the third has a small dRR (|dRRs| <= 1) but a huge
    mRR (|mRRs| > 3), which the paper's rule |mRRs| > 3 flags on its own.
    """
    rr = synthetic_rr(400, seed=1)
    rr[200:203] += 500.0
    det = detect_artifacts(rr)
    assert abs(det.drrs[202]) <= 1.0
    assert det.mrrs[202] > 3.0
    np.testing.assert_array_equal(np.flatnonzero(det.classes), [200, 201, 202])
    assert np.all(det.classes[200:203] == L)


def test_next_beat_check_runs() -> None:
    """Two consecutive long beats: the second is flagged only through the next-beat check.

    Its own dRR is small (|dRRs| < 1, so neither S11 rule applies) and |mRRs| < 3 (so the mRR
    rule does not apply); it is long only because beat j was long and |dRRs(j+1)| <
    |dRRs(j+2)|. systole's version of this check never runs (``np.bool_ is True``).
    """
    rr = synthetic_rr(400, seed=12)
    j = 200
    rr[j : j + 2] += 160.0
    det = detect_artifacts(rr)
    drrs, mrrs = det.drrs, det.mrrs
    assert abs(drrs[j + 1]) < 1.0 < abs(drrs[j + 2])  # the premise of the check
    assert 1.0 < mrrs[j + 1] < 3.0  # no other rule can flag beat j+1
    np.testing.assert_array_equal(np.flatnonzero(det.classes), [j, j + 1])
    assert det.classes[j] == det.classes[j + 1] == L


# --------------------------------------------------------------------------------------------
# Comparison with NeuroKit2 (independent implementation of the same paper)
# --------------------------------------------------------------------------------------------


def _peaks(rr: NDArray[np.float64]) -> NDArray[np.int64]:
    """R-peak sample indices at 1000 Hz for RR in ms (NeuroKit2's input)."""
    return np.rint(np.concatenate(([0.0], np.cumsum(rr)))).astype(np.int64)


def _neurokit_flags(rr: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Beats NeuroKit2 flags in its first pass (``iterative=False``)."""
    nk = pytest.importorskip("neurokit2")
    info, _ = nk.signal_fixpeaks(_peaks(rr), sampling_rate=1000, method="kubios", iterative=False)
    flags = np.zeros(rr.shape[0], dtype=np.bool_)
    for key in ("ectopic", "missed", "extra", "longshort"):
        idx = np.asarray(info[key], dtype=np.intp) - 1  # peak i ends interval i - 1
        flags[idx[(idx >= 0) & (idx < rr.shape[0])]] = True
    return flags


def _neurokit_corrected(rr: NDArray[np.float64]) -> NDArray[np.float64]:
    """RR corrected by NeuroKit2 with its defaults (iterative)."""
    nk = pytest.importorskip("neurokit2")
    _, fixed = nk.signal_fixpeaks(_peaks(rr), sampling_rate=1000, method="kubios")
    return np.asarray(np.diff(fixed), dtype=np.float64)


def test_against_neurokit2_on_the_same_data() -> None:
    """Same paper, same data: we find every event NeuroKit2 finds, with fewer false positives,
    and a smaller RMSSD error after correction.

    Deliberate differences (see detect_artifacts Notes): NeuroKit2 marks one beat of an ectopic
    pair (we mark both), skips |dRRs| <= 1 before the mRR test, has no plausibility rules,
    treats the series' first interval as the mean, and corrects by moving peaks to midpoints.
    So class-by-class equality is not expected; detection and correction quality are compared.
    """
    clean = synthetic_rr(8_000, seed=21)
    bad, truth = inject_artifacts(clean, seed=21, n_per_type=15)
    nk_flags = _neurokit_flags(bad)
    nk_rr = _neurokit_corrected(bad)
    det = detect_artifacts(bad)
    ours = det.classes != N
    for s, n in zip(truth.event_start, truth.event_length, strict=True):
        if nk_flags[s : s + n].any():
            assert ours[s : s + n].all()
    normal = truth.classes == N
    assert np.count_nonzero(ours & normal) <= np.count_nonzero(nk_flags & normal)
    ours_err = np.median(rmssd_error_pct(clean, correct_artifacts(bad, det).rr))
    nk_err = np.median(rmssd_error_pct(clean, nk_rr))
    assert ours_err < nk_err


def _package_file(package: str, *parts: str) -> Path:
    """A data file shipped by an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        pytest.skip(f"{package} is not installed")
    path = Path(next(iter(spec.submodule_search_locations)), *parts)
    if not path.exists():
        pytest.skip(f"{path} is missing")
    return path


def test_real_nn_series_few_flags_and_fewer_than_neurokit2() -> None:
    """pyHRV's 60-min sample NN series (real ECG, already edited to normal-to-normal beats).

    No ground truth, so this bounds false alarms on real physiology: we flag 35 of 4,684 beats
    (0.75 %; runs of one or two beats 150-300 ms longer than their neighbours, which may well be
    real), NeuroKit2's first pass flags 83. Bound: under 1 %, and fewer than NeuroKit2.
    """
    rr = np.load(_package_file("pyhrv", "files", "SampleNNISeriesLong.npy")).astype(np.float64)
    det = detect_artifacts(rr)
    assert det.artifact_fraction < 0.01
    nk_flags = _neurokit_flags(rr)
    assert det.n_artifacts < np.count_nonzero(nk_flags)


# --------------------------------------------------------------------------------------------
# Kernels
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("window", "offset"), [(91, 45), (11, 5), (20, 19), (20, 17), (7, 0)])
def test_rolling_quantiles_match_numpy_on_explicit_windows(window: int, offset: int) -> None:
    x = np.random.default_rng(0).normal(size=137)
    got = _rolling_quantiles(x, window, (0.25, 0.5, 0.75), offset)
    w = min(window, x.shape[0])
    for j in range(x.shape[0]):  # brute force reference, small n
        s = min(max(j - offset, 0), x.shape[0] - w)
        ref = np.percentile(x[s : s + w], [25, 50, 75])
        np.testing.assert_allclose(got[:, j], ref, rtol=1e-12, atol=1e-12)


def test_threshold_and_median_kernels() -> None:
    x = np.random.default_rng(1).normal(scale=40.0, size=300)
    th = _quartile_deviation_threshold(x, 5.2, 91, 45, 1e-9)
    q1, q3 = np.percentile(np.abs(x[100:191]), [25, 75])
    assert th[145] == pytest.approx(5.2 * (q3 - q1) / 2)
    assert np.all(_quartile_deviation_threshold(np.zeros(50), 5.2, 91, 45, 16.0) == 16.0)
    # |x| constant: QD = 0 but every value is 8; the 1.5 * Q3 floor applies.
    periodic = np.tile([8.0, -8.0], 40)
    assert np.all(_quartile_deviation_threshold(periodic, 5.2, 91, 45, 1e-9) == 12.0)
    med = _rolling_median(x, 11, 5)
    assert med[0] == pytest.approx(np.median(x[:11]))
    assert med[150] == pytest.approx(np.median(x[145:156]))


def test_subspace_kernel_matches_the_paper_definitions() -> None:
    d = np.random.default_rng(2).normal(size=53)  # dRRs of beats -1 .. n+1, n = 50
    s11, s12, s22 = _subspaces(d)
    for j in range(50):
        k = j + 1
        assert s11[j] == d[k]
        pair12 = (d[k - 1], d[k + 1])
        assert s12[j] == (max(pair12) if d[k] > 0 else min(pair12))
        pair22 = (d[k + 1], d[k + 2])
        assert s22[j] == (min(pair22) if d[k] >= 0 else max(pair22))
    np.testing.assert_array_equal(_drr(np.array([1.0, 4.0, 2.0])), [3.0, -2.0])


def test_classify_kernel_decision_rules() -> None:
    """The ectopic boundary of the paper, on hand-made subspace values."""
    n = 5
    z = np.zeros(n)
    rr = np.full(n, 800.0)
    med = np.full(n, 800.0)
    th2 = np.full(n, 100.0)
    s11 = np.array([0.0, -3.0, 6.0, -3.0, 0.0])  # premature beat: short, then long
    s12 = np.array([0.0, 6.0, -3.0, 0.0, 0.0])
    e = np.array([0.0, -200.0, 200.0, 0.0, 0.0])
    cls, merge_next = _classify(
        rr + e, rr, rr, s11, s12, z, z, 2 * np.minimum(e, 0) + np.maximum(e, 0), e / 100, med,
        th2, c1=0.13, c2=0.17,
    )  # fmt: skip
    assert cls.tolist() == [N, E, E, N, N]
    assert not merge_next.any()


# --------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------

rr_lists = st.lists(
    st.floats(min_value=100.0, max_value=5000.0, allow_nan=False), min_size=1, max_size=300
)


@settings(max_examples=60, deadline=None)
@given(rr_lists)
def test_properties_of_any_valid_series(values: list[float]) -> None:
    rr = np.array(values)
    det = detect_artifacts(rr)
    assert isinstance(det, ArtifactDetection)
    assert det.classes.shape == rr.shape
    assert det.classes.dtype == np.int8
    assert det.classes.min() >= 0
    assert det.classes.max() <= max(BeatClass)
    for arr in (det.drr, det.th1, det.mrr, det.th2, det.medrr):
        assert np.all(np.isfinite(arr))
    # Implausible values are never left normal (nor ectopic) whatever the rest looks like.
    assert np.all(det.classes[rr > PLAUSIBLE_RR_MAX_MS] == M)
    assert np.all(np.isin(det.classes[rr < PLAUSIBLE_RR_MIN_MS], [X, S]))
    out = correct_artifacts(rr, det)
    assert out.rr.ndim == 1
    assert out.rr.shape[0] >= 1
    assert np.all(np.isfinite(out.rr))
    assert np.all(out.rr > 0)
    src = out.source_index
    assert src.shape == out.rr.shape
    assert src.min() >= -1
    assert src.max() < rr.shape[0]
    kept = src[src >= 0]
    assert np.all(np.diff(kept) > 0)  # order preserved
    if out.n_interpolated == 0:  # merges and splits preserve the duration
        assert out.rr.sum() == pytest.approx(rr.sum(), rel=1e-9)
    np.testing.assert_array_equal(rr, np.array(values))  # input untouched


@settings(max_examples=60, deadline=None)
@given(
    mean=st.floats(600.0, 1200.0),
    amps=st.lists(st.floats(0.0, 60.0), min_size=1, max_size=3),
    periods=st.lists(st.floats(5.0, 200.0), min_size=3, max_size=3),
    phase=st.floats(0.0, 6.3),
    n=st.integers(MIN_ADAPTIVE_BEATS, 400),
)
def test_clean_smooth_series_has_no_artifacts(
    mean: float, amps: list[float], periods: list[float], phase: float, n: int
) -> None:
    """Sums of sinusoids (RSA, Mayer waves, trends) are never artifacts.

    "Smooth" means at least 5 beats per cycle (RSA up to 0.23 Hz at 70 bpm): a noiseless
    4-beat cycle is a two-level zig-zag whose 11-beat median jumps between the levels, so the
    clamped edge windows see +-2 levels of deviation; no real series is that regular.
    """
    k = np.arange(n)
    rr = mean + sum(
        a * np.sin(2 * np.pi * k / p + phase * (i + 1))
        for i, (a, p) in enumerate(zip(amps, periods, strict=False))
    )
    det = detect_artifacts(rr)
    flagged = np.flatnonzero(det.classes)
    # Interior: never. The first/last two beats have one-sided context (the 11-beat median is
    # extrapolated along a straight line), so the steep start of a strong noiseless curve may
    # look like a step there; at most one such beat per end. On realistic noisy series
    # (synthetic_rr, 400 seeds) we measured 0.1 % flags per edge beat vs 0.01 % inside.
    assert np.all((flagged < 2) | (flagged >= n - 2)), flagged
    assert np.count_nonzero(flagged < 2) <= 1
    assert np.count_nonzero(flagged >= n - 2) <= 1
    if flagged.size == 0:
        np.testing.assert_array_equal(correct_artifacts(rr, det).rr, rr)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(0.7, 1.4))
def test_classes_do_not_depend_on_the_heart_rate_scale(seed: int, scale: float) -> None:
    """Every threshold scales with RR (quartile deviations, medRR, the 2 % floor), so
    multiplying a series by a constant leaves the classes unchanged, as long as no value crosses
    a plausibility limit: hence only ectopic, long and short artifacts here (the synthetic
    series stays within ~700-1050 ms, so every scaled value stays within 250-2500 ms).
    """
    clean = synthetic_rr(1500, seed=seed)
    bad, _ = inject_artifacts(clean, seed=seed, n_per_type=3, types=("ectopic", "long", "short"))
    np.testing.assert_array_equal(
        detect_artifacts(bad * scale).classes, detect_artifacts(bad).classes
    )
