"""Verification equations and their batching by random linear combination.

Every proof reduces to equations  prod(base_i ^ e_i) = identity, written so that each
commitment carries exponent 1. A batch raises equation k to a random 128-bit rho_k, merges
equal bases and checks one multi-exponentiation; if it fails, each item is checked alone so
that the bad one is named.
"""

from __future__ import annotations

import secrets
from typing import Hashable, Sequence

from threshold.groups import Element, FixedBase, Group

Equation = list[tuple[Element, int]]
BATCH_BITS = 128


def evaluate(group: Group, terms: Sequence[tuple[Element, int]], tables: dict[Element, FixedBase] | None = None) -> Element:
    """prod base^e, using the generator's table and the given fixed-base tables."""
    q = group.q
    merged: dict[Element, int] = {}
    for base, e in terms:
        merged[base] = (merged.get(base, 0) + e) % q
    acc = group.identity
    rest = []
    for base, e in merged.items():
        if e == 0:
            continue
        if base == group.g:
            acc = group.mul(acc, group.exp_g(e))
        elif tables and base in tables:
            acc = group.mul(acc, tables[base].exp(e))
        else:
            rest.append((base, e))
    if rest:
        acc = group.mul(acc, group.multi_exp(rest))
    return acc


def check_equations(group: Group, equations: Sequence[Equation], tables: dict[Element, FixedBase] | None = None) -> bool:
    """Each equation alone."""
    return all(evaluate(group, eq, tables) == group.identity for eq in equations)


class BatchVerifier:
    """Collects labelled groups of equations; `verify()` returns the labels that fail."""

    def __init__(self, group: Group, tables: dict[Element, FixedBase] | None = None) -> None:
        self.group = group
        self.tables = tables or {}
        self.items: list[tuple[Hashable, Sequence[Equation]]] = []

    def add(self, label: Hashable, equations: Sequence[Equation]) -> None:
        """Queue one item (a proof, a ballot) under a label used to name it if it fails."""
        self.items.append((label, equations))

    def verify(self) -> list[Hashable]:
        """Labels of the items whose equations do not hold (empty: all hold)."""
        if not self.items:
            return []
        q = self.group.q
        terms: list[tuple[Element, int]] = []
        for _, equations in self.items:
            for eq in equations:
                rho = secrets.randbits(BATCH_BITS) | 1
                terms.extend((base, e * rho % q) for base, e in eq)
        if evaluate(self.group, terms, self.tables) == self.group.identity:
            return []
        return [label for label, eqs in self.items if not check_equations(self.group, eqs, self.tables)]
