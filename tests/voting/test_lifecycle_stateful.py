"""Stateful tests of the election lifecycle and the bulletin board (hypothesis RuleBasedStateMachine).

The machine plays every role against voting.election.Election in any order, legal and illegal: open, cast (first
ballot, re-vote with the right counter, stale or skipped counter, unknown credential, a retried or replayed ballot,
another voter's ballot moved under a credential, a voter's own ciphertexts cast again), Benaloh challenges (and then
casting or re-challenging the challenged ballot, challenging a cast one, a lying reveal), close, tally, partial
decryptions by any trustees (again, resubmitted, forged, with another trustee's key, an unknown index, before the
tally), the result (too early, twice) and every step after it. A model says what must happen:

- an illegal step is refused with the library's error type and leaves the board exactly as it was (entries, head
  hash, phase, ballot and ciphertext indexes);
- a legal step appends exactly the entry expected (type, seq, tracking code chained over the previous one);
- casting is idempotent by ballot hash: a retried cast or challenge returns the first receipt and stores nothing;
- after every step the chain verifies (seq, prev links, hashes, board signatures) and every credential's next
  re-vote counter is its number of cast ballots;
- at the end the election is driven to its result, the exported record passes the verifier, and the result is the
  model's count under the re-vote rule (the last cast ballot of each credential counts, a challenged one never).

Run on SQLite with the ed25519 group in the default suite, once with the modp group, once on PostgreSQL.
"""

from __future__ import annotations

import copy
import secrets
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test
from nacl.signing import SigningKey
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from threshold.decryption import partial_decrypt
from threshold.dkg import TrusteeKey
from threshold.elgamal import Ciphertext
from threshold.errors import ProtocolError, QuorumError, VerificationError
from threshold.groups import get_group
from voting import credentials, db
from voting.ballot import ballot_hash, encrypt_ballot, next_tracker, reveal_json, signed_body
from voting.board import Board, signature_valid
from voting.context import ElectionContext, build_context, credentials_payload, setup_payload
from voting.credentials import new_private_credential, public_credential
from voting.demo import key_ceremony
from voting.db import make_engine
from voting.election import Election
from voting.manifest import Manifest
from voting.record import GENESIS, entry_hash
from voting.tally import CastBallot, decryption_context, product, trustee_decrypt
from voting.verifier import verify_record

ELECTION_ID = "stateful"
PG_BASE = "postgresql+psycopg://127.0.0.1:5432/test"
VOTERS, TRUSTEES, QUORUM = 3, 3, 2
MANIFEST = Manifest.from_json({"title": "Stateful", "contests": [
    {"id": "a", "title": "A", "kind": "plurality",
     "options": [{"id": "x", "label": "X"}, {"id": "y", "label": "Y"}, {"id": "z", "label": "Z"}]},
    {"id": "b", "title": "B", "kind": "exact", "k": 2,
     "options": [{"id": "p", "label": "P"}, {"id": "q", "label": "Q"}, {"id": "r", "label": "R"}]},
]})
CHOICES = st.fixed_dictionaries({
    "a": st.sampled_from([[], ["x"], ["y"], ["z"]]),
    "b": st.sampled_from([["p", "q"], ["p", "r"], ["q", "r"]]),
})
PHASES_AFTER_TALLY = ("tallied", "decrypting", "done")


@dataclass(frozen=True)
class Fixture:
    """What every example shares (the board's database is new each time): the board key, the parameter entries,
    the trustees' keys and the voters' credentials."""

    key: SigningKey
    setup: dict[str, Any]
    ceremony: dict[str, Any]
    trustee_keys: tuple[TrusteeKey, ...]
    private: tuple[str, ...]
    public: tuple[str, ...]
    registered: dict[str, Any]
    ctx: ElectionContext


def scratch() -> Path:
    """A new folder for a board database: in memory-backed /dev/shm where there is one (SQLite's fsyncs are free
    there), else the system's temporary folder."""
    shm = Path("/dev/shm")
    return Path(tempfile.mkdtemp(prefix="quorum-stateful-", dir=shm if shm.is_dir() else None))


