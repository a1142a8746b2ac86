/**
 * The voting booth: the credential, the choices, encryption and signature in this browser, then
 * the Benaloh choice: cast (receipt with tracking code) or challenge (opened and checked here).
 * @module booth
 */

import { announce, ApiError, getJson, postJson } from "./api.js";
import { entryValid, nextTracker } from "./board.js";
import { fromHex, toHex } from "./crypto/bytes.js";
import { canonicalJson } from "./crypto/encoding.js";
import { checkReveal, credentialKey, encryptBallot, revealJson } from "./booth/ballot.js";
import { Chain } from "./booth/chain.js";
import { contestRules, loadContext, pinError, pinnedBaseHash } from "./booth/election.js";

const root = document.getElementById("booth");
const $ = (id) => document.getElementById(id);
const status = $("status");
const problem = $("problem");
$("loading").hidden = true;
const steps = ["step-credential", "step-choose", "step-decide", "step-checked", "step-receipt"];

let ctx = null;
let key = null;
let pending = null;

function show(step) {
  for (const s of steps) $(s).hidden = s !== step;
  const heading = $(step).querySelector("h2");
  if (heading) heading.focus();
}

/** Once the encrypted ballot went to the server for casting, or its opening for a challenge, the server may hold it
 * even if its answer never came: that ballot may only be sent again the same way (the server answers a repeat with
 * what it stored), never the other way (revealing a cast ballot's choices, or casting a ballot whose opening left). */
const SENT = {
  cast: "Press Cast again to send this same ballot: the server may hold it already, so it can no longer be challenged.",
  challenge: "Press Challenge again to send this same ballot: the server may hold its opening already, so it can no "
    + "longer be cast.",
};

/** After a definitive refusal sending the same again cannot help; the ballot still may not go the other way (a
 * refusal from a server does not prove that it kept nothing). */
const REFUSED = {
  cast: "This ballot was sent to be cast, so it can no longer be challenged: reload the page to make a new one.",
  challenge: "This ballot's opening was sent, so it can no longer be cast: reload the page to make a new one.",
};

/** No answer, the server or a proxy failing, or asking to wait: sending the same again may succeed. */
const retryable = (error) => !(error instanceof ApiError) || error.status >= 500 || [408, 429].includes(error.status);

function fail(error) {
  announce(status, "");
  const fields = (error.errors || []).map((e) => (e.field ? `${e.field}: ${e.message}` : e.message)).join("; ");
  const text = `${error.message}${fields && !error.message.includes(fields) ? ` (${fields})` : ""}`;
  const again = pending?.sent ? (retryable(error) ? SENT : REFUSED)[pending.sent] : "";
  announce(problem, again ? `${text}${/[.!?…]$/.test(text) ? "" : "."} ${again}` : text, "error");
}

let focused = null;

/** Buttons off while working; on again after, with the keyboard focus back where it was (disabling the focused
 * button sends the focus to the page's top). */
function busy(on) {
  if (on) focused = document.activeElement;
  const refused = (b) => (b.id === "cast" || b.id === "challenge") && pending?.sent && pending.sent !== b.id;
  for (const b of root.querySelectorAll("button")) b.disabled = on || refused(b);
  if (!on && focused && document.activeElement !== focused && !focused.closest("[hidden]")) focused.focus();
}

/**
 * The board entry holding the ballot just sent, checked as voting.client does for `quorum vote`: signed by the
 * board's key (the setup entry's), holding exactly this ballot (and, for a challenge, exactly the opening sent),
 * of the expected type, linked to the chain followed from the open entry, with its tracking code chained over the
 * entry before it; a cast ballot, once no cast ballot of its credential on that chain carries as high a re-vote
 * number or leaves a gap (else it would not count). A receipt that passes is the board's signed word; one that does
 * not is refused instead of shown as a success.
 */
