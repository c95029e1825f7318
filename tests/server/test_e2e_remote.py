"""A remote session end to end: ``sintonia relay --simulate`` against a real ``sintonia serve``
on loopback, with the server killed (``kill -9``) and restarted mid-session: zero beats lost,
none stored twice (issue 15)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.support import e2e

#: How long the relay plays the simulated strap, s (about 25 beats).
RELAY_S = 24.0


def _plan_remote_session(server: object) -> tuple[int, str]:
    with server.client() as api:  # type: ignore[attr-defined]
        p = api.post("/api/participants", json={"code": "P-HOME", "role": "patient"})
        assert p.status_code == 201, p.text
        s = api.post("/api/sessions", json={"label": "remote"})
        assert s.status_code == 201, s.text
        sid = int(s.json()["id"])
        link = api.post(
            f"/api/sessions/{sid}/join-links",
            json={"participant_id": p.json()["id"], "expires_in_s": 3600},
        )
        assert link.status_code == 201, link.text
        url = str(link.json()["url"])
        token = str(link.json()["token"])
    with server.client(auth=False) as patient:  # type: ignore[attr-defined]
        # review too: the test reads the beats back after the session (issue 12: per purpose)
        for purpose in ("storage", "live_display", "review"):
            r = patient.post(
                f"/api/join/{token}/consents", json={"purpose": purpose, "granted": True}
            )
            assert r.status_code == 200, r.text
    with server.client() as api:  # type: ignore[attr-defined]
        assert api.post(f"/api/sessions/{sid}/start").status_code in (200, 201)
    return sid, url


@pytest.mark.slow
def test_relay_loses_no_beat_across_a_server_kill_9(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = e2e.start_server(["serve", "--port", "0"], data_dir, log_path=tmp_path / "s1.log")
    relay: subprocess.Popen[str] | None = None
    try:
        sid, url = _plan_remote_session(server)
        log_fd = os.open(tmp_path / "relay.log", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            relay = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "server.cli",
                    "relay",
                    "--join",
                    url,
                    "--simulate",
                    "--duration",
                    str(RELAY_S),
                    "--drain-timeout",
                    "90",
                ],
                stdout=subprocess.PIPE,
                stderr=log_fd,
                text=True,
            )
        finally:
            os.close(log_fd)
        with server.client() as api:
            e2e.wait_until(lambda: e2e.beat_count(api, sid) >= 5, timeout_s=40)
        server.kill()  # kill -9 mid-session: the relay keeps buffering
        time.sleep(3.0)
        server = e2e.start_server(
            ["serve", "--port", str(server.port)], data_dir, log_path=tmp_path / "s2.log"
        )
        out, _ = relay.communicate(timeout=RELAY_S + 120)
        assert relay.returncode == 0, (out, (tmp_path / "relay.log").read_text()[-3000:])
        summary = json.loads(out.strip().splitlines()[-1])
        assert summary["connections"] >= 2
        assert summary["beats_read"] >= 15
        assert summary["beats_acked"] == summary["beats_read"]
        assert summary["beats_buffered"] == 0
        with server.client() as api:
            beats = e2e.all_beats(api, sid)
            status = api.get(f"/api/sessions/{sid}").json()["status"]
        keys = list(zip(beats["device"], beats["seq"], strict=True))
        assert len(keys) == summary["beats_read"]  # zero lost
        assert len(set(keys)) == len(keys)  # none twice
        assert status == "interrupted"  # the kill is recorded, the beats filled in later
        rr = beats["rr_ms"]
        assert all(300.0 < x < 2000.0 for x in rr)
    finally:
        if relay is not None and relay.poll() is None:
            relay.send_signal(signal.SIGINT)
            relay.wait(timeout=30)
        if server.proc.poll() is None:
            server.stop()


@pytest.mark.slow
def test_relay_replays_a_recording_losslessly(tmp_path: Path) -> None:
    """``sintonia relay --replay FILE --speed 0``: every RR of the file stored once, exact."""
    rng = np.random.default_rng(7)
    rr = np.round(800.0 + 60.0 * rng.standard_normal(150)).astype(int)
    recording = tmp_path / "rr.txt"
    recording.write_text("\n".join(str(x) for x in rr) + "\n")  # plain RR in ms
    with e2e.running_server(["serve", "--port", "0"], tmp_path / "data") as server:
        sid, url = _plan_remote_session(server)
        relay = subprocess.run(
            [
                sys.executable,
                "-m",
                "server.cli",
                "relay",
                "--join",
                url,
                "--replay",
                str(recording),
                "--speed",
                "0",
                "--drain-timeout",
                "60",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert relay.returncode == 0, relay.stderr[-3000:]
        summary = json.loads(relay.stdout.strip().splitlines()[-1])
        assert summary["beats_read"] == summary["beats_acked"] == len(rr)
        with server.client() as api:
            beats = e2e.all_beats(api, sid)
            (link,) = api.get(f"/api/sessions/{sid}/join-links").json()
    # the relay closed normally once everything was acknowledged, and reported round trips
    assert link["quality"]["last_close_code"] == 1000
    assert summary["min_rtt_s"] is not None
    order = np.argsort(beats["beat_time_s"], kind="stable")
    assert [beats["rr_ms"][i] for i in order] == [float(x) for x in rr]
    assert len(set(zip(beats["device"], beats["seq"], strict=True))) == len(rr)
    assert sum(beats["gap_before"]) == 1  # the first beat only: the file has no gap


def test_relay_refuses_two_sources_at_once(tmp_path: Path) -> None:
    from server.cli import main

    rr = tmp_path / "rr.txt"
    rr.write_text("800\n810\n")
    join = "http://127.0.0.1:9/join/abc"
    assert main(["relay", "--join", join, "--simulate", "--replay", str(rr)]) == 2
    assert main(["relay", "--join", join]) == 2
    assert main(["relay", "--join", join, "--replay", str(rr), "--speed", "-1"]) == 2
