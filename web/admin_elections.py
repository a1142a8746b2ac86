"""Administrator pages for elections: create, voters and credentials, trustee links, open, close, tally."""

from __future__ import annotations

import base64
from typing import Any, Callable

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from threshold.errors import DecodeError, ProtocolError, QuorumError
from voting import db as board_db
from voting.voters_csv import private_credentials_csv
from web import audit, ceremony, elections, forms
from web.auth import admin_required
from web.errors import field_errors
from web.models import TrusteeInvite
from web.security import invite_version
from web.state import external_url, state

bp = Blueprint("admin_elections", __name__, url_prefix="/admin")

DEFAULT_FORM = {"group": "modp", "quorum": "2", "contest_count": "1"}


def _errors_on_form(exc: QuorumError) -> list[dict[str, str]]:
    return [{"field": forms.form_field(e["field"]), "message": e["message"]} for e in field_errors(exc)]


def invite_urls(tokens: dict[int, str]) -> dict[int, str]:
    """The invitation links to hand to the trustees."""
    return {i: external_url("trustee.join", token=t) for i, t in tokens.items()}


def invites_page(election_id: str, tokens: dict[int, str]) -> str:
    """The page showing the new invitation links, each beside its trustee's name (the links are shown only there)."""
    with state().session() as db:
        rows = db.execute(select(TrusteeInvite.trustee_index, TrusteeInvite.name)
                          .where(TrusteeInvite.election_id == election_id))
        names = {index: name for index, name in rows}
    return render_template("admin/invites.html", election_id=election_id, urls=invite_urls(tokens), names=names)


@bp.get("/")
@admin_required
def dashboard() -> str:
    """Every election with its phase, and the way to create one."""
    with state().session() as db:
        rows = list(db.scalars(select(board_db.Election).order_by(board_db.Election.id)))
    return render_template("admin/dashboard.html", elections=rows)


@bp.route("/elections/new", methods=["GET", "POST"])
@admin_required
def new() -> Any:
    """The election form; every field is checked before anything is stored."""
    form: dict[str, str] = {**DEFAULT_FORM, **request.form.to_dict()}
    count = forms.contest_count(form)
    errors: list[dict[str, str]] = []
    taken = None
    if request.method == "POST" and form.get("action") == "create":
        voters_csv: str | bytes = form.get("voters", "")
        upload = request.files.get("voters_file")
        if upload is not None and upload.filename:
            voters_csv = upload.read()  # bytes: a file that is not UTF-8 is refused by row, never altered
        quorum = _read(lambda: forms.whole_number(form.get("quorum", ""), "quorum"))
        manifest = _read(lambda: forms.manifest_from_form(form, count))
        try:
            req = elections.validate(form.get("election_id", "").strip(), manifest, form.get("group"),
                                     forms.trustees_from_form(form), quorum, voters_csv)
            tokens = elections.create(state().board, req, state().booth.booth_hash, actor=g.admin,
                                      detail=f"{len(req.voters)} voters, {len(req.trustees)} trustees, quorum {req.quorum}")
        except QuorumError as exc:
            errors = _errors_on_form(exc)
            taken = _existing(form.get("election_id", "").strip())
        else:
            return invites_page(req.election_id, tokens)
    form["contest_count"] = str(count)
    return render_template("admin/new.html", form=form, count=count, errors=errors, kinds=forms.KIND_LABELS,
                           taken=taken), 422 if errors else 200


def _read(parse: Callable[[], Any]) -> Any:
    """A form field's value, or the DecodeError that reading it raised (elections.validate reports it with the
    other fields' errors)."""
    try:
        return parse()
    except DecodeError as exc:
        return exc


def _existing(election_id: str) -> str | None:
    """The id if an election holds it (a form sent twice, by a double click, finds the one it just created)."""
    try:
        elections.phase(state().board, election_id)
    except ProtocolError:
        return None
    return election_id


def _phase_or_404(election_id: str) -> str:
    try:
        return elections.phase(state().board, election_id)
    except ProtocolError:
        abort(404, description=f"no election {election_id!r}")


