"""Who may call the API: the admin token, clinician accounts, and what each may see.

Three ways in, checked in this order by :func:`require_auth`:

* **The admin token** (one per data directory): a random 256-bit secret created on first run in
  the file ``token`` (mode 0600) of the data directory, shown by ``sintonia token``. Sent as
  ``Authorization: Bearer TOKEN`` or as the query parameter ``?token=TOKEN`` (the browser's
  WebSocket cannot set headers). It sees every session.
* **A clinician's login token**, from ``POST /api/auth/login`` (username and password): a
  stateless token ``c1.<username>.<expiry>.<HMAC-SHA256>`` signed with the admin token, sent the
  same two ways. It expires after :data:`LOGIN_TOKEN_TTL_S`; changing the admin token (deleting the
  file) invalidates every login token.
* **HTTP Basic** credentials of a clinician (``Authorization: Basic ...``), for scripts; each
  request then costs one argon2 verification (tens of milliseconds), so browsers use login tokens.

Clinicians see only their own sessions and participants (everything else is answered 404, as if it
did not exist, so ids do not leak); the admin token sees everything. Every comparison of a secret
is constant-time (:func:`hmac.compare_digest`); passwords are stored as argon2id PHC strings
(argon2-cffi's defaults, RFC 9106 "second recommended" parameters).

References
----------
.. [1] RFC 6750, The OAuth 2.0 Authorization Framework: Bearer Token Usage (sections 2.1, 2.3).
.. [2] RFC 7617, The 'Basic' HTTP Authentication Scheme.
.. [3] RFC 9106, Argon2 Memory-Hard Function for Password Hashing and Proof-of-Work Applications.
.. [4] RFC 2104, HMAC: Keyed-Hashing for Message Authentication.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import hmac
import logging
import os
import secrets
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Final, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from fastapi import HTTPException, Request, Security, status
from fastapi.security import APIKeyQuery, HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection
from starlette.websockets import WebSocket

from hrv.errors import SintoniaError
from server.storage import RecordNotFoundError, Session, Store

if TYPE_CHECKING:
    from server.context import AppContext

__all__ = [
    "ADMIN_ACTOR",
    "LOGIN_TOKEN_TTL_S",
    "TOKEN_FILENAME",
    "AuthError",
    "Principal",
    "authenticate",
    "authenticate_websocket",
    "can_view_session",
    "check_clinician_password",
    "hash_password",
    "issue_login_token",
    "load_or_create_token",
    "require_admin",
    "require_auth",
    "verify_password",
]

_log = logging.getLogger(__name__)

TOKEN_FILENAME: Final[str] = "token"
#: Bytes of randomness in the admin token (256 bits; ``secrets.token_urlsafe`` encodes them in
#: 43 characters).
TOKEN_BYTES: Final[int] = 32
#: Lifetime of a clinician's login token, s (12 hours: a clinic day).
LOGIN_TOKEN_TTL_S: Final[float] = 12 * 3600.0
#: Audit-log actor of requests made with the admin token.
ADMIN_ACTOR: Final[str] = "admin"
_LOGIN_PREFIX: Final[str] = "c1"
_TOKEN_MODE: Final[int] = 0o600
_DIR_MODE: Final[int] = 0o700

_hasher: Final[PasswordHasher] = PasswordHasher()
#: Verified against when a username is unknown, so that the response time does not tell whether
#: the account exists.
_DUMMY_HASH: Final[str] = _hasher.hash(secrets.token_urlsafe(16))

_bearer = HTTPBearer(
    auto_error=False,
    description="The admin token (`sintonia token`) or a clinician's login token.",
)
_query_token = APIKeyQuery(
    name="token",
    auto_error=False,
    description="The same token as a query parameter (for the browser's WebSocket and links).",
)


class AuthError(SintoniaError):
    """The token file cannot be created or read, or a password cannot be hashed."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling.

    Attributes
    ----------
    kind : {"admin", "clinician"}
        The admin token, or a clinician account.
    clinician_id : int or None
        The clinician's id (None for the admin).
    username : str or None
        The clinician's username (None for the admin).
    """

    kind: Literal["admin", "clinician"]
    clinician_id: int | None = None
    username: str | None = None

    @property
    def is_admin(self) -> bool:
        """True for the admin token."""
        return self.kind == "admin"

    @property
    def actor(self) -> str:
        """How this caller is named in the audit log (``"admin"`` or ``"clinician:NAME"``)."""
        return ADMIN_ACTOR if self.is_admin else f"clinician:{self.username}"

    @classmethod
    def admin(cls) -> Principal:
        """The admin principal."""
        return cls("admin")


# ---------------------------------------------------------------------------- the admin token


def load_or_create_token(data_dir: Path) -> str:
    """Read the admin token of a data directory, creating it (mode 0600) on first run.

    Parameters
    ----------
    data_dir : pathlib.Path
        The data directory (created with mode 0700 if missing).

    Returns
    -------
    str
        The token, 43 URL-safe characters (256 random bits).

    Raises
    ------
    AuthError
        If the file exists but is empty, or cannot be read or written.

    Notes
    -----
    The file is written to a private temporary name and then hard-linked to ``token``: the link
    fails if another process created the token first, and then that token is read, so two servers
    started at once agree on one token and nobody ever reads a half-written file. A token file
    readable by others (mode wider than 0600) is tightened to 0600 with a warning.

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> t = load_or_create_token(d)
    >>> len(t), load_or_create_token(d) == t, oct((d / "token").stat().st_mode & 0o777)
    (43, True, '0o600')
    """
    path = data_dir / TOKEN_FILENAME
    try:
        data_dir.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
        if not path.exists():
            _create_token_file(path)
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & ~_TOKEN_MODE:
            _log.warning("token file %s had mode %o; set to 0600", path, mode)
            path.chmod(_TOKEN_MODE)
        token = path.read_text(encoding="ascii").strip()
    except OSError as exc:
        raise AuthError(f"cannot read or create the token file {path}: {exc}") from exc
    if not token:
        raise AuthError(f"the token file {path} is empty; delete it to create a new token")
    return token


def _create_token_file(path: Path) -> None:
    tmp = path.with_name(f".{TOKEN_FILENAME}.{secrets.token_hex(8)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _TOKEN_MODE)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(secrets.token_urlsafe(TOKEN_BYTES) + "\n")
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)  # atomic; loses to a token created meanwhile
            _log.info("created the API token in %s", path)
    finally:
        tmp.unlink(missing_ok=True)


# ---------------------------------------------------------------------------- passwords


def hash_password(password: str) -> str:
    """Hash a clinician's password with argon2id.

    Parameters
    ----------
    password : str
        At least 8 characters.

    Returns
    -------
    str
        The PHC string (``$argon2id$v=19$m=...,t=...,p=...$salt$hash``), with a random salt.

    Raises
    ------
    AuthError
        For a password shorter than 8 characters.

    References
    ----------
    .. [1] RFC 9106, Argon2 (section 4, parameter choice).

    Examples
    --------
    >>> h = hash_password("correct horse")
    >>> h.startswith("$argon2id$"), verify_password(h, "correct horse"), verify_password(h, "x")
    (True, True, False)
    """
    if len(password) < 8:
        raise AuthError(f"a password needs at least 8 characters, got {len(password)}")
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches the argon2 ``password_hash`` (False for no hash or a bad one).

    Takes about as long when ``password_hash`` is None as when it is real (a dummy hash is
    verified), so timing does not reveal whether an account exists.
    """
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


