// The page's status lines: the short message under the markers, the session notice, and which
// commands are enabled (only while the session is live and the server reachable).
import { S, canPause, patient } from "./state.js";
import { $ } from "./util.js";

let sayTimer = null;
export function say(text) {
  $("marker-status").textContent = text;
  clearTimeout(sayTimer);
  sayTimer = setTimeout(() => { $("marker-status").textContent = ""; }, 15000);
}

export function showNotice(text, canResume, ended) {
  $("session-notice").hidden = false;
  $("session-notice-text").textContent = text;
  $("resume-btn").hidden = !canResume;
  $("after-links").hidden = !ended;
  $("newest-link").hidden = Boolean(ended) && S.status === "stopped";
}

export function hideNotice() { $("session-notice").hidden = true; }

const COMMANDS = ["phase-extend", "privacy-btn", "pacer-toggle", "cue-ack", "cue-dismiss", "end-btn", "marker-undo"];

export function updateControls() {
  const can = S.status === "live" && S.online;
  for (const id of COMMANDS) $(id).disabled = !can;
  const pt = patient();
  if (pt && !canPause(pt)) $("privacy-btn").disabled = true;
  const ph = S.phase;
  $("phase-advance").disabled = !can || (ph != null && ph.index >= ph.schedule.length - 1);
  for (const b of document.querySelectorAll("#marker-grid button, #note-form button")) b.disabled = !can;
}
