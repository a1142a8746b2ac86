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


_PROBE = X25519PrivateKey.from_private_bytes(bytes([8]) + bytes(30) + bytes([64]))  # any fixed key: a public test


def check_public(public: bytes, what: str) -> None:
    """Refuse a public key that is not a canonical u-coordinate (< 2^255 - 19) or is of small order.

    X25519 itself accepts both (it masks the top bit and yields an all-zero secret for small
    order), so a key like this would only fail later, at every honest peer that agrees with it.
    """
    if int.from_bytes(public, "little") >= 2**255 - 19:
        raise SecAggError(f"{what}: not a canonical X25519 public key")
    try:
        _PROBE.exchange(X25519PublicKey.from_public_bytes(public))
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
