"""Shamir secret sharing and Lagrange recovery over any prime field (Z_q among them)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Iterable, Sequence

from threshold.errors import DecodeError, ProtocolError


@dataclass(frozen=True)
class Share:
    """f(index) for a secret polynomial f with f(0) the secret; index is never 0."""

    index: int
    value: int


def random_polynomial(secret: int, degree: int, modulus: int) -> list[int]:
    """Coefficients a_0 = secret, a_1..a_degree uniform and non-zero (so no Feldman
    commitment is ever the identity, which verifiers refuse)."""
    return [secret % modulus] + [1 + secrets.randbelow(modulus - 1) for _ in range(degree)]


def evaluate(coefficients: Sequence[int], x: int, modulus: int) -> int:
    """f(x) by Horner's rule."""
    acc = 0
    for a in reversed(coefficients):
        acc = (acc * x + a) % modulus
    return acc


def split(secret: int, k: int, n: int, modulus: int) -> tuple[list[Share], list[int]]:
    """Shares 1..n of which any k recover the secret; also returns the polynomial."""
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= n, got k={k}, n={n}")
    if n >= modulus:
        raise ValueError("more shares than field elements")
    coefficients = random_polynomial(secret, k - 1, modulus)
    return [Share(i, evaluate(coefficients, i, modulus)) for i in range(1, n + 1)], coefficients


def check_indices(indices: Iterable[int], modulus: int) -> list[int]:
    """Refuse index 0 (it is the secret itself), duplicates, and indices outside the field."""
    seen: list[int] = []
    for i in indices:
        if not isinstance(i, int) or isinstance(i, bool):
            raise DecodeError("share.index", f"expected an integer, got {type(i).__name__}")
        if i % modulus == 0:
            raise DecodeError("share.index", "index 0 is not a share")
        if not 0 < i < modulus:
            raise DecodeError("share.index", f"index {i} outside 1..{modulus - 1}")
        if i in seen:
            raise DecodeError("share.index", f"duplicate index {i}")
        seen.append(i)
    return seen


def lagrange_at_zero(index: int, indices: Sequence[int], modulus: int) -> int:
    """lambda_index = prod_{j != index} j / (j - index), the weight of f(index) in f(0)."""
    num, den = 1, 1
    for j in indices:
        if j != index:
            num = num * j % modulus
            den = den * (j - index) % modulus
    return num * pow(den, -1, modulus) % modulus


def interpolate(shares: Sequence[Share], modulus: int) -> list[int]:
    """The coefficients of the unique polynomial of degree < len(shares) through the shares (Lagrange basis
    polynomials expanded): a whole dealing recovered from k shares, as in the DKG's public reconstruction."""
    indices = check_indices([s.index for s in shares], modulus)
    coefficients = [0] * len(shares)
    for share in shares:
        basis, den = [1], 1  # prod_{j != i} (x - j), lowest degree first
        for j in indices:
            if j != share.index:
                basis = [(x_term - j * term) % modulus for x_term, term in zip([0] + basis, basis + [0])]
                den = den * (share.index - j) % modulus
        scale = share.value * pow(den, -1, modulus) % modulus
        coefficients = [(c + scale * b) % modulus for c, b in zip(coefficients, basis)]
    return coefficients


def recover(shares: Sequence[Share], modulus: int, k: int | None = None) -> int:
    """f(0) from at least k shares (all given shares are used when k is None)."""
    indices = check_indices([s.index for s in shares], modulus)
    if k is not None:
        if len(shares) < k:
            raise ProtocolError(f"{len(shares)} shares given, {k} needed")
        shares, indices = list(shares)[:k], indices[:k]
    return sum(s.value * lagrange_at_zero(s.index, indices, modulus) for s in shares) % modulus
