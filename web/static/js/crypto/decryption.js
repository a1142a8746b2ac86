/**
 * A trustee's partial decryption, as threshold.decryption.partial_decrypt: M = alpha^x_i for
 * each ciphertext with a Chaum-Pedersen proof (tag "decryption", context
 * encode(context, index, position)). Every alpha and beta is parsed and membership-checked before
 * the secret touches any of them (small-subgroup attacks, ATTACKS row 5).
 * @module decryption
 */

import { DecodeError } from "./errors.js";
import { systemRng } from "./bigint.js";
import { encode } from "./encoding.js";
import { expectInt, expectObject, expectScalar } from "./fields.js";
import { ChaumPedersenProof } from "./proofs.js";

/** The proof tag of decryption shares. */
export const TAG = "decryption";

/** Trustee `index`'s shares of several ciphertexts, each with its proof. */
export class PartialDecryption {
  /** @param {number} index @param {any[]} shares @param {ChaumPedersenProof[]} proofs */
  constructor(index, shares, proofs) {
    this.index = index;
    this.shares = shares;
    this.proofs = proofs;
  }

  /** @param {import("./group.js").Group} group @returns {object} the JSON of threshold.decryption.PartialDecryption */
  toJSON(group) {
    return { index: this.index, shares: this.shares.map((m) => group.toHex(m)), proofs: this.proofs.map((p) => p.toJSON(group)) };
  }
}

/**
 * Partially decrypt ciphertexts given in their JSON form {"alpha", "beta"}. Both elements of every
 * ciphertext are decoded with the group's membership checks first; a single bad one refuses the whole request.
 * @param {import("./group.js").Group} group
 * @param {number} index the trustee's index
 * @param {bigint} secret the trustee's key share x_i
 * @param {unknown[]} ciphertexts JSON ciphertexts (only alpha is raised to the secret)
 * @param {Uint8Array} context the decryption context (election, tally)
 * @param {{rng?: import("./bigint.js").Rng}} [options]
 * @returns {Promise<PartialDecryption>}
 * @throws {DecodeError} naming the first malformed or non-member ciphertext field (or a bad index or secret)
 */
export async function partialDecrypt(group, index, secret, ciphertexts, context, { rng = systemRng } = {}) {
  expectInt(index, 1, 0xffff, "index");
  expectScalar(secret, group.q, "secret");
  if (!Array.isArray(ciphertexts)) throw new DecodeError("ciphertexts", "expected a list");
  const alphas = ciphertexts.map((ct, pos) => {
    const o = expectObject(ct, ["alpha", "beta"], `ciphertexts[${pos}]`);
    group.fromHex(o.beta, `ciphertexts[${pos}].beta`, true);  // never raised to the secret: what is not a ciphertext gets no share
    return group.fromHex(o.alpha, `ciphertexts[${pos}].alpha`, true);
  });
  const vk = group.expG(secret);
  const shares = [];
  const proofs = [];
  for (const [pos, alpha] of alphas.entries()) {
    const m = group.exp(alpha, secret);
    shares.push(m);
    proofs.push(await ChaumPedersenProof.prove(group, secret, group.g, vk, alpha, m, encode(context, index, pos), { tag: TAG, rng }));
  }
  return new PartialDecryption(index, shares, proofs);
}
