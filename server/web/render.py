"""How every dashboard page is rendered: an HTML template of ``dashboard/static/`` with its page
configuration (a JSON object) in place of the template's configuration slot.

One convention for all pages: the template holds
``<script type="application/json" id="...">`` with :data:`CONFIG_SLOT` as its text; the route
builds a ``dict`` and calls :func:`render_page`. The JSON is a data block, not a script (the
Content-Security-Policy lets it through without ``'unsafe-inline'``): the page's own script reads
it with ``JSON.parse(element.textContent)``. ``<`` is escaped as ``\\u003c``, so neither
``</script>`` nor ``<!--`` can appear inside it, whatever the configuration holds.

Headers (Content-Security-Policy, ``Referrer-Policy``, ``X-Frame-Options``, ``nosniff``,
``Cache-Control: no-store``) are not set here: :class:`server.security.SecurityMiddleware` puts
the same policy on every HTML response.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any, Final

from fastapi import HTTPException, status
from fastapi.responses import HTMLResponse

from dashboard.vocab import page_vocabulary

__all__ = [
    "CONFIG_SLOT",
    "PLOTLY_URL",
    "STATIC_PACKAGE",
    "page_config",
    "render_page",
    "script_json",
    "template",
]

#: The package holding the ``static/`` directory (templates, scripts, styles).
STATIC_PACKAGE: Final[str] = "dashboard"
#: Text of a template's configuration element, replaced by the page configuration.
CONFIG_SLOT: Final[str] = "<!--SINTONIA:CONFIG-->"
#: Where pages load plotly.js from: the bundle of the installed ``plotly`` package (no CDN).
PLOTLY_URL: Final[str] = "/static/vendor/plotly.min.js"


@lru_cache(maxsize=16)
def template(name: str) -> str:
    """The text of the HTML template ``dashboard/static/{name}`` (read once).

    Raises
    ------
    HTTPException
        500 when the installed package lacks the file (a broken install, said plainly).
    """
    node = resources.files(STATIC_PACKAGE).joinpath("static", name)
    try:
        return node.read_text("utf-8")
    except OSError as exc:
        raise HTTPException(
            status.HTTP_500_INTERNAL_SERVER_ERROR,
            detail=f"{STATIC_PACKAGE}/static/{name} is missing from the installed package",
        ) from exc


def script_json(data: dict[str, Any]) -> str:
    """``data`` as JSON safe inside a ``<script type="application/json">`` element.

    Examples
    --------
    >>> script_json({"a": "</script><!--"})
    '{"a":"\\\\u003c/script>\\\\u003c!--"}'
    """
    return json.dumps(data, separators=(",", ":")).replace("<", "\\u003c")


def page_config(**extra: Any) -> dict[str, Any]:
    """The configuration of every page but the live page: the vocabularies and ``extra``.

    Returns
    -------
    dict
        ``vocab`` (:func:`dashboard.vocab.page_vocabulary`: the words of roles, consent
        purposes, marker types, cue responses) and the ``extra`` keys.

    Examples
    --------
    >>> cfg = page_config(session_id=4)
    >>> cfg["session_id"], [r["id"] for r in cfg["vocab"]["roles"]]
    (4, ['patient', 'therapist'])
    """
    return {"vocab": page_vocabulary(), **extra}


def render_page(name: str, config: dict[str, Any] | None = None) -> HTMLResponse:
    """The page ``dashboard/static/{name}`` with ``config`` in its configuration slot.

    Parameters
    ----------
    name : str
        Template file name, e.g. ``"setup.html"``.
    config : dict, optional
        The page configuration (JSON-serialisable). None for a page without one.

    Returns
    -------
    HTMLResponse

    Raises
    ------
    HTTPException
        500 when the template is missing, or has no slot for a configuration it is given.
    """
    text = template(name)
    if config is not None:
        if CONFIG_SLOT not in text:
            raise HTTPException(
                status.HTTP_500_INTERNAL_SERVER_ERROR,
                detail=f"{STATIC_PACKAGE}/static/{name} has no configuration slot",
            )
        text = text.replace(CONFIG_SLOT, script_json(config), 1)
    return HTMLResponse(text)
