/**
 * Shamir polynomials, Feldman (g^a) and Pedersen (g^a h^b) commitments (threshold/shamir.py,
 * threshold/vss.py): what a DKG dealer commits to and what a recipient checks its share against.
 * @module vss
 */

import { mod, modPow } from "./bigint.js";

/**
 * f(x) by Horner's rule, mod q.
 * @param {bigint[]} coefficients a_0 (the secret) .. a_(k-1)
 * @param {number|bigint} x
 * @param {bigint} q
 * @returns {bigint}
 */
export function evaluatePolynomial(coefficients, x, q) {
  let acc = 0n;
  for (let i = coefficients.length - 1; i >= 0; i--) acc = mod(acc * BigInt(x) + coefficients[i], q);
  return acc;
}

/**
 * C_j = g^a_j.
 * @param {import("./group.js").Group} group
 * @param {bigint[]} coefficients
 * @returns {any[]}
 */
export function feldmanCommit(group, coefficients) {
  return coefficients.map((a) => group.expG(a));
}

/**
 * prod_j C_j^(index^j): g^f(index) for honest commitments (a trustee's verification key part).
 * @param {import("./group.js").Group} group
 * @param {any[]} commitments
 * @param {number} index
 * @returns {any}
 */
export function expectedCommitment(group, commitments, index) {
  return group.prod(commitments.map((c, j) => group.exp(c, modPow(BigInt(index), BigInt(j), group.q))));
}

/**
 * g^value == prod_j C_j^(index^j).
 * @param {import("./group.js").Group} group
 * @param {any[]} commitments
 * @param {number} index
 * @param {bigint} value
 * @returns {boolean}
 */
export function feldmanVerify(group, commitments, index, value) {
  return group.eq(group.expG(value), expectedCommitment(group, commitments, index));
}

const pedersenCache = new Map();

/**
 * The second Pedersen generator h = hash_to_element("pedersen-h", "Quorum Pedersen VSS generator h")
 * (threshold.vss.pedersen_h): nobody knows log_g h. Computed once per group.
 * @param {import("./group.js").Group} group
 * @returns {Promise<any>}
 */
export function pedersenH(group) {
  if (!pedersenCache.has(group.name)) {
    pedersenCache.set(group.name, group.hashToElement("pedersen-h", new TextEncoder().encode("Quorum Pedersen VSS generator h")));
  }
  return pedersenCache.get(group.name);
}

/**
 * Pedersen commitments C_j = g^a_j h^b_j.
 * @param {import("./group.js").Group} group
 * @param {any} h the second generator ({@link pedersenH})
 * @param {bigint[]} coefficients a_0..a_(k-1)
 * @param {bigint[]} blinding b_0..b_(k-1)
 * @returns {any[]}
 */
export function pedersenCommit(group, h, coefficients, blinding) {
  return coefficients.map((a, j) => group.mul(group.expG(a), group.exp(h, blinding[j])));
}

/**
 * g^value h^blinding == prod_j C_j^(index^j).
 * @param {import("./group.js").Group} group
 * @param {any} h
 * @param {any[]} commitments
 * @param {number} index
 * @param {bigint} value
 * @param {bigint} blinding
 * @returns {boolean}
 */
export function pedersenVerify(group, h, commitments, index, value, blinding) {
  return group.eq(group.mul(group.expG(value), group.exp(h, blinding)), expectedCommitment(group, commitments, index));
}
