"""The typed values that the store returns and accepts.

Every time is a float64 in seconds (Unix epoch for live sessions, the recording's own clock for
replayed files), every RR interval float64 milliseconds: the project's one internal unit. The
records are frozen dataclasses so that they can be handed across threads and into pydantic models
(``Model.model_validate(record, from_attributes=True)``) unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Literal, get_args

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "CONSENT_PURPOSES",
    "CONTACT_UNKNOWN",
    "CUE_RESPONSES",
    "INSTRUMENTS",
    "ON_REVOKE_ACTIONS",
    "PHASE_ACTIONS",
    "ROLES",
    "RR_RAW_MISSING",
    "SESSION_STATUSES",
    "SOURCE_KINDS",
    "AllianceScore",
    "AuditEntry",
    "BeatCursor",
    "BeatPage",
    "Clinician",
    "Consent",
    "ConsentPurpose",
    "Cue",
    "CueResponse",
    "DeviceEventRecord",
    "ErasureReport",
    "Instrument",
    "Marker",
    "OnRevoke",
    "Participant",
    "PhaseAction",
    "PhaseEvent",
    "Revocation",
    "Role",
    "Session",
    "SessionParticipant",
    "SessionStatus",
    "SourceKind",
]

Role = Literal["patient", "therapist"]
SessionStatus = Literal["planned", "live", "stopped", "interrupted"]
ConsentPurpose = Literal["live_display", "storage", "review", "research_export", "synchrony"]
OnRevoke = Literal["delete", "deidentify"]
CueResponse = Literal["acknowledged", "dismissed"]
Instrument = Literal["SRS", "WAI-SR"]
SourceKind = Literal["ble", "simulator", "file", "lsl", "remote"]
PhaseAction = Literal["enter", "extend", "end"]

ROLES: Final[tuple[str, ...]] = get_args(Role)
SESSION_STATUSES: Final[tuple[str, ...]] = get_args(SessionStatus)
CONSENT_PURPOSES: Final[tuple[str, ...]] = get_args(ConsentPurpose)
ON_REVOKE_ACTIONS: Final[tuple[str, ...]] = get_args(OnRevoke)
CUE_RESPONSES: Final[tuple[str, ...]] = get_args(CueResponse)
INSTRUMENTS: Final[tuple[str, ...]] = get_args(Instrument)
SOURCE_KINDS: Final[tuple[str, ...]] = get_args(SourceKind)
PHASE_ACTIONS: Final[tuple[str, ...]] = get_args(PhaseAction)

#: Value of :attr:`BeatPage.rr_raw` where the source gave no raw value (BLE raw RR is unsigned).
RR_RAW_MISSING: Final[int] = -1
#: Value of :attr:`BeatPage.contact` where the device does not report skin contact.
CONTACT_UNKNOWN: Final[int] = -1


@dataclass(frozen=True, slots=True)
class Clinician:
    """A clinician account (for clinic deployments; a laptop install may have none)."""

    id: int
    username: str
    password_hash: str | None
    created_at_s: float


@dataclass(frozen=True, slots=True)
class Participant:
    """A person who wears a strap, known only by a pseudonymous code.

    ``deidentified_at_s`` is set on the anonymous participant that receives de-identified data.
    """

    id: int
    code: str
    role: Role
    clinician_id: int | None
    created_at_s: float
    deidentified_at_s: float | None = None


@dataclass(frozen=True, slots=True)
class SessionParticipant:
    """Who takes part in a session and where that person's beats come from.

    ``address`` is the BLE address for ``"ble"``, the simulator's spec (e.g. a seed) for
    ``"simulator"``, the path for ``"file"``, the stream name for ``"lsl"``; None once
    de-identified.
    """

    session_id: int
    participant_id: int
    source_kind: SourceKind
    address: str | None
    assigned_at_s: float


@dataclass(frozen=True, slots=True)
class Session:
    """One therapy session with its phase template and life cycle times.

    ``simulated`` is true when any participant's beats came from the simulator (the demo); such
    sessions stay out of research outputs unless asked for.
    """

    id: int
    clinician_id: int | None
    label: str | None
    phase_template: Any
    status: SessionStatus
    created_at_s: float
    planned_start_s: float | None
    started_at_s: float | None
    stopped_at_s: float | None
    simulated: bool = False


@dataclass(frozen=True, slots=True)
class Consent:
    """A consent for one purpose; ``session_id`` None means it holds for every session."""

    id: int
    participant_id: int
    session_id: int | None
    purpose: ConsentPurpose
    version: str
    granted_at_s: float
    revoked_at_s: float | None
    on_revoke: OnRevoke
    recorded_by: str | None

    def active_at(self, t_s: float) -> bool:
        """Whether the consent holds at time ``t_s`` (granted at or before, not yet revoked)."""
        return self.granted_at_s <= t_s and (self.revoked_at_s is None or self.revoked_at_s > t_s)


@dataclass(frozen=True, slots=True)
class PhaseEvent:
    """A phase change: entering phase ``phase_index``, extending it by ``extend_s``, or the end."""

    id: int
    session_id: int
    time_s: float
    phase_index: int
    phase_name: str
    action: PhaseAction
    extend_s: float | None
    actor: str | None


@dataclass(frozen=True, slots=True)
class Marker:
    """An observation the therapist recorded (rupture, repair, silence, ...).

    A marker is never deleted by an undo or a correction: ``retracted_at_s``, ``retracted_by``
    and ``retraction_reason`` say when, by whom and why it was withdrawn; a correction is a new
    marker whose ``replaces_id`` names the retracted one.
    """

    id: int
    session_id: int
    participant_id: int | None
    time_s: float
    type: str
    note: str | None
    actor: str | None
    retracted_at_s: float | None = None
    retracted_by: str | None = None
    retraction_reason: str | None = None
    replaces_id: int | None = None

    @property
    def retracted(self) -> bool:
        """Whether the marker was undone or retracted (it stays stored, marked so)."""
        return self.retracted_at_s is not None


@dataclass(frozen=True, slots=True)
class Cue:
    """A cue shown to the therapist, why, and what the therapist did with it."""

    id: int
    session_id: int
    participant_id: int | None
    rule: str
    text: str
    reason: dict[str, Any]
    shown_at_s: float
    response: CueResponse | None
    responded_at_s: float | None


@dataclass(frozen=True, slots=True)
class DeviceEventRecord:
    """A stored :class:`sensor.types.DeviceEvent`."""

    id: int
    session_id: int
    participant_id: int | None
    device: str
    kind: str
    time_s: float
    value: float | None
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class AllianceScore:
    """One item score of an alliance instrument (never its wording, which is licensed)."""

    id: int
    session_id: int
    participant_id: int
    instrument: Instrument
    version: str
    item: int
    score: float
    recorded_at_s: float


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """Who did what to which object, and when."""

    id: int
    time_s: float
    actor: str
    action: str
    object_type: str
    object_id: str | None
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True, order=True)
class BeatCursor:
    """Where a page of beats ended: the sort key (beat time, participant, device, seq)."""

    beat_time_s: float
    participant_id: int
    device: str
    seq: int


@dataclass(frozen=True, eq=False, slots=True)
class BeatPage:
    """A page of stored beats in order of reconstructed beat time, as parallel arrays.

    Attributes
    ----------
    participant_id : numpy.ndarray of int64
    device : numpy.ndarray of str
    seq : numpy.ndarray of int64
        Sequence number of the beat within its device stream.
    rr_ms : numpy.ndarray of float64
        RR interval, ms.
    rr_raw : numpy.ndarray of int64
        RR exactly as received (1/1024 s for BLE), :data:`RR_RAW_MISSING` where not given.
    host_time_s : numpy.ndarray of float64
        Host receipt time of the notification that carried the beat, s.
    beat_time_s : numpy.ndarray of float64
        Reconstructed beat time, s.
    contact : numpy.ndarray of int8
        1 contact, 0 no contact, :data:`CONTACT_UNKNOWN` not reported.
    gap_before : numpy.ndarray of bool
        The beat times were re-anchored before this beat (first beat, dropout, reconnect).
    next_cursor : BeatCursor or None
        Pass as ``after=`` to get the next page; None when this page is the last.
    """

    participant_id: NDArray[np.int64]
    device: NDArray[np.str_]
    seq: NDArray[np.int64]
    rr_ms: NDArray[np.float64]
    rr_raw: NDArray[np.int64]
    host_time_s: NDArray[np.float64]
    beat_time_s: NDArray[np.float64]
    contact: NDArray[np.int8]
    gap_before: NDArray[np.bool_]
    next_cursor: BeatCursor | None

    def __len__(self) -> int:
        return int(self.seq.shape[0])


@dataclass(frozen=True, slots=True)
class ErasureReport:
    """What :meth:`server.storage.Store.erase_participant_data` did, in rows per table.

    For ``action="deidentify"`` the rows were moved to the anonymous participant
    ``anonymous_participant_id`` (device addresses replaced, notes removed) instead of deleted.
    """

    participant_id: int
    action: OnRevoke
    session_id: int | None
    rows: dict[str, int] = field(default_factory=dict)
    anonymous_participant_id: int | None = None

    @property
    def total(self) -> int:
        """Total number of rows deleted or de-identified."""
        return sum(self.rows.values())


@dataclass(frozen=True, slots=True)
class Revocation:
    """The consents that a revocation closed, and the erasure it caused (for ``storage``)."""

    revoked: tuple[Consent, ...]
    erasure: ErasureReport | None
