"""``sintonia import FILE``: a recording made with another app becomes a stored, finished session.

::

    sintonia import FILE --code CODE --role patient|therapist --consent PURPOSES
                   [--session ID | --label TEXT] [--start ISO-8601] [--participant NAME]
                   [--database-url URL] [--json]

* Reads every format ``sintonia analyze`` reads (:func:`sensor.files.read_rr_file`: plain RR
  text, Kubios, Polar Sensor Logger, HRV Logger, Elite HRV, Sintonia beats CSV).
* Creates the participant when the code is new and records each listed consent (comma-separated
  purposes) for this session, with version and ``recorded_by`` ``"import"``. Without
  ``storage`` among them (or an active storage consent the person already holds) nothing is
  written: one line on stderr, exit 2.
* Without ``--session`` it creates a session with the default phase template
  (:data:`dashboard.phases.DEFAULT_FIRST_SESSION`), its phases entered at their planned times from
  the start of the first beat, started at that time and stopped at the last beat, so review,
  report, exports and cohort treat it like a finished live session. With ``--session`` it adds
  the person to that session on the same clock (a dyad from two files); a stopped session's time
  frame is widened to cover the new beats.
* Raw beats are stored exactly as read: the file's RR values, unmodified (a corrupt value, e.g.
  0 or NaN, is kept in an ``invalid_rr`` device event instead, see
  :func:`sensor.quality.split_corrupt`); where the format has its own timestamps (two-column
  text, Kubios, HRV Logger, Sintonia beats; Polar Sensor Logger's receipt times, placed by
  :class:`sensor.timing.BeatClock`), a jump of more than :data:`sensor.replay.GAP_THRESHOLD_S`
  beyond the RR marks a gap (``gap_before``).

Time line. Beat times are the file's own times (or the cumulative RR) placed on the wall clock at
an anchor, the start of the first RR: ``--start`` when given (naive = local time); else the
file's own clock (a Sintonia beats file's epoch times, the Kubios measurement date, the Polar
Sensor Logger or HRV Logger first row's date, the Elite HRV file name); else, with ``--session``,
the session's start; else the file's modification time minus the recording's duration (the app
wrote the file when the recording ended).

Exit codes: 0 imported (one line with the session id, or with ``--json`` one object
``{"session_id", "participant", "beats", "invalid_values"}``); 2 an unreadable file, bad
arguments or a refused import, with one line on stderr and nothing written (what was written
before a failure is removed again).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final

import numpy as np

from hrv.errors import SintoniaError

if TYPE_CHECKING:  # heavy modules are imported inside the command
    from dashboard.phases import PhaseTemplate
    from sensor.files import RRRecording
    from sensor.types import BeatBatch
    from server.storage import Store

__all__ = ["IMPORT_SOURCE", "ImportRefused", "ImportResult", "import_recording", "register", "run"]

#: ``version`` and ``recorded_by`` of the consents an import records.
IMPORT_SOURCE: Final[str] = "import"
#: Audit-log actor of an import on the command line.
_ACTOR: Final[str] = "cli:import"
_MS_PER_S: Final[float] = 1000.0
#: Batches per store transaction.
_CHUNK_BATCHES: Final[int] = 2_000


class ImportRefused(SintoniaError):
    """An import that is not done (bad arguments, missing consent); the message is one line."""


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What :func:`import_recording` stored.

    Attributes
    ----------
    session_id : int
    participant : str
        The participant's pseudonymous code.
    participant_id : int
    beats : int
        Beat rows stored.
    invalid_values : int
        Corrupt values of the file kept in ``invalid_rr`` device events instead.
    start_s, end_s : float
        Start of the first RR and time of the last beat, s (Unix epoch).
    """

    session_id: int
    participant: str
    participant_id: int
    beats: int
    invalid_values: int
    start_s: float
    end_s: float


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``import`` sub-command."""
    p = sub.add_parser(
        "import",
        help="store a recording from another app as a finished session",
        description="Import an RR recording (plain RR text, Kubios, Polar Sensor Logger, HRV "
        "Logger, Elite HRV or a Sintonia beats file) as a finished session that review, report, "
        "exports and cohort treat like a live one. Raw beats are stored exactly as read.",
    )
    p.add_argument("file", help="the RR file")
    p.add_argument("--code", required=True, help="the participant's pseudonymous code")
    p.add_argument("--role", required=True, choices=("patient", "therapist"))
    p.add_argument(
        "--consent",
        required=True,
        help="consents the person gave, comma-separated (storage is required), e.g. "
        "storage,review,research_export",
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--session", type=int, default=None, help="add to this session (a dyad from two files)"
    )
    where.add_argument("--label", default=None, help="label of the new session")
    p.add_argument(
        "--start",
        default=None,
        help="ISO 8601 time of the start of the first RR (default: the file's own clock, "
        "else the session's start, else the file's modification time minus its duration)",
    )
    p.add_argument(
        "--participant",
        default=None,
        help="for a Sintonia beats file holding several people: whose beats to import",
    )
    p.add_argument(
        "--database-url",
        default=None,
        help="database URL (default: SINTONIA_DATABASE_URL or the local SQLite file)",
    )
    p.add_argument("--json", action="store_true", help="print exactly one JSON object")
    p.set_defaults(func=run)


def _purposes(text: str) -> list[str]:
    from server.storage.records import CONSENT_PURPOSES

    purposes = list(dict.fromkeys(x.strip() for x in text.split(",") if x.strip()))
    unknown = [x for x in purposes if x not in CONSENT_PURPOSES]
    if unknown or not purposes:
        raise ImportRefused(
            f"--consent expects purposes from {', '.join(CONSENT_PURPOSES)} separated by "
            f"commas, got {text!r}"
        )
    return purposes


def _parse_start(text: str) -> float:
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ImportRefused(
            f"--start expects an ISO 8601 time such as 2024-03-01T10:00:00, got {text!r}"
        ) from None
    return value.timestamp()  # naive: local time, as the recording apps write it


def _recording_start(batches: list[BeatBatch]) -> float:
    """Start of the first valid RR on the file's clock, s (nan if the file has no valid beat)."""
    from hrv.validate import corrupt_rr_mask

    starts = []
    for b in batches:
        ok = ~corrupt_rr_mask(b.rr_ms) & np.isfinite(b.beat_times_s)
        if ok.any():
            k = int(np.flatnonzero(ok)[0])
            starts.append(float(b.beat_times_s[k]) - float(b.rr_ms[k]) / _MS_PER_S)
    return min(starts) if starts else math.nan


