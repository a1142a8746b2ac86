// Entry of vectors.html (no inline script: the test server sends a CSP without 'unsafe-inline'
// or 'unsafe-eval'). ?mode=vectors runs every vector and produces outputs for Python;
// ?mode=timing times ballot encryption on fresh tables. Results land on window.__quorum.
import { runVectorChecks } from "./checks.js";
import { produceForPython } from "./produce.js";
import { timeBallots } from "./ballot_timing.js";
import * as interop from "./interop.js";
import { seal, unseal } from "../../web/static/js/crypto/keystore.js";

const violations = [];
document.addEventListener("securitypolicyviolation", (e) => violations.push(`${e.violatedDirective} ${e.blockedURI}`));
window.quorumInterop = interop;

async function main() {
  const mode = new URLSearchParams(location.search).get("mode");
  const status = document.getElementById("status");
  const out = { mode, violations };
  try {
    if (mode === "timing") {
      out.timings = await timeBallots();
      const started = performance.now();
      await unseal(await seal({ timing: true }, "passphrase"), "passphrase");
      out.timings.keystore_seal_and_unseal_ms = performance.now() - started;
    } else {
      const vectors = await (await fetch("../vectors/js/vectors.json")).json();
      const started = performance.now();
      out.results = await runVectorChecks(vectors);
      out.checks_ms = performance.now() - started;
      out.produced = await produceForPython(vectors);
    }
  } catch (err) {
    out.error = String(err && err.stack ? err.stack : err);
  }
  window.__quorum = out;
  const failed = (out.results || []).filter((r) => !r.ok).length;
  status.dataset.done = "true";
  status.textContent = out.error ? `error: ${out.error}` : `done: ${(out.results || []).length - failed} passed, ${failed} failed`;
}

main();
