// Every known-answer vector of tests/vectors/js/vectors.json, checked against the browser modules.
// runVectorChecks(vectors) returns [{name, ok, detail}]; nothing here uses the DOM (node can run it too).
import { DecodeError, ProtocolError, VerificationError } from "../../web/static/js/crypto/errors.js";
import { fromHex, toHex, utf8 } from "../../web/static/js/crypto/bytes.js";
import { hexToBigInt, randomBelow, randomScalar } from "../../web/static/js/crypto/bigint.js";
import { canonicalJson, encode } from "../../web/static/js/crypto/encoding.js";
import { dstFor, expandMessageXmd, hashToField, hashToScalar } from "../../web/static/js/crypto/hashing.js";
import { getGroup } from "../../web/static/js/crypto/groups.js";
import { PublicKey, ciphertextFromJSON, ciphertextToJSON, encryptWith } from "../../web/static/js/crypto/elgamal.js";
import { ChaumPedersenProof, RangeProof, SchnorrProof, challenge } from "../../web/static/js/crypto/proofs.js";
import * as hybrid from "../../web/static/js/crypto/hybrid.js";
import * as dkg from "../../web/static/js/crypto/dkg.js";
import { pedersenH } from "../../web/static/js/crypto/vss.js";
import { partialDecrypt } from "../../web/static/js/crypto/decryption.js";
import * as keystore from "../../web/static/js/crypto/keystore.js";
import { FixedRng } from "./fixed_rng.js";

export function untag(v) {
  if (Array.isArray(v)) return v.map(untag);
  if ("b" in v) return fromHex(v.b, null, "b");
  if ("s" in v) return v.s;
  return BigInt(v.i);
}

const same = (a, b) => canonicalJson(a) === canonicalJson(b);

async function throwsKind(fn, kind) {
  try {
    await fn();
  } catch (err) {
    return err instanceof kind ? err : null;
  }
  return null;
}

class Checks {
  constructor() {
    this.results = [];
  }

  async run(name, fn) {
    try {
      const detail = await fn();
      this.results.push(detail === true ? { name, ok: true, detail: "" } : { name, ok: false, detail: String(detail) });
    } catch (err) {
      this.results.push({ name, ok: false, detail: `threw ${err && err.stack ? err.stack : err}` });
    }
  }
}

function encodingChecks(c, v) {
  v.encoding.forEach((t, i) => c.run(`encoding[${i}]`, () => toHex(encode(...untag(t.items))) === t.hex || "bytes differ"));
  const rejects = [[true], [-1], [1.5], [2 ** 60], ["\ud800"], [{}], [null], [undefined], [[1, false]]];
  rejects.forEach((items, i) => c.run(`encoding rejects[${i}]`, async () => (await throwsKind(() => encode(...items), TypeError)) !== null
    || "accepted a value Python refuses"));
  v.canonical_json.forEach((t, i) => c.run(`canonical_json[${i}]`, () => canonicalJson(t.value) === t.text
    || `got ${JSON.stringify(canonicalJson(t.value))}`));
  const jsonRejects = [1.5, 1e21, 2n, "\udc00", { a: undefined }, new Date(0), NaN];
  jsonRejects.forEach((x, i) => c.run(`canonical_json rejects[${i}]`, async () => (await throwsKind(() => canonicalJson(x), TypeError)) !== null
    || "accepted a value with no canonical form"));
}

function hashingChecks(c, v) {
  v.expand_message_xmd.forEach((t, i) => c.run(`expand_message_xmd[${i}] (${t.source}, len ${t.len})`, async () =>
    toHex(await expandMessageXmd(utf8(t.msg), utf8(t.dst), t.len)) === t.out || "output differs"));
  v.hash_to_field.forEach((t, i) => c.run(`hash_to_field[${i}]`, async () =>
    String(await hashToField(fromHex(t.msg, null, "msg"), utf8(t.dst), BigInt(t.modulus))) === t.out || "output differs"));
  v.hash_to_scalar.forEach((t, i) => c.run(`hash_to_scalar[${i}] ${t.group} ${t.tag}`, async () =>
    toHex(fromHex((await hashToScalar(getGroup(t.group).q, t.tag, ...untag(t.items))).toString(16).padStart(64, "0"), 32, "s")) === t.scalar
    || "scalar differs"));
  c.run("dstFor", () => toHex(dstFor("range")) === toHex(utf8("QUORUM-V1-range")) || "wrong DST");
}

function randomnessChecks(c) {
  // ATTACKS row 7: rejection sampling has no modulo bias. 200 is far from a power of two: reducing
  // a random byte mod 200 would make 0..55 twice as likely (chi-square in the thousands).
  c.run("randomBelow(200) is uniform (chi-square, 199 dof)", () => {
    const n = 200;
    const draws = 40000;
    const counts = new Array(n).fill(0);
    for (let i = 0; i < draws; i++) counts[Number(randomBelow(BigInt(n)))] += 1;
    const expected = draws / n;
    const chi2 = counts.reduce((s, k) => s + (k - expected) ** 2 / expected, 0);
    return chi2 < 300 || `chi-square ${chi2.toFixed(1)}`;
  });
  c.run("randomScalar stays in [1, q)", () => {
    for (let i = 0; i < 200; i++) {
      const x = randomScalar(3n);
      if (x !== 1n && x !== 2n) return `drew ${x}`;
    }
    return true;
  });
}

