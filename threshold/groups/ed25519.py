"""The prime-order subgroup of edwards25519, on native arithmetic (threshold/groups/_ed25519.c).

Elements are canonical 32-byte compressed points (RFC 8032 encoding), unchanged from the
libsodium-based version: records, proofs and test vectors keep their bytes.

Which code path sees which scalars (see the C file's header and docs/spec.md):

- constant time, for secret scalars (keys, nonces, encryption randomness, shares):
  `exp` (any base), `exp_g`, every `fixed_base(...)` table and `fixed_base_products` (comb
  tables with scans and conditional moves; no branch or memory index depends on a scalar bit);
- variable time, for public scalars only: `multi_exp` (Straus / Pippenger). Its callers are
  verification equations (batch.py), Lagrange coefficients applied to published partial
  decryptions (decryption.combine, psi.psisum) and Feldman checks (vss): all public.

Membership: decoding checks the canonical encoding and the curve equation at once; the
prime-order subgroup test (by halving: P, a half of P and a half of that in 2E, four
exponentiations shared in lanes) is owed to `ElementReader.finish()`, which tests each element,
or, from a crossover on, 128 random-subset sums (soundness 2^-128; docs/spec.md "ed25519").
`decode` and `is_member` test one element at once. Proof commitments owe no test: verification
equations are accepted up to torsion (`accepts`). hash_to_element stays on libsodium.
"""

from __future__ import annotations

import secrets
from bisect import bisect_right
from functools import lru_cache
from operator import itemgetter
from typing import Any, Iterable, Sequence

import nacl.bindings as sodium

from threshold import _hashing
from threshold.encoding import hex_bytes, hex_list
from threshold.errors import DecodeError
from threshold.groups import _ed25519 as native
from threshold.groups.base import Element, ElementReader, FixedBase, Group
from threshold.hashing import dst_for, expand_message_xmd

L = 2**252 + 27742317777372353535851937790883648493
IDENTITY = (1).to_bytes(32, "little")
BASEPOINT = bytes.fromhex("5866666666666666666666666666666666666666666666666666666666666666")
# The torsion group E[8] (cyclic, order 8), canonical encodings: the identity, the points of order 2 and 4, and of 8.
SMALL_ORDER = frozenset(bytes.fromhex(h) for h in (
    "0100000000000000000000000000000000000000000000000000000000000000",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000080",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
))

_DECODE_ERRORS = {
    1: "non-canonical encoding (y >= p)",
    2: "not a point of edwards25519",
    3: "non-canonical encoding (sign bit set with x = 0)",
}
# Below this many owed elements, one halving test each beats the 128-check batch (its fixed cost: the subset sums'
# buckets and 128 tests). The single tests share their exponentiations 16 at a time in lanes (about 1.8-2.7 us a point
# in IFMA lanes, 8 us in AVX2 lanes, 13 us one by one: measured); the batch costs about 1.2 us a point at 2,000 points
# on 4-way IFMA points, 2.1 on the scalar path (measured), so it wins from about these many points.
_BATCH_MEMBERSHIP_MIN = {"ifma": 500, "avx2": 210}.get(native.LANES, 190)
# Exponents with a public bound up to this go through the table's first five digits (votes, counts).
_SMALL_BOUND = 2**16
# From this many points on, one native sum beats adding them in turn (measured: the sum's fixed cost is ~3 additions).
_PROD_NATIVE_MIN = 4


class Ed25519FixedBase(FixedBase):
    """Comb table of one base (32 rows x 8 affine multiples, ~30 KB): constant time in e."""

    def __init__(self, base: bytes) -> None:
        self.base = base
        self._table = native.table(base)

    def exp(self, e: int) -> bytes:
        return native.table_exp(self._table, int(e) % L)


@lru_cache(maxsize=16)
def _cached_table(base: bytes) -> Ed25519FixedBase:
    return Ed25519FixedBase(base)


