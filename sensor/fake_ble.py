"""An in-memory twin of bleak for heart-rate straps: scanner, client and a simulated clock.

:class:`FakeBleWorld` is a small discrete-event simulation. It holds scripted straps
(:class:`FakeStrap`) and a simulated host clock; it offers a ``BleakClient``-like factory
(:meth:`FakeBleWorld.client`), a ``BleakScanner``-like object (:attr:`FakeBleWorld.scanner`), and
the ``clock``/``sleep`` pair to give to :class:`sensor.ble.BleSource`. Time advances only from one
scheduled event to the next (notifications, link losses, the end of a scan, a connect, a backoff
wait), after the event loop has settled, so a test of minutes of reconnect logic runs in
milliseconds and is deterministic.

A strap notifies at scripted host times whether or not anyone listens: notifications that fall
while it is not connected and subscribed are lost (counted in :attr:`FakeStrap.lost`). Scripts are
plain ``(host time, payload)`` pairs, so late bursts, duplicates and malformed payloads are just
entries; :func:`notifications_from_rr` builds the script of a strap from RR intervals with the same
encoder the parser is tested against.

Examples
--------
>>> import asyncio
>>> from sensor.ble import BleSource, DeviceSpec
>>> strap = FakeStrap("AA:00:00:00:00:01", "Fake H10",
...                   notifications=notifications_from_rr([1000.0] * 20, start_s=1000.0))
>>> async def demo():
...     async with FakeBleWorld([strap]) as world:
...         source = BleSource([DeviceSpec("patient", "Fake H10")], client_factory=world.client,
...                            scanner=world.scanner, clock=world.time, sleep=world.sleep)
...         beats = 0
...         async for item in source:
...             beats += len(getattr(item, "rr_ms", ()))
...             if beats >= 3:
...                 await source.aclose()
...         return beats
>>> asyncio.run(demo()) >= 3
True
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Final

import numpy as np
from numpy.typing import ArrayLike

from sensor.gatt import (
    BATTERY_LEVEL_UUID,
    BODY_SENSOR_LOCATION_UUID,
    HEART_RATE_MEASUREMENT_UUID,
    HEART_RATE_SERVICE_UUID,
    RR_UNITS_PER_S,
    encode_heart_rate_measurement,
)

__all__ = [
    "FakeAdvertisementData",
    "FakeBLEDevice",
    "FakeBleError",
    "FakeBleWorld",
    "FakeBleakClient",
    "FakeBleakScanner",
    "FakeCharacteristic",
    "FakeStrap",
    "notifications_from_rr",
]

#: Simulated duration of a connection set-up, s.
DEFAULT_CONNECT_S: Final[float] = 0.5
#: Event-loop turns given to the code under test after each simulated event.
_SETTLE_TURNS: Final[int] = 40


class FakeBleError(Exception):
    """What the fake raises where bleak raises ``BleakError``."""


def notifications_from_rr(
    rr_ms: ArrayLike,
    *,
    start_s: float,
    period_s: float = 1.0,
    contact: bool | None = True,
) -> list[tuple[float, bytes]]:
    """Script of 0x2A37 notifications a strap would send for these beats.

    The first RR interval starts at ``start_s`` (so the first beat is at ``start_s + RR_0``);
    every ``period_s`` from ``start_s`` the strap notifies the beats completed since its previous
    notification, with the heart rate of those beats (the previous heart rate if none).

    Parameters
    ----------
    rr_ms : array_like
        RR intervals, ms (rounded to the 1/1024 s of the protocol).
    start_s : float
        Host time at which the first RR interval starts, s.
    period_s : float
        Notification period, s.
    contact : bool or None
        Sensor-contact state to send.

    Returns
    -------
    list of (float, bytes)
        ``(host time, payload)``, in time order.

    Examples
    --------
    >>> [(t, p.hex(" ")) for t, p in notifications_from_rr([500.0, 700.0], start_s=0.0)]
    [(1.0, '16 78 00 02'), (2.0, '16 56 cd 02')]
    """
    rr = np.asarray(rr_ms, dtype=np.float64).reshape(-1)
    raw = np.rint(rr * RR_UNITS_PER_S / 1000.0).astype(np.int64)
    ends = start_s + np.cumsum(raw) / RR_UNITS_PER_S
    if raw.size == 0:
        return []
    n_packets = math.ceil((ends[-1] - start_s) / period_s - 1e-12)
    send_times = start_s + period_s * np.arange(1, n_packets + 1)
    # Index of the first beat not yet completed at each send time (vectorised grouping).
    cut = np.searchsorted(ends, send_times + 1e-9, side="right")
    out: list[tuple[float, bytes]] = []
    prev = 0
    hr = 60
    for t, stop in zip(send_times.tolist(), cut.tolist(), strict=True):
        chunk = raw[prev:stop]
        if chunk.size:
            hr = min(round(60.0 * RR_UNITS_PER_S / float(np.mean(chunk))), 255)
        out.append((t, encode_heart_rate_measurement(hr, chunk.tolist(), contact=contact)))
        prev = stop
    return out


@dataclass
class FakeStrap:
    """A scripted heart-rate strap.

    Attributes
    ----------
    address, name : str
        Advertised address and name.
    rssi : int
        Advertised signal strength, dBm.
    notifications : sequence of (float, bytes)
        0x2A37 payloads and the host time each is delivered at (late bursts, duplicates and
        malformed payloads are just entries).
    outages : sequence of (float, float)
        ``(lost at, back at)`` host times: the link drops at the first time (the client's
        disconnected callback fires) and the strap neither advertises nor accepts connections
        until the second (``math.inf``: never again).
    refuse_connects : int
        Number of connection attempts refused before one succeeds.
    battery_pct : int or None
        Battery level read from 0x2A19 (None: no Battery Service).
    battery_notifies : bool
        Whether 0x2A19 can be subscribed.
    battery_updates : sequence of (float, int)
        Battery notifications (host time, percent).
    body_sensor_location : int or None
        Value of 0x2A38 (1 = chest); None if not offered.
    advertises_hr : bool
        Whether the advertisement lists the Heart Rate Service.
    delivered, lost : int
        Notifications delivered to a subscribed client, and sent while nobody listened.
    delivered_log : list of (float, bytes)
        Every delivered notification with its simulated delivery time.
    connects : int
        Successful connections.
    """

    address: str
    name: str | None = "Fake HR strap"
    rssi: int = -60
    notifications: Sequence[tuple[float, bytes]] = ()
    outages: Sequence[tuple[float, float]] = ()
    refuse_connects: int = 0
    battery_pct: int | None = 90
    battery_notifies: bool = False
    battery_updates: Sequence[tuple[float, int]] = ()
    body_sensor_location: int | None = 1
    advertises_hr: bool = True
    delivered: int = field(default=0, init=False)
    delivered_log: list[tuple[float, bytes]] = field(default_factory=list, init=False)
    lost: int = field(default=0, init=False)
    connects: int = field(default=0, init=False)
    _available: bool = field(default=True, init=False, repr=False)
    _refusals_left: int = field(default=0, init=False, repr=False)
    _client: FakeBleakClient | None = field(default=None, init=False, repr=False)


@dataclass(frozen=True, slots=True)
class FakeBLEDevice:
    """Stands for ``bleak.backends.device.BLEDevice``."""

    address: str
    name: str | None


@dataclass(frozen=True, slots=True)
class FakeAdvertisementData:
    """Stands for ``bleak.backends.scanner.AdvertisementData``."""

    local_name: str | None
    rssi: int
    service_uuids: list[str]


@dataclass(frozen=True, slots=True)
class FakeCharacteristic:
    """Stands for ``bleak.backends.characteristic.BleakGATTCharacteristic``."""

    uuid: str
    properties: list[str]


class _FakeServices:
    def __init__(self, strap: FakeStrap) -> None:
        chars = [FakeCharacteristic(HEART_RATE_MEASUREMENT_UUID, ["notify"])]
        if strap.body_sensor_location is not None:
            chars.append(FakeCharacteristic(BODY_SENSOR_LOCATION_UUID, ["read"]))
        if strap.battery_pct is not None:
            props = ["read", "notify"] if strap.battery_notifies else ["read"]
            chars.append(FakeCharacteristic(BATTERY_LEVEL_UUID, props))
        self._chars = {c.uuid: c for c in chars}

    def get_characteristic(self, specifier: str) -> FakeCharacteristic | None:
        return self._chars.get(str(specifier).lower())


class FakeBleakScanner:
    """``BleakScanner.discover`` over the straps of a :class:`FakeBleWorld`."""

    def __init__(self, world: FakeBleWorld) -> None:
        self._world = world
        self.scans = 0

    async def discover(
        self,
        timeout: float = 5.0,
        *,
        return_adv: bool = False,
        service_uuids: list[str] | None = None,
        **kwargs: Any,
    ) -> Any:
        """Scan for ``timeout`` simulated seconds; same return shapes as bleak."""
        self.scans += 1
        world = self._world
        world._setups += 1
        world.max_parallel_setups = max(world.max_parallel_setups, world._setups)
        try:
            await world.sleep(timeout)
        finally:
            world._setups -= 1
        found: dict[str, tuple[FakeBLEDevice, FakeAdvertisementData]] = {}
        for strap in self._world.straps:
            uuids = [HEART_RATE_SERVICE_UUID] if strap.advertises_hr else []
            if not strap._available or (service_uuids and not set(service_uuids) & set(uuids)):
                continue
            found[strap.address] = (
                FakeBLEDevice(strap.address, strap.name),
                FakeAdvertisementData(strap.name, strap.rssi, uuids),
            )
        if return_adv:
            return found
        return [device for device, _ in found.values()]


class FakeBleakClient:
    """``BleakClient`` for one strap of a :class:`FakeBleWorld` (build with its ``client``)."""

    def __init__(
        self,
        world: FakeBleWorld,
        address_or_ble_device: Any,
        disconnected_callback: Callable[[Any], None] | None = None,
        *,
        timeout: float = 10.0,
        **kwargs: Any,
    ) -> None:
        self._world = world
        self.address: str = str(getattr(address_or_ble_device, "address", address_or_ble_device))
        self._disconnected_callback = disconnected_callback
        self.timeout = timeout
        self._connected = False
        self._hr_callback: Callable[[Any, bytearray], None] | None = None
        self._battery_callback: Callable[[Any, bytearray], None] | None = None

    @property
    def is_connected(self) -> bool:
        """Whether the link is up."""
        return self._connected

    @property
    def services(self) -> _FakeServices:
        """The strap's GATT table (``get_characteristic``)."""
        return _FakeServices(self._strap())

    def _strap(self) -> FakeStrap:
        for strap in self._world.straps:
            if strap.address.casefold() == self.address.casefold():
                return strap
        raise FakeBleError(f"no device {self.address}")

    async def connect(self, **kwargs: Any) -> None:
        """Connect after a simulated set-up time; fails if unreachable or refusing."""
        world = self._world
        world._setups += 1
        world.max_parallel_setups = max(world.max_parallel_setups, world._setups)
        try:
            await world.sleep(world.connect_s)
        finally:
            world._setups -= 1
        strap = self._strap()
        ok = strap._available and strap._refusals_left == 0 and strap._client is None
        world.connect_log.append((world.now, strap.address, ok))
        if not strap._available:
            raise FakeBleError(f"{strap.address} is out of reach (simulated)")
        if strap._refusals_left > 0:
            strap._refusals_left -= 1
            raise FakeBleError(f"{strap.address} refused the connection (simulated)")
        if strap._client is not None:
            raise FakeBleError(f"{strap.address} is already connected")
        strap.connects += 1
        strap._client = self
        self._connected = True

    async def disconnect(self) -> None:
        """Disconnect (the disconnected callback fires, as in bleak)."""
        self._drop()

    def _drop(self) -> None:
        if not self._connected:
            return
        self._connected = False
        self._hr_callback = None
        self._battery_callback = None
        strap = self._strap()
        if strap._client is self:
            strap._client = None
        if self._disconnected_callback is not None:
            self._disconnected_callback(self)

    async def start_notify(
        self, char_specifier: Any, callback: Callable[[Any, bytearray], None], **kwargs: Any
    ) -> None:
        """Subscribe to 0x2A37, or to 0x2A19 where the strap notifies battery."""
        if not self._connected:
            raise FakeBleError("not connected")
        uuid = str(char_specifier).lower()
        if uuid == HEART_RATE_MEASUREMENT_UUID:
            self._hr_callback = callback
        elif uuid == BATTERY_LEVEL_UUID and self._strap().battery_notifies:
            self._battery_callback = callback
        else:
            raise FakeBleError(f"characteristic {uuid} does not notify")

    async def read_gatt_char(self, char_specifier: Any, **kwargs: Any) -> bytearray:
        """Read 0x2A38 or 0x2A19."""
        if not self._connected:
            raise FakeBleError("not connected")
        strap = self._strap()
        uuid = str(char_specifier).lower()
        if uuid == BODY_SENSOR_LOCATION_UUID and strap.body_sensor_location is not None:
            return bytearray([strap.body_sensor_location])
        if uuid == BATTERY_LEVEL_UUID and strap.battery_pct is not None:
            return bytearray([strap.battery_pct])
        raise FakeBleError(f"characteristic {uuid} not found")


