"""Issue 14: Kubios HRV Premium 3.1.0 values on pyHRV's 60-min record, new metrics.

Data: ``pyhrv/files/SampleNNISeriesLong.npy`` from the installed pyHRV wheel (4684 RR intervals,
integer ms), located without importing pyHRV. Kubios settings of the export: 4 Hz cubic-spline
interpolation, AR order 16, entropy m = 2 and r = 0.2 SD, RPA / D2 embedding 10 with threshold
sqrt(10) SD, no artifact correction. Each tolerance below is the measured gap plus rounding room,
and each gap that is larger than the issue's aim is written down with what was tried: a metric
whose Kubios preprocessing is unpublished is not tuned to this one file.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from hrv import ans_index as ans
from hrv import nonlinear as nl
from hrv import rqa
from hrv import time_domain as td
from hrv.analysis import analyze
from hrv.frequency import frequency_domain
from hrv.validate import validate_rr

# 0.1 % is the time-domain and HR tolerance; Kubios prints 4-6 significant digits.
REL_TIME = 1e-3


@pytest.fixture(scope="module")
def rr() -> NDArray[np.float64]:
    spec = importlib.util.find_spec("pyhrv")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("pyhrv is not installed (pip install --no-deps pyhrv brings the data file)")
    raw = np.load(
        Path(next(iter(spec.submodule_search_locations))) / "files" / "SampleNNISeriesLong.npy"
    )
    assert raw.size == 4684
    return validate_rr(raw)


# --- heart rate: the Kubios definitions --------------------------------------------------------


def test_heart_rate_matches_kubios(rr: NDArray[np.float64]) -> None:
    assert td.mean_hr(rr) == pytest.approx(78.0804, rel=REL_TIME)  # measured 78.08044
    assert td.min_hr(rr) == pytest.approx(50.5051, rel=REL_TIME)  # 60000 / 1188
    assert td.max_hr(rr) == pytest.approx(106.7616, rel=REL_TIME)  # 60000 / 562
    # the old definition (mean of the instantaneous rates) is 1.2 % above Kubios
    assert td.mean_instantaneous_hr(rr) == pytest.approx(78.990, abs=0.001)


@pytest.mark.xfail(strict=True, reason="Kubios STD HR 2.093 bpm is not reproduced; see std_hr")
def test_std_hr_matches_kubios(rr: NDArray[np.float64]) -> None:
    # SD of 60000 / RR is 8.305 bpm (the user's guide's "SD of instantaneous HR"). Tried: SD of
    # the 5-min mean HRs 2.12-2.14, of the 1-min mean HRs 2.995, of HR after smoothness-priors
    # detrending (lambda 500, 4 Hz or beats) 6.43-6.47; none is 2.093. The SD of the 4 Hz
    # interpolated HR divided by 4 (the interpolation rate) gives 2.089 here and -0.6 to +1.5 %
    # on the other four Kubios 3.1 exports of pyHRV's test data: close, but not exact and not a
    # documented definition, so it is not adopted.
    assert td.std_hr(rr) == pytest.approx(2.093, rel=0.01)


def test_std_hr_is_the_sd_of_instantaneous_hr(rr: NDArray[np.float64]) -> None:
    assert td.std_hr(rr) == pytest.approx(float(np.std(60000.0 / rr, ddof=1)), rel=1e-12)


def test_segment_statistics_near_kubios(rr: NDArray[np.float64]) -> None:
    # Task Force 5-min segments on the beat time axis: SDANN 21.397 (-2.3 %), SDNN index 82.619
    # (+0.5 %). Beat start / middle / end times, the 4 Hz series or 12 equal beat counts all give
    # 21.1-22.1 and 82.5-84.7: Kubios's segment bookkeeping is not published.
    assert td.sdann(rr) == pytest.approx(21.8956, rel=0.03)
    assert td.sdnn_index(rr) == pytest.approx(82.2325, rel=0.01)


def test_stress_index_matches_kubios(rr: NDArray[np.float64]) -> None:
    # smoothness-priors detrended RR (lambda 500 at 4 Hz), 50 ms bins, Mo = median: 6.5540
    # (-0.05 %); without detrending 5.230 (-20 %), which the tolerance rejects.
    assert td.stress_index(rr) == pytest.approx(6.5571, rel=2e-3)
    assert td.stress_index(rr, detrend_lam=None) < 0.9 * 6.5571


# --- AR spectrum -------------------------------------------------------------------------------


def test_ar_spectrum_matches_kubios(rr: NDArray[np.float64]) -> None:
    fd = frequency_domain(rr, method="ar")
    # measured LF 2978.3 (-0.15 %), HF 1701.9 (+0.09 %), LF/HF 1.7500 (-0.24 %), VLF 2880 (+2.6 %)
    assert fd.lf_ms2 == pytest.approx(2982.71, rel=0.01)
    assert fd.hf_ms2 == pytest.approx(1700.36, rel=0.01)
    assert fd.lf_hf == pytest.approx(1.7542, rel=0.05)  # the 5 %; measured 0.24 %
    assert fd.lf_hf == pytest.approx(1.7542, rel=0.005)
    # VLF depends on how the 0 Hz end of the grid is integrated: 2.6 % here
    assert fd.vlf_ms2 == pytest.approx(2807.05, rel=0.04)
    assert fd.lf_peak_hz == pytest.approx(0.040, abs=0.001)
    assert fd.hf_peak_hz == pytest.approx(0.150, abs=0.001)


# --- entropies ---------------------------------------------------------------------------------


def test_entropies_near_kubios(rr: NDArray[np.float64]) -> None:
    # Richman & Moorman SampEn and Costa's MSE of the raw series (no detrending: every
    # smoothness-priors variant tried raises SampEn to 1.41-1.56, further from Kubios).
    mse = nl.multiscale_entropy(rr)
    kubios_mse = [1.2713, 1.6431, 1.7449, 1.7426, 1.8155]
    assert len(mse) == 20
    got = np.array(mse[:5], dtype=np.float64)
    # measured -1.7, -0.7, -0.2, +3.6, -2.8 %: within the 5 %
    np.testing.assert_allclose(got, kubios_mse, rtol=0.05)
    assert mse[0] == pytest.approx(nl.sample_entropy(rr), rel=1e-12)


@pytest.mark.xfail(strict=True, reason="ApEn 1.4257 vs Kubios 1.2928 (+10 %): see docstring")
def test_apen_matches_kubios(rr: NDArray[np.float64]) -> None:
    # Kubios's documented choices (m 2, r 0.2 SD, self-matches counted, Pincus's Phi^m -
    # Phi^(m+1)) are what approximate_entropy does. RR on a 1/128 s grid make ApEn a step function
    # of r: every r in about 0.19-0.26 SD gives 1.4257, at 0.3 SD 1.173. Detrending first does not
    # help: smoothness priors (lambda 500 on the beats) 1.588 (+23 %), linear 1.519 (+17.5 %). On
    # the other four Kubios 3.1 exports the raw-series gap is +6.8, -2.9, -16.8, -28.4 %.
    assert nl.approximate_entropy(rr) == pytest.approx(1.2928, rel=0.05)


def test_apen_documented_value(rr: NDArray[np.float64]) -> None:
    assert nl.approximate_entropy(rr) == pytest.approx(1.4257, abs=1e-4)


# --- recurrence plot and correlation dimension ----------------------------------------------------


def test_recurrence_plot_near_kubios(rr: NDArray[np.float64]) -> None:
    rq = rqa.recurrence_analysis(rr)
    # measured REC 31.93 (+3.3 %), DET 98.43 (+0.13 %), Lmean 10.05 (+4.7 %), Lmax 262
    # (+11.5 %), ShanEn 3.140 (+2.2 %). Detrending (lambda 500) moves REC to 27.6-29.6 and Lmax to
    # 192-255: no variant reproduces all five, so the plain definition is kept.
    assert rq.rec_pct == pytest.approx(30.9154, rel=0.05)
    assert rq.det_pct == pytest.approx(98.2981, rel=0.005)
    assert rq.lmean_beats == pytest.approx(9.5959, rel=0.06)
    assert rq.lmax_beats == pytest.approx(235, rel=0.15)
    assert rq.shannon == pytest.approx(3.0733, rel=0.03)


def test_correlation_dimension_documented(rr: NDArray[np.float64]) -> None:
    # Kubios 4.0132; the fixed scaling region C in [1e-3, 1e-1] gives 4.92 (+23 %). The local
    # slope of ln C against ln r falls from 7 to 1 across the range: no plateau to read D2 off.
    # Kubios documents only "the slope of the linear part"; on the five Kubios 3.1 exports its D2
    # is 4.01, 3.51, 3.66, 0.71, 3.23 where C in [1e-3, 1e-1] gives 4.92, 4.27, 4.28, 4.97, 5.03
    # and C in [1e-2, 0.3] 3.91, 3.06, 3.27, 3.24, 3.53: no fixed region follows Kubios (0.71 on
    # the fourth series is outside every range), so the fixed, stated region is kept.
    assert rqa.correlation_dimension(rr) == pytest.approx(4.919, abs=0.01)
    assert rqa.correlation_dimension(rr) == pytest.approx(4.0132, rel=0.25)


# --- PNS and SNS indexes ------------------------------------------------------------------------


def test_pns_sns_against_kubios(rr: NDArray[np.float64]) -> None:
    # Kubios's construction with citable norms (Nunan 2010, Baevsky 2017; see hrv.ans_index).
    # PNS -0.2916 vs Kubios -0.2737 here, but 0.004 to 0.56 apart on the other four exports, so
    # this closeness is not a validation of the norms; SNS -0.029 vs 0.5824.
    assert ans.pns_index(rr) == pytest.approx(-0.2916, abs=1e-3)
    assert ans.pns_index(rr) == pytest.approx(-0.2737, abs=0.03)
    assert ans.sns_index(rr) == pytest.approx(-0.0289, abs=1e-3)


@pytest.mark.xfail(strict=True, reason="SNS -0.03 vs Kubios 0.5824: Kubios's norms unpublished")
def test_sns_matches_kubios(rr: NDArray[np.float64]) -> None:
    assert ans.sns_index(rr) == pytest.approx(0.5824, abs=0.05)


# --- what `sintonia analyze --json` reports -------------------------------------------------------


def test_analyze_reports_every_new_key(rr: NDArray[np.float64]) -> None:
    d = analyze(rr, correct="none", psd="ar").to_dict()
    assert d["time"]["mean_hr_bpm"] == pytest.approx(78.0804, rel=REL_TIME)
    assert d["time"]["std_hr_bpm"] == pytest.approx(td.std_hr(rr))
    assert d["time"]["sdann_ms"] == pytest.approx(td.sdann(rr))
    assert d["time"]["stress_index"] == pytest.approx(6.5571, rel=2e-3)
    assert d["time"]["pns_index"] == pytest.approx(ans.pns_index(rr))
    assert d["time"]["sns_index"] == pytest.approx(ans.sns_index(rr))
    assert any("not a diagnosis" in note for note in d["notes"])
    assert d["frequency"]["method"] == "ar"
    assert d["frequency"]["lf_hf"] == pytest.approx(1.7542, rel=0.05)
    nl_ = d["nonlinear"]
    assert nl_["apen"] == pytest.approx(1.4257, abs=1e-4)
    assert len(nl_["mse"]) == 20
    assert nl_["rpa_lmax"] == 262
    assert nl_["d2"] == pytest.approx(4.919, abs=0.01)
    assert not any("first" in note for note in d["notes"])  # 4684 beats: nothing capped
