"""The one error root of Sintonia and the errors raised by the pure maths.

Every error Sintonia raises on purpose derives from :class:`SintoniaError`, so a caller can catch
them all in one place. Messages say what was expected and what arrived; the structured reason is
kept on the instance for programs.
"""

from __future__ import annotations

__all__ = ["InsufficientDataError", "InvalidRRError", "ParameterError", "SintoniaError"]


class SintoniaError(Exception):
    """Root of every error Sintonia raises on purpose."""


class ParameterError(SintoniaError, ValueError):
    """An argument outside its documented range or of the wrong kind (a window length of 0, an
    unknown method name, arrays of different lengths); the message names what was expected."""


class InvalidRRError(SintoniaError, ValueError):
    """RR data that is corrupt rather than merely implausible.

    Raised for non-finite or non-positive values, or input of the wrong shape. Physiologically
    implausible but finite positive values (a 4 s dropout gap, a 150 ms double detection) are not
    errors: artifact detection flags and corrects them.

    Attributes
    ----------
    index : int or None
        Index of the first offending value, when one value is at fault.
    value : float or None
        That value.
    """

    def __init__(self, message: str, *, index: int | None = None, value: float | None = None):
        super().__init__(message)
        self.index = index
        self.value = value


class InsufficientDataError(SintoniaError, ValueError):
    """Too little data for a metric to be defined (instead of returning NaN silently).

    Attributes
    ----------
    metric : str
        The metric that was asked for.
    needed : int or float
        What the metric needs (beats, seconds).
    got : int or float
        What arrived.
    """

    def __init__(self, metric: str, *, needed: float, got: float, unit: str = "beats"):
        super().__init__(f"{metric} needs at least {needed:g} {unit}, got {got:g}")
        self.metric = metric
        self.needed = needed
        self.got = got
        self.unit = unit
