/**
 * Ballots in the browser, mirroring voting/ballot.py and voting/credentials.py: one ciphertext and
 * 0/1 proof per option, a range proof per contest for its limits, the ballot hash signed with the
 * credential's Ed25519 key (WebCrypto), and the Benaloh reveal and its check.
 * @module booth/ballot
 */

import { mod } from "../crypto/bigint.js";
import { fromHex, toHex, utf8 } from "../crypto/bytes.js";
import { ciphertextEqual, ciphertextFromJSON, ciphertextToJSON, encryptWith, provenCiphertextFromJSON } from "../crypto/elgamal.js";
import { canonicalJson, encode } from "../crypto/encoding.js";
import { sha256 } from "../crypto/hashing.js";
import { RangeProof } from "../crypto/proofs.js";
import { contestRules } from "./election.js";

const ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
const CREDENTIAL_CHARS = 24;
const PKCS8_ED25519 = fromHex("302e020100300506032b657004220420", 16, "pkcs8");

/** Whether text looks like a private credential (24 base58 characters). */
export function credentialWellFormed(text) {
  return typeof text === "string" && text.length === CREDENTIAL_CHARS && [...text].every((c) => ALPHABET.includes(c));
}

/**
 * The voter's Ed25519 key pair from the private credential (voting.credentials.signing_key):
 * seed = SHA-256(encode("quorum/credential", election_id, credential)).
 */
export async function credentialKey(electionId, credential) {
  if (!credentialWellFormed(credential)) throw new Error(`a credential is ${CREDENTIAL_CHARS} characters (letters and digits, no 0, O, I or l)`);
  const seed = await sha256(encode("quorum/credential", electionId, credential));
  const pkcs8 = new Uint8Array(PKCS8_ED25519.length + seed.length);
  pkcs8.set(PKCS8_ED25519);
  pkcs8.set(seed, PKCS8_ED25519.length);
  const privateKey = await crypto.subtle.importKey("pkcs8", pkcs8, { name: "Ed25519" }, true, ["sign"]);
  const jwk = await crypto.subtle.exportKey("jwk", privateKey);
  const publicHex = toHex(base64UrlBytes(jwk.x));
  return { privateKey, publicHex };
}

function base64UrlBytes(text) {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(text.length / 4) * 4, "=");
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

function selectionContext(ctx, credential, contestId, optionId) {
  return encode("quorum/selection", ctx.baseHash, fromHex(credential, 32, "credential"), contestId, optionId);
}

function contestContext(ctx, credential, contestId) {
  return encode("quorum/contest", ctx.baseHash, fromHex(credential, 32, "credential"), contestId);
}

/** The hash the credential signs (voting.ballot.ballot_hash). */
export async function ballotHash(ctx, body) {
  return sha256(encode("quorum/ballot", ctx.baseHash, utf8(canonicalJson(body))));
}

function limitsCiphertext(ctx, rules, cts) {
  const g = ctx.group;
  return { alpha: g.prod(cts.map((c) => c.alpha)), beta: g.div(g.prod(cts.map((c) => c.beta)), g.expG(BigInt(rules.min))) };
}

/**
 * Check {contest id: [option ids]} against the manifest and return the 0/1 vectors.
 * Errors name the contest and the rule broken, as voting.ballot.validate_choices does.
 */
export function validateChoices(manifest, choices) {
  const out = {};
  for (const contest of manifest.contests) {
    const rules = contestRules(contest);
    const chosen = choices[contest.id] ?? [];
    if (chosen.length > rules.max) throw new Error(`${contest.title}: at most ${rules.max} choices allowed, you chose ${chosen.length}`);
    if (chosen.length < rules.min) throw new Error(`${contest.title}: choose ${rules.min === rules.max ? "exactly" : "at least"} ${rules.min}, you chose ${chosen.length}`);
    out[contest.id] = rules.options.map((o) => (chosen.includes(o) ? 1 : 0));
  }
  return out;
}

/** The largest re-vote counter a ballot may carry (voting.ballot.MAX_REVOTE). */
export const MAX_REVOTE = 2 ** 31 - 1;

/**
 * Encrypt, prove and sign a ballot. Returns the ballot JSON, its hash (hex) and the secrets a
 * Benaloh challenge reveals. `revote` is the credential's re-vote counter, signed in the body: 0 for
 * its first ballot, then the number of its cast ballots on the board (GET .../revote/{credential});
 * a challenged ballot consumes none.
 */
