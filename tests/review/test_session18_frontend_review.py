"""Session 18: adversarial review of what a browser shows and runs (web/templates/, web/static/js/, web/security.py,
web/sri.py): DESIGN.md security rules 4-5 and ATTACKS.md row 18 (server-delivered client code; XSS).

Checked and sound (one passing test below adds the hostile-value rendering coverage tests/web/ lacked): every value
that reaches a page (manifest and contest titles, option labels, trustee names, voter ids, election ids, error
messages, the ?code= query of the tracker search, the admin sign-in's ?next=) is escaped by Jinja's autoescape; no
script sets innerHTML/outerHTML/insertAdjacentHTML or calls eval; the one URL built from server data (the receipt's
track link) keeps a fixed same-origin prefix; every script and the stylesheet carry integrity; the CSP has no
'unsafe-inline', no inline handler or style, frame-ancestors 'none' and X-Frame-Options DENY; the Benaloh check
names the choices by the labels of the base-hash-checked manifest.

Findings, all fixed in the same session (each test's docstring says what failed before):
- the booth's choice form (option labels and the option id each label submits) comes from the server-rendered HTML,
  which neither SRI nor the booth hash covers, and booth.js encrypts whatever input the voter ticks without checking
  its label against the base-hash-checked manifest it loads itself: a page with two labels swapped encrypts the
  other candidate (found only if this voter challenges and reads the check closely);
- the trustee's ceremony page generates its secret polynomial with the group, n, k and context of the relay's answer,
  never checked against the signed setup entry on the board (which fixes them): a server that says k=1 makes every
  trustee deal its whole secret to every other one, so that a single trustee (with the server) holds the election
  key, and the page never even shows the trustee the quorum it is dealing for;
- the booth page shows the hash of the scripts served now, never whether it equals the booth hash published in this
  election's setup entry: a voter is not told when the code that encrypts their vote is not the code the election
  published (the board page does compare them).

Noted, not tested here: the trustee's recount (web/static/js/trustee/tally.js) checks the chain, the board's
signatures and each counted ballot's credential signature, but not the ballots' validity proofs, so a server that
kept server-issued private credentials can sign a ballot that cancels the others and have one voter's ballot
decrypted (the verifier flags it afterwards); and the booth (booth/election.js loadContext) checks only the base
hash's self-consistency, not the board's signatures nor the key ceremony's transcript (the CLI client re-adjudicates).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from flask import Flask, render_template
from flask.testing import FlaskClient

from tests.web import flow
from tests.web.conftest import admin, api_post, app, form_post  # noqa: F401  (fixtures)
from tests.web.live import chromium, open_booth, serve, watch_errors
from threshold import dkg
from threshold.groups import get_group

TIMEOUT = 60_000
XSS = ["<script>alert(1)</script>", "\"><img src=x onerror=alert(2)>", "</label><svg onload=alert(3)>"]
RAW = re.compile(r"<script>alert|<img src=x|<svg onload|<svg/onload|<b onmouseover", re.I)


def _open_club(app: Flask, admin: FlaskClient) -> list[dict[str, str]]:  # noqa: F811
    """Election 'club' (flow.MANIFEST: chair Ann/Bob/Cy, and a referendum) open, with server-issued credentials."""
    flow.ceremony(flow.join(app, flow.create(admin)), "club")
    issued = api_post(admin, "/api/elections/club/credentials", {}).get_json()["credentials"]
    assert api_post(admin, "/api/elections/club/open", {}).status_code == 200
    return issued


# --- passing: hostile values are text on every page that shows them ----------------------------------------------
def test_hostile_titles_labels_names_and_voter_ids_are_escaped_on_every_page(app: Flask, admin: FlaskClient) -> None:  # noqa: F811
    """Manifest and contest titles, option labels, trustee names and voter ids holding markup are shown as text by the
    booth, the board, the results, the trustee's invitation, the admin's election page, the credential sheet and the
    audit log; and the tracker search's ?code= is not reflected raw."""
    manifest = {"title": XSS[0], "contests": [
        {"id": "c", "title": XSS[1], "kind": "plurality",
         "options": [{"id": "a", "label": XSS[2]}, {"id": "b", "label": "<b onmouseover=alert(4)>B</b>"}]},
        {"id": "r", "title": XSS[0], "kind": "referendum"}]}
    voters = "voter_id,email\n<svg/onload=alert(5)>,\nv2,\n"
    response = api_post(admin, "/api/elections", {"election_id": "x", "manifest": manifest, "group": "ed25519",
                                                  "trustees": [XSS[0], XSS[1], XSS[2]], "quorum": 2,
                                                  "voters_csv": voters})
    assert response.status_code == 201, response.get_json()
    invites = {int(i): "/" + u.split("/", 3)[3] for i, u in response.get_json()["invites"].items()}
    pages = {"join": app.test_client().get(invites[1]).get_data(as_text=True)}
    flow.ceremony(flow.join(app, invites), "x")
    sheet = form_post(admin, "/admin/elections/x/credentials", {})
    pages["sheet"] = sheet.get_data(as_text=True)
    assert api_post(admin, "/api/elections/x/open", {}).status_code == 200
    anyone = app.test_client()
    pages["booth"] = anyone.get("/vote/x").get_data(as_text=True)
    pages["board"] = anyone.get("/board/x").get_data(as_text=True)
    pages["track"] = anyone.get("/board/x/track?code=%22%3E%3Cimg%20src=x%20onerror=alert(6)%3E").get_data(as_text=True)
    pages["results"] = anyone.get("/board/x/results").get_data(as_text=True)
    pages["admin"] = admin.get("/admin/elections/x").get_data(as_text=True)
    pages["audit"] = admin.get("/admin/audit").get_data(as_text=True)
    assert 'id="ballot"' in pages["booth"]  # the choices are built by booth.js from the checked manifest, as text
    assert "&lt;svg/onload=alert(5)&gt;" in pages["admin"] and "&lt;svg/onload=alert(5)&gt;" in pages["sheet"]
    for name, html in pages.items():
        assert not RAW.search(html), (name, RAW.search(html))
    with app.test_request_context("/board/x/results"):  # the decrypted results' chart and table (SVG text and desc)
        html = render_template("board/results.html", election_id="x", title=XSS[0], tallied=True, contests=[
            {"id": "c", "title": XSS[1], "rows": [{"label": XSS[2], "count": 1, "width": 100.0},
                                                {"label": "<b onmouseover=alert(4)>B</b>", "count": 0, "width": 0.0}]}])
    assert not RAW.search(html) and "&lt;/label&gt;&lt;svg" in html


