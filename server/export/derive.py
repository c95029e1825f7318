"""Per-beat derived series of one participant, from the batch HRV functions.

The stored beats are raw: what the strap sent, never modified. The exports add, for every stored
beat, what the review computes from them with the batch code paths of :mod:`hrv`:

1. artifact classes and the corrected series (:func:`hrv.artifacts.detect_artifacts`,
   :func:`hrv.artifacts.correct_artifacts`; Lipponen & Tarvainen 2019);
2. the times of the corrected beats (:func:`corrected_series`);
3. trailing-window metrics on the corrected beats (:func:`hrv.windows.trailing_window_trace`):
   mean HR over 10 s, RMSSD and ln RMSSD over 60 s, artifact fraction;
4. a signal quality over the 60 s window, as the streaming engine defines it (artifacts, beats
   without skin contact and beats missing in gaps count against it);
5. the arousal index, confidence and state (:func:`hrv.arousal.replay_arousal`), which replays the
   live tracker beat by beat so that the review shows what the therapist saw.

Everything is vectorised except step 5 (the tracker is a state machine, by design).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import ArrayLike, NDArray

from hrv.arousal import STATE_CODES, replay_arousal
from hrv.artifacts import BeatClass, correct_artifacts, detect_artifacts
from hrv.validate import validate_rr
from hrv.windows import trailing_window_trace

__all__ = [
    "HR_WINDOW_S",
    "MAX_ARTIFACT_FRACTION",
    "MIN_BEATS_RMSSD",
    "RMSSD_WINDOW_S",
    "CorrectedSeries",
    "DerivedBeats",
    "corrected_series",
    "derive_beats",
]

#: Trailing window of the mean heart rate, s (as the live engine, :class:`hrv.stream.StreamConfig`).
HR_WINDOW_S: Final[float] = 10.0
#: Trailing window of RMSSD, ln RMSSD, artifact fraction and quality, s (as the live engine).
RMSSD_WINDOW_S: Final[float] = 60.0
#: Fewest beats for a valid RMSSD window (ultra-short RMSSD from about 10 beats, as the engine).
MIN_BEATS_RMSSD: Final[int] = 10
#: Windows with a larger artifact fraction are not valid (as the engine), fraction 0-1.
MAX_ARTIFACT_FRACTION: Final[float] = 0.2
_MS_PER_S: Final[float] = 1000.0


@dataclass(frozen=True, eq=False, slots=True)
class CorrectedSeries:
    """An RR series after artifact correction, with the time of every corrected beat.

    Attributes
    ----------
    rr_ms : numpy.ndarray
        Corrected RR, ms (its length differs from the input after merges and splits).
    time_s : numpy.ndarray
        Time of the end of each corrected interval, s, non-decreasing.
    artifact : numpy.ndarray of bool
        True where the corrected beat comes from an input beat that was an artifact.
    classes : numpy.ndarray of int8
        :class:`hrv.artifacts.BeatClass` of each *input* beat.
    end_input : numpy.ndarray of intp
        For each corrected beat, the input beat whose time closes it.
    medrr_ms : numpy.ndarray
        11-beat median RR around each *input* beat, ms (the detector's medRR).
    """

    rr_ms: NDArray[np.float64]
    time_s: NDArray[np.float64]
    artifact: NDArray[np.bool_]
    classes: NDArray[np.int8]
    end_input: NDArray[np.intp]
    medrr_ms: NDArray[np.float64]


def corrected_series(rr_ms: ArrayLike, beat_time_s: ArrayLike) -> CorrectedSeries:
    """Correct an RR series and place every corrected beat in time.

    Parameters
    ----------
    rr_ms : array_like
        Stored RR intervals, ms, in beat-time order (validated here).
    beat_time_s : array_like
        Their beat times (end of each interval), s, non-decreasing.

    Returns
    -------
    CorrectedSeries

    Notes
    -----
    :func:`hrv.artifacts.correct_artifacts` maps each corrected beat to the input beat it comes
    from. A group of corrected beats coming from input beats ``j .. e`` (one beat; a merge of the
    extra detections ``j .. e``; or ``k`` equal parts of a missed beat ``j = e``) ends where input
    beat ``e`` ends, so part ``p`` (0-based) of a group of ``k`` corrected beats ends at

    .. math:: t^c = t_e - (k - 1 - p)\\,RR^c / 1000

    which keeps the input beat times exactly for normal and interpolated beats, puts a merged
    interval at the time of the last merged detection and spreads the parts of a split interval
    evenly before it.

    References
    ----------
    .. [1] Lipponen JA, Tarvainen MP (2019). A robust algorithm for heart rate variability time
       series artefact correction using novel beat classification. J Med Eng Technol 43(3),
       173-181.

    Examples
    --------
    >>> rr = [800.0, 810, 790, 805, 1600, 800, 795, 810, 800, 790]
    >>> c = corrected_series(rr, np.cumsum(rr) / 1000)
    >>> c.rr_ms[4:6].tolist(), c.time_s[4:6].tolist()
    ([800.0, 800.0], [4.005, 4.805])
    """
    rr = validate_rr(rr_ms)
    t = np.asarray(beat_time_s, dtype=np.float64)
    n = rr.shape[0]
    if n == 0:
        empty_f = np.empty(0, dtype=np.float64)
        return CorrectedSeries(
            empty_f,
            empty_f,
            np.empty(0, dtype=np.bool_),
            np.empty(0, dtype=np.int8),
            np.empty(0, dtype=np.intp),
            empty_f,
        )
    det = detect_artifacts(rr)
    corr = correct_artifacts(rr, det)
    src = corr.source_index
    head = src >= 0
    group = np.cumsum(head) - 1
    heads = src[head]
    end_of_group = np.append(heads[1:] - 1, n - 1)
    first_pos = np.flatnonzero(head)
    size = np.diff(np.append(first_pos, src.shape[0]))
    part = np.arange(src.shape[0]) - first_pos[group]
    end_input = end_of_group[group]
    tc = t[end_input] - (size[group] - 1 - part) * corr.rr / _MS_PER_S
    tc = np.maximum.accumulate(tc)
    artifact = det.classes[heads[group]] != BeatClass.NORMAL
    return CorrectedSeries(corr.rr, tc, artifact, det.classes, end_input.astype(np.intp), det.medrr)


@dataclass(frozen=True, eq=False, slots=True)
class DerivedBeats:
    """Derived values for every stored beat of one participant (same length as the input).

    Attributes
    ----------
    artifact : numpy.ndarray of int8
        :class:`hrv.artifacts.BeatClass` of the beat (0 normal, 1 ectopic, 2 long, 3 short,
        4 missed, 5 extra).
    rr_corrected_ms : numpy.ndarray
        Mean of the corrected intervals that end at this beat, ms; NaN where none does (an extra
        detection merged into the next beat).
    n_corrected : numpy.ndarray of int64
        Number of corrected intervals ending at this beat: 1, 0 (merged away) or k (a missed
        beat split into k).
    mean_hr_bpm : numpy.ndarray
        Mean HR over the trailing 10 s of corrected beats, bpm.
    rmssd_ms, ln_rmssd : numpy.ndarray
        RMSSD over the trailing 60 s of corrected beats, ms, and its natural log.
    artifact_fraction : numpy.ndarray
        Fraction of the 60 s window's corrected beats that come from artifacts, 0-1.
    quality : numpy.ndarray
        ``(n - n_bad) / (n + n_missing)`` over the 60 s window of stored beats, 0-1.
    valid : numpy.ndarray of bool
        HR and RMSSD windows full enough and the artifact fraction at most 0.2.
    arousal_index, arousal_confidence : numpy.ndarray
        Smoothed arousal index (z units; NaN while calibrating) and its confidence (0-1).
    arousal_state : numpy.ndarray of int8
        Index into :data:`hrv.arousal.STATE_CODES`.
    """

    artifact: NDArray[np.int8]
    rr_corrected_ms: NDArray[np.float64]
    n_corrected: NDArray[np.int64]
    mean_hr_bpm: NDArray[np.float64]
    rmssd_ms: NDArray[np.float64]
    ln_rmssd: NDArray[np.float64]
    artifact_fraction: NDArray[np.float64]
    quality: NDArray[np.float64]
    valid: NDArray[np.bool_]
    arousal_index: NDArray[np.float64]
    arousal_confidence: NDArray[np.float64]
    arousal_state: NDArray[np.int8]

    def __len__(self) -> int:
        return int(self.artifact.shape[0])

    def arousal_states(self) -> list[str]:
        """The arousal states as strings (``"calibrating"``, ``"within"``, ...)."""
        return [STATE_CODES[int(c)] for c in self.arousal_state]


def _window_quality(
    rr: NDArray[np.float64],
    t: NDArray[np.float64],
    bad: NDArray[np.bool_],
    medrr: NDArray[np.float64],
    window_s: float,
) -> NDArray[np.float64]:
    """Signal quality over the trailing window: ``(n - n_bad) / (n + n_missing)``, 0-1."""
    n = rr.shape[0]
    idx = np.arange(n)
    start = np.searchsorted(t, t - window_s, side="right")
    gap_ms = np.zeros(n)
    gap_ms[1:] = _MS_PER_S * np.diff(t) - rr[1:]
    missing = np.maximum(np.rint(gap_ms / medrr), 0.0)
    p_bad = np.concatenate(([0.0], np.cumsum(bad.astype(np.float64))))
    p_miss = np.concatenate(([0.0], np.cumsum(missing)))
    count = (idx - start + 1).astype(np.float64)
    n_bad = p_bad[idx + 1] - p_bad[start]
    n_miss = p_miss[idx + 1] - p_miss[start]
    return np.asarray(np.clip((count - n_bad) / (count + n_miss), 0.0, 1.0), dtype=np.float64)


def derive_beats(
    rr_ms: ArrayLike,
    beat_time_s: ArrayLike,
    contact: ArrayLike | None = None,
    *,
    session_start_s: float = 0.0,
    participant: str = "participant",
    arousal: bool = True,
) -> DerivedBeats:
    """Artifact classes, corrected RR, trailing metrics and arousal for every stored beat.

    Parameters
    ----------
    rr_ms : array_like
        Stored RR, ms, in beat-time order.
    beat_time_s : array_like
        Beat times, s, non-decreasing.
    contact : array_like of int, optional
        1 contact, 0 no contact, -1 not reported (:attr:`server.storage.BeatPage.contact`).
    session_start_s : float
        Session start on the same clock, s: the arousal baseline is the first 3 min after it.
    participant : str
        Label for the arousal tracker's messages.
    arousal : bool
        Replay the arousal tracker (a Python loop over beats, ~10 us each); False leaves the
        arousal columns NaN / calibrating.

    Returns
    -------
    DerivedBeats

    Notes
    -----
    At stored beat ``j`` the trailing metrics are those of the window ending at the last
    corrected beat at or before ``t_j`` (:func:`corrected_series`), with the Task Force (1996)
    definitions, as :func:`hrv.windows.trailing_window_trace` computes them:
    ``mean HR = mean(60000 / RR)`` over 10 s and ``RMSSD = sqrt(mean(diff(RR)^2))`` over 60 s.
    Quality as the live engine: a beat is bad when it is an artifact or came without skin
    contact; beats missing in a gap are ``max(0, round((1000 (t_j - t_{j-1}) - RR_j) / medRR_j))``.

    References
    ----------
    .. [1] Task Force of the ESC and NASPE (1996). Heart rate variability: standards of
       measurement, physiological interpretation and clinical use. Circulation 93(5),
       1043-1065.
    .. [2] Lipponen JA, Tarvainen MP (2019). J Med Eng Technol 43(3), 173-181.

    Examples
    --------
    >>> rr = np.full(120, 1000.0)
    >>> d = derive_beats(rr, np.cumsum(rr) / 1000, arousal=False)
    >>> float(d.mean_hr_bpm[-1]), float(d.rmssd_ms[-1]), float(d.quality[-1])
    (60.0, 0.0, 1.0)
    """
    rr = validate_rr(rr_ms)
    t = np.asarray(beat_time_s, dtype=np.float64)
    n = rr.shape[0]
    if t.shape != (n,):
        raise ValueError(f"beat_time_s must have one time per RR ({n}), got shape {t.shape}")
    nan = np.full(n, np.nan)
    if n == 0:
        e_i8 = np.empty(0, dtype=np.int8)
        return DerivedBeats(
            e_i8, nan, np.empty(0, np.int64), nan, nan, nan, nan, nan,
            np.empty(0, np.bool_), nan, nan, e_i8,
        )  # fmt: skip
    cs = corrected_series(rr, t)
    hr = trailing_window_trace(
        cs.rr_ms, window_s=HR_WINDOW_S, beat_times_s=cs.time_s, artifact_mask=cs.artifact
    )
    rm = trailing_window_trace(
        cs.rr_ms,
        window_s=RMSSD_WINDOW_S,
        beat_times_s=cs.time_s,
        artifact_mask=cs.artifact,
        min_beats=MIN_BEATS_RMSSD,
    )
    pos = np.searchsorted(cs.time_s, t, side="right") - 1
    has = pos >= 0
    at = np.where(has, pos, 0)

    def pick(x: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.where(has, x[at], np.nan)

    mean_hr = pick(hr.mean_hr_bpm)
    rmssd = pick(rm.rmssd_ms)
    with np.errstate(divide="ignore", invalid="ignore"):
        ln = np.where(rmssd > 0, np.log(rmssd), np.nan)
    frac = pick(rm.artifact_fraction)
    valid = (
        has
        & np.isfinite(mean_hr)
        & np.isfinite(ln)
        & (np.nan_to_num(frac, nan=1.0) <= MAX_ARTIFACT_FRACTION)
    )

    n_corr = np.bincount(cs.end_input, minlength=n).astype(np.int64)
    sums = np.bincount(cs.end_input, weights=cs.rr_ms, minlength=n)
    with np.errstate(divide="ignore", invalid="ignore"):
        rr_corr = np.where(n_corr > 0, sums / n_corr, np.nan)

    classes = cs.classes
    no_contact = np.zeros(n, dtype=np.bool_)
    if contact is not None:
        no_contact = np.asarray(contact) == 0
    quality = _window_quality(
        rr, t, (classes != BeatClass.NORMAL) | no_contact, cs.medrr_ms, RMSSD_WINDOW_S
    )
    if arousal:
        series = replay_arousal(
            t,
            mean_hr,
            ln,
            quality,
            valid,
            participant=participant,
            session_start_s=session_start_s,
        )
        a_index, a_conf, a_state = series.index, series.confidence, series.state
    else:
        a_index, a_conf = nan.copy(), nan.copy()
        a_state = np.zeros(n, dtype=np.int8)
    return DerivedBeats(
        artifact=classes.astype(np.int8),
        rr_corrected_ms=rr_corr,
        n_corrected=n_corr,
        mean_hr_bpm=mean_hr,
        rmssd_ms=rmssd,
        ln_rmssd=ln,
        artifact_fraction=frac,
        quality=quality,
        valid=valid,
        arousal_index=a_index,
        arousal_confidence=a_conf,
        arousal_state=a_state,
    )
