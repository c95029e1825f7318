"""What every part of the :class:`~server.storage.store.Store` shares: engine, clock, transactions.

Not for use outside :mod:`server.storage`: the parts (:mod:`~server.storage.people`,
:mod:`~server.storage.sessions`, ...) subclass :class:`StoreBase` and call its helpers, each
public method in its own transaction (:meth:`StoreBase._write` or :meth:`StoreBase._read`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import Engine

from server.storage import schema as t
from server.storage.errors import (
    DuplicateRecordError,
    InvalidRecordError,
    RecordNotFoundError,
)

__all__ = [
    "SYSTEM_ACTOR",
    "StoreBase",
    "check_choice",
    "check_text",
    "check_time",
    "new_row_id",
    "unique_violation_as",
]

#: The audit actor of writes nobody in particular asked for (start-up, migrations, defaults).
SYSTEM_ACTOR: Final[str] = "system"


def check_choice(kind: str, value: str, allowed: tuple[str, ...]) -> None:
    """``value`` must be one of ``allowed``; raises :class:`InvalidRecordError` naming them."""
    if value not in allowed:
        raise InvalidRecordError(f"{kind} must be one of {', '.join(allowed)}, got {value!r}")


def check_text(name: str, value: str | None, max_len: int, *, optional: bool = False) -> None:
    """Strings must fit their column (PostgreSQL enforces VARCHAR lengths, SQLite does not)."""
    if value is None and optional:
        return
    if not isinstance(value, str) or not 1 <= len(value) <= max_len:
        raise InvalidRecordError(
            f"{name} must be a string of 1-{max_len} characters, got {value!r}"
        )


def check_time(name: str, value: float) -> float:
    """A finite time in seconds, as float; raises :class:`InvalidRecordError` otherwise."""
    if not math.isfinite(value):
        raise InvalidRecordError(f"{name} must be a finite time in seconds, got {value!r}")
    return float(value)


class StoreBase:
    """Engine, clock and transaction helpers shared by every part of the store.

    Each part (a mixin of :class:`~server.storage.store.Store`) subclasses this class, so that
    mypy checks its calls of :meth:`_write`, :meth:`_read`, :meth:`_require` and :meth:`_audit`.

    Parameters
    ----------
    engine : sqlalchemy.engine.Engine
        From :func:`server.storage.settings.make_engine` (it sets up SQLite's pragmas).
    clock : callable, optional
        Returns the current time in seconds (Unix epoch); ``time.time`` by default. Used for
        every ``at_s`` left out.
    """

    def __init__(self, engine: Engine, *, clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._writer_engine = engine.execution_options(sqlite_begin="IMMEDIATE")
        self._clock = clock
        self._dialect = engine.dialect.name
        #: Called first inside every write of a live session's derived state (phase events,
        #: cues, the stop) with the transaction and the session id; it raises to refuse the
        #: write. Set by :class:`server.cluster.coordinator.Coordinator` to fence writes by the
        #: session's lease (a process that lost it can write nothing more for that session).
        self.session_guard: Callable[[sa.Connection, int], None] | None = None

    @contextmanager
    def _write(self) -> Iterator[sa.Connection]:
        with self._writer_engine.begin() as conn:
            yield conn

    @contextmanager
    def _derived_write(self, session_id: int) -> Iterator[sa.Connection]:
        """A write of a live session's derived state, fenced by :attr:`session_guard`."""
        with self._writer_engine.begin() as conn:
            if self.session_guard is not None:
                self.session_guard(conn, session_id)
            yield conn

    @contextmanager
    def _read(self) -> Iterator[sa.Connection]:
        with self._engine.begin() as conn:
            yield conn

    def _at(self, at_s: float | None, name: str = "at_s") -> float:
        return self._clock() if at_s is None else check_time(name, at_s)

    def _insert_ignore(self, table: sa.Table) -> Any:
        insert = pg_dialect.insert if self._dialect == "postgresql" else sqlite_dialect.insert
        return insert(table).on_conflict_do_nothing()

    @staticmethod
    def _require(conn: sa.Connection, table: sa.Table, kind: str, key: int) -> sa.Row[Any]:
        row = conn.execute(sa.select(table).where(table.c.id == key)).first()
        if row is None:
            raise RecordNotFoundError(kind, key)
        return row

    @staticmethod
    def _audit(
        conn: sa.Connection,
        at_s: float,
        actor: str,
        action: str,
        object_type: str,
        object_id: object,
        detail: Mapping[str, Any] | None = None,
    ) -> int:
        check_text("actor", actor, 64)
        check_text("action", action, 64)
        check_text("object_type", object_type, 32)
        check_text("object_id", None if object_id is None else str(object_id), 64, optional=True)
        result = conn.execute(
            sa.insert(t.audit_log).values(
                time_s=at_s,
                actor=actor,
                action=action,
                object_type=object_type,
                object_id=None if object_id is None else str(object_id),
                detail=dict(detail or {}),
            )
        )
        return new_row_id(result)


@contextmanager
def unique_violation_as(message: str) -> Iterator[None]:
    """Turn the unique-constraint violation of a concurrent insert into DuplicateRecordError.

    The check before the insert covers the common case; on PostgreSQL two transactions can both
    pass it, and then the constraint decides.
    """
    try:
        yield
    except sa.exc.IntegrityError as exc:
        raise DuplicateRecordError(message) from exc


def new_row_id(result: sa.CursorResult[Any]) -> int:
    """The primary key of the one row an INSERT wrote."""
    key = result.inserted_primary_key
    assert key is not None, "an INSERT of one row returns its primary key"
    return int(key[0])
