"""Voter pages: choose an open election, then the booth (credential, choices, encryption in the browser, Benaloh challenge, receipt)."""

from __future__ import annotations

from flask import Blueprint, render_template
from sqlalchemy import select

from voting import db as board_db
from voting.context import parse_setup
from web import elections
from web.board import entries_or_404
from web.state import state

bp = Blueprint("voter", __name__, url_prefix="/vote")


@bp.get("/")
def start() -> str:
    """The elections open for voting now."""
    with state().session() as db:
        elections = list(db.scalars(select(board_db.Election).where(board_db.Election.phase == "open")
                                    .order_by(board_db.Election.id)))
    return render_template("voter/start.html", elections=elections)


@bp.get("/<election_id>")
def booth(election_id: str) -> str:
    """The booth: everything runs in this page's scripts; the credential never leaves the browser."""
    entries = entries_or_404(election_id)
    setup = parse_setup(entries[0].payload)
    return render_template("voter/booth.html", election_id=election_id, manifest=setup.manifest,
                           phase=elections.phase(state().board, election_id), booth_hash=state().booth.booth_hash,
                           published_booth_hash=setup.booth_hash)
