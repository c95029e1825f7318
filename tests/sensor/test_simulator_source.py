"""SimulatedSource: simulated straps streamed through the real decoder, with an injected clock."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from sensor.simulator import ArtifactSpec, Scenario, SimulatedSource
from sensor.types import BeatBatch, BeatSource, DeviceEvent, SourceItem


class FakeTime:
    """A wall clock that only moves when the source sleeps: tests run instantly."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.sleeps.append(delay)
        self.now += delay


def _collect(src: SimulatedSource) -> list[SourceItem]:
    async def run() -> list[SourceItem]:
        return [item async for item in src]

    return asyncio.run(run())


def test_is_a_beat_source() -> None:
    assert isinstance(SimulatedSource(Scenario.calm(10.0)), BeatSource)


def test_streams_every_beat_of_both_people_through_the_decoder() -> None:
    fake = FakeTime()
    src = SimulatedSource(
        Scenario.calm(120.0), seed=4, speed=20.0, clock=fake.clock, sleep=fake.sleep
    )
    items = _collect(src)
    first = items[:2]
    assert all(isinstance(i, DeviceEvent) and i.kind == "connected" for i in first)
    batches = [i for i in items if isinstance(i, BeatBatch)]
    for role in ("patient", "therapist"):
        mine = [b for b in batches if b.participant == role]
        sim = src.simulations[role]
        raw = [v for b in mine for v in (b.rr_raw or ())]
        assert raw == sim.rr_raw.tolist()  # every beat once, in order, bit-exact
        np.testing.assert_array_equal(np.concatenate([b.rr_ms for b in mine]), sim.rr_ms)
        seqs = [b.seq for b in mine if len(b)]
        counts = [len(b) for b in mine if len(b)]
        assert seqs == np.concatenate([[0], np.cumsum(counts)[:-1]]).tolist()
        host = np.array([b.host_time_s for b in mine])
        assert np.all(np.diff(host) > 0)
        # host times are on the simulated clock from the start time (also when accelerated)
        assert host[-1] - 1_000_000.0 == pytest.approx(120.0, abs=1.1)
        # The decoder's beat times (sensor.timing.BeatClock) sit after the true beat times by the
        # anchoring packet's delay, which its causality rule only ever reduces, down to the
        # smallest packet delay (the 10-60 ms simulated latency). Quantisation of each time to
        # 1/1024 s adds at most one tick of jitter.
        decoded = np.concatenate([b.beat_times_s for b in mine]) - 1_000_000.0
        offset = decoded - sim.beat_times_s
        tick = 1.0 / 1024.0
        assert np.all(np.diff(offset) <= tick + 1e-9)
        assert offset.min() >= -tick
        assert offset[0] <= 1.06 + tick
        assert 0.0 <= offset[-1] <= 0.06 + tick
        assert all(b.contact is True for b in mine)
        with_beats = [b for b in mine if len(b)]
        assert with_beats[0].gap_before
        assert not any(b.gap_before for b in with_beats[1:])
    # at speed 20 the 2-minute session takes ~6 s of (fake) wall time
    assert sum(fake.sleeps) == pytest.approx(120.0 / 20.0, abs=0.2)
    assert fake.now - 1_000_000.0 == pytest.approx(sum(fake.sleeps))


def test_items_come_in_time_order_and_heart_rate_is_reported() -> None:
    items = _collect(SimulatedSource(Scenario.calm(30.0), seed=1, speed=None))
    times = [i.host_time_s for i in items]
    assert times == sorted(times)
    hr = [b.heart_rate_bpm for b in items if isinstance(b, BeatBatch) and len(b)]
    assert hr
    assert all(h is not None and 45 < h < 110 for h in hr)


def test_dropout_is_silent_and_the_decoder_re_anchors() -> None:
    arts = {"patient": [ArtifactSpec("dropout", 30.0, duration_s=6.0)]}
    src = SimulatedSource(
        Scenario.calm(60.0),
        seed=2,
        roles=("patient",),
        speed=None,
        artifacts=arts,
        start_time_s=0.0,
    )
    batches = [i for i in _collect(src) if isinstance(i, BeatBatch)]
    host = np.array([b.host_time_s for b in batches])
    assert not np.any((host > 30.1) & (host < 35.9))
    after = [b for b in batches if b.host_time_s > 36.0]
    assert after[0].gap_before  # more than the 3 s gap threshold went by without beats
    assert src.decoders["patient"].stats.gaps == 1
    sim = src.simulations["patient"]
    assert [v for b in batches for v in (b.rr_raw or ())] == sim.rr_raw.tolist()


def test_aclose_stops_the_stream() -> None:
    async def run() -> int:
        src = SimulatedSource(Scenario.calm(600.0), seed=0, speed=None)
        n = 0
        async for _ in src:
            n += 1
            if n == 10:
                await src.aclose()
        return n

    assert asyncio.run(run()) == 10


def test_real_time_pacing_uses_the_injected_sleep() -> None:
    fake = FakeTime(50.0)
    src = SimulatedSource(
        Scenario.calm(20.0),
        seed=3,
        roles=("therapist",),
        speed=1.0,
        clock=fake.clock,
        sleep=fake.sleep,
    )
    batches = [i for i in _collect(src) if isinstance(i, BeatBatch)]
    # each batch is delivered when the fake wall clock reaches its receipt time
    for b in batches:
        assert b.host_time_s <= fake.now + 1e-9
    assert fake.now - 50.0 == pytest.approx(batches[-1].host_time_s - 50.0, abs=1e-6)


@pytest.mark.parametrize("bad", [0.0, -1.0])
def test_bad_speed_is_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="speed"):
        SimulatedSource(speed=bad)
