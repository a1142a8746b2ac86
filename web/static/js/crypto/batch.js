/**
 * Verification equations and their batching by random linear combination, as threshold/batch.py: an equation is a
 * list of [base, exponent] pairs whose product must be the identity (as the group's `holds` judges it); several are
 * checked as one product, each raised to a fresh odd weight below 2^129 (a false one passes with probability at most
 * 2^-128), in one multi-exponentiation whose squarings all bases share: Straus's for a few bases, Pippenger's buckets for
 * many (a trustee's recount of many ballots).
 * @module batch
 */

import { bytesToBigInt, mod, randomBytes } from "./bigint.js";

const WEIGHT_BYTES = 16;
const WINDOW = 4;
const BUCKET_BITS = 8;

/**
 * prod base^e over public exponents (variable time: verification only), by whichever of Straus's method and
 * Pippenger's takes fewer products by count.
 * @param {import("./group.js").Group} group
 * @param {Array<[any, bigint]>} terms exponents in 0..q-1
 */
export function multiExp(group, terms) {
  const steps = multiExpSteps(group, terms);
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}

/** multiExp, handing the event loop back between its windows once `sliceMs` have passed since it last did (a long
 * batch then leaves the page responsive and able to show its progress). */
async function multiExpYielding(group, terms, sliceMs) {
  const steps = multiExpSteps(group, terms);
  let since = performance.now();
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
    if (performance.now() - since >= sliceMs) {
      await new Promise((resolve) => setTimeout(resolve, 0));
      since = performance.now();
    }
  }
}

/** multiExp's work as a generator that yields between windows and returns the product. */
function* multiExpSteps(group, terms) {
  const digits = terms.map(([, e]) => e.toString(16));
  const width = digits.reduce((w, d) => Math.max(w, d.length), 0);  // no spread: arguments are limited in number
  const nonzero = digits.reduce((n, d) => n + d.length, 0);  // hex digits below each exponent's top: about all nonzero
  const straus = 4 * width + nonzero + 14 * terms.length;
  const pippenger = 4 * width + nonzero / 2 + Math.ceil(width / 2) * 2 * (1 << BUCKET_BITS);
  return yield* (pippenger < straus ? bucketSteps(group, digits, terms, width) : strausSteps(group, digits, terms, width));
}

/** Straus: 4-bit windows, one table of 15 powers per base, every base sharing the squarings. */
function* strausSteps(group, digits, terms, width) {
  const tables = terms.map(([base]) => {
    const table = [null, base];
    for (let i = 2; i < 1 << WINDOW; i++) table.push(group.mul(table[i - 1], base));
    return table;
  });
  let acc = null;
  for (let i = 0; i < width; i++) {
    if (acc !== null) for (let s = 0; s < WINDOW; s++) acc = group.mul(acc, acc);
    digits.forEach((d, k) => {
      const at = d.length - width + i;
      const digit = at >= 0 ? parseInt(d[at], 16) : 0;
      if (digit) acc = acc === null ? tables[k][digit] : group.mul(acc, tables[k][digit]);
    });
    yield;
  }
  return acc === null ? group.identity : acc;
}

/** Pippenger: 8-bit windows (two hex digits) from the top; in each, every base joins the bucket of its digit, and the
 * buckets' sum weighted by their digits takes two products a bucket (running sums). */
function* bucketSteps(group, digits, terms, width) {
  const windows = Math.ceil(width / 2);
  let acc = null;
  for (let w = 0; w < windows; w++) {
    if (acc !== null) for (let s = 0; s < BUCKET_BITS; s++) acc = group.mul(acc, acc);
    const buckets = new Array(1 << BUCKET_BITS).fill(null);
    const top = 2 * (windows - w);  // this window: the hex digits top - 1 and top - 2 places from the right
    digits.forEach((d, k) => {
      const hi = d.length - top;
      const digit = (hi >= 0 ? parseInt(d[hi], 16) << 4 : 0) | (hi + 1 >= 0 ? parseInt(d[hi + 1], 16) : 0);
      if (digit) buckets[digit] = buckets[digit] === null ? terms[k][0] : group.mul(buckets[digit], terms[k][0]);
    });
    let running = null;
    let sum = null;
    for (let b = buckets.length - 1; b > 0; b--) {
      if (buckets[b] !== null) running = running === null ? buckets[b] : group.mul(running, buckets[b]);
      if (running !== null) sum = sum === null ? running : group.mul(sum, running);
    }
    if (sum !== null) acc = acc === null ? sum : group.mul(acc, sum);
    yield;
  }
  return acc === null ? group.identity : acc;
}

/**
 * Whether every equation holds, judged as one product under fresh weights. Equal bases (the same object, or the same
 * value for the 4096-bit group's integers) are merged; g and the bases of `tables` go through their comb tables.
 * @param {import("./group.js").Group} group
 * @param {Array<Array<[any, bigint]>>} equations
 * @param {Map<any, import("./group.js").CombTable>} [tables] fixed-base tables by base (an election key's)
 * @returns {boolean}
 */
export function holdsWeighted(group, equations, tables = new Map()) {
  const [acc, rest] = weighted(group, equations, tables);
  return group.holds(group.mul(acc, multiExp(group, rest)), group.identity);
}

/**
 * holdsWeighted for a long batch (a trustee's recount): the same verdict, but the multi-exponentiation hands the event
 * loop back between its windows once `sliceMs` have passed (a recount chunk's Pippenger window takes about 0.1 s in
 * modp), so that the page is not frozen for the seconds a chunk of ballots takes.
 * @returns {Promise<boolean>}
 */
export async function holdsWeightedYielding(group, equations, tables = new Map(), sliceMs = 50) {
  const [acc, rest] = weighted(group, equations, tables);
  return group.holds(group.mul(acc, await multiExpYielding(group, rest, sliceMs)), group.identity);
}

/** The product of the weighted equations' terms that go through tables, and the other terms, equal bases merged. */
function weighted(group, equations, tables) {
  const draw = randomBytes(WEIGHT_BYTES * equations.length);
  const merged = new Map();
  equations.forEach((equation, k) => {
    const weight = 2n * bytesToBigInt(draw.subarray(WEIGHT_BYTES * k, WEIGHT_BYTES * (k + 1))) + 1n;
    for (const [base, e] of equation) merged.set(base, (merged.get(base) ?? 0n) + e * weight);
  });
  let acc = group.identity;
  const rest = [];
  for (const [base, e] of merged) {
    const x = mod(e, group.q);
    if (x === 0n) continue;
    const table = base === group.g ? group.generatorTable() : tables.get(base);
    if (table) acc = group.mul(acc, table.exp(x));
    else rest.push([base, x]);
  }
  return [acc, rest];
}
