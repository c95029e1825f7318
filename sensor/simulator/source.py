"""The simulator as a strap: beats packed into Heart Rate Measurement (0x2A37) notifications
(:func:`notifications_for`) and :class:`SimulatedSource`, a :class:`~sensor.types.BeatSource`
that feeds them through the real :class:`~sensor.decoder.NotificationDecoder` at real time,
accelerated or as fast as possible.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from hrv.errors import ParameterError
from sensor.decoder import NotificationDecoder
from sensor.gatt import encode_heart_rate_measurement
from sensor.simulator.model import simulate_rr
from sensor.simulator.scenario import (
    ROLE_INDEX,
    ArtifactSpec,
    Role,
    Scenario,
    SimulatedRR,
)
from sensor.types import DeviceEvent, SourceItem

__all__ = ["Notification", "SimulatedSource", "notifications_for"]

logger = logging.getLogger(__name__)

# ------------------------------------------------------------------------------------ payloads


@dataclass(frozen=True, slots=True)
class Notification:
    """One simulated 0x2A37 notification.

    Attributes
    ----------
    time_s : float
        When the host receives it, s from the session start.
    payload : bytes
        The characteristic value.
    n_rr : int
        Number of RR values in it.
    """

    time_s: float
    payload: bytes
    n_rr: int


def notifications_for(
    sim: SimulatedRR,
    *,
    interval_s: float = 1.0,
    phase_s: float = 0.0,
    latency_s: tuple[float, float] = (0.01, 0.06),
    seed: int | None = None,
) -> list[Notification]:
    """Pack a participant's beats into 0x2A37 notifications, as a strap sends them.

    A strap notifies every ``interval_s`` (1 s for the usual straps) with the RRs completed since
    its previous notification; the host receives each one after a radio latency drawn uniformly in
    ``latency_s``. Notifications falling inside a dropout are not sent. The reported heart rate is
    ``round(60000 / mean RR)`` of the packet (the previous value for a packet without RR).

    Parameters
    ----------
    sim : SimulatedRR
        The beats.
    interval_s : float
        Notification period, s.
    phase_s : float
        Offset of the first notification within the period, s.
    latency_s : (float, float)
        Range of the host receipt latency, s.
    seed : int, optional
        Seed of the latency draws (default: the simulation's seed).

    Returns
    -------
    list of Notification
        In time order.

    Examples
    --------
    >>> sim = simulate_rr(Scenario.calm(30.0), seed=2)
    >>> notes = notifications_for(sim)
    >>> sum(n.n_rr for n in notes) == len(sim)
    True
    """
    if not interval_s > 0:
        raise ParameterError(f"interval_s must be > 0 s, got {interval_s!r}")
    ends = sim.beat_times_s
    if ends.size == 0:
        return []
    first = sim.first_beat_s
    n_notes = math.ceil((float(ends[-1]) - phase_s) / interval_s) + 1
    sent = phase_s + interval_s * np.arange(n_notes, dtype=np.float64)
    sent = sent[sent > first]
    # Sent after the last beat (the RR values up to the send time go in).
    if sent.size == 0 or sent[-1] < ends[-1]:
        sent = np.append(sent, (sent[-1] if sent.size else first) + interval_s)
    rng = np.random.default_rng(
        np.random.SeedSequence(
            sim.seed if seed is None else seed, spawn_key=(7, ROLE_INDEX[sim.role])
        )
    )
    received = sent + rng.uniform(latency_s[0], latency_s[1], sent.size)
    silent = np.zeros(sent.size, dtype=bool)
    for a in sim.artifacts:
        if a.window_s is not None:
            silent |= (sent >= a.window_s[0]) & (sent < a.window_s[1])
    # A beat goes in the first notification sent at or after it; the beats a silent (lost)
    # notification would have carried go in the next one that is sent.
    owner = np.searchsorted(sent, ends, side="left")
    index = np.arange(sent.size)
    next_sent = np.minimum.accumulate(np.where(silent, sent.size, index)[::-1])[::-1]
    owner = next_sent[owner]
    if np.any(owner >= sent.size):
        logger.warning(
            "%s: beats after the last notification (dropout at the end) not sent", sim.role
        )
    bounds = np.searchsorted(owner, np.arange(sent.size + 1), side="left")
    raw = sim.rr_raw.tolist()
    rr_ms = sim.rr_ms
    out: list[Notification] = []
    hr = round(60000.0 / float(rr_ms[0]))
    for i in range(sent.size):
        lo, hi = int(bounds[i]), int(bounds[i + 1])
        if silent[i]:
            continue
        if hi > lo:
            hr = round(60000.0 / float(rr_ms[lo:hi].mean()))
        payload = encode_heart_rate_measurement(max(0, min(hr, 0xFFFF)), raw[lo:hi], contact=True)
        out.append(Notification(float(received[i]), payload, hi - lo))
    return out


# ------------------------------------------------------------------------------------ source


class SimulatedSource:
    """A :class:`~sensor.types.BeatSource` playing simulated straps through the real decoder.

    Each participant's beats are packed into 0x2A37 payloads (:func:`notifications_for`) and fed,
    at their receipt times, to a :class:`~sensor.decoder.NotificationDecoder` per participant,
    exactly as BLE notifications are; the items it returns (beat batches, contact events) are
    yielded in time order. A ``DeviceEvent("connected")`` per participant comes first.

    Parameters
    ----------
    scenario : Scenario, optional
        Default :meth:`Scenario.first_session`.
    seed : int
        Seed of the simulation (see :func:`simulate_rr`).
    roles : sequence of str
        Which participants to stream.
    speed : float or None
        1.0 real time, 20.0 twenty times faster, None as fast as possible.
    artifacts : mapping of role to ArtifactSpec sequence, optional
        Artifacts to inject per participant.
    start_time_s : float, optional
        Host time (s) of the session start; default ``clock()`` when iteration starts. Host
        times are ``start_time_s + simulated time``, also when accelerated, so beat times stay
        consistent with the RR values.
    clock : callable
        Wall clock, s (``time.time``); injected by tests.
    sleep : callable
        Awaitable sleep (``asyncio.sleep``); injected by tests.
    notify_interval_s : float
        Notification period of the simulated straps, s.

    Examples
    --------
    >>> import asyncio
    >>> async def first_beats():
    ...     src = SimulatedSource(Scenario.calm(20.0), seed=1, roles=("patient",), speed=None)
    ...     return [len(i) async for i in src if not isinstance(i, DeviceEvent)]
    >>> sum(asyncio.run(first_beats())) > 15
    True
    """

    def __init__(
        self,
        scenario: Scenario | None = None,
        *,
        seed: int = 0,
        roles: Sequence[Role] = ("patient", "therapist"),
        speed: float | None = 1.0,
        artifacts: Mapping[str, Sequence[ArtifactSpec]] | None = None,
        start_time_s: float | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        notify_interval_s: float = 1.0,
    ) -> None:
        if speed is not None and not speed > 0:
            raise ParameterError(f"speed must be > 0 or None (as fast as possible), got {speed!r}")
        for r in roles:
            if r not in ROLE_INDEX:
                raise ParameterError(f"role must be 'patient' or 'therapist', got {r!r}")
        self.scenario = scenario if scenario is not None else Scenario.first_session()
        self.seed = seed
        self.roles = tuple(roles)
        self.speed = speed
        self._artifacts = dict(artifacts or {})
        self._start_time_s = start_time_s
        self._clock = clock
        self._sleep = sleep
        self._interval_s = float(notify_interval_s)
        self.decoders: dict[str, NotificationDecoder] = {
            r: NotificationDecoder(r, f"simulator:{seed}:{r}") for r in self.roles
        }
        self.simulations: dict[str, SimulatedRR] = {}
        self._closed = False

    def __aiter__(self) -> AsyncIterator[SourceItem]:
        return self._run()

    async def aclose(self) -> None:
        """Stop the stream (the iterator ends at its next step)."""
        self._closed = True

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called."""
        return self._closed

    def _is_closed(self) -> bool:
        # A call, not an attribute, so that type checkers do not assume it unchanged by an await.
        return self._closed

    def _schedule(self) -> tuple[NDArray[np.float64], list[tuple[str, bytes]]]:
        events: list[tuple[float, int, str, bytes]] = []
        for k, role in enumerate(self.roles):
            sim = simulate_rr(
                self.scenario, role, seed=self.seed, artifacts=self._artifacts.get(role, ())
            )
            self.simulations[role] = sim
            # Spread the straps within the period so their notifications do not coincide.
            phase = self._interval_s * (0.3 + 0.45 * k) % self._interval_s
            notes = notifications_for(sim, interval_s=self._interval_s, phase_s=phase)
            events.extend((n.time_s, k, role, n.payload) for n in notes)
        events.sort(key=lambda e: (e[0], e[1]))
        times = np.array([e[0] for e in events], dtype=np.float64)
        return times, [(e[2], e[3]) for e in events]

    async def _run(self) -> AsyncIterator[SourceItem]:
        # the whole session is generated up front (about 0.16 s per hour): off the event loop, so
        # that starting one session never stalls the others
        times, packets = await asyncio.to_thread(self._schedule)
        t0 = self._start_time_s if self._start_time_s is not None else self._clock()
        wall0 = self._clock()
        for who in self.roles:
            yield DeviceEvent(
                who,
                self.decoders[who].device,
                "connected",
                t0,
                detail={"scenario": self.scenario.name, "seed": str(self.seed)},
            )
        for t_sim, (role, payload) in zip(times.tolist(), packets, strict=True):
            if self.closed:
                return
            if self.speed is not None:
                delay = wall0 + t_sim / self.speed - self._clock()
                if delay > 0:
                    await self._sleep(delay)
                    if self._is_closed():
                        return
            else:
                await asyncio.sleep(0)
            for item in self.decoders[role].feed(t0 + t_sim, payload):
                yield item
