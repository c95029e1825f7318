"""The bad-input corpus: each hostile input with the answer it must get (issue 12).

Host files, devices, huge and binary files as replay sources (findings 1 and 2); NaN,
infinities, 1e308, NUL, unpaired surrogates, oversized integers (finding 12) on both backends;
oversized and unauthenticated bodies (finding 5); foreign hosts and origins (finding 8). Every
case is counted in the suite's summary ("bad-input payloads").
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import pytest
from starlette.websockets import WebSocketDisconnect

from tests.support.security import COUNTS, World, build_world, empty_tables

# ---------------------------------------------------------------------------- replay sources

#: A line that must never reach a client (it stands for a line of /etc/shadow).
SECRET_LINE: Final[str] = "root:$6$sentinel-hash-of-the-host:19000:0:99999:7:::"


@pytest.fixture(scope="module")
def replay_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, Path]]:
    base = tmp_path_factory.mktemp("replay")
    replay = base / "replay"
    replay.mkdir()
    (replay / "ok.txt").write_text("\n".join(["800"] * 200) + "\n")
    (replay / "secret.txt").write_text(SECRET_LINE + "\n")  # a parse error quoting the file
    (replay / "binary.bin").write_bytes(bytes(range(256)) * 64)
    with open(replay / "huge.txt", "wb") as fh:  # sparse: 40 MB of NULs, no disk used
        fh.truncate(40_000_000)
    outside = base / "outside.txt"
    outside.write_text(SECRET_LINE + "\n")
    (replay / "escape.txt").symlink_to(outside)
    (replay / "zero").symlink_to("/dev/zero")
    os.mkfifo(replay / "fifo")
    with build_world(base / "data", real_sources=True, replay_dir=replay) as w:
        (replay / "data").symlink_to(w.ctx.settings.data_dir)
        yield w, replay


def _start_with_file(world: World, path: str, token: str) -> tuple[int, str]:
    """Plan a session whose patient replays ``path`` as ``token``'s caller, and start it."""
    client = world.client
    headers = {"Authorization": f"Bearer {token}"}
    code = f"F{abs(hash((path, token))) % 10**8}"
    r = client.post("/api/participants", json={"code": code, "role": "patient"}, headers=headers)
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    device = {"kind": "file", "path": path}
    r = client.post(
        "/api/sessions",
        json={"participants": [{"participant_id": pid, "device": device}]},
        headers=headers,
    )
    if r.status_code != 201:
        return r.status_code, r.text
    sid = r.json()["id"]
    r = client.post(f"/api/sessions/{sid}/start", headers=headers)
    if r.status_code == 200:
        client.post(f"/api/sessions/{sid}/stop", headers=headers)
    return r.status_code, r.text


HOSTILE_FILES: Final[tuple[str, ...]] = (
    "/etc/shadow",
    "/etc/passwd",
    "/proc/self/environ",
    "/dev/zero",
    "/dev/urandom",
    "../outside.txt",
    "../data/token",
    "data/token",
    "data/sintonia.sqlite",
    "escape.txt",
    "zero",
    "fifo",
    "huge.txt",
    "binary.bin",
    "secret.txt",
    ".",
    "",
    "nonexistent.txt",
)


@pytest.mark.parametrize("path", HOSTILE_FILES)
def test_a_hostile_replay_file_is_refused_without_its_content(
    replay_world: tuple[World, Path], path: str
) -> None:
    """Findings 1 and 2: 422 (403 for a clinician), a generic message, nothing of the file."""
    world, _ = replay_world
    token_text = (world.ctx.settings.data_dir / "token").read_text().strip()
    for token, expected in ((world.admin, {422}), (world.ana, {403})):
        status, text = _start_with_file(world, path, token)
        COUNTS["bad-input payloads"] += 1
        if path == "":
            expected = {422}  # an empty path is refused by validation first
        assert status in expected, (path, status, text)
        assert SECRET_LINE not in text
        assert "root:" not in text
        assert token_text not in text
        assert "SQLite format" not in text


def test_a_file_in_the_replay_folder_is_replayed(replay_world: tuple[World, Path]) -> None:
    """The control: the same route does replay a plain RR file of the replay folder."""
    world, _ = replay_world
    status, text = _start_with_file(world, "ok.txt", world.admin)
    assert status == 200, text


def test_without_a_replay_folder_no_file_is_replayed(tmp_path: Path) -> None:
    (tmp_path / "ok.txt").write_text("\n".join(["800"] * 50) + "\n")
    with build_world(tmp_path / "data", real_sources=True) as world:
        status, text = _start_with_file(world, str(tmp_path / "ok.txt"), world.admin)
    COUNTS["bad-input payloads"] += 1
    assert status == 422, text
    assert "replay folder" in text


