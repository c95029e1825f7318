"""LSL outlet -> inlet on loopback, in-process (pylsl bundles liblsl)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

import numpy as np
import pytest

from sensor.lsl import lsl_available

if not lsl_available():  # pragma: no cover - only where liblsl cannot load
    pytest.skip("pylsl/liblsl not loadable here (install sintonia[lsl])", allow_module_level=True)

import pylsl

from sensor.errors import DeviceError
from sensor.lsl import LSLSource, MarkerOutlet, RROutlet
from sensor.simulator import Scenario, SimulatedSource
from sensor.types import BeatBatch, BeatSource, DeviceEvent


def _simulated_batches(seconds: float = 20.0) -> list[BeatBatch]:
    async def run() -> list[BeatBatch]:
        src = SimulatedSource(Scenario.calm(seconds), seed=8, roles=("patient",), speed=None)
        return [b async for b in src if isinstance(b, BeatBatch) and len(b)]

    return asyncio.run(run())


async def _wait_for(cond: Callable[[], bool], timeout_s: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout_s
    while not cond():
        if loop.time() > end:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.02)


def test_rr_outlet_to_inlet_keeps_values_and_beat_times() -> None:
    batches = _simulated_batches()
    n_beats = sum(len(b) for b in batches)
    sid = f"test-{uuid.uuid4()}"

    async def run() -> list[BeatBatch | DeviceEvent]:
        outlet = RROutlet("patient", "simulator", source_id=sid)
        src = LSLSource(source_id=sid)
        assert isinstance(src, BeatSource)
        await src.open()
        await _wait_for(outlet.have_consumers)
        for b in batches:
            outlet.push(b)
        got: list[BeatBatch | DeviceEvent] = []
        received = 0

        async def consume() -> None:
            nonlocal received
            async for item in src:
                got.append(item)
                if isinstance(item, BeatBatch):
                    received += len(item)
                    if received >= n_beats:
                        await src.aclose()

        await asyncio.wait_for(consume(), timeout=10.0)
        outlet.close()
        return got

    got = asyncio.run(run())
    assert isinstance(got[0], DeviceEvent)
    assert got[0].kind == "connected"
    assert got[0].participant == "patient"  # from the stream description
    out = [b for b in got if isinstance(b, BeatBatch)]
    rr = np.concatenate([b.rr_ms for b in out])
    sent = np.concatenate([b.rr_ms for b in batches])
    # BLE RR values (k * 1000/1024 ms) are exact in float32
    np.testing.assert_array_equal(rr, sent)
    times = np.concatenate([b.beat_times_s for b in out])
    sent_times = np.concatenate([b.beat_times_s for b in batches])
    # host -> LSL -> host mapping: the two offsets are measured at different instants; the
    # clocks (time.time and the monotonic LSL clock) agree to well under 1 ms over a test
    np.testing.assert_allclose(times, sent_times, rtol=0, atol=1e-3)
    assert out[0].gap_before
    assert not any(b.gap_before for b in out[1:])
    assert [b.seq for b in out] == np.concatenate(
        [[0], np.cumsum([len(b) for b in out])[:-1]]
    ).tolist()
    assert all(b.device == f"lsl:{sid}" for b in out)


def test_stream_metadata_follows_the_convention() -> None:
    sid = f"test-{uuid.uuid4()}"
    outlet = RROutlet("therapist", "AA:BB", source_id=sid)
    found = pylsl.resolve_byprop("source_id", sid, 1, 5.0)
    assert found
    info = found[0]
    assert info.type() == "RR"
    assert info.nominal_srate() == pylsl.IRREGULAR_RATE
    assert info.channel_format() == pylsl.cf_float32
    assert info.channel_count() == 1
    assert info.name() == "Sintonia RR therapist"
    inlet = pylsl.StreamInlet(info)
    full = inlet.info(5.0)
    assert full.desc().child_value("participant") == "therapist"
    assert full.desc().child("channels").child("channel").child_value("unit") == "ms"
    outlet.close()


def test_marker_outlet() -> None:
    sid = f"test-markers-{uuid.uuid4()}"
    markers = MarkerOutlet("s1", source_id=sid)
    found = pylsl.resolve_byprop("source_id", sid, 1, 5.0)
    assert found[0].type() == "Markers"
    assert found[0].channel_format() == pylsl.cf_string
    inlet = pylsl.StreamInlet(found[0])
    inlet.open_stream(5.0)
    deadline = time.monotonic() + 5.0
    while not markers.have_consumers() and time.monotonic() < deadline:
        time.sleep(0.01)
    t_host = 1_700_000_000.0
    markers.push("phase:map", t_host)
    sample, ts = inlet.pull_sample(timeout=5.0)
    assert sample == ["phase:map"]
    assert ts - markers.offset_s == pytest.approx(t_host, abs=1e-6)
    markers.close()


def test_missing_stream_is_a_device_error() -> None:
    async def run() -> None:
        await LSLSource(source_id=f"absent-{uuid.uuid4()}", resolve_timeout_s=0.2).open()

    with pytest.raises(DeviceError, match="no LSL stream"):
        asyncio.run(run())
