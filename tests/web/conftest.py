"""Fixtures of the web tests: an app on a fresh SQLite database, signed-in clients, API helpers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from web import create_app
from web.auth import create_admin
from web.config import Config

ADMIN_PASSWORD = "correct horse battery staple"


def make_config(tmp_path: Path, **overrides: Any) -> Config:
    """Settings for one test: its own data folder and SQLite file."""
    return Config.load(data_dir=tmp_path / "data", testing=True, **overrides)


@pytest.fixture(autouse=True)
def _own_state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`quorum vote` keeps its re-vote ledger under $XDG_STATE_HOME: never the real home's in a test."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    """The app with one admin, 'alice'."""
    application = create_app(make_config(tmp_path))
    with application.extensions["quorum"].session() as db:
        create_admin(db, "alice", ADMIN_PASSWORD)
    yield application
    application.extensions["quorum"].board.engine.dispose()


def csrf_of(client: FlaskClient) -> str:
    """This client's CSRF token (from a page's meta tag)."""
    html = client.get("/verify").get_data(as_text=True)
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', html)
    assert match, "no CSRF meta tag"
    return match.group(1)


def form_post(client: FlaskClient, url: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    """POST a form with this client's CSRF token."""
    return client.post(url, data={"csrf_token": csrf_of(client), **(data or {})}, **kwargs)


def api_post(client: FlaskClient, url: str, body: Any) -> Any:
    """POST JSON with the CSRF header."""
    return client.post(url, json=body, headers={"X-CSRF-Token": csrf_of(client)})


@pytest.fixture
def admin(app: Flask) -> FlaskClient:
    """A client signed in as alice."""
    client = app.test_client()
    response = form_post(client, "/admin/login", {"username": "alice", "password": ADMIN_PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=[pytest.mark.postgres, pytest.mark.xdist_group("postgres")])])
def any_db_app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Flask]:
    """The app with admin alice, on SQLite (the election's lock is BEGIN IMMEDIATE) or on PostgreSQL (SELECT ... FOR
    UPDATE on the election's row; a fresh schema). The test module must import the `pg_url` fixture."""
    overrides = {"db": request.getfixturevalue("pg_url")} if request.param == "postgresql" else {}
    application = create_app(make_config(tmp_path, **overrides))
    with application.extensions["quorum"].session() as db:
        create_admin(db, "alice", ADMIN_PASSWORD)
    yield application
    application.extensions["quorum"].board.engine.dispose()


def signed_in(app: Flask) -> FlaskClient:
    """A test client with alice signed in."""
    client = app.test_client()
    assert form_post(client, "/admin/login", {"username": "alice", "password": ADMIN_PASSWORD}).status_code == 302
    return client
