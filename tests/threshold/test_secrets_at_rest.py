"""Hybrid encryption of shares and the passphrase-protected trustee secret file."""

from __future__ import annotations

import os
import stat

import pytest

from threshold import hybrid, keystore
from threshold.errors import DecodeError, VerificationError

FAST = {"time_cost": 1, "memory_cost": 8 * 1024, "parallelism": 1}


def test_hybrid_round_trip_and_binding(group):
    x = group.random_scalar()
    ct = hybrid.encrypt(group, group.exp_g(x), b"share bytes", b"aad-1")
    assert hybrid.decrypt(group, x, ct, b"aad-1") == b"share bytes"
    with pytest.raises(VerificationError):
        hybrid.decrypt(group, x, ct, b"aad-2")
    with pytest.raises(VerificationError):
        hybrid.decrypt(group, x + 1, ct, b"aad-1")
    assert hybrid.HybridCiphertext.from_json(group, ct.to_json(group)) == ct
    with pytest.raises(DecodeError, match="too short"):
        hybrid.HybridCiphertext.from_json(group, dict(ct.to_json(group), body="00"))


def test_keystore_file_mode_and_round_trip(tmp_path):
    path = tmp_path / "trustee.json"
    keystore.save(path, {"secret": "ab" * 32}, "correct horse", FAST)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert keystore.load(path, "correct horse") == {"secret": "ab" * 32}
    assert "ab" * 32 not in path.read_text()
    with pytest.raises(VerificationError, match="passphrase"):
        keystore.load(path, "wrong")


def test_keystore_rejects_tampering_and_garbage(tmp_path):
    doc = keystore.seal({"s": 1}, "pw", FAST)
    flipped = dict(doc, ciphertext=("0" if doc["ciphertext"][0] != "0" else "1") + doc["ciphertext"][1:])
    with pytest.raises(VerificationError):
        keystore.unseal(flipped, "pw")
    with pytest.raises(DecodeError):
        keystore.unseal({"format": "other"}, "pw")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(DecodeError, match="cannot read"):
        keystore.load(bad, "pw")
    with pytest.raises(ValueError):
        keystore.seal({"s": 1}, "")


def test_default_parameters_are_argon2id_rfc9106():
    doc = keystore.seal({"s": 1}, "pw")
    assert doc["kdf"]["name"] == "argon2id" and doc["kdf"]["memory_cost"] >= 64 * 1024
