"""One header policy on every HTML response (issue 11, item 3; finding 9 of issue 12).

Every GET route of the real app outside the JSON API is called (with a valid token, and with a
real join link for the patient's page); each answer that is HTML must carry the same policy, set by
:class:`server.security.SecurityMiddleware` whatever the route did: a Content-Security-Policy
that runs scripts from this server only (inline scripts by their hash alone), connects to this
server and its WebSocket only, and forbids framing; ``Referrer-Policy: no-referrer``;
``X-Content-Type-Options: nosniff``; ``X-Frame-Options: DENY``; ``Cache-Control: no-store``.
The routes are read from the app, so a page added later is checked without editing this file.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from sensor.types import BeatBatch
from server.app import create_app
from server.context import AppContext
from server.remote.links import create_join_link
from server.security import SecurityMiddleware, html_csp
from server.settings import ServerSettings
from server.storage import DeviceAssignment, StorageSettings

HOST = "127.0.0.1:8765"
#: Every page of the dashboard (path templates), each must be found among the app's routes.
PAGES = {
    "/sessions/new",
    "/sessions",
    "/sessions/{session_id}/live",
    "/sessions/{session_id}/review",
    "/sessions/{session_id}/alliance",
    "/join/{token}",
}


def _walk(routes: list[Any]) -> Iterator[Any]:
    for route in routes:
        inner = getattr(route, "original_router", None)
        yield from _walk(inner.routes) if inner is not None else [route]


def _directives(csp: str) -> dict[str, list[str]]:
    out = {}
    for part in csp.split(";"):
        name, *values = part.split()
        out[name] = values
    return out


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    settings = ServerSettings(storage=StorageSettings(tmp_path / "data"))
    # A loopback peer: the patient's page refuses plain HTTP from anywhere else (issue 15).
    with TestClient(
        create_app(settings), base_url=f"http://{HOST}", client=("127.0.0.1", 50000)
    ) as client:
        ctx: AppContext = client.app.state.ctx  # type: ignore[attr-defined]
        store = ctx.store
        pid = store.create_participant("P-1", "patient").id
        for purpose in ("storage", "review", "live_display"):
            store.grant_consent(pid, purpose, "v1")
        sid = store.create_session(
            None, participants=[DeviceAssignment(pid, "simulator", "seed:1")]
        ).id
        t0 = store.now()
        store.start_session(sid, at_s=t0)
        rr = np.full(200, 800.0)
        times = t0 + np.cumsum(rr) / 1000.0
        store.append_beats(
            sid,
            pid,
            BeatBatch("P-1", "sim", rr, None, float(times[-1]), times, True, 0, True),
        )
        store.stop_session(sid, at_s=float(times[-1]) + 1.0)
        _, join = create_join_link(store, sid, pid, 3600.0, actor="test")
        yield client, {"session_id": str(sid), "token": join, "auth": ctx.token}


def test_every_html_response_carries_the_one_policy(
    world: tuple[TestClient, dict[str, str]],
) -> None:
    client, values = world
    html_routes = set()
    for route in _walk(client.app.routes):  # type: ignore[attr-defined]
        if not isinstance(route, APIRoute) or "GET" not in route.methods:
            continue
        if route.path.startswith("/api/"):  # the JSON API (its own tests; scans hardware)
            continue
        url = re.sub(r"\{(\w+)(:\w+)?\}", lambda m: values.get(m.group(1), "1"), route.path)
        r = client.get(url, params={"token": values["auth"]}, follow_redirects=False)
        assert r.status_code < 500, (route.path, r.status_code)
        if not r.headers.get("content-type", "").startswith("text/html"):
            continue
        assert r.status_code == 200, (route.path, r.text[:200])
        html_routes.add(route.path)
        d = _directives(r.headers["content-security-policy"])
        assert d["default-src"] == ["'self'"], route.path
        assert d["script-src"][0] == "'self'", route.path
        assert all(s.startswith("'sha256-") for s in d["script-src"][1:]), route.path
        assert d["connect-src"] == ["'self'", f"ws://{HOST}"], route.path
        assert d["frame-ancestors"] == ["'none'"], route.path
        assert d["object-src"] == ["'none'"], route.path
        assert d["base-uri"] == ["'none'"], route.path
        assert r.headers["referrer-policy"] == "no-referrer", route.path
        assert r.headers["x-content-type-options"] == "nosniff", route.path
        assert r.headers["x-frame-options"] == "DENY", route.path
        assert r.headers["cache-control"] == "no-store", route.path
        # Inline scripts that run are exactly the hashed ones; JSON data blocks are not hashed.
        running = [
            m.group(2)
            for m in re.finditer(r"<script([^>]*)>(.*?)</script>", r.text, re.S)
            if "src=" not in m.group(1) and "application/json" not in m.group(1)
        ]
        hashes = {
            "'sha256-" + base64.b64encode(hashlib.sha256(b.encode()).digest()).decode() + "'"
            for b in running
        }
        assert set(d["script-src"][1:]) == hashes, route.path
        # No inline event handler (the policy would block it).
        assert re.search(r"<[^>]+\son[a-z]+\s*=", r.text) is None, route.path
    assert html_routes == PAGES


def test_a_route_cannot_loosen_the_policy() -> None:
    app = FastAPI()

    @app.get("/loose")
    def loose() -> HTMLResponse:
        return HTMLResponse(
            "<p>x</p>",
            headers={
                "Content-Security-Policy": "script-src * 'unsafe-inline'",
                "Referrer-Policy": "unsafe-url",
                "X-Frame-Options": "SAMEORIGIN",
                "Cache-Control": "public, max-age=3600",
            },
        )

    settings = ServerSettings(storage=StorageSettings(Path("/nonexistent")))
    with TestClient(SecurityMiddleware(app, settings), base_url="http://localhost") as c:
        r = c.get("/loose")
    assert r.headers["content-security-policy"] == html_csp(b"<p>x</p>", "localhost")
    assert r.headers.get_list("content-security-policy") == [html_csp(b"<p>x</p>", "localhost")]
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["cache-control"] == "no-store"


def test_only_a_plain_host_reaches_the_policy() -> None:
    assert "ws://[::1]:8765" in html_csp(b"", "[::1]:8765")
    assert "wss://example.org" in html_csp(b"", "example.org", "https")
    for odd in ("a b", "x;script-src *", "host:80:90", "", "h'ost"):
        assert _directives(html_csp(b"", odd))["connect-src"] == ["'self'"], odd
