/**
 * Calls to the JSON API from the pages: the CSRF token comes from the page's meta tag, and a
 * problem+json answer becomes an Error carrying its detail and field errors.
 * @module api
 */

/** The session's CSRF token, rendered by the server into <meta name="csrf-token">. */
export function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.getAttribute("content") : "";
}

/** An API error: the problem's detail, with its status and field errors. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.errors = problem.errors || [];
  }
}

async function parse(response) {
  const type = response.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await response.json() : {};
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

/** GET a JSON resource. */
export async function getJson(url) {
  return parse(await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } }));
}

/** POST a JSON body with the CSRF header. */
export async function postJson(url, body) {
  return parse(await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": csrfToken() },
    body: JSON.stringify(body),
  }));
}

/** Announce a message in the page's live region (read by screen readers) and show it. */
export function announce(element, text, kind = "") {
  element.textContent = text;
  element.className = `flash ${kind}`.trim();
  element.hidden = !text;
}
