"""One election run on the bulletin board: every lifecycle step is one entry, checked before it is stored.

Ballots are parsed and their proofs and signature checked outside the lock; inside it, the phase, replays,
copied ciphertexts and the tracking-code chain are checked against the board's indexes, so a rejected
ballot leaves nothing behind and a retried cast returns the first receipt (in any phase: it stores nothing).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from threshold.decryption import PartialDecryption, verify_partial
from threshold.errors import DecodeError, ProtocolError, VerificationError
from voting import db, lifecycle
from voting.ballot import Ballot, alpha_digests, check_reveal, next_tracker, parse_ballot, parse_reveal, proofs_valid, signature_valid
from voting.board import Board, LockedBoard
from voting.context import ElectionContext, build_context, parse_ceremony, parse_credentials, parse_setup
from voting.record import Entry
from voting.tally import CastBallot, counted_ballots, decryption_context, parse_tally, result_payload, tally_payload

# Benaloh challenges a board takes per credential: a voter checks a device a few times, and each challenged ballot
# stays in the record every auditor downloads and verifies (one credential could otherwise grow it without end).
MAX_CHALLENGES = 20

def now() -> str:
    """A board timestamp (the one kind of value the board chooses freely)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class Receipt:
    """What a voter gets back for a ballot: where it is, its hash and its tracking code."""

    seq: int
    ballot_hash: str
    tracker: str
    stored: bool


def cast_ballot(ballot: Ballot, seq: int) -> CastBallot:
    """The counting view of a parsed cast ballot."""
    return CastBallot(seq, ballot.credential, ballot.hash.hex(), tuple(cb.selections for cb in ballot.contests), ballot.revote)