@bp.get("/elections/<election_id>")
@admin_required
def election(election_id: str) -> str:
    """One election: phase, trustees, voters and deliveries, and the next steps."""
    phase = _phase_or_404(election_id)
    with state().session() as db:
        invites = list(db.scalars(select(TrusteeInvite).where(TrusteeInvite.election_id == election_id)
                                  .order_by(TrusteeInvite.trustee_index)))
    voters = elections.voters(state().session, election_id)
    pinned = elections.base_hash(state().board, election_id) if phase == "open" else None
    return render_template("admin/election.html", election_id=election_id, phase=phase, invites=invites,
                           base_hash=pinned, voting_link=elections.voting_link(
                               external_url("voter.booth", election_id=election_id), pinned) if pinned else None,
                           link_versions={t.trustee_index: invite_version(t.token_hash) for t in invites},
                           voters=voters, smtp=state().config.smtp is not None,
                           can_issue=phase in elections.BEFORE_REGISTRATION,
                           ceremony=_ceremony_status(election_id) if phase == "setup" else None,
                           decryption=_decryption_status(election_id) if phase in ("tallied", "decrypting") else None)


def _decryption_status(election_id: str) -> dict[str, Any]:
    """Who has published a partial decryption, and how many more the quorum needs (from any other trustee)."""
    entries = state().board.entries(election_id, types=("setup", "decryption"))
    setup = next(e.payload for e in entries if e.type == "setup")
    done = sorted(e.payload["index"] for e in entries if e.type == "decryption")
    return {"done": done, "needed": max(setup["quorum"] - len(done), 0),
            "others": [i for i in range(1, setup["trustees"] + 1) if i not in done]}


def _ceremony_status(election_id: str) -> dict[str, Any]:
    """The key ceremony's round for the election page, and the trustees it waits for (so that the administrator
    knows whom to remind); in the reveal round, these may be left out."""
    try:
        transcript = ceremony.load(state().session, state().election(election_id))  # type: ignore[arg-type]
        current, waiting = transcript.current_round(), transcript.waiting_for()
    except QuorumError as exc:
        return {"round": None, "error": str(exc), "waiting": [], "missing": [], "openings_needed": 0}
    needed = transcript.params.k - len(transcript.raw["open"]) if current == "open" else 0
    return {"round": current, "error": "", "waiting": list(waiting), "missing": list(waiting) if current == "reveal" else [],
            "openings_needed": needed}


@bp.post("/elections/<election_id>/ceremony/close-reveals")
@admin_required
def close_reveals(election_id: str) -> Response:
    """Proceed without the missing reveals: those trustees' polynomials are reconstructed from the others' openings."""
    _phase_or_404(election_id)
    try:
        transcript = ceremony.close_reveals(state().session, state().election(election_id), g.admin)  # type: ignore[arg-type]
    except QuorumError as exc:
        flash(f"Could not close the reveal round: {exc}", "error")
    else:
        with state().session() as db:
            audit.record(db, g.admin, "ceremony_close_reveals", election_id,
                         f"reconstructing trustees {transcript['reconstruct']}")
            db.commit()
        flash("The reveal round is closed: the other trustees now open their shares of "
              f"trustees {', '.join(map(str, transcript['reconstruct']))}.", "ok")
    return redirect(url_for("admin_elections.election", election_id=election_id))


@bp.post("/elections/<election_id>/invite/<int:index>")
@admin_required
def reinvite(election_id: str, index: int) -> Any:
    """A new invitation link for one trustee (the old link stops working)."""
    _phase_or_404(election_id)
    try:  # the page's link version: of two renewals sent from one page, one wins and the other says reload
        token = elections.new_invite(state().session, election_id, index, request.form.get("link_version"))
    except elections.StaleInvite as exc:
        return render_template("error.html", status=409, title="The link was already renewed", detail=str(exc),
                               back=url_for("admin_elections.election", election_id=election_id)), 409
    with state().session() as db:
        audit.record(db, g.admin, "trustee_link_renewed", election_id, f"trustee {index}")
        db.commit()
    return invites_page(election_id, {index: token})


def _import_csv(election_id: str, file_field: str, text_field: str, load: Any, title: str, action: str, done: str) -> Any:
    """One CSV upload (file, or text in a form field) applied by `load`; errors listed by row, nothing changed on error."""
    _phase_or_404(election_id)
    upload = request.files.get(file_field)
    data: bytes | str = upload.read() if upload is not None and upload.filename else request.form.get(text_field, "")
    try:
        count = load(state().board, election_id, data)
    except QuorumError as exc:
        return render_template("error.html", status=422, title=title, errors=field_errors(exc),
                               back=url_for("admin_elections.election", election_id=election_id)), 422
    with state().session() as db:
        audit.record(db, g.admin, action, election_id, done.format(count=count))
        db.commit()
    flash(done.format(count=count).capitalize() + ".", "ok")
    return redirect(url_for("admin_elections.election", election_id=election_id))


