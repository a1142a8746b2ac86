"""Session 18: adversarial review of the administrator's and election official's side of the web app and of its HTTP
surface (web/security.py, web/auth.py, web/admin.py, web/admin_elections.py, web/api.py, web/board.py), after
tests/web/, tests/review/test_web_*.py and tests/review/test_session17_{trustee,voter}_review.py: only what they do
not cover.

The rules checked are DESIGN.md security rules 4 and 5 (every refused request is a 4xx naming what is wrong, never a
500 or a traceback, and stores nothing; CSRF on every write; rate-limited logins; security headers) and ATTACKS.md
row 18 (CSP + subresource integrity, the booth's hash published on the board).

Open findings (xfail(strict=True); each reason says what is wrong and why it matters):
- a CSRF token (form field or X-CSRF-Token header) holding a non-ASCII character is a 500 on every POST of the app,
  signed in or not: hmac.compare_digest raises TypeError on non-ASCII str (web/security.py _check_csrf);
- on PostgreSQL, an election id with a NUL (%00) in any URL is a 500 on every route that names an election, public
  ones included (psycopg refuses NUL in a text parameter);
- a trustee index beyond the database's integer (invite/<int:index>) is a 500 on SQLite and on PostgreSQL;
- the current password asked for again by the password change (form and API) can be guessed without limit from a
  signed-in session (no login rate limit applies there): a session left open becomes the account for good;
- the booth's stylesheet carries no integrity attribute and is not in the booth hash published on the board: the
  server can restyle the booth (CSS can hide a choice or relabel it with ::after content) without changing the hash;
- the CSRF token handed to a browser without a session (GET /api/csrf, which also sets the session cookie) carries
  no Cache-Control: a shared cache may hand one token and session cookie to every new visitor;
- a voter list pasted into the new-election form (multipart/form-data) over Werkzeug's 500 000-byte default for one
  form field (about 15 000 voters) is a bare 413 'The data value transmitted exceeds the capacity limit', with the
  whole form lost, although the app takes 16 MB bodies and 1 000 000 voters (and the same list as a file or by API);
- the voter list's e-mail check accepts text that the mail layer reads as other or more recipients
  ('a,b@example.org' is mailed to 'a' and 'b@example.org', 'a<b@example.org' to 'b@example.org'): a voter's
  private credential goes to a mailbox that is not the address shown on the administrator's page.
"""

from __future__ import annotations

import email.utils
import io
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from tests.voting.conftest import pg_url  # noqa: F401  (fixture)
from tests.web import flow
from tests.web.conftest import ADMIN_PASSWORD, admin, api_post, app, csrf_of, form_post, make_config  # noqa: F401
from voting.election import Election
from web import create_app
from web.auth import create_admin
from web import mail
from web.config import Config, SmtpSettings
from web.models import AuditEvent, TrusteeInvite, Voter
from web.sri import STATIC, sri_of


# --- helpers ---------------------------------------------------------------------------------------------------
def _production_app(tmp_path: Path, db: str | None = None) -> Flask:
    """The app as `quorum serve` runs it (TESTING off: an exception is a 500 page, not raised into the test), with
    admin alice."""
    overrides: dict[str, Any] = {"db": db} if db else {}
    application = create_app(Config.load(data_dir=tmp_path / "data", testing=False, **overrides))
    with application.extensions["quorum"].session() as db_session:
        create_admin(db_session, "alice", ADMIN_PASSWORD)
    return application


@pytest.fixture
def prod_app(tmp_path: Path) -> Iterator[Flask]:
    application = _production_app(tmp_path)
    yield application
    application.extensions["quorum"].board.engine.dispose()


@pytest.fixture
def pg_prod_app(pg_url: str, tmp_path: Path) -> Iterator[Flask]:  # noqa: F811
    application = _production_app(tmp_path, pg_url)
    yield application
    application.extensions["quorum"].board.engine.dispose()


@pytest.fixture
def pg_app(pg_url: str, tmp_path: Path) -> Iterator[Flask]:  # noqa: F811
    application = create_app(make_config(tmp_path, db=pg_url))
    with application.extensions["quorum"].session() as db_session:
        create_admin(db_session, "alice", ADMIN_PASSWORD)
    yield application
    application.extensions["quorum"].board.engine.dispose()


