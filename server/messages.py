"""The messages of the live WebSocket ``GET /ws/sessions/{id}``: one pydantic model per ``type``.

Every message is a JSON object with a ``type`` field naming its model below; a client parses any
message with :data:`MESSAGE_ADAPTER` (a discriminated union). Units follow the project's one
convention: times are float seconds on the **session clock** (Unix epoch seconds for a real-time
session; for a simulated or replayed session run at ``speed`` N, the session clock starts at the
host time of the start and runs N times faster, so a whole session can be watched in minutes),
RR in milliseconds, heart rate in beats per minute, breathing in breaths per minute. A number the
engine could not compute (too few beats, calibrating) is ``null``, never a guess.

Order on a connection: first one ``history`` (the recent past, from memory), then live messages.
``beats`` messages are batched to at most ``ServerSettings.max_ws_messages_per_s`` (default 4) per
session and second on average (a token bucket of capacity 2: a batch is sent at once while the
rate stays below the cap; beyond it, what arrives is sent together, evenly spaced at 1/rate s; at
most ``2 + rate * T`` messages in any T seconds): each carries, per participant, the arrays of
every beat classified since the previous one. A slow client may
receive fewer, larger ``beats`` messages (coalesced), and after a long
stall the oldest beats may be left out of one (``dropped_beats`` says how many; the REST endpoint
``/api/sessions/{id}/beats`` has them all). Control messages (``session``, ``phase``, ``cue``,
``cue_resolved``, ``marker``, ``device``, ``visibility``, ``coherence``, ``synchrony``) are never
dropped.

Privacy: nothing about a participant is sent without an active ``live_display`` consent; while a
participant is hidden (consent revoked, privacy pause) none of their beats or device messages are
sent and a ``visibility`` message says so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

if TYPE_CHECKING:
    from server.storage import Marker

__all__ = [
    "MESSAGE_ADAPTER",
    "MESSAGE_TYPES",
    "ArousalStateName",
    "BeatsMessage",
    "CoherenceMessage",
    "CueMessage",
    "CueResolvedMessage",
    "DeviceMessage",
    "HistoryMessage",
    "MarkerMessage",
    "Message",
    "ParticipantBeats",
    "ParticipantInfo",
    "PhaseMessage",
    "PhaseScheduleEntry",
    "SessionMessage",
    "SynchronyMessage",
    "VisibilityMessage",
    "parse_message",
]

ArousalStateName = Literal["calibrating", "uncertain", "above", "within", "below"]


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ParticipantInfo(_Message):
    """Who is in the session (pseudonymous code only).

    Attributes
    ----------
    participant_id : int
        Store id of the participant.
    code : str
        Pseudonymous code.
    role : {"patient", "therapist"}
    visible : bool
        Whether the participant is shown now (``live_display`` consent and no privacy pause).
    paused : bool
        A privacy pause is on (it can be resumed from the page).
    consents : list of str
        The purposes this person consented to for this session (``live_display``, ``storage``,
        ``synchrony``, ...): what is not listed does not happen, and cannot be switched on from
        the live page.
    """

    participant_id: int
    code: str
    role: Literal["patient", "therapist"]
    visible: bool = True
    paused: bool = False
    consents: list[str] | None = None


class ParticipantBeats(_Message):
    """The per-beat updates of one participant, as parallel arrays (one entry per beat).

    Attributes
    ----------
    participant_id : int
    code : str
    role : {"patient", "therapist"}
    time_s : list of float
        Beat time (end of the RR interval), s on the session clock.
    rr_ms : list of float
        RR interval as received, ms.
    hr_bpm : list of float
        Instantaneous heart rate of the (artifact-corrected) interval, bpm.
    mean_hr_bpm : list of float or None
        Mean heart rate over the trailing 10 s, bpm.
    rmssd_ms : list of float or None
        RMSSD over the trailing 60 s, ms.
    arousal_index : list of float or None
        Arousal index against the participant's own resting baseline (baseline SD units; 0 = the
        resting average); null while calibrating.
    arousal_state : list of str
        ``calibrating``, ``uncertain``, ``above``, ``within`` or ``below`` (usual activation).
    confidence : list of float
        Confidence of the arousal reading, 0-1.
    quality : list of float
        Signal quality over the trailing 60 s, 0-1.
    artifact : list of bool
        The beat was classified as an artifact (its metrics use a corrected RR).
    baseline_progress : float
        Progress of the resting baseline at the last beat, 0-1 (1 once ready).
    received_at_s : float or None
        Host time (Unix epoch s, the server's clock) when the newest source batch of this
        participant that was computed before this message reached the hub (for latency
        measurements: compare with the time the message is received).
    """

    participant_id: int
    code: str
    role: Literal["patient", "therapist"]
    time_s: list[float]
    rr_ms: list[float]
    hr_bpm: list[float]
    mean_hr_bpm: list[float | None]
    rmssd_ms: list[float | None]
    arousal_index: list[float | None]
    arousal_state: list[ArousalStateName]
    confidence: list[float]
    quality: list[float]
    artifact: list[bool]
    baseline_progress: float = 0.0
    received_at_s: float | None = None


class BeatsMessage(_Message):
    """Per-beat updates since the previous ``beats`` message (at most ~4 per second).

    Attributes
    ----------
    session_id : int
    sent_at_s : float
        Host time (Unix epoch s) when the message was assembled.
    participants : list of ParticipantBeats
        Only participants with beats in this batch who are visible.
    dropped_beats : int
        Beats left out of this message for a client that fell far behind (0 normally).
    """

    type: Literal["beats"] = "beats"
    session_id: int
    sent_at_s: float
    participants: list[ParticipantBeats]
    dropped_beats: int = 0


class SessionMessage(_Message):
    """The session's life cycle: sent when it starts or stops, and inside ``history``.

    Attributes
    ----------
    session_id : int
    status : {"planned", "live", "stopped", "interrupted"}
    time_s : float or None
        Session-clock time of the change, s.
    started_at_s : float or None
        Session-clock time of the start, s.
    speed : float
        How many times faster than real time the session clock runs (1 for straps).
    reason : str or None
        Why it stopped: ``"requested"``, ``"source_ended"``, ``"source_error"``, ``"shutdown"``.
    participants : list of ParticipantInfo
    """

    type: Literal["session"] = "session"
    session_id: int
    status: Literal["planned", "live", "stopped", "interrupted"]
    time_s: float | None = None
    started_at_s: float | None = None
    speed: float = 1.0
    reason: str | None = None
    participants: list[ParticipantInfo] = Field(default_factory=list)


class PhaseScheduleEntry(_Message):
    """One phase on the ribbon (session-clock seconds; ``actual_*`` null until it happened)."""

    phase_id: str
    label: str
    planned_start_s: float
    planned_end_s: float
    actual_start_s: float | None
    actual_end_s: float | None
    projected_start_s: float
    projected_end_s: float
    extended_by_s: float


class PhaseMessage(_Message):
    """The session entered a phase, or the current phase was extended.

    Attributes
    ----------
    time_s : float
        When, s (session clock).
    phase_id, label : str
        Phase now running.
    index : int
        Its position in the template.
    previous_id : str or None
    reason : {"start", "clock", "advance", "extend"}
    started_s : float
        When the current phase started, s.
    planned_end_s : float
        When it is now due to end, s.
    extended_by_s : float
        Time added by this extension, s (0 otherwise).
    schedule : list of PhaseScheduleEntry
        Planned, actual and projected times of every phase.
    """

    type: Literal["phase"] = "phase"
    session_id: int
    time_s: float
    phase_id: str
    label: str
    index: int
    previous_id: str | None
    reason: Literal["start", "clock", "advance", "extend"]
    started_s: float
    planned_end_s: float
    extended_by_s: float = 0.0
    schedule: list[PhaseScheduleEntry] = Field(default_factory=list)


class CueMessage(_Message):
    """A quiet suggestion for the therapist (at most one showing at a time).

    Attributes
    ----------
    cue_id : int
        Store id: answer with the cue-response endpoint of the API.
    rule_id : str
    time_s : float
        When it was shown, s.
    phase_id : str or None
    text : str
        The suggestion.
    reason : str
        Why, with the values (shown on hover).
    values : dict of str to float
        The numbers behind the reason.
    pacer_breaths_per_min : float or None
        Pace of a breathing pacer offered with the cue, breaths/min.
    """

    type: Literal["cue"] = "cue"
    session_id: int
    cue_id: int
    rule_id: str
    time_s: float
    phase_id: str | None
    text: str
    reason: str
    values: dict[str, float] = Field(default_factory=dict)
    pacer_breaths_per_min: float | None = None


class CueResolvedMessage(_Message):
    """A cue was acknowledged, dismissed or expired unanswered (times in s)."""

    type: Literal["cue_resolved"] = "cue_resolved"
    session_id: int
    cue_id: int
    rule_id: str
    time_s: float
    resolution: Literal["acknowledged", "dismissed", "expired"]
    shown_s: float


class MarkerMessage(_Message):
    """A marker the therapist recorded (rupture, repair, silence, ..., note).

    ``marker_type`` is the marker's type (``type`` names the message). The hub itself records
    ``privacy_pause`` and ``privacy_resume`` markers.
    """

    type: Literal["marker"] = "marker"
    session_id: int
    marker_id: int
    time_s: float
    marker_type: str
    note: str | None = None
    participant_id: int | None = None
    actor: str | None = None
    retracted: bool = Field(
        default=False,
        description="The marker was undone or retracted (sent again with true; still stored).",
    )

    @classmethod
    def of(cls, session_id: int, marker: Marker) -> MarkerMessage:
        """The message of a stored :class:`server.storage.Marker`."""
        return cls(
            session_id=session_id,
            marker_id=marker.id,
            time_s=marker.time_s,
            marker_type=marker.type,
            note=marker.note,
            participant_id=marker.participant_id,
            actor=marker.actor,
            retracted=marker.retracted,
        )


class DeviceMessage(_Message):
    """Something happened to a participant's strap, and its status after it.

    Attributes
    ----------
    participant_id : int
    device : str
        Device identifier (BLE address, ``simulator:<seed>:<role>``, ``file:<name>``).
    kind : str
        ``connecting``, ``connected``, ``disconnected``, ``reconnecting``, ``gave_up``,
        ``battery``, ``contact``, ``malformed_packet``, ``info``.
    time_s : float
        When, s.
    value : float or None
        Battery percent for ``battery``; attempt number, RSSI, ... as the kind says.
    connected : bool or None
        Link status after the event (null until known).
    battery_percent : float or None
        Latest battery level, %.
    contact : bool or None
        Latest sensor-contact status (null if the strap does not report it).
    detail : dict of str to str
    """

    type: Literal["device"] = "device"
    session_id: int
    participant_id: int
    device: str
    kind: str
    time_s: float
    value: float | None = None
    connected: bool | None = None
    battery_percent: float | None = None
    contact: bool | None = None
    detail: dict[str, str] = Field(default_factory=dict)


class CoherenceMessage(_Message):
    """Paced-breathing coherence of one participant, every 5 s of session time while on.

    On in the ``rehearsal`` phase and while a pacer is shown.

    Attributes
    ----------
    time_s : float
        Beat time of the estimate, s.
    coherence_ratio : float or None
        McCraty et al.'s (2009) coherence ratio over the last 64 s, dimensionless: power within
        +-0.015 Hz of the highest 0.04-0.26 Hz peak over the rest of the 0.0033-0.4 Hz power
        (:func:`hrv.coherence.coherence_ratio`; about 9 for a pure sinusoid, well below 1 for
        spontaneous breathing); null when the window is not covered yet.
    breathing_rate_bpm : float or None
        Breathing-rate estimate from the RR spectrum, breaths/min; null when its confidence is
        low (:data:`hrv.coherence.BREATHING_MIN_CONFIDENCE`), so that no guess is shown.
    """

    type: Literal["coherence"] = "coherence"
    session_id: int
    participant_id: int
    time_s: float
    coherence_ratio: float | None
    breathing_rate_bpm: float | None


class SynchronyMessage(_Message):
    """Therapist-patient heart-rate co-regulation over the last minutes, therapist-only.

    The report's definition (:func:`hrv.coregulation.coregulation`: windowed lagged
    cross-correlation of the heart rates, 60 s windows, lags up to +-5 s, with window-shift
    surrogates) over the last ``window_s`` seconds, every 5 s of session time. Sent only while
    both participants consent to ``synchrony`` and both are visible; ``status`` ``"hidden"``
    (null values) when one of them is hidden, ``"collecting"`` until the span holds enough
    windows.

    Attributes
    ----------
    time_s : float
        End of the span, s.
    window_s : float
        Length of the span read, s.
    correlation : float or None
        Mean peak correlation of the windows, -1..1.
    lag_s : float or None
        Lag of the peak of the mean Fisher z by lag, s; positive when the therapist's HR follows.
    correlation_low, correlation_high : float or None
        95 % interval of ``correlation``.
    chance_correlation : float or None
        The same statistic for time-shifted (unrelated) pairings of the two people.
    above_chance : bool or None
        The reading exceeds every surrogate.
    lead : {"patient", "therapist", "none"} or None
        Who leads, only when the lead is stable; ``"none"``: no clear lead.
    lag_at_edge : bool or None
        The lag sits at +-``max_lag_s``: the true lag may lie outside the search.
    """

    type: Literal["synchrony"] = "synchrony"
    session_id: int
    patient_id: int
    therapist_id: int
    time_s: float
    window_s: float
    correlation: float | None
    lag_s: float | None
    status: Literal["ok", "collecting", "hidden"] = "ok"
    correlation_low: float | None = None
    correlation_high: float | None = None
    n_windows: int | None = None
    chance_correlation: float | None = None
    above_chance: bool | None = None
    p_value: float | None = None
    n_surrogates: int | None = None
    lag_at_edge: bool | None = None
    lead: Literal["patient", "therapist", "none"] | None = None
    max_lag_s: float | None = None
    wlcc_window_s: float | None = None
    wlcc_step_s: float | None = None


class VisibilityMessage(_Message):
    """A participant is hidden or shown again; while hidden nothing about them is sent.

    Attributes
    ----------
    reason : {"privacy_pause", "privacy_resume", "consent_revoked", "consent_granted"}
    """

    type: Literal["visibility"] = "visibility"
    session_id: int
    participant_id: int
    visible: bool
    reason: Literal["privacy_pause", "privacy_resume", "consent_revoked", "consent_granted"]
    time_s: float


class HistoryMessage(_Message):
    """The first message of every connection: the recent past, kept in memory.

    Attributes
    ----------
    now_s : float
        Session-clock time when the history was taken, s.
    history_s : float
        How far back ``beats`` goes, s of session time.
    session : SessionMessage
        Status and participants (with their visibility).
    beats : list of ParticipantBeats
        Every visible participant's beats of the last ``history_s``.
    phase : PhaseMessage or None
        The current phase with the schedule.
    cue : CueMessage or None
        The cue showing now.
    markers, devices, coherence, synchrony : lists
        Markers of the window, the latest device status per participant, the recent coherence
        and synchrony values.
    """

    type: Literal["history"] = "history"
    session_id: int
    now_s: float
    history_s: float
    session: SessionMessage
    beats: list[ParticipantBeats] = Field(default_factory=list)
    phase: PhaseMessage | None = None
    cue: CueMessage | None = None
    markers: list[MarkerMessage] = Field(default_factory=list)
    devices: list[DeviceMessage] = Field(default_factory=list)
    coherence: list[CoherenceMessage] = Field(default_factory=list)
    synchrony: list[SynchronyMessage] = Field(default_factory=list)


Message = Annotated[
    HistoryMessage
    | BeatsMessage
    | SessionMessage
    | PhaseMessage
    | CueMessage
    | CueResolvedMessage
    | MarkerMessage
    | DeviceMessage
    | CoherenceMessage
    | SynchronyMessage
    | VisibilityMessage,
    Field(discriminator="type"),
]

#: Parses any message (``MESSAGE_ADAPTER.validate_json(text)``).
MESSAGE_ADAPTER: Final[TypeAdapter[Any]] = TypeAdapter(Message)

#: Every ``type`` value.
MESSAGE_TYPES: Final[tuple[str, ...]] = (
    "history",
    "beats",
    "session",
    "phase",
    "cue",
    "cue_resolved",
    "marker",
    "device",
    "coherence",
    "synchrony",
    "visibility",
)


def parse_message(text: str | bytes) -> Any:
    """Parse one WebSocket message into its model.

    Raises
    ------
    pydantic.ValidationError
        If the text is not a message of a known ``type``.

    Examples
    --------
    >>> m = parse_message('{"type": "session", "session_id": 1, "status": "live"}')
    >>> type(m).__name__, m.status
    ('SessionMessage', 'live')
    """
    return MESSAGE_ADAPTER.validate_json(text)
