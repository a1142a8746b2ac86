"""The one interface every protocol is written against: a cyclic group of prime order q."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from typing import Any, Hashable, Iterable, Sequence

from threshold.encoding import hex_bytes, hex_ints, hex_list, hex_to_int, int_to_hex
from threshold.errors import DecodeError

Element = Hashable  # mpz for modp, 32 bytes for ed25519: hashable, compared with ==
SCALAR_BYTES = 32


class FixedBase(ABC):
    """A precomputed table for one base: exponentiation by lookups and multiplications."""

    @abstractmethod
    def exp(self, e: int) -> Element:
        """base^e."""


class Group(ABC):
    """Prime-order group: elements are opaque, hashable and compared with ==."""

    name: str
    q: int
    g: Element
    identity: Element
    element_bytes: int
    #: Whether verification (threshold.batch.evaluate) takes g and long-lived keys through their fixed-base
    #: tables; else they join the equation's variable-time multi-exponentiation as any other base.
    tables_in_verification: bool = True
    #: The most elements one batch should read (ed25519: the points its decode cache keeps, beyond which they are
    #: decompressed again between reading and verifying); None: no limit.
    batch_elements: int | None = None

    # --- arithmetic -------------------------------------------------------
    @abstractmethod
    def mul(self, a: Element, b: Element) -> Element:
        """The group operation."""

    @abstractmethod
    def inv(self, a: Element) -> Element:
        """Inverse element."""

    def div(self, a: Element, b: Element) -> Element:
        """a * b^-1."""
        return self.mul(a, self.inv(b))

    @abstractmethod
    def exp(self, a: Element, e: int) -> Element:
        """a^e for any integer e (reduced mod q)."""

    @abstractmethod
    def exp_g(self, e: int) -> Element:
        """g^e through the generator's precomputed table."""

    @abstractmethod
    def fixed_base(self, base: Element) -> FixedBase:
        """A table for a long-lived base (a public key); cached per base."""

    @abstractmethod
    def multi_exp(self, terms: Sequence[tuple[Element, int]], unreduced: Sequence[tuple[Element, int]] = ()) -> Element:
        """Product of base^exp over the terms, sharing work between them; times base^e over `unreduced`
        with e taken as it is, not modulo q (only the terms this group's `member_terms` made).

        Exponents must be public (verification equations, Lagrange coefficients of published
        shares): implementations may run in variable time. Secret exponents go through `exp`,
        `exp_g` or a `fixed_base` table, which are constant time where the group provides it.
        """

    def member_terms(self, pending: Sequence[tuple[Element, str]]) -> Sequence[tuple[Element, int]] | None:
        """Terms that fold the membership tests owed for `pending` into a batch's multi-exponentiation
        (passed to `multi_exp` as `unreduced`), or None where the group cannot fold them: then the
        batch runs `check_members` first."""
        return None

    def fixed_base_products(
        self, products: Sequence[Sequence[tuple[FixedBase, int, int | None]]]
    ) -> list[Element]:
        """For each product, the product of table.exp(e) over its terms (table, e, bound).

        Exponents may be secret (randomness, nonces, votes): the same constant-time paths as
        `exp_g` and `fixed_base`. `bound` is None or a public B with 0 <= e < B that a group may
        use to take fewer table rows. Computing several results in one call lets a group share
        work between them (ed25519: one field inversion encodes them all).
        """
        out = []
        for terms in products:
            acc = None
            for table, e, _bound in terms:
                x = table.exp(e)
                acc = x if acc is None else self.mul(acc, x)
            out.append(acc)
        return out

    def prod(self, elements: Iterable[Element]) -> Element:
        """Product of many elements."""
        acc = self.identity
        for x in elements:
            acc = self.mul(acc, x)
        return acc

    # --- encoding and membership -------------------------------------------
    @abstractmethod
    def encode(self, a: Element) -> bytes:
        """Canonical fixed-length bytes of an element."""

    def encode_all(self, elements: Iterable[Element]) -> list[bytes]:
        """`encode` of each element (a transcript's statement or commitments, hashed into a challenge)."""
        return list(map(self.encode, elements))

    @abstractmethod
    def decode(self, data: bytes, field: str = "element", allow_identity: bool = False) -> Element:
        """Parse canonical bytes, checking length, range and subgroup membership."""

    @abstractmethod
    def is_member(self, a: Element) -> bool:
        """Whether a (already in the group's representation) lies in the order-q subgroup."""

    def parse_deferred(self, data: bytes, field: str, allow_identity: bool) -> tuple[Element, bool]:
        """Cheap checks now; returns the element and whether a subgroup test is still owed."""
        return self.decode(data, field, allow_identity), False

    def parse_commitment(self, data: bytes, field: str, allow_identity: bool) -> tuple[Element, bool]:
        """A proof commitment: the checks it needs before it enters a verification equation, and whether a
        subgroup test is still owed. By default those of any element; a group whose `accepts` ignores the
        part outside the subgroup that a commitment may carry needs fewer (docs/spec.md section 4)."""
        return self.parse_deferred(data, field, allow_identity)

    def accepts(self, product: Element) -> bool:
        """Whether a verification product (an equation, or a batch of them) means that they hold."""
        return product == self.identity

    def accepts_multi_exp(self, terms: Sequence[tuple[Element, int]]) -> bool:
        """accepts(multi_exp(terms)) (public exponents); a group may decide it without encoding the product."""
        return self.accepts(self.multi_exp(terms))

    def accepts_weighted(self, equations: Sequence[Sequence[tuple[Element, int]]], randomness: bytes) -> bool | None:
        """Whether the product of the equations (each a product of base^e), equation k raised to the weight 2 t + 1
        of the k-th 16 bytes of `randomness` (t little-endian: `threshold.batch.weights_from`), is accepted, decided
        natively (bases merged, exponents reduced); None where the group has no native path, and then the caller
        weighs the terms and calls `accepts_multi_exp` (through its tables where the group uses them)."""
        return None

    def check_members(self, pending: Sequence[tuple[Element, str]]) -> None:
        """Subgroup test owed by parse_deferred, batched where the group allows; names the field."""
        for x, field in pending:
            if not self.is_member(x):
                raise DecodeError(field, "not in the order-q subgroup")

    def reader(self) -> "ElementReader":
        """A reader that parses many elements and tests their membership in one batch."""
        return ElementReader(self)

    def decode_many(
        self, items: Sequence[tuple[bytes, str]], allow_identity: bool = False
    ) -> list[Element]:
        """Decode many elements with one batched membership test. Errors name the field."""
        reader = self.reader()
        with reader.batched():
            out = [reader.element_bytes(data, field, allow_identity) for data, field in items]
        reader.finish()
        return out

    def to_hex(self, a: Element) -> str:
        """Fixed-length lowercase hex of an element (records and JSON)."""
        return self.encode(a).hex()

    def from_hex(self, text: Any, field: str = "element", allow_identity: bool = False) -> Element:
        """Parse an element from fixed-length lowercase hex; errors name `field`."""
        return self.decode(_hex_bytes(text, self.element_bytes, field), field, allow_identity)

    def from_hex_many(self, items: Sequence[tuple[Any, str]], allow_identity: bool = False) -> list[Element]:
        """Parse many hex elements with one batched membership test."""
        reader = self.reader()
        with reader.batched():
            out = [reader.element(text, field, allow_identity) for text, field in items]
        reader.finish()
        return out

    # --- scalars -----------------------------------------------------------
    def random_scalar(self) -> int:
        """Uniform scalar in [1, q) from the OS generator (keys and nonces)."""
        return self.random_scalars(1)[0]

    def random_scalars(self, n: int) -> list[int]:
        """n independent uniform scalars in [1, q), by rejection sampling over candidates drawn from the OS
        generator in one call (another only if too many are rejected): each call costs a system call here,
        and in ed25519 about half the candidates are rejected (q - 1 is just above 2^252)."""
        bound = self.q - 1
        bits = bound.bit_length()
        size, mask = (bits + 7) // 8, (1 << bits) - 1
        out: list[int] = []
        while len(out) < n:
            data = os.urandom(size * (2 * (n - len(out)) + 2))
            for i in range(0, len(data), size):
                x = int.from_bytes(data[i:i + size], "little") & mask
                if x < bound:
                    out.append(x + 1)
                    if len(out) == n:
                        break
        return out

    def scalar_to_hex(self, x: int) -> str:
        """Fixed-length (32 bytes) lowercase hex of a scalar."""
        return int_to_hex(int(x) % self.q, SCALAR_BYTES)

    def scalar_from_hex(self, text: Any, field: str = "scalar") -> int:
        """Parse a scalar, refusing values >= q."""
        value = hex_to_int(text, SCALAR_BYTES, field)
        if value >= self.q:
            raise DecodeError(field, "scalar is not reduced modulo q")
        return value

    def scalars_from_hex(self, items: Any, n: int, field: str) -> tuple[int, ...]:
        """Parse a JSON list of exactly n scalars, as `scalar_from_hex` each; `field[i]` names a bad one."""
        return hex_ints(items, field, SCALAR_BYTES, n, self.q, "scalar is not reduced modulo q")

    @abstractmethod
    def hash_to_element(self, tag: str, msg: bytes) -> Element:
        """An element with unknown discrete log, reproducible by anyone from (tag, msg)."""

    @abstractmethod
    def describe(self) -> dict[str, str]:
        """The group's public parameters as canonical JSON values (bound into base hashes)."""

    def check_key(self, a: Element, field: str) -> Element:
        """Refuse the identity where a key or commitment is expected."""
        if a == self.identity:
            raise DecodeError(field, "the identity element is not allowed here")
        return a


