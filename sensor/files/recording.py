"""What a reader returns: :class:`RRRecording`, RR in ms with what the file said."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

import numpy as np
from numpy.typing import NDArray

from sensor.files._common import MS_PER_S

__all__ = ["SECONDS_MEDIAN_THRESHOLD", "RRFormat", "RRRecording"]

RRFormat = Literal[
    "plain", "kubios", "polar-sensor-logger", "hrv-logger", "elite-hrv", "sintonia-beats"
]

#: A median RR below this value (in the file's own unit) means the file is in seconds, not ms.
#: No human RR is below 10 ms or above 10 s, so the two units cannot be confused.
SECONDS_MEDIAN_THRESHOLD: Final[float] = 10.0


@dataclass(frozen=True, eq=False)
class RRRecording:
    """RR intervals read from a file, in Sintonia's internal units, with what the file said.

    Attributes
    ----------
    rr_ms : numpy.ndarray
        RR intervals, float64 milliseconds, in file order, not validated.
    times_s : numpy.ndarray or None
        Time of each beat (the end of each RR interval), float64 seconds, as given or derived by the
        file (for Kubios and two-column files the file's time column; for HRV Logger
        ``since start + rr``; for Sintonia beats the reconstructed ``beat_time_s``); None when the
        file has only RR values.
    unit_detected : {"ms", "s"}
        The unit the RR values were written in (converted to ms in ``rr_ms``).
    format : str
        One of :data:`RRFormat`.
    path : str
        The file read.
    start_time : datetime or None
        Wall-clock start of the recording when the file says it (naive = local time of the
        recording device).
    participant, device : str or None
        For Sintonia beats files, whose beats these are.
    rr_raw : numpy.ndarray or None
        int64 raw RR values as received (1/1024 s for BLE; -1 where the source had none).
    host_times_s : numpy.ndarray or None
        float64 host receipt time of each RR (Sintonia beats, Polar Sensor Logger: seconds on the
        file's own clock).
    seq : numpy.ndarray or None
        int64 per-device sequence number of each beat (Sintonia beats).
    contact : numpy.ndarray or None
        int8 sensor contact per beat: 1 contact, 0 no contact, -1 not reported (Sintonia beats).
    lines : numpy.ndarray or None
        int64 1-based line of the file each RR value was read from (for notes about a value).
    """

    rr_ms: NDArray[np.float64]
    times_s: NDArray[np.float64] | None
    unit_detected: Literal["ms", "s"]
    format: str
    path: str
    start_time: datetime | None = None
    participant: str | None = None
    device: str | None = None
    rr_raw: NDArray[np.int64] | None = None
    host_times_s: NDArray[np.float64] | None = None
    seq: NDArray[np.int64] | None = None
    contact: NDArray[np.int8] | None = None
    lines: NDArray[np.int64] | None = None

    def __len__(self) -> int:
        return int(self.rr_ms.shape[0])

    @property
    def n_beats(self) -> int:
        """Number of RR intervals."""
        return len(self)

    @property
    def duration_s(self) -> float:
        """Sum of the RR intervals, seconds."""
        return float(self.rr_ms.sum()) / MS_PER_S
