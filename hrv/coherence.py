"""Paced-breathing feedback: a cardiac coherence ratio and the breathing rate from the RR spectrum.

Meant to be called often (the live engine calls it every 5 s on the last 64 s of corrected beats),
so it does the least work that gives a stable answer: one cubic-spline resampling of the window at
4 Hz, a linear detrend, a Hann taper and one zero-padded real FFT.

The ratio is McCraty et al.'s published *coherence ratio* (2009), not any vendor's proprietary
"coherence score" (HeartMath's 0-16 score adds unpublished scaling and smoothing).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray

from hrv.errors import InsufficientDataError
from hrv.frequency import MIN_BAND_POWER_MS2, integrate_psd, resample_rr
from hrv.validate import require_beats

__all__ = [
    "BREATHING_BAND_HZ",
    "BREATHING_MIN_CONFIDENCE",
    "COHERENCE_PEAK_BAND_HZ",
    "COHERENCE_PEAK_WIDTH_HZ",
    "COHERENCE_TOTAL_BAND_HZ",
    "COHERENCE_WINDOW_S",
    "SLOW_BREATHING_DOMINANCE",
    "SLOW_BREATHING_MAX_HZ",
    "Coherence",
    "coherence_ratio",
]

#: Default analysis window, s (McCraty et al. 2009; HeartMath's 64 s).
COHERENCE_WINDOW_S: Final[float] = 64.0
#: Band searched for the coherence peak (lower, upper), Hz (McCraty et al. 2009).
COHERENCE_PEAK_BAND_HZ: Final[tuple[float, float]] = (0.04, 0.26)
#: Width of the window integrated around the peak, Hz (McCraty et al. 2009).
COHERENCE_PEAK_WIDTH_HZ: Final[float] = 0.030
#: Band of the total power (lower, upper), Hz (McCraty et al. 2009).
COHERENCE_TOTAL_BAND_HZ: Final[tuple[float, float]] = (0.0033, 0.4)
#: Band searched for the respiratory peak (lower, upper), Hz: 4.2 to 30 breaths/min.
BREATHING_BAND_HZ: Final[tuple[float, float]] = (0.07, 0.5)
#: Top of the slow-breathing range, Hz (8.4 breaths/min): below it a spectral peak may be slow
#: paced breathing or a Mayer wave (0.1 Hz, McSharry et al. 2003); above it, breathing.
SLOW_BREATHING_MAX_HZ: Final[float] = 0.14
#: How many times the power of the strongest peak above ``SLOW_BREATHING_MAX_HZ`` a slow peak must
#: hold to be taken as breathing (resonance breathing: >= 80x in the simulator; Mayer waves under
#: stress: <= 8x at the 95th percentile), dimensionless.
SLOW_BREATHING_DOMINANCE: Final[float] = 20.0
#: Below this confidence a breathing-rate estimate is not shown (pure 1/f variability without
#: respiratory sinus arrhythmia: 95 % of 64 s windows fall below it), 0-1.
BREATHING_MIN_CONFIDENCE: Final[float] = 0.5
#: Default sampling rate of the resampled window, Hz.
_FS_HZ: Final[float] = 4.0
#: Coarsest spacing of the zero-padded FFT grid, Hz (0.12 breaths/min).
_GRID_STEP_HZ: Final[float] = 0.002
#: Fraction of the window the beats must cover.
_MIN_COVERAGE: Final[float] = 0.9
#: Fewest beats in the window (cubic spline with not-a-knot ends).
_MIN_BEATS: Final[int] = 4


@dataclass(frozen=True, slots=True)
class Coherence:
    """Coherence ratio and breathing-rate estimate of one window.

    Attributes
    ----------
    ratio : float
        Coherence ratio, dimensionless: peak power / (total power - peak power). About 9 for a
        pure sinusoid with this taper (see :func:`coherence_ratio`), well below 1 for spontaneous
        breathing with broadband variability.
    peak_hz : float
        Frequency of the highest PSD value in 0.04-0.26 Hz, Hz.
    peak_power_ms2 : float
        Power within +/- 0.015 Hz of ``peak_hz``, ms^2.
    total_power_ms2 : float
        Power in 0.0033-0.4 Hz, ms^2.
    breathing_rate_bpm : float
        Breathing rate estimated from the respiratory sinus arrhythmia peak, breaths per minute.
    breathing_hz : float
        The same in Hz.
    breathing_confidence : float
        Share of the power of the range the breathing peak was chosen from that lies within
        +/- 0.015 Hz of it, 0-1 (about 0.9 for a pure sinusoid, the Hann taper's ceiling; much
        less for broadband noise). Below ``BREATHING_MIN_CONFIDENCE`` do not show the rate.
    window_s : float
        Duration actually analysed, s.
    """

    ratio: float
    peak_hz: float
    peak_power_ms2: float
    total_power_ms2: float
    breathing_rate_bpm: float
    breathing_hz: float
    breathing_confidence: float
    window_s: float


def _band_argmax(
    freqs_hz: NDArray[np.float64], psd: NDArray[np.float64], lo_hz: float, hi_hz: float
) -> float:
    in_band = (freqs_hz >= lo_hz) & (freqs_hz <= hi_hz)
    return float(freqs_hz[np.argmax(np.where(in_band, psd, -np.inf))])


def _breathing_peak(
    freqs_hz: NDArray[np.float64], psd: NDArray[np.float64], hi_hz: float, half_hz: float
) -> tuple[float, float]:
    """Breathing frequency (Hz) and its confidence (0-1) from one spectrum; see coherence_ratio."""
    lo_hz = BREATHING_BAND_HZ[0]
    in_band = (freqs_hz >= lo_hz) & (freqs_hz <= hi_hz)
    # local maxima only: the flank of a strong peak leaking over a band edge is not a rhythm
    local = np.zeros_like(in_band)
    local[1:-1] = (psd[1:-1] > psd[:-2]) & (psd[1:-1] >= psd[2:])
    candidates = np.flatnonzero(in_band & local)
    if candidates.size == 0:
        return _band_argmax(freqs_hz, psd, lo_hz, hi_hz), 0.0
    slow = freqs_hz[candidates] < SLOW_BREATHING_MAX_HZ
    # the highest local maximum of each range, and the power within +/- half_hz of it
    tops = [
        int(candidates[m][np.argmax(psd[candidates[m]])]) if m.any() else -1 for m in (slow, ~slow)
    ]
    f_top = np.array([freqs_hz[i] if i >= 0 else lo_hz for i in tops])
    p_slow, p_fast = integrate_psd(
        freqs_hz, psd, np.maximum(f_top - half_hz, lo_hz), np.minimum(f_top + half_hz, hi_hz)
    )
    if tops[1] >= 0 and not (tops[0] >= 0 and p_slow >= SLOW_BREATHING_DOMINANCE * p_fast):
        # spontaneous breathing: the highest peak above the slow range, its share of that range
        i, p_i, band_lo = tops[1], float(p_fast), SLOW_BREATHING_MAX_HZ
    else:
        # slow (paced) breathing: a peak that dwarfs everything above the slow range
        i, p_i, band_lo = tops[0], float(p_slow), lo_hz
    band = float(integrate_psd(freqs_hz, psd, np.array([band_lo]), np.array([hi_hz]))[0])
    conf = min(p_i / band, 1.0) if band > 0.0 else 0.0
    return float(freqs_hz[i]), conf


def coherence_ratio(
    rr_ms: NDArray[np.float64],
    *,
    window_s: float = COHERENCE_WINDOW_S,
    fs_hz: float = _FS_HZ,
    peak_width_hz: float = COHERENCE_PEAK_WIDTH_HZ,
) -> Coherence:
    """Coherence ratio (McCraty et al. 2009) and breathing rate over the trailing window.

    Parameters
    ----------
    rr_ms : numpy.ndarray
        Validated, artifact-corrected RR intervals, float64 ms, oldest first. Only the last
        ``window_s`` seconds are used (older beats may be passed and are ignored).
    window_s : float, optional
        Length of the trailing window, s. Default 64. The beats must cover at least 90 % of it.
    fs_hz : float, optional
        Resampling rate, Hz. Default 4.
    peak_width_hz : float, optional
        Width of the window integrated around a peak, Hz. Default 0.030.

    Returns
    -------
    Coherence
        Ratio, peak frequency and powers, breathing rate with its confidence.

    Raises
    ------
    InsufficientDataError
        If the beats cover less than 90 % of ``window_s`` or fewer than 4 fall in it, or if there
        is no variability outside the peak (less than ``MIN_BAND_POWER_MS2``).

    Notes
    -----
    Spectrum: the window's RR tachogram is resampled by a not-a-knot cubic spline at ``fs_hz``
    (as :func:`hrv.frequency.resample_rr`), its least-squares line removed, tapered by a Hann
    window :math:`w` and zero-padded to a grid of at most 0.002 Hz:
    :math:`S(f) = 2 |\\mathrm{FFT}(w x)(f)|^2 / (f_s \\sum w^2)` in ms^2/Hz. Powers are trapezoid
    integrals (:func:`hrv.frequency.integrate_psd`).

    Coherence ratio (McCraty et al. 2009):

    .. math:: f_p = \\arg\\max_{0.04 \\le f \\le 0.26} S(f), \\quad
              P_{peak} = \\int_{f_p - 0.015}^{f_p + 0.015} S, \\quad
              P_{total} = \\int_{0.0033}^{0.4} S, \\quad
              CR = \\frac{P_{peak}}{P_{total} - P_{peak}}

    Deviations from the published description, which does not state them: 4 Hz resampling
    (HeartMath documents 2 Hz), a linear detrend and a Hann taper. The Hann main lobe of a 64 s
    window is +/- 0.031 Hz wide, so a 0.030 Hz window holds about 90 % of a pure sinusoid's
    power and CR tops out near 9 (measured 8.7-9.3 over 0.06-0.25 Hz); the taper keeps the large
    VLF drifts of 64 s windows from leaking into the band. Compare ratios computed with the same
    settings only.

    Breathing rate: the band 0.07 Hz to :math:`f_{hi} = \\min(0.5, f_{HR}/2)` Hz covers slow
    paced breathing (resonance-frequency breathing at 4.5-7 /min, 0.075-0.117 Hz; Lehrer &
    Gevirtz 2014) up to 30 /min. Respiratory sinus arrhythmia is sampled once per beat, so rates
    above half the heart rate :math:`f_{HR}` alias and are not searched. Below 0.14 Hz a peak may
    be breathing or a Mayer wave (about 0.1 Hz; McSharry et al. 2003), which under arousal, when
    vagal withdrawal shrinks the RSA, is often the highest peak of the band (a plain arg-max then
    reports 6 /min for a person breathing 14-18 /min). So, with :math:`P(f)` the power within
    +/- 0.015 Hz of :math:`f` and each arg-max taken over the local maxima of :math:`S` only:

    .. math:: f_s = \\arg\\max_{f < 0.14} S(f), \\quad f_h = \\arg\\max_{f \\ge 0.14} S(f), \\quad
              f_b = f_s \\text{ if } P(f_s) \\ge 20\\,P(f_h) \\text{ else } f_h

    reported as :math:`60 f_b` breaths/min. Slow breathing at the baroreflex resonance multiplies
    the 0.1 Hz oscillation several-fold and leaves little above 0.14 Hz (Vaschillo et al. 2002),
    so its peak holds far more than 20 times the power of any faster peak; a Mayer wave does not.
    Confidence is :math:`P(f_b) / \\int S` over the range :math:`f_b` was chosen from (0.14 Hz to
    :math:`f_{hi}` for :math:`f_h`, the whole band for :math:`f_s`): a clear single peak gives
    about 0.9, 1/f variability without RSA below 0.45 in 95 % of windows. Estimates under
    ``BREATHING_MIN_CONFIDENCE`` (0.5) should not be shown. Spontaneous breathing slower than
    8.4 /min is reported from the faster range, with low confidence. Limitation: with no RSA at
    all above 0.14 Hz a dominant Mayer wave cannot be told from slow breathing by the RR spectrum
    alone (it is then reported as slow breathing); the simulator's stress episode, with RSA cut
    to a third, is estimated correctly (``tests/hrv/test_breathing_rate_simulator.py``).

    Cost: one FITPACK spline on about 80 beats, one 2048-point real FFT and a few reductions
    over the 257 bins up to 0.5 Hz: 0.2-0.45 ms per call on a shared 2-core machine, 2-3x less
    than a ``CubicSpline`` + :func:`scipy.signal.welch` spectrum alone; every 5 s that is below
    0.01 % of a core per participant.

    References
    ----------
    .. [1] McCraty R, Atkinson M, Tomasino D, Bradley RT. The coherent heart: heart-brain
       interactions, psychophysiological coherence, and the emergence of system-wide order.
       Integral Review. 2009;5(2):10-115.
    .. [2] Lehrer PM, Gevirtz R. Heart rate variability biofeedback: how and why does it work?
       Front Psychol. 2014;5:756.
    .. [3] McSharry PE, Clifford GD, Tarassenko L, Smith LA. A dynamical model for generating
       synthetic electrocardiogram signals. IEEE Trans Biomed Eng. 2003;50(3):289-294.
    .. [4] Vaschillo E, Lehrer P, Rishe N, Konstantinov M. Heart rate variability biofeedback as
       a method for assessing baroreflex function. Appl Psychophysiol Biofeedback.
       2002;27(1):1-27.
    .. [5] Harris FJ. On the use of windows for harmonic analysis with the discrete Fourier
       transform. Proc IEEE. 1978;66(1):51-83.

    Examples
    --------
    Breathing at 6/min drives a 0.1 Hz oscillation of the RR intervals:

    >>> import numpy as np
    >>> t = np.arange(1, 100) * 0.9
    >>> c = coherence_ratio(900.0 + 60.0 * np.sin(2 * np.pi * 0.1 * t))
    >>> c.ratio > 5, round(c.breathing_rate_bpm, 1)
    (True, 6.0)
    """
    require_beats(rr_ms, _MIN_BEATS, "coherence ratio")
    beat_t = np.cumsum(rr_ms) / 1000.0
    start_s = beat_t[-1] - window_s
    # the last beat at or before the window start (if any), so the spline covers the whole window
    first = max(int(np.searchsorted(beat_t, start_s, side="right")) - 1, 0)
    covered_s = float(beat_t[-1] - max(beat_t[first], start_s))
    if covered_s < _MIN_COVERAGE * window_s:
        raise InsufficientDataError(
            "coherence ratio", needed=_MIN_COVERAGE * window_s, got=covered_s, unit="s of beats"
        )
    rr_win = rr_ms[first:]
    require_beats(rr_win, _MIN_BEATS, "coherence ratio")
    t_s, x_ms = resample_rr(rr_win, fs_hz)
    # resample_rr's clock starts at the beat opening rr_win[0]; move it to the clock of rr_ms
    t_s = t_s + (beat_t[first] - rr_win[0] / 1000.0)
    keep = t_s >= start_s
    t_s = t_s[keep]
    x_ms = x_ms[keep]
    n = int(x_ms.shape[0])

    # least-squares line removed in closed form (cheaper than np.polyfit)
    tc = t_s - t_s.mean()
    slope = float(tc @ (x_ms - x_ms.mean())) / float(tc @ tc)
    x_ms = x_ms - x_ms.mean() - slope * tc
    taper = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)  # periodic Hann
    nfft = 1 << (max(n, math.ceil(fs_hz / _GRID_STEP_HZ)) - 1).bit_length()
    # only the bins up to the breathing band's top are needed (a quarter of them at 4 Hz)
    n_bins = math.ceil(BREATHING_BAND_HZ[1] * nfft / fs_hz) + 2
    spectrum = np.fft.rfft(x_ms * taper, nfft)[:n_bins]
    psd = (2.0 / (fs_hz * float(taper @ taper))) * (spectrum.real**2 + spectrum.imag**2)
    freqs_hz = (fs_hz / nfft) * np.arange(psd.shape[0], dtype=np.float64)

    half = 0.5 * peak_width_hz
    peak_hz = _band_argmax(freqs_hz, psd, *COHERENCE_PEAK_BAND_HZ)
    mean_hr_hz = 1000.0 / float(rr_win.mean())
    breath_hi = min(BREATHING_BAND_HZ[1], 0.5 * mean_hr_hz)
    breathing_hz, breathing_confidence = _breathing_peak(freqs_hz, psd, breath_hi, half)
    total, peak = (
        float(p)
        for p in integrate_psd(
            freqs_hz,
            psd,
            np.array([COHERENCE_TOTAL_BAND_HZ[0], peak_hz - half]),
            np.array([COHERENCE_TOTAL_BAND_HZ[1], peak_hz + half]),
        )
    )
    if not total - peak > MIN_BAND_POWER_MS2:
        raise InsufficientDataError(
            "coherence ratio (0.0033-0.4 Hz power outside the peak)",
            needed=MIN_BAND_POWER_MS2,
            got=total - peak,
            unit="ms^2",
        )
    return Coherence(
        ratio=peak / (total - peak),
        peak_hz=peak_hz,
        peak_power_ms2=peak,
        total_power_ms2=total,
        breathing_rate_bpm=60.0 * breathing_hz,
        breathing_hz=breathing_hz,
        breathing_confidence=breathing_confidence,
        window_s=min(covered_s, window_s),
    )
