"""The key ceremony page (web/static/js/ceremony.js) in Debian's chromium when a qualified trustee withholds its
reveal: trustees 1 and 3 run in the browser, trustee 2 is a Python client that deals honestly and then keeps its
reveal back; the administrator proceeds without it, the browsers open their shares of trustee 2's polynomial,
trustee 2 signs, and the published key is the one trustee 2's reveal would have given. The browsers' QUAL and hash
of rounds 1-3 are the relay's, and the outcome they sign is of that qualification.

With 4 trustees (k = 2) the open round ends once 2 trustees have opened: a browser trustee whose opening arrives
after that is refused by the relay, and simply goes on to finish and sign."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlparse

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.web import flow
from tests.web.conftest import api_post
from tests.web.live import chromium, serve, watch_errors
from threshold import dkg
from threshold.groups import get_group
from voting.context import parse_ceremony, parse_setup
from web.ceremony import qualification_json

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TIMEOUT = 120_000
PASSPHRASE = "a browser trustee passphrase"


def _wait_for(client: FlaskClient, url: str, ready: Any, what: str, seconds: float = 120, page: Any = None) -> dict[str, Any]:
    """Poll the relay until `ready(state)`; with a page, wait through Playwright so that its route handlers run."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        state = client.get(url).get_json()
        if ready(state):
            return state
        if page is not None:
            page.wait_for_timeout(200)
        else:
            time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}: round {state['round']}")


def _python_trustees_until_reveal(clients: dict[int, FlaskClient], url: str,
                                  page: Any = None) -> tuple[dict[int, dkg.Trustee], dict[int, dkg.Confirmation]]:
    """Python trustees take part in rounds announce, deal, complain and confirm as the browsers reach them, then each
    checks every qualified trustee's confirmation of its QUAL (Trustee.reveal, whether it publishes its reveal or
    not), which is the relay's; the trustees and the confirmations."""
    first = next(iter(clients.values()))
    state = first.get(url).get_json()
    params = dkg.CeremonyParams(get_group(state["group"]), state["n"], state["k"], bytes.fromhex(state["context"]))
    g = params.group
    us = {i: dkg.Trustee(params, i) for i in clients}
    for i, me in us.items():
        assert api_post(clients[i], f"{url}/announce", me.announce().to_json(g)).status_code == 200
    state = _wait_for(first, url, lambda s: s["round"] == "deal", "the deal round", page=page)
    announcements = {a["index"]: dkg.Announcement.from_json(params, a) for a in state["announcements"]}
    for i, me in us.items():
        assert api_post(clients[i], f"{url}/deal", me.deal(announcements).to_json(g)).status_code == 200
    state = _wait_for(first, url, lambda s: s["round"] == "complain", "the complain round", page=page)
    messages = {m["index"]: dkg.DealerMessage.from_json(params, m) for m in state["dealers"]}
    for i, me in us.items():
        complaints = [c.to_json(g) for c in me.check_shares(messages)]
        assert api_post(clients[i], f"{url}/complain", {"index": i, "complaints": complaints}).status_code == 200
    state = _wait_for(first, url, lambda s: s["round"] == "confirm", "the confirm round", page=page)
    complaints = [dkg.Complaint.from_json(params, c) for m in state["complaints"] for c in m["complaints"]]
    for i, me in us.items():
        confirmation = me.confirm(messages, complaints)
        assert state["qualification"] == qualification_json(me.qualification)  # with the hash of rounds 1-3
        assert api_post(clients[i], f"{url}/confirm", confirmation.to_json(g)).status_code == 200
    state = _wait_for(first, url, lambda s: s["round"] == "reveal", "the reveal round", page=page)
    confirmations = {c["index"]: dkg.Confirmation.from_json(params, c) for c in state["confirmations"]}
    for me in us.values():
        me.reveal(confirmations)
    return us, confirmations


