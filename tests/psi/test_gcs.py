"""The Golomb-Rice compressed set: exact round trip, membership, and rejection of bad encodings."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mpc_ml.psi.errors import PsiError
from mpc_ml.psi.gcs import BLOCK, CompressedSet, _lows, _pack_low, contains, high_bits_for, range_bits, split

words = st.lists(st.tuples(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1)), max_size=300)


@given(words, st.sampled_from([1e-3, 1e-9, 1e-15]))
def test_round_trip_and_membership(pairs: list[tuple[int, int]], fpr: float) -> None:
    hashes = np.array(pairs, dtype=np.uint64).reshape(-1, 2)
    bits = range_bits(len(hashes), fpr)
    high = high_bits_for(len(hashes), bits)
    values = split(hashes, bits, high)
    compressed = CompressedSet.build(values, bits, high)
    decoded = compressed.values()
    assert np.array_equal(decoded, np.unique(values))
    assert contains(decoded, values).all()


@pytest.mark.parametrize(("n", "fpr"), [(3 * BLOCK + 17, 1e-3), (2 * BLOCK, 1e-12), (5 * BLOCK, 0.4), (BLOCK + 1, 1e-18)])
def test_checked_lookups_match_the_decoded_set(n: int, fpr: float) -> None:
    """The compressed set with its block index answers as a search of the whole decoded set, across block
    edges, with equal high parts (fpr 0.4: 1-bit low parts) and with values of more than 64 bits."""
    rng = np.random.default_rng(n)
    bits = range_bits(n, fpr)
    high = high_bits_for(n, bits)
    values = split(rng.integers(0, 2**64, size=(n, 2), dtype=np.uint64), bits, high)
    compressed = CompressedSet.build(values, bits, high)
    checked = compressed.check()
    assert np.array_equal(compressed.values(), np.unique(values))
    assert checked.blocks == -(-compressed.count // BLOCK)
    queries = np.concatenate([values, split(rng.integers(0, 2**64, size=(n, 2), dtype=np.uint64), bits, high)])
    rng.shuffle(queries)
    assert np.array_equal(checked.contains(queries), contains(np.unique(values), queries))


@pytest.mark.parametrize("width", [1, 7, 8, 13, 40, 63, 64])
def test_low_parts_are_read_in_place_from_any_value(width: int) -> None:
    rng = np.random.default_rng(width)
    values = rng.integers(0, 2**64, size=1000, dtype=np.uint64)
    data = _pack_low(values, width)
    expected = values & np.uint64(2**width - 1)
    for start, rows in [(0, 1000), (1, 999), (3, 5), (997, 3), (500, 0)]:
        assert np.array_equal(_lows(data, start, rows, width), expected[start : start + rows])


def test_false_positive_rate_is_near_the_stated_bound() -> None:
    rng = np.random.default_rng(7)
    members = rng.integers(0, 2**64, size=(4096, 2), dtype=np.uint64)
    fpr = 1 / 64
    bits = range_bits(len(members), fpr)
    high = high_bits_for(4096, bits)
    decoded = CompressedSet.build(split(members, bits, high), bits, high).values()
    others = rng.integers(0, 2**64, size=(20000, 2), dtype=np.uint64)
    rate = contains(decoded, split(others, bits, high)).mean()
    assert rate <= 2 * fpr


def test_size_is_about_two_bits_over_the_fpr() -> None:
    rng = np.random.default_rng(1)
    n = 1 << 12
    bits = range_bits(n, 2.0**-40)
    high = high_bits_for(n, bits)
    compressed = CompressedSet.build(split(rng.integers(0, 2**64, size=(n, 2), dtype=np.uint64), bits, high), bits, high)
    assert (len(compressed.high) + len(compressed.low)) * 8 / n < 40 + 3


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda c: CompressedSet(c.count, c.bits, c.high_bits, c.high, c.low[:-1]), "low part"),
        (lambda c: CompressedSet(c.count + 1, c.bits, c.high_bits, c.high, c.low), "low part"),
        (lambda c: CompressedSet(c.count, c.bits, c.high_bits, c.high + b"\xff" * 64, c.low), "high part"),
        (lambda c: CompressedSet(c.count, c.bits, c.high_bits, bytes(len(c.high)), c.low), "codes 0 values"),
        (lambda c: CompressedSet(c.count, 0, c.high_bits, c.high, c.low), "widths"),
        (lambda c: CompressedSet(c.count, c.bits, c.bits - 70, c.high, c.low), "widths|low bits"),
        (lambda c: CompressedSet(c.count, c.bits, c.high_bits, b"\xff" + c.high[1:], c.low), "codes more than 100|repeats"),
        (lambda c: CompressedSet(c.count, c.bits, c.high_bits, c.high, c.low[::-1]), "value [0-9]+ repeats or is out of order"),
    ],
)
def test_inconsistent_encodings_are_rejected(mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(3)
    bits = range_bits(100, 1e-6)
    high = high_bits_for(100, bits)
    good = CompressedSet.build(split(rng.integers(0, 2**64, size=(100, 2), dtype=np.uint64), bits, high), bits, high)
    with pytest.raises(PsiError, match=message):
        mutate(good).values()


def test_impossible_fpr_is_refused() -> None:
    with pytest.raises(PsiError, match="fpr"):
        range_bits(10, 0.0)
    with pytest.raises(PsiError, match="too small"):
        range_bits(10, 1e-30)
