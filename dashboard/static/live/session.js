// The session as the server tells it: the messages of server/messages.py (history, beats,
// phase, cue, cue_resolved, marker, device, coherence, synchrony, visibility, session), the
// REST reads that complete them (the session, markers, cues, and the stored timeline that fills
// what the hub's memory no longer holds or what happened while the page was offline), and the
// commands that end or resume the session.
import { api } from "../api.js";
import { MAX_BRIDGE_S, SID } from "./config.js";
import { onVisibility, onVisibilityMessage, renderConsents } from "./consent.js";
import { onCueResolved, showCue } from "./cues.js";
import { renderCoherence, renderDevices, renderSynchrony } from "./panels.js";
import { renderPhase, setPhase, tickClock } from "./phase.js";
import { connect } from "./socket.js";
import { S, addBeats, addCue, addMarker, describeReason, person, sessionNow } from "./state.js";
import { hideNotice, say, showNotice, updateControls } from "./ui.js";
import { $ } from "./util.js";

export function onMessage(msg) {
  S.messages++;
  switch (msg.type) {
    case "history": onHistory(msg); break;
    case "beats": {
      // A client that fell far behind gets fewer beats (dropped_beats): fetch them back.
      const before = S.lastBeatT;
      const first = Math.min(...msg.participants.filter((p) => p.time_s.length).map((p) => p.time_s[0]));
      for (const pb of msg.participants) addBeats(pb, false);
      if (msg.dropped_beats > 0 && before != null && isFinite(first)) {
        fillGap(before, first).catch((e) => console.warn("gap not filled:", e.message));
      }
      break;
    }
    case "session": onSession(msg); break;
    case "phase": setPhase(msg); break;
    case "cue": addCue(msg); showCue(msg); break;
    case "cue_resolved": onCueResolved(msg); break;
    case "marker": addMarker(msg); break;
    case "device": S.devices.set(msg.participant_id, msg); renderDevices(); break;
    case "coherence": S.coherence.set(msg.participant_id, msg); renderCoherence(); break;
    case "synchrony": S.synchrony = msg; renderSynchrony(); break;
    case "visibility": onVisibilityMessage(msg); break;
    default: break;
  }
}

async function onHistory(h) {
  const live = h.session.status === "live";
  // A live session's now_s is on the session clock; an ended one's is the host clock, which
  // a simulated session (speed N) does not follow: its clock stops at its last beat.
  if (live) S.clockAt = [h.now_s, performance.now()];
  onSession(h.session);
  const firstBeat = Math.min(...h.beats.filter((b) => b.time_s.length).map((b) => b.time_s[0]));
  const gapFrom = S.lastBeatT != null ? S.lastBeatT : S.startedAt;
  for (const pb of h.beats) addBeats(pb, false);
  if (!live) {
    const end = S.lastBeatT ?? h.session.time_s ?? (S.clockAt ? S.clockAt[0] : h.now_s);
    S.clockAt = [end, performance.now()];
  }
  if (h.phase) { S.phase = h.phase; renderPhase(); }
  showCue(h.cue || null);
  if (h.cue) addCue(h.cue);
  for (const m of h.markers) addMarker(m);
  for (const d of h.devices) S.devices.set(d.participant_id, d);
  for (const c of h.coherence) S.coherence.set(c.participant_id, c);
  if (h.synchrony.length) S.synchrony = h.synchrony[h.synchrony.length - 1];
  renderDevices(); renderCoherence(); renderSynchrony();
  // Fill what the memory of the hub no longer holds: the start of a long session, or what
  // happened while this page was offline.
  const upTo = isFinite(firstBeat) ? firstBeat : (live ? h.now_s : Infinity);
  if (gapFrom != null && upTo - gapFrom > MAX_BRIDGE_S) {
    try { await fillGap(gapFrom, upTo); } catch (e) { console.warn("gap not filled:", e.message); }
  }
  loadMarkersAndCues();
  S.dirty = true;
}

