"""The web layer: every HTML page and the static files, in one package.

* :mod:`server.web.render`: one way to render a page (template + JSON page configuration);
* :mod:`server.web.static`: ``/static/...`` and plotly.js with Starlette's ``StaticFiles``;
* :mod:`server.web.pages` (setup, sessions list, alliance form), :mod:`server.web.live` (live
  page, ``GET /``), :mod:`server.web.review` (review page), :mod:`server.web.join` (the
  patient's page of a remote session).

The header policy of every HTML response (Content-Security-Policy, ``Referrer-Policy``,
``X-Frame-Options``, ``nosniff``, ``Cache-Control``) is applied in one place,
:class:`server.security.SecurityMiddleware`. :func:`server.app.create_app` includes
:data:`router` and :func:`static_mounts`.
"""

from __future__ import annotations

from fastapi import APIRouter

from server.web.join import router as _join_router
from server.web.live import router as _live_router
from server.web.pages import router as _pages_router
from server.web.review import router as _review_router
from server.web.static import static_mounts

__all__ = ["router", "static_mounts"]

#: Every page route.
router = APIRouter()
for _r in (_pages_router, _live_router, _review_router, _join_router):
    router.include_router(_r)
