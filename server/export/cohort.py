"""Cohort table: one row per session, participant and phase, computed in bulk over many sessions.

For every recording (a participant in a session) whose participant has an active consent for the
cohort's purpose (``research_export`` by default) the table holds, per phase, the number of
beats, mean HR, RMSSD, ln RMSSD, the artifact percentage and LF/HF where the phase holds at least
120 s of beats (else empty: never a number from too little data), and the participant's alliance
scores for that session.

How it stays fast, and equal to the report
-------------------------------------------
* Beats are read in bulk, many sessions per query (beat time, RR and the re-anchor flag, fetched
  from the driver's cursor), straight into numpy; recordings are runs of equal (session,
  participant) whose lengths come from one ``GROUP BY`` count.
* Each recording goes through the one derivation, :func:`hrv.derive.derive` (Lipponen &
  Tarvainen 2019 correction per gap-free segment, session-relative times), and its phases
  (:func:`server.readmodel.session_phases`, the read model's rules) through
  :func:`hrv.derive.interval_stats`, exactly as the report and the exports: the same numbers.
* LF/HF needs a spectrum per phase (:func:`hrv.frequency.frequency_domain`), about 2 ms each.
* Only consenting recordings are read (beats, markers about a person, alliance scores). With a
  runner (:mod:`server.export.runner`, e.g. Dask workers) each session is one job that opens the
  database from its URL and applies the consent rule itself; a session that fails is reported
  (:attr:`CohortTable.failed`) and left out, in-process too.

Synchrony
---------
When both the patient and the therapist of a session have an active ``synchrony`` consent
(besides the cohort's purpose), the rows of that session's phases get
the dyad's SUSY segment synchrony of heart rate (Tschacher & Meier 2020): the corrected heart rate
of both on a 4 Hz grid smoothed over 10 s (:func:`hrv.synchrony.dyad_grid`, as the review does),
30 s segments, lags up to 5 s, compared with every pseudo pairing of segments
(:func:`hrv.derive.dyad_synchrony`, as the review). The columns (:data:`SYNCHRONY_COLUMNS`)
always come together: the observed mean Fisher z with its surrogate effect size and p value,
never alone.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import sqlalchemy as sa
from numpy.typing import NDArray

from dashboard.phases import PhaseInterval, stat_bounds
from hrv.derive import (
    SYNCHRONY_SMOOTH_S,
    Derivation,
    StoredBeats,
    derive,
    dyad_synchrony,
    interval_stats,
)
from hrv.errors import ParameterError, SintoniaError
from server.export.errors import ExportError
from server.export.runner import (
    SESSION_ERRORS,
    SessionFailure,
    SessionRunner,
    database_url,
    failure,
    worker_store,
)
from server.export.tables import PHASE_COLUMNS, Table
from server.readmodel import phase_template, session_bounds, session_phases
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
    "cohort_task",
    "read_beats_bulk",
]

_log = logging.getLogger(__name__)

#: Columns of the cohort table: (name, unit, description).
#: The per-row part of the cohort table: the session id and the per-phase summary columns.
_ROW_COLUMNS: Final[tuple[tuple[str, str, str], ...]] = (
    ("session_id", "", "session id in the database"),
    *(c for c in PHASE_COLUMNS if c[0] != "planned"),
)
COHORT_COLUMNS: Final[tuple[tuple[str, str, str], ...]] = (
    *_ROW_COLUMNS,
    ("srs_total", "", "Session Rating Scale total, 0-40 (all 4 items answered)"),
    ("wai_sr_total", "", "WAI-SR total, 12-60 (all 12 items answered)"),
    ("wai_sr_goal", "", "WAI-SR goal subscale, 4-20"),
    ("wai_sr_task", "", "WAI-SR task subscale, 4-20"),
    ("wai_sr_bond", "", "WAI-SR bond subscale, 4-20"),
    ("simulated", "", "1 for a simulated session (included only when asked), else 0"),
)

#: Synchrony columns, present unless ``synchrony=False``: (name, unit, description).
SYNCHRONY_COLUMNS: Final[tuple[tuple[str, str, str], ...]] = (
    ("susy_z", "z", "dyad's SUSY mean Fisher z of heart rate over segments and lags (-5..5 s)"),
    ("susy_effect_size", "", "(z - mean of pseudo pairs) / SD of pseudo pairs (Tschacher 2020)"),
    ("susy_p", "", "one-sided p of z against the pseudo pairs (more synchrony than chance)"),
    ("susy_segments", "", "valid 30 s segments of the phase"),
)

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
    gap_before : numpy.ndarray of bool
        Beat times re-anchored before the beat.
    """

    session_id: NDArray[np.int64]
    participant_id: NDArray[np.int64]
    beat_time_s: NDArray[np.float64]
    rr_ms: NDArray[np.float64]
    starts: NDArray[np.intp]
    gap_before: NDArray[np.bool_]

    @property
    def n_recordings(self) -> int:
        """Number of recordings."""
        return int(self.starts.shape[0] - 1)