@bp.post("/elections/<election_id>/voters")
@admin_required
def import_voters(election_id: str) -> Any:
    """Replace the voter list from an uploaded CSV."""
    return _import_csv(election_id, "voters_file", "voters", elections.replace_voters, "The voter list was not imported",
                       "voters_imported", "imported {count} voters")


@bp.post("/elections/<election_id>/public-credentials")
@admin_required
def import_public_credentials(election_id: str) -> Any:
    """Public credentials from a credential authority's CSV."""
    return _import_csv(election_id, "credentials_file", "credentials", elections.import_public_credentials,
                       "The public credentials were not imported", "public_credentials_imported",
                       "imported {count} public credentials from a credential authority")


@bp.post("/elections/<election_id>/credentials")
@admin_required
def issue(election_id: str) -> Any:
    """Issue credentials: a printable sheet and a CSV (shown once), and e-mails if asked."""
    _phase_or_404(election_id)
    voter_ids = request.form.getlist("voter_id") or None
    send_mail = request.form.get("send_mail") == "1"
    try:
        issued = elections.issue(state().board, state().session, election_id, state().config.smtp,
                                 external_url("voter.booth", election_id=election_id), voter_ids, send_mail)
    except QuorumError as exc:
        return render_template("error.html", status=422, title="No credential was issued", errors=field_errors(exc),
                               back=url_for("admin_elections.election", election_id=election_id)), 422
    if not issued:  # e.g. the sheet's form sent again by a reload: an empty sheet would look like lost credentials
        flash("No credential was issued: every voter already holds one (use 'Replace and resend' for a voter who lost "
              "theirs).", "error")
        return redirect(url_for("admin_elections.election", election_id=election_id))
    with state().session() as db:
        sent = sum(c.delivery == "sent" for c in issued)
        failed = sum(c.delivery == "failed" for c in issued)
        audit.record(db, g.admin, "credentials_issued", election_id,
                     f"{len(issued)} issued, {sent} e-mailed, {failed} failed" + (f": {', '.join(voter_ids)}" if voter_ids else ""))
        db.commit()
    data = base64.b64encode(private_credentials_csv((c.voter_id, c.email, c.credential) for c in issued).encode("utf-8")).decode("ascii")
    return render_template("admin/sheet.html", election_id=election_id, issued=issued,
                           csv_href=f"data:text/csv;charset=utf-8;base64,{data}",
                           booth_url=external_url("voter.booth", election_id=election_id))


@bp.post("/elections/<election_id>/voting-link")
@admin_required
def send_voting_links(election_id: str) -> Response:
    """E-mail every voter the open election's voting link (with its fingerprint)."""
    _phase_or_404(election_id)
    try:
        outcomes = elections.send_voting_links(state().board, state().session, election_id, state().config.smtp,
                                               external_url("voter.booth", election_id=election_id))
    except QuorumError as exc:
        flash(f"The voting link was not sent: {exc}", "error")
        return redirect(url_for("admin_elections.election", election_id=election_id))
    failed = sorted(v for v, error in outcomes.items() if error)
    with state().session() as db:
        audit.record(db, g.admin, "voting_link_sent", election_id,
                     f"{len(outcomes) - len(failed)} e-mailed, {len(failed)} failed" + (f": {', '.join(failed)}" if failed else ""))
        db.commit()
    flash(f"The voting link was e-mailed to {len(outcomes) - len(failed)} voters"
          + (f"; it could not be sent to {', '.join(failed)}: {outcomes[failed[0]]}" if failed else "."),
          "error" if failed else "ok")
    return redirect(url_for("admin_elections.election", election_id=election_id))


@bp.post("/elections/<election_id>/<any(open, close, tally):step>")
@admin_required
def step(election_id: str, step: str) -> Response:
    """Open (publishing the credentials), close, or start the tally."""
    _phase_or_404(election_id)
    try:
        if step == "open":
            elections.open_election(state().board, election_id)
        elif step == "close":
            state().election(election_id).close()  # type: ignore[union-attr]
        else:
            state().election(election_id).tally()  # type: ignore[union-attr]
    except QuorumError as exc:
        flash(f"Could not {step} the election: {exc}", "error")
    else:
        with state().session() as db:
            audit.record(db, g.admin, f"election_{step}", election_id)
            db.commit()
        flash({"open": "The election is open.", "close": "The election is closed.",
               "tally": "The encrypted tally is on the board: the trustees can decrypt it now."}[step], "ok")
    return redirect(url_for("admin_elections.election", election_id=election_id))
