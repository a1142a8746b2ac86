// Runs web/static/js/crypto/argon2.js and keystore.js under node for tests/web_js/test_argon2.py: reads a JSON
// list of requests on stdin, writes the JSON list of answers on stdout. Errors thrown on purpose come back as
// {error: name, field}; anything else fails the process.
import { argon2id, argon2idAsync } from "../../web/static/js/crypto/argon2.js";
import { reopen, seal, sealer, unseal } from "../../web/static/js/crypto/keystore.js";
import { fromHex, toHex } from "../../web/static/js/crypto/bytes.js";

class ReplayRng {
  constructor(chunks) { this.chunks = chunks.map((h) => fromHex(h, null, "draws")); }
  bytes(n) {
    const b = this.chunks.shift();
    if (!b || b.length !== n) throw new Error(`ReplayRng: ${n} bytes drawn, not what Python drew`);
    return b;
  }
  scalar() { throw new Error("ReplayRng: no scalars"); }
}

const bytes = (h) => fromHex(h ?? "", null, "bytes");

async function answer(r) {
  try {
    switch (r.op) {
      case "argon2id": {
        const params = { timeCost: r.t, memoryCost: r.m, parallelism: r.p, hashLength: r.len,
          secret: bytes(r.secret), associatedData: bytes(r.ad) };
        const started = performance.now();
        const tag = r.async ? await argon2idAsync(bytes(r.password), bytes(r.salt), params) : argon2id(bytes(r.password), bytes(r.salt), params);
        return { tag: toHex(tag), ms: performance.now() - started };
      }
      case "seal": {
        const options = { ...r.params };
        if (r.draws) options.rng = new ReplayRng(r.draws);
        return { document: await seal(r.secret, r.passphrase, options) };
      }
      case "sealer": {  // one derivation, several documents
        const options = { ...r.params };
        if (r.draws) options.rng = new ReplayRng(r.draws);
        const s = await sealer(r.passphrase, options);
        const documents = [];
        for (const secret of r.secrets) documents.push(await s.seal(secret));
        return { documents };
      }
      case "unseal":
        return { secret: await unseal(r.document, r.passphrase) };
      case "reopen": {  // open, then seal further secrets under the document's own key
        const options = r.draws ? { rng: new ReplayRng(r.draws) } : {};
        const { secret, sealer: again } = await reopen(r.document, r.passphrase, options);
        const documents = [];
        if (again) for (const s of r.secrets) documents.push(await again.seal(s));
        return { secret, sealer: again !== null, documents };
      }
      default:
        throw new Error(`unknown op ${r.op}`);
    }
  } catch (err) {
    if (err && (err.name === "DecodeError" || err.name === "VerificationError")) return { error: err.name, field: err.field ?? null };
    throw err;
  }
}

let input = "";
for await (const chunk of process.stdin) input += chunk;
const out = [];
for (const r of JSON.parse(input)) out.push(await answer(r));
process.stdout.write(JSON.stringify(out));
