"""Shamir sharing over an RNS ring: evaluation points 1..n, Lagrange weights, consistency checks."""

from __future__ import annotations

import os
from functools import lru_cache

import numpy as np

from ..errors import ShareCheckError
from ..ring import Ring


@lru_cache(maxsize=None)
def _weights(primes: tuple[int, ...], src: tuple[int, ...], at: int) -> np.ndarray:
    """w[i, k]: weight of the share of party src[i] when interpolating at point `at` mod primes[k]."""
    out = np.zeros((len(src), len(primes)))
    xs = [s + 1 for s in src]
    for k, q in enumerate(primes):
        for i, xi in enumerate(xs):
            num, den = 1, 1
            for j, xj in enumerate(xs):
                if j != i:
                    num = num * (at - xj) % q
                    den = den * (xi - xj) % q
            out[i, k] = num * pow(den, -1, q) % q
    return out


def lagrange_weights(ring: Ring, parties: tuple[int, ...], at: int = 0) -> np.ndarray:
    """(len(parties), K): weights of the shares of `parties` when interpolating at `at` (residues)."""
    return _weights(ring.primes, tuple(parties), at)


def interpolate(ring: Ring, shares: np.ndarray, parties: tuple[int, ...], at: int = 0) -> np.ndarray:
    """Value at `at` of the polynomial through shares[i] (K, ...) of `parties` (shares indexed by party)."""
    w = _weights(ring.primes, tuple(parties), at)
    terms = []
    for i, p in enumerate(parties):
        s = shares[p][None]
        terms.append((s, ring.col(s.ndim, w[i])))
    return ring.lincomb(terms)[0]


def deal(ring: Ring, value: np.ndarray, n: int, t: int) -> np.ndarray:
    """Fresh degree-t shares (n, K, ...) of residues `value` (K, ...), coefficients from the OS."""
    shape = value.shape
    size = int(np.prod(shape, dtype=np.int64))
    out = np.broadcast_to(value, (n,) + shape).copy()
    xs = np.arange(1, n + 1, dtype=np.float64).reshape((n,) + (1,) * len(shape))
    xpow = np.ones_like(xs)
    for _ in range(t):
        coeff = ring.uniform(np.frombuffer(os.urandom(8 * size), dtype=np.uint64).reshape(shape))
        xpow = xpow * xs
        out = ring.add(out, ring.mul(coeff[None], np.broadcast_to(xpow, out.shape).copy()))
    return out


def reconstruct(ring: Ring, shares: np.ndarray, degree: int, check: bool = True,
                corrupt: int | None = None) -> np.ndarray:
    """Value of all n shares (n, K, ...) at 0; if check, raise ShareCheckError unless they agree.

    Any single wrong share is detected when n >= degree + 2. A party is named only when up to
    `corrupt` (default: degree) colluding parties could not have shifted the blame onto it, i.e.
    n >= degree + 2 * corrupt + 1 (n >= 3t + 1 for openings of degree t, e.g. n=4, t=1); otherwise
    every party is a suspect.
    """
    n = shares.shape[0]
    base = tuple(range(degree + 1))
    value = interpolate(ring, shares, base, 0)
    if not check or n <= degree + 1:
        return value
    bad = _inconsistent(ring, shares, base, degree)
    if not bad:
        return value
    suspects = _locate(ring, shares, degree, degree if corrupt is None else corrupt)
    if suspects is not None:
        raise ShareCheckError(f"share of party {suspects[0]} does not lie on the degree-{degree} polynomial "
                              f"of the other parties' shares", suspects)
    raise ShareCheckError(f"shares do not lie on one degree-{degree} polynomial: the opening is inconsistent; "
                          f"with {n} parties the wrong shares cannot be attributed (suspects: all parties "
                          f"{list(range(n))})", list(range(n)))


def _inconsistent(ring: Ring, shares: np.ndarray, base: tuple[int, ...], degree: int) -> list[int]:
    """Parties outside `base` whose shares differ from the polynomial through `base`."""
    bad = []
    for j in range(shares.shape[0]):
        if j in base:
            continue
        pred = interpolate(ring, shares, base, j + 1)
        if not np.array_equal(pred, shares[j]):
            bad.append(j)
    return bad


def _locate(ring: Ring, shares: np.ndarray, degree: int, corrupt: int) -> list[int] | None:
    """The unique party whose removal makes the others consistent, if blame can be attributed.

    With fewer than degree + 2 * corrupt + 1 parties, `corrupt` colluders could put their shares
    on another polynomial through some honest shares and so frame an honest party: no one is named.
    """
    n = shares.shape[0]
    if n < degree + 2 * max(corrupt, 1) + 1:
        return None
    found = []
    for j in range(n):
        rest = [i for i in range(n) if i != j]
        base = tuple(rest[:degree + 1])
        if all(np.array_equal(interpolate(ring, shares, base, p + 1), shares[p]) for p in rest[degree + 1:]):
            found.append(j)
    return found if len(found) == 1 else None