def read_beats_bulk(
    store: Store,
    session_ids: Sequence[int],
    pairs: Collection[tuple[int, int]] | None = None,
) -> BulkBeats:
    """Read the beats of many sessions in two queries, straight to numpy.

    Parameters
    ----------
    store : Store
    session_ids : sequence of int
    pairs : collection of (session id, participant id), optional
        Read only these recordings (those with consent: nothing else is read); default all.

    Returns
    -------
    BulkBeats
        Sorted by session, participant and beat time (the order of the beats index; beats of
        one participant with exactly the same time come in an unspecified order).

    Notes
    -----
    One query counts the beats per (session, participant); the other returns only beat time,
    RR and the re-anchor flag in the same order, fetched from the driver's cursor without
    SQLAlchemy's per-row processing (the fetch is the cost: about 1 us per row on SQLite). Both
    run in one transaction, so the counts and the rows agree.
    """
    b = t.beats
    where: sa.ColumnElement[bool] = b.c.session_id.in_(list(session_ids))
    if pairs is not None:
        where = sa.and_(where, _pair_in(b.c.session_id, b.c.participant_id, pairs))
    counts_q = (
        sa.select(b.c.session_id, b.c.participant_id, sa.func.count())
        .where(where)
        .group_by(b.c.session_id, b.c.participant_id)
        .order_by(b.c.session_id, b.c.participant_id)
    )
    values_q = (
        sa.select(b.c.beat_time_s, b.c.rr_ms, b.c.gap_before)
        .where(where)
        .order_by(b.c.session_id, b.c.participant_id, b.c.beat_time_s, b.c.device, b.c.seq)
    )
    with store.engine.connect() as conn:
        counts = conn.execute(counts_q).all()
        rows = conn.execute(values_q).cursor.fetchall()
    values = np.array(rows, dtype=np.float64).reshape(-1, 3)
    n = np.array([int(c[2]) for c in counts], dtype=np.intp)
    starts = np.concatenate(([0], np.cumsum(n))).astype(np.intp)
    if starts[-1] != values.shape[0]:
        raise ExportError(
            f"beats changed while being read: counted {starts[-1]}, read {values.shape[0]}"
        )
    sid = np.repeat(np.array([int(c[0]) for c in counts], dtype=np.int64), n)
    pid = np.repeat(np.array([int(c[1]) for c in counts], dtype=np.int64), n)
    return BulkBeats(
        sid,
        pid,
        np.ascontiguousarray(values[:, 0]),
        np.ascontiguousarray(values[:, 1]),
        starts,
        values[:, 2] != 0.0,
    )


def _pair_in(
    session_col: Any, participant_col: Any, pairs: Collection[tuple[int, int]]
) -> sa.ColumnElement[bool]:
    """``(session, participant) IN pairs`` (false for no pair)."""
    if not pairs:
        return sa.false()
    return sa.tuple_(session_col, participant_col).in_(sorted(pairs))


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
    failed : tuple of SessionFailure
        Sessions left out because computing them failed (a corrupt row), with the error.
    """

    table: Table
    sessions: int
    recordings: int
    excluded: int
    simulated_left_out: int = 0
    failed: tuple[SessionFailure, ...] = ()


@dataclass(frozen=True, slots=True)
class _CohortJob:
    """One session's work for a runner: plain values only (the URL, never an engine)."""

    url: str
    session_id: int
    purpose: ConsentPurpose
    at_s: float
    lf_hf: bool
    synchrony: bool


def cohort_task(job: _CohortJob) -> tuple[list[Table], SessionFailure | None]:
    """One session's rows, on a worker: its own store from the URL, the consent rule applied
    here at the cohort's time (only consenting recordings are read), as in-process."""
    store = worker_store(job.url)
    sid = [job.session_id]
    allowed = _consenting_pairs(store, sid, job.purpose, job.at_s)[0]
    sync_allowed: set[tuple[int, int]] = set()
    if job.synchrony:
        sync_allowed = _consenting_pairs(store, sid, "synchrony", job.at_s)[0] & allowed
    return _session_rows(store, job.session_id, allowed, job.lf_hf, job.synchrony, sync_allowed)


