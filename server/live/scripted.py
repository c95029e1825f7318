"""An in-memory twin of the live sources for tests and benchmarks: scripted, fast, deterministic.

:class:`ScriptedSource` plays regular, gently modulated RR intervals for each participant of a
:class:`~server.live.sources.SourceSpec` (labelled by code), one :class:`~sensor.types.BeatBatch`
per participant per round, with beat times on the session clock (``spec.start_time_s`` plus the
summed RR). It pauses ``pause_s`` host seconds between rounds (0: only yields to the loop), can
stop after ``rounds`` rounds, and records when it was closed. :func:`scripted_source_factory`
returns a factory that builds one per session and remembers them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Final

import numpy as np

from sensor.types import BeatBatch, DeviceEvent, SourceItem
from server.live.sources import SourceFactory, SourceSpec

__all__ = ["ScriptedSource", "ScriptedSources", "scripted_source_factory"]

#: Mean RR of the patient and the therapist, ms (75 and 66 bpm).
_MEAN_RR_MS: Final[dict[str, float]] = {"patient": 800.0, "therapist": 910.0}
#: Respiratory modulation of RR: amplitude, ms, and period, s.
_RSA_MS: Final[float] = 40.0
_RSA_PERIOD_S: Final[float] = 5.0


class ScriptedSource:
    """Beats for every participant of ``spec``, ``beats_per_batch`` per participant per round.

    Parameters
    ----------
    spec : SourceSpec
    rounds : int or None
        Stop after this many rounds (None: until closed).
    beats_per_batch : int
        Beats per participant per round.
    pause_s : float
        Host seconds to wait between rounds (0: only yield to the event loop).
    gap_every : int or None
        Every this many rounds, a ``disconnected`` event, 5 s of missing beats and a batch
        marked ``gap_before`` (a dropout and reconnection).

    Examples
    --------
    >>> spec = SourceSpec(1, (), start_time_s=0.0)
    >>> ScriptedSource(spec, rounds=1).closed
    False
    """

    def __init__(
        self,
        spec: SourceSpec,
        *,
        rounds: int | None = None,
        beats_per_batch: int = 2,
        pause_s: float = 0.0,
        gap_every: int | None = None,
    ) -> None:
        self.spec = spec
        self.gap_every = gap_every
        self.rounds = rounds
        self.beats_per_batch = beats_per_batch
        self.pause_s = pause_s
        self.closed = False
        self.yielded_beats = 0
        self.yielded_rounds = 0

    def __aiter__(self) -> AsyncIterator[SourceItem]:
        return self._run()

    async def aclose(self) -> None:
        """Stop at the next round."""
        self.closed = True

    async def _run(self) -> AsyncIterator[SourceItem]:
        t0 = self.spec.start_time_s
        clocks = {p.participant_id: t0 for p in self.spec.participants}
        seqs = {p.participant_id: 0 for p in self.spec.participants}
        for p in self.spec.participants:
            yield DeviceEvent(p.code, f"scripted:{p.code}", "connected", t0)
        r = 0
        while not self.closed and (self.rounds is None or r < self.rounds):
            gap = self.gap_every is not None and r > 0 and r % self.gap_every == 0
            for p in self.spec.participants:
                if gap:
                    yield DeviceEvent(
                        p.code, f"scripted:{p.code}", "disconnected", clocks[p.participant_id]
                    )
                    clocks[p.participant_id] += 5.0
                k = seqs[p.participant_id] + np.arange(self.beats_per_batch)
                rr = _MEAN_RR_MS[p.role] + _RSA_MS * np.sin(
                    2.0 * np.pi * k * (_MEAN_RR_MS[p.role] / 1000.0) / _RSA_PERIOD_S
                )
                times = clocks[p.participant_id] + np.cumsum(rr) / 1000.0
                clocks[p.participant_id] = float(times[-1])
                yield BeatBatch(
                    p.code,
                    f"scripted:{p.code}",
                    rr,
                    None,
                    float(times[-1]),
                    times,
                    contact=True,
                    seq=seqs[p.participant_id],
                    gap_before=r == 0 or gap,
                )
                seqs[p.participant_id] += self.beats_per_batch
                self.yielded_beats += self.beats_per_batch
            r += 1
            self.yielded_rounds = r
            await asyncio.sleep(self.pause_s)


@dataclass
class ScriptedSources:
    """A source factory building :class:`ScriptedSource` objects, keeping them by session id."""

    rounds: int | None = None
    beats_per_batch: int = 2
    pause_s: float = 0.0
    gap_every: int | None = None
    built: dict[int, ScriptedSource] = field(default_factory=dict)

    def __call__(self, spec: SourceSpec) -> ScriptedSource:
        source = ScriptedSource(
            spec,
            rounds=self.rounds,
            beats_per_batch=self.beats_per_batch,
            pause_s=self.pause_s,
            gap_every=self.gap_every,
        )
        self.built[spec.session_id] = source
        return source


def scripted_source_factory(
    *,
    rounds: int | None = None,
    beats_per_batch: int = 2,
    pause_s: float = 0.0,
    gap_every: int | None = None,
) -> ScriptedSources:
    """A :data:`~server.live.sources.SourceFactory` of scripted sources (see the module).

    Examples
    --------
    >>> factory = scripted_source_factory(rounds=3)
    >>> factory.built
    {}
    """
    return ScriptedSources(rounds, beats_per_batch, pause_s, gap_every)


_check: SourceFactory = ScriptedSources()