async function checkedEntry(entry, kind, reveal) {
  const refuse = (why) => { throw new Error(`the board does not hold your ballot as ${kind === "cast" ? "cast" : "challenged"} (${why}): tell the election officials`); };
  if (!entry || !Number.isSafeInteger(entry.seq) || !(await entryValid(entry, ctx.chain.boardKey))) {
    refuse("its entry is not signed by the board");
  }
  if (entry.type !== (kind === "cast" ? "cast" : "spoil")) refuse(`the entry is a ${entry.type} entry`);
  if (canonicalJson(entry.payload.ballot) !== canonicalJson(pending.ballot) || entry.payload.ballot_hash !== pending.hash) {
    refuse("the entry holds another ballot");
  }
  if (reveal !== undefined && canonicalJson(entry.payload.reveal) !== canonicalJson(reveal)) refuse("another opening");
  if (entry.seq <= ctx.chain.last.seq) refuse("it is not after the entries already checked");
  await followBoard(entry.seq - 1);
  const before = ctx.chain.last;
  if (before.hash !== entry.prev) refuse("the entry before it is not the one it links to");
  if (kind === "cast") {
    ctx.chain.checkCounter(pending.ballot.credential, pending.ballot.revote, "your ballot was stored as");
    rememberRevote(pending.ballot.credential, pending.ballot.revote);
  }
  const previous = before.type === "open" ? ctx.baseHash : fromHex(before.payload.tracker, 32, "tracker");
  if (toHex(await nextTracker(previous, fromHex(pending.hash, 32, "ballot hash"))) !== entry.payload.tracker) {
    refuse("its tracking code is not chained over the entry before it");
  }
  ctx.chain.add(entry);
  return entry;
}

/** This device's memory of the highest re-vote number it saw cast for the credential in this election (as `quorum
 * vote`'s ledger): a server that later shows a chain without that ballot (a fork it signed) is refused before a
 * ballot that would not count is cast. */
function ledgerKey(credential) {
  return `quorum-revote:${toHex(ctx.baseHash)}:${credential}`;
}

function seenRevote(credential) {
  const stored = localStorage.getItem(ledgerKey(credential));
  return stored !== null && Number.isSafeInteger(Number(stored)) ? Number(stored) : -1;
}

function rememberRevote(credential, revote) {
  if (revote > seenRevote(credential)) localStorage.setItem(ledgerKey(credential), String(revote));
}

/** Follow the public board to entry `upto` (null: its newest), showing how far the check has gone. */
async function followBoard(upto = null) {
  const start = ctx.chain.followed;
  await ctx.chain.follow(upto, (followed) => {
    if (followed - start >= 1000) status.textContent = `Checking the public board… ${followed} entries`;
  });
}

/**
 * The choice form, built here from the manifest checked against the base hash (text set as text): the page's HTML is
 * covered neither by SRI nor by the booth hash, so a form served by the server could show one candidate's name
 * beside another's box. Input ids carry a random token, so no label or button of the served page can point at them.
 */
function buildForm(manifest) {
  const token = [...crypto.getRandomValues(new Uint8Array(8))].map((b) => b.toString(16).padStart(2, "0")).join("");
  const form = document.createElement("form");
  form.noValidate = true;
  manifest.contests.forEach((contest, c) => {
    const rules = contestRules(contest);
    const set = document.createElement("fieldset");
    set.dataset.contest = contest.id;
    const legend = document.createElement("legend");
    legend.textContent = contest.title;
    const hint = document.createElement("p");
    hint.className = "hint";
    hint.id = `rule-${token}-${c}`;
    hint.textContent = contest.kind === "approval" ? `Choose up to ${rules.max}.`
      : contest.kind === "exact" ? `Choose exactly ${rules.max}.` : "Choose one, or none to leave it blank.";
    set.setAttribute("aria-describedby", hint.id);
    set.append(legend, hint);
    const type = rules.max === 1 && contest.kind !== "approval" ? "radio" : "checkbox";
    const entries = rules.options.map((option, i) => [option, rules.labels[i]]);
    if (type === "radio" && rules.min === 0) entries.push(["", "Leave blank"]);  // a radio cannot be unticked
    entries.forEach(([option, text], i) => {  // ids by position: option ids may hold '-'
      const choice = document.createElement("div");
      choice.className = "choice";
      const input = document.createElement("input");
      Object.assign(input, { type, id: `o-${token}-${c}-${i}`, name: `${token}-${c}`, value: option });
      const label = document.createElement("label");
      label.htmlFor = input.id;
      label.textContent = text;
      choice.append(input, label);
      set.append(choice);
    });
    form.append(set);
  });
  const submit = document.createElement("button");
  Object.assign(submit, { type: "submit", id: "encrypt", textContent: "Encrypt my ballot" });
  form.append(submit);
  form.addEventListener("submit", encrypt);
  $("ballot").replaceChildren(form);
  return form;
}

