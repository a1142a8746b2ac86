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

/** An API error: the problem's detail, with its status and field errors (only the well-formed ones: objects). */
export class ApiError extends Error {
  constructor(status, problem) {
    const p = problem && typeof problem === "object" ? problem : {};
    super(p.detail || p.title || `HTTP ${status}`);
    this.status = status;
    this.errors = Array.isArray(p.errors) ? p.errors.filter((e) => e && typeof e === "object") : [];
  }
}

/** No answer: the network failed or the server stayed silent (a GET may simply be sent again). */
export class NetworkError extends Error {}

/** How long a call waits for the server to send anything (its answer's start, or the next piece of it) before it
 * gives up, saying so: a large board page coming slowly over a poor link is not cut off, a silent server is. */
export const TIMEOUT_MS = 60_000;

/**
 * One call with the session's cookies: its JSON answer, or an Error a person can act on (a problem+json answer, a
 * server silent for `timeoutMs`, a network failure, an answer that is not JSON, such as a login page of the
 * network in the way). The page keeps what it holds (an encrypted ballot, a ceremony's state): trying again
 * loses nothing.
 */
async function call(url, init, timeoutMs) {
  const controller = new AbortController();
  const within = (promise) => new Promise((resolve, reject) => {
    const timer = AbortSignal.timeout(timeoutMs);
    const expire = () => {
      controller.abort();
      reject(new DOMException("the server sent nothing", "TimeoutError"));
    };
    const settle = (then) => (value) => {
      timer.removeEventListener("abort", expire);
      then(value);
    };
    timer.addEventListener("abort", expire, { once: true });
    promise.then(settle(resolve), settle(reject));
  });
  let response;
  let text;
  try {
    response = await within(fetch(url, { ...init, credentials: "same-origin", signal: controller.signal }));
    text = await readText(response, within);
  } catch (error) {
    if (error.name === "TimeoutError") throw new NetworkError(`the server sent nothing for ${timeoutMs / 1000} s: try again`);
    throw new NetworkError(`cannot reach the server (${error.message}): check the connection and try again`);
  }
  const json = (response.headers.get("Content-Type") || "").includes("json");
  if (!response.ok) throw new ApiError(response.status, json ? parsedOrNull(text) : null);
  if (!json) {
    const type = (response.headers.get("Content-Type") || "untyped").split(";")[0];
    throw new Error(`the server's answer is ${type}, not JSON (a login page of the network in the way?)`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new Error(`the server's answer is not JSON (${error.message})`);
  }
}

/** The whole body as text, each read waited for by `within`. */
async function readText(response, within) {
  if (!response.body) return "";
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let text = "";
  for (;;) {
    const { done, value } = await within(reader.read());
    if (done) return text + decoder.decode();
    text += decoder.decode(value, { stream: true });
  }
}

function parsedOrNull(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
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
