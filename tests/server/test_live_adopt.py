"""Taking over a live session from a dead process, and giving one up (issue 16).

Single process, real SQLite files, real :class:`BeatWriter`s. Hub A runs a session of two
``remote`` participants fed through :meth:`LiveHub.ingest_remote` on a fake host clock (beat
times and session time move only when the test says so; the tickers run on the event loop), the
therapist moves on a phase and extends it, the patient pauses and resumes, the therapist pauses.
A then dies (its lease lost: :meth:`LiveHub.abandon_session`, after the writer flushed) and hub B
on the same database adopts the session. A reference hub C on its own database gets the same
beats and commands without interruption: after the adoption, B must give every beat the values C
gives it (the engine is streaming-invariant: live == batch).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dashboard.phases import DEFAULT_FIRST_SESSION
from sensor.types import BeatBatch
from server.live import LiveHub, Subscription
from server.live.sources import default_source_factory
from server.messages import BeatsMessage, CueMessage, HistoryMessage, ParticipantBeats
from server.settings import ServerSettings
from server.storage import BeatWriter, DeviceAssignment, StorageSettings, Store
from tests.support.live_session import FakeClock

T0 = 1_800_000_000.0
PURPOSES = ("live_display", "storage", "synchrony")


@dataclass
class Hub:
    hub: LiveHub
    store: Store
    writer: BeatWriter


@asynccontextmanager
async def open_hub(db: Path, clock: FakeClock) -> AsyncIterator[Hub]:
    settings = ServerSettings(
        storage=StorageSettings(db.parent), speed=1.0, max_ws_messages_per_s=20.0
    )
    store = Store.open(f"sqlite:///{db}")
    writer = BeatWriter(store, linger_s=0.02)
    hub = LiveHub(
        store=store,
        writer=writer,
        settings=settings,
        source_factory=default_source_factory(settings),
        clock=clock,
    )
    try:
        yield Hub(hub, store, writer)
    finally:
        await hub.aclose()
        writer.close()
        store.close()


def make_session(store: Store, kind: str = "remote") -> tuple[int, int, int]:
    """A planned session of a patient and a therapist on ``kind``; (session, patient, therapist)."""
    patient = store.create_participant("P-adopt", "patient")
    therapist = store.create_participant("T-adopt", "therapist")
    for p in (patient, therapist):
        for purpose in PURPOSES:
            store.grant_consent(p.id, purpose, "v1", at_s=0.0)  # type: ignore[arg-type]
    session = store.create_session(
        DEFAULT_FIRST_SESSION.to_dict(),
        participants=[DeviceAssignment(patient.id, kind), DeviceAssignment(therapist.id, kind)],
    )
    return session.id, patient.id, therapist.id


class Person:
    """A remote participant's beats (a seeded, breathing-modulated RR series) and their feed."""

    def __init__(self, pid: int, mean_rr_ms: float, seed: int) -> None:
        rng = np.random.default_rng(seed)
        n = 700
        k = np.arange(n)
        self.rr = mean_rr_ms + 45.0 * np.sin(2 * np.pi * k / 6.5) + rng.normal(0.0, 12.0, n)
        self.rr[300] *= 0.55  # one premature beat (an artifact the engine corrects)
        self.t = T0 + np.cumsum(self.rr) / 1000.0
        self.pid = pid
        self.sent = 0

    def batch(self, until_s: float) -> BeatBatch | None:
        """The beats not sent yet with times up to ``until_s`` (one notification)."""
        end = int(np.searchsorted(self.t, until_s, side="right"))
        if end <= self.sent:
            return None
        a, self.sent = self.sent, end
        return BeatBatch(
            participant=str(self.pid),
            device="remote:phone",
            rr_ms=self.rr[a:end].copy(),
            rr_raw=None,
            host_time_s=float(self.t[end - 1]),
            beat_times_s=self.t[a:end].copy(),
            contact=True,
            seq=a,
            gap_before=a == 0,
        )


async def feed(
    hub: LiveHub, sid: int, clock: FakeClock, people: Sequence[Person], until_rel_s: float
) -> None:
    """Move the clock one second at a time up to ``T0 + until_rel_s``, ingesting each second's
    beats of every person, and let the hub compute them."""
    while clock.t < T0 + until_rel_s - 1e-9:
        clock.t = min(clock.t + 1.0, T0 + until_rel_s)
        # the session clock is read now, as the ticker does several times a second in real
        # time (here a second of session time passes in well under one tick)
        hub.now(sid)
        for person in people:
            batch = person.batch(clock.t)
            if batch is not None:
                assert hub.ingest_remote(sid, batch)
        await computed(hub)


