/**
 * A trustee's side of the GJKR distributed key generation of threshold/dkg.py (docs/spec.md,
 * section 6), with the public adjudication that lets the trustee check the outcome before
 * signing it. Round 1: announce an encryption key (with a Schnorr proof). Round 2: deal: hiding
 * Pedersen commitments g^a_m h^b_m and every other trustee's share (f(j), f'(j)) by hybrid
 * encryption. Round 3: check the received shares and complain, opening the KEM secret with a
 * Chaum-Pedersen proof; this fixes the qualified set QUAL ({@link qualify}). Round 4: every
 * qualified trustee signs the hash of rounds 1-3 it computed itself ({@link Trustee#confirm}), and
 * nobody reveals or opens before every qualified trustee signed the same one (the relay is no
 * broadcast channel). Round 5: every qualified dealer reveals its Feldman commitments g^a_m with
 * proofs. Round 6 (only when a qualified dealer did not reveal): the other trustees open their
 * shares of that dealer, whose polynomial is then reconstructed in public. Then adjudicate, finish
 * (own key share) and sign the transcript hash. Every reveal is bound to the hash of rounds 1-3
 * (the qualification's transcriptHash), and a trustee opens, finishes and signs only under the
 * qualification it confirmed. Every message's JSON, every error and every hash equal Python's.
 * @module dkg
 */

import { DecodeError, ProtocolError, VerificationError } from "./errors.js";
import { bytesEqual, fromHex, toHex } from "./bytes.js";
import { bigIntToBytes, bytesToBigInt, mod, modInv, systemRng } from "./bigint.js";
import { canonicalJson, canonicalJsonBytes, encode } from "./encoding.js";
import { sha256 } from "./hashing.js";
import { expectInt, expectList, expectObject } from "./fields.js";
import { ChaumPedersenProof, SchnorrProof } from "./proofs.js";
import * as hybrid from "./hybrid.js";
import { evaluatePolynomial, expectedCommitment, pedersenCommit, pedersenH, pedersenVerify } from "./vss.js";

/**
 * @typedef {import("./group.js").Group} Group
 * @typedef {import("./bigint.js").Rng} Rng
 */

/** Bytes of a share's plaintext: f(j) and f'(j), 32-byte big-endian each. */
const SHARE_BYTES = 64;

/** Who takes part: n trustees, any k of whom decrypt; `context` binds it to one election. */
export class CeremonyParams {
  /**
   * @param {Group} group
   * @param {number} n
   * @param {number} k
   * @param {Uint8Array} context
   * @throws {DecodeError} unless 1 <= k <= n
   */
  constructor(group, n, k, context) {
    expectInt(n, 1, 0xffff, "n");
    expectInt(k, 1, n, "k");
    if (!(context instanceof Uint8Array)) throw new DecodeError("context", "expected bytes");
    this.group = group;
    this.n = n;
    this.k = k;
    this.context = context;
  }

  /**
   * A trustee index in 1..n.
   * @param {unknown} index
   * @param {string} [field]
   * @returns {number}
   * @throws {DecodeError}
   */
  checkIndex(index, field = "index") {
    if (!Number.isSafeInteger(index) || index < 1 || index > this.n) {
      throw new DecodeError(field, `trustee index must be an integer in 1..${this.n}, got ${pyRepr(index)}`);
    }
    return /** @type {number} */ (index);
  }

  /**
   * Context of one proof: encode(context, n, k, ...parts).
   * @param {...import("./encoding.js").Encodable} parts
   * @returns {Uint8Array}
   */
  ctx(...parts) {
    return encode(this.context, this.n, this.k, ...parts);
  }
}

/** What a deal message's signature binds (threshold.dkg._deal_context): the ceremony, the dealer, the hash of the
 * message's other fields and the hash of the announcements it encrypted to. */
export async function dealContext(params, dealer, commitments, shares, announcements) {
  const g = params.group;
  const json = {};
  for (const j of [...shares.keys()].sort((a, b) => a - b)) json[String(j)] = hybrid.hybridToJSON(g, shares.get(j));
  const body = { index: dealer, commitments: commitments.map((c) => g.toHex(c)), shares: json };
  const keys = [...announcements.keys()].sort((a, b) => a - b).map((i) => announcements.get(i).toJSON(g));
  return params.ctx("dkg-deal", dealer, await sha256(canonicalJsonBytes(body)), await sha256(canonicalJsonBytes(keys)));
}

function shareAad(params, dealer, recipient) {
  return params.ctx("dkg-share", dealer, recipient);
}

function confirmCtx(params, index, qualification) {
  return params.ctx("dkg-confirm", index, qualification.transcriptHash);
}

/** The hash of a view of the deal messages, as threshold.dkg._deals_digest: a trustee opens only against the one it confirmed. */
async function dealsDigest(group, messages) {
  return sha256(encode("dkg-deals", byIndex(messages).map((m) => canonicalJsonBytes(m.toJSON(group)))));
}

function complaintCtx(params, accuser, dealer) {
  return params.ctx("dkg-complaint", accuser, dealer);
}

/**
 * Python's repr of a JSON value, for error messages that read as threshold/'s do.
 * @param {unknown} value
 * @returns {string}
 */
function pyRepr(value) {
  if (value === null || value === undefined) return "None";
  if (value === true) return "True";
  if (value === false) return "False";
  if (typeof value === "string") {
    const quote = value.includes("'") && !value.includes('"') ? '"' : "'";
    const body = [...value].map((ch) => {
      if (ch === "\\") return "\\\\";
      if (ch === quote) return `\\${ch}`;
      if (ch === "\n") return "\\n";
      if (ch === "\r") return "\\r";
      if (ch === "\t") return "\\t";
      const code = ch.codePointAt(0);
      if (code < 0x20 || code === 0x7f) return `\\x${code.toString(16).padStart(2, "0")}`;
      return ch;
    }).join("");
    return `${quote}${body}${quote}`;
  }
  if (Array.isArray(value)) return `[${value.map(pyRepr).join(", ")}]`;
  if (typeof value === "object") {
    return `{${Object.entries(value).map(([k, v]) => `${pyRepr(k)}: ${pyRepr(v)}`).join(", ")}}`;
  }
  return String(value);
}

/** A list of trustee indices as Python prints it: [1, 2]. */
const pyList = (items) => `[${items.join(", ")}]`;

/**
 * Python's == on JSON values (1 == 1.0 == True, lists and objects by value).
 * @param {unknown} a
 * @param {unknown} b
 * @returns {boolean}
 */
function pyEqual(a, b) {
  const num = (x) => (typeof x === "boolean" ? Number(x) : x);
  if (typeof num(a) === "number" && typeof num(b) === "number") return num(a) === num(b);
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => pyEqual(x, b[i]));
  }
  if (a && b && typeof a === "object" && typeof b === "object") {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && pyEqual(a[k], b[k]));
  }
  return a === b;
}

/** A decimal trustee index used as a JSON key, as threshold.dkg._int_key. */
function intKey(text, field) {
  if (typeof text !== "string" || !/^[1-9][0-9]{0,5}$/.test(text)) {
    throw new DecodeError(field, `expected a decimal trustee index as key, got ${pyRepr(text)}`);
  }
  return Number(text);
}

/** The announcements' JSON in trustee order (what a deal went to). */
function announcementsJson(group, announcements) {
  return [...announcements.keys()].sort((a, b) => a - b).map((i) => announcements.get(i).toJSON(group));
}

/** The weight of f(index) in f(x) for f of degree < indices.length. */
function lagrangeAt(index, indices, x, q) {
  let num = 1n;
  let den = 1n;
  for (const j of indices) {
    if (j === index) continue;
    num = mod(num * BigInt(x - j), q);
    den = mod(den * BigInt(index - j), q);
  }
  return mod(num * modInv(den, q), q);
}

/**
 * As threshold.dkg._check_key_polynomial: the public key and V_1..V_n are the values at 0 and 1..n of one
 * polynomial of degree k-1 in the exponent (V_1..V_k interpolated at 0 and at every other index).
 * @throws {VerificationError}
 */
function checkKeyPolynomial(params, result) {
  const g = params.group;
  const base = Array.from({ length: params.k }, (_, i) => i + 1);
  for (const x of [0, ...Array.from({ length: params.n - params.k }, (_, i) => params.k + 1 + i)]) {
    let acc = g.identity;
    for (const j of base) acc = g.mul(acc, g.exp(result.verificationKeys.get(j), lagrangeAt(j, base, x, g.q)));
    if (!g.eq(acc, x === 0 ? result.publicKey : result.verificationKeys.get(x))) {
      const what = x === 0 ? "public key" : `verification key of trustee ${x}`;
      throw new VerificationError(`the outcome's ${what} is not on the polynomial of its verification keys`);
    }
  }
}

