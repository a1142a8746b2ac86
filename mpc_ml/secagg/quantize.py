"""Quantisation of float updates to integers mod 2^32, with a stated error bound."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import SecAggError

MODULUS_BITS = 32


def default_bits(clients: int) -> int:
    """The largest level count 2^bits such that `clients` quantised values sum without wrapping mod 2^32."""
    return MODULUS_BITS - clients.bit_length()


def usable_clip(clip: float, bits: int) -> bool:
    """Whether `clip` is positive and finite with a finite, nonzero scale at `bits` bits. A huge clip
    (2 * clip overflows: scale 0) or a tiny one (the scale overflows) passes `isfinite` yet makes the
    sum come out wrong, or fail in a division, with an error bound of 0."""
    if not (math.isfinite(clip) and clip > 0 and math.isfinite(2 * clip)):
        return False
    return math.isfinite((2**bits - 1) / (2 * clip))


@dataclass(frozen=True)
class Quantizer:
    """Clip to [-clip, clip], map to integers 0..2^bits-1 by rounding to the nearest level."""

    clip: float
    bits: int

    def __post_init__(self) -> None:
        if not 1 <= self.bits <= 31:
            raise SecAggError(f"bits must be 1..31, got {self.bits}")
        if not usable_clip(self.clip, self.bits):
            raise SecAggError(f"clip must be a positive finite number with a finite scale at {self.bits} bits, got {self.clip!r}")

    @property
    def scale(self) -> float:
        """Levels per unit."""
        return (2**self.bits - 1) / (2 * self.clip)

    def quantize(self, update: np.ndarray) -> np.ndarray:
        """uint32 levels of the clipped update."""
        values = np.asarray(update, dtype=np.float64)
        if not np.isfinite(values).all():
            raise SecAggError("update contains NaN or infinity")
        return np.rint((np.clip(values, -self.clip, self.clip) + self.clip) * self.scale).astype(np.uint32)

    def dequantize_sum(self, total: np.ndarray, count: int) -> np.ndarray:
        """The float sum of `count` updates from the sum of their levels."""
        return total.astype(np.float64) / self.scale - count * self.clip

    def error_bound(self, count: int) -> float:
        """Max abs error per coordinate of the sum of `count` updates within [-clip, clip]."""
        return count / (2 * self.scale) * (1 + 1e-9) + count * self.clip * 4 * np.finfo(np.float64).eps
