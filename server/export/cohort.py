"""Cohort table: one row per session, participant and phase, computed in bulk over many sessions.

For every recording (a participant in a session) whose participant has an active consent for the
cohort's purpose (``research_export`` by default) the table holds, per phase, the number of
beats, mean HR, RMSSD, ln RMSSD, the artifact percentage and LF/HF where the phase holds at least
120 s of beats (else empty: never a number from too little data), and the participant's alliance
scores for that session.

How it stays fast
-----------------
* Beats are read in bulk, many sessions per query (only beat time and RR, fetched from the
  driver's cursor), straight into numpy; recordings are runs of equal (session, participant)
  whose lengths come from one ``GROUP BY`` count.
* Artifact correction runs once per recording (:func:`server.export.derive.corrected_series`:
  the Lipponen & Tarvainen 2019 batch detector, which works on a whole series).
* Every phase of every recording is then an index range ``[lo, hi)`` of the concatenated
  corrected series, found with one :func:`numpy.searchsorted` on an exact integer key
  ``recording * 2**40 + microseconds since the recording's session start``; mean HR, RMSSD and
  artifact counts of all phases come from differences of prefix sums (no loop over phases).
* LF/HF needs a spectrum per phase (:func:`hrv.frequency.frequency_domain`), the one per-phase
  call left (about 2 ms each).

Synchrony
---------
When :mod:`hrv.synchrony` is installed and both the patient and the therapist of a session have an
active ``synchrony`` consent (besides the cohort's purpose), the rows of that session's phases get
the dyad's SUSY segment synchrony of heart rate (Tschacher & Meier 2020): the corrected heart rate
of both on a 4 Hz grid smoothed over 10 s (:func:`hrv.synchrony.dyad_grid`, as the review does),
30 s segments, lags up to 5 s, compared with every pseudo pairing of segments
(:func:`hrv.synchrony.segment_synchrony`). The columns (:data:`SYNCHRONY_COLUMNS`) always come
together: the observed mean Fisher z with its surrogate effect size and p value, never alone.
Without the module the columns are left out of the table.
"""

from __future__ import annotations

import importlib
import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import sqlalchemy as sa
from numpy.typing import NDArray

from hrv.errors import InsufficientDataError, SintoniaError
from hrv.frequency import MIN_DURATION_S, frequency_domain
from server.export.derive import CorrectedSeries, corrected_series
from server.export.errors import ExportError
from server.export.session import PhaseInterval, phase_intervals, session_bounds
from server.export.tables import Table
from server.storage import ConsentPurpose, PhaseEvent, Session, Store
from server.storage import schema as t

__all__ = [
    "COHORT_COLUMNS",
    "SYNCHRONY_COLUMNS",
    "SYNCHRONY_SMOOTH_S",
    "WAI_SR_SUBSCALES",
    "BulkBeats",
    "CohortTable",
    "alliance_totals",
    "cohort_table",
    "read_beats_bulk",
    "synchrony_module",
]

_log = logging.getLogger(__name__)

#: Columns of the cohort table: (name, unit, description).
COHORT_COLUMNS: Final[tuple[tuple[str, str, str], ...]] = (
    ("session_id", "", "session id in the database"),
    ("participant", "", "pseudonymous participant code"),
    ("role", "", "patient or therapist"),
    ("phase_index", "", "position of the phase in the template"),
    ("phase", "", "phase id"),
    ("phase_start_s", "s", "phase start from the session start"),
    ("phase_duration_s", "s", "phase duration"),
    ("n_beats", "", "stored beats in the phase"),
    ("mean_hr_bpm", "bpm", "mean of 60000 / RR over the corrected beats"),
    ("rmssd_ms", "ms", "RMSSD of the corrected beats"),
    ("ln_rmssd", "ln(ms)", "natural log of RMSSD"),
    ("artifact_pct", "%", "stored beats classified as artifacts"),
    ("lf_hf", "", "LF/HF (Welch, 4 Hz) where the phase holds >= 120 s of beats, else empty"),
    ("srs_total", "", "Session Rating Scale total, 0-40 (all 4 items answered)"),
    ("wai_sr_total", "", "WAI-SR total, 12-60 (all 12 items answered)"),
    ("wai_sr_goal", "", "WAI-SR goal subscale, 4-20"),
    ("wai_sr_task", "", "WAI-SR task subscale, 4-20"),
    ("wai_sr_bond", "", "WAI-SR bond subscale, 4-20"),
    ("simulated", "", "1 for a simulated session (included only when asked), else 0"),
)

