"""Server settings: where to listen, where the data is, how clients authenticate."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final

from server.storage.settings import StorageSettings

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "ServerSettings"]

DEFAULT_HOST: Final[str] = "127.0.0.1"
DEFAULT_PORT: Final[int] = 8765


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
    extra: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **overrides: object
    ) -> ServerSettings:
        """Settings from the environment (``SINTONIA_*``), then keyword overrides."""
        env = os.environ if environ is None else environ
        base = cls(storage=StorageSettings.from_env(env))
        return replace(base, **overrides)  # type: ignore[arg-type]

    @property
    def data_dir(self) -> Path:
        """The data directory (SQLite file, token file)."""
        return self.storage.data_dir
