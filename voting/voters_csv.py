"""Voter lists and a credential authority's public credentials imported from CSV, every defect reported by row number."""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from typing import Iterable

from threshold.errors import DecodeError, QuorumError
from voting.credentials import parse_public_credential

# Nothing a spreadsheet would read as a formula (a leading = + - @): the files made from these lists are opened in one.
# Control characters and lone surrogates, as a regex class body: no database text column holds NUL (PostgreSQL) or a
# surrogate (UTF-8), and no id or name needs them.
UNSTORABLE = r"\x00-\x1f\x7f-\x9f\ud800-\udfff"
_NO = r"\s" + UNSTORABLE  # nor in a voter id or address; an address fits the web app's column (320 characters)
_VOTER_ID = re.compile(rf"[^{_NO},;\"'=+\-@][^{_NO},;\"']{{0,127}}")
# Nor a character that a To header reads as a list, a display name or a group (',', '<>', ':;', '()', quotes): the
# credential goes to exactly the address shown, and only to it.
_HEADER = r",<>:;()\[\]\\\""
_EMAIL = re.compile(rf"[^@{_NO}{_HEADER}=+\-][^@{_NO}{_HEADER}]*@[^@{_NO}{_HEADER}]+\.[^@{_NO}{_HEADER}]+")
MAX_EMAIL = 320
COLUMNS = ("voter_id", "email")
CREDENTIAL_COLUMNS = ("voter_id", "public_credential")
MAX_VOTERS = 1_000_000


class VoterListError(QuorumError):
    """The CSV was rejected; `errors` lists every defect as 'row N: ...' (row 1 is the header); `field` names the
    input that held it (an API body's field)."""

    def __init__(self, errors: list[str], field: str = "voters") -> None:
        super().__init__("voter list rejected:\n" + "\n".join(errors))
        self.errors = errors
        self.field = field


def _table(text: str | bytes, columns: tuple[str, ...], required: tuple[str, ...]) -> list[tuple[int, dict[str, str] | str]]:
    """Each row after the header of a CSV whose header names `required` and maybe other `columns`: (row number,
    {column: cell}), or (row number, what is wrong) for an empty or short row. A malformed file or header, or no
    row at all, raises VoterListError."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise VoterListError([f"byte {exc.start}: the file is not UTF-8"]) from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        rows = list(reader) if text.strip() else []
    except csv.Error as exc:
        raise VoterListError([f"row {reader.line_num}: malformed CSV ({exc})"]) from None
    expected = ",".join(required) + "".join(f"[,{c}]" for c in columns if c not in required)
    if not rows:
        raise VoterListError([f"row 1: empty file, expected a header {expected}"])
    header = [h.strip().lower() for h in rows[0]]
    if any(c not in header for c in required) or any(h not in columns for h in header) or len(set(header)) != len(header):
        raise VoterListError([f"row 1: header must be {expected}, got {','.join(rows[0])!r}"])
    if len(rows) - 1 > MAX_VOTERS:
        raise VoterListError([f"row {MAX_VOTERS + 2}: more than {MAX_VOTERS} voters"])
    if len(rows) < 2:
        raise VoterListError(["row 2: no voters"])
    table: list[tuple[int, dict[str, str] | str]] = []
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            table.append((number, f"row {number}: empty row"))
        elif len(row) != len(header):
            table.append((number, f"row {number}: expected {len(header)} columns, got {len(row)}"))
        else:
            table.append((number, dict(zip(header, (cell.strip() for cell in row)))))
    return table


def voter_key(voter_id: str) -> str:
    """What makes two voter ids one voter: equal in Unicode NFKC form ignoring case ('Alice' and 'alice', 'José'
    composed and decomposed, full-width 'ａlice', 'team²' and 'team2'), so that one person listed twice is not given
    two credentials (casefold can leave a form NFKC would change: normalised again)."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", voter_id).casefold())


def _voter_id(number: int, voter_id: str, seen: dict[str, int], errors: list[str]) -> None:
    hidden = next((c for c in voter_id if unicodedata.category(c) == "Cf"), None)
    if not _VOTER_ID.fullmatch(voter_id):
        errors.append(f"row {number}: voter_id {voter_id!r} must be 1-128 characters without spaces, commas or quotes, "
                      "not starting with = + - @")
    elif hidden is not None:
        errors.append(f"row {number}: voter_id {voter_id!r} holds an invisible formatting character (U+{ord(hidden):04X})")
    elif voter_key(voter_id) in seen:
        errors.append(f"row {number}: voter_id {voter_id!r} already on row {seen[voter_key(voter_id)]}")
    else:
        seen[voter_key(voter_id)] = number


def parse_voters(text: str | bytes) -> list[dict[str, str]]:
    """Parse a voter list; returns [{voter_id, email}] or raises VoterListError naming each bad row."""
    errors: list[str] = []
    seen: dict[str, int] = {}
    voters: list[dict[str, str]] = []
    for number, record in _table(text, COLUMNS, ("voter_id",)):
        if isinstance(record, str):
            errors.append(record)
            continue
        _voter_id(number, record["voter_id"], seen, errors)
        email = record.get("email", "")
        if len(email) > MAX_EMAIL:
            errors.append(f"row {number}: email is longer than {MAX_EMAIL} characters")
        elif email and not _EMAIL.fullmatch(email):
            errors.append(f"row {number}: email {email!r} is not an address")
        voters.append({"voter_id": record["voter_id"], "email": email})
    if errors:
        raise VoterListError(errors)
    return voters


def parse_public_credentials(text: str | bytes) -> dict[str, tuple[str, int]]:
    """Public credentials made by a credential authority (header `voter_id,public_credential`): {voter_id: (hex, row
    number)}, each a valid Ed25519 public key, no voter or credential twice; VoterListError names each bad row."""
    errors: list[str] = []
    seen: dict[str, int] = {}
    owners: dict[str, int] = {}
    out: dict[str, tuple[str, int]] = {}
    for number, record in _table(text, CREDENTIAL_COLUMNS, CREDENTIAL_COLUMNS):
        if isinstance(record, str):
            errors.append(record)
            continue
        _voter_id(number, record["voter_id"], seen, errors)
        credential = record["public_credential"].lower()
        try:
            parse_public_credential(credential, "public_credential")
        except DecodeError as exc:
            errors.append(f"row {number}: {exc}")
            continue
        if credential in owners:
            errors.append(f"row {number}: the same public credential as row {owners[credential]}")
        owners.setdefault(credential, number)
        out[record["voter_id"]] = (credential, number)
    if errors:
        raise VoterListError(errors)
    return out


def private_credentials_csv(rows: Iterable[tuple[str, str, str]]) -> str:
    """voter_id,email,credential lines: the file a voter's private credential is delivered from (the server's
    one-time download, or a credential authority's file)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["voter_id", "email", "credential"])
    writer.writerows(rows)
    return out.getvalue()
