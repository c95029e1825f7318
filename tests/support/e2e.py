"""Harness of the end-to-end tests: a real ``sintonia`` server process on loopback.

The server runs as ``python -m server.cli demo|serve ...`` (the same ``main`` as the ``sintonia``
console script) in a subprocess with its own ``SINTONIA_DATA_DIR``; the harness waits for the
one line with the dashboard URL that both commands print once they accept connections, and
parses the port and the token from it. Test files import it as ``tests.support.e2e``.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import queue
import re
import secrets
import signal
import socket
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypeVar

import httpx
from websockets.sync.client import ClientConnection, connect

__all__ = [
    "URL_LINE",
    "ServerProcess",
    "all_beats",
    "beat_count",
    "open_stalled_websocket",
    "receive_json",
    "running_server",
    "session_ids",
    "start_server",
    "unread_bytes",
    "wait_until",
]

#: The URL line printed by ``sintonia demo`` and ``sintonia serve``.
URL_LINE: Final[re.Pattern[str]] = re.compile(
    r"^http://127\.0\.0\.1:(?P<port>\d+)/\?token=(?P<token>[A-Za-z0-9_\-]+)$"
)
#: How long a server may take to print its URL (imports, migrations) on a loaded 2-core VM, s.
START_TIMEOUT_S: Final[float] = 60.0
#: How long a graceful stop may take, s.
STOP_TIMEOUT_S: Final[float] = 30.0

T = TypeVar("T")


@dataclass
class ServerProcess:
    """A running server and what it printed.

    Attributes
    ----------
    proc : subprocess.Popen
    port : int
    token : str
    data_dir : pathlib.Path
    log_path : pathlib.Path
        The server's stderr.
    stdout_lines : list of str
        Every stdout line so far (a reader thread appends).
    """

    proc: subprocess.Popen[str]
    port: int
    token: str
    data_dir: Path
    log_path: Path
    stdout_lines: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, *, auth: bool = True, timeout_s: float = 10.0) -> httpx.Client:
        """An HTTP client on the server, with the token as a Bearer header when ``auth``."""
        headers = {"Authorization": f"Bearer {self.token}"} if auth else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout_s)

    def ws_url(self, session_id: int, *, token: bool = True) -> str:
        query = f"?token={self.token}" if token else ""
        return f"ws://127.0.0.1:{self.port}/ws/sessions/{session_id}{query}"

    @contextmanager
    def websocket(self, session_id: int) -> Iterator[ClientConnection]:
        """A WebSocket client on the session's live stream (token in the query string)."""
        with connect(self.ws_url(session_id), open_timeout=10, max_size=2**26) as ws:
            yield ws

    def log(self) -> str:
        """The server's stderr so far (for assertion messages)."""
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def send_signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def stop(self, sig: int = signal.SIGINT, timeout_s: float = STOP_TIMEOUT_S) -> int:
        """Send ``sig`` and wait for the exit code (SIGKILL if it does not exit in time)."""
        self.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=timeout_s)
            raise AssertionError(
                f"server did not stop within {timeout_s} s of signal {sig}; log:\n{self.log()}"
            ) from None
        finally:
            if self.proc.poll() is not None:
                self.close_pipes()

    def kill(self) -> None:
        """``kill -9``: no shutdown code runs."""
        self.proc.kill()
        self.proc.wait(timeout=STOP_TIMEOUT_S)
        self.close_pipes()

    def close_pipes(self) -> None:
        """After the process exited: let the reader reach the end of stdout, then close it."""
        if self.reader is not None:
            self.reader.join(timeout=STOP_TIMEOUT_S)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def _reader(stream: Any, lines: list[str], q: queue.Queue[str | None]) -> None:
    for raw in stream:
        line = raw.rstrip("\n")
        lines.append(line)
        q.put(line)
    q.put(None)


