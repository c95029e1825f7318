"""Errors raised by the storage layer.

The API maps them to HTTP statuses: :class:`RecordNotFoundError` to 404,
:class:`DuplicateRecordError` and :class:`StateConflictError` to 409,
:class:`InvalidRecordError` to 422; anything else from :class:`StorageError` to 500/503.
"""

from __future__ import annotations

from hrv.errors import SintoniaError

__all__ = [
    "DuplicateRecordError",
    "InvalidRecordError",
    "RecordNotFoundError",
    "StateConflictError",
    "StorageError",
]


class StorageError(SintoniaError):
    """Root of the errors of the storage layer (also: the database could not be reached)."""


class RecordNotFoundError(StorageError, LookupError):
    """A record referred to by id or code does not exist.

    Attributes
    ----------
    kind : str
        What was looked for (``"session"``, ``"participant"``, ...).
    key : object
        The id or code that was given.
    """

    def __init__(self, kind: str, key: object):
        super().__init__(f"no {kind} with id/code {key!r}")
        self.kind = kind
        self.key = key


class DuplicateRecordError(StorageError):
    """A record that must be unique already exists (a participant code, a username)."""


class StateConflictError(StorageError):
    """An operation that the record's current state does not allow (start a stopped session).

    Attributes
    ----------
    expected : str
        The state(s) the operation needs.
    actual : str
        The state the record is in.
    """

    def __init__(self, message: str, *, expected: str, actual: str):
        super().__init__(f"{message}: expected {expected}, found {actual}")
        self.expected = expected
        self.actual = actual


class InvalidRecordError(StorageError, ValueError):
    """Values the schema does not accept (an alliance score out of range, an unknown purpose)."""
