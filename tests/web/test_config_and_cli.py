"""Settings (database URL from --db / QUORUM_DB / default SQLite under the data folder, SMTP from the environment),
secret files with mode 0600, `quorum serve --create-admin` and the ready demo election of `make run`."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import select

from quorum.cli import main
from threshold import keystore
from threshold.dkg import TrusteeKey
from threshold.groups import get_group
from web import create_app
from web.config import Config
from web.demo import create_demo
from web.models import Admin


def test_database_url_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QUORUM_DB", raising=False)
    default = Config.load(data_dir=tmp_path)
    assert default.db_url == f"sqlite:///{(tmp_path / 'quorum.db').resolve()}"
    monkeypatch.setenv("QUORUM_DB", "sqlite:///from-env.db")
    assert Config.load(data_dir=tmp_path).db_url == "sqlite:///from-env.db"
    assert Config.load(db="sqlite:///from-flag.db", data_dir=tmp_path).db_url == "sqlite:///from-flag.db"


def test_smtp_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QUORUM_SMTP_HOST", raising=False)
    assert Config.load(data_dir=tmp_path).smtp is None
    monkeypatch.setenv("QUORUM_SMTP_HOST", "mail.example.org")
    monkeypatch.setenv("QUORUM_SMTP_PORT", "587")
    monkeypatch.setenv("QUORUM_SMTP_STARTTLS", "1")
    monkeypatch.setenv("QUORUM_SMTP_PASSWORD", "s3cret")
    smtp = Config.load(data_dir=tmp_path).smtp
    assert smtp is not None and (smtp.host, smtp.port, smtp.starttls) == ("mail.example.org", 587, True)
    assert "s3cret" not in repr(smtp)


def test_secret_files_are_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QUORUM_SECRET_KEY", raising=False)
    config = Config.load(data_dir=tmp_path)
    app = create_app(config)
    for name in ("session.key", "board.key"):
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o600, name
    assert Config.load(data_dir=tmp_path).secret_key == config.secret_key  # kept across restarts
    app.extensions["quorum"].board.engine.dispose()


def test_create_admin_prints_a_one_time_password(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--data-dir", str(tmp_path), "--create-admin", "carol"]) == 0
    out = capsys.readouterr().out
    assert "admin 'carol': one-time password" in out
    password = out.split("one-time password ")[1].split()[0]
    app = create_app(Config.load(data_dir=tmp_path))
    with app.extensions["quorum"].session() as db:
        admin = db.scalars(select(Admin).where(Admin.username == "carol")).one()
    assert admin.must_change == 1 and password not in admin.password_hash
    app.extensions["quorum"].board.engine.dispose()


def test_demo_election_is_ready_to_vote(tmp_path: Path) -> None:
    app = create_app(Config.load(data_dir=tmp_path))
    state = app.extensions["quorum"]
    demo = create_demo(state.board, state.session, tmp_path, group="ed25519")
    assert demo is not None and len(demo.credentials) == 5 and sorted(demo.invitations) == [1, 2, 3]
    client = app.test_client()
    assert client.get("/api/elections/demo").get_json()["phase"] == "open"
    assert "Quorum demo election" in client.get("/vote/demo").get_data(as_text=True)
    for path in demo.trustee_files:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    key = TrusteeKey.from_json(get_group("ed25519"), keystore.unseal(json.loads(demo.trustee_files[0].read_text()),
                                                                               demo.passphrase))
    assert key.index == 1
    assert create_demo(state.board, state.session, tmp_path, group="ed25519") is None  # only once
    state.board.engine.dispose()