def test_the_replay_file_is_read_off_the_event_loop(tmp_path: Path) -> None:
    """Finding 2: the factory (which reads and parses the file) runs in a worker thread."""
    import threading

    from server.live.scripted import scripted_source_factory

    threads: list[str] = []
    inner = scripted_source_factory(rounds=1)

    def factory(spec: Any) -> Any:
        threads.append(threading.current_thread().name)
        return inner(spec)

    from fastapi.testclient import TestClient

    from server.app import create_app
    from server.settings import ServerSettings
    from server.storage import StorageSettings

    settings = ServerSettings(storage=StorageSettings(tmp_path / "d"))
    with TestClient(create_app(settings, source_factory=factory), base_url="http://127.0.0.1") as c:
        c.headers["Authorization"] = f"Bearer {c.app.state.ctx.token}"  # type: ignore[attr-defined]
        pid = c.post("/api/participants", json={"code": "P1", "role": "patient"}).json()["id"]
        device = {"kind": "simulator"}
        sid = c.post(
            "/api/sessions", json={"participants": [{"participant_id": pid, "device": device}]}
        ).json()["id"]
        assert c.post(f"/api/sessions/{sid}/start").status_code == 200
        c.post(f"/api/sessions/{sid}/stop")
    assert threads
    assert threads[0] != threading.main_thread().name
    assert all("MainThread" not in t for t in threads)


# ---------------------------------------------------------------------------- odd values


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    url = None
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_migrated_url")
        empty_tables(url)
    with build_world(tmp_path_factory.mktemp("bad") / "data", url) as w:
        yield w


ODD_IDS: Final[tuple[str, ...]] = (
    str(2**31),
    str(2**31 - 1),
    str(2**63),
    str(2**64),
    "9" * 40,
    "-1",
    "-" + str(2**63 + 1),
)
ID_ROUTES: Final[tuple[tuple[str, str], ...]] = (
    ("GET", "/api/sessions/{id}"),
    ("GET", "/api/sessions/{id}/beats"),
    ("GET", "/api/sessions/{id}/timeline"),
    ("GET", "/api/sessions/{id}/markers"),
    ("GET", "/api/sessions/{id}/cues"),
    ("GET", "/api/participants/{id}"),
    ("GET", "/api/participants/{id}/consents"),
    ("DELETE", "/api/participants/{id}/data"),
    ("POST", "/api/sessions/{id}/start"),
    ("GET", "/sessions/{id}/review"),
)


@pytest.mark.parametrize("value", ODD_IDS)
def test_odd_ids_get_a_4xx(world: World, value: str) -> None:
    """Finding 12: ids beyond 32 and 64 bits are 404 or 422, never 500 (both backends)."""
    for method, template in ID_ROUTES:
        r = world.client.request(
            method,
            template.replace("{id}", value),
            headers={"Authorization": f"Bearer {world.admin}"},
        )
        COUNTS["bad-input payloads"] += 1
        assert 400 <= r.status_code < 500, (method, template, value, r.status_code, r.text)


ODD_TEXT: Final[tuple[str, ...]] = ("a\x00b", "\ud800", "x\udfffy", "\x00", "<b>x</b>" * 20)


@pytest.mark.parametrize("text", ODD_TEXT)
def test_odd_text_gets_a_4xx(world: World, text: str) -> None:
    """Finding 12: NUL and unpaired surrogates in JSON and query text are 4xx on both backends;
    the login needs no token for it."""
    admin = {"Authorization": f"Bearer {world.admin}", "Content-Type": "application/json"}
    cases: list[tuple[str, str, dict[str, str], Any]] = [
        (
            "POST",
            "/api/auth/login",
            {"Content-Type": "application/json"},
            {"username": text, "password": "x"},
        ),
        (
            "POST",
            "/api/auth/login",
            {"Content-Type": "application/json"},
            {"username": "ana", "password": text},
        ),
        ("POST", "/api/participants", admin, {"code": text, "role": "patient"}),
        ("POST", "/api/clinicians", admin, {"username": text, "password": "long enough pw"}),
        ("POST", "/api/sessions", admin, {"label": text}),
        ("GET", f"/api/sessions/{world.sessions['ok']}/beats?participant={text}", admin, None),
        ("GET", f"/api/audit?object_type={text}", admin, None),
    ]
    for method, url, headers, body in cases:
        content = None if body is None else json.dumps(body)
        path, _, query = url.partition("?")
        if query:
            from urllib.parse import quote

            name, _, value = query.partition("=")
            path += f"?{name}={quote(value.encode('utf-8', 'surrogatepass'), safe='')}"
        r = world.client.request(method, path, headers=headers, content=content)
        COUNTS["bad-input payloads"] += 1
        if "<b>" in text and r.status_code < 300:
            continue  # HTML is text like any other; it is shown escaped (test_html_payloads)
        assert 400 <= r.status_code < 500, (method, url, text, r.status_code, r.text)


NUMBERS: Final[tuple[str, ...]] = ("NaN", "Infinity", "-Infinity", "1e308", "-1e308", "1e400")


