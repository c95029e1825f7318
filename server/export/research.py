"""De-identified research export of many sessions: a BIDS-like tree and Parquet tables.

Who is included
---------------
Only recordings (one participant in one session) whose participant has an active
``research_export`` consent for that session (global or session-scoped) at the time of the export.
The others are left out with everything about them (markers and cues about them, their device
events); the export's README and the returned :class:`ResearchExport` say how many. Every export
is written to the audit log (the only place that knows which stored sessions went out). A session
that cannot be read (a corrupt row) is left out, counted in the README and named in the audit log
and :attr:`ResearchExport.failed`; the others are written. With a runner (Dask workers,
:mod:`server.export.runner`) each session's tables are computed by one job that opens the
database from its URL and applies the consent rule itself; the files are written here, in order.

What is removed
---------------
Participant codes, database ids, device identifiers (BLE addresses), marker notes, cue texts and
reasons, device-event details, session labels, clinician names and every absolute time: times are
seconds from the session start and no date is written (gzip headers carry mtime 0). Subjects get
numbers ``sub-01`` ... in a random order, sessions ``ses-01`` ... in chronological order per
subject, and the sessions recorded together (a dyad) share a random ``recording`` label
(``dyad-01`` ...). The mapping back to the database is kept nowhere in the export.

Layout (after the Brain Imaging Data Structure, BIDS 1.9: Gorgolewski et al. 2016)
---------------------------------------------------------------------------------
::

    dataset_description.json     Name, BIDSVersion, DatasetType, GeneratedBy
    README                       what is in the export, who was left out, the columns
    participants.tsv / .json     participant_id, role, n_sessions
    phenotype/alliance.tsv/.json participant_id, session_id, instrument, version, item, score
    sub-XX/sub-XX_sessions.tsv   session_id, recording, duration_s
    sub-XX/ses-YY/beh/sub-XX_ses-YY_task-psychotherapy_recording-rr_physio.tsv.gz + .json
    sub-XX/ses-YY/beh/sub-XX_ses-YY_task-psychotherapy_events.tsv + .json
    sub-XX/ses-YY/beh/sub-XX_ses-YY_task-psychotherapy_phases.tsv + .json  (per-phase HRV: the
        numbers of the report and the cohort table)
    beats.parquet, events.parquet, phases.parquet  (format "parquet" or "both")

The physio files hold one row per stored beat (irregular sampling: BIDS physio assumes a
uniform rate, hence "BIDS-like"; the sidecar says ``"SamplingFrequency": "irregular"`` and names
the time column), no header row (BIDS), ``n/a`` for missing values, columns in the sidecar.

``beats.parquet`` is one table of every included beat with ``participant_id``, ``session_id``,
``recording`` and ``role`` columns, one row group per recording, not partitioned (a single file
that pandas, pyarrow and DuckDB read directly, e.g.
``SELECT participant_id, avg(rr_ms) FROM 'beats.parquet' GROUP BY 1``).

References
----------
.. [1] Gorgolewski KJ et al. (2016). The brain imaging data structure, a format for organizing
   and describing outputs of neuroimaging experiments. Scientific Data 3, 160044.
.. [2] BIDS specification 1.9.0, "Physiological recordings" and "Task events" (columns, sidecars,
   ``n/a``), https://bids-specification.readthedocs.io
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import random
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, astuple, dataclass, replace
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np

from hrv.stream import StreamConfig
from server.export.errors import ExportError, NothingToExportError
from server.export.runner import (
    SESSION_ERRORS,
    SessionFailure,
    SessionRunner,
    database_url,
    failure,
    worker_store,
)
from server.export.tables import (
    ARTIFACT_NAMES,
    PHASE_COLUMNS,
    Table,
    beat_columns,
    derive_participant,
    nullable_int,
    phase_table,
    relative_time,
    write_delimited,
)
from server.readmodel import SessionRecord, consenting_participants, load_session_record
from server.storage import BeatPage, Session, Store
from server.storage.records import RR_RAW_MISSING

__all__ = [
    "BIDS_VERSION",
    "PHYSIO_COLUMNS",
    "RESEARCH_EVENT_COLUMNS",
    "RESEARCH_PHASE_COLUMNS",
    "TASK_LABEL",
    "ResearchExport",
    "ResearchFormat",
    "export_research",
    "physio_columns",
    "research_phase_table",
    "research_physio_table",
    "research_task",
]

_log = logging.getLogger(__name__)

ResearchFormat = Literal["tsv", "parquet", "both"]

#: Version of the BIDS specification the layout follows.
BIDS_VERSION: Final[str] = "1.9.0"
#: BIDS task label of every recording.
TASK_LABEL: Final[str] = "psychotherapy"
_PURPOSE: Final = "research_export"
#: Object columns holding integers or None (every other object column holds strings or None).
_NULLABLE_INT_COLUMNS: Final[frozenset[str]] = frozenset({"rr_raw"})
_EMPTY_PAGE: Final[BeatPage] = BeatPage(
    participant_id=np.empty(0, dtype=np.int64),
    device=np.empty(0, dtype=np.str_),
    seq=np.empty(0, dtype=np.int64),
    rr_ms=np.empty(0, dtype=np.float64),
    rr_raw=np.empty(0, dtype=np.int64),
    host_time_s=np.empty(0, dtype=np.float64),
    beat_time_s=np.empty(0, dtype=np.float64),
    contact=np.empty(0, dtype=np.int8),
    gap_before=np.empty(0, dtype=np.bool_),
    next_cursor=None,
)

#: Names of the :func:`~server.export.tables.beat_columns` the physio files keep, in file order
#: (``None``: a physio-only column, from :data:`_PHYSIO_OWN`).
_PHYSIO_FROM_BEATS: Final[tuple[int | str, ...]] = (
    "time_s", 8, "rr_raw", "artifact", 12, 13, 9, 10, 14, 15, 18,
)  # fmt: skip
_PHYSIO_OWN: Final[dict[str, tuple[str, str, str]]] = {
    "time_s": ("time_s", "s", "beat time (end of the RR interval) from the session start"),
    "rr_raw": (
        "rr_raw",
        "1/1024 s",
        "RR exactly as the strap sent it (n/a where the source gave none)",
    ),
    "artifact": (
        "artifact",
        "",
        "artifact class: " + ", ".join(f"{i} {n}" for i, n in enumerate(ARTIFACT_NAMES)),
    ),
}


def physio_columns(stream: StreamConfig | None = None) -> tuple[tuple[str, str, str], ...]:
    """Physio columns (name, unit, description) in file order; window lengths in names and
    descriptions read from the settings of the derivation (:func:`beat_columns`: default
    :class:`hrv.stream.StreamConfig` when omitted)."""
    beats = beat_columns(stream)
    return tuple(_PHYSIO_OWN[c] if isinstance(c, str) else beats[c] for c in _PHYSIO_FROM_BEATS)


#: Physio columns with the default settings (:func:`physio_columns`).
PHYSIO_COLUMNS: Final[tuple[tuple[str, str, str], ...]] = physio_columns()

#: Events columns: (name, unit, description), in file order.
#: Columns of the per-recording phase summary (the report's and the cohort's numbers).
RESEARCH_PHASE_COLUMNS: Final[tuple[tuple[str, str, str], ...]] = tuple(
    c for c in PHASE_COLUMNS if c[0] not in ("participant", "role")
)

RESEARCH_EVENT_COLUMNS: Final[tuple[tuple[str, str, str], ...]] = (
    ("onset", "s", "from the session start"),
    ("duration", "s", "length of a phase; 0 for an instant"),
    ("trial_type", "", "phase, marker, cue or device"),
    ("value", "", "phase id, marker type, cue rule or device event kind"),
    ("about", "", "role of the person the event is about (n/a: the session)"),
    ("response", "", "therapist's response to a cue: acknowledged or dismissed"),
    ("response_delay_s", "s", "time from the cue to the response"),
    ("device_value", "", "number carried by a device event (e.g. battery percent)"),
)


@dataclass(frozen=True, slots=True)
class ResearchExport:
    """What :func:`export_research` wrote.

    Attributes
    ----------
    out_dir : Path
    sessions : int
        Sessions with at least one included recording.
    subjects : int
        Distinct participants included.
    recordings : int
        Included (session, participant) recordings.
    excluded_participants : int
        Distinct participants with at least one recording left out for lack of consent.
    excluded_recordings : int
        Recordings left out for lack of consent.
    n_beats : int
        Beats written.
    files : tuple of Path
        Every file written.
    simulated_left_out : int
        Simulated sessions left out (``include_simulated=False``).
    failed : tuple of SessionFailure
        Sessions left out because reading or computing them failed (a corrupt row).
    """

    out_dir: Path
    sessions: int
    subjects: int
    recordings: int
    excluded_participants: int
    excluded_recordings: int
    n_beats: int
    files: tuple[Path, ...]
    simulated_left_out: int = 0
    failed: tuple[SessionFailure, ...] = ()


#: One participant's de-identified tables: participant id, role, physio, events, phases.
_PersonTables = tuple[int, str, Table, Table, Table]


@dataclass(frozen=True, slots=True)
class _SessionTables:
    """What one session gives the export: the record without beats, and per included person
    the tables to write (computed where the job ran)."""

    record: SessionRecord
    people: tuple[_PersonTables, ...]


@dataclass(frozen=True, slots=True)
class _ResearchJob:
    """One session's work for a runner: plain values only (the URL, never an engine)."""

    url: str
    session_id: int
    at_s: float


