/**
 * The 4096-bit Schnorr group of ElectionGuard 2.0 (threshold/groups/modp.py): q = 2^256 - 189,
 * g = 2^((p-1)/q) mod p. Elements are BigInts in 1..p-1 of order dividing q, encoded as
 * 512 big-endian bytes.
 * @module modp
 */

import { DecodeError } from "./errors.js";
import { bigIntToBytes, bigIntToHex, bytesToBigInt, mod, modInv, modPow } from "./bigint.js";
import { concatBytes, fromHex } from "./bytes.js";
import { Group } from "./group.js";
import { dstFor, expandMessageXmd } from "./hashing.js";

/** The prime modulus. */
export const P = BigInt(
  "0x" +
  "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF" +
  "B17217F7D1CF79ABC9E3B39803F2F6AF40F343267298B62D8A0D175B8BAAFA2B" +
  "E7B876206DEBAC98559552FB4AFA1B10ED2EAE35C138214427573B291169B825" +
  "3E96CA16224AE8C51ACBDA11317C387EB9EA9BC3B136603B256FA0EC7657F74B" +
  "72CE87B19D6548CAF5DFA6BD38303248655FA1872F20E3A2DA2D97C50F3FD5C6" +
  "07F4CA11FB5BFB90610D30F88FE551A2EE569D6DFC1EFA157D2E23DE1400B396" +
  "17460775DB8990E5C943E732B479CD33CCCC4E659393514C4C1A1E0BD1D6095D" +
  "25669B333564A3376A9C7F8A5E148E82074DB6015CFE7AA30C480A5417350D2C" +
  "955D5179B1E17B9DAE313CDB6C606CB1078F735D1B2DB31B5F50B5185064C18B" +
  "4D162DB3B365853D7598A1951AE273EE5570B6C68F96983496D4E6D330AF889B" +
  "44A02554731CDC8EA17293D1228A4EF98D6F5177FBCF0755268A5C1F9538B982" +
  "61AFFD446B1CA3CF5E9222B88C66D3C5422183EDC99421090BBB16FAF3D949F2" +
  "36E02B20CEE886B905C128D53D0BD2F9621363196AF503020060E49908391A0C" +
  "57339BA2BEBA7D052AC5B61CC4E9207CEF2F0CE2D7373958D762265890445744" +
  "FB5F2DA4B751005892D356890DEFE9CAD9B9D4B713E06162A2D8FDD0DF2FD608" +
  "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF",
);
/** The prime order of the subgroup. */
export const Q = 2n ** 256n - 189n;
/** Bytes of an encoded element. */
export const ELEMENT_BYTES = 512;
const COFACTOR = (P - 1n) / Q;

/** The modp group; use getGroup("modp") for the shared instance. */
export class ModpGroup extends Group {
  constructor() {
    super();
    this.name = "modp";
    this.elementBytes = ELEMENT_BYTES;
    this.p = P;
    this.q = Q;
    this.g = modPow(2n, (P - 1n) / Q, P);
    this.identity = 1n;
  }

  /** @param {bigint} a @param {bigint} b @returns {bigint} */
  mul(a, b) {
    return (a * b) % P;
  }

  /** @param {bigint} a @returns {bigint} */
  inv(a) {
    return modInv(a, P);
  }

  /** @param {bigint} a @param {bigint|number} e reduced mod q @returns {bigint} */
  exp(a, e) {
    return modPow(a, mod(BigInt(e), Q), P);
  }

  /** @param {bigint} a @param {bigint} b @returns {boolean} */
  eq(a, b) {
    return a === b;
  }

  /** @param {bigint} a @returns {Uint8Array} 512 big-endian bytes */
  encode(a) {
    return bigIntToBytes(a, ELEMENT_BYTES);
  }

  /**
   * Parse canonical bytes: length, range 1..p-1, identity only if allowed, x^q = 1.
   * @param {Uint8Array} data
   * @param {string} [field]
   * @param {boolean} [allowIdentity]
   * @returns {bigint}
   * @throws {DecodeError} naming the field
   */
  decode(data, field = "element", allowIdentity = false) {
    if (!(data instanceof Uint8Array)) throw new DecodeError(field, "expected bytes");
    if (data.length !== ELEMENT_BYTES) throw new DecodeError(field, `expected ${ELEMENT_BYTES} bytes, got ${data.length}`);
    const x = bytesToBigInt(data);
    if (x <= 0n || x >= P) throw new DecodeError(field, "not in the range 1..p-1");
    if (x === 1n) {
      if (allowIdentity) return x;
      throw new DecodeError(field, "the identity element is not allowed here");
    }
    if (modPow(x, Q, P) !== 1n) throw new DecodeError(field, "not in the order-q subgroup");
    return x;
  }

  /**
   * A proof commitment: length and range only; neither 1 nor -1 unless allowed. Its order-s part
   * cannot survive the verification equations and its sign is what {@link holds} ignores
   * (p = 3 mod 4, so -1 is outside the order-q subgroup; docs/spec.md, section 4).
   * @param {unknown} text
   * @param {string} [field]
   * @param {boolean} [allowIdentity]
   * @returns {bigint}
   * @throws {DecodeError} naming the field
   */
  commitmentFromHex(text, field = "commitment", allowIdentity = false) {
    const x = bytesToBigInt(fromHex(text, ELEMENT_BYTES, field));
    if (x <= 0n || x >= P) throw new DecodeError(field, "not in the range 1..p-1");
    if (!allowIdentity && (x === 1n || x === P - 1n)) {
      throw new DecodeError(field, "the identity element (up to sign) is not allowed here");
    }
    return x;
  }

  /** @param {bigint} lhs @param {bigint} rhs @returns {boolean} lhs = rhs or lhs = -rhs */
  holds(lhs, rhs) {
    return lhs === rhs || lhs === (P - rhs) % P;
  }

  /** @param {unknown} a @returns {boolean} whether a is in the order-q subgroup */
  isMember(a) {
    return typeof a === "bigint" && a > 0n && a < P && modPow(a, Q, P) === 1n;
  }

  /**
   * An element nobody knows the discrete log of, reproducible from (tag, msg), as
   * threshold.groups.modp.hash_to_element: (expand_message_xmd(msg || I2OSP(ctr, 4),
   * DST("h2e-modp-" || tag), 528) mod p)^((p-1)/q) for the first ctr = 0, 1, ... giving h != 1.
   * @param {string} tag
   * @param {Uint8Array} msg
   * @returns {Promise<bigint>}
   */
  async hashToElement(tag, msg) {
    for (let counter = 0; ; counter++) {
      const ctr = Uint8Array.of(counter >>> 24, (counter >>> 16) & 0xff, (counter >>> 8) & 0xff, counter & 0xff);
      const data = await expandMessageXmd(concatBytes(msg, ctr), dstFor(`h2e-modp-${tag}`), ELEMENT_BYTES + 16);
      const h = modPow(bytesToBigInt(data) % P, COFACTOR, P);
      if (h !== 1n) return h;
    }
  }

  /** @returns {{name: string, p: string, q: string, g: string}} the public parameters as JSON values */
  describe() {
    return { name: this.name, p: bigIntToHex(P, ELEMENT_BYTES), q: bigIntToHex(Q, 32), g: this.toHex(this.g) };
  }
}
