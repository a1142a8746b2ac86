"""Hybrid encryption to a group public key: ElGamal KEM, HKDF-SHA256, AES-256-GCM.

Used to send DKG shares to a trustee. The KEM secret S = R^e can be revealed with a
Chaum-Pedersen proof, so that anyone can open one ciphertext to adjudicate a complaint.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from threshold.encoding import encode
from threshold.errors import DecodeError, VerificationError
from threshold.groups import Element, Group

_NONCE = 12


@dataclass(frozen=True)
class HybridCiphertext:
    """Ephemeral R = g^r and AES-GCM nonce || ciphertext || tag."""

    ephemeral: Element
    body: bytes

    def to_json(self, group: Group) -> dict[str, str]:
        return {"ephemeral": group.to_hex(self.ephemeral), "body": self.body.hex()}

    @classmethod
    def from_json(cls, group: Group, obj: Any, field: str = "encrypted") -> "HybridCiphertext":
        if not isinstance(obj, dict) or set(obj) != {"ephemeral", "body"}:
            raise DecodeError(field, "expected an object with exactly 'ephemeral' and 'body'")
        body = obj["body"]
        if not isinstance(body, str) or body != body.lower():
            raise DecodeError(f"{field}.body", "expected lowercase hex")
        try:
            raw = bytes.fromhex(body)
        except ValueError:
            raise DecodeError(f"{field}.body", "not a hex string") from None
        if len(raw) < _NONCE + 16:
            raise DecodeError(f"{field}.body", "too short for nonce and tag")
        return cls(group.from_hex(obj["ephemeral"], f"{field}.ephemeral"), raw)


def _key(group: Group, ephemeral: Element, shared: Element, aad: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=encode("quorum-hybrid-v1", group.name, aad)).derive(
        encode(group.encode(ephemeral), group.encode(shared)))


def encrypt(group: Group, recipient: Element, plaintext: bytes, aad: bytes) -> HybridCiphertext:
    """Encrypt bytes to the holder of log_g(recipient); `aad` binds the context."""
    r = group.random_scalar()
    ephemeral = group.exp_g(r)
    key = _key(group, ephemeral, group.exp(recipient, r), aad)
    nonce = os.urandom(_NONCE)
    return HybridCiphertext(ephemeral, nonce + AESGCM(key).encrypt(nonce, plaintext, aad))


def kem_secret(group: Group, secret: int, ct: HybridCiphertext) -> Element:
    """S = R^e: what the recipient (or an adjudicator shown S) needs to open the ciphertext."""
    return group.exp(ct.ephemeral, secret)


def open_with(group: Group, shared: Element, ct: HybridCiphertext, aad: bytes) -> bytes:
    """Decrypt given the KEM secret S; raises VerificationError if the ciphertext is not authentic."""
    key = _key(group, ct.ephemeral, shared, aad)
    try:
        return AESGCM(key).decrypt(ct.body[:_NONCE], ct.body[_NONCE:], aad)
    except InvalidTag:
        raise VerificationError("hybrid ciphertext does not decrypt (wrong key or tampered)") from None


def decrypt(group: Group, secret: int, ct: HybridCiphertext, aad: bytes) -> bytes:
    """Decrypt with the recipient's secret key."""
    return open_with(group, kem_secret(group, secret, ct), ct, aad)
