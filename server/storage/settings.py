"""Where the data lives and how to connect to it.

Two deployments, one code path:

* **Embedded (default)**: one SQLite file, ``sintonia.sqlite``, in the data directory
  (``SINTONIA_DATA_DIR``; default the per-user data folder from :mod:`platformdirs`, e.g.
  ``~/.local/share/sintonia`` on Linux). The directory is created with mode 0700: it holds health
  data (and, later, the API token).
* **Clinic**: PostgreSQL through ``SINTONIA_DATABASE_URL``; ``postgresql://`` URLs are given the
  psycopg 3 driver (``postgresql+psycopg://``).

SQLite durability
-----------------
The file is opened in WAL mode with ``synchronous=NORMAL`` by default. A commit then appends the
transaction to the write-ahead log with ``write()`` but no ``fsync()``: the data sits in the
operating system's page cache, so a crash of the *process* (``kill -9``, an exception, the window
closed) loses nothing committed, which is the failure the live path must survive (tested). A power
loss or kernel crash may roll back the last committed transactions (those the OS had not yet
written back, typically seconds) but never corrupts the file (WAL frames are checksummed).
``synchronous=FULL`` also fsyncs the log at every commit and survives power loss; set
``SINTONIA_SQLITE_SYNCHRONOUS=FULL`` for that. The :class:`~server.storage.writer.BeatWriter`
group-commits, so FULL costs one fsync per group (at most about ten a second), not one per beat:
in ``benchmarks/storage.py`` the writer's commit latency is the same under FULL (p99 about
110 ms for 100 live dyads) and its throughput stays above 20,000 beats/s, while single-row
transactions (API writes: markers, cue responses, consents) became 1.5 to 7 times slower on the
development VM (e.g. 3,500/s under NORMAL against 470/s under FULL), more on a laptop hard disk.
NORMAL is the default because it meets the stated requirement (a killed process loses nothing
committed), keeps API writes cheap, and a laptop on battery rarely loses power abruptly; FULL is
one variable away for a deployment that wants power-loss durability (SQLite documentation,
"PRAGMA synchronous" and "Write-Ahead Logging").

References
----------
.. [1] SQLite, "Write-Ahead Logging", https://www.sqlite.org/wal.html
.. [2] SQLite, "PRAGMA synchronous", https://www.sqlite.org/pragma.html#pragma_synchronous
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal, get_args

import platformdirs
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url

from server.modes import PRIVATE_FILE_MODE, PRIVATE_UMASK
from server.storage.errors import StorageError

__all__ = [
    "DATABASE_FILENAME",
    "DATABASE_URL_ENV",
    "DATA_DIR_ENV",
    "PRIVATE_FILE_MODE",
    "PRIVATE_UMASK",
    "SQLITE_BUSY_TIMEOUT_MS",
    "SQLITE_SYNCHRONOUS_ENV",
    "SqliteSynchronous",
    "StorageSettings",
    "make_engine",
    "normalize_url",
    "private_database_files",
]

_log = logging.getLogger(__name__)

DATA_DIR_ENV: Final[str] = "SINTONIA_DATA_DIR"
DATABASE_URL_ENV: Final[str] = "SINTONIA_DATABASE_URL"
SQLITE_SYNCHRONOUS_ENV: Final[str] = "SINTONIA_SQLITE_SYNCHRONOUS"
DATABASE_FILENAME: Final[str] = "sintonia.sqlite"
#: How long a SQLite connection waits for another writer's lock before failing, ms.
SQLITE_BUSY_TIMEOUT_MS: Final[int] = 10_000

SqliteSynchronous = Literal["NORMAL", "FULL"]
_SYNC_MODES: Final[tuple[str, ...]] = get_args(SqliteSynchronous)


@dataclass(frozen=True, slots=True)
class StorageSettings:
    """Where the database is.

    Attributes
    ----------
    data_dir : pathlib.Path
        The data directory (SQLite file, later the token file).
    database_url : str or None
        A SQLAlchemy URL; None means the embedded SQLite file in ``data_dir``.
    sqlite_synchronous : {"NORMAL", "FULL"}
        SQLite's ``PRAGMA synchronous`` (see the module documentation).

    Examples
    --------
    >>> s = StorageSettings.from_env({"SINTONIA_DATA_DIR": "/tmp/x"})
    >>> s.url
    'sqlite+pysqlite:////tmp/x/sintonia.sqlite'
    """

    data_dir: Path
    database_url: str | None = None
    sqlite_synchronous: SqliteSynchronous = "NORMAL"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> StorageSettings:
        """Read ``SINTONIA_DATA_DIR``, ``SINTONIA_DATABASE_URL``, ``SINTONIA_SQLITE_SYNCHRONOUS``.

        Parameters
        ----------
        environ : mapping, optional
            The environment to read; ``os.environ`` by default.

        Returns
        -------
        StorageSettings
        """
        env = os.environ if environ is None else environ
        data_dir = env.get(DATA_DIR_ENV) or platformdirs.user_data_dir("sintonia", appauthor=False)
        sync = env.get(SQLITE_SYNCHRONOUS_ENV, "NORMAL").upper()
        if sync not in _SYNC_MODES:
            raise StorageError(
                f"{SQLITE_SYNCHRONOUS_ENV} must be one of {', '.join(_SYNC_MODES)}, got {sync!r}"
            )
        url = env.get(DATABASE_URL_ENV) or None
        return cls(Path(data_dir).expanduser(), url, sync)  # type: ignore[arg-type]

    @property
    def url(self) -> str:
        """The SQLAlchemy URL in use (the SQLite file when no database URL is set)."""
        if self.database_url:
            return normalize_url(self.database_url)
        return f"sqlite+pysqlite:///{self.data_dir / DATABASE_FILENAME}"

    @property
    def is_embedded(self) -> bool:
        """True for the embedded SQLite file in the data directory."""
        return not self.database_url


def private_database_files(data_dir: Path) -> None:
    """Make the SQLite database of a data directory private (0600), whatever the folder's mode.

    The database file is created 0600 if missing, and an existing one (with its ``-wal`` and
    ``-shm`` files) wider than 0600 is tightened with a warning; SQLite gives the WAL and SHM
    files the database file's mode when it creates them, so they are private too. A data
    directory that others may read or enter is reported with a warning (it is not changed: it
    may be the user's choice).

    Examples
    --------
    >>> import tempfile, stat
    >>> d = Path(tempfile.mkdtemp())
    >>> private_database_files(d)
    >>> oct(stat.S_IMODE((d / DATABASE_FILENAME).stat().st_mode))
    '0o600'
    """
    db = data_dir / DATABASE_FILENAME
    dir_mode = stat.S_IMODE(data_dir.stat().st_mode)
    if dir_mode & 0o077:
        _log.warning(
            "the data directory %s has mode %o: other users may list it; chmod 700 it",
            data_dir,
            dir_mode,
        )
    with contextlib.suppress(FileExistsError):
        os.close(os.open(db, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE))
    for path in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            continue
        if mode & ~PRIVATE_FILE_MODE:
            _log.warning("%s had mode %o; set to 0600", path, mode)
            path.chmod(PRIVATE_FILE_MODE)


def normalize_url(url: str) -> str:
    """Give PostgreSQL URLs the psycopg 3 driver and SQLite URLs the standard driver.

    Examples
    --------
    >>> normalize_url("postgresql://u@localhost/db")
    'postgresql+psycopg://u@localhost/db'
    """
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif parsed.drivername == "sqlite":
        parsed = parsed.set(drivername="sqlite+pysqlite")
    return parsed.render_as_string(hide_password=False)


def make_engine(target: StorageSettings | str | None = None, **engine_kwargs: Any) -> Engine:
    """Create the SQLAlchemy engine for the settings (or URL) with Sintonia's connection setup.

    SQLite: the data directory is created (mode 0700); every connection gets ``journal_mode=WAL``,
    ``foreign_keys=ON``, ``synchronous`` from the settings and a ``busy_timeout`` of
    :data:`SQLITE_BUSY_TIMEOUT_MS`; transactions are begun explicitly by SQLAlchemy (``BEGIN``, or
    ``BEGIN IMMEDIATE`` on connections with the execution option ``sqlite_begin="IMMEDIATE"``,
    which writers use so that two writers queue on the busy timeout instead of failing on a lock
    upgrade). PostgreSQL: psycopg 3 with pre-ping.

    Parameters
    ----------
    target : StorageSettings or str, optional
        Settings, or a database URL; by default :meth:`StorageSettings.from_env`.
    **engine_kwargs
        Passed to :func:`sqlalchemy.create_engine`.

    Returns
    -------
    sqlalchemy.engine.Engine
    """
    if target is None:
        target = StorageSettings.from_env()
    if isinstance(target, StorageSettings):
        settings = target
        url = settings.url
        if settings.is_embedded:
            settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            private_database_files(settings.data_dir)
    else:
        settings = StorageSettings(Path("."), target)
        url = normalize_url(target)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = sa.create_engine(url, **engine_kwargs)
        _configure_sqlite(engine, settings.sqlite_synchronous)
    elif parsed.get_backend_name() == "postgresql":
        engine_kwargs.setdefault("pool_pre_ping", True)
        engine = sa.create_engine(url, **engine_kwargs)
    else:
        raise StorageError(
            f"database URL must be sqlite:// or postgresql://, got {parsed.get_backend_name()!r}"
        )
    _log.debug("storage engine %s", parsed.render_as_string(hide_password=True))
    return engine


def _configure_sqlite(engine: Engine, synchronous: str) -> None:
    pragmas = (
        "PRAGMA journal_mode=WAL",
        "PRAGMA foreign_keys=ON",
        f"PRAGMA synchronous={synchronous}",
        f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin (the module's
        # implicit BEGIN before DML only would leave reads outside the transaction).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            for pragma in pragmas:
                cursor.execute(pragma)
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")