class Ed25519Group(Group):
    """edwards25519 main subgroup, order L = 2^252 + 2774...8493."""

    name = "ed25519"
    element_bytes = 32
    # Two more bases in a Straus multi-exponentiation cost less than two comb exponentiations, each encoded
    # and then decoded again to be added (measured: one 0/1 proof check 110 -> 96 us).
    tables_in_verification = False
    batch_elements = native.CACHE_ENTRIES // 2  # half the cache: its two-way sets then rarely overflow

    def __init__(self) -> None:
        self.q = L
        self.g = BASEPOINT
        self.identity = IDENTITY
        self._g_table = Ed25519FixedBase(BASEPOINT)

    def mul(self, a: Element, b: Element) -> bytes:
        if a == IDENTITY:
            return b
        if b == IDENTITY:
            return a
        return native.add(a, b)

    def inv(self, a: Element) -> bytes:
        if a == IDENTITY:
            return a
        return native.sub(IDENTITY, a)

    def div(self, a: Element, b: Element) -> bytes:
        if b == IDENTITY:
            return a
        return native.sub(a, b)

    def prod(self, elements: Iterable[Element]) -> bytes:
        """Sum of the points; from _PROD_NATIVE_MIN of them in one native multi-exponentiation with every exponent 1,
        which adds each point once (no tables) and encodes the result once instead of once per addition (5 points:
        4.3 us). Its variable time depends on the exponents alone, all 1 here: nothing about the points leaks."""
        points = list(elements)
        if len(points) < _PROD_NATIVE_MIN:
            return super().prod(points)
        return native.multi_exp(points, [1] * len(points))

    def exp(self, a: Element, e: int) -> bytes:
        """a^e, constant time in e (e may be secret)."""
        return native.scalarmult(a, int(e) % L)

    def exp_g(self, e: int) -> bytes:
        """g^e through the generator's comb table, constant time in e."""
        return native.table_exp(self._g_table._table, int(e) % L)

    def fixed_base(self, base: Element) -> FixedBase:
        if base == BASEPOINT:
            return self._g_table
        return _cached_table(bytes(base))

    def fixed_base_products(self, products: Sequence[Sequence[tuple[FixedBase, int, int | None]]]) -> list[bytes]:
        """One native pass: terms of a product share the comb's doublings, a term whose public bound
        is at most 2^16 takes 5 table rows instead of 64, and one inversion encodes every result."""
        return native.table_exps([[(t._table, int(e) % L, b is not None and b <= _SMALL_BOUND)  # type: ignore[attr-defined]
                                   for t, e, b in terms] for terms in products])

    def multi_exp(self, terms: Sequence[tuple[Element, int]], unreduced: Sequence[tuple[Element, int]] = ()) -> bytes:
        """Variable time: public exponents only (see the module docstring). No membership folding here
        (`member_terms` is None: cofactor 8), so no unreduced terms."""
        if unreduced:
            raise ValueError("ed25519 folds no membership tests: unreduced terms are not accepted")
        if not terms:
            return IDENTITY
        return native.multi_exp([b for b, _ in terms], [int(e) % L for _, e in terms])

    def encode(self, a: Element) -> bytes:
        return bytes(a)

    def encode_all(self, elements: Iterable[Element]) -> list[bytes]:
        """Elements are their own canonical encodings (immutable bytes): a challenge's lists cost no call each."""
        return list(elements)

    def parse_deferred(self, data: bytes, field: str, allow_identity: bool) -> tuple[bytes, bool]:
        """Length, canonical encoding and curve equation now; the subgroup test is owed."""
        x = _shape(data, field, allow_identity)
        if x != IDENTITY:
            _check_points([x], [(0, field, False)])
        return x, x != IDENTITY

    def parse_commitment(self, data: bytes, field: str, allow_identity: bool) -> tuple[bytes, bool]:
        """Length, canonical encoding and curve equation, no test owed: `accepts` ignores the torsion part
        a commitment may carry (cofactored equations, docs/spec.md section 4); where the identity is not
        allowed, no point of E[8] either (the identity up to torsion)."""
        x, _ = self.parse_deferred(data, field, allow_identity)
        return _not_small_order(x, field, allow_identity), False

    def reader(self) -> "Ed25519Reader":
        return Ed25519Reader(self)

    def accepts(self, product: Element) -> bool:
        """Any point of E[8]: an equation holds up to torsion ([8] product = O). A product over members alone
        is in the subgroup, where only the identity is of small order; so only commitments' torsion is ignored."""
        return product in SMALL_ORDER

    def accepts_multi_exp(self, terms: Sequence[tuple[Element, int]]) -> bool:
        """[8] (sum of [e]P over the terms) = O, decided on the native sum: no inversion to encode it."""
        if not terms:
            return True
        return native.multi_exp_torsion([b for b, _ in terms], [int(e) % L for _, e in terms])

    def accepts_weighted(self, equations: Sequence[Sequence[tuple[Element, int]]], randomness: bytes) -> bool:
        """[8] (sum over the equations of [w] (sum of [e]P)) = O: weights, merging and reduction mod L in C."""
        return native.weighted_torsion(equations, randomness, L)

    def decode(self, data: bytes, field: str = "element", allow_identity: bool = False) -> bytes:
        x, owed = self.parse_deferred(data, field, allow_identity)
        if owed and not native.member(x):
            raise DecodeError(field, "not in the prime-order subgroup")
        return x

    def check_members(self, pending) -> None:
        """128 random-subset checks [L](sum of the subset) = O, or one halving test per element.

        The torsion part of edwards25519 is cyclic of order 8; a subset sum misses a bad
        element with probability at most 1/2, independently per subset (docs/spec.md), so 128
        subsets give 2^-128. On failure every element is tested alone to name the bad field.
        """
        if len(pending) >= _BATCH_MEMBERSHIP_MIN:
            points = [x for x, _ in pending]
            if native.members_batch(points, secrets.token_bytes(16 * len(points))):
                return
        for (_, field), ok in zip(pending, native.members([x for x, _ in pending])):
            if not ok:
                raise DecodeError(field, "not in the prime-order subgroup")

    def is_member(self, a: Element) -> bool:
        if not isinstance(a, bytes) or len(a) != 32:
            return False
        return a == IDENTITY or native.member(a)

    def hash_to_element(self, tag: str, msg: bytes) -> bytes:
        """Two Elligator 2 maps (libsodium from_uniform, cofactor cleared) added: random-oracle style."""
        data = expand_message_xmd(msg, dst_for("h2e-ed25519-" + tag), 64)
        return sodium.crypto_core_ed25519_add(
            sodium.crypto_core_ed25519_from_uniform(data[:32]),
            sodium.crypto_core_ed25519_from_uniform(data[32:]),
        )

    def describe(self) -> dict[str, str]:
        return {"name": self.name, "q": self.q.to_bytes(32, "big").hex(), "g": self.to_hex(self.g)}


