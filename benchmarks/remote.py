"""Remote session on loopback: beats lost and end-to-end delay, relay -> server -> therapist.

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
sys.path.insert(0, str(_HERE.parent / "tests" / "server"))

import _e2e as e2e  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402

from sensor.simulator import Scenario, SimulatedSource  # noqa: E402
from sensor.types import BeatBatch  # noqa: E402
from server.cli.relay import Relay, ingest_url  # noqa: E402


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


async def _run(server: e2e.ServerProcess, seconds: float) -> dict[str, object]:
    sid, url, token = _plan(server)
    relay = Relay(ingest_url(url, "bench"))
    source = SimulatedSource(Scenario.calm(seconds + 30), seed=3, roles=("patient",), speed=1.0)
    delays: list[float] = []
    produced = 0

    async def therapist() -> None:
        async with connect(f"ws://127.0.0.1:{server.port}/ws/sessions/{sid}?token={token}") as ws:
            async for raw in ws:
                now = time.time()
                msg = json.loads(raw)
                if msg.get("type") == "beats":
                    for p in msg["participants"]:
                        delays.extend(now - t for t in p["time_s"])

    async def strap() -> None:
        nonlocal produced
        async for item in source:
            if isinstance(item, BeatBatch) and len(item):
                produced += len(item)
                relay.add(item)

    tasks = [asyncio.create_task(c) for c in (therapist(), strap(), relay.run())]
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
    stored = len(set(zip(beats["device"], beats["seq"], strict=True)))
    d = np.array(delays) * 1000.0
    acks = np.array(relay.stats.ack_delays_s) * 1000.0
    return {
        "seconds": seconds,
        "beats_produced": produced,
        "beats_stored": stored,
        "beats_lost": produced - stored,
        "drained": drained,
        "beats_on_trace": len(delays),
        "delay_p50_ms": round(float(np.percentile(d, 50)), 1),
        "delay_p99_ms": round(float(np.percentile(d, 99)), 1),
        "ack_p50_ms": round(float(np.percentile(acks, 50)), 1),
        "ack_p99_ms": round(float(np.percentile(acks, 99)), 1),
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
