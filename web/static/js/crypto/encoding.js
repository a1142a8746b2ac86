/**
 * Canonical encodings, byte-identical to threshold/encoding.py:
 * the injective length-prefixed encoding hashed in every transcript, and canonical JSON.
 * @module encoding
 */

import { concatBytes, typeName, utf8 } from "./bytes.js";
import { bigIntToBytes, bitLength } from "./bigint.js";

/**
 * A value of the transcript encoding: bytes (tag B), string (tag S, UTF-8), non-negative
 * integer as a safe Number or a BigInt (tag I, minimal big-endian), or a list (tag L).
 * Group elements and scalars are passed already encoded as fixed-length bytes.
 * @typedef {Uint8Array|string|number|bigint|Array<any>} Encodable
 */

const TAG_BYTES = 0x42; // "B"
const TAG_STR = 0x53; // "S"
const TAG_INT = 0x49; // "I"
const TAG_LIST = 0x4c; // "L"

function header(tag, n) {
  const out = new Uint8Array(9);
  out[0] = tag;
  new DataView(out.buffer).setBigUint64(1, BigInt(n), false);
  return out;
}

function encodeOne(value, parts) {
  if (value instanceof Uint8Array) {
    parts.push(header(TAG_BYTES, value.length), value);
  } else if (typeof value === "string") {
    if (!value.isWellFormed()) throw new TypeError("encode: string contains a lone surrogate");
    const data = utf8(value);
    parts.push(header(TAG_STR, data.length), data);
  } else if (typeof value === "number" || typeof value === "bigint") {
    if (typeof value === "number" && !Number.isSafeInteger(value)) {
      throw new TypeError(`encode: ${value} is not a safe integer (use a BigInt)`);
    }
    const n = BigInt(value);
    if (n < 0n) throw new TypeError("encode: negative integers are not encodable");
    const data = bigIntToBytes(n, Math.max(1, Math.ceil(bitLength(n) / 8)));
    parts.push(header(TAG_INT, data.length), data);
  } else if (Array.isArray(value)) {
    parts.push(header(TAG_LIST, value.length));
    for (const v of value) encodeOne(v, parts);
  } else {
    throw new TypeError(`encode: cannot encode a value of type ${typeName(value)}`);
  }
}

/**
 * Injective encoding of a sequence of values (threshold.encoding.encode(*items)):
 * the items form one list, each value a type tag, an 8-byte big-endian length, the content.
 * @param {...Encodable} items
 * @returns {Uint8Array}
 * @throws {TypeError} for booleans, negative or unsafe numbers, and other types
 */
export function encode(...items) {
  const parts = [];
  encodeOne(items, parts);
  return concatBytes(...parts);
}

function compareCodePoints(a, b) {
  const x = Array.from(a, (c) => c.codePointAt(0));
  const y = Array.from(b, (c) => c.codePointAt(0));
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

const ESCAPES = { '"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t" };

function jsonString(text) {
  if (!text.isWellFormed()) throw new TypeError("canonicalJson: string contains a lone surrogate");
  return '"' + text.replace(/["\\\x00-\x1f]/g, (c) =>
    ESCAPES[c] ?? "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0")) + '"';
}

function jsonValue(value, path) {
  if (value === null) return "null";
  if (value === true) return "true";
  if (value === false) return "false";
  if (typeof value === "string") return jsonString(value);
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) throw new TypeError(`canonicalJson: ${path} is not a safe integer`);
    return String(value);
  }
  if (Array.isArray(value)) return "[" + value.map((v, i) => jsonValue(v, `${path}[${i}]`)).join(",") + "]";
  if (typeof value === "object" && [Object.prototype, null].includes(Object.getPrototypeOf(value))) {
    const keys = Object.keys(value).sort(compareCodePoints);
    return "{" + keys.map((k) => jsonString(k) + ":" + jsonValue(value[k], `${path}.${k}`)).join(",") + "}";
  }
  throw new TypeError(`canonicalJson: ${path} has unsupported type ${typeName(value)}`);
}

/**
 * Canonical JSON text, identical to Python's
 * json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False) for the values
 * records hold: null, booleans, safe integers, strings, arrays and plain objects (keys sorted
 * by code point; control characters escaped as Python does; non-ASCII kept as is).
 * @param {unknown} value
 * @returns {string}
 * @throws {TypeError} for floats, BigInts, undefined, lone surrogates and non-plain objects
 */
export function canonicalJson(value) {
  return jsonValue(value, "$");
}

/**
 * UTF-8 bytes of {@link canonicalJson} (what records hash).
 * @param {unknown} value
 * @returns {Uint8Array}
 */
export function canonicalJsonBytes(value) {
  return utf8(canonicalJson(value));
}
