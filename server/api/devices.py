"""Devices: scan for Bluetooth heart-rate straps (for the session setup page).

``GET /api/devices/scan?timeout_s=5`` listens for advertisements of the Heart Rate Service
(0x180D) for a few seconds and lists the straps found, strongest signal first, through
:func:`sensor.ble.scan_heart_rate_straps`. The scanner is a FastAPI dependency
(:func:`get_scanner`, bleak's ``BleakScanner`` by default), so tests and other composition roots
override it (``app.dependency_overrides[get_scanner]``) with :class:`sensor.fake_ble.FakeBleWorld`'s
scanner; nothing here imports bleak. One scan runs at a time per process (a BLE adapter scans
once); a second request waits for the first. A machine without Bluetooth answers 503 with the
reason.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Annotated, Final

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import BaseModel, Field

from sensor.ble import Scanner, bleak_backend, scan_heart_rate_straps
from server.api._common import errors
from server.auth import Principal, require_auth

__all__ = ["MAX_SCAN_S", "FoundStrapOut", "get_scanner", "router", "scan_devices"]

_log = logging.getLogger(__name__)

#: Longest scan one request may ask for, s.
MAX_SCAN_S: Final[float] = 30.0
#: Shortest scan, s (straps advertise every ~0.1-1 s).
MIN_SCAN_S: Final[float] = 0.5

router = APIRouter(tags=["devices"])
Auth = Annotated[Principal, Depends(require_auth)]
#: One scan at a time per event loop (an asyncio.Lock belongs to one loop).
_scan_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


class FoundStrapOut(BaseModel):
    """A strap advertising the Heart Rate Service."""

    address: str = Field(description="BLE address (or the platform's UUID on macOS).")
    name: str | None = Field(description="Advertised name, e.g. 'Polar H10 1A2B3C4D'.")
    rssi: int | None = Field(description="Received signal strength, dBm (higher is nearer).")


def get_scanner() -> Scanner:
    """The BLE scanner: ``bleak.BleakScanner`` (imported on first use).

    Raises
    ------
    fastapi.HTTPException
        503 when bleak cannot be imported on this machine.
    """
    try:
        return bleak_backend()[1]
    except ImportError as exc:  # pragma: no cover - bleak is a dependency
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, detail=f"Bluetooth is not available: {exc}"
        ) from exc


@router.get(
    "/api/devices/scan",
    summary="Scan for Bluetooth heart-rate straps",
    response_model=list[FoundStrapOut],
    responses={
        **errors(),
        503: {"description": "No Bluetooth adapter, or the scan failed (detail says why)."},
    },
)
async def scan_devices(
    principal: Auth,
    scanner: Annotated[Scanner, Depends(get_scanner)],
    timeout_s: Annotated[
        float, Query(ge=MIN_SCAN_S, le=MAX_SCAN_S, description="How long to listen, s.")
    ] = 5.0,
) -> list[FoundStrapOut]:
    """Straps advertising the Heart Rate Service (0x180D), strongest signal first.

    A strap that is already connected to a phone or another computer usually stops advertising
    and is not found. Bluetooth errors (no adapter, adapter off, no permission) are 503.
    """
    lock = _scan_locks.setdefault(asyncio.get_running_loop(), asyncio.Lock())
    async with lock:
        try:
            found = await scan_heart_rate_straps(scanner, timeout_s)
        except Exception as exc:  # bleak raises BleakError, DBus and OS errors by platform
            _log.warning("BLE scan by %s failed: %s", principal.actor, exc)
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                detail=(
                    f"Bluetooth scan failed ({type(exc).__name__}: {exc}); expected a Bluetooth "
                    "adapter that is switched on and that this program may use"
                ),
            ) from exc
    return [FoundStrapOut(address=s.address, name=s.name, rssi=s.rssi) for s in found]
