// The WebSocket /ws/sessions/{id}?token=: connects, hands each message to the page, and
// reconnects by itself with exponential backoff (jittered) unless the session is over or the
// access is refused.
import { BACKOFF_MS, SID, TOKEN } from "./config.js";
import { renderDevices } from "./panels.js";
import { S } from "./state.js";
import { updateControls } from "./ui.js";
import { $ } from "./util.js";

let handler = () => {};
let retryTimer = null, retryAt = 0;

export function onSocketMessage(f) { handler = f; }

export function connect() {
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
    handler(msg);
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

function scheduleReconnect() {
  if (retryTimer) return;
  const base = BACKOFF_MS[Math.min(S.attempt, BACKOFF_MS.length - 1)];
  const delay = base * (0.8 + 0.4 * Math.random());
  S.attempt++;
  retryAt = performance.now() + delay;
  retryTimer = setTimeout(() => { retryTimer = null; connect(); }, delay);
}

// "next try in N s" on the offline banner.
export function tickRetry() {
  if (retryTimer) $("retry-in").textContent = "next try in " + Math.max(0, Math.ceil((retryAt - performance.now()) / 1000)) + " s";
}

export function setOnline(on, why) {
  S.online = on;
  const c = $("conn");
  c.dataset.state = on ? "online" : "offline";
  c.textContent = on ? "connected" : (why || "offline, reconnecting");
  $("offline-banner").hidden = on || S.ended;
  document.body.dataset.connection = on ? "online" : "offline";
  updateControls();
  renderDevices();
}
