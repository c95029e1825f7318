"""Time-domain metrics: hand-checkable values, NeuroKit2 on real data, invariants, short input."""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from hrv import time_domain as td
from hrv.errors import InsufficientDataError

W = td.HISTOGRAM_BIN_MS

rr_arrays = arrays(
    np.float64,
    st.integers(5, 300),
    elements=st.floats(300.0, 2000.0, allow_nan=False, allow_infinity=False),
)


def _package_file(package: str, *parts: str) -> Path:
    """A data file shipped by an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        pytest.skip(f"{package} is not installed (pip install --no-deps {package})")
    return Path(next(iter(spec.submodule_search_locations)), *parts)


def _pyhrv_long() -> np.ndarray:
    """pyHRV's real 60-min NN series; integer milliseconds (4684 beats, sum 3599 s)."""
    raw = np.load(_package_file("pyhrv", "files", "SampleNNISeriesLong.npy"))
    return np.asarray(raw, dtype=np.float64)


def _systole_rr() -> np.ndarray:
    """systole's 245-beat RR series, ms (values on a 1/3 ms grid: 3 kHz ECG)."""
    text = _package_file("systole", "datasets", "rr.txt").read_text().splitlines()
    return np.array([float(line.split(",")[1]) for line in text[1:] if line.strip()])


# --- hand-checkable values -------------------------------------------------------------------


def test_values_by_hand() -> None:
    rr = np.array([1000.0, 1100.0, 1000.0, 900.0, 1000.0])
    # differences +100, -100, -100, +100
    assert td.mean_rr(rr) == 1000.0
    assert td.sdnn(rr) == pytest.approx(np.sqrt(2 * 100.0**2 / 4))  # deviations 0, ±100, 0
    assert td.rmssd(rr) == pytest.approx(100.0)
    assert td.sdsd(rr) == pytest.approx(np.sqrt(4 * 100.0**2 / 3))
    assert td.nn50(rr) == 4
    assert td.pnn50(rr) == 100.0
    assert td.ln_rmssd(rr) == pytest.approx(np.log(100.0))
    # Kubios / Task Force: 60000 / mean RR; the mean of the instantaneous rates is separate
    assert td.mean_hr(rr) == pytest.approx(60.0)
    assert td.mean_instantaneous_hr(rr) == pytest.approx(np.mean(60000.0 / rr))
    assert td.std_hr(rr) == pytest.approx(np.std(60000.0 / rr, ddof=1))


def test_nn50_threshold_is_strict() -> None:
    rr = np.array([1000.0, 1050.0, 1000.0, 949.0])  # |d| = 50, 50, 51
    assert td.nn50(rr) == 1
    assert td.pnn50(rr) == pytest.approx(100.0 / 3.0)


def test_min_max_hr_moving_average() -> None:
    rr = np.array([1000.0] * 6 + [500.0] + [1000.0] * 6)
    # default N = 1 (Kubios reference exports): the single fastest / slowest beat
    assert td.max_hr(rr) == pytest.approx(120.0)
    assert td.min_hr(rr) == pytest.approx(60.0)
    # 5-beat RR averages: 1000 ms far from the short beat, (4 * 1000 + 500) / 5 = 900 ms around it
    assert td.max_hr(rr, average_beats=5) == pytest.approx(60000.0 / 900.0)
    assert td.min_hr(rr, average_beats=5) == pytest.approx(60.0)
    assert td.min_hr(np.array([1000.0, 2000.0, 1000.0]), average_beats=1) == pytest.approx(30.0)


def test_ln_rmssd_of_constant_series_is_minus_infinity() -> None:
    assert td.ln_rmssd(np.full(10, 800.0)) == -np.inf


def test_triangular_index_fixed_grid() -> None:
    # 781.25 = 100 w and 789.0625 = 101 w are bin edges: 781.25 and 789.0 share bin 100
    rr = np.array([781.25, 789.0, 789.0625, 900.0])
    assert td.triangular_index(rr) == pytest.approx(4 / 2)


def test_tinn_perfect_triangle() -> None:
    # bin counts 1 2 3 4 3 2 1 in bins 100..106: the least-squares triangle is exact and runs
    # from the centre of the empty bin 99 to that of the empty bin 107
    counts = [1, 2, 3, 4, 3, 2, 1]
    rr = W * (100.5 + np.repeat(np.arange(7.0), counts))
    assert td.tinn(rr) == pytest.approx(8 * W)


