"""Exact integer linear algebra in a large RNS ring: ring switching and a masked linear solve.

Ring switch: shares of x (|x| < 2^b) in Z_M become shares in Z_M' by opening c = x + 2^b + r
(r = sum_T r_T bounded, kappa bits of statistical hiding) in Z_M and subtracting [r] lifted in Z_M'.
Solve (Bar-Ilan and Beaver masking, as in MPyC's ridge-regression demo, masked on both sides):
with uniform shared R and S, RAS is revealed (uniform among matrices of A's rank: it reveals the
rank only, so a singular A leaks nothing about its null space); Z = (RAS)^-1 mod M' is computed in
the clear and [A^-1 b] = [S] Z [R b]. Opening A^-1 b mod M' and rational reconstruction
yields the exact rational solution, provided M' > 2 N D for bounds N, D on its numerators and
denominators (Hadamard's bound on det A), so nothing but the solution is revealed.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import InputError, SingularMatrixError
from ..fixedpoint import KAPPA
from ..ring import Ring
from ..prss import split_bits
from ..runtime import Runtime
from . import arith
from .opening import open_output


def switch(rt: Runtime, x: np.ndarray, bits: int, target: Ring) -> np.ndarray:
    """Degree-t shares in `target` of the value of degree-t shares x in rt.ring, |value| < 2^bits."""
    ring = rt.ring
    shape = x.shape[2:]
    widths = split_bits(bits + 1 + KAPPA)
    terms = [[(j, 1 << sum(widths[:j]), 0) for j in range(len(widths))]]
    counter = rt.prss.counter
    r_src = rt.prss.shares(ring, shape, widths, terms)[0][:, 0]
    rt.prss.counter = counter  # the same draw, lifted into the target ring
    r_dst = rt.prss.shares(target, shape, widths, terms)[0][:, 0]
    masked = ring.add(ring.add(x, r_src), arith.public(rt, 1 << bits, shape))
    c = arith.open_all(rt, masked, rt.t)
    digits = np.stack([dg[0] for dg in ring._digits(c)])  # c = sum_i digit_i * p_1...p_(i-1), c < M
    c_t = target.combine(digits, ring._prefix)[None]
    c_t = target.sub(c_t, target.const(1 << bits).reshape((1, target.k) + (1,) * len(shape)))
    return target.sub(np.broadcast_to(c_t, r_dst.shape), r_dst)


def _inverse_mod(a: np.ndarray, primes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Inverses of a[k] mod primes[k] (a: (K, d, d) int64 residues) by Gauss-Jordan, vectorized over the primes
    with diagonal pivots, and which primes they exist for (where a pivot vanishes the inverse is meaningless)."""
    k, d, _ = a.shape
    q = np.array(primes, dtype=np.int64)[:, None]
    m = np.concatenate([a, np.broadcast_to(np.eye(d, dtype=np.int64), (k, d, d))], 2)
    ok = np.ones(k, dtype=bool)
    for col in range(d):
        piv = m[:, col, col]
        ok &= piv != 0
        inv = np.array([pow(int(v), -1, int(p)) if v else 1 for v, p in zip(piv, primes)], dtype=np.int64)
        m[:, col] = m[:, col] * inv[:, None] % q
        factors = m[:, :, col].copy()
        factors[:, col] = 0
        m = (m - factors[:, :, None] * m[:, col][:, None, :]) % q[:, :, None]
    return m[:, :, d:], ok


def solve(rt: Runtime, a: np.ndarray, b: np.ndarray, ring: Ring, dst: int | None,
          bounds: tuple[int, int]) -> tuple[np.ndarray | None, dict | None]:
    """Shares a (d, d), b (d, e) in `ring` -> (A^-1 b as floats, (d,) when e = 1, and its evidence), opened to dst
    with signed shares and recovered by rational reconstruction within `bounds` ((None, None) elsewhere).

    RAS is singular modulo a prime that divides det A (or, once in about 2^20 draws, one that divides det R or
    det S): the solve goes on without those primes while the others keep the modulus above 2^20 * 2 N D (the
    ring has 64 bits of margin: two or three primes). Everyone sees which primes, as RAS's rank modulo each."""
    d = a.shape[-1]
    need = (2 * bounds[0] * bounds[1]) << 20
    partial = 0
    for _ in range(4):
        r, s = rt.prss.uniform(ring, (d, d)), rt.prss.uniform(ring, (d, d))
        ra_rb = arith.reduce_degree(rt, np.concatenate([ring.matmul(r, a), ring.matmul(r, b)], -1), ring)
        ras = arith.reduce_degree(rt, ring.matmul(ra_rb[..., :d], s), ring)
        z, ok = _inverse_mod(arith.open_all(rt, ras, rt.t, ring=ring)[0].astype(np.int64), ring.primes)
        if not ok.all():
            if not ok.any():
                continue  # singular modulo every prime: A is singular, or (rarely) redraw
            partial = int((~ok).sum())
            sub = ring.without(np.flatnonzero(~ok).tolist())
            if sub.modulus <= need:
                continue  # too many primes lost (R or S singular too?): redraw
            keep = np.flatnonzero(ok)
            ring, z, ra_rb, s = sub, z[keep], ra_rb[:, keep], s[:, keep]
        zrb = ring.matmul(z.astype(np.float64)[None], ra_rb[..., d:])
        sol = arith.reduce_degree(rt, ring.matmul(s, zrb), ring)
        return open_output(rt, sol[..., 0] if sol.shape[-1] == 1 else sol, dst, ring, bounds)
    if partial:
        raise InputError(f"the system matrix's determinant is divisible by {partial} of the exact solve's "
                         f"{ring.k} primes, too many to solve without them (inputs chosen to stop the solve?)")
    raise SingularMatrixError("the system matrix is singular (collinear features?)")


def rational(v: int, modulus: int, num_bound: int, den_bound: int) -> tuple[int, int] | None:
    """(n, d) with n = v d mod modulus, |n| <= num_bound, 0 < d <= den_bound (Wang's algorithm)."""
    r0, r1 = modulus, v % modulus
    s0, s1 = 0, 1
    while r1 > num_bound:
        q = r0 // r1
        r0, r1 = r1, r0 - q * r1
        s0, s1 = s1, s0 - q * s1
    if s1 == 0 or abs(s1) > den_bound:
        return None
    return (r1, s1) if s1 > 0 else (-r1, -s1)


def bounds(n_rows: int, d: int, entry_bits: int, ridge: int = 0) -> tuple[int, int]:
    """(numerator, denominator) bounds for A^-1 b with A = X^T X + ridge I, b = X^T y, |entries| < 2^entry_bits
    (ridge: the penalty added to A's diagonal, at A's scale)."""
    row = math.isqrt(d) + 1
    entry = (n_rows << (2 * entry_bits)) + ridge
    den = (row * entry) ** d
    num = d * (row * entry) ** d
    return num, den


def ring_for(num: int, den: int) -> Ring:
    """The smallest RNS ring with M > 2^64 * 2 * num * den (the margin turns out-of-bound data into
    a failed reconstruction instead of a different fraction)."""
    need = (2 * num * den).bit_length() + 65
    return Ring(-(-need // 20))
