"""The ingest protocol of remote sources (WebSocket ``/ws/ingest?join=TOKEN``): messages, limits,
close codes, and the device-clock offset estimate. Pure: no I/O.

Client -> server (JSON text frames, at most :data:`MAX_MESSAGE_BYTES` bytes):

* ``{"type": "beats", "seq": N, "rr_ms": [...], "t_device_s": [...], "contact": bool|null}``
  with an optional ``"gap_before": bool`` (the strap was off or re-connected before the first
  beat). ``seq`` numbers the message within the client's stream (``stream`` query parameter,
  default ``"0"``), 0 <= N < 2**40; ``rr_ms`` (1 to :data:`MAX_BEATS_PER_MESSAGE` RR intervals,
  ms, as received) and ``t_device_s`` (the time of each beat on the device's clock, Unix s) have
  the same length. A message is resent with the same ``seq`` and content until acknowledged.
* ``{"type": "ping", "t_device_s": T, "buffered": B, "rtt_s": R}`` (``buffered``, optional:
  beats the client holds unacknowledged; ``rtt_s``, optional: the shortest round trip the client
  measured so far from its pings to the pongs that echo their ``t_device_s``, s, which bounds the
  clock offset's error): clients ping once before their first beats and then every few seconds;
  beat times are placed on the server's clock with the offset estimated from the pings
  (:class:`ClockOffset`), or taken as they are before the first ping.

Server -> client:

* ``{"type": "hello", ...}`` once after the handshake (session, participant, limits);
* ``{"type": "ack", "seq": N}`` once the message's beats are committed to the database
  (duplicates are acknowledged again and stored once: beat ``i`` of message ``N`` is stored
  with sequence number ``N * MAX_BEATS_PER_MESSAGE + i`` under the device
  ``remote:<link id>:<stream>``, whose primary key makes a second write a no-op);
* ``{"type": "pong", "t_device_s": T, "t_server_s": S, "offset_s": O, "drift_ppm": D|null,
  "uncertainty_s": U|null}`` (``t_device_s`` echoes the ping's, for the client's round trip).

Close codes (RFC 6455 section 7.4: 4000-4999 are the application's): see the ``CLOSE_*``
constants.
"""

from __future__ import annotations

import json
import math
import re
from collections import deque
from dataclasses import dataclass
from typing import Any, Final

from hrv.errors import SintoniaError

__all__ = [
    "CLOSE_EXPIRED",
    "CLOSE_MALFORMED",
    "CLOSE_NOT_FOUND",
    "CLOSE_NO_CONSENT",
    "CLOSE_REVOKED",
    "CLOSE_TOO_BIG",
    "CLOSE_UNKNOWN_TOKEN",
    "MAX_BEATS_PER_MESSAGE",
    "MAX_MESSAGE_BYTES",
    "MAX_SEQ",
    "BeatsIn",
    "ClockOffset",
    "PingIn",
    "ProtocolError",
    "beat_seq",
    "parse_client_message",
    "valid_stream_id",
]

#: Largest client message, bytes of UTF-8 (64 beats take about 3 kB).
MAX_MESSAGE_BYTES: Final[int] = 16_384
#: Most RR intervals in one ``beats`` message.
MAX_BEATS_PER_MESSAGE: Final[int] = 64
#: Message sequence numbers are below this (so stored beat numbers stay below 2**46).
MAX_SEQ: Final[int] = 2**40

#: The message is not valid JSON or not a valid protocol message (nothing of it is stored).
CLOSE_MALFORMED: Final[int] = 4400
#: The join token is missing or unknown here (a token of another server is unknown too).
CLOSE_UNKNOWN_TOKEN: Final[int] = 4401
#: The participant has no active ``storage`` consent for the session (given or revoked).
CLOSE_NO_CONSENT: Final[int] = 4403
#: The link's session or participant no longer exists, or the participant left the session.
CLOSE_NOT_FOUND: Final[int] = 4404
#: The join link has expired.
CLOSE_EXPIRED: Final[int] = 4410
#: The join link was revoked (also sent at once to connections open at the revocation).
CLOSE_REVOKED: Final[int] = 4411
#: A message larger than :data:`MAX_MESSAGE_BYTES` (RFC 6455 "message too big").
CLOSE_TOO_BIG: Final[int] = 1009

_STREAM_ID: Final[re.Pattern[str]] = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
#: Samples kept by :class:`ClockOffset`.
_OFFSET_SAMPLES: Final[int] = 256
#: Shortest span of samples from which a drift is reported, s.
_MIN_DRIFT_SPAN_S: Final[float] = 60.0
#: Longest round trip a client may report, s (a round trip beyond is a failed link, not a clock).
_MAX_RTT_S: Final[float] = 60.0


