"""The prime-order subgroup of edwards25519 through libsodium (PyNaCl bindings).

Elements are canonical 32-byte compressed points. libsodium refuses non-canonical encodings,
small-order points and points outside the main subgroup, so decoding checks membership.
"""

from __future__ import annotations

from typing import Sequence

import nacl.bindings as sodium
from nacl._sodium import ffi, lib  # PyNaCl's own cffi binding: the hot paths skip its Python wrappers

from threshold.errors import DecodeError
from threshold.groups.base import Element, FixedBase, Group
from threshold.hashing import dst_for, expand_message_xmd

L = 2**252 + 27742317777372353535851937790883648493
IDENTITY = (1).to_bytes(32, "little")
BASEPOINT = sodium.crypto_scalarmult_ed25519_base_noclamp((1).to_bytes(32, "little"))


class Ed25519FixedBase(FixedBase):
    """libsodium's variable-base ladder is already the fast path here; no table is kept."""

    def __init__(self, group: "Ed25519Group", base: bytes) -> None:
        self.group = group
        self.base = base

    def exp(self, e: int) -> bytes:
        return self.group.exp(self.base, e)


class Ed25519Group(Group):
    """edwards25519 main subgroup, order L = 2^252 + 2774...8493."""

    name = "ed25519"
    element_bytes = 32

    def __init__(self) -> None:
        self.q = L
        self.g = BASEPOINT
        self.identity = IDENTITY

    def mul(self, a: Element, b: Element) -> bytes:
        if a == IDENTITY:
            return b
        if b == IDENTITY:
            return a
        return sodium.crypto_core_ed25519_add(a, b)

    def inv(self, a: Element) -> bytes:
        if a == IDENTITY:
            return a
        return sodium.crypto_core_ed25519_sub(IDENTITY, a)

    def div(self, a: Element, b: Element) -> bytes:
        if b == IDENTITY:
            return a
        return sodium.crypto_core_ed25519_sub(a, b)

    def exp(self, a: Element, e: int) -> bytes:
        e = int(e) % L
        if e == 0 or a == IDENTITY:
            return IDENTITY
        out = ffi.new("unsigned char[]", 32)
        if lib.crypto_scalarmult_ed25519_noclamp(out, e.to_bytes(32, "little"), bytes(a)) != 0:
            raise ValueError("scalar multiplication refused: the point is not in the prime-order subgroup")
        return ffi.buffer(out, 32)[:]

    def exp_g(self, e: int) -> bytes:
        e = int(e) % L
        if e == 0:
            return IDENTITY
        out = ffi.new("unsigned char[]", 32)
        lib.crypto_scalarmult_ed25519_base_noclamp(out, e.to_bytes(32, "little"))
        return ffi.buffer(out, 32)[:]

    def fixed_base(self, base: Element) -> FixedBase:
        return Ed25519FixedBase(self, base)

    def multi_exp(self, terms: Sequence[tuple[Element, int]]) -> bytes:
        acc = IDENTITY
        for base, e in terms:
            term = self.exp_g(e) if base == BASEPOINT else self.exp(base, e)
            acc = self.mul(acc, term)
        return acc

    def encode(self, a: Element) -> bytes:
        return bytes(a)

    def decode(self, data: bytes, field: str = "element", allow_identity: bool = False) -> bytes:
        if not isinstance(data, (bytes, bytearray)):
            raise DecodeError(field, "expected bytes")
        if len(data) != 32:
            raise DecodeError(field, f"expected 32 bytes, got {len(data)}")
        data = bytes(data)
        if data == IDENTITY:
            if allow_identity:
                return data
            raise DecodeError(field, "the identity element is not allowed here")
        if not sodium.crypto_core_ed25519_is_valid_point(data):
            raise DecodeError(field, "not a canonical point of the prime-order subgroup")
        return data

    def is_member(self, a: Element) -> bool:
        return a == IDENTITY or bool(sodium.crypto_core_ed25519_is_valid_point(bytes(a)))

    def hash_to_element(self, tag: str, msg: bytes) -> bytes:
        """Two Elligator 2 maps (libsodium from_uniform, cofactor cleared) added: random-oracle style."""
        data = expand_message_xmd(msg, dst_for("h2e-ed25519-" + tag), 64)
        return sodium.crypto_core_ed25519_add(
            sodium.crypto_core_ed25519_from_uniform(data[:32]),
            sodium.crypto_core_ed25519_from_uniform(data[32:]),
        )

    def describe(self) -> dict[str, str]:
        return {"name": self.name, "q": self.q.to_bytes(32, "big").hex(), "g": self.to_hex(self.g)}
