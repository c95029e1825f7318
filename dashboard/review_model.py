"""The data of a post-session review: its inputs (built from the store by
:mod:`server.review_data`), its configuration and its output, the frozen :class:`SessionReview`
that :mod:`dashboard.report` renders. Computed by :mod:`dashboard.review` (which re-exports every
name here). Times are seconds from the session start (float64); RR in ms.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal

import numpy as np
from numpy.typing import NDArray

from dashboard.phases import DEFAULT_FIRST_SESSION, PhaseTemplate
from hrv.arousal import ArousalConfig
from hrv.derive import LF_HF_MIN_DURATION_S
from hrv.errors import SintoniaError
from hrv.stream import StreamConfig

__all__ = [
    "HOST_CLOCK_NOTE",
    "ActivationEpisode",
    "BreathingResponse",
    "ClockEstimate",
    "CoActivation",
    "CuePoint",
    "DeviceEventPoint",
    "EpisodeEnd",
    "MarkerPoint",
    "ParticipantBeats",
    "ParticipantReview",
    "ParticipantTrace",
    "PhaseEventPoint",
    "PhaseRow",
    "PhaseSpan",
    "PhaseSynchrony",
    "ReviewConfig",
    "ReviewError",
    "SessionInputs",
    "SessionReview",
    "SignalQuality",
    "SurrogateStat",
    "SynchronyReview",
]

EpisodeEnd = Literal["recovered", "signal_lost", "session_end"]


class ReviewError(SintoniaError, ValueError):
    """Inputs of a review that do not fit together (says what was expected)."""


# ------------------------------------------------------------------------------------ inputs


#: What a local strap's clock estimate says (its beats are timed on the host's clock).
HOST_CLOCK_NOTE: Final[str] = (
    "local strap: beats timed by the server's own clock on receipt, so no clock offset between "
    "devices (uncertainty taken as 0; Bluetooth notification latency, typically tens of ms, is "
    "not included)"
)


@dataclass(frozen=True, slots=True)
class ClockEstimate:
    """Whose clock timed a person's beats, and how well it is known against the server's.

    Attributes
    ----------
    source : str
        ``"host"`` (a local strap: the server's clock) or ``"remote"`` (a join link: the device's
        clock, placed on the server's with the estimated offset).
    offset_s : float or None
        Server clock minus device clock, s (0 for the host).
    drift_ppm : float or None
        Drift of the device clock, parts per million (None: not enough pings).
    uncertainty_s : float or None
        Bound of the error of the beat times against the server's clock, s
        (:class:`server.remote.protocol.ClockOffset`); None when unknown.
    samples : int
        Ping/pong exchanges behind the estimate.
    note : str
        What the numbers mean, for the report.
    """

    source: Literal["host", "remote"]
    offset_s: float | None
    drift_ppm: float | None
    uncertainty_s: float | None
    samples: int = 0
    note: str = ""

    @classmethod
    def host(cls) -> ClockEstimate:
        """The estimate of a local strap (see :data:`HOST_CLOCK_NOTE`)."""
        return cls("host", 0.0, None, 0.0, 0, HOST_CLOCK_NOTE)


@dataclass(frozen=True, eq=False, slots=True)
class ParticipantBeats:
    """One person's stored beats, times relative to the session start.

    Attributes
    ----------
    participant_id : int
        Store id.
    code : str
        Pseudonymous code.
    role : str
        ``"patient"`` or ``"therapist"``.
    time_s : numpy.ndarray
        Beat times, s from the session start, non-decreasing.
    rr_ms : numpy.ndarray
        RR intervals as recorded, ms.
    gap_before : numpy.ndarray of bool
        Beat times were re-anchored before this beat (first beat, dropout, reconnect).
    contact : numpy.ndarray of int8, optional
        1 contact, 0 none, -1 not reported (None: not reported at all).
    clock : ClockEstimate, optional
        Whose clock timed the beats (None: a local strap, :meth:`ClockEstimate.host`).
    """

    participant_id: int
    code: str
    role: str
    time_s: NDArray[np.float64]
    rr_ms: NDArray[np.float64]
    gap_before: NDArray[np.bool_]
    contact: NDArray[np.int8] | None = None
    clock: ClockEstimate | None = None


@dataclass(frozen=True, slots=True)
class PhaseEventPoint:
    """A stored phase event: entering ``phase_id``, extending it, or the end of the session."""

    time_s: float
    phase_id: str
    action: Literal["enter", "extend", "end"]


@dataclass(frozen=True, slots=True)
class PhaseSpan:
    """One phase as it actually ran: ``[start_s, end_s)`` from the session start."""

    phase_id: str
    label: str
    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        """Length of the phase, s."""
        return self.end_s - self.start_s


@dataclass(frozen=True, slots=True)
class MarkerPoint:
    """A marker the therapist set (``type`` as stored, e.g. ``"breathing_exercise"``)."""

    time_s: float
    type: str
    note: str | None = None
    participant: str | None = None


@dataclass(frozen=True, slots=True)
class CuePoint:
    """A cue shown to the therapist, its reason and what the therapist did with it.

    ``pacer_breaths_per_min`` is set for a cue that offered paced breathing: acknowledging it
    started the pacer, so the review counts it as a breathing exercise from that moment.
    ``details`` holds the rule's internals (:func:`dashboard.cues.cue_details`), for researchers
    only; ``reason`` is the plain sentence the therapist saw.
    """

    time_s: float
    rule: str
    text: str
    reason: str
    response: str | None = None
    responded_at_s: float | None = None
    pacer_breaths_per_min: float | None = None
    details: str = ""


@dataclass(frozen=True, slots=True)
class DeviceEventPoint:
    """A device event (``kind`` as :data:`sensor.types.DeviceEventKind`)."""

    time_s: float
    participant: str | None
    device: str
    kind: str
    value: float | None = None


@dataclass(frozen=True, eq=False, slots=True)
class SessionInputs:
    """Everything a review needs about one session (built by :mod:`server.review_data`).

    Attributes
    ----------
    session_id : int
    label : str or None
    started_at_s : float or None
        Session start on the store's clock (Unix epoch for live sessions), s; used for the date.
    duration_s : float
        Length of the session, s.
    template : PhaseTemplate
        The phase plan.
    participants : tuple of ParticipantBeats
    phase_events, markers, cues, device_events : tuples
        Times relative to the session start, in time order.
    notes : tuple of str
        Anything the loader left out and why (e.g. a participant without a review consent).
    synchrony_allowed : bool
        Whether every participant has an active ``synchrony`` consent (else no synchrony).
    phases : tuple of PhaseSpan, optional
        The phases as the session read model computed them; when None they are worked out from
        ``phase_events`` and ``template`` (:func:`phase_spans`).
    """

    session_id: int
    label: str | None
    started_at_s: float | None
    duration_s: float
    template: PhaseTemplate = DEFAULT_FIRST_SESSION
    participants: tuple[ParticipantBeats, ...] = ()
    phase_events: tuple[PhaseEventPoint, ...] = ()
    markers: tuple[MarkerPoint, ...] = ()
    cues: tuple[CuePoint, ...] = ()
    device_events: tuple[DeviceEventPoint, ...] = ()
    notes: tuple[str, ...] = ()
    synchrony_allowed: bool = True
    phases: tuple[PhaseSpan, ...] | None = None


@dataclass(frozen=True, slots=True)
class ReviewConfig:
    """Parameters of a review.

    Attributes
    ----------
    stream : StreamConfig
        The streaming engine's configuration (as live).
    arousal : ArousalConfig
        The arousal tracker's configuration (as live).
    breathing_window_s : float
        Length of the windows before and after a ``breathing_exercise`` marker, s (default 120:
        enough for RMSSD and for a 64 s coherence window once the breathing has settled).
    co_activation_window_s : float
        Window before a patient's episode onset and after its end in which the therapist's index is
        averaged, s (default 60).
    lf_hf_min_s : float
        Shortest gap-free stretch for LF/HF, s (default :data:`LF_HF_MIN_DURATION_S`).
    """

    stream: StreamConfig = field(default_factory=StreamConfig)
    arousal: ArousalConfig = field(default_factory=ArousalConfig)
    breathing_window_s: float = 120.0
    co_activation_window_s: float = 60.0
    lf_hf_min_s: float = LF_HF_MIN_DURATION_S


# ------------------------------------------------------------------------------------ outputs


@dataclass(frozen=True, eq=False, slots=True)
class ParticipantTrace:
    """Per-beat traces of one person for the figures (what the live page showed).

    Attributes
    ----------
    code, role : str
    time_s : numpy.ndarray
        Beat times, s from the session start.
    arousal_index : numpy.ndarray
        Smoothed arousal index (baseline-SD units), NaN while calibrating.
    state : numpy.ndarray of int8
        Index into :data:`hrv.arousal.STATE_CODES`.
    confidence : numpy.ndarray
        0-1.
    mean_hr_bpm : numpy.ndarray
        Trailing 10 s mean HR, bpm (NaN where not valid).
    rmssd_ms : numpy.ndarray
        Trailing 60 s RMSSD, ms (NaN where not valid).
    """

    code: str
    role: str
    time_s: NDArray[np.float64]
    arousal_index: NDArray[np.float64]
    state: NDArray[np.int8]
    confidence: NDArray[np.float64]
    mean_hr_bpm: NDArray[np.float64]
    rmssd_ms: NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class PhaseRow:
    """One person's metrics over one phase. ``None``: not enough data (shown as a dash).

    Attributes
    ----------
    phase_id, label : str
    start_s, end_s : float
    n_beats : int
    mean_hr_bpm, rmssd_ms, ln_rmssd : float or None
        On the artifact-corrected beats of the phase (bpm, ms, ln ms).
    artifact_pct : float or None
        Beats of the phase classified as artifacts, percent.
    within_s, above_s, below_s : float
        Time in each arousal band, s.
    no_band_s : float
        Time calibrating, uncertain or without beats, s.
    lf_hf : float or None
        LF/HF (Welch) of the longest gap-free stretch, if it lasts at least ``lf_hf_min_s``.
    irregular_pct : float or None
        Successive corrected intervals differing by more than 20 %, percent
        (:func:`hrv.derive.interval_stats`); above :data:`hrv.derive.IRREGULAR_PCT_LIMIT` the
        rhythm is too irregular for the phase's HRV to describe autonomic regulation.
    """

    phase_id: str
    label: str
    start_s: float
    end_s: float
    n_beats: int
    mean_hr_bpm: float | None
    rmssd_ms: float | None
    ln_rmssd: float | None
    artifact_pct: float | None
    within_s: float
    above_s: float
    below_s: float
    no_band_s: float
    lf_hf: float | None
    irregular_pct: float | None = None


@dataclass(frozen=True, slots=True)
class ActivationEpisode:
    """A stretch of ``above usual activation`` of one person.

    Attributes
    ----------
    participant : str
        Code.
    onset_s : float
        When the index first crossed the entry threshold (the band change's onset).
    detected_s : float
        When the band changed (onset plus the persistence time).
    peak_s, peak_index : float
        Time and value of the highest smoothed index in the episode.
    end_s : float
        When the episode ended: the onset of the return to the usual range, the loss of signal,
        or the end of the session.
    duration_s : float
        ``end_s - onset_s``.
    recovery_s : float or None
        From the peak back to the usual range (``end_s - peak_s`` when recovered), s; None when
        the signal was lost or the session ended first.
    end_reason : str
        ``"recovered"``, ``"signal_lost"`` or ``"session_end"``.
    phase_id : str or None
        Phase at the onset.
    """

    participant: str
    onset_s: float
    detected_s: float
    peak_s: float
    peak_index: float
    end_s: float
    duration_s: float
    recovery_s: float | None
    end_reason: EpisodeEnd
    phase_id: str | None


@dataclass(frozen=True, slots=True)
class CoActivation:
    """How the therapist's activation moved around one of the patient's episodes.

    Attributes
    ----------
    episode : ActivationEpisode
        The patient's episode.
    therapist : str
        The therapist's code.
    before_index, during_index, after_index : float or None
        Therapist's mean smoothed index in the window before the onset, during the episode and
        in the window after its end (only where the therapist's band was known).
    therapist_above_s : float
        Time the therapist was above usual activation during the episode, s.
    peak_lag_s : float or None
        Therapist's peak time minus the patient's peak time, s (within the episode and the
        window after it; positive: the therapist peaked later).
    """

    episode: ActivationEpisode
    therapist: str
    before_index: float | None
    during_index: float | None
    after_index: float | None
    therapist_above_s: float
    peak_lag_s: float | None


@dataclass(frozen=True, slots=True)
class BreathingResponse:
    """RMSSD and coherence before and during a breathing exercise (from its marker).

    Attributes
    ----------
    marker_s : float
        Time of the ``breathing_exercise`` marker.
    participant : str
    window_s : float
        Length of the before and during windows, s.
    rmssd_before_ms, rmssd_during_ms : float or None
        RMSSD of the corrected beats in ``[m - w, m)`` and ``[m, m + w)``, ms.
    coherence_before, coherence_during : float or None
        Coherence ratio over the last 64 s of each window (McCraty et al. 2009).
    breathing_rate_during_bpm : float or None
        Breathing rate estimated from the RR spectrum during the exercise, breaths/min (None
        when the estimate's confidence is below
        :data:`hrv.coherence.BREATHING_MIN_CONFIDENCE`, as on the live page).
    """

    marker_s: float
    participant: str
    window_s: float
    rmssd_before_ms: float | None
    rmssd_during_ms: float | None
    coherence_before: float | None
    coherence_during: float | None
    breathing_rate_during_bpm: float | None


@dataclass(frozen=True, slots=True)
class SignalQuality:
    """Signal quality of one person's recording.

    Attributes
    ----------
    n_beats : int
    artifact_pct : float
        Beats classified as artifacts (and corrected), percent.
    artifacts_by_type : dict
        Count per class (ectopic, long, short, missed, extra).
    dropouts : int
        Re-anchors of the beat times after the first beat (dropouts and reconnects in the beats).
    dropout_s : float
        Time without beats at those re-anchors, s.
    disconnects, reconnects : int
        From the device events (``disconnected``; ``connected`` after the first).
    no_band_pct : float
        Share of the recorded time without a band (calibrating or uncertain), percent.
    clock : ClockEstimate
        The clock that timed the beats: offset, drift and uncertainty of a remote device.
    """

    n_beats: int
    artifact_pct: float
    artifacts_by_type: dict[str, int]
    dropouts: int
    dropout_s: float
    disconnects: int
    reconnects: int
    no_band_pct: float
    clock: ClockEstimate = field(default_factory=ClockEstimate.host)


@dataclass(frozen=True, slots=True)
class ParticipantReview:
    """One person's part of a review."""

    code: str
    role: str
    trace: ParticipantTrace
    phases: tuple[PhaseRow, ...]
    episodes: tuple[ActivationEpisode, ...]
    quality: SignalQuality


@dataclass(frozen=True, slots=True)
class SurrogateStat:
    """A synchrony statistic next to its surrogate comparison (from :mod:`hrv.synchrony`).

    Attributes
    ----------
    method : str
        Surrogate scheme (``"segment_shift"``, ``"window_shift"``, ...).
    statistic : str
        What ``observed`` is.
    observed : float
        The real pairing's value (Fisher z units).
    surrogate_mean, surrogate_sd : float
        Of the surrogate pairings.
    effect_size : float
        ``(observed - surrogate_mean) / surrogate_sd``.
    p_value : float
        One-sided: more synchrony than the surrogates.
    n_surrogates : int
    """

    method: str
    statistic: str
    observed: float
    surrogate_mean: float
    surrogate_sd: float
    effect_size: float
    p_value: float
    n_surrogates: int

    @property
    def p_at_floor(self) -> bool:
        """Whether ``p_value`` is the smallest the surrogates allow, ``1 / (n + 1)``."""
        return self.p_value <= 1.0 / (self.n_surrogates + 1) + 1e-12


@dataclass(frozen=True, slots=True)
class PhaseSynchrony:
    """Segment synchrony (SUSY) of one phase, always with its surrogate comparison.

    Attributes
    ----------
    phase_id, label : str
    n_segments : int
        Valid 30 s segment pairs.
    z : SurrogateStat or None
        Mean Fisher z over segments and lags against the pseudo pairs; None with ``note`` when
        the phase is too short or the signal too broken.
    patient_leads, therapist_leads : SurrogateStat or None
        The same over positive lags (the therapist follows) and negative lags only.
    note : str or None
    """

    phase_id: str
    label: str
    n_segments: int
    z: SurrogateStat | None
    patient_leads: SurrogateStat | None
    therapist_leads: SurrogateStat | None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class SynchronyReview:
    """Therapist-patient heart-rate synchrony of a session (:mod:`hrv.synchrony`).

    Attributes
    ----------
    patient, therapist : str
        Codes.
    smooth_s : float
        Moving average applied to the 4 Hz heart-rate grid, s.
    phases : tuple of PhaseSynchrony
    wlcc : SurrogateStat or None
        Whole-session windowed lagged cross-correlation (60 s windows, +/-5 s, 30 s steps):
        mean peak Fisher z against circular window shifts.
    wlcc_mean_peak_r : float or None
    wlcc_profile_lag_s : float or None
        Dominant lag, s (positive: the therapist follows the patient).
    leader : str or None
        ``"patient"``, ``"therapist"`` or ``"none"`` (also ``"none"`` when the dominant lag
        lies at the edge of the searched range: that is not a finding).
    whole : SurrogateStat or None
        The session's one synchrony number: SUSY mean Fisher z of the whole session against
        its pseudo pairings (the same number as the API and the alliance trend).
    n_segments : int
        Valid 30 s segments of the whole session.
    lag_at_edge : bool
        The dominant lag is at +/- the largest lag searched.
    lag_uncertainty_s : float or None
        How far the two people's beat times may be shifted against each other by their clocks,
        s: the sum of their clock uncertainties (0 for two local straps; None when a remote
        device's is unknown). The lag is ``wlcc_profile_lag_s +/- lag_uncertainty_s``.
    lag_within_uncertainty : bool
        ``|lag| <= lag_uncertainty_s``: who follows whom cannot be told (``leader`` is then
        ``"none"``).
    clock_note : str
        How the uncertainty was obtained.
    """

    patient: str
    therapist: str
    smooth_s: float
    phases: tuple[PhaseSynchrony, ...]
    wlcc: SurrogateStat | None
    wlcc_mean_peak_r: float | None
    wlcc_profile_lag_s: float | None
    leader: str | None
    whole: SurrogateStat | None = None
    n_segments: int = 0
    lag_at_edge: bool = False
    lag_uncertainty_s: float | None = 0.0
    lag_within_uncertainty: bool = False
    clock_note: str = ""


@dataclass(frozen=True, slots=True)
class SessionReview:
    """The review of one session: what :mod:`dashboard.report` renders.

    ``synchrony`` is None when it cannot or may not be computed; ``synchrony_note`` then says
    why (the report omits the section with that note; see :func:`synchrony_section`).
    """

    session_id: int
    label: str | None
    started_at_s: float | None
    duration_s: float
    phases: tuple[PhaseSpan, ...]
    markers: tuple[MarkerPoint, ...]
    cues: tuple[CuePoint, ...]
    participants: tuple[ParticipantReview, ...]
    co_activation: tuple[CoActivation, ...]
    breathing: tuple[BreathingResponse, ...]
    usual_band: tuple[float, float]
    synchrony: SynchronyReview | None = None
    synchrony_note: str = ""
    notes: tuple[str, ...] = ()
