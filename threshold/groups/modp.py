"""The 4096-bit Schnorr group of ElectionGuard 2.0 (q = 2^256 - 189) on gmpy2.

p = 2^4096 - 2^3840 + 2^256 * (floor(2^3584 * ln 2) + DELTA) - 1 and g = 2^((p-1)/q) mod p;
(p-1)/(2q) is prime, so a quadratic residue outside the order-q subgroup has a huge order
and a random-exponent batch test catches it (see `check_members`).
"""

from __future__ import annotations

import secrets
from bisect import bisect_right
from functools import lru_cache
from typing import Sequence

import gmpy2
from gmpy2 import mpz

from threshold.errors import DecodeError
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
ELEMENT_BYTES = 512
BATCH_EXPONENT_BITS = 128  # soundness 2^-128 for the batched membership test
_COMB_WINDOW = 8


class ModpFixedBase(FixedBase):
    """Comb table: base^(j * 2^(8i)) for every byte position i and byte value j."""

    def __init__(self, base: mpz, p: mpz = P, exponent_bits: int = 256) -> None:
        self.p = p
        rows = -(-exponent_bits // _COMB_WINDOW)
        table = []
        row_base = mpz(base)
        for _ in range(rows):
            row = [mpz(1), row_base]
            for _ in range(2, 1 << _COMB_WINDOW):
                row.append(row[-1] * row_base % p)
            table.append(row)
            row_base = row[-1] * row_base % p
        self.table = table
        self.nbytes = rows

    def exp(self, e: int) -> mpz:
        p = self.p
        digits = (int(e) % int(Q)).to_bytes(self.nbytes, "little")
        acc = mpz(1)
        for row, d in zip(self.table, digits):
            if d:
                acc = acc * row[d] % p
        return acc


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
        return gmpy2.powmod(a, int(e) % self.q, self.p)

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

    def multi_exp(self, terms: Sequence[tuple[Element, int]], unreduced: Sequence[tuple[Element, int]] = ()) -> mpz:
        """prod b^(e mod q) over `terms`, times prod b^e over `unreduced` (non-negative exponents taken as
        they are: `member_terms`), equal bases merged."""
        q = self.q
        if not unreduced:
            return multi_exp_mod([(b, int(e) % q) for b, e in terms], self.p)
        merged: dict[Element, int] = {}
        for b, e in terms:
            merged[b] = (merged.get(b, 0) + int(e)) % q
        for b, e in unreduced:
            merged[b] = merged.get(b, 0) + e
        return multi_exp_mod(list(merged.items()), self.p)

    def member_terms(self, pending: Sequence[tuple[Element, str]]) -> list[tuple[mpz, int]]:
        """Unreduced terms x_i^(q s_i), fresh random 128-bit s_i, that fold the membership test owed for
        `pending` (elements with Jacobi symbol 1) into a batch equation checked by one multi-exponentiation
        (see docs/spec.md section 1, "Batched membership"; on failure call `check_members` to name the field)."""
        q = self.q
        return [(x, q * secrets.randbits(BATCH_EXPONENT_BITS)) for x, _ in pending]

    def encode(self, a: Element) -> bytes:
        return int(a).to_bytes(ELEMENT_BYTES, "big")

    def parse_deferred(self, data: bytes, field: str, allow_identity: bool) -> tuple[mpz, bool]:
        """Length, range, identity and Jacobi symbol now; the x^q = 1 test is owed."""
        if not isinstance(data, (bytes, bytearray)):
            raise DecodeError(field, "expected bytes")
        if len(data) != ELEMENT_BYTES:
            raise DecodeError(field, f"expected {ELEMENT_BYTES} bytes, got {len(data)}")
        x = mpz(int.from_bytes(data, "big"))
        if not 0 < x < self.p:
            raise DecodeError(field, "not in the range 1..p-1")
        if x == 1:
            if allow_identity:
                return x, False
            raise DecodeError(field, "the identity element is not allowed here")
        if gmpy2.jacobi(x, self.p) != 1:
            raise DecodeError(field, "not in the order-q subgroup (not a quadratic residue)")
        return x, True

    def decode(self, data: bytes, field: str = "element", allow_identity: bool = False) -> mpz:
        x, owed = self.parse_deferred(data, field, allow_identity)
        if owed and gmpy2.powmod(x, self.q, self.p) != 1:
            raise DecodeError(field, "not in the order-q subgroup")
        return x

    def check_members(self, pending) -> None:
        """One test (prod x_i^s_i)^q = 1 with random 128-bit s_i over quadratic residues.

        Each x_i is a quadratic residue, so its order divides q*s with s = (p-1)/(2q) a prime
        above 2^128: a non-member passes with probability at most 2^-128. On failure every
        element is tested alone so that the error names the bad field.
        """
        if len(pending) > 2:
            combo = multi_exp_mod([(x, secrets.randbits(BATCH_EXPONENT_BITS)) for x, _ in pending], self.p)
            if gmpy2.powmod(combo, self.q, self.p) == 1:
                return
        for x, field in pending:
            if gmpy2.powmod(x, self.q, self.p) != 1:
                raise DecodeError(field, "not in the order-q subgroup")

    def is_member(self, a: Element) -> bool:
        return 0 < a < self.p and gmpy2.powmod(a, self.q, self.p) == 1

    def hash_to_element(self, tag: str, msg: bytes) -> mpz:
        """Uniform integer mod p (RFC 9380 expansion, 128 extra bits) raised to the cofactor."""
        counter = 0
        while True:
            data = expand_message_xmd(msg + counter.to_bytes(4, "big"), dst_for("h2e-modp-" + tag), ELEMENT_BYTES + 16)
            h = gmpy2.powmod(mpz(int.from_bytes(data, "big")) % self.p, COFACTOR, self.p)
            if h != 1:
                return h
            counter += 1

    def describe(self) -> dict[str, str]:
        return {"name": self.name, "p": int(self.p).to_bytes(ELEMENT_BYTES, "big").hex(),
                "q": int(self.q).to_bytes(32, "big").hex(), "g": self.to_hex(self.g)}


@lru_cache(maxsize=16)
def _cached_table(base: mpz) -> ModpFixedBase:
    return ModpFixedBase(base)


def multi_exp_mod(terms: Sequence[tuple[mpz, int]], p: mpz) -> mpz:
    """prod b^e mod p for non-negative exponents of any size (unreduced ones too): Straus for few terms,
    Pippenger for many, whichever the multiplication count estimate favours."""
    terms = [(b, e) for b, e in terms if e]
    if not terms:
        return mpz(1)
    lengths = sorted((e.bit_length() for _, e in terms), reverse=True)
    alone = _POWMOD_SHARE * sum(lengths)  # one gmpy2 powmod per term: C loop, Montgomery reduction
    shared = _straus_cost(lengths) if len(terms) < 16 else min(_straus_cost(lengths), _pippenger_plan(lengths)[1])
    if alone <= shared:
        acc = mpz(1)
        for b, e in terms:
            acc = acc * gmpy2.powmod(b, e, p) % p
        return acc
    if len(terms) < 16 or _straus_cost(lengths) <= _pippenger_plan(lengths)[1]:
        return straus(terms, p)
    return pippenger(terms, p)


# gmpy2.powmod with a b-bit exponent costs about this many Python-level `a * b % p` per exponent bit
# (b squarings and b/6 multiplications in C with Montgomery reduction, about 0.75 of a Python mulmod each)
_POWMOD_SHARE = 0.9


@lru_cache(maxsize=1024)
def _straus_window(bits: int) -> tuple[int, float]:
    """Width w of the odd-power table (2^(w-1) entries) minimizing table + bits/(w+1) multiplications."""
    return min(((w, (1 << (w - 1)) + bits / (w + 1)) for w in range(1, 8)), key=lambda t: t[1])


def _straus_cost(lengths: Sequence[int]) -> float:
    return lengths[0] + sum(_straus_window(b)[1] for b in lengths)


def straus(terms: Sequence[tuple[mpz, int]], p: mpz) -> mpz:
    """Interleaved sliding windows: one shared chain of squarings, an odd-power table per base."""
    terms = [(b, e) for b, e in terms if e]
    if not terms:
        return mpz(1)
    top = max(e.bit_length() for _, e in terms)
    events: list[list[mpz]] = [[] for _ in range(top)]
    for b, e in terms:
        w = _straus_window(e.bit_length())[0]
        mask = (1 << w) - 1
        table = [b]
        if w > 1:
            b2 = b * b % p
            for _ in range((1 << (w - 1)) - 1):
                table.append(table[-1] * b2 % p)
        i = 0
        while e:
            z = (e & -e).bit_length() - 1  # skip to the next set bit: digits are odd
            e >>= z
            i += z
            events[i].append(table[(e & mask) >> 1])
            e >>= w
            i += w
    acc = None
    for i in range(top - 1, -1, -1):
        if acc is not None:
            acc = acc * acc % p
        for x in events[i]:
            acc = x if acc is None else acc * x % p
    return acc


def _pippenger_plan(lengths: Sequence[int]) -> tuple[list[tuple[int, int, int]], int]:
    """Windows (low bit, width, terms with bits there), top down, for exponent bit lengths sorted descending.

    Each window's width minimizes its multiplications per bit: one per term with bits above its low
    bit, two per bucket index (the running sums visit every index), one squaring per bit. Exponents
    of different sizes (batch weights, scalars, folded membership tests) thus get narrower windows
    where fewer terms reach.
    """
    ascending = [-n for n in lengths]
    pos, plan, cost = lengths[0], [], 0
    while pos > 0:
        best = None
        for c in range(1, 17):
            lo = max(0, pos - c)
            n = bisect_right(ascending, -(lo + 1))  # terms with bit_length > lo
            per_bit = (n + (2 << c) + c) / (pos - lo)
            if best is None or per_bit < best[0]:
                best = (per_bit, lo, n)
        _, lo, n = best
        plan.append((lo, pos - lo, n))
        cost += n + (2 << (pos - lo)) + pos - lo
        pos = lo
    return plan, cost


def pippenger(terms: Sequence[tuple[mpz, int]], p: mpz) -> mpz:
    """Bucket multi-exponentiation over the windows of `_pippenger_plan`."""
    terms = sorted(((b, e) for b, e in terms if e), key=lambda t: t[1].bit_length(), reverse=True)
    if not terms:
        return mpz(1)
    plan, _ = _pippenger_plan([e.bit_length() for _, e in terms])
    result = None
    for lo, width, n in plan:
        if result is not None:
            for _ in range(width):
                result = result * result % p
        mask = (1 << width) - 1
        buckets: dict[int, mpz] = {}
        for b, e in terms[:n]:
            d = (e >> lo) & mask
            if d:
                prev = buckets.get(d)
                buckets[d] = b if prev is None else prev * b % p
        if not buckets:
            continue
        running = acc = None
        for d in range(max(buckets), 0, -1):
            bd = buckets.get(d)
            if bd is not None:
                running = bd if running is None else running * bd % p
            if running is not None:
                acc = running if acc is None else acc * running % p
        result = acc if result is None else result * acc % p
    return mpz(1) if result is None else result
