"""The 4096-bit Schnorr group of ElectionGuard 2.0 (q = 2^256 - 189) on gmpy2.

p = 2^4096 - 2^3840 + 2^256 * (floor(2^3584 * ln 2) + DELTA) - 1 and g = 2^((p-1)/q) mod p;
(p-1)/(2q) is prime, so a quadratic residue outside the order-q subgroup has a huge order
and a random-exponent batch test catches it (see `check_members`); p = 3 mod 4, so
Z_p^* = {1, -1} x QR and -1 is outside the subgroup (see `accepts`).
"""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from typing import Sequence

import gmpy2
from gmpy2 import mpz

from threshold.errors import DecodeError
from threshold.groups._modp import Modulus
from threshold.groups.base import Element, FixedBase, Group
from threshold.hashing import dst_for, expand_message_xmd

Q = mpz(2**256 - 189)
P = mpz(
    int(
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"
        "B17217F7D1CF79ABC9E3B39803F2F6AF40F343267298B62D8A0D175B8BAAFA2B"
        "E7B876206DEBAC98559552FB4AFA1B10ED2EAE35C138214427573B291169B825"
        "3E96CA16224AE8C51ACBDA11317C387EB9EA9BC3B136603B256FA0EC7657F74B"
        "72CE87B19D6548CAF5DFA6BD38303248655FA1872F20E3A2DA2D97C50F3FD5C6"
        "07F4CA11FB5BFB90610D30F88FE551A2EE569D6DFC1EFA157D2E23DE1400B396"
        "17460775DB8990E5C943E732B479CD33CCCC4E659393514C4C1A1E0BD1D6095D"
        "25669B333564A3376A9C7F8A5E148E82074DB6015CFE7AA30C480A5417350D2C"
        "955D5179B1E17B9DAE313CDB6C606CB1078F735D1B2DB31B5F50B5185064C18B"
        "4D162DB3B365853D7598A1951AE273EE5570B6C68F96983496D4E6D330AF889B"
        "44A02554731CDC8EA17293D1228A4EF98D6F5177FBCF0755268A5C1F9538B982"
        "61AFFD446B1CA3CF5E9222B88C66D3C5422183EDC99421090BBB16FAF3D949F2"
        "36E02B20CEE886B905C128D53D0BD2F9621363196AF503020060E49908391A0C"
        "57339BA2BEBA7D052AC5B61CC4E9207CEF2F0CE2D7373958D762265890445744"
        "FB5F2DA4B751005892D356890DEFE9CAD9B9D4B713E06162A2D8FDD0DF2FD608"
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF",
        16,
    )
)
COFACTOR = (P - 1) // Q
G = gmpy2.powmod(2, COFACTOR, P)
ARITH_ENV = "QUORUM_MODP_ARITH"  # "ifma", "avx2" or "openssl": force one (benchmarks, or a CPU where the default misbehaves)


def _native() -> Modulus:
    """The Montgomery constants for the multi-exponentiations, on the fastest arithmetic this CPU offers for P, or
    on the one $QUORUM_MODP_ARITH names (RuntimeError naming the variable if this CPU cannot run it)."""
    forced = os.environ.get(ARITH_ENV)
    if not forced:
        return Modulus(int(P))
    try:
        return Modulus(int(P), arith=forced)
    except ValueError as exc:
        raise RuntimeError(f"{ARITH_ENV}={forced!r}: {exc}") from None


_NATIVE = _native()


def native_arithmetic() -> str:
    """Which arithmetic this machine's modp group runs on: the one $QUORUM_MODP_ARITH forces if set, else "AVX-512
    IFMA" where the CPU has it, else "AVX2" where it has that, else "OpenSSL"."""
    return {"ifma": "AVX-512 IFMA", "avx2": "AVX2", "openssl": "OpenSSL"}[_NATIVE.arith]


ELEMENT_BYTES = 512
SCALAR_BYTES = 32  # q < 2^256
BATCH_EXPONENT_BITS = 128  # soundness 2^-128 for the batched membership test


