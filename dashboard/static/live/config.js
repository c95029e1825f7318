// The live page's configuration (filled in by server/web/live.py: session id, the empty
// report figure, colours, pacer bounds, vocabularies) and the constants of its behaviour.
import { token } from "../api.js";

export const CFG = JSON.parse(document.getElementById("live-config").textContent);
export const SID = CFG.session_id;
export const TOKEN = token;

export const BAND_STATES = new Set(["above", "within", "below"]);
export const MAX_BRIDGE_S = 2.5;           // longest beat gap a line may bridge, s (as figures.py)
export const REDRAW_MS = 1000;             // figure refresh period, ms
export const BACKOFF_MS = [500, 1000, 2000, 4000, 8000];
export const EXTEND_S = 300;               // "+5 min" on the current phase, s
export const UNDO_MS = 10000;              // how long the page offers to undo a marker (server: 30 s)
export const GREY = "#8C8C8C";
