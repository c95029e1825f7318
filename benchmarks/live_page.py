"""The live page over a long session: JS heap and redraw cost at minute 5 against minute 60.

Run as ``python benchmarks/live_page.py [--minutes 60] [--speed 30] [--window 4] [--ref REF]``.

A real ``sintonia demo`` server (a subprocess on 127.0.0.1, simulated straps at ``--speed``
times real time, a session of ``--minutes`` plus a few) and Debian's headless Chromium
(``/usr/bin/chromium``, Playwright) showing its live page at 1366x768 in the default view (the
last 10 minutes), opened as the session starts. At session minute 5, half-way and at minute
``--minutes`` (the page's own session clock) it measures, over ``--window`` wall seconds:

* ``heap_mb``: JS heap in use after a forced garbage collection (CDP ``HeapProfiler.
  collectGarbage`` then ``Runtime.getHeapUsage``);
* ``busy_ms_per_s``: main-thread time of the page per wall second (CDP ``Performance.
  getMetrics`` ``TaskDuration``: scripts, style, layout, paint), which includes the handling of
  the simulated beats (``--speed`` times more than in a real session) and the redraws;
* ``plotly_ms_per_s`` and ``plotly_calls``: time spent synchronously in the page's plotly calls
  and their count, by kind (the probe of ``tests/support/live_probe.py``), ``points``: the
  points the figure's traces hold, and ``beats_held``: the beats the page keeps (every beat of
  the session, for the whole-session view and gap filling: the part of the heap that grows).

Baselines (same run): minute 5 of the same page (``ratio_late_vs_minute_5``: does the cost grow
with the length of the session?), and with ``--ref REF`` the live page of that git revision
(``live.html`` and ``static/`` files read with ``git show REF:dashboard/static/...``, served
in place of the current ones by the browser's request routing, on an identical server and
session): ``current_vs_ref_*`` at the first and last marks. Run on a quiet machine: the times
are main-thread times of one browser sharing the CPU with the simulated server. The last line
printed is one JSON object.

Measured with ``--ref`` the page before the ES modules (two runs at speed 30 on a 2-core VM
shared with other jobs, so times vary by 2x between runs): from minute 5 to 60 the figure's
points grew 1.6x on the new page (the window fills up: about 4,700) and 9x on the old one
(about 27,700); time in plotly per second 1.0x on the new page, 1.3x-2.7x on the old one; at
minute 60 the new page took 0.57x-0.83x the old one's plotly time, 0.54x-0.87x its main-thread
time and 0.73x-0.85x its heap. What still grows on the new page is the beats it keeps (about
0.35 kB a beat, 3 MB at minute 60 for two people).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

_HERE = Path(__file__).resolve().parent
ROOT: Final[Path] = _HERE.parent
# `python benchmarks/live_page.py` puts benchmarks/ first on sys.path: use the project's root.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import BrowserContext, Page, Route, sync_playwright  # noqa: E402

from tests.support import e2e  # noqa: E402
from tests.support.live_probe import PLOTLY_PROBE_JS, probe_stats  # noqa: E402

CHROMIUM: Final[str] = "/usr/bin/chromium"
#: A document fulfilled by the routing (the --ref page) has no address space of its own, and
#: Chromium's local-network checks would then block its WebSocket to 127.0.0.1.
CHROMIUM_ARGS: Final[list[str]] = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-features=LocalNetworkAccessChecks,BlockInsecurePrivateNetworkRequests",
]
#: The page's session clock, min (the same state object in the old and the new page).
SESSION_MIN_JS: Final[str] = (
    "(() => { const S = window.sintoniaLive && window.sintoniaLive.state;"
    " if (!S || !S.clockAt || S.startedAt == null) return null;"
    " const now = S.clockAt[0] + (S.status === 'live' ? S.speed * (performance.now() - "
    "S.clockAt[1]) / 1000 : 0); return (now - S.startedAt) / 60; })()"
)
_CONFIG = re.compile(r'<script id="live-config" type="application/json">(.*?)</script>', re.S)
_TYPES: Final[dict[str, str]] = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".html": "text/html",
    ".json": "application/json",
}


def _git_show(ref: str, path: str) -> bytes | None:
    done = subprocess.run(
        ["git", "show", f"{ref}:dashboard/static/{path}"], cwd=ROOT, capture_output=True
    )
    return done.stdout if done.returncode == 0 else None


def _serve_ref(context: BrowserContext, ref: str) -> None:
    """Serve the live page and its static files as they were at ``ref``."""
    template = _git_show(ref, "live.html")
    if template is None:
        raise SystemExit(f"no dashboard/static/live.html at {ref}")

    def page(route: Route) -> None:
        response = route.fetch()
        m = _CONFIG.search(response.text())
        if m is None:
            raise SystemExit("the live page has no configuration block")
        text = template.decode("utf-8")
        slot = next(s for s in ("<!--SINTONIA:CONFIG-->", "{{LIVE_CONFIG_JSON}}") if s in text)
        body = text.replace(slot, m.group(1))
        route.fulfill(response=response, body=body)

    def static(route: Route) -> None:
        path = urlsplit(route.request.url).path.removeprefix("/static/")
        body = None if path.startswith("vendor/") else _git_show(ref, path)
        if body is None:
            route.continue_()
            return
        kind = _TYPES.get(Path(path).suffix, "application/octet-stream")
        route.fulfill(status=200, body=body, content_type=kind)

    context.route(re.compile(r".*/sessions/\d+/live(\?.*)?$"), page)
    context.route(re.compile(r".*/static/.*"), static)


def _metrics(cdp: Any) -> dict[str, float]:
    return {m["name"]: float(m["value"]) for m in cdp.send("Performance.getMetrics")["metrics"]}


def _sample(page: Page, cdp: Any, window_s: float) -> dict[str, Any]:
    cdp.send("HeapProfiler.collectGarbage")
    heap = cdp.send("Runtime.getHeapUsage")
    m0, p0, t0 = _metrics(cdp), probe_stats(page), time.monotonic()
    time.sleep(window_s)
    m1, p1, t1 = _metrics(cdp), probe_stats(page), time.monotonic()
    wall = t1 - t0
    calls = {k: v - p0["calls"].get(k, 0) for k, v in p1["calls"].items()}
    return {
        "session_min": round(float(page.evaluate(SESSION_MIN_JS) or 0.0), 2),
        "heap_mb": round(heap["usedSize"] / 1e6, 2),
        "busy_ms_per_s": round(1000 * (m1["TaskDuration"] - m0["TaskDuration"]) / wall, 1),
        "script_ms_per_s": round(1000 * (m1["ScriptDuration"] - m0["ScriptDuration"]) / wall, 1),
        "plotly_ms_per_s": round((p1["ms"] - p0["ms"]) / wall, 1),
        "plotly_calls": {k: v for k, v in calls.items() if v},
        "points": p1["points"],
        "beats_held": int(
            page.evaluate(
                "[...window.sintoniaLive.state.series.values()].reduce((n, s) => n + s.t.length, 0)"
            )
        ),
    }


def run_page(label: str, ref: str | None, args: argparse.Namespace) -> dict[str, Any]:
    """One server, one session, one page: the samples at each mark."""
    marks = [5.0, args.minutes / 2, float(args.minutes)]
    demo = ["demo", "--port", "0", "--speed", str(args.speed), "--no-browser"]
    demo += ["--minutes", str(args.minutes + 4)]
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1366, "height": 768})
        if ref is not None:
            _serve_ref(context, ref)
        page = context.new_page()
        page.add_init_script(PLOTLY_PROBE_JS)
        cdp = context.new_cdp_session(page)
        cdp.send("Performance.enable")
        with e2e.running_server(demo, Path(tmp) / "data") as srv:
            with srv.client() as client:  # (a redirect would bypass the browser's routing)
                sid = e2e.session_ids(client, "live")[0]
            page.goto(f"{srv.base_url}/sessions/{sid}/live?token={srv.token}")
            page.wait_for_selector('#conn[data-state="online"]', timeout=60_000)
            samples = []
            for mark in marks:
                page.wait_for_function(
                    f"() => ({SESSION_MIN_JS}) >= {mark}",
                    timeout=int(1000 * (60 * (mark + 2) / args.speed + 60)),
                    polling=200,
                )
                samples.append({"mark_min": mark, **_sample(page, cdp, args.window)})
                print(label, json.dumps(samples[-1]), flush=True)
        browser.close()
    return {"page": label, "ref": ref, "samples": samples}


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=int, default=60, help="session minute of the late sample")
    ap.add_argument("--speed", type=float, default=30.0, help="simulated time per wall time")
    ap.add_argument("--window", type=float, default=4.0, help="wall seconds per sample")
    ap.add_argument("--ref", default=None, help="git revision of the baseline page")
    args = ap.parse_args()
    runs = [run_page("current", None, args)]
    if args.ref:
        runs.append(run_page(f"ref {args.ref}", args.ref, args))
    keys = ("heap_mb", "busy_ms_per_s", "plotly_ms_per_s", "points")
    summary: dict[str, Any] = {"speed": args.speed, "window_s": args.window, "runs": runs}
    for r in runs:
        early, late = r["samples"][0], r["samples"][-1]
        r["ratio_late_vs_minute_5"] = {k: _ratio(late[k], early[k]) for k in keys}
        print(f"{r['page']}: minute {args.minutes} vs minute 5:", r["ratio_late_vs_minute_5"])
    if args.ref:
        cur, ref = runs
        for i, name in ((0, "minute_5"), (-1, f"minute_{args.minutes}")):
            vs = {k: _ratio(cur["samples"][i][k], ref["samples"][i][k]) for k in keys}
            summary[f"current_vs_ref_{name}"] = vs
            print(f"current vs {args.ref} at {name}:", vs)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
