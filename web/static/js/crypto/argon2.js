/**
 * argon2id (RFC 9106, version 0x13) in plain JavaScript: no WebAssembly (the pages' Content-Security-Policy
 * forbids it) and no dependencies. The output equals argon2-cffi's `hash_secret_raw(..., type=Type.ID)`, which
 * threshold/keystore.py uses, for the same inputs.
 *
 * 64-bit words are pairs of 32-bit halves (little-endian: low half first) in Uint32Arrays; the memory is one flat
 * Uint32Array of 256 words per 1 KiB block. Lanes are filled one after the other, slice by slice, which gives
 * the same output as filling them in parallel (a segment only reads other lanes' finished slices). BLAKE2b
 * (RFC 7693) is private to this module.
 * @module argon2
 */

import { DecodeError } from "./errors.js";
import { expectInt } from "./fields.js";

/** The argon2 version this module computes (0x13, RFC 9106). */
export const VERSION = 0x13;
const TYPE_ID = 2;
const TWO32 = 4294967296;

// ---------------------------------------------------------------------------------------------- BLAKE2b

const IV = new Uint32Array([
  0xf3bcc908, 0x6a09e667, 0x84caa73b, 0xbb67ae85, 0xfe94f82b, 0x3c6ef372, 0x5f1d36f1, 0xa54ff53a,
  0xade682d1, 0x510e527f, 0x2b3e6c1f, 0x9b05688c, 0xfb41bd6b, 0x1f83d9ab, 0x137e2179, 0x5be0cd19,
]);
const SIGMA = [
  [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15], [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
  [11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4], [7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8],
  [9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13], [2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9],
  [12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11], [13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10],
  [6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5], [10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0],
].map((row) => row.map((i) => 2 * i));
const bv = new Uint32Array(32);
const bm = new Uint32Array(32);

/** v[a] += v[b] + (x_lo, x_hi), 64-bit (indices of low halves). */
function add3(v, a, b, xl, xh) {
  const lo = v[a] + v[b] + xl;
  v[a + 1] = v[a + 1] + v[b + 1] + xh + ((lo / TWO32) | 0);
  v[a] = lo;
}

/** v[x] = rotr64(v[x] ^ v[y], n) for n in 32, 24, 16, 63. */
function xorRot(v, x, y, n) {
  const lo = v[x] ^ v[y];
  const hi = v[x + 1] ^ v[y + 1];
  if (n === 32) {
    v[x] = hi; v[x + 1] = lo;
  } else if (n === 63) {
    v[x] = (lo << 1) | (hi >>> 31); v[x + 1] = (hi << 1) | (lo >>> 31);
  } else {
    v[x] = (lo >>> n) | (hi << (32 - n)); v[x + 1] = (hi >>> n) | (lo << (32 - n));
  }
}

function mix(a, b, c, d, x, y) {
  add3(bv, a, b, bm[x], bm[x + 1]);
  xorRot(bv, d, a, 32);
  add3(bv, c, d, 0, 0);
  xorRot(bv, b, c, 24);
  add3(bv, a, b, bm[y], bm[y + 1]);
  xorRot(bv, d, a, 16);
  add3(bv, c, d, 0, 0);
  xorRot(bv, b, c, 63);
}

function blakeCompress(h, block, offset, counter, last) {
  for (let i = 0; i < 32; i++) {
    const j = offset + 4 * i;
    bm[i] = block[j] | (block[j + 1] << 8) | (block[j + 2] << 16) | (block[j + 3] << 24);
  }
  for (let i = 0; i < 16; i++) bv[i] = h[i];
  for (let i = 0; i < 16; i++) bv[16 + i] = IV[i];
  bv[24] ^= counter >>> 0;
  bv[25] ^= Math.floor(counter / TWO32);
  if (last) { bv[28] = ~bv[28]; bv[29] = ~bv[29]; }
  for (let r = 0; r < 12; r++) {
    const s = SIGMA[r % 10];
    mix(0, 8, 16, 24, s[0], s[1]);
    mix(2, 10, 18, 26, s[2], s[3]);
    mix(4, 12, 20, 28, s[4], s[5]);
    mix(6, 14, 22, 30, s[6], s[7]);
    mix(0, 10, 20, 30, s[8], s[9]);
    mix(2, 12, 22, 24, s[10], s[11]);
    mix(4, 14, 16, 26, s[12], s[13]);
    mix(6, 8, 18, 28, s[14], s[15]);
  }
  for (let i = 0; i < 16; i++) h[i] ^= bv[i] ^ bv[16 + i];
}

/** BLAKE2b (unkeyed) of the concatenated parts, `outLength` (1..64) bytes. */
function blake2b(outLength, ...parts) {
  const length = parts.reduce((n, p) => n + p.length, 0);
  const data = new Uint8Array(Math.max(128, Math.ceil(length / 128) * 128));
  let at = 0;
  for (const p of parts) { data.set(p, at); at += p.length; }
  const h = new Uint32Array(IV);
  h[0] ^= 0x01010000 ^ outLength;
  const blocks = Math.max(1, Math.ceil(length / 128));
  for (let i = 0; i < blocks; i++) {
    const last = i === blocks - 1;
    blakeCompress(h, data, 128 * i, last ? length : 128 * (i + 1), last);
  }
  const out = new Uint8Array(outLength);
  for (let i = 0; i < outLength; i++) out[i] = h[i >> 2] >>> (8 * (i & 3));
  return out;
}

function le32(n) {
  return new Uint8Array([n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff]);
}

/** H' of RFC 9106 section 3.3: `length` bytes from BLAKE2b chained over 32-byte steps. */
function hPrime(length, ...parts) {
  if (length <= 64) return blake2b(length, le32(length), ...parts);
  const out = new Uint8Array(length);
  const r = Math.ceil(length / 32) - 2;
  let v = blake2b(64, le32(length), ...parts);
  out.set(v.subarray(0, 32), 0);
  for (let i = 1; i < r; i++) {
    v = blake2b(64, v);
    out.set(v.subarray(0, 32), 32 * i);
  }
  out.set(blake2b(length - 32 * r, v), 32 * r);
  return out;
}

// ---------------------------------------------------------------------------------------------- compression G

const R = new Uint32Array(256); // X ^ Y
const Z = new Uint32Array(256); // P applied to R
const ZERO = new Uint32Array(256);
const INPUT = new Uint32Array(256); // the data-independent addressing's input block
const ADDRESSES = new Uint32Array(256);

/** The high 32 bits of the 64-bit product of two uint32 (exact: the low half by Math.imul, the rest rounded). */
function mulHi(a, b) {
  return Math.round((a * b - (Math.imul(a, b) >>> 0)) / TWO32);
}

/** BlaMka's GB on z[a], z[b], z[c], z[d] (word indices of the low halves): a = a + b + 2 lo(a) lo(b), ... */
function gb(z, a, b, c, d) {
  let al = z[a], ah = z[a + 1], bl = z[b], bh = z[b + 1], cl = z[c], ch = z[c + 1], dl = z[d], dh = z[d + 1];
  let pl, ph, s, xl, xh;
  // a = a + b + 2 * lo(a) * lo(b); d = rotr(d ^ a, 32)
  pl = Math.imul(al, bl) >>> 0; ph = Math.round((al * bl - pl) / TWO32);
  s = al + bl + ((pl << 1) >>> 0);
  ah = (ah + bh + ((ph << 1) | (pl >>> 31)) + ((s / TWO32) | 0)) >>> 0; al = s >>> 0;
  xl = dl ^ al; dl = (dh ^ ah) >>> 0; dh = xl >>> 0;
  // c = c + d + 2 * lo(c) * lo(d); b = rotr(b ^ c, 24)
  pl = Math.imul(cl, dl) >>> 0; ph = Math.round((cl * dl - pl) / TWO32);
  s = cl + dl + ((pl << 1) >>> 0);
  ch = (ch + dh + ((ph << 1) | (pl >>> 31)) + ((s / TWO32) | 0)) >>> 0; cl = s >>> 0;
  xl = bl ^ cl; xh = bh ^ ch;
  bl = ((xl >>> 24) | (xh << 8)) >>> 0; bh = ((xh >>> 24) | (xl << 8)) >>> 0;
  // a = a + b + 2 * lo(a) * lo(b); d = rotr(d ^ a, 16)
  pl = Math.imul(al, bl) >>> 0; ph = Math.round((al * bl - pl) / TWO32);
  s = al + bl + ((pl << 1) >>> 0);
  ah = (ah + bh + ((ph << 1) | (pl >>> 31)) + ((s / TWO32) | 0)) >>> 0; al = s >>> 0;
  xl = dl ^ al; xh = dh ^ ah;
  dl = ((xl >>> 16) | (xh << 16)) >>> 0; dh = ((xh >>> 16) | (xl << 16)) >>> 0;
  // c = c + d + 2 * lo(c) * lo(d); b = rotr(b ^ c, 63)
  pl = Math.imul(cl, dl) >>> 0; ph = Math.round((cl * dl - pl) / TWO32);
  s = cl + dl + ((pl << 1) >>> 0);
  ch = (ch + dh + ((ph << 1) | (pl >>> 31)) + ((s / TWO32) | 0)) >>> 0; cl = s >>> 0;
  xl = bl ^ cl; xh = bh ^ ch;
  bl = (xl << 1) | (xh >>> 31); bh = (xh << 1) | (xl >>> 31);
  z[a] = al; z[a + 1] = ah; z[b] = bl; z[b + 1] = bh; z[c] = cl; z[c + 1] = ch; z[d] = dl; z[d + 1] = dh;
}

/** The permutation P on the 16 words at 32-bit indices i0, i0 + step, ... taken in pairs of two 64-bit words. */
function permute(z, w0, w1, w2, w3, w4, w5, w6, w7, w8, w9, w10, w11, w12, w13, w14, w15) {
  gb(z, w0, w4, w8, w12);
  gb(z, w1, w5, w9, w13);
  gb(z, w2, w6, w10, w14);
  gb(z, w3, w7, w11, w15);
  gb(z, w0, w5, w10, w15);
  gb(z, w1, w6, w11, w12);
  gb(z, w2, w7, w8, w13);
  gb(z, w3, w4, w9, w14);
}

/**
 * G(X, Y) of RFC 9106 section 3.5 written to out[o..o+256): R = X ^ Y, Z = P(rows) then P(columns) of R,
 * out = Z ^ R, or out ^= Z ^ R when `xor` (passes after the first, version 0x13).
 */
function compress(x, xo, y, yo, out, o, xor) {
  for (let i = 0; i < 256; i++) Z[i] = R[i] = x[xo + i] ^ y[yo + i];
  for (let i = 0; i < 8; i++) { // rows: 64-bit words 16i .. 16i+15
    const b = 32 * i;
    permute(Z, b, b + 2, b + 4, b + 6, b + 8, b + 10, b + 12, b + 14,
      b + 16, b + 18, b + 20, b + 22, b + 24, b + 26, b + 28, b + 30);
  }
  for (let i = 0; i < 8; i++) { // columns: 64-bit words 2i, 2i+1, 2i+16, 2i+17, ..., 2i+112, 2i+113
    const b = 4 * i;
    permute(Z, b, b + 2, b + 32, b + 34, b + 64, b + 66, b + 96, b + 98,
      b + 128, b + 130, b + 160, b + 162, b + 192, b + 194, b + 224, b + 226);
  }
  if (xor) for (let i = 0; i < 256; i++) out[o + i] ^= Z[i] ^ R[i];
  else for (let i = 0; i < 256; i++) out[o + i] = Z[i] ^ R[i];
}

function nextAddresses() {
  INPUT[12] = (INPUT[12] + 1) >>> 0; // the counter, a 64-bit word (never past 2^32 here)
  compress(ZERO, 0, INPUT, 0, ADDRESSES, 0, false);
  compress(ZERO, 0, ADDRESSES, 0, ADDRESSES, 0, false);
}

// ---------------------------------------------------------------------------------------------- argon2id

function bytesInput(value, field) {
  if (!(value instanceof Uint8Array)) throw new DecodeError(field, "expected a Uint8Array");
  if (value.length >= TWO32) throw new DecodeError(field, "longer than 2^32 - 1 bytes");
  return value;
}

/**
 * The state of one computation (checked parameters, the memory with its first two blocks of each lane).
 * @returns {{mem: Uint32Array, t: number, m: number, p: number, laneLength: number, segment: number, hashLength: number}}
 */
function start(password, salt, { timeCost, memoryCost, parallelism, hashLength = 32, secret = new Uint8Array(0),
  associatedData = new Uint8Array(0) } = {}) {
  bytesInput(password, "password");
  if (bytesInput(salt, "salt").length < 8) throw new DecodeError("salt", "expected at least 8 bytes");
  bytesInput(secret, "secret");
  bytesInput(associatedData, "associatedData");
  const p = expectInt(parallelism, 1, 0xffffff, "parallelism");
  const t = expectInt(timeCost, 1, 0xffffffff, "timeCost");
  // at most 2^30 KiB (1 TiB would not fit a typed array anyway; the keystore reads at most 1 GiB)
  const m = expectInt(memoryCost, 8 * p, 2 ** 30, "memoryCost");
  expectInt(hashLength, 4, 0xffffffff, "hashLength");
  const segment = Math.floor(m / (4 * p));
  const laneLength = 4 * segment;
  const h0 = blake2b(64, le32(p), le32(hashLength), le32(m), le32(t), le32(VERSION), le32(TYPE_ID),
    le32(password.length), password, le32(salt.length), salt, le32(secret.length), secret,
    le32(associatedData.length), associatedData);
  const mem = new Uint32Array(256 * laneLength * p);
  for (let lane = 0; lane < p; lane++) {
    for (let j = 0; j < 2; j++) {
      const block = hPrime(1024, h0, le32(j), le32(lane));
      const o = 256 * (lane * laneLength + j);
      for (let w = 0; w < 256; w++) {
        mem[o + w] = block[4 * w] | (block[4 * w + 1] << 8) | (block[4 * w + 2] << 16) | (block[4 * w + 3] << 24);
      }
    }
  }
  return { mem, t, m, p, laneLength, segment, hashLength };
}

/** Blocks argon2idAsync fills between two looks at the clock (an address block's worth), and the time after which
 * it yields to the event loop: by time, not by count, so that no task holds a page long on a slow or busy machine
 * (8192 blocks took 80 ms alone here and 680 ms beside other jobs). */
const CHUNK = 128;
const TASK_MS = 40;

/**
 * Fill blocks `from` (a multiple of 128) to `to` of one segment (RFC 9106 section 3.4): lane `lane`, slice `slice`
 * of pass `pass`. Each call sets up the addressing input itself, so that calls of concurrent computations may
 * interleave.
 */
function fillSegment(st, pass, slice, lane, from = 0, to = st.segment) {
  const { mem, p, laneLength, segment } = st;
  const independent = pass === 0 && slice < 2; // argon2id: data-independent for the first half of the first pass
  if (independent) {
    INPUT.fill(0);
    INPUT[0] = pass; INPUT[2] = lane; INPUT[4] = slice; INPUT[6] = st.m - (st.m % (4 * p)); INPUT[8] = st.t;
    INPUT[10] = TYPE_ID; INPUT[12] = from / 128; // the counter as it stands before block `from`'s address block
  }
  const first = pass === 0 && slice === 0 ? 2 : 0;
  let current = lane * laneLength + slice * segment + Math.max(first, from);
  let previous = current % laneLength === 0 ? current + laneLength - 1 : current - 1;
  for (let index = from; index < to; index++) {
    if (independent && index % 128 === 0) nextAddresses();
    if (index < first) continue;
    let j1, j2;
    if (independent) {
      j1 = ADDRESSES[2 * (index % 128)];
      j2 = ADDRESSES[2 * (index % 128) + 1];
    } else {
      j1 = mem[256 * previous];
      j2 = mem[256 * previous + 1];
    }
    const refLane = pass === 0 && slice === 0 ? lane : j2 % p;
    const sameLane = refLane === lane;
    let area;
    if (pass === 0) {
      area = sameLane ? slice * segment + index - 1 : slice * segment - (index === 0 ? 1 : 0);
    } else {
      area = sameLane ? laneLength - segment + index - 1 : laneLength - segment - (index === 0 ? 1 : 0);
    }
    const relative = area - 1 - mulHi(area, mulHi(j1, j1));
    const startPosition = pass !== 0 && slice !== 3 ? (slice + 1) * segment : 0;
    const reference = refLane * laneLength + ((startPosition + relative) % laneLength);
    compress(mem, 256 * previous, mem, 256 * reference, mem, 256 * current, pass !== 0);
    previous = current;
    current += 1;
  }
}

function finish(st) {
  const { mem, p, laneLength } = st;
  const last = new Uint32Array(256);
  for (let lane = 0; lane < p; lane++) {
    const o = 256 * (lane * laneLength + laneLength - 1);
    for (let w = 0; w < 256; w++) last[w] ^= mem[o + w];
  }
  st.mem = null;
  const bytes = new Uint8Array(1024);
  for (let w = 0; w < 256; w++) {
    bytes[4 * w] = last[w]; bytes[4 * w + 1] = last[w] >>> 8; bytes[4 * w + 2] = last[w] >>> 16; bytes[4 * w + 3] = last[w] >>> 24;
  }
  return hPrime(st.hashLength, bytes);
}

/**
 * @typedef {object} Argon2Params
 * @property {number} timeCost passes, at least 1
 * @property {number} memoryCost KiB, at least 8 * parallelism (rounded down to a multiple of 4 * parallelism)
 * @property {number} parallelism lanes, 1..2^24-1
 * @property {number} [hashLength] bytes of output, at least 4 (default 32)
 * @property {Uint8Array} [secret] RFC 9106's optional secret K (default empty)
 * @property {Uint8Array} [associatedData] RFC 9106's optional associated data X (default empty)
 */

/**
 * argon2id, synchronously (blocks the thread for the whole computation: about a second per 64 MiB pass).
 * @param {Uint8Array} password
 * @param {Uint8Array} salt at least 8 bytes
 * @param {Argon2Params} params
 * @returns {Uint8Array} the tag, `hashLength` bytes
 * @throws {DecodeError} for an input or parameter out of range (the field named)
 */
export function argon2id(password, salt, params) {
  const st = start(password, salt, params);
  for (let pass = 0; pass < st.t; pass++) {
    for (let slice = 0; slice < 4; slice++) for (let lane = 0; lane < st.p; lane++) fillSegment(st, pass, slice, lane);
  }
  return finish(st);
}

/**
 * argon2id, the same output as `argon2id`, yielding to the event loop once TASK_MS have passed since the last
 * yield, so that a page stays responsive, whatever memory a file asks for, and can show progress.
 * @param {Uint8Array} password
 * @param {Uint8Array} salt at least 8 bytes
 * @param {Argon2Params} params
 * @param {{onProgress?: (done: number) => void}} [options] `onProgress` gets the fraction done, 0 to 1
 * @returns {Promise<Uint8Array>} the tag
 * @throws {DecodeError} for an input or parameter out of range (the field named)
 */
export async function argon2idAsync(password, salt, params, { onProgress } = {}) {
  const st = start(password, salt, params);
  const total = st.t * 4 * st.p * st.segment;
  let done = 0;
  let since = performance.now();
  for (let pass = 0; pass < st.t; pass++) {
    for (let slice = 0; slice < 4; slice++) {
      for (let lane = 0; lane < st.p; lane++) {
        for (let from = 0; from < st.segment; from += CHUNK) {
          const to = Math.min(st.segment, from + CHUNK);
          fillSegment(st, pass, slice, lane, from, to);
          done += to - from;
          if (performance.now() - since < TASK_MS) continue;
          if (onProgress) onProgress(done / total);
          await new Promise((resolve) => setTimeout(resolve, 0));
          since = performance.now();
        }
      }
    }
  }
  return finish(st);
}