function groupChecks(c, name, v) {
  const g = getGroup(name);
  c.run(`${name} describe`, () => same(g.describe(), v.describe) || "parameters differ");
  v.exp_g.forEach((t, i) => c.run(`${name} exp_g[${i}]`, () => g.toHex(g.expG(BigInt(t.e))) === t.element || "element differs"));
  v.exp.forEach((t, i) => c.run(`${name} exp[${i}]`, () => g.toHex(g.exp(g.fromHex(t.base), BigInt(t.e))) === t.result || "element differs"));
  c.run(`${name} mul/div/inv`, () => {
    const a = g.fromHex(v.mul.a);
    const b = g.fromHex(v.mul.b);
    return (g.toHex(g.mul(a, b)) === v.mul.product && g.toHex(g.div(a, b)) === v.mul.quotient
      && g.toHex(g.inv(a)) === v.mul.inverse_a) || "differs";
  });
  v.decode.forEach((t, i) => c.run(`${name} decode[${i}] ${t.note}${t.allow_identity ? " (identity allowed)" : ""}`, async () => {
    let x = null;
    const err = await throwsKind(() => { x = g.fromHex(t.hex, "element", t.allow_identity); }, DecodeError);
    if (t.valid) return (x !== null && g.toHex(x) === t.hex && g.isMember(x)) || `refused a valid encoding: ${err && err.message}`;
    return (err !== null && err.field === "element") || "accepted an encoding Python rejects";
  }));
  v.hash_to_element.forEach((t, i) => c.run(`${name} hash_to_element[${i}] ${t.tag}`, async () =>
    g.toHex(await g.hashToElement(t.tag, fromHex(t.msg, null, "msg"))) === t.element || "element differs"));
  c.run(`${name} pedersenH is hash_to_element("pedersen-h", ...)`, async () =>
    g.toHex(await pedersenH(g)) === v.hash_to_element[0].element || "h differs");
  v.bad_hex.forEach((h, i) => c.run(`${name} bad hex[${i}]`, async () => (await throwsKind(() => g.fromHex(h, "x"), DecodeError)) !== null
    || "accepted malformed hex"));
  c.run(`${name} scalar >= q refused`, async () => (await throwsKind(() => g.scalarFromHex(g.q.toString(16).padStart(64, "0"), "s"), DecodeError)) !== null
    || "accepted an unreduced scalar");
}

function proofChecks(c, name, v) {
  const g = getGroup(name);
  v.encryptions.forEach((t, i) => c.run(`${name} elgamal[${i}]`, () => {
    const pk = PublicKey.fromHex(g, t.public_key);
    return same(ciphertextToJSON(g, encryptWith(pk, t.m, hexToBigInt(t.r, 32, "r"))), t.ciphertext) || "ciphertext differs";
  }));
  v.range.forEach((t, i) => {
    const label = `${name} range[${i}] m=${t.m} L=${t.limit}`;
    const pk = PublicKey.fromHex(g, t.public_key);
    const ctx = fromHex(t.context, null, "context");
    c.run(`${label} Python proof verifies in JS`, async () => {
      const ct = ciphertextFromJSON(g, t.ciphertext);
      const proof = RangeProof.fromJSON(g, t.proof, t.limit);
      if (!(await proof.verify(pk, ct, ctx))) return "valid proof rejected";
      if (await proof.verify(pk, ct, encode(ctx, "other ballot"))) return "proof accepted under another context";
      const other = { alpha: ct.alpha, beta: g.mul(ct.beta, g.g) };
      if (await proof.verify(pk, other, ctx)) return "proof accepted for another ciphertext";
      if (await proof.verify(pk, { alpha: g.mul(ct.alpha, g.g), beta: ct.beta }, ctx)) return "proof accepted for another alpha";
      if (await proof.verify(new PublicKey(g, g.mul(pk.element, g.g)), ct, ctx)) return "proof accepted under another key";
      const moved = new RangeProof(proof.a, proof.b, proof.challenges.map((x) => x + 1n), proof.responses);
      return !(await moved.verify(pk, ct, ctx)) || "proof with altered challenges accepted";
    });
    c.run(`${label} JS proof equals Python's byte for byte`, async () => {
      const rng = new FixedRng(t.draws);
      const { ciphertext, r } = pk.encrypt(t.m, rng);
      const proof = await RangeProof.prove(pk, ciphertext, t.m, r, t.limit, ctx, { rng });
      return (same(ciphertextToJSON(g, ciphertext), t.ciphertext) && same(proof.toJSON(g), t.proof) && rng.exhausted())
        || "proof differs";
    });
  });
  c.run(`${name} commitments are taken up to what the group ignores (modp: sign; ed25519: torsion)`, async () => {
    const t = v.shifted;
    const pk = PublicKey.fromHex(g, t.public_key);
    const ctx = fromHex(t.context, null, "context");
    const ct = ciphertextFromJSON(g, t.ciphertext);
    if (!(await RangeProof.fromJSON(g, t.valid, 1).verify(pk, ct, ctx))) return "proof shifted before hashing rejected";
    return !(await RangeProof.fromJSON(g, t.tampered, 1).verify(pk, ct, ctx)) || "commitment shifted after hashing accepted";
  });
  v.schnorr.forEach((t, i) => c.run(`${name} schnorr[${i}]`, async () => {
    const rng = new FixedRng(t.draws);
    const base = g.fromHex(t.base);
    const ctx = fromHex(t.context, null, "context");
    const proof = await SchnorrProof.prove(g, hexToBigInt(t.x, 32, "x"), ctx, { base, rng });
    if (!same(proof.toJSON(g), t.proof) || !rng.exhausted()) return "proof differs";
    const parsed = SchnorrProof.fromJSON(g, t.proof);
    const X = g.fromHex(t.public);
    return ((await parsed.verify(g, X, ctx, { base })) && !(await parsed.verify(g, X, encode(ctx, 1), { base }))
      && !(await parsed.verify(g, g.mul(X, g.g), ctx, { base }))) || "verification wrong";
  }));
  v.chaum_pedersen.forEach((t, i) => c.run(`${name} chaum_pedersen[${i}]`, async () => {
    const rng = new FixedRng(t.draws);
    const [g2, X1, X2] = [g.fromHex(t.g2), g.fromHex(t.X1), g.fromHex(t.X2)];
    const ctx = fromHex(t.context, null, "context");
    const proof = await ChaumPedersenProof.prove(g, hexToBigInt(t.x, 32, "x"), g.g, X1, g2, X2, ctx, { tag: t.tag, rng });
    if (!same(proof.toJSON(g), t.proof) || !rng.exhausted()) return "proof differs";
    const parsed = ChaumPedersenProof.fromJSON(g, t.proof);
    return ((await parsed.verify(g, g.g, X1, g2, X2, ctx, { tag: t.tag }))
      && !(await parsed.verify(g, g.g, X1, g2, X2, ctx))
      && !(await parsed.verify(g, g.g, X1, g2, g.mul(X2, g.g), ctx, { tag: t.tag }))) || "verification wrong";
  }));
}

