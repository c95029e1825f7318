"""``sintonia demo``: the whole system on this machine with a simulated patient and therapist.

What it does, in order:

1. Builds the app as ``sintonia serve`` does (:func:`server.app.create_app`) on the embedded
   SQLite file of its own data directory (``SINTONIA_DEMO_DATA_DIR``, default ``demo/`` inside
   the data directory; ``SINTONIA_DATABASE_URL`` is ignored so that a demo never writes into a
   clinic's database or next to real sessions, see :func:`demo_settings`) and serves it
   with uvicorn on 127.0.0.1 (``--port 0`` picks a free port).
2. Once the app has started, records the demo through :class:`server.storage.Store`: two
   pseudonymous participants (``P-DEMO``, patient; ``T-DEMO``, therapist; reused on later runs),
   their consents for every purpose marked as a demo (version ``"demo"``, recorded by ``"demo"``),
   and a new session from the default first-session phase template (scaled to ``--minutes``) with
   the physiological simulator assigned to both.
3. Starts the session through the live hub (sources -> durable storage -> engine -> WebSocket),
   prints ONE line on stdout, the dashboard URL with the access token
   (``http://127.0.0.1:PORT/?token=...``, which leads to the live page of the newest live
   session), and opens a browser when one is available.
4. After ``--minutes`` of simulated time (``--minutes * 60 / --speed`` seconds of wall time), or
   on Ctrl-C / SIGTERM, stops the session (``stopped``, not ``interrupted``), lets the writer
   commit every beat received, and exits.

``--speed N`` plays the simulated straps N times faster than real time (the beats' own times
stay consistent with their RR intervals), so a 60-minute session can be watched in minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import webbrowser
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Final, cast

from dashboard.phases import DEFAULT_FIRST_SESSION, PhaseTemplate
from hrv.errors import ParameterError, SintoniaError
from server.cli.serve import dashboard_url
from server.settings import DEFAULT_HOST, DEFAULT_PORT, ServerSettings
from server.storage import ConsentPurpose, DeviceAssignment, RecordNotFoundError, Role, Store
from server.storage.records import CONSENT_PURPOSES
from server.storage.settings import DATABASE_URL_ENV

if TYPE_CHECKING:
    from fastapi import FastAPI

    from server.context import AppContext

__all__ = [
    "DEMO_CONSENT_VERSION",
    "DEMO_DATA_DIR_ENV",
    "DEMO_PATIENT_CODE",
    "DEMO_RECORDED_BY",
    "DEMO_THERAPIST_CODE",
    "DemoError",
    "DemoSession",
    "LoopbackServer",
    "browser_available",
    "demo_settings",
    "demo_template",
    "prepare_demo_session",
    "register",
    "review_hint",
    "run",
    "simulator_address",
]

_log = logging.getLogger(__name__)


class DemoError(SintoniaError, RuntimeError):
    """The demo's server could not be started."""


DEMO_PATIENT_CODE: Final[str] = "P-DEMO"
DEMO_THERAPIST_CODE: Final[str] = "T-DEMO"
#: Environment variable naming the demo's own data directory (default: demo/ in the data dir).
DEMO_DATA_DIR_ENV: Final[str] = "SINTONIA_DEMO_DATA_DIR"
#: Version of the consent "text" recorded for the demo participants, and who recorded it.
DEMO_CONSENT_VERSION: Final[str] = "demo"
DEMO_RECORDED_BY: Final[str] = "demo"
DEMO_LABEL: Final[str] = "Demo: simulated patient and therapist"
#: Seed of the simulated straps (the same demo every time).
DEMO_SEED: Final[int] = 7
#: How often the start-up waits check whether uvicorn is listening, s.
_POLL_S: Final[float] = 0.02
_S_PER_MIN: Final[float] = 60.0
#: How often the demo checks whether its session is still live, s.
_WATCH_S: Final[float] = 0.5
#: Wall time allowed after the planned end for the hub to stop the session itself, s.
_END_GRACE_S: Final[float] = 5.0


