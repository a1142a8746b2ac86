// Test-only rng that replays the draws recorded by tests/vectors/js/make_vectors.py.
import { fromHex } from "../../web/static/js/crypto/bytes.js";
import { bytesToBigInt } from "../../web/static/js/crypto/bigint.js";

export class FixedRng {
  constructor(draws) {
    this.scalars = draws.scalars.map((h) => bytesToBigInt(fromHex(h, 32, "draws.scalars")));
    this.chunks = draws.bytes.map((h) => fromHex(h, null, "draws.bytes"));
  }

  scalar(q) {
    if (!this.scalars.length) throw new Error("FixedRng: more scalars drawn than Python drew");
    const x = this.scalars.shift();
    if (x <= 0n || x >= q) throw new Error("FixedRng: recorded scalar out of range");
    return x;
  }

  bytes(n) {
    if (!this.chunks.length) throw new Error("FixedRng: more byte strings drawn than Python drew");
    const b = this.chunks.shift();
    if (b.length !== n) throw new Error(`FixedRng: ${n} bytes drawn where Python drew ${b.length}`);
    return b;
  }

  exhausted() {
    return this.scalars.length === 0 && this.chunks.length === 0;
  }
}