class ElementReader:
    """Parses elements as they come and owes their subgroup test until `finish()`.

    A verifier reads a whole batch of ballots through one reader, then calls finish() once:
    in the 4096-bit group that turns one exponentiation per element into a small fraction of one.
    """

    def __init__(self, group: Group) -> None:
        self.group = group
        self.pending: list[tuple[Element, str]] = []
        self.failure: DecodeError | None = None
        self._open = 0  # blocks entered and not yet left

    def batched(self) -> "ReaderBlock":
        """A block, `with reader.batched(): ...`, whose elements the group may check together at its end (ed25519:
        the decompressions, 16 square roots at a time) rather than one by one as they are read; nothing may be
        computed with them inside it. If the block raises, what it read owes nothing more to `finish()`. Blocks
        nest: the outermost checks."""
        return ReaderBlock(self)

    def _mark(self) -> Any:
        """What `_drop` needs to forget what a block will read."""
        return len(self.pending)

    def _drop(self, mark: Any) -> None:
        del self.pending[mark:]

    def _end_block(self) -> None:
        """The checks a group defers to the end of the outermost block: none here."""

    def element_bytes(self, data: bytes, field: str, allow_identity: bool = False) -> Element:
        x, owed = self.group.parse_deferred(data, field, allow_identity)
        if owed:
            self.pending.append((x, field))
        return x

    def element(self, text: Any, field: str, allow_identity: bool = False) -> Element:
        """Parse one hex element (range and cheap checks now, subgroup test at finish)."""
        return self.element_bytes(_hex_bytes(text, self.group.element_bytes, field), field, allow_identity)

    def key(self, text: Any, field: str) -> Element:
        """An element where a key is expected: never the identity."""
        return self.element(text, field, allow_identity=False)

    def commitment(self, text: Any, field: str, allow_identity: bool = False) -> Element:
        """A proof commitment: the group's `parse_commitment` checks, no subgroup test owed in either group.

        A commitment enters its verification equations with exponent 1 (alone) or an unreduced
        random 128-bit weight (in a batch) against bases that are all tested members. In the 4096-bit
        group its components of prime order s > 2^128 cannot cancel out and its sign is what `accepts`
        ignores; in edwards25519 `accepts` ignores its torsion part (cofactored equations). A proof that
        holds up to that part still proves its statement (docs/spec.md section 4).
        """
        return self._commitment_bytes(_hex_bytes(text, self.group.element_bytes, field), field, allow_identity)

    def _commitment_bytes(self, data: bytes, field: str, allow_identity: bool) -> Element:
        x, owed = self.group.parse_commitment(data, field, allow_identity)
        if owed:
            self.pending.append((x, field))
        return x

    def commitments(self, items: Any, n: int, field: str) -> tuple[Element, ...]:
        """A JSON list of exactly n proof commitments, never the identity, as `commitment` reads each; `field[i]`
        names a bad one."""
        datas = hex_list(items, field, self.group.element_bytes, n)
        return tuple(self._commitment_bytes(x, f"{field}[{i}]", False) for i, x in enumerate(datas))

    def commitment_runs(self, items: list, n: int, fields: Sequence[str]) -> list[Element] | None:
        """`commitments(run, n, field)` for each field in turn, where `items` is the runs' items end to end (len(fields)
        runs of n, already counted), in one pass where the group has one; None where it has none, or if an item is
        bad: then nothing was read, and the caller reads the runs one by one, which names it."""
        return None

    def finish(self) -> None:
        """Run the owed membership tests; raises DecodeError naming the first bad field.

        A reader that failed once keeps failing: nothing it read may be used.
        """
        if self.failure is not None:
            raise self.failure
        try:
            if self.pending:
                self.group.check_members(self.pending)
        except DecodeError as exc:
            self.failure = exc
            raise
        self.pending = []



class ReaderBlock:
    """One `ElementReader.batched()` block: a plain context manager (a proof or ciphertext read inside a ballot's
    block opens one too, so entering must cost little) that keeps its own mark, so that blocks left out of order
    (one held open by a suspended generator) still forget only what they read themselves. The block that was
    outermost when entered, or the last one left, runs the group's deferred checks."""

    __slots__ = ("reader", "mark", "outermost")

    def __init__(self, reader: ElementReader) -> None:
        self.reader = reader

    def __enter__(self) -> ElementReader:
        r = self.reader
        self.mark, self.outermost = r._mark(), r._open == 0
        r._open += 1
        return r

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        r = self.reader
        r._open -= 1
        if exc_type is None:
            if not (self.outermost or r._open == 0):
                return
            try:
                r._end_block()
                return
            except BaseException:
                r._drop(self.mark)
                raise
        r._drop(self.mark)

def _hex_bytes(text: Any, size: int, field: str) -> bytes:
    return hex_bytes(text, field, size)
