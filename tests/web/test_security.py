"""Security middleware: CSP without unsafe-inline, frame-ancestors 'none', CSRF on forms and API writes, cookie flags (ATTACKS.md row 18)."""

from __future__ import annotations

import re
from pathlib import Path

from flask import Flask

from tests.web.conftest import csrf_of, make_config
from web import create_app


def test_headers_on_every_page(app: Flask) -> None:
    client = app.test_client()
    for path in ("/", "/verify", "/vote/", "/admin/login", "/api/openapi.json"):
        response = client.get(path)
        csp = response.headers["Content-Security-Policy"]
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert "frame-ancestors 'none'" in csp
        assert re.search(r"script-src 'self' 'nonce-[A-Za-z0-9_-]{20,}'", csp)
        assert "style-src 'self'" in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert "Strict-Transport-Security" not in response.headers


def test_nonce_changes_per_response(app: Flask) -> None:
    client = app.test_client()
    a = client.get("/").headers["Content-Security-Policy"]
    b = client.get("/").headers["Content-Security-Policy"]
    assert a != b


def test_no_inline_script_or_style_in_templates() -> None:
    """Every script element is external (with integrity) or the nonce-carrying import map; no style attributes."""
    root = Path(__file__).resolve().parents[2] / "web" / "templates"
    for path in root.rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        assert "style=" not in text, path
        assert "<style" not in text, path
        assert not re.search(r"\son[a-z]+=", text), f"inline event handler in {path}"
        for tag in re.findall(r"<script[^>]*>", text):
            assert ("src=" in tag and "integrity=" in tag) or ('type="importmap"' in tag and "nonce=" in tag), (path, tag)


def test_form_post_without_csrf_is_refused(app: Flask) -> None:
    client = app.test_client()
    response = client.post("/admin/login", data={"username": "alice", "password": "x"})
    assert response.status_code == 403
    assert "CSRF" in response.get_data(as_text=True)


def test_api_write_without_csrf_header_is_refused(app: Flask) -> None:
    client = app.test_client()
    response = client.post("/api/login", json={"username": "alice", "password": "x"})
    assert response.status_code == 403
    assert response.mimetype == "application/problem+json"
    assert "CSRF" in response.get_json()["detail"]


def test_csrf_token_of_another_session_is_refused(app: Flask) -> None:
    other = csrf_of(app.test_client())
    client = app.test_client()
    csrf_of(client)
    response = client.post("/api/login", json={"username": "alice", "password": "x"}, headers={"X-CSRF-Token": other})
    assert response.status_code == 403


def test_session_cookie_flags(app: Flask) -> None:
    client = app.test_client()
    response = client.get("/verify")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie


def test_https_deployment_sets_hsts_and_secure_host_cookie(tmp_path: Path) -> None:
    app = create_app(make_config(tmp_path, https=True))
    response = app.test_client().get("/verify", base_url="https://vote.example")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("__Host-quorum=") and "Secure" in cookie
    proxied = app.test_client().get("/verify", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" in proxied.headers  # behind a TLS-terminating proxy
    app.extensions["quorum"].board.engine.dispose()


def test_admin_pages_not_cached(admin) -> None:  # type: ignore[no-untyped-def]
    assert admin.get("/admin/").headers["Cache-Control"] == "no-store"


def test_script_driven_pages_cannot_submit_natively() -> None:
    """The booth and the trustee pages work in their module script: until it has attached its handlers (or if the
    browser refused it), every button is disabled, so no form submits itself as a GET that would put a credential,
    a passphrase or the voter's choices in the URL; and the credential field has no name to be submitted under."""
    root = Path(__file__).resolve().parents[2] / "web" / "templates"
    for name in ("voter/booth.html", "trustee/ceremony.html", "trustee/decrypt.html"):
        text = (root / name).read_text(encoding="utf-8")
        buttons = re.findall(r"<button[^>]*>", text)
        assert buttons and all(re.search(r"\bdisabled\b", b) for b in buttons), (name, buttons)
        assert not re.search(r'<input[^>]*name="(credential|passphrase)', text), name


def test_links_sent_out_use_the_public_url_not_the_request_host(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Invitation links and the booth URL of credential e-mails are built on QUORUM_PUBLIC_URL: a request's Host
    (or X-Forwarded-Host) header cannot make them point elsewhere. A malformed QUORUM_PUBLIC_URL is refused."""
    import pytest

    from tests.web import flow
    from tests.web.conftest import ADMIN_PASSWORD
    from web.auth import create_admin
    from web.config import Config, ConfigError

    monkeypatch.setenv("QUORUM_PUBLIC_URL", "https://vote.example/")
    config = Config.load(data_dir=tmp_path / "data", testing=True)
    assert config.public_url == "https://vote.example" and config.https
    app = create_app(config)
    with app.extensions["quorum"].session() as db:
        create_admin(db, "alice", ADMIN_PASSWORD)
    admin, forged = app.test_client(), "https://evil.example"  # every request names another host than the public one

    def token() -> str:
        return re.search(r'<meta name="csrf-token" content="([^"]+)"', admin.get("/verify", base_url=forged).get_data(
            as_text=True)).group(1)

    signed_in = admin.post("/admin/login", data={"csrf_token": token(), "username": "alice", "password": ADMIN_PASSWORD},
                           base_url=forged)
    assert signed_in.status_code == 302
    body = {"election_id": "club", "manifest": flow.MANIFEST, "group": "ed25519", "trustees": ["T1", "T2", "T3"],
            "quorum": 2, "voters_csv": flow.VOTERS}
    created = admin.post("/api/elections", json=body, headers={"X-CSRF-Token": token(), "X-Forwarded-Host": "evil.example"},
                         base_url=forged)
    assert created.status_code == 201, created.get_json()
    assert all(u.startswith("https://vote.example/trustee/join/") for u in created.get_json()["invites"].values())
    app.extensions["quorum"].board.engine.dispose()
    for bad in ("vote.example", "https://vote.example/?next=x", "javascript:alert(1)", "https://a b"):
        monkeypatch.setenv("QUORUM_PUBLIC_URL", bad)
        with pytest.raises(ConfigError, match="QUORUM_PUBLIC_URL"):
            Config.load(data_dir=tmp_path / "data", testing=True)
