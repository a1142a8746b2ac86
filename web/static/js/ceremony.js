/**
 * The trustee's side of the key ceremony, in this browser: the secrets are generated and kept
 * here (between rounds only sealed with the trustee's passphrase in this browser's storage), every
 * message sent is public, the outcome is adjudicated here too, and the key share leaves only as an
 * encrypted backup file downloaded by the trustee. QUAL and the hash of rounds 1-3 are computed
 * here and must equal the server's; the trustee signs that qualification (the confirm round), keeps
 * it in its sealed state, reveals and opens only once every qualified trustee has signed the same
 * one, and finishes and signs under no other (docs/spec.md section 6).
 * @module ceremony
 */

import { announce, ApiError, getJson, NetworkError, postJson } from "./api.js";
import { fromHex, toHex } from "./crypto/bytes.js";
import { canonicalJson, canonicalJsonBytes, encode } from "./crypto/encoding.js";
import { sha256 } from "./crypto/hashing.js";
import { Announcement, CeremonyParams, Complaint, Confirmation, DealerMessage, Opening, Reveal, Trustee, adjudicate,
  qualificationToJSON, resultFromJSON, resultToJSON, toReconstruct } from "./crypto/dkg.js";
import { getGroup } from "./crypto/groups.js";
import { seal, sealer } from "./crypto/keystore.js";
import { downloadJson } from "./trustee/download.js";
import { openSealed } from "./trustee/open.js";

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
let qualification = null; // final once the complaints are in: computed here once (Trustee.confirm)
let confirmation = null; // what this page signed for the confirm round when it computed the qualification
let outcome = null; // final once the open round is over: adjudicated here once
let progress = null; // seals the progress saved after each round: the passphrase's argon2id key, derived once

/**
 * The ceremony's parameters, refused unless they are the election's setup entry's (voting.context.Setup.
 * ceremony_params): a relay stating a smaller quorum (k = 1: every share sent would be the whole secret) or another
 * context is caught before any secret is made. Shows the trustee the quorum it deals for.
 */
async function checkedParams(state) {
  const { entries } = await getJson(`${root.dataset.entries}?type=setup`);
  const setup = entries.find((e) => e.type === "setup")?.payload;
  if (!setup) throw new Error("the election has no setup entry on its board: refusing to start the ceremony");
  const context = toHex(encode("quorum/election", await sha256(canonicalJsonBytes(setup))));
  if (state.group !== setup.group.name || state.n !== setup.trustees || state.k !== setup.quorum || state.context !== context) {
    throw new Error("the server's ceremony parameters (group, trustees, quorum or context) differ from the election's "
      + "setup entry: stop and tell the administrator");
  }
  $("parameters").textContent = `Trustee ${index} of ${setup.trustees}: any ${setup.quorum} trustees together can `
    + `decrypt the results, fewer learn nothing.`;
  $("parameters").hidden = false;
  return new CeremonyParams(getGroup(state.group), state.n, state.k, fromHex(state.context, null, "context"));
}

