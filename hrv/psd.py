"""Power spectral density of the RR tachogram: 4 Hz cubic-spline resampling, Welch, Lomb, AR.

The estimators behind :func:`hrv.frequency.frequency_domain` (which integrates their spectra over
the Task Force bands), with the conventions of Kubios HRV (Tarvainen et al. 2014):

* Tachogram: beat ``i`` occurs at :math:`t_i = \\sum_{k \\le i} RR_k` (seconds, origin at the R
  peak that opens the first interval) and carries the interval that *ends* there, ``RR_i``.
* Resampling: a cubic spline with a knot at every beat and not-a-knot end conditions (MATLAB's
  ``spline``, which Kubios uses), evaluated every ``1/fs`` seconds from the first beat to the last.
* PSD unit: ms^2/Hz, one-sided, so that the integral over 0..Nyquist is the variance in ms^2.
* Minimum duration: 120 s of beats (Task Force 1996: about 1 min for HF, 2 min for LF). Shorter
  input raises :class:`~hrv.errors.InsufficientDataError`.

Each estimator's docstring gives its own references (Welch 1967; Lomb 1976, Scargle 1982, Press
& Rybicki 1989; Burg's AR method).
"""

from __future__ import annotations

import math
from typing import Final, Literal

import numpy as np
from numpy.typing import NDArray

from hrv.ar import AR_ORDER, ar_spectrum
from hrv.detrend import SMOOTHNESS_PRIORS_LAMBDA, smoothness_priors_trend
from hrv.errors import InsufficientDataError, ParameterError
from hrv.spline import not_a_knot_spline
from hrv.validate import require_beats

__all__ = [
    "MIN_DURATION_S",
    "RESAMPLING_RATE_HZ",
    "WELCH_OVERLAP",
    "WELCH_SEGMENT_S",
    "Detrend",
    "SegmentDetrend",
    "ar_psd",
    "lomb_psd",
    "resample_rr",
    "welch_psd",
]


Detrend = Literal["none", "smoothness_priors"]
SegmentDetrend = Literal["constant", "linear"]


#: Default rate of the evenly resampled tachogram, Hz (Task Force 1996; Kubios default).
RESAMPLING_RATE_HZ: Final[float] = 4.0
#: Default Welch segment length, s (Kubios default).
WELCH_SEGMENT_S: Final[float] = 300.0
#: Default Welch segment overlap, fraction of a segment (Kubios default).
WELCH_OVERLAP: Final[float] = 0.5
#: Shortest record (sum of RR) for frequency-domain metrics, s (2 min for LF, Task Force 1996).
MIN_DURATION_S: Final[float] = 120.0


#: Default coarsest spacing of the Welch frequency grid, Hz (zero padding; 1/300 Hz is required,
#: 0.001 Hz makes the trapezoid band integrals independent of the grid to about 0.5 %).
_WELCH_GRID_STEP_HZ: Final[float] = 0.001
#: Highest frequency of the Lomb-Scargle grid, Hz (above HF; below the beat-rate Nyquist at rest).
_LOMB_MAX_HZ: Final[float] = 0.5
#: Most frequencies on the Lomb-Scargle grid (the fast algorithm costs O(N + M log M); 16384
#: points up to 0.5 Hz keep 24-hour records on a 3e-5 Hz grid).
_LOMB_MAX_POINTS: Final[int] = 16384
#: Lagrange points per sample of the Press-Rybicki extirpolation (Press & Rybicki 1989 use 4).
_LOMB_MACC: Final[int] = 4
#: Oversampling of the extirpolation grid over the highest (doubled) frequency: with 4 points per
#: sample and 4x oversampling the fast periodogram agrees with the direct sum to 4e-4 relative at
#: every frequency and 2e-6 in the band powers (pyHRV's 60-min record).
_LOMB_OVERSAMPLE: Final[int] = 4
#: Fewest beats for a cubic spline with not-a-knot ends.
_MIN_BEATS: Final[int] = 4


def _beat_times_s(rr_ms: NDArray[np.float64]) -> NDArray[np.float64]:
    """Times of the beats closing each interval, s, origin at the beat opening the first one."""
    times: NDArray[np.float64] = np.cumsum(rr_ms) / 1000.0
    return times