def _session_rows(
    store: Store,
    sid: int,
    allowed: set[tuple[int, int]],
    lf_hf: bool,
    synchrony: bool,
    sync_allowed: set[tuple[int, int]],
) -> tuple[list[Table], SessionFailure | None]:
    """One session's rows, or its failure (:data:`~server.export.runner.SESSION_ERRORS`)."""
    mine = {(s, p) for s, p in allowed if s == sid}
    try:
        return _chunk_rows(store, [sid], mine, lf_hf, synchrony, sync_allowed), None
    except SESSION_ERRORS as exc:
        return [], failure(sid, exc)


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
    store: Store,
    session_ids: Sequence[int],
    beats: BulkBeats,
    allowed: set[tuple[int, int]],
) -> dict[int, tuple[float, tuple[PhaseInterval, ...]]]:
    """Start and phases of each session, by the read model's rules
    (:func:`server.readmodel.session_bounds`, :func:`server.readmodel.session_phases`), from
    the beats of the included recordings; sessions and phase events read in bulk."""
    s_rows, e_rows = t.sessions, t.phase_events
    m_rows = t.markers
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
        marker_times: dict[int, list[float]] = {sid: [] for sid in ids}
        for r in conn.execute(
            sa.select(m_rows.c.session_id, m_rows.c.time_s).where(
                m_rows.c.session_id.in_(ids),
                sa.or_(
                    m_rows.c.participant_id.is_(None),
                    _pair_in(m_rows.c.session_id, m_rows.c.participant_id, allowed),
                ),
            )
        ):
            marker_times[int(r.session_id)].append(float(r.time_s))
    first = beats.starts[:-1]
    last = beats.starts[1:] - 1
    ends: dict[int, list[float]] = {}
    for a, b in zip(first.tolist(), last.tolist(), strict=True):
        sid, pid = int(beats.session_id[a]), int(beats.participant_id[a])
        if (sid, pid) not in allowed:
            continue
        ends.setdefault(sid, []).extend(
            [
                float(beats.beat_time_s[a] - beats.rr_ms[a] / 1000.0),
                float(beats.beat_time_s[b]),
            ]
        )
    out: dict[int, tuple[float, tuple[PhaseInterval, ...]]] = {}
    for sid, session in sessions.items():
        ev = events[sid]
        start, end = session_bounds(
            session, ends.get(sid, []), [e.time_s for e in ev] + marker_times[sid]
        )
        template = phase_template(session.phase_template)
        out[sid] = (start, session_phases(ev, template, start, end))
    return out


