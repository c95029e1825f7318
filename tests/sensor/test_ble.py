"""Tests of sensor.ble.BleSource against the in-memory twin sensor.fake_ble (no radio).

Simulated time only: FakeBleWorld advances its clock from one scripted event to the next, so
minutes of reconnect logic run in milliseconds. Every test is bounded by a real 10 s timeout
(a hang fails the test instead of blocking the suite).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Coroutine, Sequence
from itertools import islice, pairwise
from typing import Any, TypeVar

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sensor.ble import (
    BleSource,
    DeviceSpec,
    ReconnectPolicy,
    backoff_delays,
    find_strap,
    parse_battery_level,
    scan_heart_rate_straps,
)
from sensor.errors import DeviceError, MalformedPacketError
from sensor.fake_ble import FakeBleWorld, FakeStrap, notifications_from_rr
from sensor.gatt import encode_heart_rate_measurement, parse_heart_rate_measurement
from sensor.types import BeatBatch, BeatSource, DeviceEvent, SourceItem

T = TypeVar("T")
ADDR_A = "AA:00:00:00:00:01"
ADDR_B = "BB:00:00:00:00:02"
# Short scans and backoff keep the simulated timelines readable; they cost no real time.
POLICY = ReconnectPolicy(
    initial_backoff_s=1.0, max_backoff_s=8.0, give_up_after_s=60.0, scan_timeout_s=1.0
)
T0 = 1000.0  # simulated host time at the start of each world


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(coro, timeout=10.0))


def rr_series(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(700.0, 1100.0, n)


def beats(items: Sequence[SourceItem], participant: str | None = None) -> list[BeatBatch]:
    return [
        i
        for i in items
        if isinstance(i, BeatBatch) and (participant is None or i.participant == participant)
    ]


def events(
    items: Sequence[SourceItem], kind: str, participant: str | None = None
) -> list[DeviceEvent]:
    return [
        i
        for i in items
        if isinstance(i, DeviceEvent)
        and i.kind == kind
        and (participant is None or i.participant == participant)
    ]


def raw_of(batches: Sequence[BeatBatch]) -> list[int]:
    return [v for b in batches for v in (b.rr_raw or ())]


def script_raw(script: Sequence[tuple[float, bytes]]) -> list[list[int]]:
    return [list(parse_heart_rate_measurement(p).rr_raw) for _, p in script]


async def collect(
    world: FakeBleWorld,
    specs: Sequence[DeviceSpec],
    until: Callable[[list[SourceItem]], bool],
    policy: ReconnectPolicy = POLICY,
) -> tuple[list[SourceItem], BleSource]:
    """Iterate a BleSource on the fake world; aclose() once ``until`` holds; drain to the end."""
    source = BleSource(
        specs,
        client_factory=world.client,
        scanner=world.scanner,
        policy=policy,
        clock=world.time,
        sleep=world.sleep,
    )
    items: list[SourceItem] = []
    closing = False
    async for item in source:
        items.append(item)
        if not closing and until(items):
            closing = True
            await source.aclose()
    await source.aclose()
    return items, source


def n_beats_at_least(n: int, participant: str | None = None) -> Callable[[list[SourceItem]], bool]:
    return lambda items: sum(len(b) for b in beats(items, participant)) >= n


# ----------------------------------------------------------------------------- pure helpers
def test_backoff_is_exponential_and_capped() -> None:
    policy = ReconnectPolicy(initial_backoff_s=0.5, max_backoff_s=5.0, factor=2.0)
    assert list(islice(backoff_delays(policy), 7)) == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="initial_backoff_s"):
        ReconnectPolicy(initial_backoff_s=10.0, max_backoff_s=1.0)
    with pytest.raises(ValueError, match="factor"):
        ReconnectPolicy(factor=0.5)


def test_device_spec_tells_addresses_from_names() -> None:
    assert DeviceSpec("p", "aa:bb:cc:dd:ee:ff").is_address
    assert DeviceSpec("p", "12345678-9ABC-DEF0-1234-56789ABCDEF0").is_address
    assert not DeviceSpec("p", "Polar H10 1A2B3C4D").is_address


def test_battery_level_parser() -> None:
    assert parse_battery_level(b"\x00") == 0
    assert parse_battery_level(bytearray([100])) == 100
    with pytest.raises(MalformedPacketError, match="Battery Level"):
        parse_battery_level(b"\x65")
    with pytest.raises(MalformedPacketError):
        parse_battery_level(b"")


def test_source_needs_distinct_participants() -> None:
    world = FakeBleWorld([])
    with pytest.raises(ValueError, match="one strap per participant"):
        BleSource(
            [DeviceSpec("p", ADDR_A), DeviceSpec("p", ADDR_B)],
            client_factory=world.client,
            scanner=world.scanner,
        )
    with pytest.raises(ValueError, match="at least one"):
        BleSource([], client_factory=world.client, scanner=world.scanner)


# ------------------------------------------------------------------------------------ scan
def test_scan_lists_heart_rate_straps_strongest_first() -> None:
    straps = [
        FakeStrap(ADDR_A, "Strap A", rssi=-80),
        FakeStrap(ADDR_B, "Strap B", rssi=-50),
        FakeStrap("CC:00:00:00:00:03", "Headphones", rssi=-40, advertises_hr=False),
    ]

    async def main() -> list[tuple[str, str | None, int | None]]:
        async with FakeBleWorld(straps) as world:
            found = await scan_heart_rate_straps(world.scanner, timeout_s=2.0)
            assert world.now == pytest.approx(T0 + 2.0)  # the scan lasted its timeout
            return [(f.address, f.name, f.rssi) for f in found]

    assert run(main()) == [(ADDR_B, "Strap B", -50), (ADDR_A, "Strap A", -80)]


def test_find_strap_by_name_or_address_and_clear_error() -> None:
    straps = [FakeStrap(ADDR_A, "Polar H10 1234"), FakeStrap(ADDR_B, "Garmin HRM")]

    async def main() -> None:
        async with FakeBleWorld(straps) as world:
            assert (await find_strap(world.scanner, "polar h10 1234")).address == ADDR_A
            assert (await find_strap(world.scanner, ADDR_B.lower())).name == "Garmin HRM"
            with pytest.raises(DeviceError, match=r"'Wahoo'.*found .*Polar H10 1234"):
                await find_strap(world.scanner, "Wahoo", timeout_s=1.0)

    run(main())


# --------------------------------------------------------------------------------- streaming
def test_one_strap_streams_every_beat_sent_after_connecting() -> None:
    script = notifications_from_rr(rr_series(90), start_s=T0)
    strap = FakeStrap(ADDR_A, "Strap A", notifications=script, battery_pct=77)

    async def main() -> tuple[list[SourceItem], FakeBleWorld]:
        async with FakeBleWorld([strap]) as world:
            items, _ = await collect(
                world, [DeviceSpec("patient", "Strap A")], n_beats_at_least(40)
            )
            return items, world

    items, world = run(main())
    kinds = [i.kind for i in items if isinstance(i, DeviceEvent)]
    assert kinds[:3] == ["connecting", "connected", "battery"]
    (connected,) = events(items, "connected")
    assert connected.device == ADDR_A
    assert connected.detail["body_sensor_location"] == "chest"
    assert connected.value == -60.0  # RSSI
    assert events(items, "battery")[0].value == 77.0
    got = beats(items)
    # Connected after one 1 s scan and a 0.5 s set-up: notifications from then on all arrive,
    # in order, each once; the earlier ones were lost (nobody listening).
    first_delivered = next(k for k, (t, _) in enumerate(script) if t > T0 + 1.5)
    expected = [v for chunk in script_raw(script)[first_delivered:] for v in chunk]
    assert raw_of(got) == expected[: len(raw_of(got))]
    assert len(raw_of(got)) >= 40
    assert strap.lost >= first_delivered  # sent before anyone listened
    assert got[0].gap_before
    assert not any(b.gap_before for b in got[1:])
    # Sequence numbers are contiguous and beat times advance by the RR values.
    seqs = [b.seq for b in got]
    assert seqs == list(np.cumsum([0] + [len(b) for b in got[:-1]]))
    times = np.concatenate([b.beat_times_s for b in got])
    rr = np.concatenate([b.rr_ms for b in got])
    # Placed intervals are the RR values, except where a packet with a smaller latency moved
    # the time line earlier (sensor.timing causality rule): those intervals only shorten.
    spacing = np.diff(times) * 1000.0
    same = np.isclose(spacing, rr[1:], rtol=0, atol=1e-6)
    assert np.all(spacing[~same] < rr[1:][~same])
    assert same.mean() > 0.8
    assert all(b.beat_times_s[-1] <= b.host_time_s for b in got if len(b))
    # After aclose the strap is disconnected.
    assert strap.connects == 1
    assert world.connect_log == [(T0 + 1.5, ADDR_A, True)]


def test_two_straps_connect_one_after_the_other_then_stream_together() -> None:
    a = FakeStrap(
        ADDR_A, "Strap A", notifications=notifications_from_rr(rr_series(120, 1), start_s=T0)
    )
    b = FakeStrap(
        ADDR_B, "Strap B", notifications=notifications_from_rr(rr_series(120, 2), start_s=T0 + 0.3)
    )

    async def main() -> tuple[list[SourceItem], FakeBleWorld]:
        async with FakeBleWorld([a, b]) as world:
            specs = [DeviceSpec("patient", ADDR_A), DeviceSpec("therapist", ADDR_B)]

            def both(items: list[SourceItem]) -> bool:
                return n_beats_at_least(30, "patient")(items) and n_beats_at_least(30, "therapist")(
                    items
                )

            items, _ = await collect(world, specs, both)
            return items, world

    items, world = run(main())
    assert world.max_parallel_setups == 1
    # Patient's strap first (scan 1 s + connect 0.5 s), then the therapist's (another 1.5 s).
    assert world.connect_log == [(T0 + 1.5, ADDR_A, True), (T0 + 3.0, ADDR_B, True)]
    pa, pb = beats(items, "patient"), beats(items, "therapist")
    assert {x.device for x in pa} == {ADDR_A}
    assert {x.device for x in pb} == {ADDR_B}
    # Streamed concurrently: the batches of the two straps interleave in time.
    order = [x.participant for x in beats(items)]
    switches = sum(1 for u, v in pairwise(order) if u != v)
    assert switches > 10
    # Both time lines are on the host clock: the straps' beats cover the same span.
    ta = np.concatenate([x.beat_times_s for x in pa])
    tb = np.concatenate([x.beat_times_s for x in pb])
    assert abs(ta[-1] - tb[-1]) < 2.0
    assert a._client is None
    assert b._client is None


def test_dropout_reconnects_marks_gap_and_reanchors() -> None:
    script = notifications_from_rr(rr_series(200, 3), start_s=T0)
    strap = FakeStrap(ADDR_A, "Strap A", notifications=script, outages=[(T0 + 30.0, T0 + 42.0)])

    async def main() -> list[SourceItem]:
        async with FakeBleWorld([strap]) as world:
            items, _ = await collect(
                world,
                [DeviceSpec("patient", ADDR_A)],
                lambda items: any(x.host_time_s > T0 + 70 for x in beats(items)),
            )
            return items

    items = run(main())
    (lost,) = events(items, "disconnected")
    assert lost.host_time_s == pytest.approx(T0 + 30.0)
    retries = events(items, "reconnecting")
    # Out of reach for 12 s. Each attempt scans for 1 s and finds nothing until 42 s; waits of
    # 1, 2, 4, 8 s between attempts: attempts start at 30, 32, 35, 40 and 49 s; the last one
    # finds the strap at 50 s and is connected 0.5 s later.
    assert [r.value for r in retries] == [1.0, 2.0, 3.0, 4.0, 5.0]
    starts = [r.host_time_s - T0 for r in retries]
    np.testing.assert_allclose(starts, [30.0, 32.0, 35.0, 40.0, 49.0], atol=1e-9)
    reconnected = events(items, "connected")[-1]
    assert reconnected.host_time_s - T0 == pytest.approx(50.5)
    assert float(reconnected.detail["offline_s"]) == pytest.approx(20.5)
    assert reconnected.detail["attempt"] == "5"
    got = beats(items)
    gap_idx = [k for k, x in enumerate(got) if x.gap_before]
    assert len(gap_idx) == 2  # first batch, first batch after reconnect
    before, after = got[gap_idx[1] - 1], got[gap_idx[1]]
    assert before.host_time_s <= T0 + 30.0
    assert after.host_time_s > T0 + 50.5
    # Re-anchored on the host clock: the new time line starts after the outage, not where the
    # summed RR would have put it (about one beat after the last one before).
    assert after.beat_times_s[-1] == pytest.approx(after.host_time_s)
    assert after.beat_times_s[0] - before.beat_times_s[-1] > 19.0
    assert after.seq == before.seq + len(before)  # numbering goes on
    # Exactly the notifications sent while connected, each once, in order.
    chunks = script_raw(script)
    expected = [
        v
        for (t, _), chunk in zip(script, chunks, strict=True)
        if T0 + 1.5 < t <= T0 + 30.0 or t > T0 + 50.5
        for v in chunk
    ]
    got_raw = raw_of(got)
    assert got_raw == expected[: len(got_raw)]
    assert strap.connects == 2


def test_refused_connects_back_off_exponentially() -> None:
    strap = FakeStrap(
        ADDR_A,
        "Strap A",
        refuse_connects=3,
        notifications=notifications_from_rr(rr_series(60), start_s=T0),
    )

    async def main() -> tuple[list[SourceItem], FakeBleWorld]:
        async with FakeBleWorld([strap]) as world:
            items, _ = await collect(world, [DeviceSpec("patient", ADDR_A)], n_beats_at_least(5))
            return items, world

    items, world = run(main())
    assert [ok for _, _, ok in world.connect_log] == [False, False, False, True]
    ends = np.array([t for t, _, _ in world.connect_log]) - T0
    # Each attempt: 1 s scan + 0.5 s set-up; between attempts waits of 1, 2, 4 s.
    np.testing.assert_allclose(np.diff(ends), [1.0 + 1.5, 2.0 + 1.5, 4.0 + 1.5], atol=1e-9)
    assert [e.value for e in events(items, "connecting")] == [1.0, 2.0, 3.0, 4.0]
    assert events(items, "gave_up") == []


def test_gives_up_after_configured_time_and_stream_ends() -> None:
    strap = FakeStrap(
        ADDR_A,
        "Strap A",
        notifications=notifications_from_rr(rr_series(100), start_s=T0),
        outages=[(T0 + 20.0, math.inf)],
    )
    policy = ReconnectPolicy(
        initial_backoff_s=1.0, max_backoff_s=4.0, give_up_after_s=30.0, scan_timeout_s=1.0
    )

    async def main() -> list[SourceItem]:
        async with FakeBleWorld([strap]) as world:
            # Never satisfied: the stream must end by itself after giving up.
            items, _ = await collect(
                world, [DeviceSpec("patient", ADDR_A)], lambda _: False, policy
            )
            return items

    items = run(main())
    (gave_up,) = events(items, "gave_up")
    assert gave_up.value is not None
    assert 30.0 <= gave_up.value < 30.0 + 1.5  # last attempt started at the deadline at most
    assert gave_up.host_time_s - T0 == pytest.approx(20.0 + gave_up.value)
    assert "found none" in gave_up.detail["last_error"]
    assert isinstance(items[-1], DeviceEvent)
    assert items[-1].kind == "gave_up"
    assert sum(len(b) for b in beats(items)) > 10  # the beats before the outage are kept


def test_one_strap_giving_up_does_not_stop_the_other() -> None:
    a = FakeStrap(ADDR_A, "A", notifications=notifications_from_rr(rr_series(150, 4), start_s=T0))
    b = FakeStrap(
        ADDR_B,
        "B",
        notifications=notifications_from_rr(rr_series(150, 5), start_s=T0),
        outages=[(T0 + 10.0, math.inf)],
    )
    policy = ReconnectPolicy(initial_backoff_s=1.0, give_up_after_s=10.0, scan_timeout_s=1.0)

    async def main() -> list[SourceItem]:
        async with FakeBleWorld([a, b]) as world:
            items, _ = await collect(
                world,
                [DeviceSpec("patient", ADDR_A), DeviceSpec("therapist", ADDR_B)],
                lambda items: any(x.host_time_s > T0 + 60 for x in beats(items, "patient")),
                policy,
            )
            return items

    items = run(main())
    assert len(events(items, "gave_up", "therapist")) == 1
    assert events(items, "gave_up", "patient") == []
    late = [x for x in beats(items, "patient") if x.host_time_s > T0 + 25]
    assert sum(len(x) for x in late) > 20


def test_two_straps_lost_together_reconnect_one_at_a_time() -> None:
    outage = [(T0 + 20.0, T0 + 23.0)]
    a = FakeStrap(
        ADDR_A,
        "A",
        notifications=notifications_from_rr(rr_series(120, 6), start_s=T0),
        outages=outage,
    )
    b = FakeStrap(
        ADDR_B,
        "B",
        notifications=notifications_from_rr(rr_series(120, 7), start_s=T0),
        outages=outage,
    )

    async def main() -> tuple[list[SourceItem], FakeBleWorld]:
        async with FakeBleWorld([a, b]) as world:
            items, _ = await collect(
                world,
                [DeviceSpec("p", ADDR_A), DeviceSpec("t", ADDR_B)],
                lambda items: (
                    len(events(items, "connected")) == 4 and n_beats_at_least(40, "t")(items)
                ),
            )
            return items, world

    items, world = run(main())
    # Scans and connects of the two straps never overlapped: attempts are serialised.
    assert world.max_parallel_setups == 1
    assert len(events(items, "disconnected")) == 2
    assert a.connects == 2
    assert b.connects == 2
    for participant in ("p", "t"):
        got = beats(items, participant)
        assert sum(x.gap_before for x in got) == 2


def test_duplicate_notifications_are_dropped_once() -> None:
    base = notifications_from_rr(rr_series(30), start_s=T0)
    script = sorted([*base, *[(t + 0.002, p) for t, p in base[5:10]]])
    strap = FakeStrap(ADDR_A, "A", notifications=script)

    async def main() -> tuple[list[SourceItem], BleSource]:
        async with FakeBleWorld([strap]) as world:
            return await collect(world, [DeviceSpec("p", ADDR_A)], n_beats_at_least(20))

    items, source = run(main())
    got = raw_of(beats(items))
    # Connected at 1.5 s: the notification sent at 1 s was lost.
    delivered = [v for chunk in script_raw(base)[1:] for v in chunk]
    assert got == delivered[: len(got)]
    assert source.decoders["p"].stats.duplicates == 5


def test_late_burst_never_creates_beats_in_the_future() -> None:
    base = notifications_from_rr(np.full(40, 1000.0), start_s=T0)
    # Notifications 10-12 (due at 1011-1013 s) are held back and delivered at 1013.5 s in a burst.
    script = [
        (t if not 10 <= k <= 12 else T0 + 13.5 + 0.001 * k, p) for k, (t, p) in enumerate(base)
    ]
    strap = FakeStrap(ADDR_A, "A", notifications=script)

    async def main() -> list[SourceItem]:
        async with FakeBleWorld([strap]) as world:
            items, _ = await collect(world, [DeviceSpec("p", ADDR_A)], n_beats_at_least(25))
            return items

    got = beats(run(main()))
    assert not any(x.gap_before for x in got[1:])  # 2.5 s late is latency, not a gap
    for x in got:
        assert np.all(x.beat_times_s <= x.host_time_s)
    times = np.concatenate([x.beat_times_s for x in got])
    np.testing.assert_allclose(np.diff(times), 1.0, atol=1e-9)  # true spacing kept


def test_malformed_notification_is_reported_and_stream_goes_on() -> None:
    base = notifications_from_rr(np.full(20, 1000.0), start_s=T0)
    script = sorted([*base, (T0 + 5.5, bytes.fromhex("10 3c 00"))])
    strap = FakeStrap(ADDR_A, "A", notifications=script)

    async def main() -> list[SourceItem]:
        async with FakeBleWorld([strap]) as world:
            items, _ = await collect(world, [DeviceSpec("p", ADDR_A)], n_beats_at_least(10))
            return items

    items = run(main())
    (bad,) = events(items, "malformed_packet")
    assert bad.detail["hex"] == "103c00"
    assert bad.host_time_s == pytest.approx(T0 + 5.5)
    assert sum(len(x) for x in beats(items) if x.host_time_s > T0 + 5.5) >= 5


def test_battery_read_then_followed_by_notifications() -> None:
    strap = FakeStrap(
        ADDR_A,
        "A",
        notifications=notifications_from_rr(np.full(30, 1000.0), start_s=T0),
        battery_pct=80,
        battery_notifies=True,
        battery_updates=[(T0 + 0.5, 79), (T0 + 10.0, 78), (T0 + 20.0, 77)],
    )

    async def main() -> tuple[list[SourceItem], BleSource]:
        async with FakeBleWorld([strap]) as world:
            return await collect(world, [DeviceSpec("p", ADDR_A)], n_beats_at_least(22))

    items, source = run(main())
    # The update at 0.5 s falls before the connection (lost); the read gives 79.
    assert [e.value for e in events(items, "battery")] == [79.0, 78.0, 77.0]
    assert source.battery("p") == 77


def test_no_battery_service_is_fine() -> None:
    strap = FakeStrap(
        ADDR_A,
        "A",
        notifications=notifications_from_rr(np.full(10, 1000.0), start_s=T0),
        battery_pct=None,
        body_sensor_location=None,
    )

    async def main() -> tuple[list[SourceItem], BleSource]:
        async with FakeBleWorld([strap]) as world:
            return await collect(world, [DeviceSpec("p", ADDR_A)], n_beats_at_least(5))

    items, source = run(main())
    assert events(items, "battery") == []
    assert "body_sensor_location" not in events(items, "connected")[0].detail
    assert source.battery("p") is None


def test_clean_stop_disconnects_keeps_every_beat_and_does_not_reconnect() -> None:
    script = notifications_from_rr(rr_series(60), start_s=T0)
    a = FakeStrap(ADDR_A, "A", notifications=script)
    b = FakeStrap(ADDR_B, "B", notifications=notifications_from_rr(rr_series(60, 9), start_s=T0))

    async def main() -> tuple[list[SourceItem], BleSource]:
        async with FakeBleWorld([a, b]) as world:
            return await collect(
                world,
                [DeviceSpec("p", ADDR_A), DeviceSpec("t", ADDR_B)],
                n_beats_at_least(10, "t"),
            )

    items, source = run(main())
    assert a._client is None
    assert b._client is None
    assert events(items, "disconnected") == []  # the disconnects of aclose are not failures
    assert events(items, "reconnecting") == []
    # Every notification the straps delivered was decoded into the output.
    assert source.decoders["p"].stats.packets == a.delivered
    assert source.decoders["t"].stats.packets == b.delivered
    assert sum(len(x) for x in beats(items, "p")) == source.decoders["p"].stats.beats


def test_aclose_before_iterating_and_twice_is_harmless() -> None:
    async def main() -> list[SourceItem]:
        async with FakeBleWorld([FakeStrap(ADDR_A)]) as world:
            source = BleSource(
                [DeviceSpec("p", ADDR_A)],
                client_factory=world.client,
                scanner=world.scanner,
                clock=world.time,
                sleep=world.sleep,
            )
            assert isinstance(source, BeatSource)
            await source.aclose()
            await source.aclose()
            return [item async for item in source]

    assert run(main()) == []


def test_single_notification_payload_from_the_spec_goes_through() -> None:
    # The real strap capture, sent by the fake once a second.
    payload = encode_heart_rate_measurement(70, [906, 836])
    assert payload == bytes.fromhex("16 46 8a 03 44 03")
    strap = FakeStrap(ADDR_A, "A", notifications=[(T0 + k, payload) for k in range(3, 8)])

    async def main() -> list[SourceItem]:
        async with FakeBleWorld([strap]) as world:
            items, _ = await collect(world, [DeviceSpec("p", ADDR_A)], n_beats_at_least(6))
            return items

    got = beats(run(main()))
    assert [x.rr_raw for x in got] == [(906, 836)] * 3
    assert [x.heart_rate_bpm for x in got] == [70] * 3


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    outages=st.lists(st.tuples(st.floats(5.0, 100.0), st.floats(0.5, 15.0)), max_size=3),
    refuse=st.integers(0, 2),
    seed=st.integers(0, 1000),
)
def test_any_outage_schedule_keeps_every_delivered_beat_once_in_order(
    outages: list[tuple[float, float]], refuse: int, seed: int
) -> None:
    windows = sorted((T0 + start, T0 + start + length) for start, length in outages)
    script = notifications_from_rr(rr_series(150, seed), start_s=T0)
    strap = FakeStrap(ADDR_A, "A", notifications=script, outages=windows, refuse_connects=refuse)

    async def main() -> tuple[list[SourceItem], FakeBleWorld]:
        async with FakeBleWorld([strap]) as world:
            items, _ = await collect(
                world,
                [DeviceSpec("p", ADDR_A)],
                lambda items: any(x.host_time_s >= script[-1][0] for x in beats(items)),
                ReconnectPolicy(initial_backoff_s=0.5, max_backoff_s=2.0, scan_timeout_s=1.0),
            )
            return items, world

    items, world = run(main())
    got = beats(items)
    delivered = [(t, parse_heart_rate_measurement(p).rr_raw) for t, p in strap.delivered_log]
    # Every beat delivered over the air comes out exactly once, in order.
    assert raw_of(got) == [v for _, raw in delivered for v in raw]
    # Numbering is contiguous across reconnects.
    assert [x.seq for x in got] == list(np.cumsum([0] + [len(x) for x in got[:-1]]))
    # One re-anchor per connection that delivered beats (and none elsewhere).
    connected_at = [t for t, _, ok in world.connect_log if ok]
    links_with_beats = {
        int(np.searchsorted(connected_at, t, side="right")) for t, raw in delivered if raw
    }
    assert sum(x.gap_before for x in got if len(x)) == len(links_with_beats)
    # Causal and never running backwards.
    times = np.concatenate([x.beat_times_s for x in got])
    assert np.all(np.diff(times) >= 0)
    assert all(x.beat_times_s[-1] <= x.host_time_s for x in got if len(x))


def test_two_straps_on_the_same_heart_are_aligned_on_the_host_clock() -> None:
    # Both straps see the same beats but notify at different phases of their 1 s cycle (and
    # were connected 1.5 s apart). Each time line converges to its minimum packet latency
    # (sensor.timing causality rule); with latencies spread over 0-1 s, after ~150 packets that
    # minimum is a few ms for both, so the same beat gets the same host time within 50 ms.
    rr = rr_series(200, 11)
    raw = np.rint(rr * 1.024).astype(int)
    ends = T0 + np.cumsum(raw) / 1024.0

    def strap_script(phase_s: float) -> list[tuple[float, bytes]]:
        sends = T0 + phase_s + np.arange(1.0, 205.0)
        cuts = np.searchsorted(ends, sends, side="right")
        starts = np.concatenate([[0], cuts[:-1]])
        return [
            (float(t), encode_heart_rate_measurement(70, raw[i:j].tolist()))
            for t, i, j in zip(sends, starts, cuts, strict=True)
        ]

    a = FakeStrap(ADDR_A, "A", notifications=strap_script(0.0))
    b = FakeStrap(ADDR_B, "B", notifications=strap_script(0.37))

    async def main() -> list[SourceItem]:
        async with FakeBleWorld([a, b]) as world:
            items, _ = await collect(
                world,
                [DeviceSpec("p", ADDR_A), DeviceSpec("t", ADDR_B)],
                lambda items: all(
                    any(x.host_time_s > T0 + 170 for x in beats(items, who)) for who in "pt"
                ),
            )
            return items

    items = run(main())
    by_raw: dict[str, dict[int, float]] = {}
    for who in ("p", "t"):
        got = beats(items, who)
        seq_times = {x.seq + k: float(t) for x in got for k, t in enumerate(x.beat_times_s)}
        # Index the beats by their position in the true series (first 6 values as the key).
        head = raw_of(got)[:6]
        offset = next(k for k in range(len(raw) - 6) if raw[k : k + 6].tolist() == head)
        by_raw[who] = {offset + s: t for s, t in seq_times.items()}
    common = sorted(set(by_raw["p"]) & set(by_raw["t"]))[-50:]
    diff = np.array([by_raw["p"][k] - by_raw["t"][k] for k in common])
    assert len(common) == 50
    assert np.max(np.abs(diff)) < 0.05
