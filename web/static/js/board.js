/**
 * Board entries as the browser checks them (voting/record.py, voting/board.py): the hash of an entry's canonical
 * JSON, the board's Ed25519 signature on it (WebCrypto), the chain from the first entry, and tracking codes.
 * @module board
 */

import { getJson } from "./api.js";
import { fromHex, toHex, utf8 } from "./crypto/bytes.js";
import { canonicalJson, encode } from "./crypto/encoding.js";
import { sha256 } from "./crypto/hashing.js";

const ZERO_HASH = "0".repeat(64);

/** The most entries a page follows or reads (a server cannot feed it forever). */
export const MAX_ENTRIES = 1 << 22;

/** Whether `signature` is the Ed25519 signature of `message` by `publicKey` (bytes each). */
export async function ed25519Valid(publicKey, signature, message) {
  const key = await crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
  return crypto.subtle.verify({ name: "Ed25519" }, key, signature, message);
}

/** Whether the entry's hash is that of its content and the board key (bytes) signed it. */
export async function entryValid(entry, boardKey) {
  const digest = await sha256(utf8(canonicalJson({ seq: entry.seq, type: entry.type, payload: entry.payload, prev: entry.prev })));
  return toHex(digest) === entry.hash && typeof entry.sig === "string" && entry.sig.length === 128
    && ed25519Valid(boardKey, fromHex(entry.sig, 64, `entry ${entry.seq} sig`), digest);
}

/** The election's lifecycle (voting/lifecycle.py TRANSITIONS): phase -> {entry type: phase after it}. */
const TRANSITIONS = {
  new: { setup: "setup" },
  setup: { key_ceremony: "keys" },
  keys: { credentials: "registered" },
  registered: { open: "open" },
  open: { cast: "open", spoil: "open", close: "closed" },
  closed: { tally: "tallied" },
  tallied: { decryption: "decrypting" },
  decrypting: { decryption: "decrypting", result: "done" },
  done: {},
};

/** The phase after an entry of `type` in `phase`, or null if the lifecycle does not allow it there. */
export function nextPhase(phase, type) {
  return Object.hasOwn(TRANSITIONS[phase] ?? {}, type) ? TRANSITIONS[phase][type] : null;
}

/** Whether a board entry has the shape of one (voting/record.py): a safe-integer seq, string type, prev, hash and
 * sig, an object payload; what the checks below read from it, before they read it. */
export function entryShaped(entry) {
  return entry !== null && typeof entry === "object" && Number.isSafeInteger(entry.seq) && typeof entry.type === "string"
    && typeof entry.prev === "string" && typeof entry.hash === "string" && typeof entry.sig === "string"
    && entry.payload !== null && typeof entry.payload === "object" && !Array.isArray(entry.payload);
}

/**
 * Every entry of the board from seq 0, read page by page (`?from=`: the server answers at most 1000 entries or 32 MB
 * at a time; the whole board of a 10,000-ballot modp election would be one 700 MB answer, longer than the longest
 * string Chromium holds). Each page must go on from the last entry read; `checkChain` checks the rest. `what` ends the errors.
 * @param {string} apiBase e.g. /api/elections/demo
 * @param {string} what
 * @param {(read: number) => void} [progress] after each page, with the number of entries read
 */
export async function readBoard(apiBase, what, progress = () => {}) {
  const entries = [];
  for (;;) {
    const answer = await getJson(`${apiBase}/entries?from=${entries.length}`);
    const page = answer !== null && typeof answer === "object" ? answer.entries : undefined;
    if (!Array.isArray(page)) throw new Error(`the board's answer holds no list of entries: ${what}`);
    if (!page.length) {
      if (!entries.length) throw new Error(`the board holds no entries: ${what}`);
      return entries;
    }
    const stray = page.findIndex((entry, i) => !entryShaped(entry) || entry.seq !== entries.length + i);
    if (stray >= 0) throw new Error(`the board's entries are malformed (entry ${entries.length + stray}): ${what}`);
    if (entries.length + page.length > MAX_ENTRIES) throw new Error(`the board holds more than ${MAX_ENTRIES} entries: ${what}`);
    entries.push(...page);
    progress(entries.length);
  }
}

/** Refuse a board (its entries from seq 0) that is malformed, whose chain is broken, whose entries the setup's board
 * key did not sign, or whose entries break the election's lifecycle (a ballot after the close, a second tally...). */
export async function checkChain(entries, what) {
  if (!Array.isArray(entries) || !entries.length || !entries.every(entryShaped)) {
    throw new Error(`the board's entries are malformed (entry ${Array.isArray(entries) ? entries.findIndex((e) => !entryShaped(e)) : 0}): ${what}`);
  }
  const boardKey = fromHex(entries[0].payload.board_key, 32, "setup.board_key");
  let prev = ZERO_HASH;
  let phase = "new";
  for (const [i, e] of entries.entries()) {
    if (e.seq !== i || e.prev !== prev) throw new Error(`the board's chain is broken at entry ${i}: ${what}`);
    if (!await entryValid(e, boardKey)) throw new Error(`entry ${i} is not signed by the board's key: ${what}`);
    phase = nextPhase(phase, e.type);
    if (phase === null) throw new Error(`entry ${i} (${e.type}) breaks the election's lifecycle: ${what}`);
    prev = e.hash;
  }
}

/** The election's base hash (voting.context.base_hash, bytes) recomputed from its parameter entries (setup,
 * key_ceremony, credentials, in a board's entries from seq 0); refused unless the open entry states that one. */
export async function baseHash(entries, what) {
  const payload = (type) => entries.find((e) => e.type === type)?.payload;
  const [setup, ceremony, credentials, opened] = ["setup", "key_ceremony", "credentials", "open"].map(payload);
  if (!setup || !ceremony || !credentials || !opened) throw new Error(`the election is not open yet: ${what}`);
  const digest = await sha256(encode("quorum/election-base-hash", utf8(canonicalJson(setup)),
    utf8(canonicalJson(ceremony)), utf8(canonicalJson(credentials))));
  if (toHex(digest) !== opened.base_hash) throw new Error(`the board's base hash does not match its parameters: ${what}`);
  return digest;
}

/** The tracking code of a ballot (voting.ballot.next_tracker): chained over the previous one (bytes each). */
export async function nextTracker(previous, digest) {
  return sha256(encode("quorum/tracker", previous, digest));
}
