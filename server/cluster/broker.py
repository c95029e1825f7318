"""Live messages between server processes: an ordered, replayable log per channel.

The process that computes a session (the lease holder) publishes each message to the session's
channel; every process that holds a subscriber of that session (a therapist's WebSocket) reads
the channel in order. A late joiner, or a subscriber whose process took over, first reads what
was published since a given time (its history window), then follows new messages: the same
history-then-live contract as the in-process hub.

Two implementations of one interface:

* :class:`LocalBroker`: in this process only (the embedded default: SQLite, one process, no
  service). A bounded log per channel, asyncio waiters.
* :class:`RedisBroker`: Redis Streams (``XADD`` with an approximate ``MAXLEN`` cap, ``XRANGE``
  for history by time, ``XREAD BLOCK`` to follow). A stream id starts with the Redis server's
  time in ms, so "since t" is a range query on the one clock all processes share, and ids give a
  total order per channel. Redis keeps nothing on disk in this deployment and needs not:
  the database holds every beat, and a message lost with Redis is rebuilt from storage by the
  next owner's replay.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Final, Protocol

from server.storage.errors import StorageError

__all__ = [
    "DEFAULT_MAXLEN",
    "Broker",
    "BrokerError",
    "BrokerMessage",
    "LocalBroker",
    "RedisBroker",
    "open_broker",
]

#: Messages kept per channel (about an hour of a dyad's live messages at 1-4 per second).
DEFAULT_MAXLEN: Final[int] = 20_000
_PREFIX: Final[str] = "sintonia:"
_MAX_CHANNEL: Final[int] = 200


class BrokerError(StorageError):
    """The broker is unreachable or refused an operation (bad URL, bad channel name)."""


@dataclass(frozen=True, slots=True)
class BrokerMessage:
    """One message read from a channel.

    Attributes
    ----------
    id : str
        Its id in the channel (``"<ms>-<n>"``): increasing, unique per channel.
    time_s : float
        When the broker took it, s since the epoch (the broker's clock).
    data : bytes
        The payload as published (a JSON document for live messages).
    """

    id: str
    time_s: float
    data: bytes


def _check_channel(channel: str) -> str:
    if not channel or len(channel) > _MAX_CHANNEL or not channel.isascii():
        raise BrokerError(f"bad channel name {channel[:40]!r}")
    return channel


def _id_parts(msg_id: str) -> tuple[int, int]:
    ms, _, n = msg_id.partition("-")
    return int(ms), int(n or 0)


class Broker(Protocol):
    """What the live path needs of a message broker."""

    async def publish(self, channel: str, data: bytes) -> str:
        """Append ``data`` to ``channel``; return its id."""
        ...

    def follow(
        self, channel: str, *, since_s: float | None = None, after_id: str | None = None
    ) -> AsyncIterator[BrokerMessage]:
        """Messages of ``channel`` in order: from ``after_id`` (exclusive) or from time
        ``since_s`` (inclusive), else only new ones; then new messages as they come."""
        ...

    async def ping(self) -> float:
        """Round trip to the broker, s (raises :class:`BrokerError` when unreachable)."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


class LocalBroker:
    """The in-process broker: a bounded log per channel (one process, no service)."""

    name: Final[str] = "local"

    def __init__(self, *, maxlen: int = DEFAULT_MAXLEN) -> None:
        self._maxlen = maxlen
        self._logs: dict[str, deque[BrokerMessage]] = {}
        self._changed: dict[str, asyncio.Condition] = {}
        self._last: tuple[int, int] = (0, -1)

    def _next_id(self) -> str:
        ms = int(time.time() * 1000)
        last_ms, n = self._last
        self._last = (ms, 0) if ms > last_ms else (last_ms, n + 1)
        return f"{self._last[0]}-{self._last[1]}"

    def _cond(self, channel: str) -> asyncio.Condition:
        cond = self._changed.get(channel)
        if cond is None:
            cond = self._changed[channel] = asyncio.Condition()
        return cond

    async def publish(self, channel: str, data: bytes) -> str:
        _check_channel(channel)
        msg_id = self._next_id()
        log = self._logs.setdefault(channel, deque(maxlen=self._maxlen))
        log.append(BrokerMessage(msg_id, _id_parts(msg_id)[0] / 1000.0, bytes(data)))
        cond = self._cond(channel)
        async with cond:
            cond.notify_all()
        return msg_id

    async def follow(
        self, channel: str, *, since_s: float | None = None, after_id: str | None = None
    ) -> AsyncIterator[BrokerMessage]:
        _check_channel(channel)
        log = self._logs.setdefault(channel, deque(maxlen=self._maxlen))
        if after_id is not None:
            last = _id_parts(after_id)
        elif since_s is not None:
            last = (int(since_s * 1000) - 1, 1 << 62)
        else:
            last = _id_parts(log[-1].id) if log else self._last
        cond = self._cond(channel)
        while True:
            fresh = [m for m in log if _id_parts(m.id) > last]
            for m in fresh:
                last = _id_parts(m.id)
                yield m
            if not fresh:
                async with cond:
                    await cond.wait()

    async def ping(self) -> float:
        return 0.0

    async def aclose(self) -> None:
        self._logs.clear()


class RedisBroker:
    """Redis Streams as the broker between processes (``redis://HOST:PORT/DB``).

    Parameters
    ----------
    url : str
        A ``redis://`` or ``rediss://`` URL.
    maxlen : int
        Approximate cap of each stream (``XADD ... MAXLEN ~``).
    namespace : str
        Prefix of every stream key after ``sintonia:`` (the database's cluster id), so that
        two deployments sharing one Redis never read each other's channels.
    block_ms : int
        Longest blocking read before the follower loops (it then reads again).
    """

    name: Final[str] = "redis"

    def __init__(
        self,
        url: str,
        *,
        namespace: str = "",
        maxlen: int = DEFAULT_MAXLEN,
        block_ms: int = 1000,
    ) -> None:
        try:
            import redis.asyncio as aioredis
        except ImportError as exc:  # pragma: no cover - the extra is missing
            raise BrokerError(
                "the Redis broker needs the redis package: pip install 'sintonia[scale]'"
            ) from exc
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise BrokerError("the broker URL must start with redis://, rediss:// or unix://")
        self._redis: Any = aioredis.from_url(url, socket_connect_timeout=3.0)
        self._maxlen = maxlen
        self._block_ms = block_ms
        self._prefix = f"{_PREFIX}{namespace}:" if namespace else _PREFIX

    async def publish(self, channel: str, data: bytes) -> str:
        key = self._prefix + _check_channel(channel)
        try:
            raw = await self._redis.xadd(key, {b"d": data}, maxlen=self._maxlen, approximate=True)
        except Exception as exc:  # redis raises its own ConnectionError/TimeoutError family
            raise BrokerError(f"broker unreachable: {type(exc).__name__}") from exc
        return raw.decode() if isinstance(raw, bytes) else str(raw)

    async def follow(
        self, channel: str, *, since_s: float | None = None, after_id: str | None = None
    ) -> AsyncIterator[BrokerMessage]:
        key = self._prefix + _check_channel(channel)
        try:
            # A concrete id, never "$": between two blocking reads "$" would skip whatever was
            # added meanwhile.
            newest = await self._redis.xrevrange(key, count=1)
            head = _message(*newest[0]).id if newest else "0-0"
            if after_id is not None:
                last = after_id
            elif since_s is not None:
                history = await self._redis.xrange(key, min=f"{int(since_s * 1000)}-0", max=head)
                last = head
                for raw_id, fields in history:
                    msg = _message(raw_id, fields)
                    last = msg.id
                    yield msg
            else:
                last = head
            while True:
                got = await self._redis.xread({key: last}, block=self._block_ms)
                for _key, entries in got or []:
                    for raw_id, fields in entries:
                        msg = _message(raw_id, fields)
                        last = msg.id
                        yield msg
        except (asyncio.CancelledError, GeneratorExit):
            raise
        except Exception as exc:
            raise BrokerError(f"broker unreachable: {type(exc).__name__}") from exc

    async def ping(self) -> float:
        t0 = time.perf_counter()
        try:
            await self._redis.ping()
        except Exception as exc:
            raise BrokerError(f"broker unreachable: {type(exc).__name__}") from exc
        return time.perf_counter() - t0

    async def aclose(self) -> None:
        await self._redis.aclose()


def _message(raw_id: bytes | str, fields: dict[bytes, bytes]) -> BrokerMessage:
    msg_id = raw_id.decode() if isinstance(raw_id, bytes) else raw_id
    return BrokerMessage(msg_id, _id_parts(msg_id)[0] / 1000.0, fields[b"d"])


def open_broker(url: str | None, *, namespace: str = "") -> LocalBroker | RedisBroker:
    """The broker a URL names: ``None`` or ``local:`` -> :class:`LocalBroker`; ``redis://`` ->
    :class:`RedisBroker` (channels under ``namespace``)."""
    if url is None or url in ("", "local", "local:"):
        return LocalBroker()
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisBroker(url, namespace=namespace)
    raise BrokerError("unknown broker URL: use redis://HOST:PORT/DB (or leave it out)")
