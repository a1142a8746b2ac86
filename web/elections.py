"""Administrative operations on one election: create it, import voters, issue credentials, open, close, tally.

The board-side checks are voting.election's; this module keeps what only the web app holds (voter list,
credential deliveries, trustee invitations) and calls voting for every step that goes on the board.

The voter list and its credentials change only before they are published. Each change (replace_voters, issue,
import_public_credentials) and open_election runs in one transaction holding the election's board lock
(Board.locked: SELECT ... FOR UPDATE on PostgreSQL, BEGIN IMMEDIATE on SQLite) and reads the phase inside it; the
web tables live in the board's database, so the voter rows are written in that lock's session. A change racing
the open therefore either comes first (and is published at the open) or is refused with nothing changed.
Creation is one transaction too (Board.creating): the election, its setup entry, voters, invitations and its audit event.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from threshold.errors import DecodeError, ProtocolError, QuorumError
from threshold.groups import GROUP_NAMES, get_group
from voting import db as board_db
from voting.ballot import ballot_hex_bytes
from voting.board import Board, LockedBoard
from voting.context import ELECTION_ID, MAX_TRUSTEES, credentials_payload, setup_payload
from voting.credentials import new_private_credential, public_credential
from voting.election import Election
from voting.manifest import Manifest
from voting.voters_csv import UNSTORABLE, VoterListError, parse_public_credentials, parse_voters
from web import audit, mail
from web.config import MAX_BODY_BYTES, SmtpSettings
from web.errors import InputErrors
from web.models import TrusteeInvite, Voter, utcnow
from web.security import invite_version, token_hash

BEFORE_REGISTRATION = ("new", "setup", "keys")
# What no text column can hold on every database (PostgreSQL refuses NUL, UTF-8 has no lone surrogates) and no name
# needs: refused before the election is created, since the board's setup entry is written before the web tables.
_UNSTORABLE = re.compile(f"[{UNSTORABLE}]")
T = TypeVar("T")


@dataclass(frozen=True)
class NewElection:
    """A validated creation request (nothing stored yet)."""

    election_id: str
    manifest: Manifest
    group: str
    trustees: list[str]
    quorum: int
    voters: list[dict[str, str]]


@dataclass(frozen=True)
class IssuedCredential:
    """One voter's private credential, returned once for the sheet, the CSV or the e-mail, never stored."""

    voter_id: str
    email: str
    credential: str
    delivery: str


def validate(election_id: Any, manifest: Any, group: Any, trustees: Any, quorum: Any, voters_csv: Any) -> NewElection:
    """Check every field of a creation request and report every wrong one: DecodeError or VoterListError for one,
    InputErrors for several. The voter list is CSV text, or the bytes of an uploaded file (which must be UTF-8);
    `manifest` or `quorum` may be the error of a form field the caller could not read (reported with the rest)."""
    problems: list[QuorumError] = []
    _field(problems, lambda: _election_id(election_id))
    parsed = _field(problems, lambda: Manifest.from_json(_given(manifest)))
    if _field(problems, lambda: _group(group)) is not None and parsed is not None:
        _field(problems, lambda: _ballots_fit(parsed, group))
    names = _field(problems, lambda: _trustees(trustees))
    if names is not None or isinstance(quorum, QuorumError):
        _field(problems, lambda: _quorum(_given(quorum), len(names or ())))
    voters = _field(problems, lambda: parse_voters(_voter_list(voters_csv)))
    if problems:
        raise problems[0] if len(problems) == 1 else InputErrors(problems)
    assert parsed is not None and names is not None and voters is not None
    return NewElection(election_id, parsed, group, names, quorum, voters)


def _field(problems: list[QuorumError], check: Callable[[], T]) -> T | None:
    """check()'s value, or None with its rejection added to `problems` (so that every field gets checked)."""
    try:
        return check()
    except (DecodeError, VoterListError) as exc:
        problems.append(exc)
        return None


def _given(value: Any) -> Any:
    """A field's value, or the error the caller met reading it, raised here."""
    if isinstance(value, QuorumError):
        raise value
    return value


def _election_id(election_id: Any) -> None:
    if not isinstance(election_id, str) or not ELECTION_ID.fullmatch(election_id):
        raise DecodeError("election_id", "1-64 letters, digits, '_', '.', '-', starting with a letter or digit")


def _group(group: Any) -> str:
    if group not in GROUP_NAMES:
        raise DecodeError("group", f"expected one of {', '.join(GROUP_NAMES)}")
    return group


BALLOT_HEX_MAX = MAX_BODY_BYTES * 9 // 10  # room for a ballot's JSON keys and ids and a challenge's reveal (~3% in modp)