let form = null;

function choices() {
  const out = {};
  for (const fieldset of form.querySelectorAll("fieldset[data-contest]")) {
    out[fieldset.dataset.contest] = [...fieldset.querySelectorAll("input:checked")].map((i) => i.value).filter((v) => v);
  }
  return out;
}

/** The fingerprint field marked invalid (and tied to the problem shown) or not. */
function markPin(bad) {
  const field = $("base-hash");
  if (bad) field.setAttribute("aria-invalid", "true");
  else field.removeAttribute("aria-invalid");
  field.setAttribute("aria-describedby", bad ? "base-hash-hint problem" : "base-hash-hint");
}

// The voting link's fingerprint, checked at Continue. A page reached by a redirect does not use it: the server
// answering the link could redirect it to another fingerprint (the fragment of a redirect replaces the link's).
const linked = new URLSearchParams(window.location.hash.slice(1)).get("base-hash") || "";
const navigation = performance.getEntriesByType("navigation")[0];
if (linked && navigation && navigation.redirectCount > 0) {
  announce(problem, "This page was reached through a redirect, so the fingerprint in its address is not used: "
    + "paste the fingerprint from the election officials' notice.", "error");
  markPin(true);
} else {
  $("base-hash").value = linked;
}

$("show-credential").addEventListener("change", (event) => {
  $("credential").type = event.target.checked ? "text" : "password";
});

$("credential-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  announce(problem, "");
  busy(true);
  try {
    announce(status, "Checking the election's parameters…");
    const pin = pinnedBaseHash($("base-hash").value);
    if (!pin) {
      throw pinError("enter the election fingerprint from the officials' notice (or open the voting link it gives): "
        + "it is how this page knows it is their election");
    }
    if (!ctx || toHex(ctx.baseHash) !== pin) {
      ctx = await loadContext(root.dataset.api, pin);
      const [setup, , creds, opened] = ctx.entries;
      ctx.chain = new Chain(root.dataset.api, opened, fromHex(setup.payload.board_key, 32, "setup.board_key"),
        new Set(creds.payload.credentials));
    }
    markPin(false);
    $("election-fingerprint").textContent = toHex(ctx.baseHash).match(/.{8}/g).join(" ");
    form = form || buildForm(ctx.manifest);
    const candidate = await credentialKey(ctx.electionId, $("credential").value.trim());
    // checked here, before the choices: a mistyped credential is otherwise refused only at encryption
    if (!ctx.entries.find((e) => e.type === "credentials").payload.credentials.includes(candidate.publicHex)) {
      throw new Error("this credential is not on the election's list: check it against your letter or e-mail");
    }
    key = candidate;
    announce(status, "");
    show("step-choose");
  } catch (error) {
    fail(error);
    if (error.field === "base-hash") {
      markPin(true);
      focused = $("base-hash");  // busy(false) brings the keyboard focus to the field to fix
    }
  } finally {
    busy(false);
  }
});

