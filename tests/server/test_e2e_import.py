"""End to end on the command line: two recordings with real-world artifacts imported as one dyad,
then ``sintonia report``, ``sintonia export csv|edf|research`` and ``sintonia cohort`` on it.

The recordings are generated (:mod:`hrv.synthetic`): 25 minutes each, with extra detections
(split beats), missed beats, ectopic pairs, long and short beats, a 3.2 s pause, a 150 ms split
beat and, in the patient's two-column file, a 40 s dropout in the file's own time stamps.
"""

from __future__ import annotations

import csv
import json
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from hrv.synthetic import inject_artifacts, synthetic_rr
from server.cli import main

pytest.importorskip("pyedflib")

CONSENT = "storage,review,research_export,synchrony"


def artifacted(seed: int, minutes: float) -> np.ndarray:
    clean = synthetic_rr(duration_s=minutes * 60.0, seed=seed, mean_hr_bpm=72.0)
    rr, _ = inject_artifacts(clean, seed=seed, n_per_type=6)
    rr = np.round(rr, 1)
    # a 3.2 s pause and a 150 ms split beat (the most common chest-strap artifact)
    rr = np.concatenate((rr[:300], [3200.0], rr[300:700], [150.0, rr[700] - 150.0], rr[701:]))
    return rr


def write_two_columns_with_dropout(path: Path, rr: np.ndarray) -> None:
    times = np.cumsum(rr) / 1000.0
    times[900:] += 40.0  # the strap lost contact for 40 s
    path.write_text(
        "time,rr\n" + "".join(f"{a:.3f},{b:.1f}\n" for a, b in zip(times, rr, strict=True))
    )


def write_polar(path: Path, rr: np.ndarray, t0: datetime) -> None:
    stamps = [t0 + timedelta(milliseconds=float(s)) for s in np.cumsum(rr)]
    rows = "".join(
        f"{s.isoformat(timespec='milliseconds')};{v:.0f}\n" for s, v in zip(stamps, rr, strict=True)
    )
    path.write_text("Phone timestamp;RR-interval [ms]\n" + rows)


def test_import_a_dyad_then_report_exports_and_cohort(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+pysqlite:///{tmp_path / 'db.sqlite'}"
    start = datetime(2024, 3, 1, 10, 0, 0)
    patient = tmp_path / "patient.csv"
    therapist = tmp_path / "therapist.txt"
    write_two_columns_with_dropout(patient, artifacted(seed=11, minutes=25.0))
    write_polar(therapist, artifacted(seed=12, minutes=25.0), start)

    assert (
        main(
            [
                "import",
                str(patient),
                "--code",
                "P-E2E",
                "--role",
                "patient",
                "--consent",
                CONSENT,
                "--start",
                start.isoformat(),
                "--json",
                "--database-url",
                url,
            ]
        )
        == 0
    )
    first = json.loads(capsys.readouterr().out)
    sid = first["session_id"]
    assert (
        main(
            [
                "import",
                str(therapist),
                "--code",
                "T-E2E",
                "--role",
                "therapist",
                "--json",
                "--consent",
                CONSENT,
                "--session",
                str(sid),
                "--database-url",
                url,
            ]
        )
        == 0
    )
    n_beats = first["beats"] + json.loads(capsys.readouterr().out)["beats"]

    report = tmp_path / "report.html"
    assert main(["report", str(sid), "--out", str(report), "--database-url", url]) == 0
    assert report.stat().st_size > 10_000
    out = tmp_path / "csv"
    assert main(["export", "csv", str(sid), "--out", str(out), "--database-url", url]) == 0
    with (out / f"session-{sid}_beats.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert {r["participant"] for r in rows} == {"P-E2E", "T-E2E"}
    assert len(rows) == n_beats
    edf = tmp_path / "s.edf"
    assert main(["export", "edf", str(sid), "--out", str(edf), "--database-url", url]) == 0
    assert edf.stat().st_size > 10_000
    research = tmp_path / "research"
    assert main(["export", "research", str(research), "--database-url", url, "--quiet"]) == 0
    assert any(research.rglob("*.tsv"))
    cohort = tmp_path / "cohort.csv"
    assert main(["cohort", "--out", str(cohort), "--database-url", url, "--quiet"]) == 0
    with cohort.open() as fh:
        table = list(csv.DictReader(fh))
    assert {r["participant"] for r in table} == {"P-E2E", "T-E2E"}
    assert len(table) >= 4  # two people, at least two phases each in 25 minutes
    # one set of numbers: the CSV export's per-phase table equals the cohort table, row by row
    with (out / f"session-{sid}_phases.csv").open() as fh:
        phases = {(r["participant"], r["phase"]): r for r in csv.DictReader(fh)}
    assert len(phases) == len(table)
    for row in table:
        mine = phases[(row["participant"], row["phase"])]
        assert mine["n_beats"] == row["n_beats"]
        for col in ("mean_hr_bpm", "rmssd_ms", "artifact_pct"):
            assert (mine[col] == "") == (row[col] == ""), col
            if row[col]:
                assert float(mine[col]) == pytest.approx(float(row[col]), rel=1e-12), col
