"""What every source of beats yields: the one interface downstream code sees."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

__all__ = ["BeatBatch", "BeatSource", "DeviceEvent", "DeviceEventKind", "SourceItem"]


@dataclass(frozen=True, eq=False, slots=True)
class BeatBatch:
    """The beats of one notification (or one chunk of a file) from one participant's device.

    Attributes
    ----------
    participant : str
        Who wears the device (a pseudonymous code or role, e.g. ``"patient"``).
    device : str
        Device identifier (BLE address, ``"simulator:<seed>"``, ``"file:<name>"``, LSL stream id).
    rr_ms : numpy.ndarray
        RR intervals in milliseconds, float64, in order of arrival.
    rr_raw : tuple of int or None
        The RR values exactly as received where the protocol has them (1/1024 s for BLE).
    host_time_s : float
        Host receipt time of the notification, seconds (Unix epoch for live sources; for replay
        the recording's own clock).
    beat_times_s : numpy.ndarray
        Reconstructed time of each beat (the end of each RR interval), seconds, same clock as
        ``host_time_s``; see :mod:`sensor.timing`.
    contact : bool or None
        Sensor contact; None if the device does not report it.
    heart_rate_bpm : int or None
        The heart rate the device itself reported, if any.
    seq : int
        Sequence number of the first beat of this batch within its device stream (0-based).
    gap_before : bool
        True when beat times were re-anchored before this batch (first batch, dropout, reconnect).
    """

    participant: str
    device: str
    rr_ms: NDArray[np.float64]
    rr_raw: tuple[int, ...] | None
    host_time_s: float
    beat_times_s: NDArray[np.float64]
    contact: bool | None = None
    heart_rate_bpm: int | None = None
    seq: int = 0
    gap_before: bool = False

    def __len__(self) -> int:
        return int(self.rr_ms.shape[0])


DeviceEventKind = Literal[
    "connecting",
    "connected",
    "disconnected",
    "reconnecting",
    "gave_up",
    "battery",
    "contact",
    "malformed_packet",
    "invalid_rr",
    "info",
]


@dataclass(frozen=True, slots=True)
class DeviceEvent:
    """Something that happened to a device that is not a beat.

    Attributes
    ----------
    participant, device : str
        As in :class:`BeatBatch`.
    kind : str
        One of :data:`DeviceEventKind`.
    host_time_s : float
        When it happened (host clock, seconds).
    value : float or None
        A number that goes with the event (battery percent, seconds offline, ...).
    detail : dict
        Anything else (reason, hex payload of a malformed packet, body sensor location, ...).
    """

    participant: str
    device: str
    kind: DeviceEventKind
    host_time_s: float
    value: float | None = None
    detail: dict[str, str] = field(default_factory=dict)


SourceItem = BeatBatch | DeviceEvent


@runtime_checkable
class BeatSource(Protocol):
    """An asynchronous stream of beats (and device events) from one or more participants.

    Implementations: :mod:`sensor.ble` (straps via bleak), :mod:`sensor.simulator`,
    :mod:`sensor.replay` (files), :mod:`sensor.lsl`. Iterate with ``async for item in source``;
    ``await source.aclose()`` stops it cleanly (disconnecting any device).
    """

    def __aiter__(self) -> AsyncIterator[SourceItem]: ...

    async def aclose(self) -> None: ...
