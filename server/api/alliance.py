"""Alliance scores: SRS and WAI-SR item scores per session and participant, and their trend.

Routes
------
* ``POST /api/sessions/{id}/alliance``: record (or replace) one participant's item scores on one
  instrument for the session. SRS (Session Rating Scale): exactly items 1-4, each 0-10 (a
  visual-analogue mark, decimals allowed, as the store's schema allows). WAI-SR (Working Alliance
  Inventory, short revised): exactly items 1-12, each an integer 1-5.
* ``GET /api/sessions/{id}/alliance``: per participant and instrument the items, the total and
  (WAI-SR) the goal, task and bond subscales, computed by
  :func:`server.export.cohort.alliance_totals` (the same numbers as the cohort table).
* ``GET /api/participants/{id}/alliance``: the participant's trend, one row per session with
  scores: the session's date, the totals, and the session's mean HR and RMSSD of the participant
  (means of the 60 s trailing-window values of the artifact-corrected stored beats, as the
  timeline computes them; only with the participant's ``review`` consent for the session).
* ``GET /api/alliance/wording``: ``{}``, or the clinic's own item wording from
  ``SINTONIA_DATA_DIR/alliance_wording.json`` (``{"SRS": {"1": "...", ...}, "WAI-SR": {...}}``).

The item wording of both instruments is licensed: it is never stored in the database nor
shipped with Sintonia; the form shows item numbers unless a clinic provides its own wording file.
Every view and recording of scores is written to the audit log.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Annotated, Final, Literal

from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import BaseModel, ConfigDict, Field, RootModel, ValidationError, model_validator

from hrv.derive import dyad_synchrony, interval_stats
from hrv.errors import SintoniaError
from server.api._common import (
    StorageErrorRoute,
    context,
    errors,
    visible_participant,
    visible_session,
)
from server.auth import Principal, can_view_session, require_auth
from server.context import AppContext
from server.export.cohort import WAI_SR_SUBSCALES, alliance_totals
from server.readmodel import PersonRecord, SessionRecord, load_session_record
from server.storage import AllianceScore, RecordNotFoundError
from server.storage.store import ALLIANCE_ITEM_RANGES

__all__ = [
    "WORDING_FILE",
    "AllianceIn",
    "AllianceScoresOut",
    "AllianceTrendOut",
    "AllianceTrendRowOut",
    "AllianceWordingOut",
    "SessionAllianceOut",
    "SessionSynchronyOut",
    "get_alliance_wording",
    "get_participant_alliance",
    "get_session_alliance",
    "load_wording",
    "post_session_alliance",
    "router",
]

_log = logging.getLogger(__name__)

router = APIRouter(route_class=StorageErrorRoute, tags=["alliance"])
Auth = Annotated[Principal, Depends(require_auth)]

#: Name of the clinic's optional item-wording file in the data directory.
WORDING_FILE: Final[str] = "alliance_wording.json"
#: Longest wording of one item accepted from the file, characters.
_MAX_WORDING_CHARS: Final[int] = 500

InstrumentName = Literal["SRS", "WAI-SR"]


# ---------------------------------------------------------------------------- models


class AllianceIn(BaseModel):
    """One participant's item scores on one instrument (item numbers only, never wording)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    participant_id: int = Field(ge=1, description="Who answered; must take part in the session.")
    instrument: InstrumentName = Field(description="SRS (items 1-4, 0-10) or WAI-SR (1-12, 1-5).")
    version: str = Field(min_length=1, max_length=32, description="Version of the clinic's form.")
    scores: dict[int, float] = Field(
        description="Item number (1-based) to score: every item of the instrument, exactly once.",
        examples=[{"1": 8.5, "2": 9, "3": 7.2, "4": 8}],
    )

    @model_validator(mode="after")
    def _check_items(self) -> AllianceIn:
        n_items, lo, hi = ALLIANCE_ITEM_RANGES[self.instrument]
        expected = set(range(1, n_items + 1))
        given = set(self.scores)
        if given != expected:
            missing = sorted(expected - given)
            extra = sorted(given - expected)
            raise ValueError(
                f"{self.instrument} needs exactly items 1-{n_items}; "
                f"missing {missing}, unexpected {extra}"
            )
        integer = self.instrument == "WAI-SR"
        for item, score in sorted(self.scores.items()):
            if not (math.isfinite(score) and lo <= score <= hi) or (
                integer and score != round(score)
            ):
                kind = "an integer" if integer else "a number"
                raise ValueError(
                    f"{self.instrument} item {item} must be {kind} in [{lo:g}, {hi:g}], "
                    f"got {score!r}"
                )
        return self


