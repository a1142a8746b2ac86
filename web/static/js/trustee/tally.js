/**
 * The trustee's own recount before decrypting (voting.tally.counted_ballots and product): the last
 * cast ballot of each credential counts, and the tally entry must be their homomorphic product.
 * @module trustee/tally
 */

import { ciphertextEqual, ciphertextFromJSON } from "../crypto/elgamal.js";

/** The tally entry's ciphertexts (JSON) flattened in manifest order, after checking they equal the recount. */
export function checkedTally(group, entries) {
  const tally = entries.find((e) => e.type === "tally");
  if (!tally) throw new Error("the tally is not on the board yet");
  const last = new Map();
  for (const e of entries) if (e.type === "cast") last.set(e.payload.ballot.credential, e.payload.ballot);
  const counted = [...last.values()];
  if (counted.length !== tally.payload.counted) {
    throw new Error(`the tally says ${tally.payload.counted} ballots count, the board holds ${counted.length}: refusing to decrypt`);
  }
  const flat = [];
  tally.payload.contests.forEach((contest, i) => {
    contest.ciphertexts.forEach((json, j) => {
      let alpha = group.identity;
      let beta = group.identity;
      for (const ballot of counted) {
        const ct = ciphertextFromJSON(group, ballot.contests[i].selections[j], `ballot.contests[${i}].selections[${j}]`);
        alpha = group.mul(alpha, ct.alpha);
        beta = group.mul(beta, ct.beta);
      }
      if (!ciphertextEqual(group, { alpha, beta }, ciphertextFromJSON(group, json, `tally.contests[${i}].ciphertexts[${j}]`))) {
        throw new Error(`the tally of ${contest.id} option ${j + 1} is not the product of the published ballots: refusing to decrypt`);
      }
      flat.push(json);
    });
  });
  return flat;
}
