"""Lists of hex values read in one call (`encoding.hex_list`, `Group.scalars_from_hex`, `ElementReader.commitments`)
refuse and accept exactly what reading each item alone does, and name the item; reader blocks nest and roll back."""

from __future__ import annotations

from typing import Any, Callable

import pytest
from hypothesis import given, settings, strategies as st

from hex_reference import reference_hex_bytes
from threshold import _hashing
from threshold.encoding import hex_list
from threshold.errors import DecodeError
from threshold.groups import get_group

GROUPS = [get_group("modp"), get_group("ed25519")]
ed = get_group("ed25519")
OFF_CURVE = bytes.fromhex("02" + "00" * 31)  # y = 2: no x on edwards25519


def outcome(f: Callable[[], Any]) -> Any:
    try:
        return ("ok", f())
    except DecodeError as exc:
        return ("refused", exc.field, exc.message)


hexish = st.one_of(st.text("0123456789abcdefABCDEF g", min_size=0, max_size=10), st.integers(0, 9), st.none(),
                   st.binary(min_size=2, max_size=2).map(bytes.hex))


@settings(max_examples=300)
@given(items=st.lists(hexish, max_size=5), n=st.integers(0, 5), size=st.integers(0, 3))
def test_hex_list_refuses_as_reading_each_item_alone(items, n, size):
    def alone():
        if len(items) != n:
            raise DecodeError("f", f"expected a list of {n} items")
        return [reference_hex_bytes(x, f"f[{i}]", size) for i, x in enumerate(items)]
    assert outcome(lambda: hex_list(items, "f", size, n)) == outcome(alone)


@pytest.mark.parametrize("items", [None, "00", ("00",), {"0": "00"}])
def test_hex_list_wants_a_list(items):
    with pytest.raises(DecodeError, match="expected a list of 1 items"):
        hex_list(items, "f", 1, 1)


def test_native_unhex_list_arguments():
    assert _hashing.unhex_list(["00ff", "0a0b"], 2) == [b"\x00\xff", b"\n\x0b"] and _hashing.unhex_list([], 7) == []
    assert _hashing.unhex_list(["00", "0g"], 1) == 1 and _hashing.unhex_list(["00", "é0"], 1) == 1
    assert _hashing.unhex_list(["000"], 1) == 0 and _hashing.unhex_list([b"00"], 1) == 0
    assert _hashing.unhex_list(["00"], 2**70) == 0  # a size no str can have
    for args in [(("00",), 1), (["00"],), (["00"], "1")]:
        with pytest.raises(TypeError):
            _hashing.unhex_list(*args)
    with pytest.raises(ValueError, match="negative"):
        _hashing.unhex_list(["00"], -1)


def test_native_unhex_ints_arguments():
    assert _hashing.unhex_ints(["00ff", "0a0b"], 2, 2**16) == (255, 2571) and _hashing.unhex_ints([], 7, 1) == ()
    assert _hashing.unhex_ints(["00ff", "0100"], 2, 256) == 1 and _hashing.unhex_ints(["00", "0g"], 1, 9) == 1
    assert _hashing.unhex_ints(["000"], 1, 9) == 0 and _hashing.unhex_ints([b"00"], 1, 9) == 0
    assert _hashing.unhex_ints(["ff" * 64], 64, 2**512) == (2**512 - 1,)
    for args in [(("00",), 1, 2), (["00"], 1), (["00"], "1", 2), (["00"], 1, 2.0)]:
        with pytest.raises(TypeError):
            _hashing.unhex_ints(*args)
    for size in (-1, 65):
        with pytest.raises(ValueError, match="0 to 64"):
            _hashing.unhex_ints(["00"], size, 2)


@pytest.mark.parametrize("group", GROUPS, ids=lambda g: g.name)
def test_scalars_from_hex_as_one_by_one(group):
    q = group.q
    good = [group.scalar_to_hex(v) for v in (0, 1, q - 1)]
    assert group.scalars_from_hex(good, 3, "s") == (0, 1, q - 1)
    bads = [(q.to_bytes(32, "big").hex(), "not reduced"), ("00" * 31, "expected 64 hex"), (7, "hex string")]
    for bad, message in bads:
        items = [good[0], bad, good[2]]
        err = outcome(lambda: group.scalars_from_hex(items, 3, "s"))
        assert err == outcome(lambda: [group.scalar_from_hex(x, f"s[{i}]") for i, x in enumerate(items)])
        assert err[1] == "s[1]" and message in err[2]


