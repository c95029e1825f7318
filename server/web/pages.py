"""The pages that set up and list sessions, and the alliance form.

* ``GET /sessions/new``: the page that sets up a session (participants' codes, consents per
  purpose, phase template, devices) through the REST API.
* ``GET /sessions``: a list of sessions with links to their live view, review and alliance form.
* ``GET /sessions/{id}/alliance``: the form to record SRS or WAI-SR scores per participant and
  see their trend.

The pages hold no data and need no token themselves; their scripts read ``?token=`` from the
address and send it as ``Authorization: Bearer`` with every API call. Each page receives its
configuration (:func:`server.web.render.page_config`: the words of every vocabulary, and for
the setup page the phase templates) through
:func:`server.web.render.render_page`; the header policy is :mod:`server.security`'s.
"""

from __future__ import annotations

from typing import Any, Final

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import HTMLResponse

from dashboard.phases import DEFAULT_FIRST_SESSION, PhaseTemplate
from server.web.render import page_config, render_page

__all__ = [
    "CONSENT_TEXT_VERSION",
    "PHASE_TEMPLATES",
    "alliance_page",
    "router",
    "sessions_page",
    "setup_config",
    "setup_page",
]

#: Version of the consent wording on the setup page (stored with every consent it records).
CONSENT_TEXT_VERSION: Final[str] = "setup-page-1"
#: Phase templates the setup page offers (the therapist may edit every phase's minutes).
PHASE_TEMPLATES: Final[tuple[PhaseTemplate, ...]] = (DEFAULT_FIRST_SESSION,)

router = APIRouter(include_in_schema=False, tags=["pages"])


def setup_config() -> dict[str, Any]:
    """The setup page's configuration: the vocabularies, phase templates, consent version.

    Examples
    --------
    >>> cfg = setup_config()
    >>> cfg["consent_version"], [r["id"] for r in cfg["vocab"]["roles"]]
    ('setup-page-1', ['patient', 'therapist'])
    """
    return page_config(
        templates=[t.to_dict() for t in PHASE_TEMPLATES], consent_version=CONSENT_TEXT_VERSION
    )


@router.get("/sessions/new", response_class=HTMLResponse)
def setup_page() -> HTMLResponse:
    """The page that sets up and starts a session (no data in it; its API calls need ?token=)."""
    return render_page("setup.html", setup_config())


@router.get("/sessions", response_class=HTMLResponse)
def sessions_page() -> HTMLResponse:
    """The list of sessions with links to their pages."""
    return render_page("sessions.html", page_config())


@router.get("/sessions/{session_id}/alliance", response_class=HTMLResponse)
def alliance_page(session_id: int) -> HTMLResponse:
    """The alliance-score form of a session (the data comes from the API with the token)."""
    if session_id < 0:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no session {session_id}")
    return render_page("alliance.html", page_config(session_id=session_id))
