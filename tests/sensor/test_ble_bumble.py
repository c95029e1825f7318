"""GATT-level test: BleSource against an emulated heart-rate peripheral (Google's bumble).

Two bumble devices (each a Host over an emulated Controller) share an in-process ``LocalLink``:
a peripheral with the Heart Rate Service (0x2A37 notify, 0x2A38 read) and the Battery Service
(0x2A19 read + notify), advertising 0x180D; and a central that :class:`BumbleScanner` and
:class:`BumbleClient` below drive through the same calls :class:`sensor.ble.BleSource` makes on
bleak (``discover``, ``connect``, ``read_gatt_char``, ``start_notify``, ``disconnect``). Real
ATT traffic flows: service discovery, CCCD writes, notifications, a link loss from the peripheral
side, reconnection. Real (short) time: the whole test takes well under a second.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from bumble import gatt
from bumble.controller import Controller
from bumble.core import UUID, AdvertisingData
from bumble.device import Advertisement, Connection, Device, Peer
from bumble.hci import Address
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink

from sensor.ble import BleSource, DeviceSpec, ReconnectPolicy
from sensor.types import BeatBatch, DeviceEvent, SourceItem

CAPTURE = bytes.fromhex("16 46 8a 03 44 03")  # real strap capture: HR 70, RR 906 and 836 /1024 s
PERIPHERAL_ADDR = "F1:F1:F1:F1:F1:F1"
POLICY = ReconnectPolicy(
    initial_backoff_s=0.05, max_backoff_s=0.1, give_up_after_s=5.0, scan_timeout_s=0.08
)


def _bluetooth_base_uuid(uuid: UUID) -> str:
    """A bumble UUID as bleak writes it: 128-bit, lower case, dashed."""
    raw = uuid.to_bytes(force_128=True)[::-1].hex()
    return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"


@dataclass(frozen=True)
class _Device:
    address: str
    name: str | None
    bumble_address: Address


@dataclass(frozen=True)
class _Adv:
    local_name: str | None
    rssi: int
    service_uuids: list[str]


@dataclass(frozen=True)
class _Char:
    uuid: str
    properties: list[str]
    proxy: Any


class BumbleScanner:
    """``BleakScanner.discover`` on a bumble central."""

    def __init__(self, central: Device) -> None:
        self.central = central

    async def discover(
        self,
        timeout: float = 5.0,
        *,
        return_adv: bool = False,
        service_uuids: list[str] | None = None,
        **kwargs: Any,
    ) -> Any:
        seen: dict[str, Advertisement] = {}

        def on_advertisement(adv: Advertisement) -> None:
            seen[str(adv.address)] = adv

        self.central.on("advertisement", on_advertisement)
        await self.central.start_scanning(filter_duplicates=False)
        try:
            await asyncio.sleep(timeout)
        finally:
            await self.central.stop_scanning()
            self.central.remove_listener("advertisement", on_advertisement)
        found: dict[str, tuple[_Device, _Adv]] = {}
        for address, adv in seen.items():
            uuids = [
                _bluetooth_base_uuid(u)
                for u in adv.data.get(AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS)
                or []
            ]
            if service_uuids and not set(service_uuids) & set(uuids):
                continue
            name = adv.data.get(AdvertisingData.COMPLETE_LOCAL_NAME)
            found[address] = (_Device(address, name, adv.address), _Adv(name, adv.rssi, uuids))
        return found if return_adv else [d for d, _ in found.values()]


class BumbleClient:
    """The ``BleakClient`` calls BleSource makes, on a bumble central's GATT client."""

    def __init__(
        self,
        central: Device,
        device: _Device,
        disconnected_callback: Callable[[Any], None] | None = None,
        *,
        timeout: float = 10.0,
    ) -> None:
        self.central = central
        self.device = device
        self.disconnected_callback = disconnected_callback
        self.timeout = timeout
        self.connection: Connection | None = None
        self.peer: Peer | None = None
        self._chars: dict[str, _Char] = {}

    @property
    def is_connected(self) -> bool:
        return self.connection is not None

    @property
    def services(self) -> BumbleClient:
        return self

    def get_characteristic(self, uuid: str) -> _Char | None:
        return self._chars.get(uuid.lower())

    async def connect(self) -> None:
        connection = await self.central.connect(self.device.bumble_address, timeout=self.timeout)
        self.connection = connection
        connection.on("disconnection", self._on_disconnection)
        peer = Peer(connection)
        await peer.discover_services()
        for service in peer.services:
            await peer.discover_characteristics(service=service)
            for c in service.characteristics:
                props = [
                    p.name.lower()
                    for p in gatt.Characteristic.Properties
                    if p.name and p in c.properties
                ]
                uuid = _bluetooth_base_uuid(c.uuid)
                self._chars[uuid] = _Char(uuid, props, c)
        self.peer = peer

    def _on_disconnection(self, reason: int) -> None:
        self.connection = None
        if self.disconnected_callback is not None:
            self.disconnected_callback(self)

    async def disconnect(self) -> None:
        if self.connection is not None:
            await self.connection.disconnect()

    def _proxy(self, uuid: str) -> Any:
        char = self._chars.get(uuid.lower())
        if self.peer is None or char is None:
            raise RuntimeError(f"characteristic {uuid} not found")
        return char.proxy

    async def read_gatt_char(self, char_specifier: str) -> bytearray:
        assert self.peer is not None
        return bytearray(await self.peer.read_value(self._proxy(char_specifier)))

    async def start_notify(
        self, char_specifier: str, callback: Callable[[Any, bytearray], None]
    ) -> None:
        assert self.peer is not None
        proxy = self._proxy(char_specifier)
        await self.peer.subscribe(proxy, lambda value: callback(proxy, bytearray(value)))