#: Synchrony columns, present when :mod:`hrv.synchrony` is installed: (name, unit, description).
SYNCHRONY_COLUMNS: Final[tuple[tuple[str, str, str], ...]] = (
    ("susy_z", "z", "dyad's SUSY mean Fisher z of heart rate over segments and lags (-5..5 s)"),
    ("susy_effect_size", "", "(z - mean of pseudo pairs) / SD of pseudo pairs (Tschacher 2020)"),
    ("susy_p", "", "one-sided p of z against the pseudo pairs (more synchrony than chance)"),
    ("susy_segments", "", "valid 30 s segments of the phase"),
)
#: Centred moving average of the heart-rate grid before synchrony, s (as the session review).
SYNCHRONY_SMOOTH_S: Final[float] = 10.0

#: WAI-SR item numbers of each subscale (Hatcher & Gillaspy 2006, client form; the scoring key
#: also used by Munder et al. 2010).
WAI_SR_SUBSCALES: Final[Mapping[str, tuple[int, ...]]] = {
    "goal": (4, 6, 8, 11),
    "task": (1, 2, 10, 12),
    "bond": (3, 5, 7, 9),
}
_SRS_ITEMS: Final[tuple[int, ...]] = (1, 2, 3, 4)
_MS_PER_MIN: Final[float] = 60_000.0
_US_PER_S: Final[float] = 1e6
#: Bits of the microsecond part of the phase search key (2**40 us = 12.7 days per recording).
_KEY_SHIFT: Final[int] = 40


@dataclass(frozen=True, eq=False, slots=True)
class BulkBeats:
    """Beats of many recordings, sorted by (session, participant, beat time).

    Attributes
    ----------
    session_id, participant_id : numpy.ndarray of int64
    beat_time_s : numpy.ndarray of float64
        s, store clock.
    rr_ms : numpy.ndarray of float64
    starts : numpy.ndarray of intp
        Index of the first beat of each recording (run of equal session and participant), plus
        the total length at the end.
    """

    session_id: NDArray[np.int64]
    participant_id: NDArray[np.int64]
    beat_time_s: NDArray[np.float64]
    rr_ms: NDArray[np.float64]
    starts: NDArray[np.intp]

    @property
    def n_recordings(self) -> int:
        """Number of recordings."""
        return int(self.starts.shape[0] - 1)


def read_beats_bulk(store: Store, session_ids: Sequence[int]) -> BulkBeats:
    """Read the beats of many sessions in two queries, straight to numpy.

    Parameters
    ----------
    store : Store
    session_ids : sequence of int

    Returns
    -------
    BulkBeats
        Sorted by session, participant and beat time (the order of the beats index; beats of
        one participant with exactly the same time come in an unspecified order).

    Notes
    -----
    One query counts the beats per (session, participant); the other returns only beat time and
    RR in the same order, fetched from the driver's cursor without SQLAlchemy's per-row
    processing (the fetch is the cost: about 1 us per row on SQLite). Both run in one
    transaction, so the counts and the rows agree.
    """
    b = t.beats
    where = b.c.session_id.in_(list(session_ids))
    counts_q = (
        sa.select(b.c.session_id, b.c.participant_id, sa.func.count())
        .where(where)
        .group_by(b.c.session_id, b.c.participant_id)
        .order_by(b.c.session_id, b.c.participant_id)
    )
    values_q = (
        sa.select(b.c.beat_time_s, b.c.rr_ms)
        .where(where)
        .order_by(b.c.session_id, b.c.participant_id, b.c.beat_time_s)
    )
    with store.engine.connect() as conn:
        counts = conn.execute(counts_q).all()
        rows = conn.execute(values_q).cursor.fetchall()
    values = np.array(rows, dtype=np.float64).reshape(-1, 2)
    n = np.array([int(c[2]) for c in counts], dtype=np.intp)
    starts = np.concatenate(([0], np.cumsum(n))).astype(np.intp)
    if starts[-1] != values.shape[0]:
        raise ExportError(
            f"beats changed while being read: counted {starts[-1]}, read {values.shape[0]}"
        )
    sid = np.repeat(np.array([int(c[0]) for c in counts], dtype=np.int64), n)
    pid = np.repeat(np.array([int(c[1]) for c in counts], dtype=np.int64), n)
    return BulkBeats(
        sid, pid, np.ascontiguousarray(values[:, 0]), np.ascontiguousarray(values[:, 1]), starts
    )


