"""The Store against SQLite and PostgreSQL (every test runs on both: support/storage_fixtures)."""

from __future__ import annotations

import secrets
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import server.storage as storage_pkg
from sensor.types import BeatBatch, DeviceEvent
from server.storage import schema as t
from server.storage.errors import (
    DuplicateRecordError,
    InvalidRecordError,
    RecordNotFoundError,
    StateConflictError,
)
from server.storage.records import CONTACT_UNKNOWN, RR_RAW_MISSING, BeatCursor
from server.storage.store import DeviceAssignment, Store

TEMPLATE: dict[str, Any] = {
    "phases": [{"name": "welcome", "minutes": 10}, {"name": "closing", "minutes": 5}],
    "baseline_s": 180.0,
}


def make_batch(
    seq: int,
    n: int,
    *,
    device: str = "AA:BB:CC:DD:EE:01",
    t0_s: float = 1_700_000_000.0,
    rr_ms: float | None = None,
    raw: bool = True,
    contact: bool | None = True,
    gap: bool = False,
) -> BeatBatch:
    """``n`` beats starting at sequence number ``seq``; RR varies so every value is distinct."""
    k = np.arange(seq, seq + n, dtype=np.float64)
    rr = (800.0 + 37.0 * np.sin(k) + 0.1 * k) if rr_ms is None else np.full(n, rr_ms)
    raw_vals = tuple(round(r * 1.024) for r in rr) if raw else None
    beat_times = t0_s + 0.8 * k
    return BeatBatch(
        participant="patient",
        device=device,
        rr_ms=rr,
        rr_raw=raw_vals,
        host_time_s=float(beat_times[-1]) + 0.05 if n else t0_s,
        beat_times_s=beat_times,
        contact=contact,
        heart_rate_bpm=72,
        seq=seq,
        gap_before=gap,
    )


def dyad(store: Store) -> tuple[int, int, int]:
    """A session with a patient and a therapist, both consenting to storage."""
    patient = store.create_participant("P-001", "patient")
    therapist = store.create_participant("T-001", "therapist")
    session = store.create_session(
        TEMPLATE,
        participants=[
            DeviceAssignment(patient.id, "ble", "AA:BB:CC:DD:EE:01"),
            DeviceAssignment(therapist.id, "simulator", "seed=7"),
        ],
    )
    for pid in (patient.id, therapist.id):
        store.grant_consent(pid, "storage", "v1")
    return session.id, patient.id, therapist.id


def table_counts(store: Store) -> dict[str, int]:
    with store.engine.connect() as conn:
        return {
            table.name: int(
                conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            )
            for table in t.metadata.sorted_tables
        }


def test_public_surface_is_exported() -> None:
    for name in storage_pkg.__all__:
        assert hasattr(storage_pkg, name), name


# ---------------------------------------------------------------- participants, clinicians


def test_participant_create_get_list(store: Store) -> None:
    doc = store.create_clinician("dr.r", "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA")
    p = store.create_participant("P-001", "patient", clinician_id=doc.id)
    q = store.create_participant("T-001", "therapist")
    assert store.get_participant(p.id) == p
    assert store.get_participant_by_code("T-001") == q
    assert store.list_participants() == [p, q]
    assert store.list_participants(clinician_id=doc.id) == [p]
    assert store.get_clinician("dr.r") == doc


def test_participant_errors(store: Store) -> None:
    store.create_participant("P-001", "patient")
    with pytest.raises(DuplicateRecordError, match="P-001"):
        store.create_participant("P-001", "therapist")
    with pytest.raises(InvalidRecordError, match="role must be one of patient, therapist"):
        store.create_participant("P-002", "doctor")  # type: ignore[arg-type]
    with pytest.raises(RecordNotFoundError, match="participant"):
        store.get_participant(999)
    with pytest.raises(RecordNotFoundError):
        store.get_participant_by_code("nobody")
    store.create_clinician("a")
    with pytest.raises(DuplicateRecordError):
        store.create_clinician("a")


