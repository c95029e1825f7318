"""The live path: sources -> durable storage -> streaming engine -> WebSocket subscribers.

* :class:`LiveHub` runs live sessions (one runner per session, one engine for all) and fans
  their messages out (:mod:`server.messages`); its data path is :mod:`server.live.runtime`
  (storage first, :mod:`server.live.compute`, :mod:`server.live.ratelimit`), what it stores
  besides the beats :mod:`server.live.records`.
* :class:`LiveSession` holds one session's rules (phases, cues, arousal, privacy pause, consent,
  synchrony, coherence), synchronous and clock-injected: updates in, messages out
  (:mod:`server.live.session`, its state in :mod:`server.live.state`, display buffers in
  :mod:`server.live.display`).
* :data:`SourceFactory`, :class:`SourceSpec` and :func:`default_source_factory` build a session's
  beat source from its device assignments (simulator, BLE straps, files).
* :class:`Subscription` is one client's bounded queue; ``router`` has the WebSocket route
  ``/ws/sessions/{id}``.
* :func:`live_synchrony_message`: the co-regulation reading (:mod:`hrv.coregulation`).
"""

from __future__ import annotations

from server.live.hub import HubStats, LiveHub
from server.live.session import LiveSession
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
    "LiveSession",
    "MergedSource",
    "SourceFactory",
    "SourceParticipant",
    "SourceSpec",
    "Subscription",
    "default_source_factory",
    "live_synchrony_message",
    "router",
]