def _start(browser: Any, base: str, invite: str, errors: list[str]) -> Any:
    """A trustee's page in its own browser context, the ceremony started with its passphrase."""
    page = browser.new_context(accept_downloads=True).new_page()
    watch_errors(page, errors)
    page.goto(base + invite)
    page.click("button:has-text('Accept and continue')")
    page.wait_for_selector("#start-form")
    page.fill("#passphrase", PASSPHRASE)
    page.fill("#passphrase2", PASSPHRASE)
    page.click("#start")
    return page


def _resume(page: Any) -> None:
    """The trustee reloads its page mid-ceremony and types its passphrase again: the page opens the progress it
    saved and keeps sealing it under that key (keystore.reopen: one argon2id derivation)."""
    saved = page.evaluate("Object.keys(localStorage).filter((k) => k.startsWith('quorum-ceremony:'))")
    assert len(saved) == 1, saved
    page.reload()
    page.wait_for_selector("#start-form")
    page.fill("#passphrase", PASSPHRASE)
    page.fill("#passphrase2", PASSPHRASE)
    page.click("#start")


def test_browsers_open_the_shares_of_a_trustee_that_withholds_its_reveal(app: Flask, admin: FlaskClient) -> None:
    invites = flow.create(admin, "withheld")
    python_trustee = flow.join(app, {2: invites[2]})[2]
    url = "/api/elections/withheld/ceremony"
    errors: list[str] = []
    with serve(app) as base, chromium() as browser:
        pages = {index: _start(browser, base, invites[index], errors) for index in (1, 3)}
        python_trustees, confirmations = _python_trustees_until_reveal({2: python_trustee}, url)
        me = python_trustees[2]
        state = _wait_for(python_trustee, url, lambda s: [r["index"] for r in s["reveals"]] == [1, 3], "the browsers' reveals")
        assert state["round"] == "reveal" and state["qualification"]["qualified"] == [1, 2, 3]
        response = api_post(admin, f"{url}/close-reveals", {})
        assert response.status_code == 200 and response.get_json()["reconstruct"] == [2]
        state = _wait_for(python_trustee, url, lambda s: s["round"] == "sign", "the browsers' openings")
        assert [o["index"] for o in state["openings"]] == [1, 3]
        params = me.params
        result = dkg.CeremonyResult.from_json(params, state["result"])
        assert result.reconstructed == (2,)
        assert result.qualification_hash == me.qualification.transcript_hash
        transcript = flow.transcript_of(params, state)
        me.finish(transcript)
        body = {"index": 2, "signature": me.sign(transcript).to_json(params.group)}
        assert api_post(python_trustee, f"{url}/sign", body).status_code == 200
        for page in pages.values():
            page.wait_for_selector("#done:not([hidden])", timeout=TIMEOUT)
            page.wait_for_selector("#status:has-text('key ceremony is complete')", timeout=TIMEOUT)
            # the fingerprint trustees compare out of band is the hash of rounds 1-3 the Python trustee holds
            assert page.text_content("#qual-hash") == me.qualification.transcript_hash.hex()[:16]
    assert not errors, "\n".join(errors)

    entries = {e["type"]: e["payload"] for e in admin.get("/api/elections/withheld/entries").get_json()["entries"]}
    published = parse_ceremony(parse_setup(entries["setup"]), entries["key_ceremony"])
    g = params.group
    announcements = {a["index"]: dkg.Announcement.from_json(params, a) for a in entries["key_ceremony"]["announcements"]}
    messages = {m["index"]: dkg.DealerMessage.from_json(params, m) for m in entries["key_ceremony"]["dealers"]}
    complaints = [dkg.Complaint.from_json(params, c) for c in entries["key_ceremony"]["complaints"]]
    reveals = {r["index"]: dkg.Reveal.from_json(params, r) for r in entries["key_ceremony"]["reveals"]}
    revealing = dkg.adjudicate(params, announcements, messages, complaints, {**reveals, 2: me.reveal(confirmations)}, {})
    assert g.to_hex(published.public_key.element) == g.to_hex(revealing.public_key)
    assert published.verification_keys == revealing.verification_keys


