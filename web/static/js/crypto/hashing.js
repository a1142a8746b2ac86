/**
 * Domain-separated hashing, byte-identical to threshold/hashing.py: RFC 9380
 * expand_message_xmd with SHA-256 (WebCrypto), hash_to_field, and hash_to_scalar.
 * @module hashing
 */

import { concatBytes } from "./bytes.js";
import { bytesToBigInt, bitLength } from "./bigint.js";
import { encode } from "./encoding.js";

/** Protocol name and version that starts every domain separation tag. */
export const PROTOCOL = "QUORUM-V1";
/** The k of RFC 9380: bits drawn beyond the modulus so that reduction has no bias. */
export const SECURITY_BITS = 128;
const B_IN_BYTES = 32;
const R_IN_BYTES = 64;

/**
 * SHA-256 digest.
 * @param {Uint8Array} data
 * @returns {Promise<Uint8Array>}
 */
export async function sha256(data) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", data));
}

/**
 * The domain separation tag of one use: "QUORUM-V1-" + tag (ASCII, at most 255 bytes).
 * @param {string} tag
 * @returns {Uint8Array}
 * @throws {RangeError} for a non-ASCII or too long tag
 */
export function dstFor(tag) {
  if (typeof tag !== "string" || !/^[\x00-\x7f]*$/.test(tag)) throw new RangeError("dstFor: tag must be ASCII");
  const dst = new TextEncoder().encode(`${PROTOCOL}-${tag}`);
  if (dst.length > 255) throw new RangeError("dstFor: domain separation tag too long");
  return dst;
}

/**
 * RFC 9380 section 5.3.1 expand_message_xmd with SHA-256.
 * @param {Uint8Array} msg
 * @param {Uint8Array} dst at most 255 bytes
 * @param {number} length output bytes, at most 8160
 * @returns {Promise<Uint8Array>}
 */
export async function expandMessageXmd(msg, dst, length) {
  const ell = Math.ceil(length / B_IN_BYTES);
  if (!Number.isInteger(length) || length < 0 || ell > 255 || length > 65535) {
    throw new RangeError("expandMessageXmd: requested output too long");
  }
  if (dst.length > 255) throw new RangeError("expandMessageXmd: domain separation tag too long");
  const dstPrime = concatBytes(dst, Uint8Array.of(dst.length));
  const b0 = await sha256(concatBytes(new Uint8Array(R_IN_BYTES), msg,
    Uint8Array.of(length >> 8, length & 0xff, 0), dstPrime));
  const blocks = [await sha256(concatBytes(b0, Uint8Array.of(1), dstPrime))];
  for (let i = 2; i <= ell; i++) {
    const prev = blocks[blocks.length - 1].map((x, k) => x ^ b0[k]);
    blocks.push(await sha256(concatBytes(prev, Uint8Array.of(i), dstPrime)));
  }
  return concatBytes(...blocks).slice(0, length);
}

/**
 * RFC 9380 hash_to_field with one output: ceil((ceil(log2 p) + 128) / 8) bytes reduced mod p.
 * @param {Uint8Array} msg
 * @param {Uint8Array} dst
 * @param {bigint} modulus
 * @returns {Promise<bigint>}
 */
export async function hashToField(msg, dst, modulus) {
  const length = Math.ceil((bitLength(modulus) + SECURITY_BITS) / 8);
  return bytesToBigInt(await expandMessageXmd(msg, dst, length)) % modulus;
}

/**
 * The one hash-to-scalar: tag-separated, over the canonical encoding of `items`
 * (threshold.hashing.hash_to_scalar(modulus, tag, *items)).
 * @param {bigint} modulus
 * @param {string} tag
 * @param {...import("./encoding.js").Encodable} items
 * @returns {Promise<bigint>}
 */
export async function hashToScalar(modulus, tag, ...items) {
  return hashToField(encode(...items), dstFor(tag), modulus);
}
