"""Access matrix: every route x every kind of bad or foreign credential -> no participant data.

The routes are read from the app itself (its OpenAPI document plus the routes it leaves out of
it: pages, static-file mounts, the WebSocket), so a route added later is covered without editing
this file; a route that answers without credentials must be listed in :data:`PUBLIC` with the
reason.

Credentials tried on every route (see ``tests.support.security.World``):

* ``none``, ``wrong`` (a random token), ``expired`` (ana's login token, expired): 401 on every
  route that is not public (a WebSocket closes with 4401), and never a sentinel;
* ``other`` (bea's valid token on ana's ids): never a success on a route naming ana's object,
  never a sentinel;
* ``revoked`` (ana's token on the session whose patient revoked ``review``) and ``deleted``
  (ana's token on the session whose patient's data was deleted): every read route, never a
  sentinel.

A positive control checks that ana's token on the fully consented session does show the
sentinels, so an empty answer cannot pass for a safe one.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator
from typing import Any, Final

import pytest
from fastapi.routing import APIRoute
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.websockets import WebSocketDisconnect

from tests.support.security import COUNTS, World, build_world, leaks

#: Routes that answer without credentials, and why that leaks nothing.
PUBLIC: Final[dict[str, str]] = {
    "GET /api/health": "liveness and database kind only",
    "POST /api/auth/login": "how credentials are obtained",
    "GET /openapi.json": "the API's description, no data",
    "GET /": "a redirect to a page",
    "GET /sessions/new": "a page without data (its scripts call the API with a token)",
    "GET /sessions": "a page without data",
    "GET /sessions/{session_id}/live": "a page without data (data comes over the WebSocket)",
    "GET /sessions/{session_id}/alliance": "a page without data",
    "GET /static/vendor/{path}": "plotly.js of the installed plotly package (that file only)",
    "GET /static/{path}": "static files of the dashboard package (StaticFiles mount)",
}

#: Routes whose credential is a join link's token in the path: with a made-up token they must
#: answer 4xx and show nothing (the join token itself, and that it grants nothing else, is tested
#: in tests/server/test_remote_ingest.py).
CAPABILITY: Final[dict[str, str]] = {
    "GET /join/{token}": "the patient's page of a join link",
    "GET /api/join/{token}": "what a join link is for",
    "POST /api/join/{token}/consents": "the patient's consents through a join link",
}

CREDENTIALS: Final[tuple[str, ...]] = ("none", "wrong", "expired", "other", "revoked", "deleted")


def _walk(routes: list[Any]) -> Iterator[Any]:
    """Every route, inside included routers too (FastAPI keeps them nested; no prefixes here)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _walk(inner.routes)
        else:
            yield route


def _routes(world: World) -> list[tuple[str, str]]:
    """Every (method, path) of the app, and ``("WS", path)`` for WebSocket routes."""
    out: set[tuple[str, str]] = set()
    schema = world.client.get("/openapi.json").json()
    for path, ops in schema["paths"].items():
        out.update((m.upper(), path) for m in ops)
    out.add(("GET", "/openapi.json"))
    for route in _walk(world.client.app.routes):  # type: ignore[attr-defined]
        if isinstance(route, WebSocketRoute):
            out.add(("WS", route.path))
        elif isinstance(route, APIRoute | Route) and route.methods:
            out.update((m, route.path) for m in route.methods if m != "HEAD")
        elif isinstance(route, Mount):  # static files (StaticFiles answers GET and HEAD)
            out.add(("GET", route.path + "/{path}"))
    # Logging out and changing passwords change the callers' tokens: run them last.
    return sorted(out, key=lambda mp: (mp[1].startswith("/api/auth/"), mp[1], mp[0]))


def _fill(path: str, world: World, tag: str) -> str:
    values = {
        "session_id": world.sessions[tag],
        "participant_id": world.patients[tag],
        "cue_id": world.cue_id,
        "username": "ana",
        "path": "live/main.js",
    }
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: str(values.get(m.group(1), 1)), path)


def _token(world: World, cred: str) -> str | None:
    return {
        "none": None,
        "wrong": secrets.token_urlsafe(32),
        "expired": world.expired,
        "other": world.bea,
        "revoked": world.ana,
        "deleted": world.ana,
    }[cred]


def _call(world: World, method: str, path: str, token: str | None) -> tuple[int, str]:
    """Status and body text (a WebSocket: its close code and every message)."""
    client = world.client
    if method == "WS":
        url = f"ws://127.0.0.1{path}" + ("" if token is None else f"?token={token}")
        texts: list[str] = []
        try:
            with client.websocket_connect(url) as ws:
                texts.append(ws.receive_text())  # the history message: what a client sees first
        except WebSocketDisconnect as closed:
            return closed.code, "\n".join(texts)
        return 1000, "\n".join(texts)
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    kwargs: dict[str, Any] = {"headers": headers}
    if method in ("POST", "PUT", "PATCH"):
        kwargs["content"] = json.dumps({})
        headers["Content-Type"] = "application/json"
    r = client.request(method, path, **kwargs)
    return r.status_code, r.text


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with build_world(tmp_path_factory.mktemp("matrix") / "data") as w:
        yield w


def test_the_sentinels_are_visible_to_their_owner(world: World) -> None:
    """Positive control: without it, 'no sentinel' could mean 'the sentinel never shows'."""
    sid = world.sessions["ok"]
    for path in (f"/api/sessions/{sid}/beats", f"/api/sessions/{sid}/markers"):
        status, text = _call(world, "GET", path, world.ana)
        assert status == 200, text
        assert leaks(text, world.sentinels("ok")), path


def test_access_matrix(world: World) -> None:
    routes = _routes(world)
    assert len(routes) > 40  # the API, the pages and the WebSocket
    failures: list[str] = []
    tried = 0
    for method, template in routes:
        key = f"{method} {template.replace(':path}', '}')}"
        for cred in CREDENTIALS:
            reading = method in ("GET", "WS")
            if cred in ("revoked", "deleted") and not reading:
                continue  # these ask whether a read shows data, not whether a write is allowed
            tag = {"revoked": "rev", "deleted": "del"}.get(cred, "ok")
            status, text = _call(world, method, _fill(template, world, tag), _token(world, cred))
            tried += 1
            where = f"{key} [{cred}] -> {status}"
            if found := leaks(text, world.sentinels(tag)):
                failures.append(f"{where}: participant data {found}")
            if status >= 500 if method != "WS" else status == 1011:
                failures.append(f"{where}: server error")
            if key in CAPABILITY:
                if status < 400:
                    failures.append(f"{where}: a made-up join token answered")
            elif cred in ("none", "wrong", "expired") and key not in PUBLIC:
                if method == "WS" and status != 4401:
                    failures.append(f"{where}: expected close code 4401")
                elif method != "WS" and status != 401:
                    failures.append(f"{where}: expected 401")
            names_object = "{" in template and not template.startswith("/static")
            if cred == "other" and names_object and key not in PUBLIC and status < 400:
                failures.append(f"{where}: another clinician's object answered")
    COUNTS["access matrix: routes"] = len(routes)
    COUNTS["access matrix: routes x credentials tried"] = tried
    assert failures == [], "\n".join(failures)


def test_every_public_route_exists(world: World) -> None:
    """The allow-list names only real routes (a stale entry would hide nothing, but mislead)."""
    keys = {f"{m} {p.replace(':path}', '}')}" for m, p in _routes(world)}
    assert set(PUBLIC) <= keys, set(PUBLIC) - keys
    assert set(CAPABILITY) <= keys, set(CAPABILITY) - keys
