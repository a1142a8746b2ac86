"""Subresource Integrity of the booth (ATTACKS.md row 18): every script and module carries its sha384, the booth
hash is published, and a browser refuses a swapped script."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

import pytest
from flask import Flask

from tests.web import flow
from tests.web.conftest import api_post
from tests.web.live import chromium, open_booth, serve, watch_errors
from web.sri import STATIC, BoothAssets

SCRIPTS = STATIC / "js"


def _sri(path: Path) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(path.read_bytes()).digest()).decode()


def _open_election(app: Flask, admin) -> None:  # type: ignore[no-untyped-def]
    trustees = flow.join(app, flow.create(admin))
    flow.ceremony(trustees, "club")
    api_post(admin, "/api/elections/club/credentials", {})
    api_post(admin, "/api/elections/club/open", {})


def test_booth_page_pins_every_module(app: Flask, admin) -> None:  # type: ignore[no-untyped-def]
    _open_election(app, admin)
    html = admin.get("/vote/club").get_data(as_text=True)
    tag = re.search(r'<script type="module" src="(/static/js/booth.js)" integrity="([^"]+)">', html)
    assert tag and tag.group(2) == _sri(SCRIPTS / "booth.js")
    import_map = json.loads(re.search(r'<script type="importmap" nonce="[^"]+">(.*?)</script>', html, re.S).group(1))
    files = sorted(SCRIPTS.rglob("*.js"))
    assert import_map["integrity"] == {f"/static/js/{p.relative_to(SCRIPTS).as_posix()}": _sri(p) for p in files}
    assert any("/crypto/" in k for k in import_map["integrity"])
    assert '<a id="vote-again" href="/vote/club">vote again</a>' in html  # the receipt offers the re-vote it mentions


def test_booth_hash_is_published(app: Flask) -> None:
    assets = BoothAssets.scan()
    client = app.test_client()
    assert client.get("/api/booth").get_json() == {"booth_hash": assets.booth_hash, "integrity": assets.integrity}
    assert assets.booth_hash in client.get("/verify").get_data(as_text=True)
    text = json.dumps(assets.integrity, sort_keys=True, separators=(",", ":"))
    assert assets.booth_hash == hashlib.sha256(text.encode()).hexdigest()


def test_verify_page_installs_the_verifier_from_a_trusted_source_copy(app: Flask) -> None:
    """The auditor's instructions work as written: `make install` from the source (quorum-suite is not on a package
    index), then the verifier it installs; nothing to fetch from this server."""
    html = app.test_client().get("/verify").get_data(as_text=True)
    assert "pip install quorum-suite" not in html
    assert "make install\n.venv/bin/quorum verify record.zip" in html
    assert (Path(__file__).resolve().parents[2] / "Makefile").read_text().count("\ninstall:") == 1


@pytest.mark.browser
def test_browser_refuses_a_swapped_module(app: Flask, admin) -> None:  # type: ignore[no-untyped-def]
    """The published hash of one module no longer matches the file served: the booth never runs."""
    _open_election(app, admin)
    assets = app.extensions["quorum"].booth
    assets.integrity["/static/js/crypto/bigint.js"] = "sha384-" + base64.b64encode(b"\0" * 48).decode()
    errors: list[str] = []
    with serve(app) as base, chromium() as browser:
        page = browser.new_page()
        watch_errors(page, errors)
        open_booth(page, base, "club")
        page.wait_for_load_state("networkidle")
        assert page.is_visible("#loading")
    assert any("integrity" in e for e in errors), errors


def test_created_election_publishes_the_served_booth_hash(app: Flask, admin) -> None:  # type: ignore[no-untyped-def]
    """Issue 4 item 8: the booth hash goes into the setup entry (so the base hash binds it) and the board page
    shows it, with its seq, beside the hash of the scripts served now."""
    flow.create(admin)
    served = app.extensions["quorum"].booth.booth_hash
    setup = admin.get("/api/elections/club/entries?type=setup").get_json()["entries"][0]
    assert setup["seq"] == 0 and setup["payload"]["booth_hash"] == served
    page = app.test_client().get("/board/club").get_data(as_text=True)
    assert f"published on the board at seq 0: <code class=\"mono\" id=\"published-booth-hash\">{served}</code>" in page
    assert 'id="booth-hash-match"' in page
    app.extensions["quorum"].booth.integrity["/static/js/booth.js"] = "sha384-changed"  # new scripts deployed since
    page = app.test_client().get("/board/club").get_data(as_text=True)
    assert 'id="booth-hash-mismatch"' in page and served in page
