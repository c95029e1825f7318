"""Cohort table and research export on Dask (issue 16, item 3): a local cluster gives the same
table and the same files as the single-process path, exactly.

The cluster is a real :class:`distributed.LocalCluster` of 2 worker *processes*, 1 thread each,
started once for the module. Processes rather than threads (``processes=False``) because only
processes test what a real cluster does: each job is pickled, crosses a TCP connection on
loopback, and runs where nothing of the test process exists (no open engine, no cached store,
no imported module), so a worker that got a live engine or relied on the caller's state would
fail here. Two single-threaded workers match the 2-core machine (numpy work holds the GIL
anyway); the cost is one start-up (a few seconds) for the module and every wait is bounded
(:data:`TASK_TIMEOUT_S`).
"""

from __future__ import annotations

import itertools
import json
import random
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

from hrv.synthetic import strap_recording
from sensor.types import BeatBatch
from server.cli import main
from server.export import cohort_table, export_research, read_beats_bulk
from server.export.errors import ExportError
from server.export.tables import Table, write_delimited
from server.storage import DeviceAssignment, Participant, Store
from tests.support.export import CODE_NO_CONSENT, T0_S, Fixture, fill_store, populate

dask_runner_module = pytest.importorskip("server.export.dask_runner")
pytest.importorskip("distributed")
pq = pytest.importorskip("pyarrow.parquet")

#: Longest wait for one task's result, s (a stuck cluster fails the test instead of hanging).
TASK_TIMEOUT_S = 120.0


def _store_strap_session(store: Store, people: list[tuple[Participant, str]], seed: int) -> int:
    """A dyad session of chest-strap-like beats (:func:`hrv.synthetic.strap_recording`: extra,
    missed, ectopic, duplicated and long beats, a dropout), one batch per gap-free stretch."""
    start = T0_S + 40 * 86_400.0 + seed * 3600.0
    s = store.create_session(
        {},  # the default template
        participants=[DeviceAssignment(p.id, "ble", f"strap-{seed}-{role}") for p, role in people],
        at_s=start - 60,
    )
    store.start_session(s.id, at_s=start)
    for k, (person, role) in enumerate(people):
        rec = strap_recording(600.0, seed=seed * 10 + k)
        cuts = [*np.flatnonzero(rec.gap_before).tolist(), len(rec.rr_ms)]
        for a, b in itertools.pairwise(cuts):
            times = start + rec.time_s[a:b]
            raw = tuple(round(x * 1.024) for x in rec.rr_ms[a:b].tolist())
            store.append_beats(
                s.id,
                person.id,
                BeatBatch(
                    role,
                    f"strap-{seed}-{role}",
                    rec.rr_ms[a:b],
                    raw,
                    float(times[-1]),
                    times,
                    True,
                    None,
                    a,
                    True,
                ),
            )
    store.record_phase_event(s.id, 0, "welcome", "enter", at_s=start)
    store.record_phase_event(s.id, 1, "map", "enter", at_s=start + 250.0)
    store.stop_session(s.id, at_s=start + 600.0)
    return s.id


def _fill(path: Path) -> Fixture:
    fx = fill_store(path, n_sessions=3)
    for p in (fx.patient, fx.therapist):  # SUSY columns too: both members consent
        fx.store.grant_consent(p.id, "synchrony", "v1", at_s=T0_S - 900)
    people = [(fx.patient, "patient"), (fx.therapist, "therapist")]
    fx.sessions.append(_store_strap_session(fx.store, people, seed=1))
    fx.sessions.append(_store_strap_session(fx.store, [(fx.refuser, "patient")], seed=2))
    return fx


@pytest.fixture(scope="module")
def fx(tmp_path_factory: pytest.TempPathFactory) -> Fixture:
    return _fill(tmp_path_factory.mktemp("dask") / "db.sqlite")


@pytest.fixture(scope="module")
def runner() -> Iterator[Any]:
    with dask_runner_module.dask_runner(workers=2, processes=True) as r:
        r.timeout_s = TASK_TIMEOUT_S
        assert r.workers == 2
        yield r


def _assert_same_table(a: Table, b: Table) -> None:
    """Same columns in the same order, same dtypes, equal values (floats bit for bit, NaN
    where NaN)."""
    assert list(a) == list(b)
    for name in a:
        x, y = a[name], b[name]
        assert x.dtype == y.dtype, name
        assert x.shape == y.shape, name
        if x.dtype.kind == "f":
            assert np.array_equal(x.view(np.int64), y.view(np.int64)), name  # the very bits
        else:
            assert x.tolist() == y.tolist(), name


def test_cohort_on_dask_equals_the_single_process_table(
    fx: Fixture, runner: Any, tmp_path: Path
) -> None:
    local = cohort_table(fx.store)
    remote = cohort_table(fx.store, runner=runner)
    assert local.recordings == remote.recordings == 8  # 3 dyads, a strap dyad
    assert (local.sessions, local.excluded) == (remote.sessions, remote.excluded) == (5, 2)
    assert local.failed == remote.failed == ()
    _assert_same_table(local.table, remote.table)
    assert CODE_NO_CONSENT not in set(remote.table["participant"].tolist())
    assert np.isfinite(remote.table["susy_z"]).any()  # the dyads' synchrony was computed
    write_delimited(local.table, tmp_path / "a.csv")
    write_delimited(remote.table, tmp_path / "b.csv")
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()


