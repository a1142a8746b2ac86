/**
 * A trustee's encrypted backup, sealed in the browser in the format of threshold/keystore.py, byte for byte:
 * argon2id (./argon2.js, plain JavaScript: WebCrypto has no argon2id and the Content-Security-Policy forbids
 * WebAssembly) and AES-256-GCM (WebCrypto) over the canonical JSON of the secret. `threshold.keystore.load`
 * opens these files as they are.
 *
 * Document: {"format": "quorum-secret-v1", "kdf": {"name": "argon2id", "salt": 16-byte hex, "time_cost": t,
 * "memory_cost": KiB, "parallelism": p}, "nonce": 12-byte hex, "ciphertext": hex}; the AES-GCM associated data
 * is the format string. Defaults: RFC 9106's second recommendation (t = 3, 64 MiB, p = 4); a file may ask for
 * t in 1..20, 8 MiB..1 GiB, p in 1..16 (threshold/keystore.py's _LIMITS), nothing more.
 *
 * `unseal` also opens the backups earlier versions wrote in the browser: {"format": "quorum-secret-browser-v1",
 * "kdf": {"name": "pbkdf2-sha256", "salt", "iterations"}, "nonce", "ciphertext"}, PBKDF2-HMAC-SHA256 with
 * 600,000..10,000,000 iterations (threshold/keystore_browser.py reads them in Python). Nothing writes them now.
 * @module keystore
 */

import { DecodeError, VerificationError } from "./errors.js";
import { fromHex, fromUtf8, toHex, utf8 } from "./bytes.js";
import { systemRng } from "./bigint.js";
import { canonicalJsonBytes } from "./encoding.js";
import { expectInt, expectObject } from "./fields.js";
import { argon2idAsync } from "./argon2.js";

/** The format name (threshold/keystore.py's FORMAT), also the AES-GCM associated data. */
export const FORMAT = "quorum-secret-v1";
/** argon2id's default parameters (memory in KiB), those of threshold/keystore.py. */
export const ARGON2 = Object.freeze({ time_cost: 3, memory_cost: 64 * 1024, parallelism: 4 });
/** What a file may ask for, [low, high] (threshold/keystore.py's _LIMITS: reading never takes more than 1 GiB). */
export const LIMITS = Object.freeze({
  time_cost: Object.freeze([1, 20]), memory_cost: Object.freeze([8 * 1024, 1024 * 1024]), parallelism: Object.freeze([1, 16]),
});
/** The format browsers wrote before argon2id (PBKDF2), read only. */
export const LEGACY_FORMAT = "quorum-secret-browser-v1";
/** Least PBKDF2 iteration count accepted in a legacy backup (OWASP 2023 for PBKDF2-HMAC-SHA256). */
export const PBKDF2_ITERATIONS = 600000;
/** Largest PBKDF2 iteration count accepted in a legacy backup. */
export const MAX_ITERATIONS = 10000000;

const SEAL_OPTIONS = ["time_cost", "memory_cost", "parallelism", "rng", "onProgress"];

/** argon2id's parameters within LIMITS, each an integer; `field`.name in the DecodeError otherwise. */
function kdfParams(values, field) {
  const params = {};
  for (const [name, [low, high]] of Object.entries(LIMITS)) params[name] = expectInt(values[name], low, high, `${field}.${name}`);
  return params;
}

async function aesKey(raw, usages) {
  return crypto.subtle.importKey("raw", raw, { name: "AES-GCM" }, false, usages);
}

async function argon2Key(passphrase, salt, params, usages, onProgress) {
  const raw = await argon2idAsync(utf8(passphrase, "passphrase"), salt, {
    timeCost: params.time_cost, memoryCost: params.memory_cost, parallelism: params.parallelism, hashLength: 32,
  }, { onProgress });
  return aesKey(raw, usages);
}

async function pbkdf2Key(passphrase, salt, iterations) {
  const base = await crypto.subtle.importKey("raw", utf8(passphrase, "passphrase"), "PBKDF2", false, ["deriveKey"]);
  return crypto.subtle.deriveKey({ name: "PBKDF2", hash: "SHA-256", salt, iterations }, base,
    { name: "AES-GCM", length: 256 }, false, ["decrypt"]);
}

/**
 * A passphrase's argon2id key under a fresh salt, derived once, sealing any number of secrets each under a fresh
 * nonce: the ceremony page saves its progress after every round, and deriving again each time would cost the
 * trustee a second and more of a frozen page per save. Each document it writes is one `seal` could have written.
 * @param {string} passphrase non-empty
 * @param {{time_cost?: number, memory_cost?: number, parallelism?: number,
 *   rng?: import("./bigint.js").Rng, onProgress?: (done: number) => void}} [options] argon2id's parameters
 *   (default ARGON2, memory in KiB, within LIMITS); `onProgress` gets the fraction of argon2id done, 0 to 1
 * @returns {Promise<{seal: (secret: unknown) => Promise<object>}>}
 * @throws {DecodeError} for an empty passphrase, an unknown option or a parameter outside LIMITS
 */
export async function sealer(passphrase, options = {}) {
  if (typeof passphrase !== "string" || passphrase.length === 0) throw new DecodeError("passphrase", "an empty passphrase protects nothing");
  for (const key of Object.keys(options)) {
    if (!SEAL_OPTIONS.includes(key)) throw new DecodeError(`options.${key}`, `unknown option (expected ${SEAL_OPTIONS.join(", ")})`);
  }
  const { rng = systemRng, onProgress } = options;
  const params = kdfParams({ ...ARGON2, ...Object.fromEntries(Object.entries(options).filter(([k]) => k in LIMITS)) }, "kdf");
  const salt = rng.bytes(16);
  return sealerOf(await argon2Key(passphrase, salt, params, ["encrypt"], onProgress), salt, params, rng);
}