def start_server(
    args: Sequence[str],
    data_dir: Path,
    *,
    log_path: Path | None = None,
    timeout_s: float = START_TIMEOUT_S,
) -> ServerProcess:
    """Start ``python -m server.cli ARGS`` and wait for its URL line.

    The environment is the test's, with ``SINTONIA_DATA_DIR=data_dir`` (and the demo's
    ``SINTONIA_DEMO_DATA_DIR=data_dir``) and without
    ``SINTONIA_DATABASE_URL`` (the embedded SQLite file).
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    log = log_path or data_dir.parent / f"server-{secrets.token_hex(3)}.log"
    env = dict(os.environ)
    env.pop("SINTONIA_DATABASE_URL", None)
    env["SINTONIA_DATA_DIR"] = str(data_dir)
    env["SINTONIA_DEMO_DATA_DIR"] = str(data_dir)  # the demo's own directory: the same here
    env["PYTHONUNBUFFERED"] = "1"
    with log.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "server.cli", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            env=env,
        )
    lines: list[str] = []
    q: queue.Queue[str | None] = queue.Queue()
    reader = threading.Thread(target=_reader, args=(proc.stdout, lines, q), daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout_s
    while True:
        remaining = deadline - time.monotonic()
        try:
            line = q.get(timeout=max(remaining, 0.01))
        except queue.Empty:
            proc.kill()
            proc.wait()
            reader.join(timeout=STOP_TIMEOUT_S)
            if proc.stdout is not None:
                proc.stdout.close()
            raise AssertionError(
                f"no URL line within {timeout_s} s; stdout {lines}; log:\n{log.read_text()}"
            ) from None
        if line is None:
            code = proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
            raise AssertionError(
                f"server exited ({code}) before printing its URL; stdout {lines}; "
                f"log:\n{log.read_text()}"
            )
        m = URL_LINE.match(line)
        if m is not None:
            return ServerProcess(proc, int(m["port"]), m["token"], data_dir, log, lines, reader)


@contextmanager
def running_server(
    args: Sequence[str], data_dir: Path, *, log_path: Path | None = None
) -> Iterator[ServerProcess]:
    """:func:`start_server`, stopped (SIGTERM, then SIGKILL) on exit."""
    server = start_server(args, data_dir, log_path=log_path)
    try:
        yield server
    finally:
        if server.proc.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                server.proc.kill()
                server.proc.wait()
        server.close_pipes()


def wait_until(
    probe: Callable[[], T | None], *, timeout_s: float = 20.0, interval_s: float = 0.1
) -> T:
    """Call ``probe`` until it returns something other than None or False; return it."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value is not None and value is not False:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s (last: {value!r})")
        time.sleep(interval_s)


def open_stalled_websocket(
    port: int, path: str, *, rcvbuf_bytes: int = 4096, timeout_s: float = 10.0
) -> socket.socket:
    """Open a WebSocket (RFC 6455 handshake by hand) and never read from it again.

    The receive buffer is made small before connecting, so the TCP window closes after a few
    kilobytes and the server's writes to this client back up, as with a frozen browser tab.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf_bytes)
    sock.settimeout(timeout_s)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(secrets.token_bytes(16)).decode()
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    sock.sendall(request.encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        if not chunk:
            break
        head += chunk
    status = head.split(b"\r\n", 1)[0]
    if b" 101 " not in status + b" ":
        sock.close()
        raise AssertionError(f"WebSocket handshake refused: {status!r}")
    return sock


def session_ids(client: httpx.Client, status: str | None = None) -> list[int]:
    """Ids of the sessions the API lists (newest first), optionally with one status."""
    params = {} if status is None else {"status": status}
    response = client.get("/api/sessions", params=params)
    assert response.status_code == 200, response.text
    return [int(s["id"]) for s in response.json()["sessions"]]


def all_beats(
    client: httpx.Client, session_id: int, participant: str | None = None
) -> dict[str, list[Any]]:
    """Every stored beat of a session through ``GET /api/sessions/{id}/beats`` (all pages)."""
    out: dict[str, list[Any]] = {}
    params: dict[str, str] = {} if participant is None else {"participant": participant}
    while True:
        response = client.get(f"/api/sessions/{session_id}/beats", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        for key, value in page.items():
            if isinstance(value, list):
                out.setdefault(key, []).extend(value)
        if page["next_cursor"] is None:
            return out
        params["cursor"] = page["next_cursor"]


def beat_count(client: httpx.Client, session_id: int) -> int:
    """Number of beats stored for a session."""
    return len(all_beats(client, session_id).get("seq", []))


def unread_bytes(sock: socket.socket) -> int:
    """Bytes waiting in a socket's receive queue (``FIONREAD``): data sent to it, never read."""
    buf = fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0")
    return int(struct.unpack("i", buf)[0])


def receive_json(ws: ClientConnection, timeout_s: float = 10.0) -> dict[str, Any]:
    """The next WebSocket message, decoded."""
    message = ws.recv(timeout=timeout_s)
    data: dict[str, Any] = json.loads(message)
    return data
