"""Administrator sign-in: argon2id hashes, rate limiting, one-time passwords, authorization of admin routes."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select

from tests.web.conftest import ADMIN_PASSWORD, api_post, form_post
from web.auth import create_admin
from web.models import Admin


def test_password_is_stored_as_argon2id(app: Flask) -> None:
    with app.extensions["quorum"].session() as db:
        stored = db.scalars(select(Admin).where(Admin.username == "alice")).one().password_hash
    assert stored.startswith("$argon2id$") and ADMIN_PASSWORD not in stored


def test_sign_in_and_out(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/admin/").status_code == 302
    response = form_post(client, "/admin/login", {"username": "alice", "password": ADMIN_PASSWORD})
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/")
    assert client.get("/admin/").status_code == 200
    form_post(client, "/admin/logout")
    assert client.get("/admin/").status_code == 302


def test_wrong_password_names_the_field(app: Flask) -> None:
    client = app.test_client()
    response = form_post(client, "/admin/login", {"username": "alice", "password": "nope"})
    assert response.status_code == 422
    assert "wrong user name or password" in response.get_data(as_text=True)


def test_sign_in_is_rate_limited_per_account(app: Flask) -> None:
    client = app.test_client()
    for _ in range(5):
        assert form_post(client, "/admin/login", {"username": "alice", "password": "wrong"}).status_code == 422
    locked = form_post(client, "/admin/login", {"username": "alice", "password": ADMIN_PASSWORD})
    assert locked.status_code == 429
    assert "too many failed sign-ins" in locked.get_data(as_text=True)
    api = api_post(client, "/api/login", {"username": "alice", "password": ADMIN_PASSWORD})
    assert api.status_code == 429 and api.headers["Retry-After"] == "900"


def test_open_redirect_refused(app: Flask) -> None:
    client = app.test_client()
    response = form_post(client, "/admin/login?next=//evil.example/", {"username": "alice", "password": ADMIN_PASSWORD})
    assert response.headers["Location"].endswith("/admin/")


def test_one_time_password_must_be_changed(app: Flask) -> None:
    with app.extensions["quorum"].session() as db:
        once = create_admin(db, "bob")
    client = app.test_client()
    assert form_post(client, "/admin/login", {"username": "bob", "password": once}).status_code == 302
    assert client.get("/admin/").headers["Location"].endswith("/admin/password")
    short = form_post(client, "/admin/password", {"current_password": once, "new_password": "short", "repeat_password": "short"})
    assert short.status_code == 422 and "12 to 1024 characters" in short.get_data(as_text=True)
    changed = form_post(client, "/admin/password", {"current_password": once, "new_password": "a much longer passphrase",
                                                    "repeat_password": "a much longer passphrase"})
    assert changed.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_one_time_password_replaced_through_the_api(app: Flask) -> None:
    with app.extensions["quorum"].session() as db:
        once = create_admin(db, "dora")
    client = app.test_client()
    assert api_post(client, "/api/login", {"username": "dora", "password": once}).get_json()["must_change_password"]
    blocked = client.get("/api/audit")
    assert blocked.status_code == 403 and "one-time password" in blocked.get_json()["detail"]
    wrong = api_post(client, "/api/password", {"current_password": "nope", "new_password": "long enough passphrase"})
    assert wrong.status_code == 422 and wrong.get_json()["errors"][0]["field"] == "current_password"
    short = api_post(client, "/api/password", {"current_password": once, "new_password": "short"})
    assert short.status_code == 422 and short.get_json()["errors"][0]["field"] == "new_password"
    ok = api_post(client, "/api/password", {"current_password": once, "new_password": "long enough passphrase"})
    assert ok.status_code == 200 and client.get("/api/audit").status_code == 200


def test_admin_api_needs_a_session(app: Flask) -> None:
    client = app.test_client()
    response = api_post(client, "/api/elections", {})
    assert response.status_code == 401 and response.mimetype == "application/problem+json"


def test_api_login_then_admin_call(app: Flask) -> None:
    client = app.test_client()
    response = api_post(client, "/api/login", {"username": "alice", "password": ADMIN_PASSWORD})
    assert response.status_code == 200 and response.get_json()["username"] == "alice"
    assert client.get("/api/elections/nothing/voters").status_code == 404


def test_audit_log_records_sign_ins(admin) -> None:  # type: ignore[no-untyped-def]
    page = admin.get("/admin/audit").get_data(as_text=True)
    assert "sign_in" in page and "alice" in page
    events = admin.get("/api/audit").get_json()["events"]
    assert events[0]["actor"] == "alice" and events[0]["action"] == "sign_in"
