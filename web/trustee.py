"""Trustee pages: accept an invitation link, then the key ceremony and partial decryption, both computed in the browser."""

from __future__ import annotations

import hashlib
from typing import Any

from flask import Blueprint, abort, redirect, render_template, session, url_for
from sqlalchemy import select

from voting import db as board_db
from web import audit
from web.models import TrusteeInvite, utcnow
from web.state import state

bp = Blueprint("trustee", __name__, url_prefix="/trustee")


def token_hash(token: str) -> str:
    """What the server keeps of an invitation token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _invite(token: str) -> TrusteeInvite:
    with state().session() as db:
        invite = db.scalars(select(TrusteeInvite).where(TrusteeInvite.token_hash == token_hash(token))).one_or_none()
    if invite is None:
        abort(404, description="this invitation link is not valid")
    return invite


@bp.get("/join/<token>")
def join(token: str) -> str:
    """The invitation page: who is invited to which election, with a button to accept."""
    return render_template("trustee/join.html", invite=_invite(token), token=token)


@bp.post("/join/<token>")
def accept(token: str) -> Any:
    """Bind this browser session to the trustee seat of the invitation; on to the step the election is at."""
    invite = _invite(token)
    seats = dict(session.get("trustee_seats", {}))
    seats[invite.election_id] = invite.trustee_index
    session["trustee_seats"] = seats
    with state().session() as db:
        row = db.get(TrusteeInvite, invite.id)
        if row is not None and row.accepted_at is None:
            row.accepted_at = utcnow()
        audit.record(db, f"trustee {invite.trustee_index} ({invite.name})", "trustee_joined", invite.election_id)
        db.commit()
    with state().session() as db:
        row = db.get(board_db.Election, invite.election_id)
    if row is not None and row.phase in ("tallied", "decrypting"):
        return redirect(url_for("trustee.decrypt", election_id=invite.election_id))
    return redirect(url_for("trustee.ceremony", election_id=invite.election_id))


def seat(election_id: str) -> int:
    """The trustee index this session holds in the election; 403 if none (authorization of every trustee route)."""
    seats = session.get("trustee_seats", {})
    index = seats.get(election_id) if isinstance(seats, dict) else None
    if not isinstance(index, int):
        abort(403, description="open your trustee invitation link first")
    return index


@bp.get("/<election_id>/ceremony")
def ceremony(election_id: str) -> str:
    """The key ceremony page: the browser generates, keeps and backs up this trustee's secret."""
    index = seat(election_id)
    return render_template("trustee/ceremony.html", election_id=election_id, index=index)


@bp.get("/<election_id>/decrypt")
def decrypt(election_id: str) -> str:
    """The partial decryption page: the browser opens the backup file and proves its share of the tally."""
    index = seat(election_id)
    return render_template("trustee/decrypt.html", election_id=election_id, index=index)
