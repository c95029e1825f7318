"""The patient's page of a remote session in real Chromium against a real ``sintonia serve``.

Debian's Chromium (``/usr/bin/chromium``, launched with ``--enable-features=WebBluetooth``) on
127.0.0.1 (a secure origin). Checked: the page's 0x2A37 parser (``hrm.js``) decodes the shared
vector file exactly as :mod:`sensor.gatt` does (``tests/sensor/test_gatt_vectors.py``), the
patient gives and withdraws consents themself (recorded as given by the participant), no request
leaves the machine and no inline script or console error occurs.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

pytestmark = pytest.mark.slow


def _load_harness() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "server" / "_e2e.py"
    spec = importlib.util.spec_from_file_location("sintonia_tests_e2e", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


e2e = _load_harness()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    data_dir = tmp_path_factory.mktemp("join-page") / "data"
    with e2e.running_server(["serve", "--port", "0"], data_dir) as srv:
        yield srv


@pytest.fixture
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("Debian's chromium is not installed (scripts/test installs it)")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--enable-features=WebBluetooth"]
        )
        try:
            yield b
        finally:
            b.close()


def _link(server: Any, code: str) -> tuple[int, int, str]:
    with server.client() as api:
        p = api.post("/api/participants", json={"code": code, "role": "patient"}).json()
        sid = int(api.post("/api/sessions", json={"label": "remote"}).json()["id"])
        r = api.post(
            f"/api/sessions/{sid}/join-links",
            json={"participant_id": p["id"], "expires_in_s": 3600},
        )
        assert r.status_code == 201, r.text
        return sid, int(p["id"]), str(r.json()["url"])


def _page(browser: Any, errors: list[str], foreign: list[str]) -> Any:
    page = browser.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))

    def route(r: Any) -> None:
        if r.request.url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:")):
            r.continue_()
        else:
            foreign.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    return page


def test_parser_matches_the_shared_vectors(server: Any, browser: Any) -> None:
    _, _, url = _link(server, "P-VEC")
    errors: list[str] = []
    foreign: list[str] = []
    page = _page(browser, errors, foreign)
    page.goto(url, wait_until="load")
    result = page.evaluate(
        """async () => {
        const v = await (await fetch('/static/hrm_vectors.json')).json();
        const out = {valid: [], malformed: []};
        for (const c of v.valid) {
          const m = window.SintoniaHRM.parse(window.SintoniaHRM.fromHex(c.hex));
          out.valid.push([c, m]);
        }
        for (const h of v.malformed) {
          const H = window.SintoniaHRM;
          try { H.parse(H.fromHex(h)); out.malformed.push(false); }
          catch (e) { out.malformed.push(true); }
        }
        return out;
      }"""
    )
    assert len(result["valid"]) >= 8
    for case, got in result["valid"]:
        for key in ("heart_rate_bpm", "contact", "energy_expended_kj", "rr_raw"):
            assert got[key] == case[key], (case["hex"], key)
        assert got["rr_ms"] == [r * 1000.0 / 1024.0 for r in case["rr_raw"]]
    assert result["malformed"]
    assert all(result["malformed"])
    assert not errors
    assert not foreign


def test_patient_gives_and_withdraws_consent_on_the_page(server: Any, browser: Any) -> None:
    _, pid, url = _link(server, "P-CONSENT")
    errors: list[str] = []
    foreign: list[str] = []
    page = _page(browser, errors, foreign)
    page.goto(url, wait_until="load")
    for purpose in ("storage", "live_display"):
        item = page.locator(f'li[data-purpose="{purpose}"]')
        item.locator("button.give").click()
        item.locator(".consent-state").filter(has_text="You agreed.").wait_for()
    with server.client() as api:
        consents = api.get(f"/api/participants/{pid}/consents").json()
    active = {c["purpose"] for c in consents if c["revoked_at_s"] is None}
    assert active == {"storage", "live_display"}
    assert all(c["recorded_by"].startswith("participant:") for c in consents)
    page.locator('li[data-purpose="live_display"] button.refuse').click()
    page.locator('li[data-purpose="live_display"] .consent-state').filter(
        has_text="Not agreed."
    ).wait_for()
    with server.client() as api:
        consents = api.get(f"/api/participants/{pid}/consents").json()
    assert {c["purpose"] for c in consents if c["revoked_at_s"] is None} == {"storage"}
    # the upload connects once storage is agreed (the server's hello arrives)
    page.locator("#st-upload").filter(has_text="everything stored").wait_for()
    assert page.evaluate("typeof navigator.bluetooth") == "object"
    assert not errors, errors
    assert not foreign