export function onSession(s) {
  if (S.status === "live" && s.status !== "live" && S.clockAt) {
    S.clockAt = [s.time_s ?? sessionNow(), performance.now()];  // the session clock stops
  }
  S.status = s.status;
  if (s.started_at_s != null) S.startedAt = s.started_at_s;
  S.speed = s.speed || 1;
  for (const p of s.participants || []) person(p);
  for (const p of s.participants || []) onVisibility(p.participant_id, p.visible !== false);
  renderConsents();
  const pill = $("session-status");
  pill.dataset.status = s.status;
  pill.textContent = s.status === "live" && S.speed !== 1 ? "live · " + S.speed + "× simulated" : s.status;
  if (s.status === "live") {
    hideNotice();
  } else if (s.status === "interrupted") {
    showNotice("This session was interrupted (the server stopped while it was live). Its beats up to then are stored.", true, true);
  } else if (s.status === "stopped") {
    showNotice("This session has ended" + (s.reason === "shutdown" ? " (the server was shut down)." : ".") + " Everything recorded is stored.", false, true);
  } else if (s.status === "planned") {
    showNotice("This session has not started yet.", false);
  }
  if (s.status !== "live") showCue(null);
  updateControls();
  tickClock();
  S.dirty = true;
}

// Fill [fromS, toS) with the stored beats (HR and RMSSD recomputed by the server; no arousal
// index: the period stays grey, nothing is guessed).
async function fillGap(fromS, toS) {
  if (!(toS > fromS)) return;
  let start = fromS;
  for (let page = 0; page < 20 && start != null && start < toS; page++) {
    const span = Math.min(3600, Math.max(1, toS - start));
    const q = "?start_s=" + encodeURIComponent(start) + "&span_s=" + encodeURIComponent(span);
    const tl = await api("GET", "/api/sessions/" + SID + "/timeline" + q);
    for (const p of tl.participants) {
      const d = p.derived;
      const keep = [];
      for (let i = 0; i < d.time_s.length; i++) if (d.time_s[i] > fromS && d.time_s[i] < toS) keep.push(i);
      if (!keep.length) continue;
      const known = S.participants.get(p.participant_id);
      if (known && !known.visible) continue;
      addBeats({
        participant_id: p.participant_id, code: p.code, role: p.role,
        time_s: keep.map((i) => d.time_s[i]), hr_bpm: [], mean_hr_bpm: keep.map((i) => d.hr_bpm[i]),
        rmssd_ms: keep.map((i) => d.rmssd_ms[i]), arousal_index: [], arousal_state: [], quality: [],
      }, true);
    }
    for (const m of tl.markers) addMarker(m);
    start = tl.next_start_s;
  }
}

async function loadMarkersAndCues() {
  try {
    const ms = await api("GET", "/api/sessions/" + SID + "/markers");
    for (const m of (ms.markers || ms)) addMarker(m);
    const cs = await api("GET", "/api/sessions/" + SID + "/cues");
    for (const c of (cs.cues || cs)) {
      S.cues.set(c.id, { time_s: c.shown_at_s, text: c.text, reason: describeReason(c.reason), response: c.response });
    }
    S.dirty = true;
  } catch (e) { console.warn("markers/cues not loaded:", e.message); }
}

export async function loadSession() {
  try {
    const s = await api("GET", "/api/sessions/" + SID);
    $("session-label").textContent = s.label ? s.label + " (session " + SID + ")" : "Session " + SID;
    for (const a of s.participants || []) {
      if (a.code && a.role) person({ participant_id: a.participant_id, code: a.code, role: a.role });
    }
  } catch (e) {
    $("session-label").textContent = "Session " + SID;
    if (e.status === 401) showNotice("The address lacks a valid access token (?token=…).", false);
  }
}

export async function endCmd() {
  $("end-dialog").close();
  try {
    await api("POST", "/api/sessions/" + SID + "/stop");
    S.ended = true;
    onSession({ status: "stopped", time_s: sessionNow(), participants: [] });
  } catch (e) { say("Could not end the session: " + e.message); }
}

export async function resumeCmd() {
  try {
    await api("POST", "/api/sessions/" + SID + "/start");
    S.ended = false; S.attempt = 0;
    hideNotice();
    if (!S.ws) connect();
  } catch (e) { showNotice("Could not resume: " + e.message, true); }
}
