"""Alembic migration environment of the Sintonia database (shipped inside the package).

Run from code with :func:`server.storage.migrate.upgrade_to_head`; developers make a new revision
after changing :mod:`server.storage.schema` with::

    SINTONIA_DATABASE_URL=sqlite:///scratch.sqlite \\
        alembic -c server/storage/alembic.ini upgrade head
    SINTONIA_DATABASE_URL=sqlite:///scratch.sqlite \\
        alembic -c server/storage/alembic.ini revision --autogenerate -m "what changed"

and then read the generated file: autogenerate does not see CHECK constraints.
"""
