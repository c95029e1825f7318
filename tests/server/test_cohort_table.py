"""Cohort table: bulk, vectorized per-phase metrics equal a plain per-phase loop over hrv."""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hrv.artifacts import detect_artifacts
from hrv.derive import StoredBeats, derive
from hrv.errors import InsufficientDataError
from hrv.frequency import frequency_domain
from hrv.time_domain import mean_hr, rmssd
from server.export import alliance_totals, cohort_table, read_beats_bulk
from server.export.cohort import (
    COHORT_COLUMNS,
    SYNCHRONY_COLUMNS,
    SYNCHRONY_SMOOTH_S,
)
from server.storage import Store
from tests.support.export import PHASES, T0_S, Fixture, fill_store, populate


@pytest.fixture(scope="module")
def fx(tmp_path_factory: pytest.TempPathFactory) -> Fixture:
    return fill_store(tmp_path_factory.mktemp("cohort") / "db.sqlite", n_sessions=2)


def _corrected(page: Any, start: float) -> Any:
    """The corrected series on session-relative times (as every output computes it)."""
    return derive(
        StoredBeats.from_arrays(page.beat_time_s - start, page.rr_ms, page.gap_before),
        trace=False,
    )


def _reference_rows(fx: Fixture) -> dict[tuple[int, str, str], dict[str, float]]:
    """The same numbers the slow way: one session, participant and phase at a time, with the
    textbook functions on each gap-free stretch (no successive difference across a gap)."""
    out = {}
    for sid, start in zip(fx.sessions, fx.starts, strict=True):
        for person in (fx.patient, fx.therapist):
            page = fx.store.read_all_beats(sid, participant_id=person.id)
            cs = _corrected(page, start)
            cuts = np.r_[0, np.flatnonzero(page.gap_before[1:]) + 1, len(page)]
            classes = np.concatenate(
                [detect_artifacts(page.rr_ms[a:b]).classes for a, b in itertools.pairwise(cuts)]
            )
            for _, name, a, b in PHASES:
                sel = (cs.c_time_s >= a) & (cs.c_time_s < b)
                raw = (page.beat_time_s >= start + a) & (page.beat_time_s < start + b)
                x = cs.c_rr_ms[sel]
                seg = cs.c_segment[sel]
                diffs = np.concatenate(
                    [np.diff(x[seg == k]) for k in np.unique(seg)] or [np.zeros(0)]
                )
                r = float(np.sqrt(np.mean(diffs**2)))
                runs = [x[seg == k] for k in np.unique(seg)]
                longest = max(runs, key=lambda v: float(v.sum()))
                try:
                    lfhf = (
                        frequency_domain(longest).lf_hf
                        if longest.sum() / 1000.0 >= 120.0
                        else math.nan
                    )
                except InsufficientDataError:
                    lfhf = math.nan
                out[(sid, person.code, name)] = {
                    "n_beats": float(raw.sum()),
                    "mean_hr_bpm": mean_hr(x),
                    "rmssd_ms": r if np.unique(seg).size > 1 else rmssd(x),
                    "ln_rmssd": math.log(r),
                    "artifact_pct": 100.0 * float(np.mean(classes[raw] != 0)),
                    "lf_hf": lfhf,
                }
    return out


def test_cohort_equals_a_per_phase_loop(fx: Fixture) -> None:
    result = cohort_table(fx.store, actor="analyst")
    tab = result.table
    sync_cols = SYNCHRONY_COLUMNS
    assert list(tab) == [c for c, _, _ in (*COHORT_COLUMNS, *sync_cols)]
    assert (result.sessions, result.recordings, result.excluded) == (2, 4, 1)
    ref = _reference_rows(fx)
    assert len(tab["session_id"]) == len(ref) == 2 * 2 * len(PHASES)
    for i in range(len(tab["session_id"])):
        key = (int(tab["session_id"][i]), str(tab["participant"][i]), str(tab["phase"][i]))
        expected = ref[key]
        for col, value in expected.items():
            got = float(tab[col][i])
            if math.isnan(value):
                assert math.isnan(got), (key, col)
            else:
                # prefix-sum differences vs direct sums: equal to rounding
                assert got == pytest.approx(value, rel=1e-9, abs=1e-9), (key, col)
    # the 60 s phase is too short for LF/HF: empty, never a number from too little data
    short = tab["phase"] == "goals"
    assert np.isnan(tab["lf_hf"][short]).all()
    assert np.isfinite(tab["lf_hf"][tab["phase"] == "map"]).all()


def test_bulk_read_and_cohort_on_both_backends(store: Store, database_url: str) -> None:
    """The bulk read goes to the driver's cursor: check it on SQLite and PostgreSQL."""
    f = populate(store, database_url, n_sessions=1)
    bulk = read_beats_bulk(store, f.sessions)
    page = store.read_all_beats(f.sessions[0], participant_id=f.patient.id)
    a, b = bulk.starts[0], bulk.starts[1]
    np.testing.assert_array_equal(bulk.beat_time_s[a:b], page.beat_time_s)
    np.testing.assert_array_equal(bulk.rr_ms[a:b], page.rr_ms)
    tab = cohort_table(store).table
    ref = _reference_rows(f)
    assert len(tab["session_id"]) == len(ref)
    for i in range(len(tab["session_id"])):
        key = (int(tab["session_id"][i]), str(tab["participant"][i]), str(tab["phase"][i]))
        assert float(tab["rmssd_ms"][i]) == pytest.approx(ref[key]["rmssd_ms"], rel=1e-9)


