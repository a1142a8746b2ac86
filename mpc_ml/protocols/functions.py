"""Non-linear functions on fixed-point shares, built from comparison, multiplication and truncation.

Each returns degree-t shares (L, K, *shape) at scale 2^f. Accuracy (f = 24):
relu and comparisons are exact; exp uses 1 + u + u^2/2 + u^3/6 with u = x/256 raised to 2^8
(absolute error under 5e-5 on [-64, 0], relative under 2.5e-4 up to x = 16: mpc_ml/README.md has
every function's bound; inputs are first clamped to [-64, 20.8] for value_bits = 31, so e^x
saturates instead of wrapping); reciprocal runs Newton from
3 exp(1/2 - x) + 0.003 (valid for 0.01 < x < 200); sigmoid uses an exact sign and a
reciprocal on [1, 2]; inverse square root runs 10 Newton steps from CrypTen's initial guess.
"""

from __future__ import annotations

import math

import numpy as np

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


def mul_public(rt: Runtime, x: np.ndarray, value: float) -> np.ndarray:
    """x * a public real constant (integer constants need no truncation).

    A constant below 1/2 in magnitude is encoded with a normalised mantissa, round(c 2^(f+e)) with
    1/2 <= |c 2^e| < 1, and the product truncated by f + e bits: full precision for c = 1/count.
    """
    p = rt.params
    encode(np.float64(value), p, "public factor")  # finite, |value| < 2^value_bits (InputError)
    if float(value).is_integer():
        return scale_int(rt, x, int(value))
    extra = max(0, min(-math.frexp(value)[1], MAX_TRUNC_BITS - p.frac_bits, p.trunc_bits - 1 - p.frac_bits))
    bits = p.frac_bits + extra
    enc = int(round(value * 2.0 ** bits))
    return arith.trunc(rt, x, bits, factor=rt.ring.col(x.ndim, rt.ring.const(enc)))


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


def reciprocal(rt: Runtime, x: np.ndarray, iterations: int = 10) -> np.ndarray:
    """1/x for 0.01 < x < 200 by Newton-Raphson from 3 exp(1/2 - x) + 0.003."""
    y = add_public(rt, mul_public(rt, exp(rt, add_public(rt, rt.ring.neg(x), 0.5)), 3.0), 0.003)
    return _newton_recip(rt, x, y, iterations)


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
    """sqrt(x) = x / sqrt(x) for 0.01 < x < 200."""
    return arith.mul_fixed(rt, x, inv_sqrt(rt, x))


def tournament(rt: Runtime, x: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """(max along user axis `axis`, one-hot integer shares of the first argmax), log-depth."""
    ring = rt.ring
    ax = axis + 2
    n = x.shape[ax]
    vals = np.moveaxis(x, ax, -1)
    onehot_shape = vals.shape[2:-1] + (n, n)
    eye = np.broadcast_to(np.eye(n), onehot_shape)
    hot = np.broadcast_to(ring.from_int64(eye.astype(np.int64)), (rt.L, ring.k) + onehot_shape)
    cand = [(vals[..., i], hot[..., i, :]) for i in range(n)]
    while len(cand) > 1:
        half = len(cand) // 2
        a = np.stack([c[0] for c in cand[0:2 * half:2]], -1)
        b = np.stack([c[0] for c in cand[1:2 * half:2]], -1)
        ha = np.stack([c[1] for c in cand[0:2 * half:2]], -1)
        hb = np.stack([c[1] for c in cand[1:2 * half:2]], -1)
        bit = ge_zero(rt, ring.sub(a, b))  # a >= b keeps the earlier index on ties
        bit_h = np.broadcast_to(bit[..., None, :], ha.shape)
        both_b = np.concatenate([bit.reshape(bit.shape[:2] + (-1,)), bit_h.reshape(bit.shape[:2] + (-1,))], -1)
        diff = np.concatenate([ring.sub(a, b).reshape(a.shape[:2] + (-1,)), ring.sub(ha, hb).reshape(ha.shape[:2] + (-1,))], -1)
        prod = arith.mul(rt, both_b, diff)
        na = a.size // (a.shape[0] * a.shape[1])
        m = ring.add(b, prod[..., :na].reshape(a.shape))
        h = ring.add(hb, prod[..., na:].reshape(ha.shape))
        nxt = [(m[..., i], h[..., i]) for i in range(half)]
        if len(cand) % 2:
            nxt.append(cand[-1])
        cand = nxt
    mx, oh = cand[0]
    return mx, np.moveaxis(oh, -1, ax)
