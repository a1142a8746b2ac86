"""The key ceremony page (web/static/js/ceremony.js) in Debian's chromium when a qualified trustee withholds its
reveal: trustees 1 and 3 run in the browser, trustee 2 is a Python client that deals honestly and then keeps its
reveal back; the administrator proceeds without it, the browsers open their shares of trustee 2's polynomial,
trustee 2 signs, and the published key is the one trustee 2's reveal would have given."""

from __future__ import annotations

import time
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.web import flow
from tests.web.conftest import api_post
from tests.web.live import chromium, serve, watch_errors
from threshold import dkg
from threshold.groups import get_group
from voting.context import parse_ceremony, parse_setup

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TIMEOUT = 120_000
PASSPHRASE = "a browser trustee passphrase"


def _wait_for(client: FlaskClient, url: str, ready: Any, what: str, seconds: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        state = client.get(url).get_json()
        if ready(state):
            return state
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}: round {state['round']}")


def _python_trustee_until_reveal(client: FlaskClient, url: str) -> tuple[dkg.Trustee, dict[str, Any]]:
    """Trustee 2 takes part in rounds announce, deal and complain as the browsers reach them."""
    state = client.get(url).get_json()
    params = dkg.CeremonyParams(get_group(state["group"]), state["n"], state["k"], bytes.fromhex(state["context"]))
    g = params.group
    me = dkg.Trustee(params, 2)
    assert api_post(client, f"{url}/announce", me.announce().to_json(g)).status_code == 200
    state = _wait_for(client, url, lambda s: s["round"] == "deal", "the deal round")
    announcements = {a["index"]: dkg.Announcement.from_json(params, a) for a in state["announcements"]}
    assert api_post(client, f"{url}/deal", me.deal(announcements).to_json(g)).status_code == 200
    state = _wait_for(client, url, lambda s: s["round"] == "complain", "the complain round")
    messages = {m["index"]: dkg.DealerMessage.from_json(params, m) for m in state["dealers"]}
    complaints = [c.to_json(g) for c in me.check_shares(messages)]
    assert api_post(client, f"{url}/complain", {"index": 2, "complaints": complaints}).status_code == 200
    return me, _wait_for(client, url, lambda s: s["round"] == "reveal", "the reveal round")


def test_browsers_open_the_shares_of_a_trustee_that_withholds_its_reveal(app: Flask, admin: FlaskClient) -> None:
    invites = flow.create(admin, "withheld")
    python_trustee = flow.join(app, {2: invites[2]})[2]
    url = "/api/elections/withheld/ceremony"
    errors: list[str] = []
    with serve(app) as base, chromium() as browser:
        pages = {}
        for index in (1, 3):
            page = browser.new_context(accept_downloads=True).new_page()
            watch_errors(page, errors)
            page.goto(base + invites[index])
            page.click("button:has-text('Accept and continue')")
            page.wait_for_selector("#start-form")
            page.fill("#passphrase", PASSPHRASE)
            page.fill("#passphrase2", PASSPHRASE)
            page.click("#start")
            pages[index] = page
        me, state = _python_trustee_until_reveal(python_trustee, url)
        state = _wait_for(python_trustee, url, lambda s: [r["index"] for r in s["reveals"]] == [1, 3], "the browsers' reveals")
        assert state["round"] == "reveal" and state["qualification"]["qualified"] == [1, 2, 3]
        response = api_post(admin, f"{url}/close-reveals", {})
        assert response.status_code == 200 and response.get_json()["reconstruct"] == [2]
        state = _wait_for(python_trustee, url, lambda s: s["round"] == "sign", "the browsers' openings")
        assert [o["index"] for o in state["openings"]] == [1, 3]
        params = me.params
        result = dkg.CeremonyResult.from_json(params, state["result"])
        assert result.reconstructed == (2,)
        me.finish(result)
        body = {"index": 2, "signature": me.sign(result).to_json(params.group)}
        assert api_post(python_trustee, f"{url}/sign", body).status_code == 200
        for page in pages.values():
            page.wait_for_selector("#done:not([hidden])", timeout=TIMEOUT)
            page.wait_for_selector("#status:has-text('key ceremony is complete')", timeout=TIMEOUT)
    assert not errors, "\n".join(errors)

    entries = {e["type"]: e["payload"] for e in admin.get("/api/elections/withheld/entries").get_json()["entries"]}
    published = parse_ceremony(parse_setup(entries["setup"]), entries["key_ceremony"])
    g = params.group
    announcements = {a["index"]: dkg.Announcement.from_json(params, a) for a in entries["key_ceremony"]["announcements"]}
    messages = {m["index"]: dkg.DealerMessage.from_json(params, m) for m in entries["key_ceremony"]["dealers"]}
    complaints = [dkg.Complaint.from_json(params, c) for c in entries["key_ceremony"]["complaints"]]
    reveals = {r["index"]: dkg.Reveal.from_json(params, r) for r in entries["key_ceremony"]["reveals"]}
    qualification = dkg.qualify(params, announcements, messages, complaints)
    revealing = dkg.adjudicate(params, announcements, messages, complaints, {**reveals, 2: me.reveal(qualification)}, {})
    assert g.to_hex(published.public_key.element) == g.to_hex(revealing.public_key)
    assert published.verification_keys == revealing.verification_keys
