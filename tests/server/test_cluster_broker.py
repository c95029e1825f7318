"""The message broker between server processes (issue 16, item 2): in-process and real Redis.

Each case runs on both brokers: history since a time then live messages in order, several
followers seeing the same order, resuming after an id without a duplicate, clear errors for an
unreachable broker and a bad channel. Redis cases use the machine's Redis (127.0.0.1:6379) and a
channel of their own; they are skipped with the reason when Redis does not answer, and fail
under CI.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Final

import pytest

from server.cluster.broker import (
    BrokerError,
    BrokerMessage,
    LocalBroker,
    RedisBroker,
    open_broker,
)

REDIS_URL: Final[str] = os.environ.get("SINTONIA_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(params=["local", "redis"])
def kind(request: pytest.FixtureRequest) -> str:
    if request.param == "redis" and not _redis_up():
        if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
            pytest.fail("Redis not reachable on 127.0.0.1:6379 (CI must test the Redis broker)")
        pytest.skip("Redis not reachable on 127.0.0.1:6379")
    return str(request.param)


def _run(kind: str, body: Callable[[LocalBroker | RedisBroker], Awaitable[None]]) -> None:
    """Run ``body`` with a broker made inside the event loop (a Redis client belongs to one)."""

    async def go() -> None:
        b = open_broker(None if kind == "local" else REDIS_URL)
        try:
            await body(b)
        finally:
            await b.aclose()

    asyncio.run(go())


def _channel() -> str:
    return f"test:{os.getpid()}:{secrets.token_hex(4)}"


async def _take(it: AsyncIterator[BrokerMessage], n: int, timeout: float = 5.0) -> list[bytes]:
    out: list[bytes] = []

    async def go() -> None:
        async for m in it:
            out.append(m.data)
            if len(out) == n:
                return

    await asyncio.wait_for(go(), timeout)
    return out


def test_history_since_a_time_then_live_messages_in_order(
    kind: str,
) -> None:
    async def run(broker: LocalBroker | RedisBroker) -> None:
        ch = _channel()
        t0 = time.time() - 1.0
        for i in range(5):
            await broker.publish(ch, b"old-%d" % i)
        follower = broker.follow(ch, since_s=t0)
        first = await _take(follower, 5)
        assert first == [b"old-%d" % i for i in range(5)]

        async def later() -> None:
            await asyncio.sleep(0.1)
            for i in range(5):
                await broker.publish(ch, b"new-%d" % i)

        task = asyncio.create_task(later())
        rest = await _take(follower, 5)
        await task
        assert rest == [b"new-%d" % i for i in range(5)]
        await follower.aclose()  # type: ignore[attr-defined]

    _run(kind, run)


def test_followers_see_one_order_and_resume_after_an_id_without_duplicates(
    kind: str,
) -> None:
    async def run(broker: LocalBroker | RedisBroker) -> None:
        ch = _channel()
        ids = [await broker.publish(ch, b"m%d" % i) for i in range(20)]
        assert ids == sorted(ids, key=lambda s: tuple(int(x) for x in s.split("-")))
        assert len(set(ids)) == 20
        a = broker.follow(ch, since_s=0.0)
        b = broker.follow(ch, since_s=0.0)
        got_a, got_b = await asyncio.gather(_take(a, 20), _take(b, 20))
        assert got_a == got_b == [b"m%d" % i for i in range(20)]
        resumed = broker.follow(ch, after_id=ids[9])
        assert await _take(resumed, 10) == [b"m%d" % i for i in range(10, 20)]
        for it in (a, b, resumed):
            await it.aclose()  # type: ignore[attr-defined]

    _run(kind, run)


def test_a_new_follower_without_since_sees_only_new_messages(
    kind: str,
) -> None:
    async def run(broker: LocalBroker | RedisBroker) -> None:
        ch = _channel()
        await broker.publish(ch, b"before")
        follower = broker.follow(ch)
        pending = asyncio.ensure_future(_take(follower, 1))
        await asyncio.sleep(0.2)  # the follower is waiting
        await broker.publish(ch, b"after")
        assert await pending == [b"after"]
        await follower.aclose()  # type: ignore[attr-defined]

    _run(kind, run)


@pytest.mark.parametrize("bad", ["", "x" * 201, "sessión"])
def test_bad_channel_names_are_refused(kind: str, bad: str) -> None:
    async def run(broker: LocalBroker | RedisBroker) -> None:
        with pytest.raises(BrokerError):
            await broker.publish(bad, b"x")

    _run(kind, run)


def test_an_unreachable_redis_gives_a_clear_error_without_the_url() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    b = RedisBroker(f"redis://:secret-pw@127.0.0.1:{port}/0")

    async def run() -> None:
        with pytest.raises(BrokerError) as err:
            await b.publish("x", b"y")
        assert "secret-pw" not in str(err.value)
        with pytest.raises(BrokerError):
            await b.ping()
        await b.aclose()

    asyncio.run(run())


@pytest.mark.parametrize("url", ["http://127.0.0.1:6379", "postgresql://x", "redis"])
def test_unknown_broker_urls_are_refused(url: str) -> None:
    with pytest.raises(BrokerError):
        open_broker(url)