def test_tinn_skewed_triangle() -> None:
    counts = [2, 4, 6, 8, 4]  # left flank slope 2 from the empty bin before, right falls by 4
    rr = W * (40.5 + np.repeat(np.arange(5.0), counts))
    assert td.tinn(rr) == pytest.approx(6 * W)  # N = centre of bin 39, M = centre of bin 45


def _tinn_brute_force(rr: np.ndarray) -> set[float]:
    """All optimal M - N by an exhaustive search with explicit triangles (independent code)."""
    k = np.floor(rr / W).astype(int)
    lo, hi = k.min() - 1, k.max() + 1
    centres = np.arange(lo, hi + 1) + 0.5
    hist = np.array([(k == b).sum() for b in range(lo, hi + 1)], dtype=float)
    p = int(np.argmax(hist))
    x_peak, y_peak = centres[p], hist[p]
    best, widths = np.inf, set()
    for n_i in range(p):
        for m_i in range(p + 1, len(centres)):
            n_c, m_c = centres[n_i], centres[m_i]
            q = np.interp(centres, [n_c, x_peak, m_c], [0.0, y_peak, 0.0], left=0.0, right=0.0)
            err = float(np.sum((hist - q) ** 2))
            if err < best - 1e-9:
                best, widths = err, {(m_i - n_i) * W}
            elif abs(err - best) <= 1e-9:
                widths.add((m_i - n_i) * W)
    return widths


@settings(max_examples=40, deadline=None)
@given(
    rr=arrays(
        np.float64,
        st.integers(2, 120),
        elements=st.floats(700.0, 900.0, allow_nan=False, allow_infinity=False),
    )
)
def test_tinn_equals_exhaustive_least_squares(rr: np.ndarray) -> None:
    assert td.tinn(rr) in _tinn_brute_force(rr)


# --- NeuroKit2 on the same real data ----------------------------------------------------------


