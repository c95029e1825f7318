"""The cohort table recomputed from a research export's Parquet files (issue 16, item 3): the
same as ``phases.parquet`` up to the export's 1 us rounding of times, and the same on Dask."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from server.export.errors import ExportError
from tests.support.export import fill_store

pq = pytest.importorskip("pyarrow.parquet")
from server.export.cohort_parquet import cohort_from_export  # noqa: E402


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pq")
    fx = fill_store(root / "db.sqlite", n_sessions=2)
    export_research_dir = root / "export"
    from server.export import export_research

    export_research(fx.store, export_research_dir, format="parquet", rng=random.Random(4))
    fx.store.close()
    return export_research_dir


def test_equals_the_exported_phase_numbers(export_dir: Path) -> None:
    got = cohort_from_export(export_dir)
    ref = pq.read_table(export_dir / "phases.parquet").to_pandas()
    assert len(got["phase"]) == len(ref) == 16  # 4 recordings x 4 phases
    by_key = {
        (str(r.participant_id), str(r.session_id), round(r.phase_start_s, 6)): r
        for r in ref.itertuples()
    }
    for i in range(len(got["phase"])):
        r = by_key[
            (got["participant_id"][i], got["session_id"][i], round(got["phase_start_s"][i], 6))
        ]
        assert got["phase"][i] == r.phase
        assert got["n_beats"][i] == r.n_beats
        # times in the export are rounded to 1 us: the corrected series moves by as much,
        # which changes the metrics by far less than 1e-6 relative
        for col in ("mean_hr_bpm", "rmssd_ms", "artifact_pct", "lf_hf"):
            want = float(getattr(r, col))
            if np.isnan(want):
                assert np.isnan(got[col][i]), col
            else:
                assert got[col][i] == pytest.approx(want, rel=1e-6), col


def test_a_directory_without_parquet_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match=r"no beats.parquet and events.parquet"):
        cohort_from_export(tmp_path)


def test_on_dask_the_same_table(export_dir: Path) -> None:
    pytest.importorskip("distributed")
    from server.export.dask_runner import dask_runner

    local = cohort_from_export(export_dir)
    with dask_runner(workers=1, processes=False) as runner:
        remote = cohort_from_export(export_dir, runner=runner)
    assert list(local) == list(remote)
    for c in local:
        if local[c].dtype.kind == "f":
            assert np.array_equal(local[c].view(np.int64), remote[c].view(np.int64)), c
        else:
            assert local[c].tolist() == remote[c].tolist(), c


def test_the_cli_writes_it(export_dir: Path, tmp_path: Path) -> None:
    import pandas as pd  # type: ignore[import-untyped]

    from server.cli import main
    from tests.support.export import EXACT_FLOATS

    out = tmp_path / "t.csv"
    assert main(["cohort", "--from-export", str(export_dir), "--out", str(out)]) == 0
    table = pd.read_csv(out, **EXACT_FLOATS)
    want = cohort_from_export(export_dir)
    assert table["participant_id"].tolist() == want["participant_id"].tolist()
    assert table["rmssd_ms"].tolist() == want["rmssd_ms"].tolist()  # round-trip floats
    assert main(["cohort", "--from-export", str(tmp_path), "--out", str(out)]) == 2
