"""Session 13 review of 0a9adab: membership tests [L]P = O of several points at once in AVX-512 IFMA lanes.

Covered (threshold/groups/_ed25519.c):
- `lanes_in_subgroup` / `in_prime_subgroup_many` through `_ed25519.members`: every size 0..40 (lane groups of
  5..8 points, single tests for the tail), a non-member in every lane position with torsion of every order
  (1..7 multiples of an order-8 point), every subset of lanes bad, the 8 small-order points, the identity,
  undecodable encodings (packing of the decodable ones), duplicates, points with extreme coordinates against the
  pure-Python reference, argument checking as `member()`;
- `members_batch`: one bad point among 150..1000 good ones at any position; deterministic masks putting the bad
  point into exactly one of the 128 subsets (each subset sum must be tested) and making 1..13 subsets non-empty
  (the 5-point lane boundary on the collected sums);
- `Ed25519Group.check_members`: the first bad field is named, below and above the batch threshold;
- the comb (`v_dbl4` -> `v_dbln(.., 4)`): table_exp / table_exps / exp_g / encryption against libsodium;
- every arithmetic build (portable, adx, ifma) in a fresh interpreter against the construction.

Mutation check (review): caught - missing/wrong negation of X or T, v_sub(x, 0) for the negation, zero != 0,
missing carry of g in v_add_p3, wrong 4p limb in v_sub, wrong 2d limb, T after the first doubling, comb with 3
doublings, 7 lanes loaded, m - 1 results, groups of 9, i += 8, NAF loop stopping at 1 / starting at top - 2,
pending + 1 / - 1 doublings, table built with +P, wrong table index, identity test on X only, members' packing
and result mapping, members_batch dropping the first or last sum or skipping ok[0]. Equivalent (not observable):
padding lanes' source, group size 7, `n - i > 5` / `>= 1` / `if` for `while` (performance only), no final
doublings (L is odd: pending is 0), negating Y instead of X (-Q + (0,-1): the order-2 part is doubled away, L's
lowest NAF digit is +13), the carries of v_add results of two carried values (limbs <= 2^52, = 2^52 only if both
limbs are exactly 2^51).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import nacl.bindings as sodium
import pytest

from threshold.errors import DecodeError
from threshold.elgamal import PublicKey
from threshold.groups import _ed25519 as native
from threshold.groups import get_group
from threshold.groups.ed25519 import _BATCH_MEMBERSHIP_MIN, BASEPOINT, IDENTITY, L

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "threshold"))
from ed25519_reference import P, ref_add, ref_decode, ref_encode, ref_mul, sodium_mul  # noqa: E402

ed = get_group("ed25519")
RNG = random.Random(0x5E5513)

# A fixed point of order 8 (libsodium's blocklist) and its multiples: TORSION[k] has order 8 / gcd(k, 8).
T8 = ref_decode(bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"))
TORSION = [ref_encode(ref_mul(T8, k)) for k in range(8)]
assert TORSION[0] == IDENTITY and len(set(TORSION)) == 8

GOOD = [ed.exp_g(RNG.randrange(1, L)) for _ in range(48)]
# BAD[k][i] = GOOD[i] + TORSION[k] (k = 1..7): never a member.
BAD = [None] + [[ref_encode(ref_add(ref_decode(g), ref_decode(TORSION[k]))) for g in GOOD] for k in range(1, 8)]
UNDECODABLE = [
    (2).to_bytes(32, "little"),                       # not on the curve
    (P + 1).to_bytes(32, "little"),                   # non-canonical y
    (P).to_bytes(32, "little"),                       # y = p: non-canonical
    (1 | 1 << 255).to_bytes(32, "little"),            # identity with the sign bit: x = 0 and negative
    ((P - 1) | 1 << 255).to_bytes(32, "little"),      # (0, -1) with the sign bit
    b"\xff" * 32,                                     # y = 2^255 - 1
]
for u in UNDECODABLE:
    assert ref_decode(u) is None and native.check(u) != 0


def pick(kind: str, i: int) -> tuple[bytes, bool]:
    """An encoding of the given kind and whether it is a member."""
    if kind == "good":
        return GOOD[i % len(GOOD)], True
    if kind.startswith("bad"):
        k = int(kind[3:])
        return BAD[k][i % len(GOOD)], False
    if kind == "small":
        return TORSION[i % 8], i % 8 == 0
    if kind == "undec":
        return UNDECODABLE[i % len(UNDECODABLE)], False
    raise AssertionError(kind)


KINDS = ["good", "good", "good"] + [f"bad{k}" for k in range(1, 8)] + ["small", "undec"]


def random_case(rng: random.Random, n: int) -> tuple[list[bytes], list[bool]]:
    pairs = [pick(rng.choice(KINDS), rng.randrange(1000)) for _ in range(n)]
    return [p for p, _ in pairs], [ok for _, ok in pairs]


def lanes_active() -> bool:
    return native.ARITH == "ifma"


# ----------------------------------------------------------------------------- members: sizes and positions
@pytest.mark.parametrize("n", range(0, 41))
def test_members_every_size_against_the_construction(n):
    rng = random.Random(n)
    assert native.members(GOOD[:n] if n <= 48 else []) == [True] * n
    for _ in range(6):
        pts, expected = random_case(rng, n)
        assert native.members(pts) == expected
        assert [native.member(x) for x in pts] == expected
    # one non-member at each position, torsion order cycling through every multiple 1..7
    for j in range(n):
        k = (j + n) % 7 + 1
        pts = [GOOD[(i + j) % 48] for i in range(n)]
        pts[j] = BAD[k][j]
        exp = [True] * n
        exp[j] = False
        assert native.members(pts) == exp, (n, j, k)
    # every point a non-member (all lanes fail), and all the identity (every lane succeeds)
    assert native.members([BAD[i % 7 + 1][i] for i in range(n)]) == [False] * n
    assert native.members([IDENTITY] * n) == [True] * n


@pytest.mark.parametrize("n", [5, 6, 7, 8, 9, 13, 16, 21])
def test_members_one_bad_point_every_position_every_torsion(n):
    for k in range(1, 8):
        for j in range(n):
            pts = GOOD[:n]
            pts = pts[:j] + [BAD[k][j]] + pts[j + 1:]
            assert native.members(pts) == [i != j for i in range(n)], (n, j, k)


@pytest.mark.parametrize("n", [5, 8, 13])
def test_members_every_subset_of_lanes_bad(n):
    """All 2^8 patterns of bad lanes in the first full lane group (and the 5..8 tail group for n = 13)."""
    for mask in range(1 << min(n, 8)):
        pts, exp = [], []
        for i in range(n):
            bad = i < 8 and mask >> i & 1 or i >= 8 and (mask >> (i - 8)) & 1
            pts.append(BAD[(mask + i) % 7 + 1][i] if bad else GOOD[i])
            exp.append(not bad)
        assert native.members(pts) == exp, (n, mask)


def test_small_order_points_and_identity_in_lanes():
    for n in range(0, 41):
        pts = [TORSION[i % 8] for i in range(n)]
        assert native.members(pts) == [i % 8 == 0 for i in range(n)]
        # rotated so the identity sits in each lane
        for r in range(8):
            pts = [TORSION[(i + r) % 8] for i in range(n)]
            assert native.members(pts) == [(i + r) % 8 == 0 for i in range(n)]
    assert native.members(TORSION) == [True] + [False] * 7
    assert native.members([IDENTITY] + GOOD[:7]) == [True] * 8
    assert native.members([BASEPOINT] * 8) == [True] * 8


def test_duplicates_and_padding_lanes():
    """Lanes m..7 of a short group repeat point 0: its result must never leak into the others."""
    for n in range(1, 41):
        assert native.members([BAD[4][0]] * n) == [False] * n
        assert native.members([GOOD[0]] * n) == [True] * n
        for k in range(1, 8):
            pts = [BAD[k][1]] + [GOOD[2]] * (n - 1)   # bad point 0 (the padding lanes' copy)
            assert native.members(pts) == [False] + [True] * (n - 1)
            pts = [GOOD[2]] + [BAD[k][1]] * (n - 1)
            assert native.members(pts) == [True] + [False] * (n - 1)


def test_undecodable_entries_keep_every_result_in_place():
    """members() packs the decodable points before testing: results must be mapped back to their positions."""
    for n in range(1, 41):
        for shift in range(3):
            pts, exp = [], []
            for i in range(n):
                if (i + shift) % 3 == 0:
                    pts.append(UNDECODABLE[i % len(UNDECODABLE)]); exp.append(False)
                elif (i + shift) % 3 == 1:
                    pts.append(BAD[i % 7 + 1][i]); exp.append(False)
                else:
                    pts.append(GOOD[i]); exp.append(True)
            assert native.members(pts) == exp, (n, shift)
        # undecodable first, then exactly one lane group of good points
        assert native.members(UNDECODABLE + GOOD[:8]) == [False] * len(UNDECODABLE) + [True] * 8


def test_extreme_coordinates_against_the_reference():
    """Decodable points whose y or x has (near) maximal or minimal limbs, in lanes with subgroup points, versus
    the pure-Python [L]P = O."""
    pts = []
    for y in list(range(P - 60, P)) + list(range(0, 40)) + [2**51 - 1, 2**102 - 1, 2**204 - 1, 2**254 + 2**200]:
        for sign in (0, 1):
            enc = (y | sign << 255).to_bytes(32, "little")
            if ref_decode(enc) is not None:
                pts.append(enc)
    pts = pts[:24]
    assert len(pts) >= 16
    expected = [ref_mul(ref_decode(x), L) == (0, 1) for x in pts]
    # ... and their subgroup components [8] x (x limbs anything): members
    comps = [ref_encode(ref_mul(ref_decode(x), 8)) for x in pts[:8]]
    assert native.members(pts) == expected
    assert native.members(comps) == [True] * len(comps)
    mixed = [v for pair in zip(pts, GOOD) for v in pair]
    assert native.members(mixed) == [v for e in expected for v in (e, True)]


def test_members_argument_checking_matches_member():
    good = GOOD[0]
    for bad in (b"short", b"\x00" * 33, b"", bytearray(good), memoryview(good), good.hex(), None, 5):
        for pos in (0, 4, 8, 9):
            lst = GOOD[:9]
            lst = lst[:pos] + [bad] + lst[pos:]
            with pytest.raises(TypeError):
                native.members(lst)
        with pytest.raises(TypeError):
            native.member(bad)
    for notlist in (tuple(GOOD[:3]), iter(GOOD[:3]), good, None, {good: 1}):
        with pytest.raises(TypeError):
            native.members(notlist)

    class B(bytes):
        pass

    class Lst(list):
        pass

    assert native.members([B(good), B(BAD[1][0])]) == [True, False] == [native.member(B(good)), native.member(B(BAD[1][0]))]
    assert native.members(Lst(GOOD[:6])) == [True] * 6
    assert native.members([]) == []


# ----------------------------------------------------------------------------- members_batch
@pytest.mark.parametrize("n", [150, 151, 257, 1000])
def test_members_batch_one_bad_point_anywhere(n):
    good = [GOOD[i % 48] for i in range(n)]
    assert native.members_batch(good, os.urandom(16 * n))
    for idx, j in enumerate(sorted({0, 1, 7, 8, 63, n // 2, n - 9, n - 2, n - 1})):
        k = idx % 7 + 1
        pts = list(good)
        pts[j] = BAD[k][j % 48]
        assert not native.members_batch(pts, os.urandom(16 * n)), (n, j, k)
    small = list(good)
    small[n // 3] = TORSION[1]
    assert not native.members_batch(small, os.urandom(16 * n))


def _mask(bits) -> bytes:
    m = 0
    for b in bits:
        m |= 1 << b
    return m.to_bytes(16, "little")


@pytest.mark.parametrize("n", [150, 600])
def test_members_batch_every_subset_sum_is_tested(n):
    """The bad point in exactly one of the 128 subsets (its mask a single bit): whichever, the batch fails. With
    the bad point in no subset, it passes (the masks are what is tested)."""
    rng = random.Random(n)
    good = [GOOD[i % 48] for i in range(n)]
    pos = n // 2
    pts = list(good)
    pts[pos] = BAD[3][5]
    base = [rng.getrandbits(128).to_bytes(16, "little") for _ in range(n)]
    for j in range(128):
        rnd = list(base)
        rnd[pos] = _mask([j])
        assert not native.members_batch(pts, b"".join(rnd)), j
    rnd = list(base)
    rnd[pos] = bytes(16)
    assert native.members_batch(pts, b"".join(rnd))


@pytest.mark.parametrize("s", range(1, 14))
def test_members_batch_few_non_empty_subsets(s):
    """Only subsets 0..s-1 non-empty: 1..13 collected sums (single tests below 5, lanes from 5, the tail after 8);
    the bad point in the last, the first or a middle one."""
    n = 150
    rng = random.Random(s)
    pts = [GOOD[i % 48] for i in range(n)]
    pts[77] = BAD[s % 7 + 1][11]
    base = [_mask([b for b in range(s) if rng.random() < 0.5] or [0]) for _ in range(n)]
    base = [_mask(range(s))] + base[1:]  # every one of subsets 0..s-1 non-empty
    for j in {0, s // 2, s - 1}:
        rnd = list(base)
        rnd[77] = _mask([j])
        assert not native.members_batch(pts, b"".join(rnd)), (s, j)
    rnd = list(base)
    rnd[77] = bytes(16)
    assert native.members_batch(pts, b"".join(rnd))
    # the sums themselves of small order / identity
    only = [TORSION[4]] + pts[1:]
    only[77] = GOOD[0]
    rnd = [_mask([s - 1])] + [bytes(16)] * (n - 1)
    assert not native.members_batch(only, b"".join(rnd))


# ----------------------------------------------------------------------------- check_members
@pytest.mark.parametrize("n", [1, 4, 5, 8, 9, 13, 40, _BATCH_MEMBERSHIP_MIN - 1, _BATCH_MEMBERSHIP_MIN, 300])
def test_check_members_names_the_first_bad_field(n):
    pending = [(GOOD[i % 48], f"f{i}") for i in range(n)]
    ed.check_members(pending)
    ed.check_members([])
    for j in sorted({0, n // 2, n - 1}):
        bad = list(pending)
        bad[j] = (BAD[(j % 7) + 1][j % 48], f"f{j}")
        if j + 1 < n:
            bad[n - 1] = (BAD[2][3], f"f{n - 1}")
        with pytest.raises(DecodeError) as exc:
            ed.check_members(bad)
        assert exc.value.field == f"f{j}"


# ----------------------------------------------------------------------------- comb (v_dbln(.., 4))
def sodium_base(e: int) -> bytes:
    e %= L
    return IDENTITY if e == 0 else sodium.crypto_scalarmult_ed25519_base_noclamp(e.to_bytes(32, "little"))


EDGE = [0, 1, 2, 15, 16, 17, 2**16 - 1, 2**16, L - 1, L - 2, 2**252, 2**252 - 1, L + 1 - 2**200,
        int("f" * 63, 16) % L] + [RNG.randrange(L) for _ in range(40)]


def test_comb_matches_libsodium():
    tb, K = native.table(BASEPOINT), GOOD[7]
    tk = native.table(K)
    for e in EDGE:
        assert native.table_exp(tb, e) == sodium_base(e) == ed.exp_g(e)
        assert native.table_exp(tk, e) == sodium_mul(K, e) == ed.fixed_base(K).exp(e)
    prods = [(RNG.randrange(L), RNG.randrange(L)) for _ in range(12)] + [(0, 0), (L - 1, 1), (1, L - 1)]
    got = native.table_exps([[(tb, a, False), (tk, b, False)] for a, b in prods])
    assert got == [ed.mul(sodium_base(a), sodium_mul(K, b)) for a, b in prods]
    got = native.table_exps([[(tb, m, True), (tk, b, False)] for m, b in [(0, 3), (1, 5), (2**16 - 1, L - 7)]])
    assert got == [ed.mul(sodium_base(m), sodium_mul(K, b)) for m, b in [(0, 3), (1, 5), (2**16 - 1, L - 7)]]
    # a table of a point carrying torsion: against the reference
    tt = native.table(BAD[5][0])
    for e in EDGE[:6] + [L, 8, 9, RNG.randrange(2**255)]:
        assert native.table_exp(tt, e) == ref_encode(ref_mul(ref_decode(BAD[5][0]), e))
    pk = PublicKey(ed, K)
    for m in (0, 1, 7, 2**16 - 1, 2**20):
        r = RNG.randrange(L)
        ct, _ = pk.encrypt(m, r)
        assert ct.alpha == sodium_base(r)
        assert ct.beta == ed.mul(sodium_base(m), sodium_mul(K, r))


# ----------------------------------------------------------------------------- every build
PROG = r"""
import json, sys
IN = json.loads(sys.stdin.read())
from threshold.groups import _ed25519 as m
dec = lambda xs: [bytes.fromhex(x) for x in xs]
out = {"arith": m.ARITH}
out["members"] = [m.members(dec(c)) for c in IN["cases"]]
out["member"] = [[m.member(x) for x in dec(c)] for c in IN["cases"]]
out["batch"] = [m.members_batch(dec(p), bytes.fromhex(r)) for p, r in IN["batch"]]
tb = m.table(bytes.fromhex(IN["B"]))
out["comb"] = [m.table_exp(tb, e).hex() for e in IN["scalars"]]
print(json.dumps(out))
"""


def arith_available(name: str) -> bool:
    env = {**os.environ, "QUORUM_ED25519_ARITH": name, "PYTHONPATH": str(ROOT)}
    res = subprocess.run([sys.executable, "-c", "from threshold.groups import _ed25519 as m; print(m.ARITH)"],
                         env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    return res.returncode == 0 and res.stdout.strip() == name


@pytest.mark.parametrize("arith", ["portable", "adx", "ifma"])
def test_every_build_against_the_construction(arith):
    if not arith_available(arith):
        pytest.skip(f"{arith} not available on this CPU")
    rng = random.Random(arith)
    cases, expected = [], []
    for n in list(range(0, 19)) + [21, 24, 29, 32, 37, 40]:
        pts, exp = random_case(rng, n)
        cases.append([x.hex() for x in pts]); expected.append(exp)
    cases.append([x.hex() for x in TORSION]); expected.append([True] + [False] * 7)
    batch, bexp = [], []
    for n, j in [(150, 0), (150, 149), (151, 75), (400, 200), (150, None)]:
        pts = [GOOD[i % 48] for i in range(n)]
        if j is not None:
            pts[j] = BAD[j % 7 + 1][0]
        batch.append(([x.hex() for x in pts], os.urandom(16 * n).hex())); bexp.append(j is None)
    scalars = EDGE[:20]
    env = {**os.environ, "QUORUM_ED25519_ARITH": arith, "PYTHONPATH": str(ROOT)}
    res = subprocess.run([sys.executable, "-c", PROG], env=env, cwd=ROOT, capture_output=True, text=True,
                         timeout=300, input=json.dumps({"cases": cases, "batch": batch, "B": BASEPOINT.hex(),
                                                        "scalars": scalars}))
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["arith"] == arith
    assert out["members"] == expected
    assert out["member"] == expected
    assert out["batch"] == bexp
    assert [bytes.fromhex(x) for x in out["comb"]] == [sodium_base(e) for e in scalars]


def test_this_process_runs_the_lanes_when_the_cpu_has_them():
    """Informational guard: the in-process tests above exercise the IFMA lanes only with ARITH == "ifma"."""
    if not arith_available("ifma"):
        pytest.skip("no IFMA")
    if os.environ.get("QUORUM_ED25519_ARITH") in (None, "", "auto"):
        assert lanes_active()
