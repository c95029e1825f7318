// The live figure in plotly: built once (newPlot / react), then, every second, the new beats
// are appended with Plotly.extendTraces, whose one redraw also draws whatever else changed
// (the x window, the y range, shapes, the few marker and cue points). In the "last 10 min" view
// each trace keeps only the window (plus a minute) through extendTraces' maxPoints, so the cost
// of a redraw does not grow with the length of the session; the whole-session and zoomed views
// hold every beat. The figure is rebuilt (react) only when its structure changes: a person
// appears or is hidden, beats were filled from storage or came out of order, or the view
// changes. Without new beats, changes go through Plotly.update or Plotly.relayout.
import { BAND_STATES, CFG } from "./config.js";
import { S, people, rel, sessionNow } from "./state.js";
import { $ } from "./util.js";
import { auxContent, auxTraces, overlays, personTraces, points, resetPeriods } from "./figure_data.js";

// No plotly modebar: it covered the phase ribbon. Zoom by dragging, double-click to reset,
// and the view buttons above the chart.
const PLOT_CONFIG = { displaylogo: false, responsive: true, displayModeBar: false };
const X_AXES = ["xaxis", "xaxis2", "xaxis3"];
const KEEP_BEFORE_MIN = 1;    // a capped trace keeps this much before the window, min

let fig = null;               // what is plotted: see rebuild()
let byCode = 0;               // plotly calls of ours in flight (their relayout events are ours)
let listening = false;
const onViewChange = [];

// Run a plotly call, marking the relayout events it causes as ours.
function call(fn, ...args) {
  byCode++;
  let p;
  try { p = fn(...args); } catch (e) { byCode--; throw e; }
  return Promise.resolve(p).finally(() => { byCode--; });
}

// Call f(view) when the person zooms or pans the chart by hand.
export function onManualView(f) { onViewChange.push(f); }

function xRange(tEndS, tPlanEndS) {
  const now = sessionNow();
  const nowMin = Math.max(tEndS, now != null && S.startedAt != null && S.status === "live" ? rel(now) : 0) / 60;
  if (S.view === "all") return [0, Math.max(nowMin, tPlanEndS / 60, 1)];
  if (S.view === "window") return [Math.max(nowMin - CFG.window_min, 0), Math.max(nowMin, CFG.window_min)];
  const gd = $("chart");
  return gd.layout && gd.layout.xaxis && gd.layout.xaxis.range ? gd.layout.xaxis.range.slice() : [0, CFG.window_min];
}

function lastBeatS() {
  let tEnd = 0;
  for (const s of S.series.values()) if (s.t.length) tEnd = Math.max(tEnd, rel(s.t[s.t.length - 1]));
  return tEnd;
}

function growY(values) {
  for (const v of values) if (v != null) { fig.yMin = Math.min(fig.yMin, v - 0.5); fig.yMax = Math.max(fig.yMax, v + 0.5); }
}

// First index of a sorted series at or after t (s).
function lowerBound(t, v) {
  let lo = 0, hi = t.length;
  while (lo < hi) { const mid = (lo + hi) >> 1; if (t[mid] < v) lo = mid + 1; else hi = mid; }
  return lo;
}

function rebuild(gd, mode, key) {
  resetPeriods();
  const [lo, hi] = CFG.usual_band;
  fig = { mode, key, people: new Map(), yMin: lo - 1.5, yMax: hi + 1.5, aux: [], keys: {} };
  const ov = overlays();
  const range = xRange(lastBeatS(), ov.tPlanEnd);
  const cutoff = mode === "capped" ? range[0] - KEEP_BEFORE_MIN : -Infinity;
  const traces = [];
  people().forEach((p, i) => {
    const s = S.series.get(p.id);
    if (!s) return;
    growY(s.arousal.filter((v, k) => BAND_STATES.has(s.state[k])));
    const from = mode === "capped" && S.startedAt != null ? lowerBound(s.t, S.startedAt + 60 * cutoff) : 0;
    const pts = points(s, from, null);
    fig.people.set(p.id, { base: traces.length, consumed: s.t.length, prevT: s.t.length ? s.t[s.t.length - 1] : null });
    traces.push(...personTraces(p, i, pts));
  });
  fig.auxBase = traces.length;
  const content = auxContent(ov, fig.yMin, fig.yMax);
  traces.push(...auxTraces(content));
  fig.aux = content.map((c) => JSON.stringify(c));
  const layout = JSON.parse(JSON.stringify(CFG.figure.layout));
  layout.shapes = ov.shapes;
  layout.annotations = ov.annotations;
  layout.yaxis = Object.assign({}, layout.yaxis, { range: [fig.yMin, fig.yMax] });
  for (const ax of X_AXES) layout[ax] = Object.assign({}, layout[ax], { range, autorange: false });
  layout.height = undefined;
  layout.autosize = true;
  layout.uirevision = "live";
  layout.margin = { l: 64, r: 16, t: 44, b: 40 };
  layout.legend = { orientation: "h", yanchor: "top", y: -0.09, x: 0 };
  fig.keys = { x: JSON.stringify(range), y: JSON.stringify([fig.yMin, fig.yMax]), shapes: JSON.stringify(ov.shapes), annotations: JSON.stringify(ov.annotations) };
  S.figureStale = false;
  const first = !gd.data;
  const done = call(first ? Plotly.newPlot : Plotly.react, gd, traces, layout, PLOT_CONFIG);
  if (!listening) {
    listening = true;
    done.then(() => gd.on("plotly_relayout", (ev) => {
      if (byCode) return;
      if (Object.keys(ev).some((k) => k.startsWith("xaxis"))) for (const f of onViewChange) f("manual");
    }));
  }
}

