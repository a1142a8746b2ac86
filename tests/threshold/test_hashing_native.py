"""The native encoder and expander (threshold/_hashing.c) against the Python reference encoding and an
RFC 9380 oracle: byte-for-byte equal outputs, the same exceptions, the fallback for every other type."""

from __future__ import annotations

import json
from pathlib import Path

import gmpy2
import pytest
from hypothesis import given, settings, strategies as st

from threshold import _hashing
from threshold.encoding import _reference_encode, encode
from threshold.groups import get_group
from threshold.hashing import dst_for, expand_message_xmd, hash_to_field, hash_to_scalar

from rfc9380_reference import oracle_xmd

JS_VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "js" / "vectors.json").read_text(encoding="utf-8"))

values = st.recursive(
    st.one_of(st.binary(max_size=80), st.text(max_size=20), st.integers(min_value=0, max_value=2**600)),
    lambda children: st.lists(children, max_size=5) | st.lists(children, max_size=5).map(tuple),
    max_leaves=30,
)


def _outcome(f, *args):
    try:
        return ("ok", f(*args))
    except Exception as e:  # noqa: BLE001 - the exception itself is the outcome compared
        return ("raises", type(e), str(e))


@settings(max_examples=300)
@given(items=st.lists(values, max_size=6))
def test_native_encode_equals_reference(items):
    assert _hashing.encode(tuple(items)) == _reference_encode(tuple(items)) == encode(*items)


@settings(max_examples=100)
@given(items=st.lists(values, max_size=6), tag=st.sampled_from(["range", "schnorr", "t" * 200]))
def test_native_hash_to_scalar_equals_composition(items, tag):
    for name in ("ed25519", "modp"):
        q = get_group(name).q
        expected = int.from_bytes(oracle_xmd(_reference_encode(tuple(items)), dst_for(tag), 48), "big") % q
        assert hash_to_scalar(q, tag, *items) == expected == hash_to_field(encode(*items), dst_for(tag), q)


class Text(str):
    pass


class Number(int):
    pass


FALLBACK = [
    (bytearray(b"ab"),), (memoryview(b"cd"),), (gmpy2.mpz(2**100 + 7),), (gmpy2.mpz(0),), (Text("é"),), (Number(5),),
    (b"x", [1, [bytearray(b"y")]]), ((Number(3), "z"),), ([[[]]], gmpy2.mpz(9)),
    (True,), (False,), (-1,), (1.5,), (None,), ({"a": 1},), ([b"x", 2, [3, -4]],), (b"x", [1.0]), ("\ud800",),
    (gmpy2.mpz(-3),), (-1, 1.5), (1.5, -1),
]


@pytest.mark.parametrize("items", FALLBACK, ids=lambda items: "-".join(type(x).__name__ for x in items))
def test_other_types_behave_as_the_reference(items):
    """Native encoding or NotImplemented, never a different result; the public encode equals the reference."""
    native = _outcome(_hashing.encode, items)
    reference = _outcome(_reference_encode, items)
    if native != ("ok", NotImplemented):
        assert native == reference
    assert _outcome(encode, *items) == reference
    for name in ("ed25519", "modp"):
        q = get_group(name).q
        expected = _outcome(lambda: int.from_bytes(oracle_xmd(reference[1], dst_for("t"), 48), "big") % q) \
            if reference[0] == "ok" else reference
        assert _outcome(hash_to_scalar, q, "t", *items) == expected


def test_deep_nesting_falls_back_to_the_reference():
    shallow, deep = b"x", b"x"
    for _ in range(60):
        shallow = [shallow]
    for _ in range(200):
        deep = [deep]
    assert _hashing.encode((shallow,)) == _reference_encode((shallow,))
    assert _hashing.encode((deep,)) is NotImplemented
    assert encode(deep) == _reference_encode((deep,))
    q = get_group("ed25519").q
    assert hash_to_scalar(q, "t", deep) == int.from_bytes(oracle_xmd(encode(deep), dst_for("t"), 48), "big") % q


