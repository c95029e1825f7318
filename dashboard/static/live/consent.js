// Consent and privacy on the live page: who is shown, the banner saying what does not happen
// for lack of a consent, and the privacy pause of the patient's stream (P).
import { api } from "../api.js";
import { SID } from "./config.js";
import { renderDevices, renderSynchrony } from "./panels.js";
import { S, canPause, patient, people } from "./state.js";
import { say, updateControls } from "./ui.js";
import { $ } from "./util.js";
import { LIVE_PURPOSES, withoutLive } from "./vocab.js";

export function renderConsents() {
  const lines = [];
  for (const p of people()) {
    if (!p.consents) continue;
    const missing = LIVE_PURPOSES.filter((k) => !p.consents.has(k));
    if (!missing.length) continue;
    lines.push(p.code + " (" + p.role + ") did not consent to " + missing.map((k) => k.replace("_", " ")).join(", ") +
      ": " + missing.map(withoutLive).join("; ") + ".");
  }
  const box = $("consent-notice");
  box.textContent = lines.join(" ");
  box.hidden = lines.length === 0;
}

// A person is shown or hidden (privacy pause, consent given or withdrawn).
export function onVisibility(pid, visible) {
  const p = S.participants.get(pid);
  if (!p) return;
  p.visible = visible;
  if (p.role === "patient") {
    // Hidden for lack of consent is not a pause: nothing on this page can change it.
    const paused = !visible && canPause(p);
    const btn = $("privacy-btn");
    btn.setAttribute("aria-pressed", String(paused));
    btn.firstChild.textContent = paused ? "Resume patient stream " : "Privacy pause ";
    btn.title = canPause(p)
      ? "Hide and stop the patient's stream at once (recorded as an event)"
      : "The patient has not consented to live display: nothing is shown, so there is nothing to pause";
    $("privacy-note").hidden = !paused;
    updateControls();
  }
  if (!visible) S.synchrony = null;
  renderDevices();
  renderSynchrony();
  renderConsents();
  S.dirty = true;
}

// A "visibility" message: consents and pauses change who is shown.
export function onVisibilityMessage(msg) {
  const p = S.participants.get(msg.participant_id);
  if (p && p.consents) {
    if (msg.reason === "consent_revoked" && !msg.visible) p.consents.delete("live_display");
    if (msg.reason === "consent_granted" && msg.visible) p.consents.add("live_display");
  }
  if (p && (msg.reason === "privacy_pause" || msg.reason === "privacy_resume")) p.paused = msg.reason === "privacy_pause";
  onVisibility(msg.participant_id, msg.visible);
}

export async function privacyCmd() {
  const p = patient();
  if (!p || $("privacy-btn").disabled) return;
  const pause = p.visible;
  try {
    await api("POST", "/api/sessions/" + SID + "/privacy-pause", { participant_id: p.id, paused: pause });
    onVisibility(p.id, !pause);
    say(pause ? "Patient stream paused." : "Patient stream resumed.");
  } catch (e) { say("Privacy pause: " + e.message); }
}