// How many points a capped trace keeps after adding `added`: those from the cutoff (min) on.
function capOf(x, added, cutoff) {
  let drop = 0;
  while (drop < x.length && (x[drop] == null || x[drop] < cutoff)) drop++;
  return Math.max(x.length - drop + added, 1);
}

function stream(gd) {
  const capped = fig.mode === "capped";
  const idx = [], xs = [], ys = [];
  const caps = [];
  let cutoff = null;
  for (const p of people()) {
    const e = fig.people.get(p.id), s = S.series.get(p.id);
    if (!e || !s || s.t.length <= e.consumed) continue;
    const pts = points(s, e.consumed, e.prevT);
    growY(pts.y[0]);
    e.consumed = s.t.length;
    e.prevT = s.t[s.t.length - 1];
    if (capped && cutoff == null) cutoff = xRange(lastBeatS(), 0)[0] - KEEP_BEFORE_MIN;
    const cap = capped ? capOf(gd.data[e.base].x, pts.x.length, cutoff) : -1;
    for (let k = 0; k < 3; k++) {
      idx.push(e.base + k); xs.push(k ? pts.x.slice() : pts.x); ys.push(pts.y[k]); caps.push(cap);
    }
  }
  const ov = overlays();
  const layout = {};
  if (S.view !== "manual") {
    const range = xRange(lastBeatS(), ov.tPlanEnd), k = JSON.stringify(range);
    if (k !== fig.keys.x) { fig.keys.x = k; for (const ax of X_AXES) layout[ax + ".range"] = range; }
  }
  const yk = JSON.stringify([fig.yMin, fig.yMax]);
  if (yk !== fig.keys.y) { fig.keys.y = yk; layout["yaxis.range"] = [fig.yMin, fig.yMax]; }
  const sk = JSON.stringify(ov.shapes), ak = JSON.stringify(ov.annotations);
  if (sk !== fig.keys.shapes) { fig.keys.shapes = sk; layout.shapes = ov.shapes; }
  if (ak !== fig.keys.annotations) { fig.keys.annotations = ak; layout.annotations = ov.annotations; }
  const content = auxContent(ov, fig.yMin, fig.yMax);
  const changed = [];
  content.forEach((c, k) => { const ck = JSON.stringify(c); if (ck !== fig.aux[k]) { fig.aux[k] = ck; changed.push(k); } });
  if (idx.length) {
    // One redraw a second: extendTraces redraws the whole figure (plotly.js 4: Plotly.redraw,
    // calc and plot), so the other changes are first written into gd.layout and gd.data, as
    // Plotly.redraw allows, and drawn by that same redraw instead of a relayout of their own.
    for (const [key, value] of Object.entries(layout)) setPath(gd.layout, key, value);
    for (const k of changed) setAux(gd.data[fig.auxBase + k], content[k]);
    call(Plotly.extendTraces, gd, { x: xs, y: ys }, idx, capped ? { x: caps, y: caps } : undefined);
  } else if (changed.length) {
    const pick = (f) => changed.map((k) => f(content[k]));
    const data = { x: pick((c) => c.x), y: pick((c) => c.y), hovertext: pick((c) => c.hovertext), visible: pick((c) => c.x.length > 0), "marker.symbol": pick((c) => c.symbol) };
    call(Plotly.update, gd, data, layout, changed.map((k) => fig.auxBase + k));
  } else if (Object.keys(layout).length) {
    call(Plotly.relayout, gd, layout);
  }
}

function setPath(obj, key, value) {
  const parts = key.split(".");
  let o = obj;
  for (const p of parts.slice(0, -1)) o = o[p] || (o[p] = {});
  o[parts[parts.length - 1]] = value;
}

function setAux(trace, c) {
  Object.assign(trace, { x: c.x, y: c.y, hovertext: c.hovertext, visible: c.x.length > 0 });
  trace.marker = Object.assign({}, trace.marker, { symbol: c.symbol });
}

// Bring the figure up to date (called every second and after a command).
export function redraw() {
  if (typeof Plotly === "undefined") return;
  const gd = $("chart");
  const mode = S.view === "window" ? "capped" : "full";
  const key = people().map((p) => p.id + (p.visible ? "+" : "-")).join(",");
  if (!fig || S.figureStale || fig.mode !== mode || fig.key !== key || !gd.data) rebuild(gd, mode, key);
  else stream(gd);
  S.dirty = false;
}