class ProtocolError(SintoniaError):
    """A client message that breaks the protocol; ``str()`` says what was expected."""


@dataclass(frozen=True, slots=True)
class BeatsIn:
    """A ``beats`` message (see the module documentation)."""

    seq: int
    rr_ms: tuple[float, ...]
    t_device_s: tuple[float, ...]
    contact: bool | None
    gap_before: bool = False


@dataclass(frozen=True, slots=True)
class PingIn:
    """A ``ping`` message: the device's clock when it was sent, s, and optionally how many beats
    the client holds unacknowledged (shown to the therapist as link quality)."""

    t_device_s: float
    buffered: int | None = None
    rtt_s: float | None = None


def valid_stream_id(stream: str) -> bool:
    """Whether a ``stream`` query parameter is 1-32 characters of ``[A-Za-z0-9_-]``."""
    return _STREAM_ID.match(stream) is not None


def beat_seq(message_seq: int, index: int) -> int:
    """Stored sequence number of beat ``index`` of message ``message_seq``.

    Examples
    --------
    >>> beat_seq(0, 0), beat_seq(2, 3)
    (0, 131)
    """
    return message_seq * MAX_BEATS_PER_MESSAGE + index


def _reject_constant(name: str) -> Any:
    raise ProtocolError(f"numbers must be finite JSON numbers, got {name}")


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProtocolError(f"{what} must be a number, got {type(value).__name__}")
    x = float(value)
    if not math.isfinite(x):
        raise ProtocolError(f"{what} must be finite, got {x!r}")
    return x


def _numbers(value: Any, what: str) -> tuple[float, ...]:
    if not isinstance(value, list):
        raise ProtocolError(f"{what} must be a list of numbers, got {type(value).__name__}")
    return tuple(_number(v, f"{what}[{i}]") for i, v in enumerate(value))


def parse_client_message(text: str) -> BeatsIn | PingIn:
    """Parse one client message of the ingest protocol.

    Parameters
    ----------
    text : str
        The JSON text of one WebSocket frame (its size is checked by the caller).

    Returns
    -------
    BeatsIn or PingIn

    Raises
    ------
    ProtocolError
        For anything else: not JSON, NaN or Infinity, an unknown ``type``, a missing or mistyped
        field, ``seq`` out of [0, 2**40), no beats or more than :data:`MAX_BEATS_PER_MESSAGE`,
        ``rr_ms`` and ``t_device_s`` of different lengths.

    Examples
    --------
    >>> parse_client_message('{"type": "ping", "t_device_s": 12.5}')
    PingIn(t_device_s=12.5, buffered=None, rtt_s=None)
    >>> m = parse_client_message(
    ...     '{"type": "beats", "seq": 3, "rr_ms": [812], "t_device_s": [100.0], "contact": true}')
    >>> m.seq, m.rr_ms, m.contact
    (3, (812.0,), True)
    """
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:
        raise ProtocolError(f"expected one JSON object: {exc}") from None
    if not isinstance(data, dict):
        raise ProtocolError(f"expected a JSON object, got {type(data).__name__}")
    kind = data.get("type")
    if kind == "ping":
        buffered = data.get("buffered")
        if buffered is not None and (
            isinstance(buffered, bool) or not isinstance(buffered, int) or buffered < 0
        ):
            raise ProtocolError(f"buffered must be a count >= 0, got {buffered!r}")
        rtt = data.get("rtt_s")
        if rtt is not None:
            rtt = _number(rtt, "rtt_s")
            if not 0.0 <= rtt <= _MAX_RTT_S:
                raise ProtocolError(f"rtt_s must be in [0, {_MAX_RTT_S:g}] s, got {rtt!r}")
        return PingIn(_number(data.get("t_device_s"), "t_device_s"), buffered, rtt)
    if kind != "beats":
        raise ProtocolError(f"type must be 'beats' or 'ping', got {kind!r}")
    seq = data.get("seq")
    if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq < MAX_SEQ:
        raise ProtocolError(f"seq must be an integer in [0, 2**40), got {seq!r}")
    rr = _numbers(data.get("rr_ms"), "rr_ms")
    times = _numbers(data.get("t_device_s"), "t_device_s")
    if not 1 <= len(rr) <= MAX_BEATS_PER_MESSAGE:
        raise ProtocolError(
            f"rr_ms must hold 1 to {MAX_BEATS_PER_MESSAGE} intervals, got {len(rr)}"
        )
    if len(times) != len(rr):
        raise ProtocolError(f"t_device_s must have one time per RR ({len(rr)}), got {len(times)}")
    contact = data.get("contact")
    if contact is not None and not isinstance(contact, bool):
        raise ProtocolError(f"contact must be true, false or null, got {contact!r}")
    gap = data.get("gap_before", False)
    if not isinstance(gap, bool):
        raise ProtocolError(f"gap_before must be true or false, got {gap!r}")
    return BeatsIn(seq, rr, times, contact, gap)