def alliance_totals(scores: Mapping[int, float], instrument: str) -> dict[str, float]:
    """Totals and subscales of one participant's item scores on one instrument.

    Parameters
    ----------
    scores : mapping of int to float
        Item number (1-based) to score.
    instrument : {"SRS", "WAI-SR"}

    Returns
    -------
    dict
        ``srs_total`` (sum of items 1-4), or ``wai_sr_total`` (sum of items 1-12) and
        ``wai_sr_goal``, ``wai_sr_task``, ``wai_sr_bond`` (sums of 4 items each); a total or
        subscale is NaN unless every one of its items was answered.

    Notes
    -----
    SRS: four visual-analogue items of 0-10, total 0-40 (Duncan et al. 2003). WAI-SR: twelve
    items of 1-5; goal = items 4, 6, 8, 11; task = 1, 2, 10, 12; bond = 3, 5, 7, 9 (Hatcher &
    Gillaspy 2006). Sums, not means, as in both publications.

    References
    ----------
    .. [1] Duncan BL et al. (2003). The Session Rating Scale. Journal of Brief Therapy 3(1), 3-12.
    .. [2] Hatcher RL, Gillaspy JA (2006). Development and validation of a revised short version
       of the Working Alliance Inventory. Psychotherapy Research 16(1), 12-25.

    Examples
    --------
    >>> alliance_totals({1: 8, 2: 9, 3: 7.5, 4: 8}, "SRS")
    {'srs_total': 32.5}
    >>> alliance_totals({1: 5, 2: 5}, "SRS")
    {'srs_total': nan}
    """

    def total(items: Iterable[int]) -> float:
        items = tuple(items)
        if all(i in scores for i in items):
            return float(sum(scores[i] for i in items))
        return math.nan

    if instrument == "SRS":
        return {"srs_total": total(_SRS_ITEMS)}
    out = {"wai_sr_total": total(range(1, 13))}
    for name, items in WAI_SR_SUBSCALES.items():
        out[f"wai_sr_{name}"] = total(items)
    return out


@dataclass(frozen=True, slots=True)
class CohortTable:
    """What :func:`cohort_table` computed.

    Attributes
    ----------
    table : Table
        Columns :data:`COHORT_COLUMNS`, one row per session, participant and phase.
    sessions : int
        Sessions considered.
    recordings : int
        Recordings included.
    excluded : int
        Recordings left out for lack of consent.
    simulated_left_out : int
        Simulated sessions left out (``include_simulated=False``).
    """

    table: Table
    sessions: int
    recordings: int
    excluded: int
    simulated_left_out: int = 0


def _consenting_pairs(
    store: Store, session_ids: Sequence[int], purpose: ConsentPurpose, at_s: float
) -> tuple[set[tuple[int, int]], int]:
    """(session, participant) pairs with an active consent, and the number without, in bulk."""
    sp, c = t.session_participants, t.consents
    with store.engine.connect() as conn:
        pairs = {
            (int(s), int(p))
            for s, p in conn.execute(
                sa.select(sp.c.session_id, sp.c.participant_id).where(
                    sp.c.session_id.in_(list(session_ids))
                )
            )
        }
        grants = conn.execute(
            sa.select(c.c.participant_id, c.c.session_id).where(
                c.c.purpose == purpose,
                c.c.granted_at_s <= at_s,
                sa.or_(c.c.revoked_at_s.is_(None), c.c.revoked_at_s > at_s),
                sa.or_(c.c.session_id.is_(None), c.c.session_id.in_(list(session_ids))),
            )
        ).all()
    global_ok = {int(p) for p, s in grants if s is None}
    session_ok = {(int(s), int(p)) for p, s in grants if s is not None}
    ok = {(s, p) for s, p in pairs if p in global_ok or (s, p) in session_ok}
    return ok, len(pairs) - len(ok)