def _ballots_fit(manifest: Manifest, group: str) -> None:
    """Refuse a manifest whose every ballot in this group is larger than a request may be: its election could open,
    and nobody could cast or challenge a ballot in it."""
    size = ballot_hex_bytes(manifest, get_group(group))
    if size > BALLOT_HEX_MAX:
        raise DecodeError("manifest.contests", f"a ballot of these questions holds {size / 2**20:.1f} MiB in the {group} "
                                               f"group, more than a request may carry ({BALLOT_HEX_MAX / 2**20:.1f} "
                                               "MiB): ask fewer questions or offer fewer options, or use ed25519")


def _trustees(trustees: Any) -> list[str]:
    """The trustees' names, trimmed: 1 to MAX_TRUSTEES, each printable and distinct."""
    if not isinstance(trustees, list) or not 1 <= len(trustees) <= MAX_TRUSTEES:
        raise DecodeError("trustees", f"expected a list of 1 to {MAX_TRUSTEES} trustee names")
    names: list[str] = []
    for i, name in enumerate(trustees):
        if not isinstance(name, str) or not name.strip() or len(name) > 200:
            raise DecodeError(f"trustees[{i}]", "expected a name of 1 to 200 characters")
        if _UNSTORABLE.search(name):
            raise DecodeError(f"trustees[{i}]", "control characters and lone surrogates are not allowed in a name")
        name = name.strip()  # compared as stored: 'Tess' and 'Tess ' would be two trustees of one name
        if name in names:
            raise DecodeError(f"trustees[{i}]", f"{name!r} is already trustee {names.index(name) + 1}: give each "
                              "trustee a name of their own, to tell their invitation links apart")
        names.append(name)
    return names


def _quorum(quorum: Any, trustees: int) -> None:
    if not isinstance(quorum, int) or isinstance(quorum, bool) or not 1 <= quorum <= trustees:
        raise DecodeError("quorum", f"expected an integer from 1 to the number of trustees ({trustees})")


def _voter_list(voters_csv: Any) -> str | bytes:
    if not isinstance(voters_csv, (str, bytes)):
        raise DecodeError("voters", "expected the voter list as CSV text")
    return voters_csv


def create(board: Board, request: NewElection, booth_hash: str | None = None, *, actor: str | None = None,
           detail: str = "") -> dict[int, str]:
    """Create the election on the board with its setup entry, its voters and trustee invitations, and the audit
    event of `actor` (with `detail`) if given: all in one transaction.

    `booth_hash` (the served scripts' hash, state().booth.booth_hash) goes into the setup entry, so the base hash
    binds the booth code voters and trustees run. Returns {trustee index: invitation token}; the tokens are shown
    once (only their hashes are kept)."""
    payload = setup_payload(request.election_id, request.manifest, get_group(request.group),
                            len(request.trustees), request.quorum, board.public_key, booth_hash)
    tokens = {i: secrets.token_urlsafe(24) for i in range(1, len(request.trustees) + 1)}
    with board.creating(request.election_id) as lb:  # one transaction: all of it is stored, or none
        Election(board, request.election_id).setup(payload, held=lb)
        lb.session.add_all(Voter(election_id=request.election_id, voter_id=v["voter_id"], email=v["email"])
                           for v in request.voters)
        lb.session.add_all(TrusteeInvite(election_id=request.election_id, trustee_index=i, name=request.trustees[i - 1],
                                         token_hash=token_hash(t)) for i, t in tokens.items())
        if actor is not None:
            audit.record(lb.session, actor, "election_created", request.election_id, detail)
    return tokens


class StaleInvite(ProtocolError):
    """The invitation link was renewed by another request since the administrator's page was shown."""


def new_invite(sessions: Callable[[], Session], election_id: str, index: int, version: str | None = None) -> str:
    """Replace trustee `index`'s invitation link (the old one stops working); returns the new token.

    A compare-and-set on the link's hash: the row changes only if it still holds the link read here and, when
    `version` is given (the administrator's page sends the invite_version it showed), that link is the one the
    page was made with. Of two renewals sent at once from the same page exactly one commits; the other raises
    StaleInvite with nothing changed, so no page shows a link that another renewal has already replaced."""
    token = secrets.token_urlsafe(24)
    with sessions() as db:
        invite = db.scalars(select(TrusteeInvite).where(TrusteeInvite.election_id == election_id,
                                                       TrusteeInvite.trustee_index == index)).one_or_none()
        if invite is None:
            raise DecodeError("trustee", f"no trustee {index} in election {election_id!r}")
        stale = StaleInvite(f"trustee {index}'s invitation link was renewed by another request since this page was "
                            "shown: this request changed nothing; reload the election's page (make a new link from "
                            "it only if the one made meanwhile is lost)")
        if version is not None and version != invite_version(invite.token_hash):
            raise stale
        fresh = token_hash(token)
        changed = db.execute(update(TrusteeInvite)
                             .where(TrusteeInvite.id == invite.id, TrusteeInvite.token_hash == invite.token_hash)
                             .values(token_hash=fresh, accepted_at=None)
                             .execution_options(synchronize_session=False))
        if changed.rowcount != 1:  # PostgreSQL: another renewal committed after the read above (it waited on the row)
            db.rollback()
            raise stale
        db.commit()
    return token


