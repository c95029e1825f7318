"""EDF+ export: written with pyedflib, read back with pyedflib, compared with the source."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.interpolate import interp1d

from hrv.derive import StoredBeats, derive
from server.export import edf_signals, write_session_edf
from server.export.edf import (
    EDF_DIGITAL_RANGE,
    EDF_HR_RANGE_BPM,
    EDF_RATE_HZ,
    EDF_RR_RANGE_MS,
    tachogram_on_grid,
)
from server.readmodel import load_session_record

pyedflib = pytest.importorskip("pyedflib")

from tests.support.export import PHASES, T0_S, Fixture, fill_store  # noqa: E402


def _step(physical: tuple[float, float]) -> float:
    """One digital step in physical units: (pmax - pmin) / (dmax - dmin)."""
    return (physical[1] - physical[0]) / (EDF_DIGITAL_RANGE[1] - EDF_DIGITAL_RANGE[0])


@pytest.fixture(scope="module")
def fx(tmp_path_factory: pytest.TempPathFactory) -> Fixture:
    return fill_store(tmp_path_factory.mktemp("edf") / "db.sqlite", n_sessions=1)


@pytest.fixture(scope="module")
def edf(fx: Fixture, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("edf-out") / "s.edf"
    write_session_edf(fx.store, fx.sessions[0], path, actor="tester")
    return path


def test_signals_read_back_within_one_digital_step(fx: Fixture, edf: Path) -> None:
    data = load_session_record(fx.store, fx.sessions[0], purpose="review")
    origin, grid, signals = edf_signals(data)
    with pyedflib.EdfReader(str(edf)) as r:
        assert r.getSignalLabels() == [s.label for s in signals]
        assert r.signals_in_file == 6  # three participants with review consent, RR and HR each
        for i, s in enumerate(signals):
            h = r.getSignalHeader(i)
            assert h["sample_frequency"] == EDF_RATE_HZ
            assert h["dimension"] == s.unit
            assert (h["physical_min"], h["physical_max"]) == s.physical_range
            back = r.readSignal(i)
            assert back.shape == grid.shape
            # EDF stores 16-bit integers; pyedflib truncates when digitising, so the value read
            # back is within one digital step of the value written (3000/65535 ms, 300/65535 bpm)
            np.testing.assert_allclose(back, s.values, atol=_step(s.physical_range) * 1.0001)
        assert r.getStartdatetime().timestamp() == pytest.approx(origin)
    assert origin == np.floor(T0_S)


def test_rr_signal_is_the_corrected_tachogram(fx: Fixture, edf: Path) -> None:
    page = fx.store.read_all_beats(fx.sessions[0], participant_id=fx.patient.id)
    cs = derive(
        StoredBeats.from_arrays(page.beat_time_s - T0_S, page.rr_ms, page.gap_before),
        trace=False,
    )
    with pyedflib.EdfReader(str(edf)) as r:
        labels = r.getSignalLabels()
        rr = r.readSignal(labels.index("RR patient 1"))
        hr = r.readSignal(labels.index("HR patient 1"))
    grid = T0_S + np.arange(rr.shape[0]) / EDF_RATE_HZ
    # independent linear interpolation (scipy) of the corrected series at the sample times
    ref = interp1d(T0_S + cs.c_time_s, cs.c_rr_ms, bounds_error=False)(grid)
    ok = (rr > 0) & np.isfinite(ref)
    assert ok.mean() > 0.95
    np.testing.assert_allclose(rr[ok], ref[ok], atol=_step(EDF_RR_RANGE_MS) * 1.0001)
    np.testing.assert_allclose(
        hr[ok], 60000.0 / ref[ok], atol=_step(EDF_HR_RANGE_BPM) * 1.0001 + 1e-9
    )


def test_dropout_is_no_data(fx: Fixture, edf: Path) -> None:
    # the therapist's strap loses 6 s at 400 s: those samples are 0 (the physical minimum)
    with pyedflib.EdfReader(str(edf)) as r:
        rr = r.readSignal(r.getSignalLabels().index("RR therapist"))
    t = np.arange(rr.shape[0]) / EDF_RATE_HZ
    # (pyedflib's scaling leaves ~1e-13 of rounding on the digital minimum)
    no_data = _step(EDF_RR_RANGE_MS) / 2
    assert (rr[(t > 401.5) & (t < 404.5)] < no_data).all()
    assert (rr[(t > 10) & (t < 390)] > 250.0).all()
    assert (rr[t < 0.5] < no_data).all()  # before the first beat


def test_annotations(fx: Fixture, edf: Path) -> None:
    with pyedflib.EdfReader(str(edf)) as r:
        onsets, durations, texts = r.readAnnotations()
    texts = list(texts)
    for index, name, a, b in PHASES:
        k = texts.index(f"phase {name}")
        # EDF+ stores onsets to 0.1 ms
        assert onsets[k] == pytest.approx(a, abs=1e-4)
        assert durations[k] == pytest.approx(b - a, abs=1e-4)
        del index
    k = texts.index("marker rupture patient")
    assert onsets[k] == pytest.approx(250.5, abs=1e-4)
    assert "cue map_rise acknowledged" in texts
    assert "device battery patient" in texts
    assert not any("Lisbon" in x for x in texts)


def test_tachogram_on_grid_by_hand() -> None:
    rr = np.array([1000.0, 1200.0, 800.0, 900.0])
    t = np.array([1.0, 2.2, 3.0, 7.0])  # 4 s gap before the last beat
    g = np.array([0.5, 1.0, 1.6, 2.2, 2.6, 3.0, 5.0, 7.0, 7.5])
    got = tachogram_on_grid(rr, t, g)
    expected = [np.nan, 1000.0, 1100.0, 1200.0, 1000.0, 800.0, np.nan, np.nan, np.nan]
    # the last beat closes a gap longer than 2.5 s: its interval is no data
    np.testing.assert_allclose(got, expected, equal_nan=True)


def test_edf_export_is_audited(fx: Fixture, edf: Path) -> None:
    del edf
    entries = fx.store.list_audit(object_type="session", object_id=fx.sessions[0])
    assert any(e.action == "export.edf" and e.actor == "tester" for e in entries)
