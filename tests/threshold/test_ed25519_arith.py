"""The arithmetics of threshold/groups/_ed25519.c: portable (radix 2^51 in C), adx (radix 2^64, mulx/adcx/adox,
x86-64 with BMI2 and ADX) and ifma (adx, plus the fixed-base comb in 8 AVX-512 IFMA lanes and the variable-time
multi-exponentiations on 4-way points). $QUORUM_ED25519_ARITH is
read at import, so each arithmetic runs in its own interpreter: the field operations on raw limbs (and the lanes'
multiply and subtract), driven to their documented bounds, against Python integers, and every group operation of each
build against libsodium and the pure-Python reference. The other test files cover whichever arithmetic the test
process itself imported (the default: the best this CPU has)."""

from __future__ import annotations

import json
import os
import platform
import random
import subprocess
import sys
from pathlib import Path

import nacl.bindings as sodium
import pytest

from threshold.groups import _ed25519 as native
from threshold.groups.ed25519 import BASEPOINT, L

from ed25519_reference import P, order8_point, ref_add, ref_decode, ref_encode, ref_mul, sodium_mul, sodium_sum

ENV = "QUORUM_ED25519_ARITH"
ROOT = Path(native.__file__).resolve().parents[2]  # the checkout whose extension this process imported
M64 = 2**64 - 1


