"""Remote sessions (issue 15): join links, the patient's page, and the ingest protocol.

A patient at home joins a session through a join link (:mod:`server.remote.links`), gives or
refuses each consent purpose on the patient's page, and sends beats from a browser (Web
Bluetooth) or ``sintonia relay`` over one WebSocket protocol (:mod:`server.remote.protocol`);
the routes are in :mod:`server.remote.routes`.
"""

from __future__ import annotations

__all__: list[str] = []
