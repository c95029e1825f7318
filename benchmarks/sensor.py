"""How many simulated heart-rate straps one core can generate and parse in real time.

Run: ``python benchmarks/sensor.py [--straps N] [--minutes M]``. Prints a readable table and, as
its last line, one JSON object with the figures.

For N straps of M minutes each (the default first-session scenario, patient and therapist
alternating, ~70-80 bpm), every stage a live simulated strap goes through is timed on one core:

1. **generate**: :func:`sensor.simulator.simulate_rr` (vectorised IPFM model);
2. **encode**: :func:`sensor.simulator.notifications_for` (beats -> 0x2A37 payloads, ~1/s);
3. **decode**: :meth:`sensor.decoder.NotificationDecoder.feed` on every payload (parse with
   :func:`sensor.gatt.parse_heart_rate_measurement` + beat-time reconstruction + batch).

Throughput is beats per second of CPU; "straps in real time" divides it by the beat rate of one
strap at 70 bpm (70/60 beats/s). Baselines measured in the same run, on the same beats:

- **per-sample Python IPFM**: the same kind of model (IPFM on a 20 Hz grid, RSA, a 0.1 Hz
  resonator, slow noise) written as a Python loop over grid samples, the straightforward way to
  write such a simulator; compared with stage 1 (run once, it is slow);
- **parse only**: :func:`~sensor.gatt.parse_heart_rate_measurement` alone on the same payloads,
  to show what the decoder adds to parsing.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

# This script is named like the package it measures: drop its own folder from the import path so
# that ``import sensor`` finds the package, not this file.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

from sensor.decoder import NotificationDecoder  # noqa: E402
from sensor.gatt import parse_heart_rate_measurement  # noqa: E402
from sensor.simulator import (  # noqa: E402
    Notification,
    Role,
    Scenario,
    SimulatedRR,
    notifications_for,
    simulate_rr,
)
from sensor.types import BeatBatch  # noqa: E402

BEATS_PER_S_AT_70_BPM: Final[float] = 70.0 / 60.0


def _best_of(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    best, out = math.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def _naive_ipfm(duration_s: float, seed: int, grid_hz: float = 20.0) -> list[float]:
    """Baseline: the same kind of IPFM model written the straightforward way, one grid sample at
    a time in Python: RSA (``math.sin`` at 0.25 Hz), a 0.1 Hz Mayer resonator and a slow AR(1)
    fluctuation driven by ``random.gauss``, the rate integrated until the phase reaches 1."""
    rnd = random.Random(seed)
    dt = 1.0 / grid_hz
    # two-pole resonator at 0.1 Hz (pole radius 0.995) for the Mayer waves
    r, w = 0.995, 2.0 * math.pi * 0.1 * dt
    a1, a2 = 2.0 * r * math.cos(w), -r * r
    m1 = m2 = slow = 0.0
    phase, last_beat = 0.0, 0.0
    out: list[float] = []
    for i in range(int(duration_s * grid_hz)):
        t = i * dt
        m0 = a1 * m1 + a2 * m2 + rnd.gauss(0.0, 0.002)
        m2, m1 = m1, m0
        slow = 0.999 * slow + rnd.gauss(0.0, 0.001)
        rate = 72.0 / 60.0 * (1.0 + 0.05 * math.sin(2.0 * math.pi * 0.25 * t) + m0 + slow)
        phase += rate * dt
        if phase >= 1.0:
            phase -= 1.0
            out.append((t - last_beat) * 1000.0)
            last_beat = t
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--straps", type=int, default=8, help="simulated straps (default 8)")
    ap.add_argument("--minutes", type=float, default=60.0, help="minutes per strap (default 60)")
    args = ap.parse_args()
    duration_s = args.minutes * 60.0
    scenario = Scenario.first_session(duration_s)
    roles: tuple[Role, Role] = ("patient", "therapist")

    def generate() -> list[SimulatedRR]:
        return [simulate_rr(scenario, roles[k % 2], seed=k) for k in range(args.straps)]

    t_gen, sims = _best_of(generate)
    n_beats = sum(len(s) for s in sims)

    def encode() -> list[list[Notification]]:
        return [notifications_for(s) for s in sims]

    t_enc, notes = _best_of(encode)
    n_packets = sum(len(n) for n in notes)

    def decode() -> int:
        beats = 0
        for k, strap in enumerate(notes):
            dec = NotificationDecoder(roles[k % 2], f"bench:{k}")
            for n in strap:
                for item in dec.feed(n.time_s, n.payload):
                    beats += len(item) if isinstance(item, BeatBatch) else 0
        return beats

    t_dec, decoded = _best_of(decode)
    if decoded != n_beats:
        raise SystemExit(f"decoder lost beats: {decoded} of {n_beats}")

    def parse_only() -> int:
        return sum(len(parse_heart_rate_measurement(n.payload).rr_raw) for s in notes for n in s)

    t_parse, parsed = _best_of(parse_only)
    # the baseline runs one strap-duration per strap, like stage 1
    t_naive, naive = _best_of(
        lambda: [_naive_ipfm(duration_s, k) for k in range(args.straps)], repeat=1
    )
    n_naive = sum(len(x) for x in naive)

    t_total = t_gen + t_enc + t_dec
    rate = {
        "generate": n_beats / t_gen,
        "encode": n_beats / t_enc,
        "decode": n_beats / t_dec,
        "pipeline": n_beats / t_total,
        "naive_generator": n_naive / t_naive,
        "parse_only": parsed / t_parse,
    }
    straps_rt = rate["pipeline"] / BEATS_PER_S_AT_70_BPM

    print(
        f"{args.straps} straps x {args.minutes:g} min, {n_beats} beats, {n_packets} packets "
        f"(best of 3, one core)"
    )
    print(f"{'stage':<34}{'time s':>10}{'beats/s':>14}{'straps @70bpm':>16}")
    rows = [
        ("generate (vectorised IPFM)", t_gen, rate["generate"]),
        ("encode 0x2A37 payloads", t_enc, rate["encode"]),
        ("decode (parse + beat clock)", t_dec, rate["decode"]),
        ("pipeline: generate+encode+decode", t_total, rate["pipeline"]),
        ("baseline: per-sample Python IPFM", t_naive, rate["naive_generator"]),
        ("baseline: parse only", t_parse, rate["parse_only"]),
    ]
    for name, t, r in rows:
        print(f"{name:<34}{t:>10.3f}{r:>14,.0f}{r / BEATS_PER_S_AT_70_BPM:>16,.0f}")
    gen_ratio = rate["generate"] / rate["naive_generator"]
    dec_ratio = rate["decode"] / rate["parse_only"]
    print(f"\nvectorised generator vs per-sample Python IPFM: {gen_ratio:.1f}x the beats/s")
    print(f"decoder vs parse only: {dec_ratio:.2f}x the beats/s (the beat clock and batch cost)")
    print(f"one core generates and parses {straps_rt:,.0f} straps in real time (at 70 bpm)")
    print(
        json.dumps(
            {
                "straps": args.straps,
                "minutes": args.minutes,
                "beats": n_beats,
                "packets": n_packets,
                "seconds": {
                    "generate": t_gen,
                    "encode": t_enc,
                    "decode": t_dec,
                    "pipeline": t_total,
                    "naive_generator": t_naive,
                    "parse_only": t_parse,
                },
                "beats_per_s": rate,
                "straps_real_time_at_70bpm": straps_rt,
                "ratio_generate_vs_naive_generator": gen_ratio,
                "ratio_decode_vs_parse_only": dec_ratio,
            }
        )
    )


if __name__ == "__main__":
    main()
