"""Golomb-Rice compressed set of hashes, in the Elias-Fano layout (numpy-vectorised).

A set of `count` values of `bits` bits: each value is a high part of about log2(count) bits
and a low part of `bits - high` bits. The low parts are stored at fixed width, packed back to
back; the sorted high parts are coded in unary (a 1 at position high_i + i). That is
Golomb-Rice coding with parameter 2^low, with quotients and remainders in separate streams,
so that encoding and decoding are whole-array numpy operations. Size: low + about 2 bits per
value. A value is taken from a 16-byte hash: the high part from its first 8 bytes, the low
part from its last 8, so `bits` may exceed 64.

A received set is checked in one streaming pass (`CompressedSet.check`) and then kept compressed
with a small index (`CheckedSet`); lookups decode only the blocks they need. Decoding it whole
would cost 16 bytes per value, and a crafted message codes up to 8 values per byte.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import PsiError

PAIR = np.dtype([("high", "<u8"), ("low", "<u8")])
_ROWS = 1 << 16  # rows per packing chunk: a multiple of 8, so every chunk ends on a byte
_SCAN = 1 << 14  # bytes of the high part checked at a time (at most 8 * _SCAN values decoded at once)
BLOCK = 1 << 12  # values per entry of a checked set's index: a lookup decodes whole blocks


def range_bits(count: int, fpr: float) -> int:
    """Bits kept per hash so that a non-member matches with probability at most `fpr`."""
    if not 0.0 < fpr < 1.0:
        raise PsiError(f"fpr must be in (0, 1), got {fpr!r}")
    ratio = max(count, 1) / fpr
    if not math.isfinite(ratio):
        raise PsiError(f"fpr {fpr!r} is too small (needs more than 64 low bits per value)")
    bits = max(1, math.ceil(math.log2(ratio)))
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


def _lows(data: bytes, start: int, rows: int, width: int) -> np.ndarray:
    """The low parts of values start..start+rows-1 of a `_pack_low` stream, read in place (its inverse).

    Each is read as the 9 bytes around it (a big-endian word, shifted, and the next byte), so
    memory grows with `rows`, not with the stream (unpacking bits would take a byte per bit).
    """
    if width == 0 or rows == 0:
        return np.zeros(rows, dtype=np.uint64)
    first_bit = start * width
    base = first_bit // 8
    piece = np.frombuffer(data[base : (first_bit + rows * width + 7) // 8] + bytes(9), dtype=np.uint8)
    offsets = np.arange(rows, dtype=np.int64) * width + (first_bit - 8 * base)
    windows = np.lib.stride_tricks.sliding_window_view(piece, 9)[offsets >> 3]
    shift = (offsets & 7).astype(np.uint64)
    head = np.ascontiguousarray(windows[:, :8]).view(">u8").ravel().astype(np.uint64)
    tail = windows[:, 8].astype(np.uint64)
    return ((head << shift) | (tail >> (np.uint64(8) - shift))) >> np.uint64(64 - width)


def _ones(stream: bytes, start: int, end: int) -> np.ndarray:
    """Positions of the 1 bits among bits start..end-1 of `stream` (most significant bit first).

    Found through the stream's nonzero bytes, so memory grows with the ones, not with the span
    (a long run of zeros costs one byte-wide pass).
    """
    first, last = start // 8, min((end + 7) // 8, len(stream))
    if first >= last:
        return np.empty(0, dtype=np.int64)
    view = np.frombuffer(stream, dtype=np.uint8, count=last - first, offset=first)
    nonzero = np.flatnonzero(view)
    bits = np.unpackbits(view[nonzero]).reshape(-1, 8).view(bool)
    positions = ((nonzero + first) * 8)[:, None] + np.arange(8, dtype=np.int64)
    positions = positions[bits]
    return positions[(positions >= start) & (positions < end)]


def _first_not_increasing(values: np.ndarray, previous: np.ndarray | None) -> int | None:
    """Index in `values` of the first value not above the one before it (`previous`: the one value before).

    High parts never decrease (the unary code cannot say otherwise), so only values with equal
    high parts need their low parts compared.
    """
    if previous is not None:
        values = np.concatenate((previous, values))
    high, low = values["high"], values["low"]
    bad = np.flatnonzero((high[1:] == high[:-1]) & (low[1:] <= low[:-1]))
    if not len(bad):
        return None
    return int(bad[0]) + (0 if previous is not None else 1)


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

    @property
    def width(self) -> int:
        """Bits of each value's low part."""
        return self.bits - self.high_bits

    def _check_sizes(self) -> None:
        """Refuse widths and part lengths that do not fit `count` values."""
        high_bits = self.high_bits
        if not 1 <= self.bits <= 128 or not 0 <= high_bits <= min(self.bits, 40):
            raise PsiError(f"compressed set: bad widths (bits {self.bits}, high bits {high_bits})")
        width = self.width
        if width > 64:
            raise PsiError(f"compressed set: {width} low bits per value, at most 64 allowed")
        if len(self.low) != (self.count * width + 7) // 8:
            raise PsiError(f"compressed set: low part has {len(self.low)} bytes, expected {(self.count * width + 7) // 8}")
        if len(self.high) > (2**high_bits + self.count + 7) // 8:
            raise PsiError("compressed set: high part is longer than its values allow")

    def check(self) -> CheckedSet:
        """Check the whole encoding in one streaming pass and index it for lookups.

        Refused: sizes that do not fit, a high part coding more or fewer than `count` values or a
        high part beyond its width, and values that repeat or are out of order (the server sends
        them sorted and distinct; a repeated value would make the set say what it does not hold).
        The high part is read _SCAN bytes at a time and nothing is decoded beyond that window, so
        memory is the message plus the index (16 bytes per BLOCK values), whatever `count` says.
        """
        self._check_sizes()
        firsts: list[np.ndarray] = []
        done, last = 0, None
        for start in range(0, len(self.high), _SCAN):
            ones = _ones(self.high, 8 * start, 8 * (start + _SCAN))
            if done + len(ones) > self.count:
                raise PsiError(f"compressed set: high part codes more than {self.count} values")
            if not len(ones):
                continue
            values = self._decode(ones, done)
            if int(values["high"][-1]) >> self.high_bits:
                raise PsiError("compressed set: a high part exceeds its width")
            bad = _first_not_increasing(values, last)
            if bad is not None:
                raise PsiError(f"compressed set: value {done + bad} repeats or is out of order "
                               "(the values must be sorted and distinct)")
            firsts.append(values[(-done) % BLOCK :: BLOCK].copy())  # a copy: a view would keep the chunk
            done, last = done + len(values), values[-1:]
        if done != self.count:
            raise PsiError(f"compressed set: high part codes {done} values, expected {self.count}")
        return CheckedSet(self, np.concatenate(firsts) if firsts else np.empty(0, dtype=PAIR))

    def _decode(self, ones: np.ndarray, start: int) -> np.ndarray:
        """PAIR values start, start+1, ... from the positions of their ones in the high part."""
        out = np.empty(len(ones), dtype=PAIR)
        out["high"] = ones - np.arange(start, start + len(ones), dtype=np.int64)
        out["low"] = _lows(self.low, start, len(ones), self.width)
        return out

    def values(self) -> np.ndarray:
        """The sorted PAIR values, all decoded (16 bytes each); inconsistent encodings are an error."""
        checked = self.check()
        return np.concatenate([checked.block(k) for k in range(checked.blocks)]) if self.count else np.empty(0, dtype=PAIR)


