"""The bulletin board: an append-only, hash-chained log per election, each entry signed with the board's Ed25519 key.

Appends to one election are serialized (SELECT ... FOR UPDATE on the election's row on PostgreSQL, BEGIN IMMEDIATE
on SQLite), so concurrent writers never fork the chain or lose an entry. An append with a dedup key that is already
on the board returns the stored entry and stores nothing (idempotent casting by ballot hash).
"""

from __future__ import annotations

import errno
import hashlib
import json
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from threshold import keystore
from threshold.encoding import canonical_json
from threshold.errors import DecodeError, ProtocolError
from voting import db
from voting.record import GENESIS, Entry, hashed_body, parse_json_strict, write_record


def load_signing_key(path: str | Path) -> SigningKey:
    """Read a board key written by save_signing_key (raw hex seed)."""
    return SigningKey(bytes.fromhex(Path(path).read_text(encoding="ascii").strip()))


def save_signing_key(key: SigningKey, path: str | Path) -> None:
    """Write the board's private key as hex to a new file, mode 0600 from the start and whole or not at all
    (keystore.create_new): an existing file (perhaps another board's key) is never replaced (FileExistsError)."""
    if not keystore.create_new(path, (bytes(key).hex() + "\n").encode("ascii")):
        raise FileExistsError(errno.EEXIST, "file exists", str(path))


def public_key_hex(key: SigningKey) -> str:
    """The board's public key as written to board.pub."""
    return bytes(key.verify_key).hex()


def signature_valid(public_key: str, digest: str, sig: str) -> bool:
    """Whether sig is the board key's Ed25519 signature of the 32 hash bytes."""
    try:
        VerifyKey(bytes.fromhex(public_key)).verify(bytes.fromhex(digest), bytes.fromhex(sig))
    except (BadSignatureError, ValueError):
        return False
    return True


def recordable_json(payload: dict[str, Any]) -> bytes:
    """The payload's canonical JSON, refusing a payload the record parser would refuse (floats, NaN, lone
    surrogates): the log must stay verifiable."""
    try:
        text = canonical_json(payload)
        ok = parse_json_strict(text.decode("utf-8")) == payload
    except (ValueError, UnicodeError, TypeError) as exc:
        raise DecodeError("payload", f"cannot be written to the record ({exc})") from None
    if not ok:
        raise DecodeError("payload", "does not survive a round trip through the record format")
    return text


def _to_entry(row: db.Entry) -> Entry:
    return Entry(row.seq, row.type, json.loads(row.payload), row.prev, row.hash, row.sig)


class LockedBoard:
    """One election's board inside a serialized transaction: read its state and append entries."""

    def __init__(self, session: Session, election: db.Election, key: SigningKey) -> None:
        self.session = session
        self.election = election
        self._key = key

    @property
    def election_id(self) -> str:
        """The election this lock is held on."""
        return self.election.id

    def entries(self, *types: str) -> list[Entry]:
        """The election's entries (only those of the types named, if any), in order, as this transaction sees
        them: its own appends included."""
        query = select(db.Entry).where(db.Entry.election_id == self.election.id)
        if types:
            query = query.where(db.Entry.type.in_(types))
        return [_to_entry(r) for r in self.session.scalars(query.order_by(db.Entry.seq))]

    def find(self, dedup_key: str) -> Entry | None:
        """The entry appended with this dedup key, if any."""
        row = self.session.scalars(
            select(db.Entry).where(db.Entry.election_id == self.election.id, db.Entry.dedup_key == dedup_key)
        ).one_or_none()
        return None if row is None else _to_entry(row)

    def append(self, entry_type: str, payload: dict[str, Any], dedup_key: str | None = None) -> Entry:
        """Chain, sign and store one entry at the head of the election's log; an entry already appended with
        this dedup key is returned instead, and nothing is stored."""
        if dedup_key is not None:
            found = self.find(dedup_key)
            if found is not None:
                return found
        text = recordable_json(payload)
        seq = self.election.head_seq + 1
        prev = self.election.head_hash
        digest = hashlib.sha256(hashed_body(seq, entry_type, text, prev)).hexdigest()
        sig = self._key.sign(bytes.fromhex(digest)).signature.hex()
        self.session.add(
            db.Entry(
                election_id=self.election.id, seq=seq, type=entry_type, payload=text.decode("utf-8"),
                prev=prev, hash=digest, sig=sig, dedup_key=dedup_key,
            )
        )
        self.election.head_seq = seq
        self.election.head_hash = digest
        self.session.flush()
        return Entry(seq, entry_type, payload, prev, digest, sig)


