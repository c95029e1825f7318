"""The DuckDB and Polars snippets of docs/research-export.md run on a real export and give what
pyarrow reads from the same files (issue 16, item 3). duckdb and polars are not dependencies of
the project: each test is skipped where its library is missing."""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from server.export import export_research
from tests.support.export import fill_store

pq = pytest.importorskip("pyarrow.parquet")

DOC = Path(__file__).resolve().parents[2] / "docs" / "research-export.md"


def _snippet(first_line: str) -> str:
    """The ```python block of the doc that starts with ``first_line``."""
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    found = [b for b in blocks if b.startswith(first_line)]
    assert len(found) == 1, f"expected one snippet starting {first_line!r}, found {len(found)}"
    return found[0]


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding ``research-out``, the export the snippets name."""
    root = tmp_path_factory.mktemp("doc")
    fx = fill_store(root / "db.sqlite", n_sessions=2)
    export_research(fx.store, root / "research-out", format="parquet", rng=random.Random(3))
    fx.store.close()
    return root


def _run(code: str, where: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.chdir(where)
    namespace: dict[str, Any] = {}
    exec(compile(code, str(DOC), "exec"), namespace)
    return namespace


def _expected_per_recording(root: Path) -> list[tuple[str, str, int, float]]:
    beats = pq.read_table(root / "research-out" / "beats.parquet").to_pandas()
    beats["participant_id"] = beats["participant_id"].astype(str)
    beats["session_id"] = beats["session_id"].astype(str)
    out = []
    for (p, s), g in sorted(beats.groupby(["participant_id", "session_id"])):
        out.append((p, s, len(g), float(np.mean(g["artifact"].to_numpy() != 0))))
    return out


def test_the_duckdb_snippet(export_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("duckdb")
    ns = _run(_snippet("import duckdb"), export_dir, monkeypatch)
    expected = _expected_per_recording(export_dir)
    got = ns["per_recording"]
    assert [(p, s, n) for p, s, n, _ in got] == [(p, s, n) for p, s, n, _ in expected]
    # a mean of 0/1 over a few thousand rows: summation order differs, so 1e-12
    assert [a for *_, a in got] == pytest.approx([a for *_, a in expected], abs=1e-12)
    phases = pq.read_table(export_dir / "research-out" / "phases.parquet").to_pandas()
    patients = phases[phases["role"] == "patient"]
    assert len(ns["patient_phases"]) == len(patients) > 0
    assert {r[2] for r in ns["patient_phases"]} == set(patients["phase"])
    by_key = {
        (str(r.participant_id), str(r.session_id), r.phase): r.rmssd_ms
        for r in patients.itertuples()
    }
    for p, s, phase, _, rmssd in ns["patient_phases"]:
        assert rmssd == by_key[(p, s, phase)] or (
            np.isnan(rmssd) and np.isnan(by_key[(p, s, phase)])
        )


def test_the_polars_snippet(export_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("polars")
    ns = _run(_snippet("import polars as pl"), export_dir, monkeypatch)
    expected = _expected_per_recording(export_dir)
    got = ns["per_recording"].rows()
    assert [(p, s, n) for p, s, n, _ in got] == [(p, s, n) for p, s, n, _ in expected]
    assert [a for *_, a in got] == pytest.approx([a for *_, a in expected], abs=1e-12)
    phases = pq.read_table(export_dir / "research-out" / "phases.parquet").to_pandas()
    patients = phases[(phases["role"] == "patient") & phases["rmssd_ms"].notna()]
    means = patients.groupby("phase_index")["rmssd_ms"].mean()
    rows = ns["patient_rmssd"].rows()
    assert [r[0] for r in rows] == sorted(means.index.tolist())
    assert [r[2] for r in rows] == pytest.approx(means.sort_index().tolist(), rel=1e-12)