def _offset(
    rec: RRRecording,
    path: Path,
    start: float | None,
    session_start: float | None,
    rec_start: float,
    rec_end: float,
) -> float:
    """What to add to the file's clock to put its beats on the wall clock, s."""
    if start is not None:  # the start of the first RR at --start
        return start - rec_start
    if rec.format == "sintonia-beats":  # already epoch times
        return 0.0
    if rec.start_time is not None:  # the file's clock starts at its own date
        return rec.start_time.timestamp()
    if session_start is not None:
        return session_start - rec_start
    return path.stat().st_mtime - rec_end


def import_recording(
    store: Store,
    path: str | Path,
    *,
    code: str,
    role: str,
    consents: list[str],
    session_id: int | None = None,
    label: str | None = None,
    start_s: float | None = None,
    participant: str | None = None,
    actor: str = _ACTOR,
) -> ImportResult:
    """Store one recording as (part of) a finished session; see the module docstring.

    Raises
    ------
    ImportRefused
        For arguments or a state that do not allow the import (nothing written).
    SintoniaError, OSError
        An unreadable file (nothing written) or a storage error (what was written is removed).
    """
    from dashboard.phases import DEFAULT_FIRST_SESSION
    from sensor.files import read_rr_file
    from sensor.replay import replay_batches
    from server.storage import DeviceAssignment, RecordNotFoundError

    file = Path(path)
    if "storage" not in consents:
        existing_storage = False
        try:
            known = store.get_participant_by_code(code)
            existing_storage = store.has_consent(known.id, "storage", session_id=session_id)
        except RecordNotFoundError:
            pass
        if not existing_storage:
            raise ImportRefused(
                "no storage consent: add storage to --consent (beats are stored only with it)"
            )
    rec = read_rr_file(file, participant=participant)
    session = None
    if session_id is not None:
        try:
            session = store.get_session(session_id)
        except RecordNotFoundError:
            raise ImportRefused(f"no session {session_id}") from None
        if session.status in ("live", "interrupted"):
            raise ImportRefused(
                f"session {session_id} is {session.status}; import into a finished or planned one"
            )
    try:
        person = store.get_participant_by_code(code)
    except RecordNotFoundError:
        person = None
    if person is not None and person.role != role:
        raise ImportRefused(f"participant {code!r} exists with role {person.role}, not {role}")
    if (
        person is not None
        and session is not None
        and store.count_beats(session.id, participant_id=person.id)
    ):
        raise ImportRefused(f"participant {code!r} already has beats in session {session.id}")

    device = rec.device if rec.format == "sintonia-beats" and rec.device else f"file:{file.name}"
    raw = list(replay_batches(rec, code, device))
    rec_start = _recording_start(raw)
    if not math.isfinite(rec_start):
        raise ImportRefused(f"{file.name}: no valid RR interval to import")
    rec_end = max(
        float(np.nanmax(b.beat_times_s)) for b in raw if np.isfinite(b.beat_times_s).any()
    )
    session_start = None if session is None else session.started_at_s
    offset = _offset(rec, file, start_s, session_start, rec_start, rec_end)
    batches = [
        replace(b, beat_times_s=b.beat_times_s + offset, host_time_s=b.host_time_s + offset)
        for b in raw
    ]
    t0, t_end = rec_start + offset, rec_end + offset
    if not (math.isfinite(t0) and math.isfinite(t_end)):
        raise ImportRefused(f"{file.name}: the beat times are not finite")

    created_person: int | None = None
    created_session: int | None = None
    assigned = False
    try:
        if person is None:
            person = store.create_participant(code, role, actor=actor)  # type: ignore[arg-type]
            created_person = person.id
        assignment = DeviceAssignment(person.id, "file", file.name)
        if session is None:
            session = store.create_session(
                DEFAULT_FIRST_SESSION.to_dict(),
                label=label if label is not None else f"import {file.name}"[:200],
                participants=[assignment],
                actor=actor,
            )
            created_session = session.id
        else:
            store.assign_device(session.id, assignment)
            assigned = True
        sid = session.id
        for purpose in consents:
            store.grant_consent(
                person.id,
                purpose,  # type: ignore[arg-type]
                IMPORT_SOURCE,
                session_id=sid,
                recorded_by=IMPORT_SOURCE,
            )
        inserted = invalid = 0
        for lo in range(0, len(batches), _CHUNK_BATCHES):
            r = store.append_beat_batches(
                [(sid, person.id, b) for b in batches[lo : lo + _CHUNK_BATCHES]]
            )
            if r.refused or r.duplicates:
                raise ImportRefused(
                    f"{r.refused} beats refused and {r.duplicates} duplicated: nothing imported"
                )
            inserted += r.inserted
            invalid += r.invalid
        if session.status == "planned":
            template = _template(session.phase_template)
            for index, (phase, at) in enumerate(
                zip(template.phases, template.planned_starts_s(), strict=True)
            ):
                if index == 0 or t0 + at < t_end:
                    store.record_phase_event(
                        sid, index, phase.id, "enter", actor=actor, at_s=t0 + at
                    )
            store.start_session(sid, actor=actor, at_s=t0)
            store.stop_session(sid, actor=actor, at_s=t_end)
        else:
            _widen(store, sid, t0, t_end)
        store.audit(
            actor,
            "session.import",
            "session",
            sid,
            {
                "participant_id": person.id,
                "file": file.name,
                "format": rec.format,
                "beats": inserted,
                "invalid_values": invalid,
            },
        )
    except BaseException:
        _undo(store, created_session, created_person, session, person, assigned)
        raise
    return ImportResult(sid, code, person.id, inserted, invalid, t0, t_end)


