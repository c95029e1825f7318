"""``sintonia demo``: its records (in process, fast) and the real command (subprocess, slow)."""

from __future__ import annotations

import math
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dashboard.phases import DEFAULT_FIRST_SESSION
from server.cli import build_parser
from server.cli.demo import (
    DEMO_CONSENT_VERSION,
    DEMO_PATIENT_CODE,
    DEMO_RECORDED_BY,
    DEMO_THERAPIST_CODE,
    browser_available,
    demo_settings,
    demo_template,
    prepare_demo_session,
    simulator_address,
)
from server.cli.serve import dashboard_url
from server.live.sources import simulator_seed
from server.storage import Store
from server.storage.records import CONSENT_PURPOSES
from tests.support import e2e


@pytest.fixture
def store() -> Iterator[Store]:
    with Store.open("sqlite://") as s:
        yield s


# ----------------------------------------------------------------------- records (fast)


def test_demo_records_participants_consents_and_a_planned_session(store: Store) -> None:
    demo = prepare_demo_session(store, minutes=6.0)
    patient = store.get_participant(demo.patient_id)
    therapist = store.get_participant(demo.therapist_id)
    assert (patient.code, patient.role) == (DEMO_PATIENT_CODE, "patient")
    assert (therapist.code, therapist.role) == (DEMO_THERAPIST_CODE, "therapist")
    for pid in (demo.patient_id, demo.therapist_id):
        consents = store.list_consents(pid)
        # Every purpose, each recorded as a demo consent, for all sessions.
        assert sorted(c.purpose for c in consents) == sorted(CONSENT_PURPOSES)
        assert {(c.version, c.recorded_by, c.session_id) for c in consents} == {
            (DEMO_CONSENT_VERSION, DEMO_RECORDED_BY, None)
        }
    session = store.get_session(demo.session_id)
    assert session.status == "planned"
    assert session.phase_template == demo_template(6.0).to_dict()
    assigned = store.session_participants(demo.session_id)
    assert [(a.participant_id, a.source_kind) for a in assigned] == [
        (demo.patient_id, "simulator"),
        (demo.therapist_id, "simulator"),
    ]
    # The live hub's factory reads the seed back from the address.
    assert {simulator_seed(a.address, demo.session_id) for a in assigned} == {7}


def test_a_second_demo_reuses_people_and_consents_but_adds_a_session(store: Store) -> None:
    first = prepare_demo_session(store)
    second = prepare_demo_session(store)
    assert (second.patient_id, second.therapist_id) == (first.patient_id, first.therapist_id)
    assert second.session_id != first.session_id
    assert len(store.list_consents(first.patient_id)) == len(CONSENT_PURPOSES)
    assert len(store.list_participants()) == 2


def test_demo_refuses_a_code_taken_with_the_other_role(store: Store) -> None:
    store.create_participant(DEMO_PATIENT_CODE, "therapist")
    with pytest.raises(ValueError, match="role 'therapist'"):
        prepare_demo_session(store)


@pytest.mark.parametrize("minutes", [1.0, 6.0, 60.0, 90.0])
def test_demo_template_scales_every_phase_in_proportion(minutes: float) -> None:
    template = demo_template(minutes)
    assert template.total_s == pytest.approx(minutes * 60.0, rel=1e-12)
    base = [p.duration_s / DEFAULT_FIRST_SESSION.total_s for p in DEFAULT_FIRST_SESSION.phases]
    got = [p.duration_s / template.total_s for p in template.phases]
    assert got == pytest.approx(base, rel=1e-12)
    assert [p.id for p in template.phases] == [p.id for p in DEFAULT_FIRST_SESSION.phases]


def test_demo_template_defaults_to_the_first_session_and_rejects_nonpositive() -> None:
    assert demo_template() is DEFAULT_FIRST_SESSION
    for bad in (0.0, -1.0, math.nan):
        with pytest.raises(ValueError, match="minutes must be > 0"):
            demo_template(bad)


def test_dashboard_url_is_the_line_scripts_parse() -> None:
    url = dashboard_url("127.0.0.1", 40123, "a-b_C9")
    m = e2e.URL_LINE.match(url)
    assert m is not None
    assert (m["port"], m["token"]) == ("40123", "a-b_C9")
    assert simulator_address(3) == "seed=3"


