"""The REST API (``/api/...``): sessions, participants, consents, live control, stored data.

``router`` is included by :func:`server.app.create_app`; the handlers take the store and the live
hub from :class:`server.context.AppContext` and never build them. Every route except
``GET /api/health`` needs credentials (:mod:`server.auth`); every view, export and deletion is
written to the audit log. Errors: unknown ids 404, a state that does not allow the operation 409,
invalid values 422 (each with a ``detail`` saying what was expected and what arrived).

Modules: :mod:`~server.api.system` (health, login, clinicians, audit),
:mod:`~server.api.participants` (participants, consents, erasure), :mod:`~server.api.sessions`
(plan, devices, start, stop), :mod:`~server.api.control` (phases, markers, cues, privacy pause),
:mod:`~server.api.data` (beats, timeline), :mod:`~server.api.devices` (BLE strap scan),
:mod:`~server.api.alliance` (SRS and WAI-SR scores).
"""

from __future__ import annotations

from fastapi import APIRouter

from server.api import alliance, control, data, devices, participants, sessions, system

__all__ = ["router"]

router = APIRouter()
for _module in (system, participants, sessions, control, data, devices, alliance):
    router.include_router(_module.router)
