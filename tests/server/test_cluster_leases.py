"""Session leases (issue 16, item 1) on a real SQLite file and a real PostgreSQL database.

What must hold: one holder at a time; a dead holder is replaced once its lease expires (by the
database's clock) and the epoch grows; a holder that lost its lease can neither renew nor pass the
fence; a holder that cannot renew stops on its own clock before anyone can take over; on
PostgreSQL a write that passed the fence commits before a takeover of the same row.
"""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from server.cluster.leases import (
    SAFETY,
    LeaseConfigError,
    LeaseLostError,
    SessionLeases,
)
from server.storage.settings import make_engine
from server.storage.store import Store

_TEMPLATE = {"name": "t", "phases": [{"id": "a", "label": "A", "duration_s": 60}]}


@pytest.fixture
def engine(store: Store) -> sa.Engine:
    return store.engine


@pytest.fixture
def sid(store: Store) -> int:
    return store.create_session(_TEMPLATE).id


class _Mono:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_one_holder_at_a_time_and_reacquire_keeps_the_epoch(engine: sa.Engine, sid: int) -> None:
    a = SessionLeases(engine, "proc-a", ttl_s=30)
    b = SessionLeases(engine, "proc-b", ttl_s=30)
    la = a.acquire(sid)
    assert la is not None
    assert la.epoch == 1
    assert la.owner == "proc-a"
    assert b.acquire(sid) is None
    again = a.acquire(sid)
    assert again is not None
    assert again.epoch == la.epoch
    [holder] = a.holders()
    assert (holder.session_id, holder.owner, holder.epoch) == (sid, "proc-a", 1)
    assert 0 < holder.expires_in_s <= 30
    assert not holder.expired


def test_expired_lease_is_taken_over_and_the_old_holder_is_fenced(
    engine: sa.Engine, sid: int
) -> None:
    a = SessionLeases(engine, "proc-a", ttl_s=0.3)
    b = SessionLeases(engine, "proc-b", ttl_s=30)
    la = a.acquire(sid)
    assert la is not None
    assert b.acquire(sid) is None
    time.sleep(0.45)  # past the TTL by the database's clock
    lb = b.acquire(sid)
    assert lb is not None
    assert lb.epoch == la.epoch + 1
    assert a.renew(la) is None
    with engine.begin() as conn:
        b.fence(conn, lb)
    # A's local deadline has passed as well, so build one that has not, to reach the row check.
    fresh = type(la)(la.session_id, la.owner, la.epoch, time.monotonic() + 60)
    with pytest.raises(LeaseLostError), engine.begin() as conn:
        a.fence(conn, fresh)


def test_a_late_renewal_fails_even_when_nobody_took_the_session(
    engine: sa.Engine, sid: int
) -> None:
    a = SessionLeases(engine, "proc-a", ttl_s=0.2)
    la = a.acquire(sid)
    assert la is not None
    time.sleep(0.35)
    assert a.renew(la) is None
    # It may acquire again, but under a new epoch: whatever it wrote before is fenced off.
    again = a.acquire(sid)
    assert again is not None
    assert again.epoch == la.epoch + 1


def test_release_lets_another_take_over_at_once_and_epochs_never_go_back(
    engine: sa.Engine, sid: int
) -> None:
    a = SessionLeases(engine, "proc-a", ttl_s=30)
    b = SessionLeases(engine, "proc-b", ttl_s=30)
    epochs = []
    for _ in range(3):
        la = a.acquire(sid)
        assert la is not None
        epochs.append(la.epoch)
        a.release(la)
        lb = b.acquire(sid)
        assert lb is not None
        epochs.append(lb.epoch)
        b.release(lb)
    assert epochs == sorted(epochs)
    assert len(set(epochs)) == len(epochs)


def test_the_holder_stops_on_its_own_clock_before_the_database_expires_it(
    engine: sa.Engine, sid: int
) -> None:
    mono = _Mono()
    a = SessionLeases(engine, "proc-a", ttl_s=10, monotonic=mono)
    la = a.acquire(sid)
    assert la is not None
    assert la.deadline == pytest.approx(100.0 + SAFETY * 10)
    with engine.begin() as conn:
        a.fence(conn, la)
    mono.t += SAFETY * 10 + 0.01  # e.g. the database became unreachable for that long
    assert not la.valid(mono.t)
    with pytest.raises(LeaseLostError), engine.begin() as conn:
        a.fence(conn, la)  # refused without trusting the row, which still says "valid"
    renewed = a.renew(la)  # once the database answers again, renewal restores it
    assert renewed is not None
    assert renewed.valid(mono.t)


