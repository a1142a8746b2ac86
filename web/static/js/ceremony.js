/**
 * The trustee's side of the key ceremony, in this browser: the secrets are generated and kept
 * here (between rounds only sealed with the trustee's passphrase in this browser's storage), every
 * message sent is public, the outcome is adjudicated here too, and the key share leaves only as an
 * encrypted backup file downloaded by the trustee.
 * @module ceremony
 */

import { announce, getJson, postJson } from "./api.js";
import { fromHex, toHex } from "./crypto/bytes.js";
import { canonicalJson } from "./crypto/encoding.js";
import { Announcement, CeremonyParams, Complaint, DealerMessage, Opening, Reveal, Trustee, adjudicate, qualificationToJSON,
  qualify, toReconstruct } from "./crypto/dkg.js";
import { getGroup } from "./crypto/groups.js";
import { seal, unseal } from "./crypto/keystore.js";
import { downloadJson } from "./trustee/download.js";

const root = document.getElementById("ceremony");
const $ = (id) => document.getElementById(id);
const status = $("status");
const problem = $("problem");
$("loading").hidden = true;
const url = root.dataset.api;
const index = Number(root.dataset.index);
const storageKey = `quorum-ceremony:${root.dataset.election}:${index}`;
const POLL_MS = 1000;
const MISMATCH = "the server's ceremony outcome differs from the one computed here: stop and tell the administrator";

let passphrase = "";
let trustee = null;
let params = null;
let qualification = null; // final once the complaints are in: computed here once

function paramsOf(state) {
  return new CeremonyParams(getGroup(state.group), state.n, state.k, fromHex(state.context, null, "context"));
}

async function saveState() {
  localStorage.setItem(storageKey, JSON.stringify(await seal(trustee.toState(), passphrase)));
}

function mapOf(list, parse) {
  return new Map(list.map((m) => [m.index, parse(params, m)]));
}

/** The public messages so far, parsed. */
function transcript(state) {
  return {
    announcements: mapOf(state.announcements, Announcement.fromJSON),
    messages: mapOf(state.dealers, DealerMessage.fromJSON),
    complaints: state.complaints.flatMap((m) => m.complaints.map((c) => Complaint.fromJSON(params, c))),
    reveals: mapOf(state.reveals, Reveal.fromJSON),
    openings: mapOf(state.openings, Opening.fromJSON),
  };
}

/** QUAL decided in this browser from the public messages; it must agree with the server's. */
async function ownQualification(state) {
  if (!qualification) {
    const t = transcript(state);
    qualification = await qualify(params, t.announcements, t.messages, t.complaints);
  }
  if (canonicalJson(qualificationToJSON(qualification)) !== canonicalJson(state.qualification)) throw new Error(MISMATCH);
  return qualification;
}

/** The dealers to reconstruct, decided here: the qualified ones without a valid reveal. */
async function ownReconstruct(state) {
  const t = transcript(state);
  const reconstruct = await toReconstruct(params, await ownQualification(state), t.messages, t.reveals);
  if (canonicalJson(reconstruct) !== canonicalJson(state.reconstruct)) throw new Error(MISMATCH);
  return reconstruct;
}

/** Do this trustee's part of the current round, if it has not done it yet; true once the ceremony is over. */
async function step(state) {
  const g = params.group;
  const mine = (list) => list.some((m) => m.index === index);
  if (state.round === "announce" && !mine(state.announcements)) {
    announce(status, "Announce: publishing your encryption key…");
    await postJson(`${url}/announce`, (await trustee.announce()).toJSON(g));
  } else if (state.round === "deal" && !mine(state.dealers)) {
    announce(status, "Deal: sending encrypted shares to the other trustees…");
    const message = await trustee.deal(mapOf(state.announcements, Announcement.fromJSON));
    await postJson(`${url}/deal`, message.toJSON(g));
  } else if (state.round === "complain" && !mine(state.complaints)) {
    announce(status, "Complain: checking the shares you received…");
    const complaints = await trustee.checkShares(mapOf(state.dealers, DealerMessage.fromJSON));
    await saveState();
    await postJson(`${url}/complain`, { index, complaints: complaints.map((c) => c.toJSON(g)) });
  } else if (state.round === "reveal" && !mine(state.reveals) && (await ownQualification(state)).qualified.includes(index)) {
    announce(status, "Reveal: publishing your public commitments with their proofs…");
    const reveal = await trustee.reveal(await ownQualification(state));
    await postJson(`${url}/reveal`, reveal.toJSON(g));
  } else if (state.round === "open" && !state.reconstruct.includes(index) && !mine(state.openings)) {
    announce(status, `Open: publishing your shares of trustees ${state.reconstruct.join(", ")}, who did not reveal…`);
    await postJson(`${url}/open`, trustee.open(await ownReconstruct(state)).toJSON(g));
  } else if (["sign", "publish", "done"].includes(state.round) && state.result) {
    if (!$("backup").dataset.saved) await finish(state);
    if (state.round === "sign" && !state.signed.includes(index) && state.result.qualified.includes(index)) {
      announce(status, "Sign: signing the ceremony's transcript…");
      const result = await ownResult(state);
      await postJson(`${url}/sign`, { index, signature: (await trustee.sign(result)).toJSON(g) });
    }
    if (state.round === "done") return true;
  } else {
    const why = state.qualification && !state.qualification.qualified.includes(index)
      ? ` You were disqualified: ${state.qualification.disqualified[String(index)]}.` : "";
    announce(status, `Waiting for the other trustees (round: ${state.round})…${why}`);
  }
  return false;
}

/** The outcome adjudicated in this browser; it must agree with the server's. */
async function ownResult(state) {
  const t = transcript(state);
  const result = await adjudicate(params, t.announcements, t.messages, t.complaints, t.reveals, t.openings);
  if (toHex(result.transcriptHash) !== state.result.transcript_hash || params.group.toHex(result.publicKey) !== state.result.public_key) {
    throw new Error(MISMATCH);
  }
  return result;
}

/** Compute this trustee's key share and download it, sealed with the passphrase. */
async function finish(state) {
  const key = trustee.finish(await ownResult(state));
  const sealed = await seal(key.toJSON(), passphrase);
  downloadJson(sealed, `trustee-${root.dataset.election}-${index}.json`, $("backup"));
  $("backup").dataset.saved = "1";
  $("public-key").textContent = state.result.public_key.slice(0, 32) + "…";
  $("done").hidden = false;
  $("start-form").hidden = true;
}

async function run() {
  for (;;) {
    const state = await getJson(url);
    if (await step(state)) break;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  localStorage.removeItem(storageKey);
  announce(status, "The key ceremony is complete and on the board. Keep your backup file and passphrase safe.", "ok");
}

$("start-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  announce(problem, "");
  const first = $("passphrase").value;
  if (first.length < 12) return announce(problem, "passphrase: use at least 12 characters", "error");
  if (first !== $("passphrase2").value) return announce(problem, "passphrase again: the two passphrases differ", "error");
  passphrase = first;
  $("start").disabled = true;
  try {
    const state = await getJson(url);
    params = paramsOf(state);
    const saved = localStorage.getItem(storageKey);
    if (state.round === "done" && !saved) {
      announce(status, "This key ceremony is already complete. Use your backup file to decrypt when the tally is ready.", "ok");
      return;
    }
    trustee = saved ? Trustee.fromState(params, await unseal(JSON.parse(saved), passphrase)) : Trustee.create(params, index);
    await saveState();
    await run();
  } catch (error) {
    announce(problem, error.message, "error");
    $("start").disabled = false;
  }
});