class Election:
    """The board-side service of one election."""

    def __init__(self, board: Board, election_id: str) -> None:
        self.board = board
        self.election_id = election_id
        self._context: ElectionContext | None = None

    @contextmanager
    def _locked(self, held: LockedBoard | None) -> Iterator[LockedBoard]:
        """The lock the caller holds (its transaction commits with the caller's), or a new one of this step's own."""
        if held is not None:
            if held.election_id != self.election_id:
                raise ProtocolError(f"the lock held is election {held.election_id!r}'s, not {self.election_id!r}'s")
            yield held
        else:
            with self.board.locked(self.election_id) as lb:
                yield lb

    def _step(self, entry_type: str, payload: dict[str, Any], held: LockedBoard | None = None) -> Entry:
        with self._locked(held) as lb:
            phase = lifecycle.next_phase(lb.election.phase, entry_type)
            entry = lb.append(entry_type, payload)
            lb.election.phase = phase
            return entry

    def entries(self) -> list[Entry]:
        """All entries so far."""
        return self.board.entries(self.election_id)

    def _first(self, entry_type: str) -> Entry:
        for e in self.entries():
            if e.type == entry_type:
                return e
        raise ProtocolError(f"no {entry_type} entry on the board yet")

    def context(self) -> ElectionContext:
        """The election's parameters and base hash, from the board (cached once open)."""
        if self._context is None:
            entries = {e.type: e for e in self.entries() if e.type in ("setup", "key_ceremony", "credentials", "open")}
            if "open" not in entries:
                raise ProtocolError("the election is not open yet")
            self._context = build_context(entries["setup"].payload, entries["key_ceremony"].payload,
                                          entries["credentials"].payload)
        return self._context

    # --- setup ------------------------------------------------------------------------------
    def setup(self, payload: dict[str, Any], held: LockedBoard | None = None) -> Entry:
        """Publish the setup entry (the payload of voting.context.setup_payload), in the transaction of the lock
        `held` if given (Board.creating's, so that the election and its setup are made together)."""
        setup = parse_setup(payload)
        if setup.election_id != self.election_id or setup.board_key != self.board.public_key:
            raise DecodeError("setup", "election id or board key does not match this board")
        return self._step("setup", payload, held)

    def key_ceremony(self, payload: dict[str, Any]) -> Entry:
        """Publish the DKG transcript, after re-adjudicating it."""
        parse_ceremony(parse_setup(self._first("setup").payload), payload)
        return self._step("key_ceremony", payload)

    def register(self, payload: dict[str, Any], held: LockedBoard | None = None) -> Entry:
        """Publish the public credentials (in the transaction of the lock `held`, if given)."""
        parse_credentials(payload)
        return self._step("credentials", payload, held)

    def open(self, held: LockedBoard | None = None) -> Entry:
        """Open the election: publish its base hash (in the transaction of the lock `held`, if given, which
        may have registered the credentials just before)."""
        with self._locked(held) as lb:
            entries = {e.type: e for e in lb.entries("setup", "key_ceremony", "credentials")}
            if "credentials" not in entries:
                raise ProtocolError("refused open: credentials are not on the board yet")
            ctx = build_context(entries["setup"].payload, entries["key_ceremony"].payload, entries["credentials"].payload)
            phase = lifecycle.next_phase(lb.election.phase, "open")
            entry = lb.append("open", {"base_hash": ctx.base_hash.hex(), "timestamp": now()})
            lb.election.phase = phase
            lb.election.last_tracker = ctx.base_hash.hex()  # the first tracking code chains the base hash
        if held is None:  # committed (a caller's transaction may still roll back: context() reads it once open)
            self._context = ctx
        return entry

    # --- ballots ------------------------------------------------------------------------------
    def next_revote(self, credential: str) -> int:
        """The re-vote counter the credential's next ballot (cast or challenged) must carry: the number of its
        cast ballots on the board (a challenged ballot consumes no counter)."""
        with Session(self.board.engine) as session:
            return self._cast_count(session, credential)

    def _cast_count(self, session: Session, credential: str) -> int:
        return session.scalar(select(func.count()).select_from(db.Ballot).where(
            db.Ballot.election_id == self.election_id, db.Ballot.credential == credential,
            db.Ballot.status == "cast")) or 0

    def _spoil_count(self, session: Session, credential: str) -> int:
        return session.scalar(select(func.count()).select_from(db.Ballot).where(
            db.Ballot.election_id == self.election_id, db.Ballot.credential == credential,
            db.Ballot.status == "spoil")) or 0

    def _checked(self, ballot_json: Any) -> Ballot:
        """The ballot parsed and checked: a published credential, its signature (a cheap refusal of ballots forged
        under a public credential, before any exponentiation), then every proof and the membership of every
        ciphertext element (folded into the proofs' multi-exponentiation where the group can: one batch)."""
        ctx = self.context()
        reader = ctx.group.reader()
        ballot = parse_ballot(ctx, ballot_json, reader)
        if ballot.credential not in ctx.credentials:
            raise ProtocolError("unknown credential: not in the published credential list")
        if not signature_valid(ballot):
            raise VerificationError("the ballot is not signed by its credential")
        if not proofs_valid(ctx, ballot, reader):  # a non-member: DecodeError naming its field
            raise VerificationError("a proof of the ballot is invalid (or bound to another election, voter, contest or option)")
        return ballot

    def _submit(self, entry_type: str, ballot: Ballot, extra: dict[str, Any], ballot_json: Any) -> Receipt:
        digest = ballot.hash.hex()
        with self.board.locked(self.election_id) as lb:
            known = lb.session.scalars(select(db.Ballot).where(
                db.Ballot.election_id == self.election_id, db.Ballot.ballot_hash == digest)).one_or_none()
            if known is not None:  # a retry stores nothing: its receipt holds after the close too
                return self._retry(lb, known, entry_type, extra)
            phase = lifecycle.next_phase(lb.election.phase, entry_type)
            if entry_type == "spoil" and self._spoil_count(lb.session, ballot.credential) >= MAX_CHALLENGES:
                raise ProtocolError(f"this credential has challenged {MAX_CHALLENGES} ballots, the most a board takes "
                                    "(each stays in the record every auditor checks): cast a ballot instead")
            expected = self._cast_count(lb.session, ballot.credential)
            if ballot.revote != expected:
                raise ProtocolError(f"re-vote counter refused: this ballot has revote {ballot.revote}, the credential's "
                                    f"next ballot must have revote {expected} (its number of cast ballots on the board)")
            digests = alpha_digests(self.context(), ballot)
            if len(set(digests)) != len(digests):
                raise ProtocolError("a ciphertext appears twice in the ballot (reused nonce)")
            seen = lb.session.scalars(select(db.Ciphertext).where(
                db.Ciphertext.election_id == self.election_id, db.Ciphertext.digest.in_(digests))).first()
            if seen is not None:
                raise ProtocolError(f"copied ballot: a ciphertext is already on the board (seq {seen.seq})")
            tracker = next_tracker(bytes.fromhex(lb.election.last_tracker), ballot.hash).hex()
            payload = {"ballot": ballot_json, "ballot_hash": digest, "tracker": tracker, "cast_at": now(), **extra}
            entry = lb.append(entry_type, payload, dedup_key=digest)
            lb.session.add(db.Ballot(election_id=self.election_id, ballot_hash=digest, credential=ballot.credential,
                                     tracker=tracker, seq=entry.seq, status=entry_type))
            lb.session.execute(insert(db.Ciphertext), [{"election_id": self.election_id, "digest": d, "seq": entry.seq}
                                                       for d in digests])  # one executemany, no ORM objects
            lb.election.last_tracker = tracker
            lb.election.phase = phase
            return Receipt(entry.seq, digest, tracker, True)

    def _retry(self, lb: LockedBoard, known: db.Ballot, entry_type: str, extra: dict[str, Any]) -> Receipt:
        if entry_type == "spoil" and known.status == "spoil":
            stored = lb.find(known.ballot_hash)
            if stored is not None and stored.payload.get("reveal") == extra.get("reveal"):
                return Receipt(known.seq, known.ballot_hash, known.tracker, False)  # a retried challenge
        if known.status == "spoil":
            raise ProtocolError(f"this ballot was challenged (seq {known.seq}): its nonces are public, it can never be cast")
        latest = lb.session.scalars(select(db.Ballot).where(
            db.Ballot.election_id == self.election_id, db.Ballot.credential == known.credential,
            db.Ballot.status == "cast").order_by(db.Ballot.seq.desc())).first()
        if entry_type == "cast" and latest is not None and latest.id == known.id:
            return Receipt(known.seq, known.ballot_hash, known.tracker, False)
        raise ProtocolError(f"replayed ballot: already on the board at seq {known.seq}")

    def cast(self, ballot_json: Any) -> Receipt:
        """Cast a ballot; a retry of the credential's latest ballot returns its receipt and stores nothing (also
        after the close: the ballot is on the board and counts)."""
        ballot = self._checked(ballot_json)
        return self._submit("cast", ballot, {}, ballot_json)

    def spoil(self, ballot_json: Any, reveal: Any) -> Receipt:
        """Publish a Benaloh-challenged ballot with its plaintexts and nonces; it is never counted."""
        ballot = self._checked(ballot_json)
        parse_reveal(self.context(), reveal)  # a malformed reveal: DecodeError naming its field
        problems = check_reveal(self.context(), ballot, reveal)
        if problems:
            raise VerificationError("; ".join(problems))
        return self._submit("spoil", ballot, {"reveal": reveal}, ballot_json)

    def close(self) -> Entry:
        """Close the election: no ballot is accepted after this entry."""
        return self._step("close", {"timestamp": now()})

    # --- counting -----------------------------------------------------------------------------
    def cast_ballots(self) -> list[CastBallot]:
        """Every cast ballot on the board, parsed for counting."""
        ctx = self.context()
        reader = ctx.group.reader()
        out = [cast_ballot(parse_ballot(ctx, e.payload["ballot"], reader), e.seq) for e in self.entries() if e.type == "cast"]
        reader.finish()
        return out

    def tally(self) -> Entry:
        """Publish the encrypted tally of the counted ballots (the last of each credential)."""
        ctx = self.context()
        with self.board.locked(self.election_id) as lb:  # refuse an early tally before doing the work
            lifecycle.next_phase(lb.election.phase, "tally")
        return self._step("tally", tally_payload(ctx, counted_ballots(self.cast_ballots())))

    def add_decryption(self, payload: dict[str, Any]) -> Entry:
        """Publish one trustee's partial decryption after checking its proofs against the tally. A second valid one
        from the same trustee is a retry (its shares are the same, only its proofs' nonces differ): the stored entry
        is returned, so that a trustee whose request died before the result was published can send it again."""
        ctx = self.context()
        tally = parse_tally(ctx, self._first("tally").payload)
        partial = PartialDecryption.from_json(ctx.group, payload, len(tally), "decryption")
        vk = ctx.ceremony.verification_keys.get(partial.index)
        if vk is None or not verify_partial(ctx.group, vk, tally, partial, decryption_context(ctx)):
            raise VerificationError(f"partial decryption of trustee {partial.index} does not verify")
        with self.board.locked(self.election_id) as lb:
            key = f"decryption-{partial.index}"
            stored = lb.find(key)
            if stored is not None:
                return stored  # a retried submission
            phase = lifecycle.next_phase(lb.election.phase, "decryption")
            entry = lb.append("decryption", payload, dedup_key=key)
            lb.election.phase = phase
            return entry

    def result_ready(self) -> bool:
        """Whether a quorum of partial decryptions is on the board and no result yet."""
        entries = self.entries()
        quorum = parse_setup(entries[0].payload).quorum
        return sum(e.type == "decryption" for e in entries) >= quorum and not any(e.type == "result" for e in entries)

    def publish_result(self) -> Entry:
        """Combine the partial decryptions into the result entry (once)."""
        ctx = self.context()
        tally_entry = self._first("tally")
        tally = parse_tally(ctx, tally_entry.payload)
        partials = [PartialDecryption.from_json(ctx.group, e.payload, len(tally)) for e in self.entries() if e.type == "decryption"]
        payload = result_payload(ctx, tally, partials, tally_entry.payload["counted"])
        return self._step("result", payload)
