/**
 * A trustee's side of the Pedersen DKG of threshold/dkg.py, with the public adjudication
 * that lets the trustee check the outcome before signing it. Round 1: announce an encryption
 * key (with a Schnorr proof) and the hash of the Feldman commitments. Round 2: deal: reveal
 * the commitments, prove knowledge of the constant term, send every other trustee its share
 * by hybrid encryption. Round 3: check the received shares and complain, opening the KEM
 * secret with a Chaum-Pedersen proof. Then adjudicate, finish (own key share) and sign the
 * transcript hash. Every message's JSON and every hash equal Python's.
 * @module dkg
 */

import { DecodeError, ProtocolError, VerificationError } from "./errors.js";
import { bytesEqual, fromHex, toHex } from "./bytes.js";
import { bigIntToBytes, bytesToBigInt, mod, systemRng } from "./bigint.js";
import { canonicalJsonBytes, encode } from "./encoding.js";
import { sha256 } from "./hashing.js";
import { expectInt, expectList, expectObject } from "./fields.js";
import { ChaumPedersenProof, SchnorrProof } from "./proofs.js";
import * as hybrid from "./hybrid.js";
import { evaluatePolynomial, expectedCommitment, feldmanCommit, feldmanVerify } from "./vss.js";

/**
 * @typedef {import("./group.js").Group} Group
 * @typedef {import("./bigint.js").Rng} Rng
 */

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
    return expectInt(index, 1, this.n, field);
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

/**
 * What a trustee commits to in round 1: sha256(encode("dkg-commitments", [C_j bytes])).
 * @param {Group} group
 * @param {any[]} commitments
 * @returns {Promise<Uint8Array>}
 */
export function commitmentsHash(group, commitments) {
  return sha256(encode("dkg-commitments", commitments.map((c) => group.encode(c))));
}

function shareAad(params, dealer, recipient) {
  return params.ctx("dkg-share", dealer, recipient);
}

function complaintCtx(params, accuser, dealer) {
  return params.ctx("dkg-complaint", accuser, dealer);
}

function indexKeys(obj, field) {
  for (const key of Object.keys(obj)) {
    if (!/^[1-9][0-9]{0,5}$/.test(key)) throw new DecodeError(`${field}.${key}`, "expected a trustee index as key");
  }
  return Object.keys(obj).map(Number).sort((a, b) => a - b);
}

/** Round 1: encryption key, its proof, and the commitment hash. */
export class Announcement {
  /** @param {number} index @param {any} encKey @param {SchnorrProof} encProof @param {Uint8Array} commitHash */
  constructor(index, encKey, encProof, commitHash) {
    this.index = index;
    this.encKey = encKey;
    this.encProof = encProof;
    this.commitHash = commitHash;
  }

  /** @param {Group} group @returns {object} the JSON of threshold.dkg.Announcement.to_json */
  toJSON(group) {
    return { index: this.index, enc_key: group.toHex(this.encKey), enc_proof: this.encProof.toJSON(group),
      commit_hash: toHex(this.commitHash) };
  }

  /**
   * @param {CeremonyParams} params
   * @param {unknown} obj
   * @param {string} [field]
   * @returns {Announcement}
   * @throws {DecodeError}
   */
  static fromJSON(params, obj, field = "announcement") {
    const o = expectObject(obj, ["index", "enc_key", "enc_proof", "commit_hash"], field);
    const g = params.group;
    return new Announcement(params.checkIndex(o.index, `${field}.index`), g.fromHex(o.enc_key, `${field}.enc_key`),
      SchnorrProof.fromJSON(g, o.enc_proof, `${field}.enc_proof`), fromHex(o.commit_hash, 32, `${field}.commit_hash`));
  }

  /** @param {CeremonyParams} params @returns {Promise<boolean>} whether the key's proof holds */
  verify(params) {
    return this.encProof.verify(params.group, this.encKey, params.ctx("enc-key", this.index));
  }
}