@lru_cache(maxsize=None)
def fixture(group_name: str) -> Fixture:
    key = SigningKey.generate()
    setup = setup_payload(ELECTION_ID, MANIFEST, get_group(group_name), TRUSTEES, QUORUM, bytes(key.verify_key).hex())
    ceremony, keys = key_ceremony(setup)
    private = tuple(new_private_credential() for _ in range(VOTERS))
    public = tuple(public_credential(ELECTION_ID, c) for c in private)
    registered = credentials_payload(list(public), VOTERS)
    return Fixture(key, setup, ceremony, tuple(keys), private, public, registered,
                   build_context(setup, ceremony, registered))


def registered_board(fx: Fixture, url: str) -> Board:
    """A board at url holding the election with its setup, key ceremony and credentials (not open yet)."""
    board = Board.open(url, fx.key)
    board.create_election(ELECTION_ID)
    election = Election(board, ELECTION_ID)
    election.setup(fx.setup)
    election.key_ceremony(fx.ceremony)
    election.register(fx.registered)
    return board


@lru_cache(maxsize=None)
def sqlite_template(group_name: str) -> bytes:
    """The bytes of a SQLite board database as registered_board leaves it: each example starts from a copy."""
    folder = scratch()
    try:
        registered_board(fixture(group_name), f"sqlite:///{folder / 'board.db'}").engine.dispose()
        return (folder / "board.db").read_bytes()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@dataclass
class Voter:
    """The model of one credential: its cast ballots (json, choices, secrets) and challenged ones."""

    cast: list[tuple[dict[str, Any], dict[str, list[str]], Any]] = field(default_factory=list)
    receipts: list[tuple[int, str, str]] = field(default_factory=list)
    spoiled: list[tuple[dict[str, Any], list[dict[str, Any]], tuple[int, str, str]]] = field(default_factory=list)