class ModpFixedBase(FixedBase):
    """Table of base^(j * 2^(w i)) for every w-bit window i of the exponent and j = 0..2^w - 1 (native, `_modp.Comb`;
    w = 6 on AVX2, else 5), read in constant time: every window scans its whole row and multiplies (the path of
    secret exponents: keys, nonces, randomness)."""

    def __init__(self, base: mpz, exponent_bits: int = 256) -> None:
        self.nbytes = -(-exponent_bits // 8)  # the exponent bytes the table covers
        self.comb = _NATIVE.comb(int(base), self.nbytes)

    def exp(self, e: int) -> mpz:
        return mpz(self.comb.exp(int(e) % int(Q)))


class ModpGroup(Group):
    """Schnorr group of 4096-bit p with 256-bit q (ElectionGuard 2.0 standard constants)."""

    name = "modp"
    element_bytes = ELEMENT_BYTES

    def __init__(self) -> None:
        self.p = P
        self.q = int(Q)
        self.g = G
        self.identity = mpz(1)
        self._g_table: ModpFixedBase | None = None

    def mul(self, a: Element, b: Element) -> mpz:
        return a * b % self.p

    def inv(self, a: Element) -> mpz:
        return gmpy2.invert(a, self.p)

    def exp(self, a: Element, e: int) -> mpz:
        """a^e in time and memory accesses that do not depend on e (native fixed windows: `_modp.Modulus.ct_exp`):
        the path of secret exponents with variable bases (partial decryptions, proof nonces, KEM secrets)."""
        return mpz(_NATIVE.ct_exp(a, int(e) % self.q, SCALAR_BYTES))

    def exp_g(self, e: int) -> mpz:
        if self._g_table is None:
            self._g_table = ModpFixedBase(self.g)
        return self._g_table.exp(e)

    def fixed_base(self, base: Element) -> FixedBase:
        if base == self.g:
            if self._g_table is None:
                self._g_table = ModpFixedBase(self.g)
            return self._g_table
        return _cached_table(mpz(base))

    def fixed_base_products(self, products: Sequence[Sequence[tuple[FixedBase, int, int | None]]]) -> list[mpz]:
        """All products in one native call: each result leaves Montgomery form once. A term's public bound B takes
        only the table rows of the bytes B - 1 needs (g^m for a vote: 4 of 52 rows, 3 of 43 on AVX2)."""
        q = self.q

        def term(t: ModpFixedBase, e: int, bound: int | None) -> tuple:
            nbytes = t.nbytes if bound is None else max(1, (int(bound) - 1).bit_length() + 7 >> 3)
            # a bound wider than the table is no bound (the contract allows any public B > e)
            return (t.comb, int(e) % q) if nbytes >= t.nbytes else (t.comb, int(e) % q, nbytes)

        return [mpz(x) for x in _NATIVE.products([[term(t, e, bound) for t, e, bound in terms]  # type: ignore[arg-type]
                                                  for terms in products])]

    def multi_exp(self, terms: Sequence[tuple[Element, int]], unreduced: Sequence[tuple[Element, int]] = ()) -> mpz:
        """prod b^(e mod q) over `terms`, times prod b^e over `unreduced` (non-negative exponents taken as
        they are: `member_terms`), equal bases merged."""
        q = self.q
        if not unreduced:
            return multi_exp_mod([(b, int(e) % q) for b, e in terms])
        merged: dict[Element, int] = {}
        for b, e in terms:
            merged[b] = (merged.get(b, 0) + int(e)) % q
        for b, e in unreduced:
            merged[b] = merged.get(b, 0) + e
        return multi_exp_mod(list(merged.items()))

    def member_terms(self, pending: Sequence[tuple[Element, str]]) -> list[tuple[mpz, int]] | None:
        """Unreduced terms x_i^(q s_i), fresh random 128-bit s_i, that fold the membership test owed for
        `pending` (elements with Jacobi symbol 1) into a batch equation checked by one multi-exponentiation
        (see docs/spec.md section 1, "Batched membership"; on failure call `check_members` to name the field)."""
        q = self.q
        return [(x, q * secrets.randbits(BATCH_EXPONENT_BITS)) for x, _ in pending]

    def encode(self, a: Element) -> bytes:
        return a.to_bytes(ELEMENT_BYTES, "big")  # int and gmpy2.mpz both have it (mpz's skips a conversion)

    def parse_deferred(self, data: bytes, field: str, allow_identity: bool) -> tuple[mpz, bool]:
        """Length, range, identity and Jacobi symbol now; the x^q = 1 test is owed."""
        x = self._in_range(data, field)
        if x == 1:
            if allow_identity:
                return x, False
            raise DecodeError(field, "the identity element is not allowed here")
        if gmpy2.jacobi(x, self.p) != 1:
            raise DecodeError(field, "not in the order-q subgroup (not a quadratic residue)")
        return x, True

    def parse_commitment(self, data: bytes, field: str, allow_identity: bool) -> tuple[mpz, bool]:
        """Length and range only, no test owed: the equations' weights force the commitment's order-s part
        (s = (p-1)/2q > 2^128 prime) out, and its sign (p = 3 mod 4, so Z_p^* = {1, -1} x QR) is ignored
        by `accepts`; saves a Jacobi symbol."""
        x = self._in_range(data, field)
        if not allow_identity and (x == 1 or x == self.p - 1):
            raise DecodeError(field, "the identity element (up to sign) is not allowed here")
        return x, False

    def _in_range(self, data: bytes, field: str) -> mpz:
        """512 bytes holding an integer in 1..p-1."""
        if not isinstance(data, (bytes, bytearray)):
            raise DecodeError(field, "expected bytes")
        if len(data) != ELEMENT_BYTES:
            raise DecodeError(field, f"expected {ELEMENT_BYTES} bytes, got {len(data)}")
        x = mpz(int.from_bytes(data, "big"))
        if not 0 < x < self.p:
            raise DecodeError(field, "not in the range 1..p-1")
        return x

    def accepts(self, product: Element) -> bool:
        """1, or -1: the sign a commitment may carry (-1 is not in the subgroup, so an equation over
        members alone can never give it)."""
        return product == 1 or product == self.p - 1

    def decode(self, data: bytes, field: str = "element", allow_identity: bool = False) -> mpz:
        x, owed = self.parse_deferred(data, field, allow_identity)
        if owed and not _order_divides_q(x):
            raise DecodeError(field, "not in the order-q subgroup")
        return x

    def check_members(self, pending) -> None:
        """One test (prod x_i^s_i)^q = 1 with random 128-bit s_i over quadratic residues.

        Each x_i is a quadratic residue, so its order divides q*s with s = (p-1)/(2q) a prime
        above 2^128: a non-member passes with probability at most 2^-128. On failure every
        element is tested alone so that the error names the bad field.
        """
        if len(pending) > 2:
            combo = multi_exp_mod([(x, secrets.randbits(BATCH_EXPONENT_BITS)) for x, _ in pending])
            if _order_divides_q(combo):
                return
        for x, field in pending:
            if not _order_divides_q(x):
                raise DecodeError(field, "not in the order-q subgroup")

    def is_member(self, a: Element) -> bool:
        return 0 < a < self.p and _order_divides_q(a)

    def hash_to_element(self, tag: str, msg: bytes) -> mpz:
        """Uniform integer mod p (RFC 9380 expansion, 128 extra bits) raised to the cofactor."""
        counter = 0
        while True:
            data = expand_message_xmd(msg + counter.to_bytes(4, "big"), dst_for("h2e-modp-" + tag), ELEMENT_BYTES + 16)
            h = multi_exp_mod([(mpz(int.from_bytes(data, "big")) % self.p, COFACTOR)])
            if h != 1:
                return h
            counter += 1

    def describe(self) -> dict[str, str]:
        return {"name": self.name, "p": int(self.p).to_bytes(ELEMENT_BYTES, "big").hex(),
                "q": int(self.q).to_bytes(32, "big").hex(), "g": self.to_hex(self.g)}


@lru_cache(maxsize=16)
def _cached_table(base: mpz) -> ModpFixedBase:
    return ModpFixedBase(base)


def multi_exp_mod(terms: Sequence[tuple[mpz, int]]) -> mpz:
    """prod b^e mod P for bases below P and non-negative exponents of any size (unreduced ones too), by the native
    Straus, Bos-Coster or Pippenger (`_modp`, by size; variable time: public exponents only)."""
    terms = [(b, e) for b, e in terms if e]
    if not terms:
        return mpz(1)
    return mpz(_NATIVE.multi_exp([b for b, _ in terms], [e for _, e in terms]))


def _order_divides_q(x: mpz) -> bool:
    """x^q = 1 mod P: the membership test of an element in 1..P-1."""
    return multi_exp_mod([(x, Q)]) == 1