def _signed_in(app: Flask) -> FlaskClient:  # noqa: F811
    client = app.test_client()
    assert form_post(client, "/admin/login", {"username": "alice", "password": ADMIN_PASSWORD}).status_code == 302
    return client


def _no_traceback(response: Any) -> None:
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and "File \"" not in text, text[:500]


def _invite_hashes(app: Flask) -> list[tuple[str, int, str]]:  # noqa: F811
    with app.extensions["quorum"].session() as db:
        return sorted(db.execute(select(TrusteeInvite.election_id, TrusteeInvite.trustee_index, TrusteeInvite.token_hash)))


def _audit_actions(app: Flask) -> list[str]:  # noqa: F811
    with app.extensions["quorum"].session() as db:
        return [a for (a,) in db.execute(select(AuditEvent.action).order_by(AuditEvent.id))]


# --- CSRF: a token the comparison cannot take ----------------------------------------------------------------------
def test_a_non_ascii_csrf_token_is_a_403_not_a_500(prod_app: Flask) -> None:
    """Failed before (fixed in session 18): web/security.py _check_csrf compares the sent token with
    hmac.compare_digest(expected, sent) on str: a token holding any non-ASCII character (form field
    csrf_token=é, or an X-CSRF-Token header, which WSGI decodes as latin-1) raises TypeError, so every POST of
    the app, unauthenticated ones included, is a 500 instead of the 403 'missing or wrong CSRF token' (rule 4: a
    clear error naming what is wrong; every such request is also a traceback in the server's log). Fix: compare
    bytes, e.g. hmac.compare_digest(expected.encode(), sent.encode('utf-8', 'surrogatepass')), or refuse a token
    that is not ASCII before comparing."""
    client = prod_app.test_client()
    csrf_of(client)  # the session has a token: the comparison is reached
    answers = [
        client.post("/admin/login", data={"csrf_token": "\u00e9", "username": "alice", "password": ADMIN_PASSWORD}),
        client.post("/api/login", json={"username": "alice", "password": ADMIN_PASSWORD},
                    headers={"X-CSRF-Token": "\u00e9"}),
        client.post("/trustee/join/whatever", data={"csrf_token": "\u2603"}),
    ]
    for response in answers:
        _no_traceback(response)
        assert response.status_code == 403, (response.request.path, response.status_code)
        assert "CSRF" in response.get_data(as_text=True)
    assert "sign_in" not in _audit_actions(prod_app)


# --- ids in URLs the database cannot take --------------------------------------------------------------------------
@pytest.mark.postgres
def test_an_election_id_with_a_nul_is_a_404_on_postgresql(pg_prod_app: Flask) -> None:
    """Failed before (fixed in session 18): An election id with a NUL (%00) in the URL is a 500 on PostgreSQL on every
    route that names an election: web/board.py entries_or_404 (db.get(board_db.Election, id)), web/state.py
    AppState.election, web/elections.py phase, used by /board/<id>, /vote/<id>, /api/elections/<id>/..., and the
    admin's steps. psycopg refuses NUL in a text parameter (DataError), so anyone can make the public board
    answer 500 (and a traceback in the log) instead of 404 'no election'. SQLite answers 404. Fix: refuse an
    election id that does not match voting.context.ELECTION_ID before any query (one url converter or a
    before_request check), 404."""
    client = _signed_in(pg_prod_app)
    flow.create(client, "club")
    public = ["/board/a%00b", "/board/a%00b/results", "/vote/a%00b", "/api/elections/a%00b",
              "/api/elections/a%00b/entries", "/api/elections/a%00b/ceremony"]
    for path in public:
        response = pg_prod_app.test_client().get(path)
        _no_traceback(response)
        assert response.status_code == 404, (path, response.status_code)
    for path in ("/api/elections/a%00b/close", "/api/elections/a%00b/voters"):
        response = api_post(client, path, {"voters_csv": flow.VOTERS} if path.endswith("voters") else {})
        assert response.status_code == 404, (path, response.status_code)
    response = form_post(client, "/admin/elections/a%00b/tally")
    assert response.status_code == 404, response.status_code


