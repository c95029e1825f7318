"""The alliance-score form in Debian's Chromium against a real ``sintonia serve`` on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

OUTPUT = Path(__file__).resolve().parents[2] / "test-output"


from tests.support import e2e  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    data_dir = tmp_path_factory.mktemp("alliance-page") / "data"
    with e2e.running_server(["serve", "--port", "0"], data_dir) as srv:
        yield srv


def test_srs_entered_in_the_form_is_stored_with_its_total(server: Any, browser: Any) -> None:
    with server.client() as api:
        pid = api.post("/api/participants", json={"code": "P-AL", "role": "patient"}).json()["id"]
        device = {"kind": "simulator", "seed": 1}
        body = {"participants": [{"participant_id": pid, "device": device}]}
        sid = api.post("/api/sessions", json=body).json()["id"]
    errors: list[str] = []
    foreign: list[str] = []
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    try:
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on(
            "request",
            lambda r: None if r.url.startswith(server.base_url) else foreign.append(r.url),
        )
        page.goto(f"{server.base_url}/sessions/{sid}/alliance?token={server.token}")
        page.wait_for_selector("#items input")
        page.select_option("#instrument", "SRS")
        inputs = page.locator("#items input")
        assert inputs.count() == 4  # SRS: four items
        for i, score in enumerate(("7", "8", "9", "6.5")):
            inputs.nth(i).fill(score)
        page.locator("#alliance-form button[type=submit]").click()
        page.wait_for_selector("#saved:not([hidden])")
        assert "30.5" in page.locator("#saved").inner_text()  # 7 + 8 + 9 + 6.5
        OUTPUT.mkdir(exist_ok=True)
        page.screenshot(path=str(OUTPUT / "alliance-1366x900.png"), full_page=True)
    finally:
        page.close()
    with server.client() as api:
        stored = api.get(f"/api/sessions/{sid}/alliance").json()["scores"]
    assert [(s["instrument"], s["total"]) for s in stored] == [("SRS", 30.5)]
    assert stored[0]["items"] == {"1": 7.0, "2": 8.0, "3": 9.0, "4": 6.5}
    assert errors == []
    assert foreign == []
