/**
 * Non-interactive zero-knowledge proofs by strong Fiat-Shamir, byte-identical to
 * threshold/proofs.py: Schnorr, Chaum-Pedersen (equality of logs) and the range proof
 * 0..L (disjunctive Chaum-Pedersen; L = 1 is the 0/1 proof). Challenges hash the tag, the
 * group name, the context, the whole statement and the commitments, and are recomputed on
 * verification, never read from a proof.
 * @module proofs
 */

import { DecodeError } from "./errors.js";
import { mod, systemRng } from "./bigint.js";
import { holdsWeighted } from "./batch.js";
import { hashToScalar } from "./hashing.js";
import { expectInt, expectList, expectObject, expectScalar } from "./fields.js";

/**
 * @typedef {import("./group.js").Group} Group
 * @typedef {import("./elgamal.js").PublicKey} PublicKey
 * @typedef {import("./elgamal.js").Ciphertext} Ciphertext
 * @typedef {import("./bigint.js").Rng} Rng
 */

/**
 * c = H(tag; group; context; integer parameters; statement elements; commitments), as
 * threshold.proofs.challenge: hash_to_scalar(q, tag, group name, context, [params as integers],
 * [statement elements as bytes], [commitments as bytes]).
 * @param {Group} group
 * @param {string} tag
 * @param {Uint8Array} context
 * @param {any[]} statement group elements
 * @param {any[]} commitments group elements
 * @param {number[]} [params] integer parameters of the statement (a range limit)
 * @returns {Promise<bigint>}
 */
export function challenge(group, tag, context, statement, commitments, params = []) {
  const enc = (xs) => xs.map((x) => group.encode(x));
  return hashToScalar(group.q, tag, group.name, context, params, enc(statement), enc(commitments));
}

/**
 * The fixed-base tables a verification of statements under `pk` uses: the key's (built on first use, cached).
 * @param {PublicKey} pk
 * @returns {Map<any, import("./group.js").CombTable>}
 */
export function keyTables(pk) {
  return new Map([[pk.element, pk.group.fixedBase(pk.element)]]);
}

function powBase(group, base, e) {
  return group.eq(base, group.g) ? group.expG(e) : group.exp(base, e);
}

/** Knowledge of x with X = base^x. */
export class SchnorrProof {
  static TAG = "schnorr";

  /** @param {any} commitment @param {bigint} response */
  constructor(commitment, response) {
    this.commitment = commitment;
    this.response = response;
  }

  /**
   * @param {Group} group
   * @param {bigint} x the secret
   * @param {Uint8Array} context
   * @param {{base?: any, rng?: Rng}} [options] base defaults to g
   * @returns {Promise<SchnorrProof>}
   */
  static async prove(group, x, context, { base = group.g, rng = systemRng } = {}) {
    expectScalar(x, group.q, "x");
    const X = powBase(group, base, x);
    const w = group.randomScalar(rng);
    const a = powBase(group, base, w);
    const c = await challenge(group, SchnorrProof.TAG, context, [base, X], [a]);
    return new SchnorrProof(a, mod(w + c * x, group.q));
  }

  /**
   * @param {Group} group
   * @param {any} X the public element
   * @param {Uint8Array} context
   * @param {{base?: any}} [options]
   * @returns {Promise<boolean>}
   */
  async verify(group, X, context, { base = group.g } = {}) {
    const c = await challenge(group, SchnorrProof.TAG, context, [base, X], [this.commitment]);
    return group.holds(powBase(group, base, this.response), group.mul(this.commitment, group.exp(X, c)));
  }

  /** @param {Group} group @returns {{commitment: string, response: string}} */
  toJSON(group) {
    return { commitment: group.toHex(this.commitment), response: group.scalarToHex(this.response) };
  }

  /**
   * @param {Group} group
   * @param {unknown} obj
   * @param {string} [field]
   * @returns {SchnorrProof}
   * @throws {DecodeError}
   */
  static fromJSON(group, obj, field = "proof") {
    const o = expectObject(obj, ["commitment", "response"], field);
    return new SchnorrProof(group.commitmentFromHex(o.commitment, `${field}.commitment`),
      group.scalarFromHex(o.response, `${field}.response`));
  }
}

/** Equality of discrete logs: log_g1 X1 = log_g2 X2 (decryption shares, DKG complaints). */
export class ChaumPedersenProof {
  static TAG = "chaum-pedersen";