def test_a_trustee_index_beyond_the_integer_column_is_refused_not_a_500(prod_app: Flask) -> None:
    """Failed before (fixed in session 18): web/admin_elections.py reinvite: the route's <int:index> takes any number
    of digits and elections.new_invite puts it in a query on the integer column
    web_trustee_invites.trustee_index: a number beyond it is a 500 (SQLite: OverflowError 'Python int too large
    to convert to SQLite INTEGER'; PostgreSQL: 2147483648 is out of range for integer) instead of the 422 'no
    trustee N in election' a small unknown index gets. Fix: bound the index before the query
    (1..voting.context.MAX_TRUSTEES, else DecodeError('trustee', ...))."""
    client = _signed_in(prod_app)
    flow.create(client, "club")
    before = _invite_hashes(prod_app)
    for index in ("99", "2147483648", "99999999999999999999999"):
        response = form_post(client, f"/admin/elections/club/invite/{index}")
        _no_traceback(response)
        assert response.status_code in (404, 422), (index, response.status_code)
    assert _invite_hashes(prod_app) == before
    assert "trustee_link_renewed" not in _audit_actions(prod_app)


# --- login-equivalent checks without a rate limit -------------------------------------------------------------------
def test_guessing_the_current_password_is_rate_limited(app: Flask) -> None:  # noqa: F811
    """Failed before (fixed in session 18): The password change asks for the current password again (web/admin.py
    password, web/api.py password: auth.password_matches) but counts no failure: from one signed-in session (a
    browser left open, a stolen cookie) the current password can be guessed without limit, then changed, which
    ends every other session of the admin and keeps the account for good. Sign-in allows login_max_failures per
    window (rule 5, rate-limited logins); this check is a sign-in in all but name. Fix: record and count a wrong
    current password like a failed sign-in (LoginFailure 'user:<name>' and the address), answer 429 past the
    limit."""
    client = _signed_in(app)
    limit = app.extensions["quorum"].config.login_max_failures
    statuses = [api_post(client, "/api/password", {"current_password": f"guess {i}", "new_password": "n" * 20}).status_code
                for i in range(limit)]
    assert statuses == [422] * limit
    after_api = api_post(client, "/api/password", {"current_password": "one more", "new_password": "n" * 20})
    after_form = form_post(client, "/admin/password", {"current_password": "and another", "new_password": "n" * 20,
                                                       "repeat_password": "n" * 20})
    assert (after_api.status_code, after_form.status_code) == (429, 429)


# --- ATTACKS.md row 18: what the booth is made of ------------------------------------------------------------------
def test_the_booth_stylesheet_is_pinned_by_integrity_and_the_booth_hash(app: Flask) -> None:  # noqa: F811
    """Failed before (fixed in session 18): ATTACKS.md row 18 (server-delivered client code): web/sri.py
    BoothAssets.scan hashes only the .js files, and web/templates/base.html links /static/css/quorum.css without
    an integrity attribute. The stylesheet is part of what the voter sees in the booth (CSS can hide an option,
    or relabel it with ::before/::after content, so the voter picks a candidate other than the one they read),
    yet changing it changes neither the SRI values nor the booth hash published in the setup entry. Fix: scan
    the stylesheet(s) too (so the booth hash binds them) and render the link with integrity="{{ sri(path) }}"."""
    booth = app.extensions["quorum"].booth
    css = STATIC / "css" / "quorum.css"
    html = app.test_client().get("/verify").get_data(as_text=True)
    link = re.search(r'<link rel="stylesheet"[^>]*>', html)
    assert link is not None
    assert f'integrity="{sri_of(css.read_bytes())}"' in link.group(0), link.group(0)
    assert booth.integrity.get("/static/css/quorum.css") == sri_of(css.read_bytes())


