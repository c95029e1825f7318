// The side panels that show what the server computed: straps (link, battery, contact, signal,
// baseline), coherence and breathing rate while pacing, and co-regulation (synchrony).
import { S, canPause, people } from "./state.js";
import { $ } from "./util.js";

function qualityWord(q) {
  if (q == null) return "–";
  return (q >= 0.9 ? "good" : q >= 0.7 ? "fair" : "poor") + " (" + Math.round(q * 100) + " %)";
}

function linkWord(d, s) {
  if (!S.online && !S.ended) return ["unknown while offline", "state-wait"];
  if (S.status !== "live") return ["not streaming (session " + S.status + ")", "state-wait"];
  if (d) {
    if (d.kind === "reconnecting" || d.kind === "connecting") return ["reconnecting…", "state-wait"];
    if (d.connected === true) return ["connected", "state-ok"];
    if (d.connected === false) return [d.kind === "gave_up" ? "disconnected" : "reconnecting…", "state-wait"];
  } else if (s && s.t.length) return ["connected", "state-ok"];
  return ["waiting", "state-wait"];
}

let lastDevices = 0;
export function renderDevices() {
  lastDevices = performance.now();
  const ul = $("device-list");
  const ps = people();
  if (!ps.length) return;
  ul.textContent = "";
  for (const p of ps) {
    const d = S.devices.get(p.id);
    const s = S.series.get(p.id);
    const li = document.createElement("li");
    li.dataset.participant = p.code;
    const who = document.createElement("span");
    who.className = "who " + p.role;
    who.textContent = p.code + " (" + p.role + ")";
    li.appendChild(who);
    const add = (text, cls) => { const sp = document.createElement("span"); sp.textContent = text; if (cls) sp.className = cls; li.appendChild(sp); return sp; };
    ul.appendChild(li);
    if (!p.visible) {
      add(canPause(p) ? "hidden (privacy pause)" : "not shown (no consent to live display)", "muted");
      continue;
    }
    const [link, cls] = linkWord(d, s);
    add(link, cls).dataset.link = link;
    if (S.status !== "live" || !S.online) continue;
    if (d && d.battery_percent != null) add("battery " + Math.round(d.battery_percent) + " %");
    add("contact " + (d && d.contact != null ? (d.contact ? "yes" : "no") : "–"));
    add("signal " + qualityWord(s ? s.quality : null));
    if (s && s.baseline < 1 && s.t.length) add("baseline " + Math.round(100 * s.baseline) + " %", "muted");
  }
}

// The straps' panel is also refreshed every 5 s (signal quality moves with every beat).
export function renderDevicesIfStale() {
  if (performance.now() - lastDevices > 5000) renderDevices();
}

export function renderCoherence() {
  const dl = $("coherence");
  dl.textContent = "";
  for (const p of people()) {
    const c = S.coherence.get(p.id);
    if (!c || !p.visible) continue;
    // one row a person, so that the panel keeps its height at 1024x768 and 1366x768
    const dt = document.createElement("dt"); dt.textContent = p.code;
    const dd = document.createElement("dd");
    dd.textContent = "coherence " + (c.coherence_ratio == null ? "–" : c.coherence_ratio.toFixed(2))
      + " · breathing (estimated) "
      + (c.breathing_rate_bpm == null ? "–" : "about " + c.breathing_rate_bpm.toFixed(0) + " /min");
    dl.append(dt, dd);
  }
}

// The report's synchrony definition over the last minutes (hrv.coregulation): the mean peak
// correlation with its 95 % interval, the chance level of time-shifted pairings, and a lead
// only when it is stable. Blank while either person is hidden.
export function renderSynchrony() {
  const s = S.synchrony;
  const el = $("sync-value"), fill = $("sync-fill"), range = $("sync-range"), chance = $("sync-chance"), lead = $("sync-lead");
  const blank = (text, why) => {
    el.textContent = text; lead.textContent = why || "";
    fill.style.width = "0"; range.style.width = "0"; chance.style.width = "0";
    el.dataset.state = "blank";
  };
  const ps = people();
  const consented = ps.length >= 2 && ps.every((p) => !p.consents || p.consents.has("synchrony"));
  if (!consented) { blank("– (not computed: both people must consent to co-regulation)"); return; }
  if (ps.some((p) => !p.visible)) { blank("– (hidden: nothing is computed while a person is hidden)"); return; }
  if (!s || s.status === "hidden") { blank("– (waiting for the next reading)"); return; }
  if (s.status === "collecting" || s.correlation == null) {
    blank("– collecting (the first reading needs about 4 minutes of both)");
    return;
  }
  const r = s.correlation;
  const ci = s.correlation_low != null ? " (95 % " + s.correlation_low.toFixed(2) + "–" + s.correlation_high.toFixed(2) + ")" : "";
  el.textContent = "r = " + r.toFixed(2) + ci + ", last " + Math.round(s.window_s / 60) + " min";
  el.dataset.state = "value";
  const chanceText = s.chance_correlation != null
    ? (s.above_chance ? "Above chance" : "Not above chance") + " (shifted pairings r = " + s.chance_correlation.toFixed(2) + ")"
    : "";
  let leadText = "No clear lead.";
  if (s.lead === "patient") leadText = "Therapist follows by about " + Math.abs(s.lag_s).toFixed(0) + " s (stable).";
  else if (s.lead === "therapist") leadText = "Patient follows by about " + Math.abs(s.lag_s).toFixed(0) + " s (stable).";
  else if (s.lag_at_edge) leadText = "No clear lead (peak at the ±" + (s.max_lag_s || 5).toFixed(0) + " s edge).";
  lead.textContent = chanceText + ". " + leadText;
  lead.dataset.lead = s.lead || "none";
  const pos = (v) => 50 + 50 * Math.max(-1, Math.min(1, v));
  fill.style.left = (r >= 0 ? 50 : pos(r)) + "%";
  fill.style.width = (50 * Math.abs(r)) + "%";
  if (s.correlation_low != null) {
    range.style.left = pos(s.correlation_low) + "%";
    range.style.width = (pos(s.correlation_high) - pos(s.correlation_low)) + "%";
  } else { range.style.width = "0"; }
  if (s.chance_correlation != null) { chance.style.left = pos(s.chance_correlation) + "%"; chance.style.width = "2px"; }
}
