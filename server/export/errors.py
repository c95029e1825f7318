"""Errors raised by the exports."""

from __future__ import annotations

from hrv.errors import SintoniaError

__all__ = ["ExportError", "NothingToExportError"]


class ExportError(SintoniaError):
    """An export that cannot be written (bad arguments, an output that already exists, ...)."""


class NothingToExportError(ExportError):
    """No participant of the requested sessions may be exported (no consent, or no beats).

    Attributes
    ----------
    excluded : int
        Participants left out for lack of the consent the export needs.
    """

    def __init__(self, message: str, *, excluded: int = 0) -> None:
        super().__init__(message)
        self.excluded = excluded
