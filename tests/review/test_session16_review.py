"""Session 16 review of 2acd3f0 (ed25519: the square roots of batched decompressions in 2 x 4 AVX2 lanes of radix
2^25.5, `avx2_pow22523`, LANES) and e4fdf67 / fc789e8 (reader blocks as the reader itself with a stack of marks,
`ElementReader.commitments`, `Group.scalars_from_hex`, `encoding.hex_list` over native `_hashing.unhex_list`).

Covered here:
- avx2_pow22523 at the field level, compiled into a small C program that includes _ed25519_x64.c (skipped without
  gcc, Python headers or AVX2): w^((p-5)/8) against pow() for w = 0, 1, p-1, p, 2p-1, 2^255-1, 2^256-1, every
  26/25-bit sub-limb maximal, random w over all of [0, 2^256) in every lane and batch size 1..8; a10_mul and a10_sqn
  on limbs at the comment's bounds (h1, h5 up to 2^25 + 2^15, every other limb all ones), checking the results modulo
  p and that their limbs stay within those bounds (h1, h5: at most 2^25 + 2^8 were seen; every other limb masked);
- decode_many through checks() against check() one at a time and against the portable arithmetic in a subprocess
  (QUORUM_ED25519_ARITH=portable: another implementation of the square root), with batch sizes around AVX2_POW_MIN
  (4 misses: scalar, 5..8: AVX2 lanes, 9..17: both), every lane position holding each kind of bad encoding, the
  points with w = 0 (y = +-1) in lanes, and the decoded point itself (point addition after the batch's caching);
- hex_list / scalars_from_hex / commitments against reading item by item, over odd JSON values (str subclasses, huge
  ints, bools, floats, bytes, non-ASCII text, surrogates, list subclasses, 10^5 items); unhex_list's reference counts
  on its success and error paths;
- reader blocks: nested blocks roll back on an exception, a failure at the outermost end leaves no state, the same
  reader read again inside itself (a proof's from_json inside a ballot block), range proofs with one bad item
  anywhere refused as the one-by-one reading refuses it.

Defect found, a regression of e4fdf67, fixed since (ReaderBlock: each block keeps its own mark):
- The blocks' marks were a stack (`ElementReader._marks`), so a block had to end before any block opened after it.
  A generator that is suspended inside `with reader.batched():` breaks that: the outer block's end pops the
  generator's mark, sees a block still open and skips `_end_block` (ed25519: an off-curve commitment read in the
  block is never decompressed; the pre-e4fdf67 code refused it there). When the abandoned generator is closed its
  GeneratorExit pops the OUTER block's mark and `_drop` forgets everything from there: the owed subgroup tests of
  elements that the outer block accepted are lost, and finish() accepts a non-member (modp and ed25519; the
  pre-e4fdf67 code, one mark per block in its closure, still refused it). Nothing in threshold/ holds a block
  across a yield today, so it is reachable only by a caller's code, not by records; severity low (soundness if
  it is ever used that way). Fix: give each block its own mark (batched() returning a small object holding it)
  or refuse an exit out of order.

Checked outside this file: 60k random w plus the extremes through the C harness, at -O2 and under
-fsanitize=address,undefined (clean); the bounds in the comment above a10_carry, by interval arithmetic (column
sums at most 2^58.96, below 2^60; h1 below 2^25 + 2^7.6, h5 below 2^25 + 2^6.9, so fe_from51's input limbs below
2^51 + 2^34, well inside the 2^51 + 2^41 that the comment states; the value is below 2^256, all fe_from51 needs).
The extension built with ASan+UBSan ran this file's native tests and test_list_reading.py clean.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from threshold import _hashing
from threshold.encoding import hex_bytes, hex_list
from threshold.errors import DecodeError
from threshold.groups import _ed25519 as native
from threshold.groups import get_group

ROOT = Path(__file__).resolve().parents[2]
P = 2**255 - 19
E = (P - 5) // 8
ed = get_group("ed25519")
modp = get_group("modp")
GROUPS = [modp, ed]

OFF_CURVE = bytes.fromhex("02" + "00" * 31)  # y = 2: no x
NON_CANONICAL = (P + 1).to_bytes(32, "little")  # y = p + 1
IDENTITY = (1).to_bytes(32, "little")
MINUS_ONE = (P - 1).to_bytes(32, "little")  # y = -1, x = 0: order 2
BAD_SIGN_ID = bytes(IDENTITY[:31]) + b"\x80"  # y = 1 with the sign bit: x = 0 cannot be negative
BAD_SIGN_M1 = bytes(MINUS_ONE[:31]) + bytes([MINUS_ONE[31] | 0x80])
ORDER_2 = MINUS_ONE


def has_avx2() -> bool:
    try:
        with open("/proc/cpuinfo") as f:
            return " avx2" in f.read()
    except OSError:
        return False


def outcome(f):
    try:
        return ("ok", f())
    except DecodeError as exc:
        return ("refused", exc.field, exc.message)


def points(rng: random.Random, n: int) -> list[bytes]:
    return [ed.exp_g(rng.randrange(1, ed.q)) for _ in range(n)]


def alone_codes(encs):
    out = []
    for e in encs:
        native.cache_clear()
        out.append(native.check(e))
    native.cache_clear()
    return out


# ---------------------------------------------------------------------------------------------- AVX2 field level

HARNESS = r"""
#include "threshold/groups/_ed25519_x64.c"
#include <stdio.h>
#include <stdlib.h>
/* "P m w0..w7" (hex, 32 little-endian bytes each, raw radix-2^64 limbs): avx2_pow22523 and fe_pow22523 of each of
   the first m, fully reduced. "M op n" + 8 x 10 limbs f, 8 x 10 limbs g (decimal): a10_mul (op 0) or a10_sqn (op 1,
   n squarings) of each lane, 10 limbs out. */
