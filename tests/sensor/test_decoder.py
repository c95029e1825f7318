"""Tests of sensor.decoder.NotificationDecoder: bytes + host time -> batches and events."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensor.decoder import NotificationDecoder
from sensor.gatt import encode_heart_rate_measurement
from sensor.timing import BeatClock
from sensor.types import BeatBatch, DeviceEvent, SourceItem


def _batches(items: list[SourceItem]) -> list[BeatBatch]:
    return [i for i in items if isinstance(i, BeatBatch)]


def _events(items: list[SourceItem], kind: str) -> list[DeviceEvent]:
    return [i for i in items if isinstance(i, DeviceEvent) and i.kind == kind]


def test_real_capture_vector_becomes_one_batch() -> None:
    dec = NotificationDecoder("patient", "AA:BB:CC:DD:EE:FF")
    items = dec.feed(50.0, bytes.fromhex("16 46 8a 03 44 03"))
    (contact,) = _events(items, "contact")
    assert contact.value == 1.0
    (b,) = _batches(items)
    assert b.participant == "patient"
    assert b.device == "AA:BB:CC:DD:EE:FF"
    assert b.rr_raw == (906, 836)
    # 906 and 836 in 1/1024 s: 884.765625 and 816.40625 ms exactly.
    np.testing.assert_array_equal(b.rr_ms, [884.765625, 816.40625])
    assert b.rr_ms.dtype == np.float64
    assert b.heart_rate_bpm == 70
    assert b.contact is True
    assert b.host_time_s == 50.0
    assert b.gap_before
    assert b.seq == 0
    np.testing.assert_allclose(b.beat_times_s, [50.0 - 0.81640625, 50.0], atol=1e-12)


def test_sequence_numbers_count_beats_across_batches_and_resets() -> None:
    dec = NotificationDecoder("p", "d")
    seqs = []
    for k, rr in enumerate([[1000], [1000, 1000], [], [1000]]):
        if k == 3:
            dec.reset()
        payload = encode_heart_rate_measurement(60, rr)
        (b,) = _batches(dec.feed(1.0 + 2.0 * k, payload))
        seqs.append(b.seq)
    # Beat counts 1, 2, 0, 1: each batch starts where the previous ended, a reset does not
    # restart numbering.
    assert seqs == [0, 1, 3, 3]
    assert dec.next_seq == 4
    assert dec.stats.beats == 4
    assert dec.stats.hr_only == 1


def test_reset_marks_gap_on_next_batch() -> None:
    dec = NotificationDecoder("p", "d")
    dec.feed(1.0, encode_heart_rate_measurement(60, [1024]))
    (b,) = _batches(dec.feed(2.0, encode_heart_rate_measurement(60, [1024])))
    assert not b.gap_before
    dec.reset()
    (b,) = _batches(dec.feed(3.0, encode_heart_rate_measurement(60, [1024])))
    assert b.gap_before
    assert dec.stats.gaps == 1


def test_hr_only_packet_gives_empty_batch_with_heart_rate() -> None:
    dec = NotificationDecoder("p", "d")
    (b,) = _batches(dec.feed(1.0, bytes.fromhex("06 48")))
    assert len(b) == 0
    assert b.rr_raw == ()
    assert b.beat_times_s.shape == (0,)
    assert b.heart_rate_bpm == 0x48
    assert dec.last_heart_rate_bpm == 72


def test_contact_changes_are_reported_once_each() -> None:
    dec = NotificationDecoder("p", "d")
    kinds = []
    for t, contact in enumerate([True, True, False, False, True]):
        items = dec.feed(float(t), encode_heart_rate_measurement(60, [1024], contact=contact))
        kinds.append([e.value for e in _events(items, "contact")])
        # The contact event comes before the batch of the same packet.
        assert isinstance(items[-1], BeatBatch)
    assert kinds == [[1.0], [], [0.0], [], [1.0]]
    assert dec.contact is True


def test_contact_not_supported_is_never_reported() -> None:
    dec = NotificationDecoder("p", "d")
    for t in range(3):
        items = dec.feed(float(t), bytes.fromhex("10 3c 00 04"))
        assert _events(items, "contact") == []
        assert _batches(items)[0].contact is None


def test_malformed_packet_is_counted_reported_and_stream_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    dec = NotificationDecoder("p", "d")
    dec.feed(1.0, encode_heart_rate_measurement(60, [1024]))
    with caplog.at_level(logging.WARNING, logger="sensor.decoder"):
        items = dec.feed(2.0, bytes.fromhex("10 3c 00"))  # odd number of RR bytes
    (ev,) = items
    assert isinstance(ev, DeviceEvent)
    assert ev.kind == "malformed_packet"
    assert ev.detail["hex"] == "103c00"
    assert "odd" in ev.detail["reason"]
    assert ev.value == 1.0
    assert "10 3c 00" in caplog.text
    (b,) = _batches(dec.feed(2.0, encode_heart_rate_measurement(60, [1024])))
    assert b.seq == 1
    assert not b.gap_before
    assert dec.stats.malformed == 1
    assert dec.stats.packets == 3


def test_empty_payload_is_malformed() -> None:
    dec = NotificationDecoder("p", "d")
    (ev,) = dec.feed(1.0, b"")
    assert isinstance(ev, DeviceEvent)
    assert ev.kind == "malformed_packet"
    assert ev.detail["hex"] == ""


def test_duplicate_within_window_is_dropped_later_identical_is_kept() -> None:
    dec = NotificationDecoder("p", "d", duplicate_window_s=0.02)
    payload = encode_heart_rate_measurement(60, [1024])
    assert len(_batches(dec.feed(1.000, payload))) == 1
    assert dec.feed(1.003, payload) == []  # re-delivery 3 ms later
    # One second later the same bytes are a genuine new beat (same HR, same RR).
    (b,) = _batches(dec.feed(2.0, payload))
    assert b.seq == 1
    assert dec.stats.duplicates == 1
    assert dec.stats.beats == 2


def test_duplicate_window_zero_keeps_everything() -> None:
    dec = NotificationDecoder("p", "d", duplicate_window_s=0.0)
    payload = encode_heart_rate_measurement(60, [1024])
    dec.feed(1.0, payload)
    assert len(_batches(dec.feed(1.0, payload))) == 1
    assert dec.stats.duplicates == 0


def test_injected_clock_is_used() -> None:
    clock = BeatClock(gap_threshold_s=1.0)
    dec = NotificationDecoder("p", "d", clock)
    dec.feed(1.0, encode_heart_rate_measurement(60, [1024]))
    # 1.5 s more host time than RR: a gap for a 1 s threshold (not for the default 3 s).
    (b,) = _batches(dec.feed(3.5, encode_heart_rate_measurement(60, [1024])))
    assert b.gap_before
    assert dec.clock is clock


@settings(max_examples=50, deadline=None)
@given(
    packets=st.lists(
        st.tuples(
            st.integers(30, 250),
            st.lists(st.integers(256, 2048), max_size=5),
            st.sampled_from([True, False, None]),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_every_rr_value_comes_out_once_in_order(
    packets: list[tuple[int, list[int], bool | None]],
) -> None:
    dec = NotificationDecoder("p", "d")
    t = 0.0
    raw_out: list[int] = []
    seq_expected = 0
    for hr, rr, contact in packets:
        t += max(1.0, sum(rr) / 1024.0)
        for b in _batches(dec.feed(t, encode_heart_rate_measurement(hr, rr, contact=contact))):
            assert b.seq == seq_expected
            assert b.heart_rate_bpm == hr
            assert b.contact is contact
            assert b.rr_raw is not None
            np.testing.assert_array_equal(b.rr_ms, np.asarray(b.rr_raw) * 1000.0 / 1024.0)
            seq_expected += len(b)
            raw_out.extend(b.rr_raw)
    assert raw_out == [v for _, rr, _ in packets for v in rr]