@pytest.mark.parametrize("batched", [False, True])
@pytest.mark.parametrize("group", GROUPS, ids=lambda g: g.name)
def test_commitments_as_one_by_one(group, batched):
    """The same values, or the same refusal of the one bad item, as `commitment` read item by item."""
    points = [group.to_hex(group.exp_g(k)) for k in (2, 3, 4)]
    bads = [group.to_hex(group.identity), points[0].upper(), points[0][:-2], 5]
    if group.name == "ed25519":
        bads += [OFF_CURVE.hex(), ("ec" + "ff" * 30 + "7f")]  # off the curve; -1 (a point of order 2)
    cases = [points] + [points[:i] + [bad] + points[i + 1:] for bad in bads for i in (0, 2)]

    def read(items, one_call):
        def go(r):
            if one_call:
                return r.commitments(items, 3, "c")
            return tuple(r.commitment(x, f"c[{i}]") for i, x in enumerate(items))
        r = group.reader()
        if not batched:
            return go(r)
        with r.batched():
            return go(r)
    for items in cases:
        assert outcome(lambda: read(items, True)) == outcome(lambda: read(items, False)), items


def test_a_failed_inner_block_caught_inside_the_outer_one_owes_nothing():
    """What an inner block read before it failed is neither decompressed at the outer block's end nor tested by
    finish(): the outer block, and the reader, go on as if it had never been read."""
    reader = ed.reader()
    good = [ed.exp_g(k) for k in (3, 5)]
    with reader.batched():
        reader.element(good[0].hex(), "outer")
        with pytest.raises(KeyError):
            with reader.batched():
                reader.element(OFF_CURVE.hex(), "inner.off")
                reader.commitment(OFF_CURVE.hex(), "inner.c")
                raise KeyError("k")
        reader.element(good[1].hex(), "outer.after")
    assert [f for _, f in reader.pending] == ["outer", "outer.after"]
    reader.finish()


@pytest.mark.parametrize("group", GROUPS, ids=lambda g: g.name)
def test_the_outermost_block_checks_and_a_failure_there_rolls_it_back(group):
    reader = group.reader()
    reader.element(group.to_hex(group.exp_g(2)), "before")
    bad = OFF_CURVE.hex() if group.name == "ed25519" else "00" * group.element_bytes
    with pytest.raises(DecodeError):
        with reader.batched():
            with reader.batched():
                reader.element(group.to_hex(group.exp_g(3)), "inner")
            reader.element(bad, "bad")
    assert [f for _, f in reader.pending] == ["before"] and reader._open == 0
    reader.finish()


reads = st.lists(st.one_of(st.tuples(st.just("element"), st.just(1)), st.tuples(st.just("commitment"), st.just(1)),
                           st.tuples(st.just("commitments"), st.integers(0, 3))), min_size=1, max_size=6)


@settings(max_examples=60, deadline=None)
@given(plan=reads, data=st.data())
def test_a_bad_point_in_a_block_is_named_as_read_alone(plan, data):
    """ed25519 blocks decompress at their end and name the first bad point from the runs they kept: the same field as
    reading each value alone, whatever mix of elements, commitments and lists (empty ones included) came before."""
    total = sum(n for _, n in plan)
    if total == 0:
        return
    bad = data.draw(st.integers(0, total - 1))
    values = [OFF_CURVE.hex() if i == bad else ed.to_hex(ed.exp_g(i + 2)) for i in range(total)]

    def read(batched: bool) -> Any:
        r, it = ed.reader(), iter(values)

        def go() -> None:
            for k, (kind, n) in enumerate(plan):
                if kind == "element":
                    r.element(next(it), f"e{k}")
                elif kind == "commitment":
                    r.commitment(next(it), f"c{k}")
                elif batched:
                    r.commitments([next(it) for _ in range(n)], n, f"l{k}")
                else:
                    [r.commitment(next(it), f"l{k}[{i}]") for i in range(n)]
        if batched:
            with r.batched():
                go()
        else:
            go()
    got = outcome(lambda: read(True))
    assert got[0] == "refused" and got == outcome(lambda: read(False))
