// Suggestions (cues): the card in its fixed slot, and the therapist's answer to it.
import { api } from "../api.js";
import { SID } from "./config.js";
import { setPacerRate, showPacer } from "./pacer.js";
import { S } from "./state.js";
import { say } from "./ui.js";
import { $ } from "./util.js";

export function showCue(c) {
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

export function onCueResolved(msg) {
  const c = S.cues.get(msg.cue_id);
  if (c) c.response = msg.resolution;
  if (S.cue && S.cue.cue_id === msg.cue_id) showCue(null);
  S.dirty = true;
}

export async function answerCue(response) {
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
