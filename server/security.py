"""One ASGI middleware for what every request and response must respect, whatever the route.

:class:`SecurityMiddleware` wraps the whole app (added by :func:`server.app.create_app`):

* **Host allow-list** (finding 8 of issue 12): a request whose ``Host`` header names a host the
  server is not configured for (:attr:`ServerSettings.served_hosts`: loopback names by default)
  is answered 400 (a WebSocket handshake is refused) before any route runs. A DNS-rebinding page
  (``evil.example`` resolving to 127.0.0.1) therefore reaches nothing, even in a browser whose own
  protection is off.
* **Same-origin WebSockets**: a handshake that carries an ``Origin`` (every browser sends one)
  is accepted only when that origin's host and port are the request's own ``Host``; scripts and
  command-line clients that send no ``Origin`` are unaffected (they still need a token).
* **Body limits before any work** (finding 5): a body larger than
  :attr:`ServerSettings.max_body_bytes` is refused 413 from its ``Content-Length`` without reading
  it, and a body without a length is counted while it streams and cut off at the limit. A request
  with a body but no credentials at all (no ``Authorization`` header, no ``?token=``) is refused
  401 before its body is read, except the login itself.
* **One header policy** (finding 9, issue 11): every response gets
  ``X-Content-Type-Options: nosniff``; every HTML response (every page: setup, sessions, live,
  review, alliance, join) gets the same policy, whatever its route set: :data:`HTML_CSP` (scripts
  from this server only, plus the SHA-256 hash of each inline script the page holds, CSP Level 3
  "hash-source"; connections to this server, its WebSocket included; no framing),
  ``Referrer-Policy: no-referrer`` (tokens travel in page addresses), ``X-Frame-Options: DENY``
  and ``Cache-Control: no-store``. JSON page configurations in
  ``<script type="application/json">`` are data blocks, which the policy does not govern (and
  which are not hashed).

References
----------
.. [1] RFC 9110, HTTP Semantics, section 7.2 (Host) and 15.5.14 (413 Content Too Large).
.. [2] RFC 6455, The WebSocket Protocol, section 10.2 (Origin considerations).
.. [3] W3C, Content Security Policy Level 3, sections 2.3.1 (hash-source) and 6.4.2
   (frame-ancestors).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import math
import re
from typing import Any, Final
from urllib.parse import unquote_to_bytes, urlsplit

from fastapi import FastAPI, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.settings import ServerSettings

__all__ = [
    "HTML_CSP",
    "ODD_INPUT_DETAIL",
    "SafeJSONResponse",
    "SecurityMiddleware",
    "host_name",
    "html_csp",
    "inline_script_hashes",
    "install_error_handlers",
    "odd_input_errors",
]


#: The 422 of a value the database cannot hold (see :func:`odd_input_errors`).
ODD_INPUT_DETAIL: Final[str] = (
    "a value cannot be stored or looked up: integers must fit in 64 bits (ids in 32 bits), "
    "and text must not hold NUL characters or unpaired surrogates"
)

_log = logging.getLogger(__name__)

#: The Content-Security-Policy of every HTML response; ``{scripts}`` becomes the hashes of the
#: page's inline scripts, ``{sockets}`` the page's own WebSocket origin(s). Styles may be inline:
#: plotly.js draws with inline ``style`` attributes and injects a ``<style>`` element.
HTML_CSP: Final[str] = (
    "default-src 'self'; script-src 'self'{scripts}; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'{sockets}; font-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
#: A ``Host`` header that may be written into a header value (host name or IP literal, port).
_PLAIN_HOST: Final[re.Pattern[str]] = re.compile(
    r"^(\[[0-9A-Fa-f:.]{2,45}\]|[A-Za-z0-9.-]{1,253})(:[0-9]{1,5})?$"
)
#: Paths that accept a body from a caller with no credentials yet.
_PUBLIC_BODY_PATHS: Final[frozenset[str]] = frozenset({"/api/auth/login"})
#: Paths whose capability is in the path itself (a join link's token, checked by its route):
#: ``/api/join/{token}/...``. The body limit still applies.
_CAPABILITY_PATH: Final[re.Pattern[str]] = re.compile(r"^/api/join/[A-Za-z0-9_-]{16,128}(/|$)")
_INLINE_SCRIPT: Final[re.Pattern[bytes]] = re.compile(
    rb"<script(?P<attrs>[^>]*)>(?P<body>.*?)</script>", re.DOTALL | re.IGNORECASE
)
#: Longest string echoed back in a validation error, characters.
_MAX_ECHO_CHARS: Final[int] = 200
_SRC_ATTR: Final[re.Pattern[bytes]] = re.compile(rb"\bsrc\s*=", re.IGNORECASE)
#: The ``type`` attribute of a ``<script>`` element, and the values that make it run (HTML
#: Living Standard, 4.12.1: no type, an empty one, a JavaScript MIME type, or ``module``).
_TYPE_ATTR: Final[re.Pattern[bytes]] = re.compile(
    rb"""(?:^|\s)type\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.IGNORECASE
)
_RUNNING_TYPES: Final[frozenset[bytes]] = frozenset(
    {b"", b"text/javascript", b"application/javascript", b"module"}
)