/** Trustee indices in strictly increasing order, as threshold.dkg._increasing. */
function increasing(params, items, field) {
  const out = items.map((i) => params.checkIndex(i, field));
  if (out.some((a, n) => n > 0 && out[n - 1] >= a)) {
    throw new DecodeError(field, "expected trustee indices in increasing order, each once");
  }
  return out;
}

function indexKeys(obj, field) {
  for (const key of Object.keys(obj)) {
    if (!/^[1-9][0-9]{0,5}$/.test(key)) throw new DecodeError(`${field}.${key}`, "expected a trustee index as key");
  }
  return Object.keys(obj).map(Number).sort((a, b) => a - b);
}

function expectDict(obj, field, what) {
  if (typeof obj !== "object" || obj === null || Array.isArray(obj)) throw new DecodeError(field, what);
  return obj;
}

const byIndex = (m) => [...m.keys()].sort((a, b) => a - b).map((i) => m.get(i));

/**
 * The two scalars of a share's plaintext, or null unless it is 64 bytes of two scalars below q.
 * @param {Group} group
 * @param {Uint8Array} raw
 * @returns {[bigint, bigint] | null}
 */
function parseSharePlaintext(group, raw) {
  if (raw.length !== SHARE_BYTES) return null;
  const s = bytesToBigInt(raw.subarray(0, 32));
  const t = bytesToBigInt(raw.subarray(32));
  return s < group.q && t < group.q ? [s, t] : null;
}

/** Round 1: encryption key and its proof. */
export class Announcement {
  /** @param {number} index @param {any} encKey @param {SchnorrProof} encProof */
  constructor(index, encKey, encProof) {
    this.index = index;
    this.encKey = encKey;
    this.encProof = encProof;
  }

  /** @param {Group} group @returns {object} the JSON of threshold.dkg.Announcement.to_json */
  toJSON(group) {
    return { index: this.index, enc_key: group.toHex(this.encKey), enc_proof: this.encProof.toJSON(group) };
  }

  /**
   * @param {CeremonyParams} params
   * @param {unknown} obj
   * @param {string} [field]
   * @returns {Announcement}
   * @throws {DecodeError}
   */
  static fromJSON(params, obj, field = "announcement") {
    const o = expectObject(obj, ["index", "enc_key", "enc_proof"], field);
    const g = params.group;
    return new Announcement(params.checkIndex(o.index, `${field}.index`), g.fromHex(o.enc_key, `${field}.enc_key`),
      SchnorrProof.fromJSON(g, o.enc_proof, `${field}.enc_proof`));
  }

  /** @param {CeremonyParams} params @returns {Promise<boolean>} whether the key's proof holds */
  verify(params) {
    return this.encProof.verify(params.group, this.encKey, params.ctx("enc-key", this.index));
  }
}

/** Round 2: Pedersen commitments and the encrypted shares (f(j), f'(j)) keyed by recipient. */
export class DealerMessage {
  /**
   * @param {number} index
   * @param {any[]} commitments C_m = g^a_m h^b_m
   * @param {Map<number, import("./hybrid.js").HybridCiphertext>} shares
   * @param {SchnorrProof} signature the dealer's, by its announced key, over the rest (threshold.dkg.DealerMessage)
   */
  constructor(index, commitments, shares, signature) {
    this.index = index;
    this.commitments = commitments;
    this.shares = shares;
    this.signature = signature;
  }

  /**
   * Whether the dealer's announced key signed exactly this message, dealt to exactly these announcements.
   * @param {CeremonyParams} params
   * @param {Map<number, Announcement>} announcements
   * @returns {Promise<boolean>}
   */
  async signedBy(params, announcements) {
    return announcements.has(this.index) && this.signature.verify(params.group, announcements.get(this.index).encKey,
      await dealContext(params, this.index, this.commitments, this.shares, announcements));
  }

  /** @param {Group} group @returns {object} the JSON of threshold.dkg.DealerMessage.to_json */
  toJSON(group) {
    const shares = {};
    for (const j of [...this.shares.keys()].sort((a, b) => a - b)) shares[String(j)] = hybrid.hybridToJSON(group, this.shares.get(j));
    return { index: this.index, commitments: this.commitments.map((c) => group.toHex(c)), shares,
      signature: this.signature.toJSON(group) };
  }

  /**
   * @param {CeremonyParams} params
   * @param {unknown} obj
   * @param {string} [field]
   * @returns {DealerMessage}
   * @throws {DecodeError}
   */
  static fromJSON(params, obj, field = "dealer") {
    const o = expectObject(obj, ["index", "commitments", "shares", "signature"], field);
    const g = params.group;
    const index = params.checkIndex(o.index, `${field}.index`);
    const commitments = expectList(o.commitments, params.k, `${field}.commitments`)
      .map((c, m) => g.fromHex(c, `${field}.commitments[${m}]`));
    expectDict(o.shares, `${field}.shares`, "expected an object keyed by recipient index");
    const expected = [];
    for (let j = 1; j <= params.n; j++) if (j !== index) expected.push(j);
    const have = indexKeys(o.shares, `${field}.shares`);
    if (have.join() !== expected.join()) {
      throw new DecodeError(`${field}.shares`, `expected one share for each of ${JSON.stringify(expected)}`);
    }
    const shares = new Map(have.map((j) => [j, hybrid.hybridFromJSON(g, o.shares[String(j)], `${field}.shares.${j}`)]));
    return new DealerMessage(index, commitments, shares, SchnorrProof.fromJSON(g, o.signature, `${field}.signature`));
  }
}

/** Round 3: `accuser` says its share from `dealer` is wrong and opens that ciphertext. */
export class Complaint {
  /** @param {number} accuser @param {number} dealer @param {any} kemSecret @param {ChaumPedersenProof} proof */
  constructor(accuser, dealer, kemSecret, proof) {
    this.accuser = accuser;
    this.dealer = dealer;
    this.kemSecret = kemSecret;
    this.proof = proof;
  }

  /** @param {Group} group @returns {object} the JSON of threshold.dkg.Complaint.to_json */
  toJSON(group) {
    return { accuser: this.accuser, dealer: this.dealer, kem_secret: group.toHex(this.kemSecret),
      proof: this.proof.toJSON(group) };
  }

  /**
   * @param {CeremonyParams} params
   * @param {unknown} obj
   * @param {string} [field]
   * @returns {Complaint}
   * @throws {DecodeError}
   */
  static fromJSON(params, obj, field = "complaint") {
    const o = expectObject(obj, ["accuser", "dealer", "kem_secret", "proof"], field);
    const g = params.group;
    if (pyEqual(o.accuser, o.dealer)) throw new DecodeError(`${field}.dealer`, "a trustee holds no share from itself to complain about");
    return new Complaint(params.checkIndex(o.accuser, `${field}.accuser`), params.checkIndex(o.dealer, `${field}.dealer`),
      g.fromHex(o.kem_secret, `${field}.kem_secret`), ChaumPedersenProof.fromJSON(g, o.proof, `${field}.proof`));
  }
}

/** Round 4: qualified trustee `index` signs, with its announced key, the hash of rounds 1-3 it computed itself. */
export class Confirmation {
  /** @param {number} index @param {SchnorrProof} signature */
  constructor(index, signature) {
    this.index = index;
    this.signature = signature;
  }

  /** @param {Group} group @returns {object} the JSON of threshold.dkg.Confirmation.to_json */
  toJSON(group) {
    return { index: this.index, signature: this.signature.toJSON(group) };
  }

  /**
   * @param {CeremonyParams} params
   * @param {unknown} obj
   * @param {string} [field]
   * @returns {Confirmation}
   * @throws {DecodeError}
   */
  static fromJSON(params, obj, field = "confirmation") {
    const o = expectObject(obj, ["index", "signature"], field);
    return new Confirmation(params.checkIndex(o.index, `${field}.index`),
      SchnorrProof.fromJSON(params.group, o.signature, `${field}.signature`));
  }

  /**
   * Whether trustee `announcement.index` signed this qualification's hash.
   * @param {CeremonyParams} params
   * @param {Announcement} announcement
   * @param {Qualification} qualification
   * @returns {Promise<boolean>}
   */
  async verify(params, announcement, qualification) {
    return this.index === announcement.index
      && this.signature.verify(params.group, announcement.encKey, confirmCtx(params, this.index, qualification));
  }
}

/** Round 5: a qualified dealer's Feldman commitments A_m = g^a_m, with proofs of a_m and b_m. */
export class Reveal {
  /**
   * @param {number} index
   * @param {any[]} feldman A_0..A_(k-1)
   * @param {Array<{feldman: SchnorrProof, blinding: SchnorrProof}>} proofs
   */
  constructor(index, feldman, proofs) {
    this.index = index;
    this.feldman = feldman;
    this.proofs = proofs;
  }

