// Proofs, ciphertexts and documents made in the browser with real randomness, for Python to check.
import { fromHex, toHex } from "../../web/static/js/crypto/bytes.js";
import { encode } from "../../web/static/js/crypto/encoding.js";
import { getGroup } from "../../web/static/js/crypto/groups.js";
import { PublicKey, ciphertextToJSON } from "../../web/static/js/crypto/elgamal.js";
import { ChaumPedersenProof, RangeProof, SchnorrProof } from "../../web/static/js/crypto/proofs.js";
import * as hybrid from "../../web/static/js/crypto/hybrid.js";
import { TrusteeKey } from "../../web/static/js/crypto/dkg.js";
import { partialDecrypt } from "../../web/static/js/crypto/decryption.js";
import * as keystore from "../../web/static/js/crypto/keystore.js";
import { FixedRng } from "./fixed_rng.js";

async function forGroup(name, v) {
  const g = getGroup(name);
  const pk = PublicKey.fromHex(g, v.proofs[name].range[0].public_key);
  const context = encode("browser", name, fromHex(v.proofs[name].range[0].context, null, "context"));
  const range = [];
  for (const [m, limit] of [[0, 1], [1, 1], [2, 3], [5, 5]]) {
    const { ciphertext, r } = pk.encrypt(m);
    const proof = await RangeProof.prove(pk, ciphertext, m, r, limit, context);
    range.push({ m, limit, ciphertext: ciphertextToJSON(g, ciphertext), proof: proof.toJSON(g) });
  }
  const fv = v.proofs[name].range[4];
  const rng = new FixedRng(fv.draws);
  const fixed = pk.encrypt(fv.m, rng);
  const fixedProof = await RangeProof.prove(pk, fixed.ciphertext, fv.m, fixed.r, fv.limit, fromHex(fv.context, null, "context"), { rng });
  const x = g.randomScalar();
  const schnorr = { public: g.toHex(g.expG(x)), proof: (await SchnorrProof.prove(g, x, context)).toJSON(g) };
  const h = g.expG(g.randomScalar());
  const cp = { g2: g.toHex(h), X1: g.toHex(g.expG(x)), X2: g.toHex(g.exp(h, x)),
    proof: (await ChaumPedersenProof.prove(g, x, g.g, g.expG(x), h, g.exp(h, x), context)).toJSON(g) };
  const hv = v.hybrid[name][1];
  const message = new TextEncoder().encode(`share for Python from the browser (${name})`);
  const ct = await hybrid.encrypt(g, g.fromHex(hv.recipient), message, fromHex(hv.aad, null, "aad"));
  const dv = v.decryption[name];
  const key = TrusteeKey.fromJSON(g, dv.key);
  const partial = await partialDecrypt(g, key.index, key.secret, dv.ciphertexts, fromHex(dv.context, null, "context"));
  return { fixed_range: { index: 4, ciphertext: ciphertextToJSON(g, fixed.ciphertext), proof: fixedProof.toJSON(g) },
    context: toHex(context), range, schnorr, cp,
    hybrid: { plaintext: new TextDecoder().decode(message), ciphertext: hybrid.hybridToJSON(g, ct) },
    partial: partial.toJSON(g) };
}

/** Everything Python verifies with threshold/ (see test_vectors_in_browser.py). */
export async function produceForPython(v) {
  const out = { keystore: await keystore.seal({ made: "in the browser", n: 1 }, "browser passphrase") };
  for (const name of ["ed25519", "modp"]) out[name] = await forGroup(name, v);
  return out;
}
