/**
 * The prime-order subgroup of edwards25519 in pure BigInt (threshold/groups/ed25519.py, which
 * uses libsodium). Elements are points in extended coordinates; the encoding is the canonical
 * 32-byte compression, decoded exactly as libsodium's crypto_core_ed25519_is_valid_point:
 * y >= p, points off the curve, small-order points and points outside the prime-order
 * subgroup are refused; the identity (01 00..00) only where allowed. Proof commitments are read
 * without the subgroup test and equations hold up to torsion (docs/spec.md, section 4).
 * BigInt arithmetic is not constant-time (ATTACKS row 19).
 * @module ed25519
 */

import { DecodeError } from "./errors.js";
import { fromHex } from "./bytes.js";
import { bigIntToHex, bytesToBigInt, bigIntToBytes, modInv, modPow } from "./bigint.js";
import { Group } from "./group.js";
import { dstFor, expandMessageXmd } from "./hashing.js";

const P = 2n ** 255n - 19n;
/** The prime order of the subgroup. */
export const L = 2n ** 252n + 27742317777372353535851937790883648493n;

function f(a) {
  const r = a % P;
  return r < 0n ? r + P : r;
}

const D = f(-121665n * modInv(121666n, P));
const D2 = f(2n * D);
const SQRT_M1 = modPow(2n, (P - 1n) / 4n, P);

/** A point (X : Y : Z : T) with x = X/Z, y = Y/Z, xy = T/Z. */
export class Point {
  /** @param {bigint} X @param {bigint} Y @param {bigint} Z @param {bigint} T */
  constructor(X, Y, Z, T) {
    this.X = X;
    this.Y = Y;
    this.Z = Z;
    this.T = T;
  }
}

const ZERO = new Point(0n, 1n, 1n, 0n);

function add(p, q) {
  const A = f((p.Y - p.X) * (q.Y - q.X));
  const B = f((p.Y + p.X) * (q.Y + q.X));
  const C = f(f(p.T * D2) * q.T);
  const Dz = f(2n * p.Z * q.Z);
  const E = B - A;
  const F = Dz - C;
  const G = Dz + C;
  const H = B + A;
  return new Point(f(E * F), f(G * H), f(F * G), f(E * H));
}

function double(p) {
  const A = f(p.X * p.X);
  const B = f(p.Y * p.Y);
  const C = f(2n * p.Z * p.Z);
  const E = f((p.X + p.Y) * (p.X + p.Y)) - A - B;
  const G = B - A;
  const F = G - C;
  const H = -A - B;
  return new Point(f(E * F), f(G * H), f(F * G), f(E * H));
}

function isZero(p) {
  return f(p.X) === 0n && f(p.Y - p.Z) === 0n;
}

function onCurve(p) {
  const X2 = f(p.X * p.X);
  const Y2 = f(p.Y * p.Y);
  const Z2 = f(p.Z * p.Z);
  return p.Z !== 0n && f((Y2 - X2) * Z2 - Z2 * Z2 - f(D * X2) * Y2) === 0n && f(p.X * p.Y - p.Z * p.T) === 0n;
}

/** n * p for any n >= 0 (not reduced mod L: used for the subgroup test). */
function scalarMul(p, n) {
  if (n === 0n) return ZERO;
  const table = [ZERO, p];
  for (let i = 2; i < 16; i++) table.push(add(table[i - 1], p));
  let acc = ZERO;
  for (const ch of n.toString(16)) {
    acc = double(double(double(double(acc))));
    const d = parseInt(ch, 16);
    if (d) acc = add(acc, table[d]);
  }
  return acc;
}

function littleEndian(bytes) {
  return bytesToBigInt(Uint8Array.from(bytes).reverse());
}

/** x from y and the sign bit, or null when y is not the y of a curve point. */
function recoverX(y, sign) {
  const y2 = f(y * y);
  const u = f(y2 - 1n);
  const v = f(D * y2 + 1n);
  const v3 = f(v * v * v);
  let x = f(f(u * v3) * modPow(f(u * f(v3 * v3 * v)), (P - 5n) / 8n, P));
  const vx2 = f(v * x * x);
  if (vx2 !== u) {
    if (vx2 !== f(-u)) return null;
    x = f(x * SQRT_M1);
  }
  if (x === 0n && sign) return null;
  return (x & 1n) === BigInt(sign) ? x : P - x;
}

const MONTGOMERY_A = 486662n;

/**
 * libsodium's crypto_core_ed25519_from_uniform: the top bit of r is the sign of x, the rest r
 * (mod p) goes through Elligator 2 to a Montgomery u, mapped to the Edwards y = (u-1)/(u+1);
 * then the cofactor is cleared (times 8).
 * @param {Uint8Array} r 32 bytes
 * @returns {Point}
 */
function fromUniform(r) {
  const bytes = Uint8Array.from(r);
  const sign = bytes[31] >> 7;
  bytes[31] &= 0x7f;
  const t = f(littleEndian(bytes));
  let u = f(-MONTGOMERY_A * modInv(f(1n + 2n * t * t), P));
  const gu = f(u * u * u + MONTGOMERY_A * u * u + u);
  if (modPow(gu, (P - 1n) / 2n, P) === P - 1n) u = f(-u - MONTGOMERY_A);
  if (f(u + 1n) === 0n) return ZERO;
  const y = f((u - 1n) * modInv(f(u + 1n), P));
  const x = recoverX(y, sign) ?? 0n; // x = 0 with the sign bit set: libsodium keeps x = 0
  return double(double(double(new Point(x, y, 1n, f(x * y)))));
}

