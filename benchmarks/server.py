"""Live latency, CPU and memory of one server process with 1, 20 and 100 live sessions.

Run as ``python benchmarks/server.py [--sessions 1,20,100] [--seconds 15] [--warmup 6]``.

For each number of sessions N, a fresh server process (``create_app`` under uvicorn on
127.0.0.1, SQLite in a temporary ``SINTONIA_DATA_DIR``, the same code path as ``sintonia serve``)
runs N live sessions of two simulated straps each (patient and therapist, consents granted,
sessions started through the live hub: durable storage, streaming engine, WebSocket fan-out).
This process connects one WebSocket client per session and measures, for ``--seconds`` after
``--warmup`` seconds:

* ``p50_ms`` / ``p99_ms`` / ``max_ms``: latency from a simulated notification to the WebSocket
  ``beats`` message it triggered, on the one host clock (``time.time()`` in both processes): the
  client's receipt time minus the notification's scheduled host time (the ``host_time_s`` the
  source stamps). The server records, for every notification, its scheduled host time and when
  the source actually delivered it to the hub; each message carries, per participant, the hub's
  ``received_at_s`` of the newest notification computed for it, which is stamped in the same
  step as the delivery (no ``await`` in between), so the two are paired exactly
  (``matched_fraction``). The latency includes the server's event-loop lag in waking the source,
  storage hand-off, the engine, the per-session message cap (at most ~4 messages/s, leading
  edge: a notification that arrives within 250 ms of the previous message waits for the next
  slot), the WebSocket send and the client's own lag in reading. ``within_target``: the share
  under 50 ms.
* ``hub_p50_ms`` / ``hub_p99_ms``: the same from ``received_at_s``; ``source_wake_lag_*``: how
  late the event loop let the sources deliver (the difference); ``beat_display_delay_p50_ms``:
  receipt minus beat time, which adds the engine's look-ahead of two beats (artifact detection).
* ``cpu_percent``: server CPU time (user + system, ``/proc/PID/stat``) over wall time, in % of
  one core; ``rss_mb`` / ``peak_rss_mb``: resident memory at the end and its peak
  (``/proc/PID/status`` VmRSS, VmHWM).

Baselines (same run): the one-session configuration of the same pipeline (every row reports its
p99 as a ratio to the one-session p99), and the machine's floor, bare WebSockets in one server
process sending the same notification schedule to the same number of clients with no storage,
engine or cap (``bare_websocket_baseline``, ``p99_vs_bare_at_max``). A diagnostic row repeats
the largest configuration with the message cap raised to 50 per second per session, separating
the cap's share of the latency from the pipeline's. Target: p99 < 50 ms at 100 sessions.

The straps' beats come from :func:`sensor.simulator.simulate_rr` (the first-session scenario),
one notification per beat at the beat (a strap in per-beat mode, ~1.2 notifications/s per strap
against ~1/s for the usual straps). The last line printed is one JSON object. Linux only
(``/proc``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

# `python benchmarks/server.py` puts benchmarks/ first on sys.path, where this file would shadow
# the `server` package: import the installed packages instead.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    del sys.path[0]

import numpy as np

from sensor.simulator import Scenario, simulate_rr
from sensor.types import BeatBatch, BeatSource, DeviceEvent, SourceItem

if TYPE_CHECKING:
    from fastapi import FastAPI

    from server.live.sources import SourceSpec

DEFAULT_SESSIONS: Final[tuple[int, ...]] = (1, 20, 100)
TARGET_P99_MS: Final[float] = 50.0
#: The cap of the diagnostic row: a notification is held back at most 20 ms.
UNCAPPED_PER_S: Final[float] = 50.0
_READY_TIMEOUT_S: Final[float] = 180.0
_MS_PER_S: Final[float] = 1000.0
_CLK_TCK: Final[int] = os.sysconf("SC_CLK_TCK")
_ROLE_CODE: Final[dict[str, int]] = {"patient": 0, "therapist": 1}
#: A message's ``received_at_s`` is stamped by the hub in the same step as the source delivers
#: the notification (no await in between): a delivery matches when it is this close, s.
_MATCH_TOL_S: Final[float] = 0.005
_PAGE_KB: Final[int] = 1024


# ------------------------------------------------------------------------- server side


class PerBeatStrapSource:
    """Two simulated straps that notify once per beat, at the beat's host time.

    Parameters
    ----------
    spec : server.live.SourceSpec
        From the hub (participants, session-clock start and speed, planned duration).
    seed : int
        Simulation seed.
    """

    def __init__(self, spec: SourceSpec, seed: int) -> None:
        self._spec = spec
        self._seed = seed
        self._closed = False

    def __aiter__(self) -> AsyncIterator[SourceItem]:
        return self._run()

    async def aclose(self) -> None:
        self._closed = True

    def _is_closed(self) -> bool:
        return self._closed

    async def _run(self) -> AsyncIterator[SourceItem]:
        spec = self._spec
        scenario = Scenario.first_session(spec.duration_s)
        roles = [p.role for p in spec.participants]
        sims = [simulate_rr(scenario, role, seed=self._seed) for role in roles]
        t0 = spec.start_time_s
        who = np.concatenate([np.full(len(s), k) for k, s in enumerate(sims)])
        idx = np.concatenate([np.arange(len(s)) for s in sims])
        when = np.concatenate([s.beat_times_s for s in sims])
        order = np.argsort(when, kind="stable")
        devices = [f"bench:{self._seed}:{r}" for r in roles]
        for k, role in enumerate(roles):
            yield DeviceEvent(role, devices[k], "connected", t0)
        clock = spec.clock
        for j in order.tolist():
            k, i = int(who[j]), int(idx[j])
            t_beat = t0 + float(when[j]) / spec.speed
            delay = t_beat - clock()
            if delay > 0:
                await asyncio.sleep(delay)
            if self._is_closed():
                return
            _DELIVERIES.append((spec.session_id, _ROLE_CODE[roles[k]], t_beat, clock()))
            sim = sims[k]
            rr = sim.rr_ms[i : i + 1]
            yield BeatBatch(
                roles[k],
                devices[k],
                rr.astype(np.float64),
                (int(sim.rr_raw[i]),),
                t_beat,
                np.array([t_beat]),
                contact=True,
                heart_rate_bpm=round(60_000.0 / float(rr[0])),
                seq=i,
                gap_before=i == 0,
            )


#: (scheduled notification time, how late the source woke up to deliver it), host clock s.
#: Every notification the straps delivered: (session id, role code, scheduled host time, host
#: time the source delivered it to the hub), s; saved for the parent at exit.
_DELIVERIES: list[tuple[float, float, float, float]] = []
DELIVERIES_FILE_ENV: Final[str] = "SINTONIA_BENCH_DELIVERIES_FILE"


def _factory(spec: SourceSpec) -> BeatSource:
    return PerBeatStrapSource(spec, seed=spec.session_id)


async def _serve(n_sessions: int, minutes: float, cap_per_s: float | None) -> None:
    """Server process: N live sessions; prints one JSON line (port, token, session ids)."""
    from server.app import AppContext, create_app
    from server.cli.demo import LoopbackServer, prepare_demo_session
    from server.settings import ServerSettings

    settings = ServerSettings.from_env(port=0, speed=1.0)
    if cap_per_s is not None:
        settings = replace(settings, max_ws_messages_per_s=cap_per_s)
    app = create_app(settings, source_factory=_factory)
    sessions: list[int] = []

    async def on_started(app: FastAPI) -> None:
        ctx: AppContext = app.state.ctx
        for i in range(n_sessions):
            demo = await asyncio.to_thread(
                prepare_demo_session,
                ctx.store,
                minutes=minutes,
                seed=i,
                patient_code=f"P-B{i:03d}",
                therapist_code=f"T-B{i:03d}",
                label=f"benchmark {i}",
            )
            sessions.append(demo.session_id)
        for sid in sessions:
            await ctx.hub.start_session(sid)
        line = {"port": server.port, "token": ctx.token, "sessions": sessions}
        print(json.dumps(line), flush=True)

    async def before_shutdown(app: FastAPI) -> None:
        ctx: AppContext = app.state.ctx
        for sid in sessions:
            if ctx.hub.is_live(sid):
                await ctx.hub.stop_session(sid)

    server = LoopbackServer(app, port=0, on_started=on_started, before_shutdown=before_shutdown)
    await server.serve()
    if path := os.environ.get(DELIVERIES_FILE_ENV):
        np.save(path, np.asarray(_DELIVERIES, dtype=np.float64).reshape(-1, 4))


async def _serve_bare(n_connections: int, minutes: float) -> None:
    """Baseline server process: a bare WebSocket per connection, same notification schedule.

    Each connection gets the beats of two simulated straps as they happen (one JSON message per
    notification, stamped with its scheduled host time), with no storage, engine or cap: the
    floor of what this machine, uvicorn and the client add under the same connection count and
    message rate.
    """
    from fastapi import FastAPI
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket

    from server.cli.demo import LoopbackServer

    duration_s = minutes * 60.0

    async def bare(websocket: WebSocket) -> None:
        index = int(websocket.path_params["index"])
        await websocket.accept()
        scenario = Scenario.first_session(duration_s)
        sims = [simulate_rr(scenario, role, seed=index) for role in ("patient", "therapist")]
        when = np.sort(np.concatenate([sim.beat_times_s for sim in sims]))
        start = time.time()
        for rel in when.tolist():
            t = start + rel
            delay = t - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            await websocket.send_text(json.dumps({"type": "bare", "notified_at_s": t}))

    app = FastAPI(routes=[WebSocketRoute("/bare/{index}", bare)])

    async def on_started(app: FastAPI) -> None:
        line = {"port": server.port, "token": "", "sessions": list(range(n_connections))}
        print(json.dumps(line), flush=True)

    server = LoopbackServer(app, port=0, on_started=on_started)
    await server.serve()


# ------------------------------------------------------------------------- client side


@dataclass
class _ProcStat:
    cpu_s: float
    rss_mb: float
    peak_rss_mb: float


def _proc_stat(pid: int) -> _ProcStat:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the command name: state is field 3, utime 14, stime 15 (1-based, proc(5)).
    cpu_s = (int(fields[11]) + int(fields[12])) / _CLK_TCK
    status = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        status[key] = value.strip()
    rss = int(status.get("VmRSS", "0 kB").split()[0]) / _PAGE_KB
    hwm = int(status.get("VmHWM", "0 kB").split()[0]) / _PAGE_KB
    return _ProcStat(cpu_s, rss, hwm)


def _pct(values: np.ndarray[Any, Any], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 2) if values.size else None


@dataclass
class _Result:
    sessions: int
    hub_latencies_ms: list[float] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    display_delays_ms: list[float] = field(default_factory=list)
    wake_lags_ms: list[float] = field(default_factory=list)
    #: (session id, role code, received_at_s, client receipt time) per participant and message.
    receipts: list[tuple[float, float, float, float]] = field(default_factory=list)
    matched: float = float("nan")
    notifications: int = 0
    messages: int = 0
    cpu_percent: float = float("nan")
    rss_mb: float = float("nan")
    peak_rss_mb: float = float("nan")
    seconds: float = 0.0
    setup_s: float = 0.0
    window: tuple[float, float] = (0.0, 0.0)

    def summary(self, baseline_p99_ms: float | None) -> dict[str, Any]:
        lat = np.asarray(self.latencies_ms, dtype=np.float64)
        p99 = _pct(lat, 99)
        return {
            "sessions": self.sessions,
            "straps": 2 * self.sessions,
            "samples": int(lat.size),
            "notifications_per_s": round(self.notifications / self.seconds, 1),
            "messages_per_s": round(self.messages / self.seconds, 1),
            "p50_ms": _pct(lat, 50),
            "p99_ms": p99,
            "max_ms": round(float(lat.max()), 2) if lat.size else None,
            "within_target": round(float(np.mean(lat < TARGET_P99_MS)), 4) if lat.size else None,
            "matched_fraction": None if math.isnan(self.matched) else round(self.matched, 4),
            "hub_p50_ms": _pct(np.asarray(self.hub_latencies_ms), 50),
            "hub_p99_ms": _pct(np.asarray(self.hub_latencies_ms), 99),
            "p99_vs_1_session": (
                round(p99 / baseline_p99_ms, 2) if p99 is not None and baseline_p99_ms else None
            ),
            "source_wake_lag_p50_ms": _pct(np.asarray(self.wake_lags_ms), 50),
            "source_wake_lag_p99_ms": _pct(np.asarray(self.wake_lags_ms), 99),
            "beat_display_delay_p50_ms": _pct(np.asarray(self.display_delays_ms), 50),
            "cpu_percent": None if math.isnan(self.cpu_percent) else round(self.cpu_percent, 1),
            "rss_mb": round(self.rss_mb, 1),
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "setup_s": round(self.setup_s, 1),
        }


async def _client(
    url: str, result: _Result, t_start: float, t_end: float, ready: asyncio.Event
) -> None:
    from websockets.asyncio.client import connect

    async with connect(url, max_size=2**26, open_timeout=60) as ws:
        ready.set()
        while True:
            text = await ws.recv()
            now = time.time()
            if now >= t_end:
                return
            if now < t_start:
                continue
            msg = json.loads(text)
            if msg.get("type") == "bare":
                result.messages += 1
                result.notifications += 1
                result.latencies_ms.append((now - msg["notified_at_s"]) * _MS_PER_S)
                continue
            if msg.get("type") != "beats":
                continue
            result.messages += 1
            for p in msg["participants"]:
                result.notifications += len(p["time_s"])  # one notification per beat
                received = p.get("received_at_s")
                if received is not None:
                    result.hub_latencies_ms.append((now - received) * _MS_PER_S)
                    result.receipts.append(
                        (msg["session_id"], _ROLE_CODE[p["role"]], received, now)
                    )
                result.display_delays_ms.append((now - p["time_s"][-1]) * _MS_PER_S)


async def _measure(
    url: str, sessions: list[int], pid: int, warmup_s: float, seconds: float
) -> _Result:
    result = _Result(len(sessions), seconds=seconds)
    readies = [asyncio.Event() for _ in sessions]
    t_start = time.time() + warmup_s
    t_end = t_start + seconds
    result.window = (t_start, t_end)
    tasks = [
        asyncio.create_task(
            _client(
                url.format(sid),
                result,
                t_start,
                t_end,
                ready,
            )
        )
        for sid, ready in zip(sessions, readies, strict=True)
    ]
    await asyncio.sleep(max(0.0, t_start - time.time()))
    before = _proc_stat(pid)
    wall0 = time.monotonic()
    await asyncio.sleep(max(0.0, t_end - time.time()))
    after = _proc_stat(pid)
    wall = time.monotonic() - wall0
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=30.0)
    result.cpu_percent = 100.0 * (after.cpu_s - before.cpu_s) / wall
    result.rss_mb, result.peak_rss_mb = after.rss_mb, after.peak_rss_mb
    return result


def _pair(result: _Result, deliveries: np.ndarray[Any, Any]) -> None:
    """Match each message's ``received_at_s`` to the notification that triggered it.

    The notification -> message latency is then ``client receipt - scheduled host time`` of
    that notification: it includes how late the server's event loop let the source deliver it.
    """
    t0, t1 = result.window
    inside = (deliveries[:, 2] >= t0) & (deliveries[:, 2] < t1)
    result.wake_lags_ms = ((deliveries[inside, 3] - deliveries[inside, 2]) * _MS_PER_S).tolist()
    receipts = np.asarray(result.receipts, dtype=np.float64).reshape(-1, 4)
    if receipts.size == 0 or deliveries.size == 0:
        return
    key_d = deliveries[:, 0] * 2 + deliveries[:, 1]
    key_r = receipts[:, 0] * 2 + receipts[:, 1]
    latencies: list[np.ndarray[Any, Any]] = []
    for key in np.unique(key_r).tolist():  # one group per participant (<= 200)
        d = deliveries[key_d == key]
        d = d[np.argsort(d[:, 3])]
        r = receipts[key_r == key]
        i = np.searchsorted(d[:, 3], r[:, 2], side="right") - 1
        ok = i >= 0
        ok[ok] = r[ok, 2] - d[i[ok], 3] <= _MATCH_TOL_S
        latencies.append((r[ok, 3] - d[i[ok], 2]) * _MS_PER_S)
    matched = np.concatenate(latencies)
    result.latencies_ms = matched.tolist()
    result.matched = matched.size / receipts.shape[0]


def _run_one(
    n: int, warmup_s: float, seconds: float, cap_per_s: float | None = None, bare: bool = False
) -> _Result:
    minutes = (warmup_s + seconds + 120.0) / 60.0
    with tempfile.TemporaryDirectory(prefix="sintonia-bench-") as tmp:
        env = dict(os.environ)
        env.pop("SINTONIA_DATABASE_URL", None)
        env["SINTONIA_DATA_DIR"] = tmp
        deliveries_file = Path(tmp) / "deliveries.npy"
        env[DELIVERIES_FILE_ENV] = str(deliveries_file)
        t0 = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(n), "--minutes", str(minutes)]
            + ([] if cap_per_s is None else ["--cap", str(cap_per_s)])
            + (["--bare"] if bare else []),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL if os.environ.get("BENCH_QUIET") else None,
            text=True,
            env=env,
        )
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"server process exited ({proc.wait()}) before it was ready")
            info = json.loads(line)
            setup_s = time.monotonic() - t0
            port, token = info["port"], info["token"]
            url = (
                f"ws://127.0.0.1:{port}/bare/{{}}"
                if bare
                else f"ws://127.0.0.1:{port}/ws/sessions/{{}}?token={token}"
            )
            result = asyncio.run(_measure(url, info["sessions"], proc.pid, warmup_s, seconds))
            result.setup_s = setup_s
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if deliveries_file.exists() and not bare:
            _pair(result, np.load(deliveries_file))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sessions", default=",".join(map(str, DEFAULT_SESSIONS)))
    parser.add_argument("--seconds", type=float, default=15.0, help="measured time per row, s")
    parser.add_argument("--warmup", type=float, default=6.0, help="unmeasured start, s")
    parser.add_argument("--serve", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--minutes", type=float, default=5.0, help=argparse.SUPPRESS)
    parser.add_argument("--cap", type=float, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--bare", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--no-uncapped",
        action="store_true",
        help="skip the diagnostic row without the 4 messages/s cap",
    )
    args = parser.parse_args()
    if args.serve is not None:
        if args.bare:
            asyncio.run(_serve_bare(args.serve, args.minutes))
        else:
            asyncio.run(_serve(args.serve, args.minutes, args.cap))
        return
    counts = [int(x) for x in args.sessions.split(",")]
    results = [_run_one(n, args.warmup, args.seconds) for n in counts]
    base = next((r for r in results if r.sessions == 1), None)
    base_p99 = base.summary(None)["p99_ms"] if base is not None else None
    rows = [r.summary(base_p99) for r in results]
    from server.settings import ServerSettings

    default_cap = ServerSettings.from_env().max_ws_messages_per_s
    for row in rows:
        row["max_messages_per_s_per_session"] = default_cap
    diagnostic = None
    if not args.no_uncapped:
        # The same load with the per-session message cap lifted: what the pipeline itself costs.
        uncapped = _run_one(counts[-1], args.warmup, args.seconds, UNCAPPED_PER_S)
        diagnostic = uncapped.summary(base_p99)
        diagnostic["max_messages_per_s_per_session"] = UNCAPPED_PER_S
    # Floor of the machine: bare WebSockets, same connection count and notification schedule.
    bare = _run_one(counts[-1], args.warmup, args.seconds, bare=True).summary(base_p99)
    print(
        f"notification -> WebSocket message latency, one server process, "
        f"{args.seconds:g} s measured after {args.warmup:g} s warm-up per row "
        f"(baseline: 1 session, same run; target p99 < {TARGET_P99_MS:g} ms at 100 sessions)"
    )
    columns = (
        ("sessions", "sessions"),
        ("notifications_per_s", "notif/s"),
        ("messages_per_s", "msg/s"),
        ("p50_ms", "p50 ms"),
        ("p99_ms", "p99 ms"),
        ("max_ms", "max ms"),
        ("p99_vs_1_session", "p99/1s"),
        ("within_target", "<50ms"),
        ("hub_p99_ms", "hub p99"),
        ("source_wake_lag_p99_ms", "wake p99"),
        ("beat_display_delay_p50_ms", "beat p50"),
        ("cpu_percent", "CPU %"),
        ("rss_mb", "RSS MB"),
        ("peak_rss_mb", "peak MB"),
    )
    print(" ".join(f"{title:>9}" for _, title in columns))
    for r in rows:
        print(" ".join(f"{r[key]!s:>9}" for key, _ in columns))
    if diagnostic is not None:
        print(
            f"diagnostic, cap {UNCAPPED_PER_S:g} messages/s per session instead of {default_cap:g}:"
        )
        print(" ".join(f"{diagnostic[key]!s:>9}" for key, _ in columns))
    print("baseline floor, bare WebSockets (no storage, engine or cap), same schedule:")
    print(" ".join(f"{bare[key]!s:>9}" for key, _ in columns))
    print(
        "p50/p99/max: client receipt of a beats message - scheduled host time of the "
        "notification that triggered it; hub p99: the same from received_at_s (when the hub got "
        "it); wake p99: how late the server's event loop let the source deliver a notification; "
        "beat p50: client receipt - beat time (includes the engine's 2-beat look-ahead)"
    )
    at_max = rows[-1]
    print(
        json.dumps(
            {
                "benchmark": "server",
                "baseline": "1 live session, same pipeline, same run",
                "target_p99_ms": TARGET_P99_MS,
                "meets_target": at_max["p99_ms"] is not None and at_max["p99_ms"] < TARGET_P99_MS,
                "cpu_count": os.cpu_count(),
                "rows": rows,
                "uncapped_diagnostic": diagnostic,
                "bare_websocket_baseline": bare,
                "p99_vs_bare_at_max": (
                    round(at_max["p99_ms"] / bare["p99_ms"], 2)
                    if at_max["p99_ms"] is not None and bare["p99_ms"]
                    else None
                ),
            }
        )
    )


if __name__ == "__main__":
    main()