def _shape(data: Any, field: str, allow_identity: bool) -> bytes:
    """32 bytes, and the identity only where allowed: the checks of an encoding that need no arithmetic."""
    if not isinstance(data, (bytes, bytearray)):
        raise DecodeError(field, "expected bytes")
    if len(data) != 32:
        raise DecodeError(field, f"expected 32 bytes, got {len(data)}")
    data = bytes(data)
    if data == IDENTITY and not allow_identity:
        raise DecodeError(field, "the identity element is not allowed here")
    return data


def _not_small_order(x: bytes, field: str, allow_identity: bool) -> bytes:
    if not allow_identity and x in SMALL_ORDER:
        raise DecodeError(field, "a point of small order (the identity up to torsion) is not allowed here")
    return x


def _check_points(points: list[bytes], fields: list[tuple[int, str, bool]]) -> None:
    """Canonical encoding and curve equation of each point (decoded together, then cached); the first bad one is named
    from `fields`, its runs: (first index, field, whether the run is a list whose items are `field[i]`)."""
    rcs = native.checks(points)
    if any(rcs):
        k = next(k for k, rc in enumerate(rcs) if rc)
        start, field, listed = fields[bisect_right(fields, k, key=itemgetter(0)) - 1]
        raise DecodeError(f"{field}[{k - start}]" if listed else field, _DECODE_ERRORS[rcs[k]])