  /** @param {Group} group @returns {object} the JSON of threshold.dkg.Reveal.to_json */
  toJSON(group) {
    return { index: this.index, feldman: this.feldman.map((a) => group.toHex(a)),
      proofs: this.proofs.map((p) => ({ feldman: p.feldman.toJSON(group), blinding: p.blinding.toJSON(group) })) };
  }

  /**
   * @param {CeremonyParams} params
   * @param {unknown} obj
   * @param {string} [field]
   * @returns {Reveal}
   * @throws {DecodeError}
   */
  static fromJSON(params, obj, field = "reveal") {
    const o = expectObject(obj, ["index", "feldman", "proofs"], field);
    const g = params.group;
    const index = params.checkIndex(o.index, `${field}.index`);
    const feldman = expectList(o.feldman, params.k, `${field}.feldman`).map((a, m) => g.fromHex(a, `${field}.feldman[${m}]`));
    const proofs = expectList(o.proofs, params.k, `${field}.proofs`).map((p, m) => {
      const pair = expectObject(p, ["feldman", "blinding"], `${field}.proofs[${m}]`);
      return { feldman: SchnorrProof.fromJSON(g, pair.feldman, `${field}.proofs[${m}].feldman`),
        blinding: SchnorrProof.fromJSON(g, pair.blinding, `${field}.proofs[${m}].blinding`) };
    });
    return new Reveal(index, feldman, proofs);
  }

  /**
   * Whether this is a valid reveal of the dealer of `message` under `qualification`, as
   * threshold.dkg.Reveal.valid (spec section 6 step 5): same index, k members of the group none
   * the identity, and for each m a proof of log_g A_m under encode(context, n, k, "dkg-feldman",
   * i, m, Q) and of log_h (C_m / A_m) under encode(context, n, k, "dkg-blinding", i, m, Q), Q the
   * qualification's transcriptHash: a reveal is void for other rounds 1-3.
   * @param {CeremonyParams} params
   * @param {DealerMessage} message
   * @param {Qualification} qualification
   * @returns {Promise<boolean>}
   */
  async verify(params, message, qualification) {
    const g = params.group;
    const k = params.k;
    const bound = qualification.transcriptHash;
    if (!(bound instanceof Uint8Array)) throw new TypeError("Reveal.verify needs the qualification (its transcriptHash)");
    if (this.index !== message.index || this.feldman.length !== k || this.proofs.length !== k
      || message.commitments.length !== k || this.feldman.some((a) => !g.isMember(a) || g.eq(a, g.identity))) return false;
    const h = await pedersenH(g);
    for (let m = 0; m < k; m++) {
      const A = this.feldman[m];
      if (!(await this.proofs[m].feldman.verify(g, A, params.ctx("dkg-feldman", this.index, m, bound)))) return false;
      const blind = g.div(message.commitments[m], A);
      if (!(await this.proofs[m].blinding.verify(g, blind, params.ctx("dkg-blinding", this.index, m, bound), { base: h }))) return false;
    }
    return true;
  }
}

/** Round 6: trustee `index` opens its shares (s, s') of the qualified dealers that did not reveal. */
export class Opening {
  /**
   * @param {number} index
   * @param {Map<number, {share: bigint, blinding: bigint}>} openings dealer -> (f_i(index), f'_i(index))
   */
  constructor(index, openings) {
    this.index = index;
    this.openings = openings;
  }

  /** @param {Group} group @returns {object} the JSON of threshold.dkg.Opening.to_json */
  toJSON(group) {
    const openings = {};
    for (const i of [...this.openings.keys()].sort((a, b) => a - b)) {
      const o = this.openings.get(i);
      openings[String(i)] = { share: group.scalarToHex(o.share), blinding: group.scalarToHex(o.blinding) };
    }
    return { index: this.index, openings };
  }

  /**
   * @param {CeremonyParams} params
   * @param {unknown} obj
   * @param {string} [field]
   * @returns {Opening}
   * @throws {DecodeError}
   */
  static fromJSON(params, obj, field = "opening") {
    const o = expectObject(obj, ["index", "openings"], field);
    const g = params.group;
    const index = params.checkIndex(o.index, `${field}.index`);
    expectDict(o.openings, `${field}.openings`, "expected an object keyed by dealer index");
    const openings = new Map();
    for (const key of Object.keys(o.openings)) {
      if (!/^[1-9][0-9]{0,5}$/.test(key)) throw new DecodeError(`${field}.openings`, `expected a decimal trustee index as key, got ${JSON.stringify(key)}`);
    }
    for (const i of indexKeys(o.openings, `${field}.openings`)) {
      const at = `${field}.openings.${i}`;
      params.checkIndex(i, `${field}.openings`);
      if (i === index) throw new DecodeError(at, "a trustee holds no share of its own from itself");
      const pair = expectObject(o.openings[String(i)], ["share", "blinding"], at);
      openings.set(i, { share: g.scalarFromHex(pair.share, `${at}.share`), blinding: g.scalarFromHex(pair.blinding, `${at}.blinding`) });
    }
    return new Opening(index, openings);
  }
}

/**
 * QUAL and why the others were disqualified, fixed after the complaints, with the hash of rounds
 * 1-3 to which every reveal is bound (so that no complaint can be added or dropped afterwards).
 * @typedef {object} Qualification
 * @property {number[]} qualified
 * @property {Map<number, string>} disqualified dealer -> reason
 * @property {Array<[number, number]>} rejectedComplaints (accuser, dealer)
 * @property {Uint8Array} transcriptHash Q = SHA-256(encode("dkg-qualification", context, n, k, announcements, messages, complaints, QUAL))
 */

/**
 * JSON of a qualification, as the relay publishes it (web/ceremony.py qualification_json):
 * {qualified, disqualified, rejected_complaints, transcript_hash}.
 * @param {Qualification} q
 * @returns {object}
 */
export function qualificationToJSON(q) {
  const disqualified = {};
  for (const i of [...q.disqualified.keys()].sort((a, b) => a - b)) disqualified[String(i)] = q.disqualified.get(i);
  return { qualified: [...q.qualified], disqualified, rejected_complaints: q.rejectedComplaints.map(([a, d]) => [a, d]),
    transcript_hash: toHex(q.transcriptHash) };
}

/**
 * Parse {@link qualificationToJSON} (a trustee's saved state keeps the qualification it confirmed).
 * @param {CeremonyParams} params
 * @param {unknown} obj
 * @param {string} [field]
 * @returns {Qualification}
 * @throws {DecodeError}
 */
export function qualificationFromJSON(params, obj, field = "qualification") {
  const o = expectObject(obj, ["qualified", "disqualified", "rejected_complaints", "transcript_hash"], field);
  if (!Array.isArray(o.qualified)) throw new DecodeError(`${field}.qualified`, "expected a list");
  expectDict(o.disqualified, `${field}.disqualified`, "expected an object keyed by trustee index");
  return { qualified: increasing(params, o.qualified, `${field}.qualified`),
    disqualified: parseReasons(params, o.disqualified, field), rejectedComplaints: parsePairs(params, o.rejected_complaints, field),
    transcriptHash: fromHex(o.transcript_hash, 32, `${field}.transcript_hash`) };
}

/** Disqualification reasons keyed by trustee index, as threshold.dkg.CeremonyResult.from_json reads them. */
function parseReasons(params, obj, field) {
  const out = new Map();
  for (const [key, why] of Object.entries(obj)) {
    if (typeof why !== "string") throw new DecodeError(`${field}.disqualified.${key}`, "expected the reason as a string");
    out.set(params.checkIndex(intKey(key, `${field}.disqualified`), `${field}.disqualified`), why);
  }
  return new Map([...out].sort(([a], [b]) => a - b));
}

/** [accuser, dealer] pairs, as threshold.dkg.CeremonyResult.from_json reads rejected_complaints. */
function parsePairs(params, list, field) {
  if (!Array.isArray(list)) throw new DecodeError(`${field}.rejected_complaints`, "expected a list");
  return list.map((pair, n) => {
    const where = `${field}.rejected_complaints[${n}]`;
    if (!Array.isArray(pair) || pair.length !== 2) throw new DecodeError(where, "expected an [accuser, dealer] pair");
    return [params.checkIndex(pair[0], where), params.checkIndex(pair[1], where)];
  });
}

