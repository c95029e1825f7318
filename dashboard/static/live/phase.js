// The session phases: the ribbon above the chart, the clock, and "Next phase" / "+5 min".
import { api } from "../api.js";
import { EXTEND_S, SID } from "./config.js";
import { S, sessionNow } from "./state.js";
import { say, updateControls } from "./ui.js";
import { $, fmtClock } from "./util.js";

export function renderPhase() {
  const ph = S.phase;
  const rib = $("ribbon");
  rib.textContent = "";
  if (!ph || !ph.schedule.length) return;
  const t0 = ph.schedule[0].actual_start_s ?? ph.schedule[0].projected_start_s;
  const last = ph.schedule[ph.schedule.length - 1];
  const t1 = last.actual_end_s ?? last.projected_end_s;
  const total = Math.max(t1 - t0, 1);
  ph.schedule.forEach((e) => {
    const a = e.actual_start_s ?? e.projected_start_s, b = e.actual_end_s ?? e.projected_end_s;
    const seg = document.createElement("div");
    seg.className = "seg" + (e.phase_id === ph.phase_id ? " current" : (e.actual_end_s != null ? " done" : ""));
    seg.style.width = (100 * (b - a) / total) + "%";
    seg.textContent = e.label;
    seg.title = e.label + ": " + fmtClock(a - t0) + "-" + fmtClock(b - t0) + (e.extended_by_s ? " (extended by " + fmtClock(e.extended_by_s) + ")" : "");
    seg.dataset.phase = e.phase_id;
    rib.appendChild(seg);
  });
  const now = document.createElement("div");
  now.className = "now"; now.id = "ribbon-now";
  rib.appendChild(now);
  rib.dataset.t0 = t0; rib.dataset.total = total;
  $("phase-label").textContent = ph.label;
  $("phase-label").dataset.phase = ph.phase_id;
  updateControls();
  tickClock();
}

export function setPhase(msg) {
  S.phase = msg;
  renderPhase();
  S.dirty = true;
}

export function tickClock() {
  const now = sessionNow();
  if (now == null) return;
  if (S.startedAt != null) $("session-clock").textContent = fmtClock(now - S.startedAt);
  const ph = S.phase;
  if (!ph) return;
  if (S.status !== "live") {
    $("phase-elapsed").textContent = "–";
    $("phase-remaining").textContent = "–";
    return;
  }
  $("phase-elapsed").textContent = fmtClock(now - ph.started_s);
  const left = ph.planned_end_s - now;
  $("phase-remaining").textContent = left >= 0 ? fmtClock(left) + " left" : "over by " + fmtClock(-left);
  const rib = $("ribbon"), marker = $("ribbon-now");
  if (marker && rib.dataset.total) {
    const f = Math.min(Math.max((now - Number(rib.dataset.t0)) / Number(rib.dataset.total), 0), 1);
    marker.style.left = (100 * f) + "%";
  }
}

export async function phaseCmd(action) {
  try {
    const msg = action === "advance"
      ? await api("POST", "/api/sessions/" + SID + "/phase/advance")
      : await api("POST", "/api/sessions/" + SID + "/phase/extend", { by_s: EXTEND_S });
    if (msg && msg.schedule) setPhase(msg);
  } catch (e) { say("Phase: " + e.message); }
}
