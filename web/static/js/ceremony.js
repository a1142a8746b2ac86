/**
 * The trustee's side of the key ceremony, in this browser: the secrets are generated and kept
 * here (between rounds only sealed with the trustee's passphrase in this browser's storage), every
 * message sent is public, the outcome is adjudicated here too, and the key share leaves only as an
 * encrypted backup file downloaded by the trustee.
 * @module ceremony
 */

import { announce, getJson, postJson } from "./api.js";
import { fromHex, toHex } from "./crypto/bytes.js";
import { Announcement, CeremonyParams, Complaint, DealerMessage, Trustee, adjudicate } from "./crypto/dkg.js";
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

let passphrase = "";
let trustee = null;
let params = null;

function paramsOf(state) {
  return new CeremonyParams(getGroup(state.group), state.n, state.k, fromHex(state.context, null, "context"));
}

async function saveState() {
  localStorage.setItem(storageKey, JSON.stringify(await seal(trustee.toState(), passphrase)));
}

function mapOf(list, parse) {
  return new Map(list.map((m) => [m.index, parse(params, m)]));
}

/** Do this trustee's part of the current round, if it has not done it yet; true once the ceremony is over. */
async function step(state) {
  const g = params.group;
  const mine = (list) => list.some((m) => m.index === index);
  if (state.round === "announce" && !mine(state.announcements)) {
    announce(status, "Round 1 of 4: announcing your encryption key…");
    await postJson(`${url}/announce`, (await trustee.announce()).toJSON(g));
  } else if (state.round === "deal" && !mine(state.dealers)) {
    announce(status, "Round 2 of 4: dealing encrypted shares to the other trustees…");
    const message = await trustee.deal(mapOf(state.announcements, Announcement.fromJSON));
    await postJson(`${url}/deal`, message.toJSON(g));
  } else if (state.round === "complain" && !mine(state.complaints)) {
    announce(status, "Round 3 of 4: checking the shares you received…");
    const complaints = await trustee.checkShares(mapOf(state.dealers, DealerMessage.fromJSON));
    await saveState();
    await postJson(`${url}/complain`, { index, complaints: complaints.map((c) => c.toJSON(g)) });
  } else if (["sign", "publish", "done"].includes(state.round) && state.result) {
    if (!$("backup").dataset.saved) await finish(state);
    if (state.round === "sign" && !state.signed.includes(index)) {
      announce(status, "Round 4 of 4: signing the ceremony's transcript…");
      const result = await ownResult(state);
      await postJson(`${url}/sign`, { index, signature: (await trustee.sign(result)).toJSON(g) });
    }
    if (state.round === "done") return true;
  } else {
    announce(status, `Waiting for the other trustees (round: ${state.round})…`);
  }
  return false;
}

/** The outcome adjudicated in this browser; it must agree with the server's. */
async function ownResult(state) {
  const complaints = state.complaints.flatMap((m) => m.complaints.map((c) => Complaint.fromJSON(params, c)));
  const result = await adjudicate(params, mapOf(state.announcements, Announcement.fromJSON),
    mapOf(state.dealers, DealerMessage.fromJSON), complaints);
  if (toHex(result.transcriptHash) !== state.result.transcript_hash || params.group.toHex(result.publicKey) !== state.result.public_key) {
    throw new Error("the server's ceremony outcome differs from the one computed here: stop and tell the administrator");
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
