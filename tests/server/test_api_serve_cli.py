"""``sintonia serve``, ``sintonia token`` and ``sintonia clinician add``.

The serve tests start the real command in a subprocess on a free loopback port and talk to it
over HTTP; the rest call :func:`server.cli.main` in-process.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import ssl
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from server.auth import load_or_create_token, verify_password
from server.cli import main
from server.cli.serve import ServeError, check_bind, dashboard_url, is_loopback
from server.settings import ServerSettings
from server.storage import StorageSettings, Store

_URL_RE = re.compile(r"^http://127\.0\.0\.1:(\d+)/\?token=([A-Za-z0-9_-]{43})$")
#: Longest wait for the server's URL line, s (start-up imports numpy, scipy, FastAPI: ~2 s here).
_START_TIMEOUT_S = 60.0


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.1.1", True),
        ("::1", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.10", False),
        ("example.org", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_check_bind() -> None:
    assert check_bind("127.0.0.1", allow_remote=False, tls=False) is None
    with pytest.raises(ServeError, match="--allow-remote"):
        check_bind("0.0.0.0", allow_remote=False, tls=True)
    warning = check_bind("0.0.0.0", allow_remote=True, tls=False)
    assert warning is not None
    assert "TLS" in warning
    assert check_bind("10.0.0.5", allow_remote=True, tls=True) is None


def test_dashboard_url() -> None:
    assert dashboard_url("127.0.0.1", 8765, "t0k") == "http://127.0.0.1:8765/?token=t0k"
    assert dashboard_url("0.0.0.0", 80, "t") == "http://127.0.0.1:80/?token=t"
    assert dashboard_url("::1", 443, "t", tls=True) == "https://[::1]:443/?token=t"
    assert dashboard_url("clinic.local", 1, "t") == "http://clinic.local:1/?token=t"


def test_token_command_prints_and_creates_the_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    monkeypatch.setenv("SINTONIA_DATA_DIR", str(data))
    assert main(["token"]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed == load_or_create_token(data)
    assert stat.S_IMODE((data / "token").stat().st_mode) == 0o600
    assert main(["token"]) == 0
    assert capsys.readouterr().out.strip() == printed


def test_clinician_add_reads_the_password_from_stdin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    monkeypatch.setenv("SINTONIA_DATA_DIR", str(data))
    monkeypatch.delenv("SINTONIA_DATABASE_URL", raising=False)
    monkeypatch.setattr(sys, "stdin", io.StringIO("a long passphrase\n"))
    assert main(["clinician", "add", "ana"]) == 0
    assert "ana" in capsys.readouterr().out
    with Store.open(StorageSettings(data)) as store:
        account = store.get_clinician("ana")
    assert verify_password(account.password_hash, "a long passphrase")
    # taken, too short, bad username: exit 1 with the reason on stderr
    for argv, stdin, needle in [
        (["clinician", "add", "ana"], "another passphrase\n", "taken"),
        (["clinician", "add", "bea"], "short\n", "8"),
        (["clinician", "add", "Bea Bee"], "a long passphrase\n", "username"),
    ]:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        assert main(argv) == 1
        assert needle in capsys.readouterr().err


def test_serve_refuses_remote_without_flag_and_half_tls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SINTONIA_DATA_DIR", str(tmp_path))
    assert main(["serve", "--host", "0.0.0.0", "--port", "0"]) == 2
    assert "--allow-remote" in capsys.readouterr().err
    assert main(["serve", "--port", "0", "--tls-cert", str(tmp_path / "c.pem")]) == 2
    assert "--tls-key" in capsys.readouterr().err
    assert not (tmp_path / "sintonia.sqlite").exists()  # refused before touching anything


@contextmanager
def _serve(data_dir: Path, *args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    env = {k: v for k, v in os.environ.items() if k != "SINTONIA_DATABASE_URL"}
    env["SINTONIA_DATA_DIR"] = str(data_dir)
    proc = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()  # blocks until the server prints its URL
        if not line:
            _, err = proc.communicate(timeout=_START_TIMEOUT_S)
            pytest.fail(f"serve printed no URL; stderr:\n{err}")
        yield proc, line
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=_START_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_serve_prints_one_url_line_and_answers(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with _serve(data) as (proc, line):
        m = _URL_RE.match(line)
        assert m, line
        port, token = int(m.group(1)), m.group(2)
        assert port > 0
        assert token == load_or_create_token(data)
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=10.0) as http:
            health = http.get("/api/health")
            assert health.status_code == 200
            assert health.json()["database"] == "sqlite"
            assert http.get("/api/sessions").status_code == 401
            ok = http.get("/api/sessions", params={"token": token})
            assert ok.status_code == 200
            assert ok.json()["sessions"] == []
            r = http.get("/api/sessions", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 200
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=_START_TIMEOUT_S)
        assert out == ""  # nothing after the one URL line
    assert (data / "sintonia.sqlite").exists()


def test_serve_on_all_interfaces_needs_the_flag_and_warns_without_tls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import server.cli.serve as serve_module

    seen: list[ServerSettings] = []

    async def fake_run(
        settings: ServerSettings, *, on_ready: Callable[[str], None], **_: object
    ) -> None:
        seen.append(settings)
        on_ready(dashboard_url(settings.host, 4321, "tok"))

    monkeypatch.setattr(serve_module, "run_server", fake_run)
    monkeypatch.setenv("SINTONIA_DATA_DIR", str(tmp_path))
    argv = ["serve", "--host", "0.0.0.0", "--port", "0", "--allow-remote"]
    assert main([*argv, "--database-url", "postgresql://u@db.example/sintonia"]) == 0
    out, err = capsys.readouterr()
    assert out == "http://127.0.0.1:4321/?token=tok\n"  # where this machine's browser goes
    assert "WITHOUT TLS" in err
    (settings,) = seen
    assert (settings.host, settings.port, settings.allow_remote) == ("0.0.0.0", 0, True)
    assert settings.storage.database_url == "postgresql://u@db.example/sintonia"
    assert settings.data_dir == tmp_path


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_serve_with_tls(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    args = ("--tls-cert", str(cert), "--tls-key", str(key))
    with _serve(tmp_path / "data", *args) as (proc, line):
        m = re.match(r"^https://127\.0\.0\.1:(\d+)/\?token=([A-Za-z0-9_-]{43})$", line)
        assert m, line
        # the self-signed certificate is the trust anchor
        trust = ssl.create_default_context(cafile=str(cert))
        with httpx.Client(verify=trust, timeout=10.0) as http:
            r = http.get(f"https://127.0.0.1:{m.group(1)}/api/me", params={"token": m.group(2)})
        assert r.status_code == 200
        assert r.json()["kind"] == "admin"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=_START_TIMEOUT_S)
    assert "WITHOUT TLS" not in err