def _template(value: object) -> PhaseTemplate:
    """The session's phase template (a planned session made elsewhere may have its own)."""
    from dashboard.phases import DEFAULT_FIRST_SESSION, PhaseError, PhaseTemplate

    if isinstance(value, dict):
        try:
            return PhaseTemplate.from_dict(value)
        except PhaseError:
            pass
    return DEFAULT_FIRST_SESSION


def _widen(store: Store, session_id: int, t0: float, t_end: float) -> None:
    """Let a stopped session's time frame cover ``[t0, t_end]`` (a second file of a dyad)."""
    import sqlalchemy as sa

    from server.storage import schema as t

    s = t.sessions
    with store.engine.begin() as conn:
        row = conn.execute(
            sa.select(s.c.started_at_s, s.c.stopped_at_s).where(s.c.id == session_id)
        ).one()
        start = t0 if row.started_at_s is None else min(float(row.started_at_s), t0)
        stop = t_end if row.stopped_at_s is None else max(float(row.stopped_at_s), t_end)
        conn.execute(
            sa.update(s).where(s.c.id == session_id).values(started_at_s=start, stopped_at_s=stop)
        )


def _undo(
    store: Store,
    created_session: int | None,
    created_person: int | None,
    session: object,
    person: object,
    assigned: bool,
) -> None:
    """Remove what a failed import wrote (rows cascade from the session and the participant)."""
    import sqlalchemy as sa

    from server.storage import schema as t

    sid = getattr(session, "id", None)
    pid = getattr(person, "id", None)
    with store.engine.begin() as conn:
        if created_session is None and sid is not None and pid is not None:
            for table in (t.beats, t.device_events, t.consents):
                cond = [table.c.session_id == sid, table.c.participant_id == pid]
                if table is t.consents:
                    cond.append(table.c.recorded_by == IMPORT_SOURCE)
                conn.execute(sa.delete(table).where(*cond))
            if assigned:
                sp = t.session_participants
                conn.execute(
                    sa.delete(sp).where(sp.c.session_id == sid, sp.c.participant_id == pid)
                )
        if created_session is not None:
            conn.execute(sa.delete(t.sessions).where(t.sessions.c.id == created_session))
        if created_person is not None:
            conn.execute(sa.delete(t.participants).where(t.participants.c.id == created_person))


