"""Where the database is, and how SQLite is opened."""

from __future__ import annotations

import stat
from pathlib import Path

import platformdirs
import pytest
import sqlalchemy as sa

from server.storage.errors import StorageError
from server.storage.settings import (
    DATABASE_FILENAME,
    SQLITE_BUSY_TIMEOUT_MS,
    StorageSettings,
    make_engine,
    normalize_url,
)
from server.storage.store import Store


def test_default_is_a_sqlite_file_in_the_user_data_dir() -> None:
    s = StorageSettings.from_env({})
    assert s.data_dir == Path(platformdirs.user_data_dir("sintonia", appauthor=False))
    assert s.url == f"sqlite+pysqlite:///{s.data_dir / DATABASE_FILENAME}"
    assert s.is_embedded
    assert s.sqlite_synchronous == "NORMAL"


def test_environment_overrides(tmp_path: Path) -> None:
    s = StorageSettings.from_env(
        {
            "SINTONIA_DATA_DIR": str(tmp_path),
            "SINTONIA_DATABASE_URL": "postgresql://u:pw@db.clinic:5432/sintonia",
            "SINTONIA_SQLITE_SYNCHRONOUS": "full",
        }
    )
    assert s.data_dir == tmp_path
    assert s.url == "postgresql+psycopg://u:pw@db.clinic:5432/sintonia"
    assert not s.is_embedded
    assert s.sqlite_synchronous == "FULL"
    with pytest.raises(StorageError, match="must be one of NORMAL, FULL, got 'OFF'"):
        StorageSettings.from_env({"SINTONIA_SQLITE_SYNCHRONOUS": "off"})


def test_normalize_url() -> None:
    assert normalize_url("postgres://h/db") == "postgresql+psycopg://h/db"
    assert normalize_url("postgresql+psycopg://h/db") == "postgresql+psycopg://h/db"
    assert normalize_url("sqlite:///x.db") == "sqlite+pysqlite:///x.db"


@pytest.mark.parametrize(("mode", "code"), [("NORMAL", 1), ("FULL", 2)])
def test_sqlite_pragmas(tmp_path: Path, mode: str, code: int) -> None:
    data_dir = tmp_path / "data"
    engine = make_engine(StorageSettings(data_dir, None, mode))  # type: ignore[arg-type]
    try:
        with engine.connect() as conn:

            def pragma(name: str) -> object:
                return conn.exec_driver_sql(f"PRAGMA {name}").scalar()

            assert pragma("journal_mode") == "wal"
            assert pragma("foreign_keys") == 1
            assert pragma("synchronous") == code
            assert pragma("busy_timeout") == SQLITE_BUSY_TIMEOUT_MS
    finally:
        engine.dispose()
    assert (data_dir / DATABASE_FILENAME).is_file()
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700  # health data: owner only


def test_foreign_keys_are_enforced_on_sqlite(tmp_path: Path) -> None:
    with (
        Store.open(f"sqlite:///{tmp_path / 'fk.sqlite'}") as store,
        pytest.raises(sa.exc.IntegrityError),
        store.engine.begin() as conn,
    ):
        conn.exec_driver_sql(
            "INSERT INTO markers (session_id, time_s, type) VALUES (4242, 0.0, 'silence')"
        )


def test_open_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SINTONIA_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.delenv("SINTONIA_DATABASE_URL", raising=False)
    with Store.open() as store:
        assert store.dialect == "sqlite"
        store.create_participant("P-1", "patient")
    assert (tmp_path / "d" / DATABASE_FILENAME).is_file()


def test_unsupported_database_is_refused() -> None:
    with pytest.raises(StorageError, match="sqlite:// or postgresql://"):
        make_engine("mysql://u@h/db")
