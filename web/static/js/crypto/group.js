/**
 * What both groups share (threshold/groups/base.py): hex forms, scalars, key checks and
 * fixed-base comb tables. Subclasses implement the arithmetic and the canonical encoding.
 * @module group
 */

import { DecodeError } from "./errors.js";
import { fromHex, toHex } from "./bytes.js";
import { bigIntToBytes, bigIntToHex, hexToBigInt, mod, systemRng } from "./bigint.js";

/** Scalars are 32 bytes in records (both groups). */
export const SCALAR_BYTES = 32;
const COMB_WINDOW = 8;
const TABLE_CACHE = 8;

/**
 * Comb table of one base: base^(d * 256^i) for every byte position i and byte value d,
 * so that an exponentiation costs one multiplication per non-zero exponent byte.
 */
export class CombTable {
  /**
   * @param {Group} group
   * @param {any} base a group element
   */
  constructor(group, base) {
    this.group = group;
    this.rows = Math.ceil(group.q.toString(2).length / COMB_WINDOW);
    this.table = [];
    let rowBase = base;
    for (let i = 0; i < this.rows; i++) {
      const row = [group.identity, rowBase];
      for (let d = 2; d < 1 << COMB_WINDOW; d++) row.push(group.mul(row[d - 1], rowBase));
      this.table.push(row);
      rowBase = group.mul(row[row.length - 1], rowBase);
    }
  }

  /**
   * base^e (e reduced mod q).
   * @param {bigint|number} e
   * @returns {any}
   */
  exp(e) {
    const g = this.group;
    const digits = bigIntToBytes(mod(BigInt(e), g.q), this.rows); // big-endian
    let acc = g.identity;
    for (let i = 0; i < this.rows; i++) {
      const d = digits[this.rows - 1 - i];
      if (d) acc = g.mul(acc, this.table[i][d]);
    }
    return acc;
  }
}

/**
 * A cyclic group of prime order q (the JavaScript side of threshold.groups.base.Group).
 * Subclasses set name, q, g, identity, elementBytes and implement mul, inv, exp, eq,
 * encode, decode and isMember.
 */
export class Group {
  constructor() {
    /** @type {Map<string, CombTable>} */
    this.tables = new Map();
    /** @type {CombTable|null} */
    this.gTable = null;
  }

  /**
   * a * b^-1.
   * @param {any} a
   * @param {any} b
   * @returns {any}
   */
  div(a, b) {
    return this.mul(a, this.inv(b));
  }

  /**
   * g^e through the generator's comb table.
   * @param {bigint|number} e
   * @returns {any}
   */
  expG(e) {
    return this.generatorTable().exp(e);
  }

  /**
   * The generator's comb table (built on first use).
   * @returns {CombTable}
   */
  generatorTable() {
    if (!this.gTable) this.gTable = new CombTable(this, this.g);
    return this.gTable;
  }

  /**
   * The comb table of a long-lived base (the generator, an election key); cached per base.
   * @param {any} base
   * @returns {CombTable}
   */
  fixedBase(base) {
    if (this.eq(base, this.g)) return this.generatorTable();
    const key = this.toHex(base);
    let table = this.tables.get(key);
    if (!table) {
      if (this.tables.size >= TABLE_CACHE) this.tables.delete(this.tables.keys().next().value);
      table = new CombTable(this, base);
      this.tables.set(key, table);
    }
    return table;
  }

  /**
   * Product of many elements.
   * @param {Iterable<any>} elements
   * @returns {any}
   */
  prod(elements) {
    let acc = this.identity;
    for (const x of elements) acc = this.mul(acc, x);
    return acc;
  }

  /**
   * Fixed-length lowercase hex of an element.
   * @param {any} a
   * @returns {string}
   */
  toHex(a) {
    return toHex(this.encode(a));
  }

  /**
   * Parse an element from fixed-length lowercase hex with every membership check.
   * @param {unknown} text
   * @param {string} [field]
   * @param {boolean} [allowIdentity]
   * @returns {any}
   * @throws {DecodeError} naming the field
   */
  fromHex(text, field = "element", allowIdentity = false) {
    return this.decode(fromHex(text, this.elementBytes, field), field, allowIdentity);
  }

  /**
   * Parse a proof commitment: the checks it needs before it enters a verification equation (by
   * default every membership check; modp: range only, ed25519: on the curve only; see their
   * commitmentFromHex).
   * @param {unknown} text
   * @param {string} [field]
   * @param {boolean} [allowIdentity]
   * @returns {any}
   * @throws {DecodeError} naming the field
   */
  commitmentFromHex(text, field = "commitment", allowIdentity = false) {
    return this.fromHex(text, field, allowIdentity);
  }

  /**
   * Whether a verification equation lhs = rhs holds, rhs carrying the proof's commitment
   * (modp: up to the sign the commitment may carry; ed25519: up to its torsion; docs/spec.md, section 4).
   * @param {any} lhs
   * @param {any} rhs
   * @returns {boolean}
   */
  holds(lhs, rhs) {
    return this.eq(lhs, rhs);
  }

  /**
   * Refuse the identity where a key or commitment is expected.
   * @param {any} a
   * @param {string} field
   * @returns {any} a
   * @throws {DecodeError}
   */
  checkKey(a, field) {
    if (this.eq(a, this.identity)) throw new DecodeError(field, "the identity element is not allowed here");
    return a;
  }

  /**
   * Uniform scalar in [1, q).
   * @param {import("./bigint.js").Rng} [rng]
   * @returns {bigint}
   */
  randomScalar(rng = systemRng) {
    return rng.scalar(this.q);
  }

  /**
   * Fixed-length (32 bytes) lowercase hex of a scalar, reduced mod q.
   * @param {bigint|number} x
   * @returns {string}
   */
  scalarToHex(x) {
    return bigIntToHex(mod(BigInt(x), this.q), SCALAR_BYTES);
  }

  /**
   * Parse a scalar, refusing values >= q.
   * @param {unknown} text
   * @param {string} [field]
   * @returns {bigint}
   * @throws {DecodeError}
   */
  scalarFromHex(text, field = "scalar") {
    const value = hexToBigInt(text, SCALAR_BYTES, field);
    if (value >= this.q) throw new DecodeError(field, "scalar is not reduced modulo q");
    return value;
  }
}
