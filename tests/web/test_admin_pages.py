"""Administrator pages: the election form (errors named, nothing stored), voter CSV import by row, credentials as
sheet, CSV and e-mail through SMTP with delivery status and resend; the server keeps no private credential."""

from __future__ import annotations

import base64
import email
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from tests.web import flow
from tests.web.conftest import ADMIN_PASSWORD, api_post, form_post, make_config
from web import create_app
from web.auth import create_admin
from web.config import SmtpSettings
from web.forms import field_label
from web.models import Voter

aiosmtpd = pytest.importorskip("aiosmtpd.controller")

FORM = {
    "action": "create", "contest_count": "1", "election_id": "e1", "title": "Board vote",
    "contests[0].title": "Chair", "contests[0].kind": "plurality", "contests[0].options": "Ann\nBob",
    "group": "ed25519", "trustees": "T1\nT2", "quorum": "2",
    "voters": "voter_id,email\nv1,v1@example.org\nv2,bounce@example.org\nv3,\n",
}


class Mailbox:
    """An SMTP server's handler: keeps accepted messages, refuses recipients named bounce@."""

    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address.startswith("bounce@"):
            return "550 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    """A local SMTP server on a free port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    box = Mailbox()
    controller = aiosmtpd.Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


@pytest.fixture
def mail_admin(tmp_path: Path, smtp: tuple[Mailbox, int]) -> Iterator[tuple[Flask, FlaskClient]]:
    """An app configured with the local SMTP server, and a signed-in admin."""
    app = create_app(make_config(tmp_path, smtp=SmtpSettings(host="127.0.0.1", port=smtp[1], sender="vote@example.org")))
    with app.extensions["quorum"].session() as db:
        create_admin(db, "alice", ADMIN_PASSWORD)
    client = app.test_client()
    form_post(client, "/admin/login", {"username": "alice", "password": ADMIN_PASSWORD})
    yield app, client
    app.extensions["quorum"].board.engine.dispose()


def test_form_errors_name_the_field_and_store_nothing(admin: FlaskClient) -> None:
    cases = [
        ({"title": ""}, "title"),
        ({"election_id": "bad id!"}, "election_id"),
        ({"quorum": "3"}, "quorum"),
        ({"quorum": "two"}, "quorum"),
        ({"contests[0].options": "Only one"}, "contests[0].options"),
        ({"contests[0].kind": "approval", "contests[0].limit": "5"}, "contests[0].limit"),
        ({"voters": "voter_id,email\nv1,not-an-address\nv1,\n"}, "voters"),
    ]
    for change, field in cases:
        response = form_post(admin, "/admin/elections/new", {**FORM, **change})
        page = response.get_data(as_text=True)
        assert response.status_code == 422, change
        assert f"<strong>{field_label(field)}</strong>" in page, (change, page[page.find("error-summary"):][:400])
        assert 'aria-invalid="true"' in page or field == "voters" or field == "contests[0].options"
    csv_errors = form_post(admin, "/admin/elections/new", {**FORM, "voters": "voter_id,email\nv1,not-an-address\nv1,\n"})
    assert "row 2: email" in csv_errors.get_data(as_text=True) and "row 3: voter_id" in csv_errors.get_data(as_text=True)
    assert admin.get("/api/elections").get_json() == {"elections": []}


def test_the_form_reports_every_wrong_field_at_once(admin: FlaskClient) -> None:
    """An official fixing a form learns every mistake in one round trip, not one per submission."""
    change = {"election_id": "bad id!", "quorum": "two", "contests[0].kind": "approval", "contests[0].limit": "x",
              "voters": "voter_id,email\nv1,not-an-address\n"}
    page = form_post(admin, "/admin/elections/new", {**FORM, **change}).get_data(as_text=True)
    for field in ("election_id", "quorum", "contests[0].limit", "voters"):
        assert f"<strong>{field_label(field)}</strong>" in page, (field, page[page.find("error-summary"):][:800])
    summary = page[page.find('id="error-summary"'):page.find("</div>", page.find('id="error-summary"'))]
    targets = [unquote(t) for t in re.findall(r'<a href="#([^"]+)">', summary)]
    assert len(targets) == 4 and all(f'id="{t}"' in page for t in targets), targets  # each error links to its field
    assert admin.get("/api/elections").get_json() == {"elections": []}


