/**
 * Validation of outside JSON input, with errors naming the field (as threshold/ does).
 * @module fields
 */

import { DecodeError } from "./errors.js";
import { typeName } from "./bytes.js";

/**
 * An object with exactly the given keys.
 * @param {unknown} obj
 * @param {string[]} keys
 * @param {string} field
 * @returns {Record<string, any>}
 * @throws {DecodeError}
 */
export function expectObject(obj, keys, field) {
  if (typeof obj !== "object" || obj === null || Array.isArray(obj)) {
    throw new DecodeError(field, `expected an object, got ${typeName(obj)}`);
  }
  const have = Object.keys(obj);
  if (have.length !== keys.length || !keys.every((k) => Object.hasOwn(obj, k))) {
    throw new DecodeError(field, `expected exactly the keys ${JSON.stringify([...keys].sort())}, got ${JSON.stringify(have.sort())}`);
  }
  return /** @type {Record<string, any>} */ (obj);
}

/**
 * A list of exactly n items.
 * @param {unknown} obj
 * @param {number} n
 * @param {string} field
 * @returns {any[]}
 * @throws {DecodeError}
 */
export function expectList(obj, n, field) {
  if (!Array.isArray(obj) || obj.length !== n) throw new DecodeError(field, `expected a list of ${n} items`);
  return obj;
}

/**
 * A scalar: a BigInt in [0, q) (secrets, nonces passed in by the caller).
 * @param {unknown} value
 * @param {bigint} q
 * @param {string} field
 * @returns {bigint}
 * @throws {DecodeError}
 */
export function expectScalar(value, q, field) {
  if (typeof value !== "bigint" || value < 0n || value >= q) {
    throw new DecodeError(field, `expected a BigInt in [0, q), got ${typeName(value)}`);
  }
  return value;
}

/**
 * An integer in [lo, hi] (indices, limits).
 * @param {unknown} value
 * @param {number} lo
 * @param {number} hi
 * @param {string} field
 * @returns {number}
 * @throws {DecodeError}
 */
export function expectInt(value, lo, hi, field) {
  if (!Number.isSafeInteger(value) || /** @type {number} */ (value) < lo || /** @type {number} */ (value) > hi) {
    throw new DecodeError(field, `expected an integer in ${lo}..${hi}, got ${JSON.stringify(value)}`);
  }
  return /** @type {number} */ (value);
}
