// Sintonia: what the pages share: the access token (from ?token=), links that keep it, and JSON
// calls to the REST API with readable error messages.
// An ES module (the live page's modules import it); it also sets window.Sintonia for the
// classic scripts of the setup, session-list and alliance pages, which load it with
// <script type="module" src="/static/api.js"> before their own deferred script (module and
// deferred scripts run in document order, so window.Sintonia is there when they start).

export const token = new URLSearchParams(window.location.search).get("token") || "";

// A readable sentence for an API error (FastAPI's 422 details are a list of {loc, msg}).
export function formatDetail(status, detail) {
  if (Array.isArray(detail)) {
    return detail.map((e) => {
      const where = (e.loc || []).filter((p) => p !== "body").join(" › ");
      const msg = String(e.msg || "").replace(/^Value error, /, "");
      return where ? where + ": " + msg : msg;
    }).join("; ");
  }
  if (status === 503 && typeof detail === "string" && detail) return detail;
  if (status >= 500) {
    return "the server failed (" + status + (typeof detail === "string" && detail ? ": " + detail : "") +
      "); its log says why";
  }
  if (typeof detail === "string" && detail) return detail;
  if (status === 401) return "the access token is missing or wrong; open the link printed by sintonia serve";
  if (status === 403) return "this account may not do that";
  return "the server answered " + status;
}

export class ApiError extends Error {
  constructor(status, detail) {
    super(formatDetail(status, detail));
    this.status = status;
    this.detail = detail;
  }
}

export function withToken(path) {
  return token ? path + "?token=" + encodeURIComponent(token) : path;
}

// JSON in and out, the token as a Bearer header; throws ApiError (status 0: unreachable).
export async function api(method, path, body) {
  const init = { method, headers: { Authorization: "Bearer " + token, Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, "the server cannot be reached (" + err.message + ")");
  }
  let data = null;
  const text = await response.text();
  if (text) {
    try { data = JSON.parse(text); } catch (err) { data = { detail: text }; }
  }
  if (!response.ok) throw new ApiError(response.status, data && data.detail);
  return data;
}

window.Sintonia = Object.freeze({ token, withToken, api, ApiError, formatDetail });
