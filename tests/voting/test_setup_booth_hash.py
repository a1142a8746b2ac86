"""The booth hash in the setup entry (issue 4 item 8): optional, validated by the setup parser, and bound by the
election base hash, so a board that swaps it (even re-hashing and re-signing the chain) fails verification."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path

import pytest
from nacl.signing import SigningKey

from threshold.errors import DecodeError
from threshold.groups import get_group
from voting.board import Board
from voting.context import build_context, credentials_payload, parse_setup, setup_payload
from voting.credentials import new_private_credential, public_credential
from voting.demo import key_ceremony
from voting.election import Election
from voting.verifier import verify_record
from voting_helpers import CHOICE, MANIFEST, Scenario, finish, load, rechain, save

BOOTH = hashlib.sha256(b"booth scripts").hexdigest()


def _setup(booth_hash: str | None = BOOTH) -> dict:
    return setup_payload("e1", MANIFEST, get_group("ed25519"), 3, 2, "ab" * 32, booth_hash)


def test_booth_hash_is_optional_and_parsed() -> None:
    assert parse_setup(_setup()).booth_hash == BOOTH
    plain = _setup(None)
    assert "booth_hash" not in plain and parse_setup(plain).booth_hash is None


@pytest.mark.parametrize("bad", [BOOTH.upper(), BOOTH[:-1], BOOTH + "0", "", None, 5, ["ab" * 32], "g" * 64])
def test_malformed_booth_hash_is_named(bad: object) -> None:
    payload = _setup()
    payload["booth_hash"] = bad
    with pytest.raises(DecodeError, match=r"setup\.booth_hash"):
        parse_setup(payload)
    if bad is not None:  # None is "no booth hash" for setup_payload
        with pytest.raises(DecodeError, match=r"setup\.booth_hash"):
            _setup(bad)  # type: ignore[arg-type]


def test_unknown_setup_key_still_refused() -> None:
    payload = _setup()
    payload["booth_hashes"] = BOOTH
    with pytest.raises(DecodeError, match="setup"):
        parse_setup(payload)


def test_base_hash_covers_the_booth_hash() -> None:
    setup_p = _setup()
    ceremony_p, _ = key_ceremony(setup_p)
    creds = credentials_payload([public_credential("e1", new_private_credential())], 1)
    other = dict(setup_p, booth_hash="cd" * 32)
    base = build_context(setup_p, ceremony_p, creds).base_hash
    # the same ceremony no longer fits the changed setup (its context is the setup's hash) ...
    with pytest.raises(Exception):
        build_context(other, ceremony_p, creds)
    # ... and with a ceremony re-run for it, the base hash differs
    assert build_context(other, key_ceremony(other)[0], creds).base_hash != base


@pytest.fixture(scope="module")
def record(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SigningKey, str]:
    tmp = tmp_path_factory.mktemp("booth")
    key = SigningKey.generate()
    board = Board.open(f"sqlite:///{tmp / 'board.db'}", key)
    board.create_election("e1")
    election = Election(board, "e1")
    setup_p = setup_payload("e1", MANIFEST, get_group("ed25519"), 3, 2, board.public_key, BOOTH)
    election.setup(setup_p)
    ceremony_p, keys = key_ceremony(setup_p)
    election.key_ceremony(ceremony_p)
    creds = [new_private_credential() for _ in range(2)]
    election.register(credentials_payload([public_credential("e1", c) for c in creds], 2))
    election.open()
    s = Scenario(board, election, key, creds, keys)
    s.election.cast(s.ballot(0, CHOICE))
    s.election.cast(s.ballot(1, CHOICE))
    finish(s)
    return board.export("e1", tmp / "record"), key, board.public_key


def test_record_with_booth_hash_verifies(record: tuple[Path, SigningKey, str]) -> None:
    path, _, _ = record
    assert load(path)[0]["payload"]["booth_hash"] == BOOTH
    report = verify_record(path, workers=1)
    assert report.valid, report.failures


def test_swapped_booth_hash_fails_even_rechained(record: tuple[Path, SigningKey, str], tmp_path: Path) -> None:
    path, key, pub = record
    entries = load(path)
    entries[0]["payload"]["booth_hash"] = "cd" * 32
    rechain(entries, key)
    report = verify_record(save(entries, pub, tmp_path / "plain"), workers=1)
    assert not report.valid and "parameters" in {f.check for f in report.failures}


def test_swapped_booth_hash_with_a_new_ceremony_fails_the_base_hash(record: tuple[Path, SigningKey, str], tmp_path: Path) -> None:
    """A board that also re-runs the key ceremony for the changed setup: the open entry's base hash no longer
    matches, and every ballot proof (bound to the base hash) fails with it."""
    path, key, pub = record
    entries = load(path)
    setup_p = copy.deepcopy(entries[0]["payload"])
    setup_p["booth_hash"] = "cd" * 32
    entries[0]["payload"] = setup_p
    entries[1]["payload"] = key_ceremony(setup_p)[0]
    rechain(entries, key)
    report = verify_record(save(entries, pub, tmp_path / "ceremony"), workers=1)
    failed = {f.check for f in report.failures}
    assert "base_hash" in failed and "parameters" not in failed, report.failures
