"""Fixed-point parameters derived from (n, t), and float <-> integer encoding.

A real x is held as the integer round(x * 2^f) in Z_M (M a product of 21-bit primes, see ring.py).
Every value (also every intermediate result) must satisfy |x| < 2^value_bits; comparisons (ReLU, max,
sigmoid's and the activations' branches) are exact for |x| < 2^(cmp_bits - 1 - f), 2^37 with 3 parties.
A product of two such values, before truncation, is below 2^(value_bits + 2f), so the truncation mask
r = sum over PRSS subsets of r_T, r_T < 2^(l + kappa), with l = value_bits + 2f + 1, must not wrap:
M > 2^l + C * 2^(l + kappa), C = C(n, t) subsets.
Probabilistic truncation returns floor(a / 2^f) + e - bias with e in [0, C], bias = C // 2 (for even C the mask
carries half a unit more, so that the mean error is 0): the error of one truncation lies in (-(bias + 1), C - bias]
units of 2^-f for odd C (|err| <= bias + 1; |err| < 2 ulp was measured for n=3) and in (-(bias + 1/2), bias + 1/2)
for even C (`Params.describe`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import InputError
from .ring import Ring

KAPPA = 40  # statistical security of every masked opening, in bits


@dataclass(frozen=True)
class Params:
    """Number representation for one runtime."""

    n: int
    t: int
    frac_bits: int
    value_bits: int
    subsets: int
    ring: Ring
    trunc_bits: int  # l: a + 2^(l-1) is in [0, 2^l) before truncation
    cmp_bits: int  # k: compared values a satisfy |a| < 2^(k-1) (a in units of 2^-f)

    @property
    def scale(self) -> float:
        """2^f."""
        return float(1 << self.frac_bits)

    @property
    def trunc_bias(self) -> int:
        """Centring constant subtracted after truncation (C // 2; for even C the mask adds half a unit, so that the
        mean error is 0 for every C)."""
        return self.subsets // 2

    def describe(self) -> dict:
        """Human-readable summary (for docs and benchmarks)."""
        return {"n": self.n, "t": self.t, "primes": self.ring.k, "modulus_bits": self.ring.bits,
                "frac_bits": self.frac_bits, "value_bits": self.value_bits, "kappa": KAPPA,
                "trunc_error_ulp": ([-(self.trunc_bias + 1), self.subsets - self.trunc_bias] if self.subsets % 2 else
                                    [-(self.trunc_bias + 0.5), self.trunc_bias + 0.5])}


def make_params(n: int, t: int, frac_bits: int = 24, value_bits: int = 31) -> Params:
    """Choose the smallest ring that holds the truncation and comparison masks for (n, t)."""
    if not isinstance(frac_bits, int) or not 16 <= frac_bits <= 40:  # below 16, exp's squarings lose the result
        raise InputError(f"precision must be an integer number of fractional bits in 16..40, got {frac_bits!r}")
    subsets = math.comb(n, t)
    cbits = subsets.bit_length()
    # comparison circuit works on 64-bit words: (C + 1) * 2^(k-1) < 2^64, so k = 64 - bits(C) at the most; it takes
    # all of it (the same rounds): differences of two legal values, |a - b| < 2^(value_bits + 1), compare exactly,
    # and so do values 2^(k - 1 - f) / 2^value_bits times larger (a product of two moderate inputs)
    value_bits = min(value_bits, 63 - cbits - frac_bits - 1)
    if value_bits < 8:
        raise InputError(f"{n} parties leave too little room for {frac_bits} fractional bits")
    trunc_bits = value_bits + 2 * frac_bits + 1
    need = trunc_bits + KAPPA + cbits + 2
    k = 1
    while Ring(k).bits <= need:
        k += 1
    return Params(n=n, t=t, frac_bits=frac_bits, value_bits=value_bits, subsets=subsets,
                  ring=Ring(k), trunc_bits=trunc_bits, cmp_bits=64 - cbits)


def encode(x: np.ndarray, params: Params, what: str = "input") -> np.ndarray:
    """Finite floats -> int64 fixed point, rejecting NaN, infinities and out-of-range values."""
    arr = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise InputError(f"{what} holds {bad} NaN or infinite value(s)")
    limit = float(2 ** params.value_bits)
    if arr.size and float(np.max(np.abs(arr))) >= limit:
        raise InputError(f"{what} has a value of magnitude {float(np.max(np.abs(arr))):.6g}, outside "
                         f"the fixed-point range |x| < 2^{params.value_bits}")
    return np.rint(arr * params.scale).astype(np.int64)


def decode(v: np.ndarray, params: Params) -> np.ndarray:
    """int64 fixed point -> float64."""
    return np.asarray(v, dtype=np.float64) / params.scale