function hybridChecks(c, name, vs) {
  const g = getGroup(name);
  vs.forEach((t, i) => c.run(`${name} hybrid[${i}]`, async () => {
    const rng = new FixedRng(t.draws);
    const aad = fromHex(t.aad, null, "aad");
    const plain = fromHex(t.plaintext, null, "plaintext");
    const ct = await hybrid.encrypt(g, g.fromHex(t.recipient), plain, aad, { rng });
    if (!same(hybrid.hybridToJSON(g, ct), t.ciphertext) || !rng.exhausted()) return "ciphertext differs";
    const parsed = hybrid.hybridFromJSON(g, t.ciphertext);
    const secret = hexToBigInt(t.secret, 32, "secret");
    if (toHex(await hybrid.decrypt(g, secret, parsed, aad)) !== t.plaintext) return "decrypts to other bytes";
    if (!(await throwsKind(() => hybrid.decrypt(g, secret, parsed, encode(aad, 1)), VerificationError))) return "wrong aad accepted";
    const body = Uint8Array.from(parsed.body);
    body[body.length - 1] ^= 1;
    if (!(await throwsKind(() => hybrid.decrypt(g, secret, { ...parsed, body }, aad), VerificationError))) return "tampered body accepted";
    const other = hybrid.hybridFromJSON(g, vs[(i + 1) % vs.length].ciphertext);
    return (await throwsKind(() => hybrid.decrypt(g, secret, { ...parsed, proof: other.proof }, aad), VerificationError)) !== null
      || "another ciphertext's ephemeral proof accepted";
  }));
}