# --- the booth page and the published booth hash -------------------------------------------------------------------
def test_the_booth_page_says_when_its_scripts_differ_from_the_ones_the_election_published(
        app: Flask, admin: FlaskClient) -> None:  # noqa: F811
    """Failed before (fixed in session 18): web/templates/voter/booth.html shows only the hash of the scripts served
    now (booth_hash[:16]), never whether it equals the booth_hash published in this election's setup entry
    (board/election.html does compare them): after a deployment that changed the booth, a voter encrypts with
    code that is not the code the election published and the page that does the encrypting never says so
    (ATTACKS row 18)"""
    _open_club(app, admin)
    published = admin.get("/api/elections/club/entries?type=setup").get_json()["entries"][0]["payload"]["booth_hash"]
    app.extensions["quorum"].booth.integrity["/static/js/booth.js"] = "sha384-changed"  # new scripts deployed since
    assert app.extensions["quorum"].booth.booth_hash != published
    html = app.test_client().get("/vote/club").get_data(as_text=True)
    assert published in html and 'id="booth-hash-mismatch"' in html


# --- browser: the booth's labels and the trustee's ceremony parameters ---------------------------------------------
@pytest.mark.browser
def test_the_booth_does_not_encrypt_under_labels_that_differ_from_the_checked_manifest(
        app: Flask, admin: FlaskClient) -> None:  # noqa: F811
    """Failed before (fixed in session 18): web/templates/voter/booth.html renders the option labels and the option id
    each one submits, and web/static/js/booth.js choices() encrypts the ticked inputs' values without checking
    the page's labels against the base-hash-checked manifest that loadContext() loads (booth/election.js): the
    HTML is covered neither by SRI nor by the booth hash, so a page served with two labels swapped (after the
    booth hash is published, with every script intact) makes a voter who ticks 'Ann' cast a vote for Bob; only a
    challenge read closely shows it"""
    credential = _open_club(app, admin)[0]["credential"]
    errors: list[str] = []
    posted: list[dict[str, Any]] = []
    with serve(app) as base, chromium() as browser:
        page = browser.new_page()
        watch_errors(page, errors)

        served: list[str] = []

        def relabel(route: Any) -> None:  # the HTML only: every script is served as published
            response = route.fetch()
            html = response.text()
            served.append(html)
            html = html.replace(">Ann</label>", ">@@</label>").replace(">Bob</label>", ">Ann</label>").replace(
                ">@@</label>", ">Bob</label>")
            route.fulfill(response=response, body=html)

        page.route(f"{base}/vote/club", relabel)
        page.on("request", lambda r: posted.append(json.loads(r.post_data)) if r.method == "POST"
                and r.url.endswith("/api/elections/club/challenges") else None)
        open_booth(page, base, "club")
        page.fill("#credential", credential)
        page.click("#credential-form button")
        page.wait_for_selector("#step-choose:not([hidden]), #problem:not([hidden])", timeout=TIMEOUT)
        refused = page.is_visible("#problem")
        if not refused:
            page.check("fieldset[data-contest='chair'] label:has-text('Ann')")
            page.click("#encrypt")
            page.wait_for_selector("#step-decide:not([hidden]), #problem:not([hidden])", timeout=TIMEOUT)
            refused = page.is_visible("#problem")
        if not refused:
            page.click("#challenge")
            page.wait_for_selector("#step-checked:not([hidden]), #problem:not([hidden])", timeout=TIMEOUT)
    assert not [e for e in errors if "integrity" in e], errors  # the scripts ran as published
    # since session 18 the served page holds no choice labels at all (booth.js builds them): nothing to swap
    assert served and ">Ann</label>" not in served[0], "the server's HTML carries the choices again"
    if not refused:
        chair = next(c for c in posted[0]["reveal"] if c["id"] == "chair")
        assert chair["plaintexts"] == [1, 0, 0], f"the voter ticked 'Ann'; the ballot holds {chair['plaintexts']} (ann, bob, cy)"