const BASE_Y = f(4n * modInv(5n, P));
const BASE_X = recoverX(BASE_Y, 0);
const IDENTITY_BYTES = Uint8Array.of(1, ...new Array(31).fill(0));

/**
 * A canonical compressed point of the curve (any order); the identity only where allowed.
 * @param {Uint8Array} data
 * @param {string} field
 * @param {boolean} allowIdentity
 * @returns {Point}
 * @throws {DecodeError} naming the field
 */
function decodeOnCurve(data, field, allowIdentity) {
  if (!(data instanceof Uint8Array)) throw new DecodeError(field, "expected bytes");
  if (data.length !== 32) throw new DecodeError(field, `expected 32 bytes, got ${data.length}`);
  if (data.every((b, i) => b === IDENTITY_BYTES[i])) {
    if (allowIdentity) return ZERO;
    throw new DecodeError(field, "the identity element is not allowed here");
  }
  const yBytes = Uint8Array.from(data);
  const sign = yBytes[31] >> 7;
  yBytes[31] &= 0x7f;
  const y = littleEndian(yBytes);
  if (y >= P) throw new DecodeError(field, "non-canonical encoding (y >= p)");
  const x = recoverX(y, sign);
  if (x === null) throw new DecodeError(field, "not a canonical point of the curve");
  return new Point(x, y, 1n, f(x * y));
}

/** The ed25519 group; use getGroup("ed25519") for the shared instance. */
export class Ed25519Group extends Group {
  constructor() {
    super();
    this.name = "ed25519";
    this.elementBytes = 32;
    this.q = L;
    this.g = new Point(BASE_X, BASE_Y, 1n, f(BASE_X * BASE_Y));
    this.identity = ZERO;
  }

  /** @param {Point} a @param {Point} b @returns {Point} */
  mul(a, b) {
    return add(a, b);
  }

  /** @param {Point} a @returns {Point} */
  inv(a) {
    return new Point(f(-a.X), a.Y, a.Z, f(-a.T));
  }

  /** @param {Point} a @param {bigint|number} e reduced mod q @returns {Point} */
  exp(a, e) {
    const n = BigInt(e) % L;
    return scalarMul(a, n < 0n ? n + L : n);
  }

  /** @param {Point} a @param {Point} b @returns {boolean} */
  eq(a, b) {
    return f(a.X * b.Z - b.X * a.Z) === 0n && f(a.Y * b.Z - b.Y * a.Z) === 0n;
  }

  /** @param {Point} a @returns {Uint8Array} y little-endian, sign of x in the top bit */
  encode(a) {
    const zInv = modInv(a.Z, P);
    const x = f(a.X * zInv);
    const out = bigIntToBytes(f(a.Y * zInv), 32).reverse();
    out[31] |= Number(x & 1n) << 7;
    return out;
  }

  /**
   * Parse a canonical compressed point of the prime-order subgroup.
   * @param {Uint8Array} data
   * @param {string} [field]
   * @param {boolean} [allowIdentity]
   * @returns {Point}
   * @throws {DecodeError} naming the field
   */
  decode(data, field = "element", allowIdentity = false) {
    const point = decodeOnCurve(data, field, allowIdentity);
    if (point === ZERO) return point;
    if (isZero(double(double(double(point))))) throw new DecodeError(field, "small-order point");
    if (!isZero(scalarMul(point, L))) throw new DecodeError(field, "not in the prime-order subgroup");
    return point;
  }

  /**
   * Parse a proof commitment: canonical and on the curve, no subgroup test ({@link holds} ignores its
   * torsion part); where the identity is not allowed, no point of small order either.
   * @param {unknown} text
   * @param {string} [field]
   * @param {boolean} [allowIdentity]
   * @returns {Point}
   * @throws {DecodeError} naming the field
   */
  commitmentFromHex(text, field = "commitment", allowIdentity = false) {
    const point = decodeOnCurve(fromHex(text, 32, field), field, allowIdentity);
    if (!allowIdentity && isZero(double(double(double(point))))) {
      throw new DecodeError(field, "a point of small order (the identity up to torsion) is not allowed here");
    }
    return point;
  }

  /** @param {Point} lhs @param {Point} rhs @returns {boolean} lhs = rhs up to torsion: [8](lhs - rhs) = O */
  holds(lhs, rhs) {
    return isZero(double(double(double(add(lhs, this.inv(rhs))))));
  }

  /** @param {unknown} a @returns {boolean} whether a is a point of the prime-order subgroup */
  isMember(a) {
    return a instanceof Point && onCurve(a) && isZero(scalarMul(a, L));
  }

  /**
   * An element nobody knows the discrete log of, reproducible from (tag, msg), as
   * threshold.groups.ed25519.hash_to_element: u = expand_message_xmd(msg, DST("h2e-ed25519-" ||
   * tag), 64), h = from_uniform(u[0:32]) + from_uniform(u[32:64]) (libsodium's Elligator 2).
   * @param {string} tag
   * @param {Uint8Array} msg
   * @returns {Promise<Point>}
   */
  async hashToElement(tag, msg) {
    const u = await expandMessageXmd(msg, dstFor(`h2e-ed25519-${tag}`), 64);
    return add(fromUniform(u.subarray(0, 32)), fromUniform(u.subarray(32, 64)));
  }

  /** @returns {{name: string, q: string, g: string}} the public parameters as JSON values */
  describe() {
    return { name: this.name, q: bigIntToHex(L, 32), g: this.toHex(this.g) };
  }
}
