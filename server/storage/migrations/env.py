"""Alembic environment: migrate the connection handed over by code, or the configured database.

:func:`server.storage.migrate.upgrade_to_head` passes an open connection in
``config.attributes["connection"]`` (inside its transaction, so a failed migration leaves
nothing behind on both backends: SQLite and PostgreSQL both have transactional DDL). From the
``alembic`` command line, the database comes from ``SINTONIA_DATABASE_URL`` /
``SINTONIA_DATA_DIR`` as for the server.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from server.storage.schema import metadata
from server.storage.settings import StorageSettings, make_engine


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        compare_type=True,
        # SQLite cannot ALTER most things; batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(StorageSettings.from_env())
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    context.configure(
        url=StorageSettings.from_env().url, target_metadata=metadata, literal_binds=True
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    _run_online()
