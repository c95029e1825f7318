"""The therapist's live page: ``GET /sessions/{id}/live``, and ``GET /`` that leads to it.

The page is static HTML/JS/CSS shipped in ``dashboard/static/`` (``live.html``, its scripts and
``live.css``; served at ``/static/...`` with plotly.js at ``/static/vendor/plotly.min.js``, no
CDN; :mod:`server.web.static`). This router only fills in the page's configuration
(:func:`server.web.render.render_page`): the session id, and the empty
:func:`dashboard.figures.session_figure` (layout, axes, usual-range band, Okabe-Ito colours) so
that the live trace looks like the post-session report; the browser then adds the data it
receives over the WebSocket ``/ws/sessions/{id}``.

The HTML holds no participant data, so the page itself needs no token; the script reads the
``?token=`` of its address and sends it with every API call (``Authorization: Bearer``) and
with the WebSocket. ``GET /`` redirects to the live page of the newest live session the caller
may see, or to the setup page ``/sessions/new`` when none is live (or without valid
credentials), keeping ``?token=``.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any, Final
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from dashboard.figures import OKABE_ITO, ROLE_COLOURS, session_figure
from dashboard.vocab import MARKER_LABELS, page_vocabulary
from hrv.arousal import STATE_LABELS, ArousalConfig
from server.auth import authenticate, can_view_session
from server.web.render import render_page

__all__ = ["LIVE_WINDOW_MIN", "PACER_BPM", "index", "live_page", "live_page_config", "router"]

router = APIRouter(include_in_schema=False, tags=["pages"])

#: Visible span of the live trace by default, min (zoomable to the whole session).
LIVE_WINDOW_MIN: Final[float] = 10.0
#: Height of the live figure, px (the page fits a 1366x768 screen).
_FIGURE_HEIGHT_PX: Final[int] = 560
#: Pacer bounds and default, breaths/min (slow-paced breathing around the resonance frequency).
PACER_BPM: Final[tuple[float, float, float]] = (4.5, 7.0, 6.0)


@lru_cache(maxsize=1)
def _figure_json() -> dict[str, Any]:
    cfg = ArousalConfig()
    fig = session_figure(
        [],
        usual_band=(cfg.enter_below, cfg.enter_above),
        window_min=LIVE_WINDOW_MIN,
        height_px=_FIGURE_HEIGHT_PX,
    )
    data: dict[str, Any] = json.loads(fig.to_json())
    return data


def live_page_config(session_id: int) -> dict[str, Any]:
    """What the live page's script needs besides the data: ids, figure layout, labels, colours.

    Parameters
    ----------
    session_id : int

    Returns
    -------
    dict
        ``session_id``; ``figure`` (plotly JSON of the empty :func:`session_figure`);
        ``usual_band`` (arousal-index limits, baseline-SD units); ``window_min``; ``colours``
        (role -> hex) and ``palette`` (Okabe-Ito); ``marker_labels``; ``state_labels``;
        ``pacer_bpm`` (min, max, default breaths/min); ``vocab`` (marker types with keys and
        labels, consent purposes, roles, cue responses: :func:`dashboard.vocab.page_vocabulary`).

    Examples
    --------
    >>> cfg = live_page_config(3)
    >>> cfg["session_id"], cfg["usual_band"], cfg["pacer_bpm"]
    (3, [-1.0, 1.0], [4.5, 7.0, 6.0])
    """
    cfg = ArousalConfig()
    return {
        "session_id": session_id,
        "figure": _figure_json(),
        "usual_band": [cfg.enter_below, cfg.enter_above],
        "window_min": LIVE_WINDOW_MIN,
        "colours": dict(ROLE_COLOURS),
        "palette": dict(OKABE_ITO),
        "marker_labels": dict(MARKER_LABELS),
        "state_labels": dict(STATE_LABELS),
        "pacer_bpm": list(PACER_BPM),
        "vocab": page_vocabulary(),
    }


@router.get("/sessions/{session_id}/live", response_class=HTMLResponse)
def live_page(session_id: int) -> HTMLResponse:
    """The live page of a session (the data comes over the WebSocket, with the token)."""
    if session_id < 0:
        raise HTTPException(404, f"no session {session_id}")
    return render_page("live.html", live_page_config(session_id))


def _newest_live_session(request: Request) -> int | None:
    ctx = request.app.state.ctx
    try:
        principal = authenticate(
            ctx, request.headers.get("authorization"), request.query_params.get("token")
        )
    except HTTPException:
        return None
    mine = None if principal.is_admin else principal.clinician_id
    for session in ctx.store.list_sessions(clinician_id=mine, status="live", limit=50):
        if can_view_session(principal, session) and ctx.hub.is_live(session.id):
            return int(session.id)
    return None


@router.get("/")
def index(request: Request) -> RedirectResponse:
    """Redirect to the newest live session's page, else to the setup page (token kept)."""
    token = request.query_params.get("token")
    query = f"?{urlencode({'token': token})}" if token else ""
    session_id = _newest_live_session(request)
    target = "/sessions/new" if session_id is None else f"/sessions/{session_id}/live"
    return RedirectResponse(target + query, status_code=307)