def _session_frames(
    store: Store, session_ids: Sequence[int], beats: BulkBeats
) -> dict[int, tuple[float, tuple[PhaseInterval, ...]]]:
    """Start and phases of each session (sessions and phase events read in bulk)."""
    s_rows, e_rows = t.sessions, t.phase_events
    ids = list(session_ids)
    with store.engine.connect() as conn:
        sessions = {
            int(r.id): Session(**r._mapping)
            for r in conn.execute(sa.select(s_rows).where(s_rows.c.id.in_(ids)))
        }
        events: dict[int, list[PhaseEvent]] = {sid: [] for sid in ids}
        for r in conn.execute(
            sa.select(e_rows)
            .where(e_rows.c.session_id.in_(ids))
            .order_by(e_rows.c.session_id, e_rows.c.time_s, e_rows.c.id)
        ):
            events[int(r.session_id)].append(PhaseEvent(**r._mapping))
    first = beats.starts[:-1]
    last = beats.starts[1:] - 1
    ends: dict[int, list[float]] = {}
    for a, b in zip(first.tolist(), last.tolist(), strict=True):
        sid = int(beats.session_id[a])
        ends.setdefault(sid, []).extend(
            [
                float(beats.beat_time_s[a] - beats.rr_ms[a] / 1000.0),
                float(beats.beat_time_s[b]),
            ]
        )
    out: dict[int, tuple[float, tuple[PhaseInterval, ...]]] = {}
    for sid, session in sessions.items():
        ev = events[sid]
        start, end = session_bounds(session, ends.get(sid, []), [e.time_s for e in ev])
        out[sid] = (start, phase_intervals(ev, start, end))
    return out


def _alliance_columns(
    store: Store, session_ids: Sequence[int]
) -> dict[tuple[int, int], dict[str, float]]:
    """Alliance totals per (session, participant), read in bulk."""
    a = t.alliance_scores
    items: dict[tuple[int, int, str], dict[int, float]] = {}
    with store.engine.connect() as conn:
        for r in conn.execute(
            sa.select(
                a.c.session_id, a.c.participant_id, a.c.instrument, a.c.item, a.c.score
            ).where(a.c.session_id.in_(list(session_ids)))
        ):
            key = (int(r.session_id), int(r.participant_id), str(r.instrument))
            items.setdefault(key, {})[int(r.item)] = float(r.score)
    out: dict[tuple[int, int], dict[str, float]] = {}
    for (s, p, inst), scores in items.items():
        out.setdefault((s, p), {}).update(alliance_totals(scores, inst))
    return out


def synchrony_module() -> Any | None:
    """:mod:`hrv.synchrony` if it is installed, else None."""
    try:
        return importlib.import_module("hrv.synchrony")
    except ImportError:
        return None


def _dyad_synchrony(
    sync: Any,
    patient: CorrectedSeries,
    therapist: CorrectedSeries,
    phases: Sequence[PhaseInterval],
) -> list[tuple[float, float, float, float]]:
    """(z, effect size, p, valid segments) of each phase; NaN where a phase is too short."""
    nan = math.nan
    try:
        grid = sync.dyad_grid(
            patient.rr_ms,
            therapist.rr_ms,
            patient_beat_times_s=patient.time_s,
            therapist_beat_times_s=therapist.time_s,
            signal="hr",
            smooth_s=SYNCHRONY_SMOOTH_S,
        )
    except SintoniaError:
        return [(nan, nan, nan, 0.0)] * len(phases)
    out = []
    for ph in phases:
        sel = (grid.time_s >= ph.start_s) & (grid.time_s < ph.end_s)
        try:
            seg = sync.segment_synchrony(grid.patient[sel], grid.therapist[sel], fs_hz=grid.fs_hz)
        except SintoniaError:
            out.append((nan, nan, nan, 0.0))
            continue
        z = seg.z
        out.append(
            (float(z.observed), float(z.effect_size), float(z.p_value), float(seg.valid.sum()))
        )
    return out


def _key(group: NDArray[np.int64], rel_s: NDArray[np.float64]) -> NDArray[np.int64]:
    """Exact sort key: recording in the high bits, microseconds (offset to be >= 0) below."""
    us = np.rint(rel_s * _US_PER_S).astype(np.int64) + (1 << (_KEY_SHIFT - 1))
    return np.asarray((group << _KEY_SHIFT) + us, dtype=np.int64)


