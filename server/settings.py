"""Server settings: where to listen, where the data is, how clients authenticate."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final

from server.storage.settings import StorageSettings

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_REPLAY_BYTES",
    "DEFAULT_PORT",
    "LOOPBACK_HOSTS",
    "ServerSettings",
]

DEFAULT_HOST: Final[str] = "127.0.0.1"
DEFAULT_PORT: Final[int] = 8765
#: Host names served by default (the ``Host`` header without its port): loopback only, so a
#: DNS-rebinding page (``evil.example`` resolving to 127.0.0.1) is refused.
LOOPBACK_HOSTS: Final[tuple[str, ...]] = ("127.0.0.1", "localhost", "::1", "[::1]")
#: Largest request body accepted, bytes (the biggest legitimate body, a session plan with its
#: phase template, is a few kB).
DEFAULT_MAX_BODY_BYTES: Final[int] = 1_000_000
#: Largest file a session may replay, bytes (a 24 h recording of RR intervals at 200 bpm written
#: as text is about 2 MB; a Sintonia beats file about 20 MB).
DEFAULT_MAX_REPLAY_BYTES: Final[int] = 32_000_000

REPLAY_DIR_ENV: Final[str] = "SINTONIA_REPLAY_DIR"
ALLOWED_HOSTS_ENV: Final[str] = "SINTONIA_ALLOWED_HOSTS"
CLINICIAN_FILES_ENV: Final[str] = "SINTONIA_CLINICIAN_FILE_SOURCES"
API_DOCS_ENV: Final[str] = "SINTONIA_API_DOCS"
#: The message broker between server processes (``redis://HOST:PORT/DB``).
BROKER_URL_ENV: Final[str] = "SINTONIA_BROKER_URL"


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """Everything the app factory needs; built once at the composition root.

    Attributes
    ----------
    storage : StorageSettings
        Data directory and database URL (``SINTONIA_DATA_DIR``, ``SINTONIA_DATABASE_URL``).
    host, port : str, int
        Where uvicorn listens; loopback by default.
    allow_remote : bool
        Must be True to bind a non-loopback address (``--allow-remote``).
    tls_certfile, tls_keyfile : Path or None
        TLS for a non-loopback bind.
    speed : float
        Simulated-clock speed-up for simulated sources (``sintonia demo --speed``); 1 = real time.
    history_s : float
        How much recent history a late-joining WebSocket client receives, s.
    max_ws_messages_per_s : float
        Upper bound of live messages per second per session sent to a subscriber.
    replay_dir : Path or None
        The only folder whose files a session may replay (``SINTONIA_REPLAY_DIR``); None: file
        replay is off. Never the data directory.
    clinician_file_sources : bool
        Whether clinicians (not only the admin token) may assign a file to replay
        (``SINTONIA_CLINICIAN_FILE_SOURCES=1``); off by default.
    max_replay_bytes : int
        Largest file a session may replay, bytes.
    allowed_hosts : tuple of str
        Host names (``Host`` header without port) the server answers; loopback names plus
        ``host`` by default, more from ``SINTONIA_ALLOWED_HOSTS`` (comma-separated).
    max_body_bytes : int
        Largest request body, bytes (413 beyond, checked before the body is read).
    api_docs : bool
        Serve ``/docs`` and ``/redoc`` (``SINTONIA_API_DOCS=1``); off by default. The OpenAPI
        document ``/openapi.json`` is always served (it holds no data).
    broker_url : str or None
        The message broker between server processes (``--broker-url``, ``SINTONIA_BROKER_URL``:
        ``redis://HOST:PORT/DB``); None: one process (the in-process broker). Needs PostgreSQL.
    lease_ttl_s : float
        Lifetime of a live session's lease, s (``--lease-ttl``): another process takes a dead
        owner's sessions over within about this time.
    node_id : str or None
        This process's id among the cluster's (default ``pid-random``).
    """

    storage: StorageSettings
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    allow_remote: bool = False
    tls_certfile: Path | None = None
    tls_keyfile: Path | None = None
    speed: float = 1.0
    history_s: float = 600.0
    max_ws_messages_per_s: float = 4.0
    replay_dir: Path | None = None
    clinician_file_sources: bool = False
    max_replay_bytes: int = DEFAULT_MAX_REPLAY_BYTES
    allowed_hosts: tuple[str, ...] = ()
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    api_docs: bool = False
    broker_url: str | None = None
    lease_ttl_s: float = 5.0
    node_id: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **overrides: object
    ) -> ServerSettings:
        """Settings from the environment (``SINTONIA_*``), then keyword overrides."""
        env = os.environ if environ is None else environ
        replay = env.get(REPLAY_DIR_ENV, "").strip()
        hosts = tuple(h.strip() for h in env.get(ALLOWED_HOSTS_ENV, "").split(",") if h.strip())
        base = cls(
            storage=StorageSettings.from_env(env),
            replay_dir=Path(replay).expanduser() if replay else None,
            clinician_file_sources=_flag(env.get(CLINICIAN_FILES_ENV)),
            allowed_hosts=hosts,
            api_docs=_flag(env.get(API_DOCS_ENV)),
            broker_url=env.get(BROKER_URL_ENV, "").strip() or None,
        )
        return replace(base, **overrides)  # type: ignore[arg-type]

    @property
    def served_hosts(self) -> frozenset[str]:
        """Every host name the server answers: loopback names, ``host`` and ``allowed_hosts``."""
        names = {*LOOPBACK_HOSTS, self.host, *self.allowed_hosts}
        return frozenset(n.strip().lower().strip("[]") for n in names if n.strip())

    @property
    def data_dir(self) -> Path:
        """The data directory (SQLite file, token file)."""
        return self.storage.data_dir


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")