function dkgChecks(c, name, scenarios) {
  const g = getGroup(name);
  for (const t of scenarios) {
    const label = `${name} dkg ${t.scenario}`;
    const parseAll = (params) => ({
      announcements: new Map(t.announcements.map((a) => [a.index, dkg.Announcement.fromJSON(params, a)])),
      messages: new Map(t.messages.map((m) => [m.index, dkg.DealerMessage.fromJSON(params, m)])),
      complaints: t.complaints.map((x) => dkg.Complaint.fromJSON(params, x)),
      confirmations: new Map(t.confirmations.map((x) => [x.index, dkg.Confirmation.fromJSON(params, x)])),
      reveals: new Map(t.reveals.map((r) => [r.index, dkg.Reveal.fromJSON(params, r)])),
      openings: new Map(t.openings.map((o) => [o.index, dkg.Opening.fromJSON(params, o)])),
    });
    c.run(`${label}: JS trustee 1 replays Python's trustee 1`, async () => {
      const params = new dkg.CeremonyParams(g, t.n, t.k, fromHex(t.context, null, "context"));
      const all = parseAll(params);
      const rng = new FixedRng(t.trustee1.draws);
      let trustee = dkg.Trustee.create(params, 1, { rng });
      const announcement = await trustee.announce({ rng });
      if (!same(announcement.toJSON(g), t.announcements[0])) return "announcement differs";
      const message = await trustee.deal(all.announcements, { rng });
      const dealt = t.messages.find((m) => m.index === 1);
      if (!same(message.toJSON(g), dealt)) return "dealer message differs";
      trustee = dkg.Trustee.fromState(params, JSON.parse(canonicalJson(trustee.toState())));
      const complaints = await trustee.checkShares(all.messages, { rng });
      if (!same(complaints.map((x) => x.toJSON(g)), t.complaints.filter((x) => x.accuser === 1))) return "complaints differ";
      const qualification = await dkg.qualify(params, all.announcements, all.messages, all.complaints);
      if (!same(dkg.qualificationToJSON(qualification), t.qualification)) {
        return `qualification differs: ${canonicalJson(dkg.qualificationToJSON(qualification))}`;
      }
      if (t.confirm_refused) {  // silent-dealer: no trustee confirms a view without every trustee's deal
        const refused = await throwsKind(() => trustee.confirm(all.messages, all.complaints, { rng }), ProtocolError);
        return refused?.message === t.confirm_refused || `confirmed a view without every deal: ${refused?.message}`;
      }
      const confirmation = await trustee.confirm(all.messages, all.complaints, { rng });
      if (!same(confirmation.toJSON(g), t.confirmations.find((x) => x.index === 1))) return "confirmation differs";
      trustee = dkg.Trustee.fromState(params, JSON.parse(canonicalJson(trustee.toState())));
      if (!same(dkg.qualificationToJSON(trustee.qualification), t.qualification)) return "the saved state lost the qualification";
      for (const [i, x] of all.confirmations) {
        if (!(await x.verify(params, all.announcements.get(i), qualification))) return `Python's confirmation ${i} refused`;
      }
      const reveal = await trustee.reveal(all.confirmations, { rng });
      if (!same(reveal.toJSON(g), t.reveals.find((r) => r.index === 1))) return "reveal differs";
      trustee = dkg.Trustee.fromState(params, JSON.parse(canonicalJson(trustee.toState())));
      if (!trustee.agreed) return "the saved state lost the agreement";
      const reconstruct = await dkg.toReconstruct(params, qualification, all.messages, all.reveals);
      if (!same(reconstruct, t.reconstruct)) return `to reconstruct: ${JSON.stringify(reconstruct)}`;
      if (reconstruct.length) {
        const opening = await trustee.open(all.messages, all.reveals);
        if (!same(opening.toJSON(g), t.openings.find((o) => o.index === 1))) return "opening differs";
        trustee = dkg.Trustee.fromState(params, JSON.parse(canonicalJson(trustee.toState())));
        if (!same(trustee.opened, reconstruct)) return "the saved state lost what the trustee opened";
        // another view of the reveals (every one shown): the trustee opened once, for RECON, and opens for no other
        const other = await throwsKind(() => trustee.open(all.messages, new Map()), ProtocolError);
        if (!other?.message.includes("already opened its shares")) return `opened again for another view: ${other?.message}`;
      } else if (t.openings.length) return "Python opened shares with nothing to reconstruct";
      const result = await dkg.adjudicate(params, all.announcements, all.messages, all.complaints, all.reveals, all.openings);
      if (reconstruct.length) {  // an outcome reconstructing nothing is not the one it opened for
        const clean = { ...result, reconstructed: [] };
        const refused = await throwsKind(() => trustee.finish(clean), VerificationError);
        if (!refused?.message.includes("it opened its shares for")) return `finished another outcome: ${refused?.message}`;
      }
      if (!same(dkg.resultToJSON(g, result), t.result)) return `result differs: ${canonicalJson(dkg.resultToJSON(g, result))}`;
      if (!same(dkg.resultToJSON(g, dkg.resultFromJSON(params, t.result)), t.result)) return "Python's result does not round-trip";
      const key = trustee.finish(result);
      if (!same(key.toJSON(), t.trustee1.key)) return "trustee key differs";
      if (!same(dkg.TrusteeKey.fromJSON(g, t.trustee1.key).toJSON(), t.trustee1.key)) return "trustee key does not round-trip";
      const signature = await trustee.sign(result, { rng });
      if (!same(signature.toJSON(g), t.signatures["1"]) || !rng.exhausted()) return "signature differs";
      for (const a of all.announcements.values()) {  // every trustee's that went on (a silent dealer stops)
        if (!(String(a.index) in t.signatures)) {
          if (result.qualified.includes(a.index)) return `no signature of qualified trustee ${a.index}`;
          continue;
        }
        const sig = SchnorrProof.fromJSON(g, t.signatures[String(a.index)]);
        if (!(await dkg.verifySignature(params, a, result, sig))) return `signature of trustee ${a.index} rejected`;
      }
      return true;
    });
    c.run(`${label}: a qualified dealer without a valid reveal is reconstructed or the ceremony fails`, async () => {
      const params = new dkg.CeremonyParams(g, t.n, t.k, fromHex(t.context, null, "context"));
      const all = parseAll(params);
      const qualification = await dkg.qualify(params, all.announcements, all.messages, all.complaints);
      const [first] = qualification.qualified;
      const fewer = new Map([...all.reveals].filter(([i]) => i !== first));
      if (!(await dkg.toReconstruct(params, qualification, all.messages, fewer)).includes(first)) return "a missing reveal is not noticed";
      const adjudicate = (reveals, openings) => dkg.adjudicate(params, all.announcements, all.messages, all.complaints, reveals, openings);
      if (!(await throwsKind(() => adjudicate(fewer, new Map()), ProtocolError))) return "a dealer without reveal or openings was accepted";
      if (!t.openings.length) return true;
      // an opening that does not match the commitments does not count: fewer than k valid ones remain
      const tampered = new Map(all.openings);
      const o = all.openings.get(t.openings[0].index);
      const pairs = new Map([...o.openings].map(([i, pair]) => [i, { share: (pair.share + 1n) % g.q, blinding: pair.blinding }]));
      tampered.set(o.index, new dkg.Opening(o.index, pairs));
      return (await throwsKind(() => adjudicate(all.reveals, tampered), ProtocolError)) !== null || "an invalid opening was counted";
    });
    c.run(`${label}: malformed messages are refused naming the field`, async () => {
      const params = new dkg.CeremonyParams(g, t.n, t.k, fromHex(t.context, null, "context"));
      const m = JSON.parse(JSON.stringify(t.messages[1]));
      m.commitments[1] = g.toHex(g.identity);
      const e1 = await throwsKind(() => dkg.DealerMessage.fromJSON(params, m, "dealer"), DecodeError);
      const m2 = JSON.parse(JSON.stringify(t.messages[1]));
      delete m2.shares["3"];
      const e2 = await throwsKind(() => dkg.DealerMessage.fromJSON(params, m2, "dealer"), DecodeError);
      const a = { ...t.announcements[0], index: t.n + 1 };
      const e3 = await throwsKind(() => dkg.Announcement.fromJSON(params, a, "announcement"), DecodeError);
      const r = JSON.parse(JSON.stringify(t.reveals[0]));
      r.proofs[1] = { feldman: r.proofs[1].feldman };
      const e4 = await throwsKind(() => dkg.Reveal.fromJSON(params, r, "reveal"), DecodeError);
      const r2 = { ...t.reveals[0], feldman: t.reveals[0].feldman.slice(1) };
      const e5 = await throwsKind(() => dkg.Reveal.fromJSON(params, r2, "reveal"), DecodeError);
      const o = { index: 1, openings: { 2: { share: g.scalarToHex(1n), blinding: g.q.toString(16).padStart(64, "0") } } };
      const e6 = await throwsKind(() => dkg.Opening.fromJSON(params, o, "opening"), DecodeError);
      const e7 = await throwsKind(() => dkg.Opening.fromJSON(params, { index: 1, openings: { 1: o.openings[2] } }, "opening"), DecodeError);
      const e8 = await throwsKind(() => dkg.Opening.fromJSON(params, { index: 1, openings: { "02": o.openings[2] } }, "opening"), DecodeError);
      const fields = [e1, e2, e3, e4, e5, e6, e7, e8].map((e) => e?.field);
      return same(fields, ["dealer.commitments[1]", "dealer.shares", "announcement.index", "reveal.proofs[1]", "reveal.feldman",
        "opening.openings.2.blinding", "opening.openings.1", "opening.openings"]) || `fields: ${fields.join(", ")}`;
    });
    c.run(`${label}: reveals are bound to the hash of rounds 1-3`, async () => {
      const params = new dkg.CeremonyParams(g, t.n, t.k, fromHex(t.context, null, "context"));
      const all = parseAll(params);
      const qualification = await dkg.qualify(params, all.announcements, all.messages, all.complaints);
      const other = { ...qualification, transcriptHash: Uint8Array.from(qualification.transcriptHash, (b, i) => (i ? b : b ^ 1)) };
      for (const [i, reveal] of all.reveals) {
        if (t.reconstruct.includes(i)) continue; // bad-reveal: invalid anyway
        if (!(await reveal.verify(params, all.messages.get(i), qualification))) return `Python's reveal ${i} refused`;
        if (await reveal.verify(params, all.messages.get(i), other)) return `reveal ${i} accepted under another qualification hash`;
      }
      return true;
    });
    c.run(`${label}: trustee 1 goes on only under the qualification it confirmed, once every qualified trustee did`, async () => {
      const params = new dkg.CeremonyParams(g, t.n, t.k, fromHex(t.context, null, "context"));
      const all = parseAll(params);
      const fresh = await replayUntilComplaints(params, t, all);
      const state = fresh.toState();
      const before = () => dkg.Trustee.fromState(params, JSON.parse(canonicalJson(state)));
      const result = dkg.resultFromJSON(params, t.result);
      const err1 = await throwsKind(() => before().open(all.messages, all.reveals), ProtocolError);
      const err2 = await throwsKind(() => before().finish(result), ProtocolError);
      const err3 = await throwsKind(() => before().sign(result), ProtocolError);
      if (err1?.message !== "trustee 1 has not confirmed a qualification yet" || !err2 || !err3) return "went on before confirming";
      if (t.confirm_refused) return true;  // silent-dealer: it never confirms (checked above)
      const trustee = before();
      await trustee.confirm(all.messages, all.complaints);
      const err8 = await throwsKind(() => trustee.open(all.messages, all.reveals), ProtocolError);
      if (!err8?.message.includes("has not seen every qualified trustee's confirmation")) return `opened before agreement: ${err8?.message}`;
      const [last] = [...all.confirmations.keys()].slice(-1);
      const err9 = await throwsKind(() => trustee.reveal(new Map([...all.confirmations].filter(([i]) => i !== last))), ProtocolError);
      if (!err9?.message.startsWith(`qualified trustees [${last}] have not confirmed`)) return `revealed unconfirmed: ${err9?.message}`;
      await trustee.reveal(all.confirmations);
      const saved = trustee.toState();
      saved.qualification.transcript_hash = "00".repeat(32);  // as if it had confirmed another view before
      const err4 = await throwsKind(() => dkg.Trustee.fromState(params, saved).confirm(all.messages, all.complaints), ProtocolError);
      if (!err4?.message.startsWith("trustee 1 already confirmed another qualification")) return `second qualification: ${err4?.message}`;
      const moved = { ...result, qualificationHash: new Uint8Array(32) };
      const err5 = await throwsKind(() => trustee.finish(moved), VerificationError);
      const err6 = await throwsKind(() => trustee.sign(moved), VerificationError);
      const message = "trustee 1: the outcome is not of the qualification it confirmed";
      if (err5?.message !== message || err6?.message !== message) return `outcome of another qualification: ${err5?.message} / ${err6?.message}`;
      if (!same(trustee.finish(result).toJSON(), t.trustee1.key)) return "the key differs after the refusals";
      const missing = [2, 3].filter((i) => !fresh.received.has(i));
      const err7 = await throwsKind(() => before().confirm(all.messages, []), ProtocolError);  // its complaint dropped
      if (t.complaints.length && err7?.message !== `trustee 1 holds no valid share from qualified dealers [${missing.join(", ")}]`) {
        return `confirmed without a share from ${missing}: ${err7?.message}`;
      }
      return true;
    });
  }
  if (name === "modp") membershipChecks(c, g, scenarios.find((t) => t.scenario === "honest"));
}

