"""Remote session on loopback: beats lost and end-to-end delay, relay -> server -> therapist,
against the baseline of a local strap measured in the same run.

Run as ``python benchmarks/remote.py [--seconds 60]``.

A real ``sintonia serve`` process (SQLite in a temporary data directory) gets a planned session
with one remote patient, a join link, the patient's consents (through the join API) and a start.
This process then runs the relay of ``sintonia relay --simulate`` (:class:`server.cli.relay.Relay`
fed by :class:`sensor.simulator.SimulatedSource` at real time: 1 s notifications, as a strap)
and a therapist client on ``/ws/sessions/{id}``, and reports:

* ``beats_lost``: beats the simulated strap produced minus distinct beats stored (after the
  relay's last acknowledgement);
* ``delay_p50_ms`` / ``delay_p99_ms``: for every beat on the therapist's trace, its receipt time
  by the therapist client minus the beat's time (the end of its RR interval) on the patient's
  clock (one host clock here, so the offset is 0 up to the server's estimate). This includes
  the strap's notification period (a beat waits up to 1 s in the strap), the engine's look-ahead
  of two beats (artifact detection) and the live page's message cap (4 messages/s);
* ``ack_p50_ms``: relay send -> acknowledgement (storage committed).

Baseline, in the same run and the same server: a second session whose patient is a local strap
(the server's own simulator source, ``{"kind": "simulator"}``: the path of a BLE strap next to the
therapist's computer, 1 s notifications too), measured the same way on its own therapist client
(``baseline_local_*``). The difference is what the remote path adds (relay, WebSocket ingest,
clock offset, storage before acknowledgement).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

_HERE = Path(__file__).resolve().parent
# this folder holds sensor.py and server.py benchmarks that would shadow the packages
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from websockets.asyncio.client import connect  # noqa: E402

from sensor.simulator import Scenario, SimulatedSource  # noqa: E402
from sensor.types import BeatBatch  # noqa: E402
from server.cli.relay import Relay, ingest_url  # noqa: E402
from tests.support import e2e  # noqa: E402


def _plan(server: e2e.ServerProcess) -> tuple[int, str, str]:
    with server.client() as api:
        p = api.post("/api/participants", json={"code": "P-BENCH", "role": "patient"}).json()
        sid = int(api.post("/api/sessions", json={"label": "bench"}).json()["id"])
        link = api.post(
            f"/api/sessions/{sid}/join-links",
            json={"participant_id": p["id"], "expires_in_s": 3600},
        ).json()
    with server.client(auth=False) as patient:
        for purpose in ("storage", "live_display"):
            patient.post(
                f"/api/join/{link['token']}/consents", json={"purpose": purpose, "granted": True}
            )
    with server.client() as api:
        api.post(f"/api/sessions/{sid}/start")
    return sid, link["url"], server.token


def _plan_local(server: e2e.ServerProcess) -> int:
    """A session whose patient is a local strap (the server's simulator source), started."""
    with server.client() as api:
        p = api.post("/api/participants", json={"code": "P-LOCAL", "role": "patient"}).json()
        r = api.post(
            "/api/sessions",
            json={
                "label": "baseline",
                "participants": [
                    {"participant_id": p["id"], "device": {"kind": "simulator", "seed": 3}}
                ],
            },
        )
        assert r.status_code == 201, r.text
        sid = int(r.json()["id"])
        for purpose in ("storage", "live_display"):
            api.post(
                f"/api/participants/{p['id']}/consents",
                json={"purpose": purpose, "version": "v1"},
            )
        assert api.post(f"/api/sessions/{sid}/start").status_code in (200, 201)
    return sid


async def _trace_delays(port: int, sid: int, token: str, delays: list[float]) -> None:
    """Receipt time minus beat time of every beat on a therapist's live stream."""
    async with connect(f"ws://127.0.0.1:{port}/ws/sessions/{sid}?token={token}") as ws:
        async for raw in ws:
            now = time.time()
            msg = json.loads(raw)
            if msg.get("type") == "beats":
                for p in msg["participants"]:
                    delays.extend(now - t for t in p["time_s"])


def _pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(np.array(values) * 1000.0, q)), 1) if values else None


async def _run(server: e2e.ServerProcess, seconds: float) -> dict[str, object]:
    sid, url, token = _plan(server)
    local_sid = _plan_local(server)
    local_delays: list[float] = []
    relay = Relay(ingest_url(url, "bench"))
    source = SimulatedSource(Scenario.calm(seconds + 30), seed=3, roles=("patient",), speed=1.0)
    delays: list[float] = []
    produced = 0

    async def strap() -> None:
        nonlocal produced
        async for item in source:
            if isinstance(item, BeatBatch) and len(item):
                produced += len(item)
                relay.add(item)

    tasks = [
        asyncio.create_task(c)
        for c in (
            _trace_delays(server.port, sid, token, delays),
            strap(),
            relay.run(),
            _trace_delays(server.port, local_sid, token, local_delays),
        )
    ]
    await asyncio.sleep(seconds)
    await source.aclose()
    tasks[1].cancel()
    drained = await relay.wait_acked(60.0)
    await asyncio.sleep(2.0)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    with server.client() as api:
        beats = e2e.all_beats(api, sid)
        local = e2e.all_beats(api, local_sid)
    stored = len(set(zip(beats["device"], beats["seq"], strict=True)))
    acks = relay.stats.ack_delays_s
    return {
        "seconds": seconds,
        "beats_produced": produced,
        "beats_stored": stored,
        "beats_lost": produced - stored,
        "drained": drained,
        "beats_on_trace": len(delays),
        "delay_p50_ms": _pct(delays, 50),
        "delay_p99_ms": _pct(delays, 99),
        "ack_p50_ms": _pct(acks, 50),
        "ack_p99_ms": _pct(acks, 99),
        "baseline": "local strap (server's simulator source), same server, same run",
        "baseline_local_beats_stored": len(local.get("seq", [])),
        "baseline_local_beats_on_trace": len(local_delays),
        "baseline_local_delay_p50_ms": _pct(local_delays, 50),
        "baseline_local_delay_p99_ms": _pct(local_delays, 99),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        e2e.running_server(["serve", "--port", "0"], Path(tmp) / "data") as server,
    ):
        result = asyncio.run(_run(server, args.seconds))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