@dataclass(frozen=True, slots=True)
class DemoSession:
    """The records of one demo run.

    Attributes
    ----------
    session_id : int
    patient_id, therapist_id : int
        Participant ids of ``P-DEMO`` and ``T-DEMO``.
    template : PhaseTemplate
        The phases of the session.
    """

    session_id: int
    patient_id: int
    therapist_id: int
    template: PhaseTemplate


def demo_template(minutes: float | None = None) -> PhaseTemplate:
    """The default first-session template, its phases scaled to last ``minutes`` in total.

    Parameters
    ----------
    minutes : float, optional
        Total session length, min; None keeps the template's 60 min.

    Returns
    -------
    PhaseTemplate
        Each phase ``i`` lasts :math:`D_i \\cdot M / \\sum_j D_j`.

    Examples
    --------
    >>> [p.duration_s for p in demo_template(6.0).phases]
    [60.0, 90.0, 90.0, 90.0, 30.0]
    """
    base = DEFAULT_FIRST_SESSION
    if minutes is None:
        return base
    if not minutes > 0:
        raise ParameterError(f"minutes must be > 0, got {minutes!r}")
    factor = minutes * _S_PER_MIN / base.total_s
    return replace(
        base,
        name=f"{base.name} scaled to {minutes:g} min",
        phases=tuple(replace(p, duration_s=p.duration_s * factor) for p in base.phases),
    )


def simulator_address(seed: int = DEMO_SEED) -> str:
    """The ``address`` of a ``"simulator"`` device assignment (see
    :func:`server.live.sources.simulator_seed`); the role is the participant's.

    Examples
    --------
    >>> simulator_address()
    'seed=7'
    """
    return f"seed={seed}"


def _participant(store: Store, code: str, role: Role) -> int:
    try:
        existing = store.get_participant_by_code(code)
    except RecordNotFoundError:
        return store.create_participant(code, role, actor=DEMO_RECORDED_BY).id
    if existing.role != role:
        raise ParameterError(
            f"participant {code!r} exists with role {existing.role!r}; the demo needs {role!r}"
        )
    return existing.id


def prepare_demo_session(
    store: Store,
    *,
    minutes: float | None = None,
    seed: int = DEMO_SEED,
    patient_code: str = DEMO_PATIENT_CODE,
    therapist_code: str = DEMO_THERAPIST_CODE,
    label: str = DEMO_LABEL,
) -> DemoSession:
    """Record a planned demo session: participants, demo consents, simulator assignments.

    Participants are reused when their codes exist (a second demo run adds a session, not
    people). A consent is granted for each purpose the participant does not hold yet, with
    version ``"demo"`` and ``recorded_by="demo"``, so the records say that nobody real consented.

    Parameters
    ----------
    store : Store
        The app's store.
    minutes : float, optional
        Session length, min (see :func:`demo_template`).
    seed : int
        Seed of the simulated straps.
    patient_code, therapist_code : str
        Pseudonymous codes.
    label : str
        Session label.

    Returns
    -------
    DemoSession

    Examples
    --------
    >>> store = Store.open("sqlite://")
    >>> demo = prepare_demo_session(store, minutes=6.0)
    >>> store.get_session(demo.session_id).status
    'planned'
    >>> sorted(store.active_purposes(demo.patient_id))  # doctest: +NORMALIZE_WHITESPACE
    ['live_display', 'research_export', 'review', 'storage', 'synchrony']
    >>> store.close()
    """
    template = demo_template(minutes)
    patient = _participant(store, patient_code, "patient")
    therapist = _participant(store, therapist_code, "therapist")
    for pid in (patient, therapist):
        held = set(store.active_purposes(pid))
        for purpose in CONSENT_PURPOSES:
            if purpose not in held:
                store.grant_consent(
                    pid,
                    cast("ConsentPurpose", purpose),
                    DEMO_CONSENT_VERSION,
                    recorded_by=DEMO_RECORDED_BY,
                )
    session = store.create_session(
        template.to_dict(),
        label=label,
        participants=(
            DeviceAssignment(patient, "simulator", simulator_address(seed)),
            DeviceAssignment(therapist, "simulator", simulator_address(seed)),
        ),
        actor=DEMO_RECORDED_BY,
        simulated=True,
    )
    return DemoSession(session.id, patient, therapist, template)