class AllianceScoresOut(BaseModel):
    """One participant's scores on one instrument for one session, with total and subscales."""

    session_id: int
    participant_id: int
    participant_code: str
    instrument: InstrumentName
    version: str
    recorded_at_s: float = Field(description="When the scores were recorded, s (Unix epoch).")
    items: dict[int, float] = Field(description="Item number to score.")
    total: float | None = Field(
        description="Sum of all items (SRS 0-40, WAI-SR 12-60); null unless every item is there."
    )
    subscales: dict[str, float | None] = Field(
        description="WAI-SR goal, task and bond (sums of 4 items each, 4-20); empty for SRS."
    )


class SessionAllianceOut(BaseModel):
    """Every alliance score of a session."""

    session_id: int
    scores: list[AllianceScoresOut]


class AllianceTrendRowOut(BaseModel):
    """One session of a participant's trend."""

    session_id: int
    label: str | None
    date_s: float = Field(description="Start of the session (or its creation), s (Unix epoch).")
    srs_total: float | None
    wai_sr_total: float | None
    wai_sr_goal: float | None
    wai_sr_task: float | None
    wai_sr_bond: float | None
    mean_hr_bpm: float | None = Field(
        description="Mean HR of the session's corrected beats, beats/min (as the report's "
        "numbers); null without beats or without the participant's review consent."
    )
    mean_rmssd_ms: float | None = Field(
        description="RMSSD of the session's corrected beats (never across a gap), ms."
    )
    synchrony: SessionSynchronyOut | None = Field(
        default=None,
        description="Therapist-patient HR segment synchrony of the session, with its surrogate "
        "comparison; null without the synchrony consent of both people or too little data.",
    )


class SessionSynchronyOut(BaseModel):
    """Whole-session segment synchrony (SUSY style, Tschacher & Meier 2020) of the dyad's HR.

    Never a number alone: the observed mean Fisher z of the real segment pairs is given with the
    mean and SD of all pseudo pairings (segment i with segment j != i), the effect size and the
    p-value from circular segment shifts (:func:`hrv.synchrony.segment_synchrony`).
    """

    observed_z: float
    surrogate_mean_z: float
    surrogate_sd_z: float
    effect_size: float
    p_value: float
    n_segments: int
    n_surrogates: int = Field(description="Size of the surrogate distribution.")
    p_at_floor: bool = Field(
        description="p is the smallest the surrogates allow, 1 / (n_surrogates + 1): no "
        "surrogate reached the observed value, nothing more."
    )


AllianceTrendRowOut.model_rebuild()


class AllianceTrendOut(BaseModel):
    """A participant's alliance scores across sessions, oldest first."""

    participant_id: int
    participant_code: str
    sessions: list[AllianceTrendRowOut]


class AllianceWordingOut(RootModel[dict[InstrumentName, dict[int, str]]]):
    """A clinic's own item wording per instrument and item number (empty when none is loaded)."""


# ---------------------------------------------------------------------------- helpers


def _none_if_nan(value: float) -> float | None:
    return None if math.isnan(value) else value


def _group(scores: list[AllianceScore]) -> dict[tuple[int, int, str], list[AllianceScore]]:
    out: dict[tuple[int, int, str], list[AllianceScore]] = {}
    for s in scores:
        out.setdefault((s.session_id, s.participant_id, s.instrument), []).append(s)
    return out


def _scores_out(rows: list[AllianceScore], code: str) -> AllianceScoresOut:
    first = rows[0]
    items = {r.item: r.score for r in rows}
    totals = alliance_totals(items, first.instrument)
    if first.instrument == "SRS":
        total, subscales = totals["srs_total"], {}
    else:
        total = totals["wai_sr_total"]
        subscales = {name: _none_if_nan(totals[f"wai_sr_{name}"]) for name in WAI_SR_SUBSCALES}
    return AllianceScoresOut(
        session_id=first.session_id,
        participant_id=first.participant_id,
        participant_code=code,
        instrument=first.instrument,
        version=first.version,
        recorded_at_s=max(r.recorded_at_s for r in rows),
        items=items,
        total=_none_if_nan(total),
        subscales=subscales,
    )


def _person(record: SessionRecord, participant_id: int) -> PersonRecord | None:
    return next((p for p in record.participants if p.participant.id == participant_id), None)