def test_check_constraints_are_in_the_database(store: Store) -> None:
    # Autogenerate does not compare CHECK constraints: prove the migration created them.
    with pytest.raises(sa.exc.IntegrityError), store.engine.begin() as conn:
        conn.execute(sa.insert(t.participants).values(code="X", role="doctor", created_at_s=0.0))
    with pytest.raises(sa.exc.IntegrityError), store.engine.begin() as conn:
        conn.execute(
            sa.insert(t.sessions).values(phase_template={}, status="paused", created_at_s=0.0)
        )


# ---------------------------------------------------------------- sessions


def test_session_life_cycle(store: Store, clock: Any) -> None:
    sid, patient, therapist = dyad(store)
    s = store.get_session(sid)
    assert (s.status, s.phase_template, s.started_at_s) == ("planned", TEMPLATE, None)
    assert [a.participant_id for a in store.session_participants(sid)] == [patient, therapist]
    assert store.session_participants(sid)[0].address == "AA:BB:CC:DD:EE:01"
    live = store.start_session(sid, at_s=clock.advance(60))
    assert (live.status, live.started_at_s) == ("live", clock.t_s)
    with pytest.raises(StateConflictError, match="expected planned or interrupted, found live"):
        store.start_session(sid)
    stopped = store.stop_session(sid, at_s=clock.advance(3600))
    assert (stopped.status, stopped.stopped_at_s) == ("stopped", clock.t_s)
    with pytest.raises(StateConflictError):
        store.stop_session(sid)
    assert [x.id for x in store.list_sessions(status="stopped")] == [sid]
    assert store.list_sessions(status="live") == []


def test_assign_device_replaces_the_source(store: Store) -> None:
    sid, patient, _ = dyad(store)
    store.assign_device(sid, DeviceAssignment(patient, "file", "/data/rec.csv"))
    row = store.session_participants(sid)[0]
    assert (row.source_kind, row.address) == ("file", "/data/rec.csv")
    with pytest.raises(InvalidRecordError):
        store.assign_device(sid, DeviceAssignment(patient, "usb"))  # type: ignore[arg-type]


def test_create_session_is_all_or_nothing(store: Store) -> None:
    p = store.create_participant("P-001", "patient")
    before = table_counts(store)
    with pytest.raises(RecordNotFoundError, match="participant"):
        store.create_session(
            TEMPLATE,
            participants=[DeviceAssignment(p.id, "ble", "X"), DeviceAssignment(404, "ble", "Y")],
        )
    assert table_counts(store) == before


def test_mark_interrupted_sessions(store: Store, clock: Any) -> None:
    sid, patient, _ = dyad(store)
    idle = store.create_session(TEMPLATE)
    store.start_session(idle.id)
    done = store.create_session(TEMPLATE)
    store.start_session(done.id)
    store.stop_session(done.id)
    planned = store.create_session(TEMPLATE)
    store.start_session(sid)
    store.append_beats(sid, patient, make_batch(0, 10))
    last_host = make_batch(0, 10).host_time_s
    assert store.mark_interrupted_sessions() == [sid, idle.id]
    assert store.get_session(sid).status == "interrupted"
    assert store.get_session(sid).stopped_at_s == pytest.approx(last_host, abs=1e-6)
    assert store.get_session(idle.id).stopped_at_s == store.get_session(idle.id).started_at_s
    assert store.get_session(done.id).status == "stopped"
    assert store.get_session(planned.id).status == "planned"
    assert store.mark_interrupted_sessions() == []
    assert [e.object_id for e in store.list_audit() if e.action == "session.interrupted"] == [
        str(sid),
        str(idle.id),
    ]
    resumed = store.start_session(sid)  # an interrupted session can be resumed
    assert resumed.status == "live"


# ---------------------------------------------------------------- consents


