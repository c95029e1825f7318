"""Reconstruction of beat times from RR intervals that arrive without timestamps.

A Heart Rate Measurement notification (0x2A37) carries RR intervals but no time stamp; the only
clock is the host's receipt time, and notifications can arrive late (radio retries, a busy event
loop) or not at all (dropout, reconnect). :class:`BeatClock` turns
``(host receipt time, RR values)`` into one time per beat on the host clock, so that two straps
read by one host are aligned.

Algorithm
---------
Let packet ``i`` arrive at host time :math:`h_i` with RR values whose cumulative sum since the
anchor, up to and including its last beat, is :math:`S_i` (seconds).

1. **Anchor.** On the first packet (and after :meth:`BeatClock.reset` or a gap) the anchor is
   :math:`a = h_0 - S_0`: the last beat of the first packet is placed at its receipt time.
2. **Summation.** Beat ``k`` is placed at :math:`t_k = a + c + \\sum_{j \\le k} RR_j`, so the
   intervals between placed times are exactly the RR values (the strap's clock is trusted between
   beats; the host clock only fixes the origin).
3. **Offset.** For each packet the host-minus-sum offset :math:`u_i = h_i - (a + S_i)` is the
   latency of the packet plus the accumulated drift between the strap's RR clock and the host
   clock (:math:`u_0 = 0`).
4. **Causality.** A beat cannot be received before it happened, so placed times never exceed the
   receipt time: the correction :math:`c_i = \\min(0, \\min_{j \\le i} u_j)` only ever moves the
   time line earlier (a first packet that was itself late, or a strap whose clock runs fast).
   When the step needed exceeds the first RR of the packet, the earlier beats were placed more
   than one beat too late (typically the anchoring packet was delivered late) and no placement is
   both causal, increasing and faithful to the RR values: the clock re-anchors on this packet
   (``reason="late_anchor"``, ``gap_before=True``) and the beats of this packet that would fall
   before the last placed beat are held at its time (the time line never runs backwards; the RR
   values themselves are untouched).
5. **Gap.** The lower envelope :math:`e_i = \\min u_j` over the packets of the last
   ``drift_window_s`` seconds removes latency jitter and follows slow drift. If a packet's
   offset exceeds the envelope by more than ``gap_threshold_s`` (host time advanced much more than
   the RR summed), beats were lost: the clock re-anchors on this packet and marks
   ``gap_before=True`` (``reason="gap"``).
6. **Drift.** :attr:`BeatClock.drift_s` is :math:`e_i - e_{ref}`, with :math:`e_{ref}` the
   envelope at the end of the first window after the anchor: how far the host clock has run ahead
   of the summed RR since then, with the latency of the individual packets (the anchoring one
   included) removed. Positive: the strap's clock is slow or beats were missed; negative: the
   strap's clock is fast. It is 0 during the first window. :attr:`BeatClock.drift_ppm` divides
   it by the host time elapsed since the end of that first window. Drift is reported, not
   corrected (correcting it would make the placed intervals differ from the RR values received),
   except by the causality rule.

A limitation follows from having no timestamps: a packet delivered more than ``gap_threshold_s``
late is indistinguishable, when it arrives, from a dropout, so it is marked as a gap (the RR values
are intact; only the time line restarts).

Everything here is pure and deterministic: the host time is passed in, never read.

References
----------
Bluetooth SIG, *Heart Rate Service 1.0* and *GATT Specification Supplement*, Heart Rate
Measurement (0x2A37): RR intervals in 1/1024 s, no time stamp.

Mills, D. L. (1991). Internet time synchronization: the Network Time Protocol. *IEEE Transactions
on Communications*, 39(10), 1482-1493 (the minimum-delay filter behind the lower envelope).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from hrv.errors import ParameterError

__all__ = [
    "DEFAULT_DRIFT_WINDOW_S",
    "DEFAULT_GAP_THRESHOLD_S",
    "AnchorReason",
    "BeatClock",
    "PlacedBeats",
]

#: Host time advancing this much (s) beyond the summed RR means beats were lost.
DEFAULT_GAP_THRESHOLD_S: Final[float] = 3.0
#: Length (s of host time) of the window of the lower envelope used for drift and gaps.
DEFAULT_DRIFT_WINDOW_S: Final[float] = 60.0
#: Minimum host time (s) since the anchor before a drift rate (ppm) is reported.
_MIN_PPM_ELAPSED_S: Final[float] = 10.0
_MS_PER_S: Final[float] = 1000.0

AnchorReason = Literal["first", "reset", "gap", "late_anchor"]


@dataclass(frozen=True, slots=True)
class PlacedBeats:
    """The times given to the beats of one packet.

    Attributes
    ----------
    beat_times_s : numpy.ndarray
        Time of each beat (end of each RR interval), s, host clock; float64, never later than the
        packet's receipt time and, while host times do not go backwards, never earlier than the
        previous beat.
    gap_before : bool
        True when the time line was (re-)anchored on this packet.
    reason : str or None
        Why it was anchored: ``"first"``, ``"reset"``, ``"gap"``, ``"late_anchor"``; None if not.
    latency_s : float
        Receipt time minus the placed time of the packet's last beat, s (>= 0); NaN for a packet
        without RR values.
    """

    beat_times_s: NDArray[np.float64]
    gap_before: bool
    reason: AnchorReason | None
    latency_s: float


class BeatClock:
    """Place beats on the host clock from RR intervals (see the module docstring).

    Parameters
    ----------
    gap_threshold_s : float
        Host time advancing more than this beyond the summed RR (s) marks a gap and re-anchors.
    drift_window_s : float
        Span of host time (s) over which the lower envelope of the host-minus-sum offset is taken.

    Notes
    -----
    Placement of beat ``k`` after anchor ``a`` with correction ``c`` (s):
    :math:`t_k = a + c + \\sum_{j \\le k} RR_j / 1000`. RR sums are kept in ms; for BLE values
    (multiples of 1000/1024 ms) the running sum is exact in float64 for days.

    Examples
    --------
    >>> clock = BeatClock()
    >>> p = clock.place(100.0, [800.0, 1000.0])
    >>> p.beat_times_s.tolist(), p.gap_before
    ([99.0, 100.0], True)
    >>> clock.place(101.05, [1000.0]).beat_times_s.tolist()
    [101.0]
    >>> round(clock.drift_s, 3)
    0.0
    """

    def __init__(
        self,
        *,
        gap_threshold_s: float = DEFAULT_GAP_THRESHOLD_S,
        drift_window_s: float = DEFAULT_DRIFT_WINDOW_S,
    ) -> None:
        if not gap_threshold_s > 0:
            raise ParameterError(f"gap_threshold_s must be > 0 s, got {gap_threshold_s!r}")
        if not drift_window_s > 0:
            raise ParameterError(f"drift_window_s must be > 0 s, got {drift_window_s!r}")
        self.gap_threshold_s: Final[float] = float(gap_threshold_s)
        self.drift_window_s: Final[float] = float(drift_window_s)
        self._pending_reason: AnchorReason = "first"
        self._anchor_s = math.nan
        self._anchor_host_s = math.nan
        self._correction_s = 0.0
        self._cum_ms = 0.0
        self._last_host_s = math.nan
        self._last_beat_s = math.nan
        # Monotonic deque of (host time, offset u): offsets increase from left to right, so the
        # left end is the minimum over the window (amortised O(1) per packet).
        self._envelope: deque[tuple[float, float]] = deque()
        self._ref_envelope_s = math.nan
        self._ref_host_s = math.nan
        self.n_anchors = 0
        self.n_gaps = 0

    # ------------------------------------------------------------------ state
    @property
    def anchored(self) -> bool:
        """Whether a time line is in place (False before the first beat and after a reset)."""
        return not math.isnan(self._anchor_s)

    @property
    def anchor_s(self) -> float:
        """Current origin of the time line, s (anchor plus causality correction); NaN if none."""
        return self._anchor_s + self._correction_s

    @property
    def last_beat_s(self) -> float:
        """Placed time of the latest beat, s; NaN if none since the last anchor."""
        return self._last_beat_s

    @property
    def drift_s(self) -> float:
        """Change of (host clock minus summed RR) since the first window, latency removed, s.

        Positive when the host clock ran ahead of the summed RR (slow strap clock or missed
        beats), negative when the summed RR ran ahead (fast strap clock). 0.0 until one
        ``drift_window_s`` has elapsed since the anchor.
        """
        if math.isnan(self._ref_envelope_s) or not self._envelope:
            return 0.0
        return self._envelope[0][1] - self._ref_envelope_s

    @property
    def drift_ppm(self) -> float:
        """:attr:`drift_s` per host time elapsed since the end of the first window, ppm.

        NaN until at least 10 s of host time have elapsed since the end of the first window.
        """
        if math.isnan(self._ref_envelope_s):
            return math.nan
        elapsed = self._last_host_s - self._ref_host_s
        if not elapsed >= _MIN_PPM_ELAPSED_S:
            return math.nan
        return self.drift_s / elapsed * 1e6

    # -------------------------------------------------------------- operations
    def reset(self) -> None:
        """Forget the time line (e.g. on reconnect): the next beats are re-anchored, gap marked."""
        self._clear("reset")

    def place(self, host_time_s: float, rr_ms: ArrayLike) -> PlacedBeats:
        """Give a time to each beat of one packet.

        Parameters
        ----------
        host_time_s : float
            Host receipt time of the packet, s.
        rr_ms : array_like
            The packet's RR intervals, ms (may be empty: an HR-only packet changes nothing).

        Returns
        -------
        PlacedBeats

        Notes
        -----
        With :math:`S` the RR sum up to the packet's last beat and :math:`u = h - (a + S)`:
        gap when :math:`u - e > g` (``e`` the envelope, ``g`` ``gap_threshold_s``); correction
        :math:`c \\leftarrow \\min(c, u)`. See the module docstring.

        Examples
        --------
        >>> clock = BeatClock(gap_threshold_s=3.0)
        >>> clock.place(10.0, [1000.0]).beat_times_s.tolist()
        [10.0]
        >>> p = clock.place(20.0, [1000.0])  # 10 s later but only 1 s of RR: a dropout
        >>> p.beat_times_s.tolist(), p.reason
        ([20.0], 'gap')
        """
        h = float(host_time_s)
        if not math.isfinite(h):
            raise ParameterError(f"host_time_s must be finite, got {host_time_s!r}")
        rr = np.asarray(rr_ms, dtype=np.float64).reshape(-1)
        if rr.size == 0:
            return PlacedBeats(np.empty(0, dtype=np.float64), False, None, math.nan)
        if not np.all(np.isfinite(rr)) or np.any(rr < 0):
            raise ParameterError(f"RR values must be finite and >= 0 ms, got {rr.tolist()}")
        cum = np.cumsum(rr)
        packet_ms = float(cum[-1])

        reason: AnchorReason | None = None
        if not self.anchored:
            reason = self._pending_reason
        else:
            u = h - (self._anchor_s + (self._cum_ms + packet_ms) / _MS_PER_S)
            self._expire(h)
            envelope = self._envelope[0][1] if self._envelope else self._correction_s
            if u - envelope > self.gap_threshold_s:
                reason = "gap"
            elif u < self._correction_s:
                step = self._correction_s - u
                if step * _MS_PER_S > float(rr[0]):
                    reason = "late_anchor"
                else:
                    self._correction_s = u
        previous_beat_s = self._last_beat_s
        if reason is not None:
            self._start(h, packet_ms, reason)

        base_s = self._anchor_s + self._correction_s + self._cum_ms / _MS_PER_S
        times = base_s + cum / _MS_PER_S
        self._cum_ms += packet_ms
        u_now = h - (self._anchor_s + self._cum_ms / _MS_PER_S)
        self._push(h, u_now)
        if math.isnan(self._ref_envelope_s) and h - self._anchor_host_s >= self.drift_window_s:
            self._ref_envelope_s = self._envelope[0][1]
            self._ref_host_s = h
        if reason == "late_anchor":
            np.maximum(times, previous_beat_s, out=times)
        # Rounding can leave the last beat a few ulp after the receipt time: clip it.
        np.minimum(times, h, out=times)
        self._last_host_s = h
        self._last_beat_s = float(times[-1])
        return PlacedBeats(times, reason is not None, reason, h - self._last_beat_s)

    # ---------------------------------------------------------------- private
    def _clear(self, reason: AnchorReason) -> None:
        self._pending_reason = reason
        self._anchor_s = math.nan
        self._anchor_host_s = math.nan
        self._correction_s = 0.0
        self._cum_ms = 0.0
        self._last_beat_s = math.nan
        self._envelope.clear()
        self._ref_envelope_s = math.nan
        self._ref_host_s = math.nan

    def _start(self, h: float, packet_ms: float, reason: AnchorReason) -> None:
        self._clear(reason)
        self._anchor_s = h - packet_ms / _MS_PER_S
        self._anchor_host_s = h
        self.n_anchors += 1
        if reason == "gap":
            self.n_gaps += 1

    def _expire(self, h: float) -> None:
        env = self._envelope
        while len(env) > 1 and env[0][0] < h - self.drift_window_s:
            env.popleft()

    def _push(self, h: float, u: float) -> None:
        env = self._envelope
        while env and env[-1][1] >= u:
            env.pop()
        env.append((h, u))