def _session_physiology(
    record: SessionRecord, participant_id: int
) -> tuple[float | None, float | None]:
    """Mean HR (bpm) and RMSSD (ms) of the participant's corrected beats over the whole session
    (:func:`hrv.derive.interval_stats`: the numbers the report's whole-session row shows)."""
    person = _person(record, participant_id)
    if person is None or len(person.beats) == 0:
        return None, None
    st = interval_stats(person.derivation(trace=False), [-math.inf], [math.inf], lf_hf=False)
    row = st.row(0)
    return row["mean_hr_bpm"], row["rmssd_ms"]


def _session_synchrony(record: SessionRecord, participant_id: int) -> SessionSynchronyOut | None:
    """The session's synchrony of its patient-therapist pair: the whole-session SUSY number of
    :func:`hrv.derive.dyad_synchrony`, as the report shows it. ``record`` is read for the
    ``synchrony`` purpose, so both people need that consent."""
    people = sorted(record.participants, key=lambda p: p.participant.id)
    patient = next((p for p in people if p.participant.role == "patient"), None)
    therapist = next((p for p in people if p.participant.role == "therapist"), None)
    if patient is None or therapist is None:
        return None
    if participant_id not in (patient.participant.id, therapist.participant.id):
        return None
    try:
        ds = dyad_synchrony(
            patient.derivation(trace=False), therapist.derivation(trace=False), wlcc=False
        )
    except SintoniaError:  # too short
        return None
    if ds.whole is None:
        return None
    z = ds.whole.z
    return SessionSynchronyOut(
        observed_z=float(z.observed),
        surrogate_mean_z=float(z.surrogate_mean),
        surrogate_sd_z=float(z.surrogate_sd),
        effect_size=float(z.effect_size),
        p_value=float(z.p_value),
        n_segments=int(ds.whole.valid.sum()),
        p_at_floor=bool(z.p_value <= 1.0 / (z.n_surrogates + 1) + 1e-12),
        n_surrogates=int(z.n_surrogates),
    )


def load_wording(ctx: AppContext) -> dict[str, dict[int, str]]:
    """The clinic's item wording from ``data_dir/alliance_wording.json``, or ``{}``.

    Parameters
    ----------
    ctx : AppContext

    Returns
    -------
    dict
        Instrument (``"SRS"``, ``"WAI-SR"``) to item number to wording; only instruments and
        item numbers that exist are accepted.

    Raises
    ------
    HTTPException
        500 when the file exists but cannot be read or does not have that shape (the detail says
        what was expected; the clinic must fix its file).
    """
    path = ctx.settings.data_dir / WORDING_FILE
    if not path.is_file():
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        parsed = AllianceWordingOut.model_validate(raw).root
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, ValidationError) as exc:
        _log.error("cannot use %s: %s", path, exc)
        raise HTTPException(
            status.HTTP_500_INTERNAL_SERVER_ERROR,
            detail=f"{WORDING_FILE} in the data directory must be JSON of the shape "
            '{"SRS": {"1": "wording", ...}, "WAI-SR": {...}}; it could not be used: '
            f"{type(exc).__name__}",
        ) from exc
    for instrument, items in parsed.items():
        n_items = ALLIANCE_ITEM_RANGES[instrument][0]
        bad = [
            i
            for i, text in items.items()
            if not 1 <= i <= n_items or len(text) > _MAX_WORDING_CHARS
        ]
        if bad:
            raise HTTPException(
                status.HTTP_500_INTERNAL_SERVER_ERROR,
                detail=f"{WORDING_FILE}: {instrument} items are 1-{n_items} with at most "
                f"{_MAX_WORDING_CHARS} characters each; items {sorted(bad)} are not",
            )
    return {str(k): dict(v) for k, v in parsed.items()}


# ---------------------------------------------------------------------------- routes


