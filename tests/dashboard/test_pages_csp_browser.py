"""Every page under the one header policy, in Debian's Chromium against a real ``sintonia demo``.

Each page (setup, sessions, live, review, alliance, join) is opened with its token; the test
records every ``securitypolicyviolation`` event (CSP Level 3, section 5.4: fired on the document
for each blocked script, style, connection or frame), console error and uncaught exception, and
checks that the page did its work under the policy: plotly drew the live and review figures (the
review page loads plotly.js from this server, not inlined), the setup page built its consent
boxes from the vocabulary of its page configuration, the join page named each purpose.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from dashboard.vocab import CONSENT_WORDS, ROLE_LABELS

pytestmark = pytest.mark.slow

from tests.support import e2e  # noqa: E402

#: Generous for a loaded 2-core machine, ms.
TIMEOUT_MS = 30_000
#: Collects CSP violations before any script of the page runs.
_RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(e.violatedDirective + " " + e.blockedURI + " " + (e.sourceFile || ""));
});
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    data_dir = tmp_path_factory.mktemp("csp-pages") / "data"
    args = ["demo", "--port", "0", "--speed", "60", "--minutes", "90", "--no-browser"]
    with e2e.running_server(args, data_dir) as srv:
        yield srv


@pytest.fixture(scope="module")
def tab(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    context.add_init_script(_RECORD_VIOLATIONS)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.errors = []
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.on(
        "response",
        lambda r: page.errors.append(f"{r.status} {r.url}") if r.status >= 400 else None,
    )
    yield page
    context.close()


def _open(tab: Any, url: str) -> Any:
    tab.errors.clear()
    response = tab.goto(url, wait_until="load")
    assert response is not None
    assert response.status == 200, url
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    return response


def _clean(tab: Any, url: str) -> None:
    assert tab.evaluate("window.__csp") == [], url
    assert tab.errors == [], url


def _live_session(server: Any) -> int:
    with server.client() as api:
        return int(e2e.wait_until(lambda: e2e.session_ids(api, "live") or None)[0])


def test_setup_and_sessions_pages(server: Any, tab: Any) -> None:
    url = f"{server.base_url}/sessions/new?token={server.token}"
    _open(tab, url)
    tab.wait_for_selector(".consent input")
    labels = tab.locator('.person[data-role="patient"] .consent .purpose').all_inner_texts()
    assert labels == [w.label for w in CONSENT_WORDS.values()]
    tags = tab.locator(".role-tag").all_inner_texts()
    assert tags == list(ROLE_LABELS.values())
    _clean(tab, url)
    url = f"{server.base_url}/sessions?token={server.token}"
    _open(tab, url)
    tab.wait_for_selector("#sessions tbody tr")
    assert "live" in tab.locator("#sessions tbody").inner_text()
    _clean(tab, url)


def test_live_page_draws_under_the_policy(server: Any, tab: Any) -> None:
    sid = _live_session(server)
    url = f"{server.base_url}/sessions/{sid}/live?token={server.token}"
    _open(tab, url)
    tab.wait_for_selector("#chart .main-svg")
    # (wait_for_function would evaluate a string, which the policy rightly forbids)
    tab.wait_for_selector('#conn[data-state="online"]')
    tab.wait_for_timeout(2000)  # a few WebSocket messages
    _clean(tab, url)


def test_alliance_and_join_pages(server: Any, tab: Any) -> None:
    sid = _live_session(server)
    url = f"{server.base_url}/sessions/{sid}/alliance?token={server.token}"
    _open(tab, url)
    tab.wait_for_selector("#participant option", state="attached")
    roles = tab.locator("#participant option").all_inner_texts()
    assert any(f"({ROLE_LABELS['patient']})" in r for r in roles), roles
    _clean(tab, url)
    with server.client() as api:
        pid = api.post("/api/participants", json={"code": "P-JOIN", "role": "patient"}).json()
        planned = int(api.post("/api/sessions", json={"label": "remote"}).json()["id"])
        r = api.post(
            f"/api/sessions/{planned}/join-links",
            json={"participant_id": pid["id"], "expires_in_s": 3600},
        )
        assert r.status_code == 201, r.text
        join_url = r.json()["url"]
    url = join_url if join_url.startswith("http") else server.base_url + join_url
    _open(tab, url)
    tab.wait_for_selector("#purposes li h3")
    names = tab.locator("#purposes li h3").all_inner_texts()
    assert names == [w.label for w in CONSENT_WORDS.values()]
    _clean(tab, url)


def test_review_page_loads_plotly_from_this_server(server: Any, tab: Any) -> None:
    sid = _live_session(server)
    with server.client() as api:
        assert api.post(f"/api/sessions/{sid}/stop").status_code == 200
    url = f"{server.base_url}/sessions/{sid}/review?token={server.token}"
    response = _open(tab, url)
    assert len(response.body()) < 1_000_000
    tab.wait_for_selector("#figure-session .main-svg")
    assert tab.evaluate("typeof window.Plotly") == "object"
    scripts = tab.evaluate("[...document.scripts].filter(s => s.src).map(s => s.src)")
    assert scripts == [f"{server.base_url}/static/vendor/plotly.min.js"]
    drawn = tab.evaluate("document.querySelectorAll('.js-plotly-plot .main-svg').length")
    assert drawn >= 2
    _clean(tab, url)
