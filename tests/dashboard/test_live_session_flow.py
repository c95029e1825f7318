"""The live page as a therapist uses it through a whole session (issue 13), in real Chromium
against a real ``sintonia demo`` server on loopback (60x simulated time).

In file order, on one server: (1) with a suggestion showing, the page fits 1024x768, 1366x768 and
1920x1080 without scrolling, trace, phases, suggestion, markers, straps and pacer all on screen,
and nothing the therapist reaches for moves when the suggestion comes or goes; no plotly modebar
over the phase ribbon; (2) a marker is undone from the page (stored, marked retracted, audited);
(3) the co-regulation panel is blank while the patient is hidden; (4) the session is ended from
the page with a confirmation, after which the page links to the review and the alliance form.
Screenshots go to ``test-output/live_flow_*.png`` for a person to look at.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("playwright.sync_api")
from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.slow

SPEED = "60"
MINUTES = "90"
OUTPUT = Path(__file__).resolve().parents[2] / "test-output"
TIMEOUT_MS = 45_000
SIZES = [(1024, 768), (1366, 768), (1920, 1080)]
#: What the therapist needs on screen at every size (CSS selectors).
NEEDED = {
    "chart": "#chart",
    "phase ribbon": "#ribbon",
    "suggestion": "#cue-card",
    "acknowledge": "#cue-ack",
    "note field": "#note-text",
    "straps": "#device-list",
    "pacer": ".pacer-card",
    "co-regulation": ".sync",
    "privacy pause": "#privacy-btn",
    "end session": "#end-btn",
    "next phase": "#phase-advance",
}
#: What must not move when a suggestion appears or goes.
STILL = [
    "#marker-grid button",
    "#note-text",
    "#privacy-btn",
    "#end-btn",
    "#phase-advance",
    "#chart",
]


from tests.support import e2e  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    data_dir = tmp_path_factory.mktemp("live_flow") / "data"
    args = ["demo", "--port", "0", "--speed", SPEED, "--minutes", MINUTES, "--no-browser"]
    with e2e.running_server(args, data_dir) as srv:
        yield srv


@pytest.fixture(scope="module")
def page(browser: Browser, server: Any) -> Iterator[Page]:
    OUTPUT.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    pg = context.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.goto(f"{server.base_url}/?token={server.token}")
    pg.wait_for_selector('#session-status[data-status="live"]')
    pg.wait_for_selector('#conn[data-state="online"]')
    try:
        yield pg
    finally:
        context.close()
    assert errors == []


def _boxes(page: Page, selector: str) -> list[dict[str, float]]:
    return list(
        page.evaluate(
            "(sel) => [...document.querySelectorAll(sel)].map(e => {"
            " const r = e.getBoundingClientRect();"
            " return {x: r.x, y: r.y, w: r.width, h: r.height}; })",
            selector,
        )
    )


def _still(page: Page) -> dict[str, list[dict[str, float]]]:
    return {sel: _boxes(page, sel) for sel in STILL}


def _sid(page: Page) -> int:
    return int(page.evaluate("window.sintoniaLive.state.phase.session_id"))


def _tap_websocket(context: Any) -> dict[str, Any]:
    """Forward the page's WebSocket to the server unchanged, keeping a handle to add messages."""
    tap: dict[str, Any] = {}

    def handler(ws: Any) -> None:
        ws.connect_to_server()  # everything is forwarded both ways
        tap["ws"] = ws

    context.route_web_socket(re.compile(r".*/ws/sessions/.*"), handler)
    return tap


