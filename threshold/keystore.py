"""Trustee secrets at rest: argon2id key derivation, AES-256-GCM, files written with mode 0600."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from threshold.encoding import canonical_json
from threshold.errors import DecodeError, VerificationError

FORMAT = "quorum-secret-v1"
# argon2id, RFC 9106 second recommended option (64 MiB, 3 passes, 4 lanes)
ARGON2 = {"time_cost": 3, "memory_cost": 64 * 1024, "parallelism": 4}


def _derive(passphrase: str, salt: bytes, params: dict[str, int]) -> bytes:
    return hash_secret_raw(passphrase.encode("utf-8"), salt, hash_len=32, type=Type.ID, **params)


def seal(secret: Any, passphrase: str, params: dict[str, int] | None = None) -> dict[str, Any]:
    """Encrypt a JSON-serializable secret under a passphrase; returns the sealed document."""
    if not passphrase:
        raise ValueError("an empty passphrase protects nothing")
    params = dict(params or ARGON2)
    salt, nonce = os.urandom(16), os.urandom(12)
    body = AESGCM(_derive(passphrase, salt, params)).encrypt(nonce, canonical_json(secret), FORMAT.encode())
    return {"format": FORMAT, "kdf": {"name": "argon2id", "salt": salt.hex(), **params},
            "nonce": nonce.hex(), "ciphertext": body.hex()}


def unseal(document: Any, passphrase: str) -> Any:
    """Decrypt a sealed document; a wrong passphrase or any tampering raises VerificationError."""
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise DecodeError("secret file", f"not a {FORMAT} document")
    try:
        kdf = document["kdf"]
        params = {k: int(kdf[k]) for k in ("time_cost", "memory_cost", "parallelism")}
        salt, nonce = bytes.fromhex(kdf["salt"]), bytes.fromhex(document["nonce"])
        body = bytes.fromhex(document["ciphertext"])
    except (KeyError, TypeError, ValueError) as exc:
        raise DecodeError("secret file", f"malformed field {exc}") from None
    try:
        plain = AESGCM(_derive(passphrase, salt, params)).decrypt(nonce, body, FORMAT.encode())
    except InvalidTag:
        raise VerificationError("wrong passphrase or corrupted secret file") from None
    return json.loads(plain)


def save(path: str | Path, secret: Any, passphrase: str, params: dict[str, int] | None = None) -> None:
    """Write the sealed secret with mode 0600 (created that way, never world-readable)."""
    data = canonical_json(seal(secret, passphrase, params))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
    finally:
        os.close(fd)


def load(path: str | Path, passphrase: str) -> Any:
    """Read and decrypt a sealed secret file."""
    try:
        document = json.loads(Path(path).read_bytes())
    except (OSError, ValueError) as exc:
        raise DecodeError("secret file", f"cannot read {path}: {exc}") from None
    return unseal(document, passphrase)