class Board:
    """The bulletin board of many elections over one database, signing with one Ed25519 key."""

    def __init__(self, engine: Engine, key: SigningKey) -> None:
        self.engine = engine
        self.key = key
        self._reader = db.read_only(engine)

    @classmethod
    def open(cls, url: str, key: SigningKey) -> "Board":
        """Connect to the database at url, migrating it to the newest schema (db.DatabaseConfigError if unusable)."""
        return cls(db.open_engine(url), key)

    @property
    def public_key(self) -> str:
        """The hex public key that verifies this board's signatures."""
        return public_key_hex(self.key)

    @contextmanager
    def creating(self, election_id: str) -> Iterator[LockedBoard]:
        """Register a new election's empty log and hold its lock: what the caller appends, or writes in the lock's
        session, commits with the registration or not at all (no half-made election). Refused if the id is taken."""
        taken = ProtocolError(f"election {election_id!r} already exists")
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            if session.get(db.Election, election_id) is not None:
                raise taken
            election = db.Election(id=election_id, board_public_key=self.public_key, head_seq=-1,
                                   head_hash=GENESIS, phase="new", last_tracker=GENESIS)
            session.add(election)
            try:
                session.flush()
            except IntegrityError:  # created by a concurrent request between the check and the insert
                raise taken from None
            yield LockedBoard(session, election, self.key)

    def create_election(self, election_id: str) -> None:
        """Register an empty log for a new election; refused if the id is taken."""
        with self.creating(election_id):
            pass

    @contextmanager
    def locked(self, election_id: str) -> Iterator[LockedBoard]:
        """A transaction holding the election's append lock; commits on success, stores nothing on error.

        It is the one per-election lock: whatever must not interleave with an append or a lifecycle step (the
        web app's voter list and credentials before the election opens) takes it too, and writes in its session.
        It is not reentrant: never take it again while holding it (pass the LockedBoard down instead)."""
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            election = session.scalars(
                select(db.Election).where(db.Election.id == election_id).with_for_update()
            ).one_or_none()
            if election is None:
                raise ProtocolError(f"no election {election_id!r} on this board")
            if election.board_public_key != self.public_key:
                raise ProtocolError("this board key does not sign that election's log")
            yield LockedBoard(session, election, self.key)

    def entries(self, election_id: str, first: int = 0, last: int | None = None, limit: int | None = None, *,
                types: Collection[str] = (), seqs: Collection[int] = (), max_bytes: int | None = None) -> list[Entry]:
        """The election's entries `first` to `last` (default: every one), only of `types` and numbered in `seqs` if
        given, in order, at most `limit` of them and, after the first, only while their payloads total at most
        `max_bytes` (a read-only transaction: it never waits for an append)."""
        query = select(db.Entry).where(db.Entry.election_id == election_id, db.Entry.seq >= first)
        if last is not None:
            query = query.where(db.Entry.seq <= last)
        if types:
            query = query.where(db.Entry.type.in_(sorted(types)))
        if seqs:
            query = query.where(db.Entry.seq.in_(sorted(seqs)))
        out: list[Entry] = []
        size = 0
        with Session(self._reader) as session:
            for row in session.scalars(query.order_by(db.Entry.seq).limit(limit), execution_options={"yield_per": 64}):
                size += len(row.payload)
                if out and max_bytes is not None and size > max_bytes:
                    break
                out.append(_to_entry(row))
        return out

    def export(self, election_id: str, path: str | Path) -> Path:
        """Write the election's record (Contracts: Record) to a directory or .zip."""
        return write_record(path, self.public_key, self.entries(election_id))
