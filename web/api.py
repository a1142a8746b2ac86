"""The JSON API: the same operations as the pages, described at /api/openapi.json; errors as problem+json."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, g, jsonify, request, send_file, session
from sqlalchemy import select

from threshold.errors import DecodeError, ProtocolError
from voting import db as board_db
from voting.context import parse_setup
from voting.election import Election, Receipt
from web import audit, auth, ceremony, elections
from web.admin_elections import invite_urls
from web.auth import admin_required
from web.models import Admin
from web.board import entries_or_404, find_ballot, results_view
from web.openapi import document
from web.security import csrf_token
from web.state import external_url, state
from web.trustee import held_seat, seat

bp = Blueprint("api", __name__, url_prefix="/api")


def json_body() -> Any:
    """The request's JSON value, None if it is not JSON; DecodeError naming the body if it nests too deeply for the
    parser (json raises RecursionError there, which get_json(silent=True) does not catch)."""
    try:
        return request.get_json(silent=True)
    except RecursionError:
        raise DecodeError("body", "JSON nested too deeply") from None


def body(keys: set[str], optional: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The request's JSON object with exactly these keys (optional ones may be absent); errors name the field."""
    data = json_body()
    if not isinstance(data, dict):
        raise DecodeError("body", "expected a JSON object (Content-Type: application/json)")
    missing, extra = keys - set(data), set(data) - keys - optional
    if missing:
        raise DecodeError(sorted(missing)[0], "this field is required")
    if extra:
        raise DecodeError(sorted(extra)[0], "unknown field")
    return data


def _receipt(election_id: str, r: Receipt) -> tuple[Response, int]:
    """The voter's receipt with the board-signed entry's hash, prev and signature: evidence that the board took the
    ballot, should it be missing from the record later (as the CLI's receipt keeps)."""
    entry, = state().board.entries(election_id, first=r.seq, last=r.seq)
    return jsonify({"seq": r.seq, "ballot_hash": r.ballot_hash, "tracker": r.tracker, "stored": r.stored,
                    "hash": entry.hash, "prev": entry.prev, "sig": entry.sig}), 201 if r.stored else 200


def _election(election_id: str) -> Election:
    election = state().election(election_id)
    if election is None:
        abort(404, description=f"no election {election_id!r} on this board")
    return election


@bp.get("/openapi.json")
def openapi() -> Response:
    """The OpenAPI 3.1 description of this API."""
    return jsonify(document())


@bp.get("/csrf")
def csrf() -> Response:
    """A CSRF token for this session: send it as X-CSRF-Token on every write."""
    return jsonify({"csrf_token": csrf_token(), "header": "X-CSRF-Token"})


@bp.get("/booth")
def booth() -> Response:
    """The booth's scripts with their SRI values and the booth hash published on the board."""
    assets = state().booth
    return jsonify({"booth_hash": assets.booth_hash, "integrity": assets.integrity})


@bp.post("/login")
def login() -> Response:
    """Sign in as an administrator (rate-limited like the form)."""
    data = body({"username", "password"})
    if not isinstance(data["password"], str):
        raise DecodeError("password", "expected a string")
    cfg = state().config
    with state().session() as db:
        admin = auth.authenticate(db, auth.check_username(data["username"]), data["password"],
                                  request.remote_addr or "?", cfg.login_max_failures, cfg.login_window_seconds)
        if admin is None:
            audit.record(db, data["username"], "sign_in_failed", detail=f"API, from {request.remote_addr}")
            db.commit()
            abort(401, description="wrong user name or password")
        auth.sign_in(db, admin)
        audit.record(db, admin.username, "sign_in", detail="API")
        db.commit()
    return jsonify({"username": admin.username, "must_change_password": bool(admin.must_change), "csrf_token": csrf_token()})


@bp.post("/password")
@admin_required
def password() -> Response:
    """Replace the signed-in admin's password (the current one is asked for again)."""
    data = body({"current_password", "new_password"})
    with state().session() as db:
        admin = db.scalars(select(Admin).where(Admin.username == g.admin)).one()
        cfg = state().config
        admin = auth.reauthenticate(db, admin, data["current_password"], request.remote_addr or "?",
                                    cfg.login_max_failures, cfg.login_window_seconds)
        try:
            auth.set_password(db, admin, data["new_password"])
        except DecodeError as exc:
            raise DecodeError("new_password", exc.message) from None
        audit.record(db, admin.username, "password_changed", detail="API")
        db.commit()
    session["must_change"] = False
    return jsonify({"username": g.admin, "must_change_password": False})


