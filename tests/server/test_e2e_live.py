"""End to end against a real ``sintonia demo`` on loopback: token, API, live WebSocket.

One demo server (uvicorn in a subprocess, temporary ``SINTONIA_DATA_DIR``, simulated straps at
50x real time) serves every test of this module; the tests only read, so their order does not
matter.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from server.cli.demo import DEMO_PATIENT_CODE, DEMO_THERAPIST_CODE
from server.live.ws import CLOSE_UNAUTHORIZED
from server.messages import BeatsMessage, HistoryMessage, parse_message
from tests.support import e2e

pytestmark = pytest.mark.slow

DEMO_ARGS = ["demo", "--port", "0", "--speed", "50", "--no-browser"]
CODES = {DEMO_PATIENT_CODE, DEMO_THERAPIST_CODE}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    data_dir = tmp_path_factory.mktemp("e2e-live") / "data"
    with e2e.running_server(DEMO_ARGS, data_dir) as server:
        yield server


@pytest.fixture(scope="module")
def session_id(demo: Any) -> int:
    with demo.client() as client:
        live = e2e.session_ids(client, status="live")
        assert len(live) == 1, f"expected the one demo session live, got {live}"
        sid: int = live[0]
        # Some beats stored before any test looks at them.
        e2e.wait_until(lambda: e2e.beat_count(client, sid) >= 20 or None)
    return sid


def test_health_needs_no_token(demo: Any) -> None:
    with demo.client(auth=False) as client:
        response = client.get("/api/health")
    assert response.status_code == 200, response.text


def test_the_url_line_is_the_only_stdout_line(demo: Any) -> None:
    assert len(demo.stdout_lines) == 1
    assert e2e.URL_LINE.match(demo.stdout_lines[0])


def test_api_needs_the_token(demo: Any, session_id: int) -> None:
    with demo.client(auth=False) as client:
        assert client.get("/api/sessions").status_code == 401
        assert client.get(f"/api/sessions/{session_id}/beats").status_code == 401
        wrong = {"Authorization": "Bearer " + "x" * len(demo.token)}
        assert client.get("/api/sessions", headers=wrong).status_code == 401
        # The token as a query parameter (what the browser's WebSocket uses) works too.
        assert client.get("/api/sessions", params={"token": demo.token}).status_code == 200


def test_websocket_needs_the_token(demo: Any, session_id: int) -> None:
    url = demo.ws_url(session_id, token=False)
    with connect(url, open_timeout=10) as ws, pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=10)  # closed before any message
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == CLOSE_UNAUTHORIZED


def test_demo_session_is_live_and_beats_accumulate(demo: Any, session_id: int) -> None:
    with demo.client() as client:
        session = client.get(f"/api/sessions/{session_id}").json()
        assert session["status"] == "live"
        before = e2e.beat_count(client, session_id)
        # At 50x two straps give ~100 beats per wall second.
        e2e.wait_until(lambda: e2e.beat_count(client, session_id) >= before + 50 or None)
        beats = e2e.all_beats(client, session_id)
        patient = e2e.all_beats(client, session_id, participant=DEMO_PATIENT_CODE)
    assert set(beats["participant_code"]) == CODES
    assert set(patient["participant_code"]) == {DEMO_PATIENT_CODE}
    # Lossless: every device's sequence numbers run 0, 1, 2, ... with no hole.
    by_device: dict[str, list[int]] = {}
    for device, seq in zip(beats["device"], beats["seq"], strict=True):
        by_device.setdefault(device, []).append(seq)
    assert len(by_device) == 2
    for seqs in by_device.values():
        assert sorted(seqs) == list(range(len(seqs)))
    # Plausible RR (the simulator's adults at rest and under stress).
    assert all(300.0 < rr < 2000.0 for rr in beats["rr_ms"])


def test_websocket_sends_history_then_live_beats(demo: Any, session_id: int) -> None:
    with demo.websocket(session_id) as ws:
        first = parse_message(ws.recv(timeout=10))
        assert isinstance(first, HistoryMessage)
        assert first.session.status == "live"
        assert {p.code for p in first.session.participants} == CODES
        newest = {b.code: b.time_s[-1] for b in first.beats if b.time_s}
        assert set(newest) == CODES, "the history holds both participants' recent beats"
        live: list[BeatsMessage] = []
        while len(live) < 3:
            message = parse_message(ws.recv(timeout=10))
            if isinstance(message, BeatsMessage):
                live.append(message)
    for message in live:
        assert message.session_id == session_id
        for p in message.participants:
            assert p.code in CODES
            assert len(p.time_s) == len(p.rr_ms) == len(p.hr_bpm) == len(p.arousal_state)
            # Live beats continue after the history (and after each other), never repeat.
            assert p.time_s[0] > newest.get(p.code, float("-inf"))
            assert all(a < b for a, b in zip(p.time_s, p.time_s[1:], strict=False))
            newest[p.code] = p.time_s[-1]


def test_a_late_joiner_gets_the_history_it_asks_for(demo: Any, session_id: int) -> None:
    url = demo.ws_url(session_id) + "&history_s=20"
    with connect(url, open_timeout=10, max_size=2**26) as ws:
        history = parse_message(ws.recv(timeout=10))
    assert isinstance(history, HistoryMessage)
    assert history.history_s == 20.0
    times = [t for b in history.beats for t in b.time_s]
    assert times, "20 s of session time hold beats of both participants"
    # Only the window asked for (session clock), up to when the history was taken.
    assert min(times) >= history.now_s - 20.0
    assert max(times) <= history.now_s


def test_a_client_that_stops_reading_does_not_stop_storage(demo: Any, session_id: int) -> None:
    path = f"/ws/sessions/{session_id}?token={demo.token}"
    stalled = [e2e.open_stalled_websocket(demo.port, path) for _ in range(3)]
    try:
        with demo.client() as client:
            before = e2e.beat_count(client, session_id)
            # Storage goes on (about 100 beats per wall second at 50x)...
            e2e.wait_until(lambda: e2e.beat_count(client, session_id) >= before + 200 or None)
            # ... and so does a client that reads.
            with demo.websocket(session_id) as ws:
                kinds = []
                while "beats" not in kinds:
                    kinds.append(e2e.receive_json(ws)["type"])
            assert kinds[0] == "history"
            assert client.get("/api/health").status_code == 200
        # The stalled clients were really sent data they never read (their queues are full).
        assert all(e2e.unread_bytes(sock) > 0 for sock in stalled)
    finally:
        for sock in stalled:
            sock.close()


def test_the_printed_url_leads_to_the_live_page_of_the_demo(demo: Any, session_id: int) -> None:
    with demo.client(auth=False) as client:
        page = client.get("/", params={"token": demo.token}, follow_redirects=True)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.url.path == f"/sessions/{session_id}/live"
    assert page.url.params["token"] == demo.token  # kept for the page's API and WebSocket calls


def test_unknown_session_is_404(demo: Any) -> None:
    with demo.client() as client:
        response = client.get("/api/sessions/999999/beats")
    assert response.status_code == 404