async function encrypt(event) {
  event.preventDefault();
  announce(problem, "");
  busy(true);
  try {
    // the re-vote counter this ballot must carry, asked again for every ballot (a re-vote or a challenge may precede
    // it), and checked against this credential's cast ballots on the board as far as the server shows it now (it may
    // hide its newest entries here: the receipt's check settles it on the chain up to the ballot)
    const { revote } = await getJson(`${root.dataset.api}/revote/${key.publicHex}`);
    if (!Number.isSafeInteger(revote) || revote < 0) throw new Error("the server's re-vote number is not a number");
    announce(status, "Checking the public board…");
    await followBoard();
    if (revote <= seenRevote(key.publicHex)) {
      throw new Error(`the server says your next ballot is number ${revote}, but this device already saw your ballot `
        + `number ${seenRevote(key.publicHex)} on the board: a ballot cast now would not count; tell the election officials`);
    }
    ctx.chain.checkCounter(key.publicHex, revote, "the server says your next ballot is");
    announce(status, "Encrypting your ballot in this browser…");
    pending = await encryptBallot(ctx, key, choices(), revote, (done, total) => {
      status.textContent = `Encrypting your ballot in this browser… ${done} of ${total}`;
    });
    $("fingerprint").textContent = pending.hash;
    announce(status, "Your ballot is encrypted.", "ok");
    show("step-decide");
  } catch (error) {
    fail(error);
  } finally {
    busy(false);
  }
}

$("cast").addEventListener("click", async () => {
  announce(problem, "");
  busy(true);
  try {
    announce(status, "Sending your encrypted ballot…");
    pending.sent = "cast";
    const receipt = await postJson(`${root.dataset.api}/ballots`, { ballot: pending.ballot });
    if (receipt.ballot_hash !== pending.hash) {
      throw new Error("the server's receipt is for another ballot (not the fingerprint shown above): your ballot may "
        + "not be cast; tell the election officials");
    }
    announce(status, "Checking your ballot on the public board…");
    const { entry } = await getJson(`${root.dataset.api}/ballots/${receipt.tracker}`);
    await checkedEntry(entry, "cast");
    if (entry.payload.tracker !== receipt.tracker || entry.hash !== receipt.hash) {
      throw new Error("the public board does not hold your ballot under its tracking code: tell the election officials");
    }
    $("tracker").textContent = receipt.tracker;
    $("track-link").href = `${root.dataset.track}?code=${receipt.tracker}`;
    $("vote-again").href = `${window.location.pathname}#base-hash=${toHex(ctx.baseHash)}`;  // the pin kept
    pending = null;
    announce(status, "Your ballot is cast.", "ok");
    show("step-receipt");
  } catch (error) {
    fail(error);
  } finally {
    busy(false);
  }
});

$("challenge").addEventListener("click", async () => {
  announce(problem, "");
  busy(true);
  try {
    announce(status, "Publishing the challenged ballot and checking it…");
    const reveal = revealJson(ctx, pending.secrets);
    pending.sent = "challenge";
    const receipt = await postJson(`${root.dataset.api}/challenges`, { ballot: pending.ballot, reveal });
    if (receipt.ballot_hash !== pending.hash) {
      throw new Error("the server's receipt is for another ballot (not the fingerprint shown above): tell the election "
        + "officials");
    }
    const { entry } = await getJson(`${root.dataset.api}/ballots/${pending.hash}`);
    await checkedEntry(entry, "spoil", reveal);
    const { choices: held, problems } = checkReveal(ctx, entry.payload.ballot, entry.payload.reveal);
    const list = $("check-choices");
    list.replaceChildren();
    for (const contest of ctx.manifest.contests) {
      const item = document.createElement("li");
      item.textContent = `${contest.title}: ${held[contest.id].length ? held[contest.id].join(", ") : "(blank)"}`;
      list.append(item);
    }
    $("check-result").textContent = problems.length
      ? `The check FAILED: ${problems.join("; ")}. Do not use this device to vote; tell the election officials.`
      : "The check passed: the encrypted ballot held exactly these choices. Are they yours?";
    $("check-result").className = problems.length ? "status-bad" : "status-ok";
    pending = null;
    announce(status, "");
    show("step-checked");
  } catch (error) {
    fail(error);
  } finally {
    busy(false);
  }
});

// a link differing from this page's address by its fragment alone would not reload the booth
$("vote-again").addEventListener("click", (event) => {
  event.preventDefault();
  window.history.replaceState(null, "", event.currentTarget.href);
  window.location.reload();
});

$("again").addEventListener("click", () => {
  announce(problem, "");
  show("step-choose");
});

busy(false);  // the buttons are disabled in the page until these handlers are attached: a form never submits natively