@bp.get("/elections")
def list_elections() -> Response:
    """Every election on the board with its phase."""
    with state().session() as db:
        rows = list(db.scalars(select(board_db.Election).order_by(board_db.Election.id)))
    return jsonify({"elections": [{"election_id": r.id, "phase": r.phase, "entries": r.head_seq + 1} for r in rows]})


@bp.post("/elections")
@admin_required
def create_election() -> tuple[Response, int]:
    """Create an election: setup entry, voter list, trustee invitation links (returned once)."""
    data = body({"election_id", "manifest", "group", "trustees", "quorum", "voters_csv"})
    req = elections.validate(data["election_id"], data["manifest"], data["group"], data["trustees"], data["quorum"], data["voters_csv"])
    tokens = elections.create(state().board, req, state().booth.booth_hash, actor=g.admin, detail="API")
    return jsonify({"election_id": req.election_id, "invites": {str(i): u for i, u in invite_urls(tokens).items()}}), 201


@bp.get("/elections/<election_id>")
def get_election(election_id: str) -> Response:
    """The election's parameters, phase, base hash (once open) and the booth hash."""
    entries = entries_or_404(election_id)
    setup = parse_setup(entries[0].payload)
    opened = next((e.payload for e in entries if e.type == "open"), None)
    return jsonify({
        "election_id": election_id, "phase": elections.phase(state().board, election_id),
        "title": setup.manifest.title, "manifest": setup.manifest.to_json(), "group": setup.group.name,
        "trustees": setup.trustees, "quorum": setup.quorum, "board_key": setup.board_key,
        "base_hash": opened["base_hash"] if opened else None, "booth_hash": state().booth.booth_hash,
    })


ENTRIES_PAGE = 1000  # the most entries one ?from= or ?to= answer holds (a whole board would be one answer otherwise)
ENTRIES_PAGE_BYTES = 32 << 20  # and their payloads' bytes, past the first entry (a modp ballot can be megabytes)


def _entry_number(field: str, text: str) -> int:
    if not text.isdecimal() or not text.isascii() or len(text) > 12:
        raise DecodeError(field, "expected a board entry number")
    return int(text)


@bp.get("/elections/<election_id>/entries")
def entries(election_id: str) -> Response:
    """The board entries of the election, as in board.jsonl; ?type=... and ?seq=... (repeatable) keep only those.
    With ?from=N and/or ?to=M, only entries N (default 0) to M (default: the newest), at most ENTRIES_PAGE of them
    and ENTRIES_PAGE_BYTES of payload (at least one): ask again from the last one + 1 (the voter client follows
    the chain this way)."""
    types = set(request.args.getlist("type"))
    seqs = {_entry_number("seq", text) for text in request.args.getlist("seq")}
    if "from" not in request.args and "to" not in request.args:
        return jsonify({"entries": [e.to_json() for e in entries_or_404(election_id, types=types, seqs=seqs)]})
    bounds: list[int | None] = []
    for field in ("from", "to"):
        given = request.args.getlist(field)
        if len(given) > 1:
            raise DecodeError(field, "expected at most one")
        bounds.append(_entry_number(field, given[0]) if given else None)
    first, last = bounds[0] or 0, bounds[1]
    page = entries_or_404(election_id, first, last, ENTRIES_PAGE, types=types, seqs=seqs, max_bytes=ENTRIES_PAGE_BYTES)
    return jsonify({"entries": [e.to_json() for e in page]})


@bp.get("/elections/<election_id>/record")
def record(election_id: str) -> Response:
    """The record as a zip for `quorum verify`."""
    entries_or_404(election_id)
    with tempfile.TemporaryDirectory() as folder:
        data = state().board.export(election_id, Path(folder) / "record.zip").read_bytes()
    return send_file(io.BytesIO(data), mimetype="application/zip", as_attachment=True, download_name=f"{election_id}-record.zip")


@bp.post("/elections/<election_id>/ballots")
def cast(election_id: str) -> tuple[Response, int]:
    """Cast a ballot (encrypted and signed by the voter's device); a retry returns the first receipt."""
    data = body({"ballot"})
    return _receipt(election_id, _election(election_id).cast(data["ballot"]))


