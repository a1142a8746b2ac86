"""Verification equations and their batching by random linear combination.

Every proof reduces to equations  prod(base_i ^ e_i) = identity, written so that each
commitment carries exponent 1. A batch raises equation k to a random weight rho_k (odd, one of
2^128 values below 2^129), merges equal bases and checks one multi-exponentiation; if it fails,
halves are re-batched down to single items so that the bad ones are named. A group that can (modp) also folds the
membership tests owed for a set of elements into the same multi-exponentiation.
"""

from __future__ import annotations

import secrets
from typing import Hashable, Sequence

from threshold.errors import DecodeError
from threshold.groups import Element, ElementReader, FixedBase, Group

Equation = Sequence[tuple[Element, int]]
"""prod base^e = identity. The proofs write theirs as tuples of (element, exponent) tuples: once they hold only
elements and integers the garbage collector stops tracking them, so a batch of thousands of proofs waiting to be
verified is not traversed again by every collection."""
BATCH_BITS = 128
_WEIGHT_BYTES = BATCH_BITS // 8


def weight_randomness(n: int) -> bytes:
    """Fresh randomness for n batch weights: one draw from the OS generator, 16 bytes a weight."""
    return secrets.token_bytes(_WEIGHT_BYTES * n)


def weights_from(randomness: bytes) -> list[int]:
    """The weights 16 random bytes each stand for: rho = 2 t + 1, t their little-endian value; odd and uniform among
    2^128 values (below 2^129 < q), so a false equation survives the batch with probability at most 2^-128."""
    return [2 * int.from_bytes(randomness[i:i + _WEIGHT_BYTES], "little") + 1
            for i in range(0, len(randomness), _WEIGHT_BYTES)]


def evaluate(group: Group, terms: Sequence[tuple[Element, int]], tables: dict[Element, FixedBase] | None = None,
             unreduced: Sequence[tuple[Element, int]] = ()) -> Element:
    """prod base^e, using the generator's table and the given fixed-base tables; `unreduced` terms (from
    `Group.member_terms`) are multiplied in with their exponents as they are."""
    return _product(group, *_through_tables(group, terms, tables), unreduced)


def holds(group: Group, terms: Sequence[tuple[Element, int]], tables: dict[Element, FixedBase] | None = None,
          unreduced: Sequence[tuple[Element, int]] = ()) -> bool:
    """Whether `group.accepts` the product `evaluate` would return; when all of it is one multi-exponentiation,
    the group may decide without encoding it (`Group.accepts_multi_exp`: ed25519 saves an inversion)."""
    acc, rest = _through_tables(group, terms, tables)
    if rest and not unreduced and acc == group.identity:
        return group.accepts_multi_exp(rest)
    return group.accepts(_product(group, acc, rest, unreduced))


def _through_tables(group: Group, terms: Sequence[tuple[Element, int]],
                    tables: dict[Element, FixedBase] | None) -> tuple[Element, list[tuple[Element, int]]]:
    """Equal bases merged and exponents reduced; the product of the terms that go through a table (where the
    group uses tables in verification), and the rest."""
    q = group.q
    merged: dict[Element, int] = {}
    for base, e in terms:  # exponents may come unreduced (weighted terms): one reduction per base, below
        merged[base] = merged.get(base, 0) + e
    acc = group.identity
    rest = []
    g = group.g if group.tables_in_verification else None
    tables = tables if group.tables_in_verification else None
    for base, e in merged.items():
        e %= q
        if e == 0:
            continue
        if base == g:
            acc = group.mul(acc, group.exp_g(e))
        elif tables and base in tables:
            acc = group.mul(acc, tables[base].exp(e))
        else:
            rest.append((base, e))
    return acc, rest


def _product(group: Group, acc: Element, rest: Sequence[tuple[Element, int]],
             unreduced: Sequence[tuple[Element, int]]) -> Element:
    if unreduced:
        return group.mul(acc, group.multi_exp(rest, unreduced=unreduced))
    return group.mul(acc, group.multi_exp(rest)) if rest else acc


def check_equations(group: Group, equations: Sequence[Equation], tables: dict[Element, FixedBase] | None = None) -> bool:
    """Whether every equation of one item holds: a single equation is evaluated as it is, several as one
    product under fresh weights (one multi-exponentiation instead of one per equation; a false one
    passes with probability at most 2^-128, as in a batch)."""
    if len(equations) == 1:
        return holds(group, equations[0], tables)
    return holds_weighted(group, equations, tables)


def holds_weighted(group: Group, equations: Sequence[Equation], tables: dict[Element, FixedBase] | None = None,
                   unreduced: Sequence[tuple[Element, int]] = ()) -> bool:
    """Whether the product of the equations, each raised to its own fresh weight, is accepted (`holds`, with the
    `unreduced` terms multiplied in); a group that can weigh and merge natively (`Group.accepts_weighted`) does."""
    randomness = weight_randomness(len(equations))
    if not unreduced:
        verdict = group.accepts_weighted(equations, randomness)
        if verdict is not None:
            return verdict
    rhos = weights_from(randomness)
    return holds(group, [(base, e * rho) for eq, rho in zip(equations, rhos) for base, e in eq], tables, unreduced)


class BatchVerifier:
    """Collects labelled groups of equations; `verify()` returns the labels that fail."""

    def __init__(self, group: Group, tables: dict[Element, FixedBase] | None = None) -> None:
        self.group = group
        self.tables = tables or {}
        self.items: list[tuple[Hashable, Sequence[Equation]]] = []

    def add(self, label: Hashable, equations: Sequence[Equation]) -> None:
        """Queue one item (a proof, a ballot) under a label used to name it if it fails."""
        self.items.append((label, equations))

    def verify(self, reader: ElementReader | None = None) -> list[Hashable]:
        """Labels of the items whose equations do not hold (empty: all hold).

        `reader`: the ElementReader the items' elements were parsed with (so each passed its cheap
        checks, the Jacobi symbol in modp); the membership tests it still owes are done here, folded
        into the batch where the group allows it, and settled on the reader: a non-member raises
        DecodeError naming its field, before any equation is judged, and the reader stays failed.
        """
        if reader is not None and reader.failure is not None:
            raise reader.failure
        members = reader.pending if reader is not None else []
        try:
            labels = self._verify(members)
        except DecodeError as exc:
            if reader is not None:
                reader.failure = exc
            raise
        if reader is not None:
            reader.pending = []
        return labels

    def _verify(self, members: Sequence[tuple[Element, str]]) -> list[Hashable]:
        group = self.group
        folded = group.member_terms(members) if members else None
        if members and folded is None:
            group.check_members(members)
        if not self.items and not folded:
            return []
        if holds_weighted(group, self._equations(self.items), self.tables, folded or ()):
            return []
        if folded:
            group.check_members(members)
        return self._failing(self.items)

    def _failing(self, items: list[tuple[Hashable, Sequence[Equation]]]) -> list[Hashable]:
        """Labels of the failing items among a failed batch: halves are re-batched with fresh weights,
        so that a few bad items among many cost a few batches, not one check per item."""
        if len(items) <= 4:
            return [label for label, eqs in items if not check_equations(self.group, eqs, self.tables)]
        half = len(items) // 2
        return [label for part in (items[:half], items[half:]) if not self._holds(part) for label in self._failing(part)]

    def _holds(self, items: list[tuple[Hashable, Sequence[Equation]]]) -> bool:
        return holds_weighted(self.group, self._equations(items), self.tables)

    @staticmethod
    def _equations(items: list[tuple[Hashable, Sequence[Equation]]]) -> list[Equation]:
        return [eq for _, equations in items for eq in equations]
