"""CSRF tokens, Content-Security-Policy with per-response nonces, the other security headers, and what the server
keeps of a secret token."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from flask import Flask, Response, abort, current_app, g, request, session

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def token_hash(token: str) -> str:
    """What the server keeps of a secret token (trustee invitation, admin session): its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def invite_version(link_hash: str) -> str:
    """A short, non-secret name of the invitation link whose token_hash is `link_hash` (16 hex): the renewal form
    sends it back, so that a renewal from a page showing an older link is refused; the token's hash stays off the
    page."""
    return hashlib.sha256(b"quorum invite version\0" + link_hash.encode()).hexdigest()[:16]


def csrf_token() -> str:
    """This session's CSRF token (created on first use); forms put it in a hidden field, scripts in a header."""
    token = session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def csp_nonce() -> str:
    """The nonce of this response's Content-Security-Policy (for the import map only)."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(18)
    return str(g.csp_nonce)


def _check_csrf() -> None:
    """Refuse an unsafe request whose token (form field or header) does not match the session's."""
    if request.method not in UNSAFE_METHODS:
        return
    expected = session.get("csrf")
    sent = request.headers.get(CSRF_HEADER) or (request.form.get(CSRF_FIELD) if request.form else None)
    if not isinstance(expected, str) or not sent or not hmac.compare_digest(
            expected.encode(), sent.encode("utf-8", "surrogatepass")):  # bytes: compare_digest refuses non-ASCII str
        abort(403, description="missing or wrong CSRF token: reload the page and submit again")


def content_security_policy(nonce: str) -> str:
    """Scripts only from this origin or carrying the nonce; no inline styles; never framed."""
    return "; ".join([
        "default-src 'self'",
        f"script-src 'self' 'nonce-{nonce}'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])


def _headers(response: Response) -> Response:
    headers = response.headers
    headers["Content-Security-Policy"] = content_security_policy(csp_nonce())
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"
    headers["Referrer-Policy"] = "no-referrer"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
    if request.is_secure or g.get("https"):
        headers["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
    if request.path.startswith(("/admin", "/trustee", "/vote")) or (request.path.startswith("/api/") and (
            request.method in UNSAFE_METHODS or current_app.config["SESSION_COOKIE_NAME"] in request.cookies
            or session.modified)):
        # an API answer to a write or to a session is its holder's alone: issued credentials, invitation links, the
        # voter list, the audit log, a CSRF token, also the first one, whose answer starts the session (anonymous
        # reads of the public board stay cacheable)
        headers["Cache-Control"] = "no-store"
    return response


def init_security(app: Flask, https: bool) -> None:
    """Install CSRF checking, security headers and cookie flags on the app."""
    app.config.update(
        SESSION_COOKIE_NAME="__Host-quorum" if https else "quorum_session",
        SESSION_COOKIE_SECURE=https,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
    )

    @app.before_request
    def _before() -> None:
        g.https = https
        _check_csrf()

    app.after_request(_headers)
    app.jinja_env.globals.update(csrf_token=csrf_token, csp_nonce=csp_nonce, CSRF_FIELD=CSRF_FIELD)
