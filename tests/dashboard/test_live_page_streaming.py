"""How the live page draws, in real Chromium against a real ``sintonia demo`` on loopback
(60x simulated time): new beats extend the figure (``Plotly.extendTraces``) instead of
rebuilding it; in the last-10-minutes view the figure holds only that window, so its cost does
not grow with the session; and the breathing pacer runs on a CSS animation whose period is one
breath at the chosen rate (and does not move under ``prefers-reduced-motion``).

What the page asks of plotly is counted by a probe installed before plotly loads
(``tests/support/live_probe.py``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("playwright.sync_api")
from playwright.sync_api import Browser, Page

from tests.support import e2e
from tests.support.live_probe import PLOTLY_PROBE_JS, probe_stats

pytestmark = pytest.mark.slow

SPEED = "60"
MINUTES = "90"
TIMEOUT_MS = 45_000
#: Wall time over which streaming is watched, s (10 simulated minutes at 60x).
WATCH_S = 10.0
SESSION_MIN_JS = (
    "(() => { const S = window.sintoniaLive.state; if (!S.clockAt || S.startedAt == null) "
    "return 0; return (S.clockAt[0] + S.speed * (performance.now() - S.clockAt[1]) / 1000 "
    "- S.startedAt) / 60; })()"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    data_dir = tmp_path_factory.mktemp("live_streaming") / "data"
    args = ["demo", "--port", "0", "--speed", SPEED, "--minutes", MINUTES, "--no-browser"]
    with e2e.running_server(args, data_dir) as srv:
        yield srv


@pytest.fixture(scope="module")
def page(browser: Browser, server: Any) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    pg = context.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.add_init_script(PLOTLY_PROBE_JS)
    pg.goto(f"{server.base_url}/?token={server.token}")
    pg.wait_for_selector('#conn[data-state="online"]')
    pg.wait_for_function("() => window.sintoniaLive.plottedArousal('T-DEMO') > 0")
    try:
        yield pg
    finally:
        context.close()
    assert errors == []


def _rebuilds(stats: dict[str, Any]) -> int:
    return int(stats["calls"].get("newPlot", 0) + stats["calls"].get("react", 0))


def test_streaming_extends_the_figure_instead_of_rebuilding_it(page: Page) -> None:
    page.wait_for_timeout(1500)  # the history and the gap fill of the first connection drawn
    before = probe_stats(page)
    beats_before = page.evaluate("window.sintoniaLive.pointCount('P-DEMO')")
    time.sleep(WATCH_S)
    after = probe_stats(page)
    beats_after = page.evaluate("window.sintoniaLive.pointCount('P-DEMO')")
    extends = after["calls"].get("extendTraces", 0) - before["calls"].get("extendTraces", 0)
    assert beats_after > beats_before + 100  # ~10 simulated minutes of beats arrived
    assert _rebuilds(after) == _rebuilds(before), (before, after)  # never rebuilt meanwhile
    assert _rebuilds(after) >= 1  # (built once, at the start)
    # about one extension a second (the page redraws once a second; a loaded machine may
    # skip a beat or two)
    assert WATCH_S - 4 <= extends <= WATCH_S + 2, extends
    assert after["extended"] - before["extended"] >= 3 * (beats_after - beats_before)


def test_the_last_minutes_view_holds_only_its_window(page: Page) -> None:
    page.wait_for_function(f"() => {SESSION_MIN_JS} > 14", timeout=60_000, polling=250)
    page.wait_for_timeout(1200)
    held = page.evaluate(
        "(() => { const gd = document.getElementById('chart');"
        " const tr = gd.data.find(t => t.meta && t.meta.kind === 'hr'"
        " && t.meta.participant === 'P-DEMO');"
        " const xs = tr.x.filter(x => x !== null);"
        " return {n: xs.length, first: xs[0], last: xs[xs.length - 1],"
        " range: gd.layout.xaxis.range}; })()"
    )
    beats = page.evaluate("window.sintoniaLive.pointCount('P-DEMO')")
    x0, x1 = held["range"]
    assert x1 - x0 == pytest.approx(10.0)  # the last 10 minutes
    # the trace starts at most a minute (plus one redraw of 60x) before the window
    assert x0 - 2.1 <= held["first"] <= x0 + 0.1, held
    assert held["last"] <= x1 + 0.1
    assert held["n"] < 0.9 * beats  # the page keeps every beat, the figure only the window
    # The whole session: rebuilt once with every beat, then extended again.
    before = probe_stats(page)
    page.click("#view-all")
    page.wait_for_timeout(2500)
    after = probe_stats(page)
    assert _rebuilds(after) == _rebuilds(before) + 1
    n_all = page.evaluate(
        "document.getElementById('chart').data.find(t => t.meta && t.meta.kind === 'hr'"
        " && t.meta.participant === 'P-DEMO').x.filter(x => x !== null).length"
    )
    assert n_all >= page.evaluate("window.sintoniaLive.pointCount('P-DEMO')") - 200
    assert after["calls"].get("extendTraces", 0) > before["calls"].get("extendTraces", 0)
    page.click("#view-window")
    page.wait_for_timeout(1200)


def _pacer(page: Page) -> dict[str, Any]:
    return dict(
        page.evaluate(
            "(() => { const ball = document.getElementById('pacer-ball');"
            " const cs = getComputedStyle(ball);"
            " const a = ball.getAnimations().find(x => String(x.animationName)"
            ".startsWith('pacer-breathe'));"
            " return {name: cs.animationName, iterations: cs.animationIterationCount,"
            " inline: ball.getAttribute('style'), width: ball.getBoundingClientRect().width,"
            " track: ball.parentElement.getBoundingClientRect().width,"
            " duration: a ? a.effect.getComputedTiming().duration : null,"
            " t: a ? a.currentTime : null, playing: a ? a.playState : null,"
            " label: document.getElementById('pacer-phase').textContent}; })()"
        )
    )


def _label_follows_the_animation(page: Page, period_ms: float, samples: int = 12) -> None:
    checked = 0
    for _ in range(samples):
        p = _pacer(page)
        phase = p["t"] % period_ms
        near_edge = min(abs(phase - period_ms / 2), phase, period_ms - phase) < 150
        if not near_edge:
            expected = "breathe in" if phase < period_ms / 2 else "breathe out"
            assert p["label"] == expected, (p, period_ms)
            checked += 1
        page.wait_for_timeout(330)
    assert checked >= samples // 2


def test_the_pacer_breathes_on_a_css_animation_at_the_chosen_rate(page: Page) -> None:
    with page.expect_response(lambda r: r.url.endswith("/pacer")):
        page.click("#pacer-toggle")
    assert page.input_value("#pacer-rate") == "6"
    p = _pacer(page)
    assert p["name"] == "pacer-breathe"
    assert p["iterations"] == "infinite"
    assert p["playing"] == "running"
    assert p["duration"] == pytest.approx(60_000 / 6)  # one breath at 6/min: 10 s
    assert not p["inline"]  # no script moves the ball: the stylesheet's animation does
    # the ball grows over the first half-breath and shrinks over the second
    widths = []
    for _ in range(6):
        q = _pacer(page)
        widths.append((q["t"] % 10_000, q["width"] / q["track"]))
        page.wait_for_timeout(400)
    for phase, frac in widths:
        # keyframes: 10 % at 0 and 100 %, full width at 50 % (ease-in-out between)
        assert 0.09 <= frac <= 1.01
        if 4_000 <= phase <= 6_000:
            assert frac > 0.75, widths
        if phase <= 700 or phase >= 9_300:
            assert frac < 0.25, widths
    _label_follows_the_animation(page, 10_000)
    page.fill("#pacer-rate", "4.5")
    p = _pacer(page)
    assert p["duration"] == pytest.approx(60_000 / 4.5)
    assert p["playing"] == "running"
    _label_follows_the_animation(page, 60_000 / 4.5)
    page.fill("#pacer-rate", "7")
    assert _pacer(page)["duration"] == pytest.approx(60_000 / 7)
    # Reduced motion: the ball stays at full width and only brightens and fades.
    page.emulate_media(reduced_motion="reduce")
    p = _pacer(page)
    assert p["name"] == "pacer-breathe-still"
    assert p["duration"] == pytest.approx(60_000 / 7)
    first = p["width"]
    page.wait_for_timeout(1500)
    assert _pacer(page)["width"] == pytest.approx(first)
    assert first == pytest.approx(p["track"], abs=1.0)
    _label_follows_the_animation(page, 60_000 / 7, samples=6)
    page.emulate_media(reduced_motion="no-preference")
    page.click("#pacer-toggle")
    assert page.is_hidden("#pacer")
