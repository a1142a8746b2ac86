"""Non-linear functions on fixed-point shares, built from comparison, multiplication and truncation.

Each returns degree-t shares (L, K, *shape) at scale 2^f. Accuracy (f = 24):
relu and comparisons are exact; exp uses 1 + u + u^2/2 + u^3/6 with u = x/256 raised to 2^8
(absolute error under 5e-5 on [-64, 0], relative under 2.5e-4 up to x = 16: mpc_ml/README.md has
every function's bound; inputs are first clamped to [-64, 20.8] for value_bits = 31, so e^x
saturates instead of wrapping); reciprocal and sqrt bring |x| into [1, 256) or [1, 64) by a secret power of 2
(one batched comparison against the octaves), then run Newton there (any x in range); sigmoid uses an exact sign and a
reciprocal on [1, 2]; inverse square root runs 10 Newton steps from CrypTen's initial guess (0.01 < x < 200).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import InputError
from ..fixedpoint import encode
from ..runtime import Runtime
from . import arith, boolean

EXP_MIN = -64.0  # e^-64 < 2^-92: zero at any precision
MAX_TRUNC_BITS = 52  # keeps 2^-bits public factors well inside float64 (arith.trunc itself takes up to 64)


def scale_int(rt: Runtime, x: np.ndarray, c: int) -> np.ndarray:
    """x * c for a public integer c (no truncation needed)."""
    return rt.ring.scale(x, c)


def add_public(rt: Runtime, x: np.ndarray, value: float) -> np.ndarray:
    """x + a public real constant."""
    enc = int(round(value * rt.params.scale))
    return rt.ring.add(x, arith.public(rt, enc, x.shape[2:]))


def mul_public(rt: Runtime, x: np.ndarray, value: Any) -> np.ndarray:
    """x * a public real constant or array `value` (broadcast against x's user dims; integer scalars need no
    truncation).

    A factor below 1/2 in magnitude is encoded with a normalised mantissa, round(c 2^(f+e)) with
    1/2 <= |c 2^e| < 1, and the product truncated by f + e bits: full precision for c = 1/count, and for
    x / d with public divisors d > 2. An array's elements are grouped by e, every group truncated in one round.
    """
    p = rt.params
    v = np.asarray(value, dtype=np.float64)
    encode(v, p, "public factor")  # finite, |value| < 2^value_bits (InputError)
    if v.ndim == 0 and float(v).is_integer():
        return scale_int(rt, x, int(v))
    cap = min(MAX_TRUNC_BITS - p.frac_bits, p.trunc_bits - 1 - p.frac_bits)
    extra = np.clip(-np.frexp(v)[1], 0, cap)  # frexp(0) has exponent 0: no extra bits
    if v.ndim == 0:
        bits = p.frac_bits + int(extra)
        factor = rt.ring.col(x.ndim, rt.ring.const(int(round(float(v) * 2.0 ** bits))))
        return arith.trunc(rt, x, bits, factor=factor)
    shape = np.broadcast_shapes(x.shape[2:], v.shape)
    xb = np.broadcast_to(x.reshape(x.shape[:2] + (1,) * (len(shape) + 2 - x.ndim) + x.shape[2:]),
                         x.shape[:2] + shape)
    extra = np.broadcast_to(extra, shape)
    enc = rt.ring.from_int64(np.round(np.broadcast_to(v, shape) * 2.0 ** (p.frac_bits + extra)).astype(np.int64))
    groups = np.unique(extra)
    if len(groups) == 1:
        return arith.trunc(rt, xb, p.frac_bits + int(groups[0]), factor=enc)
    out = np.empty((rt.L, rt.ring.k) + shape, dtype=x.dtype)
    sels = [(slice(None), slice(None), extra == e) for e in groups]
    opened = arith.trunc_each(rt, [(np.ascontiguousarray(xb[sel]), p.frac_bits + int(e), enc[sel])
                                   for sel, e in zip(sels, groups)])  # every group in one round
    for sel, part in zip(sels, opened):
        out[sel] = part
    return out


def ge_zero(rt: Runtime, x: np.ndarray) -> np.ndarray:
    """Integer 0/1 shares of [x >= 0]."""
    return boolean.b2a(rt, boolean.ltz_bits(rt, x))


def relu(rt: Runtime, x: np.ndarray) -> np.ndarray:
    """max(x, 0), exact."""
    return arith.mul(rt, x, ge_zero(rt, x))


def select(rt: Runtime, b: np.ndarray, a: np.ndarray, c: np.ndarray) -> np.ndarray:
    """b ? a : c for integer 0/1 shares b (one round, exact)."""
    ring = rt.ring
    return ring.add(c, arith.mul(rt, b, ring.sub(a, c)))


def clamp(rt: Runtime, x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """min(max(x, lo), hi) for public lo < hi: one batched comparison and one batched product."""
    ring = rt.ring
    above = ge_zero(rt, np.stack([add_public(rt, x, -lo), add_public(rt, x, -hi)], axis=2))
    below = ring.sub(arith.public(rt, 1, x.shape[2:]), above[:, :, 0])  # [x < lo]
    neg = ring.neg(x)
    # x + [x < lo] (lo - x) + [x >= hi] (hi - x); at most one of the two flags is set
    prod = arith.mul(rt, np.stack([below, above[:, :, 1]], axis=2),
                     np.stack([add_public(rt, neg, lo), add_public(rt, neg, hi)], axis=2))
    return ring.add(x, ring.add(prod[:, :, 0], prod[:, :, 1]))


def exp(rt: Runtime, x: np.ndarray, squarings: int = 8) -> np.ndarray:
    """e^x from a third-order Taylor base on x / 2^squarings, then repeated squaring.

    x is first clamped to [EXP_MIN, (value_bits - 1) ln 2]: below, e^x rounds to 0; above, e^x would
    leave the fixed-point range. Unclamped, the squarings would wrap around the ring and every
    later truncation would open a value outside its statistical mask.
    """
    x = clamp(rt, x, EXP_MIN, (rt.params.value_bits - 1) * math.log(2))
    u = mul_public(rt, x, 1.0 / (1 << squarings))
    # 1 + u (1 + u/2 (1 + u/3))
    inner = add_public(rt, mul_public(rt, u, 1.0 / 3.0), 1.0)
    inner = add_public(rt, mul_public(rt, arith.mul_fixed(rt, u, inner), 0.5), 1.0)
    y = add_public(rt, arith.mul_fixed(rt, u, inner), 1.0)
    for _ in range(squarings):
        y = arith.mul_fixed(rt, y, y)
    return y


RECIPROCAL_STEP = 8  # reciprocal: |x| = x' 2^(8j + 3), x' in [1/8, 32) (7 octaves at f = 24: few comparisons)
RECIPROCAL_SHIFT = 3
SQRT_STEP = 6  # sqrt: x = x' 2^(6j), x' in [1, 64) (inv_sqrt's start holds below ~200; 6j/2 an integer)


def _octaves(rt: Runtime, a: np.ndarray, step: int) -> tuple[list[np.ndarray], np.ndarray, list[int]]:
    """For a >= 0: integer 0/1 shares h_j of [t_j <= a < t_(j+1)], t_j = max(2^(step j), 2^-f), for j from
    -ceil(f/step) to the top of the range (one batched comparison), the shares of [a >= 2^-f] (a != 0; all h_j
    are then 0), and the j. a in [t_j, 2^(step (j+1))) maps to a 2^-(step j) in [1, 2^step)."""
    p, ring = rt.params, rt.ring
    js = list(range(-p.frac_bits // step, -(-p.value_bits // step)))
    g = ge_zero(rt, np.stack([add_public(rt, a, -max(2.0 ** (step * j), 2.0 ** -p.frac_bits)) for j in js], axis=2))
    hots = [ring.sub(g[:, :, k], g[:, :, k + 1]) if k + 1 < len(js) else g[:, :, k] for k in range(len(js))]
    return hots, g[:, :, 0], js


def _power_of(rt: Runtime, hots: list[np.ndarray], exponents: list[int]) -> np.ndarray:
    """Shares of sum_j h_j 2^(exponents[j]) (local: the h_j are integer shares, the powers public)."""
    ring = rt.ring
    out = scale_int(rt, hots[0], 1 << exponents[0])
    for h, e in zip(hots[1:], exponents[1:]):
        out = ring.add(out, scale_int(rt, h, 1 << e))
    return out


def reciprocal(rt: Runtime, x: np.ndarray) -> np.ndarray:
    """1/x for any x in the fixed-point range, 0 for x = 0 (exactly), CrypTen's sign(x) / |x| with a secret
    normalisation: the sign (one comparison), |x| = x' 2^(8j + 3) with x' in [1/8, 32) (one batched comparison
    against the octaves' bounds), 1/x' by Newton over [1/8, 32), then 2^-(8j + 3) and the sign. Two truncations by
    T + 3 bits (T = 8 j_max) carry |x| to x' and back."""
    ring = rt.ring
    sign = ring.sub(scale_int(rt, ge_zero(rt, x), 2), arith.public(rt, 1, x.shape[2:]))  # +-1, integer
    ax = arith.mul(rt, x, sign)
    hots, nonzero, js = _octaves(rt, ax, RECIPROCAL_STEP)
    top = RECIPROCAL_STEP * js[-1]
    scale = _power_of(rt, hots, [top - RECIPROCAL_STEP * j for j in js])  # 2^(T - 8j)
    # x' = |x| 2^(-8j - 3) in [1/8, 32): 1/x' in (1/32, 8] keeps 19 bits or more at f = 24 (from [1, 256), 16)
    shift = top + RECIPROCAL_SHIFT
    r = reciprocal_between(rt, arith.trunc(rt, ax, shift, factor=scale), 2.0 ** -RECIPROCAL_SHIFT,
                           2.0 ** (RECIPROCAL_STEP - RECIPROCAL_SHIFT))
    sign = arith.mul(rt, sign, nonzero)  # 0 for x = 0, so that 1/0 opens exactly 0 (not the truncation's noise)
    return arith.mul(rt, arith.trunc(rt, r, shift, factor=scale), sign)


def reciprocal_between(rt: Runtime, x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """1/x for public bounds 0 < lo <= x <= hi (softmax's denominator: 1 <= x <= n): Newton from 1 / hi.

    x y_0 lies in [lo/hi, 1], so every step multiplies y by 2 - x y in [1, 2): y grows towards 1/x and never
    underflows (from 2 / (lo + hi), x = hi made the first step 4 hi / (lo + hi)^2, below one unit for hi above
    ~8,000: softmax over that many tied logits). The relative error |1 - x y_0| <= 1 - lo/hi squares at every
    step, and steps are taken until it is below 2^-30.
    """
    y0 = 1.0 / hi
    if y0 * rt.params.scale < 16:
        raise InputError(f"a reciprocal over [{lo:g}, {hi:g}] is below the fixed-point precision")
    e0 = max((hi - lo) / hi, 2.0 ** -30)
    steps = max(1, math.ceil(math.log2(30 * math.log(2) / -math.log(e0))) + 1)
    return _newton_recip(rt, x, add_public(rt, arith.public(rt, 0, x.shape[2:]), y0), steps)


def reciprocal_1_2(rt: Runtime, x: np.ndarray) -> np.ndarray:
    """1/x for x in [1, 2]: linear start 24/17 - 8/17 x (error <= 1/17), three Newton steps."""
    y = add_public(rt, mul_public(rt, x, -8.0 / 17.0), 24.0 / 17.0)
    return _newton_recip(rt, x, y, 3)


def _newton_recip(rt: Runtime, x: np.ndarray, y: np.ndarray, iterations: int) -> np.ndarray:
    for _ in range(iterations):
        xy = arith.mul_fixed(rt, x, y)
        y = arith.mul_fixed(rt, y, add_public(rt, rt.ring.neg(xy), 2.0))
    return y


def sigmoid(rt: Runtime, x: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-x) via the exact sign: s(|x|) for x >= 0 and 1 - s(|x|) otherwise."""
    ring = rt.ring
    b = ge_zero(rt, x)
    sign = ring.sub(scale_int(rt, b, 2), arith.public(rt, 1, x.shape[2:]))  # +-1, integer
    ax = arith.mul(rt, x, sign)
    r = reciprocal_1_2(rt, add_public(rt, exp(rt, ring.neg(ax)), 1.0))
    one = arith.public(rt, 1 << rt.params.frac_bits, x.shape[2:])
    # (1 - b) + (2b - 1) r, with b an integer and r fixed point
    return ring.add(ring.sub(one, scale_int(rt, b, 1 << rt.params.frac_bits)), arith.mul(rt, sign, r))


def inv_sqrt(rt: Runtime, x: np.ndarray, iterations: int = 10) -> np.ndarray:
    """1/sqrt(x) for 0.01 < x < 200: Newton from 2.2 exp(-(x/2 + 0.2)) + 0.2 - x/1024."""
    e = exp(rt, add_public(rt, mul_public(rt, x, -0.5), -0.2))
    y = add_public(rt, rt.ring.sub(mul_public(rt, e, 2.2), mul_public(rt, x, 1.0 / 1024)), 0.2)
    for _ in range(iterations):
        y2 = arith.mul_fixed(rt, y, y)
        t = add_public(rt, rt.ring.neg(arith.mul_fixed(rt, x, y2)), 3.0)
        y = mul_public(rt, arith.mul_fixed(rt, y, t), 0.5)
    return y


def sqrt(rt: Runtime, x: np.ndarray) -> np.ndarray:
    """sqrt(x) for any x >= 0 in the fixed-point range, 0 for x <= 0 (exactly): x = x' 2^(6j) with x' in [1, 64) by
    a secret normalisation (as `reciprocal`), sqrt(x') = x' / sqrt(x'), times 2^(3j). The way back truncates by
    H bits with a factor 2^(H + 3j), H = max(T/2, -3 j_min) so that every exponent is >= 0."""
    hots, positive, js = _octaves(rt, x, SQRT_STEP)
    top = SQRT_STEP * js[-1]
    xn = arith.trunc(rt, x, top, factor=_power_of(rt, hots, [top - SQRT_STEP * j for j in js]))
    root = arith.mul_fixed(rt, xn, inv_sqrt(rt, xn))
    half = max(top // 2, -(SQRT_STEP // 2) * js[0])
    back = arith.trunc(rt, root, half, factor=_power_of(rt, hots, [half + SQRT_STEP // 2 * j for j in js]))
    return arith.mul(rt, back, positive)  # 0 for x <= 0 exactly (not the truncation's noise)


CARRY_ONEHOT_MAX = 1 << 20  # one-hot rows carried through the tournament: up to this many elements (rows n^2)


def tournament(rt: Runtime, x: np.ndarray, axis: int,
               onehot: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """(max along user axis `axis`, one-hot integer shares of the first argmax or None), log-depth.

    Small inputs carry a one-hot row with every candidate (n^2 elements per row, no extra round); larger ones
    record each level's comparison bits and send the winner's 1 back down the tree (one product per level),
    so memory stays linear in n (carrying took n^2: 5000 elements needed gigabytes).
    """
    ring = rt.ring
    ax = axis + 2
    n = x.shape[ax]
    vals = np.moveaxis(x, ax, -1)
    rows = int(np.prod(vals.shape[2:-1], dtype=np.int64))
    carry = onehot and rows * n * n <= CARRY_ONEHOT_MAX
    if carry:
        onehot_shape = vals.shape[2:-1] + (n, n)
        eye = np.broadcast_to(np.eye(n), onehot_shape)
        hot = np.broadcast_to(ring.from_int64(eye.astype(np.int64)), (rt.L, ring.k) + onehot_shape)
        cand = [(vals[..., i], hot[..., i, :]) for i in range(n)]
    else:
        cand = [(vals[..., i], None) for i in range(n)]
    levels = []  # (bits of the level's pairs, number of candidates) for the way back down
    while len(cand) > 1:
        half = len(cand) // 2
        a = np.stack([c[0] for c in cand[0:2 * half:2]], -1)
        b = np.stack([c[0] for c in cand[1:2 * half:2]], -1)
        bit = ge_zero(rt, ring.sub(a, b))  # a >= b keeps the earlier index on ties
        flat = a.shape[:2] + (-1,)
        if carry:
            ha = np.stack([c[1] for c in cand[0:2 * half:2]], -1)
            hb = np.stack([c[1] for c in cand[1:2 * half:2]], -1)
            bit_h = np.broadcast_to(bit[..., None, :], ha.shape)
            both_b = np.concatenate([bit.reshape(flat), bit_h.reshape(flat)], -1)
            diff = np.concatenate([ring.sub(a, b).reshape(flat), ring.sub(ha, hb).reshape(flat)], -1)
            prod = arith.mul(rt, both_b, diff)
            na = a.size // (a.shape[0] * a.shape[1])
            m = ring.add(b, prod[..., :na].reshape(a.shape))
            h = ring.add(hb, prod[..., na:].reshape(ha.shape))
            nxt = [(m[..., i], h[..., i]) for i in range(half)]
        else:
            m = ring.add(b, arith.mul(rt, bit, ring.sub(a, b)))
            levels.append((bit, len(cand)))
            nxt = [(m[..., i], None) for i in range(half)]
        if len(cand) % 2:
            nxt.append(cand[-1])
        cand = nxt
    mx, oh = cand[0]
    if not onehot:
        return mx, None
    if not carry:  # the winner's indicator, sent down: a pair's winner gets parent * bit, its other parent - that
        ind = np.broadcast_to(arith.public(rt, 1, vals.shape[2:-1] + (1,)), (rt.L, ring.k) + vals.shape[2:-1] + (1,))
        for bit, count in reversed(levels):
            half = count // 2
            first = arith.mul(rt, ind[..., :half], bit)
            pairs = np.stack([first, ring.sub(ind[..., :half], first)], -1).reshape(first.shape[:-1] + (2 * half,))
            ind = np.concatenate([pairs, ind[..., half:]], -1) if count % 2 else pairs
        oh = ind
    return mx, np.moveaxis(oh, -1, ax)
