"""Storage fixtures: the same tests run against SQLite (a temporary file) and PostgreSQL.

A pytest plugin, registered once with ``pytest_plugins`` in ``tests/conftest.py``, so that every
test folder (``tests/server``, ``tests/security``, ...) gets the same fixtures by name, and the
session-scoped ones (one migrated SQLite template, one PostgreSQL schema) are shared by the whole
run.

PostgreSQL is reached at ``SINTONIA_TEST_POSTGRES_URL``, by default
``postgresql+psycopg://postgres:postgres@127.0.0.1:5432/test`` as ``scripts/services.sh`` sets it
up (the password is ignored under trust authentication). Each test run works in its own schema
(``sintonia_test_<pid>_<random>``), dropped at the end, so concurrent runs do not collide. When
the server is unreachable the PostgreSQL cases are skipped with the reason, except under ``CI``
(set and not ``0``/``false``), where they fail: CI must not pass without testing PostgreSQL.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from server.storage import schema
from server.storage.migrate import upgrade_to_head
from server.storage.settings import make_engine
from server.storage.store import Store

POSTGRES_URL_ENV: Final[str] = "SINTONIA_TEST_POSTGRES_URL"
DEFAULT_POSTGRES_URL: Final[str] = "postgresql+psycopg://postgres:postgres@127.0.0.1:5432/test"
BACKENDS: Final[tuple[str, ...]] = ("sqlite", "postgresql")


class FakeClock:
    """A settable clock (seconds) for the store, so that consent times are exact."""

    def __init__(self, t_s: float = 1_700_000_000.0) -> None:
        self.t_s = t_s

    def __call__(self) -> float:
        return self.t_s

    def advance(self, dt_s: float) -> float:
        self.t_s += dt_s
        return self.t_s


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _with_search_path(url: str, schema_name: str) -> str:
    parsed = make_url(url)
    query = dict(parsed.query)
    query["options"] = f"-csearch_path={schema_name}"
    return parsed.set(query=query).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    """URL of the PostgreSQL test database, after checking that it answers."""
    url = os.environ.get(POSTGRES_URL_ENV, DEFAULT_POSTGRES_URL)
    engine = make_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        reason = f"PostgreSQL not reachable at {make_url(url).render_as_string()}: {exc.orig}"
        if _in_ci():
            pytest.fail(f"{reason} (CI is set: the PostgreSQL storage tests must run)")
        pytest.skip(reason)
    finally:
        engine.dispose()
    return url


def _new_pg_schema(admin_url: str) -> tuple[str, str]:
    name = f"sintonia_test_{os.getpid()}_{secrets.token_hex(4)}"
    engine = make_engine(admin_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))
    finally:
        engine.dispose()
    return name, _with_search_path(admin_url, name)


def _drop_pg_schema(admin_url: str, name: str) -> None:
    engine = make_engine(admin_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def postgres_migrated_url(postgres_admin_url: str) -> Iterator[str]:
    """A schema of this test run, migrated to head once (tests empty it, see ``database_url``)."""
    name, url = _new_pg_schema(postgres_admin_url)
    try:
        upgrade_to_head(url)
        yield url
    finally:
        _drop_pg_schema(postgres_admin_url, name)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once; each test gets a copy (faster than migrating)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.sqlite"
    engine = make_engine(f"sqlite:///{path}")
    upgrade_to_head(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


def empty_all_tables(url: str) -> None:
    """Delete every row of every table at ``url`` (children first), keeping the schema."""
    # DELETE, not TRUNCATE: on the few rows a test leaves it is several times faster.
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            for table in reversed(schema.metadata.sorted_tables):
                conn.execute(table.delete())
    finally:
        engine.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """``"sqlite"`` or ``"postgresql"``: parametrizes every storage test over both."""
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of an empty database at the newest schema revision, for one test."""
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "sintonia.sqlite"
        shutil.copyfile(template, path)
        return f"sqlite+pysqlite:///{path}"
    url: str = request.getfixturevalue("postgres_migrated_url")
    empty_all_tables(url)
    return url


@pytest.fixture
def empty_database_url(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[str]:
    """URL of a database with no table at all (for migration tests)."""
    if backend == "sqlite":
        yield f"sqlite+pysqlite:///{tmp_path / 'empty.sqlite'}"
        return
    admin: str = request.getfixturevalue("postgres_admin_url")
    name, url = _new_pg_schema(admin)
    try:
        yield url
    finally:
        _drop_pg_schema(admin, name)


@pytest.fixture
def clock() -> FakeClock:
    """The store's clock in the ``store`` fixture."""
    return FakeClock()


@pytest.fixture
def store(database_url: str, clock: FakeClock) -> Iterator[Store]:
    """A :class:`Store` on an empty migrated database, on each backend, with a fake clock."""
    s = Store(make_engine(database_url), clock=clock)
    try:
        yield s
    finally:
        s.close()
