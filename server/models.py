"""Pydantic models of the REST API: request bodies (strict) and responses.

Request bodies forbid unknown fields (``extra="forbid"``), so a typo is a 422 that names the
field, not a silently ignored value. Responses are built from the store's records
(``Model.model_validate(record)``, ``from_attributes``). Units follow the project: times are
float seconds (Unix epoch for live sessions), RR intervals float milliseconds; every field name
carries its unit (``_s``, ``_ms``, ``_bpm``).
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dashboard.phases import DEFAULT_FIRST_SESSION, PhaseError, PhaseTemplate
from hrv.errors import ParameterError
from server.storage import (
    ConsentPurpose,
    CueResponse,
    OnRevoke,
    Role,
    SessionStatus,
    SourceKind,
)

__all__ = [
    "MARKER_TYPES",
    "AuditEntryOut",
    "BeatsPageOut",
    "BleDevice",
    "ClinicianIn",
    "ClinicianOut",
    "ConsentIn",
    "ConsentOut",
    "CueOut",
    "CueResponseIn",
    "DerivedSeriesOut",
    "DeviceAssignmentOut",
    "DeviceIn",
    "ErasureOut",
    "ErrorOut",
    "FileDevice",
    "HealthOut",
    "LoginIn",
    "LoginOut",
    "LslDevice",
    "MarkerChangeOut",
    "MarkerCorrectIn",
    "MarkerIn",
    "MarkerOut",
    "MarkerRetractIn",
    "MarkerType",
    "PacerIn",
    "PacerOut",
    "ParticipantIn",
    "ParticipantOut",
    "PasswordChangeIn",
    "PhaseChangeOut",
    "PhaseEventOut",
    "PhaseExtendIn",
    "PhaseIn",
    "PhaseTemplateIn",
    "PrincipalOut",
    "PrivacyPauseIn",
    "PrivacyPauseOut",
    "RevocationOut",
    "RevokeIn",
    "SessionDetailOut",
    "SessionIn",
    "SessionListOut",
    "SessionOut",
    "SessionParticipantIn",
    "SimulatorDevice",
    "TimelineOut",
    "TimelineParticipantOut",
    "TokensRevokedOut",
    "device_address",
]

#: What a therapist can mark during a session. ``dissociation_observed`` records the therapist's
#: own observation and is stored as such; the software never infers it (Sack et al. 2012).
MarkerType = Literal[
    "rupture",
    "repair",
    "silence",
    "sudden_sleepiness",
    "looking_away",
    "dissociation_observed",
    "grounding_done",
    "breathing_exercise",
    "note",
]
MARKER_TYPES: Final[tuple[str, ...]] = get_args(MarkerType)

_CODE_PATTERN: Final[str] = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
_USERNAME_PATTERN: Final[str] = r"^[a-z0-9][a-z0-9._-]{0,63}$"
#: Longest extension of a phase in one request, s (one hour).
MAX_EXTEND_S: Final[float] = 3600.0

Code = Annotated[
    str,
    Field(
        pattern=_CODE_PATTERN,
        description="Pseudonymous code: letters, digits, '.', '_', '-'; 1-64 characters; "
        "never a name.",
        examples=["P-0042"],
    ),
]


#: Latest time accepted from a client, Unix s (the end of the year 9999).
_MAX_UNIX_TIME_S: Final[float] = 253_402_300_799.0


def _check_text(value: Any, where: str = "body") -> None:
    """Raise :class:`hrv.errors.ParameterError` (a ``ValueError``: pydantic answers 422) for a
    NUL character or an unpaired surrogate anywhere in ``value``."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ParameterError(f"{where}: text must not hold NUL characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ParameterError(
                f"{where}: text must be valid Unicode (an unpaired surrogate)"
            ) from None
    elif isinstance(value, dict):
        for k, v in value.items():
            _check_text(k, where)
            _check_text(v, f"{where}.{k}")
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _check_text(v, f"{where}[{i}]")


