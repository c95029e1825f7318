"""Pure parser (and encoder) of the Bluetooth Heart Rate Measurement characteristic (0x2A37).

Layout (Bluetooth SIG, Heart Rate Service 1.0, characteristic 0x2A37; GATT Specification
Supplement, "Heart Rate Measurement")::

    byte 0      flags
                bit 0    heart-rate value format: 0 = uint8, 1 = uint16 (little endian)
                bits 1-2 sensor contact status: 0 or 1 = not supported,
                         2 = supported but no contact, 3 = supported and contact detected
                bit 3    energy expended present (uint16, kJ)
                bit 4    RR intervals present
                bits 5-7 reserved
    then        heart rate, uint8 or uint16 (bpm)
    then        energy expended, uint16 kJ, if bit 3
    then        RR intervals, any number of uint16 in units of 1/1024 s, if bit 4

All multi-byte fields are little endian. RR values are kept as the raw integers and converted to
milliseconds once, here (``ms = raw * 1000 / 1024``).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from hrv.errors import ParameterError
from sensor.errors import MalformedPacketError

__all__ = [
    "BATTERY_LEVEL_UUID",
    "BODY_SENSOR_LOCATIONS",
    "BODY_SENSOR_LOCATION_UUID",
    "HEART_RATE_MEASUREMENT_UUID",
    "HEART_RATE_SERVICE_UUID",
    "RR_UNITS_PER_S",
    "HeartRateMeasurement",
    "encode_heart_rate_measurement",
    "parse_body_sensor_location",
    "parse_heart_rate_measurement",
    "rr_raw_to_ms",
]

HEART_RATE_SERVICE_UUID: Final[str] = "0000180d-0000-1000-8000-00805f9b34fb"
HEART_RATE_MEASUREMENT_UUID: Final[str] = "00002a37-0000-1000-8000-00805f9b34fb"
BODY_SENSOR_LOCATION_UUID: Final[str] = "00002a38-0000-1000-8000-00805f9b34fb"
BATTERY_LEVEL_UUID: Final[str] = "00002a19-0000-1000-8000-00805f9b34fb"

#: RR resolution of 0x2A37: 1/1024 s.
RR_UNITS_PER_S: Final[int] = 1024

#: Body Sensor Location (0x2A38) values.
BODY_SENSOR_LOCATIONS: Final[dict[int, str]] = {
    0: "other",
    1: "chest",
    2: "wrist",
    3: "finger",
    4: "hand",
    5: "ear lobe",
    6: "foot",
}

_FLAG_HR_UINT16: Final[int] = 0x01
_FLAG_CONTACT_SUPPORTED: Final[int] = 0x04
_FLAG_CONTACT_DETECTED: Final[int] = 0x02
_FLAG_ENERGY: Final[int] = 0x08
_FLAG_RR: Final[int] = 0x10


def rr_raw_to_ms(raw: int) -> float:
    """Convert one RR value in 1/1024 s to milliseconds (float64)."""
    return raw * 1000.0 / RR_UNITS_PER_S


@dataclass(frozen=True, slots=True)
class HeartRateMeasurement:
    """One decoded 0x2A37 notification.

    Attributes
    ----------
    heart_rate_bpm : int
        Heart rate reported by the device, beats per minute.
    contact : bool or None
        Sensor contact: True detected, False not detected, None if the device does not support it.
    energy_expended_kj : int or None
        Cumulative energy expended, kJ, if present.
    rr_raw : tuple of int
        RR intervals as received, in 1/1024 s.
    rr_ms : tuple of float
        The same RR intervals in milliseconds.
    """

    heart_rate_bpm: int
    contact: bool | None
    energy_expended_kj: int | None
    rr_raw: tuple[int, ...]
    rr_ms: tuple[float, ...]


def parse_heart_rate_measurement(data: bytes | bytearray | memoryview) -> HeartRateMeasurement:
    """Decode a Heart Rate Measurement (0x2A37) payload.

    Parameters
    ----------
    data : bytes
        The characteristic value as notified (see the module docstring for the layout).

    Returns
    -------
    HeartRateMeasurement

    Raises
    ------
    MalformedPacketError
        If the payload is empty, truncated, or holds an odd number of RR bytes; the message carries
        the payload in hex.

    Examples
    --------
    >>> m = parse_heart_rate_measurement(bytes.fromhex("16 46 8a 03 44 03"))
    >>> m.heart_rate_bpm, m.contact, m.rr_raw
    (70, True, (906, 836))
    >>> [round(x, 1) for x in m.rr_ms]
    [884.8, 816.4]
    """
    payload = bytes(data)
    n = len(payload)
    if n == 0:
        raise MalformedPacketError("empty payload", payload)
    flags = payload[0]
    pos = 1
    if flags & _FLAG_HR_UINT16:
        if n < pos + 2:
            raise MalformedPacketError("truncated uint16 heart rate", payload)
        (hr,) = struct.unpack_from("<H", payload, pos)
        pos += 2
    else:
        if n < pos + 1:
            raise MalformedPacketError("truncated uint8 heart rate", payload)
        hr = payload[pos]
        pos += 1
    contact: bool | None = (
        bool(flags & _FLAG_CONTACT_DETECTED) if flags & _FLAG_CONTACT_SUPPORTED else None
    )
    energy: int | None = None
    if flags & _FLAG_ENERGY:
        if n < pos + 2:
            raise MalformedPacketError("truncated energy expended field", payload)
        (energy,) = struct.unpack_from("<H", payload, pos)
        pos += 2
    rr_raw: tuple[int, ...] = ()
    if flags & _FLAG_RR:
        rest = n - pos
        if rest == 0:
            raise MalformedPacketError("RR flag set but no RR bytes", payload)
        if rest % 2:
            raise MalformedPacketError(f"odd number of RR bytes ({rest})", payload)
        rr_raw = struct.unpack_from(f"<{rest // 2}H", payload, pos)
    elif pos != n:
        raise MalformedPacketError(f"{n - pos} unexpected trailing bytes", payload)
    return HeartRateMeasurement(
        heart_rate_bpm=int(hr),
        contact=contact,
        energy_expended_kj=energy,
        rr_raw=tuple(int(v) for v in rr_raw),
        rr_ms=tuple(rr_raw_to_ms(v) for v in rr_raw),
    )


def encode_heart_rate_measurement(
    heart_rate_bpm: int,
    rr_raw: Sequence[int] = (),
    *,
    contact: bool | None = True,
    energy_expended_kj: int | None = None,
) -> bytes:
    """Build a 0x2A37 payload: the inverse of :func:`parse_heart_rate_measurement`.

    Used by the simulator and the tests so that simulated beats travel the same bytes as a strap's.
    The heart rate is written as uint8 when it fits, else uint16.

    Examples
    --------
    >>> encode_heart_rate_measurement(70, [906, 836]).hex(" ")
    '16 46 8a 03 44 03'
    """
    if not 0 <= heart_rate_bpm <= 0xFFFF:
        raise ParameterError(f"heart rate must be 0..65535 bpm, got {heart_rate_bpm}")
    flags = 0
    body = bytearray()
    if heart_rate_bpm > 0xFF:
        flags |= _FLAG_HR_UINT16
        body += struct.pack("<H", heart_rate_bpm)
    else:
        body.append(heart_rate_bpm)
    if contact is not None:
        flags |= _FLAG_CONTACT_SUPPORTED | (_FLAG_CONTACT_DETECTED if contact else 0)
    if energy_expended_kj is not None:
        flags |= _FLAG_ENERGY
        body += struct.pack("<H", energy_expended_kj)
    if len(rr_raw):
        flags |= _FLAG_RR
        for v in rr_raw:
            if not 0 <= v <= 0xFFFF:
                raise ParameterError(f"RR must be 0..65535 in 1/1024 s, got {v}")
        body += struct.pack(f"<{len(rr_raw)}H", *rr_raw)
    return bytes([flags]) + bytes(body)


def parse_body_sensor_location(data: bytes | bytearray) -> str:
    """Decode Body Sensor Location (0x2A38) into a name ("chest", "wrist", ...)."""
    payload = bytes(data)
    if len(payload) != 1:
        raise MalformedPacketError("Body Sensor Location must be one byte", payload)
    return BODY_SENSOR_LOCATIONS.get(payload[0], f"reserved ({payload[0]})")
