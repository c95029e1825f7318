"""Errors raised where beats come from (packets, files, devices)."""

from __future__ import annotations

from hrv.errors import SintoniaError

__all__ = [
    "DeviceError",
    "MalformedFileError",
    "MalformedPacketError",
    "SensorError",
    "SourceStateError",
    "UnknownParticipantError",
]


class SensorError(SintoniaError):
    """Root of the errors of the sensor layer."""


class MalformedPacketError(SensorError, ValueError):
    """A BLE payload that does not follow its characteristic's layout.

    Attributes
    ----------
    payload : bytes
        The payload as received.
    reason : str
        What was wrong with it.
    """

    def __init__(self, reason: str, payload: bytes):
        super().__init__(
            f"malformed Heart Rate Measurement ({reason}): payload {payload.hex(' ')!r}"
        )
        self.payload = bytes(payload)
        self.reason = reason


class MalformedFileError(SensorError, ValueError):
    """A file of beats that cannot be read; names the file and the line.

    Attributes
    ----------
    path : str
        The file.
    line : int or None
        1-based line number, when one line is at fault.
    """

    def __init__(self, path: str, message: str, *, line: int | None = None):
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {message}")
        self.path = path
        self.line = line


class DeviceError(SensorError):
    """A heart-rate device that could not be found, connected or kept connected."""


class SourceStateError(SensorError, RuntimeError):
    """A beat source used out of order (iterated twice, used after it was closed)."""


class UnknownParticipantError(SensorError, KeyError):
    """A participant the source does not stream."""
