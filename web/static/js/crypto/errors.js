/**
 * The errors the browser-side cryptography throws on purpose, mirroring threshold/errors.py.
 * @module errors
 */

/** Outside input that is malformed: wrong type, length, range or group membership. */
export class DecodeError extends Error {
  /**
   * @param {string} field the input field that is wrong (e.g. "proof.a[1]")
   * @param {string} message what is wrong with it
   */
  constructor(field, message) {
    super(`${field}: ${message}`);
    this.name = "DecodeError";
    /** @type {string} */
    this.field = field;
    /** @type {string} */
    this.reason = message;
  }
}

/** A proof, signature or ciphertext that does not check. */
export class VerificationError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = "VerificationError";
  }
}

/** A protocol step out of order, a refused request, or too few honest parties. */
export class ProtocolError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = "ProtocolError";
  }
}