/** Trustee 1 of a DKG vector replayed through round 3 (its state holds no qualification yet). */
async function replayUntilComplaints(params, t, all) {
  const rng = new FixedRng(t.trustee1.draws);
  const trustee = dkg.Trustee.create(params, 1, { rng });
  await trustee.announce({ rng });
  await trustee.deal(all.announcements, { rng });
  await trustee.checkShares(all.messages, { rng });
  return trustee;
}

/** A Schnorr proof of x for the statement (base, X) as given, whether or not X = base^x exactly. */
async function schnorrOver(g, base, X, x, context) {
  const w = g.randomScalar();
  const a = g.exp(base, w);
  return new SchnorrProof(a, (w + (await challenge(g, SchnorrProof.TAG, context, [base, X], [a])) * x) % g.q);
}

// modp's proofs hold up to sign (docs/spec.md section 4): p - x, outside the subgroup, passes a proof made over it.
// Reveal.verify and qualify check membership themselves rather than relying on the parsers.
function membershipChecks(c, g, t) {
  const label = "modp dkg: membership is checked";
  const setup = async () => {
    const params = new dkg.CeremonyParams(g, t.n, t.k, fromHex(t.context, null, "context"));
    const all = parseVector(params, t);
    return { params, all, qualification: await dkg.qualify(params, all.announcements, all.messages, all.complaints) };
  };
  c.run(`${label}: Reveal.verify refuses a negated Feldman value with proofs made over it`, async () => {
    const { params, all, qualification } = await setup();
    const trustee = await replayUntilComplaints(params, t, all);
    const h = await pedersenH(g);
    const bound = qualification.transcriptHash;
    const feldman = trustee.polynomial.map((a, m) => (m === 0 ? g.p - g.expG(a) : g.expG(a)));
    const commitments = all.messages.get(1).commitments;
    const proofs = [];
    for (let m = 0; m < t.k; m++) {
      proofs.push({ feldman: await schnorrOver(g, g.g, feldman[m], trustee.polynomial[m], params.ctx("dkg-feldman", 1, m, bound)),
        blinding: await schnorrOver(g, h, g.div(commitments[m], feldman[m]), trustee.blinding[m], params.ctx("dkg-blinding", 1, m, bound)) });
    }
    const forged = new dkg.Reveal(1, feldman, proofs);
    if (!(await proofs[0].feldman.verify(g, feldman[0], params.ctx("dkg-feldman", 1, 0, bound)))) return "the forged proof does not even verify";
    if (await forged.verify(params, all.messages.get(1), qualification)) return "a non-member Feldman value accepted";
    const reveals = new Map(all.reveals).set(1, forged);
    return same(await dkg.toReconstruct(params, qualification, all.messages, reveals), [1]) || "dealer 1 not reconstructed";
  });
  c.run(`${label}: qualify rejects a complaint with a negated KEM secret`, async () => {
    const { params, all } = await setup();
    const trustee = await replayUntilComplaints(params, t, all);
    const ct = all.messages.get(2).shares.get(1);
    const S = g.p - g.exp(ct.ephemeral, trustee.encSecret);
    const context = params.ctx("dkg-complaint", 1, 2);
    const w = g.randomScalar();
    const [a, b] = [g.expG(w), g.exp(ct.ephemeral, w)];
    const cc = await challenge(g, ChaumPedersenProof.TAG, context, [g.g, trustee.encKey, ct.ephemeral, S], [a, b]);
    const framing = new dkg.Complaint(1, 2, S, new ChaumPedersenProof(a, b, (w + cc * trustee.encSecret) % g.q));
    if (!(await framing.proof.verify(g, g.g, trustee.encKey, ct.ephemeral, S, context))) return "the framing proof does not even verify";
    const q = await dkg.qualify(params, all.announcements, all.messages, [framing]);
    return (same(q.qualified, [1, 2, 3]) && same(q.rejectedComplaints, [[1, 2]])) || `honest dealer 2 framed: ${q.qualified}`;
  });
  c.run(`${label}: qualify refuses a negated encryption key with a proof made over it`, async () => {
    const { params, all } = await setup();
    const trustee = await replayUntilComplaints(params, t, all);
    const negated = g.p - trustee.encKey;
    const forged = new dkg.Announcement(1, negated, await schnorrOver(g, g.g, negated, trustee.encSecret, params.ctx("enc-key", 1)));
    if (!(await forged.verify(params))) return "the forged proof does not even verify";
    const err = await throwsKind(() => dkg.qualify(params, new Map(all.announcements).set(1, forged), all.messages, all.complaints),
      VerificationError);
    return err?.message === "trustee 1: invalid encryption key announcement" || `a negated key accepted: ${err?.message}`;
  });
  c.run(`${label}: checkShares makes no complaint over a negated ephemeral (its S would publish e mod 2)`, async () => {
    const { params, all } = await setup();
    const aad = params.ctx("dkg-share", 2, 1);
    const r = g.randomScalar();
    const ephemeral = g.p - g.expG(r);
    const ct = { ...all.messages.get(2).shares.get(1), ephemeral,
      proof: await schnorrOver(g, g.g, ephemeral, r, encode("quorum-hybrid-ephemeral", g.name, aad)) };
    if (!(await hybrid.ephemeralValid(g, ct, aad))) return "the forged proof does not even verify";
    const m2 = all.messages.get(2);
    const messages = new Map(all.messages).set(2, new dkg.DealerMessage(2, m2.commitments, new Map(m2.shares).set(1, ct), m2.signature));
    const rng = new FixedRng(t.trustee1.draws);
    const trustee = dkg.Trustee.create(params, 1, { rng });
    await trustee.announce({ rng });
    await trustee.deal(all.announcements, { rng });
    let complaints;
    try {
      complaints = await trustee.checkShares(messages, { rng });
    } catch (err) {  // the message, altered after dealer 2 signed it, is refused before anything is judged
      return (err instanceof ProtocolError && err.message.includes("not signed by its dealer")) || `threw ${err.message}`;
    }
    return complaints.every((x) => x.dealer !== 2) || "complained about dealer 2, publishing R^e";
  });
  c.run(`${label}: qualify disqualifies a dealer with a non-member commitment`, async () => {
    const { params, all } = await setup();
    const rng = new FixedRng(t.trustee1.draws);
    const trustee = dkg.Trustee.create(params, 1, { rng });  // dealer 1 itself signs its malformed message
    const m1 = all.messages.get(1);
    const commitments = [g.p - m1.commitments[0], ...m1.commitments.slice(1)];
    const signature = await SchnorrProof.prove(g, trustee.encSecret, await dkg.dealContext(params, 1, commitments, m1.shares, all.announcements));
    const messages = new Map(all.messages).set(1, new dkg.DealerMessage(1, commitments, m1.shares, signature));
    const q = await dkg.qualify(params, all.announcements, messages, all.complaints);
    return q.disqualified.get(1) === "malformed commitments" || `dealer 1: ${q.disqualified.get(1)}`;
  });
  c.run(`${label}: qualify refuses a deal message altered after it was signed (it convicts no dealer)`, async () => {
    const { params, all } = await setup();
    const m2 = all.messages.get(2);
    const ct = m2.shares.get(1);
    const body = new Uint8Array(ct.body);
    body[body.length - 1] ^= 1;
    const messages = new Map(all.messages).set(2, new dkg.DealerMessage(2, m2.commitments,
      new Map(m2.shares).set(1, { ...ct, body }), m2.signature));
    const err = await throwsKind(() => dkg.qualify(params, all.announcements, messages, all.complaints), ProtocolError);
    return err?.message.startsWith("the deal message of trustee 2 is not signed by its announced key")
      || `an altered message was adjudicated: ${err?.message}`;
  });
}

