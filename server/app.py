"""The composition root: ``create_app(settings, source_factory=...)`` wires everything.

Store (SQLite or PostgreSQL), the durable beat writer, the live hub (sources -> storage -> engine
-> subscribers), the security middleware and the HTTP/WebSocket routes are built here and only
here; request handlers get them from :class:`server.context.AppContext`
(``request.app.state.ctx``), never build them. Everything is imported at the top; nothing imports
this module but the commands that serve.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from server.api import router as api_router
from server.auth import load_or_create_token
from server.cluster.coordinator import Coordinator
from server.context import AppContext
from server.live import LiveHub, SourceFactory, default_source_factory
from server.live import router as ws_router
from server.remote.routes import router as remote_router
from server.remote.transport import SecureTransportMiddleware
from server.security import (
    ODD_INPUT_DETAIL,
    SafeJSONResponse,
    SecurityMiddleware,
    install_error_handlers,
    odd_input_errors,
)
from server.settings import ServerSettings
from server.storage import BeatWriter, Store
from server.web import router as web_router
from server.web import static_mounts

__all__ = ["create_app"]

_log = logging.getLogger(__name__)


def create_app(
    settings: ServerSettings,
    *,
    source_factory: SourceFactory | None = None,
    clock: Callable[[], float] | None = None,
) -> FastAPI:
    """Build the Sintonia ASGI app.

    Parameters
    ----------
    settings : ServerSettings
        Where the data is, how to listen, the simulated-clock speed.
    source_factory : callable, optional
        Builds the :class:`sensor.BeatSource` for a session's device assignments (BLE straps,
        the simulator, a file); default :func:`server.live.sources.default_source_factory`.
        Tests pass fakes here.
    clock : callable, optional
        Host clock in seconds (default ``time.time``).
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = Store.open(settings.storage)
        writer = BeatWriter(store)
        hub = LiveHub(
            store=store,
            writer=writer,
            settings=settings,
            source_factory=source_factory or default_source_factory(settings),
            clock=clock,
        )
        # Sessions left live by a process that died: interrupted, or taken over (server.cluster).
        cluster = Coordinator(store, hub, settings)
        interrupted = await cluster.start()
        if interrupted:
            _log.warning("sessions left live by an earlier run marked interrupted: %s", interrupted)
        token = load_or_create_token(settings.data_dir)
        app.state.ctx = AppContext(settings, store, writer, token, hub, cluster)
        try:
            yield
        finally:
            await hub.aclose()
            await cluster.aclose()
            writer.close()
            store.close()

    # API docs pages load their scripts from a CDN: off unless asked for (SINTONIA_API_DOCS=1).
    docs = settings.api_docs
    app = FastAPI(
        title="Sintonia",
        summary="Local-first monitor of autonomic regulation for psychotherapy",
        version="0.1.0",
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        default_response_class=SafeJSONResponse,
    )
    install_error_handlers(app)
    app.add_middleware(SecureTransportMiddleware)  # issue 15: patient's side HTTPS off loopback
    app.add_middleware(SecurityMiddleware, settings=settings)

    async def odd_input(request: Request, exc: Exception) -> JSONResponse:
        _log.info("odd input on %s %s: %r", request.method, request.url.path, exc)
        return SafeJSONResponse({"detail": ODD_INPUT_DETAIL}, status_code=422)

    for error in odd_input_errors():
        app.add_exception_handler(error, odd_input)
    app.include_router(api_router)
    app.include_router(ws_router)
    app.include_router(web_router)
    app.include_router(remote_router)  # issue 15: join links, patient API, /ws/ingest
    app.router.routes.extend(static_mounts())
    return app
