"""Review of 47fe236 (start-up checks of `quorum serve` / `quorum demo`, key files, URL redaction).

The eight findings (two key-file creation races, an empty session.key taken as a key, a password in the start-up
banner, redaction of a raw "@" in a password, a traceback for ?port=abc, a SQLite refusal after writing, a chmod
through a swapped path) are fixed; their tests stay as regression tests beside the attacks the code resisted. The
races are reproduced deterministically: the second "process" runs at the exact interleaving point (during the first
one's write), which two processes starting together hit (a 3-process stress run on a fresh data folder hit it in
~23% of starts for board.key, ~28% for session.key, before keystore.create_new).
"""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path
from typing import Any

import pytest

from quorum.cli import main
from voting.board import load_signing_key, save_signing_key
from voting.db import redact_url

PG_HOST, PG_PORT = "127.0.0.1", 5432
SMALL = ["--voters", "2", "--trustees", "2", "--quorum", "2"]


@pytest.fixture(autouse=True)
def _no_quorum_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("QUORUM_DB", "QUORUM_DATA_DIR", "QUORUM_SMTP_PORT", "QUORUM_SMTP_HOST", "QUORUM_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)


def _pg_up() -> bool:
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex((PG_HOST, PG_PORT)) == 0


needs_pg = pytest.mark.skipif(not _pg_up(), reason="PostgreSQL not on 127.0.0.1:5432")


def _second_process_during_first_write(monkeypatch: pytest.MonkeyPatch, second: Any) -> list[Any]:
    """Run `second()` right after the first caller's os.open(O_CREAT|O_EXCL) of the key file, before its write:
    the interleaving of two processes starting on the same fresh data folder."""
    real_fdopen = os.fdopen
    seen: list[Any] = []

    def fdopen(fd: int, *args: Any, **kwargs: Any) -> Any:
        if not seen:
            seen.append(None)
            try:
                seen.append(second())
            except Exception as exc:  # noqa: BLE001 - recorded for the assertion
                seen.append(exc)
        return real_fdopen(fd, *args, **kwargs)

    monkeypatch.setattr(os, "fdopen", fdopen)
    return seen


# --- (1) races on key creation --------------------------------------------------------------------------------------

def test_board_key_second_process_reads_the_first_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from web.app import board_key

    path = tmp_path / "board.key"
    seen = _second_process_during_first_write(monkeypatch, lambda: board_key(path))
    first = board_key(path)
    second = seen[1]
    assert not isinstance(second, Exception), f"second process failed: {second!r}"
    assert bytes(second) == bytes(first)


def test_session_key_second_process_reads_the_first_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from web.config import _secret_key

    seen = _second_process_during_first_write(monkeypatch, lambda: _secret_key(tmp_path))
    first = _secret_key(tmp_path)
    second = seen[1]
    assert len(first) == 32
    assert second == first


def test_empty_session_key_is_named(tmp_path: Path) -> None:
    from web.config import Config, ConfigError

    (tmp_path / "session.key").write_text("")
    with pytest.raises(ConfigError):
        Config.load(data_dir=tmp_path)


def test_restart_on_existing_data_dir_reuses_both_keys(tmp_path: Path) -> None:
    from web import create_app
    from web.config import Config

    app1 = create_app(Config.load(data_dir=tmp_path))
    board1 = app1.extensions["quorum"].board.public_key
    secret1 = app1.secret_key
    app1.extensions["quorum"].board.engine.dispose()
    board_bytes = (tmp_path / "board.key").read_bytes()
    app2 = create_app(Config.load(data_dir=tmp_path))
    assert app2.extensions["quorum"].board.public_key == board1
    assert app2.secret_key == secret1
    assert (tmp_path / "board.key").read_bytes() == board_bytes
    app2.extensions["quorum"].board.engine.dispose()


def test_serve_twice_in_a_row_on_the_same_data_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """`make run` twice: the second start reuses the data folder (no refusal), gunicorn itself is stubbed out."""
    import quorum.cmd_serve as cmd_serve

    monkeypatch.setattr(cmd_serve, "serve", lambda args, config: None)
    assert main(["serve", "--data-dir", str(tmp_path), "--port", "5077"]) == 0
    key = (tmp_path / "board.key").read_bytes()
    assert main(["serve", "--data-dir", str(tmp_path), "--port", "5077"]) == 0
    assert (tmp_path / "board.key").read_bytes() == key
    assert "quorum serve:" not in capsys.readouterr().err


# --- (2) secrets in messages ----------------------------------------------------------------------------------------

@needs_pg
def test_serve_banner_hides_password_parameter(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import quorum.cmd_serve as cmd_serve

    monkeypatch.setattr(cmd_serve, "serve", lambda args, config: None)
    url = f"postgresql://{PG_HOST}:{PG_PORT}/test?password=Hunter2Secret"  # trust auth: the password is ignored
    assert main(["serve", "--db", url, "--data-dir", str(tmp_path), "--port", "5077"]) == 0
    captured = capsys.readouterr()
    assert "Quorum on http://127.0.0.1:5077/" in captured.out
    assert "Hunter2Secret" not in captured.out + captured.err


def test_redact_url_password_with_raw_at_sign() -> None:
    shown = redact_url("postgresql://u:p@Hunter2@127.0.0.1/test")
    assert "Hunter2" not in shown


@pytest.mark.parametrize("url", [
    "postgresql://u:Hunter2Secret@h:5432/db",
    "postgresql://u:Hunter2Secret@h:notaport/db",
    "postgresql://u@h/db?password=Hunter2Secret&sslmode=require",
    "postgresql://u@h/db?PASSWORD=Hunter2Secret",
    "postgresql://u:Hunter2%40Secret@h/db",
    "postgresql://u:Hunter2Secret#x@h/db",
    "postgresql:///db?host=127.0.0.1&password=Hunter2Secret",
])
def test_redact_url_resists(url: str) -> None:
    assert "Hunter2" not in redact_url(url)


@pytest.mark.parametrize("url", [
    "postgresql://u:Hunter2Secret@127.0.0.1:5999/test",
    "postgresql://u:Hunter2Secret@nosuchhost.invalid/test",
    "postgresql://127.0.0.1:5999/test?password=Hunter2Secret&bogus=1",
    "postgresql://127.0.0.1:5999/test?password=Hunter2Secret&sslmode=bogus",
    "postgres://u:Hunter2Secret@h/x",
])
def test_refusal_lines_hide_the_password(tmp_path: Path, capsys: pytest.CaptureFixture[str], url: str) -> None:
    assert main(["serve", "--db", url, "--data-dir", str(tmp_path / "d"), "--create-admin", "x"]) == 2
    captured = capsys.readouterr()
    assert len(captured.err.splitlines()) == 1 and "Hunter2" not in captured.err + captured.out
    assert not (tmp_path / "d").exists()


def test_non_numeric_port_parameter_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = "postgresql://u:Hunter2Secret@127.0.0.1/test?port=abc"
    assert main(["serve", "--db", url, "--data-dir", str(tmp_path / "d"), "--create-admin", "x"]) == 2
    assert "Hunter2" not in capsys.readouterr().err


def test_sqlite_refusal_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    data = tmp_path / "data"
    assert main(["serve", "--db", f"sqlite:///{afile}/sub/q.db", "--data-dir", str(data), "--create-admin", "x"]) == 2
    capsys.readouterr()
    assert not data.exists()


@needs_pg
def test_serve_with_postgres_and_quorum_db(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import quorum.cmd_serve as cmd_serve

    monkeypatch.setattr(cmd_serve, "serve", lambda args, config: None)
    url = f"postgresql://{PG_HOST}:{PG_PORT}/test"
    assert main(["serve", "--db", url, "--data-dir", str(tmp_path / "a"), "--port", "5077"]) == 0
    monkeypatch.setenv("QUORUM_DB", url)
    assert main(["serve", "--data-dir", str(tmp_path / "b"), "--port", "5077"]) == 0
    captured = capsys.readouterr()
    assert "quorum serve:" not in captured.err
    assert (tmp_path / "b" / "board.key").exists() and not (tmp_path / "b" / "quorum.db").exists()


# --- (3) key files: O_EXCL, mode, symlinks --------------------------------------------------------------------------

def test_key_files_are_0600_even_with_umask_0(tmp_path: Path) -> None:
    from web.app import board_key
    from web.config import _secret_key

    old = os.umask(0)
    try:
        board_key(tmp_path / "board.key")
        _secret_key(tmp_path)
    finally:
        os.umask(old)
    for name in ("board.key", "session.key"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600


def test_precreated_symlink_at_key_path_is_not_followed(tmp_path: Path) -> None:
    from nacl.signing import SigningKey

    from web.app import board_key
    from web.config import ConfigError

    target = tmp_path / "elsewhere"
    link = tmp_path / "board.key"
    link.symlink_to(target)  # dangling: O_CREAT without O_EXCL would create `target`
    with pytest.raises(FileExistsError):
        save_signing_key(SigningKey.generate(), link)
    with pytest.raises(ConfigError):
        board_key(link)
    assert not target.exists()


def test_existing_key_file_is_never_replaced(tmp_path: Path) -> None:
    from nacl.signing import SigningKey

    path = tmp_path / "k"
    first = SigningKey.generate()
    save_signing_key(first, path)
    with pytest.raises(FileExistsError):
        save_signing_key(SigningKey.generate(), path)
    assert bytes(load_signing_key(path)) == bytes(first)


def test_save_signing_key_does_not_chmod_through_a_swapped_path(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from nacl.signing import SigningKey

    victim = tmp_path / "victim"
    victim.write_text("public")
    victim.chmod(0o644)
    path = tmp_path / "board.key"
    real_fdopen = os.fdopen

    class _Swap:
        def __init__(self, handle: Any) -> None:
            self.handle = handle

        def __enter__(self) -> Any:
            return self.handle.__enter__()

        def __exit__(self, *exc: Any) -> Any:
            out = self.handle.__exit__(*exc)
            path.unlink(missing_ok=True)
            path.symlink_to(victim)  # planted while the key is being written
            return out

    monkeypatch.setattr(os, "fdopen", lambda fd, *a, **k: _Swap(real_fdopen(fd, *a, **k)))
    with pytest.raises(FileExistsError):  # the key is linked into place only if nothing is there: never through it
        save_signing_key(SigningKey.generate(), path)
    assert stat.S_IMODE(victim.stat().st_mode) == 0o644 and victim.read_text() == "public"


# --- (4) demo outputs users legitimately ask for --------------------------------------------------------------------

def test_demo_into_an_existing_empty_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "empty"
    out.mkdir()
    assert main(["demo", "--out", str(out), *SMALL, "--board-key", str(tmp_path / "k")]) == 0
    assert (out / "board.jsonl").exists() and (tmp_path / "k").exists()
    capsys.readouterr()


def test_demo_zip_into_missing_folders(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "new" / "deep" / "r.zip"
    assert main(["demo", "--out", str(out), *SMALL]) == 0
    assert out.is_file()
    capsys.readouterr()


def test_demo_refuses_symlinked_board_key_without_writing_through_it(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "target"
    link = tmp_path / "k"
    link.symlink_to(target)
    assert main(["demo", "--out", str(tmp_path / "r"), *SMALL, "--board-key", str(link)]) == 2
    assert "--board-key" in capsys.readouterr().err
    assert not target.exists() and not (tmp_path / "r").exists()


def test_demo_refuses_key_inside_record_through_a_symlinked_folder(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "rec"
    out.mkdir()
    alias = tmp_path / "alias"
    alias.symlink_to(out)
    assert main(["demo", "--out", str(out), *SMALL, "--board-key", str(alias / "k")]) == 2
    assert "inside the record folder" in capsys.readouterr().err
    assert not any(out.iterdir())