def _nk_hrv_time(rr: np.ndarray, sampling_rate: int) -> dict[str, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NeuroKit2/pandas deprecation noise on import and use
        import neurokit2 as nk

        peaks = np.rint(np.concatenate(([0.0], np.cumsum(rr))) * sampling_rate / 1000.0)
        out = nk.hrv_time(peaks.astype(np.int64), sampling_rate=sampling_rate)
    return {str(k): float(v) for k, v in out.iloc[0].items()}


@pytest.mark.parametrize(
    ("loader", "sampling_rate"),
    # peaks at a rate where every RR is a whole number of samples, so NeuroKit2 sees the same RR
    [(_pyhrv_long, 1000), (_systole_rr, 3000)],
    ids=["pyhrv-60min", "systole-245"],
)
def test_agrees_with_neurokit2(loader: Callable[[], np.ndarray], sampling_rate: int) -> None:
    rr = loader()
    nk = _nk_hrv_time(rr, sampling_rate)
    # Same definitions (SDNN and SDSD with ddof 1, HTI on the fixed 1/128 s grid): only the float
    # summation order differs, so 1e-9 relative is many orders above rounding and far below any
    # definitional difference (ddof 0 vs 1 alone changes SDNN by 1e-4 on 4684 beats).
    assert td.mean_rr(rr) == pytest.approx(nk["HRV_MeanNN"], rel=1e-9)
    assert td.sdnn(rr) == pytest.approx(nk["HRV_SDNN"], rel=1e-9)
    assert td.rmssd(rr) == pytest.approx(nk["HRV_RMSSD"], rel=1e-9)
    assert td.sdsd(rr) == pytest.approx(nk["HRV_SDSD"], rel=1e-9)
    assert td.triangular_index(rr) == pytest.approx(nk["HRV_HTI"], rel=1e-9)
    # Deliberate difference: NeuroKit2 divides NN50 by N (intervals), Task Force / Kubios by the
    # N - 1 differences; after rescaling the two agree exactly.
    n = rr.size
    assert td.pnn50(rr) * (n - 1) / n == pytest.approx(nk["HRV_pNN50"], rel=1e-9)
    # NeuroKit2 0.2.x TINN is not compared: its search starts from error 2**14 and returns 0 when
    # no candidate beats it (it returns 0 on the 60-min file), see tests/data/README.md.


# --- invariants (hypothesis) ------------------------------------------------------------------


@settings(max_examples=80, deadline=None)
@given(rr=rr_arrays, shift=st.floats(-200.0, 200.0), scale=st.floats(0.25, 4.0))
def test_rmssd_sdnn_sdsd_invariances(rr: np.ndarray, shift: float, scale: float) -> None:
    for metric in (td.rmssd, td.sdnn, td.sdsd):
        value = metric(rr)
        assert value >= 0.0
        # differences and deviations do not see a constant; 1e-9 ms absolute covers the rounding
        # of (rr + c) - c for values up to 2000 ms
        assert metric(rr + shift) == pytest.approx(value, rel=1e-9, abs=1e-9)
        assert metric(scale * rr) == pytest.approx(scale * value, rel=1e-9, abs=1e-9)


@settings(max_examples=80, deadline=None)
@given(rr=rr_arrays)
def test_bounds(rr: np.ndarray) -> None:
    assert 0.0 <= td.pnn50(rr) <= 100.0
    assert td.nn50(rr) <= rr.size - 1
    hr1_min, hr1_max = td.min_hr(rr, average_beats=1), td.max_hr(rr, average_beats=1)
    assert hr1_min == pytest.approx(60000.0 / rr.max())
    assert hr1_max == pytest.approx(60000.0 / rr.min())
    hr5_min, hr5_max = td.min_hr(rr, average_beats=5), td.max_hr(rr, average_beats=5)
    assert hr1_min <= hr5_min * (1 + 1e-12)
    assert hr5_min <= hr5_max * (1 + 1e-12)
    assert hr5_max <= hr1_max * (1 + 1e-12)
    assert hr1_min <= td.mean_hr(rr) * (1 + 1e-12)
    assert td.mean_hr(rr) <= hr1_max * (1 + 1e-12)
    assert td.mean_hr(rr) == pytest.approx(60000.0 / td.mean_rr(rr), rel=1e-12)
    # Jensen: the mean of 60000/RR is at least 60000 / mean RR
    assert td.mean_instantaneous_hr(rr) >= td.mean_hr(rr) * (1 - 1e-12)
    assert td.std_hr(rr) >= 0.0
    assert 1.0 <= td.triangular_index(rr) <= rr.size
    tinn = td.tinn(rr)
    assert tinn >= 2 * W
    assert tinn / W == pytest.approx(round(tinn / W))


@settings(max_examples=60, deadline=None)
@given(rr=rr_arrays, bins=st.integers(-30, 30))
def test_geometric_metrics_shift_by_whole_bins(rr: np.ndarray, bins: int) -> None:
    # RR on the 1/8 ms grid so that adding whole bins (multiples of 7.8125 ms) is exact
    rr = np.round(rr * 8.0) / 8.0
    shifted = rr + bins * W
    assert td.triangular_index(shifted) == td.triangular_index(rr)
    assert td.tinn(shifted) == td.tinn(rr)


@settings(max_examples=30, deadline=None)
@given(rr=rr_arrays)
def test_time_domain_collects_the_individual_metrics(rr: np.ndarray) -> None:
    out = td.time_domain(rr)
    assert out == td.TimeDomain(
        mean_rr_ms=td.mean_rr(rr),
        sdnn_ms=td.sdnn(rr),
        mean_hr_bpm=td.mean_hr(rr),
        min_hr_bpm=td.min_hr(rr),
        max_hr_bpm=td.max_hr(rr),
        rmssd_ms=td.rmssd(rr),
        sdsd_ms=td.sdsd(rr),
        nn50=td.nn50(rr),
        pnn50_pct=td.pnn50(rr),
        ln_rmssd=td.ln_rmssd(rr),
        tri_index=td.triangular_index(rr),
        tinn_ms=td.tinn(rr),
        std_hr_bpm=td.std_hr(rr),
    )
    assert isinstance(out.nn50, int)


# --- too-short input --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("metric", "needed"),
    [
        (td.mean_rr, 1),
        (td.mean_hr, 1),
        (td.sdnn, 2),
        (td.rmssd, 2),
        (td.ln_rmssd, 2),
        (td.nn50, 2),
        (td.pnn50, 2),
        (td.sdsd, 3),
        (td.triangular_index, 2),
        (td.tinn, 2),
        (td.mean_instantaneous_hr, 1),
        (td.std_hr, 2),
        (td.min_hr, 1),
        (td.max_hr, 1),
        (td.time_domain, 3),
    ],
)
def test_too_short_raises(metric: Callable[[np.ndarray], object], needed: int) -> None:
    short = np.full(needed - 1, 800.0)
    with pytest.raises(InsufficientDataError) as info:
        metric(short)
    assert info.value.needed == needed
    assert info.value.got == needed - 1
    metric(np.full(needed, 800.0))  # enough: no error


def test_bad_average_beats() -> None:
    with pytest.raises(ValueError, match="average_beats"):
        td.min_hr(np.full(10, 800.0), average_beats=0)
