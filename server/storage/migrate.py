"""Create and upgrade the database schema with the Alembic migrations shipped in this package.

The server calls :func:`upgrade_to_head` at start-up; it is idempotent and safe when several
server processes start at once on one PostgreSQL database (a transaction-level advisory lock
serialises them; on SQLite ``BEGIN IMMEDIATE`` does).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Final

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from server.storage.schema import metadata
from server.storage.settings import StorageSettings, make_engine

__all__ = [
    "MIGRATIONS_DIR",
    "alembic_config",
    "current_revision",
    "head_revision",
    "schema_differences",
    "upgrade_to_head",
]

_log = logging.getLogger(__name__)

MIGRATIONS_DIR: Final[Path] = Path(__file__).resolve().parent / "migrations"
#: Key of the PostgreSQL advisory lock held while migrating (an arbitrary 64-bit constant).
_PG_MIGRATION_LOCK: Final[int] = 0x53_494E_544F_4E49  # "SINTONI"


def alembic_config() -> Config:
    """An Alembic :class:`~alembic.config.Config` pointing at the shipped migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    return config


def head_revision() -> str:
    """The newest revision the shipped migrations define."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the shipped migrations define no revision"
    return head


def _with_engine(target: Engine | StorageSettings | str | None) -> tuple[Engine, bool]:
    if isinstance(target, Engine):
        return target, False
    return make_engine(target), True


def upgrade_to_head(target: Engine | StorageSettings | str | None = None) -> str:
    """Bring the database to the newest schema revision, in one transaction.

    Parameters
    ----------
    target : Engine, StorageSettings or str, optional
        An engine (not disposed), settings or a URL (an engine is made and disposed);
        by default the settings from the environment.

    Returns
    -------
    str
        The revision the database is at afterwards (:func:`head_revision`).

    Examples
    --------
    >>> upgrade_to_head("sqlite://") == head_revision()  # an in-memory database
    True
    """
    engine, owned = _with_engine(target)
    try:
        with (
            engine.connect().execution_options(sqlite_begin="IMMEDIATE") as conn,
            conn.begin(),
        ):
            if conn.dialect.name == "postgresql":
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_MIGRATION_LOCK)))
            before = MigrationContext.configure(conn).get_current_revision()
            config = alembic_config()
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
            after = MigrationContext.configure(conn).get_current_revision()
        if before != after:
            _log.info("database schema upgraded from %s to %s", before, after)
        assert after is not None
        return after
    finally:
        if owned:
            engine.dispose()


def current_revision(target: Engine | StorageSettings | str | None = None) -> str | None:
    """The schema revision the database is at; None for an empty database."""
    engine, owned = _with_engine(target)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        if owned:
            engine.dispose()


def schema_differences(target: Engine | StorageSettings | str | None = None) -> list[Any]:
    """What Alembic's autogenerate would change to make the database match :data:`metadata`.

    An empty list means the migrations and the SQLAlchemy schema agree (the equivalent of
    ``alembic check``). CHECK constraints are not compared (autogenerate does not see them).
    """
    engine, owned = _with_engine(target)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(context, metadata))
    finally:
        if owned:
            engine.dispose()
