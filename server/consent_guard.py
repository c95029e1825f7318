"""Consent per purpose on the read paths of a session's data, decided in one place.

Every route that returns a participant's stored data of a session (beats, timeline, markers,
cues) takes a :class:`ConsentScope` from the :func:`review_scope` dependency and returns only the
rows of participants in ``scope.allowed``: those with an active ``review`` consent for the session
(global or for that session), and, while the session is live, those with an active
``live_display`` consent (the live page reads markers and cues as it runs). Rows about nobody in
particular (a marker or cue with no participant) are about the session and are returned. A
revocation therefore takes effect on the next request, whatever route is used (finding 3 of
issue 12: after a ``review`` revocation ``/beats`` still returned the person's beats).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import numpy as np
from fastapi import Depends, Request
from numpy.typing import NDArray

from server.api._common import context, visible_session
from server.auth import Principal, require_auth
from server.storage import BeatPage, ConsentPurpose, Session, Store

__all__ = [
    "ConsentScope",
    "ReviewScope",
    "consent_scope",
    "readable_participants",
    "review_scope",
]


@dataclass(frozen=True, slots=True)
class ConsentScope:
    """A session the caller may see, and whose participants' data may be returned.

    Attributes
    ----------
    session : Session
    allowed : frozenset of int
        Participant ids with an active consent for one of ``purposes``.
    purposes : tuple of str
        The purposes that were checked.
    """

    session: Session
    allowed: frozenset[int]
    purposes: tuple[ConsentPurpose, ...]

    def allows(self, participant_id: int | None) -> bool:
        """Whether a row about this participant (None: about the session) may be returned."""
        return participant_id is None or participant_id in self.allowed

    def mask(self, participant_ids: NDArray[np.int64]) -> NDArray[np.bool_]:
        """Per row, whether it may be returned."""
        return np.isin(participant_ids, np.fromiter(self.allowed, dtype=np.int64))

    def filter_page(self, page: BeatPage) -> BeatPage:
        """The page without the rows of participants outside ``allowed`` (cursor unchanged)."""
        keep = self.mask(page.participant_id)
        if bool(keep.all()):
            return page
        return BeatPage(
            page.participant_id[keep],
            page.device[keep],
            page.seq[keep],
            page.rr_ms[keep],
            page.rr_raw[keep],
            page.host_time_s[keep],
            page.beat_time_s[keep],
            page.contact[keep],
            page.gap_before[keep],
            page.next_cursor,
        )


def consent_scope(
    request: Request, principal: Principal, session_id: int, *, purpose: ConsentPurpose = "review"
) -> ConsentScope:
    """The :class:`ConsentScope` of a session for ``purpose`` (404 for a session not visible).

    While the session is live, ``live_display`` counts too.
    """
    ctx = context(request)
    session = visible_session(ctx, principal, session_id)
    purposes: tuple[ConsentPurpose, ...] = (purpose,)
    if session.status == "live":
        purposes += ("live_display",)
    return ConsentScope(session, readable_participants(ctx.store, session_id, purposes), purposes)


def readable_participants(
    store: Store, session_id: int, purposes: tuple[ConsentPurpose, ...] = ("review",)
) -> frozenset[int]:
    """Participants of a session with an active consent (now) for one of ``purposes``.

    The rule of every read path (API routes through :func:`consent_scope`, the review page and
    report through :func:`server.review_data.load_session_inputs`).
    """
    members = {a.participant_id for a in store.session_participants(session_id)}
    return frozenset(
        pid
        for pid in members
        if any(store.has_consent(pid, p, session_id=session_id) for p in purposes)
    )


def review_scope(
    session_id: int, request: Request, principal: Annotated[Principal, Depends(require_auth)]
) -> ConsentScope:
    """FastAPI dependency: :func:`consent_scope` for ``review`` of the path's session."""
    return consent_scope(request, principal, session_id)


#: Route parameter type: ``scope: ReviewScope``.
ReviewScope = Annotated[ConsentScope, Depends(review_scope)]