function parseVector(params, t) {
  return {
    announcements: new Map(t.announcements.map((a) => [a.index, dkg.Announcement.fromJSON(params, a)])),
    messages: new Map(t.messages.map((m) => [m.index, dkg.DealerMessage.fromJSON(params, m)])),
    complaints: t.complaints.map((x) => dkg.Complaint.fromJSON(params, x)),
    reveals: new Map(t.reveals.map((r) => [r.index, dkg.Reveal.fromJSON(params, r)])),
    openings: new Map(t.openings.map((o) => [o.index, dkg.Opening.fromJSON(params, o)])),
  };
}

// What threshold/ refuses (results, complaints, transcripts), refused alike: same error kind, field and message.
function dkgRejectChecks(c, name, cases, scenarios) {
  const g = getGroup(name);
  const kinds = { DecodeError, ProtocolError };
  for (const t of cases) {
    c.run(`${name} dkg refuses: ${t.name}`, async () => {
      const v = scenarios.find((s) => s.scenario === t.scenario);
      const params = new dkg.CeremonyParams(g, v.n, v.k, fromHex(v.context, null, "context"));
      let run;
      if (t.op === "result") run = () => dkg.resultFromJSON(params, t.input);
      else if (t.op === "complaint") run = () => dkg.Complaint.fromJSON(params, t.input);
      else {
        const all = parseVector(params, { ...v, complaints: t.complaints, reveals: t.reveals, openings: t.openings });
        run = () => dkg.adjudicate(params, all.announcements, all.messages, all.complaints, all.reveals, all.openings);
      }
      let err = null;
      try {
        await run();
      } catch (e) {
        err = e;
      }
      if (!err) return "accepted";
      if (!(err instanceof kinds[t.kind])) return `threw ${err}, expected a ${t.kind}`;
      const got = t.kind === "DecodeError" ? err.reason : err.message;
      if (t.kind === "DecodeError" && err.field !== t.field) return `field ${err.field}, expected ${t.field}`;
      return t.message === null || got === t.message || `message ${JSON.stringify(got)}, expected ${JSON.stringify(t.message)}`;
    });
  }
}