# ---------------------------------------------------------------------------- login tokens


def _sign(key: str, payload: str) -> str:
    mac = hmac.new(key.encode(), payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def issue_login_token(
    admin_token: str, username: str, *, now_s: float | None = None, ttl_s: float = LOGIN_TOKEN_TTL_S
) -> tuple[str, float]:
    """A signed login token for a clinician, and when it expires (Unix time, s).

    Notes
    -----
    ``token = "c1." + b64url(username) + "." + expiry + "." + b64url(HMAC-SHA256(K, m))`` with
    ``K`` the admin token and ``m`` everything before the signature (RFC 2104). Nothing is stored
    on the server: the signature proves the server issued it.

    Examples
    --------
    >>> tok, exp = issue_login_token("k" * 43, "ana", now_s=0.0, ttl_s=60.0)
    >>> tok.startswith("c1.YW5h.60."), exp
    (True, 60.0)
    """
    now = time.time() if now_s is None else now_s
    expires = int(now + ttl_s)
    user = base64.urlsafe_b64encode(username.encode()).rstrip(b"=").decode()
    payload = f"{_LOGIN_PREFIX}.{user}.{expires}"
    return f"{payload}.{_sign(admin_token, payload)}", float(expires)


def _login_token_user(admin_token: str, token: str, now_s: float) -> str | None:
    parts = token.split(".")
    if len(parts) != 4 or parts[0] != _LOGIN_PREFIX:
        return None
    payload = ".".join(parts[:3])
    if not hmac.compare_digest(_sign(admin_token, payload), parts[3]):
        return None
    try:
        expires = int(parts[2])
        username = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)).decode()
    except (ValueError, binascii.Error):
        return None
    return username if now_s < expires else None