/**
 * The public outcome, recomputed by each trustee from the public messages with {@link adjudicate}.
 * @typedef {object} CeremonyResult
 * @property {number[]} qualified
 * @property {Map<number, string>} disqualified dealer -> reason
 * @property {number[]} reconstructed qualified dealers whose polynomial was reconstructed from openings
 * @property {any} publicKey the joint election key
 * @property {Map<number, any>} verificationKeys trustee -> g^x_j
 * @property {Uint8Array} transcriptHash what every trustee signs
 * @property {Array<[number, number]>} rejectedComplaints (accuser, dealer)
 * @property {Uint8Array} qualificationHash the transcriptHash of the qualification the reveals are bound to
 */

/**
 * JSON of a result, as threshold.dkg.CeremonyResult.to_json: {qualified, disqualified, reconstructed,
 * qualification_hash, public_key, verification_keys, transcript_hash, rejected_complaints}.
 * @param {Group} group
 * @param {CeremonyResult} result
 * @returns {object}
 */
export function resultToJSON(group, result) {
  const disqualified = {};
  for (const i of [...result.disqualified.keys()].sort((a, b) => a - b)) disqualified[String(i)] = result.disqualified.get(i);
  const vks = {};
  for (const j of [...result.verificationKeys.keys()].sort((a, b) => a - b)) vks[String(j)] = group.toHex(result.verificationKeys.get(j));
  return { qualified: [...result.qualified], disqualified, reconstructed: [...result.reconstructed],
    qualification_hash: toHex(result.qualificationHash), public_key: group.toHex(result.publicKey), verification_keys: vks,
    transcript_hash: toHex(result.transcriptHash), rejected_complaints: result.rejectedComplaints.map(([a, d]) => [a, d]) };
}

/**
 * Parse a published result strictly, as threshold.dkg.CeremonyResult.from_json (the same errors,
 * naming the same fields): qualified and reconstructed strictly increasing, reconstructed among the
 * qualified, reasons strings, elements members of the group. Then recompute it with {@link adjudicate}
 * and compare: parsing checks the form only.
 * @param {CeremonyParams} params
 * @param {unknown} obj
 * @param {string} [field]
 * @returns {CeremonyResult}
 * @throws {DecodeError}
 */
export function resultFromJSON(params, obj, field = "ceremony") {
  const o = expectObject(obj, ["qualified", "disqualified", "reconstructed", "qualification_hash", "public_key",
    "verification_keys", "transcript_hash", "rejected_complaints"], field);
  const g = params.group;
  const isDict = (x) => typeof x === "object" && x !== null && !Array.isArray(x);
  if (!Array.isArray(o.qualified) || !isDict(o.disqualified) || !Array.isArray(o.reconstructed)
    || !isDict(o.verification_keys) || !Array.isArray(o.rejected_complaints)) {
    throw new DecodeError(field, "qualified, reconstructed and rejected_complaints must be lists, the others objects");
  }
  const qualified = increasing(params, o.qualified, `${field}.qualified`);
  const reconstructed = increasing(params, o.reconstructed, `${field}.reconstructed`);
  if (!reconstructed.every((i) => qualified.includes(i))) {
    throw new DecodeError(`${field}.reconstructed`, "only qualified dealers are reconstructed");
  }
  const disqualified = parseReasons(params, o.disqualified, field);
  const verificationKeys = new Map();
  for (const [key, v] of Object.entries(o.verification_keys)) {
    const j = params.checkIndex(intKey(key, `${field}.verification_keys`), `${field}.verification_keys`);
    verificationKeys.set(j, g.fromHex(v, `${field}.verification_keys.${key}`));
  }
  const rejectedComplaints = parsePairs(params, o.rejected_complaints, field);
  return { qualified, disqualified, reconstructed, publicKey: g.fromHex(o.public_key, `${field}.public_key`),
    verificationKeys: new Map([...verificationKeys].sort(([a], [b]) => a - b)),
    transcriptHash: fromHex(o.transcript_hash, 32, `${field}.transcript_hash`), rejectedComplaints,
    qualificationHash: fromHex(o.qualification_hash, 32, `${field}.qualification_hash`) };
}

/**
 * One valid announcement per trustee, its key a member other than the identity whatever parsed it (as
 * threshold.dkg: a modp key p - E passes its proof up to sign, and a complaint would frame the dealer).
 * @param {CeremonyParams} params
 * @param {Map<number, Announcement>} announcements
 */
async function checkAnnouncements(params, announcements) {
  const g = params.group;
  const complete = announcements.size === params.n && [...announcements.keys()].every((i) => Number.isInteger(i) && i >= 1 && i <= params.n);
  if (!complete) throw new ProtocolError(`announcements needed from all trustees 1..${params.n}`);
  for (let i = 1; i <= params.n; i++) {
    const a = announcements.get(i);
    if (a.index !== i || g.eq(a.encKey, g.identity) || !g.isMember(a.encKey) || !(await a.verify(params))) throw new VerificationError(`trustee ${i}: invalid encryption key announcement`);
  }
}

/**
 * QUAL from the public messages of rounds 1-3 (spec section 6 step 3), exactly as threshold.dkg.qualify,
 * with the hash of those rounds (every element is membership-checked here too, not only by the parsers).
 * @param {CeremonyParams} params
 * @param {Map<number, Announcement>} announcements
 * @param {Map<number, DealerMessage>} messages
 * @param {Complaint[]} complaints in board order
 * @returns {Promise<Qualification>}
 * @throws {ProtocolError} when fewer than k dealers qualify
 */
export async function qualify(params, announcements, messages, complaints) {
  const g = params.group;
  await checkAnnouncements(params, announcements);
  for (const i of [...messages.keys()].sort((a, b) => a - b)) {
    if (!(await messages.get(i).signedBy(params, announcements))) {
      throw new ProtocolError(`the deal message of trustee ${i} is not signed by its announced key: it was altered `
        + "after the dealer sent it, or the dealer was shown other announcements (by whoever relayed or published "
        + "them), and proves nothing against it");
    }
  }
  const h = await pedersenH(g);
  const disqualified = new Map();
  for (let i = 1; i <= params.n; i++) {
    const msg = messages.get(i);
    const others = [];
    for (let j = 1; j <= params.n; j++) if (j !== i) others.push(j);
    if (!msg) disqualified.set(i, "did not deal");
    else if (msg.index !== i) disqualified.set(i, "message index does not match");
    else if (msg.commitments.length !== params.k || msg.commitments.some((c) => g.eq(c, g.identity))
      || !msg.commitments.every((c) => g.isMember(c))) {
      disqualified.set(i, "malformed commitments");
    } else if ([...msg.shares.keys()].sort((a, b) => a - b).join() !== others.join()) {
      disqualified.set(i, "did not send a share to every trustee");
    } else {
      for (const j of others) {
        const ct = msg.shares.get(j);
        if (!g.isMember(ct.ephemeral) || !(await hybrid.ephemeralValid(g, ct, shareAad(params, i, j)))) {
          disqualified.set(i, `share ciphertext to trustee ${j} has no valid ephemeral proof`);
          break;
        }
      }
    }
  }
  const rejected = [];
  for (const c of complaints) {
    if (disqualified.has(c.dealer) || c.accuser === c.dealer) continue;
    const ct = messages.get(c.dealer).shares.get(c.accuser);
    const E = announcements.get(c.accuser).encKey;
    if (!g.isMember(c.kemSecret)
      || !(await c.proof.verify(g, g.g, E, ct.ephemeral, c.kemSecret, complaintCtx(params, c.accuser, c.dealer)))) {
      rejected.push([c.accuser, c.dealer]);
      continue;
    }
    let pair = null;
    try {
      pair = parseSharePlaintext(g, await hybrid.openWith(g, c.kemSecret, ct, shareAad(params, c.dealer, c.accuser)));
    } catch (err) {
      if (!(err instanceof VerificationError)) throw err;
    }
    if (pair === null || !pedersenVerify(g, h, messages.get(c.dealer).commitments, c.accuser, pair[0], pair[1])) {
      disqualified.set(c.dealer, `complaint by trustee ${c.accuser} upheld: invalid share`);
    } else {
      rejected.push([c.accuser, c.dealer]);
    }
  }
  const qualified = [];
  for (let i = 1; i <= params.n; i++) if (!disqualified.has(i)) qualified.push(i);
  if (qualified.length < params.k) throw new ProtocolError(`only ${qualified.length} qualified dealers, ${params.k} needed`);
  const transcriptHash = await sha256(encode(
    "dkg-qualification", params.context, params.n, params.k,
    byIndex(announcements).map((a) => canonicalJsonBytes(a.toJSON(g))),
    byIndex(messages).map((m) => canonicalJsonBytes(m.toJSON(g))),
    complaints.map((c) => canonicalJsonBytes(c.toJSON(g))),
    qualified));
  return { qualified, disqualified, rejectedComplaints: rejected, transcriptHash };
}

