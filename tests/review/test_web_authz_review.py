"""Adversarial review of the web app's authorization and redirects (web/admin.py, web/security.py), after
tests/review/test_web_input_review.py and tests/web/test_authorization.py: what they did not cover.

Found by this review and fixed in the same commit:
- the sign-in's `next=` took '/<TAB>/evil.example/' for a same-site path: browsers (and Werkzeug's Location) drop
  the tab, so an administrator signing in from a crafted link was sent to //evil.example/ (an open redirect to a
  look-alike 'sign in again' page); a newline or carriage return in `next=` made the sign-in a 500;
- the API answers holding secrets (the credentials issued, the trustees' invitation links, the voter list with its
  e-mail addresses, the audit log, the CSRF token) carried no Cache-Control: only /admin, /trustee and /vote pages
  were no-store.
"""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.web import flow
from tests.web.conftest import ADMIN_PASSWORD, admin, api_post, app, form_post  # noqa: F401  (fixtures)


@pytest.mark.parametrize("target", ["/\t/evil.example/", "/\n/evil.example/", "/\r/evil.example/", "/\\evil.example/",
                                    "/\x0b/evil.example/", "/\x7f/evil.example/", "/ /evil.example/", "//evil.example/"])
def test_sign_in_never_redirects_off_site(app: Flask, target: str) -> None:
    client = app.test_client()
    response = form_post(client, "/admin/login", {"username": "alice", "password": ADMIN_PASSWORD},
                         query_string={"next": target})
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"


def test_sign_in_still_follows_a_same_site_next(app: Flask) -> None:
    client = app.test_client()
    response = form_post(client, "/admin/login", {"username": "alice", "password": ADMIN_PASSWORD},
                         query_string={"next": "/admin/elections/club"})
    assert response.headers["Location"] == "/admin/elections/club"


def test_api_answers_with_secrets_are_not_stored(app: Flask, admin: FlaskClient) -> None:  # noqa: F811
    created = api_post(admin, "/api/elections", {"election_id": "club", "manifest": flow.MANIFEST, "group": "ed25519",
                                                 "trustees": ["T1", "T2"], "quorum": 1, "voters_csv": flow.VOTERS})
    assert created.status_code == 201 and created.get_json()["invites"]
    issued = api_post(admin, "/api/elections/club/credentials", {})
    assert issued.status_code == 200 and issued.get_json()["credentials"]
    answers = [created, issued, admin.get("/api/elections/club/voters"), admin.get("/api/audit"),
               admin.get("/api/csrf"), api_post(app.test_client(), "/api/login", {"username": "alice", "password": ADMIN_PASSWORD})]
    for response in answers:
        assert response.status_code in (200, 201), response.request.path
        assert response.headers.get("Cache-Control") == "no-store", response.request.path
    # the public board's reads stay cacheable
    assert "Cache-Control" not in app.test_client().get("/api/elections/club/entries").headers