def test_cohort_on_dask_on_both_backends(store: Store, database_url: str, runner: Any) -> None:
    """Workers open SQLite files and PostgreSQL alike from the URL (password included)."""
    populate(store, database_url, n_sessions=1)
    local = cohort_table(store)
    remote = cohort_table(store, runner=runner)
    assert remote.recordings == 2
    _assert_same_table(local.table, remote.table)


def test_cohort_on_dask_with_review_purpose(fx: Fixture, runner: Any) -> None:
    """The purpose travels to the workers: under ``review`` the third participant is in."""
    local = cohort_table(fx.store, purpose="review", lf_hf=False, synchrony=False)
    remote = cohort_table(fx.store, purpose="review", lf_hf=False, synchrony=False, runner=runner)
    assert CODE_NO_CONSENT in set(remote.table["participant"].tolist())
    _assert_same_table(local.table, remote.table)


def _files(root: Path) -> dict[str, Path]:
    return {str(p.relative_to(root)): p for p in sorted(root.rglob("*")) if p.is_file()}


def _assert_same_parquet(a: Path, b: Path) -> None:
    """Same schema, row groups and values (floats bit for bit: Arrow's ``equals`` counts NaN
    as unequal to NaN, so the columns are compared as numpy arrays)."""
    ta, tb = pq.read_table(a), pq.read_table(b)
    assert ta.schema == tb.schema
    assert pq.ParquetFile(a).num_row_groups == pq.ParquetFile(b).num_row_groups
    for name in ta.column_names:
        x = ta.column(name).to_numpy()
        y = tb.column(name).to_numpy()
        if x.dtype.kind == "f":
            assert np.array_equal(x.view(np.int64), y.view(np.int64)), name
        else:
            assert x.tolist() == y.tolist(), name


def test_research_export_on_dask_writes_the_same_files(
    fx: Fixture, runner: Any, tmp_path: Path
) -> None:
    a = export_research(fx.store, tmp_path / "a", format="both", rng=random.Random(5))
    b = export_research(
        fx.store, tmp_path / "b", format="both", rng=random.Random(5), runner=runner
    )
    assert (a.recordings, a.subjects, a.n_beats) == (b.recordings, b.subjects, b.n_beats)
    assert a.recordings == 8
    assert a.failed == b.failed == ()
    fa, fb = _files(a.out_dir), _files(b.out_dir)
    assert list(fa) == list(fb)
    assert sum(n.endswith(".parquet") for n in fa) == 3
    for name, path in fa.items():
        if name.endswith(".parquet"):
            _assert_same_parquet(path, fb[name])
        else:
            assert path.read_bytes() == fb[name].read_bytes(), name
    text = "".join(p.read_text("utf-8", "replace") for p in fb.values() if p.suffix != ".gz")
    assert CODE_NO_CONSENT not in text


def test_workers_read_only_consenting_recordings(fx: Fixture) -> None:
    """What a worker's bulk read returns holds no beat of a person without consent."""
    allowed = {(fx.sessions[0], fx.patient.id), (fx.sessions[0], fx.therapist.id)}
    got = read_beats_bulk(fx.store, [fx.sessions[0]], allowed)
    assert set(got.participant_id.tolist()) == {fx.patient.id, fx.therapist.id}
    every = read_beats_bulk(fx.store, [fx.sessions[0]])
    assert fx.refuser.id in set(every.participant_id.tolist())
    assert read_beats_bulk(fx.store, [fx.sessions[0]], set()).n_recordings == 0


@pytest.fixture(scope="module")
def corrupt(tmp_path_factory: pytest.TempPathFactory) -> tuple[Fixture, int]:
    """A store whose second session has a beat time that is not a number (SQLite keeps the
    text in a REAL column: a hand-edited or half-imported database)."""
    fx = fill_store(tmp_path_factory.mktemp("corrupt") / "db.sqlite", n_sessions=3)
    bad = fx.sessions[1]
    with fx.store.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE beats SET beat_time_s = 'corrupt' WHERE session_id = :s AND seq = 40"),
            {"s": bad},
        )
    return fx, bad


def test_a_corrupt_session_is_reported_not_a_crashed_cohort(
    corrupt: tuple[Fixture, int], runner: Any
) -> None:
    fx, bad = corrupt
    local = cohort_table(fx.store)
    remote = cohort_table(fx.store, runner=runner)
    for r in (local, remote):
        assert [f.session_id for f in r.failed] == [bad]
        assert r.failed[0].error.startswith("ValueError: could not convert string to float")
        assert bad not in set(r.table["session_id"].tolist())
        assert set(r.table["session_id"].tolist()) == set(fx.sessions) - {bad}
    assert local.failed == remote.failed
    audits = [e for e in fx.store.list_audit(object_type="export") if e.action == "export.cohort"]
    assert [e.detail["failed"] for e in audits[-2:]] == [[bad], [bad]]
    _assert_same_table(local.table, remote.table)
    # the good sessions' rows are those of a cohort without the bad one
    _assert_same_table(
        cohort_table(fx.store, [s for s in fx.sessions if s != bad]).table, local.table
    )