/**
 * The qualified dealers without a valid reveal (RECON), sorted, as threshold.dkg.to_reconstruct.
 * @param {CeremonyParams} params
 * @param {Qualification} qualification
 * @param {Map<number, DealerMessage>} messages
 * @param {Map<number, Reveal>} reveals dealer -> its reveal
 * @returns {Promise<number[]>}
 */
export async function toReconstruct(params, qualification, messages, reveals) {
  const absent = qualification.qualified.filter((i) => !messages.has(i));
  if (absent.length) {
    throw new ProtocolError(`the deal messages shown lack those of qualified dealers ${pyList(absent)}: whoever relays `
      + "them dropped them");
  }
  const missing = [];
  for (const i of qualification.qualified) {
    const reveal = reveals.get(i);
    if (!reveal || !(await reveal.verify(params, messages.get(i), qualification))) missing.push(i);
  }
  return missing.sort((a, b) => a - b);
}

/** The coefficients of the polynomial of degree < points.length through the points (x, y), mod q. */
function interpolate(points, q) {
  const coefficients = new Array(points.length).fill(0n);
  for (const [x, y] of points) {
    let basis = [1n]; // prod_(other) (X - x_o), lowest degree first
    let denominator = 1n;
    for (const [xo] of points) {
      if (xo === x) continue;
      const next = new Array(basis.length + 1).fill(0n);
      for (let d = 0; d < basis.length; d++) {
        next[d] = mod(next[d] - BigInt(xo) * basis[d], q);
        next[d + 1] = mod(next[d + 1] + basis[d], q);
      }
      basis = next;
      denominator = mod(denominator * BigInt(x - xo), q);
    }
    const scale = mod(y * modInv(denominator, q), q);
    basis.forEach((b, d) => { coefficients[d] = mod(coefficients[d] + b * scale, q); });
  }
  return coefficients;
}

/**
 * A_i0..A_i(k-1) of a qualified dealer that did not reveal, from the trustees' valid openings (spec
 * section 6 step 6): the k lowest valid openings fix f_i, every other valid opening must lie on it.
 * @param {CeremonyParams} params
 * @param {any} h
 * @param {number} dealer
 * @param {DealerMessage} message
 * @param {Map<number, Opening>} openings
 * @returns {any[]}
 * @throws {ProtocolError}
 */
function reconstruct(params, h, dealer, message, openings) {
  const g = params.group;
  const valid = [];
  for (const j of [...openings.keys()].sort((a, b) => a - b)) {
    const o = openings.get(j);
    const pair = o.index === j && j !== dealer ? o.openings.get(dealer) : undefined;
    if (pair && pedersenVerify(g, h, message.commitments, j, pair.share, pair.blinding)) valid.push([j, pair.share]);
  }
  if (valid.length < params.k) {
    throw new ProtocolError(`dealer ${dealer} did not reveal and ${valid.length} valid openings of its shares were `
      + `published, ${params.k} needed to reconstruct it`);
  }
  const f = interpolate(valid.slice(0, params.k), g.q);
  if (valid.slice(params.k).some(([j, s]) => evaluatePolynomial(f, j, g.q) !== s)) {
    throw new ProtocolError(`valid openings of dealer ${dealer}'s shares disagree (Pedersen binding broken)`);
  }
  return f.map((a) => g.expG(a));
}

/**
 * Decide the ceremony from public data only, exactly as threshold.dkg.adjudicate: a trustee
 * runs this itself rather than trusting a result handed to it.
 * @param {CeremonyParams} params
 * @param {Map<number, Announcement>} announcements
 * @param {Map<number, DealerMessage>} messages
 * @param {Complaint[]} complaints in board order
 * @param {Map<number, Reveal>} reveals dealer -> reveal
 * @param {Map<number, Opening>} openings trustee -> opening
 * @returns {Promise<CeremonyResult>}
 * @throws {ProtocolError} when fewer than k dealers qualify, a dealer's polynomial cannot be reconstructed, or
 *   fewer than k qualified dealers have a valid reveal (those few would hold the joint secret alone)
 * @throws {DecodeError} when a trustee opened its shares from a dealer that is not being reconstructed
 */
export async function adjudicate(params, announcements, messages, complaints, reveals, openings) {
  const g = params.group;
  const qualification = await qualify(params, announcements, messages, complaints);
  const { qualified } = qualification;
  const reconstructed = await toReconstruct(params, qualification, messages, reveals);
  for (const j of [...openings.keys()].sort((a, b) => a - b)) {
    const extra = [...openings.get(j).openings.keys()].filter((i) => !reconstructed.includes(i)).sort((a, b) => a - b);
    if (extra.length) {
      throw new DecodeError(`opening.openings.${extra[0]}`, `trustee ${j} opened its shares from dealer ${extra[0]}, `
        + "which is not being reconstructed");
    }
  }
  const h = await pedersenH(g);
  const feldman = new Map();
  for (const i of qualified) {
    feldman.set(i, reconstructed.includes(i) ? reconstruct(params, h, i, messages.get(i), openings) : reveals.get(i).feldman);
  }
  const revealed = qualified.length - reconstructed.length;
  if (revealed < params.k) {  // the joint secret is theirs plus public values: at least one of k must be honest
    throw new ProtocolError(`${revealed} qualified dealers have a valid reveal, ${params.k} needed: the others rebuilt `
      + "from public openings, those few would hold the joint secret alone");
  }
  const publicKey = g.prod(qualified.map((i) => feldman.get(i)[0]));
  const verificationKeys = new Map();
  for (let j = 1; j <= params.n; j++) {
    verificationKeys.set(j, g.prod(qualified.map((i) => expectedCommitment(g, feldman.get(i), j))));
  }
  const transcriptHash = await sha256(encode(
    "dkg-transcript", params.context, params.n, params.k,
    byIndex(announcements).map((a) => canonicalJsonBytes(a.toJSON(g))),
    byIndex(messages).map((m) => canonicalJsonBytes(m.toJSON(g))),
    complaints.map((c) => canonicalJsonBytes(c.toJSON(g))),
    byIndex(reveals).map((r) => canonicalJsonBytes(r.toJSON(g))),
    byIndex(openings).map((o) => canonicalJsonBytes(o.toJSON(g))),
    qualified, reconstructed, g.encode(publicKey)));
  return { qualified, disqualified: qualification.disqualified, reconstructed, publicKey, verificationKeys,
    transcriptHash, rejectedComplaints: qualification.rejectedComplaints, qualificationHash: qualification.transcriptHash };
}

/**
 * Whether trustee `announcement.index` signed this transcript hash.
 * @param {CeremonyParams} params
 * @param {Announcement} announcement
 * @param {CeremonyResult} result
 * @param {SchnorrProof} signature
 * @returns {Promise<boolean>}
 */
export function verifySignature(params, announcement, result, signature) {
  return signature.verify(params.group, announcement.encKey,
    params.ctx("dkg-transcript", announcement.index, result.transcriptHash));
}

/** A trustee's share x_i of the joint secret, in the JSON of threshold.dkg.TrusteeKey. */
export class TrusteeKey {
  /**
   * @param {Group} group
   * @param {number} index
   * @param {bigint} secret
   * @param {any} publicKey
   * @param {Map<number, any>} verificationKeys
   */
  constructor(group, index, secret, publicKey, verificationKeys) {
    this.group = group;
    this.index = index;
    this.secret = secret;
    this.publicKey = publicKey;
    this.verificationKeys = verificationKeys;
  }

  /** @returns {object} {group, index, secret, public_key, verification_keys} */
  toJSON() {
    const g = this.group;
    const vks = {};
    for (const j of [...this.verificationKeys.keys()].sort((a, b) => a - b)) vks[String(j)] = g.toHex(this.verificationKeys.get(j));
    return { group: g.name, index: this.index, secret: g.scalarToHex(this.secret), public_key: g.toHex(this.publicKey),
      verification_keys: vks };
  }

  /**
   * Parse a key (from a backup) and check that the secret matches its verification key.
   * @param {Group} group
   * @param {unknown} obj
   * @returns {TrusteeKey}
   * @throws {DecodeError}
   */
  static fromJSON(group, obj) {
    const o = expectObject(obj, ["group", "index", "secret", "public_key", "verification_keys"], "trustee_key");
    if (o.group !== group.name) throw new DecodeError("trustee_key.group", `expected ${group.name}, got ${JSON.stringify(o.group)}`);
    const index = expectInt(o.index, 1, 0xffff, "trustee_key.index");
    expectDict(o.verification_keys, "trustee_key.verification_keys", "expected an object");
    const vks = new Map(indexKeys(o.verification_keys, "trustee_key.verification_keys")
      .map((j) => [j, group.fromHex(o.verification_keys[String(j)], `trustee_key.verification_keys.${j}`)]));
    const key = new TrusteeKey(group, index, group.scalarFromHex(o.secret, "trustee_key.secret"),
      group.fromHex(o.public_key, "trustee_key.public_key"), vks);
    if (!vks.has(index) || !group.eq(group.expG(key.secret), vks.get(index))) {
      throw new DecodeError("trustee_key.secret", "does not match the trustee's verification key");
    }
    return key;
  }
}

