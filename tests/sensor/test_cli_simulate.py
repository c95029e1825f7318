"""``sintonia simulate``: the file it writes is read by read_rr_file, ReplaySource and analyze."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest

from sensor.files import read_rr_file
from sensor.replay import ReplaySource
from sensor.simulator import Scenario, simulate_rr
from sensor.types import BeatBatch
from server.cli import main
from server.cli.simulate import parse_artifacts


def test_simulate_writes_a_readable_beats_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sim.csv"
    assert main(["simulate", "--out", str(out), "--minutes", "3", "--seed", "4"]) == 0
    assert "wrote" in capsys.readouterr().out
    rec = read_rr_file(out)
    assert rec.format == "sintonia-beats"
    assert rec.participant == "patient"
    # the same beats as the offline simulator (through bytes, decoder and file, bit-exact)
    sim = simulate_rr(Scenario.first_session(180.0), "patient", seed=4)
    np.testing.assert_array_equal(rec.rr_ms, sim.rr_ms)
    assert rec.rr_raw is not None
    np.testing.assert_array_equal(rec.rr_raw, sim.rr_raw)

    async def replay() -> int:
        return sum(
            [len(b) async for b in ReplaySource(out, speed=None) if isinstance(b, BeatBatch)]
        )

    assert asyncio.run(replay()) == len(sim)


def test_simulate_then_analyze_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "t.csv"
    args = ["simulate", "--out", str(out), "--minutes", "6", "--role", "therapist"]
    assert main([*args, "--scenario", "calm", "--seed", "2"]) == 0
    capsys.readouterr()
    assert main(["analyze", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n_beats"] == len(read_rr_file(out))
    assert result["rr_unit_detected"] == "ms"
    # calm therapist: resting HR 64 bpm (Scenario.calm), within the arousal fluctuation
    assert 58.0 < result["time"]["mean_hr_bpm"] < 72.0


def test_simulate_with_artifacts_and_refusals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "a.csv"
    base = ["simulate", "--out", str(out), "--minutes", "2", "--seed", "1"]
    assert main([*base, "--artifacts", "missed@30,extra@60"]) == 0
    clean = simulate_rr(Scenario.first_session(120.0), "patient", seed=1)
    assert len(read_rr_file(out)) == len(clean)  # one merged, one split
    capsys.readouterr()
    assert main(base) == 2  # exists
    assert "exists" in capsys.readouterr().err
    assert main([*base, "--force", "--artifacts", "bogus@3"]) == 2
    assert "KIND@SECONDS" in capsys.readouterr().err
    assert main(["simulate", "--out", str(tmp_path / "z.csv"), "--minutes", "0"]) == 2


def test_parse_artifacts() -> None:
    specs = parse_artifacts("ectopic@12.5, dropout@100:6")
    assert [(s.kind, s.time_s, s.duration_s) for s in specs] == [
        ("ectopic", 12.5, 4.0),
        ("dropout", 100.0, 6.0),
    ]
    assert parse_artifacts("") == []
    with pytest.raises(ValueError, match="KIND@SECONDS"):
        parse_artifacts("ectopic120")


def test_simulate_paced_shows_progress(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "paced.csv"
    # one minute at 600x real time: about 0.1 s of wall time
    assert main(["simulate", "--out", str(out), "--minutes", "1", "--speed", "600"]) == 0
    err = capsys.readouterr().err
    assert "HR" in err
    assert "beats" in err
    assert len(read_rr_file(out)) == len(simulate_rr(Scenario.first_session(60.0), seed=0))
