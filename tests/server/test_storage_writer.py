"""BeatWriter: group commits, idempotent retries, rejection, and survival of a kill -9."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

from sensor.types import BeatBatch, DeviceEvent
from server.storage.errors import StorageError
from server.storage.settings import make_engine
from server.storage.store import AppendResult, DeviceAssignment, Store
from server.storage.writer import MAX_COMMIT_INTERVAL_S, BeatWriter


def beats(seq: int, n: int, device: str = "AA:01") -> BeatBatch:
    k = np.arange(seq, seq + n, dtype=np.float64)
    return BeatBatch(
        "p",
        device,
        700.0 + (k % 97),
        tuple(int(x) for x in 717 + k % 97),
        100.0 + 0.7 * (seq + n),
        100.0 + 0.7 * k,
        True,
        None,
        seq,
        seq == 0,
    )


def consenting_dyad(store: Store) -> tuple[int, int, int]:
    a = store.create_participant("P-1", "patient")
    b = store.create_participant("T-1", "therapist")
    sid = store.create_session({"phases": []}).id
    for pid in (a.id, b.id):
        store.grant_consent(pid, "storage", "v1")
    return sid, a.id, b.id


def test_writer_stores_everything_it_is_given(store: Store) -> None:
    sid, a, b = consenting_dyad(store)
    with BeatWriter(store, linger_s=0.02) as writer:
        tickets = []
        for i in range(40):
            tickets.append(writer.submit(sid, a, beats(3 * i, 3)))
            tickets.append(writer.submit(sid, b, beats(2 * i, 2, device="sim:1")))
        tickets.append(writer.submit(sid, a, DeviceEvent("p", "AA:01", "battery", 5.0, 90.0)))
        assert tickets == list(range(81))  # tickets follow the order of the calls
        assert writer.wait_durable(timeout=30.0)
        assert writer.durable_ticket == 80
    stats = writer.stats
    assert (stats.written_beats, stats.written_events, stats.pending_items) == (200, 1, 0)
    assert stats.commits >= 1
    assert store.count_beats(sid, participant_id=a) == 120
    assert store.count_beats(sid, participant_id=b) == 80
    np.testing.assert_array_equal(store.read_beats(sid, participant_id=a).seq, np.arange(120))


def test_writer_counts_duplicates_and_refusals(store: Store) -> None:
    sid, a, _ = consenting_dyad(store)
    outsider = store.create_participant("X-1", "patient").id  # no storage consent
    with BeatWriter(store) as writer:
        writer.submit(sid, a, beats(0, 10))
        writer.wait_durable(timeout=30.0)
        writer.submit(sid, a, beats(5, 10))  # half of it again: a retried notification
        writer.submit(sid, outsider, beats(0, 4))
    s = writer.stats
    assert (s.written_beats, s.duplicate_beats, s.refused_beats) == (15, 5, 4)
    assert store.count_beats(sid) == 15


def test_a_bad_item_is_rejected_without_losing_its_group(store: Store) -> None:
    sid, a, _ = consenting_dyad(store)
    bad = beats(100, 3)
    bad.rr_ms[2] = -1.0
    writer = BeatWriter(store, linger_s=0.5)  # long linger: all three land in one group
    writer.submit(sid, a, beats(0, 5))
    writer.submit(sid, a, bad)
    writer.submit(9999, a, beats(0, 2))  # unknown session
    writer.submit(sid, a, beats(5, 5))
    writer.close()
    # the corrupt -1.0 costs its batch nothing else: 5 + 2 + 5 beats, one invalid_rr event
    assert store.count_beats(sid) == 12
    assert [r.ticket for r in writer.rejected] == [2]
    assert "no session" in writer.rejected[0].error
    assert writer.stats.rejected_items == 1
    assert writer.stats.invalid_values == 1
    (event,) = [e for e in store.list_device_events(sid) if e.kind == "invalid_rr"]
    assert event.detail["seq"] == "102"
    assert event.detail["values"] == "-1.0"


def test_transient_database_errors_are_retried(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    sid, a, _ = consenting_dyad(store)
    real = store.append_live
    failures = {"left": 2}

    def flaky(*args: Any, **kwargs: Any) -> tuple[AppendResult, int]:
        if failures["left"]:
            failures["left"] -= 1
            raise sa.exc.OperationalError("INSERT", {}, Exception("server closed the connection"))
        return real(*args, **kwargs)

    monkeypatch.setattr(store, "append_live", flaky)
    with BeatWriter(store) as writer:
        writer.submit(sid, a, beats(0, 8))
    assert writer.stats.transient_errors == 2
    assert store.count_beats(sid) == 8


def test_submit_after_close_and_bad_arguments(store: Store) -> None:
    sid, a, _ = consenting_dyad(store)
    writer = BeatWriter(store)
    writer.close()
    with pytest.raises(StorageError, match="closed"):
        writer.submit(sid, a, beats(0, 1))
    with pytest.raises(ValueError, match="linger_s"):
        BeatWriter(store, linger_s=MAX_COMMIT_INTERVAL_S + 0.5)
    with BeatWriter(store) as w2, pytest.raises(ValueError, match="participant_id"):
        w2.submit(sid, None, beats(0, 1))


def test_wait_durable_from_asyncio(store: Store) -> None:
    sid, a, _ = consenting_dyad(store)

    async def main() -> bool:
        with BeatWriter(store) as writer:
            ticket = writer.submit(sid, a, beats(0, 4))
            return await writer.wait_durable_async(ticket, timeout=30.0)

    assert asyncio.run(main())
    assert store.count_beats(sid) == 4


_CHILD = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from sensor.types import BeatBatch
    from server.storage.settings import make_engine
    from server.storage.store import Store
    from server.storage.writer import BeatWriter

    url, sid, pid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    store = Store(make_engine(url))
    writer = BeatWriter(store)
    seq = 0
    while True:
        n = 1 + seq % 3
        k = np.arange(seq, seq + n, dtype=np.float64)
        rr = 600.0 + (k % 401)
        batch = BeatBatch("patient", "AA:BB", rr, None, time.time(), 1e9 + k, True, None, seq,
                          seq == 0)
        writer.submit(sid, pid, batch)
        seq += n
        # Every beat with seq < this count was enqueued at this monotonic time.
        sys.stdout.write(f"{seq} {time.monotonic()!r}\\n")
        sys.stdout.flush()
        time.sleep(0.005)
    """
)


