/**
 * A trustee's encrypted backup, sealed in the browser: PBKDF2-SHA256 (600,000 iterations,
 * WebCrypto) and AES-256-GCM over the canonical JSON of the secret. argon2id (what
 * threshold/keystore.py uses) is not in WebCrypto, and a WebAssembly build would need
 * 'wasm-unsafe-eval' in the Content-Security-Policy. threshold/keystore_browser.py reads and
 * writes this format in Python.
 *
 * Document: {"format": "quorum-secret-browser-v1", "kdf": {"name": "pbkdf2-sha256",
 * "salt": 16-byte hex, "iterations": n}, "nonce": 12-byte hex, "ciphertext": hex}; the AES-GCM
 * associated data is the format string.
 * @module keystore
 */

import { DecodeError, VerificationError } from "./errors.js";
import { fromHex, fromUtf8, toHex, utf8 } from "./bytes.js";
import { systemRng } from "./bigint.js";
import { canonicalJsonBytes } from "./encoding.js";
import { expectInt, expectObject } from "./fields.js";

/** The format name, also the AES-GCM associated data. */
export const FORMAT = "quorum-secret-browser-v1";
/** Default and minimum PBKDF2 iteration count (OWASP 2023 for PBKDF2-HMAC-SHA256). */
export const PBKDF2_ITERATIONS = 600000;
/** Largest iteration count accepted when reading (a file cannot make the page spin forever). */
export const MAX_ITERATIONS = 10000000;

async function deriveKey(passphrase, salt, iterations, usage) {
  const base = await crypto.subtle.importKey("raw", utf8(passphrase, "passphrase"), "PBKDF2", false, ["deriveKey"]);
  return crypto.subtle.deriveKey({ name: "PBKDF2", hash: "SHA-256", salt, iterations }, base,
    { name: "AES-GCM", length: 256 }, false, [usage]);
}

/**
 * Encrypt a JSON-serializable secret under a passphrase.
 * @param {unknown} secret canonical-JSON-serializable (see encoding.canonicalJson)
 * @param {string} passphrase non-empty
 * @param {{iterations?: number, rng?: import("./bigint.js").Rng}} [options]
 * @returns {Promise<object>} the sealed document
 * @throws {DecodeError} for an empty passphrase or an iteration count out of range
 */
export async function seal(secret, passphrase, { iterations = PBKDF2_ITERATIONS, rng = systemRng } = {}) {
  if (typeof passphrase !== "string" || passphrase.length === 0) throw new DecodeError("passphrase", "an empty passphrase protects nothing");
  expectInt(iterations, PBKDF2_ITERATIONS, MAX_ITERATIONS, "iterations");
  const salt = rng.bytes(16);
  const nonce = rng.bytes(12);
  const key = await deriveKey(passphrase, salt, iterations, "encrypt");
  const body = await crypto.subtle.encrypt({ name: "AES-GCM", iv: nonce, additionalData: utf8(FORMAT) }, key,
    canonicalJsonBytes(secret));
  return { format: FORMAT, kdf: { name: "pbkdf2-sha256", salt: toHex(salt), iterations },
    nonce: toHex(nonce), ciphertext: toHex(new Uint8Array(body)) };
}

/**
 * Decrypt a sealed document.
 * @param {unknown} document
 * @param {string} passphrase
 * @returns {Promise<unknown>} the secret
 * @throws {DecodeError} for a malformed document
 * @throws {VerificationError} for a wrong passphrase or a tampered document
 */
export async function unseal(document, passphrase) {
  const o = expectObject(document, ["format", "kdf", "nonce", "ciphertext"], "secret file");
  if (o.format !== FORMAT) throw new DecodeError("secret file.format", `not a ${FORMAT} document`);
  const kdf = expectObject(o.kdf, ["name", "salt", "iterations"], "secret file.kdf");
  if (kdf.name !== "pbkdf2-sha256") throw new DecodeError("secret file.kdf.name", "expected pbkdf2-sha256");
  const iterations = expectInt(kdf.iterations, PBKDF2_ITERATIONS, MAX_ITERATIONS, "secret file.kdf.iterations");
  const salt = fromHex(kdf.salt, 16, "secret file.kdf.salt");
  const nonce = fromHex(o.nonce, 12, "secret file.nonce");
  const body = fromHex(o.ciphertext, null, "secret file.ciphertext");
  const key = await deriveKey(passphrase, salt, iterations, "decrypt");
  let plain;
  try {
    plain = new Uint8Array(await crypto.subtle.decrypt({ name: "AES-GCM", iv: nonce, additionalData: utf8(FORMAT) }, key, body));
  } catch {
    throw new VerificationError("wrong passphrase or corrupted secret file");
  }
  return JSON.parse(fromUtf8(plain, "secret file.ciphertext"));
}