class Link:
    """A central and an emulated heart-rate strap on one in-process link."""

    def __init__(self) -> None:
        link = LocalLink()  # type: ignore[no-untyped-call]

        def device(address: str, name: str) -> Device:
            controller = Controller(name, link=link, public_address=address)
            return Device(
                name=name,
                address=Address(address),
                host=Host(controller, AsyncPipeSink(controller)),
            )

        self.central = device("F0:F0:F0:F0:F0:F0", "central")
        self.strap = device(PERIPHERAL_ADDR, "Bumble HR")
        self.hrm = gatt.Characteristic(
            UUID("2A37"),
            gatt.Characteristic.Properties.NOTIFY,
            gatt.Characteristic.Permissions(0),
            b"",
        )
        self.location = gatt.Characteristic(
            UUID("2A38"), gatt.Characteristic.Properties.READ, gatt.Characteristic.READABLE, b"\x01"
        )
        self.battery = gatt.Characteristic(
            UUID("2A19"),
            gatt.Characteristic.Properties.READ | gatt.Characteristic.Properties.NOTIFY,
            gatt.Characteristic.READABLE,
            bytes([88]),
        )
        self.strap.add_services(
            [
                gatt.Service(UUID("180D"), [self.hrm, self.location]),
                gatt.Service(UUID("180F"), [self.battery]),
            ]
        )

    async def start(self) -> None:
        await self.central.power_on()
        await self.strap.power_on()
        advertising = AdvertisingData(
            [
                (AdvertisingData.COMPLETE_LOCAL_NAME, b"Bumble HR"),
                (AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS, bytes(UUID("180D"))),
            ]
        )
        await self.strap.start_advertising(
            advertising_data=bytes(advertising),
            auto_restart=True,
            advertising_interval_min=20,
            advertising_interval_max=20,
        )

    async def drop_from_strap(self) -> None:
        for connection in list(self.strap.connections.values()):
            await connection.disconnect()

    async def stop(self) -> None:
        await self.strap.stop_advertising()
        await asyncio.sleep(0.02)  # let the emulated controllers finish their replies


async def _wait_for(items: list[SourceItem], cond: Callable[[list[SourceItem]], bool]) -> None:
    async def poll() -> None:
        while not cond(items):
            await asyncio.sleep(0.005)

    await asyncio.wait_for(poll(), timeout=5.0)