def test_native_encode_refuses_other_arguments():
    with pytest.raises(TypeError):
        _hashing.encode([b"x"])  # the items are a tuple


@pytest.mark.parametrize("length", [0, 1, 31, 32, 33, 48, 64, 100, 528, 255 * 32 - 1, 255 * 32])
@pytest.mark.parametrize("size", [0, 1, 55, 56, 63, 64, 65, 119, 120, 200])
def test_native_xmd_equals_oracle(size, length):
    msg = bytes(range(size))
    for dst in (b"", b"QUORUM-V1-range", bytes(range(255))):
        assert expand_message_xmd(msg, dst, length) == oracle_xmd(msg, dst, length)


@settings(max_examples=200)
@given(msg=st.binary(max_size=300), dst=st.binary(max_size=255), length=st.integers(0, 255 * 32))
def test_native_xmd_equals_oracle_random(msg, dst, length):
    assert expand_message_xmd(msg, dst, length) == oracle_xmd(msg, dst, length)


def test_rfc9380_k1_vectors():
    """RFC 9380 appendix K.1 (expand_message_xmd, SHA-256), as shipped to the browser verifier's tests."""
    k1 = [v for v in JS_VECTORS["expand_message_xmd"] if v["source"] == "RFC 9380 K.1"]
    assert len(k1) == 10
    for v in k1:
        assert expand_message_xmd(v["msg"].encode(), v["dst"].encode(), v["len"]).hex() == v["out"]


def test_xmd_accepts_bytes_like_and_refuses_what_rfc9380_refuses():
    assert expand_message_xmd(bytearray(b"abc"), memoryview(b"d"), 40) == oracle_xmd(b"abc", b"d", 40)
    for length in (255 * 32 + 1, 65535, 65536, 2**70):
        with pytest.raises(ValueError, match="requested output too long"):
            expand_message_xmd(b"", b"d", length)
    with pytest.raises(ValueError, match="domain separation tag too long"):
        expand_message_xmd(b"", bytes(256), 32)
    with pytest.raises(OverflowError):
        expand_message_xmd(b"", b"d", -1)
    with pytest.raises(TypeError):
        expand_message_xmd("abc", b"d", 32)
    with pytest.raises(TypeError):
        expand_message_xmd(b"abc", b"d", 32.0)


def test_hash_to_scalar_outside_the_native_path():
    """A modulus that is no positive int, or a huge one, behaves as the composition hash_to_field(encode(...))."""
    q = gmpy2.mpz(get_group("modp").q)
    c = hash_to_scalar(q, "t", b"x")
    assert type(c) is type(hash_to_field(encode(b"x"), dst_for("t"), q)) and c == hash_to_scalar(int(q), "t", b"x")
    with pytest.raises(ZeroDivisionError):
        hash_to_scalar(0, "t", b"x")
    with pytest.raises(ValueError, match="requested output too long"):
        hash_to_scalar(2**(8 * 8160), "t", b"x")
    big = 2**(8 * 8000) + 1
    length = -(-(big.bit_length() + 128) // 8)
    assert hash_to_scalar(big, "t", b"x") == int.from_bytes(oracle_xmd(encode(b"x"), dst_for("t"), length), "big") % big
    with pytest.raises(UnicodeEncodeError):
        hash_to_scalar(7, "é", b"x")
    assert _hashing.hash_to_scalar(7, dst_for("t"), (1.5,)) is NotImplemented


def test_native_unhex_arguments():
    assert _hashing.unhex("00ff", 2) == b"\x00\xff" and _hashing.unhex("", None) == b"" and _hashing.unhex("ab", 5) == 2
    assert _hashing.unhex("00", -1) == 2 and _hashing.unhex("00", 2**70) == 2 and _hashing.unhex(5, 2**70) == 1
    class Hex(str):
        pass
    assert _hashing.unhex(Hex("0a"), 1) == b"\n"  # a str subclass reads as its text
    with pytest.raises(TypeError):
        _hashing.unhex("00")
    with pytest.raises(TypeError):
        _hashing.unhex("00", "1")