# ---------------------------------------------------------------------------- authentication


def authenticate(ctx: AppContext, authorization: str | None, query_token: str | None) -> Principal:
    """Check the credentials of a request; returns who it is or raises ``HTTPException(401)``.

    Parameters
    ----------
    ctx : AppContext
        The app's context (admin token, store).
    authorization : str or None
        The ``Authorization`` header (``Bearer ...`` or ``Basic ...``).
    query_token : str or None
        The ``token`` query parameter.
    """
    scheme, _, value = (authorization or "").partition(" ")
    scheme = scheme.lower()
    value = value.strip()
    if scheme == "basic":
        return _basic(ctx.store, value)
    token = value if scheme == "bearer" and value else query_token
    if not token:
        raise _unauthorized("missing credentials: send 'Authorization: Bearer TOKEN' or ?token=")
    if hmac.compare_digest(token.encode(), ctx.token.encode()):
        return Principal.admin()
    username = _login_token_user(ctx.token, token, time.time())
    if username is not None:
        try:
            clinician = ctx.store.get_clinician(username)
        except RecordNotFoundError:
            pass
        else:
            return Principal("clinician", clinician.id, clinician.username)
    raise _unauthorized("invalid or expired token")


def _basic(store: Store, value: str) -> Principal:
    try:
        decoded = base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise _unauthorized("malformed Basic credentials") from None
    username, sep, password = decoded.partition(":")
    if not sep:
        raise _unauthorized("malformed Basic credentials: expected 'username:password'")
    clinician = check_clinician_password(store, username, password)
    if clinician is None:
        raise _unauthorized("wrong username or password")
    return clinician


def check_clinician_password(store: Store, username: str, password: str) -> Principal | None:
    """The clinician whose username and password these are, or None (constant-time-ish)."""
    try:
        account = store.get_clinician(username)
    except RecordNotFoundError:
        verify_password(None, password)
        return None
    if not verify_password(account.password_hash, password):
        return None
    return Principal("clinician", account.id, account.username)


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


def _context(conn: HTTPConnection) -> AppContext:
    ctx: AppContext = conn.app.state.ctx
    return ctx


def require_auth(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    token: Annotated[str | None, Security(_query_token)],
) -> Principal:
    """FastAPI dependency: the authenticated :class:`Principal`, or 401.

    Accepts ``Authorization: Bearer TOKEN``, ``?token=TOKEN`` or ``Authorization: Basic ...``
    (the security schemes are parameters so that OpenAPI documents them). A Basic check runs
    argon2 in FastAPI's thread pool (this dependency is a plain ``def``).
    """
    del bearer  # the header is parsed by authenticate(), which also knows Basic
    return authenticate(_context(request), request.headers.get("authorization"), token)


async def authenticate_websocket(websocket: WebSocket) -> Principal | None:
    """Authenticate a WebSocket handshake (``?token=`` or an ``Authorization`` header).

    Returns
    -------
    Principal or None
        None when the credentials are missing or wrong (the caller closes with code 1008).
    """
    ctx = _context(websocket)
    header = websocket.headers.get("authorization")
    query = websocket.query_params.get("token")
    try:
        # A login token reads the clinician from the store and Basic runs argon2 (tens of ms):
        # both off the event loop.
        return await asyncio.to_thread(authenticate, ctx, header, query)
    except HTTPException:
        return None


def can_view_session(principal: Principal, session: Session) -> bool:
    """Whether the caller may see a session: the admin always, a clinician only their own."""
    return principal.is_admin or session.clinician_id == principal.clinician_id


def require_admin(principal: Principal) -> None:
    """Raise ``HTTPException(403)`` unless the caller holds the admin token."""
    if not principal.is_admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="only the admin token may do this")