// ATTACKS row 4: every entry point refuses every invalid encoding, naming the field.
function entryPointChecks(c, name, v) {
  const g = getGroup(name);
  const seen = new Set();
  const bad = v.groups[name].decode.filter((t) => t.allow_identity && !t.valid && !seen.has(t.note) && seen.add(t.note));
  const d = v.dkg[name][0];
  const params = () => new dkg.CeremonyParams(g, d.n, d.k, fromHex(d.context, null, "context"));
  const dv = v.decryption[name];
  const pv = v.proofs[name];
  const entries = [
    ["public key", (h) => PublicKey.fromHex(g, h), null, "public_key"],
    ["ciphertext", (o) => ciphertextFromJSON(g, o), [pv.encryptions[0].ciphertext, "alpha"], "ciphertext.alpha"],
    ["range proof", (o) => RangeProof.fromJSON(g, o, 1), [pv.range[0].proof, "b", 1], "proof.b[1]"],
    ["schnorr proof", (o) => SchnorrProof.fromJSON(g, o), [pv.schnorr[0].proof, "commitment"], "proof.commitment"],
    // a, not b: where b may be the identity, the modp rule (commitments up to sign) lets it be -1 too
    ["chaum-pedersen proof", (o) => ChaumPedersenProof.fromJSON(g, o), [pv.chaum_pedersen[0].proof, "a"], "proof.a"],
    ["hybrid ciphertext", (o) => hybrid.hybridFromJSON(g, o), [v.hybrid[name][0].ciphertext, "ephemeral"], "encrypted.ephemeral"],
    ["announcement", (o) => dkg.Announcement.fromJSON(params(), o), [d.announcements[0], "enc_key"], "announcement.enc_key"],
    ["dealer message", (o) => dkg.DealerMessage.fromJSON(params(), o), [d.messages[0], "commitments", 1], "dealer.commitments[1]"],
    ["reveal", (o) => dkg.Reveal.fromJSON(params(), o), [d.reveals[0], "feldman", 1], "reveal.feldman[1]"],
    ["complaint", (o) => dkg.Complaint.fromJSON(params(), o), [v.dkg[name][1].complaints[0], "kem_secret"], "complaint.kem_secret"],
    ["trustee key", (o) => dkg.TrusteeKey.fromJSON(g, o), [dv.key, "verification_keys", "2"], "trustee_key.verification_keys.2"],
    ["partial decryption", (o) => partialDecrypt(g, 1, 1n, o, new Uint8Array(0)), [dv.ciphertexts, 2, "alpha"], "ciphertexts[2].alpha"],
  ];
  for (const [label, parse, where, field] of entries) {
    c.run(`${name} ${label} refuses ${bad.length} invalid encodings`, async () => {
      for (const t of bad) {
        let input = t.hex;
        if (where) {
          const [base, ...path] = where;
          input = JSON.parse(JSON.stringify(base));
          let at = input;
          for (const key of path.slice(0, -1)) at = at[key];
          at[path[path.length - 1]] = t.hex;
        }
        const err = await throwsKind(() => parse(input), DecodeError);
        if (err?.field !== field) return `${t.note} (${t.hex.slice(0, 16)}...): ${err ? `field ${err.field}` : "accepted"}`;
      }
      return true;
    });
  }
}

