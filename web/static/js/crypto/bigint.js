/**
 * BigInt arithmetic: modular exponentiation (sliding windows), inverses, fixed-length
 * conversions, and unbiased random scalars from crypto.getRandomValues.
 * @module bigint
 */

import { fromHex, toHex } from "./bytes.js";

/**
 * A source of randomness. Production code uses {@link systemRng}; known-answer tests
 * inject a fixed sequence so that JavaScript and Python produce the same bytes.
 * @typedef {object} Rng
 * @property {(q: bigint) => bigint} scalar uniform in [1, q)
 * @property {(n: number) => Uint8Array} bytes n uniform bytes
 */

/**
 * a mod m in [0, m).
 * @param {bigint} a
 * @param {bigint} m
 * @returns {bigint}
 */
export function mod(a, m) {
  const r = a % m;
  return r < 0n ? r + m : r;
}

/**
 * Number of bits of a non-negative integer (0 for 0).
 * @param {bigint} x
 * @returns {number}
 */
export function bitLength(x) {
  if (x < 0n) throw new RangeError("bitLength of a negative integer");
  return x === 0n ? 0 : x.toString(2).length;
}

/**
 * base^exponent mod modulus by left-to-right sliding windows over odd powers.
 * @param {bigint} base
 * @param {bigint} exponent non-negative
 * @param {bigint} modulus greater than 1
 * @returns {bigint}
 */
export function modPow(base, exponent, modulus) {
  if (exponent < 0n) throw new RangeError("modPow: negative exponent");
  if (modulus <= 1n) throw new RangeError("modPow: modulus must exceed 1");
  const b = mod(base, modulus);
  if (exponent === 0n) return 1n;
  const bits = exponent.toString(2);
  const w = bits.length > 512 ? 6 : bits.length > 128 ? 5 : bits.length > 24 ? 4 : 1;
  const square = (b * b) % modulus;
  const odd = [b]; // b^1, b^3, ..., b^(2^w - 1)
  for (let i = 1; i < 1 << (w - 1); i++) odd.push((odd[i - 1] * square) % modulus);
  let acc = 1n;
  let i = 0;
  while (i < bits.length) {
    if (bits[i] === "0") {
      acc = (acc * acc) % modulus;
      i += 1;
      continue;
    }
    let j = Math.min(i + w, bits.length) - 1;
    while (bits[j] === "0") j -= 1;
    for (let k = i; k <= j; k++) acc = (acc * acc) % modulus;
    acc = (acc * odd[(parseInt(bits.slice(i, j + 1), 2) - 1) >> 1]) % modulus;
    i = j + 1;
  }
  return acc;
}

/**
 * The inverse of a modulo m by the extended Euclidean algorithm.
 * @param {bigint} a
 * @param {bigint} m
 * @returns {bigint}
 * @throws {RangeError} when a is not invertible
 */
export function modInv(a, m) {
  let r0 = mod(a, m);
  let r1 = m;
  let s0 = 1n;
  let s1 = 0n;
  while (r1 !== 0n) {
    const t = r0 / r1;
    [r0, r1] = [r1, r0 - t * r1];
    [s0, s1] = [s1, s0 - t * s1];
  }
  if (r0 !== 1n) throw new RangeError("modInv: not invertible");
  return mod(s0, m);
}

/**
 * Big-endian bytes to a non-negative integer.
 * @param {Uint8Array} bytes
 * @returns {bigint}
 */
export function bytesToBigInt(bytes) {
  return bytes.length === 0 ? 0n : BigInt("0x" + toHex(bytes));
}

/**
 * A non-negative integer as exactly `size` big-endian bytes.
 * @param {bigint} x
 * @param {number} size
 * @returns {Uint8Array}
 * @throws {RangeError} when x is negative or does not fit
 */
export function bigIntToBytes(x, size) {
  if (x < 0n) throw new RangeError("negative integer");
  const hex = x.toString(16);
  if (hex.length > 2 * size) throw new RangeError(`integer does not fit in ${size} bytes`);
  return fromHex(hex.padStart(2 * size, "0"), size, "integer");
}

/**
 * Fixed-length lowercase hex of a non-negative integer (records and JSON).
 * @param {bigint} x
 * @param {number} size bytes
 * @returns {string}
 */
export function bigIntToHex(x, size) {
  return toHex(bigIntToBytes(x, size));
}

/**
 * Parse fixed-length lowercase hex of `size` bytes; errors name `field`.
 * @param {unknown} text
 * @param {number} size
 * @param {string} field
 * @returns {bigint}
 * @throws {DecodeError}
 */
export function hexToBigInt(text, size, field) {
  return bytesToBigInt(fromHex(text, size, field));
}

/**
 * n bytes from crypto.getRandomValues.
 * @param {number} n
 * @returns {Uint8Array}
 */
export function randomBytes(n) {
  const out = new Uint8Array(n);
  for (let at = 0; at < n; at += 65536) crypto.getRandomValues(out.subarray(at, Math.min(n, at + 65536)));
  return out;
}

/**
 * Uniform integer in [0, n) by rejection sampling (no modulo bias).
 * @param {bigint} n positive
 * @returns {bigint}
 */
export function randomBelow(n) {
  if (n <= 0n) throw new RangeError("randomBelow: bound must be positive");
  const bits = bitLength(n - 1n) || 1;
  const size = Math.ceil(bits / 8);
  const topMask = 0xff >> (8 * size - bits);
  for (;;) {
    const draw = randomBytes(size);
    draw[0] &= topMask;
    const x = bytesToBigInt(draw);
    if (x < n) return x;
  }
}

/**
 * Uniform scalar in [1, q) (keys and nonces), as threshold.groups.base.Group.random_scalar.
 * @param {bigint} q
 * @returns {bigint}
 */
export function randomScalar(q) {
  return 1n + randomBelow(q - 1n);
}

/** @type {Rng} The operating system's randomness through crypto.getRandomValues. */
export const systemRng = Object.freeze({ scalar: randomScalar, bytes: randomBytes });