# --- caching of a response that starts a session ---------------------------------------------------------------------
def test_a_csrf_token_handed_to_a_new_browser_is_not_cacheable(app: Flask) -> None:  # noqa: F811
    """Failed before (fixed in session 18): web/security.py _headers marks an /api/ GET no-store only when the request
    already carries the session cookie: GET /api/csrf from a browser without one creates the session, sets its
    cookie and returns its CSRF token, with no Cache-Control at all. A shared cache in front of the app may keep
    that answer and give every new visitor the same token (and session cookie). Fix: no-store on every response
    that sets the session cookie (e.g. when session.modified), or always on /api/csrf."""
    response = app.test_client().get("/api/csrf")
    assert response.status_code == 200 and "Set-Cookie" in response.headers
    assert response.get_json()["csrf_token"]
    assert "no-store" in response.headers.get("Cache-Control", "")


# --- lifecycle steps sent twice at once on PostgreSQL (passing: coverage the other tests lack) ------------------------
def _open_election(app: Flask) -> FlaskClient:  # noqa: F811
    admin_client = _signed_in(app)
    flow.ceremony(flow.join(app, flow.create(admin_client)), "club")
    assert api_post(admin_client, "/api/elections/club/credentials", {}).status_code == 200
    assert api_post(admin_client, "/api/elections/club/open", {}).status_code == 200
    return admin_client


def _both_at_once(app: Flask, step: str, form: bool) -> list[int]:  # noqa: F811
    clients = [_signed_in(app), _signed_in(app)]
    tokens = [csrf_of(c) for c in clients]
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def send(i: int) -> None:
        barrier.wait(timeout=30)
        if form:
            response = clients[i].post(f"/admin/elections/club/{step}", data={"csrf_token": tokens[i]})
        else:
            response = clients[i].post(f"/api/elections/club/{step}", json={}, headers={"X-CSRF-Token": tokens[i]})
        statuses.append(response.status_code)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return sorted(statuses)


