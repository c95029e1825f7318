"""Alembic revisions, one file each, oldest first (``NNNN_description.py``)."""
