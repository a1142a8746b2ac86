/**
 * The trustee's own recount before decrypting (voting.tally.counted_ballots and product), on a board it has checked
 * first: the chain (seq, prev, hash) and the board's signature on every entry, by the key of the setup entry; every
 * counted ballot from a credential of the published list and signed by it. So a server cannot show this trustee a
 * tally made of ballots it invented (one voter's ballot among ballots of zeros: ATTACKS row 12) without its own
 * signature on that board, which is then evidence against it; and every counted ballot's proofs hold, so that no
 * ballot of the tally can cancel the others out or count a choice twice. The proofs are checked a chunk of ballots
 * at a time as one weighted product, and they stand for the ballots' membership tests (provenCiphertextFromJSON);
 * the tally is read strictly (docs/spec.md §10.8).
 * @module trustee/tally
 */

import { checkChain, ed25519Valid } from "../board.js";
import { ballotCiphertexts, ballotEquations } from "../booth/ballot.js";
import { contestRules } from "../booth/election.js";
import { fromHex, utf8 } from "../crypto/bytes.js";
import { canonicalJson, encode } from "../crypto/encoding.js";
import { holdsWeightedYielding } from "../crypto/batch.js";
import { PublicKey, ciphertextEqual, ciphertextFromJSON } from "../crypto/elgamal.js";
import { keyTables } from "../crypto/proofs.js";
import { sha256 } from "../crypto/hashing.js";

/** Proof equations checked as one weighted product (one multi-exponentiation by Pippenger's buckets): whole ballots
 * are added to a chunk until it holds this many (about 30 ballots of 12 options: 3 s in modp), then progress is
 * shown; within a chunk the multi-exponentiation hands the event loop back between its windows (about every 0.1 s in
 * modp: holdsWeightedYielding), so the page does not freeze for the chunk's seconds. A chunk that fails is checked ballot by ballot to name its first
 * ballot whose proofs fail. */
const CHUNK_EQUATIONS = 2048;

/** Whether a ballot has what the recount reads before its full check: an object with a credential, a re-vote number,
 * a signature and contests holding lists of {alpha, beta} strings. */
function ballotShaped(ballot) {
  const isObject = (x) => x !== null && typeof x === "object" && !Array.isArray(x);
  return isObject(ballot) && typeof ballot.credential === "string" && Number.isSafeInteger(ballot.revote)
    && typeof ballot.signature === "string" && Array.isArray(ballot.contests)
    && ballot.contests.every((c) => isObject(c) && Array.isArray(c.selections)
      && c.selections.every((ct) => isObject(ct) && typeof ct.alpha === "string" && typeof ct.beta === "string"));
}

/** The counted ballots, each refused unless its credential is on the published list (every cast's) and signed it: the re-vote
 * rule as the verifier checks it (voting.verifier: a credential's cast ballots carry the counters 0, 1, 2, ... in
 * board order, and its last one counts), and no cast ballot that is also on the board as challenged (its opening
 * is public: ATTACKS row 15), and no ciphertext in two ballots (a copy), and every proof of each counted ballot
 * holding (the verifier's ballot_proofs: a ballot whose ciphertexts invert the others' would leave one voter's
 * ballot as the tally, ATTACKS row 12). Returns each counted ballot with its ciphertexts, per contest. */
