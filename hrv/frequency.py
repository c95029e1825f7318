"""Frequency-domain HRV: 4 Hz cubic-spline tachogram, Welch, AR (Burg) and Lomb-Scargle PSDs.

Conventions (chosen to match Kubios HRV, Tarvainen et al. 2014, and the Task Force 1996)
----------------------------------------------------------------------------------------
* Tachogram: beat ``i`` occurs at :math:`t_i = \\sum_{k \\le i} RR_k` (seconds, origin at the R
  peak that opens the first interval) and carries the interval that *ends* there, ``RR_i``.
* Resampling: a cubic spline with a knot at every beat and not-a-knot end conditions (MATLAB's
  ``spline``, which Kubios uses), evaluated every ``1/fs`` seconds from the first beat to the last.
* PSD unit: ms^2/Hz, one-sided, so that the integral over 0..Nyquist is the variance in ms^2. Band
  powers are in ms^2, never of a max-normalised PSD.
* Bands (Task Force 1996; Kubios): VLF 0-0.04 Hz, LF 0.04-0.15 Hz, HF 0.15-0.4 Hz; total power is
  the integral over 0-0.4 Hz, so VLF + LF + HF = total. The Task Force defines VLF for short-term
  recordings as <= 0.04 Hz; for 24-hour recordings it puts ULF below 0.003 Hz and VLF at
  0.003-0.04 Hz (the 0.0033 Hz lower VLF edge of some tools). Short windows cannot resolve
  0.0033 Hz anyway, so VLF here starts at 0 Hz as in Kubios. VLF from a record shorter than about
  5 minutes is of doubtful meaning (Task Force 1996) and is reported without that caveat enforced.
* Minimum duration: 120 s of beats (Task Force 1996: about 1 min for HF, 2 min for LF). Shorter
  input raises :class:`~hrv.errors.InsufficientDataError`.

The spectra themselves (resampling, Welch, Lomb-Scargle, AR) are estimated in :mod:`hrv.psd` and
re-exported here; this module integrates them over the bands.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Final, Literal

import numpy as np
from numpy.typing import NDArray

from hrv.errors import InsufficientDataError, ParameterError
from hrv.psd import (
    MIN_DURATION_S,
    RESAMPLING_RATE_HZ,
    WELCH_OVERLAP,
    WELCH_SEGMENT_S,
    Detrend,
    SegmentDetrend,
    ar_psd,
    lomb_psd,
    resample_rr,
    welch_psd,
)
from hrv.psd import _fast_lomb as _fast_lomb
from hrv.psd import _welch as _welch

__all__ = [
    "HF_BAND_HZ",
    "LF_BAND_HZ",
    "MIN_BAND_POWER_MS2",
    "MIN_DURATION_S",
    "RESAMPLING_RATE_HZ",
    "VLF_BAND_HZ",
    "WELCH_OVERLAP",
    "WELCH_SEGMENT_S",
    "Detrend",
    "FrequencyDomain",
    "Method",
    "SegmentDetrend",
    "ar_psd",
    "band_powers",
    "frequency_domain",
    "integrate_psd",
    "lomb_psd",
    "peak_frequencies",
    "resample_rr",
    "welch_psd",
]

Method = Literal["welch", "lomb", "ar"]

#: Very-low-frequency band (lower, upper), Hz.
VLF_BAND_HZ: Final[tuple[float, float]] = (0.0, 0.04)
#: Low-frequency band (lower, upper), Hz.
LF_BAND_HZ: Final[tuple[float, float]] = (0.04, 0.15)
#: High-frequency band (lower, upper), Hz.
HF_BAND_HZ: Final[tuple[float, float]] = (0.15, 0.40)
#: Smallest total power treated as variability, ms^2. Any RR source quantises (BLE: 1/1024 s, a
#: quantisation-noise variance of about 0.08 ms^2), so less is floating-point residue, e.g. of a
#: perfectly constant series, whose LF/HF and logarithms are undefined.
MIN_BAND_POWER_MS2: Final[float] = 1e-6

_BAND_EDGES_HZ: Final[NDArray[np.float64]] = np.array(
    [VLF_BAND_HZ[0], LF_BAND_HZ[0], HF_BAND_HZ[0], HF_BAND_HZ[1]], dtype=np.float64
)


@dataclass(frozen=True, slots=True)
class FrequencyDomain:
    """Frequency-domain HRV of one record (powers in ms^2, frequencies in Hz).

    Attributes
    ----------
    method : {"welch", "lomb", "ar"}
        PSD estimator used.
    vlf_ms2, lf_ms2, hf_ms2 : float
        Absolute band powers, ms^2 (integral of the PSD over the band).
    total_ms2 : float
        Power over 0-0.4 Hz, ms^2 (= VLF + LF + HF).
    lf_hf : float
        LF / HF, dimensionless.
    lf_nu, hf_nu : float
        Normalised units, ``100 * LF / (LF + HF)`` and ``100 * HF / (LF + HF)``; they sum to 100.
    vlf_peak_hz, lf_peak_hz, hf_peak_hz : float
        Frequency of the largest PSD value in each band, Hz (VLF excludes the 0 Hz bin).
    ln_vlf, ln_lf, ln_hf : float
        Natural logarithms of the absolute powers in ms^2.
    vlf_pct, lf_pct, hf_pct : float
        Relative powers, percent of ``total_ms2``.
    freqs_hz, psd_ms2_hz : numpy.ndarray
        The spectrum the values come from (read-only arrays; not part of equality).
    """

    method: Method
    vlf_ms2: float
    lf_ms2: float
    hf_ms2: float
    total_ms2: float
    lf_hf: float
    lf_nu: float
    hf_nu: float
    vlf_peak_hz: float
    lf_peak_hz: float
    hf_peak_hz: float
    ln_vlf: float
    ln_lf: float
    ln_hf: float
    vlf_pct: float
    lf_pct: float
    hf_pct: float
    freqs_hz: NDArray[np.float64] = field(repr=False, compare=False)
    psd_ms2_hz: NDArray[np.float64] = field(repr=False, compare=False)


def _cumulative_power(
    freqs_hz: NDArray[np.float64], psd: NDArray[np.float64], edges_hz: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Exact integral of the piecewise-linear PSD from ``freqs_hz[0]`` to each edge (clipped)."""
    trapz = 0.5 * (psd[1:] + psd[:-1]) * np.diff(freqs_hz)
    cum = np.concatenate(([0.0], np.cumsum(trapz)))
    e = np.clip(edges_hz, freqs_hz[0], freqs_hz[-1])
    k = np.clip(np.searchsorted(freqs_hz, e, side="right") - 1, 0, freqs_hz.shape[0] - 2)
    dx = e - freqs_hz[k]
    slope = (psd[k + 1] - psd[k]) / (freqs_hz[k + 1] - freqs_hz[k])
    out: NDArray[np.float64] = cum[k] + psd[k] * dx + 0.5 * slope * dx * dx
    return out