/** Round 2: commitments, proof of the constant term, encrypted shares keyed by recipient. */
export class DealerMessage {
  /**
   * @param {number} index
   * @param {any[]} commitments
   * @param {SchnorrProof} proof
   * @param {Map<number, import("./hybrid.js").HybridCiphertext>} shares
   */
  constructor(index, commitments, proof, shares) {
    this.index = index;
    this.commitments = commitments;
    this.proof = proof;
    this.shares = shares;
  }

  /** @param {Group} group @returns {object} the JSON of threshold.dkg.DealerMessage.to_json */
  toJSON(group) {
    const shares = {};
    for (const j of [...this.shares.keys()].sort((a, b) => a - b)) shares[String(j)] = hybrid.hybridToJSON(group, this.shares.get(j));
    return { index: this.index, commitments: this.commitments.map((c) => group.toHex(c)),
      proof: this.proof.toJSON(group), shares };
  }

  /**
   * @param {CeremonyParams} params
   * @param {unknown} obj
   * @param {string} [field]
   * @returns {DealerMessage}
   * @throws {DecodeError}
   */
  static fromJSON(params, obj, field = "dealer") {
    const o = expectObject(obj, ["index", "commitments", "proof", "shares"], field);
    const g = params.group;
    const index = params.checkIndex(o.index, `${field}.index`);
    const commitments = expectList(o.commitments, params.k, `${field}.commitments`)
      .map((c, m) => g.fromHex(c, `${field}.commitments[${m}]`));
    if (typeof o.shares !== "object" || o.shares === null || Array.isArray(o.shares)) {
      throw new DecodeError(`${field}.shares`, "expected an object keyed by recipient index");
    }
    const expected = [];
    for (let j = 1; j <= params.n; j++) if (j !== index) expected.push(j);
    const have = indexKeys(o.shares, `${field}.shares`);
    if (have.join() !== expected.join()) {
      throw new DecodeError(`${field}.shares`, `expected one share for each of ${JSON.stringify(expected)}`);
    }
    const shares = new Map(have.map((j) => [j, hybrid.hybridFromJSON(g, o.shares[String(j)], `${field}.shares.${j}`)]));
    return new DealerMessage(index, commitments, SchnorrProof.fromJSON(g, o.proof, `${field}.proof`), shares);
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
    return new Complaint(params.checkIndex(o.accuser, `${field}.accuser`), params.checkIndex(o.dealer, `${field}.dealer`),
      g.fromHex(o.kem_secret, `${field}.kem_secret`), ChaumPedersenProof.fromJSON(g, o.proof, `${field}.proof`));
  }
}

/**
 * The public outcome, recomputed by each trustee from the public messages with {@link adjudicate}.
 * @typedef {object} CeremonyResult
 * @property {number[]} qualified
 * @property {Map<number, string>} disqualified dealer -> reason
 * @property {any} publicKey the joint election key
 * @property {Map<number, any>} verificationKeys trustee -> g^x_j
 * @property {Uint8Array} transcriptHash what every trustee signs
 * @property {Array<[number, number]>} rejectedComplaints (accuser, dealer)
 */

/**
 * JSON of a result, as threshold.dkg.CeremonyResult.to_json: {qualified, disqualified, public_key,
 * verification_keys, transcript_hash, rejected_complaints}.
 * @param {Group} group
 * @param {CeremonyResult} result
 * @returns {object}
 */
export function resultToJSON(group, result) {
  const disqualified = {};
  for (const [i, why] of result.disqualified) disqualified[String(i)] = why;
  const vks = {};
  for (const [j, v] of result.verificationKeys) vks[String(j)] = group.toHex(v);
  return { qualified: [...result.qualified], disqualified, public_key: group.toHex(result.publicKey),
    verification_keys: vks, transcript_hash: toHex(result.transcriptHash),
    rejected_complaints: result.rejectedComplaints.map(([a, d]) => [a, d]) };
}

