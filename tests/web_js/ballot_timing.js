// Time to encrypt a 2-contest ballot (1 of 4, up to 2 of 5) in each group, with every proof.
import { encode } from "../../web/static/js/crypto/encoding.js";
import { mod } from "../../web/static/js/crypto/bigint.js";
import { getGroup } from "../../web/static/js/crypto/groups.js";
import { PublicKey, ciphertextSum, ciphertextToJSON } from "../../web/static/js/crypto/elgamal.js";
import { RangeProof } from "../../web/static/js/crypto/proofs.js";

const CONTESTS = [{ limit: 1, choices: [0, 0, 1, 0] }, { limit: 2, choices: [1, 0, 0, 1, 0] }];

async function encryptBallot(pk) {
  const g = pk.group;
  const contests = [];
  for (const [c, contest] of CONTESTS.entries()) {
    const selections = [];
    let rsum = 0n;
    for (const [s, m] of contest.choices.entries()) {
      const { ciphertext, r } = pk.encrypt(m);
      rsum += r;
      const proof = await RangeProof.prove(pk, ciphertext, m, r, 1, encode("ballot-timing", c, s));
      selections.push({ ciphertext, proof });
    }
    const total = ciphertextSum(g, selections.map((x) => x.ciphertext));
    const count = contest.choices.reduce((a, b) => a + b, 0);
    const proof = await RangeProof.prove(pk, total, count, mod(rsum, g.q), contest.limit, encode("ballot-timing", c));
    contests.push({ limit: contest.limit, selections, proof });
  }
  return contests;
}

function ballotJSON(g, contests) {
  return contests.map((c) => ({ limit: c.limit, proof: c.proof.toJSON(g),
    selections: c.selections.map((s) => ({ ciphertext: ciphertextToJSON(g, s.ciphertext), proof: s.proof.toJSON(g) })) }));
}

/** Milliseconds per step and one ballot per group (for Python to verify). */
export async function timeBallots(runs = 3) {
  const out = {};
  for (const name of ["ed25519", "modp"]) {
    const g = getGroup(name);
    let t = performance.now();
    g.expG(1n);
    const gTable = performance.now() - t;
    const pk = new PublicKey(g, g.exp(g.g, g.randomScalar()));
    t = performance.now();
    const first = await encryptBallot(pk);
    const firstMs = performance.now() - t;
    const times = [];
    for (let i = 0; i < runs; i++) {
      t = performance.now();
      await encryptBallot(pk);
      times.push(performance.now() - t);
    }
    times.sort((a, b) => a - b);
    t = performance.now();
    for (const c of first) {
      for (const [s, sel] of c.selections.entries()) await sel.proof.verify(pk, sel.ciphertext, encode("ballot-timing", first.indexOf(c), s));
    }
    const verifyMs = performance.now() - t;
    out[name] = { generator_table_ms: gTable, first_ballot_ms_with_key_table: firstMs, ballot_ms_median: times[times.length >> 1],
      selection_proofs_verify_ms: verifyMs, public_key: pk.toHex(), ballot: ballotJSON(g, first) };
  }
  return out;
}
