"""threshold.keystore_browser: the browser's PBKDF2 backup format, read and written in Python."""

from __future__ import annotations

import pytest

from threshold import keystore, keystore_browser
from threshold.errors import DecodeError, VerificationError

SECRET = {"group": "ed25519", "index": 3, "secret": "ab" * 32, "note": "Grüße"}


def test_round_trip_and_dispatch() -> None:
    doc = keystore_browser.seal(SECRET, "pass phrase")
    assert doc["format"] == keystore_browser.FORMAT and doc["kdf"]["iterations"] == 600_000
    assert keystore_browser.unseal(doc, "pass phrase") == SECRET
    assert keystore_browser.unseal_any(doc, "pass phrase") == SECRET
    argon = keystore.seal(SECRET, "pass phrase", {"time_cost": 1, "memory_cost": 8 * 1024, "parallelism": 1})
    assert keystore_browser.unseal_any(argon, "pass phrase") == SECRET


def test_wrong_passphrase_and_tampering_are_refused() -> None:
    doc = keystore_browser.seal(SECRET, "pass phrase")
    with pytest.raises(VerificationError):
        keystore_browser.unseal(doc, "wrong")
    body = bytearray.fromhex(doc["ciphertext"])
    body[0] ^= 1
    with pytest.raises(VerificationError):
        keystore_browser.unseal({**doc, "ciphertext": body.hex()}, "pass phrase")
    with pytest.raises(VerificationError):
        keystore_browser.unseal({**doc, "format": keystore_browser.FORMAT}, "pass phrase ")


@pytest.mark.parametrize("change, field", [
    ({"iterations": 1000}, "secret file.kdf.iterations"),
    ({"iterations": 10**9}, "secret file.kdf.iterations"),
    ({"iterations": True}, "secret file.kdf.iterations"),
    ({"salt": "00" * 15}, "secret file.kdf.salt"),
    ({"salt": "AB" * 16}, "secret file.kdf.salt"),
    ({"name": "argon2id"}, "secret file.kdf"),
])
def test_malformed_kdf_is_named(change: dict, field: str) -> None:
    doc = keystore_browser.seal(SECRET, "pass phrase")
    with pytest.raises(DecodeError) as err:
        keystore_browser.unseal({**doc, "kdf": {**doc["kdf"], **change}}, "pass phrase")
    assert err.value.field == field


def test_weak_parameters_and_empty_passphrase_refused_when_sealing() -> None:
    with pytest.raises(ValueError):
        keystore_browser.seal(SECRET, "")
    with pytest.raises(ValueError):
        keystore_browser.seal(SECRET, "pass phrase", iterations=100_000)