def _session_tables_or_failure(
    store: Store, session_id: int, at_s: float
) -> _SessionTables | SessionFailure:
    """The session's tables under the ``research_export`` consent at ``at_s`` (only consenting
    participants are read), or its failure (:data:`~server.export.runner.SESSION_ERRORS`)."""
    try:
        data = load_session_record(store, session_id, purpose=_PURPOSE, at_s=at_s)
        people = tuple(
            (
                person.participant.id,
                person.participant.role,
                research_physio_table(data, i),
                _events(data, person.participant.id),
                research_phase_table(data, i),
            )
            for i, person in enumerate(data.participants)
        )
        return _SessionTables(_without_beats(data), people)
    except SESSION_ERRORS as exc:
        return failure(session_id, exc)


def research_task(job: _ResearchJob) -> _SessionTables | SessionFailure:
    """One session's tables on a worker, from its own store opened from the URL."""
    return _session_tables_or_failure(worker_store(job.url), job.session_id, job.at_s)


def research_physio_table(data: SessionRecord, index: int) -> Table:
    """The de-identified physio columns (:data:`PHYSIO_COLUMNS`) of participant ``index``."""
    person = data.participants[index]
    b = person.beats
    d = derive_participant(person, arousal=False)
    values = (
        relative_time(b.beat_time_s, data.start_s),
        b.rr_ms,
        nullable_int(b.rr_raw, RR_RAW_MISSING),
        d.artifact.astype(np.int64),
        d.rr_corrected_ms,
        d.n_corrected,
        b.contact.astype(np.int64),
        b.gap_before.astype(np.int64),
        d.mean_hr_bpm,
        d.rmssd_ms,
        d.quality,
    )
    # the names of the settings the derivation used (the defaults)
    return dict(zip([c for c, _, _ in physio_columns()], values, strict=True))


