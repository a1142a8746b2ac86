"""Session 24 review of 3f480b6 and ec4ee90 (core speed): what was reviewed and tried against it.

Reviewed:
- ed25519 batched subgroup membership (`_ed25519.members_batch`): its bucket sums now on 4-way AVX-512 IFMA points
  (`mb_sums4`), one body for the scalar and 4-way sums (the `MB_SUMS` macro in threshold/groups/_ed25519.c), and the
  IFMA crossover `_BATCH_MEMBERSHIP_MIN` lowered to 500 points (threshold/groups/ed25519.py);
- `Ed25519Reader` keeping its owed decompressions as runs (`_points`, `_fields`) and `_check_points` naming the
  first bad point from them by bisection;
- native hex: `_hashing.unhex`, `unhex_list`, `unhex_ints` (one decoder, `unhex_into` / `hex_item_shaped`),
  `encoding.hex_ints`, `Group.scalars_from_hex`; `Group.encode_all` (ed25519: the elements themselves) as used by
  `proofs.challenge`.

Held (ordinary tests below):
- members_batch against the construction with chosen masks: two torsion-carrying points (orders 2, 4, 8) whose
  torsion cancels in every subset but one, for each of the 128 subsets, at the bucket widths c = 5, 6, 7, 8, 10
  (500, 681, 1771, 3179/4097, 19798 points: widths that do and do not divide 128, one and several 4096-point
  blocks), bad points at the ends and on both sides of block edges, duplicated points (additions that double);
  the same answers on the portable, adx and ifma builds (fresh interpreters);
- readers at 499/500/501/4095/4096/4097 owed points (one side and the other of the crossover, non-multiples of 4
  and 8): one mixed-torsion point (order 2, 4, 8) or a pure small-order point anywhere is refused naming its field;
  several bad points name the first; the identity is refused where not allowed and accepted where allowed;
  non-canonical encodings (y >= p, x = 0 with the sign bit) and off-curve points named, in large blocks made of
  runs of elements, commitments and lists (hypothesis), as reading each value alone names them;
- scalars_from_hex / hex_ints / unhex / unhex_list against the pure-Python oracle and reading one by one: upper
  case, odd length, whitespace, non-ASCII (1, 2 and 4-byte kinds), embedded NUL, 0x prefix, empty strings, values
  >= q, leading zeros beyond the fixed width, wrong types (int, None, bytes, float, bool, nested lists, dicts): a
  DecodeError naming `field[i]`, never another exception;
- encode_all and proofs.challenge give what encoding one element at a time gives (hypothesis, both groups, bytes,
  bytearray and memoryview elements);
- no reference or memory leak on the error paths (100k calls; RSS and reference counts).

Defects (tests at the end, strict xfails until fixed in session 25: the reader's marks count from its start, and
finish() inside a block first runs the decompressions it owes):
1. threshold/groups/ed25519.py, `Ed25519Reader._drop` with the runs: a block whose mark was taken before an outer
   block (left first, e.g. by a suspended generator) reset `_points`/`_fields` drops them at unrelated positions of
   the two lists, so a point the failed block read survives and is attributed to another run: the next block of
   valid values is refused, naming a field whose value is a valid point (before the runs, the stale point kept
   its own name; the stale point itself predates this commit).
2. threshold/groups/ed25519.py, `Ed25519Group.check_members`: `finish()` called while a block is open, with at
   least `_BATCH_MEMBERSHIP_MIN` (now 500, was 1200) owed points one of which is not decodable, lets the native
   `DecodeFailure` (a bare ValueError subclass, no field) out of `members_batch`; below the crossover the same
   reader raises DecodeError naming the field.
"""

from __future__ import annotations

import gc
import json
import os
import random
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from threshold import _hashing, proofs
from threshold.encoding import hex_bytes, hex_ints, hex_list
from threshold.errors import DecodeError, QuorumError
from threshold.groups import _ed25519 as native
from threshold.groups import get_group
from threshold.groups.ed25519 import _BATCH_MEMBERSHIP_MIN, IDENTITY, L, SMALL_ORDER
from threshold.hashing import hash_to_scalar

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "threshold"))
from ed25519_reference import P, ref_decode, ref_encode, ref_mul  # noqa: E402
from hex_reference import reference_hex_bytes  # noqa: E402

ed = get_group("ed25519")
mp = get_group("modp")
GROUPS = [ed, mp]
RNG = random.Random(0x5E5524)