@bp.get("/elections/<election_id>/revote/<credential>")
def next_revote(election_id: str, credential: str) -> Response:
    """The re-vote counter the credential's next ballot must carry (its number of cast ballots on the board)."""
    election = _election(election_id)
    if credential not in election.context().credentials:
        abort(404, description="no such credential on this election's published credential list")
    return jsonify({"credential": credential, "revote": election.next_revote(credential)})


@bp.post("/elections/<election_id>/challenges")
def challenge(election_id: str) -> tuple[Response, int]:
    """Publish a Benaloh-challenged ballot with its plaintexts and nonces (never counted, never castable)."""
    data = body({"ballot", "reveal"})
    return _receipt(election_id, _election(election_id).spoil(data["ballot"], data["reveal"]))


@bp.get("/elections/<election_id>/ballots/<code>")
def find(election_id: str, code: str) -> Response:
    """A ballot on the board by tracking code or ballot hash (or a prefix of 8+ hex characters)."""
    entries_list = entries_or_404(election_id)
    code = code.lower()
    if len(code) < 8 or len(code) > 64 or any(c not in "0123456789abcdef" for c in code):
        raise DecodeError("code", "a tracking code is 8 to 64 characters 0-9 and a-f")
    found = find_ballot(entries_list, code)
    if found is None:
        abort(404, description="no ballot with this tracking code is on the board")
    p = found.payload
    return jsonify({"seq": found.seq, "status": found.type, "tracker": p["tracker"], "ballot_hash": p["ballot_hash"],
                    "cast_at": p["cast_at"], "entry": found.to_json()})


@bp.get("/elections/<election_id>/result")
def result(election_id: str) -> Response:
    """The counts per option, once the trustees have decrypted the tally (published here if a quorum of partial
    decryptions is on the board without it)."""
    view = results_view(entries_or_404(election_id))
    if view is None and _publish_if_ready(_election(election_id)):
        view = results_view(entries_or_404(election_id))
    if view is None:
        raise ProtocolError("the result is not published yet")
    return jsonify({"contests": [{"id": c["id"], "title": c["title"],
                                  "options": [{"label": r["label"], "count": r["count"]} for r in c["rows"]]} for c in view]})


@bp.get("/elections/<election_id>/voters")
@admin_required
def list_voters(election_id: str) -> Response:
    """The voter list with each credential's delivery status."""
    entries_or_404(election_id)
    return jsonify({"voters": [{"voter_id": v.voter_id, "email": v.email, "delivery": v.delivery, "error": v.delivery_error}
                               for v in elections.voters(state().session, election_id)]})


def _import_csv(election_id: str, field: str, load: Any, action: str, what: str) -> Response:
    """One CSV body field applied by `load`, audited; returns {"voters": count}."""
    entries_or_404(election_id)
    data = body({field})
    if not isinstance(data[field], str):
        raise DecodeError(field, "expected CSV text")
    count = load(state().board, election_id, data[field])
    with state().session() as db:
        audit.record(db, g.admin, action, election_id, f"{count} {what} (API)")
        db.commit()
    return jsonify({"voters": count})


@bp.post("/elections/<election_id>/voters")
@admin_required
def replace_voters(election_id: str) -> Response:
    """Replace the voter list from CSV text (before the credentials are published)."""
    return _import_csv(election_id, "voters_csv", elections.replace_voters, "voters_imported", "voters")


@bp.post("/elections/<election_id>/credentials")
@admin_required
def issue(election_id: str) -> Response:
    """Issue credentials (to voters without one, or to those named); each secret is in this response only."""
    entries_or_404(election_id)
    data = body(set(), frozenset({"voter_ids", "send_mail"}))
    voter_ids, send_mail = data.get("voter_ids"), data.get("send_mail", False)
    if voter_ids is not None and (not isinstance(voter_ids, list) or not all(isinstance(v, str) for v in voter_ids)):
        raise DecodeError("voter_ids", "expected a list of voter ids")
    if not isinstance(send_mail, bool):
        raise DecodeError("send_mail", "expected true or false")
    issued = elections.issue(state().board, state().session, election_id, state().config.smtp,
                             external_url("voter.booth", election_id=election_id), voter_ids, send_mail)
    with state().session() as db:
        audit.record(db, g.admin, "credentials_issued", election_id, f"{len(issued)} issued (API)")
        db.commit()
    return jsonify({"credentials": [{"voter_id": c.voter_id, "email": c.email, "credential": c.credential,
                                     "delivery": c.delivery} for c in issued]})


