"""An emulated heart-rate strap for the patient's page in real Chromium (``BluetoothEmulation``).

Debian's Chromium launched with ``--enable-features=WebBluetooth`` exposes, on the browser-level
CDP session, ``BluetoothEmulation`` (a pre-connected peripheral with the Heart Rate Service, its
0x2A37 characteristic and 0x2902 descriptor, answers to GATT operations, disconnection) and, on
the page's session, ``DeviceAccess`` (the chooser of ``requestDevice``). Emulation cannot push
notifications, but a ``readValue()`` answered with a 0x2A37 payload fires the page's
``characteristicvaluechanged`` handler: :meth:`EmulatedStrap.beat` does that with the next
payload, so every RR interval the test feeds is known and can be compared with what the server
stored.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any, Final

__all__ = ["CCCD", "HEART_RATE", "HRM", "EmulatedStrap", "hrm_payload"]

HEART_RATE: Final[str] = "0000180d-0000-1000-8000-00805f9b34fb"
HRM: Final[str] = "00002a37-0000-1000-8000-00805f9b34fb"
CCCD: Final[str] = "00002902-0000-1000-8000-00805f9b34fb"


def hrm_payload(rr_raw: list[int], bpm: int = 70) -> bytes:
    """A 0x2A37 value: flags 0x16 (8-bit HR, contact supported and detected, RR present), HR,
    then the RR intervals in 1/1024 s, little-endian (Bluetooth SIG Heart Rate Service 1.0)."""
    out = bytearray([0x16, bpm])
    for r in rr_raw:
        out += int(r).to_bytes(2, "little")
    return bytes(out)


class EmulatedStrap:
    """One emulated strap driven through CDP; reads of 0x2A37 are answered from a queue.

    Parameters
    ----------
    browser : playwright Browser (async API)
    address : str
        The emulated peripheral's address.
    """

    def __init__(self, browser: Any, address: str = "0A:0B:0C:0D:0E:0F") -> None:
        self.browser = browser
        self.address = address
        self.bt: Any = None
        self.gatt_events: list[str] = []
        self._payloads: list[bytes] = []
        self._pending: set[asyncio.Future[Any]] = set()
        self._prompts: set[str] = set()

    def _later(self, coro: Any) -> None:
        fut = asyncio.ensure_future(coro)
        self._pending.add(fut)
        fut.add_done_callback(self._pending.discard)

    async def start(self) -> None:
        """Power the adapter on and announce the strap (pre-connected, Heart Rate Service)."""
        self.bt = await self.browser.new_browser_cdp_session()
        await self.bt.send(
            "BluetoothEmulation.enable", {"state": "powered-on", "leSupported": True}
        )
        await self.bt.send(
            "BluetoothEmulation.simulatePreconnectedPeripheral",
            {
                "address": self.address,
                "name": "Strap",
                "manufacturerData": [],
                "knownServiceUuids": [HEART_RATE],
            },
        )
        self.bt.on("BluetoothEmulation.gattOperationReceived", self._gatt)
        self.bt.on("BluetoothEmulation.characteristicOperationReceived", self._characteristic)
        self.bt.on("BluetoothEmulation.descriptorOperationReceived", self._descriptor)
        await self.add_gatt()

    async def add_gatt(self) -> None:
        """(Re)create the service: an emulated peripheral loses it with a GATT disconnection."""
        svc = await self.bt.send(
            "BluetoothEmulation.addService",
            {"address": self.address, "serviceUuid": HEART_RATE},
        )
        ch = await self.bt.send(
            "BluetoothEmulation.addCharacteristic",
            {
                "serviceId": svc["serviceId"],
                "characteristicUuid": HRM,
                "properties": {"read": True, "notify": True},
            },
        )
        await self.bt.send(
            "BluetoothEmulation.addDescriptor",
            {"characteristicId": ch["characteristicId"], "descriptorUuid": CCCD},
        )

    async def attach_chooser(self, page: Any) -> None:
        """Answer the page's ``requestDevice`` chooser with this strap."""
        access = await page.context.new_cdp_session(page)
        await access.send("DeviceAccess.enable")

        def prompted(ev: dict[str, Any]) -> None:
            if ev["id"] not in self._prompts:  # the event can come twice for one prompt
                self._prompts.add(ev["id"])
                self._later(
                    access.send(
                        "DeviceAccess.selectPrompt",
                        {"id": ev["id"], "deviceId": ev["devices"][0]["id"]},
                    )
                )

        access.on("DeviceAccess.deviceRequestPrompted", prompted)

    def _gatt(self, ev: dict[str, Any]) -> None:
        self.gatt_events.append(ev["type"])
        self._later(
            self.bt.send(
                "BluetoothEmulation.simulateGATTOperationResponse",
                {"address": ev["address"], "type": ev["type"], "code": 0},
            )
        )

    def _characteristic(self, ev: dict[str, Any]) -> None:
        args = {"characteristicId": ev["characteristicId"], "type": ev["type"], "code": 0}
        if ev["type"] == "read":
            payload = self._payloads.pop(0) if self._payloads else hrm_payload([])
            args["data"] = base64.b64encode(payload).decode()
        self._later(
            self.bt.send("BluetoothEmulation.simulateCharacteristicOperationResponse", args)
        )

    def _descriptor(self, ev: dict[str, Any]) -> None:
        args = {"descriptorId": ev["descriptorId"], "type": ev["type"], "code": 0}
        if ev["type"] == "read":
            args["data"] = base64.b64encode(b"\x01\x00").decode()
        self._later(self.bt.send("BluetoothEmulation.simulateDescriptorOperationResponse", args))

    async def beat(self, page: Any, rr_raw: list[int]) -> None:
        """Deliver one notification with ``rr_raw`` (1/1024 s) to the page's handler."""
        self._payloads.append(hrm_payload(rr_raw))
        await page.evaluate("window.SintoniaJoin.characteristic.readValue()")

    async def disconnect(self) -> None:
        """Drop the GATT connection (the page sees ``gattserverdisconnected``)."""
        await self.bt.send(
            "BluetoothEmulation.simulateGATTDisconnection", {"address": self.address}
        )