def test_consent_grant_query_revoke(store: Store, clock: Any) -> None:
    p = store.create_participant("P-001", "patient")
    s1 = store.create_session(TEMPLATE)
    s2 = store.create_session(TEMPLATE)
    t_grant = clock.t_s
    store.grant_consent(p.id, "live_display", "v2", recorded_by="demo")
    store.grant_consent(p.id, "synchrony", "v2", session_id=s1.id)
    assert store.has_consent(p.id, "live_display")
    assert not store.has_consent(p.id, "storage")
    assert store.has_consent(p.id, "synchrony", session_id=s1.id)
    assert not store.has_consent(p.id, "synchrony", session_id=s2.id)
    assert not store.has_consent(p.id, "synchrony")  # a session consent is not global
    assert not store.has_consent(p.id, "live_display", at_s=t_grant - 1.0)
    assert store.active_purposes(p.id, session_id=s1.id) == {"live_display", "synchrony"}
    t_revoke = clock.advance(100.0)
    rev = store.revoke_consent(p.id, "live_display", actor="dr.r")
    assert [c.purpose for c in rev.revoked] == ["live_display"]
    assert rev.revoked[0].revoked_at_s == t_revoke
    assert rev.erasure is None
    assert not store.has_consent(p.id, "live_display")
    assert store.has_consent(p.id, "live_display", at_s=t_revoke - 1.0)  # history kept
    assert store.revoke_consent(p.id, "live_display").revoked == ()
    consents = store.list_consents(p.id)
    assert [(c.purpose, c.revoked_at_s) for c in consents] == [
        ("live_display", t_revoke),
        ("synchrony", None),
    ]
    actions = [e.action for e in store.list_audit(object_type="consent")]
    assert actions == ["consent.grant", "consent.grant", "consent.revoke"]
    with pytest.raises(InvalidRecordError, match="purpose"):
        store.grant_consent(p.id, "marketing", "v1")  # type: ignore[arg-type]
    with pytest.raises(RecordNotFoundError):
        store.grant_consent(999, "storage", "v1")


def _fill(store: Store, sid: int, pid: int, *, device: str = "AA:BB:CC:DD:EE:01") -> None:
    store.append_beats(sid, pid, make_batch(0, 50, device=device))
    store.add_device_events(
        sid, pid, [DeviceEvent("x", device, "battery", 1.7e9, 80.0, {"addr": device})]
    )
    store.add_marker(sid, "silence", note="looked away at the window", participant_id=pid)
    store.add_cue(sid, "map_rise", "Consider slowing the pace.", {"z": 1.4}, participant_id=pid)
    store.record_alliance_scores(sid, pid, "SRS", "2003", {1: 9.0, 2: 8.5, 3: 7.0, 4: 9.5})


def test_revoking_storage_deletes_the_data(store: Store) -> None:
    sid, patient, therapist = dyad(store)
    _fill(store, sid, patient)
    _fill(store, sid, therapist)
    rev = store.revoke_consent(patient, "storage", actor="dr.r")
    assert rev.erasure is not None
    assert rev.erasure.action == "delete"
    assert rev.erasure.rows == {
        "beats": 50,
        "device_events": 1,
        "alliance_scores": 4,
        "markers": 1,
        "cues": 1,
        "session_participants": 1,
    }
    assert store.count_beats(sid, participant_id=patient) == 0
    assert store.count_beats(sid, participant_id=therapist) == 50  # untouched
    assert len(store.list_markers(sid)) == 1
    assert store.list_consents(patient)[0].revoked_at_s is not None  # the record stays
    assert store.list_audit(object_type="participant")[-1].action == "participant.delete"
    # Beats arriving after the revocation are refused, not stored.
    late = store.append_beats(sid, patient, make_batch(50, 5))
    assert (late.inserted, late.refused) == (0, 5)