  /** @param {any} a @param {any} b @param {bigint} response */
  constructor(a, b, response) {
    this.a = a;
    this.b = b;
    this.response = response;
  }

  /**
   * @param {Group} group
   * @param {bigint} x the common log
   * @param {any} g1
   * @param {any} X1 g1^x
   * @param {any} g2
   * @param {any} X2 g2^x
   * @param {Uint8Array} context
   * @param {{tag?: string, rng?: Rng}} [options]
   * @returns {Promise<ChaumPedersenProof>}
   */
  static async prove(group, x, g1, X1, g2, X2, context, { tag = ChaumPedersenProof.TAG, rng = systemRng } = {}) {
    expectScalar(x, group.q, "x");
    const w = group.randomScalar(rng);
    const a = powBase(group, g1, w);
    const b = group.exp(g2, w);
    const c = await challenge(group, tag, context, [g1, X1, g2, X2], [a, b]);
    return new ChaumPedersenProof(a, b, mod(w + c * x, group.q));
  }

  /**
   * @param {Group} group
   * @param {any} g1
   * @param {any} X1
   * @param {any} g2
   * @param {any} X2
   * @param {Uint8Array} context
   * @param {{tag?: string}} [options]
   * @returns {Promise<boolean>}
   */
  async verify(group, g1, X1, g2, X2, context, { tag = ChaumPedersenProof.TAG } = {}) {
    const c = await challenge(group, tag, context, [g1, X1, g2, X2], [this.a, this.b]);
    const v = this.response;
    return group.holds(powBase(group, g1, v), group.mul(this.a, group.exp(X1, c)))
      && group.holds(group.exp(g2, v), group.mul(this.b, group.exp(X2, c)));
  }

  /** @param {Group} group @returns {{a: string, b: string, response: string}} */
  toJSON(group) {
    return { a: group.toHex(this.a), b: group.toHex(this.b), response: group.scalarToHex(this.response) };
  }

  /**
   * b may be the identity (it is when g2 is: the partial decryption of an empty sum).
   * @param {Group} group
   * @param {unknown} obj
   * @param {string} [field]
   * @returns {ChaumPedersenProof}
   * @throws {DecodeError}
   */
  static fromJSON(group, obj, field = "proof") {
    const o = expectObject(obj, ["a", "b", "response"], field);
    return new ChaumPedersenProof(group.commitmentFromHex(o.a, `${field}.a`), group.commitmentFromHex(o.b, `${field}.b`, true),
      group.scalarFromHex(o.response, `${field}.response`));
  }
}

function rangeStatement(pk, ct) {
  return [pk.group.g, pk.element, ct.alpha, ct.beta];
}

/**
 * A ciphertext under K encrypts some m in 0..L. Branch j proves (alpha, beta / g^j) =
 * (g^r, K^r); the other branches are simulated. Stores c_0..c_(L-1); c_L = c - their sum.
 */
export class RangeProof {
  static TAG = "range";

  /**
   * @param {any[]} a
   * @param {any[]} b
   * @param {bigint[]} challenges L of them
   * @param {bigint[]} responses L + 1 of them
   */
  constructor(a, b, challenges, responses) {
    this.a = a;
    this.b = b;
    this.challenges = challenges;
    this.responses = responses;
  }

  /** @returns {number} L */
  get limit() {
    return this.a.length - 1;
  }

