"""The session setup page and the session list in a real browser against a real server.

``sintonia serve --port 0`` runs in a subprocess on loopback with a temporary
``SINTONIA_DATA_DIR`` (harness: ``tests/support/e2e.py``); Playwright drives Debian's Chromium
(``/usr/bin/chromium``, never a downloaded browser). Every request the browser makes is checked to
stay on ``127.0.0.1`` (anything else is aborted and fails the test); console errors and uncaught
exceptions fail the test. What the page did is checked through the REST API. The live page
belongs to another module: its URL is answered by a stub here, so these tests check that the
browser is sent there, not what it shows. Screenshots go to ``test-output/`` for a person to look
at (1366x768 laptop, 820x1180 tablet).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from dashboard.phases import DEFAULT_FIRST_SESSION
from server.web.pages import CONSENT_TEXT_VERSION

OUTPUT = Path(__file__).resolve().parents[2] / "test-output"
LAPTOP = {"width": 1366, "height": 768}
TABLET = {"width": 820, "height": 1180}
PURPOSES = ("live_display", "storage", "review", "research_export", "synchrony")

pytestmark = pytest.mark.slow


from tests.support import e2e  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    data_dir = tmp_path_factory.mktemp("setup-page") / "data"
    with e2e.running_server(["serve", "--port", "0"], data_dir) as srv:
        yield srv


@dataclass
class Tab:
    """A page and what it did."""

    page: Any
    base_url: str
    token: str
    errors: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    api_calls: list[tuple[str, str]] = field(default_factory=list)

    def open(self, path: str, **params: str) -> None:
        query = "&".join([f"token={self.token}", *(f"{k}={v}" for k, v in params.items())])
        self.page.goto(f"{self.base_url}{path}?{query}", wait_until="load")

    def shot(self, name: str) -> Path:
        OUTPUT.mkdir(exist_ok=True)
        path = OUTPUT / name
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def no_horizontal_scroll(self) -> bool:
        return bool(
            self.page.evaluate(
                "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
            )
        )


def _tab(browser: Any, server: Any, viewport: dict[str, int]) -> Iterator[Tab]:
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    tab = Tab(page, server.base_url, server.token)

    def route(r: Any) -> None:
        url = r.request.url
        if url.startswith(("data:", "blob:")):
            r.continue_()
        elif not url.startswith(server.base_url + "/"):
            tab.foreign.append(url)
            r.abort()
        elif re.search(r"/sessions/\d+/live\?", url):
            # The live page is another module's: answer with a stub, check only the address.
            r.fulfill(
                status=200, content_type="text/html", body="<!doctype html><title>live</title>"
            )
        else:
            if "/api/" in url:
                tab.api_calls.append((r.request.method, url.removeprefix(server.base_url)))
            r.continue_()

    context.route("**/*", route)
    page.on("console", lambda m: tab.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: tab.errors.append(str(exc)))
    try:
        yield tab
    finally:
        context.close()
    assert tab.foreign == [], f"requests left 127.0.0.1: {tab.foreign}"


@pytest.fixture
def laptop(browser: Any, server: Any) -> Iterator[Tab]:
    yield from _tab(browser, server, LAPTOP)


@pytest.fixture
def tablet(browser: Any, server: Any) -> Iterator[Tab]:
    yield from _tab(browser, server, TABLET)


def _fill_person(page: Any, role: str, code: str, purposes: tuple[str, ...], kind: str) -> None:
    page.fill(f"#{role}-code", code)
    for purpose in purposes:
        page.check(f"#{role}-consent-{purpose}")
    page.check(f"#{role}-kind-{kind}")


def _create_confirming_consents(page: Any) -> None:
    """Press Create; the question about missing live-display or storage consent is answered."""
    page.click("#create")
    if page.is_visible("#consent-confirm"):
        page.click("#create:has-text('Start anyway')")


def test_setup_creates_participants_consents_session_and_starts_it(
    laptop: Tab, server: Any
) -> None:
    page = laptop.page
    laptop.open("/sessions/new")
    # Nothing is ticked or chosen for the therapist (outside the demo).
    assert page.locator(".consent input:checked").count() == 0
    assert page.locator(".consent input").count() == 2 * len(PURPOSES)
    assert page.locator('input[data-name="kind"]:checked').count() == 0
    rows = page.locator("#phases tr")
    assert rows.count() == len(DEFAULT_FIRST_SESSION.phases)
    assert page.locator("#phases-total").inner_text() == "1 h 0 min"
    # Readable at arm's length: body text at least 16 CSS px (18 px base).
    assert page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)") >= 16
    laptop.shot("setup-empty-1366x768.png")

    # Consents that do not fit together are explained, not blocked.
    page.check("#patient-consent-review")
    hint = page.locator(".person[data-role='patient'] [data-consent-hint]")
    assert "without Storage nothing is kept" in hint.inner_text()
    assert "Without Live display" in hint.inner_text()
    page.uncheck("#patient-consent-review")
    # With nothing ticked, what cannot happen is said before anything is created.
    assert "has not consented to anything" in hint.inner_text()
    assert "not shown during the session" in hint.inner_text()
    assert "nothing to review" in hint.inner_text()

    page.fill("#minutes-welcome", "12")
    assert page.locator("#phases-total").inner_text() == "1 h 2 min"
    page.fill("#label", "room 2")
    patient_purposes = ("live_display", "storage", "review")
    therapist_purposes = ("live_display", "storage", "synchrony", "research_export")
    _fill_person(page, "patient", "P-0042", patient_purposes, "simulator")
    _fill_person(page, "therapist", "T-007", therapist_purposes, "simulator")
    page.select_option("#patient-on_revoke", "deidentify")
    assert laptop.no_horizontal_scroll()
    laptop.shot("setup-filled-1366x768.png")

    page.click("#create")
    page.wait_for_url(re.compile(r"/sessions/\d+/live\?token="), timeout=30_000)
    m = re.search(r"/sessions/(\d+)/live\?token=([^&]+)$", page.url)
    assert m is not None, page.url
    session_id = int(m.group(1))
    assert m.group(2) == server.token
    assert laptop.errors == []

    with server.client() as api:
        detail = api.get(f"/api/sessions/{session_id}").json()
        assert detail["status"] == "live"
        assert detail["live"] is True
        assert detail["label"] == "room 2"
        minutes = {p["id"]: p["minutes"] for p in detail["phase_template"]["phases"]}
        assert minutes == {
            **{p.id: p.duration_s / 60 for p in DEFAULT_FIRST_SESSION.phases},
            "welcome": 12.0,
        }
        people = {p["role"]: p for p in detail["participants"]}
        assert {r: (p["code"], p["source_kind"]) for r, p in people.items()} == {
            "patient": ("P-0042", "simulator"),
            "therapist": ("T-007", "simulator"),
        }
        for role, ticked in (("patient", patient_purposes), ("therapist", therapist_purposes)):
            pid = people[role]["participant_id"]
            consents = api.get(f"/api/participants/{pid}/consents").json()
            # Exactly the ticked purposes, for this session, with the page's wording version.
            assert sorted(c["purpose"] for c in consents) == sorted(ticked), role
            assert {c["session_id"] for c in consents} == {session_id}
            assert {c["version"] for c in consents} == {CONSENT_TEXT_VERSION}
            assert all(c["revoked_at_s"] is None for c in consents)
            storage = next(c for c in consents if c["purpose"] == "storage")
            assert storage["on_revoke"] == ("deidentify" if role == "patient" else "delete")

    # The API calls the page made, in order: participants, session, consents, start.
    posts = [path for method, path in laptop.api_calls if method == "POST"]
    assert posts[:2] == ["/api/participants", "/api/participants"]
    assert posts[2] == "/api/sessions"
    assert len([p for p in posts if p.endswith("/consents")]) == 7
    assert posts[-1] == f"/api/sessions/{session_id}/start"


def test_bad_input_is_shown_inline_and_nothing_is_created(laptop: Tab, server: Any) -> None:
    page = laptop.page
    laptop.open("/sessions/new")
    page.click("#create")
    assert "code is needed" in page.inner_text("#patient-code-error")
    assert "choose where" in page.inner_text("#therapist-device-error")
    assert page.is_visible("#form-error")

    page.fill("#patient-code", "Maria Rossi")
    page.fill("#therapist-code", "T-1")
    page.check("#patient-kind-ble")
    page.check("#therapist-kind-file")
    page.fill("#minutes-map", "0")
    page.click("#create")
    assert "expected letters, digits" in page.inner_text("#patient-code-error")
    assert page.get_attribute("#patient-code", "aria-invalid") == "true"
    assert "address or name" in page.inner_text("#patient-device-error")
    assert "path of the file" in page.inner_text("#therapist-device-error")
    assert "Mind-body-context map" in page.inner_text("#template-error")
    laptop.shot("setup-errors-1366x768.png")
    assert [c for c in laptop.api_calls if c[0] == "POST"] == []
    assert laptop.errors == []


def test_a_code_of_the_other_role_is_refused_next_to_the_field(laptop: Tab, server: Any) -> None:
    with server.client() as api:
        assert (
            api.post("/api/participants", json={"code": "X-9", "role": "therapist"}).status_code
            == 201
        )
        before = e2e.session_ids(api)
    page = laptop.page
    laptop.open("/sessions/new")
    _fill_person(page, "patient", "X-9", ("live_display",), "simulator")
    _fill_person(page, "therapist", "T-8", ("live_display",), "simulator")
    _create_confirming_consents(page)
    page.wait_for_selector("#patient-code-error:has-text('already registered as a therapist')")
    with server.client() as api:
        assert e2e.session_ids(api) == before
    assert laptop.errors == []


def test_api_validation_errors_land_next_to_their_field(laptop: Tab, server: Any) -> None:
    # A 422 in FastAPI's shape (loc, msg) for the therapist's device, as the API would send for a
    # value the page did not catch; the page must put it next to that person's device.
    detail = [
        {
            "type": "string_too_long",
            "loc": ["body", "participants", 1, "device", "address"],
            "msg": "String should have at most 200 characters",
        }
    ]

    def refuse(r: Any) -> None:
        if r.request.method == "POST":
            r.fulfill(
                status=422, content_type="application/json", body=json.dumps({"detail": detail})
            )
        else:
            r.continue_()

    page = laptop.page
    page.route(re.compile(r".*/api/sessions$"), refuse)
    laptop.open("/sessions/new")
    _fill_person(page, "patient", "P-422", ("live_display",), "simulator")
    _fill_person(page, "therapist", "T-422", ("live_display",), "ble")
    page.fill("#therapist-address", "AA:BB:CC:DD:EE:FF")
    _create_confirming_consents(page)
    page.wait_for_selector("#therapist-device-error:has-text('at most 200 characters')")
    assert page.inner_text("#patient-device-error") == ""
    assert "marked fields" in page.inner_text("#form-error")
    # The button stays usable for another try.
    assert page.is_enabled("#create")
    assert [e for e in laptop.errors if "422" not in e] == []


def test_tablet_layout_and_demo_prefill(tablet: Tab) -> None:
    page = tablet.page
    tablet.open("/sessions/new", demo="1")
    assert page.locator(".consent input:checked").count() == 2 * len(PURPOSES)
    assert page.locator('input[data-name="kind"][value="simulator"]:checked').count() == 2
    # The two people stack on a tablet and nothing needs horizontal scrolling.
    boxes = [
        page.locator(f".person[data-role='{r}']").bounding_box() for r in ("patient", "therapist")
    ]
    assert boxes[1]["y"] >= boxes[0]["y"] + boxes[0]["height"]
    assert tablet.no_horizontal_scroll()
    tablet.shot("setup-demo-820x1180.png")
    assert tablet.errors == []


def test_sessions_page_lists_sessions_and_starts_a_planned_one(laptop: Tab, server: Any) -> None:
    with server.client() as api:
        pid = api.post("/api/participants", json={"code": "P-LIST", "role": "patient"}).json()["id"]
        body = {
            "label": "planned",
            "participants": [{"participant_id": pid, "device": {"kind": "simulator", "seed": 3}}],
        }
        planned = api.post("/api/sessions", json=body).json()["id"]
        ids = e2e.session_ids(api)
    page = laptop.page
    laptop.open("/sessions")
    page.wait_for_selector("#sessions tbody tr")
    shown = page.locator("#sessions tbody tr").evaluate_all(
        "rows => rows.map(r => Number(r.dataset.sessionId))"
    )
    assert shown == ids  # newest first, as the API lists them
    row = page.locator(f"tr[data-session-id='{planned}']")
    assert row.locator(".status").inner_text() == "planned"
    link = row.locator("a", has_text="View")
    assert link.get_attribute("href") == f"/sessions/{planned}/live?token={server.token}"
    alliance = row.locator("a", has_text="Alliance scores")
    assert alliance.get_attribute("href") == f"/sessions/{planned}/alliance?token={server.token}"
    assert row.locator("a", has_text="Review").count() == 0  # not before the session ends
    assert laptop.no_horizontal_scroll()
    laptop.shot("sessions-1366x768.png")

    row.locator("button", has_text="Start").click()
    page.wait_for_url(re.compile(rf"/sessions/{planned}/live\?token="), timeout=30_000)
    with server.client() as api:
        assert api.get(f"/api/sessions/{planned}").json()["status"] == "live"
    assert laptop.errors == []


def test_pages_without_token_say_what_to_open(laptop: Tab) -> None:
    page = laptop.page
    page.goto(f"{laptop.base_url}/sessions/new", wait_until="load")
    assert page.is_visible("#token-missing")
    assert page.is_disabled("#create")
    page.goto(f"{laptop.base_url}/sessions", wait_until="load")
    assert page.is_visible("#token-missing")
    assert laptop.errors == []
    assert laptop.api_calls == []


def test_a_failed_start_is_resumed_with_the_same_session(laptop: Tab, server: Any) -> None:
    page = laptop.page
    laptop.open("/sessions/new")
    _fill_person(page, "patient", "P-RETRY", ("live_display", "storage"), "file")
    page.fill("#patient-path", "/nonexistent/sintonia/beats.csv")
    _fill_person(page, "therapist", "T-RETRY", ("live_display",), "simulator")
    page.click("#create")
    # The therapist's beats would not be stored: said once more, then a deliberate second click.
    assert page.is_visible("#consent-confirm")
    assert "Therapist: Without Storage" in page.inner_text("#consent-confirm")
    assert not [c for c in laptop.api_calls if c[0] == "POST"]
    page.click("#create:has-text('Start anyway')")
    page.wait_for_selector("#create:has-text('Try again with session')", timeout=30_000)
    assert page.is_visible("#form-error")
    assert page.locator("#progress li.failed").inner_text() == "Start"
    laptop.shot("setup-start-failed-1366x768.png")
    m = re.search(r"session (\d+)", page.inner_text("#create"))
    assert m is not None
    session_id = int(m.group(1))
    # The plan is fixed once the session exists; the device can still be corrected.
    assert page.is_disabled("#patient-code")
    assert page.is_disabled("#minutes-welcome")
    with server.client() as api:
        assert api.get(f"/api/sessions/{session_id}").json()["status"] != "live"

    page.check("#patient-kind-simulator")
    page.click("#create")
    page.wait_for_url(re.compile(rf"/sessions/{session_id}/live\?token="), timeout=30_000)
    with server.client() as api:
        detail = api.get(f"/api/sessions/{session_id}").json()
        assert detail["status"] == "live"
        kinds = {p["code"]: p["source_kind"] for p in detail["participants"]}
        assert kinds == {"P-RETRY": "simulator", "T-RETRY": "simulator"}
        pid = next(p["participant_id"] for p in detail["participants"] if p["code"] == "P-RETRY")
        consents = api.get(f"/api/participants/{pid}/consents").json()
        # Granted once each, not again on the retry.
        assert sorted(c["purpose"] for c in consents) == ["live_display", "storage"]
    # The failed start is the only console message (Chromium logs failed requests).
    assert all("Failed to load resource" in e for e in laptop.errors), laptop.errors


def test_scan_button_reports_what_it_found_or_why_not(laptop: Tab) -> None:
    page = laptop.page
    laptop.open("/sessions/new")
    page.check("#patient-kind-ble")
    assert page.is_visible("#patient-address")
    page.click(".person[data-role='patient'] [data-action='scan']")
    status = page.locator(".person[data-role='patient'] [data-scan-status]")
    page.wait_for_function(
        "el => el.textContent && !el.textContent.startsWith('Scanning for')",
        arg=status.element_handle(),
        timeout=40_000,
    )
    text = status.inner_text()
    # This machine may or may not have Bluetooth: each outcome is said in words.
    assert text.startswith(
        ("Choose a strap", "No strap found", "Scan failed", "Scanning is not available")
    ), text
    assert page.is_enabled(".person[data-role='patient'] [data-action='scan']")
    assert all("Failed to load resource" in e for e in laptop.errors), laptop.errors


def test_a_session_without_consents_is_explained_before_it_starts(laptop: Tab, server: Any) -> None:
    """Issue 13: nothing ticked used to be accepted silently, and the live page then showed a
    "privacy pause" whose Resume could never work."""
    page = laptop.page
    laptop.open("/sessions/new")
    _fill_person(page, "patient", "P-NOCONSENT", (), "simulator")
    _fill_person(page, "therapist", "T-NOCONSENT", ("live_display", "storage"), "simulator")
    page.click("#create")
    box = page.locator("#consent-confirm")
    assert box.is_visible()
    text = box.inner_text()
    assert "Patient: The patient has not consented to anything" in text
    assert "trace is not shown" in text
    assert "none of their heartbeats is kept" in text
    assert "co-regulation with the other person is not computed" in text
    assert "Therapist" not in text.split("Patient:")[0]
    laptop.shot("setup-no-consent-1366x768.png")
    assert not [c for c in laptop.api_calls if c[0] == "POST"]  # nothing created yet
    # Ticking a box withdraws the question; the next click asks again.
    page.check("#patient-consent-review")
    assert not box.is_visible()
    page.uncheck("#patient-consent-review")
    page.click("#create")
    assert box.is_visible()
    page.click("#create:has-text('Start anyway')")
    page.wait_for_url(re.compile(r"/sessions/\d+/live\?token="), timeout=30_000)
