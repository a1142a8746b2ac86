"""The legacy browser backup format, quorum-secret-browser-v1, read and written here.

web/static/js/crypto/keystore.js now seals in threshold.keystore's own format (quorum-secret-v1,
argon2id in plain JavaScript), so the backups trustees download today are plain threshold.keystore
files (`keystore.load` opens them). Browsers before that derived the key with PBKDF2-HMAC-SHA256
(at least 600,000 iterations, WebCrypto); the rest matched threshold.keystore: AES-256-GCM over the
canonical JSON of the secret, the format name as associated data. Such backups still open: here,
and in keystore.js's `unseal`. `unseal_any` opens either kind of document. `seal` is kept for tests
and for web/demo.py; nothing in the browser writes this format any more.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from threshold import keystore
from threshold.encoding import canonical_json, hex_bytes
from threshold.errors import DecodeError, VerificationError

FORMAT = "quorum-secret-browser-v1"
PBKDF2_ITERATIONS = 600_000  # the minimum accepted, and the browser's default
MAX_ITERATIONS = 10_000_000


def _derive(passphrase: str, salt: bytes, iterations: int) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", keystore.passphrase_bytes(passphrase), salt, iterations, dklen=32)


def seal(secret: Any, passphrase: str, iterations: int = PBKDF2_ITERATIONS) -> dict[str, Any]:
    """A legacy quorum-secret-browser-v1 document (PBKDF2), as browsers wrote before argon2id; keystore.js still
    opens it. New backups are threshold.keystore.seal documents."""
    if not passphrase:
        raise ValueError("an empty passphrase protects nothing")
    if not PBKDF2_ITERATIONS <= iterations <= MAX_ITERATIONS:
        raise ValueError(f"iterations must be in {PBKDF2_ITERATIONS}..{MAX_ITERATIONS}")
    salt, nonce = os.urandom(16), os.urandom(12)
    body = AESGCM(_derive(passphrase, salt, iterations)).encrypt(nonce, canonical_json(secret), FORMAT.encode())
    return {"format": FORMAT, "kdf": {"name": "pbkdf2-sha256", "salt": salt.hex(), "iterations": iterations},
            "nonce": nonce.hex(), "ciphertext": body.hex()}


def unseal(document: Any, passphrase: str) -> Any:
    """Decrypt a legacy browser-sealed (PBKDF2) document; a wrong passphrase or any tampering raises
    VerificationError."""
    if not isinstance(document, dict) or set(document) != {"format", "kdf", "nonce", "ciphertext"}:
        raise DecodeError("secret file", "expected exactly the keys format, kdf, nonce, ciphertext")
    if document["format"] != FORMAT:
        raise DecodeError("secret file.format", f"not a {FORMAT} document")
    kdf = document["kdf"]
    if not isinstance(kdf, dict) or set(kdf) != {"name", "salt", "iterations"} or kdf["name"] != "pbkdf2-sha256":
        raise DecodeError("secret file.kdf", "expected {name: pbkdf2-sha256, salt, iterations}")
    iterations = kdf["iterations"]
    if not isinstance(iterations, int) or isinstance(iterations, bool) or not PBKDF2_ITERATIONS <= iterations <= MAX_ITERATIONS:
        raise DecodeError("secret file.kdf.iterations", f"expected an integer in {PBKDF2_ITERATIONS}..{MAX_ITERATIONS}")
    salt = hex_bytes(kdf["salt"], "secret file.kdf.salt", 16)
    nonce = hex_bytes(document["nonce"], "secret file.nonce", 12)
    body = hex_bytes(document["ciphertext"], "secret file.ciphertext")
    try:
        plain = AESGCM(_derive(passphrase, salt, iterations)).decrypt(nonce, body, FORMAT.encode())
    except InvalidTag:
        raise VerificationError("wrong passphrase or corrupted secret file") from None
    return json.loads(plain)


def unseal_any(document: Any, passphrase: str) -> Any:
    """Open a backup in either format: quorum-secret-v1 (threshold.keystore, and the browser since it derives with
    argon2id) or the legacy quorum-secret-browser-v1 (PBKDF2)."""
    if isinstance(document, dict) and document.get("format") == FORMAT:
        return unseal(document, passphrase)
    return keystore.unseal(document, passphrase)