def test_a_browser_trustee_whose_opening_is_not_needed_goes_on_to_sign(app: Flask, admin: FlaskClient) -> None:
    """4 trustees, k = 2: trustee 1 in the browser, 2-4 Python clients. Trustee 2 withholds its reveal; when the
    browser posts its opening, trustees 3 and 4 have just opened (held back by a route until then): the open round
    is over, the relay refuses the browser's opening, and the browser goes on to finish and sign. The browser's
    trustee reloads its page once every trustee has confirmed: it resumes from the progress it saved."""
    body = {"election_id": "four", "manifest": flow.MANIFEST, "group": "ed25519", "trustees": ["T1", "T2", "T3", "T4"],
            "quorum": 2, "voters_csv": flow.VOTERS}
    response = api_post(admin, "/api/elections", body)
    assert response.status_code == 201, response.get_json()
    invites = {int(i): urlparse(u).path for i, u in response.get_json()["invites"].items()}
    clients = flow.join(app, {i: invites[i] for i in (2, 3, 4)})
    url = "/api/elections/four/ceremony"
    errors: list[str] = []
    held: list[int] = []
    with serve(app) as base, chromium() as browser:
        page = _start(browser, base, invites[1], errors)
        us, confirmations = _python_trustees_until_reveal(clients, url, page=page)
        params, g = us[2].params, us[2].params.group
        _resume(page)

        def python_trustees_open_first(route: Any) -> None:
            """Trustees 3 and 4 open before the browser's opening reaches the relay: 2 of them end the round."""
            state = clients[3].get(url).get_json()
            messages = {m["index"]: dkg.DealerMessage.from_json(params, m) for m in state["dealers"]}
            reveals = {r["index"]: dkg.Reveal.from_json(params, r) for r in state["reveals"]}
            for i in (3, 4):
                opening = us[i].open(messages, reveals)
                assert sorted(opening.openings) == [2]
                assert api_post(clients[i], f"{url}/open", opening.to_json(g)).status_code == 200
            held.append(1)
            route.continue_()

        page.route("**/ceremony/open", python_trustees_open_first)
        for i in (3, 4):
            assert api_post(clients[i], f"{url}/reveal", us[i].reveal(confirmations).to_json(g)).status_code == 200
        _wait_for(clients[3], url, lambda s: [r["index"] for r in s["reveals"]] == [1, 3, 4], "the browser's reveal", page=page)
        response = api_post(admin, f"{url}/close-reveals", {})
        assert response.status_code == 200 and response.get_json()["reconstruct"] == [2]
        state = _wait_for(clients[3], url, lambda s: s["round"] == "sign" and 1 in s["signed"], "the browser's signature",
                          page=page)
        assert held == [1], "the browser did not try to open"
        assert [o["index"] for o in state["openings"]] == [3, 4]
        result = dkg.CeremonyResult.from_json(params, state["result"])
        assert result.reconstructed == (2,) and result.qualification_hash == us[2].qualification.transcript_hash
        transcript = flow.transcript_of(params, state)
        for i, me in us.items():
            me.finish(transcript)
            assert api_post(clients[i], f"{url}/sign", {"index": i, "signature": me.sign(transcript).to_json(g)}).status_code == 200
        page.wait_for_selector("#done:not([hidden])", timeout=TIMEOUT)
        page.wait_for_selector("#status:has-text('key ceremony is complete')", timeout=TIMEOUT)
    refused = "the server responded with a status of 409"  # the late opening, which the page copes with
    assert not [e for e in errors if refused not in e], "\n".join(errors)
    assert len([e for e in errors if refused in e]) <= 1, "\n".join(errors)
    entries = {e["type"]: e["payload"] for e in admin.get("/api/elections/four/entries").get_json()["entries"]}
    published = parse_ceremony(parse_setup(entries["setup"]), entries["key_ceremony"])
    assert g.to_hex(published.public_key.element) == g.to_hex(result.public_key)
