"""De-identified research export: re-read equal to the source, nothing identifying, consent."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
import pytest

from server.export import ExportError, NothingToExportError, export_research
from server.export.research import PHYSIO_COLUMNS

pq = pytest.importorskip("pyarrow.parquet")

from tests.support.export import (  # noqa: E402
    BLE_ADDRESS,
    CODE_NO_CONSENT,
    CODE_PATIENT,
    CODE_THERAPIST,
    EXACT_FLOATS,
    NOTE_TEXT,
    T0_S,
    Fixture,
    fill_store,
)


@pytest.fixture(scope="module")
def fx(tmp_path_factory: pytest.TempPathFactory) -> Fixture:
    return fill_store(tmp_path_factory.mktemp("research") / "db.sqlite", n_sessions=2)


@pytest.fixture(scope="module")
def out(fx: Fixture, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bids") / "export"
    r = export_research(fx.store, path, format="both", actor="researcher")
    assert (r.subjects, r.recordings, r.sessions) == (2, 4, 2)
    # the third participant (no research_export consent) is left out, and counted
    assert (r.excluded_participants, r.excluded_recordings) == (1, 1)
    return path


def _physio(path: Path) -> pd.DataFrame:
    side = json.loads(path.with_name(path.name.replace(".tsv.gz", ".json")).read_text())
    return pd.read_csv(
        path,
        sep="\t",
        header=None,
        names=side["Columns"],
        na_values="n/a",
        **EXACT_FLOATS,
    )


def _subject_of(out: Path, role: str) -> str:
    parts = pd.read_csv(out / "participants.tsv", sep="\t")
    return str(parts.loc[parts["role"] == role, "participant_id"].iloc[0])


def test_layout_and_descriptions(out: Path) -> None:
    desc = json.loads((out / "dataset_description.json").read_text())
    assert desc["BIDSVersion"]
    assert desc["Name"]
    assert desc["DatasetType"] == "raw"
    parts = pd.read_csv(out / "participants.tsv", sep="\t")
    assert sorted(parts["participant_id"]) == ["sub-01", "sub-02"]
    assert sorted(parts["role"]) == ["patient", "therapist"]
    assert (parts["n_sessions"] == 2).all()
    physio = sorted(out.glob("sub-*/ses-*/beh/*_physio.tsv.gz"))
    assert len(physio) == 4
    side = json.loads(physio[0].with_name(physio[0].name.replace(".tsv.gz", ".json")).read_text())
    assert side["SamplingFrequency"] == "irregular"
    assert side["StartTime"] == 0
    assert side["Columns"] == [c for c, _, _ in PHYSIO_COLUMNS]
    assert side["rr_ms"]["Units"] == "ms"
    readme = (out / "README").read_text()
    assert "1 recording(s) of 1 participant(s)" in readme
    # the two subjects recorded together share the recording label
    a = pd.read_csv(out / "sub-01" / "sub-01_sessions.tsv", sep="\t")
    b = pd.read_csv(out / "sub-02" / "sub-02_sessions.tsv", sep="\t")
    assert a["recording"].tolist() == b["recording"].tolist()


def test_physio_tsv_equals_the_store(fx: Fixture, out: Path) -> None:
    for person, role in ((fx.patient, "patient"), (fx.therapist, "therapist")):
        sub = _subject_of(out, role)
        for k, (sid, start) in enumerate(zip(fx.sessions, fx.starts, strict=True)):
            page = fx.store.read_all_beats(sid, participant_id=person.id)
            path = out / sub / f"ses-{k + 1:02d}" / "beh"
            df = _physio(next(path.glob("*_physio.tsv.gz")))
            np.testing.assert_array_equal(df["rr_ms"].to_numpy(), page.rr_ms)
            np.testing.assert_array_equal(df["rr_raw"].to_numpy(), page.rr_raw)
            # relative times, rounded to 1 us
            np.testing.assert_allclose(
                df["time_s"].to_numpy(), page.beat_time_s - start, atol=5e-7, rtol=0
            )
            assert df["time_s"].iloc[0] < 5.0


def test_parquet_equals_the_tsv(out: Path) -> None:
    beats = pq.read_table(out / "beats.parquet").to_pandas()
    assert {"participant_id", "session_id", "recording", "role"} <= set(beats.columns)
    for path in sorted(out.glob("sub-*/ses-*/beh/*_physio.tsv.gz")):
        sub, ses = path.parts[-4], path.parts[-3]
        tsv = _physio(path)
        rows = beats[(beats["participant_id"] == sub) & (beats["session_id"] == ses)]
        assert len(rows) == len(tsv)
        for col in ("time_s", "rr_ms", "rr_raw", "artifact", "rmssd_60s_ms", "quality"):
            np.testing.assert_array_equal(
                rows[col].to_numpy(dtype=float), tsv[col].to_numpy(dtype=float)
            )
    events = pq.read_table(out / "events.parquet").to_pandas()
    assert set(events["trial_type"]) == {"phase", "marker", "cue", "device"}
    assert set(events.loc[events["trial_type"] == "marker", "value"]) == {"rupture", "note"}


def _all_text(out: Path) -> tuple[str, str]:
    """Every file of the export as text (gzip decompressed, Parquet decoded with its metadata),
    and the raw bytes of the binary files (for substring searches only)."""
    text, raw = [], []
    for path in out.rglob("*"):
        if path.is_dir():
            continue
        text.append(path.relative_to(out).as_posix())
        data = path.read_bytes()
        if path.suffix == ".gz":
            raw.append(data.decode("latin-1"))  # the gzip header too (name, mtime)
            text.append(gzip.decompress(data).decode("utf-8"))
        elif path.suffix == ".parquet":
            raw.append(data.decode("latin-1"))
            table = pq.read_table(path)
            text.append(table.to_pandas().to_csv())
            text.append(str(table.schema.metadata))
        else:
            text.append(data.decode("utf-8"))
    return "\n".join(text), "\n".join(raw)


def test_nothing_identifying_in_the_export(fx: Fixture, out: Path) -> None:
    text, raw = _all_text(out)
    forbidden = [
        CODE_PATIENT,
        CODE_THERAPIST,
        CODE_NO_CONSENT,
        BLE_ADDRESS,
        BLE_ADDRESS.replace(":", ""),
        NOTE_TEXT,
        "Lisbon",
        "Rossi",  # the session label
        "Consider slowing",  # cue text
        "map_rise\tConsider",
    ]
    for s in forbidden:
        assert s not in text, f"{s!r} found in the research export"
        assert s not in raw, f"{s!r} found in the bytes of the research export"
    # no absolute time or date: every number in the export is small (times are seconds from the
    # session start, < 1000 s here; the stored times are ~1.7e9) and nothing looks like a date
    numbers = [float(x) for x in re.findall(r"(?<![\w.])\d+(?:\.\d+)?(?:e[+-]?\d+)?", text)]
    assert max(numbers) < 1e6
    assert not re.search(r"(19|20)\d\d-[01]\d-[0-3]\d", text)
    assert str(int(T0_S))[:6] not in re.sub(r"\d+\.\d+", "", text)  # no epoch-like integer
    beats = pq.read_table(out / "beats.parquet").to_pandas()
    assert beats["time_s"].max() < 1000.0
    del fx


def test_export_is_audited(fx: Fixture, out: Path) -> None:
    entries = [
        e for e in fx.store.list_audit(object_type="export") if e.action == "export.research"
    ]
    assert entries
    assert entries[-1].actor == "researcher"
    assert entries[-1].detail["excluded_participants"] == 1
    assert entries[-1].detail["sessions"] == fx.sessions
    del out


def test_refuses_a_non_empty_directory(fx: Fixture, tmp_path: Path) -> None:
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(ExportError, match="must not exist or be empty"):
        export_research(fx.store, tmp_path)


def test_nobody_consenting_writes_nothing(tmp_path: Path) -> None:
    f = fill_store(tmp_path / "db.sqlite", n_sessions=1)
    for p in (f.patient, f.therapist):
        f.store.revoke_consent(p.id, "research_export", at_s=f.store.now())
    with pytest.raises(NothingToExportError, match="3 recording") as info:
        export_research(f.store, tmp_path / "out")
    assert info.value.excluded == 3
    assert not (tmp_path / "out").exists()
    refused = [e for e in f.store.list_audit(object_type="export")]
    assert refused[-1].action == "export.research.refused"


def test_session_scoped_consent_counts_for_that_session_only(tmp_path: Path) -> None:
    f = fill_store(tmp_path / "db.sqlite", n_sessions=2)
    f.store.grant_consent(
        f.refuser.id, "research_export", "v1", session_id=f.sessions[0], at_s=T0_S - 10
    )
    r = export_research(f.store, tmp_path / "out", format="tsv")
    assert (r.subjects, r.recordings, r.excluded_recordings) == (3, 5, 0)


def test_duckdb_reads_the_parquet_directly(out: Path) -> None:
    duckdb = pytest.importorskip("duckdb")  # optional: not a dependency of the project
    path = (out / "beats.parquet").as_posix()
    rows = duckdb.sql(
        f"SELECT participant_id, session_id, count(*) FROM '{path}' GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    beats = pq.read_table(out / "beats.parquet").to_pandas()
    expected = beats.groupby(["participant_id", "session_id"], observed=True).size()
    assert [(a, b, n) for a, b, n in rows] == sorted(
        (str(a), str(b), int(n)) for (a, b), n in expected.items()
    )
