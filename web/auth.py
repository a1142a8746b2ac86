"""Administrator accounts: argon2id password hashes, rate-limited sign-in, one-time passwords, the login guard."""

from __future__ import annotations

import datetime as dt
import functools
import re
import secrets
from typing import Any, Callable, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask import abort, current_app, g, has_request_context, redirect, request, session, url_for
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from werkzeug.exceptions import TooManyRequests

from threshold.errors import DecodeError
from web.models import Admin, AdminSession, LoginFailure, utcnow
from web.security import token_hash
from web.state import state

HASHER = PasswordHasher()  # argon2id, RFC 9106 low-memory parameters
_DUMMY_HASH = HASHER.hash("not a password")
_USERNAME = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
MIN_PASSWORD = 12
IP_FACTOR = 4  # one address may fail this many times more often than one account

F = TypeVar("F", bound=Callable[..., Any])


def check_username(name: Any) -> str:
    """A valid user name, or DecodeError naming the field."""
    if not isinstance(name, str) or not _USERNAME.fullmatch(name):
        raise DecodeError("username", "1-64 letters, digits or _ . @ -")
    return name


def check_new_password(password: Any) -> str:
    """A password long enough to keep, or DecodeError naming the field."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD or len(password) > 1024:
        raise DecodeError("password", f"use {MIN_PASSWORD} to 1024 characters")
    return password


def one_time_password() -> str:
    """A random password to print once; the admin must replace it at first sign-in."""
    return secrets.token_urlsafe(15)


def create_admin(db: Session, username: str, password: str | None = None) -> str:
    """Create an admin (or reset one's password); returns the one-time password when none was given."""
    check_username(username)
    one_time = password is None
    secret = one_time_password() if password is None else check_new_password(password)
    admin = db.scalars(select(Admin).where(Admin.username == username)).one_or_none()
    if admin is None:
        admin = Admin(username=username)
        db.add(admin)
    admin.password_hash = HASHER.hash(secret)
    admin.must_change = int(one_time)
    if admin.id is not None:  # after the new hash (flushed first: its row lock waits for a sign-in being recorded)
        end_sessions(db, admin.id)
    db.commit()
    return secret


def set_password(db: Session, admin: Admin, password: str) -> None:
    """Replace an admin's password with a new one of their choosing; their other sessions end (one opened with a
    leaked password among them), the one asking stays."""
    admin.password_hash = HASHER.hash(check_new_password(password))
    admin.must_change = 0
    end_sessions(db, admin.id, keep=session.get("sid") if has_request_context() else None)
    db.commit()


def _recent_failures(db: Session, key: str, since: dt.datetime) -> int:
    return int(db.scalar(select(func.count()).select_from(LoginFailure).where(
        LoginFailure.key == key, LoginFailure.at >= since)) or 0)


def authenticate(db: Session, username: str, password: str, client: str, max_failures: int, window: int) -> Admin | None:
    """The admin if the password is right; None if not; TooManyRequests while the account or address is locked.

    The attempt is recorded as a failure before it is counted and checked, and forgotten if refused or right: counted
    only after the check, guesses sent at once all passed the count before any was recorded. No transaction stays
    open during the (slow) check. A right password leaves the admin's row locked, holding the hash just checked,
    until the caller commits (with sign_in's session): a password change committed during the check makes the
    attempt a failure, and one that comes after ends the session."""
    since = utcnow() - dt.timedelta(seconds=window)
    user_key, ip_key = f"user:{username[:64]}", f"ip:{client}"
    attempt = [LoginFailure(key=user_key), LoginFailure(key=ip_key)]
    db.add_all(attempt)
    db.commit()
    if (_recent_failures(db, user_key, since) > max_failures
            or _recent_failures(db, ip_key, since) > max_failures * IP_FACTOR):
        for row in attempt:  # a refused attempt does not lengthen the lock
            db.delete(row)
        db.commit()
        exc = TooManyRequests(f"too many failed sign-ins: wait {window // 60} minutes and try again")
        exc.retry_after = window  # type: ignore[attr-defined]
        raise exc
    admin = db.scalars(select(Admin).where(Admin.username == username)).one_or_none()
    db.commit()
    try:
        HASHER.verify(admin.password_hash if admin else _DUMMY_HASH, password)
        ok = admin is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        ok = False
    if not ok or not _still_checked(db, admin):  # type: ignore[arg-type]
        return None
    db.execute(delete(LoginFailure).where(LoginFailure.key == user_key))
    db.delete(attempt[1])
    if HASHER.check_needs_rehash(admin.password_hash):  # type: ignore[union-attr]
        admin.password_hash = HASHER.hash(password)  # type: ignore[union-attr]
    return admin


def reauthenticate(db: Session, admin: Admin, password: Any, client: str, max_failures: int, window: int) -> Admin:
    """The signed-in admin's current password asked again (a password change): counted and limited as a sign-in, so
    that a session left open cannot guess it without end; DecodeError naming `current_password` if wrong."""
    checked = authenticate(db, admin.username, password, client, max_failures, window) if isinstance(password, str) else None
    if checked is None:
        raise DecodeError("current_password", "this is not your current password")
    return checked


def _still_checked(db: Session, admin: Admin) -> bool:
    """Lock the admin's row (until the caller commits) and tell whether it still holds the hash the password was
    checked against: a session opened with a password changed meanwhile would outlive the change."""
    checked = admin.password_hash
    db.refresh(admin, with_for_update=True)
    return admin.password_hash == checked


def sign_in(db: Session, admin: Admin) -> None:
    """Start a fresh session for this admin (a new CSRF token too: no fixation), recorded on the server by its
    token's hash; expired records are dropped. The caller commits."""
    db.execute(delete(AdminSession).where(AdminSession.created_at < utcnow() - current_app.permanent_session_lifetime))
    token = secrets.token_urlsafe(32)
    db.add(AdminSession(token_hash=token_hash(token), admin_id=admin.id))
    session.clear()
    session.permanent = True
    session["sid"] = token
    session["admin_id"] = admin.id
    session["admin_name"] = admin.username
    session["must_change"] = bool(admin.must_change)


def sign_out(db: Session) -> None:
    """End this session on the server and in the browser: a copy of its cookie no longer signs anyone in. The
    caller commits."""
    token = session.get("sid")
    if isinstance(token, str):
        db.execute(delete(AdminSession).where(AdminSession.token_hash == token_hash(token)))
    session.clear()


def end_sessions(db: Session, admin_id: int, keep: str | None = None) -> None:
    """End every session of the admin, but the one whose token is `keep`."""
    query = delete(AdminSession).where(AdminSession.admin_id == admin_id)
    if keep is not None:
        query = query.where(AdminSession.token_hash != token_hash(keep))
    db.execute(query)


def _session_live() -> bool:
    """Whether the cookie's session is still on the server, for the admin it names, and not expired."""
    token, admin_id = session.get("sid"), session.get("admin_id")
    if not isinstance(token, str) or not isinstance(admin_id, int):
        return False
    with state().session() as db:
        row = db.get(AdminSession, token_hash(token))
    return row is not None and row.admin_id == admin_id \
        and row.created_at >= utcnow() - current_app.permanent_session_lifetime


def current_admin_name() -> str | None:
    """The signed-in admin's user name, if any."""
    name = session.get("admin_name")
    return name if isinstance(name, str) else None


def admin_required(view: F) -> F:
    """Let only a signed-in admin through; pages redirect to sign-in, the API answers 401."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_admin_name() is not None and not _session_live():
            for key in ("sid", "admin_id", "admin_name", "must_change"):  # signed out, ended by a password change
                session.pop(key, None)  # or reset, or expired on the server; a trustee seat in this browser stays
        if current_admin_name() is None:
            if request.path.startswith("/api/"):
                abort(401, description="sign in as an administrator first")
            return redirect(url_for("admin.login", next=request.path))
        if session.get("must_change") and request.endpoint not in ("admin.password", "admin.logout", "api.password"):
            if request.path.startswith("/api/"):
                abort(403, description="replace your one-time password first (POST /api/password)")
            return redirect(url_for("admin.password"))
        g.admin = current_admin_name()
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
