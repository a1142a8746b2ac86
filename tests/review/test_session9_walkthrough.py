"""Session 9 newcomer walkthrough: the rough edges an official, a trustee, a voter and an auditor met when using the
web app as a newcomer would, each pinned by a test that fails without its fix."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from quorum.cli import main
from tests.web import flow
from tests.web.conftest import ADMIN_PASSWORD, admin, api_post, app, form_post  # noqa: F401  (fixtures)
from tests.web.live import chromium, open_booth, serve, watch_errors
from threshold import keystore_browser
from voting.credentials import new_private_credential

FORM = {
    "action": "create", "contest_count": "1", "election_id": "e1", "title": "Board vote",
    "contests[0].title": "Chair", "contests[0].kind": "plurality", "contests[0].options": "Ann\nBob",
    "group": "ed25519", "trustees": "Tess\nTom", "quorum": "2", "voters": "voter_id,email\nv1,\nv2,\n",
}
TIMEOUT = 60_000


# --- election officials ----------------------------------------------------------------------------------------------
def test_number_fields_carry_a_real_minimum(admin: FlaskClient) -> None:
    """The quorum and 'N' inputs had min="&#34;1&#34;" (an escaped attribute string): no minimum, no numeric keypad."""
    html = admin.get("/admin/elections/new").get_data(as_text=True)
    assert html.count('min="1" inputmode="numeric"') == 2
    assert "min=\"&#34;" not in html


def test_the_error_summary_names_fields_by_their_labels(app: Flask, admin: FlaskClient) -> None:
    """The summary read 'repeat_password: ...' and 'contests[1].limit: ...': names from the code, not the page."""
    form = {**FORM, "contest_count": "2", "contests[1].title": "Board", "contests[1].kind": "approval",
            "contests[1].options": "A\nB"}
    page = form_post(admin, "/admin/elections/new", form).get_data(as_text=True)
    assert "<strong>Question 2: N</strong>: expected a whole number" in page
    page = form_post(admin, "/admin/elections/new", {**FORM, "quorum": "5"}).get_data(as_text=True)
    assert "<strong>Trustees needed to decrypt</strong>: expected an integer" in page
    changed = form_post(admin, "/admin/password", {"current_password": ADMIN_PASSWORD, "new_password": "a" * 12,
                                                   "repeat_password": "b" * 12}).get_data(as_text=True)
    assert "<strong>New password again</strong>: the two new passwords differ" in changed


def test_a_replaced_invitation_link_says_what_to_do(app: Flask, admin: FlaskClient) -> None:
    """An old link's page said only 'this invitation link is not valid'."""
    invites = flow.create(admin)
    form_post(admin, "/admin/elections/club/invite/1")
    page = app.test_client().get(invites[1])
    assert page.status_code == 404 and "ask the administrator for a new one" in page.get_data(as_text=True)


def test_the_invitation_links_are_shown_beside_the_trustees_names(admin: FlaskClient) -> None:
    """The links page listed 'Trustee 1', 'Trustee 2' only: the official had to map indexes to people."""
    page = form_post(admin, "/admin/elections/new", FORM).get_data(as_text=True)
    assert "Trustee 1 (Tess):" in page and "Trustee 2 (Tom):" in page
    renewed = form_post(admin, "/admin/elections/e1/invite/2").get_data(as_text=True)
    assert "Trustee 2 (Tom):" in renewed and "Tess" not in renewed


def test_a_creation_form_sent_twice_points_to_the_election_and_its_new_links(admin: FlaskClient) -> None:
    """A double click on 'Create the election' showed only "election 'e1' already exists": the one-time invitation
    links of the first submission were lost without a word on how to get others."""
    assert form_post(admin, "/admin/elections/new", FORM).status_code == 200
    again = form_post(admin, "/admin/elections/new", FORM)
    page = " ".join(again.get_data(as_text=True).split())
    assert again.status_code == 422 and "election &#39;e1&#39; already exists" in page
    assert 'make new ones from <a href="/admin/elections/e1">its page</a>' in page
    fresh = form_post(admin, "/admin/elections/new", {**FORM, "election_id": "e2", "quorum": "7"})
    assert "make new ones from" not in fresh.get_data(as_text=True)


def test_two_trustees_of_one_name_are_refused_and_nothing_is_created(admin: FlaskClient) -> None:
    """Two trustees called alike got two indistinguishable invitation links."""
    page = form_post(admin, "/admin/elections/new", {**FORM, "trustees": "Tess\nTom\nTess"})
    assert page.status_code == 422
    assert "&#39;Tess&#39; is already trustee 1" in page.get_data(as_text=True)
    response = api_post(admin, "/api/elections", {"election_id": "e2", "manifest": flow.MANIFEST, "group": "ed25519",
                                                 "trustees": ["A", "B", "A"], "quorum": 2, "voters_csv": flow.VOTERS})
    assert response.status_code == 422 and response.get_json()["errors"][0]["field"] == "trustees[2]"
    assert admin.get("/api/elections/e1").status_code == 404 and admin.get("/api/elections/e2").status_code == 404


