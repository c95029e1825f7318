"""``sintonia export csv|edf|research`` and ``sintonia cohort``: files, messages, exit codes."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from server.cli import main
from tests.support.export import Fixture, fill_store

pytest.importorskip("pyedflib")
pytest.importorskip("pyarrow")


@pytest.fixture(scope="module")
def fx(tmp_path_factory: pytest.TempPathFactory) -> Fixture:
    return fill_store(tmp_path_factory.mktemp("cli") / "db.sqlite", n_sessions=2)


def test_export_csv(fx: Fixture, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sid = fx.sessions[0]
    code = main(["export", "csv", str(sid), "--out", str(tmp_path), "--database-url", fx.url])
    out = capsys.readouterr().out
    assert code == 0
    beats = tmp_path / f"session-{sid}_beats.csv"
    assert f"wrote {beats}" in out
    assert "3 participant(s)" in out
    with beats.open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == fx.store.count_beats(sid)


def test_export_edf(fx: Fixture, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "s.edf"
    code = main(
        ["export", "edf", str(fx.sessions[1]), "--out", str(path), "--database-url", fx.url]
    )
    assert code == 0
    assert path.stat().st_size > 10_000
    assert "wrote" in capsys.readouterr().out


def test_export_research_reports_who_was_left_out(
    fx: Fixture, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "bids"
    code = main(["export", "research", str(out_dir), "--format", "both", "--database-url", fx.url])
    out = capsys.readouterr().out
    assert code == 0
    assert "wrote 4 recording(s) of 2 subject(s) in 2 session(s)" in out
    assert "left out 1 recording(s) of 1 participant(s) without research_export consent" in out
    assert (out_dir / "beats.parquet").is_file()
    # a second export into the same (now non-empty) directory is refused
    code = main(["export", "research", str(out_dir), "--database-url", fx.url])
    err = capsys.readouterr().err
    assert code == 2
    assert "must not exist or be empty" in err


def test_cohort(fx: Fixture, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "table.csv"
    code = main(["cohort", "--out", str(path), "--database-url", fx.url, "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    assert "(4 recordings, 2 sessions)" in out
    assert "left out 1 recording(s) without research_export consent" in out
    with path.open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 16
    assert {r["phase"] for r in rows} == {"welcome", "map", "goals", "closing"}


def test_cohort_of_selected_sessions(fx: Fixture, tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    code = main(
        ["cohort", "--out", str(path), "--sessions", str(fx.sessions[1]), "--database-url", fx.url]
    )
    assert code == 0
    with path.open() as fh:
        assert {r["session_id"] for r in csv.DictReader(fh)} == {str(fx.sessions[1])}


def test_unknown_session_exits_2(fx: Fixture, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["export", "csv", "999", "--database-url", fx.url])
    assert code == 2
    assert "sintonia export csv: error: no session with id/code 999" in capsys.readouterr().err


def test_missing_database_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'nope.sqlite'}"
    code = main(["cohort", "--out", str(tmp_path / "t.csv"), "--database-url", url])
    assert code == 2
    assert "no database at" in capsys.readouterr().err
    assert not (tmp_path / "nope.sqlite").exists()  # nothing was created


def test_nobody_consenting_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = fill_store(tmp_path / "db.sqlite", n_sessions=1)
    for p in (f.patient, f.therapist, f.refuser):
        f.store.revoke_consent(p.id, "review", at_s=f.store.now())
        f.store.revoke_consent(p.id, "research_export", at_s=f.store.now())
    code = main(
        ["export", "csv", str(f.sessions[0]), "--out", str(tmp_path), "--database-url", f.url]
    )
    assert code == 1
    assert "nothing exported" in capsys.readouterr().err
    code = main(["export", "research", str(tmp_path / "r"), "--database-url", f.url])
    assert code == 1
    assert "research_export consent" in capsys.readouterr().err
    code = main(["cohort", "--out", str(tmp_path / "c.csv"), "--database-url", f.url])
    assert code == 1
    assert not (tmp_path / "c.csv").exists()


def test_bad_session_list_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["cohort", "--out", "x.csv", "--sessions", "1,a"])
    assert info.value.code == 2
    assert "expected session ids" in capsys.readouterr().err