@pytest.mark.browser
def test_the_ceremony_page_refuses_parameters_that_differ_from_the_setup_entry(
        app: Flask, admin: FlaskClient) -> None:  # noqa: F811
    """Failed before (fixed in session 18): web/static/js/ceremony.js paramsOf() takes group, n, k and context from the
    relay's answer (GET .../ceremony) and Trustee.create() deals under them, never checking them against the
    signed setup entry (trustees, quorum, group; context = encode('quorum/election', sha256(setup))): a server
    that answers k=1 makes every trustee deal a constant polynomial, i.e. send its whole secret to every other
    trustee, so one trustee with the server can decrypt every ballot; the page does not even show the trustee
    the quorum it deals for"""
    invites = flow.create(admin)
    setup = admin.get("/api/elections/club/entries?type=setup").get_json()["entries"][0]["payload"]
    assert setup["quorum"] == 2 and setup["trustees"] == 3
    errors: list[str] = []
    announced: list[str] = []
    sent: dict[str, Any] = {}
    state = app.test_client().get("/api/elections/club/ceremony").get_json()
    params = dkg.CeremonyParams(get_group(state["group"]), state["n"], 1, bytes.fromhex(state["context"]))
    others = [dkg.Trustee(params, i).announce().to_json(params.group) for i in (2, 3)]  # the colluding trustees
    with serve(app) as base, chromium() as browser:
        page = browser.new_context().new_page()
        watch_errors(page, errors)

        def lower_the_quorum(route: Any) -> None:  # a dishonest relay: k=1, and the deal round once all announced
            if route.request.method != "GET":
                return route.continue_()
            response = route.fetch()
            lie = response.json()
            lie["k"] = 1
            if "announce" in sent:
                lie["round"], lie["announcements"] = "deal", [sent["announce"], *others]
            route.fulfill(response=response, body=json.dumps(lie))

        def accept(route: Any) -> None:  # the dishonest relay takes every message (the honest one refuses an
            announced.append(route.request.url)  # announcement whose proof is bound to another k)
            sent[route.request.url.rsplit("/", 1)[1]] = json.loads(route.request.post_data)
            route.fulfill(status=200, content_type="application/json", body="{}")

        page.route(f"{base}/api/elections/club/ceremony", lower_the_quorum)
        page.route(f"{base}/api/elections/club/ceremony/*", accept)
        page.goto(base + invites[1])
        page.click("button:has-text('Accept and continue')")
        page.wait_for_url(re.compile(r".*/ceremony$"))
        page.fill("#passphrase", "a passphrase of the trustee")
        page.fill("#passphrase2", "a passphrase of the trustee")
        page.click("#start")
        try:
            page.wait_for_selector("#problem:not([hidden])", timeout=20_000)
        except Exception:  # noqa: BLE001  (playwright's TimeoutError): the page went on under k=1
            pass
        problem = page.inner_text("#problem") if page.is_visible("#problem") else ""
    deal = sent.get("deal")
    assert deal is not None or problem, (announced, errors)  # refused with a reason, or dealt under the setup's k
    assert deal is None or len(deal["commitments"]) == setup["quorum"], (
        f"the trustee dealt a polynomial of degree {len(deal['commitments']) - 1}: each share it sent is its secret")
    assert problem and not announced, (problem, announced, errors)
