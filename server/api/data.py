"""Stored data of a session: raw beats (paged by cursor) and the timeline (paged by time).

The timeline's derived series are recomputed from the stored beats with the one derivation
(:func:`hrv.derive.derive`: correction per gap-free segment) and
:func:`hrv.windows.trailing_window_trace`, so the review shows the same numbers whatever the live
engine did, and raw data is never touched.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass
from typing import Annotated, Final

import numpy as np
from fastapi import APIRouter, Depends, Query, Request
from numpy.typing import NDArray

from hrv.derive import StoredBeats, derive
from hrv.windows import trailing_window_trace
from server.api._common import StorageErrorRoute, context, errors
from server.auth import Principal, require_auth
from server.consent_guard import ConsentScope, ReviewScope
from server.context import AppContext
from server.models import (
    BeatsPageOut,
    CueOut,
    DerivedSeriesOut,
    MarkerOut,
    PhaseEventOut,
    TimelineOut,
    TimelineParticipantOut,
)
from server.storage import (
    BeatCursor,
    BeatPage,
    InvalidRecordError,
    Participant,
    RecordNotFoundError,
    Session,
)
from server.storage.records import CONTACT_UNKNOWN, RR_RAW_MISSING

__all__ = [
    "DerivedSeries",
    "derived_series",
    "get_beats",
    "get_timeline",
    "router",
]

router = APIRouter(route_class=StorageErrorRoute, tags=["data"])
Auth = Annotated[Principal, Depends(require_auth)]

DEFAULT_BEATS_LIMIT: Final[int] = 10_000
MAX_BEATS_LIMIT: Final[int] = 50_000
#: Default and largest time page of the timeline, s.
DEFAULT_SPAN_S: Final[float] = 600.0
MAX_SPAN_S: Final[float] = 3600.0
#: Default trailing window of the derived series, s (the live engine's RMSSD window).
DEFAULT_WINDOW_S: Final[float] = 60.0
MAX_WINDOW_S: Final[float] = 600.0
_MS_PER_S: Final[float] = 1000.0
_INT64_END: Final[int] = 2**63


# ---------------------------------------------------------------------------- cursors


def _encode_cursor(cursor: BeatCursor) -> str:
    raw = json.dumps([cursor.beat_time_s, cursor.participant_id, cursor.device, cursor.seq])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(text: str) -> BeatCursor:
    try:
        t_s, pid, device, seq = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        cursor = BeatCursor(float(t_s), int(pid), str(device), int(seq))
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidRecordError(
            f"cursor must be the next_cursor of a previous page, got {text!r}"
        ) from exc
    if not math.isfinite(cursor.beat_time_s) or not (
        0 <= cursor.participant_id < _INT64_END and 0 <= cursor.seq < _INT64_END
    ):
        raise InvalidRecordError(f"cursor holds values out of range: {text!r}")
    return cursor


def _member(
    ctx: AppContext, session_id: int, code: str, scope: ConsentScope | None = None
) -> Participant:
    """The participant with this code, if they take part in the session (and, given a consent
    scope, their data may be read); else 404, the same answer for a code of nobody, of someone
    outside the session or of someone without consent."""
    members = {a.participant_id for a in ctx.store.session_participants(session_id)}
    try:
        participant = ctx.store.get_participant_by_code(code)
    except RecordNotFoundError:
        participant = None
    if (
        participant is None
        or participant.id not in members
        or not (scope is None or scope.allows(participant.id))
    ):
        raise RecordNotFoundError(f"participant of session {session_id}", code)
    return participant


def _codes(ctx: AppContext, session_id: int, ids: NDArray[np.int64]) -> list[str]:
    known = {
        p.id: p.code
        for p in ctx.store.list_participants(session_id=session_id, include_deidentified=True)
    }
    for pid in set(np.unique(ids).tolist()) - known.keys():
        known[pid] = ctx.store.get_participant(pid).code  # de-identified since the session
    return [known[i] for i in ids.tolist()]


@router.get(
    "/api/sessions/{session_id}/beats",
    summary="Stored raw beats, JSON, paged with a cursor",
    response_model=BeatsPageOut,
    responses=errors(404),
)
def get_beats(
    session_id: int,
    request: Request,
    principal: Auth,
    scope: ReviewScope,
    participant: Annotated[
        str | None, Query(max_length=64, description="Only this participant (code).")
    ] = None,
    cursor: Annotated[
        str | None, Query(max_length=400, description="next_cursor of the previous page.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_BEATS_LIMIT)] = DEFAULT_BEATS_LIMIT,
) -> BeatsPageOut:
    """Every beat as stored: RR in ms and as received (raw), host receipt time, reconstructed
    beat time, contact, device, sequence number; in order of beat time. Audited
    (``session.beats.export``)."""
    ctx = context(request)
    pid = None if participant is None else _member(ctx, session_id, participant, scope).id
    after = None if cursor is None else _decode_cursor(cursor)
    page = scope.filter_page(
        ctx.store.read_beats(session_id, participant_id=pid, after=after, limit=limit)
    )
    ctx.store.audit(
        principal.actor,
        "session.beats.export",
        "session",
        session_id,
        {"participant": participant, "n": len(page)},
    )
    contact = page.contact.tolist()
    return BeatsPageOut(
        session_id=session_id,
        n=len(page),
        participant_code=_codes(ctx, session_id, page.participant_id),
        device=page.device.tolist(),
        seq=page.seq.tolist(),
        rr_ms=page.rr_ms.tolist(),
        rr_raw=[None if w == RR_RAW_MISSING else w for w in page.rr_raw.tolist()],
        host_time_s=page.host_time_s.tolist(),
        beat_time_s=page.beat_time_s.tolist(),
        contact=[None if c == CONTACT_UNKNOWN else bool(c) for c in contact],
        gap_before=page.gap_before.tolist(),
        next_cursor=None if page.next_cursor is None else _encode_cursor(page.next_cursor),
    )


# ---------------------------------------------------------------------------- derived series


@dataclass(frozen=True, eq=False, slots=True)
class DerivedSeries:
    """Artifact detection on the stored beats and trailing-window metrics of the corrected ones.

    Attributes
    ----------
    artifact : numpy.ndarray of bool
        Per *stored* beat: classified as anything but normal.
    time_s, rr_ms : numpy.ndarray
        Per *corrected* beat: its time, s, and corrected RR, ms.
    hr_bpm, rmssd_ms, sdnn_ms, artifact_fraction : numpy.ndarray
        Trailing-window metrics at each corrected beat (NaN where ``valid`` is False).
    valid : numpy.ndarray of bool
    """

    artifact: NDArray[np.bool_]
    time_s: NDArray[np.float64]
    rr_ms: NDArray[np.float64]
    hr_bpm: NDArray[np.float64]
    rmssd_ms: NDArray[np.float64]
    sdnn_ms: NDArray[np.float64]
    artifact_fraction: NDArray[np.float64]
    valid: NDArray[np.bool_]


def derived_series(
    rr_ms: NDArray[np.float64],
    beat_time_s: NDArray[np.float64],
    gap_before: NDArray[np.bool_],
    *,
    window_s: float = DEFAULT_WINDOW_S,
) -> DerivedSeries:
    """Correct the artifacts of stored beats and compute trailing-window HR, RMSSD and SDNN.

    Parameters
    ----------
    rr_ms : numpy.ndarray
        Stored RR intervals of one participant in beat-time order, ms.
    beat_time_s : numpy.ndarray
        Their reconstructed beat times, s.
    gap_before : numpy.ndarray of bool
        True where the beat times were re-anchored (dropout, reconnect): the series is split
        there into contiguous segments.
    window_s : float
        Trailing window, s.

    Returns
    -------
    DerivedSeries

    Notes
    -----
    Each contiguous segment is corrected on its own (Lipponen & Tarvainen 2019: merge extra
    beats, split missed ones, interpolate ectopic, long and short ones), so no RR spanning a
    dropout is "corrected". The corrected beats of a segment are timed from its anchor
    ``t_0 = t_first - RR_first / 1000``: ``t_j = t_0 + sum_{i<=j} RR^c_i / 1000`` (merges and
    splits keep the duration; interpolation nearly does). A corrected beat counts as an artifact
    when it was inserted by a split or derives from a beat that was not normal. The metrics are
    those of :func:`hrv.windows.trailing_window_trace` (Task Force 1996) on the corrected series;
    a trailing window may reach across a dropout.

    References
    ----------
    .. [1] Lipponen JA, Tarvainen MP. A robust algorithm for heart rate variability time series
       artefact correction using novel beat classification. J Med Eng Technol.
       2019;43(3):173-181.
    .. [2] Task Force of the ESC and NASPE. Heart rate variability. Circulation
       1996;93(5):1043-1065.

    Examples
    --------
    >>> rr = np.full(10, 1000.0)
    >>> d = derived_series(rr, np.arange(1.0, 11.0), np.zeros(10, bool), window_s=5.0)
    >>> d.hr_bpm[-1], d.rmssd_ms[-1], int(d.artifact.sum())
    (np.float64(60.0), np.float64(0.0), 0)
    """
    d = derive(StoredBeats.from_arrays(beat_time_s, rr_ms, gap_before), trace=False)
    trace = trailing_window_trace(
        d.c_rr_ms, window_s=window_s, beat_times_s=d.c_time_s, artifact_mask=d.c_artifact
    )
    return DerivedSeries(
        artifact=d.is_artifact,
        time_s=trace.time_s,
        rr_ms=d.c_rr_ms,
        hr_bpm=trace.mean_hr_bpm,
        rmssd_ms=trace.rmssd_ms,
        sdnn_ms=trace.sdnn_ms,
        artifact_fraction=trace.artifact_fraction,
        valid=trace.valid,
    )


def _nullable(x: NDArray[np.float64]) -> list[float | None]:
    return [None if math.isnan(v) else v for v in x.tolist()]


def _participant_timeline(
    ctx: AppContext,
    session_id: int,
    participant: Participant,
    start_s: float,
    end_s: float,
    window_s: float,
) -> TimelineParticipantOut:
    page: BeatPage = ctx.store.read_beats(
        session_id,
        participant_id=participant.id,
        start_s=start_s - window_s,
        end_s=end_s,
        limit=100_000,
    )
    d = derived_series(page.rr_ms, page.beat_time_s, page.gap_before, window_s=window_s)
    raw_in = page.beat_time_s >= start_s
    der_in = (d.time_s >= start_s) & (d.time_s < end_s)
    return TimelineParticipantOut(
        participant_id=participant.id,
        code=participant.code,
        role=participant.role,
        beat_time_s=page.beat_time_s[raw_in].tolist(),
        rr_ms=page.rr_ms[raw_in].tolist(),
        artifact=d.artifact[raw_in].tolist(),
        derived=DerivedSeriesOut(
            time_s=d.time_s[der_in].tolist(),
            rr_ms=d.rr_ms[der_in].tolist(),
            hr_bpm=_nullable(d.hr_bpm[der_in]),
            rmssd_ms=_nullable(d.rmssd_ms[der_in]),
            sdnn_ms=_nullable(d.sdnn_ms[der_in]),
            artifact_fraction=d.artifact_fraction[der_in].tolist(),
            valid=d.valid[der_in].tolist(),
        ),
    )


def _default_start(ctx: AppContext, session: Session) -> float:
    first = ctx.store.read_beats(session.id, limit=1)
    candidates = [session.started_at_s or session.created_at_s]
    if len(first):
        candidates.append(float(first.beat_time_s[0]))
    return min(candidates)


@router.get(
    "/api/sessions/{session_id}/timeline",
    summary="Beats, derived series and events of a time page",
    response_model=TimelineOut,
    responses=errors(404),
)
def get_timeline(
    session_id: int,
    request: Request,
    principal: Auth,
    scope: ReviewScope,
    participant: Annotated[
        str | None, Query(max_length=64, description="Only this participant (code).")
    ] = None,
    start_s: Annotated[
        float | None,
        Query(
            ge=0.0,
            le=253_402_300_799.0,  # the end of the year 9999, Unix s
            description="Page start, s; default the session start or first beat.",
        ),
    ] = None,
    span_s: Annotated[float, Query(gt=0, le=MAX_SPAN_S)] = DEFAULT_SPAN_S,
    window_s: Annotated[
        float, Query(gt=0, le=MAX_WINDOW_S, description="Trailing window of the metrics, s.")
    ] = DEFAULT_WINDOW_S,
) -> TimelineOut:
    """The page ``[start_s, start_s + span_s)``: per participant the stored beats with their
    artifact flags, and HR, RMSSD and SDNN over a trailing window recomputed from the
    artifact-corrected beats (the window reaches back before the page, so a page boundary
    changes nothing); phase events, markers and cues in the page (on the last page, every later
    one too). ``next_start_s`` continues. Audited (``session.timeline.view``)."""
    ctx = context(request)
    session = scope.session
    if start_s is not None and not math.isfinite(start_s):
        raise InvalidRecordError(f"start_s must be a finite time in seconds, got {start_s}")
    people = (
        [_member(ctx, session_id, participant, scope)]
        if participant is not None
        else [p for p in ctx.store.list_participants(session_id=session_id) if scope.allows(p.id)]
    )
    start = _default_start(ctx, session) if start_s is None else start_s
    end = start + span_s
    pid = people[0].id if participant is not None else None
    more = len(ctx.store.read_beats(session_id, participant_id=pid, start_s=end, limit=1)) > 0
    upper = end if more else math.inf

    def inside(t_s: float) -> bool:
        return start <= t_s < upper

    out = TimelineOut(
        session_id=session_id,
        start_s=start,
        end_s=end,
        window_s=window_s,
        participants=[
            _participant_timeline(ctx, session_id, p, start, end, window_s) for p in people
        ],
        phase_events=[
            PhaseEventOut.model_validate(e)
            for e in ctx.store.list_phase_events(session_id)
            if inside(e.time_s)
        ],
        markers=[
            MarkerOut.model_validate(m)
            for m in ctx.store.list_markers(session_id)
            if inside(m.time_s) and scope.allows(m.participant_id)
        ],
        cues=[
            CueOut.model_validate(c)
            for c in ctx.store.list_cues(session_id)
            if inside(c.shown_at_s) and scope.allows(c.participant_id)
        ],
        next_start_s=end if more else None,
    )
    ctx.store.audit(
        principal.actor,
        "session.timeline.view",
        "session",
        session_id,
        {"participant": participant, "start_s": start, "span_s": span_s},
    )
    return out
