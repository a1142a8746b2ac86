"""The booth's pin on the election: it encrypts only for the election whose base hash the voter brings (the voting
link's fragment, or pasted), so that a server holding the board key cannot swap in an election of its own."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.web import flow
from tests.web.conftest import admin, api_post, app  # noqa: F401  (fixtures)
from tests.web.live import chromium, open_booth, serve, voting_link, watch_errors

pytestmark = pytest.mark.browser
TIMEOUT = 30_000
SETTLED = "#step-choose:not([hidden]), #problem:not([hidden])"


def _open(app: Flask, admin: FlaskClient) -> str:  # noqa: F811
    """Election 'club' open; returns voter 1's private credential."""
    flow.ceremony(flow.join(app, flow.create(admin)), "club")
    issued = api_post(admin, "/api/elections/club/credentials", {}).get_json()["credentials"]
    assert api_post(admin, "/api/elections/club/open", {}).status_code == 200
    return issued[0]["credential"]


def _continue(page, credential: str, pin: str | None = None) -> str:
    """Enter the credential (and the pin, if given) and continue; returns the problem shown, '' if none."""
    if pin is not None:
        page.fill("#base-hash", pin)
    page.fill("#credential", credential)
    page.click("#credential-form button")
    page.wait_for_selector(SETTLED, timeout=TIMEOUT)
    return page.inner_text("#problem") if page.is_visible("#problem") else ""


@contextmanager
def _booth_page(app: Flask) -> Iterator[tuple[str, Any, str]]:
    """A live server and a page on its booth, without the fingerprint; yields (base URL, page, the real fingerprint).
    No script error may occur on the page."""
    errors: list[str] = []
    with serve(app) as base, chromium() as browser:
        page = browser.new_page()
        watch_errors(page, errors)
        page.goto(f"{base}/vote/club")
        yield base, page, voting_link(base, "club").split("#base-hash=")[1]
    assert not errors, errors


def test_the_booth_needs_the_fingerprint_and_refuses_another(app: Flask, admin: FlaskClient) -> None:  # noqa: F811
    credential = _open(app, admin)
    with _booth_page(app) as (base, page, pinned):  # no fragment: the booth cannot tell which election the voter means
        assert page.input_value("#base-hash") == ""
        assert "enter the election fingerprint" in _continue(page, credential)
        assert not page.is_visible("#step-choose")

        assert "64 characters 0-9 and a-f" in _continue(page, credential, pinned[:-1] + "g")
        other = format(int(pinned, 16) ^ 1, "064x")
        problem = _continue(page, credential, other)
        assert f"fingerprint is {pinned}, not the one you were given" in problem, problem

        # pasted as printed (spaces, capitals): accepted
        spaced = " ".join(pinned[i:i + 8] for i in range(0, 64, 8)).upper()
        assert _continue(page, credential, spaced) == ""
        assert page.is_visible("#step-choose")
        assert page.inner_text("#election-fingerprint") == " ".join(pinned[i:i + 8] for i in range(0, 64, 8))

        open_booth(page, base, "club")  # the voting link fills the field from its fragment
        assert page.input_value("#base-hash") == pinned
        assert _continue(page, credential) == ""


def test_the_receipt_keeps_the_pin_for_a_re_vote(app: Flask, admin: FlaskClient) -> None:  # noqa: F811
    """A voter who pasted the fingerprint gets a 'vote again' link that carries it and reloads the booth."""
    credential = _open(app, admin)
    with _booth_page(app) as (base, page, pinned):
        assert _continue(page, credential, pinned) == ""
        page.click("#ballot label:text-is('Ann')")
        page.click("#encrypt")
        page.wait_for_selector("#step-decide:not([hidden])", timeout=TIMEOUT)
        page.click("#cast")
        page.wait_for_selector("#step-receipt:not([hidden])", timeout=TIMEOUT)
        with page.expect_navigation():
            page.click("#vote-again")
        assert page.url == f"{base}/vote/club#base-hash={pinned}"
        page.wait_for_selector("#loading[hidden]", state="attached", timeout=TIMEOUT)  # the booth's scripts ran
        assert page.is_visible("#step-credential") and page.input_value("#base-hash") == pinned
        assert page.input_value("#credential") == ""  # a fresh booth
