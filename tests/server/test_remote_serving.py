"""Serving a remote session (issue 15): TLS, reverse-proxy headers, HTTPS-only patient side.

Real ``sintonia serve`` subprocesses on 127.0.0.1: one with a self-signed certificate made here
(the ``cryptography`` package) to which ``sintonia relay --simulate`` connects over ``wss://``
(trusting that certificate with ``--cafile``); one with ``--proxy-headers``, where a request
forwarded by the allowed proxy (127.0.0.1) for a non-loopback client that used plain HTTP is
refused on the patient's paths (HTTP 403, WebSocket close 4426) and served when the client used
HTTPS; without ``--proxy-headers`` the same headers are ignored (the peer is loopback).
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import queue
import re
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from server.remote.transport import CLOSE_INSECURE
from tests.support import e2e

pytestmark = pytest.mark.slow

_HTTPS_LINE = re.compile(r"^https://127\.0\.0\.1:(?P<port>\d+)/\?token=(?P<token>\S+)$")
_FORWARDED_CLEAR = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "http"}
_FORWARDED_TLS = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (subjectAltName IP) and its key, PEM."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


@contextmanager
def _tls_server(args: list[str], data_dir: Path) -> Iterator[tuple[int, str]]:
    """``sintonia serve ARGS`` printing an https:// URL; yields (port, token)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, SINTONIA_DATA_DIR=str(data_dir), PYTHONUNBUFFERED="1")
    env.pop("SINTONIA_DATABASE_URL", None)
    log = (data_dir.parent / "tls-server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=log,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(
        target=lambda: [lines.put(x.strip()) for x in proc.stdout or ()], daemon=True
    )
    reader.start()
    try:
        m = _HTTPS_LINE.match(lines.get(timeout=e2e.START_TIMEOUT_S))
        assert m is not None
        yield int(m["port"]), m["token"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        reader.join(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
        log.close()


def _plan(client: httpx.Client, patient: httpx.Client | None = None) -> tuple[int, str, str]:
    """A session with a join link; with ``patient``, storage and review consents given there
    and the session started."""
    p = client.post("/api/participants", json={"code": "P-TLS", "role": "patient"})
    assert p.status_code == 201, p.text
    sid = int(client.post("/api/sessions", json={"label": "tls"}).json()["id"])
    link = client.post(
        f"/api/sessions/{sid}/join-links",
        json={"participant_id": p.json()["id"], "expires_in_s": 3600},
    )
    assert link.status_code == 201, link.text
    token = str(link.json()["token"])
    if patient is not None:
        for purpose in ("storage", "review"):
            r = patient.post(
                f"/api/join/{token}/consents", json={"purpose": purpose, "granted": True}
            )
            assert r.status_code == 200, r.text
        assert client.post(f"/api/sessions/{sid}/start").status_code in (200, 201)
    return sid, str(link.json()["url"]), token


def test_relay_over_wss_to_a_server_with_a_self_signed_certificate(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    args = ["--port", "0", "--certfile", str(cert), "--keyfile", str(key)]
    with _tls_server(args, tmp_path / "data") as (port, token):
        base = f"https://127.0.0.1:{port}"
        trust = ssl.create_default_context(cafile=str(cert))
        with (
            httpx.Client(
                base_url=base, verify=trust, headers={"Authorization": f"Bearer {token}"}
            ) as api,
            httpx.Client(base_url=base, verify=trust) as patient,
        ):
            sid, url, _ = _plan(api, patient)
            assert url.startswith(f"{base}/join/")  # the link carries the scheme it was made on
            # without trusting the certificate, a client refuses the server
            with pytest.raises(httpx.ConnectError):
                httpx.get(f"{base}/api/sessions", timeout=5)
            relay = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "server.cli",
                    "relay",
                    "--join",
                    url,
                    "--simulate",
                    "--duration",
                    "6",
                    "--cafile",
                    str(cert),
                ],
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert relay.returncode == 0, relay.stderr[-3000:]
            summary = json.loads(relay.stdout.strip().splitlines()[-1])
            assert summary["connections"] >= 1
            assert summary["beats_read"] >= 4
            assert summary["beats_acked"] == summary["beats_read"]
            beats = e2e.all_beats(api, sid)
    assert len(beats["seq"]) == summary["beats_read"]


def _ws_close_code(url: str, headers: dict[str, str]) -> int | None:
    from websockets.exceptions import ConnectionClosed, InvalidStatus
    from websockets.sync.client import connect

    try:
        with connect(url, additional_headers=headers, open_timeout=10) as ws:
            ws.recv(timeout=10)  # the hello, or the close
            ws.recv(timeout=10)
    except ConnectionClosed as exc:
        return None if exc.rcvd is None else exc.rcvd.code
    except InvalidStatus as exc:
        return -exc.response.status_code
    return 0


def test_plain_http_from_a_non_loopback_client_is_refused(tmp_path: Path) -> None:
    args = ["serve", "--port", "0", "--proxy-headers", "--forwarded-allow-ips", "127.0.0.1"]
    with e2e.running_server(args, tmp_path / "data") as server:
        with server.client() as api:
            _, _, token = _plan(api)
        with server.client(auth=False) as patient:
            for path in (f"/join/{token}", f"/api/join/{token}"):
                refused = patient.get(path, headers=_FORWARDED_CLEAR)
                assert refused.status_code == 403, refused.text
                assert "HTTPS" in refused.json()["detail"]
                assert patient.get(path, headers=_FORWARDED_TLS).status_code == 200
                assert patient.get(path).status_code == 200  # loopback in clear: allowed
            # the therapist's side is not the patient's: unchanged (its own token rules)
            assert patient.get("/api/sessions", headers=_FORWARDED_CLEAR).status_code == 401
        ws = f"ws://127.0.0.1:{server.port}/ws/ingest?join={token}"
        assert _ws_close_code(ws, _FORWARDED_CLEAR) == CLOSE_INSECURE
        # over TLS (as the proxy says) the link itself is checked: no storage consent yet
        assert _ws_close_code(ws, _FORWARDED_TLS) == 4403


def test_forwarded_headers_are_ignored_without_proxy_headers(tmp_path: Path) -> None:
    with e2e.running_server(["serve", "--port", "0"], tmp_path / "data") as server:
        with server.client() as api:
            _, _, token = _plan(api)
        with server.client(auth=False) as patient:
            # a loopback peer cannot make itself look remote (nor secure): headers ignored
            assert patient.get(f"/join/{token}", headers=_FORWARDED_CLEAR).status_code == 200


def test_serve_options_for_remote_use() -> None:
    from server.cli import main

    # a non-loopback address without --allow-remote is refused before anything starts
    assert main(["serve", "--host", "0.0.0.0", "--port", "0"]) == 2
    # the certificate and the key go together
    assert main(["serve", "--port", "0", "--certfile", "/nonexistent.pem"]) == 2
    from server.cli.serve import check_bind

    assert check_bind("0.0.0.0", allow_remote=True, tls=False) is not None
    assert check_bind("0.0.0.0", allow_remote=True, tls=False, proxy=True) is None
    assert check_bind("0.0.0.0", allow_remote=True, tls=True) is None


def test_serve_passes_proxy_and_host_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import server.cli.serve as serve_module
    from server.cli import main

    seen: dict[str, object] = {}

    async def fake_run(settings: object, *, on_ready: object, **kw: object) -> None:
        seen["settings"] = settings
        seen.update(kw)

    monkeypatch.setattr(serve_module, "run_server", fake_run)
    monkeypatch.setenv("SINTONIA_DATA_DIR", str(tmp_path))
    args = ["serve", "--port", "0", "--proxy-headers", "--forwarded-allow-ips", "10.0.0.2"]
    assert main([*args, "--allowed-host", "a.example", "--allowed-host", "b.example"]) == 0
    settings = seen["settings"]
    assert {"a.example", "b.example"} <= settings.served_hosts  # type: ignore[attr-defined]
    assert seen["proxy_headers"] is True
    assert seen["forwarded_allow_ips"] == "10.0.0.2"
    # off by default: forwarded headers are not trusted from anyone
    assert main(["serve", "--port", "0"]) == 0
    assert seen["proxy_headers"] is False