T8 = ref_decode(bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"))
TORSION = [ref_encode(ref_mul(T8, k)) for k in range(8)]  # TORSION[k]: order 8 / gcd(k, 8)
assert TORSION[0] == IDENTITY and set(TORSION) == SMALL_ORDER

GOOD = [ed.exp_g(RNG.randrange(1, L)) for _ in range(4200)]
OFF_CURVE = bytes.fromhex("02" + "00" * 31)
NONCANONICAL = {
    "y = p": P.to_bytes(32, "little"),
    "y = p + 1 (the identity)": (P + 1).to_bytes(32, "little"),
    "y = 2^255 - 1": b"\xff" * 31 + b"\x7f",
    "identity with the sign bit": (1 | 1 << 255).to_bytes(32, "little"),
    "(0, -1) with the sign bit": ((P - 1) | 1 << 255).to_bytes(32, "little"),
}
NONCANONICAL_MESSAGE = {
    "y = p": "non-canonical encoding (y >= p)",
    "y = p + 1 (the identity)": "non-canonical encoding (y >= p)",
    "y = 2^255 - 1": "non-canonical encoding (y >= p)",
    "identity with the sign bit": "non-canonical encoding (sign bit set with x = 0)",
    "(0, -1) with the sign bit": "non-canonical encoding (sign bit set with x = 0)",
}


def with_torsion(x: bytes, k: int) -> bytes:
    return x if k % 8 == 0 else ed.mul(x, TORSION[k % 8])


def outcome(f: Callable[[], Any]) -> Any:
    try:
        return ("ok", f())
    except DecodeError as exc:
        return ("refused", exc.field, exc.message)


def mb_width(n: int) -> int:
    """The bucket width members_batch picks (the C mb_width, transcribed)."""
    best, best_cost = 4, 0.0
    for c in range(4, 11):
        cost = ((128 + c - 1) // c) * (n + (1 << c) * (1 + c / 2.0))
        if c == 4 or cost < best_cost:
            best, best_cost = c, cost
    return best


def batch_case(n: int, plan: dict[int, int], masks: dict[int, int], seed: int) -> tuple[list[bytes], bytes, bool]:
    """n points, those of `plan` ({position: k}) carrying TORSION[k], with the masks given for some positions
    (random elsewhere); and the construction's verdict: every subset's torsion sums to 0 mod 8."""
    rng = random.Random(seed)
    pts = [GOOD[i % len(GOOD)] for i in range(n)]
    for pos, k in plan.items():
        pts[pos] = with_torsion(pts[pos], k)
    rnd = bytearray(rng.randbytes(16 * n))
    for pos, m in masks.items():
        rnd[16 * pos:16 * pos + 16] = m.to_bytes(16, "little")
    mm = {pos: int.from_bytes(rnd[16 * pos:16 * pos + 16], "little") for pos in plan}
    expected = all(sum(k for pos, k in plan.items() if mm[pos] >> j & 1) % 8 == 0 for j in range(128))
    return pts, bytes(rnd), expected


# ----------------------------------------------------------------------------- members_batch: the subset sums
PAIRS = [(4, 4), (1, 7), (2, 6), (3, 5), (7, 1), (6, 2)]  # torsion that cancels when both points are in a subset


@pytest.mark.parametrize("n,positions", [(500, (0, 499)), (681, (3, 677)), (1771, (1770, 0)), (3179, (1, 3178)),
                                         (4097, (4095, 4096))])
def test_members_batch_tests_every_subset_at_every_bucket_width(n, positions):
    """Two bad points whose torsion cancels when both are in a subset; their masks differ in one bit, so exactly one
    subset carries torsion: members_batch must refuse it, for each of the 128 subsets (wrong bucket indexing, a
    dropped last group when c does not divide 128, a lost bucket or a wrong 4-way addition would show)."""
    assert mb_width(n) in (5, 6, 7, 8)
    a, b = positions
    rng = random.Random(n)
    for bit in range(128):
        ka, kb = PAIRS[bit % len(PAIRS)]
        base = rng.getrandbits(128)
        pts, rnd, expected = batch_case(n, {a: ka, b: kb}, {a: base, b: base ^ (1 << bit)}, seed=bit)
        assert expected is False
        assert native.members_batch(pts, rnd) is False, (n, bit, ka, kb)
    for ka, kb in PAIRS:  # the same masks: the torsion cancels in every subset, the sums are all members
        base = rng.getrandbits(128)
        pts, rnd, expected = batch_case(n, {a: ka, b: kb}, {a: base, b: base}, seed=ka)
        assert expected is True and native.members_batch(pts, rnd) is True


def test_members_batch_at_width_10_over_several_blocks():
    """From 19,798 points c = 10 (13 groups, the last one 8 bits): subsets of the last group and points in the
    fifth 4096-point block. The points repeat (every point 5 times): buckets add a point to itself."""
    n = 19798
    assert mb_width(n) == 10 and mb_width(n - 1) == 8
    rng = random.Random(10)
    for bit, (a, b) in [(0, (0, n - 1)), (119, (4095, 16384)), (120, (12287, 12288)), (127, (n - 2, 7)),
                        (64, (16383, 19000))]:
        base = rng.getrandbits(128)
        pts, rnd, expected = batch_case(n, {a: 1, b: 7}, {a: base, b: base ^ (1 << bit)}, seed=bit)
        assert expected is False and native.members_batch(pts, rnd) is False, bit
    pts, rnd, expected = batch_case(n, {5: 2, n - 5: 6}, {5: 2**128 - 1, n - 5: 2**128 - 1}, seed=1)
    assert expected is True and native.members_batch(pts, rnd) is True


@pytest.mark.parametrize("n", [499, 500, 501, 4095, 4096, 4097])
def test_members_batch_random_masks_catch_one_bad_point(n):
    """Random masks: one point of torsion order 2, 4 or 8, or a small-order point alone, is caught (2^-128)."""
    pts = GOOD[:n]
    assert native.members_batch(pts, os.urandom(16 * n)) is True
    for pos in sorted({0, n // 2, n - 1, min(4095, n - 1), min(4096, n - 1)}):
        for bad in (with_torsion(pts[pos], 4), with_torsion(pts[pos], 2), with_torsion(pts[pos], 1), TORSION[4]):
            case = list(pts)
            case[pos] = bad
            assert native.members_batch(case, os.urandom(16 * n)) is False, (n, pos)


def test_members_batch_the_identity_and_duplicates_are_members():
    n = 600
    pts = [IDENTITY] * 5 + [GOOD[0]] * (n - 10) + [ed.inv(GOOD[0])] * 5  # P and -P: sums through the identity
    assert native.members_batch(pts, os.urandom(16 * n)) is True
    pts[7] = TORSION[1]
    assert native.members_batch(pts, os.urandom(16 * n)) is False


# ----------------------------------------------------------------------------- readers: naming the bad point
def read_elements(values: list[bytes], block: bool, allow_identity: bool = False) -> Any:
    r = ed.reader()

    def go() -> None:
        for i, x in enumerate(values):
            r.element(x.hex(), f"e[{i}]", allow_identity)

    if block:
        with r.batched():
            go()
    else:
        go()
    r.finish()
    return len(values)


@pytest.mark.parametrize("n", [499, 500, 501, 4095, 4096, 4097])
def test_reader_names_the_non_member_on_either_side_of_the_crossover(n):
    assert _BATCH_MEMBERSHIP_MIN <= 500 and (native.LANES != "ifma" or _BATCH_MEMBERSHIP_MIN == 500)
    good = GOOD[:n]
    assert outcome(lambda: read_elements(good, True)) == ("ok", n)
    positions = sorted({0, n // 3, n - 1} | ({4095, 4096} & set(range(n))))
    for j, pos in enumerate(positions):
        k = [4, 2, 1, 6, 3][j % 5]
        for bad in (with_torsion(good[pos], k), TORSION[k]):
            values = list(good)
            values[pos] = bad
            got = outcome(lambda: read_elements(values, j % 2 == 0))
            assert got == ("refused", f"e[{pos}]", "not in the prime-order subgroup"), (n, pos, k)


@pytest.mark.parametrize("n", [500, 4097])
def test_reader_names_the_first_of_several_non_members(n):
    values = list(GOOD[:n])
    bad = sorted(RNG.sample(range(n), 5))
    for j, pos in enumerate(bad):
        values[pos] = with_torsion(values[pos], j + 1)
    assert outcome(lambda: read_elements(values, True)) == ("refused", f"e[{bad[0]}]", "not in the prime-order subgroup")
    assert native.members(values).index(False) == bad[0]


def test_reader_identity_refused_or_accepted_as_asked():
    values = list(GOOD[:600])
    values[321] = IDENTITY
    assert outcome(lambda: read_elements(values, True)) == (
        "refused", "e[321]", "the identity element is not allowed here")
    assert outcome(lambda: read_elements(values, True, allow_identity=True)) == ("ok", 600)
    r = ed.reader()
    with r.batched():
        got = outcome(lambda: r.commitments([x.hex() for x in values], 600, "c"))
    assert got == ("refused", "c[321]", "the identity element is not allowed here")
    for k in range(1, 8):  # every small-order point in a list of commitments, named as the identity is
        values2 = list(GOOD[:600])
        values2[599 - k] = TORSION[k]
        r = ed.reader()
        with r.batched():
            got = outcome(lambda: r.commitments([x.hex() for x in values2], 600, "c"))
        assert got[:2] == ("refused", f"c[{599 - k}]")


@pytest.mark.parametrize("kind", sorted(NONCANONICAL))
@pytest.mark.parametrize("pos", [0, 250, 599])
def test_reader_names_non_canonical_encodings_in_a_large_block(kind, pos):
    values = list(GOOD[:600])
    values[pos] = NONCANONICAL[kind]
    assert native.check(NONCANONICAL[kind]) != 0
    expected = ("refused", f"e[{pos}]", NONCANONICAL_MESSAGE[kind])
    assert outcome(lambda: read_elements(values, True)) == expected
    assert outcome(lambda: read_elements(values, False)) == expected
    r2 = ed.reader()

    def block() -> None:
        with r2.batched():
            r2.element(GOOD[1].hex(), "x")
            r2.commitments([x.hex() for x in values[:300]], 300, "l0")
            r2.commitment(GOOD[2].hex(), "y")
            r2.commitments([], 0, "empty")
            r2.commitments([x.hex() for x in values[300:]], 300, "l1")
    got = outcome(block)
    name = f"l0[{pos}]" if pos < 300 else f"l1[{pos - 300}]"
    assert got == ("refused", name, NONCANONICAL_MESSAGE[kind])


BAD_POINTS = [OFF_CURVE] + list(NONCANONICAL.values())
plans = st.lists(st.tuples(st.sampled_from(["element", "commitment", "commitments"]), st.integers(0, 260)),
                 min_size=1, max_size=6)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=plans, data=st.data())
def test_large_blocks_name_the_first_bad_point_as_reading_alone(plan, data):
    """Runs of elements, commitments and (possibly empty or long) lists in one block, up to ~1500 points, with one
    to three undecodable points of any kind anywhere: the block names the first as one-by-one reading does."""
    sizes = [1 if kind != "commitments" else n for kind, n in plan]
    total = sum(sizes)
    if total == 0:
        return
    bads = data.draw(st.lists(st.integers(0, total - 1), min_size=1, max_size=3, unique=True))
    values = [GOOD[(i * 7) % len(GOOD)] for i in range(total)]
    for b in bads:
        values[b] = data.draw(st.sampled_from(BAD_POINTS))

    def read(batched: bool) -> Any:
        r, it = ed.reader(), iter(values)

        def go() -> None:
            for k, (kind, n) in enumerate(plan):
                if kind == "element":
                    r.element(next(it).hex(), f"e{k}")
                elif kind == "commitment":
                    r.commitment(next(it).hex(), f"c{k}")
                elif batched:
                    r.commitments([next(it).hex() for _ in range(n)], n, f"l{k}")
                else:
                    [r.commitment(next(it).hex(), f"l{k}[{i}]") for i in range(n)]
        if batched:
            with r.batched():
                go()
        else:
            go()
        r.finish()
    got = outcome(lambda: read(True))
    assert got[0] == "refused" and got == outcome(lambda: read(False))


def test_range_proof_with_a_bad_commitment_among_600_is_named():
    """A range proof of limit 299 (300 + 300 commitments in one block, over the crossover): a bad point anywhere
    in a or b is named by its list and index."""
    obj = {"a": [x.hex() for x in GOOD[:300]], "b": [x.hex() for x in GOOD[300:600]],
           "challenges": [ed.scalar_to_hex(i) for i in range(299)], "responses": [ed.scalar_to_hex(i) for i in range(300)]}
    assert isinstance(proofs.RangeProof.from_json(ed, obj, 299), proofs.RangeProof)
    for key, pos, bad in [("a", 0, OFF_CURVE), ("b", 299, NONCANONICAL["y = p"]), ("b", 150, TORSION[3])]:
        o = {k: list(v) for k, v in obj.items()}
        o[key][pos] = bad.hex()
        got = outcome(lambda: proofs.RangeProof.from_json(ed, o, 299, "proof"))
        assert got[:2] == ("refused", f"proof.{key}[{pos}]")
    o = {k: list(v) for k, v in obj.items()}
    o["responses"][17] = ed.q.to_bytes(32, "big").hex()
    assert outcome(lambda: proofs.RangeProof.from_json(ed, o, 299, "proof")) == (
        "refused", "proof.responses[17]", "scalar is not reduced modulo q")


# ----------------------------------------------------------------------------- hex
class StrSub(str):
    pass


Q_HEX = ed.q.to_bytes(32, "big").hex()
JUNK = [
    "AB" * 32, "0" * 63, " " + "0" * 63, "0" * 63 + " ", "0" * 64 + "\n", "\t" + "0" * 64, "\u00e9" * 64,
    "\u20ac" * 64, "\U0001f600" * 64, "0" * 31 + "\x00" + "0" * 32, "\x00" * 64, "0x" + "0" * 62, "", Q_HEX,
    "ff" * 32, "00" + "0" * 64, "0" * 66, "+" + "0" * 63, "-" + "0" * 63, "0" * 62 + "0g", "0" * 62 + "0G",
    "\ud800" * 64, 5, -1, None, b"00" * 32, bytes(32), ["00" * 32], [[]], 1.5, True, {"a": 1}, bytearray(b"0" * 64),
    StrSub("00" * 32), (ed.q - 1).to_bytes(32, "big").hex().upper(), 2**300,
]


@pytest.mark.parametrize("group", GROUPS, ids=lambda g: g.name)
def test_scalars_from_hex_refuses_junk_as_one_by_one(group):
    good = group.scalar_to_hex(1)
    q_hex = group.q.to_bytes(32, "big").hex()
    for junk in JUNK + [q_hex, (group.q + 1).to_bytes(32, "big").hex()]:
        for pos in (0, 1, 4):
            items = [good] * 5
            items[pos] = junk
            got = outcome(lambda: group.scalars_from_hex(items, 5, "s"))
            alone = outcome(lambda: tuple(group.scalar_from_hex(x, f"s[{i}]") for i, x in enumerate(items)))
            assert got == alone, (junk, pos)
            if not isinstance(junk, StrSub) and not (group is mp and junk == Q_HEX):  # valid, both accept
                assert got[0] == "refused" and got[1] == f"s[{pos}]", (junk, pos, got)
    assert group.scalars_from_hex(["00" * 32, (group.q - 1).to_bytes(32, "big").hex()], 2, "s") == (0, group.q - 1)
    for items in (None, ("00" * 32,), "00" * 32, {0: "00" * 32}, ["00" * 32] * 2, [], 7):
        assert outcome(lambda: group.scalars_from_hex(items, 1, "s")) == ("refused", "s", "expected a list of 1 items")


hexish = st.one_of(
    st.text("0123456789abcdef", min_size=64, max_size=64),
    st.text("0123456789abcdefABCDEF xg\x00\u00e9\u20ac", min_size=0, max_size=70),
    st.integers(0, 2**256 - 1).map(lambda v: v.to_bytes(32, "big").hex()),
    st.integers(), st.none(), st.binary(max_size=33), st.lists(st.text(max_size=3), max_size=2), st.floats(),
    st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(items=st.lists(hexish, max_size=6), n=st.integers(0, 6))
def test_hex_ints_and_scalars_as_the_reference_one_by_one(items, n):
    q = ed.q

    def alone() -> tuple[int, ...]:
        if len(items) != n:
            raise DecodeError("f", f"expected a list of {n} items")
        out = []
        for i, x in enumerate(items):
            v = int.from_bytes(reference_hex_bytes(x, f"f[{i}]", 32), "big")
            if v >= q:
                raise DecodeError(f"f[{i}]", "scalar is not reduced modulo q")
            out.append(v)
        return tuple(out)
    want = outcome(alone)
    assert outcome(lambda: hex_ints(items, "f", 32, n, q, "scalar is not reduced modulo q")) == want
    assert outcome(lambda: ed.scalars_from_hex(items, n, "f")) == want
    want_list = outcome(lambda: [reference_hex_bytes(x, f"f[{i}]", 32) for i, x in enumerate(items)]
                        if len(items) == n else (_ for _ in ()).throw(DecodeError("f", f"expected a list of {n} items")))
    assert outcome(lambda: hex_list(items, "f", 32, n)) == want_list


@settings(max_examples=300, deadline=None)
@given(text=hexish, size=st.one_of(st.none(), st.integers(0, 40)))
def test_hex_bytes_as_the_reference(text, size):
    assert outcome(lambda: hex_bytes(text, "f", size)) == outcome(lambda: reference_hex_bytes(text, "f", size))


def test_unhex_ints_bounds_and_sizes():
    assert _hashing.unhex_ints(["ff"], 1, 256) == (255,) and _hashing.unhex_ints(["ff"], 1, 255) == 0
    assert _hashing.unhex_ints(["ff"], 1, 0) == 0 and _hashing.unhex_ints([""], 0, 1) == (0,)
    assert _hashing.unhex_ints(["", ""], 0, 0) == 0
    assert _hashing.unhex_ints(["00" * 63 + "01", "00" * 64], 64, 2) == (1, 0)
    assert _hashing.unhex_ints(["0" * 127], 64, 2**600) == 0  # odd length at the largest size
    big = ["%064x" % (i * 0x9E3779B97F4A7C15 % ed.q) for i in range(20000)]
    assert _hashing.unhex_ints(big, 32, ed.q) == tuple(int(x, 16) for x in big)
    big[19999] = "%064x" % ed.q
    assert _hashing.unhex_ints(big, 32, ed.q) == 19999


# ----------------------------------------------------------------------------- encode_all and challenges
def old_challenge(group, tag, context, statement, commitments, params=()):
    """proofs.challenge before 3f480b6: each element through `encode`."""
    encode = group.encode
    return hash_to_scalar(group.q, tag, group.name, context, [int(p) for p in params],
                          list(map(encode, statement)), list(map(encode, commitments)))


@settings(max_examples=60, deadline=None)
@given(group=st.sampled_from(GROUPS), exps=st.lists(st.integers(0, 2**64), max_size=6),
       cexps=st.lists(st.integers(0, 2**64), max_size=6), context=st.binary(max_size=40),
       params=st.lists(st.integers(0, 2**70), max_size=3), tag=st.text("abcxyz-_0", max_size=10),
       wrap=st.sampled_from(["list", "tuple", "iter"]))
def test_challenge_and_encode_all_as_one_by_one(group, exps, cexps, context, params, tag, wrap):
    statement = [group.exp_g(e) if e else group.identity for e in exps]
    commitments = [group.exp_g(e) if e else group.identity for e in cexps]
    if group is ed and cexps:
        commitments[0] = with_torsion(commitments[0], cexps[0] % 8)  # commitments may carry torsion
    assert group.encode_all(statement) == [group.encode(x) for x in statement]
    assert all(type(b) is bytes for b in group.encode_all(statement))
    want = old_challenge(group, tag, context, statement, commitments, params)
    shape = {"list": list, "tuple": tuple, "iter": iter}[wrap]
    assert proofs.challenge(group, tag, context, shape(statement), shape(commitments), params) == want


def test_challenge_bytes_like_elements_as_one_by_one():
    g = ed.exp_g(5)
    for s in ([g], [bytearray(g)], [memoryview(g)]):
        assert proofs.challenge(ed, "t", b"c", s, [g], [3]) == old_challenge(ed, "t", b"c", s, [g], [3])


# ----------------------------------------------------------------------------- every arithmetic build
ARITH_SCRIPT = r"""
import json, sys
from threshold.groups import _ed25519 as native, get_group
from threshold.errors import DecodeError
from threshold.groups.ed25519 import _BATCH_MEMBERSHIP_MIN
cases = json.load(sys.stdin)
ed = get_group("ed25519")
out = {"arith": native.ARITH, "min": _BATCH_MEMBERSHIP_MIN, "batch": [], "reader": []}
for pts, rnd in cases["batch"]:
    out["batch"].append(native.members_batch([bytes.fromhex(p) for p in pts], bytes.fromhex(rnd)))
for values in cases["reader"]:
    r = ed.reader()
    try:
        with r.batched():
            for i, v in enumerate(values):
                r.element(v, "e[%d]" % i)
        r.finish()
        out["reader"].append(["ok"])
    except DecodeError as exc:
        out["reader"].append(["refused", exc.field, exc.message])
print(json.dumps(out))
"""


def arith_cases() -> tuple[dict, list]:
    rng = random.Random(24)
    batch, expected = [], []
    for n, (a, b) in [(230, (0, 229)), (500, (1, 498)), (681, (680, 5))]:
        for bit in (0, 4, 5, 63, 64, 125, 127):
            base = rng.getrandbits(128)
            for same in (False, True):
                pts, rnd, exp = batch_case(n, {a: 1, b: 7}, {a: base, b: base if same else base ^ (1 << bit)}, bit)
                batch.append([[p.hex() for p in pts], rnd.hex()])
                expected.append(exp)
    reader = []
    for n, pos, bad in [(600, 123, with_torsion(GOOD[123], 4)), (600, 599, OFF_CURVE), (200, 0, TORSION[1]),
                        (600, 0, NONCANONICAL["y = p"]), (600, 300, GOOD[300])]:
        values = [x.hex() for x in GOOD[:n]]
        values[pos] = bad.hex()
        reader.append(values)
    return {"batch": batch, "reader": reader}, expected


@pytest.mark.parametrize("arith", ["portable", "adx", "ifma"])
def test_every_build_gives_the_same_answers(arith):
    cases, expected = arith_cases()
    env = {**os.environ, "QUORUM_ED25519_ARITH": arith, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", ARITH_SCRIPT], input=json.dumps(cases), capture_output=True,
                          text=True, env=env, cwd=str(ROOT), timeout=120)
    if proc.returncode and "has no" in proc.stderr:
        pytest.skip(f"no {arith} arithmetic on this machine")
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert got["arith"] == arith
    assert got["batch"] == expected
    want_reader = [
        ["refused", "e[123]", "not in the prime-order subgroup"],
        ["refused", "e[599]", "not a point of edwards25519"],
        ["refused", "e[0]", "not in the prime-order subgroup"],
        ["refused", "e[0]", "non-canonical encoding (y >= p)"],
        ["ok"],
    ]
    assert got["reader"] == want_reader
    # and in this interpreter (the default build)
    assert [native.members_batch([bytes.fromhex(p) for p in pts], bytes.fromhex(rnd))
            for pts, rnd in cases["batch"]] == expected


# ----------------------------------------------------------------------------- leaks
def _rss_growth_kb(f: Callable[[], Any], k: int) -> int:
    for _ in range(2000):
        f()
    gc.collect()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(k):
        f()
    gc.collect()
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before


def _swallow(f: Callable[[], Any], *errors: type) -> Callable[[], None]:
    def run() -> None:
        try:
            f()
        except errors:
            pass
    return run


def test_no_leak_on_the_error_paths():
    good = "00" * 32
    above = [good] * 7 + ["ff" * 32]
    malformed = [good] * 7 + ["zz" * 32]
    rnd = b"\x01" * 16 * 9
    pts = GOOD[:8]
    checks = [
        (_swallow(lambda: hex_ints(above, "s", 32, 8, q, "above"), DecodeError), 100_000),
        (_swallow(lambda: ed.scalars_from_hex(malformed, 8, "s"), DecodeError), 100_000),
        (lambda: _hashing.unhex_ints(above, 32, q), 100_000),
        (lambda: _hashing.unhex_ints([good] * 8, 32, q), 100_000),
        (lambda: _hashing.unhex_list(malformed, 32), 100_000),
        (lambda: _hashing.unhex("zz" * 32, 32), 100_000),
        (_swallow(lambda: native.members_batch(pts + [OFF_CURVE], rnd), ValueError), 20_000),
        (_swallow(lambda: native.members_batch(pts + ["x"], rnd), TypeError), 20_000),
        (_swallow(lambda: native.members_batch(pts, rnd), ValueError), 100_000),
    ]
    q = int(str(ed.q))  # a bound of this test's own, for its reference count
    gc.collect()
    refs = [sys.getrefcount(x) for x in (above, malformed, above[-1], malformed[-1], q, rnd, pts[0], OFF_CURVE)]
    for f, k in checks:
        assert _rss_growth_kb(f, k) < 2048, f
    gc.collect()
    assert [sys.getrefcount(x) for x in (above, malformed, above[-1], malformed[-1], q, rnd, pts[0], OFF_CURVE)] == refs

    def reader_fails() -> None:
        r = ed.reader()
        try:
            with r.batched():
                r.commitments([x.hex() for x in pts] + [OFF_CURVE.hex()], 9, "c")
        except DecodeError:
            pass
    assert _rss_growth_kb(reader_fails, 20_000) < 2048


# ----------------------------------------------------------------------------- defects
def _out_of_order_generator_block(r):
    """A block held open by a generator is left after the outer block it was opened in; it reads a valid element
    and a list whose first point is off the curve, then is closed (GeneratorExit): what it read owes nothing."""
    def lazy():
        with r.batched():
            yield
            r.element(GOOD[10].hex(), "gen.e")
            r.commitments([OFF_CURVE.hex(), GOOD[11].hex(), GOOD[12].hex()], 3, "gen.l")
            yield

    with r.batched():
        r.commitments([GOOD[13].hex(), GOOD[14].hex()], 2, "outer.l")
        g = lazy()
        next(g)
    next(g)  # the outer block has ended (and decompressed what was read so far); the generator's block reads on
    g.close()
    assert r._open == 0


def test_a_refusal_after_an_out_of_order_block_names_a_bad_value():
    """Failed before (fixed in session 25): threshold/groups/ed25519.py Ed25519Reader._drop: the runs (_points,
    _fields) are cut at a block's marks, taken before an outer block left out of order reset both lists; the cuts
    land at unrelated places of the two lists, so a point read by the failed block survives under another run's
    name: an off-curve 'gen.l[0]' is reported as 'gen.e', whose value is a valid point (before the runs each stale
    point kept its own name). Matters: a verifier would blame the wrong field of a record."""
    r = ed.reader()
    _out_of_order_generator_block(r)
    values = {"gen.e": GOOD[10], "gen.l[0]": OFF_CURVE, "fresh": GOOD[15]}

    def fresh() -> None:
        with r.batched():
            r.element(GOOD[15].hex(), "fresh")
    got = outcome(fresh)
    if got[0] == "refused":  # a refusal must at least name a value that is bad
        assert native.check(values[got[1]]) != 0, got


def test_a_block_closed_by_an_exception_forgets_what_it_read_after_an_outer_block_ended():
    """Failed before (fixed in session 25): threshold/groups/ed25519.py Ed25519Reader._drop / ReaderBlock: a block
    closed by an exception after an outer block was left before it keeps the points it read past the outer block's
    end (its marks predate the reset of _points/_fields), so the next block of valid values is refused for a point
    of the abandoned block (stale state since the per-block marks of 165915b; the runs of 3f480b6 now also misname
    it). Matters: one bad abandoned read poisons every later read of the reader."""
    r = ed.reader()
    _out_of_order_generator_block(r)

    def fresh() -> str:
        with r.batched():
            r.element(GOOD[15].hex(), "fresh")
        r.finish()
        return "accepted"
    assert outcome(fresh) == ("ok", "accepted")


def _finish_inside_a_block(n: int) -> Any:
    r = ed.reader()
    with r.batched():
        for i in range(n):
            r.element((OFF_CURVE if i == n - 1 else GOOD[i]).hex(), f"e[{i}]")
        r.finish()  # the block's decompressions are still owed


def test_finish_inside_a_block_below_the_crossover_names_the_field():
    n = _BATCH_MEMBERSHIP_MIN - 1
    assert outcome(lambda: _finish_inside_a_block(n))[:2] == ("refused", f"e[{n - 1}]")


def test_finish_inside_a_block_above_the_crossover_names_the_field():
    """Failed before (fixed in session 25): threshold/groups/ed25519.py Ed25519Group.check_members: finish() (or
    BatchVerifier.verify(reader)) inside an open block with >= _BATCH_MEMBERSHIP_MIN owed points (500 on IFMA since
    3f480b6, was 1200) hands an undecodable point to native members_batch, whose get_point raises
    _ed25519.DecodeFailure (a bare ValueError subclass, no field, not a QuorumError) instead of DecodeError naming
    the field as below the crossover; callers that catch DecodeError (voting/verifier.py _membership) would crash.
    Misuse of a block, severity low."""
    n = _BATCH_MEMBERSHIP_MIN
    try:
        _finish_inside_a_block(n)
    except Exception as exc:  # noqa: BLE001
        assert isinstance(exc, QuorumError) and isinstance(exc, DecodeError), type(exc)
        assert exc.field == f"e[{n - 1}]"
    else:
        raise AssertionError("accepted an off-curve point")