/** One trustee's side of the ceremony; its secrets leave it only through {@link Trustee#toState}. */
export class Trustee {
  /**
   * @param {CeremonyParams} params
   * @param {number} index
   * @param {bigint} encSecret
   * @param {bigint[]} polynomial f: a_0 (this dealer's part of the joint secret) .. a_(k-1)
   * @param {bigint[]} blinding f': b_0 .. b_(k-1)
   * @param {Map<number, {share: bigint, blinding: bigint}>} received valid shares (f_i(index), f'_i(index)) from other dealers
   * @param {Qualification|null} [qualification] the qualification this trustee computed and confirmed (null before round 4)
   * @param {Map<number, Announcement>|null} [dealtTo] the announcements it encrypted its shares to (null before round 2)
   * @param {number[]|null} [opened] the dealers it opened its shares of in round 6 (null before)
   * @param {DealerMessage|null} [dealt] the deal message it sent (it deals once)
   * @param {Uint8Array|null} [confirmed] the hash of the deal messages its qualification is over (null before round 4)
   * @param {boolean} [agreed] every qualified trustee confirmed its qualification: it may reveal and open
   */
  constructor(params, index, encSecret, polynomial, blinding, received, qualification = null, dealtTo = null, opened = null,
    dealt = null, confirmed = null, agreed = false) {
    this.params = params;
    this.index = params.checkIndex(index);
    this.encSecret = encSecret;
    this.encKey = params.group.expG(encSecret);
    this.polynomial = polynomial;
    this.blinding = blinding;
    this.received = received;
    /** @type {Qualification|null} */
    this.qualification = qualification;
    /** @type {Map<number, Announcement>|null} */
    this.dealtTo = dealtTo;
    /** @type {number[]|null} */
    this.opened = opened;
    /** @type {DealerMessage|null} */
    this.dealt = dealt;
    /** @type {Uint8Array|null} */
    this.confirmed = confirmed;
    /** @type {boolean} */
    this.agreed = agreed;
  }

  /**
   * A new trustee with a fresh encryption key and polynomials (draws, as threshold.dkg.Trustee:
   * the encryption secret, the k coefficients of f, then the k of f').
   * @param {CeremonyParams} params
   * @param {number} index
   * @param {{rng?: Rng}} [options]
   * @returns {Trustee}
   */
  static create(params, index, { rng = systemRng } = {}) {
    const g = params.group;
    const encSecret = g.randomScalar(rng);
    const polynomial = [];
    for (let m = 0; m < params.k; m++) polynomial.push(g.randomScalar(rng));
    const blinding = [];
    for (let m = 0; m < params.k; m++) blinding.push(g.randomScalar(rng));
    return new Trustee(params, index, encSecret, polynomial, blinding, new Map());
  }

  /**
   * The Pedersen commitments C_m = g^a_m h^b_m of this dealer's polynomials.
   * @returns {Promise<any[]>}
   */
  async commitments() {
    const g = this.params.group;
    return pedersenCommit(g, await pedersenH(g), this.polynomial, this.blinding);
  }

  /**
   * The secret state to keep between rounds (seal it with keystore.js): JSON with hex scalars, and
   * the qualification this trustee confirmed (null before), so that it goes on under no other.
   * @returns {object}
   */
  toState() {
    const g = this.params.group;
    const received = {};
    for (const j of [...this.received.keys()].sort((a, b) => a - b)) {
      const r = this.received.get(j);
      received[String(j)] = { share: g.scalarToHex(r.share), blinding: g.scalarToHex(r.blinding) };
    }
    return { group: g.name, context: toHex(this.params.context), n: this.params.n, k: this.params.k, index: this.index,
      enc_secret: g.scalarToHex(this.encSecret), polynomial: this.polynomial.map((a) => g.scalarToHex(a)),
      blinding: this.blinding.map((b) => g.scalarToHex(b)), received,
      qualification: this.qualification && qualificationToJSON(this.qualification),
      dealt_to: this.dealtTo && announcementsJson(g, this.dealtTo),
      opened: this.opened, dealt: this.dealt && this.dealt.toJSON(g), confirmed: this.confirmed && toHex(this.confirmed),
      agreed: this.agreed };
  }

  /**
   * Restore a trustee from {@link Trustee#toState}, refusing state of another ceremony (a state saved
   * before the qualification was kept, without the key, is read as not having revealed yet).
   * @param {CeremonyParams} params
   * @param {unknown} state
   * @returns {Trustee}
   * @throws {DecodeError}
   */
  static fromState(params, state) {
    const keys = ["group", "context", "n", "k", "index", "enc_secret", "polynomial", "blinding", "received"];
    // absent from states saved by earlier versions
    const later = ["qualification", "dealt_to", "opened", "dealt", "confirmed", "agreed"];
    const saved = (key) => typeof state === "object" && state !== null && Object.hasOwn(state, key);
    const o = expectObject(state, [...keys, ...later.filter(saved)], "state");
    const g = params.group;
    if (o.group !== g.name) throw new DecodeError("state.group", `expected ${g.name}, got ${JSON.stringify(o.group)}`);
    if (o.context !== toHex(params.context) || o.n !== params.n || o.k !== params.k) {
      throw new DecodeError("state.context", "the saved state belongs to another ceremony");
    }
    expectDict(o.received, "state.received", "expected an object");
    const received = new Map(indexKeys(o.received, "state.received").map((j) => {
      const at = `state.received.${j}`;
      const pair = expectObject(o.received[String(j)], ["share", "blinding"], at);
      return [params.checkIndex(j, at), { share: g.scalarFromHex(pair.share, `${at}.share`), blinding: g.scalarFromHex(pair.blinding, `${at}.blinding`) }];
    }));
    const present = (key) => saved(key) && o[key] !== null;
    const dealtTo = present("dealt_to") ? new Map(expectList(o.dealt_to, params.n, "state.dealt_to")
      .map((a, i) => Announcement.fromJSON(params, a, `state.dealt_to[${i}]`)).map((a) => [a.index, a])) : null;
    if (dealtTo && dealtTo.size !== params.n) throw new DecodeError("state.dealt_to", "expected one announcement per trustee");
    if (present("opened") && !Array.isArray(o.opened)) throw new DecodeError("state.opened", "expected a list of dealers");
    const opened = present("opened") ? increasing(params, o.opened, "state.opened") : null;
    const dealt = present("dealt") ? DealerMessage.fromJSON(params, o.dealt, "state.dealt") : null;
    if (dealt !== null && dealtTo === null) throw new DecodeError("state.dealt", "a deal sent without the announcements it went to");
    const qualification = present("qualification") ? qualificationFromJSON(params, o.qualification, "state.qualification") : null;
    const confirmed = present("confirmed") ? fromHex(o.confirmed, 32, "state.confirmed") : null;
    if (confirmed !== null && qualification === null) throw new DecodeError("state.confirmed", "a confirmation without its qualification");
    if (confirmed !== null && dealt === null) {
      throw new DecodeError("state.confirmed", "a confirmation without the deal and the announcements it was computed over");
    }
    if (saved("agreed") && typeof o.agreed !== "boolean") throw new DecodeError("state.agreed", "expected true or false");
    const agreed = saved("agreed") && o.agreed;
    if (agreed && confirmed === null) throw new DecodeError("state.agreed", "agreement on no confirmed qualification");
    return new Trustee(params, params.checkIndex(o.index, "state.index"), g.scalarFromHex(o.enc_secret, "state.enc_secret"),
      expectList(o.polynomial, params.k, "state.polynomial").map((a, m) => g.scalarFromHex(a, `state.polynomial[${m}]`)),
      expectList(o.blinding, params.k, "state.blinding").map((b, m) => g.scalarFromHex(b, `state.blinding[${m}]`)),
      received, qualification, dealtTo, opened, dealt, confirmed, agreed);
  }

  /**
   * Round 1.
   * @param {{rng?: Rng}} [options]
   * @returns {Promise<Announcement>}
   */
  async announce({ rng = systemRng } = {}) {
    const p = this.params;
    const proof = await SchnorrProof.prove(p.group, this.encSecret, p.ctx("enc-key", this.index), { rng });
    return new Announcement(this.index, this.encKey, proof);
  }