def _alliance_columns(
    store: Store, session_ids: Sequence[int], allowed: set[tuple[int, int]]
) -> dict[tuple[int, int], dict[str, float]]:
    """Alliance totals per included (session, participant), read in bulk."""
    a = t.alliance_scores
    items: dict[tuple[int, int, str], dict[int, float]] = {}
    with store.engine.connect() as conn:
        for r in conn.execute(
            sa.select(
                a.c.session_id, a.c.participant_id, a.c.instrument, a.c.item, a.c.score
            ).where(
                a.c.session_id.in_(list(session_ids)),
                _pair_in(a.c.session_id, a.c.participant_id, allowed),
            )
        ):
            key = (int(r.session_id), int(r.participant_id), str(r.instrument))
            items.setdefault(key, {})[int(r.item)] = float(r.score)
    out: dict[tuple[int, int], dict[str, float]] = {}
    for (s, p, inst), scores in items.items():
        out.setdefault((s, p), {}).update(alliance_totals(scores, inst))
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
    synchrony: bool,
    sync_allowed: set[tuple[int, int]],
) -> list[Table]:
    beats = read_beats_bulk(store, chunk, allowed)
    frames = _session_frames(store, chunk, beats, allowed)
    alliance = _alliance_columns(store, chunk, allowed)
    codes, roles = _people(store, {p for _, p in allowed})

    cols: dict[str, list[Any]] = {c: [] for c, _, _ in COHORT_COLUMNS[: len(_ROW_COLUMNS)]}
    sync_rows: list[tuple[float, float, float, float]] = []
    derived: dict[tuple[int, int], Derivation] = {}
    rows_of: dict[int, list[int]] = {}
    for a, b in zip(beats.starts[:-1].tolist(), beats.starts[1:].tolist(), strict=True):
        sid, pid = int(beats.session_id[a]), int(beats.participant_id[a])
        if (sid, pid) not in allowed:
            continue
        start, phases = frames[sid]
        # the same derivation as the review and the exports: session-relative stored beats
        d = derive(
            StoredBeats.from_arrays(
                beats.beat_time_s[a:b] - start, beats.rr_ms[a:b], beats.gap_before[a:b]
            ),
            trace=False,
        )
        derived[(sid, pid)] = d
        rel = [(ph.start_s - start, ph.end_s - start) for ph in phases]
        starts, ends = stat_bounds([x for x, _ in rel], [y for _, y in rel])
        st = interval_stats(d, starts, ends, lf_hf=lf_hf)
        for i, ph in enumerate(phases):
            rows_of.setdefault(sid, []).append(len(cols["session_id"]))
            cols["session_id"].append(sid)
            cols["participant"].append(codes[pid])
            cols["role"].append(roles[pid])
            cols["phase_index"].append(ph.index)
            cols["phase"].append(ph.name)
            cols["phase_start_s"].append(round(rel[i][0], 6))
            cols["phase_duration_s"].append(round(rel[i][1] - rel[i][0], 6))
            cols["n_beats"].append(int(st.n_beats[i]))
            cols["mean_hr_bpm"].append(float(st.mean_hr_bpm[i]))
            cols["rmssd_ms"].append(float(st.rmssd_ms[i]))
            cols["ln_rmssd"].append(float(st.ln_rmssd[i]))
            cols["artifact_pct"].append(float(st.artifact_pct[i]))
            cols["lf_hf"].append(float(st.lf_hf[i]))
            cols["irregular_pct"].append(float(st.irregular_pct[i]))
            sync_rows.append(_NO_SYNC)
    if not cols["session_id"]:
        return []
    if synchrony:
        for sid in chunk:
            values = _dyad_values(sid, derived, roles, frames[sid], sync_allowed)
            if values is None:
                continue
            by_phase = dict(values)
            for r in rows_of.get(sid, []):
                sync_rows[r] = by_phase.get(
                    (int(cols["phase_index"][r]), float(cols["phase_start_s"][r])), _NO_SYNC
                )
    r_sid = cols["session_id"]
    r_pid_code = cols["participant"]
    pid_of = {(s, codes[p]): p for s, p in allowed}

    def allied(name: str) -> NDArray[np.float64]:
        return np.array(
            [
                alliance.get((s, pid_of[(s, c)]), {}).get(name, math.nan)
                for s, c in zip(r_sid, r_pid_code, strict=True)
            ],
            dtype=np.float64,
        )

    out: Table = {
        "session_id": np.array(r_sid, dtype=np.int64),
        "participant": np.array(cols["participant"], dtype=object),
        "role": np.array(cols["role"], dtype=object),
        "phase_index": np.array(cols["phase_index"], dtype=np.int64),
        "phase": np.array(cols["phase"], dtype=object),
        "phase_start_s": np.array(cols["phase_start_s"], dtype=np.float64),
        "phase_duration_s": np.array(cols["phase_duration_s"], dtype=np.float64),
        "n_beats": np.array(cols["n_beats"], dtype=np.int64),
        **{
            c: np.array(cols[c], dtype=np.float64)
            for c in (
                "mean_hr_bpm",
                "rmssd_ms",
                "ln_rmssd",
                "artifact_pct",
                "lf_hf",
                "irregular_pct",
            )
        },
        **{c: allied(c) for c, _, _ in COHORT_COLUMNS[len(_ROW_COLUMNS) :]},
    }
    if synchrony:
        sync_values = np.array(sync_rows, dtype=np.float64).reshape(-1, 4)
        out.update({c: sync_values[:, k] for k, (c, _, _) in enumerate(SYNCHRONY_COLUMNS)})
    return [out]


_NO_SYNC: Final[tuple[float, float, float, float]] = (math.nan, math.nan, math.nan, math.nan)


