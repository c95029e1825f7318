"""Where beats come from: BLE straps, the simulator, files, Lab Streaming Layer.

Bytes in, timestamped RR out. Nothing outside this package imports bleak.
"""

from sensor.errors import DeviceError, MalformedFileError, MalformedPacketError, SensorError
from sensor.gatt import HeartRateMeasurement, parse_heart_rate_measurement
from sensor.types import BeatBatch, BeatSource, DeviceEvent

__all__ = [
    "BeatBatch",
    "BeatSource",
    "DeviceError",
    "DeviceEvent",
    "HeartRateMeasurement",
    "MalformedFileError",
    "MalformedPacketError",
    "SensorError",
    "parse_heart_rate_measurement",
]