  /**
   * Round 2: the Pedersen commitments, and every other trustee's (f(j), f'(j)) encrypted to its key.
   * @param {Map<number, Announcement>} announcements every trustee's, this one's included
   * @param {{rng?: Rng}} [options]
   * @returns {Promise<DealerMessage>}
   * @throws {ProtocolError|VerificationError} when an announcement is missing or invalid
   */
  async deal(announcements, { rng = systemRng } = {}) {
    const p = this.params;
    const g = p.group;
    await checkAnnouncements(p, announcements);
    if (this.dealt !== null) {  // once: the same message again for the same announcements, never a deal to others
      if (canonicalJson(announcementsJson(g, announcements)) !== canonicalJson(announcementsJson(g, this.dealtTo))) {
        throw new ProtocolError(`trustee ${this.index} already dealt its shares, to other announcements: it deals `
          + "once (whoever relays them showed it two sets of keys)");
      }
      return this.dealt;
    }
    const shares = new Map();
    for (let j = 1; j <= p.n; j++) {
      if (j === this.index) continue;
      const value = new Uint8Array(SHARE_BYTES);
      value.set(bigIntToBytes(evaluatePolynomial(this.polynomial, j, g.q), 32), 0);
      value.set(bigIntToBytes(evaluatePolynomial(this.blinding, j, g.q), 32), 32);
      shares.set(j, await hybrid.encrypt(g, announcements.get(j).encKey, value, shareAad(p, this.index, j), { rng }));
    }
    const commitments = await this.commitments();
    this.dealtTo = new Map(announcements);
    const context = await dealContext(p, this.index, commitments, shares, announcements);
    const signature = await SchnorrProof.prove(g, this.encSecret, context, { rng });
    this.dealt = new DealerMessage(this.index, commitments, shares, signature);
    return this.dealt;
  }

  /**
   * Round 3: decrypt the shares addressed to this trustee, keep the valid ones, and return a
   * complaint (with the opened KEM secret and its proof) for each invalid one. Every message must be
   * signed by its dealer for the announcements this trustee dealt to (else ProtocolError, nothing
   * judged): a complaint about a message the relay altered would leak this trustee's share pair.
   * @param {Map<number, DealerMessage>} messages
   * @param {{rng?: Rng}} [options]
   * @returns {Promise<Complaint[]>}
   */
  async checkShares(messages, { rng = systemRng } = {}) {
    const p = this.params;
    const g = p.group;
    if (this.dealtTo === null) {
      throw new ProtocolError(`trustee ${this.index} has not dealt yet: it checks shares against the announcements it dealt `
        + "to (progress saved by an earlier version of Quorum holds none: the key ceremony must be restarted)");
    }
    this.ownMessage(messages);
    for (const i of [...messages.keys()].sort((a, b) => a - b)) {
      if (i !== this.index && !(await messages.get(i).signedBy(p, this.dealtTo))) {
        throw new ProtocolError(`the deal message of trustee ${i} is not signed by its dealer for the announcements `
          + `trustee ${this.index} dealt to: whoever relayed it altered it (or showed the dealers other announcements); `
          + "no share is judged and no complaint made");
      }
    }
    const h = await pedersenH(g);
    const complaints = [];
    for (const i of [...messages.keys()].sort((a, b) => a - b)) {
      if (i === this.index) continue;
      const msg = messages.get(i);
      const ct = msg.shares.get(this.index);
      if (!ct || !g.isMember(ct.ephemeral) || !(await hybrid.ephemeralValid(g, ct, shareAad(p, i, this.index)))) {
        continue; // public faults: qualify disqualifies the dealer; never reveal S for them (of R = p - g^r: e mod 2)
      }
      let pair = null;
      try {
        pair = parseSharePlaintext(g, await hybrid.decrypt(g, this.encSecret, ct, shareAad(p, i, this.index)));
      } catch (err) {
        if (!(err instanceof VerificationError)) throw err;
      }
      if (pair !== null && pedersenVerify(g, h, msg.commitments, this.index, pair[0], pair[1])) {
        this.received.set(i, { share: pair[0], blinding: pair[1] });
        continue;
      }
      const secret = hybrid.kemSecret(g, this.encSecret, ct);
      const proof = await ChaumPedersenProof.prove(g, this.encSecret, g.g, this.encKey, ct.ephemeral, secret,
        complaintCtx(p, this.index, i), { rng });
      complaints.push(new Complaint(this.index, i, secret, proof));
    }
    return complaints;
  }

  /**
   * Round 4, as threshold.dkg.Trustee.confirm: QUAL and the hash of rounds 1-3, computed by this
   * trustee from the announcements it dealt to and the deal messages and complaints shown (which must
   * hold every trustee's deal, its own as sent), signed (a trustee that dealt as the protocol asks is always qualified). It keeps
   * that qualification (save {@link Trustee#toState} afterwards) and goes on under no other.
   * @param {Map<number, DealerMessage>} messages
   * @param {Complaint[]} complaints
   * @param {{rng?: Rng}} [options]
   * @returns {Promise<Confirmation>}
   * @throws {ProtocolError} when it already confirmed another qualification, when QUAL disqualifies it though it
   *   dealt as the protocol asks, or holds no valid share from some qualified dealer (its complaint was dropped)
   */
  async confirm(messages, complaints, { rng = systemRng } = {}) {
    const p = this.params;
    const g = p.group;
    if (this.dealtTo === null) {
      throw new ProtocolError(`trustee ${this.index} has not dealt yet: it computes QUAL over the announcements it dealt to`);
    }
    this.ownMessage(messages);
    const absent = [];
    for (let j = 1; j <= p.n; j++) if (!messages.has(j)) absent.push(j);
    if (absent.length) {
      throw new ProtocolError(`the deal messages shown to trustee ${this.index} lack those of trustees ${pyList(absent)}: it `
        + "computes QUAL only over every trustee's deal (a relay dropping honest deals from some views could otherwise "
        + "fork the ceremony); a trustee that does not deal stops the ceremony, which restarts without it");
    }
    const qualification = await qualify(p, this.dealtTo, messages, complaints);
    if (this.qualification !== null
      && canonicalJson(qualificationToJSON(this.qualification)) !== canonicalJson(qualificationToJSON(qualification))) {
      throw new ProtocolError(`trustee ${this.index} already confirmed another qualification: the rounds 1-3 shown now `
        + "differ from those it was shown before");
    }
    if (!qualification.qualified.includes(this.index)) {  // an honest deal is never faulted
      const why = qualification.disqualified.get(this.index) ?? "no reason given";
      throw new ProtocolError(`the rounds 1-3 shown disqualify trustee ${this.index} (${why}), which dealt as the protocol `
        + "asks: whoever relays the deal messages dropped or altered its own");
    }
    const missing = qualification.qualified.filter((i) => i !== this.index && !this.received.has(i));
    if (missing.length) throw new ProtocolError(`trustee ${this.index} holds no valid share from qualified dealers ${pyList(missing)}`);
    this.qualification = qualification;
    this.confirmed = await dealsDigest(g, messages);
    const signature = await SchnorrProof.prove(g, this.encSecret, confirmCtx(p, this.index, qualification), { rng });
    return new Confirmation(this.index, signature);
  }

  /**
   * Round 5, as threshold.dkg.Trustee.reveal: once every qualified trustee has confirmed the
   * qualification this trustee confirmed, the Feldman commitments A_m = g^a_m with, for each m, a
   * proof of a_m (base g) and of b_m for C_m / A_m = h^b_m (base h), both bound to the
   * qualification's hash; null when this trustee is not qualified. Every trustee calls this before
   * it opens or finishes (save {@link Trustee#toState} afterwards). The relay is no broadcast
   * channel: it could show trustees different rounds 1-3 and have each reveal and open under its own.
   * @param {Map<number, Confirmation>} confirmations trustee -> its confirmation, as published
   * @param {{rng?: Rng}} [options]
   * @returns {Promise<Reveal|null>}
   * @throws {ProtocolError} before {@link Trustee#confirm}, or while some qualified trustee has not confirmed its
   *   qualification (it was shown other rounds 1-3, or has not confirmed yet)
   */
  async reveal(confirmations, { rng = systemRng } = {}) {
    if (!(confirmations instanceof Map)) {
      throw new TypeError("reveal takes the qualified trustees' confirmations (round 4), a Map: the trustee computes "
        + "QUAL itself, in confirm()");
    }
    const qualification = this.ownQualification();
    const unconfirmed = [];
    for (const i of qualification.qualified) {
      const c = confirmations.get(i);
      if (!c || !(await c.verify(this.params, this.dealtTo.get(i), qualification))) unconfirmed.push(i);
    }
    if (unconfirmed.length) {
      throw new ProtocolError(`qualified trustees ${pyList(unconfirmed)} have not confirmed the qualification trustee `
        + `${this.index} computed (hash ${toHex(qualification.transcriptHash).slice(0, 16)}): they were shown other `
        + "rounds 1-3 than this trustee, or have not confirmed yet; it reveals and opens nothing before every qualified "
        + "trustee has");
    }
    this.agreed = true;
    if (!qualification.qualified.includes(this.index)) return null;
    const p = this.params;
    const g = p.group;
    const h = await pedersenH(g);
    const bound = qualification.transcriptHash;
    const feldman = this.polynomial.map((a) => g.expG(a));
    const proofs = [];
    for (let m = 0; m < p.k; m++) {
      const feldmanProof = await SchnorrProof.prove(g, this.polynomial[m], p.ctx("dkg-feldman", this.index, m, bound), { rng });
      const blindingProof = await SchnorrProof.prove(g, this.blinding[m], p.ctx("dkg-blinding", this.index, m, bound), { base: h, rng });
      proofs.push({ feldman: feldmanProof, blinding: blindingProof });
    }
    return new Reveal(this.index, feldman, proofs);
  }

