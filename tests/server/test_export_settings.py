"""The exports read their window lengths and thresholds from the one definition (issue 11,
item 5): :class:`hrv.stream.StreamConfig` and :class:`hrv.arousal.ArousalConfig`, whose defaults
the derivation uses. A changed default shows in the exports' column names, descriptions and
sidecars, and in the numbers, with no edit to the exports."""

from __future__ import annotations

import dataclasses
import gzip
import json
import random
from pathlib import Path

import numpy as np
import pytest

from hrv.arousal import ArousalConfig
from hrv.stream import StreamConfig
from server.export import export_research, write_session_csv
from server.export.research import physio_columns
from server.export.tables import beat_columns
from tests.support.export import fill_store


def _set_default(monkeypatch: pytest.MonkeyPatch, cls: type, **new: float) -> None:
    """Change dataclass defaults as an edit of the class would (its ``__init__`` defaults)."""
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    defaults = list(cls.__init__.__defaults__)  # type: ignore[misc]
    first = len(names) - len(defaults)
    for name, value in new.items():
        defaults[names.index(name) - first] = value
    monkeypatch.setattr(cls.__init__, "__defaults__", tuple(defaults))  # type: ignore[misc]


def test_the_names_follow_the_settings() -> None:
    names = [c for c, _, _ in beat_columns(StreamConfig(hr_window_s=15.0, rmssd_window_s=90.0))]
    assert "mean_hr_15s_bpm" in names
    assert "rmssd_90s_ms" in names
    assert "ln_rmssd_90s" in names
    default = {c for c, _, _ in beat_columns()}
    assert {"mean_hr_10s_bpm", "rmssd_60s_ms"} <= default  # what StreamConfig() says today
    assert StreamConfig().hr_window_s == 10.0
    assert StreamConfig().rmssd_window_s == 60.0


def test_a_changed_default_shows_in_the_exports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fx = fill_store(tmp_path / "db.sqlite", n_sessions=1)
    sid = fx.sessions[0]
    before = write_session_csv(fx.store, sid, tmp_path / "a_beats.csv", tmp_path / "a_ev.csv")
    assert before.n_beats > 0
    head_before = (tmp_path / "a_beats.csv").read_text().splitlines()[0].split(",")

    _set_default(monkeypatch, StreamConfig, rmssd_window_s=90.0, max_artifact_fraction=0.3)
    _set_default(monkeypatch, ArousalConfig, baseline_s=240.0)
    assert StreamConfig().rmssd_window_s == 90.0

    # research export: column names, descriptions and the settings in the physio sidecar
    r = export_research(fx.store, tmp_path / "research", format="tsv", rng=random.Random(1))
    side_path = next(p for p in r.files if p.name.endswith("_physio.json"))
    side = json.loads(side_path.read_text())
    assert "rmssd_90s_ms" in side["Columns"]
    assert "rmssd_60s_ms" not in side["Columns"]
    assert "trailing 90 s" in side["rmssd_90s_ms"]["Description"]
    assert side["DerivedWith"]["StreamConfig"]["rmssd_window_s"] == 90.0
    assert side["DerivedWith"]["StreamConfig"]["max_artifact_fraction"] == 0.3
    assert [c for c, _, _ in physio_columns()] == side["Columns"]

    # clinical CSV: the header, and the numbers were computed with the changed window
    write_session_csv(fx.store, sid, tmp_path / "b_beats.csv", tmp_path / "b_ev.csv")
    head = (tmp_path / "b_beats.csv").read_text().splitlines()[0].split(",")
    assert head == [c for c, _, _ in beat_columns()]
    assert "rmssd_90s_ms" in head
    assert "artifact_fraction_90s" in head
    assert head_before[head.index("rmssd_90s_ms")] == "rmssd_60s_ms"
    descriptions = dict((c, d) for c, _, d in beat_columns())
    assert "at most 30 %" in descriptions["valid"]
    assert "first 4 min" in descriptions["arousal_index"]
    import pandas as pd  # type: ignore[import-untyped]

    a = pd.read_csv(tmp_path / "a_beats.csv")["rmssd_60s_ms"].to_numpy()
    b = pd.read_csv(tmp_path / "b_beats.csv")["rmssd_90s_ms"].to_numpy()
    late = slice(len(a) // 2, None)  # past the first 90 s both windows are full
    assert not np.allclose(a[late], b[late], equal_nan=True)

    # the physio file's values are the 90 s ones too
    with gzip.open(next(p for p in r.files if p.name.endswith("_physio.tsv.gz")), "rt") as fh:
        rows = [line.split("\t") for line in fh.read().splitlines()]
    assert len(rows[0]) == len(side["Columns"])