def test_add_a_question_keeps_the_form(admin: FlaskClient) -> None:
    response = form_post(admin, "/admin/elections/new", {**FORM, "action": "add_contest"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "Question 2" in page and 'value="Board vote"' in page


def test_credentials_by_sheet_csv_and_mail_with_resend(mail_admin: tuple[Flask, FlaskClient], smtp: tuple[Mailbox, int]) -> None:
    app, admin = mail_admin
    box = smtp[0]
    created = form_post(admin, "/admin/elections/new", FORM)
    assert created.status_code == 200 and "Trustee invitations" in created.get_data(as_text=True)

    sheet = form_post(admin, "/admin/elections/e1/credentials", {"send_mail": "1"})
    page = sheet.get_data(as_text=True)
    creds = dict(re.findall(r'data-voter="([^"]+)">([1-9A-Za-z]{24})<', page))
    assert sorted(creds) == ["v1", "v2", "v3"]
    csv_href = re.search(r'href="data:text/csv;charset=utf-8;base64,([^"]+)"', page).group(1)
    csv_text = base64.b64decode(csv_href).decode()
    assert f"v1,v1@example.org,{creds['v1']}" in csv_text
    assert len(box.messages) == 1 and box.messages[0]["To"] == "v1@example.org"
    assert creds["v1"] in box.messages[0].get_payload()

    status = admin.get("/admin/elections/e1").get_data(as_text=True)
    assert re.search(r"v1</td><td>v1@example.org</td><td class=\"delivery\">sent", status)
    assert re.search(r"v2</td><td>bounce@example.org</td><td class=\"delivery\">failed</td><td>SMTPRecipientsRefused", status)
    assert re.search(r"v3</td><td></td><td class=\"delivery\">handed", status)

    # the server keeps public credentials only; no secret is anywhere in its tables
    with app.extensions["quorum"].session() as db:
        rows = {v.voter_id: v.public_credential for v in db.scalars(select(Voter))}
    assert all(len(p or "") == 64 for p in rows.values())
    dump = "\n".join(app.extensions["quorum"].board.engine.raw_connection().iterdump())
    assert not any(secret in dump for secret in creds.values())

    # a second "issue" gives nothing to voters who already have one: no secret is mailed twice by accident
    again = form_post(admin, "/admin/elections/e1/credentials", {"send_mail": "1"})
    assert "data-voter" not in again.get_data(as_text=True) and len(box.messages) == 1

    # resend to v1: a new credential replaces the old one, mailed once
    resent = form_post(admin, "/admin/elections/e1/credentials", {"voter_id": "v1", "send_mail": "1"})
    new = re.search(r'data-voter="v1">([1-9A-Za-z]{24})<', resent.get_data(as_text=True)).group(1)
    assert new != creds["v1"] and len(box.messages) == 2 and new in box.messages[1].get_payload()
    with app.extensions["quorum"].session() as db:
        assert db.scalars(select(Voter).where(Voter.voter_id == "v1")).one().public_credential != rows["v1"]
    audit = admin.get("/admin/audit?election=e1").get_data(as_text=True)
    assert "credentials_issued" in audit and "1 e-mailed, 1 failed" in audit


def test_voter_import_errors_by_row_change_nothing(admin: FlaskClient) -> None:
    form_post(admin, "/admin/elections/new", FORM)
    bad = form_post(admin, "/admin/elections/e1/voters", {"voters": "voter_id\nok\n\nbad id\n"})
    text = bad.get_data(as_text=True)
    assert bad.status_code == 422 and "row 3: empty row" in text and "row 4: voter_id" in text
    assert [v["voter_id"] for v in admin.get("/api/elections/e1/voters").get_json()["voters"]] == ["v1", "v2", "v3"]
    good = form_post(admin, "/admin/elections/e1/voters", {"voters": "voter_id\nw1\nw2\n"})
    assert good.status_code == 302
    assert [v["voter_id"] for v in admin.get("/api/elections/e1/voters").get_json()["voters"]] == ["w1", "w2"]


def test_after_opening_no_credential_is_issued_and_links_are_forgotten(app: Flask, admin: FlaskClient) -> None:
    trustees = flow.join(app, flow.create(admin))
    flow.ceremony(trustees, "club")
    api_post(admin, "/api/elections/club/credentials", {})
    page = form_post(admin, "/admin/elections/club/open")
    assert page.status_code == 302
    with app.extensions["quorum"].session() as db:
        assert all(v.public_credential is None for v in db.scalars(select(Voter)))
    refused = api_post(admin, "/api/elections/club/credentials", {"voter_ids": ["v1"]})
    assert refused.status_code == 409 and "already published" in refused.get_json()["detail"]


def test_send_mail_without_smtp_is_a_named_error(admin: FlaskClient) -> None:
    form_post(admin, "/admin/elections/new", FORM)
    response = api_post(admin, "/api/elections/e1/credentials", {"send_mail": True})
    assert response.status_code == 422 and response.get_json()["errors"][0]["field"] == "send_mail"
    assert {v["delivery"] for v in admin.get("/api/elections/e1/voters").get_json()["voters"]} == {"none"}


def test_the_voting_link_pins_the_fingerprint_and_is_mailed_to_every_voter(
        mail_admin: tuple[Flask, FlaskClient], smtp: tuple[Mailbox, int]) -> None:
    """Once open, the election page shows the voting link with the base hash in its fragment (the booth refuses an
    election with another), and e-mails it to every voter with an address; nothing before the open."""
    app, admin = mail_admin
    box = smtp[0]
    trustees = flow.join(app, flow.create(admin))
    flow.ceremony(trustees, "club")
    api_post(admin, "/api/elections/club/credentials", {})
    assert 'id="voting-link"' not in admin.get("/admin/elections/club").get_data(as_text=True)
    early = form_post(admin, "/admin/elections/club/voting-link")
    assert early.status_code == 302 and not box.messages
    assert "is not open" in admin.get("/admin/elections/club").get_data(as_text=True)
    assert form_post(admin, "/admin/elections/club/open").status_code == 302
    pinned = admin.get("/api/elections/club").get_json()["base_hash"]
    page = admin.get("/admin/elections/club").get_data(as_text=True)
    link = re.search(r'<a id="voting-link" class="mono" href="([^"]+)"', page).group(1)
    assert link.endswith(f"/vote/club#base-hash={pinned}") and f'<code id="base-hash" class="mono">{pinned}</code>' in page

    sent = form_post(admin, "/admin/elections/club/voting-link")
    assert sent.status_code == 302
    assert sorted(m["To"] for m in box.messages) == [f"v{i}@example.org" for i in range(1, 6)]
    bodies = [m.get_payload(decode=True).decode("utf-8") for m in box.messages]
    assert all(link in body and pinned in body for body in bodies), bodies[0]
    assert "e-mailed to 5 voters" in admin.get("/admin/elections/club").get_data(as_text=True)
    assert "voting_link_sent" in admin.get("/admin/audit?election=club").get_data(as_text=True)