class _In(BaseModel):
    """Every request body: unknown fields, NaN and infinities, NUL characters and unpaired
    surrogates are refused (422), whatever the field (issue 12, finding 12)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _plain_text_only(cls, data: Any) -> Any:
        _check_text(data, cls.__name__)
        return data


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ErrorOut(BaseModel):
    """An error: ``detail`` says what was expected and what arrived."""

    detail: Any = Field(description="Message, or for 422 the list of validation errors.")


# ---------------------------------------------------------------------------- service, auth


class HealthOut(_Out):
    """Liveness of the server (no token needed)."""

    status: Literal["ok"] = "ok"
    version: str
    database: str = Field(description="'sqlite' or 'postgresql'.")
    database_ok: bool = Field(
        default=True, description="whether the last lease renewal reached the database"
    )
    broker: str = Field(default="local", description="'local' (one process) or 'redis'.")
    broker_ok: bool = Field(default=True, description="whether the broker answered a ping now")
    node: str = Field(default="", description="this server process's id in the cluster")
    leases_held: int = Field(default=0, description="live sessions this process runs")
    lease_ttl_s: float = Field(default=5.0, description="lease lifetime, s")


class LoginIn(_In):
    """A clinician's username and password."""

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class PasswordChangeIn(_In):
    """A clinician's current password and the new one (at least 8 characters)."""

    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=8, max_length=1024)


class TokensRevokedOut(_Out):
    """Login tokens of a clinician issued before ``revoked_at_s`` are refused from now on."""

    username: str
    revoked_at_s: float = Field(description="Unix time in seconds.")


class LoginOut(_Out):
    """A login token to send as ``Authorization: Bearer`` or ``?token=``."""

    token: str
    token_type: Literal["bearer"] = "bearer"
    expires_at_s: float = Field(description="Expiry, Unix time in seconds.")


class ClinicianIn(_In):
    """A new clinician account (admin only)."""

    username: str = Field(pattern=_USERNAME_PATTERN, examples=["ana.silva"])
    password: str = Field(min_length=8, max_length=1024)


class ClinicianOut(_Out):
    """A clinician account (never the password hash)."""

    id: int
    username: str
    created_at_s: float


class PrincipalOut(_Out):
    """Who the caller is."""

    kind: Literal["admin", "clinician"]
    clinician_id: int | None
    username: str | None


class AuditEntryOut(_Out):
    """An audit-log entry: who did what to which object, and when."""

    id: int
    time_s: float
    actor: str
    action: str
    object_type: str
    object_id: str | None
    detail: dict[str, Any]


# ---------------------------------------------------------------------------- participants


class ParticipantIn(_In):
    """A participant known only by a pseudonymous code."""

    code: Code
    role: Role


class ParticipantOut(_Out):
    """A participant."""

    id: int
    code: str
    role: Role
    clinician_id: int | None
    created_at_s: float


class ErasureOut(_Out):
    """What a deletion or de-identification did, in rows per table."""

    participant_id: int
    action: OnRevoke
    session_id: int | None
    rows: dict[str, int]
    anonymous_participant_id: int | None
    total: int


# ---------------------------------------------------------------------------- consents


class ConsentIn(_In):
    """Grant a consent for one purpose, versioned; for one session or (no session) for all."""

    purpose: ConsentPurpose
    version: str = Field(min_length=1, max_length=32, description="Version of the consent text.")
    session_id: int | None = Field(default=None, description="Only this session; all if null.")
    on_revoke: OnRevoke = Field(
        default="delete",
        description="What revoking a 'storage' consent does to the stored data.",
    )


class ConsentOut(_Out):
    """A consent record (kept after revocation: it proves what was agreed)."""

    id: int
    participant_id: int
    session_id: int | None
    purpose: ConsentPurpose
    version: str
    granted_at_s: float
    revoked_at_s: float | None
    on_revoke: OnRevoke
    recorded_by: str | None


class RevokeIn(_In):
    """Revoke a participant's active consents for one purpose."""

    purpose: ConsentPurpose
    session_id: int | None = Field(
        default=None,
        description="Also revoke this session's consent (global consents are always revoked).",
    )


class RevocationOut(_Out):
    """What a revocation did."""

    revoked: list[ConsentOut] = Field(description="The consents closed (empty if none was active).")
    erasure: ErasureOut | None = Field(description="For 'storage': the data deleted/de-identified.")
    effects: list[str] = Field(description="What was done, in words.")


# ---------------------------------------------------------------------------- devices, sessions


class BleDevice(_In):
    """A Bluetooth heart-rate strap, by address (MAC or macOS UUID) or advertised name."""

    kind: Literal["ble"]
    address: str = Field(min_length=1, max_length=200, examples=["C4:7C:8D:6A:12:34"])


class SimulatorDevice(_In):
    """The physiological simulator (both roles of a session share one simulator)."""

    kind: Literal["simulator"]
    seed: int | None = Field(
        default=None,
        ge=0,
        le=2**31 - 1,
        description="Random seed of the simulator; default the session id.",
    )


