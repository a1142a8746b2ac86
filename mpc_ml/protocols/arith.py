"""Arithmetic protocols on degree-t Shamir shares: input, opening, degree reduction, truncation.

Shares are arrays (L, K, *shape) (see runtime.py). A product of two degree-t sharings is a
degree-2t sharing; it is brought back to degree t (and, for fixed point, divided by 2^f) by
opening it masked with a PRSS double sharing ([r]_t, [r]_2t), all-to-all, in one round.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

from ..errors import ShareCheckError
from ..fixedpoint import KAPPA
from ..ring import Ring
from ..prss import MAX_LIMB_BITS, split_bits
from ..runtime import Runtime
from . import shamir


def public(rt: Runtime, value: int, shape: tuple[int, ...], ring: Ring | None = None) -> np.ndarray:
    """A public constant as residues (1, K, *shape)."""
    ring = ring or rt.ring
    return np.broadcast_to(ring.const(value).reshape((1, ring.k) + (1,) * len(shape)), (1, ring.k) + shape)


def input_values(rt: Runtime, values: np.ndarray | None, src: int, shape: tuple[int, ...],
                 ring: Ring | None = None) -> np.ndarray:
    """Party src secret-shares integer residues `values` ((1, K, *shape), known at src only); checked by all."""
    ring = ring or rt.ring
    per_dest = None
    if src in rt.local_ids:
        per_dest = shamir.deal(ring, values[0], rt.n, rt.t)
    shares = rt.scatter(src, per_dest, rt.ring_codec if ring is rt.ring else _codec(ring), shape)
    _check_input(rt, shares, src, ring)
    return shares


def _blame_input(src: int, what: str, others: list[int]) -> ShareCheckError:
    """The error for an input that the parties do not hold consistently: the dealer src is always a
    suspect (the opening alone would name the party it dealt a wrong share to, an honest party)."""
    suspects = sorted({src, *others})
    return ShareCheckError(f"party {src}'s input {what}: party {src} dealt inconsistent shares or one of "
                           f"parties {suspects} lied in the check (suspects: {suspects})", suspects)


def _check_input(rt: Runtime, shares: np.ndarray, src: int, ring: Ring) -> None:
    """Check that every party holds src's input with one shape, on one degree-t polynomial (one or two rounds).

    In TCP mode the parties first compare a hash of the shape src sent them; then x + rho is opened and
    checked for degree t, rho a PRSS-uniform degree-t sharing, so the opening reveals nothing about x.
    """
    shape = tuple(int(d) for d in shares.shape[2:])
    if not rt.simulated:
        digest = hashlib.sha256(json.dumps(shape).encode()).digest()
        mine = np.frombuffer(digest, dtype=np.uint64)[None]
        seen = rt.exchange(mine, [list(range(rt.n))] * rt.n, rt.word_codec, (mine.shape[1],))
        differ = [j for j in range(rt.n) if not np.array_equal(seen[j], mine[0])]
        if differ:
            raise _blame_input(src, f"has shape {shape} here and another shape at parties {differ}", differ)
    rho = rt.prss.uniform(ring, shape)
    try:
        open_all(rt, ring.add(shares, rho), rt.t, check=True, ring=ring)
    except ShareCheckError as exc:
        raise _blame_input(src, "does not lie on one degree-t polynomial", exc.suspects) from None


def _codec(ring: Ring):
    from ..runtime import Codec
    return Codec(ring)


def open_all(rt: Runtime, shares: np.ndarray, degree: int, check: bool = True,
             ring: Ring | None = None) -> np.ndarray:
    """Reveal to every party: all shares are exchanged and (if redundant) checked; (1, K, *shape)."""
    ring = ring or rt.ring
    shape = shares.shape[2:]
    stack = rt.exchange(shares, [list(range(rt.n))] * rt.n, _codec(ring), shape)
    return shamir.reconstruct(ring, stack, degree, check, corrupt=rt.t)[None]


def products_checked(rt: Runtime) -> bool:
    """Whether the degree-2t openings of products are checked: with n >= 3t + 1 parties their n shares have the
    redundancy to reveal up to t wrong ones, so a party that shifts a product is caught (ShareCheckError) before
    any output is signed; with fewer (n = 2t + 1, the default 3 parties) there is none, and products are trusted
    (semi-honest)."""
    return rt.n >= 3 * rt.t + 1


def _double_masks(rt: Runtime, size: int, ring: Ring) -> tuple[np.ndarray, np.ndarray]:
    """([r]_t, [r]_2t) flat (L, K, size) for uniform r in Z_M, from PRSS residues (no interaction)."""
    r_t = rt.prss.lift(ring, rt.prss.residues(ring, (size,)))
    return r_t, ring.add(r_t, ring.combine_residues(*rt.prss.zero_sharing(ring, (size,))))


def fill_double(rt: Runtime, size: int, ring: Ring | None = None) -> None:
    """Offline: put `size` double sharings into the pool."""
    ring = ring or rt.ring
    rt.pool.add(("double", ring.primes), _double_masks(rt, size, ring))


def double_random(rt: Runtime, shape: tuple[int, ...], ring: Ring | None = None) -> tuple[np.ndarray, np.ndarray]:
    """([r]_t, [r]_2t) for a uniform r in Z_M (from the pool, or made now from PRSS)."""
    ring = ring or rt.ring
    size = int(np.prod(shape, dtype=np.int64))
    r_t, r_2t = rt.pool.take(("double", ring.primes), size, lambda m: _double_masks(rt, m, ring))
    full = (rt.L, ring.k) + tuple(shape)
    return r_t.reshape(full), r_2t.reshape(full)


def reduce_degree(rt: Runtime, z2: np.ndarray, ring: Ring | None = None) -> np.ndarray:
    """Degree-t shares of the value of degree-2t shares z2 (one round)."""
    ring = ring or rt.ring
    shape = z2.shape[2:]
    r_t, r_2t = double_random(rt, shape, ring)
    c = open_all(rt, ring.add(z2, r_2t), 2 * rt.t, check=products_checked(rt), ring=ring)
    return ring.sub(np.broadcast_to(c, r_t.shape), r_t)


def _trunc_masks(rt: Runtime, size: int, f: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat (L, K, size) shares of (2^(l-1) + r)_2t and (2^(l-1-f) + bias + sum_T hi_T)_t for truncation by f bits.

    r = sum_T (lo_T + 2^f hi_T) with lo_T < 2^f, hi_T < 2^(l + kappa - f) (PRSS limbs, one matrix
    product) and the degree-2t zero sharing (PRSS residues) added to the first; the public constants
    of `trunc` are folded in here, so the online phase adds one array and subtracts another.
    """
    ring = rt.ring
    p = rt.params
    lo_w, hi_w = split_bits(f, MAX_LIMB_BITS), split_bits(p.trunc_bits + KAPPA - f)
    mask = [(i, 1 << sum(lo_w[:i]), 0) for i in range(len(lo_w))]
    mask += [(len(lo_w) + i, 1 << (f + sum(hi_w[:i])), 0) for i in range(len(hi_w))]
    hi = [(len(lo_w) + i, 1 << sum(hi_w[:i]), 0) for i in range(len(hi_w))]
    # for an even number of subsets C, half a unit more in the mask's offset: floor() loses 1/2 on average and the
    # carry adds C/2, which bias = C // 2 then takes back exactly (else every product errs by -1/2 on average)
    half = 1 << (f - 1) if p.subsets % 2 == 0 and f > 0 else 0
    offsets = [(1 << (p.trunc_bits - 1)) + half, (1 << (p.trunc_bits - 1 - f)) + p.trunc_bias]
    sh, _ = rt.prss.shares(ring, (size,), lo_w + hi_w, [mask, hi], zero=(0,), offsets=offsets)
    return sh[:, 0], sh[:, 1]