def _runs(attrs: bytes) -> bool:
    """Whether a ``<script>`` with these attributes (and no ``src``) is a script that runs."""
    m = _TYPE_ATTR.search(attrs)
    if m is None:
        return True
    value = next(g for g in m.groups() if g is not None)
    return value.strip().lower() in _RUNNING_TYPES


def host_name(host_header: str) -> str:
    """The host name of a ``Host`` header or an origin's netloc, lower case, without port.

    Examples
    --------
    >>> host_name("LocalHost:8765"), host_name("[::1]:80"), host_name("127.0.0.1")
    ('localhost', '::1', '127.0.0.1')
    """
    text = host_header.strip().lower()
    if text.startswith("["):
        return text[1:].partition("]")[0]
    return text.rpartition(":")[0] if text.count(":") == 1 else text


def inline_script_hashes(html: bytes) -> list[str]:
    """CSP hash sources (``'sha256-...'``) of the inline ``<script>`` elements of a page that run.

    Scripts with a ``src`` and data blocks (``type="application/json"``) are left out.

    Examples
    --------
    >>> inline_script_hashes(b"<script>alert(1)</script><script src='/a.js'></script>"
    ...     b'<script type="application/json">{}</script>')
    ["'sha256-bhHHL3z2vDgxUt0W3dWQOrprscmda2Y5pLsLg4GF+pI='"]
    """
    out = []
    for m in _INLINE_SCRIPT.finditer(html):
        attrs = m.group("attrs")
        if _SRC_ATTR.search(attrs) or not _runs(attrs):
            continue
        digest = base64.b64encode(hashlib.sha256(m.group("body")).digest()).decode()
        out.append(f"'sha256-{digest}'")
    return sorted(set(out))


def html_csp(html: bytes, host: str, scheme: str = "http") -> str:
    """The Content-Security-Policy of an HTML page served for ``Host: host``.

    Parameters
    ----------
    html : bytes
        The page (its inline scripts are allowed by hash).
    host : str
        The request's ``Host`` header (already on the allow-list); its WebSocket origin is
        allowed in ``connect-src`` when it is a plain ``host[:port]``.
    scheme : str
        ``"https"`` allows ``wss:``, else ``ws:``.

    Examples
    --------
    >>> csp = html_csp(b"<p>hi</p>", "127.0.0.1:8765")
    >>> "connect-src 'self' ws://127.0.0.1:8765;" in csp, "frame-ancestors 'none'" in csp
    (True, True)
    >>> "connect-src 'self';" in html_csp(b"", "x;script-src *")
    True
    """
    hashes = "".join(f" {h}" for h in inline_script_hashes(html))
    ws = "wss" if scheme == "https" else "ws"
    sockets = f" {ws}://{host.lower()}" if _PLAIN_HOST.match(host) else ""
    return HTML_CSP.format(scripts=hashes, sockets=sockets)


