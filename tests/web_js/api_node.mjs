// Runs web/static/js/api.js under node for tests/web_js/test_api.py: reads a JSON list of requests
// ({method: "get" | "post", url, timeoutMs}) on stdin, writes each answer ({data} or {error, message, status})
// as a JSON list on stdout.
import { ApiError, getJson, postJson } from "../../web/static/js/api.js";

globalThis.document = { querySelector: () => null };  // postJson reads the CSRF meta tag: none here

const requests = JSON.parse(await new Promise((resolve) => {
  let text = "";
  process.stdin.on("data", (chunk) => { text += chunk; });
  process.stdin.on("end", () => resolve(text));
}));
const answers = [];
for (const r of requests) {
  try {
    const options = { timeoutMs: r.timeoutMs };
    const data = r.method === "post" ? await postJson(r.url, { ping: 1 }, options) : await getJson(r.url, options);
    answers.push({ data });
  } catch (error) {
    answers.push({ error: error.constructor.name, message: error.message, status: error instanceof ApiError ? error.status : null });
  }
}
process.stdout.write(JSON.stringify(answers));
