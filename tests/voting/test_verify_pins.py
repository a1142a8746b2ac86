"""`quorum verify --board-key / --base-hash / --credentials`: an auditor who got the board key, the base hash or the
credential authority's public list through another channel is not fooled by a self-consistent record of another
board or election, or by a board that swapped credentials."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from quorum.cli import main
from voting.credentials import new_private_credential, public_credential
from voting.verifier import CHECKS
from voting_helpers import Scenario, scripted_record


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    return scripted_record(tmp_path_factory.mktemp("pins"))


@pytest.fixture(scope="module")
def other(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    """A valid, self-consistent record of another board (another key, another base hash)."""
    return scripted_record(tmp_path_factory.mktemp("other"))


def _verify(capsys: pytest.CaptureFixture, record: Path, *extra: str) -> tuple[int, dict]:
    code = main(["verify", str(record), "--json", "--quiet", "--workers", "1", *extra])
    out = capsys.readouterr().out
    return code, (json.loads(out) if out.strip() else {})


def test_matching_pins_pass(scenario: Scenario, capsys: pytest.CaptureFixture) -> None:
    code, report = _verify(capsys, scenario.record, "--board-key", scenario.board.public_key,
                           "--base-hash", scenario.ctx.base_hash.hex().upper())
    assert code == 0 and report["valid"] is True
    pins = {c["name"]: c for c in report["checks"] if c["name"].startswith("pinned_")}
    assert set(pins) == {"pinned_board_key", "pinned_base_hash"} and all(c["ok"] for c in pins.values())
    assert [c["name"] for c in report["checks"]] == [*CHECKS, "pinned_board_key", "pinned_base_hash"]


def test_no_pins_leaves_the_report_unchanged(scenario: Scenario, capsys: pytest.CaptureFixture) -> None:
    code, report = _verify(capsys, scenario.record)
    assert code == 0 and [c["name"] for c in report["checks"]] == list(CHECKS)


def test_board_key_from_a_file(scenario: Scenario, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert _verify(capsys, scenario.record, "--board-key", str(scenario.record / "board.pub"))[0] == 0
    pem = tmp_path / "board.pem"
    pem.write_bytes(serialization.load_der_public_key(
        b"\x30\x2a\x30\x05\x06\x03\x2b\x65\x70\x03\x21\x00" + bytes.fromhex(scenario.board.public_key)
    ).public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    assert _verify(capsys, scenario.record, "--board-key", str(pem))[0] == 0


def test_fabricated_record_fails_the_pins(scenario: Scenario, other: Scenario, capsys: pytest.CaptureFixture) -> None:
    assert _verify(capsys, other.record)[0] == 0  # valid on its own
    code, report = _verify(capsys, other.record, "--board-key", scenario.board.public_key)
    failed = [c for c in report["checks"] if not c["ok"]]
    assert code == 1 and report["valid"] is False and [c["name"] for c in failed] == ["pinned_board_key"]
    assert other.board.public_key in failed[0]["detail"]
    code, report = _verify(capsys, other.record, "--base-hash", scenario.ctx.base_hash.hex())
    failed = [c for c in report["checks"] if not c["ok"]]
    assert code == 1 and [c["name"] for c in failed] == ["pinned_base_hash"]
    assert other.ctx.base_hash.hex() in failed[0]["detail"]


def test_mismatch_named_in_text_output(other: Scenario, scenario: Scenario, capsys: pytest.CaptureFixture) -> None:
    code = main(["verify", str(other.record), "--quiet", "--workers", "1", "--board-key", scenario.board.public_key,
                 "--base-hash", scenario.ctx.base_hash.hex()])
    text = capsys.readouterr().out
    assert code == 1 and "FAIL pinned_board_key" in text and "FAIL pinned_base_hash" in text
    assert "INVALID (2 failures)" in text


@pytest.mark.parametrize("args,message", [
    (["--board-key", "12ab"], "--board-key"),
    (["--board-key", "zz" * 32], "--board-key"),
    (["--base-hash", "12ab"], "--base-hash"),
    (["--base-hash", "g" * 64], "--base-hash"),
])
def test_malformed_pin_exits_2(scenario: Scenario, capsys: pytest.CaptureFixture, args: list[str], message: str) -> None:
    assert main(["verify", str(scenario.record), "--quiet", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and ("expected 64 hex" in err or "neither 64 hex" in err)


def test_unusable_key_file_exits_2(scenario: Scenario, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    garbage = tmp_path / "key.txt"
    garbage.write_text("not a key\n")
    assert main(["verify", str(scenario.record), "--quiet", "--board-key", str(garbage)]) == 2
    assert "--board-key" in capsys.readouterr().err
    private = tmp_path / "priv.pem"
    private.write_bytes(Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).replace(b"PUBLIC", b"PRIVATE"))
    assert main(["verify", str(scenario.record), "--quiet", "--board-key", str(private)]) == 2
    assert "--board-key" in capsys.readouterr().err


def _authority_csv(path: Path, credentials: list[str]) -> Path:
    """A credential authority's public-credentials.csv for these public credentials."""
    path.write_text("voter_id,public_credential\n" + "".join(f"v{i},{c}\n" for i, c in enumerate(credentials)))
    return path


def test_credentials_pin_passes_on_the_authority_list_and_names_swapped_ones(
        scenario: Scenario, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The authority's list is exactly the board's: pass. One credential swapped by the board (the voter's replaced
    by one whose private key the board holds): both differences named, exit 1."""
    board = sorted(scenario.ctx.credentials)
    code, report = _verify(capsys, scenario.record, "--credentials", str(_authority_csv(tmp_path / "a.csv", board[::-1])))
    assert code == 0 and report["checks"][-1]["name"] == "pinned_credentials" and report["checks"][-1]["ok"]
    swapped = public_credential("elsewhere", new_private_credential())
    code, report = _verify(capsys, scenario.record, "--credentials",
                           str(_authority_csv(tmp_path / "b.csv", [swapped] + board[1:])))
    failed = [c for c in report["checks"] if not c["ok"]]
    assert code == 1 and [c["name"] for c in failed] == ["pinned_credentials"]
    assert f"1 on the board are not in the pinned list (first {board[0]})" in failed[0]["detail"]
    assert f"1 of the pinned list are not on the board (first {swapped})" in failed[0]["detail"]


def test_credentials_pin_that_is_not_an_authority_list_exits_2(scenario: Scenario, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("voter_id,public_credential\nv1,zz\n")
    for path in (bad, tmp_path / "missing.csv"):
        assert main(["verify", str(scenario.record), "--quiet", "--credentials", str(path)]) == 2
        err = capsys.readouterr().err
        assert "--credentials" in err and "Traceback" not in err
