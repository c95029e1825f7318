"""The live path: sources -> durable storage -> streaming engine -> WebSocket subscribers.

* :class:`LiveHub` runs live sessions (one runner per session, one engine for all) and fans
  their messages out (:mod:`server.messages`).
* :data:`SourceFactory`, :class:`SourceSpec` and :func:`default_source_factory` build a session's
  beat source from its device assignments (simulator, BLE straps, files).
* :class:`Subscription` is one client's bounded queue; ``router`` has the WebSocket route
  ``/ws/sessions/{id}``.
* :func:`live_synchrony_message`: the co-regulation reading (:mod:`hrv.coregulation`).
"""

from __future__ import annotations

from server.live.hub import HubStats, LiveHub
from server.live.sources import (
    MergedSource,
    SourceFactory,
    SourceParticipant,
    SourceSpec,
    default_source_factory,
)
from server.live.subscription import Envelope, Subscription
from server.live.synchrony import live_synchrony_message
from server.live.ws import router

__all__ = [
    "Envelope",
    "HubStats",
    "LiveHub",
    "MergedSource",
    "SourceFactory",
    "SourceParticipant",
    "SourceSpec",
    "Subscription",
    "default_source_factory",
    "live_synchrony_message",
    "router",
]
