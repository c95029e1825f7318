"""ReplaySource: every beat of a file, in order, in ~1 s batches, paced by an injected clock."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from sensor.files import BeatFileWriter, RRRecording, read_rr_file
from sensor.replay import ReplaySource, replay_batches
from sensor.simulator import ArtifactSpec, Scenario, SimulatedSource
from sensor.types import BeatBatch, BeatSource, DeviceEvent, SourceItem


class FakeTime:
    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.sleeps.append(delay)
        self.now += delay


def _collect(src: ReplaySource | SimulatedSource) -> list[SourceItem]:
    async def run() -> list[SourceItem]:
        return [i async for i in src]

    return asyncio.run(run())


def _batches(items: list[SourceItem]) -> list[BeatBatch]:
    return [i for i in items if isinstance(i, BeatBatch)]


def test_plain_file_all_beats_in_order_in_one_second_batches(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rr = np.round(rng.uniform(600.0, 1100.0, 300))
    p = tmp_path / "rr.txt"
    p.write_text("\n".join(str(v) for v in rr))
    fake = FakeTime(500.0)
    src = ReplaySource(p, "therapist", speed=10.0, clock=fake.clock, sleep=fake.sleep)
    assert isinstance(src, BeatSource)
    items = _collect(src)
    assert isinstance(items[0], DeviceEvent)
    assert items[0].kind == "connected"
    batches = _batches(items)
    np.testing.assert_array_equal(np.concatenate([b.rr_ms for b in batches]), rr)
    assert all(b.participant == "therapist" for b in batches)
    assert batches[0].device == "file:rr.txt"
    # times: cumulative RR from 0 (the file has none); each batch within one second
    times = np.concatenate([b.beat_times_s for b in batches])
    np.testing.assert_allclose(times, np.cumsum(rr) / 1000.0)
    for b in batches:
        assert np.floor(b.beat_times_s[0]) == np.floor(b.beat_times_s[-1])
        assert b.host_time_s == b.beat_times_s[-1]
    assert [b.seq for b in batches] == np.concatenate(
        [[0], np.cumsum([len(b) for b in batches])[:-1]]
    ).tolist()
    assert batches[0].gap_before
    assert not any(b.gap_before for b in batches[1:])
    # paced at 10x: the fake wall clock advanced by the duration / 10
    assert fake.now - 500.0 == pytest.approx(rr.sum() / 1000.0 / 10.0, rel=1e-9)


def test_as_fast_as_possible_does_not_sleep(tmp_path: Path) -> None:
    p = tmp_path / "rr.txt"
    p.write_text("800\n810\n820\n")
    fake = FakeTime()
    items = _collect(ReplaySource(p, speed=None, clock=fake.clock, sleep=fake.sleep))
    assert fake.sleeps == []
    assert sum(len(b) for b in _batches(items)) == 3


def test_start_time_shifts_the_recording(tmp_path: Path) -> None:
    p = tmp_path / "rr.csv"
    p.write_text("time,rr\n100.8,800\n101.6,800\n102.4,800\n")
    batches = _batches(_collect(ReplaySource(p, speed=None, start_time_s=1_000.0)))
    times = np.concatenate([b.beat_times_s for b in batches])
    np.testing.assert_allclose(times, [1000.8, 1001.6, 1002.4])


def test_beats_file_replays_the_recorded_batches_of_every_participant(tmp_path: Path) -> None:
    # record a simulated session (with a dropout) to the beats CSV, then replay it
    arts = {"patient": [ArtifactSpec("dropout", 20.0, duration_s=5.0)]}
    live = SimulatedSource(
        Scenario.calm(60.0), seed=5, speed=None, artifacts=arts, start_time_s=1e9
    )
    recorded = [b for b in _batches(_collect(live)) if len(b)]
    p = tmp_path / "session.csv"
    with BeatFileWriter(p) as w:
        for b in recorded:
            w.append(b)
    replayed = _batches(_collect(ReplaySource(p, speed=None)))
    assert len(replayed) == len(recorded)
    for a, b in zip(recorded, replayed, strict=True):
        assert (a.participant, a.device, a.seq, a.rr_raw, a.contact, a.gap_before) == (
            b.participant,
            b.device,
            b.seq,
            b.rr_raw,
            b.contact,
            b.gap_before,
        )
        assert a.host_time_s == b.host_time_s
        np.testing.assert_array_equal(a.rr_ms, b.rr_ms)
        np.testing.assert_array_equal(a.beat_times_s, b.beat_times_s)
    # choosing one participant replays only theirs
    only = _batches(_collect(ReplaySource(p, "therapist", speed=None)))
    assert {b.participant for b in only} == {"therapist"}
    assert sum(len(b) for b in only) == len(read_rr_file(p, participant="therapist"))


def test_replay_batches_marks_gaps_from_beat_times() -> None:
    rr = np.full(6, 1000.0)
    times = np.array([1.0, 2.0, 3.0, 10.0, 11.0, 12.0])  # 6 s lost before the 4th beat
    rec = RRRecording(rr, times, "ms", "plain", "x")
    batches = list(replay_batches(rec, "p", "d"))
    flags = [(b.beat_times_s[0], b.gap_before) for b in batches]
    assert flags == [
        (1.0, True),
        (2.0, False),
        (3.0, False),
        (10.0, True),
        (11.0, False),
        (12.0, False),
    ]


def test_aclose_and_bad_speed(tmp_path: Path) -> None:
    rec = RRRecording(np.full(600, 500.0), None, "ms", "plain", "x")

    async def run() -> int:
        src = ReplaySource(rec, speed=None)
        n = 0
        async for _ in src:
            n += 1
            if n == 5:
                await src.aclose()
        return n

    assert asyncio.run(run()) == 5
    with pytest.raises(ValueError, match="speed"):
        ReplaySource(rec, speed=0.0)
