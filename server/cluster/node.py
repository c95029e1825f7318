"""One server process's place among several: its id, its leases, its broker channels.

:class:`ClusterNode` is what the live hub, the WebSocket route, the ingest route and the health
endpoint use of the cluster:

* ``live:<session>``: the owner publishes every live message (the JSON text its subscribers
  get); a process without the session follows the channel for its own subscribers.
* ``ingest:<session>``: a process that stored a remote person's beats for a session it does not
  own forwards them; the owner's engine follows the channel.
* leases through :class:`~server.cluster.keeper.LeaseKeeper`.

With the embedded default (SQLite, one process) the node is *single*: :attr:`distributed` is
False, leases are always granted and nothing is published (the hub's own subscriptions are the
only audience).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

import sqlalchemy as sa

from sensor.types import BeatBatch
from server.cluster.broker import BrokerError, LocalBroker, RedisBroker, open_broker
from server.cluster.codec import decode_batch, encode_batch
from server.cluster.keeper import LeaseKeeper
from server.cluster.leases import DEFAULT_TTL_S, SessionLeases
from server.messages import MESSAGE_ADAPTER

__all__ = ["ClusterNode", "ClusterStatus", "cluster_name", "new_node_id"]

_LIVE: Final[str] = "live:"
_INGEST: Final[str] = "ingest:"


def cluster_name(engine: Any) -> str:
    """The database's cluster id (made by migration 0008; made again if the row was deleted)."""
    select = sa.text("SELECT name FROM cluster WHERE id = 1")
    with engine.connect() as conn:
        name = conn.execute(select).scalar_one_or_none()
    if name is None:
        with contextlib.suppress(sa.exc.IntegrityError), engine.begin() as conn:
            conn.execute(
                sa.text("INSERT INTO cluster (id, name) VALUES (1, :name)"),
                {"name": secrets.token_hex(8)},
            )
        with engine.connect() as conn:
            name = conn.execute(select).scalar_one()
    return str(name)


def new_node_id() -> str:
    """A process id unique among the cluster's processes: ``pid-random`` (no host name: the
    health endpoint shows it without credentials)."""
    return f"{os.getpid()}-{secrets.token_hex(4)}"


@dataclass(frozen=True, slots=True)
class ClusterStatus:
    """What ``GET /api/health`` says of the cluster (no session ids: it needs no credentials)."""

    node: str
    broker: str
    broker_ok: bool
    database_ok: bool
    leases_held: int
    lease_ttl_s: float


class ClusterNode:
    """This process among the cluster's: leases, live fan-out, ingest forwarding.

    Parameters
    ----------
    leases : SessionLeases
    broker : LocalBroker or RedisBroker
    distributed : bool
        True when other processes may share the database (PostgreSQL with a broker URL).
    on_lost, on_orphan, candidates
        As in :class:`~server.cluster.keeper.LeaseKeeper`.
    """

    def __init__(
        self,
        leases: SessionLeases,
        broker: LocalBroker | RedisBroker,
        *,
        distributed: bool,
        on_lost: Callable[[int], Awaitable[None]],
        on_orphan: Callable[[int], Awaitable[object]] | None = None,
        candidates: Callable[[], list[int]] | None = None,
    ) -> None:
        self.broker = broker
        self.distributed = distributed
        # Orphans exist only where several processes may run sessions: on PostgreSQL (with or
        # without a broker: a process restarted within the TTL finds its own dead leases).
        shared = leases.dialect == "postgresql"
        self.keeper = LeaseKeeper(
            leases,
            on_lost=on_lost,
            on_orphan=on_orphan if shared else None,
            candidates=candidates if shared else None,
        )

    @classmethod
    def open(
        cls,
        engine: Any,
        broker_url: str | None,
        *,
        node_id: str | None = None,
        ttl_s: float = DEFAULT_TTL_S,
        on_lost: Callable[[int], Awaitable[None]],
        on_orphan: Callable[[int], Awaitable[object]] | None = None,
        candidates: Callable[[], list[int]] | None = None,
    ) -> ClusterNode:
        """The node for a database engine and an optional broker URL.

        Several processes need PostgreSQL *and* a broker: a Redis URL with SQLite is refused
        (SQLite is the one-process default).
        """
        if broker_url and engine.dialect.name != "postgresql":
            raise BrokerError("a broker URL needs a PostgreSQL database (--database-url)")
        broker = open_broker(broker_url, namespace=cluster_name(engine))
        leases = SessionLeases(engine, node_id or new_node_id(), ttl_s=ttl_s)
        return cls(
            leases,
            broker,
            distributed=isinstance(broker, RedisBroker),
            on_lost=on_lost,
            on_orphan=on_orphan,
            candidates=candidates,
        )

    @property
    def node_id(self) -> str:
        """This process's id."""
        return self.keeper.owner

    def start(self) -> None:
        """Start renewing leases (and, when distributed, looking for orphaned sessions)."""
        self.keeper.start()

    async def aclose(self) -> None:
        """Release every lease and close the broker."""
        await self.keeper.aclose()
        await self.broker.aclose()

    # ------------------------------------------------------------------ live messages
    async def publish_live(self, session_id: int, text: str) -> None:
        """Publish one live message of an owned session (nothing in single-process mode)."""
        if self.distributed:
            await self.broker.publish(f"{_LIVE}{session_id}", text.encode())

    async def follow_live(
        self, session_id: int, *, since_s: float | None = None
    ) -> AsyncIterator[Any]:
        """The messages the owner publishes for a session, parsed, in order."""
        async for m in self.broker.follow(f"{_LIVE}{session_id}", since_s=since_s):
            try:
                yield MESSAGE_ADAPTER.validate_json(m.data)
            except ValueError as exc:
                raise BrokerError(f"malformed live message on session {session_id}") from exc

    # ------------------------------------------------------------------ ingest forwarding
    async def forward_ingest(self, session_id: int, participant_id: int, batch: BeatBatch) -> None:
        """Hand beats this process stored for a session it does not own to the owner."""
        if self.distributed:
            await self.broker.publish(f"{_INGEST}{session_id}", encode_batch(participant_id, batch))

    async def follow_ingest(
        self, session_id: int, *, since_s: float | None = None
    ) -> AsyncIterator[tuple[int, BeatBatch]]:
        """Beats forwarded to this owner for a session: ``(participant_id, batch)``."""
        async for m in self.broker.follow(f"{_INGEST}{session_id}", since_s=since_s):
            yield decode_batch(m.data)

    # ------------------------------------------------------------------ health
    async def status(self) -> ClusterStatus:
        """The node's view of the cluster, for the health endpoint."""
        try:
            await self.broker.ping()
            broker_ok = True
        except BrokerError:
            broker_ok = False
        return ClusterStatus(
            node=self.node_id,
            broker="redis" if isinstance(self.broker, RedisBroker) else "local",
            broker_ok=broker_ok,
            database_ok=self.keeper.database_ok,
            leases_held=len(self.keeper.held()),
            lease_ttl_s=self.keeper.leases.ttl_s,
        )