def test_revoking_storage_can_deidentify(store: Store) -> None:
    p = store.create_participant("P-001", "patient")
    sid = store.create_session(TEMPLATE, participants=[DeviceAssignment(p.id, "ble", "AA")]).id
    store.grant_consent(p.id, "storage", "v1", on_revoke="deidentify")
    _fill(store, sid, p.id, device="AA:BB:CC:DD:EE:01")
    store.append_beats(sid, p.id, make_batch(0, 20, device="11:22:33:44:55:66"))
    original = store.read_beats(sid, participant_id=p.id)
    rev = store.revoke_consent(p.id, "storage")
    report = rev.erasure
    assert report is not None
    assert report.action == "deidentify"
    assert report.rows["beats"] == 70
    assert report.total == 70 + 1 + 4 + 1 + 1 + 1
    anon = store.get_participant(report.anonymous_participant_id or -1)
    assert anon.deidentified_at_s is not None
    assert anon.code.startswith("anon-")
    assert (anon.role, anon.clinician_id) == ("patient", None)
    assert store.count_beats(sid, participant_id=p.id) == 0
    moved = store.read_beats(sid, participant_id=anon.id)
    # Raw values survive exactly; device addresses do not.
    np.testing.assert_array_equal(moved.rr_ms, original.rr_ms)
    np.testing.assert_array_equal(moved.rr_raw, original.rr_raw)
    assert set(moved.device.tolist()) == {"device-1", "device-2"}
    assert store.list_markers(sid)[0].note is None
    assert store.list_device_events(sid)[0].detail == {}
    assert store.session_participants(sid)[0].address is None
    assert store.list_participants() == [p]  # the anonymous record is not listed by default


def test_session_consent_revocation_erases_only_that_session(store: Store) -> None:
    p = store.create_participant("P-001", "patient")
    s1 = store.create_session(TEMPLATE).id
    s2 = store.create_session(TEMPLATE).id
    store.grant_consent(p.id, "storage", "v1", session_id=s1)
    store.grant_consent(p.id, "storage", "v1", session_id=s2)
    store.append_beats(s1, p.id, make_batch(0, 10))
    store.append_beats(s2, p.id, make_batch(0, 10))
    rev = store.revoke_consent(p.id, "storage", session_id=s1)
    assert [c.session_id for c in rev.revoked] == [s1]
    assert rev.erasure is not None
    assert rev.erasure.session_id == s1
    assert (store.count_beats(s1), store.count_beats(s2)) == (0, 10)