@pytest.mark.parametrize("number", NUMBERS)
def test_non_finite_and_huge_numbers_get_a_4xx(world: World, number: str) -> None:
    """NaN, infinities and 1e308 in numeric fields: 422 (or 404/409 for a session that is not
    live), never a 500 and never stored."""
    sid = world.sessions["ok"]
    headers = {"Authorization": f"Bearer {world.admin}", "Content-Type": "application/json"}
    cases = [
        ("POST", f"/api/sessions/{sid}/phase/extend", f'{{"by_s": {number}}}'),
        ("POST", "/api/sessions", f'{{"planned_start_s": {number}}}'),
        ("GET", f"/api/sessions/{sid}/timeline?start_s={number}", None),
        ("GET", f"/api/sessions/{sid}/timeline?span_s={number}", None),
    ]
    for method, url, content in cases:
        r = world.client.request(method, url, headers=headers, content=content)
        COUNTS["bad-input payloads"] += 1
        assert 400 <= r.status_code < 500, (method, url, content, r.status_code, r.text)


# ---------------------------------------------------------------------------- bodies and hosts


class _Counting:
    """An ASGI ``receive`` that counts the body bytes the app pulled."""

    def __init__(self, size: int, chunk: int = 1 << 20) -> None:
        self.left = size
        self.chunk = chunk
        self.pulled = 0

    async def __call__(self) -> dict[str, Any]:
        n = min(self.chunk, self.left)
        self.left -= n
        self.pulled += n
        return {"type": "http.request", "body": b"x" * n, "more_body": self.left > 0}


def _asgi_call(
    app: Any, method: str, path: str, headers: list[tuple[bytes, bytes]], receive: Any
) -> tuple[int, bytes]:
    import anyio

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8765"), *headers],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8765),
        "state": {},
    }
    anyio.run(app, scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return int(start["status"]), body


def test_a_100_mb_body_is_refused_before_it_is_read(tmp_path: Path) -> None:
    """Finding 5: 413 from Content-Length alone; the app pulls none of the 100 MB."""
    from server.app import create_app
    from server.settings import ServerSettings
    from server.storage import StorageSettings

    app = create_app(ServerSettings(storage=StorageSettings(tmp_path)))
    size = 100_000_000
    for auth in ([], [(b"authorization", b"Bearer wrong")]):
        receive = _Counting(size)
        status, body = _asgi_call(
            app,
            "POST",
            "/api/participants",
            [
                (b"content-length", str(size).encode()),
                (b"content-type", b"application/json"),
                *auth,
            ],
            receive,
        )
        COUNTS["bad-input payloads"] += 1
        assert status == 413, body
        assert receive.pulled == 0


def test_a_chunked_body_is_cut_at_the_limit(tmp_path: Path) -> None:
    """A body without a length is counted as it streams and refused past the limit (the app
    stops pulling one chunk after it)."""
    from server.app import create_app
    from server.settings import ServerSettings
    from server.storage import StorageSettings

    app = create_app(ServerSettings(storage=StorageSettings(tmp_path), max_body_bytes=100_000))
    receive = _Counting(50_000_000, chunk=64_000)
    status, body = _asgi_call(
        app,
        "POST",
        "/api/auth/login",
        [(b"transfer-encoding", b"chunked"), (b"content-type", b"application/json")],
        receive,
    )
    COUNTS["bad-input payloads"] += 1
    assert status == 413, body
    assert receive.pulled <= 100_000 + 64_000


def test_a_body_without_credentials_is_refused_before_it_is_read(tmp_path: Path) -> None:
    """Finding 5: no token, no body read (the login is the one exception)."""
    from server.app import create_app
    from server.settings import ServerSettings
    from server.storage import StorageSettings

    app = create_app(ServerSettings(storage=StorageSettings(tmp_path)))
    receive = _Counting(500_000)
    status, _ = _asgi_call(
        app,
        "POST",
        "/api/sessions",
        [(b"content-length", b"500000"), (b"content-type", b"application/json")],
        receive,
    )
    COUNTS["bad-input payloads"] += 1
    assert status == 401
    assert receive.pulled == 0


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:8765", "127.0.0.1.nip.io", "192.168.1.5", ""]
)
def test_a_foreign_host_is_refused(world: World, host: str) -> None:
    """Finding 8: only configured hosts (loopback names by default) are served."""
    r = world.client.get("/api/health", headers={"Host": host})
    COUNTS["bad-input payloads"] += 1
    assert r.status_code == 400
    assert world.client.get("/api/health", headers={"Host": "localhost:8765"}).status_code == 200


@pytest.mark.parametrize(
    "origin", ["http://evil.example", "http://127.0.0.1:9999", "null", "https://127.0.0.1"]
)
def test_a_cross_origin_websocket_is_refused(world: World, origin: str) -> None:
    """Finding 8: a browser's WebSocket from another origin is refused before authentication;
    the same origin (and a client that sends no Origin) is served."""
    sid = world.sessions["ok"]
    url = f"ws://127.0.0.1/ws/sessions/{sid}?token={world.admin}"
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        world.client.websocket_connect(url, headers={"Origin": origin}) as ws,
    ):
        ws.receive_text()
    COUNTS["bad-input payloads"] += 1
    assert refused.value.code == 1008
    with world.client.websocket_connect(url, headers={"Origin": "http://127.0.0.1"}) as ws:
        assert '"history"' in ws.receive_text()
