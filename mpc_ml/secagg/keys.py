"""X25519 key pairs, key agreement, and the encoding of a mask key as a Shamir secret."""

from __future__ import annotations

import secrets

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from .errors import SecAggError


def new_scalar() -> int:
    """A fresh clamped X25519 scalar (2^254 + 8m, m < 2^251)."""
    return 2**254 + 8 * secrets.randbelow(2**251)


def private(scalar: int) -> X25519PrivateKey:
    """The X25519 key of a clamped scalar."""
    return X25519PrivateKey.from_private_bytes(scalar.to_bytes(32, "little"))


def public_bytes(scalar: int) -> bytes:
    """The 32-byte public key of a clamped scalar."""
    return private(scalar).public_key().public_bytes_raw()


def agree(scalar: int, peer_public: bytes, what: str) -> bytes:
    """X25519 shared secret; a small-order peer key is an error."""
    try:
        return private(scalar).exchange(X25519PublicKey.from_public_bytes(peer_public))
    except ValueError as exc:
        raise SecAggError(f"{what}: invalid public key (small order)") from exc


def scalar_to_secret(scalar: int) -> int:
    """The Shamir secret for a clamped scalar: scalar / 8, below 2^252 and so in the share field."""
    return scalar >> 3


def secret_to_scalar(secret: int, what: str) -> int:
    """Inverse of `scalar_to_secret`; a value that is not a clamped scalar / 8 is an error."""
    if secret >> 251 != 1:
        raise SecAggError(f"{what}: reconstructed value is not a clamped X25519 scalar")
    return secret << 3
