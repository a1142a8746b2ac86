/**
 * Exponential ElGamal (g^m K^r), as threshold/elgamal.py: encryption under a public key
 * with fixed-base tables, the homomorphic sum, and the JSON form of ciphertexts.
 * @module elgamal
 */

import { DecodeError } from "./errors.js";
import { systemRng } from "./bigint.js";
import { expectObject } from "./fields.js";

/**
 * (alpha, beta) = (g^r, g^m K^r), elements of the group.
 * @typedef {{alpha: any, beta: any}} Ciphertext
 */

/** An ElGamal public key K (never the identity) with its comb table. */
export class PublicKey {
  /**
   * @param {import("./group.js").Group} group
   * @param {any} element a decoded, member element
   */
  constructor(group, element) {
    this.group = group;
    this.element = group.checkKey(element, "public_key");
    /** @type {import("./group.js").CombTable|null} */
    this.table = null;
  }

  /**
   * Parse a key from hex with every membership check.
   * @param {import("./group.js").Group} group
   * @param {unknown} text
   * @param {string} [field]
   * @returns {PublicKey}
   * @throws {DecodeError}
   */
  static fromHex(group, text, field = "public_key") {
    return new PublicKey(group, group.fromHex(text, field));
  }

  /**
   * K^e through the key's comb table (built on first use, cached on the group).
   * @param {bigint|number} e
   * @returns {any}
   */
  exp(e) {
    if (!this.table) this.table = this.group.fixedBase(this.element);
    return this.table.exp(e);
  }

  /**
   * Encrypt a small non-negative integer.
   * @param {number} m the plaintext
   * @param {import("./bigint.js").Rng} [rng]
   * @returns {{ciphertext: Ciphertext, r: bigint}} the ciphertext and its randomness
   * @throws {DecodeError} when m is not a non-negative safe integer
   */
  encrypt(m, rng = systemRng) {
    if (!Number.isSafeInteger(m) || m < 0) throw new DecodeError("plaintext", `expected a non-negative integer, got ${m}`);
    const g = this.group;
    const r = g.randomScalar(rng);
    return { ciphertext: encryptWith(this, m, r), r };
  }

  /** @returns {string} hex of K */
  toHex() {
    return this.group.toHex(this.element);
  }
}

/**
 * The encryption of m with given randomness r (the Benaloh check recomputes a spoiled
 * ballot's ciphertexts with this).
 * @param {PublicKey} pk
 * @param {number|bigint} m
 * @param {bigint} r
 * @returns {Ciphertext}
 */
export function encryptWith(pk, m, r) {
  const g = pk.group;
  return { alpha: g.expG(r), beta: g.mul(g.expG(BigInt(m)), pk.exp(r)) };
}

/**
 * Product of ciphertexts: the encryption of the sum of their plaintexts.
 * @param {import("./group.js").Group} group
 * @param {Ciphertext[]} cts
 * @returns {Ciphertext}
 */
export function ciphertextSum(group, cts) {
  let alpha = group.identity;
  let beta = group.identity;
  for (const ct of cts) {
    alpha = group.mul(alpha, ct.alpha);
    beta = group.mul(beta, ct.beta);
  }
  return { alpha, beta };
}

/**
 * Whether two ciphertexts are equal.
 * @param {import("./group.js").Group} group
 * @param {Ciphertext} a
 * @param {Ciphertext} b
 * @returns {boolean}
 */
export function ciphertextEqual(group, a, b) {
  return group.eq(a.alpha, b.alpha) && group.eq(a.beta, b.beta);
}

/**
 * JSON form {"alpha", "beta"} in fixed-length hex.
 * @param {import("./group.js").Group} group
 * @param {Ciphertext} ct
 * @returns {{alpha: string, beta: string}}
 */
export function ciphertextToJSON(group, ct) {
  return { alpha: group.toHex(ct.alpha), beta: group.toHex(ct.beta) };
}

/**
 * Parse and membership-check both components (the identity is allowed: an empty sum).
 * @param {import("./group.js").Group} group
 * @param {unknown} obj
 * @param {string} [field]
 * @returns {Ciphertext}
 * @throws {DecodeError} naming the bad field
 */
export function ciphertextFromJSON(group, obj, field = "ciphertext") {
  const o = expectObject(obj, ["alpha", "beta"], field);
  return {
    alpha: group.fromHex(o.alpha, `${field}.alpha`, true),
    beta: group.fromHex(o.beta, `${field}.beta`, true),
  };
}

/**
 * Parse a ballot's ciphertext with a proof commitment's checks only (group.commitmentFromHex: modp its range,
 * ed25519 on the curve; neither component the identity up to sign or torsion, as voting.ballot reads them), for a
 * ciphertext whose proofs the caller verifies next. Each component enters those equations raised
 * to a challenge that hashed the commitments first, so a part outside the order-q subgroup that the equations do
 * not ignore (modp: beyond a sign; ed25519: beyond torsion) makes them fail but with probability 2^-128; what they
 * ignore cannot reach a strictly read ciphertext it is multiplied into and compared with (the trustee's recount and
 * the tally). A strict test costs a 256-bit exponentiation per element (7 ms in node 20 for modp, measured).
 * @param {import("./group.js").Group} group
 * @param {unknown} obj
 * @param {string} [field]
 * @returns {Ciphertext}
 * @throws {DecodeError} naming the bad field
 */
export function provenCiphertextFromJSON(group, obj, field = "ciphertext") {
  const o = expectObject(obj, ["alpha", "beta"], field);
  return {
    alpha: group.commitmentFromHex(o.alpha, `${field}.alpha`),
    beta: group.commitmentFromHex(o.beta, `${field}.beta`),
  };
}
