"""`quorum serve` refuses a setting it cannot use (--db, QUORUM_DB, --data-dir, QUORUM_DATA_DIR) with one line on
stderr naming the option and the value (never a password, never a traceback), exit 2, and writes nothing."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from nacl.signing import SigningKey

from quorum.cli import main
from tests.voting.conftest import pg_url  # noqa: F401  (fixture)
from voting.board import Board, save_signing_key
from voting.db import DatabaseConfigError, make_engine, redact_url
from web import create_app
from web.config import Config, ConfigError

ROOT = Path(__file__).resolve().parents[2]
CLOSED_PORT = 5999


@pytest.fixture(autouse=True)
def _no_quorum_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("QUORUM_DB", "QUORUM_DATA_DIR", "QUORUM_SMTP_PORT", "QUORUM_SMTP_HOST"):
        monkeypatch.delenv(name, raising=False)


def _port_closed(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _refused(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """Run `quorum serve ARGV --create-admin x` (never reaches gunicorn): exit 2 and one line on stderr."""
    assert main(["serve", *argv, "--create-admin", "x"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("quorum serve: "), captured.err
    assert "Traceback" not in captured.err
    return lines[0]


@pytest.mark.parametrize(("url", "expected"), [
    ("postgres://nohost/x", "unknown database type 'postgres' (did you mean postgresql://?)"),
    ("notaurl", "not a database URL"),
    ("postgresql://u:pw@h:notaport/x", "not a database URL"),
    ("nosuchdb://h/x", "unknown database type 'nosuchdb'"),
])
def test_unusable_db_url(tmp_path: Path, capsys: pytest.CaptureFixture[str], url: str, expected: str) -> None:
    data = tmp_path / "data"
    line = _refused(capsys, ["--db", url, "--data-dir", str(data)])
    assert line.startswith(f"quorum serve: --db {redact_url(url)}: ") and expected in line
    assert "pw" not in line
    assert not data.exists()  # refused before the data folder (session.key, board.key) is made


def test_same_errors_from_quorum_db(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    monkeypatch.setenv("QUORUM_DB", "postgres://nohost/x")
    line = _refused(capsys, ["--data-dir", str(data)])
    assert line == "quorum serve: QUORUM_DB=postgres://nohost/x: unknown database type 'postgres' (did you mean postgresql://?)"
    monkeypatch.setenv("QUORUM_DB", "notaurl")
    assert _refused(capsys, ["--data-dir", str(data)]).startswith("quorum serve: QUORUM_DB=notaurl: not a database URL")
    assert not data.exists()


@pytest.mark.skipif(not _port_closed(CLOSED_PORT), reason=f"something listens on port {CLOSED_PORT}")
def test_refused_connection_names_the_url_without_its_password(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    url = f"postgresql://quorum:hunter2secret@127.0.0.1:{CLOSED_PORT}/test"
    line = _refused(capsys, ["--db", url, "--data-dir", str(data)])
    assert line.startswith(f"quorum serve: --db postgresql://quorum:***@127.0.0.1:{CLOSED_PORT}/test: cannot connect")
    assert "hunter2secret" not in line and "refused" in line.lower()
    monkeypatch.setenv("QUORUM_DB", url)
    line = _refused(capsys, ["--data-dir", str(data)])
    assert line.startswith("quorum serve: QUORUM_DB=postgresql://quorum:***@") and "hunter2secret" not in line
    assert not data.exists()


def test_data_dir_that_cannot_be_made(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    line = _refused(capsys, ["--data-dir", "/proc/nope"])
    assert line.startswith("quorum serve: --data-dir /proc/nope: cannot create the folder")
    afile = tmp_path / "afile"
    afile.write_text("keep me")
    assert _refused(capsys, ["--data-dir", str(afile)]) == f"quorum serve: --data-dir {afile}: exists and is not a folder"
    assert afile.read_text() == "keep me"
    monkeypatch.setenv("QUORUM_DATA_DIR", "/proc/nope")
    assert _refused(capsys, []).startswith("quorum serve: QUORUM_DATA_DIR=/proc/nope: cannot create the folder")
    assert not os.path.exists("/proc/nope")


def test_sqlite_folder_that_cannot_be_made(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    line = _refused(capsys, ["--db", "sqlite:////proc/nope/q.db", "--data-dir", str(data)])
    assert line.startswith("quorum serve: --db sqlite:////proc/nope/q.db: cannot create the folder /proc/nope")
    assert not (data / "board.key").exists()  # the database is opened before the board key is made


def test_damaged_board_key_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "board.key").write_text("not hex\n")
    line = _refused(capsys, ["--data-dir", str(tmp_path)])
    assert line.startswith(f"quorum serve: board key {tmp_path / 'board.key'}: is not a board key")
    assert (tmp_path / "board.key").read_text() == "not hex\n"


def test_bad_smtp_port_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUORUM_SMTP_HOST", "mail.example.org")
    monkeypatch.setenv("QUORUM_SMTP_PORT", "smtp")
    assert _refused(capsys, ["--data-dir", str(tmp_path)]).startswith("quorum serve: QUORUM_SMTP_PORT='smtp': not a port number")


def test_the_console_script_prints_no_traceback(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUORUM_")}
    env["QUORUM_DB"] = "postgres://nohost/x"
    proc = subprocess.run([sys.executable, "-m", "quorum.cli", "serve", "--data-dir", str(tmp_path / "d")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr == "quorum serve: QUORUM_DB=postgres://nohost/x: unknown database type 'postgres' (did you mean postgresql://?)\n"
    assert not (tmp_path / "d").exists()


def test_library_errors_are_named(tmp_path: Path) -> None:
    """The same errors for code that uses the board or the app directly."""
    with pytest.raises(DatabaseConfigError, match="did you mean postgresql://"):
        make_engine("postgres://nohost/x")
    with pytest.raises(DatabaseConfigError, match="not a database URL"):
        Board.open("notaurl", SigningKey.generate())
    with pytest.raises(ConfigError, match="cannot create the folder"):
        Config.load(data_dir="/proc/nope")
    config = Config.load(data_dir=tmp_path, db="postgres://nohost/x")
    with pytest.raises(DatabaseConfigError):
        create_app(config)
    assert not (tmp_path / "board.key").exists()


def test_redact_url() -> None:
    assert redact_url("postgresql://u:s3cret@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert "s3cret" not in redact_url("postgresql://u:s3cret@h:bad/db")
    assert "s3cret" not in redact_url("postgresql://u@h/db?password=s3cret&sslmode=require")
    assert redact_url("sqlite:///data/quorum.db") == "sqlite:///data/quorum.db"


def test_a_key_file_is_never_replaced(tmp_path: Path) -> None:
    path = tmp_path / "board.key"
    path.write_text("someone else's key\n")
    with pytest.raises(FileExistsError):
        save_signing_key(SigningKey.generate(), path)
    assert path.read_text() == "someone else's key\n"


@pytest.mark.postgres
def test_two_servers_starting_at_once_make_one_admin(pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """Two `quorum serve --demo` on one PostgreSQL database both found no admin and both created it: the second
    crashed on the unique username. Now one prints the one-time password and the other says where it is. (On
    SQLite the check and the creation are one immediate transaction: the second server waits, then finds it.)"""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from quorum import cmd_serve
    from web import auth

    app = create_app(Config.load(data_dir=tmp_path / "data", db=pg_url, testing=True))
    both_checked, create = threading.Barrier(2, timeout=10), auth.create_admin

    def create_after_both_checked(db, name, password=None):  # type: ignore[no-untyped-def]
        both_checked.wait()  # forces the interleaving: each server has seen no admin before either creates it
        return create(db, name, password)

    monkeypatch.setattr(auth, "create_admin", create_after_both_checked)
    failures: list[BaseException] = []

    def start() -> None:
        try:
            cmd_serve._first_admin(app, "admin", force=False)
        except BaseException as exc:  # noqa: BLE001  (the test reports what the race raised)
            failures.append(exc)

    with ThreadPoolExecutor(2) as pool:  # two servers at once
        list(pool.map(lambda _: start(), range(2)))
    out = capsys.readouterr().out
    assert failures == [] and out.count(": one-time password ") == 1 and "created by another quorum serve" in out