def test_alliance_scores_are_attached_to_their_recording(fx: Fixture) -> None:
    tab = cohort_table(fx.store, [fx.sessions[0]]).table
    pat = tab["participant"] == fx.patient.code
    assert (tab["srs_total"][pat] == 32.5).all()
    assert np.isnan(tab["wai_sr_total"][pat]).all()
    ther = tab["participant"] == fx.therapist.code
    items = {i: 1 + (i % 5) for i in range(1, 13)}
    assert (tab["wai_sr_total"][ther] == sum(items.values())).all()
    assert (tab["wai_sr_goal"][ther] == sum(items[i] for i in (4, 6, 8, 11))).all()
    assert np.isnan(tab["srs_total"][ther]).all()


@given(st.dictionaries(st.integers(1, 12), st.integers(1, 5), min_size=0, max_size=12))
def test_wai_sr_subscales_add_up_to_the_total(scores: dict[int, int]) -> None:
    out = alliance_totals({k: float(v) for k, v in scores.items()}, "WAI-SR")
    parts = [out["wai_sr_goal"], out["wai_sr_task"], out["wai_sr_bond"]]
    if len(scores) == 12:
        assert sum(parts) == out["wai_sr_total"]
        assert 12 <= out["wai_sr_total"] <= 60
    else:
        assert math.isnan(out["wai_sr_total"])


def test_review_purpose_includes_the_third_participant(fx: Fixture) -> None:
    result = cohort_table(fx.store, purpose="review")
    assert (result.recordings, result.excluded) == (5, 0)


def test_bulk_read_groups_recordings(fx: Fixture) -> None:
    bulk = read_beats_bulk(fx.store, fx.sessions)
    assert bulk.n_recordings == 5
    for a, b in zip(bulk.starts[:-1], bulk.starts[1:], strict=True):
        assert len(set(bulk.session_id[a:b])) == 1
        assert len(set(bulk.participant_id[a:b])) == 1
        assert (np.diff(bulk.beat_time_s[a:b]) >= 0).all()
    total = sum(fx.store.count_beats(s) for s in fx.sessions)
    assert bulk.starts[-1] == total


def test_cohort_is_audited(fx: Fixture) -> None:
    cohort_table(fx.store, actor="analyst-2")
    entries = [e for e in fx.store.list_audit(object_type="export") if e.action == "export.cohort"]
    assert entries[-1].actor == "analyst-2"
    assert entries[-1].detail["excluded"] == 1


def test_cohort_of_no_session_is_empty(tmp_path: Path) -> None:
    f = fill_store(tmp_path / "db.sqlite", n_sessions=1)
    for p in (f.patient, f.therapist, f.refuser):
        f.store.revoke_consent(p.id, "research_export", at_s=f.store.now())
    result = cohort_table(f.store)
    assert result.recordings == 0
    assert result.excluded == 3
    assert all(len(v) == 0 for v in result.table.values())


def test_synchrony_columns_need_both_consents(tmp_path: Path) -> None:
    from hrv import synchrony as sync

    f = fill_store(tmp_path / "db.sqlite", n_sessions=1)
    tab = cohort_table(f.store).table
    # no synchrony consent yet: the columns are there, empty
    assert np.isnan(tab["susy_z"]).all()
    f.store.grant_consent(f.patient.id, "synchrony", "v1", at_s=T0_S - 5)
    assert np.isnan(cohort_table(f.store).table["susy_z"]).all()  # one of two is not enough
    f.store.grant_consent(f.therapist.id, "synchrony", "v1", at_s=T0_S - 5)
    tab = cohort_table(f.store).table
    pat = tab["participant"] == f.patient.code
    ther = tab["participant"] == f.therapist.code
    # a dyad-level value: the same on the patient's and the therapist's row of each phase
    np.testing.assert_array_equal(tab["susy_z"][pat], tab["susy_z"][ther])
    # the same numbers as hrv.synchrony called directly on the corrected heart rate
    sid = f.sessions[0]
    p = f.store.read_all_beats(sid, participant_id=f.patient.id)
    t = f.store.read_all_beats(sid, participant_id=f.therapist.id)
    cp = _corrected(p, f.starts[0])
    ct = _corrected(t, f.starts[0])
    grid = sync.dyad_grid(
        cp.c_rr_ms,
        ct.c_rr_ms,
        patient_beat_times_s=cp.c_time_s,
        therapist_beat_times_s=ct.c_time_s,
        signal="hr",
        smooth_s=SYNCHRONY_SMOOTH_S,
    )
    f.starts[0]
    for _, name, a, b in PHASES:
        row = np.flatnonzero(pat & (tab["phase"] == name))[0]
        sel = (grid.time_s >= a) & (grid.time_s < b)
        try:
            seg = sync.segment_synchrony(grid.patient[sel], grid.therapist[sel], fs_hz=grid.fs_hz)
        except InsufficientDataError:
            # the 60 s phase holds 2 segments, too few for a surrogate comparison: empty
            assert np.isnan(tab["susy_z"][row])
            assert name == "goals"
            continue
        assert tab["susy_z"][row] == pytest.approx(seg.z.observed, rel=1e-12)
        assert tab["susy_effect_size"][row] == pytest.approx(seg.z.effect_size, rel=1e-12)
        assert 0 < tab["susy_p"][row] <= 1
        assert tab["susy_segments"][row] == seg.valid.sum()
