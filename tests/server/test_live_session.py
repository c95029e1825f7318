"""Unit tests of :class:`server.live.session.LiveSession`: the session rules on a fake clock.

No event loop, no database: a :class:`tests.support.live_session.SessionDriver` moves simulated
beats (:func:`sensor.simulator.simulate_session`) through the hub's engine into the session and
records what comes out in the order the hub would carry it out. The default first-session
template has phases of 600, 900, 900, 900 and 300 s (welcome, map, goals, rehearsal, closing).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pytest

from dashboard.phases import DEFAULT_FIRST_SESSION
from sensor.simulator import Scenario, simulate_session
from sensor.types import DeviceEvent
from server.live.session import COHERENCE_EVERY_S, LiveSession
from server.live.state import Lookahead, Redact, Restart, SessionClock
from server.messages import (
    CueResolvedMessage,
    DeviceMessage,
    MarkerMessage,
    PhaseMessage,
    SessionMessage,
    SynchronyMessage,
    VisibilityMessage,
)
from server.storage import InvalidRecordError, Marker, RecordNotFoundError, StateConflictError
from tests.support.live_session import FakeClock, SessionDriver, person

PAT, THE = 1, 2
ALL = ("live_display", "storage", "synchrony")


class SimDriver(SessionDriver):
    """A patient (P, id 1) and a therapist (T, id 2) with simulated calm beats."""

    def __init__(self, patient: Iterable[str], therapist: Iterable[str], seed: int) -> None:
        super().__init__(
            [person(PAT, "P", "patient", patient), person(THE, "T", "therapist", therapist)]
        )
        self.sims = simulate_session(Scenario.calm(1500.0), seed=seed)
        self.pos = {"P": 0, "T": 0}
        self.quiet: set[str] = set()

    def run(self, until_s: float, step_s: float = 1.0) -> None:
        """Beats up to each step (one notification per participant per step), then a tick."""
        t = self.clock.t
        while t < until_s - 1e-9:
            t = min(until_s, t + step_s)
            self.clock.t = t
            batches = {}
            for code, role in (("P", "patient"), ("T", "therapist")):
                sim = self.sims[role]
                end = int(np.searchsorted(sim.beat_times_s, t, side="right"))
                if code not in self.quiet:
                    k = self.pos[code]
                    batches[code] = (sim.rr_ms[k:end], sim.beat_times_s[k:end])
                self.pos[code] = end
            self.feed_round(batches)
            self.tick(t)

    def last_fed(self, code: str) -> float:
        role = "patient" if code == "P" else "therapist"
        return float(self.sims[role].beat_times_s[self.pos[code] - 1])


def driver(
    patient: Iterable[str] = ALL, therapist: Iterable[str] = ALL, *, seed: int = 7
) -> SimDriver:
    return SimDriver(patient, therapist, seed)


def run(d: SimDriver, until_s: float) -> None:
    d.run(until_s)


def since(d: SessionDriver, n: int) -> list[object]:
    return d.messages[n:]


def marker(mid: int, kind: str, t: float, participant_id: int | None = None) -> Marker:
    return Marker(
        id=mid,
        session_id=1,
        participant_id=participant_id,
        time_s=t,
        type=kind,
        note=None,
        actor="dr",
    )


# ------------------------------------------------------------------------------ clock


def test_session_clock_runs_at_its_speed_never_backwards_and_waits_for_its_anchor() -> None:
    host = FakeClock(100.0)
    c = SessionClock(0.0, 60.0, host, anchored=False)
    host.t = 130.0
    assert c.now() == 0.0  # a simulated source has not started: the clock stands
    c.anchor()
    host.t = 131.0
    assert c.now() == pytest.approx(60.0)
    host.t = 130.5  # the host clock stepped back (NTP): the session clock does not
    assert c.now() == pytest.approx(60.0)
    s = LiveSession(1, [person(PAT, "P", "patient")], clock=host, start_s=0.0, anchored=False)
    assert s.tnow() == 0.0
    assert s.participant_for("P") is not None  # the first item starts the clock
    host.t = 132.5
    assert s.tnow() == pytest.approx(2.0)


# ------------------------------------------------------------------------------ phases


def test_opening_stores_the_first_phase_before_announcing_it() -> None:
    d = driver()
    kinds = [type(m) for m in d.messages]
    assert kinds == [SessionMessage, PhaseMessage]
    assert d.messages[0].status == "live"
    assert [(s.event.phase_id, s.index) for s in d.stored_phases] == [("welcome", 0)]
    assert d.session.coherence_period is None


def test_phase_clock_advances_on_time_and_on_command() -> None:
    d = driver()
    d.tick(599.0)
    assert d.of_type("phase")[-1].phase_id == "welcome"
    d.tick(600.0)
    phase = d.of_type("phase")[-1]
    assert (phase.phase_id, phase.time_s, phase.reason) == ("map", 600.0, "clock")
    assert [s.event.phase_id for s in d.stored_phases] == ["welcome", "map"]
    # the therapist moves on early: the next phase starts now and is stored with the actor
    d.clock.t = 700.0
    msg = d.session.advance_phase(actor="dr")
    d.carry_out()
    assert (msg.phase_id, msg.time_s, msg.previous_id) == ("goals", 700.0, "map")
    assert d.of_type("phase")[-1] == msg
    assert (d.stored_phases[-1].event.phase_id, d.stored_phases[-1].actor) == ("goals", "dr")
    # goals now ends 900 s after it started, not at its planned 2400 s
    d.tick(1599.0)
    assert d.of_type("phase")[-1].phase_id == "goals"
    d.tick(1600.0)
    assert d.of_type("phase")[-1].phase_id == "rehearsal"
    assert d.session.coherence_period == COHERENCE_EVERY_S  # rehearsal computes coherence


def test_extend_moves_the_end_of_the_phase_and_is_stored() -> None:
    d = driver()
    d.clock.t = 500.0
    msg = d.session.extend_phase(120.0, actor="dr")
    d.carry_out()
    assert (msg.reason, msg.phase_id, msg.extended_by_s) == ("extend", "welcome", 120.0)
    assert msg.planned_end_s == pytest.approx(720.0)
    assert msg.started_s == 0.0  # an extension does not restart the phase
    assert d.stored_phases[-1].event.reason == "extend"
    d.tick(719.0)
    assert d.of_type("phase")[-1].phase_id == "welcome"
    d.tick(720.0)
    assert d.of_type("phase")[-1].phase_id == "map"
    with pytest.raises(InvalidRecordError):
        d.session.extend_phase(-5.0)


def test_advance_in_the_last_phase_is_refused_but_what_was_due_still_goes_out() -> None:
    d = driver()
    d.clock.t = DEFAULT_FIRST_SESSION.total_s - 100.0  # in closing, phases due but not ticked
    with pytest.raises(StateConflictError):
        d.session.advance_phase()
    d.carry_out()
    assert [p.phase_id for p in d.of_type("phase")] == [
        "welcome",
        "map",
        "goals",
        "rehearsal",
        "closing",
    ]
    assert len(d.stored_phases) == 5


# ------------------------------------------------------------------------------ cues


def test_a_cue_shows_once_stored_and_the_response_resolves_it() -> None:
    d = driver()
    run(d, 200.0)  # a confident signal
    d.session.marker_added(marker(1, "silence", 200.0))
    d.carry_out()
    assert isinstance(d.messages[-1], MarkerMessage)
    d.tick(201.0)
    cue = d.of_type("cue")[-1]
    assert cue.rule_id == "grounding_checkin"
    # stored first (the message carries the stored id), then shown
    assert [s.cue.rule_id for s in d.stored_cues] == ["grounding_checkin"]
    assert cue.cue_id == 1
    assert d.session.active_cue == cue
    assert d.session.history(600.0).cue == cue
    d.clock.t = 205.0
    assert d.session.respond_to_cue(1, "dismissed")
    d.carry_out()
    resolved = d.messages[-1]
    assert isinstance(resolved, CueResolvedMessage)
    assert (resolved.cue_id, resolved.resolution, resolved.time_s) == (1, "dismissed", 205.0)
    assert d.session.active_cue is None
    assert d.session.history(600.0).cue is None
    assert not d.session.respond_to_cue(99, "acknowledged")  # not a cue of this run
    assert d.session.take_outputs() == []


def test_an_unanswered_cue_expires() -> None:
    d = driver()
    run(d, 200.0)
    d.session.marker_added(marker(1, "looking_away", 200.0))
    d.tick(201.0)
    cue = d.of_type("cue")[-1]
    expire = d.session.cues.expire_after_s
    d.tick(201.0 + expire - 1.0)
    assert d.of_type("cue_resolved") == []
    d.tick(201.0 + expire + 1.0)
    (resolved,) = d.of_type("cue_resolved")
    assert (resolved.cue_id, resolved.resolution) == (cue.cue_id, "expired")
    assert resolved.time_s == pytest.approx(cue.time_s + expire)
    assert d.session.active_cue is None


def test_acknowledging_a_pacing_cue_turns_coherence_on_until_the_pacer_is_hidden() -> None:
    d = driver()
    run(d, 100.0)
    for _ in range(3):  # welcome -> map -> goals -> rehearsal
        d.session.advance_phase(actor="dr")
    d.carry_out()
    assert d.of_type("phase")[-1].phase_id == "rehearsal"
    assert d.session.coherence_period == COHERENCE_EVERY_S  # the rehearsal phase
    run(d, 170.0)  # the breathing offer comes after 60 s of rehearsal
    (cue,) = d.of_type("cue")
    assert (cue.rule_id, cue.pacer_breaths_per_min) == ("rehearsal_breathing", 6.0)
    d.session.respond_to_cue(cue.cue_id, "acknowledged")
    d.session.advance_phase()  # closing: no coherence of its own, but the pacer shows
    d.carry_out()
    assert d.session.pacer_on
    assert all(d.compute.engine.coherence_period(r) == COHERENCE_EVERY_S for r in d.session.rows())
    run(d, 200.0)
    assert {m.participant_id for m in d.of_type("coherence")} == {PAT, THE}
    d.session.set_pacer(False)
    d.carry_out()
    assert d.session.coherence_period is None
    assert all(d.compute.engine.coherence_period(r) is None for r in d.session.rows())


# ------------------------------------------------------------------------------ privacy


def test_privacy_pause_hides_at_once_and_resume_shows_again() -> None:
    d = driver()
    run(d, 120.0)
    before = d.session.history(600.0)
    assert {b.participant_id for b in before.beats} == {PAT, THE}
    n = len(d.messages)
    vis, changed = d.session.set_paused(PAT, True)
    outputs = d.session.take_outputs()
    assert changed
    assert vis.visible is False
    assert vis.reason == "privacy_pause"
    # hidden at once: queued messages redacted, co-regulation blanked, look-ahead discarded
    assert Redact(PAT) in outputs
    assert Lookahead(PAT, show=False) in outputs
    blank = [o for o in outputs if isinstance(o, SynchronyMessage)]
    assert [b.status for b in blank] == ["hidden"]
    d.carry_out(outputs)
    run(d, 180.0)
    assert PAT not in {
        p.participant_id for m in since(d, n) if m.type == "beats" for p in m.participants
    }
    assert {b.participant_id for b in d.session.history(600.0).beats} == {THE}
    assert d.session.set_paused(PAT, True) == (vis.model_copy(update={"time_s": 180.0}), False)
    # resume: the engine forgets the windows, the history from before the pause is kept
    vis2, changed2 = d.session.set_paused(PAT, False)
    outputs = d.session.take_outputs()
    assert changed2
    assert vis2.visible
    assert vis2.reason == "privacy_resume"
    assert outputs == [Restart(PAT)]
    d.carry_out(outputs)
    n = len(d.messages)
    run(d, 200.0)
    assert max(d.beat_times(PAT)) > 180.0
    kept = next(b for b in d.session.history(600.0).beats if b.participant_id == PAT)
    assert min(kept.time_s) < 120.0


def test_privacy_pause_needs_live_display_and_a_participant_of_the_session() -> None:
    d = driver(therapist=("storage",))
    with pytest.raises(StateConflictError):
        d.session.set_paused(THE, True)
    with pytest.raises(RecordNotFoundError):
        d.session.set_paused(42, True)


def test_revoking_live_display_hides_at_once() -> None:
    d = driver()
    run(d, 90.0)
    d.feed("P", [800.0, 810.0], [90.5, 91.3])  # computed, not yet sent
    lost_storage = d.session.set_purposes(PAT, {"storage", "synchrony"})
    outputs = d.session.take_outputs()
    assert lost_storage is False
    assert Redact(PAT) in outputs
    (vis,) = [o for o in outputs if isinstance(o, VisibilityMessage)]
    assert (vis.participant_id, vis.visible, vis.reason) == (PAT, False, "consent_revoked")
    assert [o.status for o in outputs if isinstance(o, SynchronyMessage)] == ["hidden"]
    d.carry_out(outputs)
    # nothing of theirs goes out any more: not the pending beats, not the history, not their
    # device, not a marker about them
    beats = d.session.take_beats(91.0)
    assert beats is None or PAT not in {p.participant_id for p in beats.participants}
    hist = d.session.history(600.0)
    assert PAT not in {b.participant_id for b in hist.beats}
    assert hist.synchrony == []
    n = len(d.messages)
    d.session.device_event(d.participant("P"), DeviceEvent("P", "H10", "battery", 91.0, value=80.0))
    d.session.marker_added(marker(3, "note", 91.0, participant_id=PAT))
    d.carry_out()
    assert not any(isinstance(m, DeviceMessage | MarkerMessage) for m in since(d, n))
    # granted again: shown again, but the history of before is gone for good
    d.session.set_purposes(PAT, {"live_display", "storage", "synchrony"})
    d.carry_out()
    assert d.messages[-1].reason == "consent_granted"
    assert PAT not in {b.participant_id for b in d.session.history(600.0).beats}


def test_losing_storage_consent_purges_the_memory_and_says_so() -> None:
    d = driver()
    run(d, 60.0)
    assert d.session.set_purposes(PAT, {"live_display", "synchrony"}) is True
    assert Redact(PAT) in d.session.take_outputs()
    assert PAT not in {b.participant_id for b in d.session.history(600.0).beats}


# ------------------------------------------------------------------------------ synchrony


@pytest.mark.parametrize("therapist", [ALL, ("live_display", "storage")])
def test_synchrony_needs_both_consents_and_is_blanked_when_one_is_hidden(
    therapist: tuple[str, ...],
) -> None:
    d = driver(therapist=therapist)
    run(d, 90.0)
    readings = [m for m in d.of_type("synchrony") if m.status != "hidden"]
    if "synchrony" not in therapist:
        assert readings == []
        return
    # every 5 s of session time from the first minute on: ticks 60, 65, ..., 90
    assert len(readings) == 7
    assert all(m.time_s <= 90.0 for m in readings)
    assert d.session.history(600.0).synchrony
    d.session.set_purposes(THE, {"storage", "synchrony"})  # the therapist hides
    d.carry_out()
    assert d.of_type("synchrony")[-1].status == "hidden"
    assert d.session.history(600.0).synchrony == []
    n = len(d.messages)
    run(d, 120.0)
    assert not any(m.type == "synchrony" for m in since(d, n))


# ------------------------------------------------------------------------------ beats


def test_each_beat_is_sent_once_and_a_late_joiner_gets_only_what_was_sent() -> None:
    d = driver()
    run(d, 30.0)
    d.feed("P", [800.0], [30.4])  # computed after the last tick: pending
    hist = d.session.history(600.0)
    sent = d.beat_times(PAT)
    in_history = next(b for b in hist.beats if b.participant_id == PAT).time_s
    assert in_history == sent
    d.tick(31.0)
    after = d.beat_times(PAT)
    assert len(after) == len(set(after))
    assert after[: len(sent)] == sent


def test_a_dropout_flushes_the_look_ahead_before_the_device_message() -> None:
    d = driver()
    run(d, 30.0)
    p = d.participant("P")
    waiting = d.compute.pending(p.row)
    assert waiting > 0  # the engine's two-beat look-ahead
    d.session.device_event(p, DeviceEvent("P", "H10", "disconnected", 30.0))
    outputs = d.session.take_outputs()
    assert outputs[0] == Lookahead(PAT, show=True)
    assert isinstance(outputs[-1], DeviceMessage)
    assert outputs[-1].connected is False
    d.carry_out(outputs)
    assert d.compute.pending(p.row) == 0
    d.tick(30.5)
    assert max(d.beat_times(PAT)) == pytest.approx(d.last_fed("P"))


def test_a_silent_participant_reading_decays_to_uncertain() -> None:
    d = driver()
    run(d, 200.0)
    p = d.participant("T")
    assert p.last_update is not None
    assert p.last_update.state != "uncertain"
    d.quiet.add("T")  # the therapist's strap goes quiet
    run(d, 260.0)
    assert p.last_update is not None
    assert p.last_update.state == "uncertain"
    assert p.last_update.time_s > p.last_beat_s + 30.0
