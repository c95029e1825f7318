"""Lossless storage of sessions, consents and beats (SQLAlchemy Core; SQLite or PostgreSQL).

* :mod:`~server.storage.schema`: the tables; :mod:`~server.storage.migrate`: Alembic migrations
  shipped in the package (:func:`upgrade_to_head` runs them).
* :mod:`~server.storage.settings`: where the database is (``SINTONIA_DATA_DIR``,
  ``SINTONIA_DATABASE_URL``) and how SQLite is opened (WAL, foreign keys, busy timeout).
* :class:`Store`: typed methods, one transaction each.
* :class:`BeatWriter`: the live path's durable group-committing writer.
"""

from __future__ import annotations

from server.storage.errors import (
    DuplicateRecordError,
    InvalidRecordError,
    RecordNotFoundError,
    StateConflictError,
    StorageError,
)
from server.storage.migrate import current_revision, head_revision, upgrade_to_head
from server.storage.records import (
    AllianceScore,
    AuditEntry,
    BeatCursor,
    BeatPage,
    Clinician,
    Consent,
    ConsentPurpose,
    Cue,
    CueResponse,
    DeviceEventRecord,
    ErasureReport,
    Instrument,
    Marker,
    OnRevoke,
    Participant,
    PhaseAction,
    PhaseEvent,
    Revocation,
    Role,
    Session,
    SessionParticipant,
    SessionStatus,
    SourceKind,
)
from server.storage.settings import StorageSettings, make_engine
from server.storage.store import AppendResult, DeviceAssignment, Store
from server.storage.writer import BeatWriter, WriterStats

__all__ = [
    "AllianceScore",
    "AppendResult",
    "AuditEntry",
    "BeatCursor",
    "BeatPage",
    "BeatWriter",
    "Clinician",
    "Consent",
    "ConsentPurpose",
    "Cue",
    "CueResponse",
    "DeviceAssignment",
    "DeviceEventRecord",
    "DuplicateRecordError",
    "ErasureReport",
    "Instrument",
    "InvalidRecordError",
    "Marker",
    "OnRevoke",
    "Participant",
    "PhaseAction",
    "PhaseEvent",
    "RecordNotFoundError",
    "Revocation",
    "Role",
    "Session",
    "SessionParticipant",
    "SessionStatus",
    "SourceKind",
    "StateConflictError",
    "StorageError",
    "StorageSettings",
    "Store",
    "WriterStats",
    "current_revision",
    "head_revision",
    "make_engine",
    "upgrade_to_head",
]
