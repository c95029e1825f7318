// Markers: one button (or key) per observation, a free note (N), and a short-lived Undo (U).
// An undone marker stays in the record, marked retracted, with the undo in the audit log;
// later corrections go through the API.
import { api } from "../api.js";
import { SID, UNDO_MS } from "./config.js";
import { redraw } from "./figure.js";
import { addMarker, rel } from "./state.js";
import { say } from "./ui.js";
import { $, fmtClock } from "./util.js";
import { MARKER_KEYS, markerLabel, shortLabel } from "./vocab.js";

let undoTimer = null, undoable = null;

export async function addMarkerCmd(type, note) {
  try {
    const body = { type };
    if (note) body.note = note;
    const m = await api("POST", "/api/sessions/" + SID + "/markers", body);
    addMarker(m);
    redraw();
    say("Saved: " + shortLabel(type) + " at " + fmtClock(rel(m.time_s)));
    offerUndo(m);
    return true;
  } catch (e) { say("Marker not saved: " + e.message); return false; }
}

function offerUndo(m) {
  undoable = m;
  const b = $("marker-undo");
  b.hidden = false;
  b.textContent = "Undo";
  b.title = "Undo " + shortLabel(m.type) + " at " + fmtClock(rel(m.time_s)) + " (key U)";
  b.dataset.markerId = m.id;
  clearTimeout(undoTimer);
  undoTimer = setTimeout(() => { undoable = null; b.hidden = true; }, UNDO_MS);
}

export const canUndo = () => undoable != null;

export async function undoCmd() {
  const m = undoable;
  if (!m) return;
  undoable = null;
  clearTimeout(undoTimer);
  $("marker-undo").hidden = true;
  try {
    await api("POST", "/api/sessions/" + SID + "/markers/" + m.id + "/undo");
    addMarker(Object.assign({}, m, { retracted: true }));
    redraw();
    say("Undone: " + shortLabel(m.type) + " (kept in the record as retracted)");
  } catch (e) { say("Undo failed: " + e.message); }
}

export function buildMarkerButtons() {
  const grid = $("marker-grid");
  for (const [type, key] of MARKER_KEYS) {
    const b = document.createElement("button");
    b.type = "button";
    b.dataset.marker = type;
    b.title = markerLabel(type) + " (key " + key + ")";
    const label = document.createElement("span");
    label.textContent = shortLabel(type);
    const k = document.createElement("kbd");
    k.textContent = key;
    b.append(label, k);
    b.addEventListener("click", () => addMarkerCmd(type));
    grid.appendChild(b);
  }
}

// The marker type of a key (upper case), or null.
export function markerOfKey(k) {
  const hit = MARKER_KEYS.find(([, key]) => key === k);
  return hit ? hit[0] : null;
}

export function bindNoteForm() {
  $("note-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const text = $("note-text").value.trim();
    if (!text) return;
    if (await addMarkerCmd("note", text)) { $("note-text").value = ""; $("note-text").blur(); }
  });
}

