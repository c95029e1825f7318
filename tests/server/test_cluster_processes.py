"""Several real ``sintonia serve`` processes on one PostgreSQL database with Redis (issue 16).

Each process is a real server on loopback (``python -m server.cli serve --database-url ...
--broker-url redis://...``); they share a PostgreSQL schema made for the test and a Redis
database. What must hold:

* a process starting next to another does not mark the other's live session interrupted;
* a therapist's WebSocket on process B sees the session computed on process A (history from
  storage, then A's messages through Redis), and a remote person's ingest connected to B reaches
  A's engine (stored by B first);
* the health endpoint reports database, broker and leases;
* after ``kill -9`` of A, B takes the session over within the lease TTL, the ingest client goes on
  with B, no beat is lost or stored twice, and the therapist's trace continues.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url
from websockets.sync.client import ClientConnection, connect

from tests.support import e2e
from tests.support.storage_fixtures import _drop_pg_schema, _new_pg_schema

REDIS_URL = os.environ.get("SINTONIA_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
TTL_S = 2.0


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def cluster_db(postgres_admin_url: str) -> Iterator[str]:
    if not _redis_up():
        if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
            pytest.fail("Redis not reachable on 127.0.0.1:6379 (CI must test the cluster)")
        pytest.skip("Redis not reachable on 127.0.0.1:6379")
    name, url = _new_pg_schema(postgres_admin_url)
    try:
        yield url
    finally:
        _drop_pg_schema(postgres_admin_url, name)


def _serve(
    url: str,
    data: Path,
    tag: str,
    *,
    database_url: str | None = None,
    broker_url: str = REDIS_URL,
) -> e2e.ServerProcess:
    return e2e.start_server(
        [
            "serve",
            "--port",
            "0",
            "--database-url",
            database_url or url,
            "--broker-url",
            broker_url,
            "--lease-ttl",
            str(TTL_S),
        ],
        data,
        log_path=data.parent / f"server-{tag}.log",
    )


def _stop(server: e2e.ServerProcess) -> None:
    if server.proc.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.proc.wait(timeout=15)
        except Exception:
            server.proc.kill()
            server.proc.wait()
    server.close_pipes()


def _plan(server: e2e.ServerProcess) -> tuple[int, int, str]:
    """A session with one remote patient (consents given on the join link), started on
    ``server``; returns (session, participant, join token)."""
    with server.client() as api:
        p = api.post("/api/participants", json={"code": "P-CLUSTER", "role": "patient"}).json()
        sid = int(api.post("/api/sessions", json={"label": "cluster"}).json()["id"])
        r = api.post(
            f"/api/sessions/{sid}/join-links",
            json={"participant_id": p["id"], "expires_in_s": 3600},
        )
        assert r.status_code == 201, r.text
        link = r.json()
    with server.client(auth=False) as patient:
        for purpose in ("storage", "live_display"):
            c = patient.post(
                f"/api/join/{link['token']}/consents", json={"purpose": purpose, "granted": True}
            )
            assert c.status_code == 200, c.text
    with server.client() as api:
        r = api.post(f"/api/sessions/{sid}/start")
        assert r.status_code in (200, 201), r.text
    return sid, int(p["id"]), str(link["token"])


class _Patient:
    """The ingest protocol from a test: distinct RR values, paced like beats, resent until
    acknowledged (as the patient's page does)."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.seq = 0
        self.sent: list[float] = []
        self.t = time.time()
        self.unacked: dict[int, str] = {}

    def connect(self, port: int, stack: ExitStack) -> ClientConnection:
        url = f"ws://127.0.0.1:{port}/ws/ingest?join={self.token}&stream=s1"
        ws = stack.enter_context(connect(url))
        for text in self.unacked.values():  # resend what was not acknowledged
            ws.send(text)
        return ws

    def send(self, ws: ClientConnection, n: int = 2) -> None:
        rr = [800.0 + (len(self.sent) + i) % 97 for i in range(n)]
        times = []
        for x in rr:
            self.t += x / 1000.0
            times.append(self.t)
        text = json.dumps(
            {"type": "beats", "seq": self.seq, "rr_ms": rr, "t_device_s": times, "contact": True}
        )
        self.unacked[self.seq] = text
        self.seq += 1
        self.sent.extend(rr)
        ws.send(text)

    def drain(self, ws: ClientConnection, timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while self.unacked and time.monotonic() < deadline:
            try:
                msg = json.loads(ws.recv(timeout=0.5))
            except TimeoutError:
                continue
            if msg.get("type") == "ack":
                self.unacked.pop(int(msg["seq"]), None)
        assert not self.unacked, f"not acknowledged: {sorted(self.unacked)}"


def _patient_beats(ws: ClientConnection, pid: int, until_n: int, timeout_s: float) -> list[float]:
    """RR values of ``pid`` the therapist's socket shows, until at least ``until_n``."""
    seen: dict[float, float] = {}
    deadline = time.monotonic() + timeout_s
    while len(seen) < until_n and time.monotonic() < deadline:
        try:
            msg = json.loads(ws.recv(timeout=1.0))
        except TimeoutError:
            continue
        parts: list[Any] = []
        if msg["type"] == "beats":
            parts = msg["participants"]
        elif msg["type"] == "history":
            parts = msg.get("beats") or []
        for p in parts:
            if p["participant_id"] == pid:
                seen.update(zip(p["time_s"], p["rr_ms"], strict=True))
    return [seen[t] for t in sorted(seen)]


def _health(server: e2e.ServerProcess) -> dict[str, Any]:
    r = httpx.get(f"{server.base_url}/api/health", timeout=10)
    assert r.status_code == 200
    return dict(r.json())


def _until(ws: ClientConnection, kind: str, timeout_s: float = 20.0) -> dict[str, Any]:
    """The next message of type ``kind`` on a therapist's socket."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            msg = json.loads(ws.recv(timeout=1.0))
        except TimeoutError:
            continue
        if msg["type"] == kind:
            return dict(msg)
    raise AssertionError(f"no {kind} message within {timeout_s} s")


@pytest.mark.parametrize("n", [2, 3])
def test_processes_share_a_session_and_survive_kill_9_of_its_owner(
    cluster_db: str, tmp_path: Path, n: int
) -> None:
    data = tmp_path / "data"  # one data directory: every process uses the same access token
    servers = [_serve(cluster_db, data, "a")]
    try:
        a = servers[0]
        sid, pid, join = _plan(a)
        servers += [_serve(cluster_db, data, tag) for tag in "bc"[: n - 1]]
        b, c = servers[1], servers[-1]  # B takes the patient and the commands, C the therapist
        with b.client() as api:  # starting next to A did not take A's live session away
            assert api.get(f"/api/sessions/{sid}").json()["status"] == "live"
            assert api.post(f"/api/sessions/{sid}/start").status_code == 409  # A runs it
        health = [_health(s) for s in servers]
        assert {(h["broker"], h["broker_ok"], h["database"]) for h in health} == {
            ("redis", True, "postgresql")
        }
        assert [h["leases_held"] for h in health] == [1] + [0] * (n - 1)
        assert len({h["node"] for h in health}) == n

        patient = _Patient(join)
        with ExitStack() as stack:
            therapist = stack.enter_context(c.websocket(sid))  # not where the session runs
            ingest = patient.connect(b.port, stack)  # nor where the patient's beats land
            for _ in range(20):
                patient.send(ingest)
                time.sleep(0.05)
            patient.drain(ingest)
            shown = _patient_beats(therapist, pid, len(patient.sent) - 2, timeout_s=30)
            # all but the engine's two-beat look-ahead: stored by B, computed by A, shown by C
            assert shown[: len(patient.sent) - 2] == patient.sent[: len(patient.sent) - 2]

            # the therapist's commands work from any process: A runs them, C shows them
            with b.client() as api:
                r = api.post(f"/api/sessions/{sid}/phase/advance")
                assert r.status_code == 200, r.text
                entered = r.json()["phase_id"]
                r = api.post(f"/api/sessions/{sid}/markers", json={"type": "silence"})
                assert r.status_code == 201, r.text
            assert _until(therapist, "phase")["phase_id"] == entered
            assert _until(therapist, "marker")["marker_type"] == "silence"

            a.proc.send_signal(signal.SIGKILL)  # the owner dies mid-session
            a.proc.wait(timeout=10)
            killed = time.monotonic()
            survivors = servers[1:]
            e2e.wait_until(
                lambda: sum(_health(s)["leases_held"] for s in survivors) == 1,
                timeout_s=5 * TTL_S + 10,
            )
            failover_s = time.monotonic() - killed
            assert failover_s < 10.0, failover_s

            for _ in range(20):  # the patient goes on; the new owner computes
                patient.send(ingest)
                time.sleep(0.05)
            patient.drain(ingest)
            more = _patient_beats(therapist, pid, len(patient.sent) - 2, timeout_s=30)
            assert more[-10:] == patient.sent[-12:-2]  # the therapist's trace continues
            with b.client() as api:  # the phase the therapist entered survived the takeover
                now = api.get(f"/api/sessions/{sid}/timeline").json()
            assert entered in json.dumps(now)

        with b.client() as api:  # every beat stored once, none lost
            stored = e2e.all_beats(api, sid)
        assert [float(x) for x in stored["rr_ms"]] == patient.sent
        print(f"\n{n} processes: failover after kill -9 in {failover_s:.2f} s (TTL {TTL_S} s)")
    finally:
        for s in servers:
            _stop(s)


class _Cuttable:
    """A TCP proxy on loopback that the test can cut (every connection dropped, new ones
    refused) and heal: a process's only way to its database or its broker."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.cut = threading.Event()
        self.socks: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.cut.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target), timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self.lock:
                self.socks += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                if self.cut.is_set():
                    break
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def sever(self) -> None:
        self.cut.set()
        with self.lock:
            for s in self.socks:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            self.socks.clear()

    def heal(self) -> None:
        self.cut.clear()

    def close(self) -> None:
        self.sever()
        self.listener.close()


@pytest.mark.parametrize("lost", ["database", "broker"])
def test_a_partitioned_owner_stops_and_is_replaced_by_one_other(
    cluster_db: str, tmp_path: Path, lost: str
) -> None:
    """The owner loses its database (or its broker): it gives the session up on its own, the
    other process takes it over, and once the partition heals the old owner does not take it
    back: one owner at any time, and the session goes on."""
    data = tmp_path / "data"
    url = make_url(cluster_db)
    proxy = _Cuttable((url.port or 5432) if lost == "database" else 6379)
    if lost == "database":
        a_db, a_broker = url.set(port=proxy.port).render_as_string(hide_password=False), REDIS_URL
    else:
        a_db, a_broker = cluster_db, f"redis://127.0.0.1:{proxy.port}/0"
    a = _serve(cluster_db, data, "a", database_url=a_db, broker_url=a_broker)
    b: e2e.ServerProcess | None = None
    try:
        sid, _pid, join = _plan(a)
        b = _serve(cluster_db, data, "b")
        patient = _Patient(join)
        with ExitStack() as stack:
            ingest = patient.connect(b.port, stack)
            for _ in range(5):
                patient.send(ingest)
            patient.drain(ingest)
            assert (_health(a)["leases_held"], _health(b)["leases_held"]) == (1, 0)

            proxy.sever()
            cut = time.monotonic()
            e2e.wait_until(lambda: _health(b)["leases_held"] == 1, timeout_s=6 * TTL_S + 10)
            replaced_s = time.monotonic() - cut
            # the old owner had already let go: never two holders
            assert _health(a)["leases_held"] == 0
            proxy.heal()
            time.sleep(3 * TTL_S)  # the old owner reaches everything again, and stays out
            assert (_health(a)["leases_held"], _health(b)["leases_held"]) == (0, 1)

            with b.client() as api:  # the session goes on under its new owner
                r = api.post(f"/api/sessions/{sid}/phase/advance")
                assert r.status_code == 200, r.text
            for _ in range(5):
                patient.send(ingest)
            patient.drain(ingest)
        with b.client() as api:
            stored = e2e.all_beats(api, sid)
        assert [float(x) for x in stored["rr_ms"]] == patient.sent
        log = a.log()
        assert "abandoning" in log or "giving session" in log, log[-2000:]
        print(f"\n{lost} cut: replaced after {replaced_s:.2f} s (TTL {TTL_S} s)")
    finally:
        _stop(a)
        if b is not None:
            _stop(b)
        proxy.close()