def _require_duration(rr_ms: NDArray[np.float64], metric: str) -> None:
    require_beats(rr_ms, _MIN_BEATS, metric)
    duration_s = float(rr_ms.sum()) / 1000.0
    if duration_s < MIN_DURATION_S:
        raise InsufficientDataError(
            metric, needed=MIN_DURATION_S, got=duration_s, unit="s of beats"
        )


def resample_rr(
    rr_ms: NDArray[np.float64], fs_hz: float = RESAMPLING_RATE_HZ
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Evenly resample the RR tachogram by cubic-spline interpolation.

    Parameters
    ----------
    rr_ms : numpy.ndarray
        Validated RR intervals, float64 ms, at least 4.
    fs_hz : float, optional
        Output sampling rate, Hz. Default 4.

    Returns
    -------
    t_s : numpy.ndarray
        Sample times, s: ``t_1 + k / fs_hz`` for ``k = 0 .. floor((t_N - t_1) * fs_hz)``, where
        ``t_i`` is the time of beat ``i`` (origin at the beat opening the first interval).
    x_ms : numpy.ndarray
        Interpolated RR, ms, same length as ``t_s``.

    Raises
    ------
    InsufficientDataError
        If fewer than 4 intervals arrive.

    Notes
    -----
    Knots :math:`(t_i, RR_i)` with :math:`t_i = \\sum_{k \\le i} RR_k / 1000`: each interval is
    placed at the beat that closes it, as Kubios does. The spline has a knot at every beat and
    not-a-knot end conditions (MATLAB ``spline``), computed by :func:`hrv.spline.not_a_knot_spline`
    (the values of :class:`scipy.interpolate.CubicSpline`); it is evaluated only between the first
    and last beat, never extrapolated.

    References
    ----------
    .. [1] Task Force of the ESC and NASPE. Heart rate variability: standards of measurement,
       physiological interpretation and clinical use. Circulation. 1996;93(5):1043-1065.
    .. [2] Tarvainen MP, Niskanen JP, Lipponen JA, Ranta-aho PO, Karjalainen PA. Kubios HRV:
       heart rate variability analysis software. Comput Methods Programs Biomed.
       2014;113(1):210-220.

    Examples
    --------
    >>> import numpy as np
    >>> t, x = resample_rr(np.array([1000.0, 1000.0, 1000.0, 1000.0]), fs_hz=2.0)
    >>> t.tolist(), x.round(9).tolist()
    ([1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0], [1000.0, 1000.0, 1000.0, 1000.0, 1000.0, 1000.0, 1000.0])
    """
    require_beats(rr_ms, _MIN_BEATS, "cubic-spline resampling")
    if not (math.isfinite(fs_hz) and fs_hz > 0.0):
        raise ParameterError(f"fs_hz must be a finite positive rate in Hz, got {fs_hz!r}")
    beat_t = _beat_times_s(rr_ms)
    # floor with a small tolerance so that a last beat exactly on the grid is included
    n = math.floor((beat_t[-1] - beat_t[0]) * fs_hz + 1e-9) + 1
    t_s: NDArray[np.float64] = beat_t[0] + np.arange(n, dtype=np.float64) / fs_hz
    x_ms = not_a_knot_spline(beat_t, rr_ms, t_s)
    return t_s, x_ms


def _nfft(nperseg: int, fs_hz: float, grid_step_hz: float) -> int:
    """Smallest power of two >= the segment length giving a grid step <= ``grid_step_hz``."""
    needed = max(nperseg, math.ceil(fs_hz / grid_step_hz))
    return 1 << (needed - 1).bit_length()


def welch_psd(
    rr_ms: NDArray[np.float64],
    *,
    fs_hz: float = RESAMPLING_RATE_HZ,
    segment_s: float = WELCH_SEGMENT_S,
    overlap: float = WELCH_OVERLAP,
    detrend: Detrend = "none",
    segment_detrend: SegmentDetrend = "constant",
    grid_step_hz: float = _WELCH_GRID_STEP_HZ,
    lam: float = SMOOTHNESS_PRIORS_LAMBDA,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Welch PSD of the 4 Hz cubic-spline tachogram, ms^2/Hz.

    Parameters
    ----------
    rr_ms : numpy.ndarray
        Validated RR intervals, float64 ms; at least 120 s of beats.
    fs_hz : float, optional
        Resampling rate, Hz. Default 4.
    segment_s : float, optional
        Segment length, s. Default 300; the whole record is one segment if it is shorter.
    overlap : float, optional
        Overlap of consecutive segments, fraction in [0, 1). Default 0.5.
    detrend : {"none", "smoothness_priors"}, optional
        Record-level detrending of the resampled series before segmentation (Tarvainen 2002,
        ``lam``). Default "none".
    segment_detrend : {"constant", "linear"}, optional
        Per-segment detrending before windowing. Default "constant" (mean removal). On the Kubios
        reference record the two give LF and HF identical to 0.1 ms^2 (a linear trend over 300 s
        leaks below 0.01 Hz through the Hann window); they differ only in VLF. Kubios documents
        no per-segment detrending beyond the mean, hence the default.
    grid_step_hz : float, optional
        Coarsest allowed spacing of the frequency grid, Hz (segments are zero-padded to the next
        power of two that reaches it). Default 0.001, finer than the 1/300 Hz of a 300 s segment.
    lam : float, optional
        Smoothness-priors lambda when ``detrend="smoothness_priors"``. Default 500.

    Returns
    -------
    freqs_hz : numpy.ndarray
        Frequencies 0 .. fs/2, Hz.
    psd_ms2_hz : numpy.ndarray
        One-sided PSD, ms^2/Hz (its integral over 0..fs/2 is the variance of the resampled series,
        up to the Hann window's leakage).

    Raises
    ------
    InsufficientDataError
        If the record is shorter than 120 s.

    Notes
    -----
    .. math:: \\hat S(f) = \\frac{2}{K f_s \\sum_n w_n^2} \\sum_{k=1}^{K}
              \\left| \\sum_n w_n x_k[n] e^{-i 2 \\pi f n / f_s} \\right|^2

    with the Hann window :math:`w` (periodic), K segments of ``segment_s * fs_hz`` samples
    stepping by ``(1 - overlap)`` segments (samples after the last full segment are not used):
    the estimate of :func:`scipy.signal.welch` with ``scaling="density"``, computed with numpy.

    References
    ----------
    .. [1] Welch PD. The use of fast Fourier transform for the estimation of power spectra.
       IEEE Trans Audio Electroacoust. 1967;15(2):70-73.
    .. [2] Tarvainen MP et al. Kubios HRV. Comput Methods Programs Biomed. 2014;113(1):210-220.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(1, 400) * 0.8
    >>> rr = 800.0 + 30.0 * np.sin(2 * np.pi * 0.25 * t)
    >>> f, p = welch_psd(rr)
    >>> round(float(f[np.argmax(p)]), 2)
    0.25
    """
    _require_duration(rr_ms, "Welch PSD")
    if not 0.0 <= overlap < 1.0:
        raise ParameterError(f"overlap must be a fraction in [0, 1), got {overlap!r}")
    _, x_ms = resample_rr(rr_ms, fs_hz)
    if detrend == "smoothness_priors":
        x_ms = x_ms - smoothness_priors_trend(x_ms, lam=lam)
    nperseg = min(round(segment_s * fs_hz), int(x_ms.shape[0]))
    noverlap = round(overlap * nperseg)
    return _welch(
        x_ms, fs_hz, nperseg, noverlap, _nfft(nperseg, fs_hz, grid_step_hz), segment_detrend
    )


def _welch(
    x: NDArray[np.float64],
    fs_hz: float,
    nperseg: int,
    noverlap: int,
    nfft: int,
    segment_detrend: SegmentDetrend,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Welch's averaged periodogram, one-sided density, periodic Hann window.

    The same estimate as ``scipy.signal.welch(x, fs, "hann", nperseg, noverlap, nfft,
    detrend, scaling="density")`` (tested to 1e-12), written with numpy so that the command
    line does not import :mod:`scipy.signal` (about 0.3-0.6 s of start-up).
    """
    step = nperseg - noverlap
    n_seg = (x.shape[0] - noverlap) // step
    starts = np.arange(n_seg) * step
    segs = x[starts[:, None] + np.arange(nperseg)]
    segs = segs - segs.mean(axis=1, keepdims=True)
    if segment_detrend == "linear":
        t = np.arange(nperseg, dtype=np.float64) - (nperseg - 1) / 2.0
        segs = segs - np.outer(segs @ t / float(t @ t), t)
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(nperseg) / nperseg)
    spec = np.abs(np.fft.rfft(segs * window, n=nfft, axis=1)) ** 2
    psd = spec.mean(axis=0) / (fs_hz * float(window @ window))
    psd[1 : None if nfft % 2 else -1] *= 2.0
    freqs_hz = np.fft.rfftfreq(nfft, 1.0 / fs_hz)
    return freqs_hz.astype(np.float64), psd.astype(np.float64)


def lomb_psd(
    rr_ms: NDArray[np.float64],
    *,
    detrend: Detrend = "none",
    fs_hz: float = RESAMPLING_RATE_HZ,
    grid_step_hz: float | None = None,
    max_hz: float = _LOMB_MAX_HZ,
    lam: float = SMOOTHNESS_PRIORS_LAMBDA,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Lomb-Scargle PSD of the unevenly sampled tachogram, ms^2/Hz.

    Parameters
    ----------
    rr_ms : numpy.ndarray
        Validated RR intervals, float64 ms; at least 120 s of beats.
    detrend : {"none", "smoothness_priors"}, optional
        With "smoothness_priors", the trend is computed on the ``fs_hz`` cubic-spline series (so
        that lambda means the same cut-off in Hz as for Welch), linearly interpolated at the beat
        times and subtracted from the RR values. Default "none" (mean removal only).
    fs_hz : float, optional
        Rate of the auxiliary resampled series used only for detrending, Hz. Default 4.
    grid_step_hz : float or None, optional
        Spacing of the frequency grid, Hz. Default: half the record's resolution, ``1 / (2 T)``,
        but no more than 16384 points up to ``max_hz``.
    max_hz : float, optional
        Highest frequency of the grid, Hz. Default 0.5.
    lam : float, optional
        Smoothness-priors lambda. Default 500.

    Returns
    -------
    freqs_hz : numpy.ndarray
        Frequencies ``grid_step_hz .. max_hz``, Hz (0 Hz is excluded: Lomb's periodogram is not
        defined there).
    psd_ms2_hz : numpy.ndarray
        One-sided PSD, ms^2/Hz.

    Raises
    ------
    InsufficientDataError
        If the record is shorter than 120 s.

    Notes
    -----
    With the mean-removed values :math:`y_i` at beat times :math:`t_i`, scipy's unnormalised
    periodogram is Lomb's

    .. math:: P(f) = \\frac12 \\left[
              \\frac{(\\sum_i y_i \\cos \\omega(t_i-\\tau))^2}{\\sum_i \\cos^2 \\omega(t_i-\\tau)}
              + \\frac{(\\sum_i y_i \\sin \\omega(t_i-\\tau))^2}{\\sum_i \\sin^2 \\omega(t_i-\\tau)}
              \\right], \\quad \\omega = 2\\pi f,

    computed in O(N + M log M) by Press & Rybicki's (1989) method (the four trigonometric sums of
    every grid frequency from two FFTs of the data "extirpolated" onto a regular grid, see
    :func:`_fast_lomb`), which equals :math:`|Y(f)|^2 / N` for even sampling (``N A^2 / 4`` for
    a sinusoid of amplitude A). The one-sided density in ms^2/Hz is therefore

    .. math:: S(f) = \\frac{2 P(f)}{\\bar f_s} = 2 P(f) \\, \\overline{RR} / 1000,

    with the mean beat rate :math:`\\bar f_s = 1000 / \\overline{RR}` (Hz) as the effective
    sampling rate, so that :math:`\\int_0^{\\bar f_s/2} S\\,df` equals the variance of the RR
    values (Parseval), comparable with the Welch PSD. The grid spacing ``1/(2T)`` is fine enough
    for the trapezoid integral to be exact for the periodogram of the record (its inverse
    transform, the sample autocovariance, vanishes beyond lag T).

    References
    ----------
    .. [1] Lomb NR. Least-squares frequency analysis of unequally spaced data. Astrophys Space
       Sci. 1976;39:447-462.
    .. [2] Scargle JD. Studies in astronomical time series analysis II. Astrophys J.
       1982;263:835-853.
    .. [3] Clifford GD, Tarassenko L. Quantifying errors in spectral estimates of HRV due to
       beat replacement and resampling. IEEE Trans Biomed Eng. 2005;52(4):630-638.
    .. [4] Press WH, Rybicki GB. Fast algorithm for spectral analysis of unevenly sampled data.
       Astrophys J. 1989;338:277-280.

    Why Lomb and Welch differ on real records: Lomb weights every *beat* equally, the 4 Hz
    series every *second*. Where beat-to-beat variability grows with the RR interval (slow heart
    rate, larger respiratory sinus arrhythmia), the beat-weighted powers are smaller. On the five
    one-hour Kubios test series of pyHRV the correlation of RR with the squared successive
    difference is 0.42-0.59 on series 1-3, whose Lomb HF is 19-28 % below Welch's (and 21-31 %
    below the plain periodogram of the 4 Hz series, so it is not Welch's windowing), and 0.10-0.12
    on series 4-5, where Lomb HF is 3 % above Welch's; weighting each beat by its duration closes
    about 60 % of the gap. On synthetic series with constant variability the two
    agree within 1-4 %. It is a property of the estimators (Clifford & Tarassenko 2005), not an
    error of either; compare like with like.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(1, 400) * 0.8
    >>> rr = 800.0 + 30.0 * np.sin(2 * np.pi * 0.25 * t)
    >>> f, p = lomb_psd(rr)
    >>> round(float(f[np.argmax(p)]), 2)
    0.25
    """
    _require_duration(rr_ms, "Lomb-Scargle PSD")
    beat_t = _beat_times_s(rr_ms)
    y_ms = rr_ms - rr_ms.mean()
    if detrend == "smoothness_priors":
        t_even, x_even = resample_rr(rr_ms, fs_hz)
        trend = smoothness_priors_trend(x_even, lam=lam)
        y_ms = rr_ms - np.interp(beat_t, t_even, trend)
        y_ms = y_ms - y_ms.mean()
    duration_s = float(rr_ms.sum()) / 1000.0
    if grid_step_hz is None:
        grid_step_hz = max(1.0 / (2.0 * duration_s), max_hz / _LOMB_MAX_POINTS)
    n_freqs = math.floor(max_hz / grid_step_hz + 1e-9)
    freqs_hz = grid_step_hz * np.arange(1, n_freqs + 1, dtype=np.float64)
    pgram = _fast_lomb(beat_t, y_ms, grid_step_hz, n_freqs)
    psd: NDArray[np.float64] = 2.0 * pgram * (float(rr_ms.mean()) / 1000.0)
    return freqs_hz, psd


def _extirpolate(
    pos: NDArray[np.float64], values: NDArray[np.float64], ndim: int
) -> NDArray[np.float64]:
    """Spread ``values`` at fractional grid positions onto ``ndim`` cyclic grid points.

    Each value goes to the :data:`_LOMB_MACC` nearest grid points with Lagrange interpolation
    weights, so that sums of any low-order polynomial (and hence of a well-sampled sinusoid)
    against the grid equal the sums against the original points (Press & Rybicki 1989).
    """
    base = np.floor(pos).astype(np.int64) - (_LOMB_MACC // 2 - 1)
    offsets = np.arange(_LOMB_MACC)
    nodes = base[:, None] + offsets
    d = pos[:, None] - nodes
    weights = np.ones_like(d)
    for j in range(_LOMB_MACC):
        for k in range(_LOMB_MACC):
            if k != j:
                weights[:, j] *= d[:, k] / float(j - k)
    spread: NDArray[np.float64] = np.bincount(
        (nodes % ndim).ravel(), weights=(weights * values[:, None]).ravel(), minlength=ndim
    ).astype(np.float64)
    return spread


def _fast_lomb(
    t_s: NDArray[np.float64], y: NDArray[np.float64], step_hz: float, n_freqs: int
) -> NDArray[np.float64]:
    """Lomb's unnormalised periodogram at ``step_hz * (1 .. n_freqs)`` (Press & Rybicki 1989).

    ``sum_i y_i e^{i w t_i}`` and ``sum_i e^{2 i w t_i}`` for every grid frequency come from two
    FFTs of the data extirpolated onto a regular grid of ``ndim`` points per period
    ``1 / step_hz``; integer grid frequencies make the wrap-around exact. Lomb's time offset tau
    is then applied in closed form. Same values as :func:`scipy.signal.lombscargle` (direct
    O(N M) sums) to about 4e-4 relative.
    """
    n = t_s.shape[0]
    ndim = 1 << math.ceil(math.log2(_LOMB_OVERSAMPLE * _LOMB_MACC * 2 * (n_freqs + 1)))
    pos = (t_s - t_s[0]) * (step_hz * ndim) % ndim
    w1 = np.conj(np.fft.fft(_extirpolate(pos, y, ndim)))[1 : n_freqs + 1]
    w2 = np.conj(np.fft.fft(_extirpolate(2.0 * pos % ndim, np.ones(n), ndim)))[1 : n_freqs + 1]
    hypo = np.maximum(np.abs(w2), np.finfo(np.float64).tiny)
    hc2wt = 0.5 * w2.real / hypo
    hs2wt = 0.5 * w2.imag / hypo
    cwt = np.sqrt(np.maximum(0.5 + hc2wt, 0.0))
    swt = np.copysign(np.sqrt(np.maximum(0.5 - hc2wt, 0.0)), hs2wt)
    den = 0.5 * n + hc2wt * w2.real + hs2wt * w2.imag  # sum of cos^2 w (t - tau)
    cterm = (cwt * w1.real + swt * w1.imag) ** 2 / den
    sterm = (cwt * w1.imag - swt * w1.real) ** 2 / (n - den)
    pgram: NDArray[np.float64] = 0.5 * (cterm + sterm)
    return pgram


def ar_psd(
    rr_ms: NDArray[np.float64],
    *,
    fs_hz: float = RESAMPLING_RATE_HZ,
    order: int = AR_ORDER,
    detrend: Detrend = "none",
    lam: float = SMOOTHNESS_PRIORS_LAMBDA,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """AR (Burg) PSD of the 4 Hz cubic-spline tachogram, ms^2/Hz (Kubios HRV's AR spectrum).

    Parameters
    ----------
    rr_ms : numpy.ndarray
        Validated RR intervals, float64 ms; at least 120 s of beats.
    fs_hz : float, optional
        Resampling rate, Hz. Default 4.
    order : int, optional
        AR model order. Default 16 (Kubios HRV).
    detrend : {"none", "smoothness_priors"}, optional
        Record-level detrending of the resampled series (``lam``). Default "none".
    lam : float, optional
        Smoothness-priors lambda. Default 500.

    Returns
    -------
    freqs_hz : numpy.ndarray
        Frequencies 0 .. fs/2, Hz (grid step about 0.001 Hz).
    psd_ms2_hz : numpy.ndarray
        One-sided PSD, ms^2/Hz.

    Raises
    ------
    InsufficientDataError
        If the record is shorter than 120 s.

    Notes
    -----
    One AR model is fitted to the whole mean-removed 4 Hz series by Burg's method
    (:func:`hrv.ar.burg`) and its spectrum
    :math:`S(f) = 2 \\sigma^2 / (f_s |A(e^{i 2 \\pi f / f_s})|^2)` evaluated on the grid
    (:func:`hrv.ar.ar_spectrum`). On pyHRV's 60-min record this reproduces Kubios HRV 3.1 (order 16,
    4 Hz) to -0.15 % (LF), +0.09 % (HF), -0.24 % (LF/HF) and +2.6 % (VLF, which depends on how the
    0 Hz end of the grid is integrated); peaks 0.040 and 0.150 Hz as Kubios. Averaging AR spectra
    of 300 s Welch segments instead gives LF/HF -2.5 %, so Kubios fits the whole record.

    References
    ----------
    .. [1] Burg JP. Maximum entropy spectral analysis. PhD thesis, Stanford University; 1975.
    .. [2] Tarvainen MP et al. Kubios HRV. Comput Methods Programs Biomed. 2014;113(1):210-220.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(1, 400) * 0.8
    >>> f, p = ar_psd(800.0 + 30.0 * np.sin(2 * np.pi * 0.25 * t))
    >>> round(float(f[np.argmax(p)]), 2)
    0.25
    """
    _require_duration(rr_ms, "AR PSD")
    _, x_ms = resample_rr(rr_ms, fs_hz)
    if detrend == "smoothness_priors":
        x_ms = x_ms - smoothness_priors_trend(x_ms, lam=lam)
    return ar_spectrum(x_ms, fs_hz, order)