def test_a_refused_import_links_back_to_its_election_and_the_sheet_too(admin: FlaskClient) -> None:
    """After a refused CSV the only link went to the public list of elections; the one-time credential sheet had none."""
    form_post(admin, "/admin/elections/new", FORM)
    for url, data in (("/admin/elections/e1/voters", {"voters": "voter_id\nv1\nv1\n"}),
                      ("/admin/elections/e1/public-credentials", {"credentials": "voter_id,public_credential\nv1,zz\n"})):
        refused = form_post(admin, url, data)
        assert refused.status_code == 422
        assert '<a href="/admin/elections/e1">Back to the election</a>' in refused.get_data(as_text=True)
    sheet = form_post(admin, "/admin/elections/e1/credentials").get_data(as_text=True)
    assert 'href="/admin/elections/e1">back to the election</a>' in sheet


def test_issuing_again_when_every_voter_holds_one_says_so(admin: FlaskClient) -> None:
    """The sheet's form sent again (a reload) showed an empty sheet, as if the credentials were lost."""
    form_post(admin, "/admin/elections/new", FORM)
    assert form_post(admin, "/admin/elections/e1/credentials").get_data(as_text=True).count('class="sheet"') == 2
    again = form_post(admin, "/admin/elections/e1/credentials", follow_redirects=True).get_data(as_text=True)
    assert "No credential was issued: every voter already holds one" in again and 'class="sheet"' not in again


def test_replacing_the_voter_list_warns_that_it_voids_the_credentials(admin: FlaskClient) -> None:
    """Replacing the list silently voided the credentials already handed to voters."""
    form_post(admin, "/admin/elections/new", FORM)
    assert "voids every one of them" not in admin.get("/admin/elections/e1").get_data(as_text=True)
    form_post(admin, "/admin/elections/e1/credentials")
    page = " ".join(admin.get("/admin/elections/e1").get_data(as_text=True).split())
    assert "2 voters hold a credential: replacing the list voids every one of them" in page


def test_the_results_page_before_the_tally_says_what_is_missing(app: Flask, admin: FlaskClient) -> None:
    """An open election's results page said the results wait only for the trustees' decryptions."""
    flow.create(admin)
    page = app.test_client().get("/board/club/results").get_data(as_text=True)
    assert "once the election is closed" in page and "once enough trustees have decrypted the tally" not in page


def test_the_tracking_page_before_a_search_shows_no_error(app: Flask, admin: FlaskClient) -> None:
    """Opening the ballot search page answered 422 with 'a tracking code is 8 to 64 characters' before any search."""
    flow.create(admin)
    client = app.test_client()
    blank = client.get("/board/club/track")
    assert blank.status_code == 200 and "field-error" not in blank.get_data(as_text=True)
    empty = client.get("/board/club/track?code=")
    assert empty.status_code == 422 and "a tracking code is 8 to 64 characters" in empty.get_data(as_text=True)


# --- trustees --------------------------------------------------------------------------------------------------------
def test_after_the_ceremony_the_invitation_leads_to_decryption_with_the_phase_said(app: Flask, admin: FlaskClient) -> None:
    """A trustee opening the link after the ceremony landed on a ceremony page offering to start it again."""
    invites = flow.create(admin)
    during = app.test_client()
    during.get(invites[1])
    assert form_post(during, invites[1]).headers["Location"].endswith("/trustee/club/ceremony")
    flow.ceremony(flow.join(app, invites), "club")
    trustee = app.test_client()
    trustee.get(invites[2])
    assert form_post(trustee, invites[2]).headers["Location"].endswith("/trustee/club/decrypt")
    page = trustee.get("/trustee/club/decrypt").get_data(as_text=True)
    assert "the tally is not on the board yet (phase: keys)" in page
    assert re.search(r'<form id="decrypt-form" novalidate hidden>', page)
    ceremony = trustee.get("/trustee/club/ceremony").get_data(as_text=True)
    assert "This key ceremony is complete" in ceremony


# --- voters ----------------------------------------------------------------------------------------------------------
def test_a_booth_not_open_loads_no_script_and_points_to_the_board(app: Flask, admin: FlaskClient) -> None:
    """The booth of an election not open loaded booth.js, which threw on its missing elements."""
    flow.create(admin)
    page = app.test_client().get("/vote/club").get_data(as_text=True)
    assert "This election is not open for voting (phase: setup)" in page
    assert "booth.js" not in page and 'href="/board/club"' in page