static int unhex32(uint8_t *o, const char *s) {
    for (int i = 0; i < 32; i++) { unsigned v; if (sscanf(s + 2 * i, "%2x", &v) != 1) return -1; o[i] = (uint8_t)v; }
    return 0;
}
__attribute__((target("avx2"))) static void limbs_op(int op, int n, uint64_t F[8][10], uint64_t G[8][10],
                                                      uint64_t H[8][10]) {
    uint64_t L[2][10][4] __attribute__((aligned(32)));
    a10 f, g, h;
    for (int l = 0; l < 8; l++) for (int k = 0; k < 10; k++) L[l / 4][k][l % 4] = F[l][k];
    for (int t = 0; t < 2; t++) for (int k = 0; k < 10; k++) f.v[t][k] = _mm256_load_si256((const __m256i *)L[t][k]);
    for (int l = 0; l < 8; l++) for (int k = 0; k < 10; k++) L[l / 4][k][l % 4] = G[l][k];
    for (int t = 0; t < 2; t++) for (int k = 0; k < 10; k++) g.v[t][k] = _mm256_load_si256((const __m256i *)L[t][k]);
    if (op == 0) a10_mul(&h, &f, &g); else a10_sqn(&h, &f, n);
    for (int t = 0; t < 2; t++) for (int k = 0; k < 10; k++) _mm256_store_si256((__m256i *)L[t][k], h.v[t][k]);
    for (int l = 0; l < 8; l++) for (int k = 0; k < 10; k++) H[l][k] = L[l / 4][k][l % 4];
}
int main(void) {
    char kind[4];
    while (scanf("%3s", kind) == 1) {
        if (kind[0] == 'P') {
            int m; fe w[8], out[8], ref; char h[80];
            if (scanf("%d", &m) != 1) return 1;
            memset(w, 0, sizeof w);
            for (int l = 0; l < 8; l++) {
                uint8_t b[32];
                if (scanf("%70s", h) != 1 || unhex32(b, h)) return 2;
                memcpy(w[l], b, 32);
            }
            avx2_pow22523(out, (const fe *)w, m);
            for (int l = 0; l < m; l++) {
                uint8_t a[32], r[32];
                fe_pow22523(ref, w[l]);
                fe_tobytes(a, out[l]); fe_tobytes(r, ref);
                for (int i = 0; i < 32; i++) printf("%02x", a[i]);
                printf(" ");
                for (int i = 0; i < 32; i++) printf("%02x", r[i]);
                printf("\n");
            }
        } else {
            int op, n; uint64_t F[8][10], G[8][10], H[8][10];
            if (scanf("%d %d", &op, &n) != 2) return 3;
            for (int l = 0; l < 8; l++) for (int k = 0; k < 10; k++) if (scanf("%lu", &F[l][k]) != 1) return 4;
            for (int l = 0; l < 8; l++) for (int k = 0; k < 10; k++) if (scanf("%lu", &G[l][k]) != 1) return 4;
            limbs_op(op, n, F, G, H);
            for (int l = 0; l < 8; l++) { for (int k = 0; k < 10; k++) printf("%lu ", H[l][k]); printf("\n"); }
        }
    }
    return 0;
}
"""


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    gcc = shutil.which("gcc")
    if platform.machine() != "x86_64" or not gcc or not has_avx2():
        pytest.skip("x86-64 with AVX2 and gcc needed")
    inc = sysconfig.get_paths()["include"]
    libdir = sysconfig.get_config_var("LIBDIR")
    ver = sysconfig.get_config_var("LDVERSION") or sysconfig.get_python_version()
    if not (Path(inc) / "Python.h").exists():
        pytest.skip("Python headers needed")
    d = tmp_path_factory.mktemp("avx2h")
    src, exe = d / "h.c", d / "h"
    src.write_text(HARNESS)
    cmd = [gcc, "-O1", "-std=gnu11", "-Werror=incompatible-pointer-types", f"-I{inc}", f"-I{ROOT}", str(src), "-o", str(exe)]
    if libdir:
        cmd += [f"-L{libdir}", f"-Wl,-rpath,{libdir}"]
    cmd += [f"-lpython{ver}"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    # gcc and the headers are here: a harness that no longer compiles has drifted from the C it tests
    assert r.returncode == 0, "harness did not compile: " + r.stderr[-1500:]

    def run(lines: list[str]) -> list[str]:
        out = subprocess.run([str(exe)], input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr[-2000:]
        return out.stdout.split("\n")[:-1]
    return run


def _sublimb_positions():
    pos, out = 0, []
    for k in range(10):
        w = 26 if k % 2 == 0 else 25
        out.append((pos, w))
        pos += w
    return out


def extreme_ws() -> list[int]:
    ws = [0, 1, 2, 19, P - 2, P - 1, P, P + 1, 2 * P - 1, 2 * P, 2 * P + 1, 2**255 - 1, 2**255, 2**256 - 1, 2**256 - 38,
          2**256 - 39, 2**256 - 37, 2**255 - 20, sum((2**51 - 1) << (51 * k) for k in range(5))]
    ws += [P - 1 - i for i in range(1, 24)] + [2**256 - 1 - i for i in range(24)]
    for k in range(5):
        ws.append((2**51 - 1) << (51 * k))
    for pos, w in _sublimb_positions():
        ws.append(((1 << w) - 1) << pos)  # one sub-limb all ones
        ws.append(P - 1 - (((1 << w) - 1) << pos))  # every other sub-limb all ones
        ws.append(1 << pos)
    # the non-squares/squares -1 and 2 and their neighbours (both branches of the caller's curve check)
    ws += [P - 1, 2, P - 2, pow(2, (P - 1) // 4, P)]
    return ws


def test_avx2_pow22523_matches_pow_on_extreme_and_random_inputs(harness):
    rng = random.Random(1616)
    ws = extreme_ws() + [rng.getrandbits(256) for _ in range(1500)] + [P - rng.getrandbits(40) for _ in range(100)]
    ws += [rng.getrandbits(256) | 2**255 for _ in range(100)] + [rng.getrandbits(64) for _ in range(50)]
    lines, expect = [], []
    i = 0
    while i < len(ws):
        m = rng.randint(1, 8) if rng.random() < 0.3 else 8
        chunk = ws[i:i + m]
        i += len(chunk)
        pad = chunk + [rng.getrandbits(256) for _ in range(8 - len(chunk))]  # lanes past m hold anything
        lines.append(f"P {len(chunk)} " + " ".join(v.to_bytes(32, "little").hex() for v in pad))
        expect += chunk
    # every lane position holding each extreme, the others random
    for w in extreme_ws()[:24]:
        for lane in range(8):
            lanes = [rng.getrandbits(256) for _ in range(8)]
            lanes[lane] = w
            lines.append("P 8 " + " ".join(v.to_bytes(32, "little").hex() for v in lanes))
            expect += lanes
    rows = harness(lines)
    assert len(rows) == len(expect)
    bad = []
    for w, row in zip(expect, rows):
        a, s = (int.from_bytes(bytes.fromhex(x), "little") for x in row.split())
        want = pow(w % P, E, P)
        if a != want or s != want:
            bad.append((hex(w), hex(a), hex(s)))
    assert not bad, bad[:5]


def test_a10_mul_and_sqn_at_the_commented_limb_bounds(harness):
    """Inputs at the bounds the comment above a10_carry states: correct mod p, and outputs within the same bounds
    (so each squaring or product may follow any other)."""
    W = [0]
    for pos, w in _sublimb_positions():
        W.append(pos + w)
    val = lambda limbs: sum(x << W[i] for i, x in enumerate(limbs))  # noqa: E731
    B15 = 2**25 + 2**15
    full = [2**26 - 1 if k % 2 == 0 else 2**25 - 1 for k in range(10)]
    top = list(full)
    top[1] = top[5] = B15 - 1
    rng = random.Random(5)

    def rnd():
        if rng.random() < 0.4:
            return [rng.choice([0, top[k], full[k]]) for k in range(10)]
        e = [rng.getrandbits(26 if k % 2 == 0 else 25) for k in range(10)]
        e[1], e[5] = rng.randrange(B15), rng.randrange(B15)
        return e
    cases, lines = [], []
    for it in range(160):
        op, n = it % 2, 1 + (it // 2) % 4
        F = [top if it < 8 else rnd() for _ in range(8)]
        G = [top if it < 8 else rnd() for _ in range(8)]
        lines.append(f"M {op} {n} " + " ".join(str(x) for e in F + G for x in e))
        cases.append((op, n, F, G))
    rows = harness(lines)
    for c, (op, n, F, G) in enumerate(cases):
        for lane in range(8):
            H = [int(x) for x in rows[8 * c + lane].split()]
            want = val(F[lane]) * val(G[lane]) % P if op == 0 else pow(val(F[lane]), 2**n, P)
            assert val(H) % P == want, (op, n, lane)
            for k in range(10):
                bound = B15 if k in (1, 5) else (2**26 if k % 2 == 0 else 2**25)
                assert H[k] < bound, (k, H[k])
            l5 = [H[2 * k] + (H[2 * k + 1] << 26) for k in range(5)]
            assert max(l5) <= 2**51 + 2**41 and val(H) < 2**256  # fe_from51's input, as avx2_pow22523 states


# ---------------------------------------------------------------------------------------------- decode_many

def test_lanes_attribute():
    assert native.LANES in ("ifma", "avx2", "none")
    if native.ARITH == "adx" and has_avx2():
        assert native.LANES == "avx2"


@pytest.mark.parametrize("n", list(range(1, 18)) + [24, 40])
def test_checks_matches_check_for_every_batch_size(n):
    """Around AVX2_POW_MIN (4 misses: scalar, 5 to 8: lanes) and past one full batch of 8; the decoded points are the
    ones a lone decoding gives (compared through an addition that uses the batch's cached decodings)."""
    rng = random.Random(n)
    encs = points(rng, n)
    native.cache_clear()
    assert native.checks(encs) == [0] * n
    sums = [native.add(e, ed.g) for e in encs]  # from the cache the batch filled
    native.cache_clear()
    assert [native.add(e, ed.g) for e in encs] == sums  # each decoded alone
    assert sums == [ed.mul(e, ed.g) for e in encs]


BADS = {"off-curve": (OFF_CURVE, 2), "non-canonical": (NON_CANONICAL, 1), "bad-sign-identity": (BAD_SIGN_ID, 3),
        "bad-sign-minus-one": (BAD_SIGN_M1, 3)}


@pytest.mark.parametrize("kind", list(BADS))
@pytest.mark.parametrize("size", [5, 8, 13])
def test_every_lane_position_bad(kind, size):
    bad, code = BADS[kind]
    rng = random.Random(size)
    good = points(rng, size)
    for pos in range(size):
        encs = list(good)
        encs[pos] = bad
        native.cache_clear()
        got = native.checks(encs)
        assert got == [code if i == pos else 0 for i in range(size)], (pos, got)
        assert got == alone_codes(encs)


def test_w_zero_points_and_random_bytes_in_lanes():
    """y = 1 and y = -1 (u = 0, so w = 0 in their lane), random 32-byte strings (half of them off the curve), small
    order points, and duplicates of one encoding in the same batch."""
    rng = random.Random(99)
    pool = [IDENTITY, MINUS_ONE, BAD_SIGN_ID, BAD_SIGN_M1, OFF_CURVE, NON_CANONICAL] + list(
        bytes.fromhex(h) for h in ("0000000000000000000000000000000000000000000000000000000000000080",
                                   "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
                                   "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"))
    for trial in range(60):
        n = rng.randint(1, 20)
        encs = [rng.choice(pool) if rng.random() < 0.3 else
                (rng.randbytes(32) if rng.random() < 0.5 else ed.exp_g(rng.randrange(1, 1000))) for _ in range(n)]
        if n > 2 and rng.random() < 0.3:
            encs[-1] = encs[0]
        native.cache_clear()
        got = native.checks(encs)
        assert got == alone_codes(encs), (trial, encs)


def test_checks_agree_with_the_portable_arithmetic():
    """The same encodings decoded by the portable build (another square root) in a subprocess: the same codes and,
    for the points, the same sums with the base point."""
    rng = random.Random(7)
    encs = [rng.randbytes(32) for _ in range(40)] + points(rng, 40) + [IDENTITY, MINUS_ONE, BAD_SIGN_ID, OFF_CURVE]
    rng.shuffle(encs)
    native.cache_clear()
    codes = native.checks(encs)
    sums = [native.add(e, ed.g).hex() if c == 0 else None for e, c in zip(encs, codes)]
    script = (
        "import json, sys\n"
        "from threshold.groups import _ed25519 as n\n"
        "encs = [bytes.fromhex(h) for h in json.load(sys.stdin)]\n"
        "codes = n.checks(encs)\n"
        "print(json.dumps([n.ARITH, codes, [n.add(e, bytes.fromhex(sys.argv[1])).hex() if c == 0 else None "
        "for e, c in zip(encs, codes)]]))\n")
    env = dict(os.environ, QUORUM_ED25519_ARITH="portable", PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-c", script, ed.g.hex()], input=json.dumps([e.hex() for e in encs]),
                       capture_output=True, text=True, env=env, cwd=str(ROOT), timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    arith, pcodes, psums = json.loads(r.stdout)
    assert arith == "portable"
    assert pcodes == codes and psums == sums


def test_random_curve_points_in_long_batches_keep_their_sign():
    """x's sign bit from the lane result: flipping the sign bit of a valid point gives its negation (never a
    refusal, x != 0), and the batch decodes it as the negation."""
    rng = random.Random(3)
    encs = points(rng, 24)
    negs = [e[:31] + bytes([e[31] ^ 0x80]) for e in encs]
    native.cache_clear()
    assert native.checks(negs) == [0] * 24
    assert [native.add(n, e) for n, e in zip(negs, encs)] == [IDENTITY] * 24


# ---------------------------------------------------------------------------------------------- list readers

class S(str):
    pass


class L(list):
    pass


ODD = [S("00ff"), "00ff", "€0ff", "é0ff", "00FF", " 0ff", "0x00", 10**100, -1, 1.5, True, None, b"00ff", ["00ff"],
       {"a": 1}, "00f", "00fff", "", "\x00" * 4, "0\u0660ff", "\ud800" * 4, "ｆｆ00", S("zzzz")]


def _alone(items, field, size, n):
    if not isinstance(items, list) or len(items) != n:
        raise DecodeError(field, f"expected a list of {n} items")
    return [hex_bytes(x, f"{field}[{i}]", size) for i, x in enumerate(items)]


@pytest.mark.parametrize("cls", [list, L])
def test_hex_list_one_odd_item_anywhere_as_hex_bytes(cls):
    for v in ODD:
        for pos in range(3):
            items = ["abcd"] * 3
            items[pos] = v
            items = cls(items)
            assert outcome(lambda: hex_list(items, "f", 2, 3)) == outcome(lambda: _alone(items, "f", 2, 3)), (v, pos)


def test_hex_list_long_and_empty_lists():
    items = ["%04x" % (i % 65536) for i in range(100_000)]
    assert hex_list(items, "f", 2, len(items)) == [bytes.fromhex(x) for x in items]
    items[-1] = "ABCD"
    assert outcome(lambda: hex_list(items, "f", 2, len(items)))[1] == "f[99999]"
    assert hex_list([], "f", 32, 0) == []
    assert outcome(lambda: hex_list([], "f", 32, 1)) == ("refused", "f", "expected a list of 1 items")


def test_unhex_list_reference_counts():
    good = "ab" * 32
    bad_text = "zz" * 32
    other = object()
    items_ok = [good] * 5
    items_bad = [good, good, bad_text, good]
    items_type = [good, other]
    before = (sys.getrefcount(good), sys.getrefcount(bad_text), sys.getrefcount(other))
    for _ in range(2000):
        assert type(_hashing.unhex_list(items_ok, 32)) is list
        assert _hashing.unhex_list(items_bad, 32) == 2
        assert _hashing.unhex_list(items_type, 32) == 1
        assert _hashing.unhex_list(items_ok, 31) == 0
    gc.collect()
    assert (sys.getrefcount(good), sys.getrefcount(bad_text), sys.getrefcount(other)) == before
    out = _hashing.unhex_list(items_ok, 32)
    assert all(sys.getrefcount(b) == 3 for b in out)  # the list, the loop name, getrefcount's argument
    assert len({id(b) for b in out}) == 5


@pytest.mark.parametrize("group", GROUPS, ids=lambda g: g.name)
def test_scalars_from_hex_one_odd_item_anywhere(group):
    good = [group.scalar_to_hex(v) for v in (0, 1, group.q - 1)]
    for v in ODD + [group.q.to_bytes(32, "big").hex(), "ff" * 32, S(group.q.to_bytes(32, "big").hex())]:
        for pos in range(3):
            items = list(good)
            items[pos] = v
            got = outcome(lambda: group.scalars_from_hex(items, 3, "s"))
            assert got == outcome(lambda: tuple(group.scalar_from_hex(x, f"s[{i}]") for i, x in enumerate(items)))


@pytest.mark.parametrize("in_block", [False, True])
@pytest.mark.parametrize("group", GROUPS, ids=lambda g: g.name)
def test_commitments_one_odd_item_anywhere_leave_nothing(group, in_block):
    pts = [group.to_hex(group.exp_g(k)) for k in (2, 3, 4)]
    bads = list(ODD) + [group.to_hex(group.identity)]
    if group is ed:
        bads += [x.hex() for x in (OFF_CURVE, NON_CANONICAL, BAD_SIGN_ID, BAD_SIGN_M1, ORDER_2)]
        bads += [S(OFF_CURVE.hex())]

    def read(items, one_call):
        r = group.reader()

        def go():
            if one_call:
                return r.commitments(items, 3, "c")
            return tuple(r.commitment(x, f"c[{i}]") for i, x in enumerate(items))
        try:
            if in_block:
                with r.batched():
                    return outcome(go)
            return outcome(go)
        except DecodeError as exc:  # refused at the block's end
            return ("refused", exc.field, exc.message)
        finally:
            state = (r.pending, r._open, getattr(r, "_points", []), getattr(r, "_fields", []))
            read.state = state
    for bad in bads:
        for pos in range(3):
            items = list(pts)
            items[pos] = bad
            one = read(items, True)
            state = read.state
            assert one == read(items, False), (bad, pos)
            assert one[0] == "refused" and one[1] == f"c[{pos}]"
            assert state == ([], 0, [], []), state


# ---------------------------------------------------------------------------------------------- reader blocks

def test_nested_blocks_roll_back_what_they_read_on_every_exception():
    r = ed.reader()
    g = [ed.to_hex(ed.exp_g(k)) for k in range(2, 8)]
    with r.batched():
        r.element(g[0], "a")
        for exc in (KeyError, DecodeError("x", "y").__class__, GeneratorExit, KeyboardInterrupt):
            try:
                with r.batched():
                    r.element(g[1], "b")
                    with r.batched():
                        r.commitment(OFF_CURVE.hex(), "c")
                        r.element(g[2], "d")
                        raise exc("x", "y") if exc is DecodeError else exc()
            except BaseException:
                pass
            assert [f for _, f in r.pending] == ["a"] and [f for _, f, _ in r._fields] == ["a"] and r._open == 1
        with r.batched():
            r.commitment(g[3], "e")
        r.element(g[4], "f")
    assert r._open == 0 and r._points == r._fields == [] and [f for _, f in r.pending] == ["a", "f"]
    r.finish()


@pytest.mark.parametrize("group", GROUPS, ids=lambda g: g.name)
def test_a_refusal_at_the_outermost_end_leaves_no_state_and_the_reader_goes_on(group):
    r = group.reader()
    bad = OFF_CURVE.hex() if group is ed else "00" * group.element_bytes
    r.element(group.to_hex(group.exp_g(9)), "before")
    for _ in range(3):
        with pytest.raises(DecodeError):
            with r.batched():
                with r.batched():
                    r.element(group.to_hex(group.exp_g(3)), "in")
                    r.commitments([group.to_hex(group.exp_g(4))] * 2, 2, "cs")
                r.element(bad, "bad")
        assert [f for _, f in r.pending] == ["before"] and r._open == 0 and getattr(r, "_points", []) == getattr(r, "_fields", []) == []
    with r.batched():
        r.element(group.to_hex(group.exp_g(5)), "after")
    r.finish()


def test_the_same_reader_read_again_inside_itself():
    """A range proof read with the reader of the block it is in (as a ballot's ciphertexts and proofs are): its bad
    commitment is refused at the outermost end and names the proof's field; nothing stays owed."""
    from threshold.elgamal import PublicKey
    from threshold.proofs import RangeProof

    for group in GROUPS:
        pk = PublicKey(group, group.exp_g(12345))
        ct, rr = pk.encrypt(1)
        proof = RangeProof.prove(pk, ct, 1, rr, 2, b"ctx").to_json(group)
        r = group.reader()
        with r.batched():
            parsed = RangeProof.from_json(group, proof, 2, "p0", reader=r)
            with r.batched():
                RangeProof.from_json(group, proof, 2, "p1", reader=r)
        r.finish()
        assert parsed.verify(pk, ct, b"ctx")
        if group is ed:
            broken = dict(proof, b=[proof["b"][0], OFF_CURVE.hex(), proof["b"][2]])
            r = group.reader()
            with pytest.raises(DecodeError) as info:
                with r.batched():
                    RangeProof.from_json(group, proof, 2, "p0", reader=r)
                    RangeProof.from_json(group, broken, 2, "p1", reader=r)
            assert info.value.field == "p1.b[1]" and r.pending == [] and r._open == 0 and r._points == r._fields == []


@pytest.mark.parametrize("group", GROUPS, ids=lambda g: g.name)
def test_range_proof_with_one_bad_item_anywhere_refused_as_one_by_one(group):
    from threshold.elgamal import PublicKey
    from threshold.proofs import RangeProof

    pk = PublicKey(group, group.exp_g(777))
    ct, rr = pk.encrypt(2)
    good = RangeProof.prove(pk, ct, 2, rr, 3, b"c").to_json(group)
    bads = {"a": [group.to_hex(group.identity), "AB", 5], "b": [group.to_hex(group.identity), None],
            "challenges": [group.q.to_bytes(32, "big").hex(), "0", []],
            "responses": ["ff" * 32, S("zz" * 32)]}
    if group is ed:
        bads["a"] += [OFF_CURVE.hex(), ORDER_2.hex(), NON_CANONICAL.hex()]
        bads["b"] += [BAD_SIGN_ID.hex()]
    for key, values in bads.items():
        for v in values:
            for pos in range(len(good[key])):
                broken = dict(good, **{key: [v if i == pos else x for i, x in enumerate(good[key])]})
                with pytest.raises(DecodeError) as info:
                    RangeProof.from_json(group, broken, 3, "p")
                assert info.value.field == f"p.{key}[{pos}]", (key, v, pos, info.value)
    for key in bads:  # wrong lengths and types of each list
        for v in (good[key][:-1], good[key] + good[key][:1], tuple(good[key]), None):
            with pytest.raises(DecodeError) as info:
                RangeProof.from_json(group, dict(good, **{key: v}), 3, "p")
            assert info.value.field == f"p.{key}"


# ---------------------------------------------------------------------------------------------- the defect

def _non_member(group) -> str:
    if group is ed:  # a point of the curve outside the prime-order subgroup: [3]B + a point of order 2
        return native.add(ed.exp_g(3), ORDER_2).hex()
    return "00" * (group.element_bytes - 1) + "02"


@pytest.mark.parametrize("group", GROUPS, ids=lambda g: g.name)
def test_non_member_fixture_is_refused_normally(group):
    r = group.reader()
    with r.batched():
        r.element(_non_member(group), "x")
    with pytest.raises(DecodeError):
        r.finish()


@pytest.mark.parametrize("group", GROUPS, ids=lambda g: g.name)
def test_a_generator_block_closed_late_keeps_the_outer_blocks_owed_tests(group):
    r = group.reader()

    def lazy():
        with r.batched():
            yield r.element(group.to_hex(group.exp_g(5)), "gen.x")
            yield None

    with r.batched():
        r.element(_non_member(group), "outer.x")
        g = lazy()
        next(g)
    g.close()  # GeneratorExit inside the generator's block, after the outer block ended
    del g
    assert r._open == 0
    with pytest.raises(DecodeError) as info:
        r.finish()
    assert info.value.field == "outer.x"


def test_outer_block_end_decompresses_with_a_generator_block_still_open():
    r = ed.reader()

    def lazy():
        with r.batched():
            yield r.commitment(OFF_CURVE.hex(), "gen.c")
            yield None

    g = lazy()
    try:
        with pytest.raises(DecodeError):
            with r.batched():
                next(g)
                r.commitment(ed.to_hex(ed.exp_g(7)), "outer.c")
    finally:
        g.close()