async function checkAnnouncements(params, announcements) {
  const complete = announcements.size === params.n && [...announcements.keys()].every((i) => Number.isInteger(i) && i >= 1 && i <= params.n);
  if (!complete) throw new ProtocolError(`announcements needed from all trustees 1..${params.n}`);
  for (let i = 1; i <= params.n; i++) {
    const a = announcements.get(i);
    if (a.index !== i || !(await a.verify(params))) throw new VerificationError(`trustee ${i}: invalid encryption key announcement`);
  }
}

/**
 * Decide the ceremony from public data only, exactly as threshold.dkg.adjudicate: a trustee
 * runs this itself rather than trusting a result handed to it.
 * @param {CeremonyParams} params
 * @param {Map<number, Announcement>} announcements
 * @param {Map<number, DealerMessage>} messages
 * @param {Complaint[]} complaints in board order
 * @returns {Promise<CeremonyResult>}
 * @throws {ProtocolError} when fewer than k dealers qualify
 */
export async function adjudicate(params, announcements, messages, complaints) {
  const g = params.group;
  await checkAnnouncements(params, announcements);
  const disqualified = new Map();
  for (let i = 1; i <= params.n; i++) {
    const msg = messages.get(i);
    const others = [];
    for (let j = 1; j <= params.n; j++) if (j !== i) others.push(j);
    if (!msg) disqualified.set(i, "did not reveal its commitments");
    else if (msg.index !== i) disqualified.set(i, "message index does not match");
    else if (!bytesEqual(await commitmentsHash(g, msg.commitments), announcements.get(i).commitHash)) {
      disqualified.set(i, "revealed commitments differ from the committed hash");
    } else if (msg.commitments.length !== params.k || msg.commitments.some((c) => g.eq(c, g.identity))) {
      disqualified.set(i, "malformed commitments");
    } else if (!(await msg.proof.verify(g, msg.commitments[0], params.ctx("dkg-constant", i)))) {
      disqualified.set(i, "invalid proof of knowledge of the constant term");
    } else if ([...msg.shares.keys()].sort((a, b) => a - b).join() !== others.join()) {
      disqualified.set(i, "did not send a share to every trustee");
    } else {
      for (const j of others) {
        if (!(await hybrid.ephemeralValid(g, msg.shares.get(j), shareAad(params, i, j)))) {
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
    if (!(await c.proof.verify(g, g.g, E, ct.ephemeral, c.kemSecret, complaintCtx(params, c.accuser, c.dealer)))) {
      rejected.push([c.accuser, c.dealer]);
      continue;
    }
    let value = g.q;
    try {
      const raw = await hybrid.openWith(g, c.kemSecret, ct, shareAad(params, c.dealer, c.accuser));
      if (raw.length === 32) value = bytesToBigInt(raw);
    } catch (err) {
      if (!(err instanceof VerificationError)) throw err;
    }
    if (value >= g.q || !feldmanVerify(g, messages.get(c.dealer).commitments, c.accuser, value)) {
      disqualified.set(c.dealer, `complaint by trustee ${c.accuser} upheld: invalid share`);
    } else {
      rejected.push([c.accuser, c.dealer]);
    }
  }
  const qualified = [];
  for (let i = 1; i <= params.n; i++) if (!disqualified.has(i)) qualified.push(i);
  if (qualified.length < params.k) throw new ProtocolError(`only ${qualified.length} qualified dealers, ${params.k} needed`);
  const publicKey = g.prod(qualified.map((i) => messages.get(i).commitments[0]));
  const verificationKeys = new Map();
  for (let j = 1; j <= params.n; j++) {
    verificationKeys.set(j, g.prod(qualified.map((i) => expectedCommitment(g, messages.get(i).commitments, j))));
  }
  const sorted = (m) => [...m.keys()].sort((a, b) => a - b).map((i) => m.get(i));
  const transcriptHash = await sha256(encode(
    "dkg-transcript", params.context, params.n, params.k,
    sorted(announcements).map((a) => canonicalJsonBytes(a.toJSON(g))),
    sorted(messages).map((m) => canonicalJsonBytes(m.toJSON(g))),
    complaints.map((c) => canonicalJsonBytes(c.toJSON(g))),
    qualified, g.encode(publicKey)));
  return { qualified, disqualified, publicKey, verificationKeys, transcriptHash, rejectedComplaints: rejected };
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
    if (typeof o.verification_keys !== "object" || o.verification_keys === null || Array.isArray(o.verification_keys)) {
      throw new DecodeError("trustee_key.verification_keys", "expected an object");
    }
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
   * @param {bigint[]} polynomial
   * @param {Map<number, bigint>} received valid shares from other dealers
   */
  constructor(params, index, encSecret, polynomial, received) {
    this.params = params;
    this.index = params.checkIndex(index);
    this.encSecret = encSecret;
    this.encKey = params.group.expG(encSecret);
    this.polynomial = polynomial;
    this.commitments = feldmanCommit(params.group, polynomial);
    this.received = received;
  }

  /**
   * A new trustee with a fresh encryption key and polynomial (draws: encryption secret, then
   * the k coefficients, as threshold.dkg.Trustee).
   * @param {CeremonyParams} params
   * @param {number} index
   * @param {{rng?: Rng}} [options]
   * @returns {Trustee}
   */
  static create(params, index, { rng = systemRng } = {}) {
    const g = params.group;
    const encSecret = g.randomScalar(rng);
    const polynomial = [];
    for (let j = 0; j < params.k; j++) polynomial.push(g.randomScalar(rng));
    return new Trustee(params, index, encSecret, polynomial, new Map());
  }

  /**
   * The secret state to keep between rounds (seal it with keystore.js): JSON with hex scalars.
   * @returns {object}
   */
  toState() {
    const g = this.params.group;
    const received = {};
    for (const j of [...this.received.keys()].sort((a, b) => a - b)) received[String(j)] = g.scalarToHex(this.received.get(j));
    return { group: g.name, context: toHex(this.params.context), n: this.params.n, k: this.params.k, index: this.index,
      enc_secret: g.scalarToHex(this.encSecret), polynomial: this.polynomial.map((a) => g.scalarToHex(a)), received };
  }

  /**
   * Restore a trustee from {@link Trustee#toState}, refusing state of another ceremony.
   * @param {CeremonyParams} params
   * @param {unknown} state
   * @returns {Trustee}
   * @throws {DecodeError}
   */
  static fromState(params, state) {
    const o = expectObject(state, ["group", "context", "n", "k", "index", "enc_secret", "polynomial", "received"], "state");
    const g = params.group;
    if (o.group !== g.name) throw new DecodeError("state.group", `expected ${g.name}, got ${JSON.stringify(o.group)}`);
    if (o.context !== toHex(params.context) || o.n !== params.n || o.k !== params.k) {
      throw new DecodeError("state.context", "the saved state belongs to another ceremony");
    }
    if (typeof o.received !== "object" || o.received === null || Array.isArray(o.received)) {
      throw new DecodeError("state.received", "expected an object");
    }
    const received = new Map(indexKeys(o.received, "state.received")
      .map((j) => [params.checkIndex(j, `state.received.${j}`), g.scalarFromHex(o.received[String(j)], `state.received.${j}`)]));
    return new Trustee(params, params.checkIndex(o.index, "state.index"), g.scalarFromHex(o.enc_secret, "state.enc_secret"),
      expectList(o.polynomial, params.k, "state.polynomial").map((a, j) => g.scalarFromHex(a, `state.polynomial[${j}]`)),
      received);
  }

  /**
   * Round 1.
   * @param {{rng?: Rng}} [options]
   * @returns {Promise<Announcement>}
   */
  async announce({ rng = systemRng } = {}) {
    const p = this.params;
    const proof = await SchnorrProof.prove(p.group, this.encSecret, p.ctx("enc-key", this.index), { rng });
    return new Announcement(this.index, this.encKey, proof, await commitmentsHash(p.group, this.commitments));
  }

  /**
   * Round 2: reveal the commitments and encrypt every other trustee's share to its key.
   * @param {Map<number, Announcement>} announcements every trustee's, this one's included
   * @param {{rng?: Rng}} [options]
   * @returns {Promise<DealerMessage>}
   * @throws {ProtocolError|VerificationError} when an announcement is missing or invalid
   */
  async deal(announcements, { rng = systemRng } = {}) {
    const p = this.params;
    const g = p.group;
    await checkAnnouncements(p, announcements);
    const proof = await SchnorrProof.prove(g, this.polynomial[0], p.ctx("dkg-constant", this.index), { rng });
    const shares = new Map();
    for (let j = 1; j <= p.n; j++) {
      if (j === this.index) continue;
      const value = bigIntToBytes(evaluatePolynomial(this.polynomial, j, g.q), 32);
      shares.set(j, await hybrid.encrypt(g, announcements.get(j).encKey, value, shareAad(p, this.index, j), { rng }));
    }
    return new DealerMessage(this.index, [...this.commitments], proof, shares);
  }

  /**
   * Round 3: decrypt the shares addressed to this trustee, keep the valid ones, and return a
   * complaint (with the opened KEM secret and its proof) for each invalid one.
   * @param {Map<number, DealerMessage>} messages
   * @param {{rng?: Rng}} [options]
   * @returns {Promise<Complaint[]>}
   */
  async checkShares(messages, { rng = systemRng } = {}) {
    const p = this.params;
    const g = p.group;
    const complaints = [];
    for (const i of [...messages.keys()].sort((a, b) => a - b)) {
      if (i === this.index) continue;
      const msg = messages.get(i);
      const ct = msg.shares.get(this.index);
      if (!ct || !(await hybrid.ephemeralValid(g, ct, shareAad(p, i, this.index)))) {
        continue; // public faults: adjudicate disqualifies the dealer; never reveal S for them
      }
      let value = null;
      try {
        const raw = await hybrid.decrypt(g, this.encSecret, ct, shareAad(p, i, this.index));
        if (raw.length === 32) value = bytesToBigInt(raw);
      } catch (err) {
        if (!(err instanceof VerificationError)) throw err;
      }
      if (value !== null && value < g.q && feldmanVerify(g, msg.commitments, this.index, value)) {
        this.received.set(i, value);
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
   * This trustee's share of the joint secret: the sum of the qualified dealers' shares.
   * @param {CeremonyResult} result from {@link adjudicate}
   * @returns {TrusteeKey}
   * @throws {ProtocolError|VerificationError}
   */
  finish(result) {
    const g = this.params.group;
    const missing = result.qualified.filter((i) => i !== this.index && !this.received.has(i));
    if (missing.length) throw new ProtocolError(`trustee ${this.index} holds no valid share from qualified dealers ${JSON.stringify(missing)}`);
    let secret = 0n;
    for (const i of result.qualified) {
      secret += i === this.index ? evaluatePolynomial(this.polynomial, this.index, g.q) : this.received.get(i);
    }
    secret = mod(secret, g.q);
    if (!g.eq(g.expG(secret), result.verificationKeys.get(this.index))) {
      throw new VerificationError(`trustee ${this.index}: share does not match its verification key`);
    }
    return new TrusteeKey(g, this.index, secret, result.publicKey, new Map(result.verificationKeys));
  }

  /**
   * Signature on the transcript hash with the announced encryption key.
   * @param {CeremonyResult} result
   * @param {{rng?: Rng}} [options]
   * @returns {Promise<SchnorrProof>}
   */
  sign(result, { rng = systemRng } = {}) {
    const p = this.params;
    return SchnorrProof.prove(p.group, this.encSecret, p.ctx("dkg-transcript", this.index, result.transcriptHash), { rng });
  }
}
