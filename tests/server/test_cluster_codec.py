"""Forwarded beat batches (issue 16, item 2) round-trip exactly, and bad ones are refused."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sensor.types import BeatBatch
from server.cluster.broker import BrokerError
from server.cluster.codec import decode_batch, encode_batch

_floats = st.floats(min_value=1e-3, max_value=1e6, allow_nan=False, allow_infinity=False)


@given(
    rr=st.lists(_floats, min_size=0, max_size=50),
    t0=st.floats(min_value=0, max_value=2e9),
    contact=st.one_of(st.none(), st.booleans()),
    seq=st.integers(min_value=0, max_value=2**53),
    gap=st.booleans(),
)
def test_round_trip_is_exact(
    rr: list[float], t0: float, contact: bool | None, seq: int, gap: bool
) -> None:
    rr_a = np.array(rr, dtype=np.float64)
    times = t0 + np.cumsum(rr_a) / 1000.0
    batch = BeatBatch("7", "remote:link-3", rr_a, None, t0 + 1.0, times, contact, None, seq, gap)
    pid, back = decode_batch(encode_batch(7, batch))
    assert pid == 7
    np.testing.assert_array_equal(back.rr_ms, batch.rr_ms)
    np.testing.assert_array_equal(back.beat_times_s, batch.beat_times_s)
    assert (back.participant, back.device, back.contact, back.seq, back.gap_before) == (
        "7",
        "remote:link-3",
        contact,
        seq,
        gap,
    )
    assert back.host_time_s == batch.host_time_s


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not json",
        b"[]",
        b'{"p": "7"}',
        b'{"p":1,"label":"1","device":"d","rr_ms":[800],"rr_raw":null,"host_time_s":1,'
        b'"t_s":[1,2],"contact":null,"hr":null,"seq":0,"gap":false}',
        b'{"p":1,"label":"1","device":"d","rr_ms":[800],"rr_raw":null,"host_time_s":1e999,'
        b'"t_s":[1],"contact":null,"hr":null,"seq":0,"gap":false}',
    ],
)
def test_malformed_batches_are_refused_with_a_broker_error(data: bytes) -> None:
    with pytest.raises(BrokerError):
        decode_batch(data)
