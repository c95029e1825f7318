// What the live figure shows, as plotly pieces, following dashboard/figures.py session_figure:
// x in minutes from the session start, traces with meta {kind, participant}, shapes named
// usual-range, phase:<id>, marker:<type>, no-band:<code>:<state>. No line is drawn while a
// person is calibrating or uncertain: the period is greyed instead. Nothing here calls plotly.
import { BAND_STATES, CFG, GREY, MAX_BRIDGE_S } from "./config.js";
import { S, people, rel } from "./state.js";
import { escapeHtml, fmtClock } from "./util.js";
import { markerLabel } from "./vocab.js";

const EXTRA = [CFG.palette.bluish_green, CFG.palette.reddish_purple, CFG.palette.sky_blue];
const MARKER_COLOUR = CFG.palette.reddish_purple;
const CUE_COLOUR = CFG.palette.bluish_green;
const PHASE_FILLS = ["#DCEAF5", "#F3E6CC"];
const BASE = CFG.figure.layout;
const BASE_SHAPES = (BASE.shapes || []).filter((s) => s.name === "usual-range");
const BASE_ANNOTATIONS = (BASE.annotations || []).filter((a) => a.text === "usual range");
// The auxiliary traces, after every person's three: their meta.kind, in figure order.
export const AUX_KINDS = ["no_band", "markers", "retracted_markers", "cues"];

// Points of series s from index `from` on: x (min) and the arousal, HR and RMSSD values, with a
// null wherever two beats are more than MAX_BRIDGE_S apart (prevT: the beat before `from`).
export function points(s, from, prevT) {
  const x = [], a = [], h = [], r = [];
  let prev = prevT;
  for (let i = from; i < s.t.length; i++) {
    const t = s.t[i];
    if (prev != null && t - prev > MAX_BRIDGE_S) { x.push(null); a.push(null); h.push(null); r.push(null); }
    x.push(rel(t) / 60);
    const v = s.arousal[i];
    a.push(BAND_STATES.has(s.state[i]) && v != null ? v : null);
    h.push(s.hr[i] == null ? null : s.hr[i]);
    r.push(s.rmssd[i] == null ? null : s.rmssd[i]);
    prev = t;
  }
  return { x, y: [a, h, r] };
}

// A person's three traces (arousal, HR, RMSSD), holding the given points.
export function personTraces(p, i, pts) {
  const colour = CFG.colours[p.role] || EXTRA[i % EXTRA.length];
  const name = escapeHtml(p.code) + " (" + p.role + ")";
  const visible = Boolean(p.visible);
  return [
    {
      type: "scatter", mode: "lines", x: pts.x.slice(), y: pts.y[0], name, legendgroup: p.code, xaxis: "x", yaxis: "y",
      line: { color: colour, width: 2.5 }, connectgaps: false, visible, meta: { kind: "arousal", participant: p.code },
      hovertemplate: name + "<br>%{x:.1f} min<br>index %{y:.2f}<extra></extra>",
    },
    ...[["hr", "bpm", "2", 1], ["rmssd", "ms", "3", 2]].map(([kind, unit, ax, k]) => ({
      type: "scatter", mode: "lines", x: pts.x.slice(), y: pts.y[k], name: name + " " + kind.toUpperCase(),
      legendgroup: p.code, showlegend: false, xaxis: "x" + ax, yaxis: "y" + ax,
      line: { color: colour, width: 1.5 }, connectgaps: false, visible, meta: { kind, participant: p.code },
      hovertemplate: name + "<br>%{x:.1f} min<br>%{y:.1f} " + unit + "<extra></extra>",
    })),
  ];
}

// Grey periods (calibrating, uncertain, filled, no beats) of each series, found incrementally:
// each call looks only at the beats that came since the last one.
const scans = new Map();   // participant id -> {i: start of the open run, j: scanned up to, done}
export function resetPeriods() { scans.clear(); }
export function periods(pid, s) {
  let sc = scans.get(pid);
  if (!sc) { sc = { i: 0, j: 1, done: [] }; scans.set(pid, sc); }
  const n = s.t.length;
  let { i, j } = sc;
  while (i < n) {
    const st = s.state[i];
    while (j < n && s.state[j] === st && s.t[j] - s.t[j - 1] <= MAX_BRIDGE_S) j++;
    if (j >= n) break;                      // the run is still open
    if (!BAND_STATES.has(st)) sc.done.push([s.t[i], s.t[j], st]);
    if (s.t[j] - s.t[j - 1] > MAX_BRIDGE_S) sc.done.push([s.t[j - 1], s.t[j], "no beats"]);
    i = j; j = i + 1;
  }
  sc.i = i; sc.j = Math.max(j, i + 1);
  const out = sc.done.slice();
  if (i < n && !BAND_STATES.has(s.state[i])) out.push([s.t[i], s.t[n - 1], s.state[i]]);
  return out;
}

