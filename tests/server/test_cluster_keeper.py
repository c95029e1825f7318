"""The lease keeper (issue 16, item 1): renewal in the background, loss reported at once,
orphaned live sessions offered for takeover, on a real SQLite file and PostgreSQL."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa

from server.cluster.keeper import LeaseKeeper
from server.cluster.leases import SessionLeases
from server.storage.store import Store

_TEMPLATE = {"name": "t", "phases": [{"id": "a", "label": "A", "duration_s": 60}]}


def _sessions(store: Store, n: int) -> list[int]:
    return [store.create_session(_TEMPLATE).id for _ in range(n)]


def test_held_leases_outlive_their_ttl_while_the_keeper_runs(store: Store) -> None:
    [sid] = _sessions(store, 1)
    lost: list[int] = []

    async def on_lost(s: int) -> None:
        lost.append(s)

    async def run() -> None:
        keeper = LeaseKeeper(SessionLeases(store.engine, "a", ttl_s=0.3), on_lost=on_lost)
        assert await keeper.acquire(sid) is not None
        keeper.start()
        await asyncio.sleep(1.2)  # four TTLs
        other = SessionLeases(store.engine, "b", ttl_s=5)
        assert other.acquire(sid) is None  # still held
        assert keeper.current(sid) is not None
        assert keeper.renewals >= 3
        await keeper.aclose()
        assert other.acquire(sid) is not None  # released on close: taken at once

    asyncio.run(run())
    assert lost == []


def test_a_lease_taken_over_is_reported_lost_and_dropped(store: Store) -> None:
    [sid] = _sessions(store, 1)
    lost: list[int] = []

    async def on_lost(s: int) -> None:
        lost.append(s)

    async def run() -> None:
        keeper = LeaseKeeper(SessionLeases(store.engine, "a", ttl_s=0.3), on_lost=on_lost)
        assert await keeper.acquire(sid) is not None
        await asyncio.sleep(0.45)  # it was not renewed (no background task): expired
        assert SessionLeases(store.engine, "b", ttl_s=5).acquire(sid) is not None
        await keeper.tick()
        assert keeper.current(sid) is None
        assert keeper.lost == 1

    asyncio.run(run())
    assert lost == [sid]


def test_orphans_are_offered_and_held_or_fresh_leases_are_not(store: Store) -> None:
    orphan, mine, theirs, never = _sessions(store, 4)
    offered: list[int] = []

    async def on_lost(s: int) -> None:
        raise AssertionError(f"lost {s}")

    async def on_orphan(s: int) -> None:
        offered.append(s)

    async def run() -> None:
        dead = SessionLeases(store.engine, "dead", ttl_s=0.2)
        assert dead.acquire(orphan) is not None
        assert SessionLeases(store.engine, "alive", ttl_s=30).acquire(theirs) is not None
        keeper = LeaseKeeper(
            SessionLeases(store.engine, "me", ttl_s=30),
            on_lost=on_lost,
            on_orphan=on_orphan,
            candidates=lambda: [orphan, mine, theirs, never],
        )
        assert await keeper.acquire(mine) is not None
        await asyncio.sleep(0.3)
        await keeper.tick()
        await keeper.aclose()

    asyncio.run(run())
    assert sorted(offered) == sorted([orphan, never])


def test_an_unreachable_database_keeps_the_lease_until_the_local_deadline(
    store: Store,
) -> None:
    [sid] = _sessions(store, 1)
    lost: list[int] = []

    async def on_lost(s: int) -> None:
        lost.append(s)

    class Clock:
        t = 0.0

        def __call__(self) -> float:
            return self.t

    clock = Clock()
    leases = SessionLeases(store.engine, "a", ttl_s=10, monotonic=clock)

    async def run() -> None:
        keeper = LeaseKeeper(leases, on_lost=on_lost, monotonic=clock)
        assert await keeper.acquire(sid) is not None
        broken = sa.create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
        leases._engine = broken  # the database goes away
        clock.t = 5.0  # within the local deadline (0.8 x 10 s)
        await keeper.tick()
        assert not keeper.database_ok
        assert keeper.current(sid) is not None
        assert lost == []
        clock.t = 8.5  # past it: the holder stops on its own
        await keeper.tick()
        assert keeper.current(sid) is None
        broken.dispose()

    asyncio.run(run())
    assert lost == [sid]