def _chunk_rows(
    store: Store,
    chunk: Sequence[int],
    allowed: set[tuple[int, int]],
    lf_hf: bool,
    sync: Any | None,
    sync_allowed: set[tuple[int, int]],
) -> list[Table]:
    beats = read_beats_bulk(store, chunk)
    frames = _session_frames(store, chunk, beats)
    alliance = _alliance_columns(store, chunk)
    codes, roles = _people(store, {p for _, p in allowed})

    # Per recording: correct once, keep corrected and stored series with their group number.
    c_rr: list[NDArray[np.float64]] = []
    c_key: list[NDArray[np.int64]] = []
    s_key: list[NDArray[np.int64]] = []
    s_art: list[NDArray[np.bool_]] = []
    rec: list[tuple[int, int, int]] = []  # (group, session, participant)
    series: dict[tuple[int, int], CorrectedSeries] = {}
    for a, b in zip(beats.starts[:-1].tolist(), beats.starts[1:].tolist(), strict=True):
        sid, pid = int(beats.session_id[a]), int(beats.participant_id[a])
        if (sid, pid) not in allowed:
            continue
        g = len(rec)
        rec.append((g, sid, pid))
        start = frames[sid][0]
        cs = corrected_series(beats.rr_ms[a:b], beats.beat_time_s[a:b])
        series[(sid, pid)] = cs
        gc = np.full(cs.rr_ms.shape[0], g, dtype=np.int64)
        gs = np.full(b - a, g, dtype=np.int64)
        c_rr.append(cs.rr_ms)
        c_key.append(_key(gc, cs.time_s - start))
        s_key.append(_key(gs, beats.beat_time_s[a:b] - start))
        s_art.append(cs.classes != 0)
    if not rec:
        return []
    rr = np.concatenate(c_rr)
    key_c = np.concatenate(c_key)
    key_s = np.concatenate(s_key)
    art = np.concatenate(s_art)

    # One row per recording and phase.
    r_group, r_sid, r_pid, r_phase = [], [], [], []
    r_a, r_b, r_index, r_name = [], [], [], []
    for g, sid, pid in rec:
        start, phases = frames[sid]
        for ph in phases:
            r_group.append(g)
            r_sid.append(sid)
            r_pid.append(pid)
            r_phase.append(ph)
            r_a.append(ph.start_s - start)
            r_b.append(ph.end_s - start)
            r_index.append(ph.index)
            r_name.append(ph.name)
    grp = np.array(r_group, dtype=np.int64)
    rel_a = np.array(r_a, dtype=np.float64)
    rel_b = np.array(r_b, dtype=np.float64)

    # A beat belongs to the phase in which it ends: a <= t < b.
    lo = np.searchsorted(key_c, _key(grp, rel_a), side="left")
    hi = np.searchsorted(key_c, _key(grp, rel_b), side="left")
    lo_s = np.searchsorted(key_s, _key(grp, rel_a), side="left")
    hi_s = np.searchsorted(key_s, _key(grp, rel_b), side="left")

    p_hr = np.concatenate(([0.0], np.cumsum(_MS_PER_MIN / rr)))
    d2 = np.diff(rr) ** 2
    p_d2 = np.concatenate(([0.0], np.cumsum(d2)))
    p_ms = np.concatenate(([0.0], np.cumsum(rr)))
    p_art = np.concatenate(([0], np.cumsum(art.astype(np.int64))))
    n = (hi - lo).astype(np.float64)
    n_s = hi_s - lo_s
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_hr = np.where(n >= 1, (p_hr[hi] - p_hr[lo]) / n, np.nan)
        # successive differences inside [lo, hi): d_lo .. d_{hi-2}
        sum_d2 = p_d2[np.maximum(hi - 1, lo)] - p_d2[lo]
        rmssd = np.where(n >= 2, np.sqrt(sum_d2 / (n - 1.0)), np.nan)
        ln = np.where(rmssd > 0, np.log(rmssd), np.nan)
        art_pct = np.where(n_s > 0, 100.0 * (p_art[hi_s] - p_art[lo_s]) / n_s, np.nan)
    lfhf = np.full(grp.shape[0], np.nan)
    if lf_hf:
        long_enough = (p_ms[hi] - p_ms[lo]) / 1000.0 >= MIN_DURATION_S
        for i in np.flatnonzero(long_enough).tolist():
            try:
                lfhf[i] = frequency_domain(rr[lo[i] : hi[i]]).lf_hf
            except InsufficientDataError:
                continue

    sync_cols: dict[str, NDArray[np.float64]] = {}
    if sync is not None:
        dyads = _dyad_values(sync, chunk, rec, series, roles, frames, sync_allowed)
        values = np.array(
            [
                dyads.get((s, ph.index, ph.start_s), _NO_SYNC)
                for s, ph in zip(r_sid, r_phase, strict=True)
            ],
            dtype=np.float64,
        ).reshape(-1, 4)
        sync_cols = {c: values[:, k] for k, (c, _, _) in enumerate(SYNCHRONY_COLUMNS)}

    def allied(name: str) -> NDArray[np.float64]:
        return np.array(
            [
                alliance.get((s, p), {}).get(name, math.nan)
                for s, p in zip(r_sid, r_pid, strict=True)
            ],
            dtype=np.float64,
        )

    return [
        {
            "session_id": np.array(r_sid, dtype=np.int64),
            "participant": np.array([codes[p] for p in r_pid], dtype=object),
            "role": np.array([roles[p] for p in r_pid], dtype=object),
            "phase_index": np.array(r_index, dtype=np.int64),
            "phase": np.array(r_name, dtype=object),
            "phase_start_s": np.round(rel_a, 6),
            "phase_duration_s": np.round(rel_b - rel_a, 6),
            "n_beats": n_s.astype(np.int64),
            "mean_hr_bpm": mean_hr,
            "rmssd_ms": rmssd,
            "ln_rmssd": ln,
            "artifact_pct": art_pct,
            "lf_hf": lfhf,
            **{c: allied(c) for c, _, _ in COHORT_COLUMNS[13:]},
            **sync_cols,
        }
    ]


