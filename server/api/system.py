"""Health, login, clinician accounts, the caller's identity and the audit log."""

from __future__ import annotations

import importlib.metadata
from typing import Annotated, Final

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status

from server.api._common import StorageErrorRoute, context, errors
from server.auth import (
    Principal,
    check_clinician_password,
    hash_password,
    issue_login_token,
    require_admin,
    require_auth,
)
from server.models import (
    AuditEntryOut,
    ClinicianIn,
    ClinicianOut,
    HealthOut,
    LoginIn,
    LoginOut,
    PrincipalOut,
)

__all__ = [
    "create_clinician",
    "health",
    "login",
    "me",
    "read_audit",
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
def health(request: Request) -> HealthOut:
    """Answers while the server runs; says which database it uses. Needs no credentials."""
    return HealthOut(version=_VERSION, database=context(request).store.dialect)


@router.post(
    "/api/auth/login",
    summary="Log a clinician in: a token for Bearer or ?token=",
    response_model=LoginOut,
    responses=errors(),
    tags=["auth"],
)
def login(body: LoginIn, request: Request) -> LoginOut:
    """Check a clinician's username and password; return a signed token valid for 12 hours."""
    ctx = context(request)
    principal = check_clinician_password(ctx.store, body.username, body.password)
    if principal is None or principal.username is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="wrong username or password",
            headers={"WWW-Authenticate": "Bearer"},
        )
    token, expires = issue_login_token(ctx.token, principal.username)
    ctx.store.audit(principal.actor, "clinician.login", "clinician", principal.clinician_id)
    return LoginOut(token=token, expires_at_s=expires)


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
