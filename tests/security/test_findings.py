"""One test per confirmed finding of issue 12 not already covered by the corpus or the matrix.

(Findings 1, 2, 5, 8 and 12 are in ``test_bad_inputs.py``; the access matrix covers every route.)
Each test failed on the code before the fix.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dashboard.figures import plain_text
from dashboard.phases import DEFAULT_FIRST_SESSION
from server.app import create_app
from server.messages import BeatsMessage, HistoryMessage, parse_message
from server.settings import ServerSettings
from server.storage import DeviceAssignment, StorageSettings
from tests.support.security import (
    BASE_URL,
    COUNTS,
    PASSWORD,
    SENTINEL_RR,
    World,
    build_world,
    store_sentinel_beats,
)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with build_world(tmp_path / "data") as w:
        yield w


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# ---------------------------------------------------------------------------- finding 3


def test_review_revocation_hides_the_person_on_every_read_path(world: World) -> None:
    """After ``review`` is revoked: no beats, no timeline series, no markers or cues about them;
    asking for them by code is the same 404 as an unknown code."""
    sid, pid = world.sessions["rev"], world.patients["rev"]
    c, h = world.client, _auth(world.ana)
    beats = c.get(f"/api/sessions/{sid}/beats", headers=h).json()
    assert beats["n"] == 0
    assert str(SENTINEL_RR) not in str(beats)
    timeline = c.get(f"/api/sessions/{sid}/timeline", headers=h).json()
    assert all(p["participant_id"] != pid for p in timeline["participants"])
    assert all(m["participant_id"] != pid for m in timeline["markers"])
    assert c.get(f"/api/sessions/{sid}/markers", headers=h).json() == []
    world.ctx.store.add_cue(sid, "pace", "consider a pause", {}, participant_id=pid)
    assert c.get(f"/api/sessions/{sid}/cues", headers=h).json() == []
    by_code = c.get(f"/api/sessions/{sid}/beats", params={"participant": "P-rev"}, headers=h)
    unknown = c.get(f"/api/sessions/{sid}/beats", params={"participant": "nobody"}, headers=h)
    assert by_code.status_code == unknown.status_code == 404
    assert by_code.json()["detail"].replace("P-rev", "X") == unknown.json()["detail"].replace(
        "nobody", "X"
    )
    # The control: with the consent, the same reads show the person.
    ok = world.sessions["ok"]
    assert c.get(f"/api/sessions/{ok}/beats", headers=h).json()["n"] > 0
    assert c.get(f"/api/sessions/{ok}/markers", headers=h).json() != []


# ---------------------------------------------------------------------------- finding 4


def _history_times(client: TestClient, sid: int, token: str, pid: int) -> list[float]:
    """Beat times of a participant in the history a new WebSocket client receives."""
    with client.websocket_connect(f"ws://127.0.0.1/ws/sessions/{sid}?token={token}") as ws:
        first = parse_message(ws.receive_text())
    assert isinstance(first, HistoryMessage)
    return [t for p in first.beats if p.participant_id == pid for t in p.time_s]


def _wait_for_beats(client: TestClient, sid: int, token: str, pid: int) -> None:
    with client.websocket_connect(f"ws://127.0.0.1/ws/sessions/{sid}?token={token}") as ws:
        n = 0
        while n < 20:
            msg = parse_message(ws.receive_text())
            if isinstance(msg, BeatsMessage):
                n += sum(len(p.time_s) for p in msg.participants if p.participant_id == pid)


@pytest.mark.parametrize("how", ["delete", "revoke_storage"])
def test_erasure_reaches_the_live_session_at_once(world: World, how: str) -> None:
    """Deleting a person's data or revoking ``storage`` during a live session purges the hub's
    memory of their beats (a new client gets none) and nothing more of theirs is stored."""
    c, h = world.client, _auth(world.admin)
    store = world.ctx.store
    pid = world.patients["ok"]
    therapist = store.get_participant_by_code("T-ok").id
    sid = store.create_session(
        DEFAULT_FIRST_SESSION.to_dict(),
        participants=[
            DeviceAssignment(pid, "simulator"),
            DeviceAssignment(therapist, "simulator"),
        ],
    ).id
    assert c.post(f"/api/sessions/{sid}/start", headers=h).status_code == 200
    _wait_for_beats(c, sid, world.admin, pid)
    before = _history_times(c, sid, world.admin, pid)
    assert before  # the control: the hub holds the patient's beats
    if how == "delete":
        r = c.delete(f"/api/participants/{pid}/data", params={"session_id": sid}, headers=h)
    else:
        r = c.post(
            f"/api/participants/{pid}/consents/revoke", json={"purpose": "storage"}, headers=h
        )
    assert r.status_code == 200, r.text
    # Beats shown live after the erasure may be in the history (live display is still agreed
    # to), but none from before it.
    assert all(t > max(before) for t in _history_times(c, sid, world.admin, pid))
    # The therapist's beats still flow: wait for more of them, then nothing of the patient's
    # may have been stored since the erasure.
    _wait_for_beats(c, sid, world.admin, therapist)
    assert c.post(f"/api/sessions/{sid}/stop", headers=h).status_code == 200
    assert len(store.read_beats(sid, participant_id=pid)) == 0


# ---------------------------------------------------------------------------- finding 6


def test_files_are_private_in_a_directory_others_can_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    old = os.umask(0o022)  # a usual login umask: new files would be 0644
    try:
        with caplog.at_level(logging.WARNING), build_world(data):
            names = sorted(p.name for p in data.iterdir() if p.is_file())
            modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in data.iterdir() if p.is_file()}
    finally:
        os.umask(old)
    assert {"sintonia.sqlite", "sintonia.sqlite-wal", "token"} <= set(names)
    assert modes == dict.fromkeys(names, 0o600)
    assert any("other users may list it" in r.getMessage() for r in caplog.records)


def test_the_command_line_sets_a_private_umask(tmp_path: Path) -> None:
    from server.cli import main

    old = os.umask(0o022)
    try:
        main(["analyze", str(tmp_path / "missing.txt")])
        current = os.umask(0o022)
    finally:
        os.umask(old)
    assert current == 0o077


# ---------------------------------------------------------------------------- finding 7


def _login(c: TestClient, user: str, password: str) -> Any:
    return c.post("/api/auth/login", json={"username": user, "password": password})


def test_wrong_passwords_are_throttled_and_audited(world: World) -> None:
    c = world.client
    codes = [_login(c, "ana", f"wrong {i}").status_code for i in range(8)]
    COUNTS["bad-input payloads"] += 8
    assert codes[:5] == [401] * 5
    assert codes[5] == 401  # the sixth failure is counted, and locks the name for 2 s
    assert set(codes[6:]) == {429}
    r = _login(c, "ana", PASSWORD)  # even the right password waits
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) >= 1
    failed = [e for e in world.ctx.store.list_audit() if e.action == "clinician.login_failed"]
    assert len(failed) == 6
    assert failed[0].detail["username"] == "ana"
    assert failed[0].detail["address"]
    # Another user from the same address is not locked out by ana's failures (yet).
    assert _login(c, "bea", PASSWORD).status_code == 200


def test_logout_password_change_and_revocation_withdraw_tokens(world: World) -> None:
    c = world.client
    assert c.get("/api/me", headers=_auth(world.ana)).status_code == 200
    assert c.post("/api/auth/logout", headers=_auth(world.ana)).status_code == 200
    assert c.get("/api/me", headers=_auth(world.ana)).status_code == 401
    ana = _login(c, "ana", PASSWORD).json()["token"]
    assert c.get("/api/me", headers=_auth(ana)).status_code == 200

    r = c.post(
        "/api/auth/password",
        json={"current_password": PASSWORD, "new_password": "a new long password"},
        headers=_auth(ana),
    )
    assert r.status_code == 200, r.text
    assert c.get("/api/me", headers=_auth(ana)).status_code == 401  # the old token
    assert c.get("/api/me", headers=_auth(r.json()["token"])).status_code == 200
    assert _login(c, "ana", PASSWORD).status_code == 401
    ana = _login(c, "ana", "a new long password").json()["token"]

    r = c.post("/api/clinicians/ana/tokens/revoke", headers=_auth(world.bea))
    assert r.status_code == 403
    r = c.post("/api/clinicians/ana/tokens/revoke", headers=_auth(world.admin))
    assert r.status_code == 200
    assert r.json()["username"] == "ana"
    assert c.get("/api/me", headers=_auth(ana)).status_code == 401
    assert c.post("/api/auth/logout", headers=_auth(world.admin)).status_code == 403
    actions = [e.action for e in world.ctx.store.list_audit()]
    for action in ("clinician.logout", "clinician.password_change", "clinician.tokens_revoke"):
        assert action in actions


# ---------------------------------------------------------------------------- finding 9


def test_one_header_policy_on_every_html_page(world: World) -> None:
    c = world.client
    sid = world.sessions["ok"]
    pages = ["/sessions/new", "/sessions", f"/sessions/{sid}/live", f"/sessions/{sid}/alliance"]
    pages.append(f"/sessions/{sid}/review?token={world.admin}")
    for page in pages:
        r = c.get(page)
        assert r.status_code == 200, page
        csp = r.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp, page
        assert r.headers["referrer-policy"] == "no-referrer", page
        assert r.headers["x-frame-options"] == "DENY", page
        assert r.headers["x-content-type-options"] == "nosniff", page
        script_src = next(d for d in csp.split(";") if d.strip().startswith("script-src"))
        assert "'unsafe-inline'" not in script_src, page
        assert "http" not in csp, page  # no CDN anywhere
    review = c.get(pages[-1])
    assert "'sha256-" in review.headers["content-security-policy"]
    assert c.get("/api/health").headers["x-content-type-options"] == "nosniff"


def test_api_docs_are_off_unless_asked_for(tmp_path: Path) -> None:
    off = create_app(ServerSettings(storage=StorageSettings(tmp_path / "a")))
    on = create_app(ServerSettings(storage=StorageSettings(tmp_path / "b"), api_docs=True))
    with TestClient(off, base_url=BASE_URL) as c:
        assert c.get("/docs").status_code == 404
        assert c.get("/redoc").status_code == 404
    with TestClient(on, base_url=BASE_URL) as c:
        assert c.get("/docs").status_code == 200


# ---------------------------------------------------------------------------- finding 10


HTML_PAYLOADS = (
    '<a href="https://x.example/phase">phase</a>',
    '<span style="font-size:90px">big</span>',
    "<img src=x onerror=window.__xss=1>",
    "<script>window.__xss=1</script>",
)


def test_plotly_labels_escape_user_text() -> None:
    for payload in HTML_PAYLOADS:
        text = plain_text(payload)
        assert "<" not in text
        assert ">" not in text


def test_html_payloads_render_as_text_in_chromium(world: World, browser: Any) -> None:
    """Phase labels and notes full of HTML, opened in Chromium: no link, no style, no script."""
    c, h = world.client, _auth(world.admin)
    pid = world.patients["ok"]
    phases = [
        {"id": f"p{i}", "label": payload, "minutes": 5} for i, payload in enumerate(HTML_PAYLOADS)
    ]
    r = c.post(
        "/api/sessions",
        json={
            "label": HTML_PAYLOADS[0],
            "template": {"name": HTML_PAYLOADS[1], "phases": phases},
            "participants": [{"participant_id": pid, "device": {"kind": "simulator"}}],
        },
        headers=h,
    )
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    store = world.ctx.store
    store_sentinel_beats(store, sid, pid, n=400)
    for payload in HTML_PAYLOADS:
        store.add_marker(sid, "note", note=payload, participant_id=pid)
        COUNTS["bad-input payloads"] += 2
    store.record_phase_event(sid, 0, "p0", "enter", at_s=store.now() - 3600.0)
    origin = "http://127.0.0.1:8765"

    def serve(route: Any) -> None:
        url = route.request.url.removeprefix(origin)
        resp = c.get(url)
        route.fulfill(status=resp.status_code, headers=dict(resp.headers), body=resp.content)

    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.route(f"{origin}/**", serve)
    page.goto(f"{origin}/sessions/{sid}/review?token={world.admin}")
    page.wait_for_selector(".main-svg", timeout=30_000)
    found = page.evaluate(
        """() => ({
            links: [...document.querySelectorAll('a')].filter((a) =>
                ((a.getAttribute('href') || '') + (a.getAttribute('xlink:href') || ''))
                    .includes('x.example')).length,
            svgText: [...document.querySelectorAll('.main-svg')].map((s) => s.outerHTML).join(''),
            styled: [...document.querySelectorAll('svg [style*="90px"]')].length,
            xss: window.__xss === 1,
            text: document.body.innerText,
        })"""
    )
    context.close()
    assert "phase" in found["svgText"]  # the phase ribbon's labels were drawn
    assert found["links"] == 0
    assert found["styled"] == 0
    assert found["xss"] is False
    assert errors == []


# ---------------------------------------------------------------------------- finding 11


def test_participant_codes_of_others_cannot_be_enumerated(world: World) -> None:
    c = world.client
    own = c.post(
        "/api/participants", json={"code": "B-1", "role": "patient"}, headers=_auth(world.bea)
    )
    assert own.status_code == 201
    mine_again = c.post(
        "/api/participants", json={"code": "B-1", "role": "patient"}, headers=_auth(world.bea)
    )
    foreign = c.post(
        "/api/participants", json={"code": "P-ok", "role": "patient"}, headers=_auth(world.bea)
    )
    assert mine_again.status_code == foreign.status_code == 409
    assert mine_again.json() == foreign.json()
    codes = []
    for i in range(10):
        r = c.post(
            "/api/participants",
            json={"code": "P-ok" if i % 2 else "T-ok", "role": "patient"},
            headers=_auth(world.bea),
        )
        codes.append(r.status_code)
    assert codes[-1] == 429  # probing is throttled like wrong passwords
    conflicts = [e for e in world.ctx.store.list_audit() if e.action == "participant.code_conflict"]
    assert len(conflicts) >= 5