class LifecycleMachine(RuleBasedStateMachine):
    """One election on a fresh board; see the module docstring."""

    group_name = "ed25519"

    def new_board(self) -> Board:
        """A board with the registered election on a fresh database in self.folder."""
        (self.folder / "board.db").write_bytes(sqlite_template(self.group_name))
        return Board(make_engine(f"sqlite:///{self.folder / 'board.db'}"), self.fx.key)

    def __init__(self) -> None:
        super().__init__()
        self.fx = fixture(self.group_name)
        self.folder = scratch()
        self.board = self.new_board()
        self.election = Election(self.board, ELECTION_ID)
        # the model
        self.phase = "registered"
        self.types = ["setup", "key_ceremony", "credentials"]
        self.head = self.board.entries(ELECTION_ID)[-1].hash
        self.tracker = self.fx.ctx.base_hash
        self.voters = [Voter() for _ in range(VOTERS)]
        self.decrypted: dict[int, dict[str, Any]] = {}  # trustee index -> its published payload, in board order
        self.tally_payload: dict[str, Any] | None = None
        self.result: dict[str, Any] | None = None

    # --- helpers --------------------------------------------------------------------------------
    @property
    def ctx(self) -> ElectionContext:
        return self.fx.ctx

    def stored(self) -> tuple[Any, ...]:
        """What a refused step must leave as it was: entry, ballot and ciphertext rows, head hash, phase."""
        mine = [select(func.count()).select_from(t).where(t.election_id == ELECTION_ID).scalar_subquery()
                for t in (db.Entry, db.Ballot, db.Ciphertext)]
        with self.board.engine.connect() as conn:
            return tuple(conn.execute(select(*mine, db.Election.head_hash, db.Election.phase)
                                      .where(db.Election.id == ELECTION_ID)).one())

    def refused(self, call: Callable[[], Any], error: type[QuorumError] | tuple[type[QuorumError], ...]) -> str:
        before = self.stored()
        with pytest.raises(QuorumError) as info:
            call()
        assert isinstance(info.value, error), f"refused with {type(info.value).__name__}: {info.value}"
        assert self.stored() == before, f"a refused step changed the board ({info.value})"
        return str(info.value)

    def appended(self, entry_type: str, seq: int) -> None:
        """Check that exactly one entry of this type was appended at the head, and follow it in the model."""
        entries = self.board.entries(ELECTION_ID, first=len(self.types) - 1)
        assert [e.type for e in entries[1:]] == [entry_type], "expected exactly one new entry"
        assert entries[0].hash == self.head and entries[1].seq == seq == len(self.types)
        self.types.append(entry_type)
        self.head = entries[1].hash

    def ballot(self, voter: int, choices: dict[str, list[str]], revote: int) -> tuple[dict[str, Any], Any]:
        return encrypt_ballot(self.ctx, self.fx.private[voter], choices, revote)

    def sign_as(self, voter: int, body: dict[str, Any]) -> dict[str, Any]:
        """A ballot body signed with the voter's credential (what a voter, or a thief of its credential, can do)."""
        body = {k: copy.deepcopy(body[k]) for k in ("credential", "contests", "revote")}
        key = credentials.signing_key(ELECTION_ID, self.fx.private[voter])
        return {**body, "signature": credentials.sign(key, ballot_hash(self.ctx, body))}

    def next_tracker(self, ballot_json: dict[str, Any]) -> str:
        self.tracker = next_tracker(self.tracker, ballot_hash(self.ctx, signed_body(ballot_json)))
        return self.tracker.hex()

    def count(self) -> list[list[int]]:
        """The result under the re-vote rule: each credential's last cast ballot counts, challenged ones never."""
        out = [[0] * len(c.options) for c in MANIFEST.contests]
        for v in self.voters:
            if v.cast:
                choices = v.cast[-1][1]
                for i, contest in enumerate(MANIFEST.contests):
                    for j, option in enumerate(contest.options):
                        out[i][j] += option in choices[contest.id]
        return out

    def counted(self) -> list[CastBallot]:
        """The ballots the model counts, as the tally sees them."""
        g = self.ctx.group
        return [CastBallot(0, b["credential"], ballot_hash(self.ctx, signed_body(b)).hex(),
                           tuple(tuple(Ciphertext(g.from_hex(c["alpha"]), g.from_hex(c["beta"]))
                                       for c in item["selections"]) for item in b["contests"]), b["revote"])
                for b in (v.cast[-1][0] for v in self.voters if v.cast)]

    # --- invariants -----------------------------------------------------------------------------
    @invariant()
    def chain_verifies(self) -> None:
        entries = self.board.entries(ELECTION_ID)
        assert [e.type for e in entries] == self.types
        prev = GENESIS
        for i, e in enumerate(entries):
            assert e.seq == i and e.prev == prev
            assert e.hash == entry_hash(e.seq, e.type, e.payload, e.prev)
            assert signature_valid(self.board.public_key, e.hash, e.sig)
            prev = e.hash
        assert prev == self.head
        assert self.stored()[4] == self.phase

    @invariant()
    def revote_counters(self) -> None:
        with Session(self.board.engine) as session:
            counts = dict(session.execute(select(db.Ballot.credential, func.count()).where(
                db.Ballot.election_id == ELECTION_ID, db.Ballot.status == "cast").group_by(db.Ballot.credential)).all())
        assert {c: n for c, n in counts.items() if n} == {
            self.fx.public[i]: len(v.cast) for i, v in enumerate(self.voters) if v.cast}

    # --- lifecycle steps: each rule runs when the step is legal; out_of_order tries any step at any time ----------
    @precondition(lambda self: self.phase == "registered")
    @rule()
    def open(self) -> None:
        if self.phase != "registered":
            self.refused(self.election.open, ProtocolError)
            return
        entry = self.election.open()
        assert entry.payload["base_hash"] == self.ctx.base_hash.hex()
        self.appended("open", entry.seq)
        self.phase = "open"

    @precondition(lambda self: self.phase == "open")
    @rule()
    def close(self) -> None:
        if self.phase != "open":
            self.refused(self.election.close, ProtocolError)
            return
        self.appended("close", self.election.close().seq)
        self.phase = "closed"

    @precondition(lambda self: self.phase == "closed")
    @rule()
    def tally(self) -> None:
        if self.phase != "closed":
            self.refused(self.election.tally, ProtocolError)
            return
        entry = self.election.tally()
        self.appended("tally", entry.seq)
        assert entry.payload["counted"] == sum(1 for v in self.voters if v.cast)
        self.tally_payload = entry.payload
        self.phase = "tallied"

    @precondition(lambda self: self.phase in ("tallied", "decrypting"))
    @rule(trustee=st.integers(1, TRUSTEES))
    def decrypt(self, trustee: int) -> None:
        """A trustee's partial decryption: once each (a second, fresh one is a retry: the first entry comes back and
        nothing is stored), after the tally and before the result."""
        payload = self.partial(trustee)
        if trustee in self.decrypted:
            before = self.stored()
            again = self.election.add_decryption(payload)
            assert again.payload == self.decrypted[trustee] and self.stored() == before
            return
        if self.phase not in ("tallied", "decrypting"):
            self.refused(lambda: self.election.add_decryption(payload), ProtocolError)
            return
        entry = self.election.add_decryption(payload)
        self.appended("decryption", entry.seq)
        self.decrypted[trustee] = payload
        self.phase = "decrypting"

    @precondition(lambda self: self.phase in ("tallied", "decrypting"))
    @rule()
    def publish_result(self) -> None:
        """The result from the first `quorum` partial decryptions; refused with fewer."""
        if self.phase != "decrypting" or len(self.decrypted) < QUORUM:
            self.refused(self.election.publish_result, ProtocolError)
            return
        entry = self.election.publish_result()
        self.appended("result", entry.seq)
        assert [c["counts"] for c in entry.payload["contests"]] == self.count()
        assert entry.payload["trustees"] == list(self.decrypted)[:QUORUM]
        self.result = entry.payload
        self.phase = "done"

    @rule(step=st.sampled_from(["open", "close", "tally", "decrypt", "result", "cast", "challenge"]), data=st.data())
    def out_of_order(self, step: str, data: st.DataObject) -> None:
        """Any step in any phase (after the result too): done if legal, else refused and nothing stored."""
        if step == "open":
            self.open()
        elif step == "close":
            self.close()
        elif step == "tally":
            self.tally()
        elif step == "decrypt":
            self.decrypt(data.draw(st.integers(1, TRUSTEES)))
        elif step == "result":
            self.publish_result()
        elif step == "cast":
            self.cast(data.draw(st.integers(0, VOTERS - 1)), data.draw(CHOICES))
        else:
            self.challenge(data.draw(st.integers(0, VOTERS - 1)), data.draw(CHOICES), False)

    @rule()
    def restart(self) -> None:
        """A new server process (or another web worker): a new Election and Board over the same database, whose
        state comes from the board alone."""
        self.board = Board(self.board.engine, self.fx.key)
        self.election = Election(self.board, ELECTION_ID)

    # --- ballots --------------------------------------------------------------------------------
    @precondition(lambda self: self.phase == "open")
    @rule(voter=st.integers(0, VOTERS - 1), choices=CHOICES)
    def cast(self, voter: int, choices: dict[str, list[str]]) -> None:
        """A voter's first ballot or a re-vote, with the right counter."""
        v = self.voters[voter]
        ballot, secrets_ = self.ballot(voter, choices, len(v.cast))
        if self.phase != "open":
            self.refused(lambda: self.election.cast(ballot), ProtocolError)
            return
        receipt = self.election.cast(ballot)
        assert receipt.stored and receipt.ballot_hash == ballot_hash(self.ctx, signed_body(ballot)).hex()
        assert receipt.tracker == self.next_tracker(ballot)
        self.appended("cast", receipt.seq)
        v.cast.append((ballot, choices, secrets_))
        v.receipts.append((receipt.seq, receipt.ballot_hash, receipt.tracker))

    @precondition(lambda self: self.phase == "open")
    @rule(voter=st.integers(0, VOTERS - 1), choices=CHOICES, retry=st.booleans())
    def challenge(self, voter: int, choices: dict[str, list[str]], retry: bool) -> None:
        """A Benaloh challenge: the ballot carries the credential's next counter, consumes none, is never counted;
        a retried challenge returns the first receipt."""
        v = self.voters[voter]
        ballot, secrets_ = self.ballot(voter, choices, len(v.cast))
        reveal = reveal_json(self.ctx, secrets_)
        if self.phase != "open":
            self.refused(lambda: self.election.spoil(ballot, reveal), ProtocolError)
            return
        receipt = self.election.spoil(ballot, reveal)
        assert receipt.stored and receipt.tracker == self.next_tracker(ballot)
        self.appended("spoil", receipt.seq)
        v.spoiled.append((ballot, reveal, (receipt.seq, receipt.ballot_hash, receipt.tracker)))
        if retry:
            before = self.stored()
            again = self.election.spoil(copy.deepcopy(ballot), copy.deepcopy(reveal))
            assert not again.stored and (again.seq, again.ballot_hash, again.tracker) == v.spoiled[-1][2]
            assert self.stored() == before

    @precondition(lambda self: any(v.cast for v in self.voters))
    @rule(data=st.data())
    def retry_cast(self, data: st.DataObject) -> None:
        """A client retrying a voter's latest ballot (its answer was lost) gets the first receipt and nothing is
        stored, also once the election is closed: the ballot is on the board and counts."""
        voter = data.draw(st.sampled_from([i for i, v in enumerate(self.voters) if v.cast]))
        v = self.voters[voter]
        before = self.stored()
        receipt = self.election.cast(copy.deepcopy(v.cast[-1][0]))
        assert not receipt.stored and (receipt.seq, receipt.ballot_hash, receipt.tracker) == v.receipts[-1]
        assert self.stored() == before

    @precondition(lambda self: any(v.spoiled for v in self.voters))
    @rule(data=st.data())
    def retry_challenge(self, data: st.DataObject) -> None:
        """A retried challenge (same ballot, same reveal), at any later time: the first receipt, nothing stored."""
        voter = data.draw(st.sampled_from([i for i, v in enumerate(self.voters) if v.spoiled]))
        ballot, reveal, first = data.draw(st.sampled_from(self.voters[voter].spoiled))
        before = self.stored()
        receipt = self.election.spoil(copy.deepcopy(ballot), copy.deepcopy(reveal))
        assert not receipt.stored and (receipt.seq, receipt.ballot_hash, receipt.tracker) == first
        assert self.stored() == before

    BAD_BALLOTS = ("stale-counter", "skipped-counter", "unknown-credential", "replayed", "moved", "forged-signature",
                   "own-ciphertexts", "cast-challenged", "challenge-cast", "lying-reveal", "challenge-counter")

    @rule(data=st.data())
    def bad_ballot(self, data: st.DataObject) -> None:
        """A ballot the board must refuse in any phase, storing nothing (the error type is the one of the first
        check it fails: before the open there is no context, ProtocolError; a bad proof or signature is a
        VerificationError whatever the phase; the board's own rules are ProtocolErrors)."""
        voters, with_cast = range(VOTERS), [i for i, v in enumerate(self.voters) if v.cast]
        usable = {"stale-counter": with_cast, "skipped-counter": voters, "unknown-credential": voters,
                  "replayed": [i for i in with_cast if len(self.voters[i].cast) > 1], "moved": with_cast,
                  "forged-signature": with_cast,
                  "own-ciphertexts": [i for i, v in enumerate(self.voters) if v.cast or v.spoiled],
                  "cast-challenged": [i for i, v in enumerate(self.voters) if v.spoiled], "challenge-cast": with_cast,
                  "lying-reveal": voters, "challenge-counter": voters}
        kind = data.draw(st.sampled_from([k for k in self.BAD_BALLOTS if usable[k]]))
        voter = data.draw(st.sampled_from(list(usable[kind])))
        v, count = self.voters[voter], len(self.voters[voter].cast)
        bad_proof = ProtocolError if self.phase == "registered" else VerificationError
        choices = data.draw(CHOICES)
        if kind == "stale-counter":  # a counter already used by one of the voter's cast ballots
            ballot = self.ballot(voter, choices, data.draw(st.integers(0, count - 1)))[0]
            self.refused(lambda: self.election.cast(ballot), ProtocolError)
        elif kind == "skipped-counter":
            ballot = self.ballot(voter, choices, data.draw(st.sampled_from([count + 1, count + 2, 2**31 - 1])))[0]
            self.refused(lambda: self.election.cast(ballot), ProtocolError)
        elif kind == "unknown-credential":
            ballot = encrypt_ballot(self.ctx, new_private_credential(), choices, 0)[0]
            self.refused(lambda: self.election.cast(ballot), ProtocolError)
        elif kind == "replayed":  # an older ballot of the voter after its re-vote: it would undo the re-vote
            old = copy.deepcopy(data.draw(st.sampled_from(v.cast[:-1]))[0])
            self.refused(lambda: self.election.cast(old), ProtocolError)
        elif kind == "moved":  # another voter's ciphertexts and proofs under my credential, signed by me
            thief = data.draw(st.sampled_from([i for i in voters if i != voter]))
            stolen = data.draw(st.sampled_from(v.cast))[0]
            moved = self.sign_as(thief, {**stolen, "credential": self.fx.public[thief],
                                         "revote": len(self.voters[thief].cast)})
            self.refused(lambda: self.election.cast(moved), bad_proof)
        elif kind == "forged-signature":  # the voter's ballot with a new counter, signed by another credential
            other = data.draw(st.sampled_from([i for i in voters if i != voter]))
            ballot = {**v.cast[-1][0], "revote": count}
            ballot["signature"] = self.sign_as(other, ballot)["signature"]
            self.refused(lambda: self.election.cast(ballot), bad_proof)
        elif kind == "own-ciphertexts":  # an earlier ballot's ciphertexts (its proofs still hold) with the next counter
            earlier = data.draw(st.sampled_from([b for b, _, _ in v.cast] + [b for b, _, _ in v.spoiled]))
            again = self.sign_as(voter, {**earlier, "revote": count})
            self.refused(lambda: self.election.cast(again), ProtocolError)
        elif kind == "cast-challenged":  # its nonces are public: it can never be cast
            ballot = copy.deepcopy(data.draw(st.sampled_from(v.spoiled))[0])
            self.refused(lambda: self.election.cast(ballot), ProtocolError)
        elif kind == "challenge-cast":  # revealing a cast ballot's plaintexts
            ballot, _, secrets_ = data.draw(st.sampled_from(v.cast))
            reveal = reveal_json(self.ctx, secrets_)
            self.refused(lambda: self.election.spoil(ballot, reveal), ProtocolError)
        elif kind == "challenge-counter":  # a challenge carries the next cast ballot's counter, no other
            wrong = data.draw(st.sampled_from([count + 1] + [count - 1] * (count > 0)))
            ballot, secrets_ = self.ballot(voter, choices, wrong)
            reveal = reveal_json(self.ctx, secrets_)
            self.refused(lambda: self.election.spoil(ballot, reveal), ProtocolError)
        else:
            ballot, secrets_ = self.ballot(voter, choices, count)
            reveal = reveal_json(self.ctx, secrets_)
            reveal[0]["plaintexts"] = [1 - m for m in reveal[0]["plaintexts"]]
            self.refused(lambda: self.election.spoil(ballot, reveal), bad_proof)

    # --- partial decryptions --------------------------------------------------------------------
    def partial(self, trustee: int, key_of: int | None = None) -> dict[str, Any]:
        """Trustee's partial decryption of the tally on the board (before there is one: of the product of the
        ballots the model would count, a trustee decrypting early), made with trustee key_of's secret if given."""
        key = self.fx.trustee_keys[trustee - 1]
        if self.tally_payload is not None and key_of is None:
            return trustee_decrypt(self.ctx, key, self.election.cast_ballots(), self.tally_payload)
        secret = self.fx.trustee_keys[(key_of or trustee) - 1].secret
        flat = [ct for row in product(self.ctx, self.counted()) for ct in row]
        g = self.ctx.group
        return partial_decrypt(g, trustee, secret, flat, decryption_context(self.ctx)).to_json(g)

    @precondition(lambda self: self.decrypted)
    @rule(data=st.data())
    def resubmit_decryption(self, data: st.DataObject) -> None:
        """A trustee's retried submission of the very payload published: the stored entry, nothing stored."""
        trustee = data.draw(st.sampled_from(sorted(self.decrypted)))
        before = self.stored()
        entry = self.election.add_decryption(copy.deepcopy(self.decrypted[trustee]))
        assert entry.payload == self.decrypted[trustee] and self.types[entry.seq] == "decryption"
        assert self.stored() == before

    @rule(trustee=st.integers(1, TRUSTEES), how=st.sampled_from(["share", "proof", "other-key", "unknown-index"]))
    def wrong_decryption(self, trustee: int, how: str) -> None:
        """A partial decryption that does not verify is never stored (before the tally: nothing to decrypt)."""
        if how == "other-key":
            payload = self.partial(trustee, key_of=trustee % TRUSTEES + 1)
        elif how == "unknown-index":
            payload = self.partial(trustee)
            payload["index"] = TRUSTEES + 1
        else:
            payload = self.partial(trustee)
            g = self.ctx.group
            if how == "share":
                payload["shares"][0] = g.to_hex(g.mul(g.from_hex(payload["shares"][0], "share", True), g.g))
            else:
                proof = payload["proofs"][-1]
                proof["response"] = g.scalar_to_hex((g.scalar_from_hex(proof["response"]) + 1) % g.q)
        self.refused(lambda: self.election.add_decryption(payload),
                     VerificationError if self.tally_payload is not None else ProtocolError)

    # --- the end --------------------------------------------------------------------------------
    def finish(self) -> None:
        """Drive the election to its result by the legal steps the model expects to succeed."""
        if self.phase == "registered":
            self.open()
        if self.phase == "open":
            self.close()
        if self.phase == "closed":
            self.tally()
        for trustee in range(1, TRUSTEES + 1):
            if self.phase != "done" and len(self.decrypted) < QUORUM and trustee not in self.decrypted:
                self.decrypt(trustee)
        if self.phase != "done":
            self.publish_result()
        self.chain_verifies()

    def teardown(self) -> None:
        try:
            self.finish()
            report = verify_record(self.board.export(ELECTION_ID, self.folder / "record"), workers=1)
            assert report.valid, report.failures
            assert report.result == self.result
            assert [c["counts"] for c in report.result["contests"]] == self.count()
        finally:
            self.board.engine.dispose()
            shutil.rmtree(self.folder, ignore_errors=True)


