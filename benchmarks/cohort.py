"""Cohort table over many simulated one-hour sessions: bulk + vectorized vs a per-session loop.

Run as ``python benchmarks/cohort.py [--sessions 1000] [--baseline-sessions 200]``.

1. **Generate**: ``--sessions`` one-hour dyad sessions (``sensor.simulator.simulate_session`` with
   the first-session scenario, a few artifacts, one seed per session; 100 patients with ten
   sessions each and ten therapists), stored through :meth:`server.storage.Store.append_beats`
   into a temporary SQLite file, with the default phases, storage, research-export and synchrony
   consents, and SRS / WAI-SR scores. A progress line on stderr.
2. **Vectorized**: :func:`server.export.cohort.cohort_table` over every session (bulk reads of 50
   sessions per query, one derivation per recording, the phases through
   ``hrv.derive.interval_stats``, one spectrum per phase for LF/HF, SUSY per phase), once with
   every metric and once with the time-domain metrics only (no LF/HF, no synchrony).
3. **Baseline**, measured in the same run on the first ``--baseline-sessions`` sessions: a plain
   per-session Python loop through the Store API (consents, session, phase events,
   ``read_all_beats`` per participant, alliance scores) calling the hrv functions one by one per
   phase (the correction once per recording through ``hrv.derive.derive``, then
   ``mean_hr``, ``rmssd``, ``ln_rmssd``, the artifact share and ``frequency_domain`` on each
   phase's boolean-masked slice; ``hrv.synchrony`` dyad grid and SUSY per phase). Its numbers
   are checked against the vectorized table.
4. **Dask** (``--dask-workers 1,2``; needs ``sintonia[scale]``), in the same run on every session
   with every metric: :func:`~server.export.cohort.cohort_table` with one task per session on a
   local cluster of 1, then 2 worker processes (1 thread each), each opening the SQLite file
   itself. The cluster start and a warm-up task per worker (imports) are timed apart from the
   cohort; the table is checked equal, bit for bit, to the single-process one.

Speeds are sessions per second; ratios are vectorized / baseline on the same machine and data.
The last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# `python benchmarks/cohort.py` puts benchmarks/ first on sys.path: import the packages instead.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    del sys.path[0]

import numpy as np

from hrv import synchrony as sync_module
from hrv.derive import SYNCHRONY_SMOOTH_S, StoredBeats, derive
from hrv.errors import InsufficientDataError
from hrv.frequency import frequency_domain
from hrv.time_domain import mean_hr, rmssd
from sensor.simulator import ArtifactSpec, Scenario, simulate_session
from sensor.types import BeatBatch
from server.export.cohort import alliance_totals, cohort_table
from server.readmodel import phase_template, session_bounds, session_phases
from server.storage import DeviceAssignment, Store

T0_S = 1_700_000_000.0
DURATION_S = 3600.0
#: Default first-session phases: (id, start min, end min).
PHASES = (
    ("welcome", 0, 10),
    ("map", 10, 25),
    ("goals", 25, 40),
    ("rehearsal", 40, 55),
    ("closing", 55, 60),
)
N_PATIENTS = 100
N_THERAPISTS = 10


def _progress(label: str, done: int, total: int, t0: float) -> None:
    rate = done / max(time.perf_counter() - t0, 1e-9)
    eta = (total - done) / rate if rate > 0 else math.nan
    end = "\n" if done >= total else ""
    print(
        f"\r{label}: {done}/{total} sessions, {rate:.1f}/s, ~{eta:.0f} s left ",
        end=end,
        file=sys.stderr,
        flush=True,
    )


def generate(store: Store, n_sessions: int) -> list[int]:
    """Store ``n_sessions`` simulated one-hour dyad sessions; returns their ids."""
    patients = [
        store.create_participant(f"P{i:04d}", "patient", at_s=T0_S) for i in range(N_PATIENTS)
    ]
    therapists = [
        store.create_participant(f"T{i:03d}", "therapist", at_s=T0_S) for i in range(N_THERAPISTS)
    ]
    for p in (*patients, *therapists):
        store.grant_consent(p.id, "storage", "v1", at_s=T0_S)
        store.grant_consent(p.id, "research_export", "v1", at_s=T0_S)
        store.grant_consent(p.id, "synchrony", "v1", at_s=T0_S)
    scenario = Scenario.first_session(DURATION_S)
    ids = []
    t0 = time.perf_counter()
    for k in range(n_sessions):
        start = T0_S + 3600.0 + k * 7200.0
        patient = patients[k % N_PATIENTS]
        therapist = therapists[(k % N_PATIENTS) % N_THERAPISTS]
        s = store.create_session(
            {"template": "first-session"},
            participants=[
                DeviceAssignment(patient.id, "simulator", str(k)),
                DeviceAssignment(therapist.id, "simulator", str(k)),
            ],
            at_s=start - 60.0,
        )
        store.start_session(s.id, at_s=start)
        sims = simulate_session(
            scenario,
            seed=k,
            artifacts={
                "patient": [
                    ArtifactSpec("missed", 600.0 + k % 50),
                    ArtifactSpec("ectopic", 1800.0),
                ],
                "therapist": [ArtifactSpec("extra", 900.0), ArtifactSpec("dropout", 2400.0, 5.0)],
            },
        )
        for person, role in ((patient, "patient"), (therapist, "therapist")):
            sim = sims[role]
            times = start + sim.beat_times_s
            batch = BeatBatch(
                role,
                f"sim:{k}",
                sim.rr_ms,
                tuple(sim.rr_raw.tolist()),
                float(times[-1]),
                times,
                True,
                None,
                0,
                True,
            )
            store.append_beats(s.id, person.id, batch)
        for index, (name, a, _) in enumerate(PHASES):
            store.record_phase_event(s.id, index, name, "enter", at_s=start + 60.0 * a)
        store.record_phase_event(s.id, 4, "closing", "end", at_s=start + DURATION_S)
        store.stop_session(s.id, at_s=start + DURATION_S)
        store.record_alliance_scores(
            s.id, patient.id, "SRS", "v1", {i: 5.0 + (k + i) % 5 for i in range(1, 5)}
        )
        store.record_alliance_scores(
            s.id, therapist.id, "WAI-SR", "v1", {i: 1.0 + (k + i) % 5 for i in range(1, 13)}
        )
        ids.append(s.id)
        if (k + 1) % 10 == 0 or k + 1 == n_sessions:
            _progress("generate", k + 1, n_sessions, t0)
    return ids


def baseline(
    store: Store, session_ids: list[int], lf_hf: bool
) -> dict[tuple[int, str, str], dict[str, float]]:
    """The per-session loop: Store API and hrv functions called one by one per phase."""
    out: dict[tuple[int, str, str], dict[str, float]] = {}
    t0 = time.perf_counter()
    for k, sid in enumerate(session_ids):
        session = store.get_session(sid)
        events = store.list_phase_events(sid)
        scores: dict[int, dict[str, float]] = {}
        by_person: dict[tuple[int, str], dict[int, float]] = {}
        for a in store.list_alliance_scores(session_id=sid):
            by_person.setdefault((a.participant_id, a.instrument), {})[a.item] = a.score
        for (pid, inst), items in by_person.items():
            scores.setdefault(pid, {}).update(alliance_totals(items, inst))
        people = []
        for sp in store.session_participants(sid):
            if not store.has_consent(sp.participant_id, "research_export", session_id=sid):
                continue
            person = store.get_participant(sp.participant_id)
            page = store.read_all_beats(sid, participant_id=sp.participant_id)
            people.append((sp, person, page))
        ends = [
            float(x) for *_, page in people for x in (page.beat_time_s[0], page.beat_time_s[-1])
        ]
        start, end = session_bounds(session, ends, [e.time_s for e in events])
        phases = [
            (ph.name, ph.start_s - start, ph.end_s - start)
            for ph in session_phases(events, phase_template(session.phase_template), start, end)
        ]
        # the correction once per recording, session-relative (as every output computes it)
        people = [
            (
                sp,
                person,
                page,
                derive(
                    StoredBeats.from_arrays(page.beat_time_s - start, page.rr_ms, page.gap_before),
                    trace=False,
                ),
            )
            for sp, person, page in people
        ]
        dyad: dict[str, tuple[float, float, float, float]] = {}
        sync = sync_module if lf_hf else None
        roles = {
            person.role: cs
            for sp, person, _, cs in people
            if store.has_consent(sp.participant_id, "synchrony", session_id=sid)
        }
        if sync is not None and {"patient", "therapist"} <= set(roles):
            grid = sync.dyad_grid(
                roles["patient"].c_rr_ms,
                roles["therapist"].c_rr_ms,
                patient_beat_times_s=roles["patient"].c_time_s,
                therapist_beat_times_s=roles["therapist"].c_time_s,
                signal="hr",
                smooth_s=SYNCHRONY_SMOOTH_S,
            )
            for name, a, b in phases:
                sel = (grid.time_s >= a) & (grid.time_s < b)
                try:
                    seg = sync.segment_synchrony(
                        grid.patient[sel], grid.therapist[sel], fs_hz=grid.fs_hz
                    )
                except InsufficientDataError:
                    continue
                dyad[name] = (
                    seg.z.observed,
                    seg.z.effect_size,
                    seg.z.p_value,
                    float(seg.valid.sum()),
                )
        for sp, person, page, cs in people:
            for name, a, b in phases:
                sel = (cs.c_time_s >= a) & (cs.c_time_s < b)
                raw = (page.beat_time_s - start >= a) & (page.beat_time_s - start < b)
                x = cs.c_rr_ms[sel]
                seg = cs.c_segment[sel]
                runs = [x[seg == k] for k in np.unique(seg)]  # never across a dropout
                r = (
                    rmssd(x)
                    if len(runs) == 1
                    else math.sqrt(np.mean(np.concatenate([np.diff(v) for v in runs]) ** 2))
                )
                lfhf = math.nan
                longest = max(runs, key=lambda v: float(v.sum()))
                if lf_hf and longest.sum() >= 120_000.0:
                    with contextlib.suppress(InsufficientDataError):
                        lfhf = frequency_domain(longest).lf_hf
                out[(sid, person.code, name)] = {
                    "n_beats": float(raw.sum()),
                    "mean_hr_bpm": mean_hr(x),
                    "rmssd_ms": r,
                    "ln_rmssd": math.log(r),
                    "artifact_pct": 100.0 * float(np.mean(cs.classes[raw] != 0)),
                    "lf_hf": lfhf,
                    **scores.get(sp.participant_id, {}),
                }
                if name in dyad:
                    keys = ("susy_z", "susy_effect_size", "susy_p", "susy_segments")
                    out[(sid, person.code, name)].update(zip(keys, dyad[name], strict=True))
        if (k + 1) % 10 == 0 or k + 1 == len(session_ids):
            _progress("baseline", k + 1, len(session_ids), t0)
    return out


def _max_diff(table: dict[str, Any], ref: dict[tuple[int, str, str], dict[str, float]]) -> float:
    worst = 0.0
    seen = 0
    for i in range(len(table["session_id"])):
        key = (int(table["session_id"][i]), str(table["participant"][i]), str(table["phase"][i]))
        if key not in ref:
            continue
        seen += 1
        for col, v in ref[key].items():
            got = float(table[col][i])
            if math.isnan(v) and math.isnan(got):
                continue
            worst = max(worst, abs(got - v) / max(abs(v), 1.0))
    if seen != len(ref):
        raise AssertionError(f"vectorized table has {seen} of the baseline's {len(ref)} rows")
    return worst


def _dask_run(store: Store, ids: list[int], workers: int, reference: Any) -> dict[str, Any]:
    """The cohort (every metric) on a local Dask cluster of ``workers`` processes."""
    from server.export.dask_runner import dask_runner

    t0 = time.perf_counter()
    with dask_runner(workers=workers) as runner:
        # one task per worker first: the imports (numpy, scipy, sqlalchemy, ...) and the store
        cohort_table(store, ids[:workers], include_simulated=True, runner=runner)
        start_s = time.perf_counter() - t0
        t1 = time.perf_counter()

        def show(done: int, total: int) -> None:
            _progress(f"dask {workers} worker(s)", done, total, t1)

        res = cohort_table(store, ids, include_simulated=True, progress=show, runner=runner)
        run_s = time.perf_counter() - t1
    identical = list(res.table) == list(reference) and all(
        np.array_equal(res.table[c], reference[c], equal_nan=res.table[c].dtype.kind == "f")
        if res.table[c].dtype.kind == "f"
        else res.table[c].tolist() == reference[c].tolist()
        for c in reference
    )
    return {
        "workers": workers,
        "sessions_per_s": round(len(ids) / run_s, 2),
        "run_s": round(run_s, 2),
        "cluster_start_s": round(start_s, 2),
        "identical": identical,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=1000)
    ap.add_argument("--baseline-sessions", type=int, default=200)
    ap.add_argument(
        "--dask-workers",
        default="1,2",
        help="local Dask cluster sizes to measure, e.g. 1,2 (empty: none)",
    )
    args = ap.parse_args()
    dask_sizes = [int(x) for x in args.dask_workers.split(",") if x.strip()]
    n_base = min(args.baseline_sessions, args.sessions)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(f"sqlite:///{Path(tmp) / 'cohort.sqlite'}", clock=lambda: T0_S + 1e7)
        t = time.perf_counter()
        ids = generate(store, args.sessions)
        gen_s = time.perf_counter() - t
        n_beats = sum(store.count_beats(s) for s in ids[:10]) / min(10, len(ids))
        db_mb = (Path(tmp) / "cohort.sqlite").stat().st_size / 1e6

        timings: dict[str, float] = {}
        tables: dict[str, Any] = {}
        for lf in (True, False):
            t0 = time.perf_counter()
            label = f"vectorized{'' if lf else ' (time domain only)'}"

            def show(done: int, total: int, label: str = label, t0: float = t0) -> None:
                _progress(label, done, total, t0)

            res = cohort_table(
                store, ids, lf_hf=lf, synchrony=lf, progress=show, include_simulated=True
            )
            timings[f"vectorized_lfhf_{lf}"] = time.perf_counter() - t0
            tables[str(lf)] = res.table
        refs: dict[str, Any] = {}
        for lf in (True, False):
            t0 = time.perf_counter()
            refs[str(lf)] = baseline(store, ids[:n_base], lf)
            timings[f"baseline_lfhf_{lf}"] = time.perf_counter() - t0
        agree = max(_max_diff(tables[k], refs[k]) for k in refs)
        dask_rows = [_dask_run(store, ids, w, tables["True"]) for w in dask_sizes]
        store.close()

    rows = []
    for lf in (True, False):
        v = args.sessions / timings[f"vectorized_lfhf_{lf}"]
        b = n_base / timings[f"baseline_lfhf_{lf}"]
        rows.append(
            {
                "lf_hf": lf,
                "synchrony": lf,
                "vectorized_sessions_per_s": round(v, 2),
                "baseline_sessions_per_s": round(b, 2),
                "speedup": round(v / b, 2),
                "vectorized_s": round(timings[f"vectorized_lfhf_{lf}"], 2),
                "baseline_s": round(timings[f"baseline_lfhf_{lf}"], 2),
            }
        )
    print(
        f"{args.sessions} one-hour dyad sessions (~{n_beats:,.0f} beats each, {db_mb:.0f} MB "
        f"SQLite), generated and stored in {gen_s:.1f} s; baseline on {n_base} sessions"
    )
    print("metrics: all = time domain, LF/HF and SUSY synchrony; time = time domain only")
    print(f"{'metrics':<8}{'vectorized /s':>15}{'baseline /s':>13}{'speedup':>9}{'vect. s':>9}")
    for r in rows:
        print(
            f"{'all' if r['lf_hf'] else 'time':<8}{r['vectorized_sessions_per_s']:>15.1f}"
            f"{r['baseline_sessions_per_s']:>13.1f}{r['speedup']:>8.2f}x{r['vectorized_s']:>9.1f}"
        )
    print(f"largest relative difference vectorized vs baseline: {agree:.2e}")
    single = rows[0]["vectorized_sessions_per_s"]
    if dask_rows:
        print(f"all metrics on Dask (single process: {single:.1f} sessions/s)")
        print(f"{'workers':<8}{'sessions/s':>12}{'vs single':>11}{'start s':>9}{'same table':>12}")
    for d in dask_rows:
        print(
            f"{d['workers']:<8}{d['sessions_per_s']:>12.1f}{d['sessions_per_s'] / single:>10.2f}x"
            f"{d['cluster_start_s']:>9.1f}{d['identical']!s:>12}"
        )
    print(
        json.dumps(
            {
                "benchmark": "cohort",
                "baseline": "per-session loop over phases through the Store API and hrv functions",
                "sessions": args.sessions,
                "baseline_sessions": n_base,
                "beats_per_session": round(n_beats),
                "generate_s": round(gen_s, 1),
                "max_relative_difference": agree,
                "synchrony": True,
                "results": rows,
                "dask": dask_rows,
                "load_average_1min_at_end": round(os.getloadavg()[0], 2),
            }
        )
    )


if __name__ == "__main__":
    main()
