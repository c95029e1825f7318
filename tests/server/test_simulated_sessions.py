"""Simulated sessions are flagged at the source and kept out of research outputs (issue 13.10).

Before: the demo's sessions sat in the same database as real ones, with nothing to tell them
apart; ``sintonia cohort`` and ``sintonia export research`` included them, and after
de-identification nobody could tell.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from server.cli import main
from server.storage import DeviceAssignment, Store
from server.storage.migrate import alembic_config, upgrade_to_head
from server.storage.settings import make_engine
from tests.support.export import T0_S, Fixture, fill_store, store_session


@pytest.fixture(scope="module")
def fx(tmp_path_factory: pytest.TempPathFactory) -> tuple[Fixture, int]:
    """One real session and, a week later, one simulated session of the same consenting dyad."""
    f = fill_store(tmp_path_factory.mktemp("sim") / "db.sqlite", n_sessions=1)
    people = [(f.patient, "patient"), (f.therapist, "therapist")]
    sim = store_session(f.store, people, start_s=T0_S + 7 * 86_400.0, seed=5)
    # the session's beats came from the simulator: assigning it flags the session
    f.store.assign_device(sim, DeviceAssignment(f.patient.id, "simulator", "seed=5"))
    return f, sim


def test_sessions_are_flagged_where_they_are_created(tmp_path: Path) -> None:
    with Store.open(f"sqlite:///{tmp_path / 'db.sqlite'}") as store:
        p = store.create_participant("P-01", "patient")
        real = store.create_session({}, participants=[DeviceAssignment(p.id, "ble", "AA")])
        sim = store.create_session({}, participants=[DeviceAssignment(p.id, "simulator", "seed=1")])
        told = store.create_session({}, simulated=True)
        assert (real.simulated, sim.simulated, told.simulated) == (False, True, True)
        assert [store.get_session(s.id).simulated for s in (real, sim, told)] == [False, True, True]
        store.assign_device(real.id, DeviceAssignment(p.id, "simulator", "seed=2"))
        assert store.get_session(real.id).simulated


def test_the_migration_flags_existing_simulator_sessions(tmp_path: Path) -> None:
    url = f"sqlite+pysqlite:///{tmp_path / 'old.sqlite'}"
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            config = alembic_config()
            config.attributes["connection"] = conn
            command.upgrade(config, "0001")
            conn.execute(
                sa.text(
                    "INSERT INTO participants (id, code, role, created_at_s) "
                    "VALUES (1, 'P-01', 'patient', 0)"
                )
            )
            for sid, kind in ((1, "ble"), (2, "simulator")):
                conn.execute(
                    sa.text(
                        "INSERT INTO sessions (id, phase_template, status, created_at_s) "
                        f"VALUES ({sid}, '{{}}', 'planned', 0)"
                    )
                )
                conn.execute(
                    sa.text(
                        "INSERT INTO session_participants "
                        "(session_id, participant_id, source_kind, assigned_at_s) "
                        f"VALUES ({sid}, 1, '{kind}', 0)"
                    )
                )
        upgrade_to_head(engine)
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT id, simulated FROM sessions ORDER BY id")).all()
        assert [(int(i), bool(s)) for i, s in rows] == [(1, False), (2, True)]
    finally:
        engine.dispose()


def test_cohort_leaves_simulated_sessions_out_unless_asked(
    fx: tuple[Fixture, int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f, sim = fx
    path = tmp_path / "t.csv"
    code = main(["cohort", "--out", str(path), "--database-url", f.url, "--quiet", "--no-lf-hf"])
    out = capsys.readouterr().out
    assert code == 0
    assert "(2 recordings, 1 sessions)" in out
    assert "left out 1 simulated session(s) (add --include-simulated to include them)" in out
    with path.open() as fh:
        rows = list(csv.DictReader(fh))
    assert {r["session_id"] for r in rows} == {str(f.sessions[0])}
    assert {r["simulated"] for r in rows} == {"0"}
    # named explicitly, still left out
    code = main(
        ["cohort", "--out", str(path), "--database-url", f.url, "--quiet", "--sessions", str(sim)]
    )
    assert code == 1
    assert "1 simulated session(s) left out" in capsys.readouterr().err
    # asked for: included and flagged
    code = main(
        [
            *("cohort", "--out", str(path), "--database-url", f.url),
            *("--quiet", "--no-lf-hf", "--include-simulated"),
        ]
    )
    assert code == 0
    with path.open() as fh:
        rows = list(csv.DictReader(fh))
    flags = {r["session_id"]: r["simulated"] for r in rows}
    assert flags == {str(f.sessions[0]): "0", str(sim): "1"}


def test_research_export_leaves_simulated_sessions_out_unless_asked(
    fx: tuple[Fixture, int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f, _ = fx
    code = main(["export", "research", str(tmp_path / "a"), "--database-url", f.url, "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    assert "in 1 session(s)" in out
    assert "left out 1 simulated session(s)" in out
    assert not any("sim-" in p.name for p in (tmp_path / "a").rglob("*"))
    code = main(
        [
            *("export", "research", str(tmp_path / "b"), "--database-url", f.url),
            *("--quiet", "--include-simulated"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "in 2 session(s)" in out
    # the simulated recording stays recognisable after de-identification
    sessions_tsv = (tmp_path / "b").rglob("*_sessions.tsv")
    text = "".join(p.read_text() for p in sessions_tsv)
    assert text.count("sim-dyad-") == 2  # one row per subject of the dyad
    assert text.count("\tdyad-") == 2
