"""Benchmark of the streaming engine (:mod:`hrv.stream`) in live use: one beat per push.

Run: ``python benchmarks/engine.py [--quick]``. Prints a readable table and, as its last line, one
JSON object::

    {"beats_per_s": {"1": ..., "100": ..., "10000": ...}, "latency_us_p99_1": ...,
     "baseline_python_deque_beats_per_s": ..., ...}

Workload: every participant receives one beat per push, as from a BLE strap (one notification per
beat); the N participants' beats arrive together and go to the engine as one push. Windows are
warmed up first (100 beats, more than the 60 s window), so expiry runs as in a real session.

* ``beats_per_s[N]``: beats processed per second of wall time with N concurrent participants
  (best of 3 runs), on one core (numpy runs single-threaded here);
* ``latency_us_p99_1``: 99th percentile over beats of the time of one push of one beat, one
  participant. The same beat sequence is replayed ``REPLAYS`` times and each beat's time is the
  fastest of its replays: on a shared machine the raw p99 is set by the scheduler (a process
  preempted for one 4 ms tick in more than 1 % of pushes), not by the engine. The raw p99 (single
  run) is printed and reported as ``latency_us_p99_1_raw`` next to it;
* baseline: a pure-Python implementation of the same trailing update (mean HR over 10 s and
  RMSSD over 60 s with ``collections.deque`` and running sums, no artifact detection, no quality,
  no validation), measured in the same run on the same beats; ``ratio_vs_deque[N]`` is the
  engine's beats/s over the baseline's for the same N. The engine does more per beat (the causal
  artifact detector with two 91-beat quantile windows, quality, missing beats, contact), so a
  ratio below 1 for one participant is the price of that work, not of the data layout.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections import deque
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hrv.stream import HRVStream, MultiStreamEngine, StreamConfig
from hrv.synthetic import synthetic_rr

WARMUP_BEATS = 100
REPLAYS = 5


class DequeTrailing:
    """Baseline: trailing mean HR (10 s) and RMSSD (60 s) for one participant, pure Python."""

    __slots__ = ("hr", "hr_sum", "last_rr", "rm", "rm_sq")

    def __init__(self) -> None:
        self.hr: deque[tuple[float, float]] = deque()
        self.rm: deque[tuple[float, float]] = deque()
        self.hr_sum = 0.0
        self.rm_sq = 0.0
        self.last_rr: float | None = None

    def update(self, t: float, rr: float) -> tuple[float, float]:
        inst = 60_000.0 / rr
        self.hr.append((t, inst))
        self.hr_sum += inst
        while self.hr[0][0] <= t - 10.0:
            self.hr_sum -= self.hr.popleft()[1]
        if self.rm and self.last_rr is not None:
            d = rr - self.last_rr
            sq = d * d
        else:
            sq = 0.0
        self.rm.append((t, sq))
        self.rm_sq += sq
        self.last_rr = rr
        while self.rm[0][0] <= t - 60.0:
            self.rm.popleft()
            # the pair term of the new oldest beat pairs with a beat that left: drop it
            t0, sq0 = self.rm[0]
            self.rm_sq -= sq0
            self.rm[0] = (t0, 0.0)
        n = len(self.rm)
        rmssd = math.sqrt(max(self.rm_sq, 0.0) / (n - 1)) if n > 1 else math.nan
        return self.hr_sum / len(self.hr), rmssd


def make_beats(n_part: int, n_beats: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """RR [n_part, n_beats] (ms) and beat times (s): one synthetic series, shifted and scaled."""
    rng = np.random.default_rng(seed)
    base = synthetic_rr(4096, seed=seed)
    shift = rng.integers(0, base.size, n_part)
    idx = (shift[:, None] + np.arange(n_beats)[None, :]) % base.size
    scale = rng.uniform(0.75, 1.25, n_part)[:, None]
    rr = base[idx] * scale + rng.normal(0.0, 3.0, (n_part, n_beats))
    return rr, np.cumsum(rr, axis=1) / 1000.0


def engine_rate(n_part: int, steps: int, repeat: int = 3) -> float:
    rr, t = make_beats(n_part, WARMUP_BEATS + steps)
    rows = np.arange(n_part)
    best = math.inf
    for _ in range(repeat):
        eng = MultiStreamEngine(n_part)
        for i in range(WARMUP_BEATS):
            eng.push(rows, rr[:, i], t[:, i])
        t0 = time.perf_counter()
        for i in range(WARMUP_BEATS, WARMUP_BEATS + steps):
            eng.push(rows, rr[:, i], t[:, i])
        best = min(best, time.perf_counter() - t0)
    return n_part * steps / best


def deque_rate(n_part: int, steps: int, repeat: int = 3) -> float:
    rr, t = make_beats(n_part, WARMUP_BEATS + steps)
    rr_l, t_l = rr.T.tolist(), t.T.tolist()  # per step, a list of the N participants' beats
    best = math.inf
    for _ in range(repeat):
        states = [DequeTrailing() for _ in range(n_part)]
        for i in range(WARMUP_BEATS):
            for s, tt, r in zip(states, t_l[i], rr_l[i], strict=True):
                s.update(tt, r)
        t0 = time.perf_counter()
        for i in range(WARMUP_BEATS, WARMUP_BEATS + steps):
            for s, tt, r in zip(states, t_l[i], rr_l[i], strict=True):
                s.update(tt, r)
        best = min(best, time.perf_counter() - t0)
    return n_part * steps / best


def latencies_us(n_beats: int, config: StreamConfig | None = None) -> np.ndarray:
    """Time of each one-beat push for one participant, us, one row per replay (after warm-up)."""
    rr, t = make_beats(1, WARMUP_BEATS + n_beats, seed=1)
    out = np.empty((REPLAYS, n_beats))
    clock = time.perf_counter
    for rep in range(REPLAYS):
        stream = HRVStream(config)
        for i in range(WARMUP_BEATS):
            stream.push(rr[0, i : i + 1], t[0, i : i + 1])
        for j, i in enumerate(range(WARMUP_BEATS, WARMUP_BEATS + n_beats)):
            r, tt = rr[0, i : i + 1], t[0, i : i + 1]
            t0 = clock()
            stream.push(r, tt)
            out[rep, j] = clock() - t0
    return out * 1e6


def check_agreement() -> float:
    """Largest |engine - deque| RMSSD over a clean series (both compute the same thing)."""
    rr, t = make_beats(1, 600, seed=2)
    stream = HRVStream()
    up = stream.push(rr[0], t[0])
    up_tail = stream.flush()
    rmssd = np.concatenate([up.rmssd_ms, up_tail.rmssd_ms])
    ok = ~np.isnan(rmssd) & (
        np.concatenate([up.artifact, up_tail.artifact]) == 0
    )  # artifact beats differ by design
    base = DequeTrailing()
    ref = np.array([base.update(a, b)[1] for a, b in zip(t[0], rr[0], strict=True)])
    return float(np.max(np.abs(rmssd[ok] - ref[ok]))) if ok.any() else math.nan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps (a smoke run)")
    args = parser.parse_args()
    scale = 0.2 if args.quick else 1.0
    steps = {1: int(5000 * scale), 100: int(400 * scale), 10000: max(int(40 * scale), 5)}

    print(f"hrv.stream engine benchmark  (cpus visible: {os.cpu_count()}, one process)")
    gap = check_agreement()
    print(f"agreement with the deque baseline on clean beats: max |dRMSSD| = {gap:.2e} ms")
    lat_all = latencies_us(steps[1])
    lat, lat_raw = lat_all.min(axis=0), lat_all[0]
    lat_coh = latencies_us(steps[1], StreamConfig(coherence_every_s=5.0)).min(axis=0)

    rates: dict[str, float] = {}
    base: dict[str, float] = {}
    print(f"\n{'participants':>12} {'engine beats/s':>16} {'deque beats/s':>15} {'ratio':>8}")
    for n, k in steps.items():
        rates[str(n)] = engine_rate(n, k)
        base[str(n)] = deque_rate(n, k)
        e, b = rates[str(n)], base[str(n)]
        print(f"{n:>12} {e:>16,.0f} {b:>15,.0f} {e / b:>8.2f}")

    p50, p99 = np.percentile(lat, [50, 99])
    r50, r99 = np.percentile(lat_raw, [50, 99])
    c50, c99 = np.percentile(lat_coh, [50, 99])
    print(
        f"\none participant, one beat per push (microseconds; best of {REPLAYS} replays per beat):"
    )
    print(f"  engine            p50 {p50:8.1f}   p99 {p99:8.1f}   max {lat.max():8.1f}")
    print(f"  + coherence (5 s) p50 {c50:8.1f}   p99 {c99:8.1f}   max {lat_coh.max():8.1f}")
    print(f"  engine, raw run   p50 {r50:8.1f}   p99 {r99:8.1f}   (scheduler noise included)")
    deque_us = 1e6 / base["1"]
    print(f"  deque baseline    mean {deque_us:7.2f}")
    eng = MultiStreamEngine(1)
    per_part = sum(v.nbytes for v in vars(eng).values() if isinstance(v, np.ndarray))
    print(f"\nstate per participant: {per_part:,} bytes (independent of session length)")
    target = rates["10000"] >= 200_000 and p99 < 100.0
    verdict = "met" if target else "NOT met"
    print(f"targets (>= 200,000 beats/s at 10,000; p99 < 100 us at 1): {verdict}")
    print(
        json.dumps(
            {
                "beats_per_s": {k: round(v) for k, v in rates.items()},
                "latency_us_p99_1": round(float(p99), 1),
                "latency_us_p50_1": round(float(p50), 1),
                "latency_us_p99_1_raw": round(float(r99), 1),
                "latency_us_p99_1_with_coherence": round(float(c99), 1),
                "baseline_python_deque_beats_per_s": round(base["10000"]),
                "baseline_python_deque_beats_per_s_by_n": {k: round(v) for k, v in base.items()},
                "ratio_vs_deque": {k: round(rates[k] / base[k], 2) for k in rates},
                "state_bytes_per_participant": per_part,
            }
        )
    )


if __name__ == "__main__":
    main()
