"""Real-strap test: skipped unless ``pytest --hardware`` and ``SINTONIA_TEST_STRAP`` are given.

Run with a strap worn (electrodes moistened) and not connected to a phone::

    SINTONIA_TEST_STRAP="Polar H10 1A2B3C4D" pytest --hardware tests/sensor/test_ble_hardware.py
"""

from __future__ import annotations

import asyncio
import os

import numpy as np
import pytest

from hrv.validate import PLAUSIBLE_RR_MAX_MS, PLAUSIBLE_RR_MIN_MS
from sensor.ble import BleSource, DeviceSpec, ReconnectPolicy, bleak_backend, scan_heart_rate_straps
from sensor.types import BeatBatch, DeviceEvent, SourceItem

pytestmark = pytest.mark.hardware


def _strap() -> str:
    strap = os.environ.get("SINTONIA_TEST_STRAP", "")
    if not strap:
        pytest.skip("set SINTONIA_TEST_STRAP to a strap's address or advertised name")
    return strap


def test_scan_finds_the_strap() -> None:
    strap = _strap()
    _, scanner = bleak_backend()
    found = asyncio.run(scan_heart_rate_straps(scanner, timeout_s=10.0))
    keys = {f.address.casefold() for f in found} | {(f.name or "").casefold() for f in found}
    assert strap.casefold() in keys


def test_strap_streams_plausible_beats() -> None:
    strap = _strap()
    client_factory, scanner = bleak_backend()

    async def main() -> list[SourceItem]:
        source = BleSource(
            [DeviceSpec("tester", strap)],
            client_factory=client_factory,
            scanner=scanner,
            policy=ReconnectPolicy(give_up_after_s=60.0, scan_timeout_s=10.0),
        )
        items: list[SourceItem] = []
        async for item in source:
            items.append(item)
            if sum(len(i) for i in items if isinstance(i, BeatBatch)) >= 20:
                await source.aclose()
        return items

    items = asyncio.run(asyncio.wait_for(main(), timeout=120.0))
    assert any(isinstance(i, DeviceEvent) and i.kind == "connected" for i in items)
    batches = [i for i in items if isinstance(i, BeatBatch)]
    rr = np.concatenate([b.rr_ms for b in batches])
    assert rr.size >= 20
    assert np.all((rr >= PLAUSIBLE_RR_MIN_MS) & (rr <= PLAUSIBLE_RR_MAX_MS))
    times = np.concatenate([b.beat_times_s for b in batches])
    assert np.all(np.diff(times) >= 0)
    assert all(b.beat_times_s[-1] <= b.host_time_s for b in batches if len(b))
