"""Open ingest connections and link quality, per join link (in memory, one per app).

The join-link API revokes through :meth:`RemoteRegistry.revoke`, which closes every open
connection of the link at once (close code 4411); the live page reads
:meth:`RemoteRegistry.quality`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from server.remote.protocol import ClockOffset

__all__ = ["IngestConnection", "LinkStats", "RemoteRegistry"]

_log = logging.getLogger(__name__)


@dataclass(eq=False, slots=True)
class IngestConnection:
    """One open ingest WebSocket: ``close`` closes it with a code and a reason."""

    link_id: int
    stream: str
    close: Callable[[int, str], asyncio.Future[None] | asyncio.Task[None] | None]
    closed_code: int | None = None

    def stop(self, code: int, reason: str) -> None:
        """Mark the connection stopped (nothing more is stored) and close it."""
        if self.closed_code is None:
            self.closed_code = code
        self.close(code, reason)


@dataclass(eq=False, slots=True)
class LinkStats:
    """What the server saw of one link's beats (server clock, s)."""

    clock: ClockOffset = field(default_factory=ClockOffset)
    beats_received: int = 0
    last_beat_server_s: float | None = None
    last_upload_delay_s: float | None = None
    last_close_code: int | None = None
    client_buffered: int | None = None
    acked: dict[str, set[int]] = field(default_factory=dict)  # stream -> acked message seqs


class RemoteRegistry:
    """Open connections and statistics of every join link of this server process."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._conns: dict[int, set[IngestConnection]] = {}
        self._stats: dict[int, LinkStats] = {}

    def add(self, conn: IngestConnection) -> None:
        """Register an open connection."""
        self._conns.setdefault(conn.link_id, set()).add(conn)

    def remove(self, conn: IngestConnection, code: int | None) -> None:
        """Forget a closed connection (its close code is kept for the link's status)."""
        self._conns.get(conn.link_id, set()).discard(conn)
        self.stats(conn.link_id).last_close_code = code

    def connected(self, link_id: int) -> int:
        """Open connections of a link."""
        return len(self._conns.get(link_id, ()))

    def stats(self, link_id: int) -> LinkStats:
        """The statistics of a link (created empty)."""
        return self._stats.setdefault(link_id, LinkStats())

    def revoke(self, link_id: int, code: int, reason: str) -> int:
        """Close every open connection of a link with ``code``; returns how many."""
        conns = list(self._conns.get(link_id, ()))
        for conn in conns:
            with contextlib.suppress(Exception):
                conn.stop(code, reason)
        return len(conns)

    def quality(self, link_id: int) -> dict[str, float | int | None]:
        """Link quality of a link for the API (see :class:`server.remote.models.LinkQualityOut`)."""
        s = self.stats(link_id)
        now = self._clock()
        return {
            "connected": self.connected(link_id),
            "beats_received": s.beats_received,
            "last_beat_age_s": None
            if s.last_beat_server_s is None
            else max(0.0, now - s.last_beat_server_s),
            "upload_delay_s": s.last_upload_delay_s,
            "clock_offset_s": s.clock.offset_s,
            "clock_drift_ppm": s.clock.drift_ppm,
            "clock_uncertainty_s": s.clock.uncertainty_s,
            "last_close_code": s.last_close_code,
            "client_buffered_beats": s.client_buffered,
        }
