"""Several server processes on one database: session leases and message fan-out (issue 16).

The embedded default (SQLite, one process, no broker) needs nothing from here beyond a lease
that is always granted; PostgreSQL lets several processes share sessions, with Redis (or the
in-process broker for one process) carrying live messages between them.
"""

from __future__ import annotations

__all__: list[str] = []
