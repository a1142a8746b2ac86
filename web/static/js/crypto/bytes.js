/**
 * Bytes: strict fixed-length lowercase hex, concatenation, comparison and UTF-8.
 * @module bytes
 */

import { DecodeError } from "./errors.js";

const HEX = /^[0-9a-f]*$/;
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * Lowercase hex of bytes.
 * @param {Uint8Array} bytes
 * @returns {string}
 */
export function toHex(bytes) {
  let out = "";
  for (const b of bytes) out += b.toString(16).padStart(2, "0");
  return out;
}

/**
 * Parse lowercase hex, of exactly `size` bytes when `size` is given (as threshold/ does).
 * @param {unknown} text
 * @param {number|null} size expected byte length, or null for any even length
 * @param {string} field named in the error
 * @returns {Uint8Array}
 * @throws {DecodeError}
 */
export function fromHex(text, size, field) {
  if (typeof text !== "string") throw new DecodeError(field, `expected a hex string, got ${typeName(text)}`);
  if (size !== null && text.length !== 2 * size) {
    throw new DecodeError(field, `expected ${2 * size} hex characters, got ${text.length}`);
  }
  if (text.length % 2 !== 0) throw new DecodeError(field, "odd number of hex characters");
  if (text !== text.toLowerCase()) throw new DecodeError(field, "hex must be lowercase");
  if (!HEX.test(text)) throw new DecodeError(field, "not a hex string");
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/**
 * Concatenation of byte arrays.
 * @param {...Uint8Array} parts
 * @returns {Uint8Array}
 */
export function concatBytes(...parts) {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Whether two byte arrays are equal (not constant-time: for public data).
 * @param {Uint8Array} a
 * @param {Uint8Array} b
 * @returns {boolean}
 */
export function bytesEqual(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * UTF-8 bytes of a string; lone surrogates are refused (Python cannot encode them either).
 * @param {string} text
 * @param {string} [field]
 * @returns {Uint8Array}
 * @throws {DecodeError}
 */
export function utf8(text, field = "string") {
  if (!text.isWellFormed()) throw new DecodeError(field, "string contains a lone surrogate");
  return encoder.encode(text);
}

/**
 * Decode UTF-8, refusing invalid sequences.
 * @param {Uint8Array} bytes
 * @param {string} [field]
 * @returns {string}
 * @throws {DecodeError}
 */
export function fromUtf8(bytes, field = "bytes") {
  try {
    return decoder.decode(bytes);
  } catch {
    throw new DecodeError(field, "not valid UTF-8");
  }
}

/**
 * A short name of a value's type for error messages.
 * @param {unknown} value
 * @returns {string}
 */
export function typeName(value) {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (value instanceof Uint8Array) return "bytes";
  return typeof value;
}
