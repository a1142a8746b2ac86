/**
 * The election's public context, read from its board entries and checked in the browser: the first four entries
 * form the board-signed chain from its start (setup, key ceremony, credentials, open), the base hash is recomputed
 * (voting.context.base_hash) and must equal the one the open entry states and the one the voter pinned.
 * @module booth/election
 */

import { getJson } from "../api.js";
import { baseHash as baseHashOf, checkChain } from "../board.js";
import { toHex } from "../crypto/bytes.js";
import { PublicKey } from "../crypto/elgamal.js";
import { getGroup } from "../crypto/groups.js";

/** Selection limits of a manifest contest, as voting/manifest.py derives them. */
export function contestRules(contest) {
  if (contest.kind === "referendum") {
    return { options: ["yes", "no"], labels: ["Yes", "No"], min: 0, max: 1 };
  }
  const options = contest.options.map((o) => o.id);
  const labels = contest.options.map((o) => o.label);
  if (contest.kind === "approval") return { options, labels, min: 0, max: contest.max };
  if (contest.kind === "exact") return { options, labels, min: contest.k, max: contest.k };
  return { options, labels, min: 0, max: 1 };
}

const PARAMETERS = ["setup", "key_ceremony", "credentials", "open"];
const HEX64 = /^[0-9a-f]{64}$/;

/**
 * The base hash the voter pinned, as 64 lowercase hex (spaces and case ignored), or null if none was given. The
 * field holds what the voter typed or pasted, or the voting link's fragment `#base-hash=...` (never sent to the
 * server).
 * @param {string} text the fingerprint field
 */
export function pinnedBaseHash(text) {
  const hex = text.replace(/\s+/g, "").toLowerCase();
  if (!hex) return null;
  if (!HEX64.test(hex)) throw pinError("the election fingerprint is 64 characters 0-9 and a-f: check it against the officials' notice");
  return hex;
}

/** An error about the fingerprint field (the page marks the field). */
export function pinError(message) {
  const error = new Error(message);
  error.field = "base-hash";
  return error;
}

/**
 * Fetch the election's parameter entries and build the context ballots are encrypted against. Everything the
 * server answers is checked against itself (chain, board signatures, base hash) and against `pin`, the base hash
 * the voter got from the officials: a server holding the board key could otherwise sign an election of its own
 * (its own key ceremony, whose key it holds) under the same name, and read the vote.
 * @param {string} apiBase e.g. /api/elections/demo
 * @param {string} pin the pinned base hash (pinnedBaseHash)
 */
export async function loadContext(apiBase, pin) {
  let entries;
  try {
    ({ entries } = await getJson(`${apiBase}/entries?from=0&to=${PARAMETERS.length - 1}`));
  } catch (error) {
    throw new Error(`cannot read the board: ${error.message}`);
  }
  if (!Array.isArray(entries) || entries.length !== PARAMETERS.length || entries.some((e, i) => e.type !== PARAMETERS[i])) {
    throw new Error("the election is not open yet");
  }
  await checkChain(entries, "do not vote here");
  const [setup, ceremony] = entries;
  const group = getGroup(setup.payload.group.name);
  const publicKey = PublicKey.fromHex(group, ceremony.payload.public_key);
  const baseHash = await baseHashOf(entries, "do not vote here");
  if (toHex(baseHash) !== pin) {
    throw pinError(`this election's fingerprint is ${toHex(baseHash)}, not the one you were given: do not vote `
      + "here, and tell the election officials");
  }
  return {
    electionId: setup.payload.election_id,
    manifest: setup.payload.manifest,
    group,
    publicKey,
    baseHash,
    entries,
  };
}
