"""What request handlers use: :class:`AppContext`, built once per app by the composition root.

A leaf module (it imports no router, page or app module), so routers, pages, the live socket and
the auth dependencies can all import it at the top while :mod:`server.app` imports every one of
them at the top: the web layer has no import cycle (tested in ``tests/test_import_cycles.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from server.auth import LoginThrottle
from server.settings import ServerSettings
from server.storage import BeatWriter, Store

if TYPE_CHECKING:
    from server.cluster.coordinator import Coordinator
    from server.live import LiveHub

__all__ = ["AppContext"]


@dataclass(slots=True)
class AppContext:
    """What the routes use; one per app, built in the lifespan of :func:`server.app.create_app`
    and reached as ``request.app.state.ctx`` (:func:`server.api._common.context`)."""

    settings: ServerSettings
    store: Store
    writer: BeatWriter
    token: str
    hub: LiveHub
    cluster: Coordinator
    login_throttle: LoginThrottle = field(default_factory=LoginThrottle)
