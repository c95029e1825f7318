"""The attack suite's world: a real app with two clinicians, data, revoked consent and erasure.

:func:`build_world` makes, through the real :func:`server.app.create_app` (loopback host, every
security setting at its default), three sessions of the clinician ``ana``:

* ``ok``: a patient who consents to storage, review and live display, with stored beats whose
  RR intervals are all :data:`SENTINEL_RR` ms, and a marker with the note ``note-ok-sentinel``:
  ana's own token reads both (the positive control that proves the sentinels are detectable);
* ``rev``: the same, then the patient's ``review`` consent revoked;
* ``del``: the same, then the patient's stored data deleted through the API;

and a second clinician ``bea`` who owns nothing of it, plus an expired login token of ana's. A
response "holds participant data" when it contains a sentinel (:func:`leaks`).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
from fastapi.testclient import TestClient

from dashboard.phases import DEFAULT_FIRST_SESSION
from sensor.types import BeatBatch
from server.api.devices import get_scanner
from server.app import create_app
from server.auth import hash_password, issue_login_token
from server.context import AppContext
from server.live.scripted import scripted_source_factory
from server.settings import ServerSettings
from server.storage import DeviceAssignment, StorageSettings, Store, schema
from server.storage.settings import make_engine

#: What the suite tried, printed at the end of the run (see conftest).
COUNTS: Counter[str] = Counter()

#: Every stored RR of the world's patients, ms (exact in binary: the JSON text is "777.125").
SENTINEL_RR: Final[float] = 777.125
PASSWORD: Final[str] = "correct horse battery"
#: The base address the TestClient uses: a loopback name the app serves by default.
BASE_URL: Final[str] = "http://127.0.0.1"


class _NoStraps:
    """A BLE scanner that finds nothing (the machine has no adapter)."""

    async def discover(self, timeout: float = 5.0, **kwargs: Any) -> dict[str, Any]:
        return {}


@dataclass
class World:
    """Tokens and ids of the attack suite's world (see the module)."""

    client: TestClient
    ctx: AppContext
    admin: str
    ana: str
    bea: str
    expired: str
    sessions: dict[str, int]
    patients: dict[str, int]
    cue_id: int

    def sentinels(self, tag: str) -> tuple[str, ...]:
        """The strings that show a patient's data of session ``tag`` in a response."""
        return (f"{SENTINEL_RR!r}", f"note-{tag}-sentinel")


def empty_tables(url: str) -> None:
    """Delete every row of a migrated database (the PostgreSQL schema is shared by a run)."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            for table in reversed(schema.metadata.sorted_tables):
                conn.execute(table.delete())
    finally:
        engine.dispose()


def leaks(text: str, sentinels: tuple[str, ...]) -> list[str]:
    """The sentinels found in a response text."""
    return [s for s in sentinels if s in text]


def store_sentinel_beats(store: Store, session_id: int, participant_id: int, n: int = 60) -> None:
    """Store ``n`` beats of :data:`SENTINEL_RR` ms for a participant (needs storage consent)."""
    rr = np.full(n, SENTINEL_RR)
    t0 = store.now() - 3600.0
    times = t0 + np.cumsum(rr) / 1000.0
    batch = BeatBatch(
        participant="x",
        device="strap-1",
        rr_ms=rr,
        rr_raw=tuple(round(r * 1.024) for r in rr.tolist()),
        host_time_s=float(times[-1]),
        beat_times_s=times,
        contact=True,
        seq=0,
        gap_before=True,
    )
    result = store.append_beats(session_id, participant_id, batch)
    assert result.inserted == n, result


def _session(store: Store, owner: int, tag: str) -> tuple[int, int]:
    patient = store.create_participant(f"P-{tag}", "patient", clinician_id=owner)
    therapist = store.create_participant(f"T-{tag}", "therapist", clinician_id=owner)
    for p in (patient, therapist):
        for purpose in ("storage", "review", "live_display"):
            store.grant_consent(p.id, purpose, "v1", at_s=0.0)
    session = store.create_session(
        DEFAULT_FIRST_SESSION.to_dict(),
        clinician_id=owner,
        label=f"session {tag}",
        participants=[
            DeviceAssignment(patient.id, "simulator"),
            DeviceAssignment(therapist.id, "simulator"),
        ],
    )
    store_sentinel_beats(store, session.id, patient.id)
    store.add_marker(session.id, "note", note=f"note-{tag}-sentinel", participant_id=patient.id)
    return session.id, patient.id


@contextmanager
def build_world(
    data_dir: Path, database_url: str | None = None, *, real_sources: bool = False, **settings: Any
) -> Iterator[World]:
    """The world of the module docstring, on SQLite in ``data_dir`` or on ``database_url``.

    Sessions stream scripted sources, or with ``real_sources`` the server's own source factory
    (simulator, files).
    """
    config = ServerSettings(storage=StorageSettings(data_dir, database_url), **settings)
    factory = None if real_sources else scripted_source_factory(pause_s=0.002)
    app = create_app(config, source_factory=factory)
    app.dependency_overrides[get_scanner] = lambda: _NoStraps()  # no Bluetooth adapter here
    # a loopback peer, as a real client of the default server (the patient's side is
    # refused in clear from anywhere else, server.remote.transport)
    with TestClient(app, base_url=BASE_URL, client=("127.0.0.1", 50000)) as client:
        ctx: AppContext = app.state.ctx
        store = ctx.store
        ana = store.create_clinician("ana", hash_password(PASSWORD))
        store.create_clinician("bea", hash_password(PASSWORD))
        sessions: dict[str, int] = {}
        patients: dict[str, int] = {}
        for tag in ("ok", "rev", "del"):
            sessions[tag], patients[tag] = _session(store, ana.id, tag)
        cue = store.add_cue(
            sessions["ok"], "pace", "consider a pause", {"why": "test"}, participant_id=None
        )
        admin = {"Authorization": f"Bearer {ctx.token}"}
        r = client.post(
            f"/api/participants/{patients['rev']}/consents/revoke",
            json={"purpose": "review"},
            headers=admin,
        )
        assert r.status_code == 200, r.text
        r = client.delete(f"/api/participants/{patients['del']}/data", headers=admin)
        assert r.status_code == 200, r.text
        tokens = {}
        for name in ("ana", "bea"):
            r = client.post("/api/auth/login", json={"username": name, "password": PASSWORD})
            assert r.status_code == 200, r.text
            tokens[name] = r.json()["token"]
        expired, _ = issue_login_token(ctx.token, "ana", now_s=time.time() - 13 * 3600.0)
        yield World(
            client=client,
            ctx=ctx,
            admin=ctx.token,
            ana=tokens["ana"],
            bea=tokens["bea"],
            expired=expired,
            sessions=sessions,
            patients=patients,
            cue_id=cue.id,
        )
