// Sintonia: the alliance-score form of a session (GET /sessions/{id}/alliance?token=...).
//
// The page holds no data of its own: it reads the session id from its address and the access
// token from ?token=, and sends the token as "Authorization: Bearer" with every REST call:
//   GET  /api/sessions/{id}                 who takes part (codes, roles),
//   GET  /api/alliance/wording              the clinic's own item wording ({} when none),
//   GET  /api/sessions/{id}/alliance        the scores recorded for this session,
//   POST /api/sessions/{id}/alliance        record SRS or WAI-SR item scores,
//   GET  /api/participants/{pid}/alliance   the participant's trend across sessions.
// Item wording is never shipped (the instruments are licensed): items are shown by number.
"use strict";

(function () {
  // Items and score range per instrument (server: ALLIANCE_ITEM_RANGES); WAI-SR whole numbers.
  const INSTRUMENTS = {
    "SRS": { items: 4, min: 0, max: 10, step: 0.1 },
    "WAI-SR": { items: 12, min: 1, max: 5, step: 1 },
  };

  const { token, withToken, api } = window.Sintonia;
  // The session and the words of the roles come from the page configuration (dashboard/vocab.py).
  const config = JSON.parse(document.getElementById("sintonia-config").textContent);
  const sessionId = config.session_id;
  const ROLE_LABEL = Object.fromEntries(config.vocab.roles.map((r) => [r.id, r.label]));

  const form = document.getElementById("alliance-form");
  const participantSelect = document.getElementById("participant");
  const instrumentSelect = document.getElementById("instrument");
  const versionInput = document.getElementById("version");
  const itemsBody = document.getElementById("items");
  const formError = document.getElementById("form-error");
  const saved = document.getElementById("saved");
  const pageError = document.getElementById("page-error");

  let wording = {};
  let participants = [];

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") node.textContent = v;
      else node.setAttribute(k, v);
    }
    for (const c of children) node.append(c);
    return node;
  }

  function fmt(value, digits) {
    return value === null || value === undefined ? "–" : Number(value).toFixed(digits);
  }

  function showPageError(message) {
    pageError.textContent = message;
    pageError.hidden = false;
  }

  // ------------------------------------------------------------------ the form

  function buildItems() {
    const name = instrumentSelect.value;
    const spec = INSTRUMENTS[name];
    const texts = wording[name] || {};
    itemsBody.replaceChildren();
    for (let i = 1; i <= spec.items; i += 1) {
      const input = el("input", {
        type: "number", id: "item-" + i, name: "item-" + i, min: String(spec.min),
        max: String(spec.max), step: String(spec.step), required: "", inputmode: "decimal",
      });
      input.dataset.item = String(i);
      const label = el("label", { for: "item-" + i, text: "Item " + i });
      itemsBody.append(el("tr", {},
        el("th", { scope: "row" }, label),
        el("td", { text: texts[String(i)] || "" }),
        el("td", {}, input)));
    }
  }

  function readScores() {
    const spec = INSTRUMENTS[instrumentSelect.value];
    const scores = {};
    for (const input of itemsBody.querySelectorAll("input[data-item]")) {
      const value = input.value.trim() === "" ? NaN : Number(input.value);
      const ok = Number.isFinite(value) && value >= spec.min && value <= spec.max &&
        (spec.step !== 1 || Number.isInteger(value));
      input.setAttribute("aria-invalid", ok ? "false" : "true");
      if (!ok) {
        throw new Error("item " + input.dataset.item + " needs a " +
          (spec.step === 1 ? "whole number" : "number") + " from " + spec.min + " to " + spec.max);
      }
      scores[input.dataset.item] = value;
    }
    return scores;
  }

  async function submit(event) {
    event.preventDefault();
    formError.textContent = "";
    saved.textContent = "";
    try {
      const body = {
        participant_id: Number(participantSelect.value),
        instrument: instrumentSelect.value,
        version: versionInput.value.trim(),
        scores: readScores(),
      };
      const out = await api("POST", "/api/sessions/" + sessionId + "/alliance", body);
      saved.textContent = "Saved: total " + fmt(out.total, 1) + ".";
      await Promise.all([loadSessionScores(), loadTrend()]);
    } catch (err) {
      formError.textContent = err.message;
    }
  }

  // ------------------------------------------------------------------ session scores and trend

  async function loadSessionScores() {
    const data = await api("GET", "/api/sessions/" + sessionId + "/alliance");
    const body = document.getElementById("session-scores");
    body.replaceChildren();
    for (const s of data.scores) {
      const sub = s.subscales || {};
      body.append(el("tr", {},
        el("td", { text: s.participant_code }),
        el("td", { text: s.instrument + " (v" + s.version + ")" }),
        el("td", { text: fmt(s.total, 1) }),
        el("td", { text: fmt(sub.goal, 0) }),
        el("td", { text: fmt(sub.task, 0) }),
        el("td", { text: fmt(sub.bond, 0) })));
    }
    if (!data.scores.length) {
      body.append(el("tr", {}, el("td", { colspan: "6", class: "muted", text: "No scores yet." })));
    }
  }

  function drawTrend(rows) {
    const chart = document.getElementById("trend-chart");
    if (typeof window.Plotly === "undefined") return;
    const x = rows.map((r) => "S" + r.session_id + " " + new Date(r.date_s * 1000).toLocaleDateString());
    const traces = [
      { name: "SRS total (0-40)", y: rows.map((r) => r.srs_total), line: { color: "#0072B2" } },
      { name: "WAI-SR total (12-60)", y: rows.map((r) => r.wai_sr_total), line: { color: "#E69F00" } },
      { name: "Mean HR (bpm)", y: rows.map((r) => r.mean_hr_bpm), yaxis: "y2",
        line: { color: "#009E73", dash: "dot" } },
      { name: "Mean RMSSD (ms)", y: rows.map((r) => r.mean_rmssd_ms), yaxis: "y2",
        line: { color: "#CC79A7", dash: "dash" } },
    ].map((t) => Object.assign({ x, type: "scatter", mode: "lines+markers", connectgaps: true }, t));
    window.Plotly.react(chart, traces, {
      height: 320,
      margin: { l: 50, r: 60, t: 10, b: 50 },
      yaxis: { title: { text: "Alliance total" }, rangemode: "tozero" },
      yaxis2: { title: { text: "HR, RMSSD" }, overlaying: "y", side: "right", rangemode: "tozero" },
      legend: { orientation: "h", y: -0.25 },
    }, { displaylogo: false, responsive: true });
  }

  async function loadTrend() {
    const pid = participantSelect.value;
    if (!pid) return;
    const data = await api("GET", "/api/participants/" + pid + "/alliance");
    const body = document.getElementById("trend-rows");
    body.replaceChildren();
    for (const r of data.sessions) {
      const sub = [r.wai_sr_goal, r.wai_sr_task, r.wai_sr_bond].map((v) => fmt(v, 0)).join(" / ");
      body.append(el("tr", {},
        el("td", { text: String(r.session_id) + (r.label ? " (" + r.label + ")" : "") }),
        el("td", { text: new Date(r.date_s * 1000).toLocaleDateString() }),
        el("td", { text: fmt(r.srs_total, 1) }),
        el("td", { text: fmt(r.wai_sr_total, 0) }),
        el("td", { text: sub }),
        el("td", { text: fmt(r.mean_hr_bpm, 1) }),
        el("td", { text: fmt(r.mean_rmssd_ms, 1) })));
    }
    drawTrend(data.sessions);
  }

  // ------------------------------------------------------------------ start

  async function init() {
    document.getElementById("nav-sessions").href = withToken("/sessions");
    document.getElementById("nav-review").href = withToken("/sessions/" + sessionId + "/review");
    document.getElementById("nav-alliance").href = withToken(window.location.pathname);
    document.getElementById("title").textContent = "Alliance scores: session " + sessionId;
    if (!token) {
      document.getElementById("token-missing").hidden = false;
      form.hidden = true;
      return;
    }
    try {
      const [session, words] = await Promise.all([
        api("GET", "/api/sessions/" + sessionId),
        api("GET", "/api/alliance/wording"),
      ]);
      wording = words || {};
      participants = session.participants;
      for (const p of participants) {
        participantSelect.append(el("option", {
          value: String(p.participant_id), text: p.code + " (" + (ROLE_LABEL[p.role] || p.role) + ")",
        }));
      }
      buildItems();
      await Promise.all([loadSessionScores(), loadTrend()]);
    } catch (err) {
      showPageError(err.message);
    }
  }

  instrumentSelect.addEventListener("change", buildItems);
  participantSelect.addEventListener("change", () => { loadTrend().catch((e) => showPageError(e.message)); });
  form.addEventListener("submit", submit);
  init();
})();
