"""Benchmark of hrv.synchrony on simulated one-hour therapist-patient sessions.

Run: ``python benchmarks/synchrony.py [--minutes M] [--fs HZ] [--sessions N]``. Prints a readable
table and, as its last line, one JSON object with the figures. Every speed figure is a ratio
against a baseline measured in the same run on the same data:

1. windowed lagged cross-correlation (60 s windows, +/-5 s lags, 30 s steps, 4 Hz grid) with its
   window-shift surrogates, against a Python loop over windows and lags calling
   ``numpy.corrcoef`` for the real windows only (no surrogates);
2. SUSY segment synchrony (30 s segments, +/-5 s lags) with every pseudo segment pair, against the
   same loop over all segment pairs and lags with ``numpy.corrcoef``;
3. the live rolling correlation (one call over the last 65 s) against ``numpy.corrcoef`` over
   the same lags in a loop;
4. the pseudo-dyad test over N sessions.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

# Run as a script, this folder comes first on sys.path and `benchmarks/hrv.py` would shadow the
# `hrv` package: drop that entry before importing it.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

from hrv.synchrony import (  # noqa: E402
    DyadGrid,
    dyad_grid,
    pseudo_dyad_test,
    rolling_synchrony,
    segment_synchrony,
    windowed_cross_correlation,
)
from sensor.simulator import Scenario, simulate_session  # noqa: E402


def _best_of(fn: Callable[[], Any], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _grid(minutes: float, fs: float, seed: int) -> DyadGrid:
    s = simulate_session(Scenario.first_session(minutes * 60.0), seed=seed)
    p, t = s["patient"], s["therapist"]
    return dyad_grid(
        p.rr_ms,
        t.rr_ms,
        patient_beat_times_s=p.beat_times_s,
        therapist_beat_times_s=t.beat_times_s,
        fs_hz=fs,
        smooth_s=10.0,
    )


def _loop_wlcc(x: np.ndarray, y: np.ndarray, w: int, lag: int, step: int) -> np.ndarray:
    starts = range(0, len(x) - w - lag + 1, step)
    out = np.empty((len(starts), 2 * lag + 1))
    for i, s in enumerate(starts):
        for j, tau in enumerate(range(-lag, lag + 1)):
            a = x[s + max(-tau, 0) : s + max(-tau, 0) + w]
            b = y[s + max(tau, 0) : s + max(tau, 0) + w]
            out[i, j] = np.corrcoef(a, b)[0, 1]
    return out


def _loop_susy(x: np.ndarray, y: np.ndarray, seg: int, lag: int) -> np.ndarray:
    n = len(x) // seg
    out = np.empty((n, n, 2 * lag + 1))
    for i in range(n):
        for k in range(n):
            for j, tau in enumerate(range(-lag, lag + 1)):
                a = x[i * seg : (i + 1) * seg][max(-tau, 0) : seg - max(tau, 0)]
                b = y[k * seg : (k + 1) * seg][max(tau, 0) : seg - max(-tau, 0)]
                out[i, k, j] = np.corrcoef(a, b)[0, 1]
    return out


def _loop_live(x: np.ndarray, y: np.ndarray, w: int, lag: int) -> float:
    s = len(x) - w - lag
    rs = [
        np.corrcoef(x[s + max(-t, 0) : s + max(-t, 0) + w], y[s + max(t, 0) : s + max(t, 0) + w])[
            0, 1
        ]
        for t in range(-lag, lag + 1)
    ]
    return float(max(rs))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--fs", type=float, default=4.0)
    ap.add_argument("--sessions", type=int, default=20)
    args = ap.parse_args()
    fs = args.fs
    g = _grid(args.minutes, fs, seed=0)
    x = np.nan_to_num(g.patient, nan=float(np.nanmean(g.patient)))
    y = np.nan_to_num(g.therapist, nan=float(np.nanmean(g.therapist)))
    w, lag, step, seg = round(60 * fs), round(5 * fs), round(30 * fs), round(30 * fs)
    print(f"Session: {args.minutes:g} min, grid {fs:g} Hz, {len(x)} samples per person\n")

    ours = _best_of(lambda: windowed_cross_correlation(x, y, fs_hz=fs))
    base = _best_of(lambda: _loop_wlcc(x, y, w, lag, step), repeat=1)
    res = windowed_cross_correlation(x, y, fs_hz=fs)
    diff = float(np.max(np.abs(res.r - _loop_wlcc(x, y, w, lag, step))))
    wlcc = {
        "ours_s": ours,
        "loop_corrcoef_real_windows_only_s": base,
        "speedup": base / ours,
        "n_windows": len(res.window_start_s),
        "n_surrogates": res.surrogate.n_surrogates,
        "max_abs_diff_r": diff,
    }
    print("1. WLCC 60 s / +-5 s / 30 s, with window-shift surrogates")
    print(
        f"   ours {ours * 1e3:8.1f} ms   loop (real windows, no surrogates) {base * 1e3:8.1f} ms"
        f"   -> {wlcc['speedup']:.1f}x   max |dr| {diff:.1e}"
    )

    ours = _best_of(lambda: segment_synchrony(x, y, fs_hz=fs))
    base = _best_of(lambda: _loop_susy(x, y, seg, lag), repeat=1)
    susy = {"ours_s": ours, "loop_corrcoef_all_pairs_s": base, "speedup": base / ours}
    print("2. SUSY 30 s / +-5 s, all pseudo segment pairs")
    print(
        f"   ours {ours * 1e3:8.1f} ms   loop over pairs and lags {base:8.2f} s"
        f"   -> {susy['speedup']:.0f}x"
    )

    reps = 200
    ours = _best_of(lambda: [rolling_synchrony(x, y, fs_hz=fs) for _ in range(reps)]) / reps
    base = _best_of(lambda: [_loop_live(x, y, w, lag) for _ in range(reps)]) / reps
    live = {"ours_s": ours, "loop_corrcoef_s": base, "speedup": base / ours}
    print("3. Live rolling correlation (last 65 s)")
    print(
        f"   ours {ours * 1e6:8.0f} us   np.corrcoef per lag {base * 1e6:8.0f} us"
        f"   -> {live['speedup']:.1f}x"
    )

    pairs = []
    for k in range(args.sessions):
        gk = _grid(args.minutes, fs, seed=100 + k)
        pairs.append((gk.patient, gk.therapist))
    ours = _best_of(lambda: pseudo_dyad_test(pairs, fs_hz=fs), repeat=1)
    one = _best_of(lambda: segment_synchrony(pairs[0][0], pairs[0][1], fs_hz=fs))
    pdt = {
        "sessions": args.sessions,
        "ours_s": ours,
        "per_pair_s": ours / args.sessions**2,
        "one_segment_synchrony_s": one,
    }
    print(f"4. Pseudo-dyad test, {args.sessions} sessions ({args.sessions**2} pairings)")
    print(
        f"   {ours:.2f} s ({pdt['per_pair_s'] * 1e3:.1f} ms per pairing; one full SUSY with all "
        f"pseudo segment pairs: {one * 1e3:.1f} ms)"
    )
    print(json.dumps({"wlcc": wlcc, "susy": susy, "live": live, "pseudo_dyad": pdt}))


if __name__ == "__main__":
    main()