@pytest.mark.postgres
def test_two_closes_and_two_tallies_sent_at_once_store_one_each(pg_app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two administrators (or one double click) close, then tally, the same election at once through the API, on
    PostgreSQL. Both tallies pass the early phase check (Election.tally's first lock) before either appends: the
    ballots are read by both at once (a barrier in cast_ballots). Exactly one close and one tally entry are stored,
    the loser of each is a 409 problem, and the audit log names each step once."""
    _open_election(pg_app)
    assert _both_at_once(pg_app, "close", form=False) == [200, 409]

    read = threading.Barrier(2)
    original = Election.cast_ballots

    def cast_ballots(self: Election) -> Any:
        read.wait(timeout=30)  # both tallies are past the phase check, neither has appended
        return original(self)

    monkeypatch.setattr(Election, "cast_ballots", cast_ballots)
    assert _both_at_once(pg_app, "tally", form=False) == [200, 409]
    monkeypatch.setattr(Election, "cast_ballots", original)

    entries = pg_app.test_client().get("/api/elections/club/entries").get_json()["entries"]
    types = [e["type"] for e in entries]
    assert (types.count("close"), types.count("tally")) == (1, 1)
    assert types[-2:] == ["close", "tally"]
    actions = _audit_actions(pg_app)
    assert (actions.count("election_close"), actions.count("election_tally")) == (1, 1)
    assert pg_app.test_client().get("/api/elections/club").get_json()["phase"] == "tallied"


# --- sizes: the app's own limits, not a library default ----------------------------------------------------------------
def test_a_long_voter_list_pasted_into_the_form_is_created_or_named(app: Flask) -> None:  # noqa: F811
    """Failed before (fixed in session 18): web/app.py sets MAX_CONTENT_LENGTH to 16 MB and voting/voters_csv.py takes
    up to 1 000 000 voters, but the new-election form is multipart/form-data and Werkzeug 3.1 refuses any non-
    file field over MAX_FORM_MEMORY_SIZE (500 000 bytes by default, about 15 000 voters pasted into the 'Voter
    list (CSV)' textarea): the administrator gets a bare 413 'The data value transmitted exceeds the capacity
    limit' naming neither the field nor the limit, and loses the whole form (rule 4), while the same list is
    accepted as a file or through the API. Fix: set MAX_FORM_MEMORY_SIZE = MAX_BODY_BYTES in create_app (or a
    413 handler that names the voter list and says to upload it as a file)."""
    client = _signed_in(app)
    voters = "voter_id,email\n" + "".join(f"voter{i},voter{i}@example.org\n" for i in range(20_000))
    assert 500_000 < len(voters) < 1_000_000
    form = {"csrf_token": csrf_of(client), "action": "create", "election_id": "big", "title": "Big", "group": "ed25519",
            "quorum": "1", "trustees": "A\nB", "contest_count": "1", "contests[0].title": "Q",
            "contests[0].kind": "plurality", "contests[0].options": "a\nb", "voters": voters,
            "voters_file": (io.BytesIO(b""), "")}
    response = client.post("/admin/elections/new", data=form, content_type="multipart/form-data")
    text = response.get_data(as_text=True)
    if response.status_code == 200:  # the invitation links page: created with every voter
        with app.extensions["quorum"].session() as db:
            assert db.query(Voter).filter(Voter.election_id == "big").count() == 20_000
    else:  # refused: the answer must say which field, and nothing is stored
        assert response.status_code in (413, 422)
        assert "voter list" in text.lower(), text[:800]
        assert app.test_client().get("/api/elections").get_json() == {"elections": []}


# --- where a credential e-mail goes --------------------------------------------------------------------------------
class _FakeSmtp:
    """smtplib.SMTP's stand-in: records, per message, the recipients smtplib.send_message would use."""

    sent: list[tuple[str, list[str]]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __enter__(self) -> "_FakeSmtp":
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def send_message(self, message: Any) -> dict[str, Any]:
        fields = [f for f in (message.get_all("To") or []) + (message.get_all("Cc") or [])]
        recipients = [addr for _, addr in email.utils.getaddresses([str(f) for f in fields])]
        voter = re.search(r"Hello (\S+),", message.get_content()).group(1)  # type: ignore[union-attr]
        _FakeSmtp.sent.append((voter, recipients))
        return {}


def test_a_credential_e_mail_goes_to_exactly_the_address_on_the_voter_list(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Failed before (fixed in session 18): voting/voters_csv.py _EMAIL accepts any text with one '@' and no space or
    control character, but web/mail.py puts it in the To header, where ',' separates recipients and '<...>'
    names the address: 'a,b@example.org' is mailed to 'a' (a local mailbox of the relay) and to 'b@example.org',
    'a<b@example.org' and 'a:b@example.org' to 'b@example.org' only. A voter's private credential (anyone
    holding it votes in their name) then reaches a mailbox other than, or besides, the address the
    administrator's page shows. Fix: accept only an addr-spec that email.headerregistry parses back to itself
    (one Address whose addr_spec equals the text), refusing the row otherwise, and send with to_addrs=[address]."""
    application = create_app(make_config(tmp_path, smtp=SmtpSettings(host="smtp.invalid", sender="vote@example.org")))
    with application.extensions["quorum"].session() as db:
        create_admin(db, "alice", ADMIN_PASSWORD)
    monkeypatch.setattr(mail.smtplib, "SMTP", _FakeSmtp)
    monkeypatch.setattr(_FakeSmtp, "sent", [])
    try:
        client = _signed_in(application)
        typed = {"v1": "a,b@example.org", "v2": "a<b@example.org", "v3": "a:b@example.org", "v4": "v4@example.org"}
        voters = "voter_id,email\n" + "".join(f'{v},"{a}"\n' for v, a in typed.items())
        created = api_post(client, "/api/elections", {"election_id": "club", "manifest": flow.MANIFEST, "group": "ed25519",
                                                      "trustees": ["A", "B"], "quorum": 1, "voters_csv": voters})
        if created.status_code == 422:  # refused at import: the odd addresses are named by row
            assert created.get_json()["errors"][0]["field"] == "voters"
            return
        assert created.status_code == 201
        issued = api_post(client, "/api/elections/club/credentials", {"send_mail": True})
        assert issued.status_code == 200
        delivered = dict(_FakeSmtp.sent)
        assert delivered == {v: [a] for v, a in typed.items()}, delivered
    finally:
        application.extensions["quorum"].board.engine.dispose()