// Shapes and annotations over the traces (usual range, grey periods, phases, marker lines),
// the grey periods' hover points, and the end of the planned session (s from its start).
export function overlays() {
  const shapes = BASE_SHAPES.slice(), annotations = BASE_ANNOTATIONS.slice();
  const greyX = [], greyText = [];
  for (const p of people()) {
    const s = S.series.get(p.id);
    if (!s || !p.visible) continue;
    for (const [a, b, st] of periods(p.id, s)) {
      shapes.push({
        type: "rect", name: "no-band:" + p.code + ":" + st, xref: "x", yref: "y domain",
        x0: rel(a) / 60, x1: rel(b) / 60, y0: 0, y1: 1, fillcolor: GREY, opacity: 0.16,
        line: { width: 0 }, layer: "below",
      });
      greyX.push((rel(a) + rel(b)) / 120);
      const label = st === "filled" ? "filled from storage while this page was offline (HR, RMSSD only)" : (CFG.state_labels[st] || st);
      greyText.push(escapeHtml(p.code) + ": " + label + ", " + fmtClock(rel(a)) + "-" + fmtClock(rel(b)) + "<br>no index shown (not guessed)");
    }
  }
  let tPlanEnd = 0;
  if (S.phase && S.startedAt != null) {
    S.phase.schedule.forEach((e, k) => {   // the phase ribbon (projected schedule)
      const a = e.actual_start_s ?? e.projected_start_s, b = e.actual_end_s ?? e.projected_end_s;
      const x0 = rel(a) / 60, x1 = rel(b) / 60, current = e.phase_id === S.phase.phase_id;
      tPlanEnd = Math.max(tPlanEnd, rel(b));
      shapes.push({
        type: "rect", name: "phase:" + e.phase_id, xref: "x", yref: "paper", x0, x1, y0: 1.015, y1: 1.075,
        fillcolor: PHASE_FILLS[k % 2], line: { width: current ? 2 : 1, color: current ? CFG.palette.blue : "#FFFFFF" }, layer: "above",
      });
      annotations.push({
        text: escapeHtml(e.label), xref: "x", yref: "paper", x: (x0 + x1) / 2, y: 1.045, showarrow: false,
        font: { size: 11, color: "#222" }, hovertext: escapeHtml(e.label) + ": " + fmtClock(rel(a)) + "-" + fmtClock(rel(b)),
      });
    });
  }
  for (const m of [...S.markers.values()].filter((m) => !m.retracted).sort((a, b) => a.time_s - b.time_s)) {
    const x = rel(m.time_s) / 60;
    shapes.push({
      type: "line", name: "marker:" + m.type, xref: "x", yref: "paper", x0: x, x1: x,
      y0: 0, y1: 1, line: { color: MARKER_COLOUR, width: 1.2, dash: "dot" }, layer: "above",
    });
  }
  return { shapes, annotations, greyX, greyText, tPlanEnd };
}

// What each auxiliary trace holds now: {x, y, hovertext, symbol} in AUX_KINDS order.
export function auxContent(ov, yMin, yMax) {
  const all = [...S.markers.values()].sort((a, b) => a.time_s - b.time_s);
  const mk = all.filter((m) => !m.retracted), gone = all.filter((m) => m.retracted);
  const cs = [...S.cues.values()].sort((a, b) => a.time_s - b.time_s);
  const at = (t) => rel(t) / 60;
  return [
    { x: ov.greyX, y: ov.greyX.map(() => yMin + 0.3), hovertext: ov.greyText, symbol: "square" },
    {
      x: mk.map((m) => at(m.time_s)), y: mk.map(() => yMax - 0.2), symbol: "triangle-down",
      hovertext: mk.map((m) => markerLabel(m.type) + " at " + fmtClock(rel(m.time_s)) + (m.note ? "<br>" + escapeHtml(m.note) : "")),
    },
    {
      // Retracted markers stay visible as what they are: hollow grey, no line across the trace.
      x: gone.map((m) => at(m.time_s)), y: gone.map(() => yMax - 0.2), symbol: "triangle-down-open",
      hovertext: gone.map((m) => "Retracted: " + markerLabel(m.type) + " at " + fmtClock(rel(m.time_s))),
    },
    {
      x: cs.map((c) => at(c.time_s)), y: cs.map(() => yMax - 0.8),
      symbol: cs.map((c) => (c.response === "acknowledged" ? "diamond" : "diamond-open")),
      hovertext: cs.map((c) => "Cue at " + fmtClock(rel(c.time_s)) + ": " + escapeHtml(c.text) + "<br>Why: " + escapeHtml(c.reason || "") + "<br>Therapist: " + (c.response || "no response yet")),
    },
  ];
}

// The auxiliary traces, hidden while empty.
export function auxTraces(content) {
  const [grey, mk, gone, cues] = content;
  const common = (c) => ({ type: "scatter", mode: "markers", x: c.x, y: c.y, xaxis: "x", yaxis: "y", hoverinfo: "text", hovertext: c.hovertext, visible: c.x.length > 0 });
  return [
    Object.assign(common(grey), { name: "calibrating / signal uncertain (grey)", marker: { symbol: grey.symbol, size: 9, color: GREY, opacity: 0.6 }, meta: { kind: "no_band", participant: null } }),
    Object.assign(common(mk), { name: "Markers", marker: { symbol: mk.symbol, size: 12, color: MARKER_COLOUR }, meta: { kind: "markers", participant: null } }),
    Object.assign(common(gone), { name: "Retracted markers", showlegend: false, marker: { symbol: gone.symbol, size: 10, color: GREY }, meta: { kind: "retracted_markers", participant: null } }),
    Object.assign(common(cues), { name: "Cues", marker: { symbol: cues.symbol, size: 12, color: CUE_COLOUR, line: { color: CUE_COLOUR, width: 2 } }, meta: { kind: "cues", participant: null } }),
  ];
}
