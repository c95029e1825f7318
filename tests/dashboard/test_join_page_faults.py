"""Faults of a remote session with the patient's page as the client, in real Chromium (issue 15).

The page (``/join/{token}``) runs in Debian's Chromium with an emulated strap
(:mod:`tests.support.bluetooth`) against a real ``sintonia serve`` subprocess on loopback. The
test feeds the strap known RR intervals, each value distinct, at the pace of the beats they
describe, and compares them with what the server stored:

* the patient's network offline for two minutes (``BrowserContext.set_offline``) while the strap
  keeps delivering: nothing reaches the server meanwhile, the page keeps the beats in IndexedDB,
  and once back online every beat is stored exactly once, in order, with no gap marked (the
  strap was on all along);
* the strap disconnected (``simulateGATTDisconnection``) and back: the page reconnects it by
  itself and the only gap marked is the first beat after the reconnection, whose time is off by
  the time the strap was really off;
* the server killed with SIGKILL and restarted on the same port and SQLite file: the page
  reconnects by itself, zero beats lost or duplicated.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final

import pytest

from tests.support import e2e
from tests.support.bluetooth import EmulatedStrap

pytestmark = pytest.mark.slow

#: The page re-anchors beat times when the summed RR drifts more than 2 s from its clock.
REANCHOR_S: Final[float] = 2.0
#: How long the patient's network is off in the long test, s (the issue asks for 2 minutes).
OFFLINE_S: Final[float] = 120.0
#: How long the strap is off in the disconnection test, s.
STRAP_OFF_S: Final[float] = 6.0


def _rr_raw(k: int) -> int:
    """The k-th RR fed, 1/1024 s: distinct for the first 160 beats, 760-917 ms."""
    return 778 + (k * 37) % 161


class Feeder:
    """Feeds the strap two beats per notification, paced by the beats' own RR intervals."""

    def __init__(self, strap: EmulatedStrap, page: Any) -> None:
        self.strap = strap
        self.page = page
        self.fed: list[int] = []
        self.read_times: list[float] = []
        self._due: float | None = None

    async def run(self, notifications: int) -> None:
        for _ in range(notifications):
            k = len(self.fed)
            rr = [_rr_raw(k), _rr_raw(k + 1)]
            if self._due is not None:
                await asyncio.sleep(max(0.0, self._due - time.monotonic()))
            await self.strap.beat(self.page, rr)
            self.fed.extend(rr)
            self.read_times.append(time.time())
            now = time.monotonic()
            base = now if self._due is None or now - self._due > 1.0 else self._due
            self._due = base + sum(rr) / 1024.0

    def pause(self) -> None:
        """The next notification comes as soon as asked (after a deliberate pause)."""
        self._due = None


async def _patient_session(
    server: e2e.ServerProcess,
    body: Callable[[Any, Any, EmulatedStrap, Feeder, int], Awaitable[None]],
    *,
    timeout_s: float,
) -> tuple[int, list[int], list[float]]:
    """Plan a remote session, open the patient's page with an emulated strap, run ``body``."""
    from playwright.async_api import async_playwright

    with server.client() as api:
        p = api.post("/api/participants", json={"code": "P-FAULT", "role": "patient"}).json()
        sid = int(api.post("/api/sessions", json={"label": "faults"}).json()["id"])
        link = api.post(
            f"/api/sessions/{sid}/join-links",
            json={"participant_id": p["id"], "expires_in_s": 3600},
        )
        assert link.status_code == 201, link.text
        url = str(link.json()["url"])
        assert api.post(f"/api/sessions/{sid}/start").status_code in (200, 201)
    errors: list[str] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--enable-features=WebBluetooth"]
        )
        try:
            context = await browser.new_context()
            page = await context.new_page()
            page.on("pageerror", lambda e: errors.append(str(e)))
            strap = EmulatedStrap(browser)
            await strap.start()
            await strap.attach_chooser(page)
            await page.goto(url)
            for purpose in ("storage", "live_display", "review"):
                item = page.locator(f'li[data-purpose="{purpose}"]')
                await item.locator("button.give").click()
                await item.locator(".consent-state").filter(has_text="You agreed.").wait_for()
            await page.locator("#connect").click()
            await page.locator("#st-strap").filter(has_text="connected (").wait_for(timeout=20_000)
            feeder = Feeder(strap, page)
            await asyncio.wait_for(body(context, page, strap, feeder, sid), timeout_s)
            await (
                page.locator("#st-upload")
                .filter(has_text="everything stored")
                .wait_for(timeout=60_000)
            )
            return sid, feeder.fed, feeder.read_times
        finally:
            await browser.close()


def _stored(server: e2e.ServerProcess, sid: int) -> dict[str, list[Any]]:
    with server.client() as api:
        beats = e2e.all_beats(api, sid)
    order = sorted(range(len(beats["beat_time_s"])), key=lambda i: beats["beat_time_s"][i])
    return {k: [v[i] for i in order] for k, v in beats.items()}


def _assert_same_beats(stored: dict[str, list[Any]], fed: list[int]) -> None:
    """Every fed beat stored once, in order, RR exact (1/1024 s)."""
    keys = list(zip(stored["device"], stored["seq"], strict=True))
    assert len(set(keys)) == len(keys), "a beat was stored twice"
    assert len(stored["rr_ms"]) == len(fed), (len(stored["rr_ms"]), len(fed))
    assert stored["rr_ms"] == [r * 1000.0 / 1024.0 for r in fed]


