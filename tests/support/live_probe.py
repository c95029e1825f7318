"""What the live page asks of plotly, seen from the browser: a probe installed before any script.

:data:`PLOTLY_PROBE_JS` goes into ``page.add_init_script``: when plotly.js assigns
``window.Plotly``, the probe wraps its public drawing calls (``newPlot``, ``react``,
``extendTraces``, ``relayout``, ``restyle``, ``update``) to count them and to add up the time
they take synchronously (where plotly does its work), in ``window.__plotlyProbe``. Plotly's own
internal calls do not go through ``window.Plotly``, so only the page's calls are counted. Used
by the live page's streaming test and by ``benchmarks/live_page.py``.
"""

from __future__ import annotations

from typing import Any, Final

__all__ = ["DRAWING_CALLS", "PLOTLY_PROBE_JS", "probe_stats"]

#: The plotly calls counted.
DRAWING_CALLS: Final[tuple[str, ...]] = (
    "newPlot",
    "react",
    "extendTraces",
    "relayout",
    "restyle",
    "update",
)

PLOTLY_PROBE_JS: Final[str] = """
(() => {
  const probe = { calls: {}, ms: 0, extended: 0 };
  window.__plotlyProbe = probe;
  let plotly;
  Object.defineProperty(window, "Plotly", {
    configurable: true,
    get() { return plotly; },
    set(value) {
      for (const name of NAMES) {
        const f = value && value[name];
        if (typeof f !== "function") continue;
        value[name] = function (...args) {
          probe.calls[name] = (probe.calls[name] || 0) + 1;
          if (name === "extendTraces") {
            probe.extended += (args[1].x || []).reduce((n, a) => n + a.length, 0);
          }
          const t0 = performance.now();
          try { return f.apply(this, args); } finally { probe.ms += performance.now() - t0; }
        };
      }
      plotly = value;
    },
  });
})();
""".replace("NAMES", repr(list(DRAWING_CALLS)))


def probe_stats(page: Any) -> dict[str, Any]:
    """The probe's counters now: ``calls`` (name -> count), ``ms`` (total), ``extended``
    (points appended), ``points`` (points held by the figure's traces)."""
    stats: dict[str, Any] = page.evaluate(
        "(() => { const p = window.__plotlyProbe; const gd = document.getElementById('chart');"
        " return {calls: Object.assign({}, p.calls), ms: p.ms, extended: p.extended,"
        " points: (gd.data || []).reduce((n, t) => n + (t.x ? t.x.length : 0), 0)}; })()"
    )
    return stats