class FileDevice(_In):
    """A recorded beats file replayed as if live."""

    kind: Literal["file"]
    path: str = Field(min_length=1, max_length=1000)


class LslDevice(_In):
    """A Lab Streaming Layer stream of RR intervals, by name."""

    kind: Literal["lsl"]
    stream: str = Field(min_length=1, max_length=200)


DeviceIn = Annotated[
    BleDevice | SimulatorDevice | FileDevice | LslDevice, Field(discriminator="kind")
]


def device_address(device: BleDevice | SimulatorDevice | FileDevice | LslDevice) -> str | None:
    """The ``address`` column stored for a device assignment.

    BLE: the address or name; simulator: the seed as a decimal string (None: no seed given);
    file: the path; LSL: the stream name (:func:`server.live.default_source_factory` reads
    them back).

    Examples
    --------
    >>> device_address(SimulatorDevice(kind="simulator", seed=7))
    '7'
    """
    if isinstance(device, BleDevice):
        return device.address
    if isinstance(device, SimulatorDevice):
        return None if device.seed is None else str(device.seed)
    if isinstance(device, FileDevice):
        return device.path
    return device.stream


class SessionParticipantIn(_In):
    """A participant of a new session and where their beats come from."""

    participant_id: int
    device: DeviceIn


class PhaseIn(_In):
    """One phase of a template, as a therapist edits it (minutes)."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$", examples=["map"])
    label: str = Field(min_length=1, max_length=100)
    minutes: float = Field(gt=0, le=600)


class PhaseTemplateIn(_In):
    """A session's phases (``dashboard.phases.PhaseTemplate.to_dict`` shape)."""

    name: str = Field(min_length=1, max_length=100)
    phases: list[PhaseIn] = Field(min_length=1, max_length=50)

    @model_validator(mode="after")
    def _valid_template(self) -> PhaseTemplateIn:
        try:
            self.to_template()
        except PhaseError as exc:
            raise ValueError(str(exc)) from exc
        return self

    def to_template(self) -> PhaseTemplate:
        """The :class:`~dashboard.phases.PhaseTemplate` (raises PhaseError if invalid)."""
        return PhaseTemplate.from_dict(self.model_dump())


class SessionIn(_In):
    """Plan a session: a phase template (default: the 60-minute first session) and participants."""

    label: str | None = Field(default=None, max_length=200)
    template: PhaseTemplateIn | None = Field(
        default=None,
        description=f"Phases; default {DEFAULT_FIRST_SESSION.name!r}.",
    )
    participants: list[SessionParticipantIn] = Field(default_factory=list, max_length=8)
    planned_start_s: float | None = Field(
        default=None,
        ge=0.0,
        le=_MAX_UNIX_TIME_S,
        description="Planned start, Unix time in seconds.",
    )
    clinician_id: int | None = Field(
        default=None,
        description="Owner (admin token only; a clinician's sessions are always their own).",
    )

    @model_validator(mode="after")
    def _distinct_participants(self) -> SessionIn:
        ids = [p.participant_id for p in self.participants]
        if len(set(ids)) != len(ids):
            raise ValueError(f"each participant may appear once, got participant ids {ids}")
        return self


class DeviceAssignmentOut(_Out):
    """A participant of a session and their device."""

    participant_id: int
    code: str
    role: Role
    source_kind: SourceKind
    address: str | None
    assigned_at_s: float


class SessionOut(_Out):
    """A session."""

    id: int
    clinician_id: int | None
    label: str | None
    phase_template: Any = Field(description="The template, as PhaseTemplateIn.")
    status: SessionStatus
    created_at_s: float
    planned_start_s: float | None
    started_at_s: float | None
    stopped_at_s: float | None


class SessionDetailOut(SessionOut):
    """A session with its participants and whether the live hub runs it."""

    participants: list[DeviceAssignmentOut]
    live: bool


class SessionListOut(_Out):
    """A page of sessions, newest first."""

    sessions: list[SessionOut]
    limit: int
    offset: int


# ---------------------------------------------------------------------------- live control


class PhaseExtendIn(_In):
    """Give the current phase more time."""

    by_s: float = Field(gt=0, le=MAX_EXTEND_S, description="Seconds to add.")


class PhaseChangeOut(BaseModel):
    """The phase change the live hub made (``dashboard.events.PhaseChange`` fields)."""

    model_config = ConfigDict(extra="allow")

    session_id: int