def run(arith: str, code: str, payload=None):
    """Run code in a fresh interpreter with $QUORUM_ED25519_ARITH=arith; it reads json from stdin (IN) and
    prints json."""
    env = {**os.environ, ENV: arith, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    prog = "import json, sys\nIN = json.loads(sys.stdin.read())\nfrom threshold.groups import _ed25519 as m\n" + code
    res = subprocess.run([sys.executable, "-c", prog], input=json.dumps(payload), env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    if res.returncode:
        raise RuntimeError(res.stderr)
    return json.loads(res.stdout)


def cpu_best() -> str | None:
    """The best arithmetic this CPU's flags allow (None: cannot tell, no /proc/cpuinfo)."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return "portable"
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    if not ("bmi2" in flags and "adx" in flags):
        return "portable"
    return "ifma" if "avx512f" in flags and "avx512ifma" in flags else "adx"


def available() -> list[str]:
    out = ["portable"]
    for name in ("adx", "ifma"):
        try:
            if run(name, "print(json.dumps(m.ARITH))") == name:
                out.append(name)
        except RuntimeError as exc:
            assert "ImportError" in str(exc)
    return out


ARITHS = available()


# ----------------------------------------------------------------------------- choice at import
def test_default_is_the_best_the_cpu_has():
    best = cpu_best()
    if best is None:
        pytest.skip("cannot read the CPU's flags")
    assert run("auto", "print(json.dumps(m.ARITH))") == best
    assert run("", "print(json.dumps(m.ARITH))") == best
    assert ARITHS == ["portable", "adx", "ifma"][:["portable", "adx", "ifma"].index(best) + 1]
    assert native.ARITH == (os.environ.get(ENV) if os.environ.get(ENV) in ("portable", "adx", "ifma") else best)


def test_forcing_and_refusing_unknown_names():
    for name in ARITHS:
        assert run(name, "print(json.dumps(m.ARITH))") == name
    with pytest.raises(RuntimeError, match="ImportError.*expected auto, portable, adx or ifma"):
        run("fast", "print(1)")
    if "adx" not in ARITHS:
        with pytest.raises(RuntimeError, match="ImportError.*no BMI2/ADX"):
            run("adx", "print(1)")
    if "ifma" not in ARITHS:
        with pytest.raises(RuntimeError, match="ImportError.*no (AVX-512 IFMA|BMI2/ADX)"):
            run("ifma", "print(1)")


# ----------------------------------------------------------------------------- field, raw limbs
FIELD = """
out = []
for op, a, b in IN:
    r = m._field(op, a, b)
    out.append(r.hex() if isinstance(r, bytes) else list(r))
print(json.dumps(out))
"""

EDGE_VALUES = [0, 1, 2, 19, 37, 38, 39, P - 2, P - 1, P, P + 1, P + 18, P + 19, 2**255 - 1, 2**255, 2 * P - 1, 2 * P,
               2 * P + 1, 2**256 - 39, 2**256 - 38, 2**256 - 37, 2**256 - 1, M64, 2**128 - 1, 2**192 - 1, M64 << 192,
               (M64 << 128) | M64, 2**255 + 2**254, 0x8000000000000000_0000000000000000_0000000000000000_0000000000000001]


def limbs(v: int, radix: int, n: int) -> list[int]:
    return [(v >> (radix * i)) & ((1 << radix) - 1) for i in range(n)]


def value(ls, radix: int) -> int:
    return sum(x << (radix * i) for i, x in enumerate(ls))


def check_field(arith: str, cases, radix: int, out_bound) -> None:
    results = run(arith, FIELD, cases)
    assert len(results) == len(cases)
    for (op, a, b), r in zip(cases, results):
        x, y = value(a, radix), value(b, radix)
        if op == "tobytes":
            assert bytes.fromhex(r) == (x % P).to_bytes(32, "little"), (op, a)
            continue
        want = {"mul": x * y, "sq": x * x, "add": x + y, "sub": x - y,
                "invert": pow(x, P - 2, P)}[op] % P
        assert value(r, radix) % P == want, (op, a, b, r)
        assert out_bound(op, r), (op, a, b, r)


def test_adx_field_on_every_kind_of_256_bit_input():
    """Radix 2^64 takes any 256-bit value (arithmetic mod 2^256 - 38) and returns one: edge values (around 0, p, 2p,
    2^255, 2^256, all-ones limbs) pairwise, and random ones, some with all-ones top limbs."""
    if "adx" not in ARITHS:
        pytest.skip("no BMI2/ADX")
    rng = random.Random(2551)
    vals = EDGE_VALUES + [rng.getrandbits(256) for _ in range(300)] + [rng.getrandbits(256) | (M64 << 192)
                                                                       for _ in range(100)]
    pairs = [(a, b) for a in EDGE_VALUES for b in EDGE_VALUES] + [(rng.choice(vals), rng.choice(vals))
                                                                  for _ in range(3000)]
    cases = []
    for a, b in pairs:
        for op in ("mul", "add", "sub"):
            cases.append((op, limbs(a, 64, 4), limbs(b, 64, 4)))
    for a in vals:
        cases.append(("sq", limbs(a, 64, 4), [0] * 4))
        cases.append(("tobytes", limbs(a, 64, 4), [0] * 4))
        if a % P:
            cases.append(("invert", limbs(a, 64, 4), [0] * 4))
    check_field("adx", cases, 64, lambda op, r: all(0 <= x <= M64 for x in r))


def test_portable_field_at_its_limb_bounds():
    """Radix 2^51: fe_mul/fe_sq take limbs below 2^54 and return h0, h2..h4 < 2^51, h1 < 2^51 + 2^13; fe_sub takes
    f below 2^62 and g at most 4p's limbs and returns carried limbs (<= 2^51); fe_tobytes takes limbs below 2^63."""
    rng = random.Random(2552)
    top = [2**54 - 1] * 5
    p_l, p1_l = limbs(P, 51, 5), limbs(P - 1, 51, 5)
    four_p = [0x1FFFFFFFFFFFB4] + [0x1FFFFFFFFFFFFC] * 4
    edge = [top, [2**51 - 1] * 5, p_l, p1_l, limbs(P + 1, 51, 5), [0] * 5, [1, 0, 0, 0, 0], [2**53] * 5,
            [2**54 - 1, 0, 0, 0, 2**54 - 1], [0, 2**54 - 1, 0, 2**54 - 1, 0], [2**51 + 2**13] * 5]
    rand = [[rng.randrange(2**54) for _ in range(5)] for _ in range(300)] + [
        [rng.randrange(2**51) for _ in range(5)] for _ in range(100)]
    vals = edge + rand
    cases = []
    for a in edge:
        for b in edge:
            cases.append(("mul", a, b))
    for _ in range(3000):
        cases.append(("mul", rng.choice(vals), rng.choice(vals)))
    for a in vals:
        cases.append(("sq", a, [0] * 5))
        if value(a, 51) % P:
            cases.append(("invert", a, [0] * 5))
    subs = [four_p, p_l, [0] * 5, [2**52 + 2**14] * 5, [2**51] * 5]
    fs = [[2**62 - 1] * 5, [0] * 5, top, p_l] + rand[:50]
    for f in fs:
        for g in subs + rand[300:350]:
            cases.append(("sub", f, g))
    for a in vals + [[2**63 - 1] * 5, [2**63 - 1, 0, 0, 0, 0], [0, 0, 0, 0, 2**63 - 1]]:
        cases.append(("tobytes", a, [0] * 5))
    for _ in range(500):
        a, b = [rng.randrange(2**53) for _ in range(5)], [rng.randrange(2**53) for _ in range(5)]
        cases.append(("add", a, b))

    def bound(op, r):
        if op == "add":
            return all(x < 2**54 for x in r)
        if op == "sub":
            return all(x <= 2**51 for x in r)
        return all(x < 2**51 for i, x in enumerate(r) if i != 1) and r[1] < 2**51 + 2**13
    check_field("portable", cases, 51, bound)


def test_inversion_by_divsteps_on_values_that_steer_every_branch():
    """fe_invert (safegcd: 590 branch-free divsteps, then the Bezout coefficient mod p) against z^(p-2) in every
    arithmetic: powers of two and their neighbours (long runs of halvings, the most swaps), values near p and p/2,
    values that are not reduced (up to 2^256 - 1 in radix 2^64), and zero, which maps to zero as z^(p-2) does."""
    rng = random.Random(2553)
    special = [2**k + d for k in range(256) for d in (-1, 0, 1)] + [P // 2 + d for d in range(-3, 4)]
    special += [P - 2**k for k in range(0, 255, 7)] + [rng.getrandbits(k) for k in range(1, 256)] + [0, P, 2 * P]
    for arith in ARITHS:
        radix, n = (51, 5) if arith == "portable" else (64, 4)
        vals = [v for v in special if v < 2**256 and (radix == 64 or v < 2**255)]
        results = run(arith, FIELD, [("invert", limbs(v, radix, n), [0] * n) for v in vals])
        for v, r in zip(vals, results):
            assert value(r, radix) % P == pow(v, P - 2, P), (arith, v)


def in_lane(limbs_in: list[int], lane: int) -> list[int]:
    """What lane `lane` of the lane operations takes: limb 0 moved by the lane number towards the middle."""
    x = limbs_in[0]
    return [x - lane if x >= lane else x + lane] + list(limbs_in[1:])


def test_ifma_lanes_multiply_and_subtract_at_their_limb_bounds():
    """The comb's lane arithmetic (radix 2^51 in 8 lanes of vpmadd52lo/hi): v_mul takes limbs below 2^52 (the
    multiplier's width) and returns limbs at most 2^51; v_sub takes f below 2^62 and g at most 2^53 - 76 (4p's
    limbs) and returns the same. Only the other lanes' inputs differ (limb 0 moved by the lane number)."""
    if "ifma" not in ARITHS:
        pytest.skip("no AVX-512 IFMA")
    rng = random.Random(2554)
    top = 2**52 - 1
    edge = [[top] * 5, [0] * 5, [2**51] * 5, [2**51 - 1] * 5, limbs(P, 51, 5), limbs(P - 1, 51, 5), [top, 0, 0, 0, top],
            [0, top, 0, top, 0], [1, 0, 0, 0, 0]]
    vals = edge + [[rng.randrange(2**52) for _ in range(5)] for _ in range(200)]
    cases = [("lane_mul", a, b) for a in edge for b in edge]
    cases += [("lane_mul", rng.choice(vals), rng.choice(vals)) for _ in range(1000)]
    four_p = [0x1FFFFFFFFFFFB4] + [0x1FFFFFFFFFFFFC] * 4
    subs_f = [[2**62 - 1] * 5, [0] * 5, [top] * 5, [2**53] * 5] + vals[:40]
    subs_g = [four_p, [0] * 5, [2**51] * 5, [top] * 5] + vals[40:80]
    cases += [("lane_sub", f, g) for f in subs_f for g in subs_g]
    results = run("ifma", FIELD, cases)
    for (op, a, b), lanes in zip(cases, results):
        assert len(lanes) == 8
        for lane, r in enumerate(lanes):
            a_l, b_l = in_lane(a, lane), in_lane(b, lane)
            x, y = value(a_l, 51), value(b_l, 51)
            want = (x * y if op == "lane_mul" else x - y) % P
            assert value(r, 51) % P == want, (op, a_l, b_l, r)
            assert all(v <= 2**51 for v in r), (op, a_l, b_l, r)


def test_ifma_quad_products_at_their_limb_bounds():
    """The 4-way points' lane product (f4_mul, on 256-bit vectors): limbs below 2^52 in, and out after one round of
    carries, each below 2^51 + 19 2^11 (what the point formulas feed back into products and lane combinations)."""
    if "ifma" not in ARITHS:
        pytest.skip("no AVX-512 IFMA")
    rng = random.Random(2555)
    top = 2**52 - 1
    edge = [[top] * 5, [0] * 5, [2**51] * 5, [2**51 + 19 * 2**11] * 5, limbs(P, 51, 5), limbs(P - 1, 51, 5),
            [top, 0, 0, 0, top], [0, top, 0, top, 0], [1, 0, 0, 0, 0]]
    vals = edge + [[rng.randrange(2**52) for _ in range(5)] for _ in range(200)]
    cases = [("quad_mul", a, b) for a in edge for b in edge]
    cases += [("quad_mul", rng.choice(vals), rng.choice(vals)) for _ in range(1000)]
    results = run("ifma", FIELD, cases)
    for (op, a, b), lanes in zip(cases, results):
        assert len(lanes) == 4
        for lane, r in enumerate(lanes):
            a_l, b_l = in_lane(a, lane), in_lane(b, lane)
            assert value(r, 51) % P == value(a_l, 51) * value(b_l, 51) % P, (a_l, b_l, r)
            assert all(v < 2**51 + 19 * 2**11 for v in r), (a_l, b_l, r)


# ----------------------------------------------------------------------------- group, every build
GROUP = """
out = {}
B = bytes.fromhex(IN["B"])
pts = [bytes.fromhex(h) for h in IN["pts"]]
out["mul"] = [m.scalarmult(bytes.fromhex(p), e).hex() for p, e in IN["mul"]]
t = m.table(B)
out["table_exp"] = [m.table_exp(t, e).hex() for e in IN["scalars"]]
tk = m.table(pts[0])
out["table_exps"] = [x.hex() for x in m.table_exps([[(t, e, False), (tk, s, True)] for e, s in IN["prods"]])]
out["table_exps3"] = [x.hex() for x in m.table_exps([[(tk, e, False), (t, s, True), (t, f, False)]
                                                      for (e, s), f in zip(IN["prods"], IN["scalars"][::-1])])]
out["multi7"] = m.multi_exp(pts[:7], IN["scalars"][:7]).hex()
out["multi_many"] = m.multi_exp(pts, IN["many"]).hex()
out["add"] = [m.add(pts[i], pts[i + 1]).hex() for i in range(len(pts) - 1)]
out["sub"] = [m.sub(pts[i], pts[i + 1]).hex() for i in range(len(pts) - 1)]
out["check"] = [m.check(bytes.fromhex(h)) for h in IN["encs"]]
out["member"] = [m.member(bytes.fromhex(h)) for h in IN["encs"]]
out["members_batch"] = m.members_batch(pts, bytes(range(256)) * (len(pts) // 16))
tpts = [bytes.fromhex(h) for h in IN["tpts"]]
out["torsion7"] = m.multi_exp(tpts[:7], IN["scalars"][:7]).hex()
out["torsion_many"] = m.multi_exp(tpts, IN["many"]).hex()
out["in_e8"] = [m.multi_exp_torsion([bytes.fromhex(h) for h in ps], es) for ps, es in IN["e8"]]
out["members"] = m.members(tpts[:21] + pts[:3])
print(json.dumps(out))
"""


@pytest.mark.parametrize("arith", ["portable", "adx", "ifma"])
def test_group_operations_of_each_build_match_libsodium_and_reference(arith):
    if arith not in ARITHS:
        pytest.skip(f"this CPU cannot run {arith}")
    rng = random.Random(2553)
    edge_scalars = [0, 1, 2, 7, 8, 9, 15, 16, 17, 2**16 - 1, L - 1, L, L + 1, 2**252, 2**253 - 1, 2**255 - 1,
                    int("88" * 32, 16) >> 1, int("77" * 32, 16) >> 1, int("f8" * 31 + "07", 16) & (2**255 - 1)]
    scalars = edge_scalars + [rng.randrange(2**255) for _ in range(20)]
    pts = [sodium_mul(BASEPOINT, rng.randrange(1, L)) for _ in range(128)]  # 128: multi_exp takes Pippenger
    y_edges = [P - 1, P - 2, 0, 1, 2**255 - 20, 2**255 - 1, P, 2**254]
    encs = [y.to_bytes(32, "little") for y in y_edges] + [(y | 2**255).to_bytes(32, "little") for y in y_edges]
    encs += pts[:4]
    mul_cases = [(BASEPOINT, e) for e in scalars] + [(pts[1], e) for e in scalars]
    prods = [(e, s) for e, s in zip(scalars, [0, 1, 2**16 - 1, 255, 256, 4095, 4096] * 10)]
    # points carrying each torsion component (what a commitment may carry), and sums that do or do not land in E[8]
    t8 = order8_point()
    tref = [ref_add(ref_decode(p), ref_mul(t8, i % 8)) for i, p in enumerate(pts)]
    tpts = [ref_encode(t) for t in tref]
    e8 = [([tpts[0], pts[0]], [5, L - 5]), ([tpts[3], pts[3], ref_encode(ref_mul(t8, 3))], [7, L - 7, 1]),
          ([tpts[1], pts[1], BASEPOINT], [9, L - 9, 1]), ([], []), (tpts[:100], (scalars * 4)[:100]),
          ([ref_encode(ref_mul(t8, k)) for k in range(8)], list(range(8)))]
    payload = {"B": BASEPOINT.hex(), "pts": [p.hex() for p in pts], "mul": [(p.hex(), e) for p, e in mul_cases],
               "scalars": scalars, "many": (scalars * 4)[:len(pts)], "prods": prods, "encs": [e.hex() for e in encs],
               "tpts": [p.hex() for p in tpts], "e8": [([p.hex() for p in ps], es) for ps, es in e8]}
    out = run(arith, GROUP, payload)

    def ref_sum(points, es):
        acc = (0, 1)
        for t, e in zip(points, es):
            acc = ref_add(acc, ref_mul(t, e))
        return acc
    assert bytes.fromhex(out["torsion7"]) == ref_encode(ref_sum(tref[:7], scalars[:7]))
    assert bytes.fromhex(out["torsion_many"]) == ref_encode(ref_sum(tref, (scalars * 4)[:len(pts)]))
    assert out["in_e8"] == [ref_mul(ref_sum([ref_decode(p) for p in ps], es), 8) == (0, 1) for ps, es in e8]
    assert out["in_e8"][:4] == [True, True, False, True]
    assert out["members"] == [i % 8 == 0 for i in range(21)] + [True] * 3  # tpts[i] carries torsion i mod 8

    assert [bytes.fromhex(h) for h in out["mul"]] == [sodium_mul(p, e) for p, e in mul_cases]
    assert [bytes.fromhex(h) for h in out["table_exp"]] == [sodium_mul(BASEPOINT, e) for e in scalars]
    assert [bytes.fromhex(h) for h in out["table_exps"]] == [
        sodium_sum([sodium_mul(BASEPOINT, e), sodium_mul(pts[0], s)]) for e, s in prods]
    assert [bytes.fromhex(h) for h in out["table_exps3"]] == [
        sodium_sum([sodium_mul(pts[0], e), sodium_mul(BASEPOINT, s), sodium_mul(BASEPOINT, f)])
        for (e, s), f in zip(prods, scalars[::-1])]
    assert bytes.fromhex(out["multi7"]) == sodium_sum(sodium_mul(p, e) for p, e in zip(pts[:7], scalars[:7]))
    assert bytes.fromhex(out["multi_many"]) == sodium_sum(sodium_mul(p, e) for p, e in zip(pts, (scalars * 4)[:len(pts)]))
    assert [bytes.fromhex(h) for h in out["add"]] == [sodium.crypto_core_ed25519_add(a, b)
                                                      for a, b in zip(pts, pts[1:])]
    assert [bytes.fromhex(h) for h in out["sub"]] == [sodium.crypto_core_ed25519_sub(a, b)
                                                      for a, b in zip(pts, pts[1:])]
    for enc, rc, member in zip(encs, out["check"], out["member"]):
        ref = ref_decode(enc)
        assert (rc == 0) == (ref is not None), enc.hex()
        if ref is not None:
            assert ref_encode(ref) == enc
            assert member == (ref_mul(ref, L) == (0, 1))
    assert out["members_batch"] is True