@router.post(
    "/api/sessions/{session_id}/alliance",
    summary="Record one participant's SRS or WAI-SR item scores for a session",
    response_model=AllianceScoresOut,
    status_code=status.HTTP_201_CREATED,
    responses=errors(404),
)
def post_session_alliance(
    session_id: int, body: AllianceIn, request: Request, principal: Auth
) -> AllianceScoresOut:
    """Record (or replace) the item scores; returns them with the total and subscales.
    Audited (``session.alliance.record``)."""
    ctx = context(request)
    visible_session(ctx, principal, session_id)
    participant = visible_participant(ctx, principal, body.participant_id)
    members = {a.participant_id for a in ctx.store.session_participants(session_id)}
    if participant.id not in members:
        raise RecordNotFoundError(f"participant of session {session_id}", participant.id)
    rows = ctx.store.record_alliance_scores(
        session_id, participant.id, body.instrument, body.version, body.scores
    )
    ctx.store.audit(
        principal.actor,
        "session.alliance.record",
        "session",
        session_id,
        {"participant": participant.code, "instrument": body.instrument, "version": body.version},
    )
    return _scores_out(rows, participant.code)


@router.get(
    "/api/sessions/{session_id}/alliance",
    summary="A session's alliance scores with totals and subscales",
    response_model=SessionAllianceOut,
    responses=errors(404),
)
def get_session_alliance(session_id: int, request: Request, principal: Auth) -> SessionAllianceOut:
    """Per participant and instrument: items, total and (WAI-SR) goal/task/bond subscales.
    Audited (``session.alliance.view``)."""
    ctx = context(request)
    visible_session(ctx, principal, session_id)
    groups = _group(ctx.store.list_alliance_scores(session_id=session_id))
    codes = {pid: ctx.store.get_participant(pid).code for _, pid, _ in groups}
    ctx.store.audit(principal.actor, "session.alliance.view", "session", session_id, {})
    return SessionAllianceOut(
        session_id=session_id,
        scores=[_scores_out(rows, codes[pid]) for (_, pid, _), rows in groups.items()],
    )


@router.get(
    "/api/participants/{participant_id}/alliance",
    summary="A participant's alliance scores across sessions, with mean HR and RMSSD",
    response_model=AllianceTrendOut,
    responses=errors(404),
)
def get_participant_alliance(
    participant_id: int, request: Request, principal: Auth
) -> AllianceTrendOut:
    """One row per session with scores (oldest first): totals, subscales, the session's mean HR
    and RMSSD of the participant and the dyad's synchrony with its surrogate comparison.
    Audited (``participant.alliance.view``)."""
    ctx = context(request)
    participant = visible_participant(ctx, principal, participant_id)
    by_session: dict[int, dict[str, float]] = {}
    for (sid, _, instrument), rows in _group(
        ctx.store.list_alliance_scores(participant_id=participant_id)
    ).items():
        totals = alliance_totals({r.item: r.score for r in rows}, instrument)
        by_session.setdefault(sid, {}).update(totals)
    out: list[AllianceTrendRowOut] = []
    for sid, totals in by_session.items():
        session = ctx.store.get_session(sid)
        if not can_view_session(principal, session):
            continue
        record = load_session_record(ctx.store, sid, purpose="review")
        hr, rmssd = _session_physiology(record, participant_id)

        def get(name: str, totals: dict[str, float] = totals) -> float | None:
            return _none_if_nan(totals.get(name, math.nan))

        out.append(
            AllianceTrendRowOut(
                session_id=sid,
                label=session.label,
                date_s=session.started_at_s
                if session.started_at_s is not None
                else session.created_at_s,
                srs_total=get("srs_total"),
                wai_sr_total=get("wai_sr_total"),
                wai_sr_goal=get("wai_sr_goal"),
                wai_sr_task=get("wai_sr_task"),
                wai_sr_bond=get("wai_sr_bond"),
                mean_hr_bpm=hr,
                mean_rmssd_ms=rmssd,
                synchrony=_session_synchrony(
                    load_session_record(ctx.store, sid, purpose="synchrony"), participant_id
                ),
            )
        )
    out.sort(key=lambda r: (r.date_s, r.session_id))
    ctx.store.audit(
        principal.actor,
        "participant.alliance.view",
        "participant",
        participant_id,
        {"sessions": [r.session_id for r in out]},
    )
    return AllianceTrendOut(
        participant_id=participant.id, participant_code=participant.code, sessions=out
    )


@router.get(
    "/api/alliance/wording",
    summary="The clinic's own item wording of the alliance instruments ({} when none)",
    response_model=AllianceWordingOut,
    responses=errors(),
)
def get_alliance_wording(request: Request, principal: Auth) -> AllianceWordingOut:
    """``{}`` unless ``alliance_wording.json`` is in the data directory (Sintonia ships no
    wording: the instruments are licensed)."""
    del principal  # authenticated; the wording is no personal data
    return AllianceWordingOut.model_validate(load_wording(context(request)))
