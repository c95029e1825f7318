"""The patient's side of a remote session only over HTTPS/WSS, except on loopback (issue 15).

A join token is a capability: sent in clear over a network it can be read and replayed, and the
beats it carries are health data. :class:`SecureTransportMiddleware` therefore refuses the paths
of the patient's side (the page ``/join/{token}``, its API ``/api/join/...`` and the ingest
WebSocket ``/ws/ingest``) when the request came in clear (``http``/``ws``) from a client that is
not on loopback: HTTP gets ``403`` with a message saying to use ``https://``; a WebSocket is
closed with :data:`CLOSE_INSECURE` right after the handshake, before the hello. Loopback stays
usable in clear (the default ``sintonia serve``, tests, a relay on the same machine).

Behind a reverse proxy (Caddy, nginx) that terminates TLS, ``sintonia serve --proxy-headers
--forwarded-allow-ips PROXY`` makes uvicorn take the client address and scheme from the
``X-Forwarded-For`` / ``X-Forwarded-Proto`` headers of that proxy only; this middleware then sees
the real client and the scheme the client used.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from typing import Final

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["CLOSE_INSECURE", "PATIENT_PATHS", "SecureTransportMiddleware", "secure_transport"]

_log = logging.getLogger(__name__)

#: Close code of an ingest WebSocket opened in clear (``ws://``) from a non-loopback client
#: (4000 + 426, after HTTP 426 Upgrade Required).
CLOSE_INSECURE: Final[int] = 4426
#: Path prefixes of the patient's side.
PATIENT_PATHS: Final[tuple[str, ...]] = ("/join/", "/api/join/", "/ws/ingest")
_MESSAGE: Final[str] = (
    "the patient's page and the ingest protocol work only over HTTPS (wss://) except on "
    "loopback: open the join link with https:// (serve with --certfile/--keyfile, or behind a "
    "TLS reverse proxy with --proxy-headers)"
)


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def secure_transport(scope: Scope) -> bool:
    """Whether a request may use the patient's side: over TLS, or from a loopback client.

    Examples
    --------
    >>> secure_transport({"scheme": "https", "client": ("203.0.113.5", 4000)})
    True
    >>> secure_transport({"scheme": "ws", "client": ("127.0.0.1", 4000)})
    True
    >>> secure_transport({"scheme": "http", "client": ("203.0.113.5", 4000)})
    False
    """
    if scope.get("scheme") in ("https", "wss"):
        return True
    client = scope.get("client")
    return client is not None and _loopback(str(client[0]))


class SecureTransportMiddleware:
    """Refuse the patient's paths in clear from a non-loopback client (see the module)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] not in ("http", "websocket")
            or not str(scope.get("path", "")).startswith(PATIENT_PATHS)
            or secure_transport(scope)
        ):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        _log.warning(
            "refused %s %s in clear from %s (HTTPS required off loopback)",
            scope["type"],
            scope.get("path"),
            client[0] if client else "?",
        )
        if scope["type"] == "websocket":
            # accepted only to say why (a close before accepting is a bare HTTP 403); the
            # client sends nothing before the server's hello, so nothing is read or stored
            message = await receive()
            if message["type"] == "websocket.connect":
                await send({"type": "websocket.accept"})
                await send(
                    {"type": "websocket.close", "code": CLOSE_INSECURE, "reason": "use wss://"}
                )
            return
        body = json.dumps({"detail": _MESSAGE}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 403,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