def phase(board: Board, election_id: str) -> str:
    """The election's lifecycle phase; ProtocolError if there is no such election."""
    with Session(board.engine) as s:
        row = s.get(board_db.Election, election_id)
    if row is None:
        raise ProtocolError(f"no election {election_id!r} on this board")
    return row.phase


def _refuse_once_published(lb: LockedBoard, refused: str, so: str) -> None:
    """ProtocolError saying what was refused, why and so what, if the credentials are on the board (read under the
    lock: they cannot be published before the caller's write commits)."""
    if lb.election.phase not in BEFORE_REGISTRATION:
        raise ProtocolError(f"{refused}: the credentials were already published (the election is in phase "
                            f"{lb.election.phase!r}), so {so}; nothing was changed")


def replace_voters(board: Board, election_id: str, voters_csv: str | bytes) -> int:
    """Replace the voter list (before credentials are published); the CSV's errors are named by row. Written under
    the election's board lock, whose session is on the same database."""
    voters = parse_voters(voters_csv)
    with board.locked(election_id) as lb:
        _refuse_once_published(lb, "the voter list was not replaced", "it can no longer change")
        lb.session.execute(delete(Voter).where(Voter.election_id == election_id))
        lb.session.add_all(Voter(election_id=election_id, voter_id=v["voter_id"], email=v["email"]) for v in voters)
    return len(voters)


def voters(sessions: Callable[[], Session], election_id: str) -> list[Voter]:
    """The registered voters with their delivery status."""
    with sessions() as db:
        return list(db.scalars(select(Voter).where(Voter.election_id == election_id).order_by(Voter.id)))


def issue(board: Board, sessions: Callable[[], Session], election_id: str, smtp: SmtpSettings | None,
          booth_url: str, voter_ids: list[str] | None = None, send_mail: bool = False) -> list[IssuedCredential]:
    """Give new credentials to the voters named (default: every voter who has none yet).

    Only the public credential is stored; each secret is returned once and, if asked, e-mailed once.
    A voter who already has one gets a new one only when named explicitly (the old one stops working), unless the
    credential authority made it: that one is replaced only by another import from the authority.
    The credentials are stored under the election's board lock; the e-mails go after its commit."""
    if send_mail and smtp is None:
        raise DecodeError("send_mail", "no SMTP server is configured (QUORUM_SMTP_HOST)")
    handed: list[tuple[str, str, str]] = []
    with board.locked(election_id) as lb:
        _refuse_once_published(lb, "no credential was issued", "the voters keep the ones on the board")
        rows = list(lb.session.scalars(select(Voter).where(Voter.election_id == election_id).order_by(Voter.id)))
        if voter_ids is not None:
            known = {r.voter_id: r for r in rows}
            missing = [v for v in voter_ids if v not in known]
            if missing:
                raise DecodeError("voter_ids", f"unknown voter {missing[0]!r}")
            named: set[str] = set()
            for v in voter_ids:  # each mention would replace the credential the one before it handed out
                if v in named:
                    raise DecodeError("voter_ids", f"voter {v!r} is named twice")
                named.add(v)
            rows = [known[v] for v in voter_ids]
            authority = [r.voter_id for r in rows if r.delivery == "authority"]
            if authority:
                raise DecodeError("voter_ids", f"voter {authority[0]!r} holds a credential from the credential "
                                  "authority: ask the authority for a new one and import it (a credential issued here "
                                  "would be known to this server)")
        else:
            rows = [r for r in rows if r.public_credential is None]
        for row in rows:
            secret = new_private_credential()
            row.public_credential = public_credential(election_id, secret)
            row.delivery, row.delivery_error, row.delivered_at = "handed", "", utcnow()
            handed.append((row.voter_id, row.email, secret))
    outcomes = {voter: mail.send(smtp, mail.credential_message(smtp.sender, address, election_id, voter, secret, booth_url))  # type: ignore[union-attr]
                for voter, address, secret in handed if send_mail and address}
    if outcomes:  # the SMTP conversations happen outside any database transaction
        with sessions() as db:
            for row in db.scalars(select(Voter).where(Voter.election_id == election_id, Voter.voter_id.in_(list(outcomes)))):
                error = outcomes[row.voter_id]
                row.delivery, row.delivery_error = ("failed", error) if error else ("sent", "")
            db.commit()
    return [IssuedCredential(voter, address, secret, ("failed" if outcomes[voter] else "sent") if voter in outcomes else "handed")
            for voter, address, secret in handed]


