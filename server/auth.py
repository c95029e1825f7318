"""Who may call the API: the admin token, clinician accounts, and what each may see.

Three ways in, checked in this order by :func:`require_auth`:

* **The admin token** (one per data directory): a random 256-bit secret created on first run in
  the file ``token`` (mode 0600) of the data directory, shown by ``sintonia token``. Sent as
  ``Authorization: Bearer TOKEN`` or as the query parameter ``?token=TOKEN`` (the browser's
  WebSocket cannot set headers). It sees every session.
* **A clinician's login token**, from ``POST /api/auth/login`` (username and password): a
  token ``c2.<username>.<expiry>.<issued-ms>.<HMAC-SHA256>`` signed with the admin token, sent the
  same two ways. It expires after :data:`LOGIN_TOKEN_TTL_S`; changing the admin token (deleting the
  file) invalidates every login token. A clinician's tokens issued before their last logout,
  password change or revocation by the admin (:data:`REVOKING_ACTIONS`, read from the audit log,
  which is append-only) are refused, so a token can be withdrawn before it expires.
* **Wrong passwords are throttled** (:class:`LoginThrottle`): after a few failures per username
  and more per client address, each further attempt must wait, doubling up to 15 minutes (429
  with ``Retry-After``); every failure is written to the audit log.
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
import math
import os
import secrets
import stat
import time
from collections.abc import Sequence
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
    "REVOKING_ACTIONS",
    "TOKEN_FILENAME",
    "AuthError",
    "LoginThrottle",
    "Principal",
    "authenticate",
    "authenticate_websocket",
    "can_view_session",
    "check_clinician_password",
    "checked_login",
    "hash_password",
    "issue_login_token",
    "load_or_create_token",
    "login_keys",
    "require_admin",
    "require_auth",
    "tokens_valid_after_ms",
    "too_many_attempts",
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
_LOGIN_PREFIX: Final[str] = "c2"
#: Audit actions after which a clinician's earlier login tokens are refused.
REVOKING_ACTIONS: Final[tuple[str, ...]] = (
    "clinician.logout",
    "clinician.password_change",
    "clinician.tokens_revoke",
)
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
    admin_token: str,
    username: str,
    *,
    now_s: float | None = None,
    ttl_s: float = LOGIN_TOKEN_TTL_S,
    issued_ms: int | None = None,
) -> tuple[str, float]:
    """A signed login token for a clinician, and when it expires (Unix time, s).

    Notes
    -----
    ``token = "c2." + b64url(username) + "." + expiry + "." + issued + "." +
    b64url(HMAC-SHA256(K, m))`` with ``K`` the admin token, ``issued`` the issue time in
    milliseconds (default ``now_s``; compared with the clinician's last revocation) and ``m``
    everything before the signature (RFC 2104). The signature proves the server issued it.

    Examples
    --------
    >>> tok, exp = issue_login_token("k" * 43, "ana", now_s=0.0, ttl_s=60.0)
    >>> tok.startswith("c2.YW5h.60.0."), exp
    (True, 60.0)
    """
    now = time.time() if now_s is None else now_s
    expires = int(now + ttl_s)
    issued = int(now * 1000) if issued_ms is None else issued_ms
    user = base64.urlsafe_b64encode(username.encode()).rstrip(b"=").decode()
    payload = f"{_LOGIN_PREFIX}.{user}.{expires}.{issued}"
    return f"{payload}.{_sign(admin_token, payload)}", float(expires)


def _login_token_claims(admin_token: str, token: str, now_s: float) -> tuple[str, int] | None:
    """The username and issue time (ms) of a valid, unexpired login token; else None."""
    parts = token.split(".")
    if len(parts) != 5 or parts[0] != _LOGIN_PREFIX:
        return None
    payload = ".".join(parts[:4])
    if not hmac.compare_digest(_sign(admin_token, payload).encode(), parts[4].encode()):
        return None
    try:
        expires = int(parts[2])
        issued = int(parts[3])
        username = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)).decode()
    except (ValueError, binascii.Error):
        return None
    return (username, issued) if now_s < expires else None


def tokens_valid_after_ms(store: Store, clinician_id: int) -> int:
    """Login tokens of a clinician issued at or before this time (ms) are refused."""
    last = store.last_audit_time("clinician", clinician_id, REVOKING_ACTIONS)
    return -1 if last is None else math.floor(last * 1000)


# ---------------------------------------------------------------------------- throttling


class LoginThrottle:
    """Back-off for wrong passwords, per username and per client address (in memory).

    The first :attr:`free_per_user` failures of a username (:attr:`free_per_address` of an
    address) within :attr:`window_s` cost nothing; each later one locks that key for
    ``2 ** (n - free)`` seconds, at most :attr:`max_lock_s`. A success clears the username. The
    table is bounded (:attr:`max_keys`, oldest forgotten first). Per process: several server
    processes each keep their own.

    Examples
    --------
    >>> t = LoginThrottle()
    >>> for _ in range(6):
    ...     t.failure(["user:ana"], now_s=0.0)
    >>> t.retry_after(["user:ana"], now_s=0.5), t.retry_after(["user:ana"], now_s=3.0)
    (1.5, None)
    """

    free_per_user: int = 5
    free_per_address: int = 20
    window_s: float = 900.0
    max_lock_s: float = 900.0
    max_keys: int = 10_000

    def __init__(self) -> None:
        # key -> (failures in the window, first failure time, locked until)
        self._table: dict[str, tuple[int, float, float]] = {}

    def _free(self, key: str) -> int:
        return self.free_per_address if key.startswith("addr:") else self.free_per_user

    def retry_after(self, keys: Sequence[str], now_s: float) -> float | None:
        """Seconds to wait before another attempt with these keys, or None to go ahead."""
        waits = [
            entry[2] - now_s
            for key in keys
            if (entry := self._table.get(key)) is not None and entry[2] > now_s
        ]
        return max(waits) if waits else None

    def failure(self, keys: Sequence[str], now_s: float) -> None:
        """Count a failed attempt against every key."""
        for key in keys:
            n, first, _ = self._table.pop(key, (0, now_s, 0.0))
            if now_s - first > self.window_s:
                n, first = 0, now_s
            n += 1
            over = n - self._free(key)
            locked = now_s + min(2.0**over, self.max_lock_s) if over > 0 else 0.0
            self._table[key] = (n, first, locked)
        while len(self._table) > self.max_keys:
            del self._table[next(iter(self._table))]

    def success(self, keys: Sequence[str]) -> None:
        """Forget the failures of these keys."""
        for key in keys:
            self._table.pop(key, None)


def login_keys(username: str, address: str | None) -> list[str]:
    """The throttle keys of an attempt: the username (case-folded) and the client address."""
    keys = [f"user:{username.casefold()}"]
    if address:
        keys.append(f"addr:{address}")
    return keys


def too_many_attempts(retry_after_s: float, what: str = "wrong passwords") -> HTTPException:
    """The 429 of a throttled attempt, with ``Retry-After`` in whole seconds."""
    wait = max(1, math.ceil(retry_after_s))
    return HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS,
        detail=f"too many {what}: try again in {wait} s",
        headers={"Retry-After": str(wait)},
    )


# ---------------------------------------------------------------------------- authentication


def authenticate(
    ctx: AppContext,
    authorization: str | None,
    query_token: str | None,
    address: str | None = None,
) -> Principal:
    """Check the credentials of a request; returns who it is or raises ``HTTPException(401)``.

    Parameters
    ----------
    ctx : AppContext
        The app's context (admin token, store).
    authorization : str or None
        The ``Authorization`` header (``Bearer ...`` or ``Basic ...``).
    query_token : str or None
        The ``token`` query parameter.
    address : str or None
        The client's address (throttling of Basic credentials).
    """
    scheme, _, value = (authorization or "").partition(" ")
    scheme = scheme.lower()
    value = value.strip()
    if scheme == "basic":
        return _basic(ctx, value, address)
    token = value if scheme == "bearer" and value else query_token
    if not token:
        raise _unauthorized("missing credentials: send 'Authorization: Bearer TOKEN' or ?token=")
    if hmac.compare_digest(token.encode(), ctx.token.encode()):
        return Principal.admin()
    claims = _login_token_claims(ctx.token, token, time.time())
    if claims is not None:
        username, issued_ms = claims
        try:
            clinician = ctx.store.get_clinician(username)
        except RecordNotFoundError:
            pass
        else:
            if issued_ms > tokens_valid_after_ms(ctx.store, clinician.id):
                return Principal("clinician", clinician.id, clinician.username)
    raise _unauthorized("invalid, expired or revoked token")


def _basic(ctx: AppContext, value: str, address: str | None) -> Principal:
    try:
        decoded = base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise _unauthorized("malformed Basic credentials") from None
    username, sep, password = decoded.partition(":")
    if not sep:
        raise _unauthorized("malformed Basic credentials: expected 'username:password'")
    return checked_login(ctx, username, password, address)


def checked_login(ctx: AppContext, username: str, password: str, address: str | None) -> Principal:
    """Check a username and password under the throttle; audit a failure.

    Returns
    -------
    Principal
        The clinician.

    Raises
    ------
    HTTPException
        429 while the username or address must wait; 401 for a wrong username or password
        (written to the audit log as ``clinician.login_failed`` with the address).
    """
    keys = login_keys(username, address)
    wait = ctx.login_throttle.retry_after(keys, time.monotonic())
    if wait is not None:
        raise too_many_attempts(wait)
    clinician = check_clinician_password(ctx.store, username, password)
    if clinician is None:
        ctx.login_throttle.failure(keys, time.monotonic())
        ctx.store.audit(
            "anonymous",
            "clinician.login_failed",
            "clinician",
            None,
            {"username": username[:64], "address": address},
        )
        raise _unauthorized("wrong username or password")
    ctx.login_throttle.success(keys[:1])
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
    address = request.client.host if request.client else None
    return authenticate(_context(request), request.headers.get("authorization"), token, address)


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
    address = websocket.client.host if websocket.client else None
    try:
        # A login token reads the clinician from the store and Basic runs argon2 (tens of ms):
        # both off the event loop.
        return await asyncio.to_thread(authenticate, ctx, header, query, address)
    except HTTPException:
        return None


def can_view_session(principal: Principal, session: Session) -> bool:
    """Whether the caller may see a session: the admin always, a clinician only their own."""
    return principal.is_admin or session.clinician_id == principal.clinician_id


def require_admin(principal: Principal) -> None:
    """Raise ``HTTPException(403)`` unless the caller holds the admin token."""
    if not principal.is_admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="only the admin token may do this")