class Ed25519Reader(ElementReader):
    """An ElementReader whose blocks decompress their points together at the outermost block's end."""

    def __init__(self, group: Ed25519Group) -> None:
        super().__init__(group)
        self._points: list[bytes] = []  # the open blocks' points, decompressed at the outermost end
        self._fields: list[tuple[int, str, bool]] = []  # their names, by runs (named only if one is bad)
        self._checked = (0, 0)  # how many points and runs earlier ends took from the lists (marks count from 0)

    def _mark(self) -> tuple[int, int, int]:
        """Positions counted since the reader began, so that a block left after an outer one ended (its lists
        emptied) still cuts at what it read itself."""
        return len(self.pending), self._checked[0] + len(self._points), self._checked[1] + len(self._fields)

    def _drop(self, mark: tuple[int, int, int]) -> None:
        del self.pending[mark[0]:]
        del self._points[max(0, mark[1] - self._checked[0]):]
        del self._fields[max(0, mark[2] - self._checked[1]):]

    def _end_block(self) -> None:
        points, fields, self._points, self._fields = self._points, self._fields, [], []
        self._checked = (self._checked[0] + len(points), self._checked[1] + len(fields))
        if points:
            _check_points(points, fields)

    def finish(self) -> None:
        """As ElementReader.finish; inside a block, the decompressions it owes come first (membership tests need
        decoded points), and name a bad one as the block's end would."""
        if self._points and self.failure is None:
            try:
                _check_points(self._points, self._fields)
            except DecodeError as exc:
                self.failure = exc
                raise
        super().finish()

    def _defer(self, x: bytes, field: str) -> None:
        """One point to decompress at the outermost block's end, named `field` if it is bad."""
        self._fields.append((len(self._points), field, False))
        self._points.append(x)

    def element_bytes(self, data: bytes, field: str, allow_identity: bool = False) -> bytes:
        if not self._open:
            return super().element_bytes(data, field, allow_identity)
        return self._owed(_shape(data, field, allow_identity), field)

    def element(self, text: Any, field: str, allow_identity: bool = False) -> bytes:
        if not self._open:
            return super().element(text, field, allow_identity)
        x = hex_bytes(text, field, 32)  # 32 exact bytes: of the shape's checks only the identity's is left
        if x == IDENTITY:
            return _shape(x, field, allow_identity)
        return self._owed(x, field)

    def _owed(self, x: bytes, field: str) -> bytes:
        """A point of the right shape read in a block: decompressed at its end, tested for membership at finish()."""
        if x != IDENTITY:
            self._defer(x, field)
            self.pending.append((x, field))
        return x

    def commitment(self, text: Any, field: str, allow_identity: bool = False) -> bytes:
        if not self._open:
            return super().commitment(text, field, allow_identity)
        x = hex_bytes(text, field, 32)
        if not allow_identity and x in SMALL_ORDER:  # the identity included: name it as _shape does
            _not_small_order(_shape(x, field, False), field, False)
        if x != IDENTITY:
            self._defer(x, field)
        return x

    def commitment_runs(self, items: list, n: int, fields: Sequence[str]) -> list[bytes] | None:
        """In an open block: every item's hex in one native call, the small-order test over all of them, then one run
        per field for the block's decompressions."""
        if not self._open:
            return None
        xs = _hashing.unhex_list(items, 32)
        if type(xs) is not list or not SMALL_ORDER.isdisjoint(xs):
            return None
        self._defer_runs(xs, n, fields)
        return xs

    def _defer_runs(self, xs: list[bytes], n: int, fields: Sequence[str]) -> None:
        """Points to decompress at the outermost block's end, in runs of n, one per field: a bad one is named `field[i]`."""
        start = len(self._points)
        self._fields += [(start + k * n, field, True) for k, field in enumerate(fields)]
        self._points += xs

    def commitments(self, items: Any, n: int, field: str) -> tuple[bytes, ...]:
        if not self._open:
            return super().commitments(items, n, field)
        xs = hex_list(items, field, 32, n)
        if not SMALL_ORDER.isdisjoint(xs):  # the identity included: name the first as _shape does
            i = next(i for i, x in enumerate(xs) if x in SMALL_ORDER)
            _not_small_order(_shape(xs[i], f"{field}[{i}]", False), f"{field}[{i}]", False)
        self._defer_runs(xs, n, [field])
        return tuple(xs)
