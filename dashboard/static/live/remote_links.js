// Link quality of remote participants (issue 15): polls GET /api/sessions/{id}/join-links every
// 2 s; the card shows only when the session has join links.
import { api } from "../api.js";
import { SID } from "./config.js";
import { $ } from "./util.js";

const POLL_MS = 2000;

const fmt = (x, unit, digits) => (x === null || x === undefined ? "–" : x.toFixed(digits) + " " + unit);

function describe(link) {
  const q = link.quality;
  if (link.state !== "active") return "link " + link.state;
  if (!q.connected) {
    return (q.beats_received ? "link lost" + (q.last_close_code ? " (code " + q.last_close_code + ")" : "") +
      ": the session goes on, the gap is marked, and beats kept on the patient's side fill in when it returns"
      : "not connected yet");
  }
  const parts = ["connected", "last beat " + fmt(q.last_beat_age_s, "s ago", 1), "upload delay " + fmt(q.upload_delay_s, "s", 1)];
  if (q.client_buffered_beats) parts.push(q.client_buffered_beats + " beats waiting on the patient's side");
  if (q.clock_offset_s !== null) {
    parts.push("clock offset " + (q.clock_offset_s >= 0 ? "+" : "") + q.clock_offset_s.toFixed(3) + " s" +
      (typeof q.clock_uncertainty_s === "number" ? " ± " + (q.clock_uncertainty_s * 1000).toFixed(0) + " ms" : ""));
  }
  if (q.clock_drift_ppm !== null) parts.push("drift " + q.clock_drift_ppm.toFixed(0) + " ppm");
  return parts.join(" · ");
}

async function revoke(link) {
  if (!window.confirm("Withdraw the join link of " + link.participant_code + "? Their stream stops at once.")) return;
  try { await api("POST", "/api/sessions/" + SID + "/join-links/" + link.id + "/revoke"); } catch (e) { /* shown by the next poll */ }
  poll();
}

async function poll() {
  let links;
  try { links = await api("GET", "/api/sessions/" + SID + "/join-links"); } catch (e) { return; }  // the page shows connection problems itself
  $("remote-links").hidden = links.length === 0;
  const list = $("remote-link-list");
  list.replaceChildren();
  for (const link of links) {
    const li = document.createElement("li");
    li.dataset.link = String(link.id);
    const who = document.createElement("strong");
    who.textContent = link.participant_code + ": ";
    const what = document.createElement("span");
    what.className = "link-quality";
    what.textContent = describe(link);
    li.append(who, what);
    if (link.state === "active") {
      const b = document.createElement("button");
      b.type = "button"; b.className = "btn"; b.textContent = "Withdraw link";
      b.addEventListener("click", () => revoke(link));
      li.append(" ", b);
    }
    list.append(li);
  }
}

export function startRemoteLinks() {
  poll();
  setInterval(poll, POLL_MS);
}