def test_a_corrupt_session_is_left_out_of_the_research_export(
    corrupt: tuple[Fixture, int], runner: Any, tmp_path: Path
) -> None:
    fx, bad = corrupt
    a = export_research(fx.store, tmp_path / "a", format="both", rng=random.Random(2))
    b = export_research(
        fx.store, tmp_path / "b", format="both", rng=random.Random(2), runner=runner
    )
    for r in (a, b):
        assert [f.session_id for f in r.failed] == [bad]
        assert r.recordings == 4  # two good dyad sessions
        assert r.sessions == 2
        assert "could not be read: 1 session(s)" in (r.out_dir / "README").read_text()
    assert a.failed == b.failed
    fa, fb = _files(a.out_dir), _files(b.out_dir)
    assert list(fa) == list(fb)
    for name, path in fa.items():
        if name.endswith(".parquet"):
            _assert_same_parquet(path, fb[name])
        else:
            assert path.read_bytes() == fb[name].read_bytes(), name


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_bad_scheduler_address_is_a_clear_error() -> None:
    SchedulerError = dask_runner_module.SchedulerError
    with (
        pytest.raises(SchedulerError, match=r"could not reach the Dask scheduler at tcp://"),
        dask_runner_module.dask_runner(f"tcp://127.0.0.1:{_free_port()}", timeout_s=1.0),
    ):
        pass
    with (
        pytest.raises(SchedulerError, match=r"expected a Dask scheduler address like tcp://"),
        dask_runner_module.dask_runner("localhost"),
    ):
        pass
    with (
        pytest.raises(ExportError, match="either a scheduler address or a number of workers"),
        dask_runner_module.dask_runner(),
    ):
        pass


def test_the_cli_names_a_bad_scheduler(
    fx: Fixture, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "c.csv"
    code = main(
        ["cohort", "--out", str(out), "--database-url", fx.url, "--scheduler", "my-cluster:8786"]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "sintonia cohort: error: expected a Dask scheduler address like tcp://HOST:PORT" in err
    assert not out.exists()


def test_an_in_memory_database_cannot_go_to_workers() -> None:
    class Never:
        def map(self, fn: Any, jobs: Any) -> Any:
            raise AssertionError("no job may be sent")

    with Store.open("sqlite://") as store, pytest.raises(ExportError, match="in-memory"):
        cohort_table(store, runner=Never())


_PROBE = """
import json, sys
from server.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
"""


def _run_probe(*argv: str) -> tuple[int, set[str], str]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *argv], capture_output=True, text=True, timeout=300
    )
    info = json.loads(done.stderr.strip().splitlines()[-1])
    return int(info["code"]), {m.split(".")[0] for m in info["modules"]}, done.stdout


def test_without_dask_options_dask_is_not_imported(fx: Fixture, tmp_path: Path) -> None:
    code, modules, _ = _run_probe(
        "cohort", "--out", str(tmp_path / "c.csv"), "--database-url", fx.url, "--no-lf-hf"
    )
    assert code == 0
    assert not modules & {"dask", "distributed"}


def test_the_cli_on_a_local_cluster_writes_the_same_csv(
    fx: Fixture, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["cohort", "--database-url", fx.url, "--quiet"]
    assert main([*base, "--out", str(tmp_path / "a.csv")]) == 0
    assert main([*base, "--out", str(tmp_path / "b.csv"), "--workers", "2"]) == 0
    rows = len(cohort_table(fx.store).table["session_id"])
    assert f"wrote {rows} rows (8 recordings, 5 sessions)" in capsys.readouterr().out
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()


def test_the_cli_on_a_running_scheduler_writes_the_same_export(
    fx: Fixture, runner: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--scheduler`` with the address of the module's cluster (an existing one)."""
    base = ["export", "research", "--format", "tsv", "--database-url", fx.url, "--quiet"]
    address = runner.client.scheduler.address
    assert address.startswith("tcp://127.0.0.1:")
    assert main([*base[:2], str(tmp_path / "a"), *base[2:]]) == 0
    assert main([*base[:2], str(tmp_path / "b"), *base[2:], "--scheduler", address]) == 0
    assert "wrote 8 recording(s)" in capsys.readouterr().out
    # subject numbers are random per run; the recordings' files do not hold them
    fa, fb = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert len(fa) == len(fb)
    beh_a = sorted(p.read_bytes() for n, p in fa.items() if "/beh/" in n)
    beh_b = sorted(p.read_bytes() for n, p in fb.items() if "/beh/" in n)
    assert len(beh_a) == 8 * 6  # physio, events and phases, each with its sidecar
    assert beh_a == beh_b
