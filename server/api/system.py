"""Health, login, clinician accounts, the caller's identity and the audit log."""

from __future__ import annotations

import importlib.metadata
import time
from typing import Annotated, Final

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status

from server.api._common import StorageErrorRoute, context, errors
from server.auth import (
    Principal,
    checked_login,
    hash_password,
    issue_login_token,
    require_admin,
    require_auth,
    tokens_valid_after_ms,
)
from server.context import AppContext
from server.models import (
    AuditEntryOut,
    ClinicianIn,
    ClinicianOut,
    HealthOut,
    LoginIn,
    LoginOut,
    PasswordChangeIn,
    PrincipalOut,
    TokensRevokedOut,
)
from server.storage import RecordNotFoundError

__all__ = [
    "change_password",
    "create_clinician",
    "health",
    "login",
    "logout",
    "me",
    "read_audit",
    "revoke_clinician_tokens",
    "router",
]

router = APIRouter(route_class=StorageErrorRoute)
Auth = Annotated[Principal, Depends(require_auth)]


def _version() -> str:
    try:
        return importlib.metadata.version("sintonia")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - not installed
        return "unknown"


_VERSION: Final[str] = _version()


@router.get(
    "/api/health",
    summary="Liveness check (no token needed)",
    response_model=HealthOut,
    tags=["system"],
)
async def health(request: Request) -> HealthOut:
    """Answers while the server runs: its database and broker, and how many live sessions this
    process runs under a lease (no session ids). Needs no credentials."""
    ctx = context(request)
    c = await ctx.cluster.status()
    return HealthOut(
        version=_VERSION,
        database=ctx.store.dialect,
        database_ok=c.database_ok,
        broker=c.broker,
        broker_ok=c.broker_ok,
        node=c.node,
        leases_held=c.leases_held,
        lease_ttl_s=c.lease_ttl_s,
    )


def _address(request: Request) -> str | None:
    return request.client.host if request.client else None


def _new_token(ctx: AppContext, principal: Principal) -> LoginOut:
    assert principal.username is not None
    assert principal.clinician_id is not None
    # Strictly after the clinician's last revocation, even within the same millisecond.
    issued = max(
        int(time.time() * 1000), tokens_valid_after_ms(ctx.store, principal.clinician_id) + 1
    )
    token, expires = issue_login_token(ctx.token, principal.username, issued_ms=issued)
    return LoginOut(token=token, expires_at_s=expires)


def _clinician_only(principal: Principal) -> None:
    if principal.is_admin:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail="the admin token is not a login: replace it with 'sintonia token --rotate' "
            "or by deleting the token file",
        )


@router.post(
    "/api/auth/login",
    summary="Log a clinician in: a token for Bearer or ?token=",
    response_model=LoginOut,
    responses=errors(429),
    tags=["auth"],
)
def login(body: LoginIn, request: Request) -> LoginOut:
    """Check a clinician's username and password; return a signed token valid for 12 hours.
    Wrong passwords are throttled per username and per address (429 with ``Retry-After``) and
    audited (``clinician.login_failed``)."""
    ctx = context(request)
    principal = checked_login(ctx, body.username, body.password, _address(request))
    out = _new_token(ctx, principal)
    ctx.store.audit(principal.actor, "clinician.login", "clinician", principal.clinician_id)
    return out


@router.post(
    "/api/auth/logout",
    summary="Log out: every login token of the caller stops working",
    response_model=TokensRevokedOut,
    responses=errors(403),
    tags=["auth"],
)
def logout(request: Request, principal: Auth) -> TokensRevokedOut:
    """Every login token of the calling clinician issued so far is refused from now on (on
    every device: tokens are not told apart). Audited (``clinician.logout``)."""
    _clinician_only(principal)
    entry = context(request).store.audit(
        principal.actor, "clinician.logout", "clinician", principal.clinician_id
    )
    return TokensRevokedOut(username=str(principal.username), revoked_at_s=entry.time_s)


@router.post(
    "/api/auth/password",
    summary="Change the caller's password (earlier login tokens stop working)",
    response_model=LoginOut,
    responses=errors(403, 429),
    tags=["auth"],
)
def change_password(body: PasswordChangeIn, request: Request, principal: Auth) -> LoginOut:
    """Needs the current password (throttled and audited like a login). Every earlier login
    token is refused afterwards; the answer holds a new one. Audited
    (``clinician.password_change``)."""
    _clinician_only(principal)
    assert principal.username is not None
    assert principal.clinician_id is not None
    ctx = context(request)
    checked_login(ctx, principal.username, body.current_password, _address(request))
    ctx.store.set_clinician_password(
        principal.clinician_id, hash_password(body.new_password), actor=principal.actor
    )
    return _new_token(ctx, principal)


@router.post(
    "/api/clinicians/{username}/tokens/revoke",
    summary="Withdraw every login token of a clinician (admin only)",
    response_model=TokensRevokedOut,
    responses=errors(403, 404),
    tags=["auth"],
)
def revoke_clinician_tokens(username: str, request: Request, principal: Auth) -> TokensRevokedOut:
    """For a lost laptop or a departed colleague: the clinician's login tokens issued so far are
    refused from now on (their password still works). Audited (``clinician.tokens_revoke``)."""
    require_admin(principal)
    store = context(request).store
    try:
        clinician = store.get_clinician(username)
    except RecordNotFoundError:
        raise RecordNotFoundError("clinician", username[:64]) from None
    entry = store.audit(principal.actor, "clinician.tokens_revoke", "clinician", clinician.id)
    return TokensRevokedOut(username=clinician.username, revoked_at_s=entry.time_s)


@router.get(
    "/api/me",
    summary="Who the credentials belong to",
    response_model=PrincipalOut,
    responses=errors(),
    tags=["auth"],
)
def me(principal: Auth) -> PrincipalOut:
    """The admin, or the clinician the token or password belongs to."""
    return PrincipalOut(
        kind=principal.kind, clinician_id=principal.clinician_id, username=principal.username
    )


@router.post(
    "/api/clinicians",
    summary="Create a clinician account (admin only)",
    status_code=status.HTTP_201_CREATED,
    response_model=ClinicianOut,
    responses=errors(403, 409),
    tags=["auth"],
)
def create_clinician(body: ClinicianIn, request: Request, principal: Auth) -> ClinicianOut:
    """Create an account; the password is stored only as an argon2id hash. 409 if taken."""
    require_admin(principal)
    clinician = context(request).store.create_clinician(body.username, hash_password(body.password))
    return ClinicianOut.model_validate(clinician)


@router.get(
    "/api/audit",
    summary="Read the audit log (admin only)",
    response_model=list[AuditEntryOut],
    responses=errors(403),
    tags=["system"],
)
def read_audit(
    request: Request,
    principal: Auth,
    after_id: Annotated[int, Query(ge=0, description="Entries after this id.")] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    object_type: Annotated[str | None, Query(max_length=32)] = None,
    object_id: Annotated[str | None, Query(max_length=64)] = None,
) -> list[AuditEntryOut]:
    """Entries in the order written: views, exports, deletions, consent changes, logins.
    Reading the log is itself logged (``audit.view``)."""
    require_admin(principal)
    store = context(request).store
    entries = store.list_audit(
        object_type=object_type, object_id=object_id, after_id=after_id, limit=limit
    )
    store.audit(principal.actor, "audit.view", "audit", None, {"n": len(entries)})
    return [AuditEntryOut.model_validate(e) for e in entries]
