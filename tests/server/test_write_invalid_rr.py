"""Nothing lost at the write: a corrupt RR value costs its batch none of its valid beats.

A strap packet ``[0, 870]`` used to lose the 870 (the whole batch was refused). Now the valid
beats are stored with their own sequence numbers and the corrupt values become one counted,
stored ``invalid_rr`` device event per batch; the same holds through the live hub and for a
replayed file, which goes on past bad lines with a note naming the file and line.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dashboard.phases import DEFAULT_FIRST_SESSION
from hrv.validate import CORRUPT_RR_MAX_MS, corrupt_rr_mask
from sensor.quality import split_corrupt
from sensor.replay import ReplaySource
from sensor.types import BeatBatch, DeviceEvent, SourceItem
from server.live import LiveHub
from server.settings import ServerSettings
from server.storage import BeatWriter, DeviceAssignment, StorageSettings, Store

CORRUPT = [0.0, -800.0, math.nan, math.inf, -math.inf, 1e308, CORRUPT_RR_MAX_MS * 2]


def batch(rr: list[float], *, seq: int = 0, t0: float = 1_700_000_000.0) -> BeatBatch:
    """A BLE-like batch: beat times by summing the valid values from ``t0``."""
    arr = np.array(rr, dtype=np.float64)
    step = np.where(corrupt_rr_mask(arr), 0.0, arr)
    times = t0 + np.cumsum(step) / 1000.0
    return BeatBatch("patient", "AA:01", arr, None, float(times[-1]), times, seq=seq)


def consenting(store: Store) -> tuple[int, int]:
    p = store.create_participant("P-1", "patient")
    store.grant_consent(p.id, "storage", "v1")
    s = store.create_session({"phases": []}, participants=[DeviceAssignment(p.id, "ble")])
    return s.id, p.id


def invalid_events(store: Store, sid: int) -> list[Any]:
    return [e for e in store.list_device_events(sid) if e.kind == "invalid_rr"]


@pytest.mark.parametrize("bad", CORRUPT, ids=repr)
def test_split_keeps_valid_runs_with_their_seq_and_records_the_rest(bad: float) -> None:
    b = batch([800.0, bad, 870.0, 880.0], seq=10)
    kept, event = split_corrupt(b)
    assert [(k.seq, k.rr_ms.tolist(), k.gap_before) for k in kept] == [
        (10, [800.0], False),
        (12, [870.0, 880.0], True),
    ]
    assert event is not None
    assert (event.kind, event.value) == ("invalid_rr", 1.0)
    assert event.detail["seq"] == "11"
    assert float(event.detail["values"]) == pytest.approx(bad, nan_ok=True)


def test_split_leaves_a_valid_batch_alone() -> None:
    b = batch([800.0, 4000.0, 150.0])  # implausible is an artifact, not corrupt
    kept, event = split_corrupt(b)
    assert kept == [b]
    assert event is None


def test_a_packet_zero_870_keeps_the_870(store: Store) -> None:
    sid, pid = consenting(store)
    raw = BeatBatch(
        "patient", "AA:01", np.array([0.0, 870.0]), (0, 891), 10.0, np.array([9.13, 10.0]), seq=4
    )
    result = store.append_beats(sid, pid, raw)
    assert (result.inserted, result.invalid) == (1, 1)
    page = store.read_all_beats(sid)
    assert page.rr_ms.tolist() == [870.0]
    assert page.seq.tolist() == [5]
    assert page.rr_raw.tolist() == [891]  # raw value kept as received
    assert page.gap_before.tolist() == [True]
    (event,) = invalid_events(store, sid)
    assert event.value == 1.0
    assert event.detail == {"count": "1", "seq": "4", "values": "0.0", "raw": "0"}


@pytest.mark.parametrize("bad", CORRUPT, ids=repr)
def test_each_corrupt_value_is_a_counted_stored_event(store: Store, bad: float) -> None:
    sid, pid = consenting(store)
    result = store.append_beat_batches(
        [
            (sid, pid, batch([800.0, bad, 870.0, bad], seq=0)),
            (sid, pid, batch([900.0], seq=4, t0=1_700_000_002.0)),
        ]
    )
    assert (result.inserted, result.invalid) == (3, 2)
    assert store.read_all_beats(sid).rr_ms.tolist() == [800.0, 870.0, 900.0]
    (event,) = invalid_events(store, sid)
    assert (event.value, event.detail["seq"], event.detail["count"]) == (2.0, "1,3", "2")
    # idempotent like beats: a retried batch adds no beat and no second event
    again = store.append_beats(sid, pid, batch([800.0, bad, 870.0, bad], seq=0))
    assert (again.inserted, again.duplicates, again.invalid) == (0, 2, 0)
    assert len(invalid_events(store, sid)) == 1


def test_a_batch_of_only_corrupt_values_stores_its_event(store: Store) -> None:
    sid, pid = consenting(store)
    result = store.append_beats(sid, pid, batch([math.nan, 0.0]))
    assert (result.inserted, result.invalid) == (0, 2)
    assert store.count_beats(sid) == 0
    assert len(invalid_events(store, sid)) == 1


def test_without_storage_consent_nothing_is_stored_not_even_the_event(store: Store) -> None:
    p = store.create_participant("P-2", "patient")
    s = store.create_session({"phases": []})
    result = store.append_beats(s.id, p.id, batch([0.0, 870.0]))
    assert (result.inserted, result.refused, result.invalid) == (0, 1, 0)
    assert invalid_events(store, s.id) == []


def test_writer_counts_invalid_values(store: Store) -> None:
    sid, pid = consenting(store)
    with BeatWriter(store, linger_s=0.05) as writer:
        writer.submit(sid, pid, batch([0.0, 870.0], seq=0))
        writer.submit(sid, pid, batch([math.nan, 1e308, 900.0], seq=2))
    assert writer.rejected == []
    s = writer.stats
    assert (s.written_beats, s.invalid_values, s.written_events) == (2, 3, 2)


# ------------------------------------------------------------------------------ live hub


class FakeStrap:
    """A source that yields the given items once, then ends."""

    def __init__(self, items: list[SourceItem]) -> None:
        self.items = items

    def __aiter__(self) -> AsyncIterator[SourceItem]:
        return self._run()

    async def _run(self) -> AsyncIterator[SourceItem]:
        for item in self.items:
            await asyncio.sleep(0)
            yield item

    async def aclose(self) -> None:
        return None


def test_through_the_live_hub_valid_beats_reach_storage_and_engine(tmp_path: Path) -> None:
    t0 = 1_800_000_000.0
    items: list[SourceItem] = [
        DeviceEvent("patient", "AA:01", "connected", t0),
        batch([800.0, 810.0], seq=0, t0=t0),
        batch([0.0, 870.0], seq=2, t0=t0 + 1.61),
        batch([math.nan, math.inf, -5.0, 1e308], seq=4, t0=t0 + 2.48),
        batch([880.0, 890.0], seq=8, t0=t0 + 2.48),
    ]

    async def main() -> tuple[list[float], int, float]:
        settings = ServerSettings(storage=StorageSettings(tmp_path), speed=1.0)
        store = Store.open(f"sqlite:///{tmp_path / 'live.sqlite'}")
        writer = BeatWriter(store, linger_s=0.02)
        hub = LiveHub(
            store=store,
            writer=writer,
            settings=settings,
            source_factory=lambda spec: FakeStrap(items),
        )
        try:
            p = store.create_participant("P-H", "patient")
            store.grant_consent(p.id, "storage", "v1", at_s=0.0)
            store.grant_consent(p.id, "live_display", "v1", at_s=0.0)
            sid = store.create_session(
                DEFAULT_FIRST_SESSION.to_dict(),
                participants=[DeviceAssignment(p.id, "simulator")],
            ).id
            await hub.start_session(sid)
            for _ in range(2000):
                if store.get_session(sid).status == "stopped":
                    break
                await asyncio.sleep(0.005)
            writer.wait_durable(timeout=10.0)
            rr = store.read_all_beats(sid).rr_ms.tolist()
            events = invalid_events(store, sid)
            computed = hub._computed
            return rr, computed, sum(float(e.value or 0) for e in events)
        finally:
            await hub.aclose()
            writer.close()
            store.close()

    rr, computed, n_invalid = asyncio.run(main())
    assert rr == [800.0, 810.0, 870.0, 880.0, 890.0]
    assert n_invalid == 5
    assert computed == 5  # the engine got the valid beats, and only those


# ------------------------------------------------------------------------------ file replay


def test_replay_goes_on_past_bad_lines_with_a_note_per_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lines = ["# rest", "800", "810", "0", "820", "", "nan", "-790", "830", "1e308", "inf", "840"]
    f = tmp_path / "rr.txt"
    f.write_text("\n".join(lines) + "\n")

    async def collect() -> list[SourceItem]:
        return [item async for item in ReplaySource(f, speed=None)]

    with caplog.at_level(logging.WARNING, logger="sensor.replay"):
        items = asyncio.run(collect())
    beats = [b for b in items if isinstance(b, BeatBatch)]
    events = [e for e in items if isinstance(e, DeviceEvent) and e.kind == "invalid_rr"]
    assert np.concatenate([b.rr_ms for b in beats]).tolist() == [800.0, 810.0, 820.0, 830.0, 840.0]
    assert all(np.isfinite(b.beat_times_s).all() for b in beats)
    # beat times keep summing the valid RR, and the beat after a bad value starts a new line
    times = np.concatenate([b.beat_times_s for b in beats])
    assert times.tolist() == pytest.approx([0.8, 1.61, 2.43, 3.26, 4.1])
    flagged = {b.seq for b in beats if b.gap_before}
    assert flagged == {0, 3, 6, 9}  # the first beat, and each valid beat after a bad value
    assert sum(float(e.value or 0) for e in events) == 5
    assert sorted(int(s) for e in events for s in e.detail["seq"].split(",")) == [2, 4, 5, 7, 8]
    notes = [r.getMessage() for r in caplog.records if "not an RR interval" in r.getMessage()]
    pattern = re.compile(rf"^{re.escape(str(f))} line (\d+): not an RR interval \(")
    assert [int(m.group(1)) for n in notes if (m := pattern.match(n))] == [4, 7, 8, 10, 11]
    assert len(notes) == 5


@pytest.mark.parametrize("huge", ["1e308", "1e10", "-800", "0"])
def test_analyze_answers_extreme_numbers_with_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], huge: str
) -> None:
    from server.cli import main

    f = tmp_path / "rr.txt"
    f.write_text("\n".join(["800", "810"] * 50 + [huge] + ["820"] * 10) + "\n")
    assert main(["analyze", str(f)]) == 2
    err = capsys.readouterr().err
    # the file and its 1-based line, the value as written, no numpy repr, one line
    assert err.startswith(f"sintonia analyze: error: {f}:101: RR value ")
    assert "is not an RR interval" in err
    assert "np.float64" not in err
    assert err.count("\n") == 1


def test_a_ble_packet_with_a_zero_rr_keeps_its_other_beat(store: Store) -> None:
    from sensor.decoder import NotificationDecoder

    sid, pid = consenting(store)
    # flags 0x10 (RR present, 8-bit HR), HR 72, RR raw 0 and 891 (1/1024 s)
    payload = bytes([0x10, 72]) + (0).to_bytes(2, "little") + (891).to_bytes(2, "little")
    (item,) = NotificationDecoder("patient", "AA:01").feed(1_700_000_000.0, payload)
    assert isinstance(item, BeatBatch)
    result = store.append_beats(sid, pid, item)
    assert (result.inserted, result.invalid) == (1, 1)
    page = store.read_all_beats(sid)
    assert page.rr_ms.tolist() == [pytest.approx(891 * 1000 / 1024)]
    assert page.rr_raw.tolist() == [891]
    (event,) = invalid_events(store, sid)
    assert (event.detail["raw"], event.detail["values"]) == ("0", "0.0")
