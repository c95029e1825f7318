"""The remote device clock's estimate, kept with its join link (issue 15).

The ingest endpoint estimates each link's clock offset, drift and uncertainty from the ping/pong
exchanges (:class:`server.remote.protocol.ClockOffset`) and saves the latest estimate in the
link's ``clock_*`` columns (migration 0007) at every ping, so that the review can report it after
the session and after a server restart. A server restart starts a new estimate from new pings;
the saved one is then replaced.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from server.remote.protocol import ClockOffset
from server.storage import Store
from server.storage import schema as t

__all__ = ["LinkClock", "save_clock", "session_clocks"]


@dataclass(frozen=True, slots=True)
class LinkClock:
    """The saved clock estimate of one join link.

    Attributes
    ----------
    link_id, participant_id : int
    offset_s : float or None
        Server clock minus device clock, s.
    drift_ppm : float or None
        Drift of the device clock against the server's, parts per million (None: the pings span
        less than a minute).
    uncertainty_s : float or None
        Bound of the offset's error, s (None: the client reported no round trip).
    min_rtt_s : float or None
        Shortest round trip the client reported, s.
    samples : int
        Pings behind the estimate.
    span_s : float or None
        Time the samples span, s.
    updated_at_s : float or None
        When it was saved (server clock), s.
    """

    link_id: int
    participant_id: int
    offset_s: float | None
    drift_ppm: float | None
    uncertainty_s: float | None
    min_rtt_s: float | None
    samples: int
    span_s: float | None
    updated_at_s: float | None


def save_clock(store: Store, link_id: int, clock: ClockOffset, now_s: float) -> None:
    """Save a link's current estimate (one UPDATE of its row)."""
    jl = t.join_links
    with store.engine.begin() as conn:
        conn.execute(
            sa.update(jl)
            .where(jl.c.id == link_id)
            .values(
                clock_offset_s=clock.offset_s,
                clock_drift_ppm=clock.drift_ppm,
                clock_uncertainty_s=clock.uncertainty_s,
                clock_min_rtt_s=clock.min_rtt_s,
                clock_samples=clock.n,
                clock_span_s=clock.span_s,
                clock_updated_at_s=now_s,
            )
        )


def session_clocks(store: Store, session_id: int) -> dict[int, LinkClock]:
    """The clock estimate per participant of a session: of the participant's link with the most
    recent estimate (a participant may have had several links)."""
    jl = t.join_links
    query = (
        sa.select(jl)
        .where(jl.c.session_id == session_id, jl.c.clock_samples > 0)
        .order_by(jl.c.clock_updated_at_s, jl.c.id)
    )
    out: dict[int, LinkClock] = {}
    with store.engine.connect() as conn:
        for row in conn.execute(query):
            m = row._mapping
            out[int(m["participant_id"])] = LinkClock(
                link_id=int(m["id"]),
                participant_id=int(m["participant_id"]),
                offset_s=m["clock_offset_s"],
                drift_ppm=m["clock_drift_ppm"],
                uncertainty_s=m["clock_uncertainty_s"],
                min_rtt_s=m["clock_min_rtt_s"],
                samples=int(m["clock_samples"]),
                span_s=m["clock_span_s"],
                updated_at_s=m["clock_updated_at_s"],
            )
    return out