@dataclass(frozen=True, eq=False)
class CheckedSet:
    """A CompressedSet that passed `check`, still compressed, with the first value of each block
    of BLOCK values: a lookup decodes only the blocks its queries fall in (compared by identity)."""

    items: CompressedSet
    firsts: np.ndarray

    @property
    def blocks(self) -> int:
        """Number of blocks."""
        return len(self.firsts)

    def block(self, k: int) -> np.ndarray:
        """The sorted PAIR values of block `k`."""
        items, start = self.items, k * BLOCK
        begin = int(self.firsts["high"][k]) + start  # where value `start` has its one in the high part
        end = int(self.firsts["high"][k + 1]) + start + BLOCK if k + 1 < self.blocks else 8 * len(items.high)
        return items._decode(_ones(items.high, begin, end), start)

    def contains(self, queries: np.ndarray) -> np.ndarray:
        """Boolean mask: which PAIR queries are in the set (each block decoded at most once)."""
        found = np.zeros(len(queries), dtype=bool)
        if not self.blocks or not len(queries):
            return found
        where = np.searchsorted(self.firsts, queries, side="right") - 1  # -1: below the smallest value
        order = np.argsort(where, kind="stable")
        for group in np.split(order, np.flatnonzero(np.diff(where[order])) + 1):
            k = int(where[group[0]])
            if k >= 0:
                found[group] = contains(self.block(k), queries[group])
        return found


def contains(sorted_values: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Boolean mask: which PAIR queries are among the sorted PAIR values."""
    if len(sorted_values) == 0:
        return np.zeros(len(queries), dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_values, queries), len(sorted_values) - 1)
    return sorted_values[pos] == queries
