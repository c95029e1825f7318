"""``sintonia import``: every format ``sintonia analyze`` reads becomes a stored, finished session.

Files are generated here (synthetic RR, :mod:`hrv.synthetic`), written in each format the reader
knows, and imported through the command line into a real SQLite file (and, where the test takes
``database_url``, PostgreSQL too).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from dashboard.phases import DEFAULT_FIRST_SESSION
from hrv.synthetic import inject_artifacts, synthetic_rr
from hrv.validate import corrupt_rr_mask
from sensor.files import BeatFileWriter, read_rr_file
from sensor.types import BeatBatch
from server.cli import main
from server.storage import Store
from server.storage import schema as t

ALL = "storage,review,research_export,synchrony"
START = "2024-03-01T10:00:00+00:00"
START_S = datetime.fromisoformat(START).timestamp()


def rr_series(seed: int, n: int = 400) -> np.ndarray:
    return np.round(synthetic_rr(n, seed=seed), 1)


# ------------------------------------------------------------------ one writer per format


def write_plain(path: Path, rr: np.ndarray) -> Path:
    path.write_text("\n".join(f"{v:.1f}" for v in rr) + "\n")
    return path


def write_plain_seconds_two_columns(path: Path, rr: np.ndarray) -> Path:
    times = np.cumsum(rr) / 1000.0
    times[200:] += 30.0  # a 30 s dropout before beat 200
    path.write_text(
        "time,rr\n" + "".join(f"{a:.3f},{b / 1000:.4f}\n" for a, b in zip(times, rr, strict=False))
    )
    return path


def write_kubios(path: Path, rr: np.ndarray) -> Path:
    head = (
        "HRV ANALYSIS RESULTS - 20-Sep-2018 11:14:02\nKubios HRV Premium\n3.1.0\n\n"
        "File name: x.txt\nMeasurement date: 2018-09-20 11:00:00\nFile type: asciiRR\n\n"
        "RR INTERVAL DATA and SPECTRUM ESTIMATES,\n"
        "    ,    SAMPLE 1,     ,     ,     ,\n"
        "    ,     RR Data,     ,FFT spectrum,     ,\n"
        "    ,        Time, RR interval,   Frequency,   PSD,\n"
        "    ,         (s),         (s),        (Hz),   (ms^2/Hz),\n"
    )
    times = np.cumsum(rr) / 1000.0
    rows = "".join(
        f"    ,{a:.3f},{b / 1000:.4f},0.0,1.0,\n" for a, b in zip(times, rr, strict=False)
    )
    path.write_text(head + rows + "\n")
    return path


def write_polar(path: Path, rr: np.ndarray) -> Path:
    t0 = datetime(2024, 3, 1, 10, 0, 0)
    received = np.cumsum(rr)
    received[200:] += 30_000.0  # the phone received nothing for 30 s before beat 200
    stamps = [t0 + timedelta(milliseconds=float(s)) for s in received]
    rows = "".join(
        f"{s.isoformat(timespec='milliseconds')};{v:.0f}\n"
        for s, v in zip(stamps, rr, strict=False)
    )
    path.write_text("Phone timestamp;RR-interval [ms]\n" + rows)
    return path


def write_hrv_logger(path: Path, rr: np.ndarray) -> Path:
    since = np.concatenate(([0.0], np.cumsum(rr)[:-1]))
    rows = "".join(
        f"2025-03-15 09:00:{int(s // 1000) % 60:02d}.000,{v:.0f},{s:.0f}\n"
        for v, s in zip(rr, since, strict=False)
    )
    path.write_text("date,rr,since start\n" + rows)
    return path


def write_elite(path: Path, rr: np.ndarray) -> Path:
    target = path.with_name("2017-06-29 13-11-53.txt")
    return write_plain(target, rr)


def write_beats(path: Path, rr: np.ndarray) -> Path:
    times = 1_700_000_000.0 + np.cumsum(rr) / 1000.0
    with BeatFileWriter(path) as w:
        for k in range(0, rr.size, 2):
            sl = slice(k, min(k + 2, rr.size))
            raw = tuple(round(v * 1.024) for v in rr[sl])
            w.append(
                BeatBatch(
                    "patient",
                    "AA:BB",
                    rr[sl].copy(),
                    raw,
                    float(times[sl][-1]) + 0.05,
                    times[sl].copy(),
                    contact=True,
                    seq=k,
                )
            )
    return path


FORMATS: dict[str, tuple[str, Callable[[Path, np.ndarray], Path]]] = {
    "plain": ("rr.txt", write_plain),
    "plain-two-columns": ("rr.csv", write_plain_seconds_two_columns),
    "kubios": ("kubios.txt", write_kubios),
    "polar-sensor-logger": ("polar.txt", write_polar),
    "hrv-logger": ("hrvlogger.csv", write_hrv_logger),
    "elite-hrv": ("elite.txt", write_elite),
    "sintonia-beats": ("beats.csv", write_beats),
}


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+pysqlite:///{tmp_path / 'db.sqlite'}"


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def row_counts(url: str) -> dict[str, int]:
    store = Store.open(url)
    try:
        with store.engine.connect() as conn:
            return {
                name: int(conn.execute(sa.select(sa.func.count()).select_from(tab)).scalar_one())
                for name, tab in (
                    ("participants", t.participants),
                    ("sessions", t.sessions),
                    ("beats", t.beats),
                    ("consents", t.consents),
                    ("phase_events", t.phase_events),
                    ("device_events", t.device_events),
                    ("session_participants", t.session_participants),
                )
            }
    finally:
        store.close()


# ------------------------------------------------------------------ tests


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_each_format_imports_raw_beats_exactly_as_read(
    fmt: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name, writer = FORMATS[fmt]
    rr = rr_series(seed=len(fmt))
    path = writer(tmp_path / name, rr)
    rec = read_rr_file(path)
    url = sqlite_url(tmp_path)
    code, out, err = run(
        [
            "import",
            str(path),
            "--code",
            "P-1",
            "--role",
            "patient",
            "--consent",
            ALL,
            "--database-url",
            url,
        ],
        capsys,
    )
    assert (code, err) == (0, "")
    assert out.count("\n") == 1
    assert out.startswith("session 1: imported ")
    store = Store.open(url)
    try:
        page = store.read_all_beats(1)
        # the file's RR values, unmodified, in file order
        np.testing.assert_array_equal(page.rr_ms, rec.rr_ms)
        assert page.rr_ms.size == rr.size
        session = store.get_session(1)
        assert session.status == "stopped"
        assert session.started_at_s == pytest.approx(page.beat_time_s[0] - page.rr_ms[0] / 1000)
        assert session.stopped_at_s == pytest.approx(page.beat_time_s[-1])
        assert np.all(np.diff(page.beat_time_s) > 0)
        (person,) = store.list_participants(session_id=1)
        assert (person.code, person.role) == ("P-1", "patient")
        consents = store.list_consents(person.id)
        assert sorted(c.purpose for c in consents) == sorted(ALL.split(","))
        assert {(c.recorded_by, c.version, c.session_id) for c in consents} == {
            ("import", "import", 1)
        }
        enters = [e for e in store.list_phase_events(1) if e.action == "enter"]
        assert enters[0].phase_name == DEFAULT_FIRST_SESSION.phases[0].id
        assert enters[0].time_s == pytest.approx(session.started_at_s)
        gaps = np.flatnonzero(page.gap_before).tolist()
        if fmt in ("plain-two-columns", "polar-sensor-logger"):
            assert gaps == [0, 200]  # the file's 30 s dropout is a gap
        else:
            assert gaps == [0]
        if fmt == "sintonia-beats":
            assert page.rr_raw.tolist() == [round(v * 1.024) for v in rr]
            assert page.seq.tolist() == list(range(rr.size))
            assert page.beat_time_s[0] == pytest.approx(1_700_000_000.0 + rr[0] / 1000)
        if fmt == "elite-hrv":  # the file name's local start time
            start = datetime(2017, 6, 29, 13, 11, 53).timestamp()
            assert session.started_at_s == pytest.approx(start)
    finally:
        store.close()


def test_start_anchors_the_beats_and_default_is_mtime_minus_duration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rr = rr_series(seed=3)
    path = write_plain(tmp_path / "rr.txt", rr)
    os.utime(path, (2_000_000_000.0, 2_000_000_000.0))
    url = sqlite_url(tmp_path)
    base = ["--role", "patient", "--consent", "storage", "--database-url", url]
    assert run(["import", str(path), "--code", "A", "--start", START, *base], capsys)[0] == 0
    assert run(["import", str(path), "--code", "B", *base], capsys)[0] == 0
    store = Store.open(url)
    try:
        assert store.get_session(1).started_at_s == pytest.approx(START_S)
        b = store.get_session(2)
        assert b.stopped_at_s == pytest.approx(2_000_000_000.0)
        assert b.started_at_s == pytest.approx(2_000_000_000.0 - rr.sum() / 1000)
    finally:
        store.close()


def test_dyad_from_two_files_json_output(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pat = write_plain(tmp_path / "patient.txt", rr_series(seed=1, n=500))
    ther = write_polar(tmp_path / "therapist.txt", rr_series(seed=2, n=450))
    code, out, _ = run(
        [
            "import",
            str(pat),
            "--code",
            "P-9",
            "--role",
            "patient",
            "--consent",
            ALL,
            "--start",
            START,
            "--label",
            "first session",
            "--json",
            "--database-url",
            database_url,
        ],
        capsys,
    )
    assert code == 0
    first = json.loads(out)
    assert set(first) >= {"session_id", "participant", "beats"}
    assert (first["participant"], first["beats"]) == ("P-9", 500)
    sid = first["session_id"]
    code, out, _ = run(
        [
            "import",
            str(ther),
            "--code",
            "T-9",
            "--role",
            "therapist",
            "--consent",
            ALL,
            "--session",
            str(sid),
            "--json",
            "--database-url",
            database_url,
        ],
        capsys,
    )
    assert code == 0
    second = json.loads(out)
    assert (second["session_id"], second["participant"], second["beats"]) == (sid, "T-9", 450)
    store = Store.open(database_url)
    try:
        people = store.list_participants(session_id=sid)
        assert sorted(p.code for p in people) == ["P-9", "T-9"]
        assert store.get_session(sid).label == "first session"
        for p in people:
            page = store.read_all_beats(sid, participant_id=p.id)
            # the Polar file carries its own wall clock (2024-03-01 10:00 local); the plain file
            # was anchored at --start: both on the host's clock, the session covers both
            session = store.get_session(sid)
            assert session.started_at_s is not None
            assert session.stopped_at_s is not None
            assert session.started_at_s <= page.beat_time_s[0]
            assert session.stopped_at_s >= page.beat_time_s[-1]
        # the same person twice in one session is refused
        code, _, err = run(
            [
                "import",
                str(ther),
                "--code",
                "T-9",
                "--role",
                "therapist",
                "--consent",
                ALL,
                "--session",
                str(sid),
                "--database-url",
                database_url,
            ],
            capsys,
        )
        assert code == 2
        assert "already has beats" in err
    finally:
        store.close()


def test_dyad_without_own_clock_joins_the_session_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = sqlite_url(tmp_path)
    a = write_plain(tmp_path / "a.txt", rr_series(seed=4))
    b = write_plain(tmp_path / "b.txt", rr_series(seed=5))
    common = ["--consent", "storage,review", "--database-url", url]
    assert (
        run(
            ["import", str(a), "--code", "A", "--role", "patient", "--start", START, *common],
            capsys,
        )[0]
        == 0
    )
    assert (
        run(
            ["import", str(b), "--code", "B", "--role", "therapist", "--session", "1", *common],
            capsys,
        )[0]
        == 0
    )
    store = Store.open(url)
    try:
        starts = []
        for p in store.list_participants(session_id=1):
            page = store.read_all_beats(1, participant_id=p.id)
            starts.append(page.beat_time_s[0] - page.rr_ms[0] / 1000)
        assert starts == pytest.approx([START_S, START_S])
    finally:
        store.close()


def test_refused_without_storage_consent_and_nothing_written(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_plain(tmp_path / "rr.txt", rr_series(seed=6))
    before = row_counts(database_url)
    code, out, err = run(
        [
            "import",
            str(path),
            "--code",
            "P-1",
            "--role",
            "patient",
            "--consent",
            "review,research_export",
            "--database-url",
            database_url,
        ],
        capsys,
    )
    assert (code, out) == (2, "")
    assert err.count("\n") == 1
    assert "storage" in err
    assert row_counts(database_url) == before


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        ("800\n81x\n790\n", [], "expected a number"),
        ("", [], "empty file"),
        ("800\n810\n", ["--consent", "storage,telepathy"], "--consent expects"),
        ("800\n810\n", ["--start", "yesterday"], "--start expects"),
        ("800\n810\n", ["--session", "99"], "no session 99"),
        ("nan\n0\n", [], "no valid RR interval"),
    ],
)
def test_broken_file_or_bad_args_exit_2_and_store_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, args: list[str], message: str
) -> None:
    path = tmp_path / "rr.txt"
    path.write_text(content)
    url = sqlite_url(tmp_path)
    before = row_counts(url)
    argv = ["import", str(path), "--code", "P-1", "--role", "patient", "--database-url", url]
    if "--consent" not in args:
        argv += ["--consent", "storage"]
    code, out, err = run(argv + args, capsys)
    assert (code, out) == (2, "")
    assert err.startswith("sintonia import: error: ")
    assert err.count("\n") == 1
    assert message in err
    assert row_counts(url) == before


def test_missing_file_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = sqlite_url(tmp_path)
    code, _, err = run(
        [
            "import",
            str(tmp_path / "nope.txt"),
            "--code",
            "P",
            "--role",
            "patient",
            "--consent",
            "storage",
            "--database-url",
            url,
        ],
        capsys,
    )
    assert code == 2
    assert err.count("\n") == 1


def test_a_failure_after_the_first_write_leaves_nothing(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write_plain(tmp_path / "rr.txt", rr_series(seed=7))
    before = row_counts(database_url)

    def broken(*args: object, **kwargs: object) -> None:
        raise sa.exc.OperationalError("INSERT", {}, Exception("disk full"))

    monkeypatch.setattr(Store, "start_session", broken)
    code, _, err = run(
        [
            "import",
            str(path),
            "--code",
            "P-1",
            "--role",
            "patient",
            "--consent",
            ALL,
            "--database-url",
            database_url,
        ],
        capsys,
    )
    assert code == 2
    assert "disk full" in err
    assert row_counts(database_url) == before


def test_corrupt_values_of_a_file_are_stored_as_events(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rr = rr_series(seed=8).astype(object)
    rr[10], rr[50], rr[51] = 0.0, float("nan"), 1e308
    path = tmp_path / "rr.txt"
    path.write_text("\n".join(str(v) for v in rr) + "\n")
    url = sqlite_url(tmp_path)
    code, out, _ = run(
        [
            "import",
            str(path),
            "--code",
            "P-1",
            "--role",
            "patient",
            "--consent",
            "storage",
            "--json",
            "--database-url",
            url,
        ],
        capsys,
    )
    assert code == 0
    result = json.loads(out)
    assert (result["beats"], result["invalid_values"]) == (rr.size - 3, 3)
    store = Store.open(url)
    try:
        page = store.read_all_beats(1)
        valid = np.array([v for v in rr if not corrupt_rr_mask(np.array([float(v)]))[0]])
        np.testing.assert_array_equal(page.rr_ms, valid.astype(float))
        assert page.gap_before[[0, 10, 49]].all()  # the beat after each corrupt value
        events = [e for e in store.list_device_events(1) if e.kind == "invalid_rr"]
        assert sum(float(e.value or 0) for e in events) == 3
    finally:
        store.close()


def test_artifacts_in_a_generated_recording_are_kept_raw(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad, _ = inject_artifacts(rr_series(seed=9, n=600), seed=9, n_per_type=3)
    path = write_plain(tmp_path / "rr.txt", bad)
    url = sqlite_url(tmp_path)
    assert (
        run(
            [
                "import",
                str(path),
                "--code",
                "P",
                "--role",
                "patient",
                "--consent",
                "storage",
                "--database-url",
                url,
            ],
            capsys,
        )[0]
        == 0
    )
    store = Store.open(url)
    try:
        np.testing.assert_array_equal(store.read_all_beats(1).rr_ms, read_rr_file(path).rr_ms)
    finally:
        store.close()


def test_into_a_planned_session_its_own_template_is_used(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = sqlite_url(tmp_path)
    store = Store.open(url)
    template = {
        "name": "short",
        "phases": [
            {"id": "talk", "label": "Talk", "minutes": 2.0},
            {"id": "close", "label": "Close", "minutes": 60.0},
        ],
    }
    sid = store.create_session(template).id
    store.close()
    path = write_plain(tmp_path / "rr.txt", rr_series(seed=10))  # about 5 minutes
    argv = ["import", str(path), "--code", "P", "--role", "patient", "--consent", "storage"]
    assert (
        run([*argv, "--session", str(sid), "--start", START, "--database-url", url], capsys)[0] == 0
    )
    store = Store.open(url)
    try:
        enters = [(e.phase_name, e.time_s - START_S) for e in store.list_phase_events(sid)]
        assert enters == [("talk", 0.0), ("close", pytest.approx(120.0))]
        session = store.get_session(sid)
        assert session.status == "stopped"
        assert session.started_at_s == pytest.approx(START_S)
    finally:
        store.close()
