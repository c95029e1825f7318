"""One set of numbers (issue 10): any stored dyad series goes through the review, the report,
every export and the cohort without an exception, and the per-phase mean HR, RMSSD and
artifact % are the same in the report, the CSV export, the research export and the cohort table.

The beats are generated with every real-world strap artifact (:func:`hrv.synthetic.strap_recording`:
extra 150 ms detections, missed, ectopic, duplicated and long beats, dropouts, privacy pauses) and
stored in a real SQLite file.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard.report import render_report
from dashboard.review import review_session
from hrv.synthetic import strap_recording
from sensor.types import BeatBatch
from server.export.clinical import write_session_csv
from server.export.cohort import cohort_table
from server.export.edf import write_session_edf
from server.export.research import export_research
from server.review_data import load_session_inputs
from server.storage import DeviceAssignment, Store

T0_S = 1_780_000_000.0
PURPOSES = ("storage", "review", "synchrony", "research_export")


def _store_person(store: Store, sid: int, pid: int, code: str, seed: int, pauses: int) -> None:
    r = strap_recording(
        900.0,
        seed=seed,
        n_extra=3,
        n_missed=2,
        n_ectopic=2,
        n_duplicate=1,
        n_long=1,
        n_dropouts=1,
        n_pauses=pauses,
    )
    cuts = np.r_[np.flatnonzero(r.gap_before), r.rr_ms.size]
    for a, b in zip(cuts[:-1].tolist(), cuts[1:].tolist(), strict=True):
        for i in range(a, b, 25):  # notifications of a few beats, re-anchored after each gap
            j = min(i + 25, b)
            store.append_beats(
                sid,
                pid,
                BeatBatch(
                    code,
                    f"strap-{code}",
                    r.rr_ms[i:j],
                    None,
                    T0_S + float(r.time_s[j - 1]),
                    T0_S + r.time_s[i:j],
                    True,
                    None,
                    i,
                    i == a,
                ),
            )


def _dyad(tmp: Path, seed: int, pauses: int, phase_events: bool) -> tuple[Store, int]:
    store = Store.open(f"sqlite:///{tmp / 'db.sqlite'}", clock=lambda: T0_S + 86_400.0)
    p = store.create_participant(f"P-{seed}", "patient", at_s=T0_S - 100)
    t = store.create_participant(f"T-{seed}", "therapist", at_s=T0_S - 100)
    for who in (p, t):
        for purpose in PURPOSES:
            store.grant_consent(who.id, purpose, "v1", at_s=T0_S - 50)  # type: ignore[arg-type]
    session = store.create_session(
        {},
        participants=[DeviceAssignment(who.id, "ble", f"strap-{who.code}") for who in (p, t)],
        at_s=T0_S - 10,
    )
    store.start_session(session.id, at_s=T0_S)
    _store_person(store, session.id, p.id, p.code, seed, pauses)
    _store_person(store, session.id, t.id, t.code, seed + 1, 0)
    if phase_events:
        for k, (name, at) in enumerate((("welcome", 0.0), ("map", 300.0), ("goals", 620.0))):
            store.record_phase_event(session.id, k, name, "enter", at_s=T0_S + at)
    store.stop_session(session.id, at_s=T0_S + 900.0)
    return store, session.id


def _close(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == pytest.approx(b, rel=1e-9, abs=1e-9)


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(seed=st.integers(0, 10_000), pauses=st.integers(0, 2), phase_events=st.booleans())
def test_every_output_shows_the_same_per_phase_numbers(
    tmp_path_factory: pytest.TempPathFactory, seed: int, pauses: int, phase_events: bool
) -> None:
    tmp = tmp_path_factory.mktemp("numbers")
    store, sid = _dyad(tmp, seed, pauses, phase_events)
    try:
        review = review_session(load_session_inputs(store, sid))
        html = render_report(review)
        assert "<html" in html
        assert review.synchrony is not None, review.synchrony_note
        write_session_csv(store, sid, tmp / "b.csv", tmp / "e.csv", phases_path=tmp / "phases.csv")
        write_session_edf(store, sid, tmp / "s.edf")
        export_research(store, tmp / "research", format="both")
        cohort = cohort_table(store).table
    finally:
        store.close()

    csv = pd.read_csv(tmp / "phases.csv")
    research = pd.read_parquet(tmp / "research" / "phases.parquet")
    n = 0
    for person in review.participants:
        for row in person.phases:
            c = csv[(csv["participant"] == person.code) & (csv["phase"] == row.phase_id)]
            r = research[(research["role"] == person.role) & (research["phase"] == row.phase_id)]
            k = np.flatnonzero(
                (cohort["participant"] == person.code) & (cohort["phase"] == row.phase_id)
            )
            assert len(c) == len(r) == k.size == 1, (person.code, row.phase_id)
            for col, mine in (
                ("mean_hr_bpm", row.mean_hr_bpm),
                ("rmssd_ms", row.rmssd_ms),
                ("artifact_pct", row.artifact_pct),
            ):
                value = math.nan if mine is None else float(mine)
                assert _close(float(c[col].iloc[0]), value), ("csv", col, row.phase_id)
                assert _close(float(r[col].iloc[0]), value), ("research", col, row.phase_id)
                assert _close(float(cohort[col][k[0]]), value), ("cohort", col, row.phase_id)
            assert int(c["n_beats"].iloc[0]) == row.n_beats == int(cohort["n_beats"][k[0]])
            n += 1
    assert n == 2 * len(review.phases)