def demo_settings(
    environ: Mapping[str, str] | None = None, *, port: int = DEFAULT_PORT, speed: float = 1.0
) -> ServerSettings:
    """Server settings of the demo: the environment's, on the embedded SQLite file of its own
    data directory.

    The demo's directory is ``SINTONIA_DEMO_DATA_DIR``, or ``demo/`` inside the data directory
    (``SINTONIA_DATA_DIR`` or the platform default), so simulated people never share a database
    with real sessions. ``SINTONIA_DATABASE_URL`` is ignored, so that a demo never writes
    simulated people into a clinic's PostgreSQL database.

    Examples
    --------
    >>> env = {"SINTONIA_DATA_DIR": "/tmp/d", "SINTONIA_DATABASE_URL": "postgresql://db/x"}
    >>> demo_settings(env, port=0, speed=50.0).storage.url
    'sqlite+pysqlite:////tmp/d/demo/sintonia.sqlite'
    >>> demo_settings({"SINTONIA_DEMO_DATA_DIR": "/tmp/demo"}).storage.url
    'sqlite+pysqlite:////tmp/demo/sintonia.sqlite'
    """
    settings = ServerSettings.from_env(environ, port=port, speed=speed)
    env = os.environ if environ is None else environ
    own = env.get(DEMO_DATA_DIR_ENV)
    data_dir = Path(own).expanduser() if own else settings.storage.data_dir / "demo"
    return replace(
        settings, storage=replace(settings.storage, database_url=None, data_dir=data_dir)
    )


def browser_available() -> bool:
    """Whether a graphical browser can be opened (macOS, Windows, or an X11/Wayland display).

    Without a display, :mod:`webbrowser` would fall back to a text browser that takes over the
    terminal, so the demo does not try.
    """
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


Hook = Callable[["FastAPI"], Awaitable[None]]