def run(args: argparse.Namespace) -> int:
    """Run ``sintonia import``; exit code 0, or 2 with a one-line message."""
    import sqlalchemy as sa

    from server.storage import Store

    try:
        consents = _purposes(args.consent)
        start = _parse_start(args.start) if args.start is not None else None
    except ImportRefused as exc:
        print(f"sintonia import: error: {exc}", file=sys.stderr)
        return 2
    try:
        store = Store.open(args.database_url)
    except (OSError, SintoniaError, sa.exc.SQLAlchemyError) as exc:
        print(
            f"sintonia import: error: cannot open the database: {_first_line(exc)}", file=sys.stderr
        )
        return 2
    try:
        result = import_recording(
            store,
            args.file,
            code=args.code,
            role=args.role,
            consents=consents,
            session_id=args.session,
            label=args.label,
            start_s=start,
            participant=args.participant,
        )
    except (OSError, SintoniaError, sa.exc.SQLAlchemyError) as exc:
        print(f"sintonia import: error: {_first_line(exc)}", file=sys.stderr)
        return 2
    finally:
        store.close()
    if args.json:
        print(
            json.dumps(
                {
                    "session_id": result.session_id,
                    "participant": result.participant,
                    "beats": result.beats,
                    "invalid_values": result.invalid_values,
                }
            )
        )
    else:
        note = (
            f", {result.invalid_values} invalid values set aside" if result.invalid_values else ""
        )
        print(
            f"session {result.session_id}: imported {result.beats} beats of "
            f"{result.participant}{note}"
        )
    return 0


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