def odd_input_errors() -> tuple[type[Exception], ...]:
    """Errors raised by a value the database or a hash cannot take, which are the client's fault.

    An integer beyond 64 bits (SQLite's ``OverflowError``), an id beyond PostgreSQL's 32-bit
    ``integer``, a NUL character in PostgreSQL text (both ``sqlalchemy.exc.DataError``) and an
    unpaired surrogate (``UnicodeEncodeError`` when encoding to UTF-8) are answered 422.
    """
    import sqlalchemy.exc

    return (OverflowError, sqlalchemy.exc.DataError, UnicodeEncodeError)


def _json_safe(value: Any, max_chars: int | None = None) -> Any:
    """``value`` with non-finite floats as strings (and strings cut to ``max_chars``)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        if max_chars is None or len(value) <= max_chars:
            return value
        return value[:max_chars] + "..."
    if isinstance(value, dict):
        return {str(k): _json_safe(v, max_chars) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v, max_chars) for v in value]
    return value


class SafeJSONResponse(JSONResponse):
    """A JSON answer that any value can be put in: NaN and infinities become strings and text
    with an unpaired surrogate is ASCII-escaped (``\\udXXX``) instead of crashing the request.
    Ordinary content takes the fast path (one ``json.dumps``)."""

    def render(self, content: Any) -> bytes:
        try:
            return json.dumps(
                content, ensure_ascii=False, allow_nan=False, separators=(",", ":")
            ).encode("utf-8")
        except (ValueError, UnicodeEncodeError):
            return json.dumps(
                _json_safe(content), ensure_ascii=True, allow_nan=False, separators=(",", ":")
            ).encode("ascii")


def install_error_handlers(app: FastAPI) -> None:
    """Answer HTTP and validation errors with :class:`SafeJSONResponse` (FastAPI's own handlers
    crash on a request body holding NaN or an unpaired surrogate, which they echo back)."""

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code in (204, 304):
            return Response(status_code=exc.status_code, headers=exc.headers)
        return SafeJSONResponse(
            {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
        )

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = _json_safe(jsonable_encoder(exc.errors()), _MAX_ECHO_CHARS)
        return SafeJSONResponse({"detail": errors}, status_code=422)

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)


def _clean_target(scope: Scope) -> bool:
    """Whether the path and query, percent-decoded, are UTF-8 without NUL characters."""
    raw = scope.get("raw_path") or scope.get("path", "").encode("utf-8", "surrogateescape")
    for part in (raw, scope.get("query_string", b"")):
        data = unquote_to_bytes(part.replace(b"+", b" "))
        if b"\x00" in data:
            return False
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return False
    return True


def _headers(scope: Scope) -> dict[bytes, bytes]:
    return {k.lower(): v for k, v in scope.get("headers", [])}


class _BodyTooLarge(Exception):
    pass


class SecurityMiddleware:
    """Host allow-list, same-origin WebSockets, body limits and the header policy (see module).

    Parameters
    ----------
    app : ASGI app
    settings : ServerSettings
        ``served_hosts`` and ``max_body_bytes``.
    """

    def __init__(self, app: ASGIApp, settings: ServerSettings) -> None:
        self.app = app
        self.hosts = settings.served_hosts
        self.max_body = settings.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        host = headers.get(b"host", b"").decode("latin-1")
        if host_name(host) not in self.hosts:
            _log.warning("refused a request for host %r (not in the allowed hosts)", host)
            await self._refuse(scope, send, 400, f"host {host!r} is not served here")
            return
        if not _clean_target(scope):
            await self._refuse(
                scope, send, 400, "the path and query must be UTF-8 text without NUL characters"
            )
            return
        if scope["type"] == "websocket":
            origin = headers.get(b"origin")
            if origin is not None and not self._same_origin(scope, origin.decode("latin-1"), host):
                _log.warning("refused a WebSocket from origin %r for host %r", origin, host)
                await send({"type": "websocket.close", "code": 1008, "reason": "cross-origin"})
                return
            await self.app(scope, receive, send)
            return
        refusal = self._check_body(scope, headers)
        if refusal is not None:
            await self._refuse(scope, send, *refusal)
            return
        await self._serve_http(scope, receive, send)

    def _same_origin(self, scope: Scope, origin: str, host: str) -> bool:
        parts = urlsplit(origin)
        scheme = {"ws": "http", "wss": "https"}.get(scope.get("scheme", "ws"), "http")
        return parts.scheme == scheme and parts.netloc.lower() == host.strip().lower()

    def _check_body(self, scope: Scope, headers: dict[bytes, bytes]) -> tuple[int, str] | None:
        length_text = headers.get(b"content-length")
        chunked = b"chunked" in headers.get(b"transfer-encoding", b"").lower()
        if length_text is None and not chunked:
            return None
        if length_text is not None:
            try:
                length = int(length_text)
            except ValueError:
                return 400, "Content-Length must be a whole number of bytes"
            if length > self.max_body:
                return 413, f"the request body may hold at most {self.max_body} bytes"
            if length == 0:
                return None
        if scope["path"] in _PUBLIC_BODY_PATHS or _CAPABILITY_PATH.match(scope["path"]):
            return None
        query = scope.get("query_string", b"")
        has_token = b"authorization" in headers or re.search(rb"(^|&)token=", query) is not None
        if not has_token:
            return 401, "missing credentials: send 'Authorization: Bearer TOKEN' or ?token="
        return None

    async def _serve_http(self, scope: Scope, receive: Receive, send: Send) -> None:
        received = 0
        too_large = False
        refused = False
        html = False
        held: list[Message] = []
        limit = self.max_body
        message_413 = f"the request body may hold at most {limit} bytes"

        async def counted_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    too_large = True
                    raise _BodyTooLarge(message_413)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal html, refused
            if refused:
                return
            if message["type"] == "http.response.start":
                if too_large:  # the route answered the cut-off body (e.g. 400): say why
                    refused = True
                    await self._refuse(scope, send, 413, message_413)
                    return
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                if b"x-content-type-options" not in names:
                    headers.append((b"x-content-type-options", b"nosniff"))
                ctype = dict((k.lower(), v) for k, v in headers).get(b"content-type", b"")
                html = ctype.startswith(b"text/html") and scope.get("method") != "HEAD"
                message = {**message, "headers": headers}
                if html:
                    held.append(message)
                    return
                await send(message)
                return
            if html and message["type"] == "http.response.body":
                held.append(message)
                if message.get("more_body", False):
                    return
                await self._send_html(scope, held, send)
                return
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except _BodyTooLarge:
            if not refused:
                await self._refuse(scope, send, 413, message_413)

    async def _send_html(self, scope: Scope, held: list[Message], send: Send) -> None:
        start = held[0]
        body = b"".join(m.get("body", b"") for m in held[1:])
        replaced = (
            b"content-length",
            b"content-security-policy",
            b"x-frame-options",
            b"referrer-policy",
            b"cache-control",
        )
        headers = [(k, v) for k, v in start["headers"] if k.lower() not in replaced]
        host = _headers(scope).get(b"host", b"").decode("latin-1")
        csp = html_csp(body, host, scope.get("scheme", "http"))
        headers += [
            (b"content-security-policy", csp.encode("latin-1")),
            (b"referrer-policy", b"no-referrer"),
            (b"x-frame-options", b"DENY"),
            (b"cache-control", b"no-store"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _refuse(self, scope: Scope, send: Send, code: int, detail: str) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": detail[:120]})
            return
        body = json.dumps({"detail": detail}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"connection", b"close"),
        ]
        if code == 401:
            headers.append((b"www-authenticate", b"Bearer"))
        await send({"type": "http.response.start", "status": code, "headers": headers})
        await send({"type": "http.response.body", "body": body})