async def computed(hub: LiveHub) -> None:
    """Let the compute task take what was ingested (beats arrive a second apart, as a phone
    sends them: the engine keeps up)."""
    await asyncio.sleep(0)
    while hub._pending:
        await asyncio.sleep(0.001)
    await asyncio.sleep(0)


async def drain(hub: Hub) -> None:
    """Let the compute task and the rate cap send everything computed; the writer write it."""
    await asyncio.sleep(0.3)
    await hub.writer.wait_durable_async(timeout=5.0)


async def script(
    hub: LiveHub, sid: int, clock: FakeClock, pat: Person, ther: Person, *, until_s: float
) -> None:
    """The session's first ``until_s`` seconds (at most 200): the same in A and in C."""
    both = (pat, ther)
    await feed(hub, sid, clock, both, 60.0)
    await hub.advance_phase(sid, actor="therapist")
    await feed(hub, sid, clock, both, 90.0)
    await hub.extend_phase(sid, 120.0, actor="therapist")
    await feed(hub, sid, clock, both, 110.0)
    await hub.set_privacy_pause(sid, pat.pid, True, actor="therapist")
    await feed(hub, sid, clock, both, 130.0)  # the patient's beats are dropped (not stored)
    await hub.set_privacy_pause(sid, pat.pid, False, actor="therapist")
    await asyncio.sleep(0.1)  # the ticker ticks at the resume's time (the reading decays)
    await feed(hub, sid, clock, both, 190.0)
    await hub.set_privacy_pause(sid, ther.pid, True, actor="therapist")
    await feed(hub, sid, clock, both, until_s)


def per_beat(messages: Sequence[Any], pid: int) -> dict[float, tuple[Any, ...]]:
    """Each beat of ``pid`` in ``beats`` messages: time -> (rr, hr, mean hr, rmssd, arousal)."""
    out: dict[float, tuple[Any, ...]] = {}
    for m in messages:
        if isinstance(m, BeatsMessage):
            for part in m.participants:
                if part.participant_id == pid:
                    out.update(values(part))
    return out


def values(part: ParticipantBeats) -> dict[float, tuple[Any, ...]]:
    return {
        t: row
        for t, *row in zip(
            part.time_s,
            part.rr_ms,
            part.hr_bpm,
            part.mean_hr_bpm,
            part.rmssd_ms,
            part.arousal_index,
            part.arousal_state,
            strict=True,
        )
    }


def assert_same(a: dict[float, tuple[Any, ...]], b: dict[float, tuple[Any, ...]]) -> None:
    assert a.keys() == b.keys()
    for t in a:
        for x, y in zip(a[t], b[t], strict=True):
            if isinstance(x, float) and isinstance(y, float):
                # the same operations on the same inputs; a tolerance for summation order only
                assert math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9), (t, a[t], b[t])
            else:
                assert x == y, (t, a[t], b[t])


async def read_until(
    sub: Subscription, cond: Callable[[list[Any]], bool], timeout_s: float = 10.0
) -> list[Any]:
    out: list[Any] = []

    async def run() -> None:
        async for msg in sub:
            out.append(msg)
            if cond(out):
                return

    await asyncio.wait_for(run(), timeout_s)
    return out


def written(store: Store, sid: int) -> tuple[Any, ...]:
    """What adopt and abandon must leave alone: phase events, cues, the session's record."""
    return (
        [(e.time_s, e.phase_index, e.action, e.extend_s) for e in store.list_phase_events(sid)],
        [(c.id, c.shown_at_s, c.response) for c in store.list_cues(sid)],
        store.get_session(sid),
    )


# ------------------------------------------------------------------------------ adopt


