"""Golomb-Rice compressed set of hashes, in the Elias-Fano layout (numpy-vectorised).

A set of `count` values of `bits` bits: each value is a high part of about log2(count) bits
and a low part of `bits - high` bits. The low parts are stored at fixed width, packed back to
back; the sorted high parts are coded in unary (a 1 at position high_i + i). That is
Golomb-Rice coding with parameter 2^low, with quotients and remainders in separate streams,
so that encoding and decoding are whole-array numpy operations. Size: low + about 2 bits per
value. A value is taken from a 16-byte hash: the high part from its first 8 bytes, the low
part from its last 8, so `bits` may exceed 64.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import PsiError

PAIR = np.dtype([("high", "<u8"), ("low", "<u8")])
_ROWS = 1 << 16  # rows per packing chunk: a multiple of 8, so every chunk ends on a byte


def range_bits(count: int, fpr: float) -> int:
    """Bits kept per hash so that a non-member matches with probability at most `fpr`."""
    if not 0.0 < fpr < 1.0:
        raise PsiError(f"fpr must be in (0, 1), got {fpr!r}")
    bits = max(1, math.ceil(math.log2(max(count, 1) / fpr)))
    if bits - high_bits_for(count, bits) > 64:
        raise PsiError(f"fpr {fpr!r} is too small (needs more than 64 low bits per value)")
    return bits


def high_bits_for(count: int, bits: int) -> int:
    """Width of the unary-coded part for a set of `count` values: about log2(count), at most `bits`."""
    return min(bits, max(count - 1, 0).bit_length())


def split(hashes: np.ndarray, bits: int, high: int) -> np.ndarray:
    """PAIR values of `bits` bits, `high` of them in the high part, from (k, 2) uint64 hashes."""
    width = bits - high
    out = np.empty(len(hashes), dtype=PAIR)
    out["high"] = hashes[:, 0] >> np.uint64(64 - high) if high else 0
    out["low"] = hashes[:, 1] >> np.uint64(64 - width) if width else 0
    return out


def _pack_low(values: np.ndarray, width: int) -> bytes:
    """The low `width` bits of each value, big-endian, packed back to back."""
    if width == 0:
        return b""
    parts = []
    for start in range(0, len(values), _ROWS):
        chunk = values[start : start + _ROWS].astype(">u8").view(np.uint8).reshape(-1, 8)
        parts.append(np.packbits(np.unpackbits(chunk, axis=1)[:, 64 - width :]).tobytes())
    return b"".join(parts)


def _unpack_low(data: bytes, count: int, width: int) -> np.ndarray:
    """Inverse of `_pack_low`."""
    if width == 0:
        return np.zeros(count, dtype=np.uint64)
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), count=count * width)
    out = np.empty(count, dtype=np.uint64)
    for start in range(0, count, _ROWS):
        rows = min(_ROWS, count - start)
        full = np.zeros((rows, 64), dtype=np.uint8)
        full[:, 64 - width :] = bits[start * width : (start + rows) * width].reshape(rows, width)
        out[start : start + rows] = np.packbits(full, axis=1).view(">u8").ravel()
    return out


@dataclass(frozen=True)
class CompressedSet:
    """A set of `count` distinct values of `bits` bits (`high_bits` of them unary-coded)."""

    count: int
    bits: int
    high_bits: int
    high: bytes
    low: bytes

    @classmethod
    def build(cls, values: np.ndarray, bits: int, high_bits: int) -> CompressedSet:
        """Compress PAIR values made by `split(..., bits, high_bits)` (duplicates are dropped)."""
        values = np.unique(values)
        count = len(values)
        width = bits - high_bits
        positions = values["high"].astype(np.int64) + np.arange(count, dtype=np.int64)
        stream = np.zeros(int(positions[-1]) + 1 if count else 0, dtype=np.uint8)
        stream[positions] = 1
        return cls(count, bits, high_bits, np.packbits(stream).tobytes(), _pack_low(values["low"], width))

    def values(self) -> np.ndarray:
        """The sorted PAIR values, decoded; inconsistent sizes are an error."""
        high_bits = self.high_bits
        if not 1 <= self.bits <= 128 or not 0 <= high_bits <= min(self.bits, 40):
            raise PsiError(f"compressed set: bad widths (bits {self.bits}, high bits {high_bits})")
        width = self.bits - high_bits
        if width > 64:
            raise PsiError(f"compressed set: {width} low bits per value, at most 64 allowed")
        if len(self.low) != (self.count * width + 7) // 8:
            raise PsiError(f"compressed set: low part has {len(self.low)} bytes, expected {(self.count * width + 7) // 8}")
        if len(self.high) > (2**high_bits + self.count + 7) // 8:
            raise PsiError("compressed set: high part is longer than its values allow")
        ones = np.flatnonzero(np.unpackbits(np.frombuffer(self.high, dtype=np.uint8)))
        if len(ones) != self.count:
            raise PsiError(f"compressed set: high part codes {len(ones)} values, expected {self.count}")
        out = np.empty(self.count, dtype=PAIR)
        out["high"] = ones - np.arange(self.count)
        if self.count and int(out["high"][-1]) >> high_bits:
            raise PsiError("compressed set: a high part exceeds its width")
        out["low"] = _unpack_low(self.low, self.count, width)
        return out


def contains(sorted_values: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Boolean mask: which PAIR queries are among the sorted PAIR values."""
    if len(sorted_values) == 0:
        return np.zeros(len(queries), dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_values, queries), len(sorted_values) - 1)
    return sorted_values[pos] == queries
