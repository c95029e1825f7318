"""The review page ``GET /sessions/{id}/review`` and the alliance form
``GET /sessions/{id}/alliance``.

The review page must be the same document as ``sintonia report`` writes (rendered from the same
stored session, with the store's clock fixed so that the "generated at" footer is equal), need a
valid token, and be audited.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from plotly.offline import get_plotlyjs  # type: ignore[import-untyped]

from sensor.types import BeatBatch
from server.app import create_app
from server.cli.report import generate_report
from server.context import AppContext
from server.settings import ServerSettings
from server.storage import DeviceAssignment, StorageSettings

#: TestClient sends "Host: testserver"; the app answers configured hosts only.
TEST_HOSTS = ("testserver",)

T0 = 1_767_000_000.0  # session start, s


def _ctx(client: TestClient) -> AppContext:
    ctx: AppContext = client.app.state.ctx  # type: ignore[attr-defined]
    return ctx


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(
        create_app(
            ServerSettings(storage=StorageSettings(tmp_path / "data"), allowed_hosts=TEST_HOSTS)
        )
    ) as c:
        yield c


def _stored_session(ctx: AppContext) -> int:
    """A stopped ten-minute session of one patient: sinusoidally modulated RR around 850 ms."""
    store = ctx.store
    pid = store.create_participant("P-077", "patient").id
    for purpose in ("storage", "review"):
        store.grant_consent(pid, purpose, "v1")
    sid = store.create_session(
        None, label="review page", participants=[DeviceAssignment(pid, "simulator", "seed:1")]
    ).id
    store.start_session(sid, at_s=T0)
    n = 700
    rr = 850.0 + 40.0 * np.sin(2 * np.pi * np.arange(n) / 12.0)
    times = T0 + np.cumsum(rr) / 1000.0
    batch = BeatBatch(
        participant="P-077",
        device="sim-P-077",
        rr_ms=rr,
        rr_raw=None,
        host_time_s=float(times[-1]),
        beat_times_s=times,
        contact=True,
        seq=0,
        gap_before=True,
    )
    store.append_beats(sid, pid, batch)
    store.stop_session(sid, at_s=float(times[-1]) + 1.0)
    return sid


def test_review_needs_a_valid_token(client: TestClient) -> None:
    sid = _stored_session(_ctx(client))
    assert client.get(f"/sessions/{sid}/review").status_code == 401
    assert client.get(f"/sessions/{sid}/review?token=wrong").status_code == 401
    bearer = {"Authorization": "Bearer wrong"}
    assert client.get(f"/sessions/{sid}/review", headers=bearer).status_code == 401
    reports = [e for e in _ctx(client).store.list_audit() if e.action == "report.generate"]
    assert reports == []


def test_review_of_unknown_session_is_404(client: TestClient) -> None:
    token = _ctx(client).token
    assert client.get(f"/sessions/999/review?token={token}").status_code == 404


def test_review_is_the_cli_report_and_is_audited(
    client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = _ctx(client)
    sid = _stored_session(ctx)
    monkeypatch.setattr(ctx.store, "now", lambda: T0 + 7200.0)  # equal "generated at" footers
    r = client.get(f"/sessions/{sid}/review?token={ctx.token}")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["referrer-policy"] == "no-referrer"
    page = r.text
    assert 'id="figure-session"' in page
    assert "Plotly.newPlot" in page
    assert "P-077" in page
    cli_page = generate_report(ctx.store, sid, tmp_path / "report.html").read_text("utf-8")
    # The same document, except that the page references the server's plotly.js where the
    # offline file inlines it (the file stays self-contained).
    inlined = f'<script type="text/javascript">{get_plotlyjs()}</script>'
    assert cli_page.count(inlined) == 1
    referenced = '<script src="/static/vendor/plotly.min.js"></script>'
    assert page.count(referenced) == 1
    icon = '<link rel="icon" href="data:,">\n'  # no request for /favicon.ico
    assert page.count(icon) == 1
    assert icon not in cli_page
    assert page.replace(icon, "") == cli_page.replace(inlined, referenced)
    entries = [e for e in ctx.store.list_audit() if e.action == "report.generate"]
    assert [(e.actor, e.detail["out"]) for e in entries] == [
        ("admin", "review page"),
        ("cli", "report.html"),
    ]
    assert entries[0].object_id == str(sid)
    assert entries[0].detail["participants"] == ["P-077"]


def test_review_page_is_small_and_loads_plotly_from_this_server(client: TestClient) -> None:
    ctx = _ctx(client)
    sid = _stored_session(ctx)
    r = client.get(f"/sessions/{sid}/review?token={ctx.token}")
    assert r.status_code == 200, r.text
    plotly_size = len(get_plotlyjs().encode("utf-8"))
    assert plotly_size > 3_000_000  # what inlining used to add to every response
    assert len(r.content) < 500_000, len(r.content)
    assert get_plotlyjs()[:2000] not in r.text
    srcs = re.findall(r'<script[^>]*\bsrc="([^"]+)"', r.text)
    assert srcs == ["/static/vendor/plotly.min.js"]
    bundle = client.get(srcs[0])
    assert bundle.status_code == 200
    assert len(bundle.content) == plotly_size
    # Every inline script runs under the page's policy by its hash, and nothing else may run.
    csp = r.headers["content-security-policy"]
    script_src = next(d for d in csp.split(";") if d.strip().startswith("script-src")).split()
    inline = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", r.text, re.S)
    assert inline  # the figures' calls to Plotly.newPlot and the print-fit script
    for body in inline:
        digest = base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode()
        assert f"'sha256-{digest}'" in script_src
    assert "'unsafe-inline'" not in script_src
    assert "'unsafe-eval'" not in script_src


def test_alliance_page_is_served(client: TestClient) -> None:
    r = client.get("/sessions/3/alliance")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in r.headers["content-security-policy"]
    page = r.text
    assert '<script src="/static/alliance.js" defer></script>' in page
    assert '<script src="/static/vendor/plotly.min.js" defer></script>' in page
    assert 'id="alliance-form"' in page
    assert 'id="trend-chart"' in page
    script = client.get("/static/alliance.js")
    assert script.status_code == 200
    assert "/api/participants/" in script.text
    assert "/api/alliance/wording" in script.text
    assert client.get("/static/vendor/plotly.min.js").status_code == 200