def integrate_psd(
    freqs_hz: NDArray[np.float64],
    psd_ms2_hz: NDArray[np.float64],
    lo_hz: NDArray[np.float64],
    hi_hz: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Power between each pair of frequencies ``lo_hz[i] .. hi_hz[i]``, ms^2.

    Parameters
    ----------
    freqs_hz : numpy.ndarray
        Increasing frequency grid, Hz (at least 2 points).
    psd_ms2_hz : numpy.ndarray
        PSD on that grid, ms^2/Hz.
    lo_hz, hi_hz : numpy.ndarray
        Lower and upper limits of each band, Hz (same shape). Limits outside the grid are clipped
        to it.

    Returns
    -------
    numpy.ndarray
        Power of each band, ms^2 (same shape as ``lo_hz``).

    Notes
    -----
    The PSD is taken as piecewise linear between grid points (the trapezoid rule) and integrated
    exactly between the limits, which need not fall on the grid:
    :math:`P_{[a,b]} = C(b) - C(a)` with :math:`C(x) = \\int_{f_0}^{x} S`, so adjacent bands add
    up whatever the grid.

    Examples
    --------
    >>> import numpy as np
    >>> f = np.linspace(0.0, 0.5, 6)   # 0.1 Hz grid, a flat 100 ms^2/Hz
    >>> integrate_psd(f, np.full(6, 100.0), np.array([0.04, 0.15]), np.array([0.15, 0.4])).round(6)
    array([11., 25.])
    """
    n = lo_hz.shape[0]
    cum = _cumulative_power(freqs_hz, psd_ms2_hz, np.concatenate((lo_hz, hi_hz)))
    powers: NDArray[np.float64] = cum[n:] - cum[:n]
    return powers


def band_powers(
    freqs_hz: NDArray[np.float64],
    psd_ms2_hz: NDArray[np.float64],
    edges_hz: NDArray[np.float64] | None = None,
) -> NDArray[np.float64]:
    """Power in consecutive frequency bands by trapezoid integration, ms^2.

    Parameters
    ----------
    freqs_hz : numpy.ndarray
        Increasing frequency grid, Hz (at least 2 points).
    psd_ms2_hz : numpy.ndarray
        PSD on that grid, ms^2/Hz.
    edges_hz : numpy.ndarray, optional
        Band edges, increasing, Hz. Default ``[0, 0.04, 0.15, 0.4]`` (VLF, LF, HF).

    Returns
    -------
    numpy.ndarray
        ``len(edges_hz) - 1`` band powers, ms^2.

    Notes
    -----
    :func:`integrate_psd` between consecutive edges: the PSD is taken as piecewise linear between
    grid points and integrated exactly between the edges (the trapezoid rule with the edges
    inserted into the grid), so adjacent bands add up, :math:`P_{[a,c]} = P_{[a,b]} + P_{[b,c]}`,
    whatever the grid. Edges outside the grid are clipped to it.

    References
    ----------
    .. [1] Task Force of the ESC and NASPE. Circulation. 1996;93(5):1043-1065 (band limits).

    Examples
    --------
    >>> import numpy as np
    >>> f = np.linspace(0.0, 0.5, 501)
    >>> band_powers(f, np.full(501, 100.0)).round(6).tolist()   # 100 ms^2/Hz, flat
    [4.0, 11.0, 25.0]
    """
    edges = _BAND_EDGES_HZ if edges_hz is None else edges_hz
    powers: NDArray[np.float64] = np.diff(_cumulative_power(freqs_hz, psd_ms2_hz, edges))
    return powers


def peak_frequencies(
    freqs_hz: NDArray[np.float64],
    psd_ms2_hz: NDArray[np.float64],
    edges_hz: NDArray[np.float64] | None = None,
) -> NDArray[np.float64]:
    """Frequency of the largest PSD value in each band, Hz.

    Parameters
    ----------
    freqs_hz : numpy.ndarray
        Increasing frequency grid, Hz.
    psd_ms2_hz : numpy.ndarray
        PSD on that grid, ms^2/Hz.
    edges_hz : numpy.ndarray, optional
        Band edges, Hz. Default ``[0, 0.04, 0.15, 0.4]``. Bands are ``(lo, hi]`` for the first
        (the 0 Hz bin, where a mean-removed spectrum has no meaningful peak, is excluded) and
        ``[lo, hi)`` for the others.

    Returns
    -------
    numpy.ndarray
        One peak frequency per band, Hz.

    Raises
    ------
    InsufficientDataError
        If a band holds no grid point.

    Notes
    -----
    :math:`f_{peak} = \\arg\\max_{f \\in band} S(f)`, on the grid (no interpolation).

    Examples
    --------
    >>> import numpy as np
    >>> f = np.linspace(0.0, 0.5, 501)
    >>> peak_frequencies(f, np.exp(-((f - 0.1) / 0.01) ** 2)).round(3).tolist()
    [0.04, 0.1, 0.15]
    """
    edges = _BAND_EDGES_HZ if edges_hz is None else edges_hz
    lo = edges[:-1, None]
    hi = edges[1:, None]
    f = freqs_hz[None, :]
    in_band = (f >= lo) & (f < hi)
    in_band[0] = (freqs_hz > edges[0]) & (freqs_hz <= edges[1])
    empty = ~in_band.any(axis=1)
    if empty.any():
        b = int(np.argmax(empty))
        raise InsufficientDataError(
            f"peak frequency in {edges[b]:g}-{edges[b + 1]:g} Hz",
            needed=1,
            got=0,
            unit="frequency grid points",
        )
    masked = np.where(in_band, psd_ms2_hz[None, :], -np.inf)
    peaks: NDArray[np.float64] = freqs_hz[np.argmax(masked, axis=1)]
    return peaks


def frequency_domain(
    rr_ms: NDArray[np.float64],
    *,
    method: Method = "welch",
    detrend: Detrend = "none",
    fs_hz: float = RESAMPLING_RATE_HZ,
    segment_s: float = WELCH_SEGMENT_S,
) -> FrequencyDomain:
    """Frequency-domain HRV metrics of one record.

    Parameters
    ----------
    rr_ms : numpy.ndarray
        Validated (and, for real data, artifact-corrected) RR intervals, float64 ms; at least
        120 s of beats.
    method : {"welch", "lomb", "ar"}, optional
        PSD estimator: Welch on the 4 Hz cubic-spline series (:func:`welch_psd`, default),
        Lomb-Scargle on the beat times (:func:`lomb_psd`) or an order-16 Burg AR model of the
        4 Hz series (:func:`ar_psd`).
    detrend : {"none", "smoothness_priors"}, optional
        Smoothness-priors detrending (lambda 500, cut-off about 0.035 Hz at 4 Hz) applied to the
        evenly resampled series before the PSD (see :mod:`hrv.detrend`). Default "none".
    fs_hz : float, optional
        Resampling rate, Hz. Default 4.
    segment_s : float, optional
        Welch segment length, s (ignored by Lomb). Default 300.

    Returns
    -------
    FrequencyDomain
        Band powers (ms^2, ln, %, n.u.), LF/HF, peak frequencies (Hz) and the PSD.

    Raises
    ------
    InsufficientDataError
        If the record is shorter than 120 s, if the 0-0.4 Hz power is below
        :data:`MIN_BAND_POWER_MS2` (a constant series: LF/HF and the logarithms are undefined),
        or if a band power is exactly zero.

    Notes
    -----
    .. math::
        P_{band} = \\int_{band} S(f)\\,df, \\quad
        LF_{nu} = 100 \\frac{LF}{LF + HF}, \\quad HF_{nu} = 100 \\frac{HF}{LF + HF}, \\quad
        X_{\\%} = 100 \\frac{X}{VLF + LF + HF}

    with VLF 0-0.04, LF 0.04-0.15, HF 0.15-0.4 Hz and the trapezoid rule (:func:`band_powers`).

    References
    ----------
    .. [1] Task Force of the ESC and NASPE. Heart rate variability: standards of measurement,
       physiological interpretation and clinical use. Circulation. 1996;93(5):1043-1065.
    .. [2] Shaffer F, Ginsberg JP. An overview of heart rate variability metrics and norms.
       Front Public Health. 2017;5:258.
    .. [3] Tarvainen MP et al. Kubios HRV. Comput Methods Programs Biomed. 2014;113(1):210-220.

    Examples
    --------
    A 0.25 Hz sinusoid of amplitude 30 ms puts about 30**2 / 2 = 450 ms^2 in HF (the spline
    through 5 beats per cycle loses about 1 %):

    >>> import numpy as np
    >>> t = np.arange(1, 400) * 0.8
    >>> fd = frequency_domain(800.0 + 30.0 * np.sin(2 * np.pi * 0.25 * t))
    >>> round(fd.hf_ms2, -1), round(fd.hf_peak_hz, 2), fd.hf_nu > 99
    (450.0, 0.25, True)
    """
    if method == "welch":
        freqs_hz, psd = welch_psd(rr_ms, fs_hz=fs_hz, segment_s=segment_s, detrend=detrend)
    elif method == "lomb":
        freqs_hz, psd = lomb_psd(rr_ms, detrend=detrend, fs_hz=fs_hz)
    elif method == "ar":
        freqs_hz, psd = ar_psd(rr_ms, fs_hz=fs_hz, detrend=detrend)
    else:
        raise ParameterError(f"method must be 'welch', 'lomb' or 'ar', got {method!r}")
    vlf, lf, hf = (float(p) for p in band_powers(freqs_hz, psd))
    total = vlf + lf + hf
    if not total > MIN_BAND_POWER_MS2:
        raise InsufficientDataError(
            "frequency-domain HRV (0-0.4 Hz power)",
            needed=MIN_BAND_POWER_MS2,
            got=total,
            unit="ms^2",
        )
    for name, value in (("VLF", vlf), ("LF", lf), ("HF", hf)):
        if not value > 0.0:
            raise InsufficientDataError(
                f"ln {name} and LF/HF", needed=np.finfo(np.float64).tiny, got=value, unit="ms^2"
            )
    vlf_peak, lf_peak, hf_peak = (float(f) for f in peak_frequencies(freqs_hz, psd))
    freqs_hz.setflags(write=False)
    psd.setflags(write=False)
    return FrequencyDomain(
        method=method,
        vlf_ms2=vlf,
        lf_ms2=lf,
        hf_ms2=hf,
        total_ms2=total,
        lf_hf=lf / hf,
        lf_nu=100.0 * lf / (lf + hf),
        hf_nu=100.0 * hf / (lf + hf),
        vlf_peak_hz=vlf_peak,
        lf_peak_hz=lf_peak,
        hf_peak_hz=hf_peak,
        ln_vlf=math.log(vlf),
        ln_lf=math.log(lf),
        ln_hf=math.log(hf),
        vlf_pct=100.0 * vlf / total,
        lf_pct=100.0 * lf / total,
        hf_pct=100.0 * hf / total,
        freqs_hz=freqs_hz,
        psd_ms2_hz=psd,
    )