  /**
   * Prove that ct = (g^r, g^m K^r) with 0 <= m <= limit. Draws randomness in the order of
   * threshold/proofs.py (w, then c_j and v_j for each simulated branch j in order), so that
   * an injected rng reproduces Python's proof byte for byte.
   * @param {PublicKey} pk
   * @param {Ciphertext} ct
   * @param {number} m
   * @param {bigint} r
   * @param {number} limit
   * @param {Uint8Array} context
   * @param {{rng?: Rng}} [options]
   * @returns {Promise<RangeProof>}
   * @throws {DecodeError} when limit, m or r is out of range
   */
  static async prove(pk, ct, m, r, limit, context, { rng = systemRng } = {}) {
    const group = pk.group;
    const q = group.q;
    expectInt(limit, 0, 0xffff, "limit");
    expectInt(m, 0, limit, "plaintext");
    expectScalar(r, q, "r");
    const a = [];
    const b = [];
    const cs = [];
    const vs = [];
    const w = group.randomScalar(rng);
    for (let j = 0; j <= limit; j++) {
      if (j === m) {
        a.push(group.expG(w));
        b.push(pk.exp(w));
        cs.push(0n);
        vs.push(0n);
        continue;
      }
      const cj = group.randomScalar(rng);
      const vj = group.randomScalar(rng);
      // a_j = g^(v - r c);  b_j = K^(v - r c) g^((j - m) c)
      const t = mod(vj - r * cj, q);
      a.push(group.expG(t));
      b.push(group.mul(pk.exp(t), group.expG(mod(BigInt(j - m) * cj, q))));
      cs.push(cj);
      vs.push(vj);
    }
    const c = await challenge(group, RangeProof.TAG, context, rangeStatement(pk, ct), [...a, ...b], [limit]);
    cs[m] = mod(c - cs.reduce((s, x) => s + x, 0n), q);
    vs[m] = mod(w + cs[m] * r, q);
    return new RangeProof(a, b, cs.slice(0, limit), vs);
  }

  /**
   * The proof's verification equations (threshold/proofs.py RangeProof.equations): for each branch j,
   * a_j alpha^c_j g^-v_j = 1 and b_j beta^c_j g^(-j c_j) K^-v_j = 1, the challenges completed from the hash.
   * @param {PublicKey} pk
   * @param {Ciphertext} ct
   * @param {Uint8Array} context
   * @returns {Promise<Array<Array<[any, bigint]>>>}
   * @throws {DecodeError} when the proof's lists have inconsistent lengths
   */
  async equations(pk, ct, context) {
    const group = pk.group;
    const q = group.q;
    if (this.b.length !== this.a.length || this.responses.length !== this.a.length || this.challenges.length !== this.limit) {
      throw new DecodeError("proof", "range proof has inconsistent numbers of commitments, challenges and responses");
    }
    const c = await challenge(group, RangeProof.TAG, context, rangeStatement(pk, ct), [...this.a, ...this.b], [this.limit]);
    const cs = [...this.challenges, mod(c - this.challenges.reduce((s, x) => s + x, 0n), q)];
    const equations = [];
    for (let j = 0; j <= this.limit; j++) {
      const [cj, vj] = [cs[j], this.responses[j]];
      equations.push([[this.a[j], 1n], [ct.alpha, cj], [group.g, -vj]]);
      equations.push([[this.b[j], 1n], [ct.beta, cj], [group.g, -BigInt(j) * cj], [pk.element, -vj]]);
    }
    return equations;
  }

  /**
   * Check the proof: its equations as one weighted product (a false one passes with probability at most 2^-128).
   * @param {PublicKey} pk
   * @param {Ciphertext} ct
   * @param {Uint8Array} context
   * @returns {Promise<boolean>}
   * @throws {DecodeError} when the proof's lists have inconsistent lengths
   */
  async verify(pk, ct, context) {
    return holdsWeighted(pk.group, await this.equations(pk, ct, context), keyTables(pk));
  }

  /** @param {Group} group @returns {{a: string[], b: string[], challenges: string[], responses: string[]}} */
  toJSON(group) {
    return {
      a: this.a.map((x) => group.toHex(x)),
      b: this.b.map((x) => group.toHex(x)),
      challenges: this.challenges.map((x) => group.scalarToHex(x)),
      responses: this.responses.map((x) => group.scalarToHex(x)),
    };
  }

  /**
   * Parse a proof for the range 0..limit (the limit comes from the manifest, not the proof).
   * @param {Group} group
   * @param {unknown} obj
   * @param {number} limit
   * @param {string} [field]
   * @returns {RangeProof}
   * @throws {DecodeError} naming the bad field
   */
  static fromJSON(group, obj, limit, field = "proof") {
    const o = expectObject(obj, ["a", "b", "challenges", "responses"], field);
    expectInt(limit, 0, 0xffff, "limit");
    const n = limit + 1;
    const elements = (key, count) => expectList(o[key], count, `${field}.${key}`)
      .map((x, i) => group.commitmentFromHex(x, `${field}.${key}[${i}]`));
    const scalars = (key, count) => expectList(o[key], count, `${field}.${key}`)
      .map((x, i) => group.scalarFromHex(x, `${field}.${key}[${i}]`));
    return new RangeProof(elements("a", n), elements("b", n), scalars("challenges", limit), scalars("responses", n));
  }
}
