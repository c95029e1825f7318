"""Session ownership across server processes: leases with a TTL and fencing by epoch.

Several ``sintonia serve`` processes can share one PostgreSQL database. Exactly one of them
computes a live session (runs its engine, writes its derived state: phase events, cues, status);
the others only store the beats that reach them and relay messages. Ownership is a row of
``session_leases``: ``(session_id, owner, epoch, expires_at_s)``.

The rules are those of a lease (Gray & Cheriton 1989, "Leases: an efficient fault-tolerant
mechanism for distributed file cache consistency", SOSP '89) with fencing tokens (Kleppmann 2016,
"How to do distributed locking"):

* **Time is the database's.** Expiry is compared with the database server's clock
  (``clock_timestamp()`` on PostgreSQL, ``julianday('now')`` on SQLite), so the processes' own
  clocks never have to agree.
* **Acquire** succeeds when the session has no lease, its lease has expired, or the caller holds
  it already. Taking over an expired lease increments its ``epoch``; a row is never deleted
  (release only expires it), so epochs only grow.
* **Renew** extends the caller's lease only while it is still the caller's, with the same epoch
  and not yet expired. A renewal that comes too late fails even when nobody took the session.
* **The holder stops on its own clock first.** :attr:`Lease.deadline` is the local monotonic time
  at which the caller *started* its last successful acquire/renew, plus a safety share of the TTL
  (:data:`SAFETY`). The database sets expiry from a later instant, so a holder that cannot reach
  the database (partitioned) stops before anyone else can take over, as long as the two clocks
  run at about the same rate (they need not agree on the time).
* **Fencing.** A write of derived state calls :meth:`SessionLeases.fence` inside its own
  transaction: it fails unless the caller's ``(owner, epoch)`` still holds an unexpired lease,
  and on PostgreSQL it takes a ``FOR SHARE`` row lock, so a takeover (an ``UPDATE`` of that row)
  waits until the write has committed: no derived write of an old owner lands after a new owner
  took the session.

With SQLite and one process (the embedded default) leases are still taken, and always succeed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from server.storage.errors import StorageError

__all__ = [
    "DEFAULT_TTL_S",
    "SAFETY",
    "Lease",
    "LeaseConfigError",
    "LeaseHolder",
    "LeaseLostError",
    "SessionLeases",
]

#: Default lease lifetime, s: a dead owner is replaced within about this time.
DEFAULT_TTL_S: Final[float] = 5.0
#: Share of the TTL after which a holder that could not renew considers its lease lost.
SAFETY: Final[float] = 0.8


class LeaseLostError(StorageError):
    """The caller no longer holds the session's lease (expired, taken over, or unreachable)."""

    def __init__(self, session_id: int, owner: str, epoch: int) -> None:
        super().__init__(f"lease of session {session_id} (owner {owner}, epoch {epoch}) is lost")
        self.session_id = session_id
        self.owner = owner
        self.epoch = epoch


@dataclass(frozen=True, slots=True)
class Lease:
    """A held lease.

    Attributes
    ----------
    session_id : int
    owner : str
        The holder's id (one per server process).
    epoch : int
        Fencing token: grows each time another process takes the session over.
    deadline : float
        Local monotonic time after which the holder must consider the lease lost unless renewed.
    """

    session_id: int
    owner: str
    epoch: int
    deadline: float

    def valid(self, now: float) -> bool:
        """Whether the holder may still act on this lease at local monotonic time ``now``."""
        return now < self.deadline


@dataclass(frozen=True, slots=True)
class LeaseHolder:
    """Who holds a session's lease, as the database sees it (for health and takeover)."""

    session_id: int
    owner: str
    epoch: int
    expires_in_s: float

    @property
    def expired(self) -> bool:
        """Whether the lease has expired (anyone may take it)."""
        return self.expires_in_s < 0.0


_NOW_SQL: Final[dict[str, str]] = {
    "postgresql": "extract(epoch from clock_timestamp())::double precision",
    "sqlite": "((julianday('now') - 2440587.5) * 86400.0)",
}