class LoopbackServer:
    """uvicorn serving an app on a socket bound up front (so ``port=0`` has a known port).

    Parameters
    ----------
    app : FastAPI
        From :func:`server.app.create_app`.
    host, port : str, int
        Where to listen; ``port=0`` lets the system choose (see :attr:`port`).
    on_started : async callable, optional
        Called with the app once the lifespan has run and the socket accepts connections.
    before_shutdown : async callable, optional
        Called with the app when the server is asked to stop (signal or :meth:`stop`), before
        connections are closed and the lifespan shuts down (stop live sessions here).

    Notes
    -----
    WebSocket compression (permessage-deflate, RFC 7692) is declined: on loopback or a clinic LAN
    it saves no time, and compressing every ``beats`` message was the largest single use of the
    event loop in ``benchmarks/server.py`` (about 40 % of its busy time at 100 sessions).

    A graceful shutdown runs ``before_shutdown``, closes the connections (WebSocket clients get
    a close frame), then the app's lifespan shutdown, which stops the hub and has the beat writer
    commit everything it received.
    """

    def __init__(
        self,
        app: FastAPI,
        host: str = DEFAULT_HOST,
        port: int = 0,
        *,
        on_started: Hook | None = None,
        before_shutdown: Hook | None = None,
        log_level: str = "warning",
    ) -> None:
        import uvicorn

        self.app = app
        self.host = host
        self._sock = _bind(host, port)
        self.port: int = int(self._sock.getsockname()[1])
        self._on_started = on_started
        self._before_shutdown = before_shutdown
        outer = self

        class _Server(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self) -> Iterator[None]:
                # Signals are handled by LoopbackServer.serve (stop, then exit normally).
                yield

            async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
                await outer._run_before_shutdown()
                await super().shutdown(sockets=sockets)

        config = uvicorn.Config(
            app,
            log_level=log_level,
            lifespan="on",
            ws="websockets-sansio",
            ws_per_message_deflate=False,
        )
        self._server = _Server(config)
        self._hook_done = False

    async def _run_before_shutdown(self) -> None:
        if self._hook_done or self._before_shutdown is None or not self._server.started:
            return
        self._hook_done = True
        try:
            await self._before_shutdown(self.app)
        except Exception:
            _log.exception("error while stopping; shutting down anyway")

    def stop(self) -> None:
        """Ask the server to shut down gracefully (as SIGINT and SIGTERM do)."""
        self._server.should_exit = True

    def _on_signal(self) -> None:
        if self._server.should_exit:
            _log.warning("second interrupt: closing connections without waiting")
            self._server.force_exit = True
        self.stop()

    async def serve(self) -> None:
        """Serve until stopped; runs ``on_started`` once listening.

        SIGINT (Ctrl-C) and SIGTERM stop the server gracefully and this returns normally; a
        second signal stops waiting for open connections.
        """
        loop = asyncio.get_running_loop()
        handled: list[signal.Signals] = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self._on_signal)
                handled.append(sig)
        try:
            await self._serve()
        finally:
            for sig in handled:
                loop.remove_signal_handler(sig)

    async def _serve(self) -> None:
        task = asyncio.ensure_future(self._server.serve(sockets=[self._sock]))
        while not self._server.started:
            if task.done():
                await task  # start-up failed: raise its error
                raise DemoError("uvicorn exited before it started listening")
            await asyncio.sleep(_POLL_S)
        if self._on_started is not None:
            try:
                await self._on_started(self.app)
            except BaseException:
                self._hook_done = True  # nothing to stop
                self.stop()
                with contextlib.suppress(BaseException):
                    await task
                raise
        await task


def _context(app: FastAPI) -> AppContext:
    ctx: AppContext = app.state.ctx
    return ctx


async def _run_demo(args: argparse.Namespace) -> int:
    from server.app import create_app

    settings = demo_settings(port=args.port, speed=args.speed)
    if os.environ.get(DATABASE_URL_ENV):
        print(
            f"sintonia demo: {DATABASE_URL_ENV} is ignored; the demo uses the embedded SQLite "
            f"file in {settings.data_dir}",
            file=sys.stderr,
        )
    app = create_app(settings)
    demo: list[DemoSession] = []
    watchers: set[asyncio.Task[None]] = set()
    stderr = sys.stderr

    async def _stop_when_over(ctx: AppContext, session_id: int, max_wall_s: float) -> None:
        # The hub stops the session when the simulated straps have played it all. A session the
        # therapist ended early (End session on the live page) keeps the server up, so that the
        # page's links to the review and the alliance form work, until Ctrl-C.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max_wall_s
        while ctx.hub.is_live(session_id) and loop.time() < deadline:
            await asyncio.sleep(_WATCH_S)
        if loop.time() < deadline - 2 * _END_GRACE_S:
            base = dashboard_url(server.host, server.port, ctx.token).split("/?")[0]
            print(
                f"demo session {session_id} ended before its time; its review is at "
                f"{base}/sessions/{session_id}/review?token={ctx.token} "
                "(Ctrl-C stops the server)",
                file=stderr,
                flush=True,
            )
            return
        server.stop()

    async def on_started(app: FastAPI) -> None:
        ctx = _context(app)
        prepared = await asyncio.to_thread(prepare_demo_session, ctx.store, minutes=args.minutes)
        demo.append(prepared)
        await ctx.hub.start_session(prepared.session_id, actor=DEMO_RECORDED_BY)
        url = dashboard_url(server.host, server.port, ctx.token)
        print(url, flush=True)
        minutes = prepared.template.total_s / _S_PER_MIN
        print(
            f"demo session {prepared.session_id}: {DEMO_PATIENT_CODE} and {DEMO_THERAPIST_CODE} "
            f"(simulated), {minutes:g} min at {args.speed:g}x real time "
            f"({minutes / args.speed:.3g} min); Ctrl-C stops",
            file=stderr,
            flush=True,
        )
        if not args.no_browser and browser_available():
            await asyncio.to_thread(webbrowser.open, url)
        wall_s = prepared.template.total_s / args.speed + _END_GRACE_S
        watchers.add(asyncio.create_task(_stop_when_over(ctx, prepared.session_id, wall_s)))

    async def before_shutdown(app: FastAPI) -> None:
        if not demo:
            return
        ctx = _context(app)
        sid = demo[0].session_id
        if ctx.hub.is_live(sid):
            await ctx.hub.stop_session(sid, actor=DEMO_RECORDED_BY)

    try:
        server = LoopbackServer(
            app, DEFAULT_HOST, args.port, on_started=on_started, before_shutdown=before_shutdown
        )
    except OSError as exc:
        print(f"sintonia demo: cannot listen on {DEFAULT_HOST}:{args.port}: {exc}", file=stderr)
        return 1
    await server.serve()
    if demo:
        _report_end(settings, demo[0].session_id)
    return 0


