// Sintonia: the list of sessions (GET /sessions?token=...), newest first, from GET /api/sessions.
// Live, planned and interrupted sessions link to their live view; a planned session can be
// started from here.
"use strict";

(function () {
  const { token, withToken, api } = window.Sintonia;
  const table = document.getElementById("sessions");
  const body = table.querySelector("tbody");
  const errorBox = document.getElementById("list-error");
  // Words of the session statuses, from the page configuration (dashboard/vocab.py).
  const config = JSON.parse(document.getElementById("sintonia-config").textContent);
  const STATUS_WORDS = config.vocab.session_statuses;

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = false;
  }

  function when(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    const d = new Date(seconds * 1000);
    return d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
  }

  function cell(text) {
    const td = document.createElement("td");
    td.textContent = text;
    return td;
  }

  function row(s) {
    const tr = document.createElement("tr");
    tr.dataset.sessionId = String(s.id);
    tr.append(cell("#" + s.id), cell(s.label || "–"));
    const status = document.createElement("span");
    status.className = "status status-" + s.status;
    status.textContent = STATUS_WORDS[s.status] || s.status;
    const statusCell = document.createElement("td");
    statusCell.append(status);
    tr.append(statusCell, cell(when(s.created_at_s)), cell(when(s.started_at_s)));
    const open = document.createElement("td");
    const live = document.createElement("a");
    live.href = withToken("/sessions/" + s.id + "/live");
    live.textContent = s.status === "live" ? "Live view" : "View";
    open.append(live);
    if (s.status === "stopped" || s.status === "interrupted") {
      const review = document.createElement("a");
      review.href = withToken("/sessions/" + s.id + "/review");
      review.textContent = "Review";
      open.append(" · ", review);
    }
    const alliance = document.createElement("a");
    alliance.href = withToken("/sessions/" + s.id + "/alliance");
    alliance.textContent = "Alliance scores";
    open.append(" · ", alliance);
    if (s.status === "planned" || s.status === "interrupted") {
      const start = document.createElement("button");
      start.type = "button";
      start.className = "btn btn-small start-button";
      start.textContent = s.status === "planned" ? "Start" : "Resume";
      start.addEventListener("click", async () => {
        start.disabled = true;
        try {
          await api("POST", "/api/sessions/" + s.id + "/start");
          window.location.assign(live.href);
        } catch (err) {
          showError("session #" + s.id + " could not start: " + err.message);
          start.disabled = false;
        }
      });
      open.append(start);
    }
    tr.append(open);
    return tr;
  }

  async function load() {
    try {
      const page = await api("GET", "/api/sessions?limit=200");
      body.replaceChildren(...page.sessions.map(row));
      table.hidden = page.sessions.length === 0;
      document.getElementById("empty").hidden = page.sessions.length !== 0;
    } catch (err) {
      showError("the sessions could not be listed: " + err.message);
    }
  }

  for (const id of ["nav-sessions", "nav-new", "new-session"]) {
    const a = document.getElementById(id);
    a.href = withToken(a.getAttribute("href"));
  }
  if (!token) {
    document.getElementById("token-missing").hidden = false;
  } else {
    load();
  }
})();