def test_layout_at_three_sizes_with_a_suggestion_showing(
    page: Page, browser: Browser, server: Any
) -> None:
    """A real suggestion of the session (the stress episode's, in the map phase) is shown at each
    size. At 60x a suggestion expires after 1.5 s of wall time, too short to open three
    windows, so its message, as the server sent it, is given again to each window's WebSocket
    (the page's own code shows it), then its resolution."""
    page.locator("#cue-card").wait_for(state="visible", timeout=90_000)
    cue = page.evaluate("window.sintoniaLive.state.cue")
    assert cue
    assert cue["type"] == "cue"
    assert cue["text"]
    # Its own id, so that the real session's later cue traffic does not resolve it meanwhile.
    cue = {**cue, "cue_id": cue["cue_id"] + 1_000_000}
    resolved = {
        "type": "cue_resolved",
        "session_id": cue["session_id"],
        "cue_id": cue["cue_id"],
        "rule_id": cue["rule_id"],
        "time_s": cue["time_s"] + 1.0,
        "resolution": "expired",
        "shown_s": cue["time_s"],
    }
    url = page.url
    report = []
    for width, height in SIZES:
        context = browser.new_context(viewport={"width": width, "height": height})
        tap = _tap_websocket(context)
        try:
            pg = context.new_page()
            pg.set_default_timeout(TIMEOUT_MS)
            pg.goto(url)
            pg.wait_for_selector('#conn[data-state="online"]')
            pg.wait_for_function("() => window.sintoniaLive.plottedArousal('T-DEMO') > 0")
            size = f"{width}x{height}"
            without = _still(pg)
            tap["ws"].send(json.dumps(cue))
            pg.locator("#cue-card").wait_for(state="visible")
            assert pg.inner_text("#cue-text") == cue["text"]
            with_cue = _still(pg)
            assert with_cue == without, size  # the suggestion came: nothing moved
            pg.wait_for_timeout(1200)  # a redraw or two
            tap["ws"].send(json.dumps(cue))  # shown again, should a newer real cue have come
            pg.locator("#cue-card").wait_for(state="visible")
            pg.screenshot(path=str(OUTPUT / f"live_flow_{size}_suggestion.png"))
            # one screen: no scrolling either way
            assert pg.evaluate("document.documentElement.scrollHeight") <= height, size
            assert pg.evaluate("document.documentElement.scrollWidth") <= width, size
            for name, sel in NEEDED.items():
                box = _boxes(pg, sel)[0]
                assert box["w"] > 0, (size, name)
                assert box["h"] > 0, (size, name)
                assert box["x"] >= 0, (size, name, box)
                assert box["y"] >= 0, (size, name, box)
                assert box["x"] + box["w"] <= width + 0.5, (size, name, box)
                assert box["y"] + box["h"] <= height + 0.5, (size, name, box)
            markers = _boxes(pg, "#marker-grid button")
            assert len(markers) == 8
            assert all(b["y"] + b["h"] <= height for b in markers), size
            # the chart uses the height it is given: no empty band under it at 1920x1080
            chart = _boxes(pg, "#chart")[0]
            assert chart["y"] + chart["h"] >= height - 40, (size, chart)
            assert chart["h"] >= 0.45 * height, (size, chart)
            # no plotly modebar (it covered the phase ribbon at the top of the figure)
            assert pg.locator(".modebar-btn").count() == 0
            # the "Why?" opens over the page, it pushes nothing
            pg.hover("#cue-reason-hover")
            assert pg.is_visible("#cue-reason")
            assert _still(pg) == with_cue, size
            pg.screenshot(path=str(OUTPUT / f"live_flow_{size}_why.png"))
            # the suggestion goes: nothing moves either
            tap["ws"].send(json.dumps(resolved))
            pg.locator("#cue-card").wait_for(state="hidden")
            # (at 60x the session may already bring its next suggestion: the card or the empty
            # slot shows, in the same place)
            empty_or_next = pg.evaluate(
                "document.getElementById('cue-empty').hidden !== "
                "document.getElementById('cue-card').hidden"
            )
            assert empty_or_next is True
            assert _still(pg) == with_cue, size
            # the pacer with its coherence readings still fits, and moves none of the above
            pg.click("#pacer-toggle")
            pg.wait_for_function(
                "() => /[0-9]/.test(document.getElementById('coherence').textContent)",
                timeout=TIMEOUT_MS,
            )
            pg.wait_for_timeout(300)
            assert _still(pg) == with_cue, size
            for name, sel in NEEDED.items():
                box = _boxes(pg, sel)[0]
                assert box["y"] + box["h"] <= height + 0.5, ("pacer on", size, name, box)
            assert pg.evaluate("document.documentElement.scrollHeight") <= height, size
            pg.screenshot(path=str(OUTPUT / f"live_flow_{size}_pacer.png"))
            pg.click("#pacer-toggle")
            report.append((size, round(chart["h"]), round(markers[-1]["y"] + markers[-1]["h"])))
        finally:
            context.close()
    print("layout (size, chart height px, bottom of the last marker px):", report)


