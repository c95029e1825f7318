"""The default source factory end to end in the hub: the simulator at a high speed.

The real :class:`sensor.simulator.SimulatedSource` (both roles, seeded) plays the first-session
scenario at 600x, so the 10-minute welcome phase ends after about one second of wall time; beats,
phases and the session clock must agree.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from dashboard.phases import DEFAULT_FIRST_SESSION
from server.live import LiveHub, SourceParticipant, SourceSpec, default_source_factory
from server.live.sources import MergedSource, simulator_seed
from server.messages import BeatsMessage, PhaseMessage
from server.settings import ServerSettings
from server.storage import BeatWriter, DeviceAssignment, InvalidRecordError, StorageSettings, Store

SPEED = 600.0


def test_simulated_session_runs_on_the_accelerated_session_clock(tmp_path: Path) -> None:
    settings = ServerSettings(storage=StorageSettings(tmp_path), speed=SPEED)

    async def main() -> None:
        store = Store.open(f"sqlite:///{tmp_path / 'sim.sqlite'}")
        writer = BeatWriter(store, linger_s=0.05)
        hub = LiveHub(
            store=store,
            writer=writer,
            settings=settings,
            source_factory=default_source_factory(settings),
        )
        try:
            pat = store.create_participant("SIM-P", "patient")
            ther = store.create_participant("SIM-T", "therapist")
            for p in (pat, ther):
                for purpose in ("live_display", "storage"):
                    store.grant_consent(p.id, purpose, "demo", at_s=0.0)
            sid = store.create_session(
                DEFAULT_FIRST_SESSION.to_dict(),
                participants=[
                    DeviceAssignment(pat.id, "simulator", "seed=3"),
                    DeviceAssignment(ther.id, "simulator", "seed=3"),
                ],
            ).id
            sub = hub.subscribe(sid)
            await hub.start_session(sid)
            assert hub.speed(sid) == SPEED
            t0 = store.get_session(sid).started_at_s
            assert t0 is not None
            msgs = []

            async def until_map() -> None:
                async for m in sub:
                    msgs.append(m)
                    if isinstance(m, PhaseMessage) and m.phase_id == "map":
                        return

            await asyncio.wait_for(until_map(), 30.0)
            now = hub.now(sid)
            await hub.stop_session(sid)
            beats = [m for m in msgs if isinstance(m, BeatsMessage)]
            times = {
                q.participant_id: q.time_s[-1] for m in beats for q in m.participants if q.time_s
            }
            assert set(times) == {pat.id, ther.id}
            # beat times run on the accelerated clock: ~600 s of beats after about a second
            # of wall time (at real time it would be ~1 s); the lower bound leaves room for an
            # event loop that falls behind on a loaded machine (0.1 s of wall time = 60 s here)
            for t_last in times.values():
                assert t0 + 100.0 < t_last <= now + 5.0
            change = next(m for m in msgs if isinstance(m, PhaseMessage) and m.phase_id == "map")
            assert change.time_s == pytest.approx(t0 + 600.0)
            assert store.count_beats(sid, participant_id=pat.id) > 600  # ~74 bpm for 10 min
            devices = {e.device for e in store.list_device_events(sid)}
            assert devices == {"simulator:3:patient", "simulator:3:therapist"}
        finally:
            await hub.aclose()
            writer.close()
            store.close()

    asyncio.run(main())


def test_default_factory_choices(tmp_path: Path) -> None:
    replay = tmp_path / "replay"  # file sources come from the replay folder only (issue 12)
    replay.mkdir()
    factory = default_source_factory(
        ServerSettings(storage=StorageSettings(tmp_path / "data"), replay_dir=replay)
    )

    def spec(*kinds: tuple[str, str | None]) -> SourceSpec:
        people = tuple(
            SourceParticipant(i + 1, f"C{i}", "patient" if i == 0 else "therapist", k, a)  # type: ignore[arg-type]
            for i, (k, a) in enumerate(kinds)
        )
        return SourceSpec(7, people, start_time_s=0.0, speed=10.0)

    from sensor.replay import ReplaySource
    from sensor.simulator import SimulatedSource

    sim = factory(spec(("simulator", "11"), ("simulator", None)))
    assert isinstance(sim, SimulatedSource)
    assert (sim.seed, sim.roles, sim.speed) == (11, ("patient", "therapist"), 10.0)
    rr_file = replay / "rr.txt"
    rr_file.write_text("\n".join(["800"] * 20) + "\n")
    mixed = factory(spec(("simulator", None), ("file", "rr.txt")))
    assert isinstance(mixed, MergedSource)
    assert [type(s) for s in mixed.sources] == [SimulatedSource, ReplaySource]
    with pytest.raises(InvalidRecordError, match="lsl"):
        factory(spec(("lsl", "stream")))
    with pytest.raises(InvalidRecordError, match="no device"):
        factory(SourceSpec(7, (), start_time_s=0.0))
    assert simulator_seed("seed=5", 1) == 5
    assert simulator_seed("", 9) == 9
    assert simulator_seed("room-a", 1) == simulator_seed("room-a", 2)  # stable for a name
