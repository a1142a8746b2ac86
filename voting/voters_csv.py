"""Voter lists imported from CSV (header `voter_id[,email]`), with every defect reported by row number."""

from __future__ import annotations

import csv
import io
import re

from threshold.errors import QuorumError

_VOTER_ID = re.compile(r"[^\s,;\"']{1,128}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
COLUMNS = ("voter_id", "email")
MAX_VOTERS = 1_000_000


class VoterListError(QuorumError):
    """The CSV was rejected; `errors` lists every defect as 'row N: ...' (row 1 is the header)."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("voter list rejected:\n" + "\n".join(errors))
        self.errors = errors


def parse_voters(text: str | bytes) -> list[dict[str, str]]:
    """Parse a voter list; returns [{voter_id, email}] or raises VoterListError naming each bad row."""
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
    if not rows:
        raise VoterListError(["row 1: empty file, expected a header voter_id[,email]"])
    header = [h.strip().lower() for h in rows[0]]
    errors: list[str] = []
    if "voter_id" not in header or any(h not in COLUMNS for h in header) or len(set(header)) != len(header):
        raise VoterListError([f"row 1: header must be voter_id and optionally email, got {','.join(rows[0])!r}"])
    if len(rows) - 1 > MAX_VOTERS:
        raise VoterListError([f"row {MAX_VOTERS + 2}: more than {MAX_VOTERS} voters"])
    voters: list[dict[str, str]] = []
    seen: dict[str, int] = {}
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            errors.append(f"row {number}: empty row")
            continue
        if len(row) != len(header):
            errors.append(f"row {number}: expected {len(header)} columns, got {len(row)}")
            continue
        record = dict(zip(header, (cell.strip() for cell in row)))
        voter_id = record["voter_id"]
        if not _VOTER_ID.fullmatch(voter_id):
            errors.append(f"row {number}: voter_id {voter_id!r} must be 1-128 characters without spaces, commas or quotes")
        elif voter_id in seen:
            errors.append(f"row {number}: voter_id {voter_id!r} already on row {seen[voter_id]}")
        else:
            seen[voter_id] = number
        email = record.get("email", "")
        if email and not _EMAIL.fullmatch(email):
            errors.append(f"row {number}: email {email!r} is not an address")
        voters.append({"voter_id": voter_id, "email": email})
    if not voters and not errors:
        errors.append("row 2: no voters")
    if errors:
        raise VoterListError(errors)
    return voters
