// What the live page holds: the session, its people and their series, markers, cues, phase.
// Only data here, no DOM: the other modules read S and call these functions to change it.
import { roleRank } from "./vocab.js";

export const S = {
  status: "connecting",
  startedAt: null,          // session-clock start, s
  speed: 1,
  clockAt: null,            // [session now_s, performance.now() ms] for the local clock
  participants: new Map(),  // id -> {id, code, role, visible, paused, consents}
  series: new Map(),        // id -> {t:[], arousal:[], state:[], hr:[], rmssd:[], quality, baseline}
  devices: new Map(),       // id -> last device message
  coherence: new Map(),     // id -> last coherence message
  synchrony: null,
  markers: new Map(),       // marker id -> {time_s, type, note, participant_id, retracted}
  cues: new Map(),          // cue id -> {time_s, text, reason, response}
  cue: null,                // cue showing now
  phase: null,              // last phase message
  pacerOn: false,
  view: "window",           // "window" | "all" | "manual"
  dirty: true,              // something the figure shows changed
  figureStale: true,        // the figure must be rebuilt (not extended): sorted, filled, new person
  ended: false,             // the session is over: no more reconnecting
  ws: null,
  attempt: 0,
  lastBeatT: null,          // newest beat time seen, s (for gap filling)
  online: false,
  messages: 0,
};

// The session clock now, s (runs locally at the session's speed between messages).
export function sessionNow() {
  if (!S.clockAt) return null;
  const live = S.status === "live";
  return S.clockAt[0] + (live ? S.speed * (performance.now() - S.clockAt[1]) / 1000 : 0);
}

// Seconds from the session start.
export const rel = (t) => (S.startedAt == null ? t : t - S.startedAt);

export function people() {
  return [...S.participants.values()].sort((a, b) => roleRank(a.role) - roleRank(b.role) || a.id - b.id);
}

export function patient() { return people().find((p) => p.role === "patient"); }

// A person without a live_display consent is never shown: no pause, no resume.
export function canPause(p) { return !p.consents || p.consents.has("live_display"); }

export function person(info) {
  const id = info.participant_id;
  const p = S.participants.get(id) || { id, code: info.code, role: info.role, visible: true };
  p.code = info.code; p.role = info.role;
  if (info.visible !== undefined) p.visible = info.visible;
  if (info.paused !== undefined) p.paused = info.paused;
  if (Array.isArray(info.consents)) p.consents = new Set(info.consents);
  S.participants.set(id, p);
  if (!S.series.has(id)) S.series.set(id, { t: [], arousal: [], state: [], hr: [], rmssd: [], quality: null, baseline: 0 });
  return p;
}

// Append a participant's beats (a "beats" or "history" entry); filled = from storage, with no
// arousal index (the period stays grey: nothing is guessed).
export function addBeats(pb, filled) {
  person({ participant_id: pb.participant_id, code: pb.code, role: pb.role });
  const s = S.series.get(pb.participant_id);
  const n = pb.time_s.length;
  const last = s.t.length ? s.t[s.t.length - 1] : -Infinity;
  let needSort = false;
  for (let i = 0; i < n; i++) {
    const t = pb.time_s[i];
    if (t <= last) needSort = true;
    s.t.push(t);
    s.arousal.push(filled ? null : pb.arousal_index[i]);
    s.state.push(filled ? "filled" : pb.arousal_state[i]);
    s.hr.push(pb.mean_hr_bpm[i]);
    s.rmssd.push(pb.rmssd_ms[i]);
  }
  if (needSort) dedupe(s);
  if (needSort || (filled && n)) S.figureStale = true;
  if (!filled && n) {
    s.quality = pb.quality[n - 1];
    s.baseline = pb.baseline_progress;
  }
  if (n) {
    const tl = s.t[s.t.length - 1];
    if (!filled && (S.lastBeatT == null || tl > S.lastBeatT)) S.lastBeatT = tl;
  }
  S.dirty = true;
}

// Sort by time and keep one entry per time (a live value wins over a filled one).
function dedupe(s) {
  const idx = s.t.map((_, i) => i).sort((a, b) => s.t[a] - s.t[b] || (s.state[a] === "filled") - (s.state[b] === "filled"));
  const out = { t: [], arousal: [], state: [], hr: [], rmssd: [] };
  let prev = null;
  for (const i of idx) {
    if (prev !== null && Math.abs(s.t[i] - prev) < 1e-6) continue;
    prev = s.t[i];
    for (const k of Object.keys(out)) out[k].push(s[k][i]);
  }
  Object.assign(s, out);
}

export function addMarker(m) {
  S.markers.set(m.marker_id ?? m.id, {
    time_s: m.time_s, type: m.marker_type ?? m.type, note: m.note, participant_id: m.participant_id,
    retracted: Boolean(m.retracted),
  });
  S.dirty = true;
}

export function addCue(c) {
  const prev = S.cues.get(c.cue_id) || {};
  S.cues.set(c.cue_id, Object.assign(prev, { time_s: c.time_s, text: c.text, reason: c.reason }));
  S.dirty = true;
}

export function describeReason(r) {
  if (!r) return "";
  if (typeof r === "string") return r;
  return r.text || r.reason || Object.entries(r).map(([k, v]) => k + " " + (typeof v === "number" ? v.toFixed(2) : v)).join(", ");
}
