"""Where beats come from: BLE straps, the simulator, files, Lab Streaming Layer.

Bytes in, timestamped RR out. Every source is a :class:`BeatSource` (an async iterator of
:class:`BeatBatch` and :class:`DeviceEvent`). Nothing outside :mod:`sensor.ble` imports bleak, and
:mod:`sensor.lsl` (pylsl, the ``lsl`` extra) is imported only where used.
"""

from sensor.decoder import NotificationDecoder
from sensor.errors import DeviceError, MalformedFileError, MalformedPacketError, SensorError
from sensor.files import BeatFileWriter, RRRecording, read_beats_file, read_rr_file
from sensor.gatt import HeartRateMeasurement, parse_heart_rate_measurement
from sensor.replay import ReplaySource
from sensor.simulator import Scenario, SimulatedSource, simulate_rr, simulate_session
from sensor.timing import BeatClock
from sensor.types import BeatBatch, BeatSource, DeviceEvent

__all__ = [
    "BeatBatch",
    "BeatClock",
    "BeatFileWriter",
    "BeatSource",
    "DeviceError",
    "DeviceEvent",
    "HeartRateMeasurement",
    "MalformedFileError",
    "MalformedPacketError",
    "NotificationDecoder",
    "RRRecording",
    "ReplaySource",
    "Scenario",
    "SensorError",
    "SimulatedSource",
    "parse_heart_rate_measurement",
    "read_beats_file",
    "read_rr_file",
    "simulate_rr",
    "simulate_session",
]