def test_racing_processes_for_an_expired_lease_yield_exactly_one_winner(
    engine: sa.Engine, sid: int, backend: str
) -> None:
    if backend == "sqlite":
        pytest.skip("several processes share PostgreSQL; SQLite is the one-process default")
    first = SessionLeases(engine, "proc-0", ttl_s=0.2)
    assert first.acquire(sid) is not None
    time.sleep(0.3)
    url = engine.url.render_as_string(hide_password=False)
    winners: list[str] = []
    barrier = threading.Barrier(6)

    def race(i: int) -> None:
        eng = make_engine(url)
        try:
            leases = SessionLeases(eng, f"racer-{i}", ttl_s=30)
            barrier.wait()
            if leases.acquire(sid) is not None:
                winners.append(f"racer-{i}")
        finally:
            eng.dispose()

    threads = [threading.Thread(target=race, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert len(winners) == 1
    [holder] = first.holders()
    assert holder.owner == winners[0]
    assert holder.epoch == 2


def test_a_fenced_write_commits_before_a_takeover_on_postgresql(
    engine: sa.Engine, sid: int, backend: str
) -> None:
    if backend == "sqlite":
        pytest.skip("row locks are PostgreSQL's; SQLite has one writer at a time anyway")
    a = SessionLeases(engine, "proc-a", ttl_s=0.5)
    la = a.acquire(sid)
    assert la is not None
    url = engine.url.render_as_string(hide_password=False)
    order: list[str] = []
    taken = threading.Event()

    def take_over() -> None:
        eng = make_engine(url)
        try:
            b = SessionLeases(eng, "proc-b", ttl_s=30)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if b.acquire(sid) is not None:
                    order.append("takeover")
                    taken.set()
                    return
                time.sleep(0.05)
        finally:
            eng.dispose()

    with engine.begin() as conn:
        a.fence(conn, la)  # share-locks the lease row until this transaction ends
        thread = threading.Thread(target=take_over)
        thread.start()
        time.sleep(0.9)  # the lease expires meanwhile; B's UPDATE waits for the lock
        assert not taken.is_set()
        order.append("fenced write")
    thread.join(10)
    assert order == ["fenced write", "takeover"]


@pytest.mark.parametrize(
    ("owner", "ttl"), [("", 5.0), ("x" * 129, 5.0), ("ok", 0.0), ("ok", 1e9), ("ok", float("nan"))]
)
def test_bad_parameters_are_refused_with_a_clear_error(
    engine: sa.Engine, owner: str, ttl: float
) -> None:
    with pytest.raises(LeaseConfigError):
        SessionLeases(engine, owner, ttl_s=ttl)


def test_derived_writes_are_fenced_by_the_lease(store: Store, sid: int) -> None:
    """A process that lost a session's lease can store no phase event, no cue and no stop for
    it (the store's ``session_guard``, as the coordinator sets it), and nothing is written."""
    a = SessionLeases(store.engine, "proc-a", ttl_s=0.3)
    la = a.acquire(sid)
    assert la is not None
    held = {"lease": la}

    def guard(conn: sa.Connection, session_id: int) -> None:
        a.fence(conn, held["lease"])

    store.session_guard = guard
    store.start_session(sid)
    store.record_phase_event(sid, 0, "a", "enter")  # held: stored
    assert len(store.list_phase_events(sid)) == 1
    time.sleep(0.45)
    lb = SessionLeases(store.engine, "proc-b", ttl_s=30).acquire(sid)
    assert lb is not None  # taken over
    held["lease"] = type(la)(la.session_id, la.owner, la.epoch, time.monotonic() + 60)
    with pytest.raises(LeaseLostError):
        store.record_phase_event(sid, 0, "a", "extend", extend_s=60)
    with pytest.raises(LeaseLostError):
        store.add_cue(sid, "grounding", "Try grounding", {"why": "test"})
    with pytest.raises(LeaseLostError):
        store.stop_session(sid)
    assert len(store.list_phase_events(sid)) == 1
    assert store.list_cues(sid) == []
    assert store.get_session(sid).status == "live"


def test_renewing_every_lease_in_one_statement_keeps_held_ones_and_reports_lost_ones(
    store: Store,
) -> None:
    sids = [store.create_session(_TEMPLATE).id for _ in range(5)]
    a = SessionLeases(store.engine, "proc-a", ttl_s=0.3)
    held = [a.acquire(s) for s in sids]
    assert all(x is not None for x in held)
    leases = [x for x in held if x is not None]
    renewed = a.renew_all(leases)
    assert all(renewed[x.session_id] is not None for x in leases)
    time.sleep(0.45)
    b = SessionLeases(store.engine, "proc-b", ttl_s=30)
    assert b.acquire(sids[0]) is not None  # one taken over, the others merely expired
    after = a.renew_all(leases)
    assert after == dict.fromkeys(sids)  # a late renewal keeps none
    assert a.renew_all([]) == {}


def test_a_process_without_a_lease_is_fenced_only_by_another_holder(
    engine: sa.Engine, sid: int
) -> None:
    a = SessionLeases(engine, "proc-a", ttl_s=0.3)
    b = SessionLeases(engine, "proc-b", ttl_s=0.3)
    with engine.begin() as conn:
        a.fence_unleased(conn, sid)  # nobody runs the session: a tool may write
    assert b.acquire(sid) is not None
    with pytest.raises(LeaseLostError), engine.begin() as conn:
        a.fence_unleased(conn, sid)  # B runs it now
    time.sleep(0.45)
    with engine.begin() as conn:
        a.fence_unleased(conn, sid)  # B's lease expired: no other owner left
