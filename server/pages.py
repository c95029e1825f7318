"""The dashboard's files over HTTP: ``/static/...``, plotly.js, and the session pages.

Everything here is served from installed packages, never from a CDN, so the dashboard works on a
machine with no internet connection:

* ``GET /static/{path}``: a file of ``dashboard/static/`` read through :mod:`importlib.resources`
  (works from a wheel, a zip or an editable install). Only plain names (letters, digits, ``.``,
  ``_``, ``-``) in at most a few directory levels are accepted; ``..``, hidden files, backslashes
  and absolute paths are 404, so nothing outside the directory can be named.
* ``GET /static/vendor/plotly.min.js``: the plotly.js bundle shipped inside the installed
  ``plotly`` Python package (the same bytes :func:`plotly.offline.get_plotlyjs` returns).
* ``GET /sessions/new``: the page that sets up a session (participants' codes, consents per
  purpose, phase template, devices) through the REST API.
* ``GET /sessions``: a list of sessions with links to their live view.

The pages hold no data and need no token themselves; their scripts read ``?token=`` from the
address and send it as ``Authorization: Bearer`` with every API call. HTML pages carry a strict
Content-Security-Policy (``'self'`` only), ``Referrer-Policy: no-referrer`` (the token is in the
address) and ``X-Content-Type-Options: nosniff``. Static files are revalidated on every load
(``Cache-Control: no-cache`` with an ``ETag``), so an upgraded server never runs a stale script;
the plotly bundle, which changes only with the plotly package, may be cached for a day.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata, resources
from typing import Final

from fastapi import APIRouter, HTTPException, Request, Response, status

from dashboard.phases import DEFAULT_FIRST_SESSION, PhaseTemplate

__all__ = [
    "CONSENT_TEXT_VERSION",
    "PAGE_CSP",
    "PHASE_TEMPLATES",
    "STATIC_PACKAGE",
    "StaticFile",
    "content_type",
    "plotly_js",
    "router",
    "sessions_page",
    "setup_page",
    "static",
    "static_file",
    "vendor_plotly",
]

_log = logging.getLogger(__name__)

#: The package holding the ``static/`` directory.
STATIC_PACKAGE: Final[str] = "dashboard"
#: Version of the consent wording on the setup page (stored with every consent it records).
CONSENT_TEXT_VERSION: Final[str] = "setup-page-1"
#: Phase templates the setup page offers (the therapist may edit every phase's minutes).
PHASE_TEMPLATES: Final[tuple[PhaseTemplate, ...]] = (DEFAULT_FIRST_SESSION,)

#: One path segment of a static file: a plain name, not starting with a dot.
_SEGMENT: Final[re.Pattern[str]] = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$")
#: Deepest static path accepted, in segments.
_MAX_DEPTH: Final[int] = 4
_CONTENT_TYPES: Final[dict[str, str]] = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".txt": "text/plain; charset=utf-8",
}
#: Dashboard files: revalidate every time (cheap with the ETag, never stale after an upgrade).
_STATIC_CACHE: Final[str] = "no-cache"
#: The plotly bundle changes only with the installed package: one day, s.
_VENDOR_CACHE: Final[str] = "public, max-age=86400"
_PLACEHOLDER: Final[str] = "<!--SINTONIA:CONFIG-->"
#: Every HTML page: scripts, styles, images and connections from this server only.
PAGE_CSP: Final[str] = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True, slots=True)
class StaticFile:
    """A file ready to send.

    Attributes
    ----------
    body : bytes
    media_type : str
        ``Content-Type`` header value.
    etag : str
        Strong validator (quoted), from the SHA-256 of the body.
    """

    body: bytes
    media_type: str
    etag: str

    @classmethod
    def of(cls, body: bytes, media_type: str) -> StaticFile:
        """Wrap ``body`` with its ETag."""
        return cls(body, media_type, f'"{hashlib.sha256(body).hexdigest()[:32]}"')


def content_type(name: str) -> str:
    """The ``Content-Type`` of a static file from its extension.

    Examples
    --------
    >>> content_type("live.js")
    'text/javascript; charset=utf-8'
    >>> content_type("data.bin")
    'application/octet-stream'
    """
    dot = name.rfind(".")
    return _CONTENT_TYPES.get(name[dot:].lower() if dot >= 0 else "", "application/octet-stream")


def static_file(path: str) -> StaticFile | None:
    """A file of ``dashboard/static/`` by its relative path, or None.

    Parameters
    ----------
    path : str
        ``/``-separated, e.g. ``"setup.js"`` or ``"img/logo.svg"``.

    Returns
    -------
    StaticFile or None
        None when the path is not a plain relative name (``..``, hidden files, empty segments,
        backslashes, too deep) or no such file ships with the package.

    Examples
    --------
    >>> static_file("../server/app.py") is None
    True
    >>> static_file("common.css").media_type
    'text/css; charset=utf-8'
    """
    parts = path.split("/")
    if not 0 < len(parts) <= _MAX_DEPTH or not all(_SEGMENT.match(p) for p in parts):
        return None
    node = resources.files(STATIC_PACKAGE).joinpath("static", *parts)
    try:
        if not node.is_file():
            return None
        body = node.read_bytes()
    except OSError:
        return None
    return StaticFile.of(body, content_type(parts[-1]))


@lru_cache(maxsize=1)
def plotly_js() -> StaticFile:
    """The plotly.js bundle of the installed ``plotly`` package (read once, kept in memory).

    Read from the package data (``plotly/package_data/plotly.min.js``), else through
    :func:`plotly.offline.get_plotlyjs`. The ETag names the plotly version.

    Returns
    -------
    StaticFile
    """
    node = resources.files("plotly").joinpath("package_data", "plotly.min.js")
    try:
        body = node.read_bytes()
    except OSError:
        from plotly.offline import get_plotlyjs  # type: ignore[import-untyped]

        body = get_plotlyjs().encode("utf-8")
    version = metadata.version("plotly")
    digest = hashlib.sha256(body).hexdigest()[:16]
    return StaticFile(body, _CONTENT_TYPES[".js"], f'"plotly-{version}-{digest}"')


def _not_modified(request: Request, etag: str) -> bool:
    given = request.headers.get("if-none-match", "")
    return any(tag.strip().removeprefix("W/") == etag for tag in given.split(","))


def _send(request: Request, file: StaticFile, cache_control: str) -> Response:
    headers = {
        "ETag": file.etag,
        "Cache-Control": cache_control,
        "X-Content-Type-Options": "nosniff",
    }
    if file.media_type.startswith("text/html"):
        headers["Content-Security-Policy"] = PAGE_CSP
        headers["Referrer-Policy"] = "no-referrer"
    if _not_modified(request, file.etag):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(file.body, media_type=file.media_type, headers=headers)


def _page_config() -> dict[str, object]:
    return {
        "templates": [t.to_dict() for t in PHASE_TEMPLATES],
        "consent_version": CONSENT_TEXT_VERSION,
    }


def _page(name: str) -> StaticFile:
    """An HTML page of ``static/`` with the page configuration in place of the placeholder."""
    file = static_file(name)
    if file is None:  # the package is broken: say so instead of an empty page
        raise HTTPException(
            status.HTTP_500_INTERNAL_SERVER_ERROR,
            detail=f"dashboard/static/{name} is missing from the installed package",
        )
    text = file.body.decode("utf-8")
    if _PLACEHOLDER in text:
        # JSON inside <script type="application/json">: "</" must not close the element.
        config = json.dumps(_page_config()).replace("</", "<\\/")
        text = text.replace(_PLACEHOLDER, config)
    return StaticFile.of(text.encode("utf-8"), file.media_type)


@router.get("/static/vendor/plotly.min.js")
def vendor_plotly(request: Request) -> Response:
    """plotly.js from the installed plotly package (no CDN)."""
    return _send(request, plotly_js(), _VENDOR_CACHE)


@router.get("/static/{path:path}")
def static(path: str, request: Request) -> Response:
    """A file of ``dashboard/static/``; 404 for anything else."""
    file = static_file(path)
    if file is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such static file")
    if file.media_type.startswith("text/html"):
        file = _page(path)  # the same page as under its own route, configuration filled in
    return _send(request, file, _STATIC_CACHE)


@router.get("/sessions/new")
def setup_page(request: Request) -> Response:
    """The page that sets up and starts a session (no data in it; its API calls need ?token=)."""
    return _send(request, _page("setup.html"), _STATIC_CACHE)


@router.get("/sessions")
def sessions_page(request: Request) -> Response:
    """The list of sessions with links to their live view."""
    return _send(request, _page("sessions.html"), _STATIC_CACHE)
