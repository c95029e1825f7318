"""Tests of the 0x2A37 / 0x2A38 parsers in sensor.gatt, from byte literals.

Vectors: Bluetooth SIG GATT Specification Supplement, Heart Rate Measurement (flags layout,
RR in 1/1024 s); ``16 46 8a 03 44 03`` is a notification captured from a real chest strap.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hrv.errors import SintoniaError
from sensor.errors import MalformedPacketError, SensorError
from sensor.gatt import (
    encode_heart_rate_measurement,
    parse_body_sensor_location,
    parse_heart_rate_measurement,
    rr_raw_to_ms,
)


def test_real_strap_capture() -> None:
    m = parse_heart_rate_measurement(bytes.fromhex("16 46 8a 03 44 03"))
    # flags 0x16: uint8 HR, contact supported + detected, no energy, RR present.
    assert m.heart_rate_bpm == 70
    assert m.contact is True
    assert m.energy_expended_kj is None
    assert m.rr_raw == (0x038A, 0x0344)
    # 906/1024 s = 884.765625 ms, 836/1024 s = 816.40625 ms (exact in float64).
    assert m.rr_ms == (884.765625, 816.40625)
    assert [round(v, 1) for v in m.rr_ms] == [884.8, 816.4]


def test_maximum_rr_value() -> None:
    m = parse_heart_rate_measurement(bytes.fromhex("10 00 ff ff"))
    assert m.heart_rate_bpm == 0
    assert m.contact is None
    assert m.rr_raw == (65535,)
    # 65535 / 1024 s = 63.9990234375 s.
    assert m.rr_ms[0] == pytest.approx(63999.0234375, abs=0)
    assert round(m.rr_ms[0], 1) == 63999.0


def test_uint16_heart_rate_with_rr() -> None:
    m = parse_heart_rate_measurement(bytes.fromhex("11 00 00 ff ff 7f 80"))
    # flags 0x11: uint16 HR (0x0000), RR present: 0xffff and 0x807f.
    assert m.heart_rate_bpm == 0
    assert m.rr_raw == (0xFFFF, 0x807F)
    assert m.rr_ms == (65535 * 1000 / 1024, 32895 * 1000 / 1024)


def test_uint16_heart_rate_value() -> None:
    assert parse_heart_rate_measurement(bytes.fromhex("01 2c 01")).heart_rate_bpm == 300


@pytest.mark.parametrize(
    ("hex_payload", "contact"),
    [
        ("06 00", True),  # bits 1-2 = 3: supported, contact detected
        ("04 00", False),  # bits 1-2 = 2: supported, no contact
        ("02 00", None),  # bits 1-2 = 1: not supported
        ("00 00", None),  # bits 1-2 = 0: not supported
    ],
)
def test_contact_bits(hex_payload: str, contact: bool | None) -> None:
    m = parse_heart_rate_measurement(bytes.fromhex(hex_payload))
    assert m.contact is contact
    assert m.rr_raw == ()
    assert m.rr_ms == ()


def test_energy_expended_then_rr() -> None:
    m = parse_heart_rate_measurement(bytes.fromhex("18 50 34 12 00 04"))
    assert m.energy_expended_kj == 0x1234
    assert m.rr_raw == (1024,)
    assert m.rr_ms == (1000.0,)


def test_rr_raw_to_ms() -> None:
    assert rr_raw_to_ms(1024) == 1000.0
    assert rr_raw_to_ms(512) == 500.0


@pytest.mark.parametrize(
    ("hex_payload", "reason"),
    [
        ("", "empty"),
        ("00", "truncated uint8"),
        ("01 3c", "truncated uint16"),
        ("08 3c 01", "truncated energy"),
        ("10 3c", "no RR bytes"),
        ("10 3c 00", "odd number"),
        ("16 46 8a 03 44", "odd number"),
        ("00 3c 00", "trailing"),
    ],
)
def test_malformed_payloads_raise_with_hex(hex_payload: str, reason: str) -> None:
    payload = bytes.fromhex(hex_payload)
    with pytest.raises(MalformedPacketError) as info:
        parse_heart_rate_measurement(payload)
    assert reason in info.value.reason
    assert info.value.payload == payload
    assert repr(payload.hex(" ")) in str(info.value)
    assert isinstance(info.value, SensorError)
    assert isinstance(info.value, SintoniaError)


@pytest.mark.parametrize(
    ("byte", "name"), [(0, "other"), (1, "chest"), (2, "wrist"), (6, "foot"), (9, "reserved (9)")]
)
def test_body_sensor_location(byte: int, name: str) -> None:
    assert parse_body_sensor_location(bytes([byte])) == name


def test_body_sensor_location_wrong_length() -> None:
    with pytest.raises(MalformedPacketError, match="one byte"):
        parse_body_sensor_location(b"\x01\x02")


def test_encoder_reproduces_the_capture() -> None:
    assert encode_heart_rate_measurement(70, [906, 836]) == bytes.fromhex("16 46 8a 03 44 03")
    assert encode_heart_rate_measurement(0, [65535], contact=None) == bytes.fromhex("10 00 ff ff")


@given(
    hr=st.integers(0, 0xFFFF),
    rr=st.lists(st.integers(0, 0xFFFF), max_size=9),
    contact=st.sampled_from([True, False, None]),
    energy=st.none() | st.integers(0, 0xFFFF),
)
def test_encode_parse_round_trip(
    hr: int, rr: list[int], contact: bool | None, energy: int | None
) -> None:
    payload = encode_heart_rate_measurement(hr, rr, contact=contact, energy_expended_kj=energy)
    m = parse_heart_rate_measurement(payload)
    assert m.heart_rate_bpm == hr
    assert m.rr_raw == tuple(rr)
    assert m.rr_ms == tuple(v * 1000.0 / 1024.0 for v in rr)
    assert m.contact is contact
    assert m.energy_expended_kj == energy
    # Any strict prefix of a payload with RR values is malformed (never silently shorter).
    if rr:
        with pytest.raises(MalformedPacketError):
            parse_heart_rate_measurement(payload[:-1])
