/**
 * Hybrid encryption to a group public key, byte-identical to threshold/hybrid.py:
 * ElGamal KEM (R = g^r, S = K^r) with a Schnorr proof of knowledge of r bound to the aad
 * (context encode("quorum-hybrid-ephemeral", group name, aad): nobody can reuse another
 * sender's R), HKDF-SHA256 (no salt, info = encode("quorum-hybrid-v1", group name, aad), key
 * material = encode(R bytes, S bytes)), AES-256-GCM with a random 12-byte nonce and `aad` as
 * associated data; body = nonce || ciphertext || tag.
 * @module hybrid
 */

import { DecodeError, VerificationError } from "./errors.js";
import { concatBytes, fromHex, toHex } from "./bytes.js";
import { systemRng } from "./bigint.js";
import { encode } from "./encoding.js";
import { expectObject } from "./fields.js";
import { SchnorrProof } from "./proofs.js";

const NONCE = 12;
const TAG_BYTES = 16;

/**
 * @typedef {import("./group.js").Group} Group
 * @typedef {{ephemeral: any, proof: SchnorrProof, body: Uint8Array}} HybridCiphertext
 */

function ephemeralCtx(group, aad) {
  return encode("quorum-hybrid-ephemeral", group.name, aad);
}

/**
 * Whether the sender proved knowledge of log_g R for this aad.
 * @param {Group} group
 * @param {HybridCiphertext} ct
 * @param {Uint8Array} aad
 * @returns {Promise<boolean>}
 */
export function ephemeralValid(group, ct, aad) {
  return ct.proof.verify(group, ct.ephemeral, ephemeralCtx(group, aad));
}

async function aesKey(group, ephemeral, shared, aad, usage) {
  const ikm = await crypto.subtle.importKey("raw", encode(group.encode(ephemeral), group.encode(shared)), "HKDF", false, ["deriveBits"]);
  const bits = await crypto.subtle.deriveBits({
    name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: encode("quorum-hybrid-v1", group.name, aad),
  }, ikm, 256);
  return crypto.subtle.importKey("raw", bits, "AES-GCM", false, [usage]);
}

/**
 * Encrypt bytes to the holder of log_g(recipient); `aad` binds the context.
 * @param {Group} group
 * @param {any} recipient a member element (the recipient's key)
 * @param {Uint8Array} plaintext
 * @param {Uint8Array} aad
 * @param {{rng?: import("./bigint.js").Rng}} [options]
 * @returns {Promise<HybridCiphertext>}
 */
export async function encrypt(group, recipient, plaintext, aad, { rng = systemRng } = {}) {
  const r = group.randomScalar(rng);
  const ephemeral = group.expG(r);
  const proof = await SchnorrProof.prove(group, r, ephemeralCtx(group, aad), { rng });
  const key = await aesKey(group, ephemeral, group.exp(recipient, r), aad, "encrypt");
  const nonce = rng.bytes(NONCE);
  const sealed = await crypto.subtle.encrypt({ name: "AES-GCM", iv: nonce, additionalData: aad }, key, plaintext);
  return { ephemeral, proof, body: concatBytes(nonce, new Uint8Array(sealed)) };
}

/**
 * S = R^e: what the recipient (or an adjudicator shown S) needs to open the ciphertext.
 * @param {Group} group
 * @param {bigint} secret the recipient's secret e
 * @param {HybridCiphertext} ct
 * @returns {any}
 */
export function kemSecret(group, secret, ct) {
  return group.exp(ct.ephemeral, secret);
}

/**
 * Decrypt given the KEM secret S.
 * @param {Group} group
 * @param {any} shared S
 * @param {HybridCiphertext} ct
 * @param {Uint8Array} aad
 * @returns {Promise<Uint8Array>}
 * @throws {VerificationError} when the ephemeral's proof fails or the ciphertext is not
 *   authentic under this key and aad
 */
export async function openWith(group, shared, ct, aad) {
  if (!(await ephemeralValid(group, ct, aad))) {
    throw new VerificationError("hybrid ciphertext: invalid proof of knowledge of the ephemeral key");
  }
  const key = await aesKey(group, ct.ephemeral, shared, aad, "decrypt");
  try {
    const plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv: ct.body.subarray(0, NONCE), additionalData: aad },
      key, ct.body.subarray(NONCE));
    return new Uint8Array(plain);
  } catch {
    throw new VerificationError("hybrid ciphertext does not decrypt (wrong key or tampered)");
  }
}

/**
 * Decrypt with the recipient's secret key.
 * @param {Group} group
 * @param {bigint} secret
 * @param {HybridCiphertext} ct
 * @param {Uint8Array} aad
 * @returns {Promise<Uint8Array>}
 * @throws {VerificationError}
 */
export function decrypt(group, secret, ct, aad) {
  return openWith(group, kemSecret(group, secret, ct), ct, aad);
}

/**
 * JSON form {"ephemeral", "proof", "body"} in lowercase hex.
 * @param {Group} group
 * @param {HybridCiphertext} ct
 * @returns {{ephemeral: string, proof: object, body: string}}
 */
export function hybridToJSON(group, ct) {
  return { ephemeral: group.toHex(ct.ephemeral), proof: ct.proof.toJSON(group), body: toHex(ct.body) };
}

/**
 * Parse a hybrid ciphertext, checking the ephemeral key's membership and the body's length
 * (the ephemeral's proof is checked by {@link ephemeralValid} and on decryption).
 * @param {Group} group
 * @param {unknown} obj
 * @param {string} [field]
 * @returns {HybridCiphertext}
 * @throws {DecodeError}
 */
export function hybridFromJSON(group, obj, field = "encrypted") {
  const o = expectObject(obj, ["ephemeral", "proof", "body"], field);
  const body = fromHex(o.body, null, `${field}.body`);
  if (body.length < NONCE + TAG_BYTES) throw new DecodeError(`${field}.body`, "too short for nonce and tag");
  return { ephemeral: group.fromHex(o.ephemeral, `${field}.ephemeral`),
    proof: SchnorrProof.fromJSON(group, o.proof, `${field}.proof`), body };
}