def research_phase_table(data: SessionRecord, index: int) -> Table:
    """Per-phase HRV of participant ``index`` (:data:`RESEARCH_PHASE_COLUMNS`): the numbers of
    the report and the cohort table, without the participant's code."""
    person = data.participants[index]
    one = replace(data, participants=(person,))
    table = phase_table(one)
    return {c: table[c] for c, _, _ in RESEARCH_PHASE_COLUMNS}


def _events(data: SessionRecord, subject_pid: int) -> Table:
    """De-identified events of one session for one subject (:data:`RESEARCH_EVENT_COLUMNS`)."""
    roles = {p.participant.id: p.participant.role for p in data.participants}
    rows: list[tuple[float, float, str, str, str | None, str | None, float, float]] = []
    nan = float("nan")
    for ph in data.phases:
        rows.append((ph.start_s, ph.duration_s, "phase", ph.name, None, None, nan, nan))
    for m in data.markers:
        about = roles.get(m.participant_id) if m.participant_id is not None else None
        rows.append((m.time_s, 0.0, "marker", m.type, about, None, nan, nan))
    for c in data.cues:
        about = roles.get(c.participant_id) if c.participant_id is not None else None
        delay = nan if c.responded_at_s is None else c.responded_at_s - c.shown_at_s
        rows.append((c.shown_at_s, 0.0, "cue", c.rule, about, c.response, delay, nan))
    for e in data.device_events:
        if e.participant_id != subject_pid:
            continue
        value = nan if e.value is None else float(e.value)
        rows.append((e.time_s, 0.0, "device", e.kind, roles[subject_pid], None, nan, value))
    rows.sort(key=lambda r: r[0])
    cols = list(zip(*rows, strict=True)) if rows else [()] * 8
    return {
        "onset": relative_time(np.array(cols[0], dtype=np.float64), data.start_s),
        "duration": np.array(cols[1], dtype=np.float64),
        "trial_type": np.array(cols[2], dtype=object),
        "value": np.array(cols[3], dtype=object),
        "about": np.array(cols[4], dtype=object),
        "response": np.array(cols[5], dtype=object),
        "response_delay_s": np.array(cols[6], dtype=np.float64),
        "device_value": np.array(cols[7], dtype=np.float64),
    }