async function countedBallots(group, entries, baseHash, onProgress) {
  const published = new Set(entries.find((e) => e.type === "credentials").payload.credentials);
  const challenged = new Set(entries.filter((e) => e.type === "spoil").map((e) => canonicalJson(e.payload.ballot)));
  const last = new Map();
  const casts = new Map();
  const alphas = new Map();  // no ciphertext twice across ballots (a copied or replayed ballot: verifier's uniqueness)
  for (const e of entries) {
    if (e.type !== "cast" && e.type !== "spoil") continue;
    if (!ballotShaped(e.payload.ballot)) throw new Error(`the ballot at entry ${e.seq} is malformed: refusing to decrypt`);
    for (const contest of e.payload.ballot.contests) {
      for (const ct of contest.selections) {
        if (alphas.has(ct.alpha)) {
          throw new Error(`the ballot at entry ${e.seq} reuses a ciphertext of entry ${alphas.get(ct.alpha)}: refusing to decrypt`);
        }
        alphas.set(ct.alpha, e.seq);
      }
    }
    if (e.type !== "cast") continue;
    const ballot = e.payload.ballot;
    if (!published.has(ballot.credential)) {
      throw new Error(`the ballot at entry ${e.seq} is not from a published credential: refusing to decrypt`);
    }
    const next = casts.get(ballot.credential) ?? 0;
    if (ballot.revote !== next) {
      throw new Error(`the ballot at entry ${e.seq} carries re-vote number ${ballot.revote} where ${next} is next: `
        + "refusing to decrypt");
    }
    if (challenged.has(canonicalJson(ballot))) {
      throw new Error(`the ballot at entry ${e.seq} is a challenged ballot cast again: refusing to decrypt`);
    }
    casts.set(ballot.credential, next + 1);
    last.set(ballot.credential, { seq: e.seq, ballot });
  }
  const counted = [...last.values()].sort((a, b) => a.seq - b.seq);
  const setup = entries.find((e) => e.type === "setup").payload;
  const ctx = { group, baseHash, manifest: setup.manifest,
    publicKey: PublicKey.fromHex(group, entries.find((e) => e.type === "key_ceremony").payload.public_key) };
  const tables = keyTables(ctx.publicKey);
  for (let start = 0; start < counted.length;) {
    const chunk = [];
    const equations = [];
    while (start < counted.length && equations.length < CHUNK_EQUATIONS) {
      const item = counted[start++];
      chunk.push(item);
      const { seq, ballot } = item;
      const where = `the ballot at entry ${seq}`;
      const { signature, ...body } = ballot;
      const digest = await sha256(encode("quorum/ballot", baseHash, utf8(canonicalJson(body))));
      if (!await ed25519Valid(fromHex(ballot.credential, 32, "credential"), fromHex(signature, 64, "signature"), digest)) {
        throw new Error(`${where} is not signed by its credential: refusing to decrypt`);
      }
      try {
        item.selections = ballotCiphertexts(ctx, ballot, where);
        item.equations = await ballotEquations(ctx, ballot, item.selections);
        for (const equation of item.equations) equations.push(equation);
      } catch (error) {
        throw new Error(`${error.field ? `${where}: ${error.message}` : error.message}: refusing to decrypt`);
      }
    }
    if (!await holdsWeightedYielding(group, equations, tables)) {
      for (const { seq, equations: own } of chunk) {
        if (!await holdsWeightedYielding(group, own, tables)) {
          throw new Error(`the ballot at entry ${seq} has a proof that does not hold: refusing to decrypt`);
        }
      }
      throw new Error(`the proofs of the ballots at entries ${chunk[0].seq} to ${chunk.at(-1).seq} do not hold together: refusing to decrypt`);
    }
    onProgress(start, counted.length);
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  return counted;
}

/** The tally entry's ciphertexts (JSON) flattened in manifest order, after checking the board and that they equal
 * the recount. `baseHash`: the election's base hash (bytes), recomputed from its parameter entries; `onProgress(done,
 * total)` after each chunk of counted ballots is checked (CHUNK_EQUATIONS). */
export async function checkedTally(group, entries, baseHash, onProgress = () => {}) {
  const tally = entries.find((e) => e.type === "tally");
  if (!tally) throw new Error("the tally is not on the board yet");
  await checkChain(entries, "refusing to decrypt");
  const counted = await countedBallots(group, entries, baseHash, onProgress);
  if (counted.length !== tally.payload.counted) {
    throw new Error(`the tally says ${tally.payload.counted} ballots count, the board holds ${counted.length}: refusing to decrypt`);
  }
  const { manifest } = entries.find((e) => e.type === "setup").payload;
  const shape = tally.payload.contests;
  if (!Array.isArray(shape) || shape.length !== manifest.contests.length || shape.some((c, i) => !Array.isArray(c.ciphertexts)
      || c.ciphertexts.length !== contestRules(manifest.contests[i]).options.length)) {
    throw new Error("the tally does not hold one ciphertext per option of the manifest: refusing to decrypt");
  }
  const flat = [];
  shape.forEach((contest, i) => {
    contest.ciphertexts.forEach((json, j) => {
      let alpha = group.identity;
      let beta = group.identity;
      for (const { selections } of counted) {
        alpha = group.mul(alpha, selections[i][j].alpha);
        beta = group.mul(beta, selections[i][j].beta);
      }
      if (!ciphertextEqual(group, { alpha, beta }, ciphertextFromJSON(group, json, `tally.contests[${i}].ciphertexts[${j}]`))) {
        throw new Error(`the tally of ${contest.id} option ${j + 1} is not the product of the published ballots: refusing to decrypt`);
      }
      flat.push(json);
    });
  });
  return flat;
}