def _dyad_values(
    sid: int,
    derived: Mapping[tuple[int, int], Derivation],
    roles: Mapping[int, str],
    frame: tuple[float, tuple[PhaseInterval, ...]],
    sync_allowed: set[tuple[int, int]],
) -> list[tuple[tuple[int, float], tuple[float, float, float, float]]] | None:
    """Synchrony per (phase index, relative phase start) of a session with a consenting dyad:
    its first patient and first therapist (by participant id) with a ``synchrony`` consent
    (:func:`hrv.derive.dyad_synchrony`, as the review)."""
    people = sorted(p for s, p in derived if s == sid and (s, p) in sync_allowed)
    patient = next((p for p in people if roles[p] == "patient"), None)
    therapist = next((p for p in people if roles[p] == "therapist"), None)
    if patient is None or therapist is None:
        return None
    start, phases = frame
    try:
        ds = dyad_synchrony(
            derived[(sid, patient)],
            derived[(sid, therapist)],
            [ph.start_s - start for ph in phases],
            [ph.end_s - start for ph in phases],
            whole=False,
            wlcc=False,
        )
    except SintoniaError:
        return None
    out = []
    for ph, seg in zip(phases, ds.phases, strict=True):
        key = (ph.index, round(ph.start_s - start, 6))
        if seg is None:
            out.append((key, (math.nan, math.nan, math.nan, 0.0)))
        else:
            z = seg.z
            out.append(
                (
                    key,
                    (
                        float(z.observed),
                        float(z.effect_size),
                        float(z.p_value),
                        float(np.count_nonzero(seg.valid)),
                    ),
                )
            )
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
    runner: SessionRunner | None = None,
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
        Add :data:`SYNCHRONY_COLUMNS` (dyads whose two members have an active ``synchrony``
        consent; empty for the others).
    chunk_sessions : int
        Sessions read per query (bounds memory: about 9,000 beats per one-hour dyad).
    progress : callable, optional
        Called with (sessions done, sessions total) after each chunk.
    include_simulated : bool
        Include simulated sessions (the demo's; flagged in the ``simulated`` column). Default
        False: they are left out, even when named in ``session_ids``, and counted.
    runner : SessionRunner, optional
        Run one job per session there (e.g. on Dask workers,
        :func:`server.export.dask_runner.dask_runner`), each opening the database from its URL
        and applying the consent rule at this call's time; the same table as without.

    Returns
    -------
    CohortTable
        With :data:`COHORT_COLUMNS`, then :data:`SYNCHRONY_COLUMNS` when computed.

    Notes
    -----
    Per phase, :func:`hrv.derive.interval_stats` over the corrected beats ending in
    ``[start, end)``: mean HR (:func:`hrv.time_domain.mean_hr`), RMSSD over the successive
    differences inside one gap-free segment (Task Force 1996), ln RMSSD; artifact % over the
    stored beats; LF/HF (Welch) of the longest gap-free stretch when it spans at least 120 s.

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
        raise ParameterError(f"chunk_sessions must be >= 1, got {chunk_sessions}")
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
    sync = synchrony
    sync_allowed: set[tuple[int, int]] = set()
    if sync and ids:
        sync_allowed = _consenting_pairs(store, ids, "synchrony", at_s)[0] & allowed
    parts: list[Table] = []
    failed: list[SessionFailure] = []
    if runner is not None:
        url = database_url(store)
        jobs = [_CohortJob(url, sid, purpose, at_s, lf_hf, sync) for sid in ids]
        for k, (rows, fail) in enumerate(runner.map(cohort_task, jobs)):
            parts.extend(rows)
            failed.extend([fail] if fail is not None else [])
            if progress is not None:
                progress(k + 1, len(ids))
    for k in range(0, len(ids) if runner is None else 0, chunk_sessions):
        chunk = ids[k : k + chunk_sessions]
        mine = {(s, p) for s, p in allowed if s in set(chunk)}
        try:
            parts.extend(_chunk_rows(store, chunk, mine, lf_hf, sync, sync_allowed))
        except SESSION_ERRORS:  # find the session(s) at fault, one at a time
            for sid in chunk:
                rows, fail = _session_rows(store, sid, mine, lf_hf, sync, sync_allowed)
                parts.extend(rows)
                failed.extend([fail] if fail is not None else [])
        if progress is not None:
            progress(min(k + chunk_sessions, len(ids)), len(ids))
    for f in failed:
        _log.warning("cohort: session %d left out: %s", f.session_id, f.error)
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
            "failed": [f.session_id for f in failed],
        },
        at_s=at_s,
    )
    return CohortTable(table, len(ids), recordings, excluded, left_out, tuple(failed))


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
