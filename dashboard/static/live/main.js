/* Sintonia live page: the therapist's view of a running session. Entry point of the page's
 * ES modules (live.html loads it with <script type="module">):
 *
 *   config.js, vocab.js, util.js   the page configuration (server/web/live.py), its words
 *   state.js                       what the page holds (session, people, series, markers, cues)
 *   socket.js, session.js          the WebSocket and the server's messages, REST reads, gap fill
 *   figure.js, figure_data.js      the plotly figure: built once, then extended every second
 *   phase.js, cues.js, markers.js, consent.js, pacer.js, panels.js, remote_links.js, ui.js
 *
 * Commands go to the REST API through ../api.js ("Authorization: Bearer <token>"). No request
 * leaves the server's origin.
 */
import { REDRAW_MS, SID, TOKEN } from "./config.js";
import { privacyCmd } from "./consent.js";
import { answerCue } from "./cues.js";
import { onManualView, redraw } from "./figure.js";
import { addMarkerCmd, bindNoteForm, buildMarkerButtons, canUndo, markerOfKey, undoCmd } from "./markers.js";
import { bindPacer } from "./pacer.js";
import { renderDevicesIfStale } from "./panels.js";
import { phaseCmd, tickClock } from "./phase.js";
import { startRemoteLinks } from "./remote_links.js";
import { endCmd, loadSession, onMessage, resumeCmd } from "./session.js";
import { connect, onSocketMessage, tickRetry } from "./socket.js";
import { S, rel } from "./state.js";
import { updateControls } from "./ui.js";
import { $ } from "./util.js";

function setView(v) {
  S.view = v;
  $("view-window").setAttribute("aria-pressed", String(v === "window"));
  $("view-all").setAttribute("aria-pressed", String(v === "all"));
  S.dirty = true;
}

function onKey(ev) {
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const tag = (ev.target && ev.target.tagName) || "";
  if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT") return;
  const k = ev.key.toUpperCase();
  const type = markerOfKey(k);
  if (type && S.status === "live") { ev.preventDefault(); addMarkerCmd(type); return; }
  if (k === "N") { ev.preventDefault(); $("note-text").focus(); return; }
  if (k === "U" && canUndo()) { ev.preventDefault(); undoCmd(); return; }
  if (k === "P" && S.status === "live") { ev.preventDefault(); privacyCmd(); }
}

function init() {
  buildMarkerButtons();
  bindNoteForm();
  const q = "?token=" + encodeURIComponent(TOKEN);
  $("newest-link").href = "/" + q;
  $("review-link").href = "/sessions/" + SID + "/review" + q;
  $("alliance-link").href = "/sessions/" + SID + "/alliance" + q;
  $("view-window").addEventListener("click", () => setView("window"));
  $("view-all").addEventListener("click", () => setView("all"));
  onManualView(setView);
  $("phase-advance").addEventListener("click", () => phaseCmd("advance"));
  $("phase-extend").addEventListener("click", () => phaseCmd("extend"));
  $("privacy-btn").addEventListener("click", privacyCmd);
  $("cue-ack").addEventListener("click", () => answerCue("acknowledged"));
  $("cue-dismiss").addEventListener("click", () => answerCue("dismissed"));
  $("resume-btn").addEventListener("click", resumeCmd);
  $("marker-undo").addEventListener("click", undoCmd);
  $("end-btn").addEventListener("click", () => $("end-dialog").showModal());
  $("end-cancel").addEventListener("click", () => $("end-dialog").close());
  $("end-confirm").addEventListener("click", endCmd);
  bindPacer();
  document.addEventListener("keydown", onKey);
  updateControls();
  loadSession();
  onSocketMessage(onMessage);
  connect();
  startRemoteLinks();
  setInterval(() => {
    if (S.dirty || (S.status === "live" && S.view === "window")) redraw();
    renderDevicesIfStale();
  }, REDRAW_MS);
  setInterval(() => { tickClock(); tickRetry(); }, 500);
  redraw();
}

// For tests and for curious people: a read-only view of what the page holds.
function seriesOf(code) {
  for (const p of S.participants.values()) if (p.code === code) return S.series.get(p.id);
  return null;
}
window.sintoniaLive = {
  state: S,
  pointCount(code) { const s = seriesOf(code); return s ? s.t.length : 0; },
  liveCount(code) { const s = seriesOf(code); return s ? s.state.filter((st) => st !== "filled").length : 0; },
  firstTime(code) { const s = seriesOf(code); return s && s.t.length ? rel(s.t[0]) : null; },
  markerTypes() { return [...S.markers.values()].filter((m) => !m.retracted).map((m) => m.type); },
  retractedTypes() { return [...S.markers.values()].filter((m) => m.retracted).map((m) => m.type); },
  plottedArousal(code) {
    const gd = $("chart");
    const tr = (gd.data || []).find((t) => t.meta && t.meta.kind === "arousal" && t.meta.participant === code);
    return tr ? tr.y.filter((v) => v != null).length : 0;
  },
};

init();   // a module runs after the document is parsed