def import_public_credentials(board: Board, election_id: str, credentials_csv: str | bytes) -> int:
    """Public credentials made by a credential authority (CSV `voter_id,public_credential`), so that this server
    never sees a private one. Every named voter must be registered and no credential may already belong to
    another voter; errors are listed by row and nothing changes on error.

    The phase check and the write are one transaction under the election's board lock, as open_election's is: an
    import that comes first is published at the open; one that comes after it is refused and changes nothing."""
    try:
        given = parse_public_credentials(credentials_csv)
    except VoterListError as exc:
        raise VoterListError(exc.errors, field="credentials_csv") from None
    with board.locked(election_id) as lb:
        _refuse_once_published(lb, "no credential was imported", "the list on the board is the one the voters had "
                                   "before this import, with none of this file's credentials")
        rows = {r.voter_id: r for r in lb.session.scalars(select(Voter).where(Voter.election_id == election_id))}
        others = {r.public_credential: v for v, r in rows.items() if r.public_credential and v not in given}
        errors = [f"row {row}: voter_id {v!r} is not on the voter list" if v not in rows else
                  f"row {row}: public credential already held by voter {others[c]!r}"
                  for v, (c, row) in sorted(given.items(), key=lambda item: item[1][1]) if v not in rows or c in others]
        if errors:
            raise VoterListError(errors, field="credentials_csv")
        for voter_id, (credential, _) in given.items():
            row = rows[voter_id]
            row.public_credential = credential
            row.delivery, row.delivery_error, row.delivered_at = "authority", "", utcnow()
    return len(given)


def base_hash(board: Board, election_id: str) -> str | None:
    """The base hash the election's open entry states (hex), None before the open."""
    opened = board.entries(election_id, types=("open",), limit=1)
    return opened[0].payload["base_hash"] if opened else None


def voting_link(booth_url: str, base_hash: str) -> str:
    """The booth's address with the election's fingerprint in its fragment (never sent to the server): the booth
    refuses an election with another base hash, so the link pins the election the officials opened."""
    return f"{booth_url}#base-hash={base_hash}"


def send_voting_links(board: Board, sessions: Callable[[], Session], election_id: str, smtp: SmtpSettings | None,
                      booth_url: str) -> dict[str, str]:
    """E-mail every registered voter with an address the voting link of the open election; voter id -> '' when the
    SMTP server accepted the message, else its error."""
    if smtp is None:
        raise DecodeError("send_mail", "no SMTP server is configured (QUORUM_SMTP_HOST)")
    pinned = base_hash(board, election_id)
    if pinned is None or phase(board, election_id) != "open":
        raise ProtocolError(f"election {election_id!r} is not open for voting: no voting link is sent")
    link = voting_link(booth_url, pinned)
    return {v.voter_id: mail.send(smtp, mail.voting_link_message(smtp.sender, v.email, election_id, v.voter_id, link, pinned))
            for v in voters(sessions, election_id) if v.email}


def open_election(board: Board, election_id: str) -> None:
    """Publish the public credentials (sorted, unlinkable to voters) and open the election; the links are forgotten.

    One transaction under the election's board lock: the list published is exactly the voters' credentials at
    that moment (no import or issue can write between the read and the open), and on error nothing is stored."""
    election = Election(board, election_id)
    with board.locked(election_id) as lb:
        rows = list(lb.session.scalars(select(Voter).where(Voter.election_id == election_id)))
        if not rows:
            raise ProtocolError("the election has no voters")
        if lb.election.phase in BEFORE_REGISTRATION:
            lacking = [r.voter_id for r in rows if r.public_credential is None]
            if lacking:
                raise ProtocolError(f"{len(lacking)} voters have no credential yet (first: {lacking[0]!r})")
            election.register(credentials_payload([r.public_credential for r in rows], len(rows)), lb)  # type: ignore[misc]
        election.open(lb)
        for row in rows:
            row.public_credential = None
