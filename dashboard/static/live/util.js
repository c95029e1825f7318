// Small helpers of the live page: element lookup, clock formatting, HTML escaping.

export const $ = (id) => document.getElementById(id);

// Seconds as h:mm:ss or m:ss ("–" when unknown).
export function fmtClock(s) {
  if (s == null || !isFinite(s)) return "–";
  const neg = s < 0;
  s = Math.abs(Math.round(s));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  const core = (h ? h + ":" + String(m).padStart(2, "0") : String(m)) + ":" + String(sec).padStart(2, "0");
  return (neg ? "-" : "") + core;
}

// Text placed in plotly labels and hover texts (which render a little HTML).
export function escapeHtml(s) {
  return String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
}
