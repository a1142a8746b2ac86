// One JS trustee in a ceremony with Python trustees: each step takes and returns JSON, and the
// trustee's secret state round-trips through Trustee.toState / Trustee.fromState between steps.
// `t` is the public transcript so far: {announcements, messages, complaints, reveals, openings} (JSON lists).
import { fromHex } from "../../web/static/js/crypto/bytes.js";
import { getGroup } from "../../web/static/js/crypto/groups.js";
import * as dkg from "../../web/static/js/crypto/dkg.js";
import { partialDecrypt } from "../../web/static/js/crypto/decryption.js";

function params(p) {
  return new dkg.CeremonyParams(getGroup(p.group), p.n, p.k, fromHex(p.context, null, "context"));
}

const byIndex = (list, parse) => new Map(list.map((x) => [x.index, parse(x)]));

export async function announce(p, index) {
  const trustee = dkg.Trustee.create(params(p), index);
  const announcement = await trustee.announce();
  return { state: trustee.toState(), announcement: announcement.toJSON(trustee.params.group) };
}

export async function deal(p, state, announcements) {
  const ps = params(p);
  const trustee = dkg.Trustee.fromState(ps, state);
  const message = await trustee.deal(byIndex(announcements, (a) => dkg.Announcement.fromJSON(ps, a)));
  return { state: trustee.toState(), message: message.toJSON(ps.group) };
}

export async function check(p, state, messages) {
  const ps = params(p);
  const trustee = dkg.Trustee.fromState(ps, state);
  const complaints = await trustee.checkShares(byIndex(messages, (m) => dkg.DealerMessage.fromJSON(ps, m)));
  return { state: trustee.toState(), complaints: complaints.map((c) => c.toJSON(ps.group)) };
}

function transcript(ps, t) {
  return {
    announcements: byIndex(t.announcements, (a) => dkg.Announcement.fromJSON(ps, a)),
    messages: byIndex(t.messages, (m) => dkg.DealerMessage.fromJSON(ps, m)),
    complaints: t.complaints.map((c) => dkg.Complaint.fromJSON(ps, c)),
    reveals: byIndex(t.reveals || [], (r) => dkg.Reveal.fromJSON(ps, r)),
    openings: byIndex(t.openings || [], (o) => dkg.Opening.fromJSON(ps, o)),
  };
}

// QUAL (with the hash of rounds 1-3) decided in the browser by the trustee, and its signature of it; the state now
// keeps that qualification.
export async function confirm(p, state, t) {
  const ps = params(p);
  const trustee = dkg.Trustee.fromState(ps, state);
  const all = transcript(ps, t);
  const confirmation = await trustee.confirm(all.messages, all.complaints);
  return { state: trustee.toState(), qualification: dkg.qualificationToJSON(trustee.qualification),
    confirmation: confirmation.toJSON(ps.group) };
}

// Once every qualified trustee's confirmation (a JSON list) is of the trustee's qualification, its reveal bound to
// it (null if it is not qualified); the state now keeps the agreement.
export async function reveal(p, state, confirmations) {
  const ps = params(p);
  const trustee = dkg.Trustee.fromState(ps, state);
  const revealed = await trustee.reveal(byIndex(confirmations, (c) => dkg.Confirmation.fromJSON(ps, c)));
  return { state: trustee.toState(), reveal: revealed && revealed.toJSON(ps.group) };
}

// The dealers to reconstruct, decided in the browser, and this trustee's openings of their shares (the trustee
// works them out itself, under the qualification it confirmed).
export async function open(p, state, t) {
  const ps = params(p);
  const trustee = dkg.Trustee.fromState(ps, state);
  const all = transcript(ps, t);
  const reconstruct = await dkg.toReconstruct(ps, trustee.qualification, all.messages, all.reveals);
  return { reconstruct, opening: (await trustee.open(all.messages, all.reveals)).toJSON(ps.group) };
}

export async function finish(p, state, t) {
  const ps = params(p);
  const trustee = dkg.Trustee.fromState(ps, state);
  const all = transcript(ps, t);
  const result = await dkg.adjudicate(ps, all.announcements, all.messages, all.complaints, all.reveals, all.openings);
  const key = trustee.finish(result);
  const signature = await trustee.sign(result);
  return { result: dkg.resultToJSON(ps.group, result), key: key.toJSON(), signature: signature.toJSON(ps.group) };
}

export async function decrypt(groupName, keyJSON, ciphertexts, contextHex) {
  const g = getGroup(groupName);
  const key = dkg.TrusteeKey.fromJSON(g, keyJSON);
  return (await partialDecrypt(g, key.index, key.secret, ciphertexts, fromHex(contextHex, null, "context"))).toJSON(g);
}
