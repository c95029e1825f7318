// The patient's page of a remote session: consent per purpose, Web Bluetooth strap, beats kept
// in IndexedDB until the server acknowledges them (ingest protocol, see the README).
"use strict";
(function () {
  const token = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop() || "");
  const FATAL = { 4401: "This link is not valid.", 4403: "Storage consent is needed to send beats.",
    4404: "You are no longer part of this session.", 4410: "This link has expired.",
    4411: "This link was withdrawn by your therapist.",
    4426: "This page needs a secure connection: open the link as given (it starts with https)." };
  const $ = function (id) { return document.getElementById(id); };
  // The names of the consent purposes come from the server (dashboard/vocab.py); what each one
  // allows comes with the link's state (GET /api/join/{token}), from the same words.
  const config = JSON.parse($("sintonia-config").textContent);
  const PURPOSE_LABEL = {};
  config.vocab.consent_purposes.forEach(function (p) { PURPOSE_LABEL[p.id] = p.label; });
  let ws = null, wsOpen = false, fatal = null, db = null, gapNext = true, backoff = 500;
  let lastBeatT = null, bufferedBeats = 0, minRtt = null;
  const streamKey = "sintonia-stream-" + token.slice(0, 12);
  let stream = localStorage.getItem(streamKey);
  if (!stream) {
    const r = new Uint8Array(8);
    crypto.getRandomValues(r);
    stream = Array.from(r, function (b) { return b.toString(16).padStart(2, "0"); }).join("");
    localStorage.setItem(streamKey, stream);
  }
  const seqKey = streamKey + "-seq";

  function status(id, text) { $(id).textContent = text; }
  function showError(text) { const e = $("error"); e.textContent = text; e.hidden = !text; }

  // ---------------------------------------------------------------- consent
  async function api(path, body) {
    const init = body ? { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body) } : {};
    const r = await fetch("/api/join/" + encodeURIComponent(token) + path, init);
    if (!r.ok) throw new Error(r.status === 404 ? "This link is not valid any more." : "Error " + r.status);
    return r.json();
  }
  function render(info) {
    status("shown", info.shown);
    status("retention", info.retention);
    status("expires", new Date(info.expires_at_s * 1000).toLocaleString());
    const ul = $("purposes");
    ul.replaceChildren();
    info.purposes.forEach(function (p) {
      const li = document.createElement("li");
      li.dataset.purpose = p.purpose;
      const name = document.createElement("h3");
      name.textContent = PURPOSE_LABEL[p.purpose] || p.purpose;
      const text = document.createElement("p");
      text.textContent = p.what;
      const state = document.createElement("strong");
      state.className = "consent-state";
      state.textContent = p.granted ? "You agreed." : "Not agreed.";
      const give = document.createElement("button");
      give.type = "button"; give.className = "btn give"; give.textContent = "I agree";
      give.disabled = p.granted;
      const refuse = document.createElement("button");
      refuse.type = "button"; refuse.className = "btn refuse";
      refuse.textContent = p.granted ? "Withdraw" : "No, thank you";
      refuse.disabled = !p.granted;
      give.addEventListener("click", function () { change(p.purpose, true); });
      refuse.addEventListener("click", function () { change(p.purpose, false); });
      li.append(name, text, state, give, refuse);
      ul.append(li);
    });
  }
  async function change(purpose, granted) {
    try {
      render(await api("/consents", { purpose: purpose, granted: granted }));
      showError("");
      if (purpose === "storage" && granted) { fatal = null; connectServer(); }
    } catch (e) { showError(e.message); }
  }

  // ---------------------------------------------------------------- IndexedDB buffer
  function openDb() {
    return new Promise(function (resolve, reject) {
      const req = indexedDB.open("sintonia-join", 1);
      req.onupgradeneeded = function () { req.result.createObjectStore("pending", { keyPath: "key" }); };
      req.onsuccess = function () { resolve(req.result); };
      req.onerror = function () { reject(req.error); };
    });
  }
  function tx(mode, fn) {
    return new Promise(function (resolve, reject) {
      const t = db.transaction("pending", mode);
      const out = fn(t.objectStore("pending"));
      t.oncomplete = function () { resolve(out && out.result); };
      t.onerror = function () { reject(t.error); };
    });
  }
  const keyOf = function (seq) { return stream + ":" + String(seq).padStart(12, "0"); };
  async function pending() {
    const all = await tx("readonly", function (s) { return s.getAll(); });
    return all.filter(function (m) { return m.key.startsWith(stream + ":"); });
  }
  async function updateUpload() {
    const n = (await pending()).reduce(function (a, m) { return a + m.msg.rr_ms.length; }, 0);
    bufferedBeats = n;
    status("st-upload", (wsOpen ? "connected" : "waiting for the server") +
      (n ? ", " + n + " beats kept here until stored" : ", everything stored"));
  }

  // ---------------------------------------------------------------- server
  function send(obj) { if (wsOpen) ws.send(JSON.stringify(obj)); }
  function connectServer() {
    if (ws || fatal) return;
    const proto = location.protocol === "https:" ? "wss://" : "ws://";
    ws = new WebSocket(proto + location.host + "/ws/ingest?join=" + encodeURIComponent(token) +
      "&stream=" + stream);
    ws.onmessage = async function (ev) {
      const m = JSON.parse(ev.data);
      if (m.type === "hello") {
        wsOpen = true; backoff = 500;
        send({ type: "ping", t_device_s: Date.now() / 1000 });
        (await pending()).forEach(function (p) { send(p.msg); });
      } else if (m.type === "ack") {
        await tx("readwrite", function (s) { return s.delete(keyOf(m.seq)); });
      } else if (m.type === "pong" && typeof m.t_device_s === "number") {
        // the round trip bounds the clock offset's error (sent with the next ping)
        const rtt = Date.now() / 1000 - m.t_device_s;
        if (rtt >= 0 && (minRtt === null || rtt < minRtt)) minRtt = rtt;
      }
      updateUpload();
    };
    ws.onclose = function (ev) {
      ws = null; wsOpen = false;
      if (FATAL[ev.code]) { fatal = ev.code; showError(FATAL[ev.code]); }
      else { setTimeout(connectServer, backoff); backoff = Math.min(backoff * 2, 10000); }
      updateUpload();
    };
  }
  // back online: try the server now rather than at the end of the back-off
  window.addEventListener("online", function () { backoff = 500; connectServer(); });
  setInterval(function () {
    const ping = { type: "ping", t_device_s: Date.now() / 1000, buffered: bufferedBeats };
    if (minRtt !== null) ping.rtt_s = minRtt;
    send(ping);
  }, 5000);

  // ---------------------------------------------------------------- strap
  async function onValue(ev) {
    let m;
    try { m = window.SintoniaHRM.parse(ev.target.value); } catch (e) { return; }
    status("st-contact", m.contact === null ? "not reported" : m.contact ? "good" : "no contact");
    if (!m.rr_ms.length) return;
    // beat times as sensor.timing reconstructs them: summed RR from an anchor (the receipt time
    // of the first notification minus its RRs), re-anchored after a gap or when the sum drifts
    // more than 2 s from the receipt clock
    const now = Date.now() / 1000;
    const total = m.rr_ms.reduce(function (a, r) { return a + r / 1000; }, 0);
    if (lastBeatT === null || gapNext || Math.abs(lastBeatT + total - now) > 2) {
      lastBeatT = now - total;
    }
    const times = [];
    m.rr_ms.forEach(function (r) { lastBeatT += r / 1000; times.push(lastBeatT); });
    const seq = Number(localStorage.getItem(seqKey) || "0");
    localStorage.setItem(seqKey, String(seq + 1));
    const msg = { type: "beats", seq: seq, rr_ms: m.rr_ms, t_device_s: times, contact: m.contact,
      gap_before: gapNext };
    gapNext = false;
    await tx("readwrite", function (s) { return s.put({ key: keyOf(seq), msg: msg }); });
    status("st-beat", new Date(now * 1000).toLocaleTimeString());
    send(msg);
    updateUpload();
  }
  async function attach(device) {
    const server = await device.gatt.connect();
    const service = await server.getPrimaryService("heart_rate");
    const ch = await service.getCharacteristic("heart_rate_measurement");
    ch.addEventListener("characteristicvaluechanged", onValue);
    await ch.startNotifications();
    window.SintoniaJoin.characteristic = ch; // for tests: readValue() fires the same handler
    status("st-strap", "connected (" + (device.name || "strap") + ")");
  }
  async function connectStrap() {
    try {
      const device = await navigator.bluetooth.requestDevice({ filters: [{ services: ["heart_rate"] }] });
      device.addEventListener("gattserverdisconnected", function () {
        status("st-strap", "reconnecting…");
        gapNext = true;
        const retry = function (wait) {
          setTimeout(function () {
            attach(device).catch(function () { retry(Math.min(wait * 2, 10000)); });
          }, wait);
        };
        retry(1000);
      });
      await attach(device);
      showError("");
    } catch (e) { status("st-strap", "not connected"); showError("The strap could not be connected: " + e.message); }
  }

  async function start() {
    if (!navigator.bluetooth) { $("no-bluetooth").hidden = false; $("connect").disabled = true; }
    $("connect").addEventListener("click", connectStrap);
    try {
      db = await openDb();
      const info = await api("");
      render(info);
      connectServer();
    } catch (e) { showError(e.message); }
  }
  window.SintoniaJoin = { characteristic: null };
  start();
})();