def test_erasure_is_all_or_nothing(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    sid, patient, _ = dyad(store)
    _fill(store, sid, patient)
    before = table_counts(store)

    def fail(*args: Any, **kwargs: Any) -> int:
        raise RuntimeError("disk full")

    # The audit entry is written last, after every delete: failing there must undo them all.
    monkeypatch.setattr(Store, "_audit", staticmethod(fail))
    with pytest.raises(RuntimeError, match="disk full"):
        store.erase_participant_data(patient, "delete")
    with pytest.raises(RuntimeError):
        store.revoke_consent(patient, "storage")
    monkeypatch.undo()
    assert table_counts(store) == before
    assert store.has_consent(patient, "storage")


# ---------------------------------------------------------------- beats


def test_beats_round_trip_exactly(store: Store) -> None:
    sid, patient, therapist = dyad(store)
    a = make_batch(0, 5, gap=True)
    b = make_batch(5, 3, raw=False, contact=None)
    c = make_batch(0, 4, device="sim:7", contact=False, t0_s=1_700_000_000.3)
    result = store.append_beat_batches([(sid, patient, a), (sid, patient, b), (sid, therapist, c)])
    assert (result.inserted, result.duplicates, result.refused) == (12, 0, 0)
    page = store.read_beats(sid, participant_id=patient)
    np.testing.assert_array_equal(page.rr_ms, np.concatenate([a.rr_ms, b.rr_ms]))  # float64 exact
    np.testing.assert_array_equal(page.seq, np.arange(8))
    np.testing.assert_array_equal(
        page.beat_time_s, np.concatenate([a.beat_times_s, b.beat_times_s])
    )
    assert page.rr_raw.tolist() == list(a.rr_raw or ()) + [RR_RAW_MISSING] * 3
    assert page.contact.tolist() == [1] * 5 + [CONTACT_UNKNOWN] * 3
    assert page.gap_before.tolist() == [True] + [False] * 7
    assert page.host_time_s.tolist() == [a.host_time_s] * 5 + [b.host_time_s] * 3
    assert page.next_cursor is None
    assert store.read_beats(sid, participant_id=therapist).contact.tolist() == [0] * 4
    assert store.count_beats(sid) == 12


def test_beat_append_is_idempotent(store: Store) -> None:
    sid, patient, _ = dyad(store)
    first = store.append_beats(sid, patient, make_batch(0, 100))
    again = store.append_beats(sid, patient, make_batch(0, 100))
    overlap = store.append_beats(sid, patient, make_batch(90, 20))
    assert (first.inserted, first.duplicates) == (100, 0)
    assert (again.inserted, again.duplicates) == (0, 100)
    assert (overlap.inserted, overlap.duplicates) == (10, 10)
    assert store.count_beats(sid) == 110
    # First write wins: a retry with different values does not overwrite raw data.
    store.append_beats(sid, patient, make_batch(0, 1, rr_ms=999.0))
    assert store.read_beats(sid, limit=1).rr_ms[0] == make_batch(0, 1).rr_ms[0]


def test_beats_need_storage_consent(store: Store) -> None:
    p = store.create_participant("P-9", "patient")
    sid = store.create_session(TEMPLATE).id
    result = store.append_beats(sid, p.id, make_batch(0, 7))
    assert (result.inserted, result.refused) == (0, 7)
    assert store.count_beats(sid) == 0
    store.grant_consent(p.id, "storage", "v1", session_id=sid)
    assert store.append_beats(sid, p.id, make_batch(0, 7)).inserted == 7


def test_malformed_batches_store_nothing(store: Store) -> None:
    # a corrupt RR value no longer fails its batch (tests/server/test_write_invalid_rr.py);
    # an unknown session or a malformed batch still stores nothing
    sid, patient, _ = dyad(store)
    good = make_batch(0, 10)
    with pytest.raises(RecordNotFoundError, match="session"):
        store.append_beat_batches([(sid, patient, good), (777, patient, good)])
    with pytest.raises(InvalidRecordError, match="one time per RR"):
        store.append_beats(
            sid, patient, BeatBatch("p", "d", np.ones(2) * 800, None, 1.0, np.ones(3))
        )
    assert store.count_beats(sid) == 0


def test_large_batch_is_chunked(store: Store) -> None:
    sid, patient, _ = dyad(store)
    assert store.append_beats(sid, patient, make_batch(0, 2_500)).inserted == 2_500
    assert store.count_beats(sid, participant_id=patient) == 2_500


def test_beat_paging_visits_every_beat_once_in_time_order(store: Store) -> None:
    sid, patient, therapist = dyad(store)
    store.append_beats(sid, patient, make_batch(0, 57))
    store.append_beats(sid, therapist, make_batch(0, 43, device="sim:1", t0_s=1_700_000_000.4))
    # Same beat times for two devices of one participant: the cursor must break the tie.
    store.append_beats(sid, therapist, make_batch(0, 5, device="sim:0", t0_s=1_700_000_000.4))
    pages, cursor = [], None
    while True:
        page = store.read_beats(sid, after=cursor, limit=10)
        pages.append(page)
        cursor = page.next_cursor
        if cursor is None:
            break
    keys = [
        (bt, p, d, s)
        for pg in pages
        for bt, p, d, s in zip(pg.beat_time_s, pg.participant_id, pg.device, pg.seq, strict=True)
    ]
    assert len(keys) == 105
    assert keys == sorted(keys)
    assert len(set(keys)) == 105
    assert [len(pg) for pg in pages] == [10] * 10 + [5]
    assert isinstance(pages[0].next_cursor, BeatCursor)


def test_read_all_beats_joins_the_pages(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    sid, patient, therapist = dyad(store)
    store.append_beats(sid, patient, make_batch(0, 25))
    store.append_beats(sid, therapist, make_batch(0, 20, device="sim:1", t0_s=1_700_000_000.4))
    one_page = store.read_beats(sid)
    monkeypatch.setattr("server.storage.beats.MAX_BEAT_PAGE_SIZE", 7)  # force several pages
    joined = store.read_all_beats(sid)
    assert joined.next_cursor is None
    for field in ("participant_id", "device", "seq", "rr_ms", "rr_raw", "beat_time_s", "contact"):
        np.testing.assert_array_equal(getattr(joined, field), getattr(one_page, field))
    assert len(store.read_all_beats(sid, participant_id=therapist)) == 20


def test_beat_paging_by_participant_and_time(store: Store) -> None:
    sid, patient, therapist = dyad(store)
    batch = make_batch(0, 100)
    store.append_beats(sid, patient, batch)
    store.append_beats(sid, therapist, make_batch(0, 100, device="sim:1"))
    start, end = batch.beat_times_s[20], batch.beat_times_s[30]
    page = store.read_beats(sid, participant_id=patient, start_s=start, end_s=end)
    np.testing.assert_array_equal(page.seq, np.arange(20, 30))
    assert set(page.participant_id.tolist()) == {patient}
    with pytest.raises(InvalidRecordError, match="limit"):
        store.read_beats(sid, limit=0)
    with pytest.raises(RecordNotFoundError):
        store.read_beats(12345)


# ---------------------------------------------------------------- events


def test_device_events(store: Store) -> None:
    sid, patient, _ = dyad(store)
    stranger = store.create_participant("P-X", "patient")  # no storage consent
    events = [
        DeviceEvent("patient", "AA", "connected", 10.0),
        DeviceEvent("patient", "AA", "battery", 11.0, 87.0, {"source": "0x2A19"}),
    ]
    assert store.add_device_events(sid, patient, events) == 2
    assert store.add_device_events(sid, stranger.id, events) == 0
    assert store.add_device_events(sid, None, [DeviceEvent("?", "BB", "info", 9.0)]) == 1
    stored = store.list_device_events(sid)
    assert [(e.kind, e.time_s, e.value) for e in stored] == [
        ("info", 9.0, None),
        ("connected", 10.0, None),
        ("battery", 11.0, 87.0),
    ]
    assert stored[2].detail == {"source": "0x2A19"}
    assert len(store.list_device_events(sid, participant_id=patient)) == 2


def test_phase_events_markers_and_cues(store: Store, clock: Any) -> None:
    sid, patient, _ = dyad(store)
    store.record_phase_event(sid, 0, "welcome", "enter", actor="dr.r")
    clock.advance(600)
    store.record_phase_event(sid, 0, "welcome", "extend", extend_s=120.0)
    with pytest.raises(InvalidRecordError, match="extend_s"):
        store.record_phase_event(sid, 0, "welcome", "extend")
    phases = store.list_phase_events(sid)
    assert [(p.action, p.extend_s, p.time_s - phases[0].time_s) for p in phases] == [
        ("enter", None, 0.0),
        ("extend", 120.0, 600.0),
    ]
    m = store.add_marker(sid, "rupture", note="free text", participant_id=patient)
    assert store.list_markers(sid) == [m]
    cue = store.add_cue(sid, "pace", "Consider a pause.", {"arousal": 1.2, "phase": "map"})
    clock.advance(5)
    answered = store.respond_to_cue(cue.id, "acknowledged")
    assert (answered.response, answered.responded_at_s) == ("acknowledged", clock.t_s)
    assert answered.reason == {"arousal": 1.2, "phase": "map"}
    with pytest.raises(StateConflictError, match="already answered"):
        store.respond_to_cue(cue.id, "dismissed")
    with pytest.raises(RecordNotFoundError):
        store.respond_to_cue(999, "dismissed")
    assert store.list_cues(sid) == [answered]


def test_alliance_scores(store: Store) -> None:
    sid, patient, _ = dyad(store)
    srs = store.record_alliance_scores(
        sid, patient, "SRS", "2003", {1: 8.0, 2: 9.5, 3: 7.25, 4: 10.0}
    )
    assert [(a.item, a.score) for a in srs] == [(1, 8.0), (2, 9.5), (3, 7.25), (4, 10.0)]
    assert sum(a.score for a in srs) == 34.75  # the SRS total (0-40)
    wai = {i: float(1 + i % 5) for i in range(1, 13)}
    store.record_alliance_scores(sid, patient, "WAI-SR", "2006", wai)
    replaced = store.record_alliance_scores(sid, patient, "SRS", "2003", {1: 5.0})
    assert [(a.item, a.score) for a in replaced] == [(1, 5.0)]
    assert len(store.list_alliance_scores(session_id=sid)) == 13
    assert len(store.list_alliance_scores(participant_id=patient, instrument="WAI-SR")) == 12
    with pytest.raises(InvalidRecordError, match=r"SRS items are 1-4, got item 5"):
        store.record_alliance_scores(sid, patient, "SRS", "2003", {5: 1.0})
    with pytest.raises(InvalidRecordError, match=r"WAI-SR item 2 score must be in \[1, 5\]"):
        store.record_alliance_scores(sid, patient, "WAI-SR", "2006", {2: 0.0})
    with pytest.raises(sa.exc.IntegrityError), store.engine.begin() as conn:
        conn.execute(
            sa.insert(t.alliance_scores).values(
                session_id=sid,
                participant_id=patient,
                instrument="SRS",
                version="x",
                item=1,
                score=11.0,
                recorded_at_s=0.0,
            )
        )
    assert len(store.list_alliance_scores(session_id=sid)) == 13


def test_audit_log(store: Store) -> None:
    sid, _, _ = dyad(store)
    entry = store.audit("dr.r", "session.view", "session", sid, {"via": "api"})
    assert store.list_audit(object_type="session", object_id=sid)[-1] == entry
    everything = store.list_audit()
    assert [e.id for e in everything] == sorted(e.id for e in everything)
    assert store.list_audit(after_id=everything[-2].id) == [everything[-1]]


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],  # each example: its own session
)
@given(
    spans=st.lists(
        st.tuples(st.integers(0, 60), st.integers(1, 12), st.sampled_from(["d1", "d2"])),
        min_size=1,
        max_size=12,
    ),
    page_size=st.integers(1, 40),
)
def test_retried_appends_store_the_union_and_paging_sees_it_once(
    store: Store, spans: list[tuple[int, int, str]], page_size: int
) -> None:
    # Property: any sequence of overlapping (retried) batches stores exactly the union of their
    # beats, the counts add up, and keyset paging returns each stored beat once, in key order.
    p = store.create_participant(f"P-{secrets.token_hex(4)}", "patient")
    sid = store.create_session(TEMPLATE).id
    store.grant_consent(p.id, "storage", "v1", session_id=sid)
    union: set[tuple[str, int]] = set()
    inserted = duplicates = 0
    for seq, n, device in spans:
        r = store.append_beats(sid, p.id, make_batch(seq, n, device=device))
        inserted, duplicates = inserted + r.inserted, duplicates + r.duplicates
        union |= {(device, s) for s in range(seq, seq + n)}
    assert inserted == len(union) == store.count_beats(sid)
    assert duplicates == sum(n for _, n, _ in spans) - len(union)
    seen: list[tuple[float, str, int]] = []
    cursor = None
    while True:
        page = store.read_beats(sid, after=cursor, limit=page_size)
        seen += zip(page.beat_time_s.tolist(), page.device.tolist(), page.seq.tolist(), strict=True)
        if (cursor := page.next_cursor) is None:
            break
    assert seen == sorted(seen)
    assert {(d, s) for _, d, s in seen} == union
    assert len(seen) == len(union)


def test_strings_must_fit_their_columns(store: Store) -> None:
    # PostgreSQL enforces VARCHAR lengths and SQLite does not: the store checks for both.
    sid, patient, _ = dyad(store)
    with pytest.raises(InvalidRecordError, match="phase_name must be a string of 1-64"):
        store.record_phase_event(sid, 0, "x" * 65, "enter")
    with pytest.raises(InvalidRecordError, match="consent version"):
        store.grant_consent(patient, "review", "v" * 33)
    with pytest.raises(InvalidRecordError, match="label"):
        store.create_session(TEMPLATE, label="")
    long_device = "file:" + "/very/long/path" * 40  # devices and addresses are unbounded text
    assert store.append_beats(sid, patient, make_batch(0, 3, device=long_device)).inserted == 3
    store.assign_device(sid, DeviceAssignment(patient, "file", long_device))
    assert store.session_participants(sid)[0].address == long_device
