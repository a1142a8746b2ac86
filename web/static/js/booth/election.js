/**
 * The election's public context, read from its board entries and checked in the browser:
 * the base hash is recomputed (voting.context.base_hash) and must equal the one the open entry states.
 * @module booth/election
 */

import { toHex, utf8 } from "../crypto/bytes.js";
import { canonicalJson, encode } from "../crypto/encoding.js";
import { PublicKey } from "../crypto/elgamal.js";
import { getGroup } from "../crypto/groups.js";
import { sha256 } from "../crypto/hashing.js";

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

/**
 * Fetch the election's entries and build the context ballots are encrypted against.
 * @param {string} apiBase e.g. /api/elections/demo
 */
export async function loadContext(apiBase) {
  const types = ["setup", "key_ceremony", "credentials", "open"].map((t) => `type=${t}`).join("&");
  const response = await fetch(`${apiBase}/entries?${types}`, { credentials: "same-origin" });
  if (!response.ok) throw new Error(`cannot read the board (HTTP ${response.status})`);
  const { entries } = await response.json();
  const byType = (t) => entries.find((e) => e.type === t);
  const setup = byType("setup");
  const ceremony = byType("key_ceremony");
  const creds = byType("credentials");
  const opened = byType("open");
  if (!setup || !ceremony || !creds || !opened) throw new Error("the election is not open yet");
  const group = getGroup(setup.payload.group.name);
  const publicKey = PublicKey.fromHex(group, ceremony.payload.public_key);
  const baseHash = await sha256(encode("quorum/election-base-hash", utf8(canonicalJson(setup.payload)),
    utf8(canonicalJson(ceremony.payload)), utf8(canonicalJson(creds.payload))));
  if (toHex(baseHash) !== opened.payload.base_hash) {
    throw new Error("the board's base hash does not match its own parameters: do not vote here");
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
