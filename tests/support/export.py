"""Simulated stored sessions for the export and cohort tests (SQLite, filled via the Store API)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np

from sensor.simulator import ArtifactSpec, Scenario, simulate_session
from sensor.types import BeatBatch, DeviceEvent
from server.storage import DeviceAssignment, Participant, Store

#: Epoch of the first simulated session (2023-11-14 22:13:20 UTC), s.
T0_S: Final[float] = 1_700_000_000.0
#: Session length of the test sessions, s (long enough for LF/HF in the longer phases).
DURATION_S: Final[float] = 900.0
#: Phases of the test sessions: (index, id, start s, end s) relative to the session start.
PHASES: Final[tuple[tuple[int, str, float, float], ...]] = (
    (0, "welcome", 0.0, 200.0),
    (1, "map", 200.0, 500.0),
    (2, "goals", 500.0, 560.0),
    (3, "closing", 560.0, DURATION_S),
)
NOTE_TEXT: Final[str] = "Patient mentioned Lisbon trip zqxj"
BLE_ADDRESS: Final[str] = "C4:7F:51:9A:0B:EE"
CODE_PATIENT: Final[str] = "PAT-ALPHA-7731"
CODE_THERAPIST: Final[str] = "THR-BETA-4402"
CODE_NO_CONSENT: Final[str] = "PAT-NOCONSENT-5550"


@dataclass
class Fixture:
    """What :func:`fill_store` created."""

    store: Store
    url: str
    patient: Participant
    therapist: Participant
    refuser: Participant
    sessions: list[int]
    starts: list[float]


def _batches(
    role: str, device: str, rr_ms: np.ndarray, times_s: np.ndarray, raw: np.ndarray
) -> list[BeatBatch]:
    """Split beats into batches of 32 (gap_before on the first)."""
    out = []
    for i in range(0, rr_ms.shape[0], 32):
        sl = slice(i, i + 32)
        out.append(
            BeatBatch(
                role,
                device,
                rr_ms[sl],
                tuple(int(x) for x in raw[sl]),
                float(times_s[sl][-1] + 0.05),
                times_s[sl],
                True,
                None,
                i,
                i == 0,
            )
        )
    return out


def store_session(
    store: Store,
    people: list[tuple[Participant, str]],
    *,
    start_s: float,
    seed: int,
    duration_s: float = DURATION_S,
    events: bool = True,
) -> int:
    """Create, fill and stop one session with simulated beats of the given (participant, role)."""
    session = store.create_session(
        {"phases": [p[1] for p in PHASES]},
        label="session label Rossi",
        participants=[DeviceAssignment(p.id, "ble", BLE_ADDRESS) for p, _ in people],
        at_s=start_s - 60,
    )
    store.start_session(session.id, at_s=start_s)
    sims = simulate_session(
        Scenario.first_session(duration_s),
        seed=seed,
        artifacts={
            "patient": [ArtifactSpec("missed", 100.0), ArtifactSpec("ectopic", 300.0)],
            "therapist": [ArtifactSpec("extra", 150.0), ArtifactSpec("dropout", 400.0, 6.0)],
        },
    )
    for person, role in people:
        sim = sims[role]
        for b in _batches(role, BLE_ADDRESS, sim.rr_ms, start_s + sim.beat_times_s, sim.rr_raw):
            store.append_beats(session.id, person.id, b)
    if events:
        for index, name, a, _ in PHASES:
            store.record_phase_event(session.id, index, name, "enter", at_s=start_s + a)
        store.record_phase_event(
            session.id, 1, "map", "extend", extend_s=60.0, at_s=start_s + 400.0
        )
        patient = people[0][0]
        store.add_marker(session.id, "rupture", participant_id=patient.id, at_s=start_s + 250.5)
        store.add_marker(
            session.id, "note", note=NOTE_TEXT, participant_id=patient.id, at_s=start_s + 300.25
        )
        cue = store.add_cue(
            session.id,
            "map_rise",
            "Consider slowing the pace",
            {"index": 1.3},
            participant_id=patient.id,
            at_s=start_s + 320.0,
        )
        store.respond_to_cue(cue.id, "acknowledged", at_s=start_s + 327.5)
        store.add_device_events(
            session.id,
            patient.id,
            [DeviceEvent(role, BLE_ADDRESS, "battery", start_s + 5.0, 87.0, {"addr": BLE_ADDRESS})],
            at_s=start_s + 5.0,
        )
        store.record_phase_event(session.id, 3, "closing", "end", at_s=start_s + duration_s)
    store.stop_session(session.id, at_s=start_s + duration_s)
    return session.id


def fill_store(path: Path, *, n_sessions: int = 2) -> Fixture:
    """A SQLite store at ``path`` filled by :func:`populate`."""
    url = f"sqlite:///{path}"
    store = Store.open(url, clock=lambda: T0_S + 30 * 86_400.0)
    return populate(store, url, n_sessions=n_sessions)


def populate(store: Store, url: str, *, n_sessions: int = 2) -> Fixture:
    """A consenting dyad over ``n_sessions`` sessions and, in the first, a third participant who
    consents to storage and review but not to research export (the store's clock must be after
    ``T0_S - 900``)."""
    patient = store.create_participant(CODE_PATIENT, "patient", at_s=T0_S - 1000)
    therapist = store.create_participant(CODE_THERAPIST, "therapist", at_s=T0_S - 1000)
    refuser = store.create_participant(CODE_NO_CONSENT, "patient", at_s=T0_S - 1000)
    for p in (patient, therapist, refuser):
        for purpose in ("storage", "review"):
            store.grant_consent(p.id, purpose, "v1", at_s=T0_S - 900)
    for p in (patient, therapist):
        store.grant_consent(p.id, "research_export", "v1", at_s=T0_S - 900)
    sessions, starts = [], []
    for k in range(n_sessions):
        start = T0_S + k * 7 * 86_400.0
        people = [(patient, "patient"), (therapist, "therapist")]
        if k == 0:
            people.append((refuser, "patient"))
        sessions.append(store_session(store, people, start_s=start, seed=11 + k))
        starts.append(start)
    store.record_alliance_scores(sessions[0], patient.id, "SRS", "v1", {1: 8, 2: 9, 3: 7.5, 4: 8})
    store.record_alliance_scores(
        sessions[0], therapist.id, "WAI-SR", "v1", {i: 1 + (i % 5) for i in range(1, 13)}
    )
    return Fixture(store, url, patient, therapist, refuser, sessions, starts)


def _exact_float_kwargs() -> dict[str, str]:
    import pandas as pd  # type: ignore[import-untyped]

    # pandas < 3 parses CSV floats exactly only with float_precision="round_trip"; pandas 3 does
    # by default and deprecates the argument (a warning, hence an error under our filterwarnings)
    return {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}


#: Keyword arguments for ``pandas.read_csv`` that re-read float64 values bit-exactly.
EXACT_FLOATS: Final[dict[str, str]] = _exact_float_kwargs()
