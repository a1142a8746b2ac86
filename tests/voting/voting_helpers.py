"""Elections for the voting tests: a board with a registered, open election, and a scripted finished record
with every kind of entry (challenged ballot, re-vote, extra partial decryption), plus tampering tools."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, TypeVar

from nacl.signing import SigningKey
from sqlalchemy.exc import OperationalError

from threshold.dkg import TrusteeKey
from threshold.groups import get_group
from voting.ballot import ballot_hash, encrypt_ballot, next_tracker, reveal_json, signed_body
from voting.board import Board
from voting.context import ElectionContext, credentials_payload, setup_payload
from voting.credentials import new_private_credential, public_credential
from voting.demo import DEMO_MANIFEST, key_ceremony
from voting.election import Election
from voting.manifest import Manifest
from voting.record import GENESIS, entry_hash
from voting.tally import trustee_decrypt

MANIFEST = Manifest.from_json(DEMO_MANIFEST)
T = TypeVar("T")
CHOICE = {"mayor": ["ada"], "council": ["c1", "c3"], "board": ["b1", "b2"], "park": ["yes"]}
OTHER = {"mayor": ["grace"], "council": [], "board": ["b2", "b3"], "park": ["no"]}


@dataclass
class Scenario:
    """An election on a board, with the secrets the tests play every role with."""

    board: Board
    election: Election
    key: SigningKey
    credentials: list[str]
    trustee_keys: list[TrusteeKey]
    record: Path | None = None
    seqs: dict[str, int] = field(default_factory=dict)

    @property
    def ctx(self) -> ElectionContext:
        return self.election.context()

    def ballot(self, voter: int, choices: dict[str, list[str]] = CHOICE, revote: int | None = None) -> dict[str, Any]:
        """A ballot of the voter carrying its next re-vote counter on the board (or the one given)."""
        if revote is None:
            revote = self.election.next_revote(public_credential(self.election.election_id, self.credentials[voter]))
        return encrypt_ballot(self.ctx, self.credentials[voter], choices, revote)[0]


def retrying(call: Callable[[], T], attempts: int = 30) -> T:
    """A client that retries when the database refuses a connection (a shared PostgreSQL may be full for a
    moment); idempotent casting makes a retry safe."""
    for attempt in range(attempts):
        try:
            return call()
        except OperationalError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def open_election(url: str, group_name: str = "ed25519", voters: int = 4, trustees: int = 3, quorum: int = 2,
                  election_id: str = "test-election") -> Scenario:
    """A registered and open election on a fresh board at url."""
    key = SigningKey.generate()
    board = Board.open(url, key)
    board.create_election(election_id)
    election = Election(board, election_id)
    setup_p = setup_payload(election_id, MANIFEST, get_group(group_name), trustees, quorum, board.public_key)
    election.setup(setup_p)
    ceremony_p, keys = key_ceremony(setup_p)
    election.key_ceremony(ceremony_p)
    creds = [new_private_credential() for _ in range(voters)]
    election.register(credentials_payload([public_credential(election_id, c) for c in creds], voters))
    election.open()
    return Scenario(board, election, key, creds, keys)


def finish(s: Scenario, trustees: list[int] | None = None) -> dict[str, Any]:
    """Close, tally, decrypt by the given trustees (default all) and publish the result."""
    s.election.close()
    s.election.tally()
    published = s.election.cast_ballots()
    tally_p = next(e for e in s.election.entries() if e.type == "tally").payload
    for k in s.trustee_keys:
        if trustees is None or k.index in trustees:
            s.election.add_decryption(trustee_decrypt(s.ctx, k, published, tally_p))
    return s.election.publish_result().payload


def scripted_record(tmp: Path, group_name: str = "ed25519") -> Scenario:
    """v0 casts; v1 challenges a ballot then casts; v2 casts twice (re-vote); v3 casts; all 3 trustees decrypt."""
    s = open_election(f"sqlite:///{tmp / 'board.db'}", group_name)
    s.seqs["v0"] = s.election.cast(s.ballot(0)).seq
    spoiled, secrets_ = encrypt_ballot(s.ctx, s.credentials[1], OTHER)
    s.seqs["spoil"] = s.election.spoil(spoiled, reveal_json(s.ctx, secrets_)).seq
    s.seqs["v1"] = s.election.cast(s.ballot(1)).seq
    s.seqs["superseded"] = s.election.cast(s.ballot(2, OTHER)).seq
    s.seqs["v2"] = s.election.cast(s.ballot(2)).seq
    s.seqs["v3"] = s.election.cast(s.ballot(3, OTHER)).seq
    finish(s)
    s.record = s.board.export(s.election.election_id, tmp / "record")
    return s


def load(record: Path) -> list[dict[str, Any]]:
    """The record's entries as plain JSON objects."""
    return [json.loads(line) for line in (record / "board.jsonl").read_text(encoding="utf-8").splitlines()]


def fix_ballots(entries: list[dict[str, Any]], ctx: ElectionContext) -> None:
    """What a malicious board recomputes after editing ballots: stated ballot hashes and the tracker chain."""
    previous = ctx.base_hash
    for e in entries:
        if e["type"] in ("cast", "spoil"):
            ballot = e["payload"]["ballot"]
            digest = ballot_hash(ctx, signed_body(ballot))
            e["payload"]["ballot_hash"] = digest.hex()
            previous = next_tracker(previous, digest)
            e["payload"]["tracker"] = previous.hex()


def rechain(entries: list[dict[str, Any]], key: SigningKey) -> None:
    """Re-hash and re-sign the whole chain with the board key (seq values kept as they are).

    An entry marked `_prev` keeps that (wrong) prev, hashed and signed; one marked `_hash` gets that
    (wrong) hash, signed and linked from the next entry: a board lying about exactly one link."""
    prev = GENESIS
    for e in entries:
        e["prev"] = e.pop("_prev", prev)
        e["hash"] = entry_hash(e["seq"], e["type"], e["payload"], e["prev"])
        e["hash"] = e.pop("_hash", e["hash"])
        e["sig"] = key.sign(bytes.fromhex(e["hash"])).signature.hex()
        prev = e["hash"]


def renumber(entries: list[dict[str, Any]]) -> None:
    """seq = position, after entries were moved or inserted."""
    for i, e in enumerate(entries):
        e["seq"] = i


def save(entries: list[dict[str, Any]], public_key: str, out: Path) -> Path:
    """Write tampered entries as a record directory."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "board.jsonl").write_bytes(b"".join(
        json.dumps(e, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() + b"\n" for e in entries))
    (out / "board.pub").write_text(public_key + "\n", encoding="ascii")
    return out
