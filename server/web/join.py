"""The patient's page of a remote session: ``GET /join/{token}``.

The page (``dashboard/static/join.html``, ``join.js``) holds no data itself: its script reads
``/api/join/{token}`` (:mod:`server.remote.routes`) for the session's state and the wording of
each consent, and gets the names of the vocabularies from its page configuration. The join token
in the path is the only credential; an unknown, expired or revoked link is 404, and every use is
audited (:func:`server.remote.routes.usable_link`).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from server.api._common import context
from server.remote.routes import usable_link
from server.web.render import page_config, render_page

__all__ = ["join_page", "router"]

router = APIRouter(include_in_schema=False, tags=["pages"])


@router.get("/join/{token}", response_class=HTMLResponse)
def join_page(token: str, request: Request) -> HTMLResponse:
    """The patient's page; it holds no data itself (the script reads ``/api/join/{token}``)."""
    usable_link(context(request), token, "page")
    return render_page("join.html", page_config())
