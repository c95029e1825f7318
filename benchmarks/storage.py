"""Beat storage throughput and commit latency: BeatWriter vs one row per transaction.

Run as ``python benchmarks/storage.py [--beats N] [--no-postgres]``. For each backend (SQLite
WAL with ``synchronous=NORMAL``, SQLite with ``FULL``, PostgreSQL when reachable at
``SINTONIA_TEST_POSTGRES_URL`` or ``postgresql+psycopg://postgres:postgres@127.0.0.1:5432/test``,
in a temporary schema) it measures, in the same run:

* ``writer_beats_per_s``: beats submitted to :class:`server.storage.writer.BeatWriter` as fast as
  possible (notifications of 2 beats from 100 dyads) until the last one is committed;
* ``naive_beats_per_s``: the baseline, each beat inserted and committed on its own
  (``INSERT`` + ``COMMIT`` per row through the same engine);
* ``speedup``: the ratio of the two;
* ``latency_p50_ms`` / ``latency_p99_ms`` / ``latency_max_ms``: from ``submit`` to commit for
  100 dyads at the real rate (two straps each, one 2-beat notification every 1.6 s per strap,
  i.e. 125 notifications/s) for a few seconds; the durability requirement is < 1000 ms.

The last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

# `python benchmarks/storage.py` puts benchmarks/ first on sys.path, where a benchmark named like a
# package (benchmarks/sensor.py) would shadow it: import the installed packages instead.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    del sys.path[0]

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from sensor.types import BeatBatch
from server.storage import schema
from server.storage.settings import StorageSettings, make_engine
from server.storage.store import DeviceAssignment, Store
from server.storage.writer import BeatWriter

PG_DEFAULT = "postgresql+psycopg://postgres:postgres@127.0.0.1:5432/test"
N_DYADS = 100
BEATS_PER_NOTIFICATION = 2


def _batch(seq: int, device: str) -> BeatBatch:
    k = np.arange(seq, seq + BEATS_PER_NOTIFICATION, dtype=np.float64)
    return BeatBatch(
        "p", device, 780.0 + k % 41, (800, 801), time.time(), 1e9 + 0.8 * k, True, None, seq
    )


def _setup(store: Store) -> list[tuple[int, int]]:
    """100 live dyads with storage consent; returns the (session, participant) pairs."""
    pairs = []
    for d in range(N_DYADS):
        pats = [store.create_participant(f"{r}-{d}", r) for r in ("patient", "therapist")]
        sid = store.create_session(
            {"phases": []}, participants=[DeviceAssignment(p.id, "simulator") for p in pats]
        ).id
        for p in pats:
            store.grant_consent(p.id, "storage", "v1")
            pairs.append((sid, p.id))
    return pairs


def _writer_throughput(store: Store, pairs: list[tuple[int, int]], n_beats: int) -> float:
    n_notif = n_beats // BEATS_PER_NOTIFICATION
    batches = [
        (pairs[i % len(pairs)], _batch(BEATS_PER_NOTIFICATION * (i // len(pairs)), "dev"))
        for i in range(n_notif)
    ]
    t0 = time.perf_counter()
    with BeatWriter(store) as writer:
        for (sid, pid), b in batches:
            writer.submit(sid, pid, b)
        writer.wait_durable()
    elapsed = time.perf_counter() - t0
    assert writer.stats.written_beats == n_notif * BEATS_PER_NOTIFICATION, writer.stats
    return n_notif * BEATS_PER_NOTIFICATION / elapsed


def _naive_throughput(store: Store, pair: tuple[int, int], n_beats: int) -> float:
    sid, pid = pair
    engine = store.engine
    t0 = time.perf_counter()
    for i in range(n_beats):
        with engine.begin() as conn:
            conn.execute(
                sa.insert(schema.beats).values(
                    session_id=sid,
                    participant_id=pid,
                    device="naive",
                    seq=i,
                    rr_ms=800.0,
                    rr_raw=819,
                    host_time_s=1e9 + i,
                    beat_time_s=1e9 + i,
                    contact=True,
                    gap_before=False,
                )
            )
    return n_beats / (time.perf_counter() - t0)


def _commit_latency(store: Store, pairs: list[tuple[int, int]], duration_s: float) -> np.ndarray:
    """Submit-to-commit latency (s) at the real rate of 100 dyads."""
    interval_s = 1.6 / len(pairs)  # each strap every 1.6 s
    submitted: list[float] = []
    durable_at: dict[int, float] = {}
    stop = threading.Event()
    writer = BeatWriter(store)

    def watch() -> None:
        seen = -1
        while not stop.is_set() or seen < len(submitted) - 1:
            d = writer.durable_ticket
            now = time.perf_counter()
            for tk in range(seen + 1, d + 1):
                durable_at[tk] = now
            seen = max(seen, d)
            time.sleep(0.0005)

    watcher = threading.Thread(target=watch)
    watcher.start()
    t_next = time.perf_counter()
    i = 0
    end = t_next + duration_s
    while t_next < end:
        sid, pid = pairs[i % len(pairs)]
        submitted.append(time.perf_counter())
        writer.submit(sid, pid, _batch(10_000_000 + BEATS_PER_NOTIFICATION * i, "live"))
        i += 1
        t_next += interval_s
        time.sleep(max(0.0, t_next - time.perf_counter()))
    writer.close()
    stop.set()
    watcher.join()
    return np.array([durable_at[k] - submitted[k] for k in range(len(submitted))])


def _bench(
    label: str, target: StorageSettings | str, n_beats: int, n_naive: int, latency_s: float
) -> dict[str, Any]:
    store = Store.open(target)
    try:
        pairs = _setup(store)
        writer_rate = _writer_throughput(store, pairs, n_beats)
        naive_rate = _naive_throughput(store, pairs[0], n_naive)
        lat = _commit_latency(store, pairs, latency_s) * 1e3
    finally:
        store.close()
    return {
        "backend": label,
        "writer_beats_per_s": round(writer_rate, 1),
        "naive_beats_per_s": round(naive_rate, 1),
        "speedup": round(writer_rate / naive_rate, 1),
        "latency_p50_ms": round(float(np.percentile(lat, 50)), 1),
        "latency_p99_ms": round(float(np.percentile(lat, 99)), 1),
        "latency_max_ms": round(float(lat.max()), 1),
        "latency_samples": int(lat.size),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--beats", type=int, default=20_000, help="beats for the writer run")
    parser.add_argument("--naive-beats", type=int, default=1_000, help="beats for the baseline")
    parser.add_argument("--latency-seconds", type=float, default=4.0)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for sync in ("NORMAL", "FULL"):
            settings = StorageSettings(Path(tmp) / sync.lower(), None, sync)
            results.append(
                _bench(
                    f"sqlite-{sync.lower()}",
                    settings,
                    args.beats,
                    args.naive_beats,
                    args.latency_seconds,
                )
            )
    if not args.no_postgres:
        admin = os.environ.get("SINTONIA_TEST_POSTGRES_URL", PG_DEFAULT)
        name = f"sintonia_bench_{secrets.token_hex(4)}"
        engine = make_engine(admin, connect_args={"connect_timeout": 3})
        try:
            with engine.begin() as conn:
                conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))
            url = make_url(admin).update_query_dict({"options": f"-csearch_path={name}"})
            try:
                results.append(
                    _bench(
                        "postgresql",
                        url.render_as_string(hide_password=False),
                        args.beats,
                        args.naive_beats,
                        args.latency_seconds,
                    )
                )
            finally:
                with engine.begin() as conn:
                    conn.execute(sa.text(f'DROP SCHEMA "{name}" CASCADE'))
        except sa.exc.OperationalError as exc:
            print(f"PostgreSQL skipped: {exc.orig}")
        finally:
            engine.dispose()

    header = (
        f"{'backend':<14}{'writer beats/s':>16}{'naive beats/s':>15}{'speedup':>9}"
        f"{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
    )
    print(f"BeatWriter vs one INSERT+COMMIT per beat; commit latency of {N_DYADS} live dyads")
    print(header)
    for r in results:
        print(
            f"{r['backend']:<14}{r['writer_beats_per_s']:>16,.0f}{r['naive_beats_per_s']:>15,.0f}"
            f"{r['speedup']:>8.1f}x{r['latency_p50_ms']:>9.1f}{r['latency_p99_ms']:>9.1f}"
            f"{r['latency_max_ms']:>9.1f}"
        )
    print(
        json.dumps(
            {"benchmark": "storage", "baseline": "one INSERT+COMMIT per beat", "results": results}
        )
    )


if __name__ == "__main__":
    main()