def test_a_marker_is_undone_from_the_page_and_kept_as_retracted(page: Page, server: Any) -> None:
    sid = _sid(page)
    grid_before = _boxes(page, "#marker-grid button")
    page.click('#marker-grid button[data-marker="dissociation_observed"]')
    page.wait_for_selector("#marker-undo:not([hidden])")
    assert _boxes(page, "#marker-grid button") == grid_before  # the Undo does not push them
    page.screenshot(path=str(OUTPUT / "live_flow_undo_offered_1366x768.png"))
    with page.expect_response(lambda r: r.url.endswith("/undo")) as undone:
        page.click("#marker-undo")
    assert undone.value.status == 200, undone.value.text()
    page.wait_for_function(
        "() => window.sintoniaLive.retractedTypes().includes('dissociation_observed')",
        timeout=5_000,
    )
    assert "dissociation_observed" not in page.evaluate("window.sintoniaLive.markerTypes()")
    # drawn as retracted: no marker line across the trace, a hollow grey mark instead
    shapes = page.evaluate(
        "(document.getElementById('chart').layout.shapes || []).map(s => s.name)"
    )
    assert "marker:dissociation_observed" not in shapes
    kinds = page.evaluate("document.getElementById('chart').data.map(t => t.meta && t.meta.kind)")
    assert "retracted_markers" in kinds
    with server.client() as client:
        stored = [
            m
            for m in client.get(f"/api/sessions/{sid}/markers").json()
            if m["type"] == "dissociation_observed"
        ]
        assert len(stored) == 1  # the original stays
        assert stored[0]["retracted"] is True
        assert stored[0]["retraction_reason"] == "undone from the live page"
        audit = client.get("/api/audit", params={"object_type": "marker"}).json()
        entries = audit["entries"] if isinstance(audit, dict) else audit
        assert any(
            e["action"] == "marker.undo" and e["object_id"] == str(stored[0]["id"]) for e in entries
        )


def test_co_regulation_is_blank_while_the_patient_is_hidden(page: Page) -> None:
    page.wait_for_function(
        "() => document.getElementById('sync-value').dataset.state === 'value'", timeout=90_000
    )
    text = page.inner_text("#sync-value")
    assert "r = " in text
    assert "95 %" in text
    assert "last 8 min" in text
    lead = page.inner_text("#sync-lead")
    assert "chance" in lead
    assert "lead" in lead or "follows" in lead
    page.screenshot(path=str(OUTPUT / "live_flow_co_regulation_1366x768.png"))
    page.click("#privacy-btn")
    page.wait_for_selector('#privacy-btn[aria-pressed="true"]')
    assert "hidden" in page.inner_text("#sync-value")
    time.sleep(2.0)  # ~2 min of session time: several synchrony periods
    assert page.get_attribute("#sync-value", "data-state") == "blank"
    assert page.evaluate("window.sintoniaLive.state.synchrony") is None
    page.click("#privacy-btn")
    page.wait_for_selector('#privacy-btn[aria-pressed="false"]')


