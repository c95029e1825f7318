// The breathing pacer: a CSS animation (live.css @keyframes pacer-breathe, or pacer-breathe-still
// under prefers-reduced-motion) whose period, one breath, comes from breaths/min through the
// custom property --pacer-period. The browser keeps the rhythm, so it does not drift; the
// "breathe in / out" word is read from the animation's own clock at each half breath.
import { api } from "../api.js";
import { CFG, SID } from "./config.js";
import { S } from "./state.js";
import { say } from "./ui.js";
import { $ } from "./util.js";

let labelTimer = null;

const periodMs = () => 60000 / Number($("pacer-rate").value);

// The ball's breathing animation (running only while the pacer shows).
export function breathing() {
  return $("pacer-ball").getAnimations().find((a) => String(a.animationName).startsWith("pacer-breathe")) || null;
}

export function setPacerRate(bpm) {
  const [lo, hi] = CFG.pacer_bpm;
  const v = Math.min(Math.max(Number(bpm), lo), hi);
  const anim = breathing();
  const before = periodMs();
  const frac = anim && anim.currentTime != null ? (anim.currentTime % before) / before : 0;
  $("pacer-rate").value = String(v);
  $("pacer-rate-out").textContent = String(v);
  $("pacer").style.setProperty("--pacer-period", (60 / v) + "s");
  // Same point of the breath at the new pace: no jump of the ball.
  const now = breathing();
  if (now) now.currentTime = frac * periodMs();
  syncLabel();
}

function syncLabel() {
  clearTimeout(labelTimer);
  labelTimer = null;
  if (!S.pacerOn) return;
  const anim = breathing();
  const period = periodMs();
  const t = ((anim && anim.currentTime) || 0) % period;
  const inhale = t < period / 2;
  $("pacer-phase").textContent = inhale ? "breathe in" : "breathe out";
  labelTimer = setTimeout(syncLabel, (inhale ? period / 2 - t : period - t) + 20);
}

export async function showPacer(on, tellServer) {
  S.pacerOn = on;
  $("pacer").hidden = !on;   // shown: the animation starts at the start of a breath in
  $("pacer-toggle").setAttribute("aria-pressed", String(on));
  $("pacer-toggle").textContent = on ? "Hide pacer" : "Show pacer";
  syncLabel();
  if (tellServer) {
    try { await api("POST", "/api/sessions/" + SID + "/pacer", { on }); }
    catch (e) { say("Pacer: " + e.message); }
  }
}

// The controls; and a new animation (shown again, or reduced motion switched) restarts the
// breath, so the word is read again from its clock.
export function bindPacer() {
  $("pacer-toggle").addEventListener("click", () => showPacer(!S.pacerOn, true));
  $("pacer-rate").addEventListener("input", (e) => setPacerRate(e.target.value));
  $("pacer-ball").addEventListener("animationstart", syncLabel);
  setPacerRate(CFG.pacer_bpm[2]);
}