export async function encryptBallot(ctx, key, choices, revote, onProgress = () => {}) {
  if (!Number.isSafeInteger(revote) || revote < 0 || revote > MAX_REVOTE) {
    throw new Error(`revote: expected an integer from 0 to ${MAX_REVOTE}`);
  }
  const vectors = validateChoices(ctx.manifest, choices);
  const g = ctx.group;
  const pk = ctx.publicKey;
  const cred = key.publicHex;
  const contests = [];
  const secrets = { plaintexts: {}, nonces: {} };
  const total = ctx.manifest.contests.reduce((n, c) => n + contestRules(c).options.length, 0);
  let done = 0;
  for (const contest of ctx.manifest.contests) {
    const rules = contestRules(contest);
    const cts = [];
    const proofs = [];
    const rs = [];
    for (let j = 0; j < rules.options.length; j++) {
      const m = vectors[contest.id][j];
      const { ciphertext, r } = pk.encrypt(m);
      cts.push(ciphertext);
      rs.push(r);
      proofs.push(await RangeProof.prove(pk, ciphertext, m, r, 1, selectionContext(ctx, cred, contest.id, rules.options[j])));
      onProgress(++done, total);
    }
    const count = vectors[contest.id].reduce((a, b) => a + b, 0);
    const rSum = mod(rs.reduce((a, b) => a + b, 0n), g.q);
    const limitProof = await RangeProof.prove(pk, limitsCiphertext(ctx, rules, cts), count - rules.min, rSum,
      rules.max - rules.min, contestContext(ctx, cred, contest.id));
    secrets.plaintexts[contest.id] = vectors[contest.id];
    secrets.nonces[contest.id] = rs;
    contests.push({
      id: contest.id,
      selections: cts.map((c) => ciphertextToJSON(g, c)),
      proofs: proofs.map((p) => p.toJSON(g)),
      limit_proof: limitProof.toJSON(g),
    });
  }
  const body = { credential: cred, contests, revote };
  const digest = await ballotHash(ctx, body);
  const signature = new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, key.privateKey, digest));
  return { ballot: { ...body, signature: toHex(signature) }, hash: toHex(digest), secrets };
}

/**
 * The ciphertexts of a ballot, per contest in manifest order, read for ballotEquations to check next (their
 * membership follows from the proofs: provenCiphertextFromJSON); an Error naming the entry when the ballot's shape
 * is not the manifest's (contests, their ids, one ciphertext and 0/1 proof per option), as
 * voting.ballot.parse_ballot refuses it.
 * @param {string} where e.g. "the ballot at entry 12"
 */
export function ballotCiphertexts(ctx, ballot, where) {
  const contests = ballot && ballot.contests;
  if (!Array.isArray(contests) || contests.length !== ctx.manifest.contests.length) {
    throw new Error(`${where} does not have the manifest's contests`);
  }
  return ctx.manifest.contests.map((contest, i) => {
    const options = contestRules(contest).options.length;
    const held = contests[i];
    if (!held || held.id !== contest.id || !Array.isArray(held.selections) || held.selections.length !== options
        || !Array.isArray(held.proofs) || held.proofs.length !== options) {
      throw new Error(`${where} does not hold one ciphertext and proof per option of ${contest.id}`);
    }
    return held.selections.map((ct, j) => provenCiphertextFromJSON(ctx.group, ct, `${where}: ${contest.id} selection ${j + 1}`));
  });
}

/**
 * The verification equations of every proof of a ballot (voting.ballot.ballot_equations): each option's 0/1 proof
 * and each contest's limit proof, under contexts bound to the ballot's credential; `selections` from
 * ballotCiphertexts. A malformed proof raises a DecodeError naming it.
 */
export async function ballotEquations(ctx, ballot, selections) {
  const g = ctx.group;
  const credential = ballot.credential;
  const equations = [];
  for (const [i, contest] of ctx.manifest.contests.entries()) {
    const rules = contestRules(contest);
    const held = ballot.contests[i];
    const cts = selections[i];
    for (const [j, option] of rules.options.entries()) {
      const proof = RangeProof.fromJSON(g, held.proofs[j], 1, `${contest.id}.proofs[${j}]`);
      equations.push(...await proof.equations(ctx.publicKey, cts[j], selectionContext(ctx, credential, contest.id, option)));
    }
    const limit = RangeProof.fromJSON(g, held.limit_proof, rules.max - rules.min, `${contest.id}.limit_proof`);
    equations.push(...await limit.equations(ctx.publicKey, limitsCiphertext(ctx, rules, cts),
      contestContext(ctx, credential, contest.id)));
  }
  return equations;
}

/** The Benaloh reveal of a challenged ballot (voting.ballot.reveal_json). */
export function revealJson(ctx, secrets) {
  return ctx.manifest.contests.map((c) => ({
    id: c.id,
    plaintexts: secrets.plaintexts[c.id],
    nonces: secrets.nonces[c.id].map((r) => ctx.group.scalarToHex(r)),
  }));
}

/**
 * The Benaloh check, in this browser, of a challenged ballot as published on the board: every
 * ciphertext must be the encryption of the revealed plaintext with the revealed nonce. Returns the
 * choices the ballot held, per contest, as option labels, and the problems found (none if it checks).
 */
export function checkReveal(ctx, ballot, reveal) {
  const g = ctx.group;
  const problems = [];
  const choices = {};
  ctx.manifest.contests.forEach((contest, i) => {
    const rules = contestRules(contest);
    const item = reveal[i];
    const published = ballot.contests[i];
    choices[contest.id] = [];
    if (!item || item.id !== contest.id || !published || published.id !== contest.id) {
      problems.push(`${contest.title}: missing from the ballot or its reveal`);
      return;
    }
    rules.options.forEach((option, j) => {
      const m = item.plaintexts[j];
      const r = g.scalarFromHex(item.nonces[j], `reveal[${i}].nonces[${j}]`);
      const ct = ciphertextFromJSON(g, published.selections[j], `ballot.contests[${i}].selections[${j}]`);
      if ((m !== 0 && m !== 1) || !ciphertextEqual(g, encryptWith(ctx.publicKey, m, r), ct)) {
        problems.push(`${contest.title}, ${rules.labels[j]}: the ciphertext is not what was revealed`);
      } else if (m === 1) {
        choices[contest.id].push(rules.labels[j]);
      }
    });
  });
  return { choices, problems };
}
