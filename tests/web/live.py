"""A live server in a thread and Debian's chromium through Playwright, for the browser tests."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "screenshots"


@contextmanager
def serve(app: Flask) -> Iterator[str]:
    """Serve the app on a free loopback port (threaded) until the block ends; yields the base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def voting_link(base: str, election_id: str) -> str:
    """The booth's address as the officials publish it once the election is open: the election's fingerprint (base
    hash, read here from the public API) in its fragment."""
    with urllib.request.urlopen(f"{base}/api/elections/{election_id}") as answer:
        pinned = json.load(answer)["base_hash"]
    return f"{base}/vote/{election_id}#base-hash={pinned}"


def open_booth(page: Any, base: str, election_id: str) -> None:
    """Load the booth afresh from its voting link (from a page already on it, going to the same link would only be a
    fragment navigation, which reloads nothing)."""
    page.goto("about:blank")
    page.goto(voting_link(base, election_id))


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's chromium, headless, launched by Playwright (skipped when either is missing)."""
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (make system-deps)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def shoot(page: Any, name: str) -> None:
    """Save a full-page screenshot for review under ./screenshots/ (git-ignored)."""
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def watch_errors(page: Any, errors: list[str]) -> None:
    """Collect every script error, CSP or SRI refusal and failed request of a page."""
    page.on("pageerror", lambda exc: errors.append(f"{page.url}: page error {exc}"))
    page.on("console", lambda msg: errors.append(f"{page.url}: console {msg.text}") if msg.type == "error" else None)


def assert_accessible_form(page: Any) -> None:
    """Every form control has a label (label[for] its id), the page has one h1 and a main landmark."""
    assert len(page.query_selector_all("h1")) == 1, page.url
    assert page.query_selector("main#main") is not None, page.url
    for control in page.query_selector_all("input:not([type=hidden]), select, textarea"):
        ident = control.get_attribute("id")
        assert ident, f"{page.url}: a form control without id"
        assert page.query_selector(f"label[for='{ident}']") is not None, f"{page.url}: no label for #{ident}"
