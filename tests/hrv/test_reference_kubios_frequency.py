"""Frequency domain against Kubios HRV Premium 3.1.0 and NeuroKit2 on pyHRV's real 60-minute record.

Data: ``pyhrv/files/SampleNNISeriesLong.npy`` shipped by the installed pyHRV package (4684 NN
intervals, int64 milliseconds: values 562-1188, sum 3599.4 s). The file is located without
importing pyHRV (whose imports pull heavy optional dependencies).

Kubios export for that record (4 Hz cubic-spline interpolation, Welch 300 s windows with 50 %
overlap, no detrending, no artifact correction): LF 2777 ms^2, HF 1607 ms^2, LF/HF 1.728.
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from hrv.frequency import band_powers, frequency_domain, lomb_psd

KUBIOS_LF_MS2 = 2777.0
KUBIOS_HF_MS2 = 1607.0
KUBIOS_LF_HF = 1.728

# Kubios reports integer ms^2 and a 4-digit ratio, and its exact frequency grid and segment
# bookkeeping are not published. A plain 4 Hz cubic spline + 300 s / 50 % Hann Welch reproduces
# the three values to 0.12 % (measured LF 2774.0, HF 1607.2, LF/HF 1.7259); the issue allows 5 %
# and aims for 2 %. We assert 2 %, so that a real regression (a factor-2 one-sided scaling,
# s^2 instead of ms^2, a max-normalised PSD, a wrong band edge: each moves LF or HF by > 5 %)
# fails, while a change of zero-padding grid (measured <= 0.5 % between 1/300 and 1/8192 Hz) does
# not.
KUBIOS_REL_TOL = 0.02


def _pyhrv_file(name: str) -> Path:
    spec = importlib.util.find_spec("pyhrv")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("pyhrv is not installed (pip install --no-deps pyhrv brings the data file)")
    return Path(next(iter(spec.submodule_search_locations))) / "files" / name


@pytest.fixture(scope="module")
def nn_long_ms() -> NDArray[np.float64]:
    raw = np.load(_pyhrv_file("SampleNNISeriesLong.npy"))
    nn = np.asarray(raw, dtype=np.float64)
    # unit check: milliseconds (plausible RR range and a one-hour total), not seconds
    assert 500.0 < float(np.median(nn)) < 1200.0
    assert float(nn.sum()) / 1000.0 == pytest.approx(3600.0, rel=0.01)
    return nn


def test_welch_matches_kubios_premium_3_1(nn_long_ms: NDArray[np.float64]) -> None:
    fd = frequency_domain(nn_long_ms, method="welch", detrend="none", fs_hz=4.0, segment_s=300.0)
    assert fd.lf_ms2 == pytest.approx(KUBIOS_LF_MS2, rel=KUBIOS_REL_TOL)
    assert fd.hf_ms2 == pytest.approx(KUBIOS_HF_MS2, rel=KUBIOS_REL_TOL)
    assert fd.lf_hf == pytest.approx(KUBIOS_LF_HF, rel=KUBIOS_REL_TOL)
    # normalised units follow from the same two numbers: Kubios LF n.u. = 100 * 2777 / 4384
    assert fd.lf_nu == pytest.approx(
        100.0 * KUBIOS_LF_MS2 / (KUBIOS_LF_MS2 + KUBIOS_HF_MS2), abs=1.0
    )


def test_smoothness_priors_detrending_only_lowers_the_slow_bands(
    nn_long_ms: NDArray[np.float64],
) -> None:
    raw = frequency_domain(nn_long_ms)
    sp = frequency_domain(nn_long_ms, detrend="smoothness_priors")
    # cut-off 0.035 Hz: VLF mostly removed (measured 2402 -> 299 ms^2), the low edge of LF
    # attenuated (2774 -> 2598), HF a decade above the cut-off unchanged (1607.2 -> 1606.0)
    assert sp.vlf_ms2 < 0.2 * raw.vlf_ms2
    assert 0.85 * raw.lf_ms2 < sp.lf_ms2 < raw.lf_ms2
    assert sp.hf_ms2 == pytest.approx(raw.hf_ms2, rel=0.005)


def test_against_neurokit2_hrv_frequency(nn_long_ms: NDArray[np.float64]) -> None:
    nk = pytest.importorskip("neurokit2")
    peaks_ms = np.concatenate(([0.0], np.cumsum(nn_long_ms))).astype(np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NeuroKit2 warns about its own internals
        out = nk.hrv_frequency(peaks_ms, sampling_rate=1000, interpolation_rate=4, normalize=False)
    nk_lf = float(out["HRV_LF"].iloc[0])
    nk_hf = float(out["HRV_HF"].iloc[0])
    ours = frequency_domain(nn_long_ms)
    # NeuroKit2 differs by design: its default normalize=True divides the PSD by its maximum
    # (unitless powers, hence normalize=False here, which gives ms^2); it interpolates with a
    # quadratic spline; its Welch segments are half the record (1800 s, 3 segments) instead of
    # 300 s (23 segments); it bins the band integrals without interpolating the edges. With only
    # 3 segments the band estimates carry about 5 % standard error, so 10 % is the honest
    # tolerance (measured: LF 2938 vs 2774, +5.9 %; HF 1635 vs 1607, +1.7 %). It still catches
    # unit and scaling errors (s^2, one-sided factor 2, max normalisation), all > 50 %.
    assert nk_lf == pytest.approx(ours.lf_ms2, rel=0.10)
    assert nk_hf == pytest.approx(ours.hf_ms2, rel=0.10)
    assert nk_lf / nk_hf == pytest.approx(ours.lf_hf, rel=0.10)


def test_lomb_on_the_real_record_is_in_the_same_units(nn_long_ms: NDArray[np.float64]) -> None:
    # No published Kubios Lomb values for this record. Lomb-Scargle on the beat times and Welch on
    # the 4 Hz spline are different estimators: over the hour we measure Lomb LF 2592 (-6.6 %)
    # and HF 1263 ms^2 (-21 %) relative to Welch, on each 20-minute third LF -8 to -15 % and
    # HF -17 to -22 %; on 5-minute excerpts the ratio scatters from 0.66 to 1.7 (an untapered
    # periodogram leaks VLF and carries no averaging). On smooth synthetic signals the two agree
    # within 3 % (test_frequency.py). This bound checks units and scale (a missing factor 2 or
    # 1000 fails), not agreement. First 20 minutes (Lomb costs O(beats x frequencies)); grid
    # step 1/T, the record's resolution, at which the trapezoid integral is still exact.
    first_20_min = nn_long_ms[np.cumsum(nn_long_ms) <= 1_200_000.0]
    welch_fd = frequency_domain(first_20_min, method="welch")
    duration_s = float(first_20_min.sum()) / 1000.0
    f, p = lomb_psd(first_20_min, grid_step_hz=1.0 / duration_s)
    _, lomb_lf, lomb_hf = band_powers(f, p)
    assert 0.8 < lomb_lf / welch_fd.lf_ms2 < 1.2
    assert 0.7 < lomb_hf / welch_fd.hf_ms2 < 1.3