@pytest.mark.browser
def test_booth_and_decrypt_page_name_a_voter_s_and_a_trustee_s_mistakes(app: Flask, admin: FlaskClient,
                                                                      tmp_path: Path) -> None:
    """In the browser: a mistyped credential is refused at step 1 (it was accepted, and refused only after the
    choices, with no way back to the credential); a cast after the close shows the reason once (it was followed by
    '(: ' and the same reason); a closed booth raises no script error; a backup file that is not JSON is named (it was
    the parser's 'Unexpected token')."""
    invites = flow.create(admin)
    keys = flow.ceremony(flow.join(app, invites), "club")
    credential = api_post(admin, "/api/elections/club/credentials", {}).get_json()["credentials"][0]["credential"]
    assert api_post(admin, "/api/elections/club/open", {}).status_code == 200
    errors: list[str] = []
    with serve(app) as base, chromium() as browser:
        voter = browser.new_context().new_page()
        open_booth(voter, base, "club")
        voter.fill("#credential", credential[:-1] + ("a" if credential[-1] != "a" else "b"))
        voter.click("#credential-form button")
        voter.wait_for_selector("#problem:not([hidden])", timeout=TIMEOUT)
        assert "not on the election's list" in voter.inner_text("#problem")
        assert voter.is_visible("#step-credential") and not voter.is_visible("#step-choose")
        voter.fill("#credential", credential)
        voter.click("#credential-form button")
        voter.wait_for_selector("#step-choose:not([hidden])", timeout=TIMEOUT)
        assert not voter.is_visible("#problem")
        voter.check("label:has-text('Ann')")
        voter.click("#encrypt")
        voter.wait_for_selector("#step-decide:not([hidden])", timeout=TIMEOUT)
        assert api_post(admin, "/api/elections/club/close", {}).status_code == 200
        voter.click("#cast")
        voter.wait_for_selector("#problem:not([hidden])", timeout=TIMEOUT)
        problem = voter.inner_text("#problem")
        assert problem.count("ballots are accepted only while the election is open") == 1 and "(:" not in problem
        closed = browser.new_context().new_page()
        watch_errors(closed, errors)
        open_booth(closed, base, "club")
        assert "not open for voting" in closed.inner_text("main")
        assert api_post(admin, "/api/elections/club/tally", {}).status_code == 200
        trustee = browser.new_context().new_page()
        watch_errors(trustee, errors)
        trustee.goto(base + invites[1])
        trustee.click("button:has-text('Accept and continue')")
        trustee.wait_for_url(re.compile(r".*/decrypt$"))
        not_json = tmp_path / "notes.json"
        not_json.write_text("my passphrase is in my head", encoding="utf-8")
        trustee.set_input_files("#backup", str(not_json))
        trustee.fill("#passphrase", "trustee passphrase")
        trustee.click("#go")
        trustee.wait_for_selector("#problem:not([hidden])", timeout=TIMEOUT)
        assert "backup file: this is not a Quorum backup (not JSON)" in trustee.inner_text("#problem")
        backup = tmp_path / "trustee-1.json"  # a real backup, opened with another passphrase than its own
        backup.write_text(json.dumps(keystore_browser.seal(keys[1].to_json(), "the ceremony passphrase")), encoding="utf-8")
        trustee.set_input_files("#backup", str(backup))
        trustee.fill("#passphrase", "another passphrase")
        trustee.click("#go")
        trustee.wait_for_selector("#problem:has-text('does not open')", timeout=TIMEOUT)
        assert ("passphrase: it does not open this backup file (use the passphrase you chose at the key ceremony)"
                in trustee.inner_text("#problem"))
    assert not errors, "\n".join(errors)


# --- the command line ------------------------------------------------------------------------------------------------
def test_quorum_vote_names_a_missing_credential_file_and_an_unreachable_server(tmp_path: Path,
                                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """'[Errno 2] No such file or directory' named no option; '[Errno 111] Connection refused' named no server."""
    with socket.socket() as probe:  # a port nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    assert main(["vote", url, "club", "--credential", str(tmp_path / "missing.txt"), "--choose", "chair=ann"]) == 2
    assert "quorum vote: --credential " in capsys.readouterr().err
    credential = tmp_path / "credential.txt"
    credential.write_text(new_private_credential() + "\n", encoding="utf-8")
    assert main(["vote", url, "club", "--credential", str(credential), "--choose", "chair=ann", "--no-ledger"]) == 1
    assert f"cannot reach the server at {url}/api" in capsys.readouterr().err
