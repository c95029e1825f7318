"""The live hub driven directly (asyncio, no HTTP): storage first, batching, fan-out, consent.

Sessions are started through the hub with scripted sources (:mod:`server.live.scripted`), an
SQLite file store and a real :class:`BeatWriter`. The hub's clock is a settable fake where a test
needs session time to move (phases, synchrony); the ticker still runs on the event loop, at 20
messages per second so that the tests are quick. No assertion is about speed: rate bounds hold
by construction (one ``beats`` message per tick), so they cannot flake on a slow machine.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dashboard.phases import DEFAULT_FIRST_SESSION
from hrv.errors import InvalidRRError
from server.live import LiveHub, Subscription
from server.live.scripted import ScriptedSources, scripted_source_factory
from server.messages import (
    BeatsMessage,
    CoherenceMessage,
    CueMessage,
    CueResolvedMessage,
    DeviceMessage,
    HistoryMessage,
    MarkerMessage,
    PhaseMessage,
    SessionMessage,
    SynchronyMessage,
    VisibilityMessage,
    parse_message,
)
from server.settings import ServerSettings
from server.storage import (
    BeatWriter,
    DeviceAssignment,
    RecordNotFoundError,
    StateConflictError,
    StorageSettings,
    Store,
)

ALL_PURPOSES = ("live_display", "storage", "synchrony")


class FakeClock:
    """Host clock of the hub (s) that moves only when told to, plus real elapsed time."""

    def __init__(self, t_s: float = 1_800_000_000.0) -> None:
        self.offset = t_s - time.monotonic()

    def __call__(self) -> float:
        return time.monotonic() + self.offset

    def advance(self, dt_s: float) -> None:
        self.offset += dt_s


@dataclass
class Rig:
    hub: LiveHub
    store: Store
    writer: BeatWriter
    sources: ScriptedSources
    clock: Callable[[], float]


@asynccontextmanager
async def rig(
    tmp_path: Path,
    *,
    sources: ScriptedSources | None = None,
    clock: Callable[[], float] | None = None,
    rate: float = 20.0,
    history_s: float = 600.0,
) -> AsyncIterator[Rig]:
    settings = ServerSettings(
        storage=StorageSettings(tmp_path),
        speed=1.0,
        max_ws_messages_per_s=rate,
        history_s=history_s,
    )
    store = Store.open(f"sqlite:///{tmp_path / 'live.sqlite'}")
    writer = BeatWriter(store, linger_s=0.02)
    sources = sources if sources is not None else scripted_source_factory(pause_s=0.002)
    hub = LiveHub(
        store=store, writer=writer, settings=settings, source_factory=sources, clock=clock
    )
    try:
        yield Rig(hub, store, writer, sources, clock or time.time)
    finally:
        await hub.aclose()
        writer.close()
        store.close()


def make_session(
    store: Store,
    tag: str,
    *,
    purposes: Sequence[str] = ALL_PURPOSES,
    therapist_purposes: Sequence[str] | None = None,
) -> tuple[int, int, int]:
    """A planned session with a patient and a therapist on the simulator; (session, pat, ther)."""
    patient = store.create_participant(f"P-{tag}", "patient")
    therapist = store.create_participant(f"T-{tag}", "therapist")
    for p, ps in ((patient, purposes), (therapist, therapist_purposes or purposes)):
        for purpose in ps:
            store.grant_consent(p.id, purpose, "v1", at_s=0.0)  # type: ignore[arg-type]
    session = store.create_session(
        DEFAULT_FIRST_SESSION.to_dict(),
        participants=[
            DeviceAssignment(patient.id, "simulator"),
            DeviceAssignment(therapist.id, "simulator"),
        ],
    )
    return session.id, patient.id, therapist.id


async def collect(
    sub: Subscription, until: Callable[[list[Any]], bool], timeout_s: float = 10.0
) -> list[Any]:
    """Read messages until ``until(messages)`` holds (or the subscription ends)."""
    out: list[Any] = []

    async def run() -> None:
        async for msg in sub:
            out.append(msg)
            if until(out):
                return

    await asyncio.wait_for(run(), timeout_s)
    return out


def beats_of(messages: Sequence[Any], pid: int) -> list[float]:
    """Beat times of participant ``pid`` in the ``beats`` messages, in order."""
    return [
        t
        for m in messages
        if isinstance(m, BeatsMessage)
        for p in m.participants
        if p.participant_id == pid
        for t in p.time_s
    ]


def n_beats(pid: int, at_least: int) -> Callable[[list[Any]], bool]:
    return lambda msgs: len(beats_of(msgs, pid)) >= at_least


async def wait_for(cond: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)


# ------------------------------------------------------------------------------ storage first


def test_raw_beats_are_submitted_before_the_engine_sees_them(tmp_path: Path) -> None:
    async def main() -> None:
        async with rig(tmp_path) as r:
            sid, _pat, _ = make_session(r.store, "a")
            log: list[tuple[str, int]] = []
            submit, push = r.writer.submit, r.hub._engine.push

            def spy_submit(s: int, p: int | None, item: Any) -> int:
                log.append(("submit", len(item) if hasattr(item, "rr_ms") else 0))
                return submit(s, p, item)

            def spy_push(*args: Any, **kw: Any) -> Any:
                log.append(("push", int(np.asarray(args[1]).size)))
                return push(*args, **kw)

            r.writer.submit = spy_submit  # type: ignore[method-assign,assignment]
            r.hub._engine.push = spy_push  # type: ignore[method-assign]
            await r.hub.start_session(sid)
            await wait_for(lambda: sum(n for k, n in log if k == "push") >= 100)
            await r.hub.stop_session(sid)
            submitted = pushed = 0
            for kind, n in log:
                if kind == "submit":
                    submitted += n
                else:
                    pushed += n
                    assert pushed <= submitted  # every beat pushed was submitted before
            assert r.store.count_beats(sid) == r.sources.built[sid].yielded_beats

    asyncio.run(main())


def test_engine_failure_loses_no_stored_beat(tmp_path: Path) -> None:
    async def main() -> None:
        async with rig(tmp_path, sources=scripted_source_factory(rounds=60, pause_s=0.0)) as r:
            sid, pat, ther = make_session(r.store, "b")

            def broken(*args: Any, **kw: Any) -> Any:
                raise InvalidRRError("simulated engine failure")

            r.hub._engine.push = broken  # type: ignore[method-assign]
            sub = r.hub.subscribe(sid)
            await r.hub.start_session(sid)
            msgs = await collect(
                sub, lambda m: isinstance(m[-1], SessionMessage) and m[-1].status == "stopped"
            )
            assert r.sources.built[sid].yielded_beats == 60 * 2 * 2
            assert r.store.count_beats(sid) == 60 * 2 * 2  # all stored despite the engine
            assert r.hub.stats.engine_errors > 0
            assert beats_of(msgs, pat) == []
            assert beats_of(msgs, ther) == []
            assert msgs[-1].reason == "source_ended"

    asyncio.run(main())


# ------------------------------------------------------------------------------ batching


def test_beats_are_capped_by_a_token_bucket_and_each_sent_exactly_once(tmp_path: Path) -> None:
    rate = 20.0

    async def main() -> None:
        sources = scripted_source_factory(rounds=150, beats_per_batch=1, pause_s=0.004)
        async with rig(tmp_path, sources=sources, rate=rate) as r:
            sid, pat, ther = make_session(r.store, "c")
            sub = r.hub.subscribe(sid)
            await r.hub.start_session(sid)
            msgs = await collect(
                sub, lambda m: isinstance(m[-1], SessionMessage) and m[-1].status == "stopped"
            )
            beats = [m for m in msgs if isinstance(m, BeatsMessage)]
            yielded = r.sources.built[sid].yielded_beats // 2
            # every beat of each participant exactly once, in order (the engine is flushed at stop)
            for pid in (pat, ther):
                times = beats_of(msgs, pid)
                assert len(times) == yielded
                assert np.all(np.diff(times) > 0)
            # fewer messages than source batches: bursts coalesced, several beats per message
            assert len(beats) < 150
            assert max(len(p.time_s) for m in beats for p in m.participants) > 1
            assert r.hub.stats.beats_messages == len(beats)
            # the token bucket: at most capacity + rate * T messages in any T seconds (the 1 ms
            # allows for the host clock of sent_at_s against the loop clock of the bucket)
            cap_rate, capacity = r.hub.rate_cap
            assert (cap_rate, capacity) == (rate, 10)
            sent = np.array([m.sent_at_s for m in beats])
            span = sent[None, :] - sent[:, None] + 1e-3  # [i, j]: from message i to j
            count = np.arange(sent.size)[None, :] - np.arange(sent.size)[:, None] + 1
            later = count >= 1
            assert np.all(count[later] <= capacity + cap_rate * span[later])

    asyncio.run(main())


def test_messages_parse_back_from_json(tmp_path: Path) -> None:
    async def main() -> None:
        async with rig(tmp_path, sources=scripted_source_factory(rounds=80, pause_s=0.001)) as r:
            sid, _, _ = make_session(r.store, "j")
            sub = r.hub.subscribe(sid)
            await r.hub.start_session(sid)
            envs = []
            while (env := await asyncio.wait_for(sub.get(), 10)) is not None:
                envs.append(env)
            parsed = [parse_message(e.text) for e in envs]
            assert [type(p) for p in parsed] == [type(e.message) for e in envs]
            assert parsed == [e.message for e in envs]
            assert {"history", "session", "phase", "beats", "device"} <= {p.type for p in parsed}

    asyncio.run(main())


# ------------------------------------------------------------------------------ fan-out


def test_late_joiner_gets_history_then_live_without_gap_or_repeat(tmp_path: Path) -> None:
    async def main() -> None:
        async with rig(tmp_path) as r:
            sid, pat, ther = make_session(r.store, "d")
            first = r.hub.subscribe(sid)
            await r.hub.start_session(sid)
            await collect(first, n_beats(pat, 120))
            late = r.hub.subscribe(sid, history_s=3600.0)
            msgs = await collect(late, n_beats(pat, 60))
            history = msgs[0]
            assert isinstance(history, HistoryMessage)
            assert history.session.status == "live"
            assert history.phase is not None
            assert history.phase.phase_id == "welcome"
            assert {d.participant_id for d in history.devices} == {pat, ther}
            for pid in (pat, ther):
                hist = [t for p in history.beats if p.participant_id == pid for t in p.time_s]
                assert len(hist) > 50
                live = beats_of(msgs[1:], pid)
                joined = np.array(hist + live)
                assert np.all(np.diff(joined) > 0)  # no beat twice
                # no beat missing: consecutive scripted beats are at most one RR apart
                assert np.max(np.diff(joined)) < 1.0
            await r.hub.stop_session(sid)

    asyncio.run(main())


def test_history_is_bounded_by_history_s(tmp_path: Path) -> None:
    async def main() -> None:
        async with rig(tmp_path, history_s=30.0) as r:
            sid, pat, _ = make_session(r.store, "h")
            sub = r.hub.subscribe(sid)
            await r.hub.start_session(sid)
            await collect(sub, n_beats(pat, 300))  # ~240 s of beats
            history = r.hub.subscribe(sid, history_s=10_000.0)
            msg = await asyncio.wait_for(history.get(), 5)
            assert msg is not None
            assert isinstance(msg.message, HistoryMessage)
            assert msg.message.history_s == 30.0
            times = [t for p in msg.message.beats if p.participant_id == pat for t in p.time_s]
            assert 0 < times[-1] - times[0] <= 30.0 + 1.0
            await r.hub.stop_session(sid)

    asyncio.run(main())


def test_a_stalled_subscriber_slows_neither_storage_nor_others(tmp_path: Path) -> None:
    async def main() -> None:
        sources = scripted_source_factory(rounds=400, beats_per_batch=1, pause_s=0.001)
        async with rig(tmp_path, sources=sources, rate=100.0) as r:
            sid, pat, _ther = make_session(r.store, "e")
            stalled = r.hub.subscribe(sid)
            reader = r.hub.subscribe(sid)
            await r.hub.start_session(sid)
            msgs = await collect(
                reader, lambda m: isinstance(m[-1], SessionMessage) and m[-1].status == "stopped"
            )
            assert len(beats_of(msgs, pat)) == 400  # the reader got everything
            assert r.store.count_beats(sid) == 800  # storage got everything
            # the stalled queue stayed bounded: beat batches were coalesced, none dropped
            assert stalled.coalesced > 0
            assert stalled.pending <= stalled.max_messages + 20
            rest = []
            while (env := await stalled.get()) is not None:
                rest.append(env.message)
            assert beats_of(rest, pat) == beats_of(msgs, pat)  # coalesced, not lost
            assert [type(m) for m in rest if not isinstance(m, BeatsMessage)] == [
                type(m) for m in msgs if not isinstance(m, BeatsMessage)
            ]  # control messages all kept, in order

    asyncio.run(main())


def test_a_dead_subscriber_is_closed_after_the_hard_limit(tmp_path: Path) -> None:
    async def main() -> None:
        async with rig(tmp_path) as r:
            sid, _pat, _ = make_session(r.store, "f")
            dead = r.hub.subscribe(sid)
            dead.hard_limit = 5
            await r.hub.start_session(sid)
            for _ in range(8):
                await r.hub.advance_phase(sid) if _ < 4 else await r.hub.extend_phase(sid, 60.0)
            assert dead.closed
            assert r.hub.subscribers(sid) == 0
            assert await dead.get() is None
            await r.hub.stop_session(sid)

    asyncio.run(main())


def test_two_sessions_share_one_engine_push(tmp_path: Path) -> None:
    async def main() -> None:
        async with rig(tmp_path) as r:
            s1, p1, _ = make_session(r.store, "g1")
            s2, p2, _ = make_session(r.store, "g2")
            spans: list[set[int]] = []
            push = r.hub._engine.push

            def spy(rows: Any, *args: Any, **kw: Any) -> Any:
                spans.append(set(np.asarray(rows).tolist()))
                return push(rows, *args, **kw)

            r.hub._engine.push = spy  # type: ignore[method-assign,assignment]
            a, b = r.hub.subscribe(s1), r.hub.subscribe(s2)
            await r.hub.start_session(s1)
            await r.hub.start_session(s2)
            assert r.hub.live_session_ids() == [s1, s2]
            ma, mb = await asyncio.gather(
                collect(a, n_beats(p1, 100)), collect(b, n_beats(p2, 100))
            )
            # no cross-talk: each subscriber sees only its own session's participants
            assert {
                q.participant_id for m in ma if isinstance(m, BeatsMessage) for q in m.participants
            } <= {p1, p1 + 1}
            assert all(m.session_id == s1 for m in ma)
            assert all(m.session_id == s2 for m in mb)
            rows1 = {p.row for p in r.hub._sessions[s1].participants.values()}
            rows2 = {p.row for p in r.hub._sessions[s2].participants.values()}
            assert any(span & rows1 and span & rows2 for span in spans)  # one push, both sessions
            await r.hub.stop_session(s1)
            assert r.hub.is_live(s2)
            assert not r.hub.is_live(s1)
            await r.hub.stop_session(s2)

    asyncio.run(main())


# ------------------------------------------------------------------------------ consent, privacy


def test_revoking_live_display_hides_at_once_and_storage_stops_storing(tmp_path: Path) -> None:
    async def main() -> None:
        async with rig(tmp_path) as r:
            sid, pat, ther = make_session(r.store, "k")
            sub = r.hub.subscribe(sid)
            await r.hub.start_session(sid)
            before = await collect(sub, n_beats(pat, 50))
            # revoke while messages with the patient's beats are still queued for the client
            await asyncio.sleep(0.05)
            r.store.revoke_consent(pat, "live_display")
            r.store.revoke_consent(ther, "storage")
            await r.hub.consent_changed(pat)
            await r.hub.consent_changed(ther)
            refused_at_revocation = r.writer.stats.refused_beats
            after = await collect(sub, n_beats(ther, len(beats_of(before, ther)) + 100))
            hidden = [m for m in after if isinstance(m, VisibilityMessage)]
            assert len(hidden) == 1
            assert hidden[0].participant_id == pat
            assert not hidden[0].visible
            assert after[0] is hidden[0] or beats_of(after[: after.index(hidden[0])], pat) == []
            assert beats_of(after, pat) == []  # nothing of the patient after the revocation
            assert not any(isinstance(m, DeviceMessage) and m.participant_id == pat for m in after)
            late = r.hub.subscribe(sid)
            hist = (await late.get()).message  # type: ignore[union-attr]
            assert [p.participant_id for p in hist.beats] == [ther]
            assert {p.participant_id: p.visible for p in hist.session.participants} == {
                pat: False,
                ther: True,
            }
            await r.hub.stop_session(sid)
            # storage: the therapist's beats were erased at revocation and refused afterwards
            assert r.store.count_beats(sid, participant_id=ther) == 0
            assert r.writer.stats.refused_beats > refused_at_revocation
            assert (
                r.store.count_beats(sid, participant_id=pat)
                == r.sources.built[sid].yielded_beats // 2
            )

    asyncio.run(main())


def test_privacy_pause_stops_and_hides_the_stream_and_is_recorded(tmp_path: Path) -> None:
    async def main() -> None:
        async with rig(tmp_path) as r:
            sid, pat, ther = make_session(r.store, "m")
            sub = r.hub.subscribe(sid)
            await r.hub.start_session(sid)
            await collect(sub, n_beats(pat, 50))
            vis = await r.hub.set_privacy_pause(sid, pat, True, actor="admin")
            assert vis["visible"] is False
            assert vis["reason"] == "privacy_pause"
            await r.writer.wait_durable_async(timeout=5)  # what was submitted before the pause
            stored_at_pause = r.store.count_beats(sid, participant_id=pat)
            during = await collect(sub, n_beats(ther, 400))
            cut = next(i for i, m in enumerate(during) if isinstance(m, VisibilityMessage))
            assert beats_of(during[cut:], pat) == []
            await r.writer.wait_durable_async(timeout=5)
            assert (
                r.store.count_beats(sid, participant_id=pat) == stored_at_pause
            )  # none while paused
            await r.hub.set_privacy_pause(sid, pat, False, actor="admin")
            resumed = await collect(sub, n_beats(pat, 50))
            assert any(isinstance(m, VisibilityMessage) and m.visible for m in resumed)
            await r.hub.stop_session(sid)
            markers = r.store.list_markers(sid)
            assert [(m.type, m.participant_id, m.actor) for m in markers] == [
                ("privacy_pause", pat, "admin"),
                ("privacy_resume", pat, "admin"),
            ]
            assert any(
                isinstance(m, MarkerMessage) and m.marker_type == "privacy_pause" for m in during
            )
            total = r.sources.built[sid].yielded_beats // 2
            assert r.store.count_beats(sid, participant_id=pat) < total  # the pause was not stored
            assert r.store.count_beats(sid, participant_id=ther) == total

    asyncio.run(main())


# ------------------------------------------------------------------------------ life cycle


def test_stop_closes_the_source_flushes_and_ends_subscriptions(tmp_path: Path) -> None:
    async def main() -> None:
        async with rig(tmp_path) as r:
            sid, pat, _ther = make_session(r.store, "n")
            sub = r.hub.subscribe(sid)
            record = await r.hub.start_session(sid)
            assert record.status == "live"
            assert r.hub.is_live(sid)
            with pytest.raises(StateConflictError):
                await r.hub.start_session(sid)
            await collect(sub, n_beats(pat, 30))
            stopped = await r.hub.stop_session(sid, actor="admin")
            assert stopped.status == "stopped"
            assert not r.hub.is_live(sid)
            source = r.sources.built[sid]
            assert source.closed
            rest = []
            while (env := await asyncio.wait_for(sub.get(), 5)) is not None:
                rest.append(env.message)
            assert isinstance(rest[-1], SessionMessage)
            assert rest[-1].status == "stopped"
            assert rest[-1].reason == "requested"
            # every beat yielded was stored, and was sent (the engine's look-ahead flushed)
            assert r.store.count_beats(sid) == source.yielded_beats
            assert r.hub.subscribers(sid) == 0
            events = r.store.list_phase_events(sid)
            assert (events[0].action, events[0].phase_name) == ("enter", "welcome")
            assert events[-1].action == "end"
            with pytest.raises(StateConflictError):
                await r.hub.stop_session(sid)
            with pytest.raises(StateConflictError):
                await r.hub.start_session(sid)

    asyncio.run(main())


def test_unknown_session_and_planned_session_subscriptions(tmp_path: Path) -> None:
    async def main() -> None:
        async with rig(tmp_path) as r:
            with pytest.raises(RecordNotFoundError):
                r.hub.subscribe(999)
            with pytest.raises(RecordNotFoundError):
                await r.hub.start_session(999)
            sid, pat, _ = make_session(r.store, "p")
            waiting = r.hub.subscribe(sid)  # before the start: history, then the start
            await r.hub.start_session(sid)
            msgs = await collect(waiting, n_beats(pat, 10))
            assert isinstance(msgs[0], HistoryMessage)
            assert msgs[0].session.status == "planned"
            assert isinstance(msgs[1], SessionMessage)
            assert msgs[1].status == "live"
            await r.hub.stop_session(sid)
            after = r.hub.subscribe(sid)
            first = await after.get()
            assert first is not None
            assert first.message.session.status == "stopped"
            assert await after.get() is None  # a stopped session's subscription ends

    asyncio.run(main())


# ------------------------------------------------------------------------------ session clock


def test_phases_follow_the_session_clock_and_are_stored(tmp_path: Path) -> None:
    clock = FakeClock()

    async def main() -> None:
        async with rig(tmp_path, clock=clock) as r:
            sid, pat, _ = make_session(r.store, "q")
            sub = r.hub.subscribe(sid)
            await r.hub.start_session(sid)
            t0 = r.store.get_session(sid).started_at_s
            assert t0 is not None
            await collect(sub, n_beats(pat, 5))  # the source has started the session clock
            clock.advance(601.0)  # past the 10-minute welcome phase
            msgs = await collect(
                sub, lambda m: any(isinstance(x, PhaseMessage) and x.phase_id == "map" for x in m)
            )
            change = next(x for x in msgs if isinstance(x, PhaseMessage) and x.phase_id == "map")
            assert change.reason == "clock"
            assert change.time_s == pytest.approx(t0 + 600.0)
            assert change.index == 1
            assert change.previous_id == "welcome"
            ext = await r.hub.extend_phase(sid, 120.0, actor="admin")
            assert ext["reason"] == "extend"
            assert ext["planned_end_s"] == pytest.approx(t0 + 1620.0)
            adv = await r.hub.advance_phase(sid, actor="admin")
            assert adv["phase_id"] == "goals"
            assert adv["reason"] == "advance"
            events = [(e.phase_name, e.action, e.actor) for e in r.store.list_phase_events(sid)]
            assert events == [
                ("welcome", "enter", None),
                ("map", "enter", None),
                ("map", "extend", "admin"),
                ("goals", "enter", "admin"),
            ]
            for _ in range(2):
                await r.hub.advance_phase(sid)
            with pytest.raises(StateConflictError):
                await r.hub.advance_phase(sid)  # already in the last phase
            await r.hub.stop_session(sid)

    asyncio.run(main())


def test_grounding_marker_leads_to_a_cue_that_the_response_resolves(tmp_path: Path) -> None:
    async def main() -> None:
        async with rig(tmp_path) as r:
            sid, pat, _ = make_session(r.store, "r")
            sub = r.hub.subscribe(sid)
            await r.hub.start_session(sid)
            await collect(sub, n_beats(pat, 150))  # confident signal
            marker = r.store.add_marker(sid, "silence", at_s=r.hub.now(sid))
            await r.hub.marker_added(sid, marker)
            msgs = await collect(sub, lambda m: any(isinstance(x, CueMessage) for x in m))
            assert any(isinstance(x, MarkerMessage) and x.marker_type == "silence" for x in msgs)
            cue = next(x for x in msgs if isinstance(x, CueMessage))
            assert cue.rule_id == "grounding_checkin"
            stored = r.store.list_cues(sid)
            assert [c.id for c in stored] == [cue.cue_id]
            assert stored[0].rule == "grounding_checkin"
            r.store.respond_to_cue(cue.cue_id, "acknowledged")
            await r.hub.cue_responded(sid, cue.cue_id, "acknowledged")
            msgs = await collect(sub, lambda m: any(isinstance(x, CueResolvedMessage) for x in m))
            resolved = next(x for x in msgs if isinstance(x, CueResolvedMessage))
            assert (resolved.cue_id, resolved.resolution) == (cue.cue_id, "acknowledged")
            late = r.hub.subscribe(sid)
            hist = (await late.get()).message  # type: ignore[union-attr]
            assert hist.cue is None
            assert [m.marker_type for m in hist.markers] == ["silence"]
            await r.hub.stop_session(sid)

    asyncio.run(main())


@pytest.mark.parametrize("consented", [True, False])
def test_synchrony_needs_both_consents(tmp_path: Path, consented: bool) -> None:
    clock = FakeClock()

    async def main() -> None:
        async with rig(tmp_path, clock=clock) as r:
            ther_purposes = ALL_PURPOSES if consented else ("live_display", "storage")
            sid, pat, ther = make_session(r.store, "s", therapist_purposes=ther_purposes)
            sub = r.hub.subscribe(sid)
            await r.hub.start_session(sid)
            await collect(sub, n_beats(ther, 150))  # > 120 s of scripted beats
            clock.advance(125.0)  # the session clock reaches the first synchrony time
            msgs = await collect(sub, n_beats(ther, 250))
            sync = [m for m in msgs if isinstance(m, SynchronyMessage)]
            if consented:
                assert sync
                assert all(-1.0 <= s.correlation <= 1.0 for s in sync if s.correlation is not None)
                assert all(abs(s.lag_s) <= 5.0 for s in sync if s.lag_s is not None)
                assert {s.status for s in sync} <= {"ok", "collecting"}
                assert (sync[0].patient_id, sync[0].therapist_id) == (pat, ther)
            else:
                assert sync == []
            await r.hub.stop_session(sid)

    asyncio.run(main())


def test_a_source_that_fails_stops_the_session(tmp_path: Path) -> None:
    class Failing:
        closed = False

        def __aiter__(self) -> Failing:
            return self

        async def __anext__(self) -> Any:
            await asyncio.sleep(0)
            raise OSError("adapter unplugged")

        async def aclose(self) -> None:
            self.closed = True

    async def main() -> None:
        async with rig(tmp_path, sources=lambda spec: Failing()) as r:  # type: ignore[arg-type]
            sid, _, _ = make_session(r.store, "t")
            sub = r.hub.subscribe(sid)
            await r.hub.start_session(sid)
            msgs = await collect(
                sub, lambda m: isinstance(m[-1], SessionMessage) and m[-1].status == "stopped"
            )
            assert msgs[-1].reason == "source_error"
            assert r.store.get_session(sid).status == "stopped"

    asyncio.run(main())


def test_nan_free_json_for_calibrating_values(tmp_path: Path) -> None:
    async def main() -> None:
        async with rig(tmp_path) as r:
            sid, _pat, _ = make_session(r.store, "u")
            sub = r.hub.subscribe(sid)
            await r.hub.start_session(sid)
            texts: list[str] = []
            while len(texts) < 10:
                env = await asyncio.wait_for(sub.get(), 5)
                assert env is not None
                texts.append(env.text)
            await r.hub.stop_session(sid)
            assert not any("NaN" in t or "Infinity" in t for t in texts)
            first_beats = next(parse_message(t) for t in texts if '"type":"beats"' in t)
            states = {s for p in first_beats.participants for s in p.arousal_state}
            assert states == {"calibrating"}  # the first 3 minutes build the baseline
            assert all(math.isfinite(v) for p in first_beats.participants for v in p.rr_ms)

    asyncio.run(main())


def test_throttle_is_leading_edge(tmp_path: Path) -> None:
    """A batch after a quiet tick goes out at once, not at the next tick (latency)."""

    async def main() -> None:
        async with rig(tmp_path, rate=0.5) as r:  # one tick = 2 s
            sid, pat, _ = make_session(r.store, "v")
            sub = r.hub.subscribe(sid)
            await r.hub.start_session(sid)
            # the ticker's first run is 2 s after the start: a message within 1.6 s can only
            # come from the leading edge (it normally takes milliseconds)
            msgs = await collect(sub, n_beats(pat, 1), timeout_s=1.6)
            assert r.hub.stats.beats_messages == 1
            assert isinstance(msgs[-1], BeatsMessage)

    asyncio.run(main())


def test_dropouts_flush_the_look_ahead_and_lose_no_beat(tmp_path: Path) -> None:
    async def main() -> None:
        sources = scripted_source_factory(rounds=100, beats_per_batch=1, gap_every=20)
        async with rig(tmp_path, sources=sources) as r:
            sid, pat, ther = make_session(r.store, "w")
            flushed: list[list[int]] = []
            flush = r.hub._engine.flush

            def spy(participants: Any = None) -> Any:
                flushed.append(sorted(np.asarray(participants).tolist()))
                return flush(participants)

            r.hub._engine.flush = spy  # type: ignore[method-assign]
            sub = r.hub.subscribe(sid)
            await r.hub.start_session(sid)
            msgs = await collect(
                sub, lambda m: isinstance(m[-1], SessionMessage) and m[-1].status == "stopped"
            )
            for pid in (pat, ther):
                times = beats_of(msgs, pid)
                assert len(times) == 100  # each beat once, none held back by a gap
                assert np.all(np.diff(times) > 0)
                gaps = np.diff(times) > 4.0
                assert int(gaps.sum()) == 4  # the four 5-s dropouts are in the beat times
            disconnects = [
                m for m in msgs if isinstance(m, DeviceMessage) and m.kind == "disconnected"
            ]
            assert len(disconnects) == 8
            assert all(m.connected is False for m in disconnects)
            # each dropout flushed the participant's look-ahead (one row at a time)
            assert sum(1 for f in flushed if len(f) == 1) >= 8
            assert r.store.count_beats(sid) == 200

    asyncio.run(main())


def test_coherence_in_the_rehearsal_phase_finds_the_breathing_rate(tmp_path: Path) -> None:
    """Scripted RR oscillate with a 5 s period (12 breaths/min): the estimate must say so."""
    clock = FakeClock()

    async def main() -> None:
        async with rig(tmp_path, clock=clock) as r:
            sid, pat, _ = make_session(r.store, "x")
            sub = r.hub.subscribe(sid)
            await r.hub.start_session(sid)
            before = await collect(sub, n_beats(pat, 20))
            assert not any(isinstance(m, CoherenceMessage) for m in before)  # off until then
            clock.advance(40 * 60.0 + 1.0)  # the rehearsal phase starts at 40 min
            msgs = await collect(
                sub,
                lambda m: (
                    sum(
                        1
                        for x in m
                        if isinstance(x, CoherenceMessage) and x.coherence_ratio is not None
                    )
                    >= 3
                ),
            )
            assert any(isinstance(m, PhaseMessage) and m.phase_id == "rehearsal" for m in msgs)
            coh = [
                m
                for m in msgs
                if isinstance(m, CoherenceMessage)
                and m.participant_id == pat
                and m.coherence_ratio is not None
            ]
            assert coh
            for m in coh:
                # 12 breaths/min planted; 0.5/min covers the spectral grid and window edges
                assert m.breathing_rate_bpm == pytest.approx(12.0, abs=0.5)
                ratio = m.coherence_ratio
                assert ratio is not None
                assert ratio > 1.0  # a pure oscillation is highly coherent
            times = [m.time_s for m in coh]
            assert np.all(np.diff(times) >= 5.0 - 1.0)  # every 5 s of beat time (one RR slack)
            await r.hub.stop_session(sid)

    asyncio.run(main())


def test_pacer_turns_coherence_on_and_off(tmp_path: Path) -> None:
    async def main() -> None:
        async with rig(tmp_path) as r:
            sid, pat, _ = make_session(r.store, "y")
            sub = r.hub.subscribe(sid)
            await r.hub.start_session(sid)
            await r.hub.set_pacer(sid, True)
            rows = [p.row for p in r.hub._sessions[sid].participants.values()]
            assert all(r.hub._engine.coherence_period(row) == 5.0 for row in rows)
            msgs = await collect(
                sub,
                lambda m: any(
                    isinstance(x, CoherenceMessage) and x.participant_id == pat for x in m
                ),
            )
            phases = {m.phase_id for m in msgs if isinstance(m, PhaseMessage)}
            assert phases == {"welcome"}  # on without the rehearsal phase
            await r.hub.set_pacer(sid, False)
            assert all(r.hub._engine.coherence_period(row) is None for row in rows)
            await r.hub.stop_session(sid)
            with pytest.raises(StateConflictError):
                await r.hub.set_pacer(sid, True)

    asyncio.run(main())


def test_no_live_display_consent_is_not_a_pause_and_hidden_blanks_co_regulation(
    tmp_path: Path,
) -> None:
    """Issue 13: a patient without a live_display consent is not "paused" (no Resume that waits
    forever); the page learns each person's consents; a privacy pause blanks co-regulation."""
    clock = FakeClock()

    async def main() -> None:
        async with rig(tmp_path, clock=clock) as r:
            sid, pat, ther = make_session(
                r.store, "nc", purposes=("storage", "synchrony"), therapist_purposes=ALL_PURPOSES
            )
            sub = r.hub.subscribe(sid)
            await r.hub.start_session(sid)
            msgs = await collect(sub, n_beats(ther, 5))
            infos = {
                p.participant_id: p
                for m in msgs
                if isinstance(m, SessionMessage)
                for p in m.participants
            }
            assert infos[pat].visible is False
            assert infos[pat].paused is False
            assert infos[pat].consents == ["storage", "synchrony"]
            with pytest.raises(StateConflictError, match="no consent to live display"):
                await r.hub.set_privacy_pause(sid, pat, True)
            await r.hub.stop_session(sid)

            sid2, pat2, ther2 = make_session(r.store, "pp")
            sub2 = r.hub.subscribe(sid2)
            await r.hub.start_session(sid2)
            await collect(sub2, n_beats(ther2, 150))
            clock.advance(125.0)
            await collect(sub2, lambda ms: any(isinstance(m, SynchronyMessage) for m in ms))
            await r.hub.set_privacy_pause(sid2, pat2, True)
            after = await collect(
                sub2,
                lambda ms: (
                    any(isinstance(m, SynchronyMessage) for m in ms)
                    and len(beats_of(ms, ther2)) > 50
                ),
            )
            sync = [m for m in after if isinstance(m, SynchronyMessage)]
            assert [m.status for m in sync] == ["hidden"]  # blanked once, nothing computed after
            assert sync[0].correlation is None
            late = r.hub.subscribe(sid2)  # a page opened now sees no old reading either
            first = (await collect(late, lambda ms: len(ms) >= 1))[0]
            assert first.synchrony == []
            await r.hub.stop_session(sid2)

    asyncio.run(main())
