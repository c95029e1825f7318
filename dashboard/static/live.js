/* Sintonia live page: the therapist's view of a running session.
 *
 * Data comes over the WebSocket /ws/sessions/{id}?token= (messages of server/messages.py:
 * history, beats, phase, cue, cue_resolved, marker, device, coherence, synchrony, visibility,
 * session); commands go to the REST API with "Authorization: Bearer <token>". The figure keeps
 * the conventions of dashboard/figures.py (session_figure): x in minutes from the session start,
 * traces with meta {kind, participant}, shapes named usual-range, phase:<id>, marker:<type>,
 * no-band:<code>:<state>. No line is drawn while a person is calibrating or uncertain: the period
 * is greyed instead. The page reconnects by itself (exponential backoff) and fills the gap from
 * GET /api/sessions/{id}/timeline. No request leaves the server's origin.
 */
(function () {
  "use strict";

  const CFG = JSON.parse(document.getElementById("live-config").textContent);
  const SID = CFG.session_id;
  const TOKEN = new URLSearchParams(location.search).get("token") || "";
  const BAND_STATES = new Set(["above", "within", "below"]);
  const MAX_BRIDGE_S = 2.5;          // longest beat gap a line may bridge, s (as figures.py)
  const REDRAW_MS = 1000;            // figure refresh period, ms
  const BACKOFF_MS = [500, 1000, 2000, 4000, 8000];
  const EXTEND_S = 300;
  const UNDO_MS = 10000;             // how long the page offers to undo a marker (server: 30 s)
  const CONSENT_WORDS = {            // what does not happen without each consent
    live_display: "their trace is not shown here",
    storage: "their beats are not stored (nothing to review afterwards)",
    synchrony: "co-regulation is not computed",
  };
  const GREY = "#8C8C8C";
  const MARKER_COLOUR = CFG.palette.reddish_purple;
  const CUE_COLOUR = CFG.palette.bluish_green;
  const MARKERS = [
    ["rupture", "R"], ["repair", "E"], ["silence", "S"], ["sudden_sleepiness", "L"],
    ["looking_away", "A"], ["dissociation_observed", "D"], ["grounding_done", "G"],
    ["breathing_exercise", "B"],
  ];
  const SHORT_LABELS = {
    rupture: "Rupture", repair: "Repair", silence: "Silence", sudden_sleepiness: "Sudden sleepiness",
    looking_away: "Looking away", dissociation_observed: "Dissociation observed",
    grounding_done: "Grounding done", breathing_exercise: "Breathing exercise", note: "Note",
    privacy_pause: "Privacy pause", privacy_resume: "Privacy resumed",
  };

  // ------------------------------------------------------------------ state
  const S = {
    status: "connecting",
    startedAt: null,          // session-clock start, s
    speed: 1,
    clockAt: null,            // [session now_s, performance.now() ms] for the local clock
    participants: new Map(),  // id -> {id, code, role, visible}
    series: new Map(),        // id -> {t:[], arousal:[], state:[], hr:[], rmssd:[], quality}
    devices: new Map(),       // id -> last device message
    coherence: new Map(),     // id -> last coherence message
    synchrony: null,
    markers: new Map(),       // marker id -> {time_s, type, note, participant_id}
    cues: new Map(),          // cue id -> {time_s, text, reason, response}
    cue: null,                // cue showing now
    phase: null,              // last phase message
    pacerOn: false,
    view: "window",           // "window" | "all" | "manual"
    dirty: true,
    ended: false,             // the session is over: no more reconnecting
    ws: null,
    attempt: 0,
    lastBeatT: null,          // newest beat time seen, s (for gap filling)
    online: false,
    messages: 0,
  };

  const $ = (id) => document.getElementById(id);
  const fmtClock = (s) => {
    if (s == null || !isFinite(s)) return "–";
    const neg = s < 0; s = Math.abs(Math.round(s));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    const core = (h ? h + ":" + String(m).padStart(2, "0") : String(m)) + ":" + String(sec).padStart(2, "0");
    return (neg ? "-" : "") + core;
  };
  const sessionNow = () => {
    if (!S.clockAt) return null;
    const live = S.status === "live";
    return S.clockAt[0] + (live ? S.speed * (performance.now() - S.clockAt[1]) / 1000 : 0);
  };
  const rel = (t) => (S.startedAt == null ? t : t - S.startedAt);

  // ------------------------------------------------------------------ REST
  async function api(method, path, body) {
    const opts = { method, headers: { Authorization: "Bearer " + TOKEN } };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    const r = await fetch(path, opts);
    const text = await r.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = text; }
    if (!r.ok) {
      const detail = data && data.detail ? (typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail)) : r.statusText;
      throw new Error(r.status + ": " + detail);
    }
    return data;
  }
  let sayTimer = null;
  function say(text) {
    $("marker-status").textContent = text;
    clearTimeout(sayTimer);
    sayTimer = setTimeout(() => { $("marker-status").textContent = ""; }, 15000);
  }

  // ------------------------------------------------------------------ data
  function person(info) {
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

  function addBeats(pb, filled) {
    person({ participant_id: pb.participant_id, code: pb.code, role: pb.role });
    const s = S.series.get(pb.participant_id);
    const n = pb.time_s.length;
    const last = s.t.length ? s.t[s.t.length - 1] : -Infinity;
    let needSort = false;
    for (let i = 0; i < n; i++) {
      const t = pb.time_s[i];
      if (t <= last) { needSort = true; }
      s.t.push(t);
      s.arousal.push(filled ? null : pb.arousal_index[i]);
      s.state.push(filled ? "filled" : pb.arousal_state[i]);
      s.hr.push(pb.mean_hr_bpm[i]);
      s.rmssd.push(pb.rmssd_ms[i]);
    }
    if (needSort) dedupe(s);
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

  function addMarker(m) {
    S.markers.set(m.marker_id ?? m.id, {
      time_s: m.time_s, type: m.marker_type ?? m.type, note: m.note, participant_id: m.participant_id,
      retracted: Boolean(m.retracted),
    });
    S.dirty = true;
  }

  function addCue(c) {
    const prev = S.cues.get(c.cue_id) || {};
    S.cues.set(c.cue_id, Object.assign(prev, { time_s: c.time_s, text: c.text, reason: c.reason }));
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
  function describeReason(r) {
    if (!r) return "";
    if (typeof r === "string") return r;
    return r.text || r.reason || Object.entries(r).map(([k, v]) => k + " " + (typeof v === "number" ? v.toFixed(2) : v)).join(", ");
  }

  async function loadSession() {
    try {
      const s = await api("GET", "/api/sessions/" + SID);
      $("session-label").textContent = s.label ? s.label + " (session " + SID + ")" : "Session " + SID;
      for (const a of s.participants || []) {
        if (a.code && a.role) person({ participant_id: a.participant_id, code: a.code, role: a.role });
      }
    } catch (e) {
      $("session-label").textContent = "Session " + SID;
      if (String(e.message).startsWith("401")) showNotice("The address lacks a valid access token (?token=…).", false);
    }
  }

  // ------------------------------------------------------------------ messages
  function onMessage(msg) {
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
      case "phase": S.phase = msg; renderPhase(); S.dirty = true; break;
      case "cue": addCue(msg); showCue(msg); break;
      case "cue_resolved": {
        const c = S.cues.get(msg.cue_id);
        if (c) c.response = msg.resolution;
        if (S.cue && S.cue.cue_id === msg.cue_id) showCue(null);
        S.dirty = true;
        break;
      }
      case "marker": addMarker(msg); break;
      case "device": S.devices.set(msg.participant_id, msg); renderDevices(); break;
      case "coherence": S.coherence.set(msg.participant_id, msg); renderCoherence(); break;
      case "synchrony": S.synchrony = msg; renderSynchrony(); break;
      case "visibility": {
        const p = S.participants.get(msg.participant_id);
        if (p && p.consents) {
          if (msg.reason === "consent_revoked" && !msg.visible) p.consents.delete("live_display");
          if (msg.reason === "consent_granted" && msg.visible) p.consents.add("live_display");
        }
        if (p && (msg.reason === "privacy_pause" || msg.reason === "privacy_resume")) p.paused = msg.reason === "privacy_pause";
        onVisibility(msg.participant_id, msg.visible);
        break;
      }
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

  function onSession(s) {
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

  // Commands only while the session is live and the server is reachable.
  function updateControls() {
    const can = S.status === "live" && S.online;
    for (const id of ["phase-extend", "privacy-btn", "pacer-toggle", "cue-ack", "cue-dismiss", "end-btn", "marker-undo"]) $(id).disabled = !can;
    const pt = patient();
    if (pt && !canPause(pt)) $("privacy-btn").disabled = true;
    const ph = S.phase;
    $("phase-advance").disabled = !can || (ph != null && ph.index >= ph.schedule.length - 1);
    for (const b of document.querySelectorAll("#marker-grid button, #note-form button")) b.disabled = !can;
  }

  function onVisibility(pid, visible) {
    const p = S.participants.get(pid);
    if (!p) return;
    p.visible = visible;
    if (p.role === "patient") {
      // Hidden for lack of consent is not a pause: nothing on this page can change it.
      const paused = !visible && canPause(p);
      $("privacy-btn").setAttribute("aria-pressed", String(paused));
      $("privacy-btn").firstChild.textContent = paused ? "Resume patient stream " : "Privacy pause ";
      $("privacy-btn").title = canPause(p)
        ? "Hide and stop the patient's stream at once (recorded as an event)"
        : "The patient has not consented to live display: nothing is shown, so there is nothing to pause";
      $("privacy-note").hidden = !paused;
      updateControls();
    }
    if (!visible) { S.synchrony = null; }
    renderDevices();
    renderSynchrony();
    renderConsents();
    S.dirty = true;
  }

  // A person without a live_display consent is never shown: no pause, no resume.
  function canPause(p) { return !p.consents || p.consents.has("live_display"); }

  function renderConsents() {
    const lines = [];
    for (const p of people()) {
      if (!p.consents) continue;
      const missing = Object.keys(CONSENT_WORDS).filter((k) => !p.consents.has(k));
      if (!missing.length) continue;
      lines.push(p.code + " (" + p.role + ") did not consent to " + missing.map((k) => k.replace("_", " ")).join(", ") +
        ": " + missing.map((k) => CONSENT_WORDS[k]).join("; ") + ".");
    }
    const box = $("consent-notice");
    box.textContent = lines.join(" ");
    box.hidden = lines.length === 0;
  }

  function showNotice(text, canResume, ended) {
    $("session-notice").hidden = false;
    $("session-notice-text").textContent = text;
    $("resume-btn").hidden = !canResume;
    $("after-links").hidden = !ended;
    $("newest-link").hidden = Boolean(ended) && S.status === "stopped";
  }
  function hideNotice() { $("session-notice").hidden = true; }

  // ------------------------------------------------------------------ WebSocket
  function connect() {
    if (S.ended) return;
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const url = proto + "//" + location.host + "/ws/sessions/" + SID + "?token=" + encodeURIComponent(TOKEN);
    let ws;
    try { ws = new WebSocket(url); } catch (e) { scheduleReconnect(); return; }
    S.ws = ws;
    let gotHistory = false, historyStatus = null;
    ws.onopen = () => { setOnline(true); };
    ws.onmessage = (ev) => {
      let msg;
      try { msg = JSON.parse(ev.data); } catch (e) { return; }
      if (msg.type === "history") { gotHistory = true; historyStatus = msg.session.status; S.attempt = 0; }
      if (msg.type === "session" && msg.status === "stopped" && msg.reason !== "shutdown") S.ended = true;
      onMessage(msg);
    };
    ws.onclose = (ev) => {
      S.ws = null;
      if (ev.code === 4401) {
        setOnline(false, "no access: the token in the address is missing or wrong");
        S.ended = true; return;
      }
      if (ev.code === 4404) { setOnline(false, "no such session"); S.ended = true; return; }
      if (gotHistory && (historyStatus === "stopped" || historyStatus === "interrupted")) {
        S.ended = true;  // an ended session: the history said it all
        setOnline(true);
        return;
      }
      if (S.ended) { setOnline(true); return; }
      setOnline(false);
      scheduleReconnect();
    };
    ws.onerror = () => { /* onclose follows */ };
  }

  let retryTimer = null, retryAt = 0;
  function scheduleReconnect() {
    if (retryTimer) return;
    const base = BACKOFF_MS[Math.min(S.attempt, BACKOFF_MS.length - 1)];
    const delay = base * (0.8 + 0.4 * Math.random());
    S.attempt++;
    retryAt = performance.now() + delay;
    retryTimer = setTimeout(() => { retryTimer = null; connect(); }, delay);
  }

  function setOnline(on, why) {
    S.online = on;
    const c = $("conn");
    c.dataset.state = on ? "online" : "offline";
    c.textContent = on ? "connected" : (why || "offline, reconnecting");
    $("offline-banner").hidden = on || S.ended;
    document.body.dataset.connection = on ? "online" : "offline";
    updateControls();
    renderDevices();
  }

  // ------------------------------------------------------------------ figure
  function brokenXY(t, y) {
    const xs = [], ys = [];
    for (let i = 0; i < t.length; i++) {
      if (i > 0 && t[i] - t[i - 1] > MAX_BRIDGE_S) { xs.push(null); ys.push(null); }
      xs.push(rel(t[i]) / 60); ys.push(y[i] == null ? null : y[i]);
    }
    return [xs, ys];
  }

  function noBandPeriods(s) {
    const out = [];
    const n = s.t.length;
    let i = 0;
    while (i < n) {
      const st = s.state[i];
      let j = i + 1;
      while (j < n && s.state[j] === st && s.t[j] - s.t[j - 1] <= MAX_BRIDGE_S) j++;
      if (!BAND_STATES.has(st)) out.push([s.t[i], j < n ? s.t[j] : s.t[n - 1], st]);
      if (j < n && s.t[j] - s.t[j - 1] > MAX_BRIDGE_S) out.push([s.t[j - 1], s.t[j], "no beats"]);
      i = j;
    }
    return out;
  }

  const ROLE_ORDER = { patient: 0, therapist: 1 };
  function people() {
    return [...S.participants.values()].sort((a, b) => (ROLE_ORDER[a.role] ?? 9) - (ROLE_ORDER[b.role] ?? 9) || a.id - b.id);
  }

  function buildFigure() {
    const base = CFG.figure.layout;
    const layout = JSON.parse(JSON.stringify(base));
    const [lo, hi] = CFG.usual_band;
    const traces = [];
    const shapes = (layout.shapes || []).filter((s) => s.name === "usual-range");
    const annotations = (layout.annotations || []).filter((a) => a.text === "usual range");
    let yMin = lo - 1.5, yMax = hi + 1.5, tEnd = 0;
    const greyX = [], greyText = [];
    const extra = [CFG.palette.bluish_green, CFG.palette.reddish_purple, CFG.palette.sky_blue];
    people().forEach((p, i) => {
      const s = S.series.get(p.id);
      if (!s) return;
      const colour = CFG.colours[p.role] || extra[i % extra.length];
      const name = escapeHtml(p.code) + " (" + p.role + ")";
      const shown = p.visible;
      const ar = s.arousal.map((v, k) => (BAND_STATES.has(s.state[k]) ? v : null));
      for (const v of ar) if (v != null) { yMin = Math.min(yMin, v - 0.5); yMax = Math.max(yMax, v + 0.5); }
      if (s.t.length) tEnd = Math.max(tEnd, rel(s.t[s.t.length - 1]));
      const [xa, ya] = brokenXY(s.t, ar);
      traces.push({
        type: "scatter", mode: "lines", x: xa, y: ya, name, legendgroup: p.code, xaxis: "x", yaxis: "y",
        line: { color: colour, width: 2.5 }, connectgaps: false, visible: shown ? true : false,
        meta: { kind: "arousal", participant: p.code },
        hovertemplate: name + "<br>%{x:.1f} min<br>index %{y:.2f}<extra></extra>",
      });
      [["hr", s.hr, "bpm", "2"], ["rmssd", s.rmssd, "ms", "3"]].forEach(([kind, vals, unit, ax]) => {
        const [xs, ys] = brokenXY(s.t, vals);
        traces.push({
          type: "scatter", mode: "lines", x: xs, y: ys, name: name + " " + kind.toUpperCase(),
          legendgroup: p.code, showlegend: false, xaxis: "x" + ax, yaxis: "y" + ax,
          line: { color: colour, width: 1.5 }, connectgaps: false, visible: shown ? true : false,
          meta: { kind, participant: p.code },
          hovertemplate: name + "<br>%{x:.1f} min<br>%{y:.1f} " + unit + "<extra></extra>",
        });
      });
      if (!shown) return;
      for (const [a, b, st] of noBandPeriods(s)) {
        shapes.push({
          type: "rect", name: "no-band:" + p.code + ":" + st, xref: "x", yref: "y domain",
          x0: rel(a) / 60, x1: rel(b) / 60, y0: 0, y1: 1, fillcolor: GREY, opacity: 0.16,
          line: { width: 0 }, layer: "below",
        });
        greyX.push((rel(a) + rel(b)) / 120);
        const label = st === "filled" ? "filled from storage while this page was offline (HR, RMSSD only)" : (CFG.state_labels[st] || st);
        greyText.push(escapeHtml(p.code) + ": " + label + ", " + fmtClock(rel(a)) + "-" + fmtClock(rel(b)) + "<br>no index shown (not guessed)");
      }
    });
    if (greyX.length) {
      traces.push({
        type: "scatter", mode: "markers", x: greyX, y: greyX.map(() => yMin + 0.3), xaxis: "x", yaxis: "y",
        name: "calibrating / signal uncertain (grey)", hovertext: greyText, hoverinfo: "text",
        marker: { symbol: "square", size: 9, color: GREY, opacity: 0.6 }, meta: { kind: "no_band", participant: null },
      });
    }
    // phase ribbon (projected schedule), as in session_figure
    const fills = ["#DCEAF5", "#F3E6CC"];
    let tPlanEnd = 0;
    if (S.phase && S.startedAt != null) {
      S.phase.schedule.forEach((e, k) => {
        const a = (e.actual_start_s ?? e.projected_start_s), b = (e.actual_end_s ?? e.projected_end_s);
        const x0 = rel(a) / 60, x1 = rel(b) / 60;
        tPlanEnd = Math.max(tPlanEnd, rel(b));
        shapes.push({
          type: "rect", name: "phase:" + e.phase_id, xref: "x", yref: "paper", x0, x1, y0: 1.015, y1: 1.075,
          fillcolor: fills[k % 2], line: { width: e.phase_id === S.phase.phase_id ? 2 : 1, color: e.phase_id === S.phase.phase_id ? CFG.palette.blue : "#FFFFFF" }, layer: "above",
        });
        annotations.push({
          text: escapeHtml(e.label), xref: "x", yref: "paper", x: (x0 + x1) / 2, y: 1.045, showarrow: false,
          font: { size: 11, color: "#222" }, hovertext: escapeHtml(e.label) + ": " + fmtClock(rel(a)) + "-" + fmtClock(rel(b)),
        });
      });
    }
    const all = [...S.markers.entries()].sort((a, b) => a[1].time_s - b[1].time_s);
    const mk = all.filter(([, m]) => !m.retracted);
    const gone = all.filter(([, m]) => m.retracted);
    for (const [, m] of mk) {
      shapes.push({
        type: "line", name: "marker:" + m.type, xref: "x", yref: "paper", x0: rel(m.time_s) / 60, x1: rel(m.time_s) / 60,
        y0: 0, y1: 1, line: { color: MARKER_COLOUR, width: 1.2, dash: "dot" }, layer: "above",
      });
    }
    if (mk.length) {
      traces.push({
        type: "scatter", mode: "markers", x: mk.map(([, m]) => rel(m.time_s) / 60), y: mk.map(() => yMax - 0.2),
        xaxis: "x", yaxis: "y", name: "Markers", hoverinfo: "text",
        hovertext: mk.map(([, m]) => (CFG.marker_labels[m.type] || SHORT_LABELS[m.type] || m.type) + " at " + fmtClock(rel(m.time_s)) + (m.note ? "<br>" + escapeHtml(m.note) : "")),
        marker: { symbol: "triangle-down", size: 12, color: MARKER_COLOUR }, meta: { kind: "markers", participant: null },
      });
    }
    if (gone.length) {
      // Retracted markers stay visible as what they are: hollow grey, no line across the trace.
      traces.push({
        type: "scatter", mode: "markers", x: gone.map(([, m]) => rel(m.time_s) / 60), y: gone.map(() => yMax - 0.2),
        xaxis: "x", yaxis: "y", name: "Retracted markers", hoverinfo: "text", showlegend: false,
        hovertext: gone.map(([, m]) => "Retracted: " + (CFG.marker_labels[m.type] || SHORT_LABELS[m.type] || m.type) + " at " + fmtClock(rel(m.time_s))),
        marker: { symbol: "triangle-down-open", size: 10, color: GREY }, meta: { kind: "retracted_markers", participant: null },
      });
    }
    const cs = [...S.cues.values()].sort((a, b) => a.time_s - b.time_s);
    if (cs.length) {
      traces.push({
        type: "scatter", mode: "markers", x: cs.map((c) => rel(c.time_s) / 60), y: cs.map(() => yMax - 0.8),
        xaxis: "x", yaxis: "y", name: "Cues", hoverinfo: "text",
        hovertext: cs.map((c) => "Cue at " + fmtClock(rel(c.time_s)) + ": " + escapeHtml(c.text) + "<br>Why: " + escapeHtml(c.reason || "") + "<br>Therapist: " + (c.response || "no response yet")),
        marker: { symbol: cs.map((c) => (c.response === "acknowledged" ? "diamond" : "diamond-open")), size: 12, color: CUE_COLOUR, line: { color: CUE_COLOUR, width: 2 } },
        meta: { kind: "cues", participant: null },
      });
    }
    layout.shapes = shapes;
    layout.annotations = annotations;
    layout.yaxis = Object.assign({}, layout.yaxis, { range: [yMin, yMax] });
    const now = sessionNow();
    const nowMin = Math.max(tEnd, now != null && S.startedAt != null && S.status === "live" ? rel(now) : 0) / 60;
    let range;
    if (S.view === "all") range = [0, Math.max(nowMin, tPlanEnd / 60, 1)];
    else if (S.view === "window") range = [Math.max(nowMin - CFG.window_min, 0), Math.max(nowMin, CFG.window_min)];
    else {
      const gd = $("chart");
      range = gd.layout && gd.layout.xaxis && gd.layout.xaxis.range ? gd.layout.xaxis.range.slice() : [0, CFG.window_min];
    }
    for (const ax of ["xaxis", "xaxis2", "xaxis3"]) {
      layout[ax] = Object.assign({}, layout[ax], { range, autorange: false });
    }
    layout.height = undefined;
    layout.autosize = true;
    layout.uirevision = "live";
    layout.margin = { l: 64, r: 16, t: 44, b: 40 };
    layout.legend = { orientation: "h", yanchor: "top", y: -0.09, x: 0 };
    return { data: traces, layout };
  }

  function escapeHtml(s) {
    return String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
  }

  let plotted = false, relayoutByCode = false;
  function redraw() {
    if (typeof Plotly === "undefined") return;
    const gd = $("chart");
    const fig = buildFigure();
    relayoutByCode = true;
    // No plotly modebar: it covered the phase ribbon. Zoom by dragging, double-click to reset,
    // and the view buttons above the chart.
    const config = { displaylogo: false, responsive: true, displayModeBar: false };
    const p = plotted ? Plotly.react(gd, fig.data, fig.layout, config) : Plotly.newPlot(gd, fig.data, fig.layout, config);
    Promise.resolve(p).then(() => {
      relayoutByCode = false;
      if (!plotted) {
        plotted = true;
        gd.on("plotly_relayout", (ev) => {
          if (relayoutByCode) return;
          if (Object.keys(ev).some((k) => k.startsWith("xaxis"))) setView("manual");
        });
      }
    });
    S.dirty = false;
  }

  function setView(v) {
    S.view = v;
    $("view-window").setAttribute("aria-pressed", String(v === "window"));
    $("view-all").setAttribute("aria-pressed", String(v === "all"));
    S.dirty = true;
  }

  // ------------------------------------------------------------------ panels
  function renderPhase() {
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

  function tickClock() {
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

  function showCue(c) {
    S.cue = c;
    const card = $("cue-card");
    $("cue-empty").hidden = Boolean(c);
    if (!c) { card.hidden = true; return; }
    card.hidden = false;
    card.dataset.cueId = c.cue_id;
    card.dataset.rule = c.rule_id;
    $("cue-text").textContent = c.text;
    $("cue-reason").textContent = c.reason;
    card.title = c.reason;
    $("cue-reason-hover").title = c.reason;
  }

  async function answerCue(response) {
    const c = S.cue;
    if (!c) return;
    try {
      await api("POST", "/api/sessions/" + SID + "/cues/" + c.cue_id + "/response", { response });
      const known = S.cues.get(c.cue_id);
      if (known) known.response = response;
      showCue(null);
      say("Suggestion " + response + ".");
      if (response === "acknowledged" && c.pacer_breaths_per_min) {
        setPacerRate(c.pacer_breaths_per_min);
        showPacer(true, false);
      }
      S.dirty = true;
    } catch (e) { say("Could not record the answer: " + e.message); }
  }

  function qualityWord(q) {
    if (q == null) return "–";
    return (q >= 0.9 ? "good" : q >= 0.7 ? "fair" : "poor") + " (" + Math.round(q * 100) + " %)";
  }

  function renderDevices() {
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
      if (!p.visible) {
        add(canPause(p) ? "hidden (privacy pause)" : "not shown (no consent to live display)", "muted");
        ul.appendChild(li); continue;
      }
      let link = "waiting", cls = "state-wait";
      if (!S.online && !S.ended) link = "unknown while offline";
      else if (S.status !== "live") link = "not streaming (session " + S.status + ")";
      else if (d) {
        if (d.kind === "reconnecting" || d.kind === "connecting") link = "reconnecting…";
        else if (d.connected === true) { link = "connected"; cls = "state-ok"; }
        else if (d.connected === false) link = d.kind === "gave_up" ? "disconnected" : "reconnecting…";
      } else if (s && s.t.length) { link = "connected"; cls = "state-ok"; }
      add(link, cls).dataset.link = link;
      if (S.status !== "live" || !S.online) { ul.appendChild(li); continue; }
      if (d && d.battery_percent != null) add("battery " + Math.round(d.battery_percent) + " %");
      add("contact " + (d && d.contact != null ? (d.contact ? "yes" : "no") : "–"));
      add("signal " + qualityWord(s ? s.quality : null));
      if (s && s.baseline < 1 && s.t.length) add("baseline " + Math.round(100 * s.baseline) + " %", "muted");
      ul.appendChild(li);
    }
  }

  function renderCoherence() {
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
  function renderSynchrony() {
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

  // ------------------------------------------------------------------ pacer
  let pacerTimer = null, pacerInhale = true;
  function setPacerRate(bpm) {
    const [lo, hi] = CFG.pacer_bpm;
    const v = Math.min(Math.max(Number(bpm), lo), hi);
    $("pacer-rate").value = String(v);
    $("pacer-rate-out").textContent = String(v);
  }
  function pacerStep() {
    const half = 30000 / Number($("pacer-rate").value);   // half a breath, ms
    const ball = $("pacer-ball");
    ball.style.transitionDuration = half + "ms";
    ball.style.width = pacerInhale ? "100%" : "10%";
    $("pacer-phase").textContent = pacerInhale ? "breathe in" : "breathe out";
    pacerInhale = !pacerInhale;
    pacerTimer = setTimeout(pacerStep, half);
  }
  async function showPacer(on, tellServer) {
    S.pacerOn = on;
    $("pacer").hidden = !on;
    $("pacer-toggle").setAttribute("aria-pressed", String(on));
    $("pacer-toggle").textContent = on ? "Hide pacer" : "Show pacer";
    clearTimeout(pacerTimer);
    if (on) { pacerInhale = true; pacerStep(); }
    if (tellServer) {
      try { await api("POST", "/api/sessions/" + SID + "/pacer", { on }); }
      catch (e) { say("Pacer: " + e.message); }
    }
  }

  // ------------------------------------------------------------------ commands
  async function addMarkerCmd(type, note) {
    try {
      const body = { type };
      if (note) body.note = note;
      const m = await api("POST", "/api/sessions/" + SID + "/markers", body);
      addMarker(m);
      redraw();
      say("Saved: " + (SHORT_LABELS[type] || type) + " at " + fmtClock(rel(m.time_s)));
      offerUndo(m);
      return true;
    } catch (e) { say("Marker not saved: " + e.message); return false; }
  }

  // One click (or U) withdraws the marker just recorded; it stays in the record, marked
  // retracted, with the undo in the audit log. Later corrections go through the API.
  let undoTimer = null, undoable = null;
  function offerUndo(m) {
    undoable = m;
    const b = $("marker-undo");
    b.hidden = false;
    b.textContent = "Undo";
    b.title = "Undo " + (SHORT_LABELS[m.type] || m.type) + " at " + fmtClock(rel(m.time_s)) + " (key U)";
    b.dataset.markerId = m.id;
    clearTimeout(undoTimer);
    undoTimer = setTimeout(() => { undoable = null; b.hidden = true; }, UNDO_MS);
  }
  async function undoCmd() {
    const m = undoable;
    if (!m) return;
    undoable = null;
    clearTimeout(undoTimer);
    $("marker-undo").hidden = true;
    try {
      await api("POST", "/api/sessions/" + SID + "/markers/" + m.id + "/undo");
      addMarker(Object.assign({}, m, { retracted: true }));
      redraw();
      say("Undone: " + (SHORT_LABELS[m.type] || m.type) + " (kept in the record as retracted)");
    } catch (e) { say("Undo failed: " + e.message); }
  }

  async function endCmd() {
    $("end-dialog").close();
    try {
      await api("POST", "/api/sessions/" + SID + "/stop");
      S.ended = true;
      onSession({ status: "stopped", time_s: sessionNow(), participants: [] });
    } catch (e) { say("Could not end the session: " + e.message); }
  }

  function buildMarkerButtons() {
    const grid = $("marker-grid");
    for (const [type, key] of MARKERS) {
      const b = document.createElement("button");
      b.type = "button";
      b.dataset.marker = type;
      b.title = (CFG.marker_labels[type] || type) + " (key " + key + ")";
      const label = document.createElement("span");
      label.textContent = SHORT_LABELS[type];
      const k = document.createElement("kbd");
      k.textContent = key;
      b.append(label, k);
      b.addEventListener("click", () => addMarkerCmd(type));
      grid.appendChild(b);
    }
  }

  async function phaseCmd(action) {
    try {
      const msg = action === "advance"
        ? await api("POST", "/api/sessions/" + SID + "/phase/advance")
        : await api("POST", "/api/sessions/" + SID + "/phase/extend", { by_s: EXTEND_S });
      if (msg && msg.schedule) { S.phase = msg; renderPhase(); S.dirty = true; }
    } catch (e) { say("Phase: " + e.message); }
  }

  function patient() { return people().find((p) => p.role === "patient"); }

  async function privacyCmd() {
    const p = patient();
    if (!p || $("privacy-btn").disabled) return;
    const pause = p.visible;
    try {
      await api("POST", "/api/sessions/" + SID + "/privacy-pause", { participant_id: p.id, paused: pause });
      onVisibility(p.id, !pause);
      say(pause ? "Patient stream paused." : "Patient stream resumed.");
    } catch (e) { say("Privacy pause: " + e.message); }
  }

  async function resumeCmd() {
    try {
      await api("POST", "/api/sessions/" + SID + "/start");
      S.ended = false; S.attempt = 0;
      hideNotice();
      if (!S.ws) connect();
    } catch (e) { showNotice("Could not resume: " + e.message, true); }
  }

  function onKey(ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const tag = (ev.target && ev.target.tagName) || "";
    if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT") return;
    const k = ev.key.toUpperCase();
    const hit = MARKERS.find(([, key]) => key === k);
    if (hit && S.status === "live") { ev.preventDefault(); addMarkerCmd(hit[0]); return; }
    if (k === "N") { ev.preventDefault(); $("note-text").focus(); return; }
    if (k === "U" && undoable) { ev.preventDefault(); undoCmd(); return; }
    if (k === "P" && S.status === "live") { ev.preventDefault(); privacyCmd(); }
  }

  // ------------------------------------------------------------------ start
  function init() {
    buildMarkerButtons();
    $("newest-link").href = "/?token=" + encodeURIComponent(TOKEN);
    $("view-window").addEventListener("click", () => setView("window"));
    $("view-all").addEventListener("click", () => setView("all"));
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
    const q = "?token=" + encodeURIComponent(TOKEN);
    $("review-link").href = "/sessions/" + SID + "/review" + q;
    $("alliance-link").href = "/sessions/" + SID + "/alliance" + q;
    $("pacer-toggle").addEventListener("click", () => showPacer(!S.pacerOn, true));
    $("pacer-rate").addEventListener("input", (e) => setPacerRate(e.target.value));
    $("note-form").addEventListener("submit", async (e) => {
      e.preventDefault();
      const text = $("note-text").value.trim();
      if (!text) return;
      if (await addMarkerCmd("note", text)) { $("note-text").value = ""; $("note-text").blur(); }
    });
    document.addEventListener("keydown", onKey);
    setPacerRate(CFG.pacer_bpm[2]);
    updateControls();
    loadSession();
    connect();
    setInterval(() => { if (S.dirty || (S.status === "live" && S.view === "window")) redraw(); renderDevicesIfStale(); }, REDRAW_MS);
    setInterval(() => {
      tickClock();
      if (retryTimer) $("retry-in").textContent = "next try in " + Math.max(0, Math.ceil((retryAt - performance.now()) / 1000)) + " s";
    }, 500);
    redraw();
  }
  let lastDevRender = 0;
  function renderDevicesIfStale() {
    if (performance.now() - lastDevRender > 5000) { lastDevRender = performance.now(); renderDevices(); }
  }

  // For tests and for curious people: a read-only view of what the page holds.
  window.sintoniaLive = {
    state: S,
    pointCount(code) {
      for (const p of S.participants.values()) if (p.code === code) return S.series.get(p.id).t.length;
      return 0;
    },
    liveCount(code) {
      for (const p of S.participants.values()) if (p.code === code) return S.series.get(p.id).state.filter((s) => s !== "filled").length;
      return 0;
    },
    firstTime(code) {
      for (const p of S.participants.values()) if (p.code === code) { const t = S.series.get(p.id).t; return t.length ? rel(t[0]) : null; }
      return null;
    },
    markerTypes() { return [...S.markers.values()].filter((m) => !m.retracted).map((m) => m.type); },
    retractedTypes() { return [...S.markers.values()].filter((m) => m.retracted).map((m) => m.type); },
    plottedArousal(code) {
      const gd = $("chart");
      const tr = (gd.data || []).find((t) => t.meta && t.meta.kind === "arousal" && t.meta.participant === code);
      return tr ? tr.y.filter((v) => v != null).length : 0;
    },
  };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
