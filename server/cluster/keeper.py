"""Keep this process's session leases alive, notice when one is lost, and find orphans.

:class:`LeaseKeeper` is the asyncio side of :class:`~server.cluster.leases.SessionLeases`: it
renews every held lease three times per TTL (database calls in a worker thread, so the event
loop never waits on the database), tells its owner at once when a lease is lost (renewal refused,
or the database unreachable until the local deadline), and every half TTL looks for live sessions
whose lease has expired, so that a surviving process takes them over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Final

from server.cluster.leases import Lease, SessionLeases

__all__ = ["LeaseKeeper"]

_log = logging.getLogger(__name__)
#: Renewals per TTL.
_RENEWALS_PER_TTL: Final[float] = 3.0


class LeaseKeeper:
    """Renew held leases, report lost ones, offer orphaned sessions.

    Parameters
    ----------
    leases : SessionLeases
    on_lost : callable
        ``await on_lost(session_id)`` when a held lease is lost: the owner must stop computing
        and writing for that session at once.
    on_orphan : callable, optional
        ``await on_orphan(session_id)`` for a live session whose lease has expired (or that has
        none): the owner may try :meth:`acquire` and take the session over.
    candidates : callable, optional
        The live sessions that may be taken over (read from the database), ``() -> list[int]``.
    monotonic : callable
        Local monotonic clock.
    """

    def __init__(
        self,
        leases: SessionLeases,
        *,
        on_lost: Callable[[int], Awaitable[None]],
        on_orphan: Callable[[int], Awaitable[object]] | None = None,
        candidates: Callable[[], list[int]] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.leases = leases
        self._on_lost = on_lost
        self._on_orphan = on_orphan
        self._candidates = candidates
        self._mono = monotonic
        self._held: dict[int, Lease] = {}
        self._task: asyncio.Task[None] | None = None
        self.renewals = 0
        self.lost = 0
        self.database_ok = True

    @property
    def owner(self) -> str:
        """This process's owner id."""
        return self.leases.owner

    def held(self) -> dict[int, Lease]:
        """The leases held and still valid on the local clock (a copy)."""
        now = self._mono()
        return {sid: lease for sid, lease in self._held.items() if lease.valid(now)}

    def current(self, session_id: int) -> Lease | None:
        """The session's lease if this process holds it and may still act on it."""
        lease = self._held.get(session_id)
        return lease if lease is not None and lease.valid(self._mono()) else None

    async def acquire(self, session_id: int) -> Lease | None:
        """Take the session's lease; ``None`` when another live process holds it."""
        lease = await asyncio.to_thread(self.leases.acquire, session_id)
        if lease is not None:
            self._held[session_id] = lease
        return lease

    async def release(self, session_id: int) -> None:
        """Give up the session's lease (stopped session, shutdown)."""
        lease = self._held.pop(session_id, None)
        if lease is not None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.leases.release, lease)

    def start(self) -> None:
        """Start renewing (and scanning for orphans) in the background."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="lease-keeper")

    async def aclose(self) -> None:
        """Stop the background task and release every held lease."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for sid in list(self._held):
            await self.release(sid)

    async def tick(self) -> None:
        """One round: renew every held lease, report the lost ones, offer orphans."""
        held = list(self._held.values())
        try:  # one statement for every held lease: a loaded process keeps them all
            results = await asyncio.to_thread(self.leases.renew_all, held)
            self.database_ok = True
        except Exception as exc:  # the database is unreachable: keep each until its deadline
            self.database_ok = False
            _log.warning("leases not renewed: %s", type(exc).__name__)
            now = self._mono()
            results = {x.session_id: x for x in held if x.valid(now)}
            results.update({x.session_id: None for x in held if not x.valid(now)})
        sent = {x.session_id: x for x in held}
        for sid, renewed in results.items():
            lease = self._held.get(sid)
            if lease is None or lease is not sent[sid]:  # released or re-taken meanwhile
                continue
            if renewed is None:
                self._held.pop(sid, None)
                self.lost += 1
                _log.warning("lease of session %s lost (epoch %s)", sid, lease.epoch)
                await self._on_lost(sid)
            elif renewed is not lease:
                self._held[sid] = renewed
                self.renewals += 1
        if self._on_orphan is None or self._candidates is None:
            return
        try:
            live = await asyncio.to_thread(self._candidates)
            holders = {h.session_id: h for h in await asyncio.to_thread(self.leases.holders)}
        except Exception as exc:
            self.database_ok = False
            _log.warning("orphan scan failed: %s", type(exc).__name__)
            return
        for sid in live:
            if sid in self._held:
                continue
            h = holders.get(sid)
            if h is None or h.expired:
                await self._on_orphan(sid)

    async def _run(self) -> None:
        period = self.leases.ttl_s / _RENEWALS_PER_TTL
        while True:
            started = self._mono()
            try:
                await self.tick()
            except Exception:  # a callback failed: log, keep the leases alive
                _log.exception("lease keeper round failed")
            await asyncio.sleep(max(0.0, period - (self._mono() - started)))
