"""Test support for the REST API tests: a fake live hub and an app built around it.

Imported by ``test_api_*.py`` and ``test_auth*.py`` as ``tests.support.api``.

:class:`FakeHub` implements the LiveHub methods that the API calls (``server_contract.md``) with
the store and a :class:`dashboard.phases.PhaseClock`, and records every call, so the API is tested
on its own; the tests that need the real hub use ``server.app.create_app``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI
from fastapi.testclient import TestClient

from dashboard.phases import PhaseClock, PhaseTemplate
from sensor.types import BeatBatch
from server.api import router
from server.auth import load_or_create_token
from server.cluster.coordinator import Coordinator
from server.context import AppContext
from server.settings import ServerSettings
from server.storage import BeatWriter, Marker, StorageSettings, Store


class FakeHub:
    """The live hub's API-facing methods, on the store, recording each call in ``calls``."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.live: set[int] = set()
        self.clocks: dict[int, PhaseClock] = {}
        self.paused: dict[tuple[int, int], bool] = {}
        self.pacer: dict[int, bool] = {}
        #: How far the (simulated, accelerated) session clock runs ahead of the host clock, s.
        self.clock_offset_s = 1000.0
        self.calls: list[tuple[Any, ...]] = []

    async def start_session(self, session_id: int, *, actor: str = "system") -> None:
        session = self.store.start_session(session_id, actor=actor)
        self.live.add(session_id)
        template = PhaseTemplate.from_dict(session.phase_template)
        self.clocks[session_id] = PhaseClock(template, start_s=self.store.now())
        self.calls.append(("start_session", session_id))

    async def stop_session(self, session_id: int, *, actor: str = "system") -> None:
        self.store.stop_session(session_id, actor=actor)
        self.live.discard(session_id)
        self.calls.append(("stop_session", session_id))

    def is_live(self, session_id: int) -> bool:
        return session_id in self.live

    def now(self, session_id: int) -> float:
        """The session clock: here a fixed offset from the store's clock, so tests can see it."""
        return self.store.now() + (self.clock_offset_s if session_id in self.live else 0.0)

    def speed(self, session_id: int) -> float:
        return 1.0

    async def set_pacer(self, session_id: int, on: bool) -> None:
        self.pacer[session_id] = on
        self.calls.append(("set_pacer", session_id, on))

    def _record(
        self, session_id: int, change: Any, action: str, extend_s: float | None, actor: str | None
    ) -> None:
        clock = self.clocks[session_id]
        self.store.record_phase_event(
            session_id,
            clock.template.index_of(change.phase_id),
            change.phase_id,
            action,  # type: ignore[arg-type]
            extend_s=extend_s,
            actor=actor,
        )

    async def advance_phase(self, session_id: int, *, actor: str | None = None) -> dict[str, Any]:
        change = self.clocks[session_id].advance(self.store.now())
        self._record(session_id, change, "enter", None, actor)
        self.calls.append(("advance_phase", session_id))
        return change.to_dict()

    async def extend_phase(
        self, session_id: int, by_s: float, *, actor: str | None = None
    ) -> dict[str, Any]:
        change = self.clocks[session_id].extend(self.store.now(), by_s)
        self._record(session_id, change, "extend", by_s, actor)
        self.calls.append(("extend_phase", session_id, by_s))
        return change.to_dict()

    async def marker_added(self, session_id: int, marker: Marker) -> None:
        self.calls.append(("marker_added", session_id, marker.id))

    async def marker_changed(self, session_id: int, marker: Marker) -> None:
        self.calls.append(("marker_changed", session_id, marker.id, marker.retracted))

    async def cue_responded(self, session_id: int, cue_id: int, response: str) -> None:
        self.calls.append(("cue_responded", session_id, cue_id, response))

    async def consent_changed(self, participant_id: int) -> None:
        self.calls.append(("consent_changed", participant_id))

    async def participant_erased(
        self, participant_id: int, action: str, *, session_id: int | None = None
    ) -> None:
        self.calls.append(("participant_erased", participant_id, action, session_id))

    async def set_privacy_pause(
        self, session_id: int, participant_id: int, paused: bool, *, actor: str | None = None
    ) -> None:
        self.paused[(session_id, participant_id)] = paused
        self.calls.append(("set_privacy_pause", session_id, participant_id, paused))

    async def aclose(self) -> None:
        self.live.clear()