def review_hint(settings: ServerSettings, session_id: int, token: str) -> str:
    """The demo's last line: how to open the review of its session once the demo has exited.

    Examples
    --------
    >>> hint = review_hint(demo_settings({"SINTONIA_DATA_DIR": "/tmp/d"}), 7, "abc")
    >>> hint.split(", then open ")
    ['to review demo session 7: SINTONIA_DATA_DIR=/tmp/d sintonia serve', \
'http://127.0.0.1:8765/sessions/7/review?token=abc']
    """
    url = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}/sessions/{session_id}/review?token={token}"
    return (
        f"to review demo session {session_id}: SINTONIA_DATA_DIR={settings.data_dir} "
        f"sintonia serve, then open {url}"
    )


def _report_end(settings: ServerSettings, session_id: int) -> None:
    with Store.open(settings.storage, migrate=False) as store:
        session = store.get_session(session_id)
        n = store.count_beats(session_id)
    from server.auth import load_or_create_token

    token = load_or_create_token(settings.data_dir)
    print(f"demo session {session_id} {session.status}; {n} beats stored", file=sys.stderr)
    print(review_hint(settings, session_id, token), file=sys.stderr, flush=True)


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def run(args: argparse.Namespace) -> int:
    """Run ``sintonia demo`` with parsed arguments; returns the exit code."""
    return asyncio.run(_run_demo(args))


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``demo`` sub-command."""
    p = sub.add_parser(
        "demo",
        help="run the server with a simulated patient and therapist and open the dashboard",
        description="Start the server on the embedded SQLite database in SINTONIA_DATA_DIR, "
        "record a simulated patient (P-DEMO) and therapist (T-DEMO) with demo consents, start a "
        "session with the default phases, print the dashboard URL with its token and open a "
        "browser. Ctrl-C stops the session and the server.",
    )
    p.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port on 127.0.0.1 (default {DEFAULT_PORT}; 0 picks a free one)",
    )
    p.add_argument(
        "--speed",
        type=_positive,
        default=1.0,
        help="play the simulated straps N times faster than real time (default 1)",
    )
    p.add_argument(
        "--minutes",
        type=_positive,
        default=None,
        help="session length in simulated minutes; the phases are scaled to it (default 60); "
        "the demo stops when it is over",
    )
    p.add_argument("--no-browser", action="store_true", help="only print the URL")
    p.set_defaults(func=run)