  /**
   * Round 6, as threshold.dkg.Trustee.open: this trustee's share pairs from the qualified dealers that
   * it finds without a valid reveal under its qualification (RECON, decided here, never from the
   * server), but its own. Once only (kept in {@link Trustee#opened}, saved with the state): a relay
   * showing each trustee another dealer missing would otherwise collect every polynomial; and never
   * when fewer than k dealers revealed (the ceremony cannot stand then).
   * @param {Map<number, DealerMessage>} messages
   * @param {Map<number, Reveal>} reveals dealer -> reveal, as published
   * @returns {Promise<Opening>}
   * @throws {ProtocolError} before every qualified trustee's confirmation ({@link Trustee#reveal}), for other deal
   *   messages than those it confirmed over, for another RECON than the one opened for, or below k reveals
   */
  async open(messages, reveals) {
    const qualification = this.agreedQualification();
    if (!bytesEqual(await dealsDigest(this.params.group, messages), this.confirmed)) {
      throw new ProtocolError(`the deal messages shown to trustee ${this.index} differ from those it confirmed the `
        + "qualification over: whoever relays them altered the view");
    }
    const recon = await toReconstruct(this.params, qualification, messages, reveals);
    if (this.opened !== null && pyList(this.opened) !== pyList(recon)) {
      throw new ProtocolError(`trustee ${this.index} already opened its shares for dealers ${pyList(this.opened)} to be `
        + `reconstructed, not ${pyList(recon)}: the reveals shown differ from those it was shown before`);
    }
    const revealed = qualification.qualified.length - recon.length;
    if (revealed < this.params.k) {
      throw new ProtocolError(`dealers ${pyList(recon)} did not reveal and only ${revealed} qualified dealers did, `
        + `${this.params.k} needed: trustee ${this.index} opens no share for an outcome that cannot stand`);
    }
    const openings = new Map();
    for (const i of recon) {
      if (i === this.index) continue;
      const pair = this.received.get(i);
      if (!pair) throw new ProtocolError(`trustee ${this.index} holds no valid share from qualified dealers ${pyList([i])}`);
      openings.set(i, { share: pair.share, blinding: pair.blinding });
    }
    this.opened = [...recon];
    return new Opening(this.index, openings);
  }

  /**
   * Take this trustee's own published deal message as its deal, for progress saved by an earlier version (which kept
   * neither the message nor the announcements it went to): only if it is this trustee's index, its commitments, and
   * signed by its key over `announcements`, which hold its key; it has then dealt to those announcements.
   * @param {DealerMessage} message
   * @param {Map<number, Announcement>} announcements
   * @throws {ProtocolError}
   */
  async adoptDeal(message, announcements) {
    const g = this.params.group;
    const own = await this.commitments();
    const mine = message && message.index === this.index && announcements.has(this.index)
      && g.eq(announcements.get(this.index).encKey, this.encKey) && message.commitments.length === own.length
      && message.commitments.every((c, m) => g.eq(c, own[m])) && (await message.signedBy(this.params, announcements));
    if (!mine) {
      throw new ProtocolError(`the deal message shown as trustee ${this.index}'s is not the one it signed: the key ceremony `
        + "must be restarted");
    }
    if (this.dealtTo !== null && canonicalJson(announcementsJson(g, announcements)) !== canonicalJson(announcementsJson(g, this.dealtTo))) {
      throw new ProtocolError(`the deal message shown as trustee ${this.index}'s went to other announcements than those it `
        + "dealt to: the key ceremony must be restarted");
    }
    if (this.dealt === null) {
      this.dealt = message;
      this.dealtTo = new Map(announcements);
    }
  }

  /**
   * Refuse a view of the deal messages without the one this trustee sent, as it sent it (a relay that drops it makes
   * the trustee a disqualified dealer in that view, whose openings no signature of its would cover).
   * @param {Map<number, DealerMessage>} messages
   * @throws {ProtocolError}
   */
  ownMessage(messages) {
    const g = this.params.group;
    const shown = messages.get(this.index);
    if (!this.dealt || !shown || canonicalJson(shown.toJSON(g)) !== canonicalJson(this.dealt.toJSON(g))) {
      throw new ProtocolError(`the deal messages shown do not hold the one trustee ${this.index} sent: whoever relays `
        + "them dropped or altered it");
    }
  }

  /** @returns {Qualification} the qualification this trustee confirmed */
  ownQualification() {
    if (this.qualification === null || this.confirmed === null) {
      throw new ProtocolError(`trustee ${this.index} has not confirmed a qualification yet`);
    }
    return this.qualification;
  }

  /** @returns {Qualification} the qualification every qualified trustee confirmed ({@link Trustee#reveal} checked) */
  agreedQualification() {
    const qualification = this.ownQualification();
    if (!this.agreed) {
      throw new ProtocolError(`trustee ${this.index} has not seen every qualified trustee's confirmation of its `
        + "qualification (reveal checks them)");
    }
    return qualification;
  }

  /**
   * Refuse an outcome of other rounds 1-3 than those this trustee confirmed, or one reconstructing other
   * dealers than those it opened its shares for.
   * @param {CeremonyResult} result
   * @throws {ProtocolError|VerificationError}
   */
  checkResult(result) {
    const own = this.agreedQualification().transcriptHash;
    if (!(result.qualificationHash instanceof Uint8Array) || !bytesEqual(result.qualificationHash, own)) {
      throw new VerificationError(`trustee ${this.index}: the outcome is not of the qualification it confirmed`);
    }
    if (this.opened !== null && pyList(this.opened) !== pyList(result.reconstructed)) {
      throw new VerificationError(`trustee ${this.index}: the outcome reconstructs dealers ${pyList(result.reconstructed)}, `
        + `it opened its shares for ${pyList(this.opened)}`);
    }
    checkKeyPolynomial(this.params, result);
  }

  /**
   * This trustee's share of the joint secret: the sum of the qualified dealers' shares (only of an
   * outcome of the qualification it confirmed).
   * @param {CeremonyResult} result from {@link adjudicate}
   * @returns {TrusteeKey}
   * @throws {ProtocolError|VerificationError}
   */
  finish(result) {
    this.checkResult(result);
    const g = this.params.group;
    const missing = result.qualified.filter((i) => i !== this.index && !this.received.has(i));
    if (missing.length) throw new ProtocolError(`trustee ${this.index} holds no valid share from qualified dealers ${pyList(missing)}`);
    let secret = 0n;
    for (const i of result.qualified) {
      secret += i === this.index ? evaluatePolynomial(this.polynomial, this.index, g.q) : this.received.get(i).share;
    }
    secret = mod(secret, g.q);
    if (!g.eq(g.expG(secret), result.verificationKeys.get(this.index))) {
      throw new VerificationError(`trustee ${this.index}: share does not match its verification key`);
    }
    return new TrusteeKey(g, this.index, secret, result.publicKey, new Map(result.verificationKeys));
  }

  /**
   * Signature on the transcript hash with the announced encryption key: only of an outcome that {@link finish}
   * accepts (the qualification this trustee confirmed, and its own share fits its verification key).
   * @param {CeremonyResult} result
   * @param {{rng?: Rng}} [options]
   * @returns {Promise<SchnorrProof>}
   * @throws {ProtocolError|VerificationError}
   */
  async sign(result, { rng = systemRng } = {}) {
    this.finish(result);
    const p = this.params;
    return SchnorrProof.prove(p.group, this.encSecret, p.ctx("dkg-transcript", this.index, result.transcriptHash), { rng });
  }
}