def test_the_session_is_ended_from_the_page_then_links_to_review_and_alliance(
    page: Page, server: Any
) -> None:
    sid = _sid(page)
    page.click("#end-btn")
    assert page.is_visible("#end-dialog")
    page.screenshot(path=str(OUTPUT / "live_flow_end_confirm_1366x768.png"))
    page.click("#end-cancel")  # changing one's mind keeps the session going
    assert not page.is_visible("#end-dialog")
    assert page.get_attribute("#session-status", "data-status") == "live"
    page.click("#end-btn")
    with page.expect_response(lambda r: r.url.endswith(f"/api/sessions/{sid}/stop")) as stop:
        page.click("#end-confirm")
    assert stop.value.status == 200, stop.value.text()
    page.wait_for_selector('#session-status[data-status="stopped"]')
    assert page.is_visible("#session-notice")
    assert page.is_visible("#review-link")
    assert page.is_visible("#alliance-link")
    assert page.is_disabled("#end-btn")
    assert page.is_disabled('#marker-grid button[data-marker="repair"]')
    page.screenshot(path=str(OUTPUT / "live_flow_ended_1366x768.png"))
    review = page.get_attribute("#review-link", "href") or ""
    alliance = page.get_attribute("#alliance-link", "href") or ""
    assert review == f"/sessions/{sid}/review?token={server.token}"
    assert alliance == f"/sessions/{sid}/alliance?token={server.token}"
    with server.client() as client:
        assert client.get(f"/api/sessions/{sid}").json()["status"] == "stopped"
    # the demo keeps serving after an early end, so both links open
    page.click("#review-link")
    page.wait_for_url(f"**/sessions/{sid}/review?token=*")
    assert page.locator("body").inner_text()
    page.go_back()
    page.click("#alliance-link")
    page.wait_for_url(f"**/sessions/{sid}/alliance?token=*")
    e2e.wait_until(lambda: f"/sessions/{sid}/review?token=" in server.log(), timeout_s=15.0)


def test_a_patient_without_consent_is_not_shown_as_a_pause_that_never_resumes(
    page: Page, server: Any
) -> None:
    """Issue 13: with no consent ticked for the patient the page said "privacy pause" and its
    Resume waited forever. Now it says what does not happen and offers no pause at all."""
    with server.client() as api:
        pid = api.post("/api/participants", json={"code": "P-NC", "role": "patient"}).json()["id"]
        tid = api.post("/api/participants", json={"code": "T-NC", "role": "therapist"}).json()
        sid = api.post(
            "/api/sessions",
            json={
                "template": {
                    "name": "short",
                    "phases": [{"id": "welcome", "label": "Welcome", "minutes": 60}],
                },
                "participants": [
                    {"participant_id": pid, "device": {"kind": "simulator", "seed": 5}},
                    {"participant_id": tid["id"], "device": {"kind": "simulator", "seed": 5}},
                ],
            },
        ).json()["id"]
        for purpose in ("live_display", "storage", "synchrony"):
            r = api.post(
                f"/api/participants/{tid['id']}/consents",
                json={"purpose": purpose, "version": "v1", "session_id": sid},
            )
            assert r.status_code == 201, r.text
        assert api.post(f"/api/sessions/{sid}/start").status_code == 200
    page.goto(f"{server.base_url}/sessions/{sid}/live?token={server.token}")
    page.wait_for_selector('#session-status[data-status="live"]')
    page.wait_for_function("() => window.sintoniaLive.plottedArousal('T-NC') > 0")
    notice = page.locator("#consent-notice")
    assert notice.is_visible()
    text = notice.inner_text()
    assert "P-NC (patient) did not consent to live display, storage, synchrony" in text
    assert "their trace is not shown here" in text
    assert "not stored" in text
    # no pause to resume: the button is off and says why, no "Resume patient stream"
    assert page.is_disabled("#privacy-btn")
    assert "Resume" not in page.inner_text("#privacy-btn")
    assert "not consented to live display" in (page.get_attribute("#privacy-btn", "title") or "")
    assert page.is_hidden("#privacy-note")
    assert "not computed" in page.inner_text("#sync-value")
    assert "not shown (no consent to live display)" in page.inner_text("#device-list")
    sent: list[str] = []
    page.on("request", lambda req: sent.append(req.url) if "privacy" in req.url else None)
    page.keyboard.press("p")  # the shortcut sends nothing either
    page.wait_for_timeout(800)
    assert sent == []
    assert "Resume" not in page.inner_text("#privacy-btn")
    page.screenshot(path=str(OUTPUT / "live_flow_no_consent_1366x768.png"))
    with server.client() as api:
        r = api.post(f"/api/sessions/{sid}/privacy-pause", json={"participant_id": pid})
        assert r.status_code == 409
        assert "no consent to live display" in r.text
        api.post(f"/api/sessions/{sid}/stop")
