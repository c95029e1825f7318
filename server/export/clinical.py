"""Per-session exports for the clinic: beats and events as CSV (pseudonymous, absolute times).

These files are for the clinician's own review and records: participants appear under their
pseudonymous codes, times are on the store's clock (Unix epoch) next to the time since the session
start, marker notes and device identifiers are kept. A participant without an active ``review``
consent (by default) is left out with everything about that person, and every export is written
to the audit log. The de-identified export for research is :mod:`server.export.research`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from server.export.errors import NothingToExportError
from server.export.tables import (
    beat_table,
    event_table,
    phase_table,
    write_delimited,
)
from server.readmodel import load_session_record
from server.storage import ConsentPurpose, Store

__all__ = ["SessionExport", "write_session_csv"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SessionExport:
    """What a per-session export wrote.

    Attributes
    ----------
    session_id : int
    paths : tuple of Path
        The files written.
    participants : tuple of str
        Codes of the participants included.
    excluded : int
        Participants left out for lack of consent.
    n_beats : int
        Beats written (all participants).
    n_events : int
        Events (or annotations) written.
    """

    session_id: int
    paths: tuple[Path, ...]
    participants: tuple[str, ...]
    excluded: int
    n_beats: int
    n_events: int


def write_session_csv(
    store: Store,
    session_id: int,
    beats_path: Path,
    events_path: Path,
    *,
    actor: str = "system",
    purpose: ConsentPurpose = "review",
    arousal: bool = True,
    phases_path: Path | None = None,
) -> SessionExport:
    """Write one session's beats (raw, corrected, derived) and events as CSV files, and with
    ``phases_path`` its per-phase summary (the report's numbers,
    :data:`server.export.tables.PHASE_COLUMNS`).

    Parameters
    ----------
    store : Store
    session_id : int
    beats_path, events_path : Path
        Output files (overwritten). Columns: :data:`server.export.tables.BEAT_COLUMNS` and
        :data:`server.export.tables.EVENT_COLUMNS`; a header row; empty cells for missing
        values; floats in shortest round-trip form.
    actor : str
        Who exports (audit log).
    purpose : {"review", "research_export", ...}
        The consent each participant needs to be included (default ``"review"``).
    arousal : bool
        Include the replayed arousal index and state.

    Returns
    -------
    SessionExport

    Raises
    ------
    server.storage.RecordNotFoundError
        Unknown session.
    NothingToExportError
        When no participant of the session has the consent.

    Notes
    -----
    The derived columns come from the one derivation, :func:`hrv.derive.derive` (Lipponen &
    Tarvainen 2019 correction per gap-free segment; the live engine's trailing 10 s and 60 s
    windows, Task Force 1996).

    Examples
    --------
    >>> store = Store.open("sqlite://")
    >>> s = store.create_session({})
    >>> try:
    ...     write_session_csv(store, s.id, Path("b.csv"), Path("e.csv"))
    ... except NothingToExportError as exc:
    ...     print(exc)
    session 1: no participant has an active review consent (0 left out)
    """
    data = load_session_record(store, session_id, purpose=purpose)
    if not data.participants:
        raise NothingToExportError(
            f"session {session_id}: no participant has an active {purpose} consent "
            f"({len(data.excluded)} left out)",
            excluded=len(data.excluded),
        )
    beats = beat_table(data, arousal=arousal)
    events = event_table(data)
    n_beats = write_delimited(beats, beats_path)
    n_events = write_delimited(events, events_path)
    paths = [beats_path, events_path]
    if phases_path is not None:
        write_delimited(phase_table(data), phases_path)
        paths.append(phases_path)
    codes = tuple(p.participant.code for p in data.participants)
    store.audit(
        actor,
        "export.csv",
        "session",
        session_id,
        {
            "participants": [p.participant.id for p in data.participants],
            "excluded": len(data.excluded),
            "purpose": purpose,
            "files": [p.name for p in paths],
            "beats": n_beats,
        },
    )
    _log.info("session %d exported as CSV: %d beats, %d events", session_id, n_beats, n_events)
    return SessionExport(session_id, tuple(paths), codes, len(data.excluded), n_beats, n_events)
