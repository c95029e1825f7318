"""Tests of sensor.timing.BeatClock: anchoring, gaps, causality, drift."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from sensor.timing import BeatClock

# BLE RR values are multiples of 1000/1024 ms and sums of them are exact in float64; the only
# rounding is the division by 1000 and the addition of the anchor (~1e9 s epoch or ~1e3 s here),
# far below 1e-9 s.
ATOL_S = 1e-9


def _packets(
    rr_ms: NDArray[np.float64], period_s: float = 1.0
) -> list[tuple[float, NDArray[np.float64]]]:
    """Split a beat series (true times from 0) into packets sent every ``period_s`` with the
    beats completed since the previous packet, received with zero latency."""
    t = np.cumsum(rr_ms) / 1000.0
    out = []
    send = period_s
    start = 0
    while start < len(rr_ms):
        stop = int(np.searchsorted(t, send, side="right"))
        if stop > start:
            out.append((send, rr_ms[start:stop]))
            start = stop
        send += period_s
    return out


def test_first_packet_anchors_last_beat_at_receipt() -> None:
    clock = BeatClock()
    p = clock.place(1000.0, [800.0, 900.0, 1000.0])
    assert p.gap_before
    assert p.reason == "first"
    # Anchor = host time minus the RR sum: 1000 - 2.7 s; beats at anchor + cumulative RR.
    np.testing.assert_allclose(p.beat_times_s, [998.1, 999.0, 1000.0], atol=ATOL_S)
    assert p.latency_s == pytest.approx(0.0, abs=ATOL_S)
    assert clock.anchor_s == pytest.approx(997.3, abs=ATOL_S)


def test_steady_stream_keeps_rr_and_converges_to_minimum_latency() -> None:
    rng = np.random.default_rng(1)
    rr = rng.uniform(700.0, 1100.0, 600)
    true_t = np.cumsum(rr) / 1000.0
    clock = BeatClock()
    placed = []
    latencies = []
    for i, (h, chunk) in enumerate(_packets(rr)):
        p = clock.place(h, chunk)
        assert p.gap_before == (i == 0)
        assert np.all(p.beat_times_s <= h)
        placed.append(p.beat_times_s)
        latencies.append(h - true_t[sum(len(x) for x in placed) - 1])
    times = np.concatenate(placed)
    offset = times - true_t
    # Packets are sent once a second, so the true latency of a packet's last beat is 0-1 s.
    # The anchor assumes the first packet's latency is 0; each packet with a smaller latency
    # moves the time line earlier (causality), so the offset to the true times only steps down,
    # and ends at the smallest latency seen (the time line is then as late as it can be
    # without any beat placed after its receipt).
    assert np.all(np.diff(offset) <= 1e-9)
    assert offset[-1] == pytest.approx(min(latencies), abs=ATOL_S)
    assert offset[-1] >= -ATOL_S
    # Between correction steps the placed intervals are exactly the RR values.
    steps = np.diff(offset) < -1e-9
    np.testing.assert_allclose(np.diff(times)[~steps] * 1000.0, rr[1:][~steps], atol=1e-6)
    assert steps.sum() < 15  # a handful of steps, each a new minimum latency


def test_dropout_reanchors_and_marks_gap() -> None:
    clock = BeatClock(gap_threshold_s=3.0)
    clock.place(10.0, [1000.0])
    clock.place(11.0, [1000.0])
    # 8 s of host time, 1 s of RR: beats were lost.
    p = clock.place(19.0, [1000.0])
    assert p.gap_before
    assert p.reason == "gap"
    np.testing.assert_allclose(p.beat_times_s, [19.0], atol=ATOL_S)
    assert clock.n_gaps == 1
    nxt = clock.place(20.0, [1000.0])
    assert not nxt.gap_before
    np.testing.assert_allclose(nxt.beat_times_s, [20.0], atol=ATOL_S)


def test_excess_below_threshold_is_not_a_gap() -> None:
    clock = BeatClock(gap_threshold_s=3.0)
    clock.place(10.0, [1000.0])
    p = clock.place(13.9, [1000.0])  # 2.9 s more host time than RR: latency, not a gap
    assert not p.gap_before
    np.testing.assert_allclose(p.beat_times_s, [11.0], atol=ATOL_S)
    assert p.latency_s == pytest.approx(2.9, abs=1e-9)


def test_reset_reanchors_with_reason_reset() -> None:
    clock = BeatClock()
    clock.place(10.0, [1000.0])
    clock.reset()
    assert not clock.anchored
    p = clock.place(10.5, [500.0, 500.0])
    assert p.gap_before
    assert p.reason == "reset"
    np.testing.assert_allclose(p.beat_times_s, [10.0, 10.5], atol=ATOL_S)


def test_late_then_burst_never_places_beats_in_the_future() -> None:
    clock = BeatClock(gap_threshold_s=3.0)
    # True beats every 1 s; packet 0 on time, packets 1-2 held back 2 s then delivered in a burst.
    clock.place(1.0, [1000.0])
    late = clock.place(4.0, [1000.0])  # true beat at 2.0
    burst = clock.place(4.01, [1000.0])  # true beat at 3.0
    on_time = clock.place(4.02, [1000.0])  # true beat at 4.0
    for p, h in ((late, 4.0), (burst, 4.01), (on_time, 4.02)):
        assert not p.gap_before
        assert p.beat_times_s[-1] <= h
    np.testing.assert_allclose(
        [late.beat_times_s[0], burst.beat_times_s[0], on_time.beat_times_s[0]],
        [2.0, 3.0, 4.0],
        atol=ATOL_S,
    )


def test_late_first_packet_is_corrected_causally() -> None:
    clock = BeatClock()
    # The first packet was delivered 0.4 s late (true beat at 1.0): its beat is placed at 1.4.
    clock.place(1.4, [1000.0])
    # The next arrives on time: keeping the anchor would put its beat at 2.4 > 2.0 (future).
    p = clock.place(2.0, [1000.0])
    assert not p.gap_before
    np.testing.assert_allclose(p.beat_times_s, [2.0], atol=ATOL_S)
    assert clock.anchor_s == pytest.approx(0.0, abs=ATOL_S)


def test_late_anchor_larger_than_a_beat_restarts_without_going_backwards() -> None:
    clock = BeatClock()
    clock.place(3.0, [1000.0])  # delivered 2 s late: true beat at 1.0, placed at 3.0
    p = clock.place(2.05, [1000.0])  # true beat 2.0 received at 2.05 (clock jitter backwards)
    assert p.gap_before
    assert p.reason == "late_anchor"
    assert p.beat_times_s[-1] <= 2.05


def test_late_anchor_holds_beats_at_previous_time() -> None:
    clock = BeatClock()
    clock.place(3.0, [1000.0])  # placed at 3.0, truly at 1.0 (late delivery)
    p = clock.place(3.05, [1000.0, 1000.0, 1000.0])  # true beats 2, 3, 4: impossible at 3.05
    assert p.reason == "late_anchor"
    # Re-anchored: last beat at receipt, earlier ones at receipt - RR, none before 3.0.
    np.testing.assert_allclose(p.beat_times_s, [3.0, 3.0, 3.05], atol=ATOL_S)


@pytest.mark.parametrize("ppm", [-200.0, 100.0])
def test_drift_of_strap_clock_is_measured(ppm: float) -> None:
    # A strap whose clock runs slow by ppm reports RR = true * (1 - ppm e-6): over T s of host
    # time the summed RR falls behind by T * ppm e-6 s (negative ppm: runs fast, ahead).
    rng = np.random.default_rng(2)
    true_rr = rng.uniform(750.0, 1050.0, 4000)  # ~60 min
    reported = true_rr * (1.0 - ppm * 1e-6)
    true_t = np.cumsum(true_rr) / 1000.0
    clock = BeatClock(drift_window_s=60.0)
    host = 0.0
    start = 0
    ref_host = math.nan
    while start < len(reported):
        host += 1.0
        stop = int(np.searchsorted(true_t, host, side="right"))
        if stop == start:
            continue
        jitter = rng.uniform(0.0, 0.05)  # radio latency 0-50 ms
        p = clock.place(host + jitter, reported[start:stop])
        assert not p.gap_before or start == 0
        assert np.all(p.beat_times_s <= host + jitter)
        if math.isnan(ref_host) and not math.isnan(clock.drift_ppm):
            ref_host = host - 10.0  # drift_ppm appears 10 s after the reference
        start = stop
    expected_drift = (host - ref_host) * ppm * 1e-6
    # The envelope is the minimum latency over 60 packets whose latency is U(0, 1) s (time from
    # the last beat to the packet) + U(0, 0.05) s: its expected value is ~1/61 s and it exceeds
    # 0.1 s with probability 0.9**60 < 0.2 %; both the reference and the current envelope carry
    # that error, hence 0.1 s. Over ~58 min, 100 ppm is 0.35 s and -200 ppm is -0.70 s.
    assert clock.drift_s == pytest.approx(expected_drift, abs=0.1)
    assert clock.drift_ppm == pytest.approx(ppm, abs=30.0)


def test_hr_only_packet_changes_nothing() -> None:
    clock = BeatClock()
    clock.place(10.0, [1000.0])
    p = clock.place(10.5, [])
    assert p.beat_times_s.shape == (0,)
    assert not p.gap_before
    assert math.isnan(p.latency_s)
    np.testing.assert_allclose(clock.place(11.0, [1000.0]).beat_times_s, [11.0], atol=ATOL_S)


def test_invalid_inputs_raise() -> None:
    clock = BeatClock()
    with pytest.raises(ValueError, match="finite"):
        clock.place(math.nan, [1000.0])
    with pytest.raises(ValueError, match="RR values"):
        clock.place(1.0, [1000.0, -5.0])
    with pytest.raises(ValueError, match="gap_threshold_s"):
        BeatClock(gap_threshold_s=0.0)


def test_drift_ppm_undefined_before_ten_seconds() -> None:
    clock = BeatClock()
    assert math.isnan(clock.drift_ppm)
    clock.place(1.0, [1000.0])
    clock.place(2.0, [1000.0])
    assert math.isnan(clock.drift_ppm)
    assert clock.drift_s == 0.0  # no reference before one drift window


@settings(max_examples=60, deadline=None)
@given(
    rr_raw=st.lists(st.integers(300, 2000), min_size=1, max_size=120),
    sizes=st.lists(st.integers(1, 4), min_size=1, max_size=120),
    latencies=st.lists(st.floats(0.0, 5.0), min_size=1, max_size=120),
)
def test_placed_times_are_causal_monotonic_and_rr_faithful(
    rr_raw: list[int], sizes: list[int], latencies: list[float]
) -> None:
    rr = np.asarray(rr_raw, dtype=np.float64) * 1000.0 / 1024.0
    true_t = 100.0 + np.cumsum(rr) / 1000.0
    clock = BeatClock()
    prev_beat = -math.inf
    prev_host = -math.inf
    start = 0
    k = 0
    while start < len(rr):
        stop = min(len(rr), start + sizes[k % len(sizes)])
        # Receipt after the last beat of the packet, host times never going backwards.
        h = max(prev_host, float(true_t[stop - 1]) + latencies[k % len(latencies)])
        p = clock.place(h, rr[start:stop])
        t = p.beat_times_s
        assert t.shape == (stop - start,)
        assert np.all(t <= h)  # causal: no beat after its receipt
        assert t[0] >= prev_beat - ATOL_S  # the time line never runs backwards
        assert np.all(np.diff(t) >= 0)
        if not p.gap_before:
            # Away from re-anchors the placed intervals are the RR values.
            np.testing.assert_allclose(np.diff(t) * 1000.0, rr[start + 1 : stop], atol=1e-6)
        prev_beat = float(t[-1])
        prev_host = h
        start = stop
        k += 1
