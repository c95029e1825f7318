"""``sintonia serve``, ``sintonia token`` and ``sintonia clinician add``.

``serve`` runs the app of :func:`server.app.create_app` under uvicorn. It binds 127.0.0.1 by
default; any other address needs ``--allow-remote`` and warns unless TLS is configured
(``--certfile`` and ``--keyfile``, also spelt ``--tls-cert``/``--tls-key``) or the server sits
behind a TLS reverse proxy (``--proxy-headers --forwarded-allow-ips PROXY``: uvicorn then takes
the client address and scheme from that proxy's ``X-Forwarded-*`` headers, and from no one
else's), since the token and health data would otherwise cross the network in clear. Host names
clients use are added with ``--allowed-host NAME`` (repeatable; also ``SINTONIA_ALLOWED_HOSTS``).
The patient's side (join page, ``/ws/ingest``) refuses clear HTTP from off loopback whatever the
options (:mod:`server.remote.transport`).

It binds the listening socket itself (so ``--port 0`` picks a free port and the real one is known)
and prints ONE line on stdout once the server accepts connections: the dashboard URL with the access
token, ``http://127.0.0.1:PORT/?token=TOKEN``. Everything else goes to stderr through logging.
``SINTONIA_DATA_DIR`` and ``SINTONIA_DATABASE_URL`` are honoured (``--database-url`` overrides the
latter).

``token`` prints the access token of the data directory (creating it on first use), and
``clinician add NAME`` creates a clinician account, reading the password from standard input
(asked twice without echo on a terminal; the first line of a pipe otherwise).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import ipaddress
import logging
import socket
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Final

from hrv.errors import SintoniaError
from server.auth import AuthError, hash_password, load_or_create_token
from server.settings import DEFAULT_HOST, DEFAULT_PORT, ServerSettings
from server.storage import Store

__all__ = [
    "ServeError",
    "check_bind",
    "dashboard_url",
    "is_loopback",
    "register",
    "run_server",
]

_log = logging.getLogger(__name__)

#: How often the start-up checks whether uvicorn accepts connections, s.
_READY_POLL_S: Final[float] = 0.02
_USAGE_ERROR: Final[int] = 2


class ServeError(SintoniaError):
    """The server cannot be started as asked (address not allowed, TLS half configured)."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (``127.0.0.0/8``, ``::1``) or ``localhost``.

    Examples
    --------
    >>> is_loopback("127.0.0.1"), is_loopback("::1"), is_loopback("0.0.0.0")
    (True, True, False)
    """
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve anywhere


def check_bind(host: str, *, allow_remote: bool, tls: bool, proxy: bool = False) -> str | None:
    """Check that binding ``host`` is allowed; return a warning to show, if any.

    Raises
    ------
    ServeError
        For a non-loopback address without ``allow_remote``.
    """
    if is_loopback(host):
        return None
    if not allow_remote:
        raise ServeError(
            f"refusing to listen on {host!r}: only loopback (127.0.0.1, ::1, localhost) is "
            "allowed without --allow-remote"
        )
    if not tls and not proxy:
        return (
            f"listening on {host!r} WITHOUT TLS: the access token and health data cross the "
            "network in clear; use --certfile and --keyfile, or a TLS reverse proxy with "
            "--proxy-headers"
        )
    return None


def dashboard_url(host: str, port: int, token: str, *, tls: bool = False) -> str:
    """The dashboard URL with the access token.

    An unspecified bind address (``0.0.0.0``, ``::``) is shown as 127.0.0.1; IPv6 literals get
    brackets.

    Examples
    --------
    >>> dashboard_url("127.0.0.1", 8765, "abc")
    'http://127.0.0.1:8765/?token=abc'
    >>> dashboard_url("::1", 443, "t", tls=True)
    'https://[::1]:443/?token=t'
    """
    shown = host
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        if address.is_unspecified:
            shown = "127.0.0.1"
        elif address.version == 6:
            shown = f"[{host}]"
    return f"{'https' if tls else 'http'}://{shown}:{port}/?token={token}"


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET
    try:
        if ipaddress.ip_address(host).version == 6:
            family = socket.AF_INET6
    except ValueError:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


async def run_server(
    settings: ServerSettings,
    *,
    on_ready: Callable[[str], None],
    proxy_headers: bool = False,
    forwarded_allow_ips: str = "127.0.0.1,::1",
) -> None:
    """Serve the app until stopped (SIGINT/SIGTERM); call ``on_ready(url)`` once it accepts.

    Parameters
    ----------
    settings : ServerSettings
        Host, port (0 for any free one), TLS files, data directory and database.
    on_ready : callable
        Receives the dashboard URL (with the token and the real port) when the lifespan has run
        and the socket accepts connections.
    proxy_headers : bool
        Take the client address and scheme from ``X-Forwarded-For`` / ``X-Forwarded-Proto``
        sent by ``forwarded_allow_ips`` (off by default: the headers are ignored).
    forwarded_allow_ips : str
        Comma-separated addresses of the trusted reverse proxies.
    """
    import uvicorn

    from server.app import create_app

    token = load_or_create_token(settings.data_dir)
    sock = _bind(settings.host, settings.port)
    port = int(sock.getsockname()[1])
    tls = settings.tls_certfile is not None
    config = uvicorn.Config(
        create_app(settings),
        lifespan="on",
        log_level="warning",
        ws="websockets-sansio",
        # compression costs the event loop most of its time with many live sessions and buys
        # nothing on loopback or a clinic LAN (measured with benchmarks/server.py)
        ws_per_message_deflate=False,
        ssl_certfile=None if settings.tls_certfile is None else str(settings.tls_certfile),
        ssl_keyfile=None if settings.tls_keyfile is None else str(settings.tls_keyfile),
        proxy_headers=proxy_headers,
        forwarded_allow_ips=forwarded_allow_ips,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()  # raises what made the start fail
                raise ServeError("the server stopped before it accepted connections")
            await asyncio.sleep(_READY_POLL_S)
        on_ready(dashboard_url(settings.host, port, token, tls=tls))
        await task
    finally:
        if not task.done():
            server.should_exit = True
            await task
        sock.close()


def _settings(args: argparse.Namespace) -> ServerSettings:
    settings = ServerSettings.from_env()
    if getattr(args, "database_url", None):
        settings = replace(
            settings, storage=replace(settings.storage, database_url=args.database_url)
        )
    return settings


def _serve(args: argparse.Namespace) -> int:
    if (args.tls_cert is None) != (args.tls_key is None):
        print(
            "sintonia serve: --certfile (--tls-cert) and --keyfile (--tls-key) go together",
            file=sys.stderr,
        )
        return _USAGE_ERROR
    tls = args.tls_cert is not None
    try:
        warning = check_bind(
            args.host, allow_remote=args.allow_remote, tls=tls, proxy=args.proxy_headers
        )
    except ServeError as exc:
        print(f"sintonia serve: {exc}", file=sys.stderr)
        return _USAGE_ERROR
    if warning:
        _log.warning("%s", warning)
        print(f"WARNING: {warning}", file=sys.stderr)
    settings = replace(
        _settings(args),
        host=args.host,
        port=args.port,
        allow_remote=args.allow_remote,
        tls_certfile=args.tls_cert,
        tls_keyfile=args.tls_key,
    )
    if args.allowed_host:
        settings = replace(settings, allowed_hosts=(*settings.allowed_hosts, *args.allowed_host))
    if args.broker_url:
        settings = replace(settings, broker_url=args.broker_url)
    if not 0.5 <= args.lease_ttl <= 600:
        print("sintonia serve: --lease-ttl must be between 0.5 and 600 s", file=sys.stderr)
        return _USAGE_ERROR
    settings = replace(settings, lease_ttl_s=args.lease_ttl)
    if settings.broker_url and not settings.storage.database_url:
        print(
            "sintonia serve: --broker-url (several processes) needs a PostgreSQL database "
            "(--database-url)",
            file=sys.stderr,
        )
        return _USAGE_ERROR
    if args.allow_remote and not settings.allowed_hosts:
        note = (
            "only the loopback names and the bind address are served: set "
            "--allowed-host (or SINTONIA_ALLOWED_HOSTS) to the names clients use (e.g. "
            "sintonia.clinic.lan)"
        )
        _log.warning("%s", note)
        print(f"WARNING: {note}", file=sys.stderr)

    def ready(url: str) -> None:
        print(url, flush=True)

    try:
        asyncio.run(
            run_server(
                settings,
                on_ready=ready,
                proxy_headers=args.proxy_headers,
                forwarded_allow_ips=args.forwarded_allow_ips,
            )
        )
    except (OSError, SintoniaError) as exc:
        print(f"sintonia serve: {exc}", file=sys.stderr)
        return 1
    return 0


def _token(args: argparse.Namespace) -> int:
    try:
        print(load_or_create_token(_settings(args).data_dir))
    except AuthError as exc:
        print(f"sintonia token: {exc}", file=sys.stderr)
        return 1
    return 0


def _read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("password: ")
        if getpass.getpass("again: ") != first:
            raise AuthError("the two passwords differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def _clinician_add(args: argparse.Namespace) -> int:
    from server.models import ClinicianIn

    try:
        password = _read_password()
        ClinicianIn(username=args.username, password=password)  # same rules as the API
        password_hash = hash_password(password)
        with Store.open(_settings(args).storage) as store:
            clinician = store.create_clinician(args.username, password_hash)
    except (SintoniaError, ValueError) as exc:
        print(f"sintonia clinician add: {exc}", file=sys.stderr)
        return 1
    print(f"created clinician {clinician.username!r} (id {clinician.id})")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``serve``, ``token`` and ``clinician`` sub-commands."""
    p = sub.add_parser(
        "serve",
        help="run the server (API, live WebSocket, dashboard)",
        description="Run the Sintonia server. Prints one line, the dashboard URL with the access "
        "token, once it accepts connections. Data: SINTONIA_DATA_DIR (SQLite) or "
        "SINTONIA_DATABASE_URL / --database-url (PostgreSQL).",
    )
    p.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST})")
    p.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0: any free)"
    )
    p.add_argument("--database-url", help="PostgreSQL (or SQLite) URL; default the SQLite file")
    p.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow binding a non-loopback address (warns unless TLS or a TLS proxy is set)",
    )
    p.add_argument(
        "--certfile", "--tls-cert", dest="tls_cert", type=Path, help="TLS certificate (PEM)"
    )
    p.add_argument("--keyfile", "--tls-key", dest="tls_key", type=Path, help="TLS key (PEM)")
    p.add_argument(
        "--proxy-headers",
        action="store_true",
        help="behind a TLS reverse proxy: trust X-Forwarded-For/-Proto from --forwarded-allow-ips",
    )
    p.add_argument(
        "--forwarded-allow-ips",
        default="127.0.0.1,::1",
        metavar="IPS",
        help="comma-separated addresses of the trusted proxies (default 127.0.0.1,::1)",
    )
    p.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a host name clients use (Host header); repeatable",
    )
    p.add_argument(
        "--broker-url",
        metavar="URL",
        help="several server processes on one PostgreSQL database: their message broker "
        "(redis://HOST:PORT/DB; also SINTONIA_BROKER_URL)",
    )
    p.add_argument(
        "--lease-ttl",
        type=float,
        default=5.0,
        metavar="S",
        help="a live session's lease, s: another process takes a dead one's sessions over "
        "within about this time (default 5)",
    )
    p.set_defaults(func=_serve)

    t = sub.add_parser(
        "token",
        help="print the API access token",
        description="Print the access token of the data directory (SINTONIA_DATA_DIR), creating "
        "it (mode 0600) if there is none yet.",
    )
    t.set_defaults(func=_token)

    c = sub.add_parser("clinician", help="manage clinician accounts")
    csub = c.add_subparsers(dest="clinician_command", metavar="ACTION")
    csub.required = True
    add = csub.add_parser(
        "add",
        help="create a clinician account",
        description="Create a clinician account; the password (8 characters or more) is read "
        "from standard input (asked twice on a terminal). Stored as an argon2id hash.",
    )
    add.add_argument("username", help="lower-case letters, digits, '.', '_', '-'")
    add.add_argument("--database-url", help="PostgreSQL (or SQLite) URL; default the SQLite file")
    add.set_defaults(func=_clinician_add)