def _sidecar(columns: Sequence[tuple[str, str, str]], **extra: Any) -> dict[str, Any]:
    side: dict[str, Any] = dict(extra)
    side["Columns"] = [c for c, _, _ in columns]
    for name, unit, desc in columns:
        side[name] = {"Description": desc, **({"Units": unit} if unit else {})}
    return side


def _write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n", encoding="utf-8")


def _write_tsv_gz(table: Table, path: Path) -> int:
    """TSV without header, gzip with no file name and mtime 0 (no date in the header)."""
    text = io.StringIO()
    n = write_delimited(table, text, delimiter="\t", header=False)
    with path.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        gz.write(text.getvalue().encode("utf-8"))
    return n


def _without_beats(data: SessionRecord) -> SessionRecord:
    """The session without its beats (kept for the descriptive files, not the signals)."""
    return replace(
        data, participants=tuple(replace(p, beats=_EMPTY_PAGE) for p in data.participants)
    )


def _labels(n: int, prefix: str, rng: random.Random) -> list[str]:
    """``prefix-01`` ... ``prefix-N`` in a random order (zero-padded to at least 2 digits)."""
    width = max(2, len(str(n)))
    numbers = list(range(1, n + 1))
    rng.shuffle(numbers)
    return [f"{prefix}{k:0{width}d}" for k in numbers]


def _all_session_ids(store: Store) -> list[int]:
    ids: list[int] = []
    while batch := store.list_sessions(limit=1000, offset=len(ids)):
        ids.extend(s.id for s in batch)
    return sorted(ids)


