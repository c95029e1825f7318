"""Per-session CSV export and the per-beat derivation behind it."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
import pytest

from dashboard.phases import DEFAULT_FIRST_SESSION
from hrv.artifacts import BeatClass, correct_artifacts, detect_artifacts
from hrv.derive import StoredBeats, derive, per_beat
from hrv.stream import HRVStream
from server.export import NothingToExportError, write_session_csv
from server.export.tables import ARTIFACT_NAMES
from server.readmodel import load_session_record, session_phases
from server.storage import PhaseEvent, Store
from tests.support.export import (
    BLE_ADDRESS,
    CODE_NO_CONSENT,
    CODE_PATIENT,
    EXACT_FLOATS,
    NOTE_TEXT,
    PHASES,
    T0_S,
    Fixture,
    fill_store,
)


@pytest.fixture(scope="module")
def fx(tmp_path_factory: pytest.TempPathFactory) -> Fixture:
    return fill_store(tmp_path_factory.mktemp("clinical") / "db.sqlite", n_sessions=1)


@pytest.fixture(scope="module")
def exported(fx: Fixture, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("csv")
    write_session_csv(fx.store, fx.sessions[0], out / "b.csv", out / "e.csv", actor="tester")
    return out / "b.csv", out / "e.csv"


def test_beats_csv_rereads_equal_to_the_store(fx: Fixture, exported: tuple[Path, Path]) -> None:
    df = pd.read_csv(exported[0], **EXACT_FLOATS)
    for person in (fx.patient, fx.therapist):
        page = fx.store.read_all_beats(fx.sessions[0], participant_id=person.id)
        rows = df[df["participant"] == person.code]
        # floats are written in shortest round-trip form: re-read values are bit-identical
        np.testing.assert_array_equal(rows["rr_ms"].to_numpy(), page.rr_ms)
        np.testing.assert_array_equal(rows["beat_time_s"].to_numpy(), page.beat_time_s)
        np.testing.assert_array_equal(rows["host_time_s"].to_numpy(), page.host_time_s)
        np.testing.assert_array_equal(rows["rr_raw"].to_numpy(), page.rr_raw)
        np.testing.assert_array_equal(rows["seq"].to_numpy(), page.seq)
        np.testing.assert_array_equal(rows["gap_before"].to_numpy(), page.gap_before.astype(int))
        assert (rows["device"] == BLE_ADDRESS).all()
        # times relative to the start are rounded to 1 us
        np.testing.assert_allclose(
            rows["session_time_s"].to_numpy(), page.beat_time_s - T0_S, atol=5e-7, rtol=0
        )
        # artifact classes: the batch detector run independently on each gap-free stretch
        cuts = np.r_[0, np.flatnonzero(page.gap_before[1:]) + 1, len(page)]
        classes = np.concatenate(
            [detect_artifacts(page.rr_ms[a:b]).classes for a, b in itertools.pairwise(cuts)]
        )
        expected = np.array(ARTIFACT_NAMES, dtype=object)[classes]
        assert (rows["artifact"].to_numpy() == expected).all()
        assert np.count_nonzero(classes) > 0  # the fixture injects artifacts


def test_corrected_rr_preserves_every_corrected_interval(fx: Fixture) -> None:
    page = fx.store.read_all_beats(fx.sessions[0], participant_id=fx.therapist.id)
    assert not page.gap_before[1:].any()  # one segment: the whole-series correction applies
    d = per_beat(derive(StoredBeats.from_arrays(page.beat_time_s, page.rr_ms), arousal=False))
    corr = correct_artifacts(page.rr_ms)
    # mean x count per stored beat adds back to the corrected series
    total = np.nansum(d.rr_corrected_ms * d.n_corrected)
    assert total == pytest.approx(corr.rr.sum(), rel=1e-12)
    assert int(d.n_corrected.sum()) == corr.rr.shape[0]
    classes = detect_artifacts(page.rr_ms).classes
    assert (d.n_corrected[classes == BeatClass.EXTRA] <= 1).all()  # merged: 0 or 1 each
    assert (d.n_corrected[classes == BeatClass.MISSED] >= 2).all()  # split in k >= 2
    assert (np.isnan(d.rr_corrected_ms) == (d.n_corrected == 0)).all()


def test_per_beat_metrics_are_what_the_live_engine_showed(fx: Fixture) -> None:
    """The exported trailing metrics are the live engine's (the therapist's view), bit for bit:
    the same beats pushed through a fresh :class:`hrv.stream.HRVStream` as the hub does."""
    page = fx.store.read_all_beats(fx.sessions[0], participant_id=fx.patient.id)
    d = per_beat(derive(StoredBeats.from_arrays(page.beat_time_s, page.rr_ms), arousal=False))
    st = HRVStream()
    up = st.push(page.rr_ms, page.beat_time_s)
    rest = st.flush()
    mean_hr = np.concatenate([up.mean_hr_bpm, rest.mean_hr_bpm])
    valid_hr = np.concatenate([up.valid_hr, rest.valid_hr])
    np.testing.assert_array_equal(d.mean_hr_bpm, np.where(valid_hr, mean_hr, np.nan))


def test_events_csv_has_phases_markers_cues_and_device_events(
    fx: Fixture, exported: tuple[Path, Path]
) -> None:
    ev = pd.read_csv(exported[1], keep_default_na=False)
    enters = ev[ev["event"] == "phase_enter"]
    assert enters["name"].tolist() == [p[1] for p in PHASES]
    np.testing.assert_array_equal(enters["session_time_s"].astype(float), [p[2] for p in PHASES])
    assert (ev["event"] == "phase_extend").sum() == 1
    assert (ev["event"] == "phase_end").sum() == 1
    note = ev[(ev["event"] == "marker") & (ev["name"] == "note")].iloc[0]
    assert note["text"] == NOTE_TEXT
    assert note["participant"] == CODE_PATIENT
    assert float(note["session_time_s"]) == 300.25
    cue = ev[ev["event"] == "cue"].iloc[0]
    assert cue["response"] == "acknowledged"
    assert float(cue["response_session_time_s"]) == 327.5
    dev = ev[ev["event"] == "device"].iloc[0]
    assert dev["name"] == "battery"
    assert float(dev["value"]) == 87.0
    assert (ev["session_time_s"].astype(float).diff().dropna() >= 0).all()


def test_arousal_columns_are_states_of_the_tracker(exported: tuple[Path, Path]) -> None:
    df = pd.read_csv(exported[0], keep_default_na=False)
    states = set(df["arousal_state"])
    assert states <= {"calibrating", "uncertain", "above", "within", "below"}
    # the first 3 minutes are the resting baseline: calibrating, no index
    early = df[df["session_time_s"].astype(float) < 60.0]
    assert (early["arousal_state"] == "calibrating").all()
    assert "within" in states or "above" in states


def test_csv_export_is_audited(fx: Fixture, exported: tuple[Path, Path]) -> None:
    del exported
    entries = fx.store.list_audit(object_type="session", object_id=fx.sessions[0])
    mine = [e for e in entries if e.action == "export.csv"]
    assert mine
    assert mine[-1].actor == "tester"
    assert mine[-1].detail["excluded"] == 0


def test_participant_without_review_consent_is_left_out(tmp_path: Path) -> None:
    f = fill_store(tmp_path / "db.sqlite", n_sessions=1)
    f.store.revoke_consent(f.refuser.id, "review", at_s=f.store.now())
    r = write_session_csv(f.store, f.sessions[0], tmp_path / "b.csv", tmp_path / "e.csv")
    assert r.excluded == 1
    assert CODE_NO_CONSENT not in (tmp_path / "b.csv").read_text()
    assert set(pd.read_csv(tmp_path / "b.csv")["participant"]) == {
        f.patient.code,
        f.therapist.code,
    }
    for p in (f.patient, f.therapist):
        f.store.revoke_consent(p.id, "review", at_s=f.store.now())
    with pytest.raises(NothingToExportError, match="no participant has an active review"):
        write_session_csv(f.store, f.sessions[0], tmp_path / "b2.csv", tmp_path / "e2.csv")
    assert not (tmp_path / "b2.csv").exists()


def test_phase_intervals_from_events() -> None:
    ev = [
        PhaseEvent(1, 1, 5.0, 0, "welcome", "enter", None, None),
        PhaseEvent(2, 1, 100.0, 0, "welcome", "extend", 60.0, None),
        PhaseEvent(3, 1, 200.0, 1, "map", "enter", None, None),
        PhaseEvent(4, 1, 250.0, 1, "map", "end", None, None),
    ]
    got = [
        (p.index, p.name, p.start_s, p.end_s)
        for p in session_phases(ev, DEFAULT_FIRST_SESSION, 0.0, 300.0)
    ]
    # the first phase starts with the session; the end event closes the last one
    assert got == [(0, "welcome", 0.0, 200.0), (1, "map", 200.0, 250.0)]
    # without events: the template's plan from the start, the last phase to the end
    planned = session_phases([], DEFAULT_FIRST_SESSION, 10.0, 1000.0)
    assert [(p.name, p.start_s, p.end_s, p.planned) for p in planned] == [
        ("welcome", 10.0, 610.0, True),
        ("map", 610.0, 1000.0, True),
    ]


def test_load_session_uses_the_session_start(fx: Fixture) -> None:
    data = load_session_record(fx.store, fx.sessions[0], purpose="review")
    assert data.start_s == T0_S
    assert data.end_s == T0_S + 900.0
    assert [p.name for p in data.phases] == [p[1] for p in PHASES]


def test_unknown_session_is_an_error(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'x.sqlite'}")
    from server.storage import RecordNotFoundError

    with pytest.raises(RecordNotFoundError):
        write_session_csv(store, 99, tmp_path / "b.csv", tmp_path / "e.csv")
    store.close()


@pytest.mark.parametrize("delimiter", [",", "\t"])
def test_delimited_text_round_trips_through_the_csv_module(delimiter: str) -> None:
    import csv
    import io

    from server.export.tables import write_delimited

    texts = ["plain", "a, b", 'say "hi"', "two\nlines", "tab\there", None, ""]
    table = {
        "text": np.array(texts, dtype=object),
        "x": np.array([0.1, np.nan, 1e-300, -2.5, 3.0, 1700000000.123456, np.inf]),
        "k": np.arange(7, dtype=np.int64),
    }
    buf = io.StringIO()
    assert write_delimited(table, buf, delimiter=delimiter) == 7
    rows = list(csv.reader(io.StringIO(buf.getvalue()), delimiter=delimiter))
    na = "n/a" if delimiter == "\t" else ""
    assert rows[0] == ["text", "x", "k"]
    assert [r[0] for r in rows[1:]] == [t if t else na for t in texts]
    back = [float(r[1]) if r[1] != na else np.nan for r in rows[1:]]
    np.testing.assert_array_equal(back, table["x"])  # shortest round-trip repr: exact
    assert [int(r[2]) for r in rows[1:]] == list(range(7))
