"""`quorum demo` checks --out and --board-key before computing anything: a path it cannot write, or one that would
replace something (a record, a file, a private key), is refused with one line naming the option, exit 2, and
nothing is written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import quorum.cmd_demo
from quorum.cli import main

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["--voters", "2", "--trustees", "2", "--quorum", "1", "--group", "ed25519"]


@pytest.fixture
def no_election(monkeypatch: pytest.MonkeyPatch) -> None:
    """A refused path must be refused before the election is computed."""
    def forbidden(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("run_demo called for refused output paths")
    monkeypatch.setattr(quorum.cmd_demo, "run_demo", forbidden)


def _tree(root: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


def _refused(capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str]) -> str:
    before = _tree(tmp_path)
    assert main(["demo", *argv, *SMALL]) == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert captured.out == "" and len(lines) == 1 and lines[0].startswith("quorum demo: "), captured.err
    assert "Traceback" not in captured.err
    assert _tree(tmp_path) == before  # nothing written, nothing replaced
    return lines[0]


@pytest.mark.usefixtures("no_election")
def test_out_is_an_existing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "somefile").write_text("keep me")
    line = _refused(capsys, tmp_path, ["--out", str(tmp_path / "somefile")])
    assert line.startswith(f"quorum demo: --out {tmp_path / 'somefile'}: exists and is not a folder")
    line = _refused(capsys, tmp_path, ["--out", str(tmp_path / "somefile" / "rec")])
    assert line.startswith(f"quorum demo: --out {tmp_path / 'somefile' / 'rec'}: ") and "not a folder" in line


@pytest.mark.usefixtures("no_election")
def test_out_is_a_non_empty_folder_or_an_existing_zip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine")
    line = _refused(capsys, tmp_path, ["--out", str(tmp_path / "full")])
    assert line.startswith(f"quorum demo: --out {tmp_path / 'full'}: is not empty") and "never overwrites" in line
    (tmp_path / "old.zip").write_bytes(b"PK old record")
    line = _refused(capsys, tmp_path, ["--out", str(tmp_path / "old.zip")])
    assert line.startswith(f"quorum demo: --out {tmp_path / 'old.zip'}: already exists") and "remove it" in line
    (tmp_path / "dir.zip").mkdir()
    assert "is a folder" in _refused(capsys, tmp_path, ["--out", str(tmp_path / "dir.zip")])


@pytest.mark.usefixtures("no_election")
def test_board_key_is_a_folder_or_an_existing_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = str(tmp_path / "rec")
    (tmp_path / "keys").mkdir()
    line = _refused(capsys, tmp_path, ["--out", out, "--board-key", str(tmp_path / "keys")])
    assert line == f"quorum demo: --board-key {tmp_path / 'keys'}: is a folder (give the path of a new file)"
    (tmp_path / "board.key").write_text("ab" * 32 + "\n")
    line = _refused(capsys, tmp_path, ["--out", out, "--board-key", str(tmp_path / "board.key")])
    assert line.startswith(f"quorum demo: --board-key {tmp_path / 'board.key'}: already exists")
    assert "remove it or choose another path" in line
    line = _refused(capsys, tmp_path, ["--out", out, "--board-key", str(tmp_path / "nodir" / "k")])
    assert line == f"quorum demo: --board-key {tmp_path / 'nodir' / 'k'}: the folder {tmp_path / 'nodir'} does not exist"


@pytest.mark.usefixtures("no_election")
def test_board_key_inside_the_record_or_on_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "rec").mkdir()  # an empty folder is a fine --out
    line = _refused(capsys, tmp_path, ["--out", str(tmp_path / "rec"), "--board-key", str(tmp_path / "rec" / "k")])
    assert line.startswith(f"quorum demo: --board-key {tmp_path / 'rec' / 'k'}: is inside the record folder")
    line = _refused(capsys, tmp_path, ["--out", str(tmp_path / "r.zip"), "--board-key", str(tmp_path / "r.zip")])
    assert line == f"quorum demo: --board-key {tmp_path / 'r.zip'}: is the same path as --out"


def test_a_second_demo_never_replaces_the_first_record(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "rec"
    out.mkdir()  # an empty folder is accepted
    assert main(["demo", "--out", str(out), *SMALL, "--absent", "1", "--board-key", str(tmp_path / "k1")]) == 0
    capsys.readouterr()
    line = _refused(capsys, tmp_path, ["--out", str(out), "--board-key", str(tmp_path / "k2")])
    assert line.startswith(f"quorum demo: --out {out}: holds a record") and "never overwrites" in line


def test_the_console_script_prints_no_traceback(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    proc = subprocess.run([sys.executable, "-m", "quorum.cli", "demo", "--out", str(tmp_path / "rec"), *SMALL,
                           "--board-key", str(tmp_path / "keys")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr == f"quorum demo: --board-key {tmp_path / 'keys'}: is a folder (give the path of a new file)\n"
    assert not (tmp_path / "rec").exists() and list((tmp_path / "keys").iterdir()) == []
