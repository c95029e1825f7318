"""Static files of the dashboard over HTTP, with Starlette's ``StaticFiles``.

Everything is served from installed packages, never from a CDN, so the dashboard works on a
machine with no internet connection:

* ``/static/...``: the scripts, styles and data files of ``dashboard/static/`` (ES modules in
  subfolders such as ``/static/live/*.js`` included);
* ``/static/vendor/plotly.min.js``: the plotly.js bundle shipped inside the installed ``plotly``
  Python package (the same bytes :func:`plotly.offline.get_plotlyjs` returns).

On top of what StaticFiles does (no directory listing, no path outside the directory, ETag and
``Last-Modified`` with 304 answers), :class:`PackageFiles` keeps the guarantees of the
hand-written code it replaces: only plain names (letters, digits, ``.``, ``_``, ``-``, not
starting with a dot) in at most :data:`MAX_DEPTH` segments, and only the file types of
:data:`CONTENT_TYPES`, are served; anything else is 404 before the file system is asked. HTML
templates are not static files (they are pages, served with their configuration by their own
routes). Each type has one fixed ``Content-Type`` (``text/javascript`` for scripts and ES
modules, whatever the host's ``mimetypes`` table says), and every answer says
``X-Content-Type-Options: nosniff``. Dashboard files are revalidated on every load
(``Cache-Control: no-cache``, cheap with the ETag), so an upgraded server never runs a stale
script; the plotly bundle, which changes only with the plotly package, may be kept a day.
"""

from __future__ import annotations

import os
import re
from importlib import resources
from typing import Final

from starlette._utils import get_route_path
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import FileResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import NotModifiedResponse, StaticFiles
from starlette.types import Scope

from server.web.render import PLOTLY_URL, STATIC_PACKAGE

__all__ = [
    "CONTENT_TYPES",
    "MAX_DEPTH",
    "STATIC_CACHE",
    "VENDOR_CACHE",
    "PackageFiles",
    "content_type",
    "plain_path",
    "static_mounts",
]

#: One path segment of a static file: a plain name, not starting with a dot.
_SEGMENT: Final[re.Pattern[str]] = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$")
#: Deepest static path accepted, in segments.
MAX_DEPTH: Final[int] = 4
#: The file types served, by extension, with their ``Content-Type``. No ``.html``: pages have
#: their own routes.
CONTENT_TYPES: Final[dict[str, str]] = {
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
STATIC_CACHE: Final[str] = "no-cache"
#: The plotly bundle changes only with the installed package: one day, s.
VENDOR_CACHE: Final[str] = "public, max-age=86400"


def content_type(name: str) -> str | None:
    """The ``Content-Type`` of a static file from its extension, or None if it is not served.

    Examples
    --------
    >>> content_type("live/chart.js")
    'text/javascript; charset=utf-8'
    >>> content_type("setup.html") is None, content_type("noext") is None
    (True, True)
    """
    base = name.rsplit("/", 1)[-1]
    dot = base.rfind(".")
    return CONTENT_TYPES.get(base[dot:].lower()) if dot > 0 else None


def plain_path(path: str) -> bool:
    """Whether ``path`` (``/``-separated, relative) names a file that may be served.

    Examples
    --------
    >>> plain_path("live/chart.js"), plain_path("../server/app.py"), plain_path(".env")
    (True, False, False)
    >>> plain_path("a/../setup.js"), plain_path("setup.html"), plain_path("x\\\\..\\\\y.js")
    (False, False, False)
    """
    parts = path.split("/")
    return (
        0 < len(parts) <= MAX_DEPTH
        and all(_SEGMENT.match(p) for p in parts)
        and content_type(path) is not None
    )


class PackageFiles(StaticFiles):
    """StaticFiles restricted to plain names of the served types, with fixed types and caching.

    Parameters
    ----------
    directory : str
        The directory served.
    cache_control : str
        ``Cache-Control`` of every file.
    only : frozenset of str, optional
        If given, the only relative paths served (the vendor mount serves one file of a
        directory that holds others).
    """

    def __init__(
        self, directory: str, cache_control: str, only: frozenset[str] | None = None
    ) -> None:
        super().__init__(directory=directory)
        self.cache_control = cache_control
        self.only = only

    def get_path(self, scope: Scope) -> str:
        """The requested relative path, refused (404) unless :func:`plain_path` allows it."""
        # The path as the client sent it, percent-decoded, before any normalisation:
        # "a/../b.js" is refused, never resolved.
        route_path = get_route_path(scope).removeprefix("/")
        if not plain_path(route_path) or (self.only is not None and route_path not in self.only):
            raise HTTPException(404, detail="no such static file")
        return os.path.join(*route_path.split("/"))

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        """The file with its fixed type, ``Cache-Control`` and ``nosniff`` (or a 304)."""
        media_type = content_type(os.fspath(full_path)) or "application/octet-stream"
        response = FileResponse(
            full_path, status_code=status_code, stat_result=stat_result, media_type=media_type
        )
        response.headers["Cache-Control"] = self.cache_control
        response.headers["X-Content-Type-Options"] = "nosniff"
        if self.is_not_modified(response.headers, Headers(scope=scope)):
            return NotModifiedResponse(response.headers)
        return response


def _package_dir(package: str, *parts: str) -> str:
    """A directory inside an installed package (a wheel or an editable install, not a zip)."""
    return str(resources.files(package).joinpath(*parts))


def static_mounts() -> list[Mount]:
    """The mounts that serve static files: plotly.js first, then ``dashboard/static/``.

    Returns
    -------
    list of Mount
        For :meth:`fastapi.FastAPI.router.routes` (``app.router.routes.extend(...)``) or a router.
    """
    vendor_dir, _, vendor_name = PLOTLY_URL.removeprefix("/").rpartition("/")
    return [
        Mount(
            "/" + vendor_dir,
            app=PackageFiles(
                _package_dir("plotly", "package_data"), VENDOR_CACHE, frozenset({vendor_name})
            ),
            name="vendor",
        ),
        Mount(
            "/static",
            app=PackageFiles(_package_dir(STATIC_PACKAGE, "static"), STATIC_CACHE),
            name="static",
        ),
    ]
