"""The post-session review page: ``GET /sessions/{id}/review?token=...``.

The same printable HTML as ``sintonia report`` (:func:`dashboard.review.review_session` on
:func:`server.review_data.load_session_inputs`, rendered by :func:`dashboard.report.render_report`
to a string; no file is written), except that plotly.js is referenced at
:data:`server.web.render.PLOTLY_URL` (the installed package's copy, cached by the browser) rather
than inlined: the page is a few hundred kB instead of 5 MB. It holds participant data, so unlike
the other pages it needs credentials (``?token=`` or an ``Authorization`` header; 401 without,
404 for a session the caller may not see), and every view is written to the audit log as the CLI
writes a report (``report.generate``, with ``"out": "review page"``). Its inline figure scripts
run under the one header policy of :mod:`server.security` (each allowed by its hash).
"""

from __future__ import annotations

from typing import Final

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from dashboard.report import render_report
from dashboard.review import review_session
from server.api._common import StorageErrorRoute, context, visible_session
from server.auth import authenticate
from server.review_data import load_session_inputs
from server.web.render import PLOTLY_URL

__all__ = ["REVIEW_OUT", "render_review", "review_page", "router"]

router = APIRouter(route_class=StorageErrorRoute, include_in_schema=False, tags=["pages"])

#: What the audit log records as the destination of a report viewed in the browser.
REVIEW_OUT: Final[str] = "review page"


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
        The complete HTML document (as ``sintonia report`` writes it, plotly.js referenced).

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
    page = render_report(review, generated_at_s=ctx.store.now(), plotly_src=PLOTLY_URL)
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
    return HTMLResponse(render_review(request, session_id))