class MarkerIn(_In):
    """An observation; ``note`` is required for type 'note'."""

    type: MarkerType
    note: str | None = Field(default=None, max_length=2000)
    participant_id: int | None = Field(default=None, description="Whom it is about, if anyone.")

    @model_validator(mode="after")
    def _note_needs_text(self) -> MarkerIn:
        if self.type == "note" and not self.note:
            raise ValueError("a marker of type 'note' needs a non-empty 'note' text")
        return self


class MarkerOut(_Out):
    """A stored marker; an undone, retracted or corrected one stays, with ``retracted`` true."""

    id: int
    session_id: int
    participant_id: int | None
    time_s: float
    type: str
    note: str | None
    actor: str | None
    retracted: bool = False
    retracted_at_s: float | None = None
    retracted_by: str | None = None
    retraction_reason: str | None = None
    replaces_id: int | None = Field(
        default=None, description="The retracted marker this one corrects, if any."
    )


class MarkerRetractIn(_In):
    """Why a marker is withdrawn (kept in the audit log with the marker)."""

    reason: str = Field(min_length=1, max_length=2000)


class MarkerCorrectIn(_In):
    """The corrected marker: it replaces the original at the original's time."""

    type: MarkerType
    note: str | None = Field(default=None, max_length=2000)
    reason: str = Field(min_length=1, max_length=2000)

    @model_validator(mode="after")
    def _note_needs_text(self) -> MarkerCorrectIn:
        if self.type == "note" and not self.note:
            raise ValueError("a marker of type 'note' needs a non-empty 'note' text")
        return self


class MarkerChangeOut(_Out):
    """The outcome of an undo, retraction or correction."""

    retracted: MarkerOut
    correction: MarkerOut | None = None


class CueResponseIn(_In):
    """The therapist's answer to a cue."""

    response: CueResponse


class CueOut(_Out):
    """A cue, why it was shown and the therapist's response."""

    id: int
    session_id: int
    participant_id: int | None
    rule: str
    text: str
    reason: dict[str, Any]
    shown_at_s: float
    response: CueResponse | None
    responded_at_s: float | None


class PrivacyPauseIn(_In):
    """Hide and stop a participant's stream (or resume it)."""

    participant_id: int
    paused: bool = True


class PrivacyPauseOut(_Out):
    """The privacy pause now in force."""

    session_id: int
    participant_id: int
    paused: bool


class PacerIn(_In):
    """Show or hide the breathing pacer."""

    on: bool


class PacerOut(_Out):
    """The pacer state now in force."""

    session_id: int
    on: bool


class PhaseEventOut(_Out):
    """A stored phase event."""

    id: int
    time_s: float
    phase_index: int
    phase_name: str
    action: Literal["enter", "extend", "end"]
    extend_s: float | None
    actor: str | None


# ---------------------------------------------------------------------------- beats, timeline


class BeatsPageOut(_Out):
    """A page of stored beats as parallel arrays, in order of beat time.

    ``rr_raw`` is null where the source gave no raw value; ``contact`` is null where the strap does
    not report skin contact.
    """

    session_id: int
    n: int
    participant_code: list[str]
    device: list[str]
    seq: list[int]
    rr_ms: list[float]
    rr_raw: list[int | None]
    host_time_s: list[float]
    beat_time_s: list[float]
    contact: list[bool | None]
    gap_before: list[bool]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null at end.")


class DerivedSeriesOut(_Out):
    """Metrics recomputed from the stored beats (artifact-corrected), one value per beat.

    ``valid`` is False where the trailing window held too few beats (metrics are null there).
    """

    time_s: list[float]
    rr_ms: list[float] = Field(description="Corrected RR, ms.")
    hr_bpm: list[float | None] = Field(description="Trailing-window mean heart rate, bpm.")
    rmssd_ms: list[float | None]
    sdnn_ms: list[float | None]
    artifact_fraction: list[float]
    valid: list[bool]


class TimelineParticipantOut(_Out):
    """One participant's beats and derived series within the page."""

    participant_id: int
    code: str
    role: Role
    beat_time_s: list[float]
    rr_ms: list[float]
    artifact: list[bool] = Field(description="Beat classified as an artifact (Lipponen 2019).")
    derived: DerivedSeriesOut


class TimelineOut(_Out):
    """A time page ``[start_s, end_s)`` of a session: beats, derived series and events."""

    session_id: int
    start_s: float
    end_s: float
    window_s: float
    participants: list[TimelineParticipantOut]
    phase_events: list[PhaseEventOut]
    markers: list[MarkerOut]
    cues: list[CueOut]
    next_start_s: float | None = Field(
        description="Pass as ?start_s= for the next page; null when no later beat is stored."
    )
