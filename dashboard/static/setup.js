// Sintonia: the session setup page (GET /sessions/new?token=...).
//
// The page holds no data of its own: it reads the access token from ?token= and sends it as
// "Authorization: Bearer" with every REST call. Creating a session is a sequence of API calls:
//   1. participants by pseudonymous code (GET /api/participants; POST for new codes),
//   2. the session with its phase plan and both device assignments (POST /api/sessions),
//   3. one consent per ticked purpose and person, for this session (POST .../consents),
//   4. start (POST /api/sessions/{id}/start),
// then the browser goes to /sessions/{id}/live?token=... . If a step fails, its message (a 422
// from the API says what was expected) is shown next to the field it concerns, and pressing the
// button again resumes from the failed step with the same session.
"use strict";

(function () {
  const CODE_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
  const MAX_MINUTES = 600;

  const { token, withToken, api, ApiError } = window.Sintonia;
  const params = new URLSearchParams(window.location.search);
  const demo = params.get("demo") === "1";
  const config = JSON.parse(document.getElementById("sintonia-config").textContent);
  // The words of roles and consent purposes come from the server (dashboard/vocab.py), in the
  // order the database's types list them.
  const ROLES = config.vocab.roles.map((r) => r.id);
  const ROLE_LABEL = Object.fromEntries(config.vocab.roles.map((r) => [r.id, r.label]));
  const PURPOSES = config.vocab.consent_purposes;
  const PURPOSE = Object.fromEntries(PURPOSES.map((p) => [p.id, p]));

  const form = document.getElementById("setup-form");
  const formError = document.getElementById("form-error");
  const progress = document.getElementById("progress");
  const createButton = document.getElementById("create");
  const templateSelect = document.getElementById("template");
  const phasesBody = document.getElementById("phases");
  const phasesTotal = document.getElementById("phases-total");

  // What has been created so far (so that a retry resumes, never duplicates).
  const state = { participants: {}, sessionId: null, granted: new Set(), busy: false, consentsConfirmed: false };

  // ------------------------------------------------------------------ building the form

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") node.textContent = v;
      else node.setAttribute(k, v);
    }
    for (const c of children) node.append(c);
    return node;
  }

  function personSection(role) {
    return form.querySelector('.person[data-role="' + role + '"]');
  }

  function field(role, name) {
    return personSection(role).querySelector('[data-name="' + name + '"]');
  }

  function buildPerson(role) {
    const section = personSection(role);
    section.querySelector(".role-tag").textContent = ROLE_LABEL[role];
    const body = section.querySelector(".person-body");
    body.append(document.getElementById("person-template").content.cloneNode(true));
    for (const input of body.querySelectorAll("[data-name]")) {
      const name = input.dataset.name;
      input.name = role + "-" + name;
      if (input.type !== "radio") input.id = role + "-" + name;
    }
    for (const label of body.querySelectorAll("label[data-for]")) {
      label.htmlFor = role + "-" + label.dataset.for;
    }
    for (const err of body.querySelectorAll("[data-error]")) {
      err.id = role + "-" + err.dataset.error + "-error";
    }
    field(role, "code").setAttribute("aria-describedby", role + "-code-error");
    const list = body.querySelector(".consent-list");
    for (const { id: purpose, label, allows } of PURPOSES) {
      const id = role + "-consent-" + purpose;
      const box = el("input", { type: "checkbox", id, name: id, value: purpose });
      box.dataset.purpose = purpose;
      list.append(el("label", { class: "consent", for: id }, box,
        el("span", { class: "purpose", text: label }),
        el("span", { class: "explain", text: allows })));
    }
    list.addEventListener("change", () => updateConsentHint(role));
    for (const radio of body.querySelectorAll('input[data-name="kind"]')) {
      radio.id = role + "-kind-" + radio.value;
      radio.addEventListener("change", () => showDevice(role));
    }
    body.querySelector('[data-action="scan"]').addEventListener("click", () => scan(role));
  }

  // Purposes a person did not consent to, and what that means (shown as soon as the form
  // opens: with nothing ticked, nothing of this person is shown, stored or compared).
  function missingConsents(role) {
    const section = personSection(role);
    const ticked = new Set([...section.querySelectorAll(".consent input:checked")].map((b) => b.dataset.purpose));
    return PURPOSES.map((p) => p.id).filter((p) => !ticked.has(p));
  }

  function consentSentence(role) {
    const missing = missingConsents(role);
    if (!missing.length) return "";
    const who = "The " + ROLE_LABEL[role].toLowerCase();
    const without = missing.map((p) => PURPOSE[p].without).join("; ");
    if (missing.length === PURPOSES.length) {
      return who + " has not consented to anything: " + without + ".";
    }
    return "Without " + missing.map((p) => PURPOSE[p].label).join(", ") + ": " + without + ".";
  }

  function updateConsentHint(role) {
    const section = personSection(role);
    const ticked = new Set([...section.querySelectorAll(".consent input:checked")].map((b) => b.dataset.purpose));
    const notes = [];
    const later = ["review", "research_export"].filter((p) => ticked.has(p));
    if (later.length && !ticked.has("storage")) {
      notes.push("Review and research use the stored recording: without Storage nothing is kept for them.");
    }
    const sentence = consentSentence(role);
    if (sentence) notes.push(sentence);
    const hint = section.querySelector("[data-consent-hint]");
    hint.textContent = notes.join(" ");
    hint.hidden = notes.length === 0;
    state.consentsConfirmed = false;
    const box = document.getElementById("consent-confirm");
    if (box) box.hidden = true;
    if (state.sessionId === null) createButton.textContent = "Create session and start";
  }

  // Before the session starts, a session with missing consents is explained once more and
  // needs a second, deliberate click (never silently accepted).
  // Asked when a person would not be shown or not stored (optional purposes such as research
  // are explained next to the boxes, without a second click).
  function confirmConsents() {
    if (state.consentsConfirmed || state.sessionId !== null) return true;
    const core = ROLES.filter((r) => missingConsents(r).some((p) => p === "live_display" || p === "storage"));
    if (!core.length) return true;
    let box = document.getElementById("consent-confirm");
    if (!box) {
      box = el("div", { id: "consent-confirm", class: "notice consent-confirm", role: "alert" });
      const row = createButton.closest(".submit-row") || createButton;
      row.parentNode.insertBefore(box, row);
    }
    box.replaceChildren(
      el("strong", { text: "Before this session starts:" }),
      ...core.map((r) =>
        el("p", { text: ROLE_LABEL[r] + ": " + consentSentence(r) })),
      el("p", { text: "The live page cannot turn these on later. Tick what the person agreed to, or start anyway." }),
    );
    box.hidden = false;
    state.consentsConfirmed = true;
    createButton.textContent = "Start anyway, without these consents";
    box.scrollIntoView({ block: "center" });
    return false;
  }

  function deviceKind(role) {
    const checked = personSection(role).querySelector('input[data-name="kind"]:checked');
    return checked ? checked.value : null;
  }

  function showDevice(role) {
    const kind = deviceKind(role);
    for (const detail of personSection(role).querySelectorAll(".device-detail")) {
      detail.hidden = detail.dataset.kind !== kind;
    }
  }

  function fillTemplates() {
    config.templates.forEach((t, i) => {
      templateSelect.append(el("option", { value: String(i), text: t.name }));
    });
    templateSelect.addEventListener("change", () => showPhases(config.templates[Number(templateSelect.value)]));
    showPhases(config.templates[0]);
  }

  function minutesText(m) {
    const h = Math.floor(m / 60);
    const rest = Math.round((m - 60 * h) * 10) / 10;
    return h ? h + " h " + rest + " min" : rest + " min";
  }

  function showPhases(template) {
    phasesBody.replaceChildren();
    for (const p of template.phases) {
      const input = el("input", {
        type: "number", min: "1", max: String(MAX_MINUTES), step: "0.5",
        value: String(p.minutes), id: "minutes-" + p.id, "aria-label": p.label + ", minutes",
      });
      input.dataset.phase = p.id;
      input.dataset.label = p.label;
      input.addEventListener("input", updateStarts);
      phasesBody.append(el("tr", {}, el("th", { scope: "row", text: p.label }),
        el("td", {}, input), el("td", { class: "starts" })));
    }
    updateStarts();
  }

  function updateStarts() {
    let start = 0;
    let ok = true;
    for (const row of phasesBody.rows) {
      const input = row.querySelector("input");
      const m = Number(input.value);
      row.querySelector(".starts").textContent = ok ? minutesText(start) : "–";
      if (!(m > 0)) ok = false;
      start += m;
    }
    phasesTotal.textContent = ok ? minutesText(start) : "–";
  }

  // ------------------------------------------------------------------ reading and checking

  function setError(id, message) {
    const node = document.getElementById(id);
    if (node) node.textContent = message || "";
  }

  function markInvalid(input, invalid) {
    if (invalid) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
  }

  function clearErrors() {
    formError.hidden = true;
    formError.textContent = "";
    for (const node of form.querySelectorAll(".field-error")) node.textContent = "";
    for (const node of form.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
  }

  function showFormError(message) {
    formError.textContent = message;
    formError.hidden = false;
  }

  function readTemplate() {
    const base = config.templates[Number(templateSelect.value)];
    const phases = [];
    const problems = [];
    for (const input of phasesBody.querySelectorAll("input")) {
      const m = Number(input.value);
      const bad = !(input.value.trim() !== "" && Number.isFinite(m) && m > 0 && m <= MAX_MINUTES);
      markInvalid(input, bad);
      if (bad) problems.push(input.dataset.label + ": expected minutes above 0 and at most " + MAX_MINUTES + ", got “" + input.value + "”");
      phases.push({ id: input.dataset.phase, label: input.dataset.label, minutes: m });
    }
    const edited = phases.some((p, i) => p.minutes !== base.phases[i].minutes);
    const name = edited ? base.name.replace(/\s*\(.*\)$/, "") + " (edited)" : base.name;
    return { template: { name, phases }, problems };
  }

  function readDevice(role) {
    const kind = deviceKind(role);
    if (kind === "simulator") return { device: { kind }, problem: null };
    if (kind === "ble") {
      const address = field(role, "address").value.trim();
      return address
        ? { device: { kind, address }, problem: null }
        : { device: null, problem: "type the strap's address or name, or press Scan and choose one" };
    }
    if (kind === "file") {
      const path = field(role, "path").value.trim();
      return path
        ? { device: { kind, path }, problem: null }
        : { device: null, problem: "type the path of the file to replay" };
    }
    return { device: null, problem: "choose where this person's heartbeats come from" };
  }

  function readPerson(role) {
    const codeInput = field(role, "code");
    const code = codeInput.value.trim();
    let codeProblem = null;
    if (!code) codeProblem = "a code is needed (e.g. P-0042)";
    else if (!CODE_RE.test(code)) {
      codeProblem = "expected letters, digits, “.”, “_” or “-” (1 to 64, starting with a letter or digit), got “" + code + "”";
    }
    const consents = [...personSection(role).querySelectorAll(".consent input:checked")].map((b) => b.dataset.purpose);
    const onRevoke = field(role, "on_revoke").value;
    const { device, problem } = readDevice(role);
    return { role, code, codeProblem, consents, onRevoke, device, deviceProblem: problem };
  }

  function validate() {
    clearErrors();
    const { template, problems } = readTemplate();
    const people = ROLES.map(readPerson);
    let ok = problems.length === 0;
    if (!ok) setError("template-error", problems.join("; "));
    if (people[0].code && people[0].code === people[1].code) {
      people[1].codeProblem = ROLES.map((r) => ROLE_LABEL[r].toLowerCase()).join(" and ") +
        " need different codes";
    }
    for (const p of people) {
      if (p.codeProblem) {
        ok = false;
        setError(p.role + "-code-error", p.codeProblem);
        markInvalid(field(p.role, "code"), true);
      }
      if (p.deviceProblem) {
        ok = false;
        setError(p.role + "-device-error", p.deviceProblem);
      }
    }
    const label = document.getElementById("label").value.trim();
    return { ok, template, people, label };
  }

  // Put an API error next to the field it concerns (loc from a 422), else at the top.
  function showApiError(err, context) {
    const detail = err.detail;
    if (Array.isArray(detail) && context) {
      let placed = false;
      for (const e of detail) {
        const loc = (e.loc || []).filter((p) => p !== "body");
        const target = context(loc);
        if (target) {
          const node = document.getElementById(target);
          node.textContent = (node.textContent ? node.textContent + "; " : "") + e.msg;
          placed = true;
        }
      }
      if (placed) {
        showFormError("please correct the marked fields (" + err.message + ")");
        return;
      }
    }
    showFormError(err.message);
  }

  // ------------------------------------------------------------------ creating

  function step(text) {
    const item = el("li", { text });
    progress.append(item);
    return {
      done() { item.classList.add("done"); },
    };
  }

  async function ensureParticipants(people) {
    const missing = people.filter((p) => !state.participants[p.role]);
    if (!missing.length) return;
    const s = step("Participants");
    const known = await api("GET", "/api/participants");
    const byCode = new Map(known.map((p) => [p.code, p]));
    for (const p of missing) {
      const existing = byCode.get(p.code);
      if (existing) {
        if (existing.role !== p.role) {
          setError(p.role + "-code-error", "the code " + p.code + " is already registered as a " + existing.role + "; choose another code");
          markInvalid(field(p.role, "code"), true);
          throw new ApiError(409, "the code " + p.code + " belongs to a " + existing.role);
        }
        state.participants[p.role] = existing.id;
        continue;
      }
      try {
        const created = await api("POST", "/api/participants", { code: p.code, role: p.role });
        state.participants[p.role] = created.id;
      } catch (err) {
        showApiError(err, (loc) => (loc[0] === "code" ? p.role + "-code-error" : null));
        throw err;
      }
    }
    s.done();
  }

  const deviceLoc = (people) => (loc) => {
    if (loc[0] === "participants" && typeof loc[1] === "number" && people[loc[1]]) {
      return people[loc[1]].role + "-device-error";
    }
    if (loc[0] === "device" && people.length === 1) return people[0].role + "-device-error";
    if (loc[0] === "template") return "template-error";
    if (loc[0] === "label") return "label-error";
    return null;
  };

  async function ensureSession(data) {
    const assignments = data.people.map((p) => ({ participant_id: state.participants[p.role], device: p.device }));
    if (state.sessionId === null) {
      const s = step("Session and devices");
      const body = { template: data.template, participants: assignments };
      if (data.label) body.label = data.label;
      try {
        const session = await api("POST", "/api/sessions", body);
        state.sessionId = session.id;
      } catch (err) {
        showApiError(err, deviceLoc(data.people));
        throw err;
      }
      lockPlan();
      s.done();
      return;
    }
    // A retry: the devices may have been corrected.
    const s = step("Devices of session " + state.sessionId);
    for (const [i, a] of assignments.entries()) {
      try {
        await api("POST", "/api/sessions/" + state.sessionId + "/participants", a);
      } catch (err) {
        showApiError(err, deviceLoc([data.people[i]]));
        throw err;
      }
    }
    s.done();
  }

  async function grantConsents(people) {
    const s = step("Consents");
    for (const p of people) {
      const pid = state.participants[p.role];
      for (const purpose of p.consents) {
        const key = p.role + ":" + purpose;
        if (state.granted.has(key)) continue;
        const body = { purpose, version: config.consent_version, session_id: state.sessionId };
        if (purpose === "storage") body.on_revoke = p.onRevoke;
        try {
          await api("POST", "/api/participants/" + pid + "/consents", body);
        } catch (err) {
          setError(p.role + "-consents-error", err.message);
          throw err;
        }
        state.granted.add(key);
      }
    }
    s.done();
  }

  async function start(people) {
    const s = step("Start");
    try {
      await api("POST", "/api/sessions/" + state.sessionId + "/start");
    } catch (err) {
      // e.g. a file that cannot be read, an unsupported device: say which person if we can.
      const message = err.message;
      const who = people.find((p) => message.includes(p.code));
      if (who) setError(who.role + "-device-error", message);
      throw err;
    }
    s.done();
  }

  // Once the session exists, its codes and phase plan are fixed; devices may still change.
  function lockPlan() {
    templateSelect.disabled = true;
    document.getElementById("label").disabled = true;
    for (const input of phasesBody.querySelectorAll("input")) input.disabled = true;
    for (const role of ROLES) {
      field(role, "code").disabled = true;
    }
  }

  async function submit(event) {
    event.preventDefault();
    if (state.busy) return;
    const formData = validate();
    if (!formData.ok) {
      showFormError("some entries need attention (marked above)");
      const first = form.querySelector("[aria-invalid='true'], .field-error:not(:empty)");
      if (first) first.scrollIntoView({ block: "center" });
      return;
    }
    if (!confirmConsents()) return;
    state.busy = true;
    createButton.disabled = true;
    progress.replaceChildren();
    try {
      await ensureParticipants(formData.people);
      await ensureSession(formData);
      await grantConsents(formData.people);
      await start(formData.people);
      window.location.assign(withToken("/sessions/" + state.sessionId + "/live"));
      return;
    } catch (err) {
      if (formError.hidden) showFormError(err.message || String(err));
      const last = progress.lastElementChild;
      if (last && !last.classList.contains("done")) last.classList.add("failed");
      if (state.sessionId !== null) {
        createButton.textContent = "Try again with session " + state.sessionId;
      }
    } finally {
      state.busy = false;
      createButton.disabled = false;
    }
  }

  // ------------------------------------------------------------------ scanning for straps

  async function scan(role) {
    const section = personSection(role);
    const status = section.querySelector("[data-scan-status]");
    const results = section.querySelector("[data-scan-results]");
    const button = section.querySelector('[data-action="scan"]');
    results.replaceChildren();
    status.textContent = "Scanning for heart-rate straps (about 5 s)…";
    button.disabled = true;
    try {
      const found = await api("GET", "/api/devices/scan?timeout_s=5");
      const straps = Array.isArray(found) ? found : (found.devices || []);
      status.textContent = straps.length
        ? "Choose a strap (strongest signal first):"
        : "No strap found. Is it worn (it needs skin contact) and not connected to a phone?";
      for (const s of straps) {
        const text = (s.name || "unnamed strap") + " · " + s.address +
          (s.rssi === null || s.rssi === undefined ? "" : " · signal " + s.rssi + " dBm");
        const choose = el("button", { type: "button", class: "btn btn-small", text });
        choose.addEventListener("click", () => {
          field(role, "address").value = s.address;
          status.textContent = "Chosen: " + text;
          results.replaceChildren();
        });
        results.append(el("li", {}, choose));
      }
    } catch (err) {
      status.textContent = err.status === 404 || err.status === 405
        ? "Scanning is not available on this server: type the strap's address or name."
        : "Scan failed: " + err.message + ". Type the strap's address or name instead.";
    } finally {
      button.disabled = false;
    }
  }

  // ------------------------------------------------------------------ start

  function prefillDemo() {
    const stamp = Date.now().toString(36).slice(-4).toUpperCase();
    field("patient", "code").value = "DEMO-P-" + stamp;
    field("therapist", "code").value = "DEMO-T-" + stamp;
    for (const box of form.querySelectorAll(".consent input")) box.checked = true;
    document.getElementById("label").value = "demo";
    for (const role of ROLES) {
      personSection(role).querySelector('input[data-name="kind"][value="simulator"]').checked = true;
      showDevice(role);
    }
  }

  function init() {
    for (const id of ["nav-sessions", "nav-new", "cancel"]) {
      const a = document.getElementById(id);
      a.href = withToken(a.getAttribute("href"));
    }
    fillTemplates();
    ROLES.forEach(buildPerson);
    if (demo) prefillDemo();
    ROLES.forEach(updateConsentHint);
    if (!token) {
      document.getElementById("token-missing").hidden = false;
      createButton.disabled = true;
    }
    form.addEventListener("submit", submit);
  }

  init();
})();