async function saveState() {
  progress ??= await sealer(passphrase);
  localStorage.setItem(storageKey, JSON.stringify(await progress.seal(trustee.toState())));
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

/**
 * QUAL and the hash of rounds 1-3, decided in this browser by the trustee from the public messages (over the
 * announcements it dealt to, its own deal included) and kept in its sealed state; both must agree with the server's.
 */
async function ownQualification(state) {
  if (!qualification) {
    if (trustee.confirmed === null) {
      const t = transcript(state);
      confirmation = await trustee.confirm(t.messages, t.complaints);
      await saveState();
    }
    qualification = trustee.ownQualification();
  }
  if (canonicalJson(qualificationToJSON(qualification)) !== canonicalJson(state.qualification)) throw new Error(MISMATCH);
  $("qual-hash").textContent = toHex(qualification.transcriptHash).slice(0, 16);  // for trustees to compare out of band
  $("fingerprint").hidden = false;
  return qualification;
}

/** The dealers to reconstruct, decided here: the qualified ones without a valid reveal (bound to QUAL's hash). */
async function ownReconstruct(state) {
  const t = transcript(state);
  const reconstruct = await toReconstruct(params, await ownQualification(state), t.messages, t.reveals);
  if (canonicalJson(reconstruct) !== canonicalJson(state.reconstruct)) throw new Error(MISMATCH);
  return reconstruct;
}

/** Where the ceremony's state lists, by trustee index, who has sent its message of each round. */
const SENT_IN = { announce: "announcements", deal: "dealers", complain: "complaints", confirm: "confirmations",
  reveal: "reveals", open: "openings", sign: "signed" };

/** Whether the state holds this trustee's message of `round`. */
function sent(state, round) {
  return state[SENT_IN[round]].some((m) => (typeof m === "number" ? m : m.index) === index);
}

/**
 * Post this trustee's message of `round`. When the post fails, the state says what happened: the message may have
 * arrived though its answer did not (a POST given up on still reaches the server; the relay then refuses a second
 * one), and a round may end without it (the open round ends once k trustees have opened, the reveal round when the
 * administrator closes it): either way there is nothing left to send. Otherwise the error stands.
 */
async function post(round, body) {
  try {
    await postJson(`${url}/${round}`, body);
  } catch (error) {
    const now = await getJson(url);
    if (now.round === round && !sent(now, round)) throw error;
    if (now.round !== round && !sent(now, round)) {
      announce(status, `The ${round} round ended without your message (it is no longer needed): waiting for the next round…`);
    }
  }
}

/** Do this trustee's part of the current round, if it has not done it yet; true once the ceremony is over. */
async function step(state) {
  const g = params.group;
  let revealed = null;
  if (state.qualification) await ownQualification(state);
  if (state.qualification && state.round !== "confirm" && !trustee.agreed) {
    // every qualified trustee signed the QUAL it computed: only if each signed this trustee's does it reveal and
    // open (a relay showing trustees different rounds 1-3 gets no such agreement), and it keeps the agreement
    revealed = await trustee.reveal(mapOf(state.confirmations, Confirmation.fromJSON));
    await saveState();
  }
  if (state.round === "announce" && !sent(state, "announce")) {
    announce(status, "Announce: publishing your encryption key…");
    await post("announce", (await trustee.announce()).toJSON(g));
  } else if (state.round === "deal" && !sent(state, "deal")) {
    announce(status, "Deal: sending encrypted shares to the other trustees…");
    const message = await trustee.deal(mapOf(state.announcements, Announcement.fromJSON));
    await saveState(); // the announcements it dealt to: it judges the shares it receives against them
    await post("deal", message.toJSON(g));
  } else if (state.round === "complain" && !sent(state, "complain")) {
    announce(status, "Complain: checking the shares you received…");
    const dealers = mapOf(state.dealers, DealerMessage.fromJSON);
    if (trustee.dealt === null && dealers.has(index)) {  // progress saved by an earlier version: its own deal, checked
      await trustee.adoptDeal(dealers.get(index), mapOf(state.announcements, Announcement.fromJSON));
    }
    const complaints = await trustee.checkShares(dealers);
    await saveState();
    await post("complain", { index, complaints: complaints.map((c) => c.toJSON(g)) });
  } else if (state.round === "confirm" && !sent(state, "confirm")) {
    announce(status, "Confirm: signing the qualified trustees you worked out…");
    const t = transcript(state);
    await post("confirm", (confirmation ?? (await trustee.confirm(t.messages, t.complaints))).toJSON(g));
  } else if (state.round === "reveal" && !sent(state, "reveal") && (await ownQualification(state)).qualified.includes(index)) {
    announce(status, "Reveal: publishing your public commitments with their proofs…");
    const reveal = revealed ?? (await trustee.reveal(mapOf(state.confirmations, Confirmation.fromJSON)));
    await post("reveal", reveal.toJSON(g));
  } else if (state.round === "open" && !state.reconstruct.includes(index) && !sent(state, "open")) {
    await ownReconstruct(state);
    announce(status, `Open: publishing your shares of trustees ${state.reconstruct.join(", ")}, who did not reveal…`);
    const t = transcript(state);
    const opening = await trustee.open(t.messages, t.reveals); // RECON worked out by the trustee itself, once
    await saveState(); // what it opened for is kept before anything is sent: it finishes and signs no other outcome
    await post("open", opening.toJSON(g));
  } else if (["sign", "publish", "done"].includes(state.round) && state.result) {
    if (!$("backup").dataset.saved) await finish(state);
    if (state.round === "sign" && !sent(state, "sign") && state.result.qualified.includes(index)) {
      announce(status, "Sign: signing the ceremony's transcript…");
      const result = await ownResult(state);
      await post("sign", { index, signature: (await trustee.sign(result)).toJSON(g) });
    }
    if (state.round === "done") return true;
  } else {
    const why = state.qualification && !state.qualification.qualified.includes(index)
      ? ` You were disqualified: ${state.qualification.disqualified[String(index)]}.` : "";
    const opened = state.round === "open" && sent(state, "open") ? " Your openings are published." : "";
    announce(status, `Waiting for the other trustees (round: ${state.round})…${why}${opened}`);
  }
  return false;
}

/** The outcome adjudicated in this browser; the server's (parsed strictly) must be the same, field for field. */
async function ownResult(state) {
  resultFromJSON(params, state.result, "result");
  if (!outcome) {
    const t = transcript(state);
    outcome = await adjudicate(params, t.announcements, t.messages, t.complaints, t.reveals, t.openings);
  }
  if (canonicalJson(resultToJSON(params.group, outcome)) !== canonicalJson(state.result)) throw new Error(MISMATCH);
  return outcome;
}

/** Compute this trustee's key share and download it, sealed with the passphrase. */
async function finish(state) {
  const key = trustee.finish(await ownResult(state));
  announce(status, "Sealing your key share with your passphrase (argon2id)…");
  const sealed = await seal(key.toJSON(), passphrase);
  downloadJson(sealed, `trustee-${root.dataset.election}-${index}.json`, $("backup"));
  $("backup").dataset.saved = "1";
  $("public-key").textContent = state.result.public_key.slice(0, 32) + "…";
  $("done").hidden = false;
  $("start-form").hidden = true;
}

async function run() {
  for (;;) {
    try {
      if (await step(await getJson(url))) break;
    } catch (error) {
      // no answer (or a proxy's 502-504 for one): the next poll shows whether what this step sent arrived, and the
      // step does what is left
      if (!(error instanceof NetworkError || (error instanceof ApiError && [502, 503, 504].includes(error.status)))) {
        throw error;
      }
      announce(status, `No answer from the server: ${error.message.replace(/: (check the connection and )?try again$/, "")}. `
        + "This page tries again by itself…");
    }
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
  progress = null;  // a key of this passphrase, not of one typed before
  $("start").disabled = true;
  try {
    const state = await getJson(url);
    params = await checkedParams(state);
    const saved = localStorage.getItem(storageKey);
    if (state.round === "done" && !saved) {
      announce(status, "This key ceremony is already complete. Use your backup file to decrypt when the tally is ready.", "ok");
      return;
    }
    announce(status, "Deriving a key from your passphrase (argon2id, a second or two)…");
    const resumed = saved ? await openSealed(JSON.parse(saved), passphrase,
      "the progress this browser saved for this ceremony", "when you started it") : null;
    trustee = resumed ? Trustee.fromState(params, resumed.secret) : Trustee.create(params, index);
    progress = resumed?.sealer ?? null;  // the saved progress's own key: resuming derives once, not twice
    await saveState();
    await run();
  } catch (error) {
    announce(problem, error.message, "error");
    $("start").disabled = false;
  }
});
$("start").disabled = false;  // disabled in the page until this handler is attached: no native submit