class SessionLeases:
    """Acquire, renew, release and check session leases for one server process.

    Parameters
    ----------
    engine : sqlalchemy.engine.Engine
        The shared database (PostgreSQL for several processes; SQLite for one).
    owner : str
        This process's id, unique among the processes (e.g. ``hostname:pid:random``).
    ttl_s : float
        Lease lifetime, s.
    monotonic : callable
        The local monotonic clock (injected for tests).
    """

    def __init__(
        self,
        engine: Engine,
        owner: str,
        *,
        ttl_s: float = DEFAULT_TTL_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not owner or len(owner) > 128:
            raise LeaseConfigError("owner must be 1-128 characters")
        if not 0.1 <= ttl_s <= 3600.0:
            raise LeaseConfigError(f"ttl_s must be in [0.1, 3600], got {ttl_s}")
        dialect = engine.dialect.name
        if dialect not in _NOW_SQL:
            raise LeaseConfigError(f"leases need PostgreSQL or SQLite, not {dialect}")
        self._engine = engine
        self.dialect = dialect
        self.owner = owner
        self.ttl_s = float(ttl_s)
        self._mono = monotonic
        now = _NOW_SQL[dialect]
        self._lock = " FOR SHARE" if dialect == "postgresql" else ""
        self._acquire_sql = sa.text(
            "INSERT INTO session_leases (session_id, owner, epoch, expires_at_s) "
            f"VALUES (:sid, :owner, 1, {now} + :ttl) "
            "ON CONFLICT (session_id) DO UPDATE SET "
            "owner = excluded.owner, "
            "epoch = CASE WHEN session_leases.owner = excluded.owner "
            f"AND session_leases.expires_at_s >= {now} "
            "THEN session_leases.epoch ELSE session_leases.epoch + 1 END, "
            "expires_at_s = excluded.expires_at_s "
            f"WHERE session_leases.expires_at_s < {now} "
            "OR session_leases.owner = excluded.owner "
            "RETURNING epoch"
        )
        self._renew_sql = sa.text(
            f"UPDATE session_leases SET expires_at_s = {now} + :ttl "
            "WHERE session_id = :sid AND owner = :owner AND epoch = :epoch "
            f"AND expires_at_s >= {now}"
        )
        self._renew_all_sql = sa.text(
            f"UPDATE session_leases SET expires_at_s = {now} + :ttl "
            "WHERE session_id IN :sids AND owner = :owner "
            f"AND expires_at_s >= {now} RETURNING session_id, epoch"
        )
        self._release_sql = sa.text(
            "UPDATE session_leases SET expires_at_s = 0 "
            "WHERE session_id = :sid AND owner = :owner AND epoch = :epoch"
        )
        self._fence_sql = sa.text(
            "SELECT 1 FROM session_leases WHERE session_id = :sid AND owner = :owner "
            f"AND epoch = :epoch AND expires_at_s >= {now}{self._lock}"
        )
        self._foreign_sql = sa.text(
            "SELECT epoch FROM session_leases WHERE session_id = :sid AND owner <> :owner "
            f"AND expires_at_s >= {now}{self._lock}"
        )
        self._holders_sql = sa.text(
            f"SELECT session_id, owner, epoch, expires_at_s - {now} AS left_s "
            "FROM session_leases ORDER BY session_id"
        )

    def acquire(self, session_id: int) -> Lease | None:
        """Take (or keep) the session's lease; ``None`` when another process holds it."""
        started = self._mono()
        with self._engine.begin() as conn:
            row = conn.execute(
                self._acquire_sql, {"sid": session_id, "owner": self.owner, "ttl": self.ttl_s}
            ).first()
        if row is None:
            return None
        return Lease(session_id, self.owner, int(row[0]), started + SAFETY * self.ttl_s)

    def renew(self, lease: Lease) -> Lease | None:
        """Extend a held lease; ``None`` when it is lost (expired or taken over)."""
        started = self._mono()
        with self._engine.begin() as conn:
            n = conn.execute(
                self._renew_sql,
                {
                    "sid": lease.session_id,
                    "owner": lease.owner,
                    "epoch": lease.epoch,
                    "ttl": self.ttl_s,
                },
            ).rowcount
        if n != 1:
            return None
        return replace(lease, deadline=started + SAFETY * self.ttl_s)

    def renew_all(self, leases: list[Lease]) -> dict[int, Lease | None]:
        """Extend every held lease in one statement (one round trip however many sessions);
        each session maps to its renewed lease or None when it was lost."""
        if not leases:
            return {}
        started = self._mono()
        stmt = self._renew_all_sql.bindparams(sa.bindparam("sids", expanding=True))
        with self._engine.begin() as conn:
            rows = conn.execute(
                stmt,
                {"sids": [x.session_id for x in leases], "owner": self.owner, "ttl": self.ttl_s},
            ).all()
        kept = {int(r[0]): int(r[1]) for r in rows}
        deadline = started + SAFETY * self.ttl_s
        return {
            x.session_id: replace(x, deadline=deadline)
            if kept.get(x.session_id) == x.epoch
            else None
            for x in leases
        }

    def release(self, lease: Lease) -> None:
        """Give the lease up at once (the session stopped, or the process shuts down)."""
        with self._engine.begin() as conn:
            conn.execute(
                self._release_sql,
                {"sid": lease.session_id, "owner": lease.owner, "epoch": lease.epoch},
            )

    def fence(self, conn: Connection, lease: Lease) -> None:
        """Inside a write transaction: raise :class:`LeaseLostError` unless ``lease`` still holds.

        Check the local deadline first (no database round trip when it has passed), then the
        row; on PostgreSQL the row stays share-locked until ``conn``'s transaction ends.
        """
        if not lease.valid(self._mono()):
            raise LeaseLostError(lease.session_id, lease.owner, lease.epoch)
        found = conn.execute(
            self._fence_sql,
            {"sid": lease.session_id, "owner": lease.owner, "epoch": lease.epoch},
        ).first()
        if found is None:
            raise LeaseLostError(lease.session_id, lease.owner, lease.epoch)

    def fence_unleased(self, conn: Connection, session_id: int) -> None:
        """Inside a write transaction of a process that holds no lease of the session: raise
        :class:`LeaseLostError` when another process holds an unexpired one (it runs the session
        now). A session nobody holds (never run under a lease, or its holder gone and not yet
        replaced) may be written: there is no other owner to conflict with."""
        found = conn.execute(self._foreign_sql, {"sid": session_id, "owner": self.owner}).first()
        if found is not None:
            raise LeaseLostError(session_id, self.owner, int(found[0]))

    def holders(self) -> list[LeaseHolder]:
        """Every lease row as the database sees it now (expired ones included)."""
        with self._engine.connect() as conn:
            rows = conn.execute(self._holders_sql).all()
        return [LeaseHolder(int(r[0]), str(r[1]), int(r[2]), float(r[3])) for r in rows]


class LeaseConfigError(StorageError, ValueError):
    """A lease parameter out of range."""
