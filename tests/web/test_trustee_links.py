"""Trustee invitation links: renewals sent at once, and the seats a browser session holds."""

from __future__ import annotations

import re
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from tests.voting.conftest import pg_url  # noqa: F401  (fixture)
from tests.web import flow
from tests.web.conftest import any_db_app, csrf_of, form_post, signed_in  # noqa: F401  (fixture)
from web import elections
from web.models import AuditEvent


def _renewal_form(page: str, index: int) -> dict[str, str]:
    """The hidden fields of trustee `index`'s 'New link' form on the election page."""
    form = re.search(rf'action="/admin/elections/club/invite/{index}">(.*?)</form>', page, re.S)
    assert form, page
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form.group(1)))


def test_two_renewals_of_one_link_at_once_one_wins(any_db_app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two administrators (or a double click) renewing trustee 1's link from the same page: both renewals
    committed, so one of the two pages showed a link the other had already replaced. Now exactly one commits
    and shows the link in force; the other changes nothing and says to reload."""
    app = any_db_app
    admins = [signed_in(app), signed_in(app)]
    invites = flow.create(admins[0])
    forms = [{**_renewal_form(a.get("/admin/elections/club").get_data(as_text=True), 1), "csrf_token": csrf_of(a)}
             for a in admins]
    assert forms[0].get("link_version") == forms[1].get("link_version")  # one page, as a double click sends it
    if app.extensions["quorum"].board.engine.dialect.name == "postgresql":
        # force the interleaving: both renewals have read the row before either writes (on SQLite each renewal's
        # transaction is BEGIN IMMEDIATE, so the second cannot read before the first commits: no barrier there)
        both_read, hash_of = threading.Barrier(2, timeout=30), elections.token_hash

        def after_both_read(token: str) -> str:
            both_read.wait()
            return hash_of(token)

        monkeypatch.setattr(elections, "token_hash", after_both_read)
    start = threading.Barrier(2, timeout=30)

    def renew(i: int) -> Any:
        start.wait()
        return admins[i].post("/admin/elections/club/invite/1", data=forms[i])

    with ThreadPoolExecutor(2) as pool:
        responses = list(pool.map(renew, range(2)))
    assert sorted(r.status_code for r in responses) == [200, 409]
    won, lost = sorted(responses, key=lambda r: r.status_code)
    assert "already renewed" in lost.get_data(as_text=True) and "reload" in lost.get_data(as_text=True)
    page = won.get_data(as_text=True)
    link = re.search(r'href="http://[^/"]+(/trustee/join/[^"]+)"', page)
    assert link, page
    trustee = app.test_client()
    assert trustee.get(link.group(1)).status_code == 200  # the link the winner's page shows is the one in force
    assert trustee.get(invites[1]).status_code == 404  # and the link both replaced is dead
    with app.extensions["quorum"].session() as db:
        renewed = db.scalars(select(AuditEvent).where(AuditEvent.action == "trustee_link_renewed")).all()
    assert len(renewed) == 1


def test_a_renewal_from_a_page_older_than_the_link_is_refused(app: Flask, admin: FlaskClient) -> None:
    flow.create(admin)
    old_form = _renewal_form(admin.get("/admin/elections/club").get_data(as_text=True), 1)
    assert form_post(admin, "/admin/elections/club/invite/1", old_form).status_code == 200
    again = form_post(admin, "/admin/elections/club/invite/1", old_form)  # the stale page's button, pressed again
    assert again.status_code == 409 and "/trustee/join/" not in again.get_data(as_text=True)
    fresh_form = _renewal_form(admin.get("/admin/elections/club").get_data(as_text=True), 1)
    assert form_post(admin, "/admin/elections/club/invite/1", fresh_form).status_code == 200  # after a reload


def test_seats_in_many_elections_do_not_outgrow_the_session_cookie(app: Flask, admin: FlaskClient) -> None:
    """Every accepted invitation added an entry (election id and the link's 64-hex hash) to the signed session
    cookie: past a few dozen elections it outgrew the 4 KB a browser keeps, and the browser silently dropped the
    session. Now the cookie holds MAX_SEATS compact seats; taking one more lets go of the oldest, with a
    message, and that election's link still gives its seat back."""
    from web.trustee import MAX_SEATS

    ids = [f"e{i:02d}-{secrets.token_hex(30)}" for i in range(3 * MAX_SEATS)]  # the longest ids, incompressible
    links = {e: flow.create(admin, e)[1] for e in ids}
    trustee = app.test_client()
    csrf = csrf_of(trustee)
    for e in ids:
        accepted = trustee.post(links[e], data={"csrf_token": csrf})
        assert accepted.status_code == 302, accepted.get_data(as_text=True)
        cookie = accepted.headers["Set-Cookie"]
        assert len(cookie.encode()) <= app.config["MAX_COOKIE_SIZE"], (e, len(cookie))
        assert trustee.get(f"/trustee/{e}/ceremony").status_code == 200  # the seat just taken works
    assert csrf_of(trustee) == csrf  # the same session all along
    for e in ids[-MAX_SEATS:]:  # the newest seats are all still held
        assert trustee.get(f"/trustee/{e}/ceremony").status_code == 200
    assert trustee.get(f"/trustee/{ids[0]}/ceremony").status_code == 403  # the oldest was let go
    again = trustee.post(links[ids[0]], data={"csrf_token": csrf}, follow_redirects=True)
    page = " ".join(again.get_data(as_text=True).split())
    assert again.status_code == 200 and f"at most {MAX_SEATS} elections" in page and ids[-MAX_SEATS] in page
    assert trustee.get(f"/trustee/{ids[0]}/ceremony").status_code == 200  # its link gave the seat back
    assert trustee.get(f"/trustee/{ids[-MAX_SEATS]}/ceremony").status_code == 403  # letting go of the then oldest


def test_a_seat_in_a_cookie_from_before_still_holds(app: Flask, admin: FlaskClient) -> None:
    """Cookies set before seats were capped hold {election id: [index, link hash]}: still honoured."""
    from web.security import token_hash

    link = flow.create(admin)[1]
    trustee = app.test_client()
    with trustee.session_transaction() as session:
        session["trustee_seats"] = {"club": [1, token_hash(link.rsplit("/", 1)[1])]}
    assert trustee.get("/trustee/club/ceremony").status_code == 200
