"""Hybrid encryption to a group public key: ElGamal KEM, HKDF-SHA256, AES-256-GCM.

Used to send DKG shares to a trustee. The KEM secret S = R^e can be revealed with a
Chaum-Pedersen proof, so that anyone can open one ciphertext to adjudicate a complaint.
The sender proves knowledge of log_g R bound to the aad: nobody can reuse another sender's
ephemeral, so revealing S for one ciphertext opens that ciphertext and no other.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from threshold.encoding import encode, hex_bytes
from threshold.errors import DecodeError, VerificationError
from threshold.groups import Element, Group
from threshold.proofs import SchnorrProof

_NONCE = 12


@dataclass(frozen=True)
class HybridCiphertext:
    """Ephemeral R = g^r with a proof of knowledge of r, and AES-GCM nonce || ciphertext || tag."""

    ephemeral: Element
    proof: SchnorrProof
    body: bytes

    def to_json(self, group: Group) -> dict[str, Any]:
        return {"ephemeral": group.to_hex(self.ephemeral), "proof": self.proof.to_json(group), "body": self.body.hex()}

    @classmethod
    def from_json(cls, group: Group, obj: Any, field: str = "encrypted") -> "HybridCiphertext":
        if not isinstance(obj, dict) or set(obj) != {"ephemeral", "proof", "body"}:
            raise DecodeError(field, "expected an object with exactly 'ephemeral', 'proof' and 'body'")
        raw = hex_bytes(obj["body"], f"{field}.body")
        if len(raw) < _NONCE + 16:
            raise DecodeError(f"{field}.body", "too short for nonce and tag")
        return cls(group.from_hex(obj["ephemeral"], f"{field}.ephemeral"),
                   SchnorrProof.from_json(group, obj["proof"], f"{field}.proof"), raw)

    def ephemeral_valid(self, group: Group, aad: bytes) -> bool:
        """Whether the sender proved knowledge of log_g R for this aad."""
        return self.proof.verify(group, self.ephemeral, _ephemeral_ctx(group, aad))


def _ephemeral_ctx(group: Group, aad: bytes) -> bytes:
    return encode("quorum-hybrid-ephemeral", group.name, aad)


def _key(group: Group, ephemeral: Element, shared: Element, aad: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=encode("quorum-hybrid-v1", group.name, aad)).derive(
        encode(group.encode(ephemeral), group.encode(shared)))


def encrypt(group: Group, recipient: Element, plaintext: bytes, aad: bytes) -> HybridCiphertext:
    """Encrypt bytes to the holder of log_g(recipient); `aad` binds the context."""
    r = group.random_scalar()
    ephemeral = group.exp_g(r)
    proof = SchnorrProof.prove(group, r, _ephemeral_ctx(group, aad))
    key = _key(group, ephemeral, group.exp(recipient, r), aad)
    nonce = os.urandom(_NONCE)
    return HybridCiphertext(ephemeral, proof, nonce + AESGCM(key).encrypt(nonce, plaintext, aad))


def kem_secret(group: Group, secret: int, ct: HybridCiphertext) -> Element:
    """S = R^e: what the recipient (or an adjudicator shown S) needs to open the ciphertext."""
    return group.exp(ct.ephemeral, secret)


def open_with(group: Group, shared: Element, ct: HybridCiphertext, aad: bytes) -> bytes:
    """Decrypt given the KEM secret S; raises VerificationError if the ciphertext is not authentic."""
    if not ct.ephemeral_valid(group, aad):
        raise VerificationError("hybrid ciphertext: invalid proof of knowledge of the ephemeral key")
    key = _key(group, ct.ephemeral, shared, aad)
    try:
        return AESGCM(key).decrypt(ct.body[:_NONCE], ct.body[_NONCE:], aad)
    except InvalidTag:
        raise VerificationError("hybrid ciphertext does not decrypt (wrong key or tampered)") from None


def decrypt(group: Group, secret: int, ct: HybridCiphertext, aad: bytes) -> bytes:
    """Decrypt with the recipient's secret key."""
    return open_with(group, kem_secret(group, secret, ct), ct, aad)
