"""Arithmetic protocols on degree-t Shamir shares: input, opening, degree reduction, truncation.

Shares are arrays (L, K, *shape) (see runtime.py). A product of two degree-t sharings is a
degree-2t sharing; it is brought back to degree t (and, for fixed point, divided by 2^f) by
opening it masked with a PRSS double sharing ([r]_t, [r]_2t), all-to-all, in one round.
"""

from __future__ import annotations

import numpy as np

from ..fixedpoint import KAPPA
from ..ring import Ring
from ..prss import LIMB_BITS, split_bits, uniform_limbs
from ..runtime import Runtime
from . import shamir


def small(ring: Ring, u: np.ndarray) -> np.ndarray:
    """Residues (1, K, *shape) of non-negative integers (uint64 of any size, or floats below 2^53)."""
    if np.asarray(u).dtype == np.uint64:
        return ring.from_uint64(u)
    x = np.broadcast_to(np.asarray(u, dtype=np.float64)[None, None], (1, ring.k) + np.shape(u)).copy()
    return ring.reduce_big(x)


def public(rt: Runtime, value: int, shape: tuple[int, ...], ring: Ring | None = None) -> np.ndarray:
    """A public constant as residues (1, K, *shape)."""
    ring = ring or rt.ring
    return np.broadcast_to(ring.const(value).reshape((1, ring.k) + (1,) * len(shape)), (1, ring.k) + shape)


def input_values(rt: Runtime, values: np.ndarray | None, src: int, shape: tuple[int, ...],
                 ring: Ring | None = None) -> np.ndarray:
    """Party src secret-shares integer residues `values` ((1, K, *shape), known at src only)."""
    ring = ring or rt.ring
    per_dest = None
    if src in rt.local_ids:
        per_dest = shamir.deal(ring, values[0], rt.n, rt.t)
    return rt.scatter(src, per_dest, rt.ring_codec if ring is rt.ring else _codec(ring), shape)


def _codec(ring: Ring):
    from ..runtime import Codec
    return Codec(ring)


def open_all(rt: Runtime, shares: np.ndarray, degree: int, check: bool = True,
             ring: Ring | None = None) -> np.ndarray:
    """Reveal to every party: all shares are exchanged and (if redundant) checked; (1, K, *shape)."""
    ring = ring or rt.ring
    shape = shares.shape[2:]
    stack = rt.exchange(shares, [list(range(rt.n))] * rt.n, _codec(ring), shape)
    return shamir.reconstruct(ring, stack, degree, check)[None]


def _uniform_terms(first: int, count: int, power: int) -> list[tuple[int, int, int]]:
    """Terms making a uniform element of Z_M from `count` limbs starting at limb `first`."""
    return [(first + i, 1 << (LIMB_BITS * i), power) for i in range(count)]


def double_random(rt: Runtime, shape: tuple[int, ...], ring: Ring | None = None) -> tuple[np.ndarray, np.ndarray]:
    """([r]_t, [r]_2t) for a uniform r (40 extra random bits), from PRSS (no interaction)."""
    ring = ring or rt.ring
    j = uniform_limbs(ring)
    r_terms = _uniform_terms(0, j, 0)
    zero_terms = [term for k in range(1, rt.t + 1) for term in _uniform_terms(j * k, j, k)]
    sh, _ = rt.prss.shares(ring, shape, [LIMB_BITS] * (j * (rt.t + 1)), [r_terms, r_terms + zero_terms])
    return sh[:, 0], sh[:, 1]


def reduce_degree(rt: Runtime, z2: np.ndarray, ring: Ring | None = None) -> np.ndarray:
    """Degree-t shares of the value of degree-2t shares z2 (one round)."""
    ring = ring or rt.ring
    shape = z2.shape[2:]
    r_t, r_2t = double_random(rt, shape, ring)
    c = open_all(rt, ring.add(z2, r_2t), 2 * rt.t, check=False, ring=ring)
    return ring.sub(np.broadcast_to(c, r_t.shape), r_t)


def trunc(rt: Runtime, z: np.ndarray, bits: int | None = None) -> np.ndarray:
    """Degree-t shares of floor(z / 2^bits) + e - bias (probabilistic truncation; z of degree <= 2t).

    Opens c = z + 2^(l-1) + r with r = sum_T (lo_T + 2^bits hi_T) from PRSS, lo_T < 2^bits,
    hi_T < 2^(l + kappa - bits); c statistically hides z (kappa = 40). Then
    floor(c / 2^bits) - sum_T hi_T = floor((z + 2^(l-1)) / 2^bits) + e, e in [0, C].
    """
    ring = rt.ring
    p = rt.params
    f = p.frac_bits if bits is None else bits
    shape = z.shape[2:]
    lo_w, hi_w = split_bits(f), split_bits(p.trunc_bits + KAPPA - f)
    j = uniform_limbs(ring)
    nl = len(lo_w) + len(hi_w)
    mask = [(i, 1 << sum(lo_w[:i]), 0) for i in range(len(lo_w))]
    mask += [(len(lo_w) + i, 1 << (f + sum(hi_w[:i])), 0) for i in range(len(hi_w))]
    mask += [term for k in range(1, rt.t + 1) for term in _uniform_terms(nl + j * (k - 1), j, k)]
    hi = [(len(lo_w) + i, 1 << sum(hi_w[:i]), 0) for i in range(len(hi_w))]
    sh, _ = rt.prss.shares(ring, shape, lo_w + hi_w + [LIMB_BITS] * (j * rt.t), [mask, hi])
    hi_t = sh[:, 1]
    masked = ring.add(ring.add(z, sh[:, 0]), public(rt, 1 << (p.trunc_bits - 1), shape))
    c = open_all(rt, masked, 2 * rt.t, check=False)
    c_low = ring.mod_2k(c, f)[0]
    top = ring.scale(ring.sub(c, small(ring, c_low.astype(np.float64))), pow(1 << f, -1, ring.modulus))
    top = ring.sub(top, public(rt, (1 << (p.trunc_bits - 1 - f)) + p.trunc_bias, shape))
    return ring.sub(np.broadcast_to(top, hi_t.shape), hi_t)


def mul(rt: Runtime, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Degree-t shares of x*y (integers; no truncation)."""
    return reduce_degree(rt, rt.ring.mul(x, y))


def mul_fixed(rt: Runtime, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Degree-t shares of the fixed-point product x*y (one round: reduction and truncation together)."""
    return trunc(rt, rt.ring.mul(x, y))


def matmul_fixed(rt: Runtime, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Degree-t shares of the fixed-point matrix product x @ y (local products, one round)."""
    return trunc(rt, rt.ring.matmul(x, y))