_NO_SYNC: Final[tuple[float, float, float, float]] = (math.nan, math.nan, math.nan, math.nan)


def _dyad_values(
    sync: Any,
    chunk: Sequence[int],
    rec: Sequence[tuple[int, int, int]],
    series: Mapping[tuple[int, int], CorrectedSeries],
    roles: Mapping[int, str],
    frames: Mapping[int, tuple[float, tuple[PhaseInterval, ...]]],
    sync_allowed: set[tuple[int, int]],
) -> dict[tuple[int, int, float], tuple[float, float, float, float]]:
    """Synchrony per (session, phase index, phase start) of each session with a consenting dyad:
    its first patient and first therapist (by participant id) with a ``synchrony`` consent."""
    out: dict[tuple[int, int, float], tuple[float, float, float, float]] = {}
    for sid in chunk:
        people = sorted(p for _, s, p in rec if s == sid and (s, p) in sync_allowed)
        patient = next((p for p in people if roles[p] == "patient"), None)
        therapist = next((p for p in people if roles[p] == "therapist"), None)
        if patient is None or therapist is None:
            continue
        phases = frames[sid][1]
        values = _dyad_synchrony(sync, series[(sid, patient)], series[(sid, therapist)], phases)
        for ph, v in zip(phases, values, strict=True):
            out[(sid, ph.index, ph.start_s)] = v
    return out


def _people(store: Store, pids: set[int]) -> tuple[dict[int, str], dict[int, str]]:
    p = t.participants
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(p.c.id, p.c.code, p.c.role).where(p.c.id.in_(list(pids))))
        got = [(int(r.id), str(r.code), str(r.role)) for r in rows]
    return {i: c for i, c, _ in got}, {i: r for i, _, r in got}


