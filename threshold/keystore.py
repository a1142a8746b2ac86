"""Trustee secrets at rest: argon2id key derivation, AES-256-GCM, files written with mode 0600."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from argon2.exceptions import HashingError
from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from threshold.encoding import canonical_json, hex_bytes
from threshold.errors import DecodeError, VerificationError

FORMAT = "quorum-secret-v1"
# argon2id, RFC 9106 second recommended option (64 MiB, 3 passes, 4 lanes)
ARGON2 = {"time_cost": 3, "memory_cost": 64 * 1024, "parallelism": 4}
# what a file may ask for (memory in KiB): 16x the default at most, so reading a file never takes more
# than 1 GiB of the trustee's machine, whoever wrote the file
_LIMITS = {"time_cost": (1, 20), "memory_cost": (8 * 1024, 1024 * 1024), "parallelism": (1, 16)}


def passphrase_bytes(passphrase: Any) -> bytes:
    """The UTF-8 of a passphrase; DecodeError naming it if it is not text or holds a lone surrogate (no UTF-8)."""
    if not isinstance(passphrase, str):
        raise DecodeError("passphrase", f"expected text, got {type(passphrase).__name__}")
    try:
        return passphrase.encode("utf-8")
    except UnicodeEncodeError:
        raise DecodeError("passphrase", "holds a lone surrogate (not a Unicode character): type it again") from None


def _kdf_params(values: dict[str, Any], field: str) -> dict[str, int]:
    """argon2id's parameters within _LIMITS, which both the writer and the reader of a file hold to."""
    params = {}
    for name, (low, high) in _LIMITS.items():
        value = values.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise DecodeError(f"{field}.{name}", f"expected an integer in {low}..{high}")
        params[name] = value
    return params


def _derive(passphrase: str, salt: bytes, params: dict[str, int]) -> bytes:
    return hash_secret_raw(passphrase_bytes(passphrase), salt, hash_len=32, type=Type.ID, **params)


def seal(secret: Any, passphrase: str, params: dict[str, int] | None = None) -> dict[str, Any]:
    """Encrypt a JSON-serializable secret under a passphrase; returns the sealed document. Parameters outside what
    `unseal` accepts are refused (DecodeError, a ValueError) before anything is derived or written."""
    if not passphrase:
        raise ValueError("an empty passphrase protects nothing")
    params = dict(params or ARGON2)
    if set(params) != set(_LIMITS):
        raise DecodeError("kdf", f"expected exactly {', '.join(sorted(_LIMITS))}")
    params = _kdf_params(params, "kdf")
    salt, nonce = os.urandom(16), os.urandom(12)
    body = AESGCM(_derive(passphrase, salt, params)).encrypt(nonce, canonical_json(secret), FORMAT.encode())
    return {"format": FORMAT, "kdf": {"name": "argon2id", "salt": salt.hex(), **params},
            "nonce": nonce.hex(), "ciphertext": body.hex()}


def unseal(document: Any, passphrase: str) -> Any:
    """Decrypt a sealed document; a wrong passphrase or any tampering raises VerificationError."""
    if not isinstance(document, dict) or set(document) != {"format", "kdf", "nonce", "ciphertext"}:
        raise DecodeError("secret file", "expected exactly format, kdf, nonce, ciphertext")
    if document["format"] != FORMAT:
        raise DecodeError("secret file.format", f"not a {FORMAT} document")
    kdf = document["kdf"]
    if not isinstance(kdf, dict) or set(kdf) != {"name", "salt", *_LIMITS}:
        raise DecodeError("secret file.kdf", "expected name, salt, time_cost, memory_cost, parallelism")
    if kdf["name"] != "argon2id":
        raise DecodeError("secret file.kdf.name", "expected argon2id")
    params = _kdf_params(kdf, "secret file.kdf")
    salt = hex_bytes(kdf["salt"], "secret file.kdf.salt", 16)
    nonce = hex_bytes(document["nonce"], "secret file.nonce", 12)
    body = hex_bytes(document["ciphertext"], "secret file.ciphertext")
    if len(body) < 16:
        raise DecodeError("secret file.ciphertext", "too short for the authentication tag")
    try:
        plain = AESGCM(_derive(passphrase, salt, params)).decrypt(nonce, body, FORMAT.encode())
    except (InvalidTag, HashingError):
        raise VerificationError("wrong passphrase or corrupted secret file") from None
    return json.loads(plain)


def _private_copy(path: Path, data: bytes) -> str:
    """`data` written and synced to a new file beside `path` (mode 0600, O_EXCL); its name."""
    fd, tmp = tempfile.mkstemp(prefix=".quorum-secret-", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp


def save(path: str | Path, secret: Any, passphrase: str, params: dict[str, int] | None = None) -> None:
    """Write the sealed secret with mode 0600, atomically (replace_private)."""
    replace_private(path, canonical_json(seal(secret, passphrase, params)))


def replace_private(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` with mode 0600, atomically: a new file of a unique name, synced, renamed over the old
    one, so an old descriptor or a planted symlink never sees it, a failed write loses nothing, and two writers
    (threads or processes) leave one whole file."""
    path = Path(path)
    tmp = _private_copy(path, data)
    try:
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def create_new(path: str | Path, data: bytes) -> bool:
    """Write `data` to a new file at `path`, mode 0600, whole or not at all: written and synced under a private
    name, then hard-linked into place, so that a process starting at the same moment never reads it half written
    and an existing file (or a planted symlink) is never replaced. False if `path` already exists."""
    path = Path(path)
    tmp = _private_copy(path, data)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        os.unlink(tmp)
    return True


def load(path: str | Path, passphrase: str) -> Any:
    """Read and decrypt a sealed secret file."""
    try:
        document = json.loads(Path(path).read_bytes())
    except (OSError, ValueError, RecursionError) as exc:  # RecursionError: JSON nested too deep
        raise DecodeError("secret file", f"cannot read {path}: {exc}") from None
    return unseal(document, passphrase)