function decryptionChecks(c, name, t) {
  const g = getGroup(name);
  c.run(`${name} partial decryption equals Python's`, async () => {
    const key = dkg.TrusteeKey.fromJSON(g, t.key);
    const rng = new FixedRng(t.draws);
    const partial = await partialDecrypt(g, key.index, key.secret, t.ciphertexts, fromHex(t.context, null, "context"), { rng });
    return (same(partial.toJSON(g), t.partial) && rng.exhausted()) || "partial decryption differs";
  });
  c.run(`${name} partial decryption refuses a non-member alpha`, async () => {
    const key = dkg.TrusteeKey.fromJSON(g, t.key);
    const err = await throwsKind(() => partialDecrypt(g, key.index, key.secret, t.rejects.ciphertexts, new Uint8Array(0)), DecodeError);
    return err?.field === t.rejects.field || `error field ${err?.field}`;
  });
}

function keystoreChecks(c, t) {
  c.run("keystore: Python's document opens in JS", async () => same(await keystore.unseal(t.document, t.passphrase), t.secret)
    || "secret differs");
  c.run("keystore: JS seals Python's document byte for byte", async () => {
    const rng = new FixedRng(t.draws);
    const { time_cost, memory_cost, parallelism } = t.document.kdf;
    const doc = await keystore.seal(t.secret, t.passphrase, { rng, time_cost, memory_cost, parallelism });
    return (same(doc, t.document) && rng.exhausted()) || "document differs";
  });
  c.run("keystore: wrong passphrase and tampering refused", async () => {
    const tampered = { ...t.document, ciphertext: t.document.ciphertext.slice(0, -2) + "00" };
    const weak = { ...t.document, kdf: { ...t.document.kdf, time_cost: 0 } };
    return ((await throwsKind(() => keystore.unseal(t.document, "wrong"), VerificationError)) !== null
      && (await throwsKind(() => keystore.unseal(tampered, t.passphrase), VerificationError)) !== null
      && (await throwsKind(() => keystore.unseal(weak, t.passphrase), DecodeError))?.field === "secret file.kdf.time_cost")
      || "accepted";
  });
}

/**
 * Check every vector; returns [{name, ok, detail}].
 * @param {any} v the parsed vectors.json
 */
export async function runVectorChecks(v) {
  const c = new Checks();
  const pending = [];
  const run = c.run.bind(c);
  c.run = (name, fn) => { pending.push(run(name, fn)); };
  encodingChecks(c, v);
  hashingChecks(c, v);
  randomnessChecks(c);
  for (const name of ["ed25519", "modp"]) {
    groupChecks(c, name, v.groups[name]);
    proofChecks(c, name, v.proofs[name]);
    hybridChecks(c, name, v.hybrid[name]);
    dkgChecks(c, name, v.dkg[name]);
    dkgRejectChecks(c, name, v.dkg_rejects[name], v.dkg[name]);
    decryptionChecks(c, name, v.decryption[name]);
    entryPointChecks(c, name, v);
  }
  keystoreChecks(c, v.keystore);
  await Promise.all(pending);
  return c.results;
}
