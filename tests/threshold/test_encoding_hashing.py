"""Canonical encoding and RFC 9380 hashing (ATTACKS rows 7 and 8)."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, strategies as st

from threshold import hashing
from threshold.encoding import canonical_json, encode
from threshold.hashing import expand_message_xmd, hash_to_field, hash_to_scalar

values = st.recursive(
    st.one_of(st.binary(max_size=20), st.text(max_size=10), st.integers(min_value=0, max_value=2**70)),
    lambda children: st.lists(children, max_size=4),
    max_leaves=12,
)


def _normal(v):
    if isinstance(v, (list, tuple)):
        return ("L", [_normal(x) for x in v])
    return (type(v).__name__, v)


@given(a=st.lists(values, max_size=4), b=st.lists(values, max_size=4))
def test_encoding_is_injective(a, b):
    """ATTACKS row 8: encode(a) == encode(b) implies a == b (types included)."""
    if encode(*a) == encode(*b):
        assert _normal(a) == _normal(b)


def test_encoding_separates_classic_ambiguities():
    assert encode("e1", "23x") != encode("e12", "3x")
    assert encode(b"ab", b"c") != encode(b"a", b"bc")
    assert encode("1") != encode(1) != encode(b"\x01")
    assert encode([1, 2]) != encode([1], 2)


def test_encoding_refuses_what_it_cannot_encode():
    for bad in (-1, True, 1.5, None, {"a": 1}):
        with pytest.raises(TypeError):
            encode(bad)


def test_canonical_json():
    assert canonical_json({"b": 1, "a": [1, "é"]}) == '{"a":[1,"é"],"b":1}'.encode("utf-8")


def test_rfc9380_expand_message_xmd_vectors():
    """RFC 9380 appendix K.1 (expand_message_xmd, SHA-256)."""
    dst = b"QUUX-V01-CS02-with-expander-SHA256-128"
    assert expand_message_xmd(b"", dst, 0x20).hex() == "68a985b87eb6b46952128911f2a4412bbc302a9d759667f87f7a21d803f07235"
    assert expand_message_xmd(b"abc", dst, 0x20).hex() == "d8ccab23b5985ccea865c6c97b6e5b8350e794e603b4b97902f53a8a0d605615"


def test_hash_to_field_draws_128_extra_bits():
    """ATTACKS row 7: the expander is asked for ceil((log2 q + 128) / 8) bytes, and no fewer or more."""
    q = 2**256 - 189
    drawn = {n: int.from_bytes(expand_message_xmd(encode(b"x"), hashing.dst_for("t"), n), "big") % q for n in (32, 47, 48, 49)}
    assert hash_to_scalar(q, "t", b"x") == hash_to_field(encode(b"x"), hashing.dst_for("t"), q) == drawn[(256 + 128 + 7) // 8]
    assert len(set(drawn.values())) == 4


def test_hash_to_field_has_no_modulo_bias():
    """ATTACKS row 7: on a toy modulus 3 * 2^6 a byte-mod-q hash is biased; ours is flat."""
    q, n = 192, 19200
    counts = Counter(hash_to_field(i.to_bytes(4, "big"), b"bias-test", q) for i in range(n))
    low = sum(counts[v] for v in range(64))
    high = sum(counts[v] for v in range(64, 128))
    # naive (byte mod 192) would give low ~ 2x high; uniform gives equal halves (std ~ 80)
    assert abs(low - high) < 600
    chi2 = sum((counts[v] - n / q) ** 2 / (n / q) for v in range(q))
    assert chi2 < 300  # 191 degrees of freedom: mean 191, p ~ 1e-6 at 300


def test_hash_to_scalar_domain_separation():
    q = 2**252 + 27742317777372353535851937790883648493
    assert hash_to_scalar(q, "a", b"x") != hash_to_scalar(q, "b", b"x")
    assert hash_to_scalar(q, "a", b"x", b"y") != hash_to_scalar(q, "a", b"xy")