/** The sealer of an argon2id key already derived from (salt, params): a fresh nonce per document. */
function sealerOf(key, salt, params, rng) {
  return {
    async seal(secret) {
      const plain = canonicalJsonBytes(secret);
      const nonce = rng.bytes(12);
      const body = await crypto.subtle.encrypt({ name: "AES-GCM", iv: nonce, additionalData: utf8(FORMAT) }, key, plain);
      return { format: FORMAT, kdf: { name: "argon2id", salt: toHex(salt), ...params },
        nonce: toHex(nonce), ciphertext: toHex(new Uint8Array(body)) };
    },
  };
}

/**
 * Encrypt a JSON-serializable secret under a passphrase: the document threshold/keystore.py's `seal` writes.
 * @param {unknown} secret canonical-JSON-serializable (see encoding.canonicalJson)
 * @param {string} passphrase non-empty
 * @param {object} [options] as {@link sealer}'s
 * @returns {Promise<object>} the sealed document
 * @throws {DecodeError} for an empty passphrase, an unknown option or a parameter outside LIMITS
 */
export async function seal(secret, passphrase, options = {}) {
  canonicalJsonBytes(secret);  // refused before anything is derived
  return (await sealer(passphrase, options)).seal(secret);
}

async function decrypt(key, nonce, body, format) {
  let plain;
  try {
    plain = new Uint8Array(await crypto.subtle.decrypt({ name: "AES-GCM", iv: nonce, additionalData: utf8(format) }, key, body));
  } catch {
    throw new VerificationError("wrong passphrase or corrupted secret file");
  }
  return JSON.parse(fromUtf8(plain, "secret file.ciphertext"));
}

/**
 * Decrypt a sealed document: a quorum-secret-v1 document (argon2id, written by `seal` or by threshold/keystore.py)
 * or a legacy quorum-secret-browser-v1 one (PBKDF2). The parameters are checked before anything is derived.
 * @param {unknown} document
 * @param {string} passphrase
 * @param {{onProgress?: (done: number) => void}} [options] `onProgress` gets the fraction of argon2id done
 * @returns {Promise<unknown>} the secret
 * @throws {DecodeError} for a malformed document, the field named (e.g. "secret file.kdf.memory_cost")
 * @throws {VerificationError} for a wrong passphrase or a tampered document
 */
export async function unseal(document, passphrase, { onProgress } = {}) {
  return (await opened(document, passphrase, onProgress, ["decrypt"])).secret;
}

/**
 * `unseal`, and a sealer of further documents under the same argon2id key (the document's salt and parameters,
 * a fresh nonce each): what the ceremony page needs to resume its saved progress and keep saving it with one
 * derivation, not two. A legacy (PBKDF2) document gets no sealer (null): its key is not argon2id's.
 * @param {unknown} document
 * @param {string} passphrase
 * @param {{onProgress?: (done: number) => void, rng?: {bytes: (n: number) => Uint8Array}}} [options]
 * @returns {Promise<{secret: unknown, sealer: ?{seal: (secret: unknown) => Promise<object>}}>}
 * @throws {DecodeError|VerificationError} as `unseal`
 */
export async function reopen(document, passphrase, { onProgress, rng = systemRng } = {}) {
  const { secret, key, salt, params } = await opened(document, passphrase, onProgress, ["decrypt", "encrypt"]);
  return { secret, sealer: key ? sealerOf(key, salt, params, rng) : null };
}

async function opened(document, passphrase, onProgress, usages) {
  const o = expectObject(document, ["format", "kdf", "nonce", "ciphertext"], "secret file");
  if (o.format === LEGACY_FORMAT) return { secret: await unsealLegacy(o, passphrase) };
  if (o.format !== FORMAT) throw new DecodeError("secret file.format", `not a ${FORMAT} document`);
  const kdf = expectObject(o.kdf, ["name", "salt", ...Object.keys(LIMITS)], "secret file.kdf");
  if (kdf.name !== "argon2id") throw new DecodeError("secret file.kdf.name", "expected argon2id");
  const params = kdfParams(kdf, "secret file.kdf");
  const salt = fromHex(kdf.salt, 16, "secret file.kdf.salt");
  const nonce = fromHex(o.nonce, 12, "secret file.nonce");
  const body = fromHex(o.ciphertext, null, "secret file.ciphertext");
  if (body.length < 16) throw new DecodeError("secret file.ciphertext", "too short for the authentication tag");
  const key = await argon2Key(passphrase, salt, params, usages, onProgress);
  return { secret: await decrypt(key, nonce, body, FORMAT), key, salt, params };
}

async function unsealLegacy(o, passphrase) {
  const kdf = expectObject(o.kdf, ["name", "salt", "iterations"], "secret file.kdf");
  if (kdf.name !== "pbkdf2-sha256") throw new DecodeError("secret file.kdf.name", "expected pbkdf2-sha256");
  const iterations = expectInt(kdf.iterations, PBKDF2_ITERATIONS, MAX_ITERATIONS, "secret file.kdf.iterations");
  const salt = fromHex(kdf.salt, 16, "secret file.kdf.salt");
  const nonce = fromHex(o.nonce, 12, "secret file.nonce");
  const body = fromHex(o.ciphertext, null, "secret file.ciphertext");
  return decrypt(await pbkdf2Key(passphrase, salt, iterations), nonce, body, LEGACY_FORMAT);
}