def test_an_adopted_session_continues_as_if_uninterrupted(tmp_path: Path) -> None:
    async def main() -> None:
        clock_a, clock_c = FakeClock(T0), FakeClock(T0)
        async with (
            open_hub(tmp_path / "ab.sqlite", clock_a) as a,
            open_hub(tmp_path / "c.sqlite", clock_c) as c,
        ):
            sid, pat_id, ther_id = make_session(a.store)
            sid_c, pat_c, ther_c = make_session(c.store)
            assert (sid, pat_id, ther_id) == (sid_c, pat_c, ther_c)  # same ids: same labels
            await a.hub.start_session(sid)
            sub_c = c.hub.subscribe(sid)
            await c.hub.start_session(sid)
            pat, ther = Person(pat_id, 820.0, 1), Person(ther_id, 900.0, 2)
            pat_ref, ther_ref = Person(pat_id, 820.0, 1), Person(ther_id, 900.0, 2)
            # A and C run the same first 200 s
            await script(a.hub, sid, clock_a, pat, ther, until_s=200.0)
            await script(c.hub, sid, clock_c, pat_ref, ther_ref, until_s=200.0)
            await drain(a)
            await drain(c)
            late_a = a.hub.subscribe(sid)
            history_a = await anext(aiter(late_a))
            assert isinstance(history_a, HistoryMessage)
            # A dies: it loses its lease (nothing more is written by it), its writer flushed
            await a.hub.abandon_session(sid)
            # a cue A showed (stored): B must not show it again
            shown = a.store.add_cue(
                sid, "grounding", "A cue of A's.", {"cue_id": "c1"}, at_s=T0 + 199.0
            )
            before = written(a.store, sid)
            assert before[2].status == "live"

            async with open_hub(tmp_path / "ab.sqlite", clock_a) as b:
                adopting = asyncio.create_task(b.hub.adopt_session(sid))
                while sid not in b.hub._adopting:  # B is reading and replaying storage
                    await asyncio.sleep(0)
                # the patient's phone sends its next second now: the ingest route stores it
                # (the session is not live here yet) and B computes it once it has replayed
                clock_a.t += 1.0
                during = pat.batch(clock_a.t)
                assert during is not None
                assert not b.hub.ingest_remote(sid, during)
                b.writer.submit(sid, pat_id, during)
                assert await adopting
                assert b.hub.is_live(sid)
                assert written(b.store, sid) == before  # adopt stored nothing
                late_b = b.hub.subscribe(sid)
                history_b = await anext(aiter(late_b))
                assert isinstance(history_b, HistoryMessage)
                assert_same_history(history_a, history_b, pat_id)

                live_b = b.hub._sessions[sid]
                assert live_b.participants[ther_id].paused
                assert not live_b.participants[pat_id].paused
                # both hubs go on: the therapist resumes, beats keep coming
                for hub, clock, people in (
                    (b.hub, clock_a, (pat, ther)),
                    (c.hub, clock_c, (pat_ref, ther_ref)),
                ):
                    await feed(hub, sid, clock, people, 215.0)
                    await hub.set_privacy_pause(sid, ther_id, False, actor="therapist")
                    await asyncio.sleep(0.1)
                    await feed(hub, sid, clock, people, 280.0)
                await drain(b)
                await drain(c)
                after_b = await read_until(
                    late_b,
                    lambda ms: per_beat(ms, pat_id) and max(per_beat(ms, pat_id)) >= T0 + 275,
                )
                after_c = await read_until(
                    sub_c, lambda ms: per_beat(ms, pat_id) and max(per_beat(ms, pat_id)) >= T0 + 275
                )
                for pid in (pat_id, ther_id):
                    got = per_beat(after_b, pid)
                    assert len(got) > 50
                    shown_a = max(beat_times(history_a, pid), default=-math.inf)
                    # B's late joiner got (history, then beats) every beat after the last one
                    # A had shown, each with the values C gave it
                    for part in history_b.beats:
                        if part.participant_id == pid:
                            got.update({t: v for t, v in values(part).items() if t > shown_a})
                    ref_all = per_beat(after_c, pid)
                    assert_same(got, {t: v for t, v in ref_all.items() if t in got})
                    assert {t for t in ref_all if shown_a < t <= max(got)} <= got.keys()
                # the first-phase arousal baseline (3 min) was complete before the adoption and
                # carried over: B's readings after it are not "collecting"
                states = [v[5] for v in per_beat(after_b, pat_id).values()]
                assert history_b.cue is None
                assert not [
                    m for m in after_b if isinstance(m, CueMessage) and m.cue_id == shown.id
                ]
                assert states
                assert "collecting" not in states

    asyncio.run(main())


