"""Join links: single-participant, single-session, expiring, revocable capabilities.

A join link is a random 256-bit token (``secrets.token_urlsafe(32)``, 43 characters) that lets
one participant of one session open the patient's page (``/join/{token}``), give or refuse their
own consents, and send beats over the ingest protocol (``/ws/ingest?join=TOKEN``). Nothing else:
the token is not a credential of :mod:`server.auth`, so every other route answers it 401.

Only the token's SHA-256 (hex) is stored (table ``join_links``), so a copy of the database does
not hold usable links; a token is looked up by its hash (a unique index), which is as
constant-time as the secret allows (the hash of a guess reveals nothing about the stored
hashes). Every use is audited by the callers (:mod:`server.remote.routes`).

References
----------
.. [1] RFC 6750, The OAuth 2.0 Authorization Framework: Bearer Token Usage (section 5.2,
   threat mitigation: short-lived, scoped tokens).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any, Final, Literal

import sqlalchemy as sa

from hrv.errors import SintoniaError
from server.storage import Store
from server.storage import schema as t

__all__ = [
    "MAX_EXPIRES_IN_S",
    "MIN_EXPIRES_IN_S",
    "JoinLink",
    "JoinLinkError",
    "LinkState",
    "create_join_link",
    "get_join_link",
    "hash_token",
    "list_join_links",
    "resolve_token",
    "revoke_join_link",
]

#: Shortest lifetime of a join link, s.
MIN_EXPIRES_IN_S: Final[float] = 60.0
#: Longest lifetime of a join link, s (one week: a link is sent before the session).
MAX_EXPIRES_IN_S: Final[float] = 7 * 24 * 3600.0
#: Longest token accepted for a lookup (longer input is not hashed).
_MAX_TOKEN_LEN: Final[int] = 128

LinkState = Literal["active", "expired", "revoked"]


class JoinLinkError(SintoniaError):
    """A join link cannot be created (bad lifetime, participant not in the session)."""


@dataclass(frozen=True, slots=True)
class JoinLink:
    """A stored join link (never the token itself).

    Attributes
    ----------
    id, session_id, participant_id : int
    created_at_s, expires_at_s : float
        Unix times, s.
    revoked_at_s : float or None
    created_by : str
        Audit actor who created it.
    """

    id: int
    session_id: int
    participant_id: int
    created_at_s: float
    expires_at_s: float
    revoked_at_s: float | None
    created_by: str

    def state(self, now_s: float) -> LinkState:
        """``revoked``, ``expired`` (at or after ``expires_at_s``) or ``active``."""
        if self.revoked_at_s is not None and self.revoked_at_s <= now_s:
            return "revoked"
        if now_s >= self.expires_at_s:
            return "expired"
        return "active"


def hash_token(token: str) -> str:
    """Hex SHA-256 of a join token (what the database keeps).

    Examples
    --------
    >>> hash_token("abc")[:16]
    'ba7816bf8f01cfea'
    """
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _link(row: Any) -> JoinLink:
    m = row._mapping
    return JoinLink(
        id=m["id"],
        session_id=m["session_id"],
        participant_id=m["participant_id"],
        created_at_s=m["created_at_s"],
        expires_at_s=m["expires_at_s"],
        revoked_at_s=m["revoked_at_s"],
        created_by=m["created_by"],
    )


def create_join_link(
    store: Store,
    session_id: int,
    participant_id: int,
    expires_in_s: float,
    *,
    actor: str,
    now_s: float | None = None,
) -> tuple[JoinLink, str]:
    """Create a join link; returns the stored link and the token (shown once, never stored).

    Raises
    ------
    JoinLinkError
        If ``expires_in_s`` is outside [:data:`MIN_EXPIRES_IN_S`, :data:`MAX_EXPIRES_IN_S`].
    """
    if not MIN_EXPIRES_IN_S <= expires_in_s <= MAX_EXPIRES_IN_S:
        raise JoinLinkError(
            f"expires_in_s must be in [{MIN_EXPIRES_IN_S:g}, {MAX_EXPIRES_IN_S:g}] s, "
            f"got {expires_in_s!r}"
        )
    now = store.now() if now_s is None else now_s
    token = secrets.token_urlsafe(32)
    values = {
        "session_id": session_id,
        "participant_id": participant_id,
        "token_sha256": hash_token(token),
        "created_at_s": now,
        "expires_at_s": now + float(expires_in_s),
        "revoked_at_s": None,
        "created_by": actor,
    }
    with store.engine.begin() as conn:
        result = conn.execute(sa.insert(t.join_links).values(**values))
        key = result.inserted_primary_key
        assert key is not None
        link_id = int(key[0])
    store.audit(
        actor,
        "join_link.create",
        "join_link",
        link_id,
        {
            "session_id": session_id,
            "participant_id": participant_id,
            "expires_at_s": now + float(expires_in_s),
        },
        at_s=now,
    )
    link = JoinLink(
        id=link_id,
        session_id=session_id,
        participant_id=participant_id,
        created_at_s=now,
        expires_at_s=now + float(expires_in_s),
        revoked_at_s=None,
        created_by=actor,
    )
    return link, token


def resolve_token(store: Store, token: str | None) -> JoinLink | None:
    """The link of a token (in any state), or None for an unknown or malformed token."""
    if not token or len(token) > _MAX_TOKEN_LEN:
        return None
    query = sa.select(t.join_links).where(t.join_links.c.token_sha256 == hash_token(token))
    with store.engine.connect() as conn:
        row = conn.execute(query).first()
    return None if row is None else _link(row)


def get_join_link(store: Store, link_id: int) -> JoinLink | None:
    """A link by id, or None."""
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(t.join_links).where(t.join_links.c.id == link_id)).first()
    return None if row is None else _link(row)


def list_join_links(store: Store, session_id: int) -> list[JoinLink]:
    """Every link of a session, oldest first."""
    query = (
        sa.select(t.join_links)
        .where(t.join_links.c.session_id == session_id)
        .order_by(t.join_links.c.id)
    )
    with store.engine.connect() as conn:
        return [_link(r) for r in conn.execute(query)]


def revoke_join_link(
    store: Store, link_id: int, *, actor: str, now_s: float | None = None
) -> JoinLink | None:
    """Revoke a link now (a no-op for a revoked one); returns it, or None if unknown."""
    now = store.now() if now_s is None else now_s
    jl = t.join_links
    with store.engine.begin() as conn:
        conn.execute(
            sa.update(jl)
            .where(jl.c.id == link_id, jl.c.revoked_at_s.is_(None))
            .values(revoked_at_s=now)
        )
        row = conn.execute(sa.select(jl).where(jl.c.id == link_id)).first()
    if row is None:
        return None
    store.audit(actor, "join_link.revoke", "join_link", link_id, at_s=now)
    return _link(row)
