"""Administrator pages: sign-in, password change, dashboard, audit log (election management in web.admin_elections)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from threshold.errors import DecodeError
from web import audit, auth
from web.errors import field_errors
from web.models import Admin
from web.state import state

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _safe_next(target: str | None) -> str:
    """Only same-site paths are followed after sign-in (no open redirect). Browsers drop tabs and newlines from a
    URL and read a backslash as a slash, so '/<TAB>/evil.example' would be '//evil.example': a target holding any
    control character, space or backslash is refused (a newline would also be a 500 in the Location header)."""
    if (target and target.startswith("/") and not target.startswith("//")
            and not any(c <= " " or c in "\\\x7f" for c in target)):
        return target
    return url_for("admin_elections.dashboard")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """The sign-in form; five wrong passwords lock the account for the window (429)."""
    errors: list[dict[str, str]] = []
    username = ""
    if request.method == "POST":
        username = request.form.get("username", "")
        password = request.form.get("password", "")
        cfg = state().config
        with state().session() as db:
            try:
                auth.check_username(username)
                admin = auth.authenticate(db, username, password, request.remote_addr or "?",
                                          cfg.login_max_failures, cfg.login_window_seconds)
            except DecodeError as exc:
                admin, errors = None, field_errors(exc)
            if admin is not None:
                auth.sign_in(db, admin)
                audit.record(db, admin.username, "sign_in")
                db.commit()
                return redirect(_safe_next(request.args.get("next")))
            if not errors:
                audit.record(db, username[:64], "sign_in_failed", detail=f"from {request.remote_addr}")
                db.commit()
                errors = [{"field": "password", "message": "wrong user name or password"}]
    return render_template("admin/login.html", errors=errors, username=username), 422 if errors else 200


@bp.post("/logout")
def logout() -> Response:
    """End the session, on the server too."""
    with state().session() as db:
        auth.sign_out(db)
        db.commit()
    flash("Signed out.", "ok")
    return redirect(url_for("board.index"))


@bp.route("/password", methods=["GET", "POST"])
@auth.admin_required
def password() -> Any:
    """Replace a one-time (or any) password; the current one is asked for again."""
    errors: list[dict[str, str]] = []
    if request.method == "POST":
        new, repeat = request.form.get("new_password", ""), request.form.get("repeat_password", "")
        with state().session() as db:
            admin = db.scalars(select(Admin).where(Admin.username == g.admin)).one()
            cfg = state().config
            try:
                admin = auth.reauthenticate(db, admin, request.form.get("current_password", ""), request.remote_addr or "?",
                                            cfg.login_max_failures, cfg.login_window_seconds)
                if new != repeat:
                    raise DecodeError("repeat_password", "the two new passwords differ")
                try:
                    auth.check_new_password(new)
                except DecodeError as exc:
                    raise DecodeError("new_password", exc.message) from None
                auth.set_password(db, admin, new)
                audit.record(db, admin.username, "password_changed")
                db.commit()
            except DecodeError as exc:
                errors = field_errors(exc)
        if not errors:
            session["must_change"] = False
            flash("Password changed.", "ok")
            return redirect(url_for("admin_elections.dashboard"))
    return render_template("admin/password.html", errors=errors, forced=session.get("must_change")), 422 if errors else 200


@bp.get("/audit")
@auth.admin_required
def audit_log() -> str:
    """Every administrative and trustee action, newest first."""
    with state().session() as db:
        events = audit.events(db, request.args.get("election") or None)
    return render_template("admin/audit.html", events=events)
