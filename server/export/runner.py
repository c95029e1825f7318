"""Where the per-session work of the cohort table and the research export runs.

Both exports split their work into one job per session. By default the jobs run here, in this
process (:func:`server.export.cohort.cohort_table` then reads many sessions per query). Given a
:class:`SessionRunner`, each job is a small picklable value holding the database URL, never a
live engine or connection: the function that runs it (on a Dask worker,
:mod:`server.export.dask_runner`) opens its own :class:`~server.storage.Store` from that URL
(:func:`worker_store`, one per URL and process), applies the consent rule itself at the export's
time and returns plain tables. Results come back in job order, so the output is the same as the
single-process run, row for row and float for float.

A session that cannot be computed (a corrupt row, say) is reported as a
:class:`SessionFailure` and left out; the others go on. Only the errors a bad session can cause
are caught (:data:`SESSION_ERRORS`); a database that cannot be reached fails the whole export.

This module imports neither dask nor anything heavy beyond the store.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol, TypeVar

from sqlalchemy.engine import make_url

from hrv.errors import SintoniaError
from server.export.errors import ExportError
from server.storage import Store

__all__ = [
    "SESSION_ERRORS",
    "SessionFailure",
    "SessionRunner",
    "database_url",
    "failure",
    "worker_store",
]

#: Errors that leave one session out of an export instead of stopping it: the project's own
#: (:class:`hrv.errors.SintoniaError`), and what numpy and the conversions raise on a corrupt
#: value (a text in a REAL column, a time that overflows).
SESSION_ERRORS: Final[tuple[type[Exception], ...]] = (SintoniaError, ValueError, ArithmeticError)

J = TypeVar("J")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class SessionFailure:
    """A session left out of an export because computing it failed.

    Attributes
    ----------
    session_id : int
    error : str
        The error's type and first line, e.g. ``"ValueError: could not convert ..."``.
    """

    session_id: int
    error: str


def failure(session_id: int, exc: BaseException) -> SessionFailure:
    """The :class:`SessionFailure` of ``exc`` (type name and first line of its message)."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return SessionFailure(
        session_id, f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    )


class SessionRunner(Protocol):
    """Runs one function over many jobs, elsewhere, and yields the results in job order."""

    def map(self, fn: Callable[[J], R], jobs: Sequence[J]) -> Iterator[R]:
        """``fn(job)`` for every job; results in the order of ``jobs``."""
        ...


def database_url(store: Store) -> str:
    """The URL another process can open the store's database with (password included).

    Raises
    ------
    ExportError
        For an in-memory SQLite database (no other process can see it).
    """
    url = store.engine.url
    if url.get_backend_name() == "sqlite":
        if url.database in (None, "", ":memory:") or str(url.database).startswith("file::memory"):
            raise ExportError(
                "running on workers needs a database they can open (a SQLite file or a "
                "PostgreSQL URL), not an in-memory SQLite database"
            )
        url = url.set(database=str(Path(str(url.database)).resolve()))
    return url.render_as_string(hide_password=False)


_stores: dict[str, Store] = {}
_stores_lock = threading.Lock()


def worker_store(url: str) -> Store:
    """This process's :class:`Store` for ``url`` (opened once, without migrating: the exports
    only read).

    Raises
    ------
    ExportError
        For a SQLite file that does not exist here (a worker on another machine).
    """
    with _stores_lock:
        store = _stores.get(url)
        if store is None:
            u = make_url(url)
            if u.get_backend_name() == "sqlite" and not Path(str(u.database)).is_file():
                raise ExportError(f"no database at {u.database} on this worker")
            store = _stores[url] = Store.open(url, migrate=False)
        return store
