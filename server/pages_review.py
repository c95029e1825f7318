"""Post-session pages: the review of a session and the alliance-score form.

* ``GET /sessions/{id}/review?token=...``: the review page, the same self-contained, printable
  HTML as ``sintonia report`` (:func:`dashboard.review.review_session` on
  :func:`server.review_data.load_session_inputs`, rendered by :func:`dashboard.report.render_report`
  to a string; no file is written). It holds participant data, so unlike the other pages it needs
  credentials (``?token=`` or an ``Authorization`` header; 401 without, 404 for a session the
  caller may not see), and every view is written to the audit log as the CLI writes a report
  (``report.generate``, with ``"out": "review page"``). The page inlines plotly.js and its
  figure scripts, so it is sent without the strict Content-Security-Policy of the other pages,
  but with ``Cache-Control: no-store`` and ``Referrer-Policy: no-referrer`` (the token is in
  the address).
* ``GET /sessions/{id}/alliance``: the form to record SRS or WAI-SR scores per participant and
  see their trend (``dashboard/static/alliance.html``; the data comes from the REST API with the
  page's ``?token=``, so the page itself holds no data and needs no token).
"""

from __future__ import annotations

import logging
from typing import Final

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import HTMLResponse

from dashboard.report import render_report
from dashboard.review import review_session
from server.api._common import StorageErrorRoute, context, visible_session
from server.auth import authenticate
from server.pages import PAGE_CSP, static_file
from server.review_data import load_session_inputs

__all__ = ["REVIEW_OUT", "alliance_page", "render_review", "review_page", "router"]

_log = logging.getLogger(__name__)

router = APIRouter(route_class=StorageErrorRoute, include_in_schema=False, tags=["pages"])

#: What the audit log records as the destination of a report viewed in the browser.
REVIEW_OUT: Final[str] = "review page"
#: The alliance form: scripts and connections from this server only (as server.pages), but
#: inline styles allowed: plotly.js injects its own <style> element for the chart.
_CSP: Final[str] = PAGE_CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")


def render_review(request: Request, session_id: int) -> str:
    """Authenticate the request, render the session's report to a string and audit the view.

    Parameters
    ----------
    request : Request
        Carries the credentials (``Authorization`` header or ``?token=``).
    session_id : int

    Returns
    -------
    str
        The complete HTML document (as ``sintonia report`` writes it).

    Raises
    ------
    HTTPException
        401 without valid credentials.
    server.storage.RecordNotFoundError
        Unknown session, or one the caller may not see (404 through the route).
    """
    ctx = context(request)
    principal = authenticate(
        ctx, request.headers.get("authorization"), request.query_params.get("token")
    )
    visible_session(ctx, principal, session_id)
    inputs = load_session_inputs(ctx.store, session_id)
    review = review_session(inputs)
    page = render_report(review, generated_at_s=ctx.store.now())
    ctx.store.audit(
        principal.actor,
        "report.generate",
        "session",
        session_id,
        {
            "out": REVIEW_OUT,
            "participants": [p.code for p in review.participants],
            "left_out": list(inputs.notes),
        },
    )
    return page


@router.get("/sessions/{session_id}/review", response_class=HTMLResponse)
def review_page(session_id: int, request: Request) -> HTMLResponse:
    """The post-session review of a session (needs ``?token=``; audited)."""
    page = render_review(request, session_id)
    return HTMLResponse(
        page,
        headers={
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "DENY",
        },
    )


@router.get("/sessions/{session_id}/alliance", response_class=HTMLResponse)
def alliance_page(session_id: int) -> HTMLResponse:
    """The alliance-score form of a session (its script reads the session id from the address)."""
    if session_id < 0:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no session {session_id}")
    file = static_file("alliance.html")
    if file is None:
        raise HTTPException(
            status.HTTP_500_INTERNAL_SERVER_ERROR,
            detail="dashboard/static/alliance.html is missing from the installed package",
        )
    return HTMLResponse(
        file.body.decode("utf-8"),
        headers={
            "Cache-Control": "no-cache",
            "Content-Security-Policy": _CSP,
            "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff",
        },
    )