class _ParquetSink:
    """Streams tables into one Parquet file, one row group per call (pyarrow)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer: Any = None

    def write(self, table: Table, keys: dict[str, str]) -> None:
        import pyarrow as pa  # type: ignore[import-untyped]  # optional dependency (extra "export")
        import pyarrow.parquet as pq  # type: ignore[import-untyped]

        n = next(iter(table.values())).shape[0] if table else 0
        arrays: dict[str, Any] = {
            k: pa.array([v] * n, type=pa.string()).dictionary_encode() for k, v in keys.items()
        }
        for name, col in table.items():
            if col.dtype == object:
                kind = pa.int64() if name in _NULLABLE_INT_COLUMNS else pa.string()
                arrays[name] = pa.array(col.tolist(), type=kind)
            else:
                arrays[name] = pa.array(col)
        t = pa.table(arrays)
        if self._writer is None:
            self._writer = pq.ParquetWriter(str(self.path), t.schema)
        self._writer.write_table(t)

    def close(self) -> bool:
        if self._writer is None:
            return False
        self._writer.close()
        return True


def export_research(
    store: Store,
    out_dir: Path,
    session_ids: Iterable[int] | None = None,
    *,
    format: ResearchFormat = "tsv",
    actor: str = "system",
    rng: random.Random | None = None,
    progress: Callable[[int, int], None] | None = None,
    include_simulated: bool = False,
    runner: SessionRunner | None = None,
) -> ResearchExport:
    """Write a de-identified research export of many sessions (see the module docstring).

    Parameters
    ----------
    store : Store
    out_dir : Path
        Output directory; created, and it must not exist or be empty.
    session_ids : iterable of int, optional
        Sessions to consider (default: every session in the store).
    format : {"tsv", "parquet", "both"}
        BIDS-like TSV tree, Parquet tables (plus the descriptive files), or both.
    actor : str
        Who exports (audit log).
    rng : random.Random, optional
        Source of the random subject and recording order (default: the OS's
        :class:`secrets.SystemRandom`).
    progress : callable, optional
        Called with (sessions written, sessions to write) after each session.
    include_simulated : bool
        Include simulated sessions (the demo's). Default False: they are left out, even when
        named in ``session_ids``, and counted. When included, their recording label starts with
        ``sim-`` (``sim-dyad-03``) in every file, so they stay recognisable after
        de-identification.
    runner : SessionRunner, optional
        Read and compute one session per job there (e.g. on Dask workers,
        :func:`server.export.dask_runner.dask_runner`), each opening the database from its URL
        and applying the consent rule at this export's time; files are written here, in the
        same order, so they are the same as without.

    Returns
    -------
    ResearchExport

    Raises
    ------
    ExportError
        If ``out_dir`` exists and is not empty, or ``format`` is unknown.
    NothingToExportError
        If no recording of the sessions may be exported (nothing is written, the attempt is
        audited).
    server.storage.RecordNotFoundError
        For an unknown session id.
    """
    if format not in ("tsv", "parquet", "both"):
        raise ExportError(f"format must be 'tsv', 'parquet' or 'both', got {format!r}")
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise ExportError(f"output directory {out_dir} must not exist or be empty")
    rng = rng if rng is not None else secrets.SystemRandom()
    ids = _all_session_ids(store) if session_ids is None else sorted(set(session_ids))
    at_s = store.now()

    # Pass 1: consent and chronology (no beats read yet).
    planned: list[tuple[Session, list[int]]] = []
    excluded_recordings = 0
    excluded_people: set[int] = set()
    simulated_left_out = 0
    for sid in ids:
        session = store.get_session(sid)
        if session.simulated and not include_simulated:
            simulated_left_out += 1
            continue
        included, excluded = consenting_participants(store, sid, _PURPOSE, at_s=at_s)
        excluded_recordings += len(excluded)
        excluded_people.update(sp.participant_id for sp in excluded)
        if included:
            planned.append((session, [sp.participant_id for sp in included]))
    n_recordings = sum(len(p) for _, p in planned)
    summary = {
        "sessions": ids,
        "included_recordings": n_recordings,
        "excluded_recordings": excluded_recordings,
        "excluded_participants": len(excluded_people),
        "simulated_left_out": simulated_left_out,
        "format": format,
        "out": out_dir.name,
    }
    if not planned:
        store.audit(actor, "export.research.refused", "export", None, summary, at_s=at_s)
        sim = (
            f"; {simulated_left_out} simulated session(s) left out (--include-simulated)"
            if simulated_left_out
            else ""
        )
        raise NothingToExportError(
            f"no recording of the {len(ids) - simulated_left_out} session(s) has an active "
            f"research_export consent ({excluded_recordings} recording(s) of "
            f"{len(excluded_people)} participant(s) left out{sim})",
            excluded=len(excluded_people),
        )

    def started(s: Session) -> float:
        return s.started_at_s if s.started_at_s is not None else s.created_at_s

    planned.sort(key=lambda item: (started(item[0]), item[0].id))
    pids = sorted({pid for _, people in planned for pid in people})
    subject = dict(zip(pids, _labels(len(pids), "sub-", rng), strict=True))
    recording = dict(
        zip([s.id for s, _ in planned], _labels(len(planned), "dyad-", rng), strict=True)
    )
    for s, _ in planned:
        if s.simulated:
            recording[s.id] = "sim-" + recording[s.id]
    roles: dict[int, str] = {}

    out_dir.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    tsv = format in ("tsv", "both")
    beats_sink = _ParquetSink(out_dir / "beats.parquet") if format != "tsv" else None
    events_sink = _ParquetSink(out_dir / "events.parquet") if format != "tsv" else None
    phases_sink = _ParquetSink(out_dir / "phases.parquet") if format != "tsv" else None
    ses_count: dict[int, int] = {}
    sessions_rows: dict[int, list[tuple[str, str, float]]] = {pid: [] for pid in pids}
    physio_side = _sidecar(
        physio_columns(),
        SamplingFrequency="irregular",
        StartTime=0,
        TimeColumn="time_s",
        # the settings of the derived columns (those of the live engine)
        DerivedWith={"StreamConfig": asdict(StreamConfig())},
    )
    events_side = _sidecar(RESEARCH_EVENT_COLUMNS)
    phases_side = _sidecar(RESEARCH_PHASE_COLUMNS)
    n_beats = 0
    sessions: list[SessionRecord] = []
    failed: list[SessionFailure] = []
    written = 0
    if runner is not None:
        url = database_url(store)
        results = runner.map(research_task, [_ResearchJob(url, s.id, at_s) for s, _ in planned])
    else:
        results = (_session_tables_or_failure(store, s.id, at_s) for s, _ in planned)
    try:
        for k, result in enumerate(results):
            if isinstance(result, SessionFailure):
                failed.append(result)
                _log.warning("research export: session %d left out: %s", *astuple(result))
                continue
            data = result.record
            sessions.append(data)
            for pid, role, physio, events, phases in result.people:
                if pid not in subject:  # consent granted between the two passes
                    continue
                roles[pid] = role
                written += 1
                ses_count[pid] = ses_count.get(pid, 0) + 1
                sub, ses = subject[pid], f"ses-{ses_count[pid]:02d}"
                sessions_rows[pid].append(
                    (ses, recording[data.session.id], round(data.end_s - data.start_s, 6))
                )
                n_beats += int(physio["time_s"].shape[0])
                keys = {
                    "participant_id": sub,
                    "session_id": ses,
                    "recording": recording[data.session.id],
                    "role": role,
                }
                if beats_sink is not None and events_sink is not None:
                    beats_sink.write(physio, keys)
                    events_sink.write(events, keys)
                if phases_sink is not None:
                    phases_sink.write(phases, keys)
                if tsv:
                    folder = out_dir / sub / ses / "beh"
                    folder.mkdir(parents=True, exist_ok=True)
                    stem = f"{sub}_{ses}_task-{TASK_LABEL}"
                    p_path = folder / f"{stem}_recording-rr_physio.tsv.gz"
                    _write_tsv_gz(physio, p_path)
                    _write_json(p_path.with_name(f"{stem}_recording-rr_physio.json"), physio_side)
                    e_path = folder / f"{stem}_events.tsv"
                    write_delimited(events, e_path, delimiter="\t")
                    _write_json(e_path.with_suffix(".json"), events_side)
                    files += [p_path, p_path.with_name(f"{stem}_recording-rr_physio.json")]
                    files += [e_path, e_path.with_suffix(".json")]
                    ph_path = folder / f"{stem}_phases.tsv"
                    write_delimited(phases, ph_path, delimiter="\t")
                    _write_json(ph_path.with_suffix(".json"), phases_side)
                    files += [ph_path, ph_path.with_suffix(".json")]
            if progress is not None:
                progress(k + 1, len(planned))
    finally:
        for sink in (beats_sink, events_sink, phases_sink):
            if sink is not None and sink.close():
                files.append(sink.path)

    # a subject whose every session failed is not in the export
    subject = {pid: sub for pid, sub in subject.items() if pid in roles}
    summary["failed"] = [f.session_id for f in failed]
    summary["included_recordings"] = n_recordings = written
    files += _write_descriptions(
        out_dir, store, sessions, subject, roles, sessions_rows, ses_count, summary, tsv
    )
    store.audit(actor, "export.research", "export", None, summary, at_s=at_s)
    _log.info(
        "research export to %s: %d recordings of %d subjects, %d recordings left out",
        out_dir,
        n_recordings,
        len(pids),
        excluded_recordings,
    )
    return ResearchExport(
        out_dir=out_dir,
        sessions=len(sessions),
        subjects=len(pids),
        recordings=n_recordings,
        excluded_participants=len(excluded_people),
        excluded_recordings=excluded_recordings,
        n_beats=n_beats,
        files=tuple(files),
        simulated_left_out=simulated_left_out,
        failed=tuple(failed),
    )


def _write_descriptions(
    out_dir: Path,
    store: Store,
    sessions: list[SessionRecord],
    subject: dict[int, str],
    roles: dict[int, str],
    sessions_rows: dict[int, list[tuple[str, str, float]]],
    ses_count: dict[int, int],
    summary: dict[str, Any],
    tsv: bool,
) -> list[Path]:
    """dataset_description.json, README, participants, per-subject sessions, alliance scores."""
    files: list[Path] = []
    desc = {
        "Name": "Sintonia heart-rate recordings (de-identified)",
        "BIDSVersion": BIDS_VERSION,
        "DatasetType": "raw",
        "GeneratedBy": [{"Name": "sintonia", "Description": "server.export.research"}],
    }
    _write_json(out_dir / "dataset_description.json", desc)
    files.append(out_dir / "dataset_description.json")

    order = sorted(subject, key=lambda pid: subject[pid])
    participants: Table = {
        "participant_id": np.array([subject[p] for p in order], dtype=object),
        "role": np.array([roles[p] for p in order], dtype=object),
        "n_sessions": np.array([ses_count[p] for p in order], dtype=np.int64),
    }
    write_delimited(participants, out_dir / "participants.tsv", delimiter="\t")
    _write_json(
        out_dir / "participants.json",
        {
            "participant_id": {"Description": "random subject number; no link is kept"},
            "role": {"Description": "patient or therapist"},
            "n_sessions": {"Description": "sessions of this subject in the export"},
        },
    )
    files += [out_dir / "participants.tsv", out_dir / "participants.json"]

    if tsv:
        for pid in order:
            rows = sessions_rows[pid]
            table: Table = {
                "session_id": np.array([r[0] for r in rows], dtype=object),
                "recording": np.array([r[1] for r in rows], dtype=object),
                "duration_s": np.array([r[2] for r in rows], dtype=np.float64),
            }
            path = out_dir / subject[pid] / f"{subject[pid]}_sessions.tsv"
            path.parent.mkdir(parents=True, exist_ok=True)
            write_delimited(table, path, delimiter="\t")
            files.append(path)

    alliance = _alliance(store, sessions, subject)
    (out_dir / "phenotype").mkdir(exist_ok=True)
    path = out_dir / "phenotype" / "alliance.tsv"
    write_delimited(alliance, path, delimiter="\t")
    _write_json(
        path.with_suffix(".json"),
        {
            "MeasurementToolMetadata": {
                "Description": "SRS (Duncan et al. 2003; items 1-4, 0-10) and WAI-SR (Hatcher "
                "& Gillaspy 2006; items 1-12, 1-5); item numbers and scores only"
            },
            "participant_id": {"Description": "who answered"},
            "session_id": {"Description": "that subject's session label"},
        },
    )
    files += [path, path.with_suffix(".json")]

    readme = out_dir / "README"
    readme.write_text(
        "De-identified heart-rate (RR interval) recordings of psychotherapy sessions, exported\n"
        "by Sintonia. Times are seconds from each session's start; no dates, participant codes,\n"
        "device identifiers or free-text notes are included, and subject numbers are random.\n\n"
        f"Recordings included: {summary['included_recordings']} "
        f"({len(subject)} subjects, {len(sessions)} sessions).\n"
        f"Left out for lack of research_export consent: {summary['excluded_recordings']} "
        f"recording(s) of {summary['excluded_participants']} participant(s).\n"
        + (
            f"Left out because they could not be read: {len(summary['failed'])} session(s).\n"
            if summary.get("failed")
            else ""
        )
        + "\nPhysio files: one row per beat, no header; columns and units in the JSON sidecars.\n"
        "beats.parquet / events.parquet (when present): the same rows for all subjects in one\n"
        "table each, with participant_id, session_id, recording and role columns.\n",
        encoding="utf-8",
    )
    files.append(readme)
    return files


def _alliance(store: Store, sessions: list[SessionRecord], subject: dict[int, str]) -> Table:
    """Alliance item scores of the included recordings, keyed by subject and session label."""
    rows: list[tuple[str, str, str, str, int, float]] = []
    count: dict[int, int] = {}
    for data in sessions:
        for person in data.participants:
            pid = person.participant.id
            if pid not in subject:
                continue
            count[pid] = count.get(pid, 0) + 1
            for a in store.list_alliance_scores(session_id=data.session.id, participant_id=pid):
                rows.append(
                    (
                        subject[pid],
                        f"ses-{count[pid]:02d}",
                        a.instrument,
                        a.version,
                        a.item,
                        a.score,
                    )
                )
    cols: list[Any] = list(zip(*rows, strict=True)) if rows else [()] * 6
    out: Table = {
        "participant_id": np.array(cols[0], dtype=object),
        "session_id": np.array(cols[1], dtype=object),
        "instrument": np.array(cols[2], dtype=object),
        "version": np.array(cols[3], dtype=object),
        "item": np.array(cols[4], dtype=np.int64),
        "score": np.array(cols[5], dtype=np.float64),
    }
    return out