def test_the_demo_always_uses_the_embedded_sqlite_file(tmp_path: Path) -> None:
    env = {
        "SINTONIA_DATA_DIR": str(tmp_path),
        "SINTONIA_DATABASE_URL": "postgresql://clinic.example/sintonia",
    }
    settings = demo_settings(env, port=0, speed=50.0)
    assert settings.storage.database_url is None
    # its own directory: simulated people never share a database with real sessions
    demo_dir = tmp_path / "demo"
    assert settings.storage.url == f"sqlite+pysqlite:///{demo_dir / 'sintonia.sqlite'}"
    assert (settings.data_dir, settings.port, settings.speed) == (demo_dir, 0, 50.0)
    own = demo_settings({**env, "SINTONIA_DEMO_DATA_DIR": str(tmp_path / "elsewhere")})
    assert own.data_dir == tmp_path / "elsewhere"


def test_no_browser_without_a_display(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert browser_available() is False
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    assert browser_available() is True


def test_demo_command_line() -> None:
    parser = build_parser()
    args = parser.parse_args(["demo", "--port", "0", "--speed", "50", "--no-browser"])
    assert (args.port, args.speed, args.no_browser, args.minutes) == (0, 50.0, True, None)
    defaults = parser.parse_args(["demo"])
    assert (defaults.port, defaults.speed, defaults.no_browser) == (8765, 1.0, False)
    with pytest.raises(SystemExit):
        parser.parse_args(["demo", "--speed", "0"])


# ----------------------------------------------------------------------- real process (slow)


def _session(client: Any, session_id: int) -> dict[str, Any]:
    response = client.get(f"/api/sessions/{session_id}")
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


@pytest.mark.slow
def test_ctrl_c_stops_the_demo_session_and_keeps_every_beat(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = e2e.start_server(["demo", "--port", "0", "--speed", "50", "--no-browser"], data_dir)
    try:
        with server.client() as client:
            sid = e2e.session_ids(client)[0]
            assert _session(client, sid)["status"] == "live"
            seen = e2e.wait_until(lambda: e2e.beat_count(client, sid) >= 200 or None)
        code = server.stop(signal.SIGINT)
    finally:
        if server.proc.poll() is None:
            server.kill()
    assert code == 0, server.log()
    # Straight from the database the server used: stopped (not interrupted), nothing lost.
    with Store.open(f"sqlite:///{data_dir / 'sintonia.sqlite'}", migrate=False) as store:
        session = store.get_session(sid)
        assert session.status == "stopped"
        assert store.count_beats(sid) >= seen
        codes = {
            store.get_participant(p.participant_id).code for p in store.session_participants(sid)
        }
        assert codes == {DEMO_PATIENT_CODE, DEMO_THERAPIST_CODE}
    assert f"demo session {sid} stopped" in server.log()


@pytest.mark.slow
def test_the_demo_ends_by_itself_when_its_minutes_are_played(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    # 2 simulated minutes at 100x: 1.2 s of wall time.
    args = ["demo", "--port", "0", "--speed", "100", "--minutes", "2", "--no-browser"]
    server = e2e.start_server(args, data_dir)
    try:
        code = server.proc.wait(timeout=e2e.STOP_TIMEOUT_S)
    finally:
        if server.proc.poll() is None:
            server.kill()
        server.close_pipes()
    assert code == 0, server.log()
    with Store.open(f"sqlite:///{data_dir / 'sintonia.sqlite'}", migrate=False) as store:
        (session,) = store.list_sessions()
        assert session.status == "stopped"
        assert session.phase_template == demo_template(2.0).to_dict()
        # Two hearts for two minutes: well over 2 x 2 x 40 beats (HR stays above 40 bpm).
        assert store.count_beats(session.id) > 160
        entered = [e.phase_name for e in store.list_phase_events(session.id) if e.action == "enter"]
    # The last line says how to open the review once the demo has exited (issue 13).
    last = server.log().strip().splitlines()[-1]
    assert last.startswith(f"to review demo session {session.id}: SINTONIA_DATA_DIR="), last
    assert "sintonia serve, then open http://127.0.0.1:" in last
    assert f"/sessions/{session.id}/review?token={server.token}" in last
    assert entered[0] == "welcome"
    order = [p.id for p in DEFAULT_FIRST_SESSION.phases]
    assert entered == sorted(entered, key=order.index), "phases are entered in template order"
