// Link quality of remote participants on the live page (issue 15): polls
// GET /api/sessions/{id}/join-links every 2 s; shown only when the session has join links.
"use strict";
(function () {
  const cfgEl = document.getElementById("live-config");
  if (!cfgEl) return;
  const SID = JSON.parse(cfgEl.textContent).session_id;
  const TOKEN = new URLSearchParams(location.search).get("token") || "";
  const headers = { Authorization: "Bearer " + TOKEN };
  const box = document.getElementById("remote-links");
  const list = document.getElementById("remote-link-list");
  const fmt = function (x, unit, digits) {
    return x === null || x === undefined ? "–" : x.toFixed(digits) + " " + unit;
  };
  function describe(link) {
    const q = link.quality;
    if (link.state !== "active") return "link " + link.state;
    if (!q.connected) {
      return (q.beats_received ? "link lost" + (q.last_close_code ? " (code " + q.last_close_code + ")" : "") +
        ": the session goes on, the gap is marked, and beats kept on the patient's side fill in when it returns"
        : "not connected yet");
    }
    const parts = ["connected", "last beat " + fmt(q.last_beat_age_s, "s ago", 1),
      "upload delay " + fmt(q.upload_delay_s, "s", 1)];
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
    await fetch("/api/sessions/" + SID + "/join-links/" + link.id + "/revoke", { method: "POST", headers: headers });
    poll();
  }
  async function poll() {
    try {
      const r = await fetch("/api/sessions/" + SID + "/join-links", { headers: headers });
      if (!r.ok) return;
      const links = await r.json();
      box.hidden = links.length === 0;
      list.replaceChildren();
      links.forEach(function (link) {
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
          b.addEventListener("click", function () { revoke(link); });
          li.append(" ", b);
        }
        list.append(li);
      });
    } catch (e) { /* the live page shows connection problems itself */ }
  }
  poll();
  setInterval(poll, 2000);
})();
