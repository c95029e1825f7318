"""The live page's routes in process: ``GET /sessions/{id}/live`` and the ``GET /`` redirect.

The browser tests (``test_live_page.py``) drive the page itself; these check what the server
puts in it and where ``/`` leads, on the real app with scripted sources.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dashboard.figures import ROLE_COLOURS
from dashboard.vocab import page_vocabulary
from hrv.arousal import ArousalConfig
from server.app import create_app
from server.context import AppContext
from server.live.scripted import scripted_source_factory
from server.settings import ServerSettings
from server.storage import StorageSettings
from server.web.live import LIVE_WINDOW_MIN, live_page_config
from server.web.render import script_json

#: TestClient sends "Host: testserver"; the app answers configured hosts only.
TEST_HOSTS = ("testserver",)

_CONFIG = re.compile(r'<script id="live-config" type="application/json">(.*?)</script>', re.S)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = ServerSettings(
        storage=StorageSettings(tmp_path / "data", None), allowed_hosts=TEST_HOSTS
    )
    app = create_app(settings, source_factory=scripted_source_factory(pause_s=0.01))
    with TestClient(app, follow_redirects=False) as c:
        yield c


def _token(client: TestClient) -> str:
    ctx: AppContext = client.app.state.ctx  # type: ignore[attr-defined]
    return ctx.token


def _live_session(client: TestClient) -> int:
    auth = {"Authorization": f"Bearer {_token(client)}"}
    ids = []
    for code, role in (("P-9", "patient"), ("T-9", "therapist")):
        r = client.post("/api/participants", json={"code": code, "role": role}, headers=auth)
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
        r = client.post(
            f"/api/participants/{ids[-1]}/consents",
            json={"purpose": "live_display", "version": "v1"},
            headers=auth,
        )
        assert r.status_code == 201, r.text
    body = {
        "participants": [
            {"participant_id": i, "device": {"kind": "simulator", "seed": 1}} for i in ids
        ]
    }
    r = client.post("/api/sessions", json=body, headers=auth)
    assert r.status_code == 201, r.text
    sid = int(r.json()["id"])
    r = client.post(f"/api/sessions/{sid}/start", headers=auth)
    assert r.status_code == 200, r.text
    return sid


def _page_config(html: str) -> dict[str, Any]:
    m = _CONFIG.search(html)
    assert m is not None
    data: dict[str, Any] = json.loads(m.group(1))
    return data


def test_live_page_carries_the_reports_figure_layout(client: TestClient) -> None:
    r = client.get("/sessions/5/live")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    cfg = _page_config(r.text)
    assert cfg["session_id"] == 5
    shapes = [s["name"] for s in cfg["figure"]["layout"]["shapes"]]
    assert shapes == ["usual-range"]  # session_figure's band, before any data
    band = cfg["figure"]["layout"]["shapes"][0]
    arousal = ArousalConfig()
    assert (band["y0"], band["y1"]) == (arousal.enter_below, arousal.enter_above)
    assert cfg["usual_band"] == [arousal.enter_below, arousal.enter_above]
    assert cfg["colours"] == ROLE_COLOURS
    assert cfg["window_min"] == LIVE_WINDOW_MIN
    lo, hi, default = cfg["pacer_bpm"]
    assert lo <= default <= hi
    assert (lo, hi, default) == (4.5, 7.0, 6.0)
    # the words of markers, consents and roles come from the one vocabulary (issue 11, item 5)
    assert cfg["vocab"] == page_vocabulary()
    assert [m["key"] for m in cfg["vocab"]["marker_types"]].count(None) == 1  # the free note
    # the page loads its code from this server only
    srcs = re.findall(r'(?:src|href)="([^"]+)"', r.text)
    assert srcs
    assert all(s.startswith("/") or s.startswith("data:") for s in srcs), srcs
    assert "/static/vendor/plotly.min.js" in srcs


def test_config_json_cannot_close_the_script_element() -> None:
    cfg = live_page_config(1)
    cfg["marker_labels"]["x"] = "</script><script>alert(1)</script>"
    text = script_json(cfg)
    assert "</script" not in text
    assert json.loads(text)["marker_labels"]["x"] == cfg["marker_labels"]["x"]


def test_root_goes_to_setup_when_nothing_is_live(client: TestClient) -> None:
    token = _token(client)
    r = client.get("/", params={"token": token})
    assert r.status_code == 307
    assert r.headers["location"] == f"/sessions/new?token={token}"
    r = client.get("/")
    assert r.headers["location"] == "/sessions/new"


def test_root_goes_to_the_newest_live_session_with_the_token(client: TestClient) -> None:
    token = _token(client)
    first = _live_session(client)
    r = client.get("/", params={"token": token})
    assert r.status_code == 307
    assert r.headers["location"] == f"/sessions/{first}/live?token={token}"
    # without valid credentials nothing about sessions is revealed
    r = client.get("/", params={"token": "wrong"})
    assert r.headers["location"] == "/sessions/new?token=wrong"
    # once it stops, / leads back to the setup page
    r = client.post(f"/api/sessions/{first}/stop", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    r = client.get("/", params={"token": token})
    assert r.headers["location"] == f"/sessions/new?token={token}"


def test_the_live_pages_modules_are_served_as_javascript(client: TestClient) -> None:
    """``<script type="module">`` needs a JavaScript MIME type (browsers refuse others)."""
    r = client.get("/sessions/5/live")
    entry = re.search(r'<script type="module" src="(/static/[^"]+)"></script>', r.text)
    assert entry is not None
    assert entry.group(1) == "/static/live/main.js"
    shipped = sorted(
        p.name for p in (Path(__file__).resolve().parents[2] / "dashboard/static/live").glob("*.js")
    )
    assert "main.js" in shipped
    for name in [*(f"live/{n}" for n in shipped), "api.js"]:
        got = client.get(f"/static/{name}")
        assert got.status_code == 200, name
        assert got.headers["content-type"].startswith("text/javascript"), name
        # every import names a file that is served too (relative, same origin)
        for imported in re.findall(r'^import .* from "([^"]+)";$', got.text, re.M):
            assert imported.startswith("./") or imported == "../api.js", (name, imported)
            if imported.startswith("./"):
                assert imported[2:] in shipped, (name, imported)