class ClockOffset:
    """Offset and drift of a device's clock against the server's, from one-way samples.

    Each sample is a ping's device time ``d`` (when it was sent) and the server's receipt time
    ``s`` (beats are not used: a backlog resent after an outage carries old device times). Then
    ``s - d = offset + delay`` with ``delay >= 0``, so the minimum of ``s - d`` over recent samples
    is the offset plus the smallest transit delay seen: an upper bound of the offset, off by the
    path's minimum one-way delay (well under a millisecond on loopback, a few ms on a home
    link). The drift is the slope between the minima of the older and the newer half of the
    samples, once they span :data:`_MIN_DRIFT_SPAN_S`.

    Uncertainty (:attr:`uncertainty_s`): the offset is biased by the one-way delay of the
    minimum sample, which lies in ``[0, rtt_min]`` (a message's one-way delay is at most its round
    trip, RFC 5905 section 8), so the true offset lies in ``[offset - rtt_min, offset]``; with a
    drift ``D`` the offset moves by up to ``|D| * span`` over the samples kept, which the running
    minimum follows only in steps. The bound is ``rtt_min + |D| * span`` (None while the client
    has reported no round trip).

    References
    ----------
    .. [1] Paxson V. (1998). On calibrating measurements of packet transit times. ACM SIGMETRICS
       Performance Evaluation Review 26(1), 11-21 (minimum filtering of one-way delays).
    .. [2] RFC 5905, Network Time Protocol Version 4 (section 10: the clock filter keeps the
       sample of least delay).

    Examples
    --------
    >>> c = ClockOffset()
    >>> c.add(100.0, 105.030); c.add(101.0, 106.010); c.add(102.0, 107.050)
    >>> round(c.offset_s, 3)
    5.01
    """

    def __init__(self) -> None:
        self._samples: deque[tuple[float, float]] = deque(maxlen=_OFFSET_SAMPLES)
        self.min_rtt_s: float | None = None

    def add(self, t_device_s: float, t_server_s: float, rtt_s: float | None = None) -> None:
        """Add one sample (device time at or before sending, server receipt time) and the
        client's shortest round trip so far, s, if it reports one."""
        self._samples.append((t_server_s, t_server_s - t_device_s))
        if rtt_s is not None and (self.min_rtt_s is None or rtt_s < self.min_rtt_s):
            self.min_rtt_s = rtt_s

    @property
    def span_s(self) -> float:
        """Time between the oldest and the newest sample kept (server clock), s."""
        return self._samples[-1][0] - self._samples[0][0] if self._samples else 0.0

    @property
    def uncertainty_s(self) -> float | None:
        """Bound of the offset's error, s: ``rtt_min + |drift| * span`` (see the class)."""
        if self.min_rtt_s is None or not self._samples:
            return None
        drift = self.drift_ppm
        return self.min_rtt_s + (0.0 if drift is None else abs(drift) * 1e-6 * self.span_s)

    @property
    def n(self) -> int:
        """Number of samples kept."""
        return len(self._samples)

    @property
    def offset_s(self) -> float | None:
        """Server clock minus device clock, s (None before the first sample)."""
        if not self._samples:
            return None
        return min(d for _, d in self._samples)

    @property
    def drift_ppm(self) -> float | None:
        """Drift of the device clock against the server's, parts per million (None if unknown)."""
        if len(self._samples) < 8:
            return None
        samples = list(self._samples)
        span = samples[-1][0] - samples[0][0]
        if span < _MIN_DRIFT_SPAN_S:
            return None
        half = len(samples) // 2
        t1, d1 = min(samples[:half], key=lambda x: x[1])
        t2, d2 = min(samples[half:], key=lambda x: x[1])
        if t2 <= t1:
            return None
        return (d2 - d1) / (t2 - t1) * 1e6

    def to_server(self, t_device_s: float) -> float:
        """A device time on the server's clock (unchanged before the first sample)."""
        offset = self.offset_s
        return t_device_s if offset is None else t_device_s + offset
