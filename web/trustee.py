"""Trustee pages: accept an invitation link, then the key ceremony and partial decryption, both computed in the browser."""

from __future__ import annotations

import hmac
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, session, url_for
from sqlalchemy import select

from voting import db as board_db
from web import audit
from web.models import TrusteeInvite, utcnow
from web.security import invite_version, token_hash
from web.state import state

bp = Blueprint("trustee", __name__, url_prefix="/trustee")

CEREMONY_PHASES = ("new", "setup")  # the key ceremony runs; after it, a trustee's next step is decryption
DECRYPT_PHASES = ("tallied", "decrypting")  # the encrypted tally is on the board and the result is not
# Seats one browser session holds: they live in the signed session cookie, which a browser drops past 4 KB (and
# with it the session). Each is at most ~95 bytes (an election id of 64 characters, the link's 16-hex version).
MAX_SEATS = 16


def _invite(token: str) -> TrusteeInvite:
    with state().session() as db:
        invite = db.scalars(select(TrusteeInvite).where(TrusteeInvite.token_hash == token_hash(token))).one_or_none()
    if invite is None:
        abort(404, description="this invitation link is not valid: check that you have all of it, or ask the "
                               "administrator for a new one (a new link replaces the old)")
    return invite


@bp.get("/join/<token>")
def join(token: str) -> str:
    """The invitation page: who is invited to which election, with a button to accept."""
    return render_template("trustee/join.html", invite=_invite(token), token=token)


@bp.post("/join/<token>")
def accept(token: str) -> Any:
    """Bind this browser session to the trustee seat of the invitation; on to the step the election is at."""
    invite = _invite(token)
    seats = [s for s in _seats() if s[0] != invite.election_id]
    seats.append([invite.election_id, invite.trustee_index, invite_version(invite.token_hash)])  # a renewed link ends it
    released = [s[0] for s in seats[:-MAX_SEATS]]
    session["trustee_seats"] = seats[-MAX_SEATS:]
    if released:
        flash(f"This browser holds trustee seats in at most {MAX_SEATS} elections at a time, so it has let go of "
              f"the one it took longest ago, in election {', '.join(released)}: to act there again, open that "
              "election's invitation link again.", "info")
    with state().session() as db:
        row = db.get(TrusteeInvite, invite.id)
        if row is not None and row.accepted_at is None:
            row.accepted_at = utcnow()
        audit.record(db, f"trustee {invite.trustee_index} ({invite.name})", "trustee_joined", invite.election_id)
        db.commit()
    if _phase(invite.election_id) in CEREMONY_PHASES:
        return redirect(url_for("trustee.ceremony", election_id=invite.election_id))
    return redirect(url_for("trustee.decrypt", election_id=invite.election_id))


def _phase(election_id: str) -> str:
    """The election's phase on the board ('new' if it has none yet)."""
    with state().session() as db:
        row = db.get(board_db.Election, election_id)
    return row.phase if row is not None else "new"


def _seats() -> list[list[Any]]:
    """This session's seats, the one taken longest ago first: [election id, trustee index, link version]."""
    raw = session.get("trustee_seats", [])
    if isinstance(raw, dict):  # a cookie from before: {election id: [index, link hash]}
        raw = [[election_id, *held] for election_id, held in raw.items() if isinstance(held, list)]
    if not isinstance(raw, list):
        return []
    return [s for s in raw if isinstance(s, list) and len(s) == 3 and isinstance(s[0], str) and isinstance(s[1], int)
            and isinstance(s[2], str)]


def held_seat(election_id: str) -> int | None:
    """The trustee index this session holds in the election, if the invitation link it was taken with is still the
    trustee's current one (the administrator's new link ends the seats taken with the old one); None otherwise."""
    held = next((s for s in _seats() if s[0] == election_id), None)
    if held is None:
        return None
    _, index, link = held
    with state().session() as db:
        current = db.scalars(select(TrusteeInvite.token_hash).where(TrusteeInvite.election_id == election_id,
                                                                   TrusteeInvite.trustee_index == index)).one_or_none()
    if current is None:
        return None
    return index if hmac.compare_digest(invite_version(current), link) or hmac.compare_digest(current, link) else None


def seat(election_id: str) -> int:
    """The trustee index this session holds in the election; 403 if none (authorization of every trustee route)."""
    index = held_seat(election_id)
    if index is None:
        abort(403, description="open your trustee invitation link first (a link replaced by a new one no longer works)")
    return index


@bp.get("/<election_id>/ceremony")
def ceremony(election_id: str) -> str:
    """The key ceremony page: the browser generates, keeps and backs up this trustee's secret."""
    index = seat(election_id)
    return render_template("trustee/ceremony.html", election_id=election_id, index=index,
                           complete=_phase(election_id) not in CEREMONY_PHASES)


@bp.get("/<election_id>/decrypt")
def decrypt(election_id: str) -> str:
    """The partial decryption page: the browser opens the backup file and proves its share of the tally."""
    index = seat(election_id)
    phase = _phase(election_id)
    return render_template("trustee/decrypt.html", election_id=election_id, index=index, phase=phase,
                           ready=phase in DECRYPT_PHASES)