def cohort_table(
    store: Store,
    session_ids: Sequence[int] | None = None,
    *,
    purpose: ConsentPurpose = "research_export",
    actor: str = "system",
    lf_hf: bool = True,
    synchrony: bool = True,
    chunk_sessions: int = 50,
    progress: Callable[[int, int], None] | None = None,
    include_simulated: bool = False,
) -> CohortTable:
    """Per-phase HRV metrics and alliance scores of many sessions (see the module docstring).

    Parameters
    ----------
    store : Store
    session_ids : sequence of int, optional
        Sessions to include (default every session).
    purpose : {"research_export", "review", ...}
        Consent each participant needs for a recording to be included.
    actor : str
        Who asks (audit log).
    lf_hf : bool
        Compute LF/HF (one spectrum per phase long enough); False leaves the column empty.
    synchrony : bool
        Add :data:`SYNCHRONY_COLUMNS` when :mod:`hrv.synchrony` is installed (dyads whose two
        members have an active ``synchrony`` consent; empty for the others).
    chunk_sessions : int
        Sessions read per query (bounds memory: about 9,000 beats per one-hour dyad).
    progress : callable, optional
        Called with (sessions done, sessions total) after each chunk.
    include_simulated : bool
        Include simulated sessions (the demo's; flagged in the ``simulated`` column). Default
        False: they are left out, even when named in ``session_ids``, and counted.

    Returns
    -------
    CohortTable
        With :data:`COHORT_COLUMNS`, then :data:`SYNCHRONY_COLUMNS` when computed.

    Notes
    -----
    Per phase, over the corrected beats ending in ``[start, end)``: mean HR
    ``= mean(60000 / RR)``, ``RMSSD = sqrt(sum (RR_{i+1} - RR_i)^2 / (n - 1))`` (Task Force
    1996), ``ln RMSSD``; artifact % over the stored beats; LF/HF from
    :func:`hrv.frequency.frequency_domain` (Welch on the 4 Hz spline, bands 0.04-0.15 and
    0.15-0.4 Hz) where the corrected beats of the phase span at least 120 s.

    References
    ----------
    .. [1] Task Force of the ESC and NASPE (1996). Circulation 93(5), 1043-1065.
    .. [2] Lipponen JA, Tarvainen MP (2019). J Med Eng Technol 43(3), 173-181.

    Examples
    --------
    >>> store = Store.open("sqlite://")
    >>> cohort_table(store).recordings
    0
    """
    if chunk_sessions < 1:
        raise ValueError(f"chunk_sessions must be >= 1, got {chunk_sessions}")
    if session_ids is None:
        with store.engine.connect() as conn:
            ids = [
                int(i)
                for i in conn.execute(
                    sa.select(t.sessions.c.id).order_by(t.sessions.c.id)
                ).scalars()
            ]
    else:
        ids = sorted(set(session_ids))
    simulated = _simulated_ids(store, ids)
    left_out = 0
    if not include_simulated:
        left_out = len(simulated)
        ids = [i for i in ids if i not in simulated]
    at_s = store.now()
    allowed, excluded = _consenting_pairs(store, ids, purpose, at_s) if ids else (set(), 0)
    sync = synchrony_module() if synchrony else None
    sync_allowed: set[tuple[int, int]] = set()
    if sync is not None and ids:
        sync_allowed = _consenting_pairs(store, ids, "synchrony", at_s)[0] & allowed
    parts: list[Table] = []
    for k in range(0, len(ids), chunk_sessions):
        chunk = ids[k : k + chunk_sessions]
        mine = {(s, p) for s, p in allowed if s in set(chunk)}
        parts.extend(_chunk_rows(store, chunk, mine, lf_hf, sync, sync_allowed))
        if progress is not None:
            progress(min(k + chunk_sessions, len(ids)), len(ids))
    names = [c for c, _, _ in (*COHORT_COLUMNS, *(SYNCHRONY_COLUMNS if sync else ()))]
    table: Table = (
        {c: np.concatenate([p[c] for p in parts]) for c in names if c != "simulated"}
        if parts
        else {c: np.empty(0, dtype=object) for c in names if c != "simulated"}
    )
    sim_col = np.isin(table["session_id"].astype(np.int64), sorted(simulated)).astype(np.int64)
    table = {c: (sim_col if c == "simulated" else table[c]) for c in names}
    recordings = len(
        {
            (int(s), str(p))
            for s, p in zip(
                table["session_id"].tolist(), table["participant"].tolist(), strict=True
            )
        }
    )
    store.audit(
        actor,
        "export.cohort",
        "export",
        None,
        {
            "sessions": len(ids),
            "recordings": recordings,
            "excluded": excluded,
            "purpose": purpose,
            "simulated_left_out": left_out,
        },
        at_s=at_s,
    )
    return CohortTable(table, len(ids), recordings, excluded, left_out)


def _simulated_ids(store: Store, ids: Sequence[int]) -> set[int]:
    """The simulated sessions among ``ids``."""
    if not ids:
        return set()
    s = t.sessions
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(s.c.id).where(s.c.simulated.is_(True), s.c.id.in_(list(ids)))
        ).scalars()
        return {int(i) for i in rows}