def _assert_no_gap_where_on(
    stored: dict[str, list[Any]], gap_at: set[int], read_times: list[float]
) -> None:
    """Gaps flagged exactly at ``gap_at``; elsewhere the beat times follow the RR intervals.

    Within one notification the page sums the RR intervals (exact); across notifications it may
    re-anchor to its clock when the sum drifts more than :data:`REANCHOR_S` from it, so a step
    may differ from the RR by that much, or by how late the notification really came (a loaded
    machine can stall the browser; ``read_times`` are when each notification was delivered).
    """
    flagged = {i for i, g in enumerate(stored["gap_before"]) if g}
    assert flagged == gap_at, flagged
    t = stored["beat_time_s"]
    rr = stored["rr_ms"]
    for i in range(1, len(t)):
        if i in gap_at:
            continue
        step = t[i] - t[i - 1]
        if i % 2:  # the second beat of a notification: summed from the first
            assert abs(step - rr[i] / 1000.0) < 1e-3, (i, step, rr[i])
            continue
        n = i // 2
        late = abs((read_times[n] - read_times[n - 1]) - (rr[i] + rr[i + 1]) / 1000.0)
        assert abs(step - rr[i] / 1000.0) <= max(REANCHOR_S, late) + 0.5, (i, step, late)


def _chromium() -> None:
    pytest.importorskip("playwright.async_api")
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("Debian's chromium is not installed (scripts/test installs it)")


def test_network_offline_two_minutes_loses_nothing(tmp_path: Path) -> None:
    _chromium()
    seen: dict[str, Any] = {}
    with e2e.running_server(["serve", "--port", "0"], tmp_path / "data") as server:

        async def body(
            context: Any, page: Any, strap: EmulatedStrap, feeder: Feeder, sid: int
        ) -> None:
            await feeder.run(6)
            await page.locator("#st-upload").filter(has_text="everything stored").wait_for()
            with server.client() as api:
                before = e2e.beat_count(api, sid)
            await context.set_offline(True)
            t_off = time.monotonic()
            notifications = 0
            while time.monotonic() - t_off < OFFLINE_S:
                await feeder.run(1)
                notifications += 1
            with server.client() as api:
                seen["during"] = e2e.beat_count(api, sid) - before
            seen["upload_text"] = await page.locator("#st-upload").text_content()
            seen["offline_beats"] = 2 * notifications
            await context.set_offline(False)
            await feeder.run(6)

        sid, fed, reads = asyncio.run(_patient_session(server, body, timeout_s=OFFLINE_S + 90))
        stored = _stored(server, sid)
    # the network really was off: nothing arrived meanwhile, the page kept the beats
    assert seen["during"] == 0, seen
    assert seen["offline_beats"] >= 120
    assert "kept here until stored" in seen["upload_text"], seen["upload_text"]
    _assert_same_beats(stored, fed)
    _assert_no_gap_where_on(stored, {0}, reads)


def test_strap_disconnected_and_back_marks_only_the_off_time(tmp_path: Path) -> None:
    _chromium()
    off: dict[str, float] = {}
    with e2e.running_server(["serve", "--port", "0"], tmp_path / "data") as server:

        async def body(
            context: Any, page: Any, strap: EmulatedStrap, feeder: Feeder, sid: int
        ) -> None:
            await feeder.run(8)
            last_before = feeder.read_times[-1]
            await strap.disconnect()
            await page.locator("#st-strap").filter(has_text="reconnecting").wait_for()
            await asyncio.sleep(STRAP_OFF_S)
            await strap.add_gatt()
            await page.locator("#st-strap").filter(has_text="connected (").wait_for(timeout=30_000)
            feeder.pause()
            await feeder.run(8)
            off["wall_s"] = feeder.read_times[8] - last_before

        sid, fed, reads = asyncio.run(_patient_session(server, body, timeout_s=90))
        stored = _stored(server, sid)
    _assert_same_beats(stored, fed)
    # 8 notifications of 2 beats before: beat 16 is the first after the reconnection
    _assert_no_gap_where_on(stored, {0, 16}, reads)
    t = stored["beat_time_s"]
    # the gap spans the time the strap was off: from the last beat before to the first after
    # (placed one RR before its notification's receipt)
    expected = off["wall_s"] - stored["rr_ms"][17] / 1000.0
    assert off["wall_s"] >= STRAP_OFF_S
    assert abs((t[16] - t[15]) - expected) < 1.0, (t[16] - t[15], expected)


def test_server_kill_9_and_restart_loses_nothing(tmp_path: Path) -> None:
    _chromium()
    data_dir = tmp_path / "data"
    holder: dict[str, e2e.ServerProcess] = {}
    holder["server"] = e2e.start_server(
        ["serve", "--port", "0"], data_dir, log_path=tmp_path / "s1.log"
    )
    reconnected: dict[str, Any] = {}
    try:

        async def body(
            context: Any, page: Any, strap: EmulatedStrap, feeder: Feeder, sid: int
        ) -> None:
            await feeder.run(6)
            await page.locator("#st-upload").filter(has_text="everything stored").wait_for()
            port = holder["server"].port
            holder["server"].kill()  # SIGKILL: no shutdown of any kind
            await feeder.run(4)  # the strap keeps beating while the server is down
            reconnected["waiting"] = await page.locator("#st-upload").text_content()
            holder["server"] = await asyncio.to_thread(
                e2e.start_server,
                ["serve", "--port", str(port)],
                data_dir,
                log_path=tmp_path / "s2.log",
            )
            await feeder.run(6)

        sid, fed, reads = asyncio.run(_patient_session(holder["server"], body, timeout_s=120))
        stored = _stored(holder["server"], sid)
    finally:
        if holder["server"].proc.poll() is None:
            holder["server"].stop()
    assert "waiting for the server" in reconnected["waiting"], reconnected
    _assert_same_beats(stored, fed)
    _assert_no_gap_where_on(stored, {0}, reads)
