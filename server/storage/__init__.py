"""Lossless storage of sessions, consents and beats (SQLAlchemy Core; SQLite or PostgreSQL).

* :mod:`~server.storage.schema`: the tables; :mod:`~server.storage.migrate`: Alembic migrations
  shipped in the package (:func:`upgrade_to_head` runs them).
* :mod:`~server.storage.settings`: where the database is (``SINTONIA_DATA_DIR``,
  ``SINTONIA_DATABASE_URL``) and how SQLite is opened (WAL, foreign keys, busy timeout).
* :class:`Store` (:mod:`~server.storage.store`): typed methods, one transaction each, one
  module per concern: :mod:`~server.storage.people` (clinicians, participants),
  :mod:`~server.storage.sessions`, :mod:`~server.storage.consents` (with erasure),
  :mod:`~server.storage.beats` (beats and device events), :mod:`~server.storage.annotations`
  (phase events, markers, cues), :mod:`~server.storage.alliance`; :mod:`~server.storage.base`
  holds the engine, clock and transaction helpers they share.
* :class:`BeatWriter`: the live path's durable group-committing writer.

Why mixins and not composition: each concern's module defines a mixin class
(``PeopleMixin``, ``SessionsMixin``, ...) subclassing :class:`~server.storage.base.StoreBase`,
and :class:`Store` inherits them all. Callers keep one object with flat methods
(``store.grant_consent(...)``, as before the split) without a forwarding method per public method;
each mixin sees the shared helpers through its base class, so ``mypy --strict`` checks every call
without a ``Protocol`` for ``self``; and no mixin calls another's methods (an erasure runs inside
:mod:`~server.storage.consents`, the consent check of a write inside :mod:`~server.storage.beats`),
so each module reads on its own.
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
