"""Belenios-style credentials: a voter's private credential derives an Ed25519 signing key; the public credential is its verify key."""

from __future__ import annotations

import re
import secrets

from nacl.bindings import crypto_core_ed25519_is_valid_point
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from threshold.encoding import encode
from threshold.errors import DecodeError
from threshold.hashing import sha256

ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"  # base58
CREDENTIAL_CHARS = 24  # 24 base58 characters: about 140 bits
_HEX64 = re.compile(r"[0-9a-f]{64}")


def new_private_credential() -> str:
    """A fresh private credential from the OS generator, for one voter."""
    return "".join(secrets.choice(ALPHABET) for _ in range(CREDENTIAL_CHARS))


def _check_private(credential: str) -> str:
    if not isinstance(credential, str) or len(credential) != CREDENTIAL_CHARS or any(c not in ALPHABET for c in credential):
        raise DecodeError("credential", f"a private credential is {CREDENTIAL_CHARS} base58 characters")
    return credential


def signing_key(election_id: str, credential: str) -> SigningKey:
    """The voter's signing key, derived from the private credential and salted with the election id."""
    seed = sha256(encode("quorum/credential", election_id, _check_private(credential)))
    return SigningKey(seed)


def public_credential(election_id: str, credential: str) -> str:
    """The public credential (hex Ed25519 verify key) that goes on the board."""
    return bytes(signing_key(election_id, credential).verify_key).hex()


def parse_public_credential(text: object, field: str = "credential") -> bytes:
    """Decode a public credential, refusing non-canonical, small-order and identity points."""
    if not isinstance(text, str) or not _HEX64.fullmatch(text):  # bytes.fromhex would skip whitespace
        raise DecodeError(field, "expected 64 lowercase hex characters")
    raw = bytes.fromhex(text)
    if not crypto_core_ed25519_is_valid_point(raw):
        raise DecodeError(field, "not a valid Ed25519 public key")
    return raw


def sign(key: SigningKey, digest: bytes) -> str:
    """Hex Ed25519 signature of a ballot hash."""
    return key.sign(digest).signature.hex()


def signature_valid(credential: bytes, digest: bytes, signature: str) -> bool:
    """Whether signature is the credential's signature of digest."""
    try:
        VerifyKey(credential).verify(digest, bytes.fromhex(signature))
    except (BadSignatureError, ValueError, TypeError):
        return False
    return True