class FakeBleWorld:
    """Scripted straps, a simulated host clock, and the bleak twins that read them.

    Parameters
    ----------
    straps : sequence of FakeStrap
        The straps in radio range.
    start_s : float
        Simulated host time at the start, s.
    connect_s : float
        Simulated duration of a connection set-up, s.

    Use as ``async with FakeBleWorld(straps) as world:``; pass ``world.client``,
    ``world.scanner``, ``world.time`` and ``world.sleep`` to the code under test.

    Attributes
    ----------
    connect_log : list of (float, str, bool)
        Every connection attempt: simulated time it ended, address, success.
    max_parallel_setups : int
        Most scans and connection set-ups in progress at the same time.
    """

    def __init__(
        self,
        straps: Sequence[FakeStrap],
        *,
        start_s: float = 1000.0,
        connect_s: float = DEFAULT_CONNECT_S,
    ) -> None:
        self.straps = list(straps)
        self.now = float(start_s)
        self.connect_s = float(connect_s)
        self.scanner = FakeBleakScanner(self)
        self.connect_log: list[tuple[float, str, bool]] = []
        self.max_parallel_setups = 0
        self._setups = 0
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        for strap in self.straps:
            strap._refusals_left = strap.refuse_connects
            strap._available = True
            for t, payload in strap.notifications:
                self._at(t, functools.partial(self._notify, strap, payload))
            for t, pct in strap.battery_updates:
                self._at(t, functools.partial(self._battery, strap, pct))
            for lost_at, back_at in strap.outages:
                self._at(lost_at, functools.partial(self._lose, strap))
                if math.isfinite(back_at):
                    self._at(back_at, functools.partial(self._restore, strap))

    # ------------------------------------------------------------- injection
    def time(self) -> float:
        """The simulated host clock, s."""
        return self.now

    async def sleep(self, delay_s: float) -> None:
        """Sleep ``delay_s`` simulated seconds."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not fut.done():
                fut.set_result(None)

        self._at(self.now + max(0.0, delay_s), wake)
        await fut

    def client(
        self,
        address_or_ble_device: Any,
        disconnected_callback: Callable[[Any], None] | None = None,
        *,
        timeout: float = 10.0,
        **kwargs: Any,
    ) -> FakeBleakClient:
        """A ``BleakClient``-like client of this world (the client factory)."""
        return FakeBleakClient(self, address_or_ble_device, disconnected_callback, timeout=timeout)

    def call_at(self, t: float, action: Callable[[], None]) -> None:
        """Run ``action`` when the simulated clock reaches ``t`` (s)."""
        self._at(t, action)

    # ------------------------------------------------------------- lifecycle
    async def __aenter__(self) -> FakeBleWorld:
        self._task = asyncio.create_task(self._run(), name="fake-ble-world")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            for _ in range(_SETTLE_TURNS):
                await asyncio.sleep(0)
            if not self._heap:
                self._wake.clear()
                await self._wake.wait()
                continue
            t, _, action = heapq.heappop(self._heap)
            self.now = max(self.now, t)
            action()

    # ---------------------------------------------------------------- events
    def _at(self, t: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._heap, (t, next(self._order), action))
        self._wake.set()

    def _notify(self, strap: FakeStrap, payload: bytes) -> None:
        client = strap._client
        if client is None or client._hr_callback is None:
            strap.lost += 1
            return
        strap.delivered += 1
        strap.delivered_log.append((self.now, payload))
        client._hr_callback(HEART_RATE_MEASUREMENT_UUID, bytearray(payload))

    def _battery(self, strap: FakeStrap, pct: int) -> None:
        strap.battery_pct = pct
        client = strap._client
        if client is not None and client._battery_callback is not None:
            client._battery_callback(BATTERY_LEVEL_UUID, bytearray([pct]))

    def _restore(self, strap: FakeStrap) -> None:
        strap._available = True

    def _lose(self, strap: FakeStrap) -> None:
        strap._available = False
        if strap._client is not None:
            strap._client._drop()
