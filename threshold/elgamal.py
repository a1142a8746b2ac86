"""Exponential ElGamal (g^m K^r): additive homomorphism, re-encryption, small-plaintext decryption."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any

from threshold.errors import DecodeError, VerificationError
from threshold.groups import Element, ElementReader, FixedBase, Group


#: Public bound below which a plaintext is encrypted with the short path for g^m.
SMALL_PLAINTEXT = 2**16


@dataclass(frozen=True)
class Ciphertext:
    """(alpha, beta) = (g^r, g^m K^r)."""

    alpha: Element
    beta: Element

    def mul(self, group: Group, other: "Ciphertext") -> "Ciphertext":
        """Homomorphic addition of plaintexts."""
        return Ciphertext(group.mul(self.alpha, other.alpha), group.mul(self.beta, other.beta))

    def to_json(self, group: Group) -> dict[str, str]:
        return {"alpha": group.to_hex(self.alpha), "beta": group.to_hex(self.beta)}

    @classmethod
    def from_json(cls, group: Group, obj: Any, field: str = "ciphertext", reader: ElementReader | None = None,
                  allow_identity: bool = True) -> "Ciphertext":
        """Parse both components; their membership test is owed to `reader` if given, else done now.

        The identity is allowed by default (an empty sum); ballots pass allow_identity=False.
        """
        if not isinstance(obj, dict) or set(obj) != {"alpha", "beta"}:
            raise DecodeError(field, "expected an object with exactly 'alpha' and 'beta'")
        own = reader is None
        reader = reader or group.reader()
        with reader.batched():
            ct = cls(reader.element(obj["alpha"], f"{field}.alpha", allow_identity),
                     reader.element(obj["beta"], f"{field}.beta", allow_identity))
        if own:
            reader.finish()
        return ct


def ciphertext_sum(group: Group, cts: list[Ciphertext]) -> Ciphertext:
    """Product of ciphertexts: encryption of the sum of their plaintexts."""
    alpha, beta = group.identity, group.identity
    for ct in cts:
        alpha, beta = group.mul(alpha, ct.alpha), group.mul(beta, ct.beta)
    return Ciphertext(alpha, beta)


class PublicKey:
    """An ElGamal public key K with its fixed-base table (built on first use)."""

    def __init__(self, group: Group, element: Element) -> None:
        self.group = group
        self.element = group.check_key(element, "public_key")
        self._table: FixedBase | None = None

    @property
    def table(self) -> FixedBase:
        if self._table is None:
            self._table = self.group.fixed_base(self.element)
        return self._table

    def exp(self, e: int) -> Element:
        """K^e through the table."""
        return self.table.exp(e)

    def encrypt(self, m: int, r: int | None = None) -> tuple[Ciphertext, int]:
        """Encrypt the small integer m; returns the ciphertext and its randomness r.

        alpha = g^r and beta = g^m K^r come from one `fixed_base_products` call (constant time in
        m and r). A plaintext in [0, 2^16) (every vote and count) is passed with that public bound,
        so a group may take fewer table rows for g^m; the test only says m lies in that range,
        which the ballot's range proofs state publicly anyway.
        """
        g = self.group
        if r is None:
            r = g.random_scalar()
        gt = g.fixed_base(g.g)
        bound = SMALL_PLAINTEXT if 0 <= m < SMALL_PLAINTEXT else None
        alpha, beta = g.fixed_base_products([[(gt, r, None)], [(gt, m, bound), (self.table, r, None)]])
        return Ciphertext(alpha, beta), r

    def reencrypt(self, ct: Ciphertext, s: int | None = None) -> tuple[Ciphertext, int]:
        """Multiply by an encryption of zero: same plaintext, fresh randomness."""
        zero, s = self.encrypt(0, s)
        return ct.mul(self.group, zero), s

    def to_hex(self) -> str:
        return self.group.to_hex(self.element)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PublicKey) and other.group is self.group and other.element == self.element

    def __hash__(self) -> int:
        return hash((self.group.name, self.group.encode(self.element)))


def decrypt(group: Group, secret: int, ct: Ciphertext, bound: int) -> int:
    """Decrypt with the whole secret key (tests and single-key uses): m in [0, bound]."""
    return discrete_log(group, group.div(ct.beta, group.exp(ct.alpha, secret)), bound)


class _BabySteps:
    """Table {g^j: j} for j < size, grown on demand and kept per group, shared by every thread."""

    def __init__(self, group: Group) -> None:
        self.group = group
        self.table: dict[Element, int] = {group.identity: 0}
        self.last = group.identity
        self.size = 1
        self._lock = threading.Lock()

    def grow(self, size: int) -> None:
        """Extend the table to `size` entries, one thread at a time: two growths interleaved would file
        g^j under another j, and every later decryption meeting it would return a wrong plaintext."""
        g = self.group
        with self._lock:
            while self.size < size:
                self.last = g.mul(self.last, g.g)
                self.table[self.last] = self.size
                self.size += 1


_BABY: dict[str, _BabySteps] = {}


BABY_STEPS_MAX = 1 << 20  # the most baby steps kept per group (~100 MB in ed25519, several times that in modp):
# beyond, giant steps go on to the plaintext


def discrete_log(group: Group, h: Element, bound: int) -> int:
    """The m in [0, bound] with g^m = h, by baby-step giant-step with a cached table of at most BABY_STEPS_MAX entries
    (a huge bound then costs giant steps up to the plaintext itself, not a table the size of its square root)."""
    if bound < 0:
        raise ValueError("bound must be non-negative")
    baby = _BABY.setdefault(group.name, _BabySteps(group))
    step = max(1, min(math.isqrt(bound) + 1, BABY_STEPS_MAX))
    baby.grow(step)
    step = baby.size
    giant = group.inv(group.exp_g(step))
    y = h
    for i in range(bound // step + 1):
        j = baby.table.get(y)
        if j is not None and i * step + j <= bound:
            return i * step + j
        y = group.mul(y, giant)
    raise VerificationError(f"plaintext is not in the range 0..{bound}")
