"""The public board: elections, their entries, ballot tracker search, results, the record download, how to verify."""

from __future__ import annotations

import io
import re
import tempfile
from collections.abc import Collection
from pathlib import Path
from typing import Any

from flask import Blueprint, abort, render_template, request, send_file
from sqlalchemy import select
from werkzeug.wrappers import Response

from threshold.errors import DecodeError
from voting import db as board_db
from voting.context import parse_setup
from voting.record import Entry
from web.state import state

bp = Blueprint("board", __name__)
_SEARCH = re.compile(r"[0-9a-f]{8,64}")


def entries_or_404(election_id: str, first: int = 0, last: int | None = None, limit: int | None = None, *,
                   types: Collection[str] = (), seqs: Collection[int] = (), max_bytes: int | None = None) -> list[Entry]:
    """The election's entries (every one, or those Board.entries selects); 404 if there is no such election."""
    with state().session() as db:
        if db.get(board_db.Election, election_id) is None:
            abort(404, description=f"no election {election_id!r} on this board")
    return state().board.entries(election_id, first, last, limit, types=types, seqs=seqs, max_bytes=max_bytes)


def find_ballot(entries: list[Entry], code: str) -> Entry | None:
    """The cast or challenged ballot whose tracking code or ballot hash is, or starts with, code; DecodeError if the
    prefix fits several (an 8-character prefix is shared by some pair among ~77k ballots: never answer with another
    voter's ballot)."""
    found = [e for e in entries if e.type in ("cast", "spoil")
             and (e.payload["tracker"].startswith(code) or e.payload["ballot_hash"].startswith(code))]
    if len(found) > 1:
        raise DecodeError("code", f"{len(found)} ballots start with {code}: give more characters of the tracking code")
    return found[0] if found else None


def results_view(entries: list[Entry]) -> list[dict[str, Any]] | None:
    """Per contest: title and (label, count, bar width in %) rows; None before the result entry."""
    result = next((e.payload for e in entries if e.type == "result"), None)
    if result is None:
        return None
    manifest = parse_setup(entries[0].payload).manifest
    out = []
    for contest, item in zip(manifest.contests, result["contests"]):
        top = max(item["counts"]) or 1
        rows = [{"label": label, "count": n, "width": round(100 * n / top, 1)} for label, n in zip(contest.labels, item["counts"])]
        out.append({"id": contest.id, "title": contest.title, "rows": rows})
    return out


@bp.get("/")
def index() -> str:
    """Every election on this board with its phase."""
    with state().session() as db:
        elections = list(db.scalars(select(board_db.Election).order_by(board_db.Election.id)))
    return render_template("board/index.html", elections=elections)


@bp.get("/board/<election_id>")
def election(election_id: str) -> str:
    """The election's entries, newest last, with the tracker search and the record download."""
    entries = entries_or_404(election_id)
    setup = parse_setup(entries[0].payload) if entries else None
    return render_template("board/election.html", election_id=election_id, entries=entries, setup=setup,
                           setup_seq=entries[0].seq if entries else None,
                           booth_hash=state().booth.booth_hash, board_key=state().board.public_key)


@bp.get("/board/<election_id>/track")
def track(election_id: str) -> tuple[str, int]:
    """Find a ballot by its tracking code (or ballot hash, or a prefix of 8+ characters)."""
    entries = entries_or_404(election_id)
    code = request.args.get("code", "").strip().lower()
    error, found, status = "", None, 200
    searched = "code" in request.args  # without it, the search form before any search: nothing is wrong yet
    if searched and not _SEARCH.fullmatch(code):
        error, status = "a tracking code is 8 to 64 characters 0-9 and a-f", 422
    elif searched:
        try:
            found = find_ballot(entries, code)
        except DecodeError as exc:
            error, status = exc.message, 422
        else:
            if found is None:
                error, status = "no ballot with this tracking code is on the board", 404
    return render_template("board/track.html", election_id=election_id, code=code, found=found, error=error), status


@bp.get("/board/<election_id>/results")
def results(election_id: str) -> str:
    """The counts per option with SVG bar charts (once the trustees have decrypted)."""
    entries = entries_or_404(election_id)
    return render_template("board/results.html", election_id=election_id, contests=results_view(entries),
                           title=parse_setup(entries[0].payload).manifest.title if entries else election_id,
                           tallied=any(e.type == "tally" for e in entries))


@bp.get("/board/<election_id>/record.zip")
def record(election_id: str) -> Response:
    """The election's record (board.jsonl and board.pub) as a zip, for `quorum verify`."""
    entries_or_404(election_id)
    with tempfile.TemporaryDirectory() as folder:
        path = state().board.export(election_id, Path(folder) / f"{election_id}.zip")
        data = path.read_bytes()
    return send_file(io.BytesIO(data), mimetype="application/zip", as_attachment=True,
                     download_name=f"{election_id}-record.zip")


@bp.get("/verify")
def verify_help() -> str:
    """How to check an election's record and the booth's scripts yourself."""
    booth = state().booth
    return render_template("board/verify.html", booth_hash=booth.booth_hash, integrity=booth.integrity)
