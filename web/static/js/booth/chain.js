/**
 * The board from the open entry on, followed in pages and checked entry by entry as `quorum vote` does
 * (voting/client.py _follow and _counter): the booth counts a credential's cast ballots on the chain itself, so a
 * server cannot have a re-vote signed with a counter that leaves it uncounted behind an older ballot.
 * @module booth/chain
 */

import { getJson } from "../api.js";
import { MAX_ENTRIES, entryShaped, entryValid, nextPhase } from "../board.js";

/** The board's chain as far as this booth has checked it: the last entry, and per credential its cast ballots. */
export class Chain {
  /**
   * @param {string} apiBase e.g. /api/elections/demo
   * @param {object} opened the open entry, already checked (booth/election.js loadContext)
   * @param {Uint8Array} boardKey the setup entry's board key
   * @param {Set<string>} credentials the published public credentials (only these are counted, as by the verifier)
   */
  constructor(apiBase, opened, boardKey, credentials) {
    this.api = apiBase;
    this.last = opened;
    this.boardKey = boardKey;
    this.credentials = credentials;
    this.followed = 0;
    this.casts = new Map();
    this.highest = new Map();
    this.phase = "open";
  }

  /** Whether the close entry is on the chain followed. */
  get closed() {
    return this.phase !== "open";
  }

  /**
   * Follow the chain to entry `upto` (null: as far as the server shows), page by page: each entry numbered one
   * more than the last, linked to it by prev, its hash recomputed and signed by the board.
   * @param {number|null} upto
   * @param {(followed: number) => void} [progress]
   */
  async follow(upto = null, progress = () => {}) {
    while (upto === null || this.last.seq < upto) {
      const query = `from=${this.last.seq + 1}${upto === null ? "" : `&to=${upto}`}`;
      const answer = await getJson(`${this.api}/entries?${query}`);
      const entries = answer !== null && typeof answer === "object" ? answer.entries : undefined;
      if (!Array.isArray(entries)) throw new Error("the board's answer holds no list of entries: tell the election officials");
      if (!entries.length) {
        if (upto === null) return;
        throw new Error(`the board does not show its entries up to ${upto}: tell the election officials`);
      }
      for (const entry of entries) {
        if (!entryShaped(entry)) {
          throw new Error(`the board's entries are malformed (after entry ${this.last.seq}): tell the election officials`);
        }
        if (upto !== null && entry.seq > upto) throw new Error(`the board sent entry ${entry.seq}, beyond the ${upto} asked`);
        if (entry.seq !== this.last.seq + 1 || entry.prev !== this.last.hash) {
          throw new Error(`board entry ${entry.seq} does not follow entry ${this.last.seq} on the chain: tell the election officials`);
        }
        if (!await entryValid(entry, this.boardKey)) {
          throw new Error(`board entry ${entry.seq} is not signed by the board's key: tell the election officials`);
        }
        this.add(entry);
      }
      progress(this.followed);
    }
  }

  /** Append a checked entry: while open only ballots and the close (voting/lifecycle.py), casts counted. */
  add(entry) {
    const phase = nextPhase(this.phase, entry.type);
    if (this.closed || phase === null) {
      throw new Error(`the election is closed (board entry ${entry.seq} is a ${entry.type} entry): ballots no longer count`);
    }
    this.phase = phase;
    if (entry.type === "cast") {
      const ballot = entry.payload.ballot;
      const credential = ballot !== null && typeof ballot === "object" ? ballot.credential : undefined;
      const revote = ballot !== null && typeof ballot === "object" ? ballot.revote : undefined;
      if (typeof credential !== "string" || !Number.isSafeInteger(revote)) {
        throw new Error(`board entry ${entry.seq} is a cast entry without a credential and re-vote number`);
      }
      if (this.credentials.has(credential)) {
        this.casts.set(credential, (this.casts.get(credential) ?? 0) + 1);
        this.highest.set(credential, Math.max(revote, this.highest.get(credential) ?? -1));
      }
    }
    this.last = entry;
    if (++this.followed > MAX_ENTRIES) throw new Error(`the board holds more than ${MAX_ENTRIES} entries: tell the election officials`);
  }

  /**
   * Refuse `revote` unless it is the number of the credential's cast ballots on the chain followed: as high a
   * counter already cast means the new ballot would not count (the highest counts); a higher one leaves a gap that
   * the verifier refuses.
   * @param {string} credential public credential (hex)
   * @param {number} revote
   * @param {string} what how the counter came, for the message
   */
  checkCounter(credential, revote, what) {
    if (this.closed) throw new Error("the election is closed: ballots are no longer accepted");
    const highest = this.highest.get(credential) ?? -1;
    if (highest >= revote) {
      throw new Error(`${what} number ${revote}, but the board up to entry ${this.last.seq} already holds your ballot `
        + `number ${highest}: this one would not count (the highest number counts); tell the election officials`);
    }
    const expected = this.casts.get(credential) ?? 0;
    if (revote !== expected) {
      throw new Error(`${what} number ${revote}, but the board up to entry ${this.last.seq} holds ${expected} of your `
        + `cast ballots: number ${expected} is next; tell the election officials`);
    }
  }
}