def beat_times(h: HistoryMessage, pid: int) -> list[float]:
    return [t for p in h.beats if p.participant_id == pid for t in p.time_s]


def assert_same_history(ha: HistoryMessage, hb: HistoryMessage, pat_id: int) -> None:
    """What A's late joiner got equals what B's late joiner gets (the values of each beat; B's
    history may hold the beats A had computed but not yet sent, never fewer)."""
    a_parts = {p.participant_id: p for p in ha.beats}
    b_parts = {p.participant_id: p for p in hb.beats}
    assert set(a_parts) == set(b_parts) == {pat_id}  # the therapist is paused: not shown
    va, vb = values(a_parts[pat_id]), values(b_parts[pat_id])
    assert len(va) > 150
    assert va.keys() <= vb.keys()
    assert_same(va, {t: vb[t] for t in va})
    assert ha.phase is not None
    assert hb.phase is not None
    for field in ("phase_id", "index", "started_s", "planned_end_s", "reason"):
        assert getattr(ha.phase, field) == getattr(hb.phase, field), field
    assert hb.phase.phase_id == "map"
    assert ha.session.started_at_s == hb.session.started_at_s == T0
    assert [m.marker_type for m in hb.markers] == [m.marker_type for m in ha.markers]
    # the patient's pause and resume; the therapist's pause is about someone not shown
    assert [m.marker_type for m in hb.markers] == ["privacy_pause", "privacy_resume"]
    assert [(p.participant_id, p.paused) for p in ha.session.participants] == [
        (p.participant_id, p.paused) for p in hb.session.participants
    ]


def test_a_session_with_a_simulator_is_not_adopted(tmp_path: Path) -> None:
    async def main() -> None:
        async with open_hub(tmp_path / "s.sqlite", FakeClock(T0)) as b:
            sid, _pat, _ther = make_session(b.store, "simulator")
            b.store.start_session(sid, at_s=T0)  # live, but its process (and simulator) died
            before = written(b.store, sid)
            assert await b.hub.adopt_session(sid) is False
            assert not b.hub.is_live(sid)
            assert written(b.store, sid) == before

    asyncio.run(main())


# ------------------------------------------------------------------------------ abandon


def test_an_abandoned_session_writes_nothing_more(tmp_path: Path) -> None:
    async def main() -> None:
        clock = FakeClock(T0)
        async with open_hub(tmp_path / "x.sqlite", clock) as a:
            sid, pat_id, ther_id = make_session(a.store)
            sub = a.hub.subscribe(sid)
            await a.hub.start_session(sid)
            pat, ther = Person(pat_id, 820.0, 1), Person(ther_id, 900.0, 2)
            await feed(a.hub, sid, clock, (pat, ther), 30.0)
            # the last beats are submitted, then the lease is lost before they are computed
            clock.t += 1.0
            last = pat.batch(clock.t)
            assert last is not None
            assert a.hub.ingest_remote(sid, last)
            await a.hub.abandon_session(sid)
            assert not a.hub.is_live(sid)
            assert not a.hub.ingest_remote(
                sid, BeatBatch("x", "d", np.array([800.0]), None, 0.0, np.array([clock.t + 1]))
            )
            got = await read_until(sub, lambda _ms: False, timeout_s=5.0)  # the iterator ends
            assert got  # (history, session, phase, beats ...) then the end
            before = written(a.store, sid)
            assert before[2].status == "live"  # no stop record
            # time passes beyond the first phase's planned end: an owner would store the next
            # phase, cues, and a stop at shutdown; an abandoned session stores nothing
            clock.t += DEFAULT_FIRST_SESSION.phases[0].duration_s + 60.0
            await asyncio.sleep(0.5)
            assert written(a.store, sid) == before
            await a.writer.wait_durable_async(timeout=5.0)
            stored = a.store.read_all_beats(sid, participant_id=pat_id)
            assert float(stored.beat_time_s[-1]) == float(last.beat_times_s[-1])
            assert stored.beat_time_s.size == pat.sent
        # the hub closed (aclose stops every live session): still no stop record
        store = Store.open(f"sqlite:///{tmp_path / 'x.sqlite'}")
        try:
            assert written(store, sid) == before
        finally:
            store.close()

    asyncio.run(main())
