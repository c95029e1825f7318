"""Alembic migrations on SQLite and PostgreSQL: from empty to head, back, and no drift."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command

from server.storage import schema
from server.storage.migrate import (
    MIGRATIONS_DIR,
    alembic_config,
    current_revision,
    head_revision,
    schema_differences,
    upgrade_to_head,
)
from server.storage.settings import make_engine


def test_upgrade_from_empty_creates_the_schema(empty_database_url: str) -> None:
    assert current_revision(empty_database_url) is None
    assert upgrade_to_head(empty_database_url) == head_revision()
    engine = make_engine(empty_database_url)
    try:
        inspector = sa.inspect(engine)
        tables = set(inspector.get_table_names())
        assert {t.name for t in schema.metadata.sorted_tables} <= tables
        beat_indexes = {tuple(ix["column_names"]) for ix in inspector.get_indexes("beats")}
        assert ("session_id", "participant_id", "beat_time_s") in beat_indexes
        pk = inspector.get_pk_constraint("beats")["constrained_columns"]
        assert pk == ["session_id", "participant_id", "device", "seq"]
    finally:
        engine.dispose()


def test_migrations_match_the_metadata(empty_database_url: str) -> None:
    # The equivalent of `alembic check`: autogenerate finds nothing to change.
    upgrade_to_head(empty_database_url)
    assert schema_differences(empty_database_url) == []


def test_upgrade_is_idempotent(empty_database_url: str) -> None:
    first = upgrade_to_head(empty_database_url)
    assert upgrade_to_head(empty_database_url) == first == current_revision(empty_database_url)


def test_downgrade_to_base_and_back(empty_database_url: str) -> None:
    upgrade_to_head(empty_database_url)
    engine = make_engine(empty_database_url)
    try:
        with engine.begin() as conn:
            config = alembic_config()
            config.attributes["connection"] = conn
            command.downgrade(config, "base")
        names = set(sa.inspect(engine).get_table_names())
        assert not names & {t.name for t in schema.metadata.sorted_tables}
        upgrade_to_head(engine)
        assert schema_differences(engine) == []
    finally:
        engine.dispose()


def test_a_drifted_schema_is_detected(empty_database_url: str) -> None:
    # The drift check is not vacuous: an extra column in the database is reported.
    upgrade_to_head(empty_database_url)
    engine = make_engine(empty_database_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("ALTER TABLE markers ADD COLUMN colour VARCHAR(10)"))
        diffs = schema_differences(engine)
        assert any(d[0] == "remove_column" and d[3].name == "colour" for d in diffs)
    finally:
        engine.dispose()


def test_migrations_ship_inside_the_package() -> None:
    assert (MIGRATIONS_DIR / "env.py").is_file()
    assert (MIGRATIONS_DIR / "script.py.mako").is_file()
    revisions = sorted(p.name for p in (MIGRATIONS_DIR / "versions").glob("[0-9]*.py"))
    assert revisions[0] == "0001_initial_schema.py"
    # A migration describes the schema of its time: it must not import the live schema module.
    text = (MIGRATIONS_DIR / "versions" / revisions[0]).read_text()
    assert "server.storage.schema" not in text.replace(":mod:`server.storage.schema`", "")