def run(machine: type[LifecycleMachine], examples: int, steps: int) -> None:
    run_state_machine_as_test(machine, settings=settings(
        max_examples=examples, stateful_step_count=steps, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))


def test_lifecycle_ed25519() -> None:
    run(LifecycleMachine, examples=40, steps=40)


def test_lifecycle_modp() -> None:
    class Modp(LifecycleMachine):
        group_name = "modp"

    run(Modp, examples=6, steps=25)


@pytest.mark.postgres
@pytest.mark.xdist_group("postgres")
def test_lifecycle_postgres() -> None:
    psycopg = pytest.importorskip("psycopg")
    try:
        psycopg.connect("host=127.0.0.1 port=5432 dbname=test", connect_timeout=5).close()
    except psycopg.OperationalError as exc:  # pragma: no cover - depends on the machine
        pytest.skip(f"PostgreSQL not reachable: {exc}")

    class Postgres(LifecycleMachine):
        """The machine on a board in a new PostgreSQL schema per example (dropped at its teardown)."""

        def new_board(self) -> Board:
            self.schema = "qs_" + secrets.token_hex(6)
            with psycopg.connect("host=127.0.0.1 port=5432 dbname=test", autocommit=True) as conn:
                conn.execute(f"CREATE SCHEMA {self.schema}")
            return registered_board(self.fx, f"{PG_BASE}?options=-csearch_path%3D{self.schema}")

        def teardown(self) -> None:
            try:
                super().teardown()
            finally:
                with psycopg.connect("host=127.0.0.1 port=5432 dbname=test", autocommit=True) as conn:
                    conn.execute(f"DROP SCHEMA {self.schema} CASCADE")

    run(Postgres, examples=8, steps=30)


def test_retry_after_close_returns_the_receipt() -> None:
    """A voter whose answer was lost retries after the close: the ballot is on the board and counts, so the retry
    gets its receipt (it stores nothing), as a retried challenge does; a superseded ballot stays refused."""
    m = LifecycleMachine()
    try:
        m.open()
        m.cast(0, {"a": ["x"], "b": ["p", "q"]})
        m.cast(0, {"a": ["y"], "b": ["p", "r"]})
        m.challenge(1, {"a": ["z"], "b": ["q", "r"]}, False)
        m.close()
        again = m.election.cast(copy.deepcopy(m.voters[0].cast[-1][0]))
        assert (again.seq, again.ballot_hash, again.tracker, again.stored) == (*m.voters[0].receipts[-1], False)
        ballot, reveal, receipt = m.voters[1].spoiled[0]
        again = m.election.spoil(copy.deepcopy(ballot), copy.deepcopy(reveal))
        assert (again.seq, again.ballot_hash, again.tracker, again.stored) == (*receipt, False)
        assert "replayed" in m.refused(lambda: m.election.cast(m.voters[0].cast[0][0]), ProtocolError)
        m.chain_verifies()
    finally:
        m.teardown()
