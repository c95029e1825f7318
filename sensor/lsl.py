"""Lab Streaming Layer (LSL): publish live beats and markers, and read an RR stream as a source.

Requires the ``lsl`` extra (``pip install sintonia[lsl]``: pylsl, whose wheels bundle liblsl).
pylsl is imported only when one of these classes is used.

Stream conventions
------------------
RR outlet (:class:`RROutlet`), one per participant:

- ``type="RR"``, name ``"Sintonia RR <participant>"``, one channel labelled ``"RR"`` with unit
  ``"ms"``, ``channel_format=float32``, ``nominal_srate=IRREGULAR_RATE`` (0): one sample per beat.
- ``source_id`` ``"sintonia-rr-<participant>-<device>"`` (stable, so recorders such as LabRecorder
  reconnect to it after a restart); the stream description carries ``participant`` and
  ``device``.
- **Timestamp of a sample = the beat's reconstructed time** (the end of its RR interval,
  :attr:`sensor.types.BeatBatch.beat_times_s`), not the time it was pushed, mapped from Sintonia's
  host clock (Unix time, :func:`time.time`) to the LSL clock (:func:`pylsl.local_clock`) by one
  offset measured when the outlet is created:
  ``lsl_timestamp = beat_time_s + (local_clock() - time.time())``. Beat times therefore line up
  in LSL with other streams (EEG, EDA, markers) to within the accuracy of the beat
  reconstruction (:mod:`sensor.timing`).
- Float32 holds RR values in ms exactly when they are BLE values (multiples of 1000/1024 ms
  below 16 s), and to within 0.001 ms otherwise.

Markers outlet (:class:`MarkerOutlet`): ``type="Markers"``, one ``string`` channel, irregular
rate, source_id ``"sintonia-markers-<session>"``; the timestamp is the marker's host time mapped
the same way (default: now).

Inlet (:class:`LSLSource`): a :class:`~sensor.types.BeatSource` reading any stream of type
``"RR"`` (float RR values in ms, one sample per beat, time-stamped with the beat time on the
sender's clock). LSL's clock synchronisation maps the timestamps to the local LSL clock, and the
inverse of the offset above maps them to host (Unix) time.

References
----------
Kothe C, Shirazi SY, Stenner T, et al. The Lab Streaming Layer for synchronized multimodal
recording. bioRxiv 2024. doi:10.1101/2024.02.13.580071. liblsl / pylsl documentation,
https://labstreaminglayer.readthedocs.io.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import math
import time
from collections.abc import AsyncIterator, Callable
from types import ModuleType
from typing import Any, Final

import numpy as np

from sensor.errors import DeviceError, SensorError
from sensor.types import BeatBatch, DeviceEvent, SourceItem

__all__ = [
    "MARKER_STREAM_TYPE",
    "RR_STREAM_TYPE",
    "LSLSource",
    "MarkerOutlet",
    "RROutlet",
    "lsl_available",
]

logger = logging.getLogger(__name__)

#: LSL stream type of Sintonia's RR outlets and of the streams :class:`LSLSource` reads.
RR_STREAM_TYPE: Final[str] = "RR"
#: LSL stream type of the markers outlet (the convention of LabRecorder and most LSL apps).
MARKER_STREAM_TYPE: Final[str] = "Markers"
#: Beat times advancing this much (s) more than the RR between them mark a gap.
_GAP_THRESHOLD_S: Final[float] = 3.0
#: Poll period of the inlet, s.
_POLL_S: Final[float] = 0.05
_MS_PER_S: Final[float] = 1000.0


def _pylsl() -> ModuleType:
    """Import pylsl (and load liblsl) on first use, with an actionable error if it is missing."""
    try:
        return importlib.import_module("pylsl")
    except (ImportError, RuntimeError, OSError) as exc:  # RuntimeError: liblsl not loadable
        raise SensorError(
            "Lab Streaming Layer needs pylsl with liblsl: pip install 'sintonia[lsl]' "
            f"(import failed: {exc})"
        ) from exc


def lsl_available() -> bool:
    """Whether pylsl imports and liblsl loads on this machine."""
    try:
        _pylsl()
    except SensorError:
        return False
    return True


def _clock_offset(lsl: ModuleType, wall_clock: Callable[[], float]) -> float:
    """``local_clock() - wall_clock()``, s, measured once (midpoint of two LSL clock reads)."""
    a = float(lsl.local_clock())
    w = wall_clock()
    b = float(lsl.local_clock())
    return (a + b) / 2.0 - w


class RROutlet:
    """Publish one participant's beats on LSL (see the module docstring for the convention).

    Parameters
    ----------
    participant, device : str
        Whose beats, from which device (in the name, source_id and description).
    source_id : str, optional
        Override the default ``"sintonia-rr-<participant>-<device>"``.
    wall_clock : callable
        Host clock of the beat times (``time.time``).

    Examples
    --------
    >>> out = RROutlet("patient", "sim")  # doctest: +SKIP
    >>> out.push(batch)  # one LSL sample per beat, timestamp = beat time  # doctest: +SKIP
    """

    def __init__(
        self,
        participant: str,
        device: str,
        *,
        source_id: str | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        lsl = _pylsl()
        self.participant = participant
        self.device = device
        self.source_id = source_id or f"sintonia-rr-{participant}-{device}"
        info = lsl.StreamInfo(
            name=f"Sintonia RR {participant}",
            type=RR_STREAM_TYPE,
            channel_count=1,
            nominal_srate=lsl.IRREGULAR_RATE,
            channel_format=lsl.cf_float32,
            source_id=self.source_id,
        )
        desc = info.desc()
        desc.append_child_value("participant", participant)
        desc.append_child_value("device", device)
        desc.append_child_value("timestamps", "beat time (end of the RR interval)")
        channel = desc.append_child("channels").append_child("channel")
        channel.append_child_value("label", "RR")
        channel.append_child_value("unit", "ms")
        channel.append_child_value("type", "RR")
        self._outlet: Any = lsl.StreamOutlet(info)
        #: LSL clock minus host clock, s (added to beat times).
        self.offset_s = _clock_offset(lsl, wall_clock)
        self.n_pushed = 0

    def push(self, batch: BeatBatch) -> int:
        """Publish every beat of ``batch`` (one sample each); returns the number pushed."""
        if self._outlet is None:
            raise SensorError(f"RR outlet {self.source_id!r} is closed")
        n = len(batch)
        if n == 0:
            return 0
        samples = batch.rr_ms.astype(np.float32).reshape(n, 1)
        stamps = (batch.beat_times_s + self.offset_s).tolist()
        self._outlet.push_chunk(samples, stamps)
        self.n_pushed += n
        return n

    def have_consumers(self) -> bool:
        """Whether any inlet is connected."""
        return bool(self._outlet is not None and self._outlet.have_consumers())

    def close(self) -> None:
        """Withdraw the stream (idempotent)."""
        self._outlet = None


class MarkerOutlet:
    """Publish string markers (session phases, therapist markers) on LSL, type ``"Markers"``.

    Parameters
    ----------
    session : str
        Session label (in the name and source_id).
    source_id : str, optional
        Override the default ``"sintonia-markers-<session>"``.
    wall_clock : callable
        Host clock of the marker times (``time.time``).
    """

    def __init__(
        self,
        session: str = "session",
        *,
        source_id: str | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        lsl = _pylsl()
        self.source_id = source_id or f"sintonia-markers-{session}"
        info = lsl.StreamInfo(
            name=f"Sintonia markers {session}",
            type=MARKER_STREAM_TYPE,
            channel_count=1,
            nominal_srate=lsl.IRREGULAR_RATE,
            channel_format=lsl.cf_string,
            source_id=self.source_id,
        )
        self._outlet: Any = lsl.StreamOutlet(info)
        self._wall_clock = wall_clock
        self.offset_s = _clock_offset(lsl, wall_clock)

    def push(self, marker: str, time_s: float | None = None) -> None:
        """Publish ``marker`` at host time ``time_s`` (s; default now)."""
        if self._outlet is None:
            raise SensorError(f"marker outlet {self.source_id!r} is closed")
        t = self._wall_clock() if time_s is None else time_s
        self._outlet.push_sample([marker], t + self.offset_s)

    def have_consumers(self) -> bool:
        """Whether any inlet is connected."""
        return bool(self._outlet is not None and self._outlet.have_consumers())

    def close(self) -> None:
        """Withdraw the stream (idempotent)."""
        self._outlet = None


class LSLSource:
    """A :class:`~sensor.types.BeatSource` reading an LSL stream of RR intervals (ms).

    Parameters
    ----------
    source_id : str, optional
        Resolve the stream with this source_id (else by ``name``, else the first of type "RR").
    name : str, optional
        Resolve the stream by name.
    participant : str, optional
        Label of the beats (default: the stream's ``participant`` description, else its name).
    resolve_timeout_s : float
        How long to look for the stream, s; :class:`~sensor.errors.DeviceError` if not found.
    wall_clock : callable
        Host clock to map the timestamps to (``time.time``).

    Notes
    -----
    Host time of beat :math:`k`: :math:`t_k = s_k + c - o`, with :math:`s_k` the sender's
    timestamp, :math:`c` LSL's clock correction (``proc_clocksync``) and
    :math:`o` = ``local_clock() - wall_clock()``. Samples pulled together form one batch, whose
    ``host_time_s`` is the host time when they were pulled; ``gap_before`` when beat times advance
    more than 3 s beyond the RR.
    """

    def __init__(
        self,
        *,
        source_id: str | None = None,
        name: str | None = None,
        participant: str | None = None,
        resolve_timeout_s: float = 5.0,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.source_id = source_id
        self.name = name
        self.participant = participant
        self.resolve_timeout_s = resolve_timeout_s
        self._wall_clock = wall_clock
        self._inlet: Any = None
        self._closed = False
        self.device = ""
        self.offset_s = math.nan

    async def open(self) -> None:
        """Resolve the stream and open the inlet (done by iteration if not called)."""
        if self._inlet is not None:
            return
        lsl = _pylsl()
        if self.source_id is not None:
            prop, value = "source_id", self.source_id
        elif self.name is not None:
            prop, value = "name", self.name
        else:
            prop, value = "type", RR_STREAM_TYPE
        found = await asyncio.to_thread(lsl.resolve_byprop, prop, value, 1, self.resolve_timeout_s)
        if not found:
            raise DeviceError(
                f"no LSL stream with {prop}={value!r} found within {self.resolve_timeout_s:g} s"
            )
        info = found[0]
        inlet = lsl.StreamInlet(info, processing_flags=lsl.proc_clocksync)
        await asyncio.to_thread(inlet.open_stream, self.resolve_timeout_s)
        full = await asyncio.to_thread(inlet.info, self.resolve_timeout_s)
        described = full.desc().child_value("participant")
        self.participant = self.participant or described or info.name()
        self.device = f"lsl:{info.source_id() or info.name()}"
        self.offset_s = _clock_offset(lsl, self._wall_clock)
        self._inlet = inlet
        logger.info("LSL inlet open: %s (%s)", info.name(), self.device)

    def __aiter__(self) -> AsyncIterator[SourceItem]:
        return self._run()

    async def aclose(self) -> None:
        """Stop reading and close the inlet."""
        self._closed = True

    def _is_closed(self) -> bool:
        return self._closed

    async def _run(self) -> AsyncIterator[SourceItem]:
        await self.open()
        participant = self.participant or "participant"
        yield DeviceEvent(participant, self.device, "connected", self._wall_clock())
        seq = 0
        last_time = math.nan
        try:
            while not self._is_closed():
                values, stamps = self._inlet.pull_chunk(timeout=0.0)
                if not stamps:
                    await asyncio.sleep(_POLL_S)
                    continue
                rr = np.asarray(values, dtype=np.float64).reshape(len(stamps), -1)[:, 0]
                times = np.asarray(stamps, dtype=np.float64) - self.offset_s
                gap = math.isnan(last_time) or (
                    float(times[0]) - last_time - float(rr[0]) / _MS_PER_S > _GAP_THRESHOLD_S
                )
                yield BeatBatch(
                    participant=participant,
                    device=self.device,
                    rr_ms=rr,
                    rr_raw=None,
                    host_time_s=self._wall_clock(),
                    beat_times_s=times,
                    contact=None,
                    seq=seq,
                    gap_before=gap,
                )
                seq += rr.size
                last_time = float(times[-1])
        finally:
            self._inlet = None