def make_app(data_dir: Path, database_url: str | None = None) -> FastAPI:
    """The API router in an app whose lifespan builds the store, a writer and a :class:`FakeHub`.

    ``app.state.ctx`` is the :class:`AppContext` (``ctx.hub`` the fake) once the lifespan ran.
    """
    settings = ServerSettings(storage=StorageSettings(data_dir, database_url))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = Store.open(settings.storage)
        writer = BeatWriter(store)
        hub = FakeHub(store)
        cluster = Coordinator(store, hub, settings)  # type: ignore[arg-type]
        token = load_or_create_token(settings.data_dir)
        app.state.ctx = AppContext(settings, store, writer, token, hub, cluster)  # type: ignore[arg-type]
        try:
            yield
        finally:
            await hub.aclose()
            await cluster.aclose()
            writer.close()
            store.close()

    app = FastAPI(title="Sintonia (API tests)", lifespan=lifespan)
    app.include_router(router)
    return app


@contextmanager
def api_client(data_dir: Path, database_url: str | None = None) -> Iterator[TestClient]:
    """A TestClient (lifespan running) that sends the admin token as a Bearer header."""
    app = make_app(data_dir, database_url)
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {app.state.ctx.token}"
        yield client


def ctx_of(client: TestClient) -> AppContext:
    """The app context behind a client."""
    ctx: AppContext = client.app.state.ctx  # type: ignore[attr-defined]
    return ctx


def store_beats(
    store: Store,
    session_id: int,
    participant_id: int,
    rr_ms: np.ndarray,
    *,
    start_s: float = 1_700_000_000.0,
    seq: int = 0,
    device: str = "sim:0",
    gap_before: bool = True,
) -> np.ndarray:
    """Store one batch of beats (needs an active storage consent); returns their beat times."""
    rr = np.asarray(rr_ms, dtype=np.float64)
    times = start_s + np.cumsum(rr) / 1000.0
    batch = BeatBatch(
        participant="x",
        device=device,
        rr_ms=rr,
        rr_raw=tuple(round(r * 1.024) for r in rr.tolist()),
        host_time_s=float(times[-1]),
        beat_times_s=times,
        contact=True,
        seq=seq,
        gap_before=gap_before,
    )
    result = store.append_beats(session_id, participant_id, batch)
    assert result.inserted == len(rr), result
    return times


def live_dyad(client: TestClient, *, start: bool = True) -> tuple[int, int, int]:
    """A session with a patient and a therapist on the simulator; started by default."""
    pid = client.post("/api/participants", json={"code": "P-1", "role": "patient"}).json()["id"]
    tid = client.post("/api/participants", json={"code": "T-1", "role": "therapist"}).json()["id"]
    r = client.post(
        "/api/sessions",
        json={
            "template": {
                "name": "three",
                "phases": [
                    {"id": "welcome", "label": "Welcome", "minutes": 5},
                    {"id": "map", "label": "Map", "minutes": 10},
                    {"id": "closing", "label": "Closing", "minutes": 5},
                ],
            },
            "participants": [
                {"participant_id": pid, "device": {"kind": "simulator", "seed": 1}},
                {"participant_id": tid, "device": {"kind": "simulator", "seed": 1}},
            ],
        },
    )
    sid = r.json()["id"]
    for who in (pid, tid):  # markers and cues about a person are listed only with consent
        ctx_of(client).store.grant_consent(who, "review", "v1")
    if start:
        assert client.post(f"/api/sessions/{sid}/start").status_code == 200
    return sid, pid, tid
