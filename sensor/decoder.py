"""From notification bytes to :class:`~sensor.types.BeatBatch` items: the one decoding path.

Every source that produces Heart Rate Measurement (0x2A37) payloads (a BLE strap in
:mod:`sensor.ble`, the simulator) feeds them, with their host receipt time, to a
:class:`NotificationDecoder`. The decoder parses (:func:`sensor.gatt.parse_heart_rate_measurement`),
places the beats in time (:class:`sensor.timing.BeatClock`), numbers them, and turns anything else
worth knowing into :class:`~sensor.types.DeviceEvent` items.

Decisions
---------
- ``feed`` returns a **list** of items (possibly empty), in the order to deliver them: a contact
  change event comes before the batch of the packet that revealed it.
- A packet without RR values (heart rate only) yields a :class:`BeatBatch` with zero beats: it
  still carries the device's heart rate and contact state (for a progress display); consumers
  that only want beats skip empty batches.
- **Duplicates**: a payload identical to the previous one and received less than
  ``duplicate_window_s`` (default 20 ms) later is dropped and counted. A strap notifies about
  once a second, so identical bytes a few ms apart are a re-delivery of one notification (e.g. two
  subscriptions to the same characteristic), not two heart cycles; identical payloads further apart
  are genuine (same heart rate, same RR) and kept.
- **Malformed** payloads are logged, counted, and reported as a
  ``DeviceEvent(kind="malformed_packet", detail={"hex": ..., "reason": ...})``; the stream goes
  on and the time line is not touched (host time advancing without RR is detected as a gap by the
  clock if it lasts).
- Sequence numbers count beats per device stream from 0 and continue across reconnects
  (:meth:`NotificationDecoder.reset`), so a gap in time never reuses a number.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Final

import numpy as np

from hrv.errors import ParameterError
from sensor.errors import MalformedPacketError
from sensor.gatt import parse_heart_rate_measurement
from sensor.timing import BeatClock
from sensor.types import BeatBatch, DeviceEvent, SourceItem

__all__ = ["DEFAULT_DUPLICATE_WINDOW_S", "DecoderStats", "NotificationDecoder"]

logger = logging.getLogger(__name__)

#: Identical payloads closer than this (s) are one notification delivered twice.
DEFAULT_DUPLICATE_WINDOW_S: Final[float] = 0.020


@dataclass(slots=True)
class DecoderStats:
    """Counters of one decoder (monotonic over its life, not reset by :meth:`reset`).

    Attributes
    ----------
    packets : int
        Payloads fed, including malformed and duplicates.
    beats : int
        RR intervals emitted.
    hr_only : int
        Well-formed payloads without RR values.
    malformed : int
        Payloads that could not be parsed.
    duplicates : int
        Payloads dropped as re-deliveries.
    gaps : int
        Re-anchors of the time line after the first (dropout, reset, late anchor).
    """

    packets: int = 0
    beats: int = 0
    hr_only: int = 0
    malformed: int = 0
    duplicates: int = 0
    gaps: int = 0


class NotificationDecoder:
    """Decode one device's 0x2A37 notifications into beat batches and device events.

    Parameters
    ----------
    participant : str
        Who wears the device.
    device : str
        Device identifier (BLE address, ``"simulator:<seed>"``...).
    clock : BeatClock, optional
        The beat clock to use (one per device); a new default one if omitted.
    duplicate_window_s : float
        Identical payloads received closer than this (s) are dropped as duplicates; 0 keeps all.

    Examples
    --------
    >>> dec = NotificationDecoder("patient", "AA:BB")
    >>> items = dec.feed(100.0, bytes.fromhex("16 46 8a 03 44 03"))
    >>> [type(i).__name__ for i in items]
    ['DeviceEvent', 'BeatBatch']
    >>> batch = items[1]
    >>> batch.rr_raw, batch.seq, batch.gap_before, batch.contact
    ((906, 836), 0, True, True)
    >>> batch.beat_times_s.round(4).tolist()
    [99.1836, 100.0]
    """

    def __init__(
        self,
        participant: str,
        device: str,
        clock: BeatClock | None = None,
        *,
        duplicate_window_s: float = DEFAULT_DUPLICATE_WINDOW_S,
    ) -> None:
        if duplicate_window_s < 0:
            raise ParameterError(f"duplicate_window_s must be >= 0 s, got {duplicate_window_s!r}")
        self.participant = participant
        self.device = device
        self.clock = clock if clock is not None else BeatClock()
        self.duplicate_window_s = float(duplicate_window_s)
        self.stats = DecoderStats()
        self._next_seq = 0
        self._contact: bool | None = None
        self._contact_known = False
        self._last_payload: bytes | None = None
        self._last_payload_time = float("-inf")
        self.last_heart_rate_bpm: int | None = None

    @property
    def contact(self) -> bool | None:
        """Latest sensor-contact state (None: unknown or not supported)."""
        return self._contact

    @property
    def next_seq(self) -> int:
        """Sequence number the next beat will get (= beats emitted so far)."""
        return self._next_seq

    def reset(self) -> None:
        """Start a new time line (after a reconnect): the next batch is re-anchored, gap marked.

        Sequence numbers and counters go on; contact state is forgotten (re-reported).
        """
        self.clock.reset()
        self._contact = None
        self._contact_known = False
        self._last_payload = None
        self._last_payload_time = float("-inf")

    def feed(self, host_time_s: float, data: bytes | bytearray | memoryview) -> list[SourceItem]:
        """Decode one notification.

        Parameters
        ----------
        host_time_s : float
            Host receipt time of the notification, s.
        data : bytes
            The 0x2A37 payload as received.

        Returns
        -------
        list of BeatBatch or DeviceEvent
            Zero items (a duplicate), one (a batch, or a malformed-packet event) or two (a contact
            change event, then the batch).
        """
        payload = bytes(data)
        self.stats.packets += 1
        if (
            payload == self._last_payload
            and host_time_s - self._last_payload_time < self.duplicate_window_s
        ):
            self.stats.duplicates += 1
            logger.debug("%s: duplicate notification dropped: %s", self.device, payload.hex(" "))
            return []
        self._last_payload = payload
        self._last_payload_time = host_time_s
        try:
            m = parse_heart_rate_measurement(payload)
        except MalformedPacketError as exc:
            self.stats.malformed += 1
            logger.warning("%s: %s (%d so far)", self.device, exc, self.stats.malformed)
            return [
                DeviceEvent(
                    self.participant,
                    self.device,
                    "malformed_packet",
                    host_time_s,
                    value=float(self.stats.malformed),
                    detail={"hex": payload.hex(), "reason": exc.reason},
                )
            ]

        items: list[SourceItem] = []
        if m.contact is not None and (not self._contact_known or m.contact != self._contact):
            items.append(
                DeviceEvent(
                    self.participant,
                    self.device,
                    "contact",
                    host_time_s,
                    value=1.0 if m.contact else 0.0,
                    detail={"contact": "detected" if m.contact else "not detected"},
                )
            )
        self._contact = m.contact
        self._contact_known = True
        self.last_heart_rate_bpm = m.heart_rate_bpm

        rr_ms = np.asarray(m.rr_ms, dtype=np.float64)
        placed = self.clock.place(host_time_s, rr_ms)
        if rr_ms.size == 0:
            self.stats.hr_only += 1
        if placed.gap_before and placed.reason != "first":
            self.stats.gaps += 1
            logger.info("%s: beat times re-anchored (%s)", self.device, placed.reason)
        items.append(
            BeatBatch(
                participant=self.participant,
                device=self.device,
                rr_ms=rr_ms,
                rr_raw=m.rr_raw,
                host_time_s=float(host_time_s),
                beat_times_s=placed.beat_times_s,
                contact=m.contact,
                heart_rate_bpm=m.heart_rate_bpm,
                seq=self._next_seq,
                gap_before=placed.gap_before,
            )
        )
        self._next_seq += int(rr_ms.size)
        self.stats.beats += int(rr_ms.size)
        return items