def fill_trunc(rt: Runtime, size: int, bits: int | None = None) -> None:
    """Offline: put `size` truncation masks (for `bits`, default the fraction bits) into the pool."""
    f = rt.params.frac_bits if bits is None else bits
    rt.pool.add(("trunc", rt.ring.primes, f), _trunc_masks(rt, size, f))


def trunc(rt: Runtime, z: np.ndarray, bits: int | None = None, factor: np.ndarray | None = None) -> np.ndarray:
    """Degree-t shares of floor(z' / 2^bits) + e - bias for z' = z * factor (or z), of degree <= 2t.

    z, factor: residues (factor broadcast against z: a share array or public residues).
    Opens c = z' + 2^(l-1) + r with r = sum_T (lo_T + 2^bits hi_T) from PRSS, lo_T < 2^bits,
    hi_T < 2^(l + kappa - bits); c statistically hides z' (kappa = 40). Then
    floor(c / 2^bits) - sum_T hi_T = floor((z' + 2^(l-1)) / 2^bits) + e, e in [0, C].
    Local work is two passes in C: the product plus the mask (`Ring.mul_add`), and after the
    all-to-all exchange the Lagrange combination, c mod 2^bits by the CRT, the division and the
    subtraction of the hi_T part (`Ring.open_trunc`; exact because c < M / 4 by the choice of the ring).
    """
    return trunc_each(rt, [(z, bits, factor)])[0]


def trunc_each(rt: Runtime, parts: list[tuple[np.ndarray, int | None, np.ndarray | None]]) -> list[np.ndarray]:
    """`trunc` of several (z, bits, factor), each by its own number of bits, in one exchange (one round)."""
    ring = rt.ring
    f_default = rt.params.frac_bits
    masked, opened = [], []
    for z, bits, factor in parts:
        f = f_default if bits is None else bits
        if factor is not None:
            z = np.broadcast_to(z, np.broadcast_shapes(z.shape, factor.shape))
        full = (rt.L, ring.k) + tuple(z.shape[2:])
        size = int(np.prod(z.shape[2:], dtype=np.int64))
        mask, hi_t = rt.pool.take(("trunc", ring.primes, f), size, lambda m, f=f: _trunc_masks(rt, m, f))
        masked.append(ring.mul_add(z, factor, mask.reshape(full)).reshape(full[:2] + (size,)))
        opened.append((f, full, size, hi_t))
    flat = masked[0] if len(masked) == 1 else np.concatenate(masked, axis=2)
    stack = rt.exchange(flat, [list(range(rt.n))] * rt.n, rt.ring_codec, (flat.shape[2],))
    if products_checked(rt):  # a wrong share of c: ShareCheckError, naming its sender where n allows
        shamir.reconstruct(ring, stack, 2 * rt.t, check=True, corrupt=rt.t)
    base = tuple(range(2 * rt.t + 1))  # degree 2t: the first 2t + 1 shares determine c
    weights = shamir.lagrange_weights(ring, base)
    out, at = [], 0
    for f, full, size, hi_t in opened:
        part = np.ascontiguousarray(stack[:len(base), :, at:at + size])
        out.append(ring.open_trunc(part, weights, f, hi_t.reshape(full[:2] + (size,))).reshape(full))
        at += size
    return out


def mul(rt: Runtime, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Degree-t shares of x*y (integers; no truncation)."""
    return reduce_degree(rt, rt.ring.mul(x, y))


def mul_fixed(rt: Runtime, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Degree-t shares of the fixed-point product x*y (one round: reduction and truncation together).

    trunc forms the product, adds the mask and reduces in one pass.
    """
    return trunc(rt, x, factor=y)