@pytest.mark.slow
def test_kill_9_loses_at_most_the_last_second(database_url: str, tmp_path: Path) -> None:
    store = Store(make_engine(database_url))
    p = store.create_participant("P-1", "patient")
    session = store.create_session({"phases": []}, participants=[DeviceAssignment(p.id, "ble")])
    store.grant_consent(p.id, "storage", "v1")
    store.start_session(session.id)
    store.close()

    script = tmp_path / "writer_child.py"
    script.write_text(_CHILD)
    child = subprocess.Popen(
        [sys.executable, str(script), database_url, str(session.id), str(p.id)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert child.stdout is not None
    progress: list[tuple[int, float]] = []
    try:
        first_line_at = None
        while True:
            line = child.stdout.readline()
            assert line, f"the writer process died early (exit code {child.poll()})"
            count, stamp = line.split()
            progress.append((int(count), float(stamp)))
            first_line_at = first_line_at or time.monotonic()
            if time.monotonic() - first_line_at > 2.5:
                break
        kill_at = time.monotonic()
        child.send_signal(signal.SIGKILL)
        rest, _ = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL
    progress += [(int(c), float(s)) for c, s in (ln.split() for ln in rest.splitlines() if ln)]

    # Restart: the store is reopened, the crashed live session is marked interrupted.
    reopened = Store.open(database_url)
    try:
        assert reopened.mark_interrupted_sessions() == [session.id]
        assert reopened.get_session(session.id).status == "interrupted"
        stored = reopened.read_beats(session.id, limit=100_000)
    finally:
        reopened.close()

    must_have = max(c for c, s in progress if s < kill_at - MAX_COMMIT_INTERVAL_S)
    assert must_have > 100  # the check is not vacuous
    n = len(stored)
    assert n >= must_have, f"{must_have - n} beats enqueued >1 s before the kill were lost"
    assert n <= progress[-1][0]
    # Group commits are FIFO: what survived is an unbroken prefix, with the values written.
    np.testing.assert_array_equal(stored.seq, np.arange(n))
    np.testing.assert_array_equal(stored.rr_ms, 600.0 + np.arange(n) % 401)


def test_queued_items_are_committed_as_one_group(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    sid, a, _ = consenting_dyad(store)
    real = store.append_live
    entered, release = threading.Event(), threading.Event()
    groups: list[int] = []

    def gated(beat_items: Any, events: Any, **kw: Any) -> tuple[AppendResult, int]:
        entered.set()
        release.wait(30.0)  # the first write blocks until everything else is queued
        groups.append(len(beat_items))
        return real(beat_items, events, **kw)

    monkeypatch.setattr(store, "append_live", gated)
    writer = BeatWriter(store, linger_s=0.01)
    writer.submit(sid, a, beats(0, 1))
    assert entered.wait(30.0)  # the writer has taken the first item and is writing it
    for i in range(1, 60):
        writer.submit(sid, a, beats(i, 1))
    release.set()
    writer.close()
    # Group commit: everything queued behind a slow write goes in the next transaction.
    assert groups == [1, 59]
    assert store.count_beats(sid) == 60


def test_revoking_storage_mid_stream_stores_nothing_more(store: Store) -> None:
    sid, a, b = consenting_dyad(store)
    with BeatWriter(store) as writer:
        for i in range(20):
            writer.submit(sid, a, beats(2 * i, 2))
            writer.submit(sid, b, beats(2 * i, 2, device="sim:1"))
        assert writer.wait_durable(timeout=30.0)
        revocation = store.revoke_consent(a, "storage")  # on_revoke="delete" by default
        for i in range(20, 40):
            writer.submit(sid, a, beats(2 * i, 2))
            writer.submit(sid, b, beats(2 * i, 2, device="sim:1"))
    assert revocation.erasure is not None
    assert revocation.erasure.rows["beats"] == 40
    assert store.count_beats(sid, participant_id=a) == 0
    assert store.count_beats(sid, participant_id=b) == 80
    assert writer.stats.refused_beats == 40


def test_api_writes_and_the_writer_share_the_database(store: Store) -> None:
    # SQLite allows one writer at a time: BEGIN IMMEDIATE + busy timeout make them queue.
    sid, a, _ = consenting_dyad(store)
    with BeatWriter(store, linger_s=0.01) as writer:
        for i in range(100):
            writer.submit(sid, a, beats(i, 1))
            if i % 4 == 0:
                store.add_marker(sid, "note", note=str(i))
    assert writer.stats.transient_errors == 0
    assert store.count_beats(sid) == 100
    assert len(store.list_markers(sid)) == 25