def _count(kind: str) -> Callable[[list[SourceItem]], int]:
    return lambda items: sum(1 for i in items if isinstance(i, DeviceEvent) and i.kind == kind)


def _beats(items: list[SourceItem]) -> int:
    return sum(len(i) for i in items if isinstance(i, BeatBatch))


def test_gatt_notifications_reads_link_loss_and_reconnect() -> None:
    async def main() -> tuple[list[SourceItem], int, int]:
        link = Link()
        await link.start()
        # Host receipt times come from a clock the test advances by each packet's RR sum, as a
        # strap sending these RR values in real time would; ATT traffic itself is real.
        now = [1000.0]

        async def notify_beats() -> None:
            now[0] += (906 + 836) / 1024
            await link.strap.notify_subscribers(link.hrm, CAPTURE)
            await asyncio.sleep(0.005)

        source = BleSource(
            [DeviceSpec("patient", "Bumble HR")],
            clock=lambda: now[0],
            client_factory=lambda dev, disconnected_callback=None, *, timeout=10.0: BumbleClient(
                link.central, dev, disconnected_callback, timeout=timeout
            ),
            scanner=BumbleScanner(link.central),
            policy=POLICY,
        )
        items: list[SourceItem] = []

        async def consume() -> None:
            async for item in source:
                items.append(item)

        consumer = asyncio.create_task(consume())
        await _wait_for(items, lambda it: _count("connected")(it) == 1)
        for _ in range(3):
            await notify_beats()
        # The same notification delivered twice at once: dropped as a duplicate.
        await link.strap.notify_subscribers(link.hrm, CAPTURE)
        await link.strap.notify_subscribers(link.battery, bytes([87]))
        await _wait_for(items, lambda it: _beats(it) >= 6 and _count("battery")(it) >= 2)

        await link.drop_from_strap()  # the strap goes away: unsolicited disconnect
        await _wait_for(items, lambda it: _count("disconnected")(it) == 1)
        now[0] += 10.0  # ten seconds without the strap
        await _wait_for(items, lambda it: _count("connected")(it) == 2)
        for _ in range(2):
            await notify_beats()
        await _wait_for(items, lambda it: _beats(it) >= 10)

        await source.aclose()
        await asyncio.wait_for(consumer, timeout=5.0)
        still_connected = len(link.strap.connections)
        duplicates = source.decoders["patient"].stats.duplicates
        await link.stop()
        return items, still_connected, duplicates

    items, still_connected, duplicates = asyncio.run(asyncio.wait_for(main(), timeout=20.0))
    assert still_connected == 0  # aclose disconnected the strap
    assert duplicates == 1
    connected = [i for i in items if isinstance(i, DeviceEvent) and i.kind == "connected"]
    assert connected[0].device == PERIPHERAL_ADDR
    assert connected[0].detail["name"] == "Bumble HR"
    assert connected[0].detail["body_sensor_location"] == "chest"  # read over ATT
    assert "offline_s" in connected[1].detail
    battery = [i.value for i in items if isinstance(i, DeviceEvent) and i.kind == "battery"]
    assert battery[:2] == [88.0, 87.0]  # read, then notified
    assert _count("disconnected")(items) == 1
    batches = [i for i in items if isinstance(i, BeatBatch)]
    assert [b.rr_raw for b in batches] == [(906, 836)] * 5
    assert [b.gap_before for b in batches] == [True, False, False, True, False]
    assert [b.seq for b in batches] == [0, 2, 4, 6, 8]
    assert all(b.contact is True and b.heart_rate_bpm == 70 for b in batches)
    # Beat times: each packet's last beat at its receipt time; the reconnect re-anchored after
    # the 10 s without the strap.
    for b in batches:
        assert b.beat_times_s[-1] == pytest.approx(b.host_time_s)
    assert batches[3].beat_times_s[0] - batches[2].beat_times_s[-1] > 10.0


@pytest.mark.parametrize("uuid", ["180D", "2A37"])
def test_uuid_conversion_matches_bleak_spelling(uuid: str) -> None:
    assert _bluetooth_base_uuid(UUID(uuid)) == f"0000{uuid.lower()}-0000-1000-8000-00805f9b34fb"
