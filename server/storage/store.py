"""The one gateway to the database: :class:`Store`, typed methods, each one transaction.

:class:`Store` wraps a SQLAlchemy :class:`~sqlalchemy.engine.Engine` (SQLite or PostgreSQL, see
:mod:`server.storage.settings`). Every public method runs in its own transaction: it either
completes or leaves nothing behind (an exception rolls everything back). Methods are synchronous
and thread-safe (each call takes its own pooled connection); from asyncio, call them through
``asyncio.to_thread`` or a FastAPI ``def`` endpoint. Live beats go through
:class:`server.storage.writer.BeatWriter`, which calls :meth:`Store.append_beat_batches`.

This module holds the life cycle (:meth:`Store.open`, :meth:`Store.close`), the audit log's
public methods and the composition; the methods of each concern are in their own module, mixed
into :class:`Store`:

* :mod:`~server.storage.people`: clinicians and participants;
* :mod:`~server.storage.sessions`: sessions, their participants and devices, their life cycle;
* :mod:`~server.storage.consents`: consents, revocation and erasure;
* :mod:`~server.storage.beats`: beats and device events (where consent is enforced);
* :mod:`~server.storage.annotations`: phase events, markers and cues;
* :mod:`~server.storage.alliance`: alliance questionnaire scores;
* :mod:`~server.storage.base`: the engine, clock and transaction helpers they share.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from server.storage import schema as t
from server.storage.alliance import ALLIANCE_ITEM_RANGES, AllianceMixin
from server.storage.annotations import AnnotationsMixin
from server.storage.beats import (
    DEFAULT_BEAT_PAGE_SIZE,
    MAX_BEAT_PAGE_SIZE,
    AppendResult,
    BeatsMixin,
)
from server.storage.consents import ConsentsMixin
from server.storage.migrate import upgrade_to_head
from server.storage.people import PeopleMixin
from server.storage.records import AuditEntry
from server.storage.sessions import DeviceAssignment, SessionsMixin
from server.storage.settings import StorageSettings, make_engine

__all__ = [
    "ALLIANCE_ITEM_RANGES",
    "DEFAULT_BEAT_PAGE_SIZE",
    "MAX_BEAT_PAGE_SIZE",
    "AppendResult",
    "DeviceAssignment",
    "Store",
]


class Store(PeopleMixin, SessionsMixin, ConsentsMixin, BeatsMixin, AnnotationsMixin, AllianceMixin):
    """Typed access to the Sintonia database.

    Parameters
    ----------
    engine : sqlalchemy.engine.Engine
        From :func:`server.storage.settings.make_engine` (it sets up SQLite's pragmas).
    clock : callable, optional
        Returns the current time in seconds (Unix epoch); ``time.time`` by default. Used for
        every ``at_s`` left out.

    Examples
    --------
    >>> store = Store.open("sqlite://")  # in memory; a real install uses Store.open()
    >>> p = store.create_participant("P-001", "patient")
    >>> _ = store.grant_consent(p.id, "storage", "v1")
    >>> store.has_consent(p.id, "storage")
    True
    >>> store.close()
    """

    # ------------------------------------------------------------------ life cycle

    @classmethod
    def open(
        cls,
        target: StorageSettings | str | None = None,
        *,
        migrate: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> Store:
        """Connect to the configured database and (by default) upgrade its schema to the newest.

        Parameters
        ----------
        target : StorageSettings or str, optional
            Settings or a database URL; by default :meth:`StorageSettings.from_env`.
        migrate : bool
            Run :func:`server.storage.migrate.upgrade_to_head` first.
        clock : callable, optional
            As in :class:`Store`.

        Returns
        -------
        Store
        """
        engine = make_engine(target)
        if _is_memory(engine):
            # One shared connection, or each pooled connection would see its own empty database.
            engine.dispose()
            engine = make_engine(
                target, poolclass=sa.StaticPool, connect_args={"check_same_thread": False}
            )
        if migrate:
            upgrade_to_head(engine)
        return cls(engine, clock=clock)

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (for tests and tools; application code uses the methods)."""
        return self._engine

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._dialect

    def close(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def now(self) -> float:
        """The store's clock, seconds."""
        return self._clock()

    # ------------------------------------------------------------------ audit

    def audit(
        self,
        actor: str,
        action: str,
        object_type: str,
        object_id: object = None,
        detail: Mapping[str, Any] | None = None,
        *,
        at_s: float | None = None,
    ) -> AuditEntry:
        """Append an entry to the audit log (views and exports; the store logs its own writes)."""
        now = self._at(at_s)
        with self._write() as conn:
            aid = self._audit(conn, now, actor, action, object_type, object_id, detail)
        return AuditEntry(
            aid,
            now,
            actor,
            action,
            object_type,
            None if object_id is None else str(object_id),
            dict(detail or {}),
        )

    def list_audit(
        self,
        *,
        object_type: str | None = None,
        object_id: object = None,
        after_id: int = 0,
        limit: int = 1000,
    ) -> list[AuditEntry]:
        """Audit entries in the order written, after ``after_id``, at most ``limit``."""
        a = t.audit_log
        query = sa.select(a).where(a.c.id > after_id).order_by(a.c.id).limit(limit)
        if object_type is not None:
            query = query.where(a.c.object_type == object_type)
        if object_id is not None:
            query = query.where(a.c.object_id == str(object_id))
        with self._read() as conn:
            return [AuditEntry(**r._mapping) for r in conn.execute(query)]

    def last_audit_time(
        self, object_type: str, object_id: object, actions: Sequence[str]
    ) -> float | None:
        """When one of ``actions`` was last logged about an object (None if never), s."""
        a = t.audit_log
        query = sa.select(sa.func.max(a.c.time_s)).where(
            a.c.object_type == object_type,
            a.c.object_id == str(object_id),
            a.c.action.in_(list(actions)),
        )
        with self._read() as conn:
            value = conn.execute(query).scalar()
        return None if value is None else float(value)


def _is_memory(engine: Engine) -> bool:
    """True for an in-memory SQLite database (which needs a single shared connection)."""
    url = engine.url
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")