@bp.post("/elections/<election_id>/public-credentials")
@admin_required
def import_public_credentials(election_id: str) -> Response:
    """Public credentials from a credential authority (CSV voter_id,public_credential): the server never sees the private ones."""
    return _import_csv(election_id, "credentials_csv", elections.import_public_credentials, "public_credentials_imported",
                       "public credentials from a credential authority")


@bp.post("/elections/<election_id>/<any(open, close, tally):step>")
@admin_required
def step(election_id: str, step: str) -> Response:
    """Open (publishing the credentials), close, or tally the election."""
    election = _election(election_id)
    if step == "open":
        elections.open_election(state().board, election_id)
    elif step == "close":
        election.close()
    else:
        election.tally()
    with state().session() as db:
        audit.record(db, g.admin, f"election_{step}", election_id, "API")
        db.commit()
    return jsonify({"phase": elections.phase(state().board, election_id)})


@bp.get("/elections/<election_id>/ceremony")
def get_ceremony(election_id: str) -> Response:
    """The key ceremony so far: parameters, the round waiting, every public message, the outcome (published once complete)."""
    election = _election(election_id)
    transcript = ceremony.load(state().session, election)
    ceremony.publish_if_complete(transcript, election)
    return jsonify({**transcript.to_json(), "you": held_seat(election_id)})


@bp.post("/elections/<election_id>/ceremony/close-reveals")
@admin_required
def close_reveals(election_id: str) -> Response:
    """Proceed without the missing reveals: the qualified trustees that did not reveal are reconstructed from the
    other trustees' openings of their shares (so withholding a reveal cannot change the key)."""
    election = _election(election_id)
    transcript = ceremony.close_reveals(state().session, election, g.admin)
    with state().session() as db:
        audit.record(db, g.admin, "ceremony_close_reveals", election_id,
                     f"API; reconstructing trustees {transcript['reconstruct']}")
        db.commit()
    return jsonify({**transcript, "you": None})


@bp.post("/elections/<election_id>/ceremony/<round_name>")
def post_ceremony(election_id: str, round_name: str) -> Response:
    """A trustee's message for the current round (only for the trustee seat this session holds)."""
    election = _election(election_id)
    index = seat(election_id)
    data = json_body()
    transcript = ceremony.submit(state().session, election, round_name, index, data)
    with state().session() as db:
        audit.record(db, f"trustee {index}", f"ceremony_{round_name}", election_id)
        db.commit()
    return jsonify({**transcript, "you": index})


@bp.post("/elections/<election_id>/decryptions")
def decrypt(election_id: str) -> tuple[Response, int]:
    """A trustee's partial decryption of the tally with its proofs; the result follows once enough are in."""
    election = _election(election_id)
    index = seat(election_id)
    data = json_body()
    if not isinstance(data, dict):
        raise DecodeError("body", "expected a JSON object (Content-Type: application/json)")
    if data.get("index") != index:
        raise DecodeError("decryption.index", f"you are trustee {index}")
    entry = election.add_decryption(data)
    published = _publish_if_ready(election)
    with state().session() as db:
        audit.record(db, f"trustee {index}", "partial_decryption", election_id, "result published" if published else "")
        db.commit()
    return jsonify({"seq": entry.seq, "result_published": published}), 201


def _publish_if_ready(election: Election) -> bool:
    """Publish the result once a quorum of partial decryptions is on the board (from the request that stored the
    last one, or from any later request if that one died first); whether this call published it."""
    if not election.result_ready():
        return False
    try:
        election.publish_result()
        return True
    except ProtocolError:
        if elections.phase(state().board, election.election_id) != "done":
            raise  # not the harmless race of two last decryptions
        return False


@bp.get("/audit")
@admin_required
def audit_log() -> Response:
    """The audit log, newest first (optionally of one election: ?election=ID)."""
    with state().session() as db:
        events = audit.events(db, request.args.get("election") or None)
    return jsonify({"events": [{"at": e.at.strftime("%Y-%m-%dT%H:%M:%SZ"), "actor": e.actor, "action": e.action,
                                "election_id": e.election_id, "detail": e.detail} for e in events]})
