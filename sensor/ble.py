"""Bluetooth Low Energy heart-rate straps as a :class:`~sensor.types.BeatSource` (via bleak).

This is the only module of Sintonia that talks to bleak, and even here bleak is only imported by
:func:`bleak_backend`: :class:`BleSource` receives a *client factory* (``bleak.BleakClient`` or
a twin such as :mod:`sensor.fake_ble`) and a *scanner* (``bleak.BleakScanner``) at its
composition root, so every path below is tested without a radio.

Flow for each strap (one :class:`DeviceSpec` per participant)::

    scan for 0x180D --> connect --> read 0x2A38 (location), 0x2A19 (battery)
        --> subscribe 0x2A37 (and 0x2A19 where it notifies)
    notification callback: queue.put_nowait((kind, host_time, bytes))      # nothing else
    consumer task: NotificationDecoder.feed --> BeatBatch / DeviceEvent --> the source's output

- Straps are connected **one after the other** (a lock serialises every scan and connect: parallel
  connects fail on BlueZ), then stream concurrently.
- On an **unsolicited disconnect** the consumer emits ``disconnected``, resets the strap's beat
  clock (the next batch has ``gap_before=True``), and rescans and reconnects with capped
  exponential backoff (:class:`ReconnectPolicy`), emitting ``reconnecting`` before each attempt;
  after ``give_up_after_s`` without success it emits ``gave_up`` and that strap's stream ends
  (the others go on). Initial connection follows the same policy.
- :meth:`BleSource.aclose` disconnects every strap; notifications already received are still
  decoded and delivered to an ongoing iteration, which then ends: no received beat is lost.

References
----------
Bluetooth SIG, *Heart Rate Service 1.0* (0x180D: 0x2A37 notify, 0x2A38 read) and *Battery
Service 1.0* (0x180F: 0x2A19 read, notify optional).

hbldh/bleak, ``examples/async_callback_with_queue.py``: the callback only enqueues.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, Protocol, cast

from hrv.errors import ParameterError
from sensor.decoder import NotificationDecoder
from sensor.errors import (
    DeviceError,
    MalformedPacketError,
    SourceStateError,
    UnknownParticipantError,
)
from sensor.gatt import (
    BATTERY_LEVEL_UUID,
    BODY_SENSOR_LOCATION_UUID,
    HEART_RATE_MEASUREMENT_UUID,
    HEART_RATE_SERVICE_UUID,
    parse_body_sensor_location,
)
from sensor.timing import BeatClock
from sensor.types import DeviceEvent, DeviceEventKind, SourceItem

__all__ = [
    "BleSource",
    "ClientFactory",
    "DeviceSpec",
    "FoundStrap",
    "GattClient",
    "ReconnectPolicy",
    "Scanner",
    "backoff_delays",
    "bleak_backend",
    "find_strap",
    "host_clock",
    "parse_battery_level",
    "scan_heart_rate_straps",
]

logger = logging.getLogger(__name__)

#: A BLE address (``AA:BB:CC:DD:EE:FF``) or a CoreBluetooth UUID (macOS); anything else is a name.
_ADDRESS_RE: Final[re.Pattern[str]] = re.compile(
    r"^([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}$|^[0-9A-Fa-f]{8}-([0-9A-Fa-f]{4}-){3}[0-9A-Fa-f]{12}$"
)


# ----------------------------------------------------------------------------- injected backend
class GattClient(Protocol):
    """The part of ``bleak.BleakClient`` that :class:`BleSource` uses."""

    @property
    def is_connected(self) -> bool: ...

    @property
    def services(self) -> Any: ...

    async def connect(self) -> Any: ...

    async def disconnect(self) -> Any: ...

    async def start_notify(
        self, char_specifier: str, callback: Callable[[Any, bytearray], None]
    ) -> None: ...

    async def read_gatt_char(self, char_specifier: str) -> bytearray: ...


class ClientFactory(Protocol):
    """Builds a client for one device: the signature of ``bleak.BleakClient``."""

    def __call__(
        self,
        address_or_ble_device: Any,
        disconnected_callback: Callable[[Any], None] | None = None,
        *,
        timeout: float = ...,
    ) -> GattClient: ...


class Scanner(Protocol):
    """The part of ``bleak.BleakScanner`` that is used: its ``discover`` class method."""

    async def discover(
        self,
        timeout: float = ...,
        *,
        return_adv: bool = ...,
        service_uuids: list[str] | None = ...,
    ) -> Any: ...


def bleak_backend() -> tuple[ClientFactory, Scanner]:
    """Return ``(bleak.BleakClient, bleak.BleakScanner)`` for the composition root.

    Imported here, on demand, so that the rest of the package (and its tests) never need a
    Bluetooth stack.

    Examples
    --------
    >>> client_factory, scanner = bleak_backend()
    >>> client_factory.__name__, scanner.__name__
    ('BleakClient', 'BleakScanner')
    """
    from bleak import BleakClient, BleakScanner

    return cast(ClientFactory, BleakClient), cast(Scanner, BleakScanner)


def host_clock() -> Callable[[], float]:
    """A host clock for receipt times: Unix epoch seconds that never go backwards.

    The epoch is read once; the monotonic clock measures from there, so an NTP step during a
    session cannot reorder beats.

    Examples
    --------
    >>> now = host_clock()
    >>> t1 = now(); t2 = now()
    >>> t2 >= t1 > 1.6e9
    True
    """
    epoch0 = time.time()
    mono0 = time.monotonic()

    def now() -> float:
        return epoch0 + (time.monotonic() - mono0)

    return now


# ------------------------------------------------------------------------------------- scanning
@dataclass(frozen=True, slots=True)
class DeviceSpec:
    """Which strap a participant wears.

    Attributes
    ----------
    participant : str
        Pseudonymous code or role (``"patient"``, ``"therapist"``).
    address_or_name : str
        BLE address (``AA:BB:CC:DD:EE:FF``; a UUID on macOS) or advertised name
        (``"Polar H10 1A2B3C4D"``), matched case-insensitively.
    """

    participant: str
    address_or_name: str

    @property
    def is_address(self) -> bool:
        """Whether :attr:`address_or_name` looks like an address rather than a name."""
        return bool(_ADDRESS_RE.match(self.address_or_name))


@dataclass(frozen=True, slots=True)
class FoundStrap:
    """A device advertising the Heart Rate Service.

    Attributes
    ----------
    address : str
        BLE address (or platform UUID).
    name : str or None
        Advertised name.
    rssi : int or None
        Received signal strength, dBm.
    device : object
        The backend's device handle (``bleak.backends.device.BLEDevice``) to connect with.
    """

    address: str
    name: str | None
    rssi: int | None
    device: Any = field(repr=False, compare=False)


async def scan_heart_rate_straps(scanner: Scanner, timeout_s: float = 5.0) -> list[FoundStrap]:
    """Scan for devices advertising the Heart Rate Service (0x180D).

    Parameters
    ----------
    scanner : Scanner
        ``bleak.BleakScanner`` or a twin.
    timeout_s : float
        Scan duration, s.

    Returns
    -------
    list of FoundStrap
        Strongest signal first.

    Examples
    --------
    >>> import asyncio
    >>> from sensor.fake_ble import FakeBleWorld, FakeStrap
    >>> async def demo():
    ...     straps = [FakeStrap("AA:00:00:00:00:01", "Far", rssi=-80),
    ...               FakeStrap("AA:00:00:00:00:02", "Near", rssi=-45)]
    ...     async with FakeBleWorld(straps) as world:
    ...         return [s.name for s in await scan_heart_rate_straps(world.scanner, 1.0)]
    >>> asyncio.run(demo())
    ['Near', 'Far']
    """
    found = await scanner.discover(
        timeout=timeout_s, return_adv=True, service_uuids=[HEART_RATE_SERVICE_UUID]
    )
    straps = []
    for device, adv in dict(found).values():
        uuids = [u.lower() for u in (getattr(adv, "service_uuids", None) or [])]
        if uuids and HEART_RATE_SERVICE_UUID not in uuids:
            continue
        name = getattr(device, "name", None) or getattr(adv, "local_name", None)
        rssi = getattr(adv, "rssi", None)
        straps.append(FoundStrap(str(device.address), name, rssi, device))
    straps.sort(key=lambda s: -(s.rssi if s.rssi is not None else -999))
    return straps


async def find_strap(scanner: Scanner, address_or_name: str, timeout_s: float = 5.0) -> FoundStrap:
    """Scan and return the heart-rate strap with this address or name.

    Raises
    ------
    DeviceError
        If no heart-rate device with that address or name answered within ``timeout_s``.

    Examples
    --------
    >>> import asyncio
    >>> from sensor.fake_ble import FakeBleWorld, FakeStrap
    >>> async def demo():
    ...     async with FakeBleWorld([FakeStrap("AA:00:00:00:00:01", "Polar H10 1A2B")]) as world:
    ...         return (await find_strap(world.scanner, "polar h10 1a2b", 1.0)).address
    >>> asyncio.run(demo())
    'AA:00:00:00:00:01'
    """
    straps = await scan_heart_rate_straps(scanner, timeout_s)
    key = address_or_name.casefold()
    for strap in straps:
        if strap.address.casefold() == key or (strap.name or "").casefold() == key:
            return strap
    seen = ", ".join(f"{s.name or '?'} ({s.address})" for s in straps) or "none"
    raise DeviceError(
        f"expected a heart-rate strap {address_or_name!r} within {timeout_s:g} s of scanning; "
        f"found {seen}"
    )


def parse_battery_level(data: bytes | bytearray) -> int:
    """Decode Battery Level (0x2A19): one uint8, percent (0-100).

    Raises
    ------
    MalformedPacketError
        If the payload is not one byte of 0-100.

    Examples
    --------
    >>> parse_battery_level(b"\\x5a")
    90
    """
    payload = bytes(data)
    if len(payload) != 1 or payload[0] > 100:
        raise MalformedPacketError("Battery Level must be one byte of 0-100 %", payload)
    return payload[0]


# ------------------------------------------------------------------------------------ reconnect
@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    """When and how long to try (re)connecting a strap.

    Attributes
    ----------
    initial_backoff_s : float
        Wait after the first failed attempt, s.
    max_backoff_s : float
        Cap of the wait between attempts, s.
    factor : float
        Growth of the wait after each failed attempt.
    give_up_after_s : float
        Stop trying this long after the link was lost (or the source started), s.
    scan_timeout_s : float
        Scan duration of each attempt, s.
    connect_timeout_s : float
        Passed to the client as its connection timeout, s.
    """

    initial_backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    factor: float = 2.0
    give_up_after_s: float = 300.0
    scan_timeout_s: float = 5.0
    connect_timeout_s: float = 20.0

    def __post_init__(self) -> None:
        if not 0 < self.initial_backoff_s <= self.max_backoff_s:
            raise ParameterError(
                "expected 0 < initial_backoff_s <= max_backoff_s, got "
                f"{self.initial_backoff_s!r} and {self.max_backoff_s!r}"
            )
        if not self.factor >= 1:
            raise ParameterError(f"factor must be >= 1, got {self.factor!r}")
        if not self.give_up_after_s >= 0:
            raise ParameterError(f"give_up_after_s must be >= 0 s, got {self.give_up_after_s!r}")


def backoff_delays(policy: ReconnectPolicy) -> Iterator[float]:
    """Waits between attempts: capped exponential backoff.

    Notes
    -----
    :math:`d_n = \\min(d_0 f^n, d_{max})`, ``n = 0, 1, ...``.

    Examples
    --------
    >>> from itertools import islice
    >>> list(islice(backoff_delays(ReconnectPolicy(1.0, 10.0, 2.0)), 6))
    [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    """
    delay = policy.initial_backoff_s
    while True:
        yield delay
        delay = min(delay * policy.factor, policy.max_backoff_s)


# --------------------------------------------------------------------------------------- source
_RawKind = Literal["hr", "battery"]


@dataclass(frozen=True, slots=True)
class _Lost:
    generation: int


#: Real time (s) aclose() waits for a connection attempt in flight before cancelling it.
_CLOSE_GRACE_S: Final[float] = 5.0

_STOP: Final = object()
_DONE: Final = object()


@dataclass
class _Strap:
    spec: DeviceSpec
    decoder: NotificationDecoder
    raw: asyncio.Queue[tuple[_RawKind, float, bytes] | _Lost | object]
    client: GattClient | None = None
    generation: int = 0
    task: asyncio.Task[None] | None = None
    battery_pct: int | None = None
    location: str | None = None


class BleSource:
    """Beats from one or more BLE heart-rate straps (implements :class:`~sensor.types.BeatSource`).

    Parameters
    ----------
    devices : sequence of DeviceSpec
        One strap per participant.
    client_factory : ClientFactory
        ``bleak.BleakClient`` (see :func:`bleak_backend`) or a twin.
    scanner : Scanner
        ``bleak.BleakScanner`` or a twin.
    policy : ReconnectPolicy
        Backoff and give-up times.
    clock : callable, optional
        Host clock for receipt times, s (default :func:`host_clock`).
    sleep : callable, optional
        Awaitable sleep used between attempts (default :func:`asyncio.sleep`); tests inject a
        simulated one.
    beat_clock_factory : callable, optional
        Builds the :class:`~sensor.timing.BeatClock` of each strap.

    Notes
    -----
    Besides the :class:`~sensor.types.BeatBatch` items and the decoder's ``contact`` and
    ``malformed_packet`` events (:mod:`sensor.decoder`), the stream carries these
    :class:`~sensor.types.DeviceEvent` kinds (``value``; ``detail``):

    - ``connecting`` / ``reconnecting``: before each attempt (attempt number; ``target``, and
      ``last_error`` from the second attempt on).
    - ``connected``: (RSSI, dBm; ``address``, ``name``, ``attempt``, ``body_sensor_location``
      when offered, ``offline_s`` after a reconnect).
    - ``disconnected``: an unsolicited loss of the link (-; ``reason``).
    - ``battery``: after connecting and on each battery notification (percent).
    - ``gave_up``: no connection within ``give_up_after_s``; this strap's stream ends
      (seconds spent trying; ``attempts``, ``last_error``).

    Examples
    --------
    The composition root (the command line, the server) wires bleak in::

        client_factory, scanner = bleak_backend()
        source = BleSource([DeviceSpec("patient", "Polar H10 1A2B3C4D")],
                           client_factory=client_factory, scanner=scanner)
        async for item in source:
            ...
        await source.aclose()
    """

    def __init__(
        self,
        devices: Sequence[DeviceSpec],
        *,
        client_factory: ClientFactory,
        scanner: Scanner,
        policy: ReconnectPolicy | None = None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        beat_clock_factory: Callable[[], BeatClock] = BeatClock,
    ) -> None:
        if not devices:
            raise ParameterError("expected at least one DeviceSpec, got none")
        participants = [d.participant for d in devices]
        if len(set(participants)) != len(participants):
            raise ParameterError(f"expected one strap per participant, got {participants}")
        self._client_factory = client_factory
        self._scanner = scanner
        self.policy = policy if policy is not None else ReconnectPolicy()
        self._clock = clock if clock is not None else host_clock()
        self._sleep = sleep if sleep is not None else asyncio.sleep
        self._straps = [
            _Strap(
                spec=d,
                decoder=NotificationDecoder(d.participant, d.address_or_name, beat_clock_factory()),
                raw=asyncio.Queue(),
            )
            for d in devices
        ]
        self._out: asyncio.Queue[SourceItem | object] = asyncio.Queue()
        self._connect_lock = asyncio.Lock()
        self._closing = asyncio.Event()
        self._started = False
        self._iterating = False
        self._closed = False

    # ---------------------------------------------------------------- public
    @property
    def decoders(self) -> dict[str, NotificationDecoder]:
        """The decoder of each participant (counters, latest heart rate and contact)."""
        return {s.spec.participant: s.decoder for s in self._straps}

    def battery(self, participant: str) -> int | None:
        """Latest battery level of a participant's strap, percent (None if unknown)."""
        for s in self._straps:
            if s.spec.participant == participant:
                return s.battery_pct
        raise UnknownParticipantError(participant)

    def start(self) -> None:
        """Start connecting (in order) and streaming; called by the first iteration."""
        if self._started or self._closed:
            return
        self._started = True
        for strap in self._straps:
            strap.task = asyncio.create_task(self._run(strap), name=f"ble:{strap.spec.participant}")

    def __aiter__(self) -> AsyncIterator[SourceItem]:
        if self._iterating:
            raise SourceStateError("a BleSource can be iterated only once")
        self._iterating = True
        return self._iterate()

    async def aclose(self) -> None:
        """Disconnect every strap and end the stream once the beats received are delivered."""
        if self._closed:
            return
        self._closed = True
        self._closing.set()
        for strap in self._straps:
            await self._disconnect(strap)
            strap.raw.put_nowait(_STOP)
        tasks = [s.task for s in self._straps if s.task is not None]
        if tasks:
            # A connection attempt in flight finishes (and is then disconnected) or, if the
            # backend hangs, is cancelled after a grace period.
            _, pending = await asyncio.wait(tasks, timeout=_CLOSE_GRACE_S)
            for task in pending:
                logger.warning("%s: still busy at close, cancelled", task.get_name())
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if not self._started:
            for _ in self._straps:
                self._out.put_nowait(_DONE)

    # --------------------------------------------------------------- private
    async def _iterate(self) -> AsyncIterator[SourceItem]:
        self.start()
        remaining = len(self._straps)
        while remaining:
            item = await self._out.get()
            if item is _DONE:
                remaining -= 1
                continue
            yield cast(SourceItem, item)

    def _event(
        self,
        strap: _Strap,
        kind: DeviceEventKind,
        value: float | None = None,
        **detail: str,
    ) -> None:
        self._out.put_nowait(
            DeviceEvent(
                strap.spec.participant, strap.decoder.device, kind, self._clock(), value, detail
            )
        )

    async def _run(self, strap: _Strap) -> None:
        try:
            if await self._connect_with_retry(strap, offline_from=None):
                await self._consume(strap)
        except Exception as exc:  # a bug must end this strap's stream visibly, not silently
            logger.exception("%s: stream failed", strap.spec.participant)
            self._event(strap, "gave_up", None, last_error=f"{type(exc).__name__}: {exc}")
        finally:
            await self._disconnect(strap)
            self._drain(strap)
            self._out.put_nowait(_DONE)

    async def _consume(self, strap: _Strap) -> None:
        while True:
            item = await strap.raw.get()
            if item is _STOP:
                return
            if isinstance(item, _Lost):
                if self._closing.is_set() or item.generation != strap.generation:
                    continue
                offline_from = self._clock()
                logger.warning("%s: link to %s lost", strap.spec.participant, strap.decoder.device)
                self._event(strap, "disconnected", reason="unsolicited")
                strap.client = None
                strap.decoder.reset()
                if not await self._connect_with_retry(strap, offline_from=offline_from):
                    return
                continue
            self._handle_raw(strap, cast(tuple[_RawKind, float, bytes], item))

    def _handle_raw(self, strap: _Strap, item: tuple[_RawKind, float, bytes]) -> None:
        kind, host_time, data = item
        if kind == "hr":
            for out in strap.decoder.feed(host_time, data):
                self._out.put_nowait(out)
            return
        try:
            strap.battery_pct = parse_battery_level(data)
        except MalformedPacketError as exc:
            logger.warning("%s: %s", strap.decoder.device, exc)
            return
        self._out.put_nowait(
            DeviceEvent(
                strap.spec.participant,
                strap.decoder.device,
                "battery",
                host_time,
                float(strap.battery_pct),
            )
        )

    def _drain(self, strap: _Strap) -> None:
        """Decode what is still queued (a clean stop keeps every beat received)."""
        while not strap.raw.empty():
            item = strap.raw.get_nowait()
            if isinstance(item, tuple):
                self._handle_raw(strap, cast(tuple[_RawKind, float, bytes], item))

    async def _connect_with_retry(self, strap: _Strap, *, offline_from: float | None) -> bool:
        """Connect (``offline_from`` None) or reconnect, retrying; False if given up or closed."""
        reconnect = offline_from is not None
        policy = self.policy
        started = self._clock()
        delays = backoff_delays(policy)
        attempt = 0
        last_error = ""
        while not self._closing.is_set():
            attempt += 1
            detail = {"target": strap.spec.address_or_name}
            if last_error:
                detail["last_error"] = last_error
            self._event(strap, "reconnecting" if reconnect else "connecting", attempt, **detail)
            try:
                async with self._connect_lock:
                    if self._closing.is_set():
                        return False
                    await self._connect_once(strap, attempt, offline_from)
                return True
            except Exception as exc:  # any failure of scan/connect/subscribe is one attempt
                logger.info(
                    "%s: attempt %d to connect %s failed: %s",
                    strap.spec.participant,
                    attempt,
                    strap.spec.address_or_name,
                    exc,
                )
                last_error = f"{type(exc).__name__}: {exc}"
            elapsed = self._clock() - started
            if elapsed >= policy.give_up_after_s:
                logger.error(
                    "%s: gave up on %s after %.0f s (%d attempts)",
                    strap.spec.participant,
                    strap.spec.address_or_name,
                    elapsed,
                    attempt,
                )
                self._event(strap, "gave_up", elapsed, attempts=str(attempt), last_error=last_error)
                return False
            wait = min(next(delays), policy.give_up_after_s - elapsed)
            await self._wait_or_close(wait)
        return False

    async def _wait_or_close(self, delay_s: float) -> None:
        sleeper = asyncio.ensure_future(self._sleep(delay_s))
        closer = asyncio.ensure_future(self._closing.wait())
        try:
            await asyncio.wait({sleeper, closer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for fut in (sleeper, closer):
                fut.cancel()
            await asyncio.gather(sleeper, closer, return_exceptions=True)

    async def _connect_once(self, strap: _Strap, attempt: int, offline_from: float | None) -> None:
        policy = self.policy
        found = await find_strap(self._scanner, strap.spec.address_or_name, policy.scan_timeout_s)
        strap.generation += 1
        generation = strap.generation
        raw = strap.raw
        clock = self._clock

        def on_disconnect(_client: Any) -> None:
            raw.put_nowait(_Lost(generation))

        def on_heart_rate(_char: Any, data: bytearray) -> None:
            raw.put_nowait(("hr", clock(), bytes(data)))

        def on_battery(_char: Any, data: bytearray) -> None:
            raw.put_nowait(("battery", clock(), bytes(data)))

        client = self._client_factory(
            found.device, disconnected_callback=on_disconnect, timeout=policy.connect_timeout_s
        )
        await client.connect()
        try:
            strap.decoder.device = found.address
            details = {"address": found.address, "name": found.name or "", "attempt": str(attempt)}
            if offline_from is not None:
                details["offline_s"] = f"{self._clock() - offline_from:.3f}"
            with contextlib.suppress(Exception):
                strap.location = parse_body_sensor_location(
                    await client.read_gatt_char(BODY_SENSOR_LOCATION_UUID)
                )
                details["body_sensor_location"] = strap.location
            battery_notifies = False
            battery_char = _characteristic(client, BATTERY_LEVEL_UUID)
            if battery_char is not None:
                with contextlib.suppress(Exception):
                    strap.battery_pct = parse_battery_level(
                        await client.read_gatt_char(BATTERY_LEVEL_UUID)
                    )
                battery_notifies = "notify" in (getattr(battery_char, "properties", None) or [])
            await client.start_notify(HEART_RATE_MEASUREMENT_UUID, on_heart_rate)
            if battery_notifies:
                try:
                    await client.start_notify(BATTERY_LEVEL_UUID, on_battery)
                except Exception as exc:  # battery updates are optional
                    logger.info("%s: no battery notifications: %s", found.address, exc)
        except BaseException:
            with contextlib.suppress(Exception):
                await client.disconnect()
            raise
        strap.client = client
        logger.info("%s: connected to %s (%s)", strap.spec.participant, found.name, found.address)
        self._event(
            strap,
            "connected",
            float(found.rssi) if found.rssi is not None else None,
            **details,
        )
        if strap.battery_pct is not None:
            self._event(strap, "battery", float(strap.battery_pct))

    async def _disconnect(self, strap: _Strap) -> None:
        client, strap.client = strap.client, None
        if client is None:
            return
        strap.generation += 1  # the disconnect callback of this link is now stale
        try:
            await client.disconnect()
        except Exception as exc:
            logger.warning("%s: disconnect failed: %s", strap.decoder.device, exc)


def _characteristic(client: GattClient, uuid: str) -> Any:
    """The client's characteristic ``uuid`` or None (no services, or not offered)."""
    services = getattr(client, "services", None)
    if services is None:
        return None
    try:
        return services.get_characteristic(uuid)
    except Exception:
        return None
