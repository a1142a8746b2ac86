/**
 * Calls to the JSON API from the pages: the CSRF token comes from the page's meta tag, a problem+json
 * answer becomes an Error carrying its detail and field errors, and a silent or unreachable server an
 * Error that says so.
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

/** How long a call waits for the server's whole answer before it gives up, saying so. */
export const TIMEOUT_MS = 60_000;

/**
 * One call with the session's cookies: its JSON answer, or an Error a person can act on (a problem+json
 * answer, a server that does not answer within `timeoutMs`, a network failure). The page keeps what it
 * holds (an encrypted ballot, a ceremony's state), so trying again loses nothing.
 */
async function call(url, init, timeoutMs) {
  try {
    const response = await fetch(url, { ...init, credentials: "same-origin", signal: AbortSignal.timeout(timeoutMs) });
    const type = response.headers.get("Content-Type") || "";
    const data = type.includes("json") ? await response.json() : {};
    if (!response.ok) throw new ApiError(response.status, data);
    return data;
  } catch (error) {
    if (error instanceof ApiError) throw error;
    if (error.name === "TimeoutError") {
      throw new Error(`the server did not answer within ${timeoutMs / 1000} s: try again`);
    }
    if (error instanceof SyntaxError) throw new Error(`the server's answer is not JSON (${error.message})`);
    throw new Error(`cannot reach the server (${error.message}): check the connection and try again`);
  }
}

/** GET a JSON resource. */
export async function getJson(url, { timeoutMs = TIMEOUT_MS } = {}) {
  return call(url, { headers: { Accept: "application/json" } }, timeoutMs);
}

/** POST a JSON body with the CSRF header. */
export async function postJson(url, body, { timeoutMs = TIMEOUT_MS } = {}) {
  return call(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": csrfToken() },
    body: JSON.stringify(body),
  }, timeoutMs);
}

/** Announce a message in the page's live region (read by screen readers) and show it. */
export function announce(element, text, kind = "") {
  element.textContent = text;
  element.className = `flash ${kind}`.trim();
  element.hidden = !text;
}
