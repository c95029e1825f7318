"""Deterministic synthetic RR series and artifact injection, for tests and benchmarks.

:func:`synthetic_rr` draws a realistic resting RR series: respiratory sinus arrhythmia (RSA) at a
slowly wandering breathing rate, a ~0.1 Hz Mayer wave, 1/f ("pink") noise carrying the slow
(VLF and circadian-like) variations, and a little white beat-to-beat jitter, following the
additive low-frequency / high-frequency model of McSharry et al. (2003). :func:`inject_artifacts`
then corrupts it at known positions with each artifact type of Lipponen & Tarvainen (2019) and
returns the ground truth. Pure numpy, deterministic from ``seed``.

References
----------
.. [1] McSharry PE, Clifford GD, Tarassenko L, Smith LA. A dynamical model for generating
   synthetic electrocardiogram signals. IEEE Trans Biomed Eng. 2003;50(3):289-294.
.. [2] Lipponen JA, Tarvainen MP. A robust algorithm for heart rate variability time series
   artefact correction using novel beat classification. J Med Eng Technol. 2019;43(3):173-181.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import ArrayLike, NDArray

from hrv.artifacts import BeatClass
from hrv.errors import InvalidRRError
from hrv.validate import validate_rr

__all__ = [
    "ARTIFACT_TYPES",
    "ArtifactTruth",
    "DetectionScores",
    "StrapRecording",
    "inject_artifacts",
    "rmssd_error_pct",
    "score_detection",
    "strap_recording",
    "synthetic_rr",
    "windowed_rmssd",
]

#: Artifact types :func:`inject_artifacts` knows, in the order they are listed in the truth.
ARTIFACT_TYPES: Final[tuple[str, ...]] = ("ectopic", "missed", "extra", "long", "short")

#: Sampling rate of the continuous modulation signals, Hz.
_GRID_HZ: Final[float] = 4.0
#: Corner of the 1/f component, Hz: 1/f scaling of HRV is a VLF/ULF phenomenon (below ~0.04 Hz,
#: Kobayashi & Musha 1982); above the corner it falls as 1/f^4 so that the HF band is dominated
#: by RSA, as in resting recordings.
_PINK_CORNER_HZ: Final[float] = 0.04
#: Fixed-point iterations placing beats on the modulation (beat times depend on the RR values).
_TIME_ITERATIONS: Final[int] = 3
#: Generated RR values are kept inside this range, ms (a clean series must be plausible).
_CLEAN_RR_RANGE_MS: Final[tuple[float, float]] = (330.0, 1800.0)

#: Ranges (uniform) of the artifact magnitudes, as fractions of the clean RR.
#: ectopic: prematurity p (short beat RR(1 - p), compensatory beat RR + p RR);
#: extra: position f of the spurious detection inside the beat; long/short: relative change.
_ECTOPIC_PREMATURITY: Final[tuple[float, float]] = (0.2, 0.45)
_EXTRA_SPLIT: Final[tuple[float, float]] = (0.15, 0.85)
_LONG_SHORT_CHANGE: Final[tuple[float, float]] = (0.25, 0.45)

_CLASS_OF: Final[dict[str, BeatClass]] = {
    "ectopic": BeatClass.ECTOPIC,
    "missed": BeatClass.MISSED,
    "extra": BeatClass.EXTRA,
    "long": BeatClass.LONG,
    "short": BeatClass.SHORT,
}
#: Output beats of one event of each type.
_EVENT_LENGTH: Final[dict[str, int]] = {
    "ectopic": 2,
    "missed": 1,
    "extra": 2,
    "long": 1,
    "short": 1,
}
#: Clean beats consumed by one event of each type.
_EVENT_SPAN: Final[dict[str, int]] = {"ectopic": 2, "missed": 2, "extra": 1, "long": 1, "short": 1}


def _pink_noise(
    rng: np.random.Generator, n: int, fs: float, corner_hz: float = _PINK_CORNER_HZ
) -> NDArray[np.float64]:
    """Unit-variance noise with PSD proportional to 1/f up to ``corner_hz``, 1/f^4 beyond."""
    spectrum = rng.standard_normal(n // 2 + 1) + 1j * rng.standard_normal(n // 2 + 1)
    f = np.fft.rfftfreq(n, d=1.0 / fs)
    f[0] = f[1] if n > 1 else 1.0
    spectrum /= np.sqrt(f) * (1.0 + (f / corner_hz) ** 2) ** 0.75
    spectrum[0] = 0.0
    x = np.fft.irfft(spectrum, n=n)
    sd = float(np.std(x))
    return x / sd if sd > 0.0 else x


def synthetic_rr(
    n_beats: int | None = None,
    *,
    duration_s: float | None = None,
    seed: int,
    mean_hr_bpm: float = 70.0,
    breathing_rate_hz: float = 0.25,
    rsa_amplitude_ms: float = 30.0,
    mayer_frequency_hz: float = 0.1,
    mayer_amplitude_ms: float = 20.0,
    pink_noise_ms: float = 30.0,
    white_noise_ms: float = 3.0,
) -> NDArray[np.float64]:
    """A realistic synthetic RR series, ms, deterministic from ``seed``.

    Parameters
    ----------
    n_beats : int, optional
        Number of beats. Give exactly one of ``n_beats`` and ``duration_s``.
    duration_s : float, optional
        Duration, s: beats are generated until their sum reaches it (the last beat ends before).
    seed : int
        Seed of :func:`numpy.random.default_rng`; the same seed gives the same series.
    mean_hr_bpm : float, optional
        Mean heart rate, beats/min (default 70).
    breathing_rate_hz : float, optional
        Mean breathing rate, Hz (default 0.25, 15 breaths/min); it wanders by about +-10 %.
    rsa_amplitude_ms : float, optional
        Amplitude of respiratory sinus arrhythmia, ms (default 30); modulated by about +-30 %.
    mayer_frequency_hz, mayer_amplitude_ms : float, optional
        Frequency (default 0.1 Hz) and amplitude (default 20 ms) of the Mayer wave.
    pink_noise_ms : float, optional
        Standard deviation of the 1/f component, ms (default 30).
    white_noise_ms : float, optional
        Standard deviation of the independent beat-to-beat jitter, ms (default 3).

    Returns
    -------
    numpy.ndarray
        RR intervals, float64 ms, all inside 330-1800 ms.

    Notes
    -----
    With t_k the time of beat k (s) and m(t) the modulation::

        m(t)  = A_rsa (1 + 0.3 a(t)) sin(phi_b(t)) + A_m sin(2 pi f_m t + psi(t)) + s_p p(t)
        RR_k  = 60000 / HR + m(t_k) + e_k,   e_k ~ N(0, s_w^2)

    where phi_b integrates a breathing rate wandering around ``breathing_rate_hz``, a, psi and p
    are 1/f noises and t_k = sum of the previous RR (found by fixed-point iteration). This is the
    spectral model of McSharry et al. [1]_ (LF Mayer and HF respiratory peaks) on a 1/f
    background. The defaults give RMSSD of about 35-45 ms and SDNN of about 50 ms at 70 bpm.

    References
    ----------
    .. [1] McSharry PE, Clifford GD, Tarassenko L, Smith LA. IEEE Trans Biomed Eng.
       2003;50(3):289-294.

    Examples
    --------
    >>> rr = synthetic_rr(300, seed=1)
    >>> rr.shape, bool(800 < rr.mean() < 920)
    ((300,), True)
    """
    if (n_beats is None) == (duration_s is None):
        raise InvalidRRError("give exactly one of n_beats and duration_s")
    if not mean_hr_bpm > 0.0:
        raise InvalidRRError(f"mean_hr_bpm must be positive, got {mean_hr_bpm!r}")
    mean_rr = 60_000.0 / mean_hr_bpm
    if n_beats is not None:
        if n_beats < 0:
            raise InvalidRRError(f"n_beats must be >= 0, got {n_beats}")
        n_gen = int(n_beats)
    else:
        assert duration_s is not None
        if not duration_s >= 0.0:
            raise InvalidRRError(f"duration_s must be >= 0, got {duration_s!r}")
        n_gen = int(np.ceil(duration_s * 1000.0 / mean_rr * 1.25)) + 10
    rng = np.random.default_rng(seed)

    t_end = n_gen * mean_rr / 1000.0 * 1.5 + 30.0
    n_grid = int(np.ceil(t_end * _GRID_HZ)) + 2
    grid = np.arange(n_grid) / _GRID_HZ
    breath_rate = breathing_rate_hz * (1.0 + 0.1 * np.tanh(_pink_noise(rng, n_grid, _GRID_HZ)))
    breath_phase = 2.0 * np.pi * np.cumsum(breath_rate) / _GRID_HZ + rng.uniform(0, 2 * np.pi)
    rsa_gain = 1.0 + 0.3 * np.tanh(_pink_noise(rng, n_grid, _GRID_HZ))
    mayer_phase = 2.0 * np.pi * mayer_frequency_hz * grid + np.cumsum(
        rng.standard_normal(n_grid)
    ) * (0.05 / np.sqrt(_GRID_HZ))
    modulation = (
        rsa_amplitude_ms * rsa_gain * np.sin(breath_phase)
        + mayer_amplitude_ms * np.sin(mayer_phase)
        + pink_noise_ms * _pink_noise(rng, n_grid, _GRID_HZ)
    )
    jitter = white_noise_ms * rng.standard_normal(n_gen)

    t = np.arange(n_gen) * mean_rr / 1000.0
    rr = np.full(n_gen, mean_rr)
    for _ in range(_TIME_ITERATIONS):  # fixed-point: beat times depend on RR
        rr = mean_rr + np.interp(t, grid, modulation) + jitter
        rr = np.clip(rr, *_CLEAN_RR_RANGE_MS)
        t = (np.cumsum(rr) - rr) / 1000.0
    if duration_s is not None:
        rr = rr[np.cumsum(rr) <= duration_s * 1000.0]
    return np.ascontiguousarray(rr, dtype=np.float64)


@dataclass(frozen=True)
class ArtifactTruth:
    """Ground truth of :func:`inject_artifacts`.

    Attributes
    ----------
    classes : numpy.ndarray of int8
        True :class:`~hrv.artifacts.BeatClass` of each output beat (both beats of an ectopic
        pair and both parts of a split beat carry the type; a merged beat is MISSED).
    clean_index : numpy.ndarray of intp
        For each output beat, the index of the clean beat it starts in.
    event_start : numpy.ndarray of intp
        Output index of the first beat of each injected event, sorted.
    event_class : numpy.ndarray of int8
        Class of each event.
    event_length : numpy.ndarray of intp
        Number of output beats of each event (ectopic 2, missed 1, extra 2, long 1, short 1).
    """

    classes: NDArray[np.int8]
    clean_index: NDArray[np.intp]
    event_start: NDArray[np.intp]
    event_class: NDArray[np.int8]
    event_length: NDArray[np.intp]


def _uniform(bounds: tuple[float, float], u: NDArray[np.float64]) -> NDArray[np.float64]:
    """Map U(0, 1) draws ``u`` onto the interval ``bounds``."""
    lo, hi = bounds
    return lo + u * (hi - lo)


def _random_positions(
    rng: np.random.Generator, n_events: int, n: int, spacing: int, margin: int
) -> NDArray[np.intp]:
    """``n_events`` sorted beat indices in [margin, n - margin), at least ``spacing`` apart."""
    room = n - 2 * margin - (n_events - 1) * spacing
    if n_events and room < 1:
        raise InvalidRRError(
            f"cannot place {n_events} artifacts {spacing} beats apart in {n} beats; "
            "use a longer series, fewer artifacts or a smaller spacing"
        )
    base = np.sort(rng.choice(room, size=n_events, replace=False)) if n_events else np.array([])
    return (base + margin + np.arange(n_events) * spacing).astype(np.intp)


def inject_artifacts(
    rr: ArrayLike,
    *,
    seed: int,
    n_per_type: int = 10,
    types: Sequence[str] = ARTIFACT_TYPES,
    positions: Mapping[str, Sequence[int]] | None = None,
    min_spacing_beats: int = 20,
) -> tuple[NDArray[np.float64], ArtifactTruth]:
    """Corrupt a clean RR series with artifacts of known type at known positions.

    Parameters
    ----------
    rr : array_like
        Clean RR series, ms (not modified).
    seed : int
        Seed for positions (when not given) and magnitudes.
    n_per_type : int, optional
        Events of each type in ``types`` at random positions (ignored when ``positions`` is
        given), at least ``min_spacing_beats`` apart and that far from the ends.
    types : sequence of str, optional
        Among ``"ectopic", "missed", "extra", "long", "short"`` (default all).
    positions : mapping of str to sequence of int, optional
        Explicit clean-beat indices per type (ectopic and missed use beats j and j+1); events
        must not overlap.
    min_spacing_beats : int, optional
        Minimum distance between random events, beats (default 20, so that at most one event
        falls in any 11-beat median window).

    Returns
    -------
    rr_with_artifacts : numpy.ndarray
        The corrupted series, ms (its length changes: missed -1 beat, extra +1 beat).
    truth : ArtifactTruth
        True class of every output beat and the list of events.

    Notes
    -----
    With RR the clean intervals (ms) at event position j:

    - ectopic: premature beat, full compensatory pause: RR(j) (1 - p), RR(j+1) + p RR(j),
      p ~ U(0.2, 0.45) (the pair keeps its total duration);
    - missed: one detection lost: RR(j) + RR(j+1) in one interval;
    - extra: a spurious detection inside beat j: f RR(j), (1 - f) RR(j), f ~ U(0.15, 0.85);
    - long: RR(j) (1 + u), short: RR(j) (1 - u), u ~ U(0.25, 0.45).

    These are the simulated artifact types of Lipponen & Tarvainen [1]_ (their misaligned beat
    is our ectopic pair).

    References
    ----------
    .. [1] Lipponen JA, Tarvainen MP. J Med Eng Technol. 2019;43(3):173-181.

    Examples
    --------
    >>> clean = synthetic_rr(500, seed=0)
    >>> bad, truth = inject_artifacts(clean, seed=0, n_per_type=2)
    >>> bad.shape[0] - clean.shape[0], int(truth.event_start.shape[0])
    (0, 10)
    """
    x = validate_rr(rr)
    n = x.shape[0]
    unknown = [
        t for t in (positions.keys() if positions is not None else types) if t not in _CLASS_OF
    ]
    if unknown:
        raise InvalidRRError(f"unknown artifact types {unknown}; expected some of {ARTIFACT_TYPES}")
    rng = np.random.default_rng(seed)
    if positions is None:
        kinds = np.repeat(np.array(list(types), dtype=object), n_per_type)
        where = _random_positions(rng, kinds.shape[0], n, min_spacing_beats, min_spacing_beats)
        kinds = kinds[rng.permutation(kinds.shape[0])]
    else:
        pairs = sorted((int(p), t) for t, ps in positions.items() for p in ps)
        where = np.array([p for p, _ in pairs], dtype=np.intp)
        kinds = np.array([t for _, t in pairs], dtype=object)
    span = np.array([_EVENT_SPAN[str(t)] for t in kinds], dtype=np.intp)
    if where.size:
        if where.min() < 0 or (where + span).max() > n:
            raise InvalidRRError(f"artifact positions must lie inside the {n}-beat series")
        if np.any(where[1:] < where[:-1] + span[:-1]):
            raise InvalidRRError("artifact events overlap; give positions further apart")

    counts = np.ones(n, dtype=np.intp)
    values = x.copy()
    cls_clean = np.zeros(n, dtype=np.int8)
    m = where.shape[0]
    magnitude = np.asarray(rng.random((m,)), dtype=np.float64)

    def of(kind: str) -> NDArray[np.bool_]:
        return np.asarray(kinds == kind, dtype=np.bool_)

    ect, mis, ext, lng, sht = (of(t) for t in ARTIFACT_TYPES)
    j = where[ect]
    p = _uniform(_ECTOPIC_PREMATURITY, magnitude[ect])
    values[j] = x[j] * (1.0 - p)
    values[j + 1] = x[j + 1] + x[j] * p
    cls_clean[j] = cls_clean[j + 1] = BeatClass.ECTOPIC
    j = where[mis]
    values[j] = x[j] + x[j + 1]
    counts[j + 1] = 0
    cls_clean[j] = BeatClass.MISSED
    j = where[lng]
    u = _uniform(_LONG_SHORT_CHANGE, magnitude[lng])
    values[j] = x[j] * (1.0 + u)
    cls_clean[j] = BeatClass.LONG
    j = where[sht]
    u = _uniform(_LONG_SHORT_CHANGE, magnitude[sht])
    values[j] = x[j] * (1.0 - u)
    cls_clean[j] = BeatClass.SHORT
    j_ext = where[ext]
    counts[j_ext] = 2
    cls_clean[j_ext] = BeatClass.EXTRA

    out = np.repeat(values, counts)
    clean_index = np.repeat(np.arange(n, dtype=np.intp), counts)
    classes = np.repeat(cls_clean, counts)
    first_out = np.cumsum(counts) - counts  # output index of each clean beat's first part
    f = _uniform(_EXTRA_SPLIT, magnitude[ext])
    out[first_out[j_ext]] = x[j_ext] * f
    out[first_out[j_ext] + 1] = x[j_ext] * (1.0 - f)

    event_class = np.array([_CLASS_OF[str(t)] for t in kinds], dtype=np.int8)
    event_length = np.array([_EVENT_LENGTH[str(t)] for t in kinds], dtype=np.intp)
    truth = ArtifactTruth(
        classes=classes,
        clean_index=clean_index,
        event_start=first_out[where].astype(np.intp),
        event_class=event_class,
        event_length=event_length,
    )
    return out, truth


@dataclass(frozen=True)
class DetectionScores:
    """Detection performance against an :class:`ArtifactTruth` (see :func:`score_detection`).

    Attributes
    ----------
    sensitivity : dict of str to float
        Per artifact type, fraction (0-1) of injected events whose every beat is flagged (any
        non-NORMAL class).
    type_agreement : dict of str to float
        Per artifact type, fraction (0-1) of events whose every beat got exactly the true class.
    n_events : dict of str to int
        Events of each type.
    false_positives : int
        Truly NORMAL beats flagged as anything else.
    n_normal : int
        Truly NORMAL beats.
    """

    sensitivity: dict[str, float]
    type_agreement: dict[str, float]
    n_events: dict[str, int]
    false_positives: int
    n_normal: int

    @property
    def false_positive_pct(self) -> float:
        """False positives as a percentage of the truly normal beats."""
        return 100.0 * self.false_positives / self.n_normal if self.n_normal else 0.0


def score_detection(truth: ArtifactTruth, classes: ArrayLike) -> DetectionScores:
    """Score per-beat classes (e.g. ``detect_artifacts(rr).classes``) against the truth.

    Parameters
    ----------
    truth : ArtifactTruth
        From :func:`inject_artifacts`.
    classes : array_like of int
        One :class:`~hrv.artifacts.BeatClass` value per beat of the corrupted series.

    Returns
    -------
    DetectionScores

    Notes
    -----
    An event counts as detected when all its beats are flagged (both beats of an ectopic pair,
    both parts of a split beat), a stricter rule than "any beat of the event".

    Examples
    --------
    >>> bad, truth = inject_artifacts(synthetic_rr(400, seed=0), seed=0, n_per_type=1)
    >>> score_detection(truth, truth.classes).false_positives
    0
    """
    cls = np.asarray(classes)
    if cls.shape != truth.classes.shape:
        raise InvalidRRError(
            f"classes has shape {cls.shape}, expected one per beat {truth.classes.shape}"
        )
    flagged = cls != BeatClass.NORMAL
    exact = cls == truth.classes
    # Per event: all beats flagged / all exact, via cumulative sums over the event spans.
    cf = np.concatenate(([0], np.cumsum(flagged)))
    ce = np.concatenate(([0], np.cumsum(exact)))
    s, ln = truth.event_start, truth.event_length
    ev_flagged = (cf[s + ln] - cf[s]) == ln
    ev_exact = (ce[s + ln] - ce[s]) == ln
    sens: dict[str, float] = {}
    agree: dict[str, float] = {}
    count: dict[str, int] = {}
    for name in ARTIFACT_TYPES:  # five types, not beats
        sel = truth.event_class == _CLASS_OF[name]
        k = int(np.count_nonzero(sel))
        if k:
            count[name] = k
            sens[name] = float(np.mean(ev_flagged[sel]))
            agree[name] = float(np.mean(ev_exact[sel]))
    normal = truth.classes == BeatClass.NORMAL
    return DetectionScores(
        sensitivity=sens,
        type_agreement=agree,
        n_events=count,
        false_positives=int(np.count_nonzero(normal & flagged)),
        n_normal=int(np.count_nonzero(normal)),
    )


def windowed_rmssd(rr: ArrayLike, window_s: float = 300.0) -> NDArray[np.float64]:
    """RMSSD, ms, of consecutive non-overlapping windows of ``window_s`` seconds.

    Beat k (ending at t_k = sum of RR up to k) belongs to window floor(t_k / window_s); only
    complete windows are returned; a difference counts when both beats are in the window::

        RMSSD_w = sqrt(mean over k, k+1 in w of (RR(k+1) - RR(k))^2)

    Used to score corrections (Task Force 1996 definition of RMSSD).

    Examples
    --------
    >>> windowed_rmssd([1000.0, 1010.0] * 300, window_s=300.0).round(1).tolist()
    [10.0, 10.0]
    """
    x = validate_rr(rr)
    t = np.cumsum(x) / 1000.0
    n_win = int(t[-1] // window_s) if t.size else 0
    w = np.floor(t / window_s).astype(np.intp)
    same = (w[1:] == w[:-1]) & (w[1:] < n_win)
    d2 = np.diff(x) ** 2
    ss = np.bincount(w[1:][same], weights=d2[same], minlength=n_win)[:n_win]
    cnt = np.bincount(w[1:][same], minlength=n_win)[:n_win]
    return np.sqrt(ss / np.maximum(cnt, 1))


def rmssd_error_pct(
    clean_rr: ArrayLike, corrected_rr: ArrayLike, window_s: float = 300.0
) -> NDArray[np.float64]:
    """Absolute error, % of the clean value, of each ``window_s`` RMSSD after correction.

    Windows are aligned on time (each series' own cumulative RR), which merges, splits and
    interpolation preserve to within a few ms.

    Examples
    --------
    >>> clean = synthetic_rr(duration_s=1000, seed=0)
    >>> rmssd_error_pct(clean, clean).tolist()
    [0.0, 0.0, 0.0]
    """
    a = windowed_rmssd(clean_rr, window_s)
    b = windowed_rmssd(corrected_rr, window_s)
    m = min(a.shape[0], b.shape[0])
    return np.asarray(100.0 * np.abs(b[:m] - a[:m]) / a[:m], dtype=np.float64)


@dataclass(frozen=True, eq=False, slots=True)
class StrapRecording:
    """A stored-beat series as a chest strap delivers it, with what was done to it.

    Attributes
    ----------
    time_s : numpy.ndarray
        Beat times (end of each RR), s from 0, non-decreasing.
    rr_ms : numpy.ndarray
        RR as stored, ms.
    gap_before : numpy.ndarray of bool
        Beat times re-anchored before the beat (first beat, after a dropout or a pause).
    events : tuple of (str, float)
        What was injected and where (kind, time s): ``extra``, ``missed``, ``ectopic``,
        ``duplicate``, ``long``, ``dropout``, ``pause``.
    """

    time_s: NDArray[np.float64]
    rr_ms: NDArray[np.float64]
    gap_before: NDArray[np.bool_]
    events: tuple[tuple[str, float], ...]


def strap_recording(
    duration_s: float,
    *,
    seed: int,
    mean_hr_bpm: float = 70.0,
    n_extra: int = 2,
    n_missed: int = 2,
    n_ectopic: int = 2,
    n_duplicate: int = 1,
    n_long: int = 1,
    n_dropouts: int = 1,
    n_pauses: int = 0,
    dropout_s: tuple[float, float] = (3.0, 20.0),
    pause_s: tuple[float, float] = (30.0, 120.0),
) -> StrapRecording:
    """Beats with every real-world chest-strap artifact, at random places (deterministic).

    Parameters
    ----------
    duration_s : float
        Length of the underlying clean series, s.
    seed : int
        Seed of :func:`numpy.random.default_rng`.
    mean_hr_bpm : float
        Mean heart rate of the clean series (:func:`synthetic_rr`).
    n_extra, n_missed, n_ectopic, n_duplicate, n_long : int
        How many of each beat artifact: an extra detection splitting one RR into 150 ms and the
        rest (the most common strap artifact); a missed detection (two RR merged); a premature
        beat with its compensatory pause; a beat delivered twice (the same RR stored again, as a
        retransmitted notification); a long beat (RR x 1.6, a weak R wave).
    n_dropouts, n_pauses : int
        Stretches without stored beats: dropouts (contact or radio lost, ``dropout_s``) and
        privacy pauses (``pause_s``); the beats after each are re-anchored (``gap_before``).
    dropout_s, pause_s : (float, float)
        Ranges of their lengths, s.

    Returns
    -------
    StrapRecording

    Examples
    --------
    >>> r = strap_recording(300.0, seed=1)
    >>> bool(r.gap_before[0]), int(r.gap_before.sum()), bool(np.all(np.diff(r.time_s) >= 0))
    (True, 2, True)
    """
    rng = np.random.default_rng(seed)
    rr = list(synthetic_rr(duration_s=duration_s, seed=seed, mean_hr_bpm=mean_hr_bpm))
    n = len(rr)
    events: list[tuple[str, float]] = []
    kinds = (
        ["extra"] * n_extra
        + ["missed"] * n_missed
        + ["ectopic"] * n_ectopic
        + ["duplicate"] * n_duplicate
        + ["long"] * n_long
    )
    # positions away from each other and the ends, applied from the last so indices hold
    margin = min(20, max(n // 10, 1))
    span = max(n - 2 * margin, 1)
    picks = sorted(
        (int(margin + k), kind)
        for k, kind in zip(
            rng.choice(span, size=min(len(kinds), span), replace=False), kinds, strict=False
        )
    )
    t_clean = np.cumsum(rr) / 1000.0
    for i, kind in reversed(picks):
        events.append((kind, float(t_clean[min(i, n - 1)])))
        if kind == "extra" and rr[i] > 400.0:
            rr[i : i + 1] = [150.0, rr[i] - 150.0]
        elif kind == "missed" and i + 1 < len(rr):
            rr[i : i + 2] = [rr[i] + rr[i + 1]]
        elif kind == "ectopic" and i + 1 < len(rr):
            d = 0.3 * rr[i]
            rr[i], rr[i + 1] = rr[i] - d, rr[i + 1] + d
        elif kind == "duplicate":
            rr[i : i + 1] = [rr[i], rr[i]]
        elif kind == "long":
            rr[i] = 1.6 * rr[i]
    rr_a = np.asarray(rr, dtype=np.float64)
    t = np.cumsum(rr_a) / 1000.0
    keep = np.ones(rr_a.size, dtype=np.bool_)
    gap = np.zeros(rr_a.size, dtype=np.bool_)
    gap[0] = True
    holes = [("dropout", dropout_s)] * n_dropouts + [("pause", pause_s)] * n_pauses
    for kind, (lo, hi) in holes:
        length = float(rng.uniform(lo, hi))
        start = float(rng.uniform(0.1, 0.9) * max(t[-1] - length, 1.0))
        inside = (t > start) & (t <= start + length)
        if not inside.any():
            continue
        keep &= ~inside
        after = int(np.searchsorted(t, start + length, side="right"))
        if after < rr_a.size:
            gap[after] = True
        events.append((kind, start))
    return StrapRecording(
        time_s=t[keep],
        rr_ms=rr_a[keep],
        gap_before=gap[keep],
        events=tuple(sorted(events, key=lambda e: e[1])),
    )
