"""Session 13 adversarial review of the 4-way IFMA point arithmetic and batched decoding of edwards25519
(fde9e78, 8b64817, 490bc59) and of verify_partial's share membership test (87d33c9).

What is attacked, and against what:

1. the multi-exponentiations (straus4 below 96 points, pippenger4 from 96 on, and Pippenger's window model):
   points carrying every torsion component, the 8 small-order points, the identity, repeated points, P and -P
   cancelling, scalars 0, 1, 7, 8, L-1, L, L+1, 2^252, 2^255-1 and short 129-bit ones, sizes 1..2000 around the
   Straus/Pippenger switch; the expected sum is computed exactly from how the points were built
   ([k]B + [j]T8), by an independent Python implementation of the group, and by libsodium for subgroup points;
   the build this process imported is also compared bit for bit with the portable build in a subprocess;
2. the width-5 NAF (slide) at scalars close to 2^255 (any carry lost past bit 255 would change the sum);
3. the 4-way lane product f4_mul at and below its limb bound (hypothesis), and its output bound, which is what
   f4_comb / f4_cached feed back into products;
4. decode_many: every kind of undecodable encoding (y >= p with both signs, off the curve, x = 0 with the sign
   bit) at every position of groups of 1..24, mixed cached / uncached neighbours, the same encoding repeated in a
   call, wrong types and lengths: a clean DecodeFailure naming the kind, nothing bad in the decode cache, the
   good neighbours decoded (and cached) correctly;
5. multi_exp_torsion ([8] sum = O) truth table against the reference, and Ed25519Group.accepts_multi_exp /
   batch.holds agreeing with accepts(multi_exp(...)) / accepts(evaluate(...));
6. verify_partial / combine: shares shifted by torsion of order 2, 4 and 8 (ed25519) or by the sign (modp),
   proven with the real secret, are blamed; tampered proofs are blamed; the honest ones still decrypt.
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
from hypothesis import HealthCheck, given, settings, strategies as st

from threshold.batch import BatchVerifier, evaluate, holds
from threshold.decryption import TAG, PartialDecryption, _ctx, combine, partial_decrypt, partial_equations, verify_partial
from threshold.dkg import CeremonyParams, run_ceremony
from threshold.elgamal import PublicKey
from threshold.groups import _ed25519 as native
from threshold.groups import get_group
from threshold.groups.ed25519 import BASEPOINT, IDENTITY, L, SMALL_ORDER
from threshold.proofs import ChaumPedersenProof

ROOT = Path(native.__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "threshold"))
from ed25519_reference import ref_decode  # noqa: E402

# ----------------------------------------------------------------------------- an independent Python edwards25519
P = 2**255 - 19
D = (-121665 * pow(121666, -1, P)) % P
D2 = 2 * D % P
O = (0, 1, 1, 0)


def x_dec(b: bytes):
    """RFC 8032 strict decoding (the reference's) to extended coordinates (None if invalid)."""
    pt = ref_decode(b)
    return None if pt is None else (pt[0], pt[1], 1, pt[0] * pt[1] % P)


def x_enc(pt) -> bytes:
    X, Y, Z, _ = pt
    zi = pow(Z, -1, P)
    x, y = X * zi % P, Y * zi % P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def x_add(p, q):
    X1, Y1, Z1, T1 = p
    X2, Y2, Z2, T2 = q
    A = (Y1 - X1) * (Y2 - X2) % P
    B_ = (Y1 + X1) * (Y2 + X2) % P
    C = T1 * D2 % P * T2 % P
    DD = 2 * Z1 * Z2 % P
    E, F, G, H = B_ - A, DD - C, DD + C, B_ + A
    return (E * F % P, G * H % P, F * G % P, E * H % P)


def x_neg(p):
    X, Y, Z, T = p
    return ((-X) % P, Y, Z, (-T) % P)


def x_mul(p, e: int):
    acc = O
    for bit in bin(e)[2:] if e else "":
        acc = x_add(acc, acc)
        if bit == "1":
            acc = x_add(acc, p)
    return acc


def x_is_id(p) -> bool:
    return p[0] % P == 0 and (p[1] - p[2]) % P == 0


def x_sum(pts, es):
    acc = O
    for p, e in zip(pts, es):
        acc = x_add(acc, x_mul(p, e))
    return acc


BP = x_dec(BASEPOINT)
# a generator of E[8], deterministic: the small-order encodings contain one of order 8
T8 = next(x_dec(e) for e in sorted(SMALL_ORDER) if not x_is_id(x_mul(x_dec(e), 4)))
TT = [x_mul(T8, j) for j in range(8)]
assert {x_enc(t) for t in TT} == set(SMALL_ORDER)

EDGE_SCALARS = [0, 1, 2, 7, 8, 9, 15, 16, 17, L - 1, L, L + 1, 2**252, 2**253 - 1, 2**255 - 1, 2**255 - 2,
                2**129 - 1, 2**128 + 1, 8 * L % 2**255, (L - 1) // 8]


def family(rng: random.Random, n: int):
    """n points [k_i]B + [j_i]T8 built by additions from a random start and step (independent of the native code);
    a few are replaced by each small-order point, the identity, a repeat and the negative of an earlier one."""
    k, j = rng.randrange(L), rng.randrange(8)
    s, t = rng.randrange(L), rng.randrange(8)
    p, step = x_add(x_mul(BP, k), TT[j]), x_add(x_mul(BP, s), TT[t])
    pts, ks, js = [], [], []
    for _ in range(n):
        pts.append(p); ks.append(k); js.append(j)
        p, k, j = x_add(p, step), (k + s) % L, (j + t) % 8
    if n >= 12:
        for idx, jj in zip(rng.sample(range(n), 8), range(8)):  # every point of E[8], the identity among them
            pts[idx], ks[idx], js[idx] = TT[jj], 0, jj
        a, b, c, d = rng.sample(range(n), 4)
        pts[a], ks[a], js[a] = pts[b], ks[b], js[b]  # a repeat
        pts[c], ks[c], js[c] = x_neg(pts[d]), (-ks[d]) % L, (-js[d]) % 8  # a negative
    return [x_enc(q) for q in pts], ks, js


def expected(ks, js, es) -> bytes:
    k = sum(a * b for a, b in zip(ks, es)) % L
    j = sum(a * b for a, b in zip(js, es)) % 8
    return x_enc(x_add(x_mul(BP, k), TT[j]))


def scalar_sets(rng: random.Random, n: int):
    return {
        "random": [rng.randrange(2**255) for _ in range(n)],
        "short": [rng.getrandbits(129) for _ in range(n)],
        "edge": [rng.choice(EDGE_SCALARS) for _ in range(n)],
        "zero": [0] * n,
        "max": [2**255 - 1] * n,
        "reduced": [rng.randrange(L) for _ in range(n)],
    }


SIZES = [1, 2, 3, 7, 8, 9, 16, 31, 95, 96, 97, 150, 600, 2000]


@pytest.mark.parametrize("n", SIZES)
def test_multi_exp_and_torsion_against_exact_sums(n):
    """Every size around the Straus / Pippenger switch (96) and large ones; every scalar shape."""
    rng = random.Random(1300 + n)
    encs, ks, js = family(rng, n)
    for name, es in scalar_sets(rng, n).items():
        want = expected(ks, js, es)
        assert native.multi_exp(encs, es) == want, (n, name)
        assert native.multi_exp_torsion(encs, es) == (want in SMALL_ORDER), (n, name)


@pytest.mark.parametrize("n", [1, 5, 95, 96, 97, 400])
def test_cancelling_pairs_give_the_identity(n):
    """P and -P with the same scalar (and [e]P with [L - e]P): the sum is exactly O, whatever torsion P carries."""
    rng = random.Random(1400 + n)
    encs, ks, js = family(rng, n)
    negs = [x_enc(x_neg(x_dec(e))) for e in encs]
    es = [rng.randrange(2**255) for _ in range(n)]
    assert native.multi_exp(encs + negs, es + es) == IDENTITY
    assert native.multi_exp_torsion(encs + negs, es + es) is True
    sub = [e for e, j in zip(encs, js) if j == 0]  # subgroup points: [e]P + [L - e]P = O
    if sub:
        es = [rng.randrange(L) for _ in sub]
        assert native.multi_exp(sub + sub, es + [L - e for e in es]) == IDENTITY
    # one term off by one: the sum is then that point, not O
    assert native.multi_exp(encs + negs, es[:1] + [0] * (n - 1) + [es[0] - 1] + [0] * (n - 1)) == encs[0]


def test_subgroup_sums_match_libsodium():
    rng = random.Random(1313)
    for n in (4, 96, 300):
        ks = [rng.randrange(1, L) for _ in range(n)]
        pts = [sodium.crypto_scalarmult_ed25519_base_noclamp(k.to_bytes(32, "little")) for k in ks]
        es = [rng.randrange(L) for _ in range(n)]
        want = sodium.crypto_scalarmult_ed25519_base_noclamp((sum(a * b for a, b in zip(ks, es)) % L).to_bytes(32, "little"))
        assert native.multi_exp(pts, es) == want


def test_naf_of_scalars_close_to_2_255():
    """slide() on scalars up to 2^255 - 1 (the native entry takes them unreduced): a carry that ran past bit 255
    would drop 2^256 from the sum; one point and a Straus group, against the exact sum."""
    rng = random.Random(1314)
    q, k, j = x_add(x_mul(BP, 987654321), TT[3]), 987654321, 3
    top = 2**255 - 1
    scalars = [top, top - 1, 2**254, 2**254 + 2**253, top ^ (1 << 254), top ^ (1 << 253)]
    scalars += [top ^ (1 << b) for b in range(0, 255, 7)]
    scalars += [top & ~(rng.getrandbits(10) << rng.randrange(245)) for _ in range(40)]
    scalars += [(top >> s) << s for s in range(0, 250, 11)]
    enc = x_enc(q)
    for e in scalars:
        assert native.multi_exp([enc], [e]) == expected([k], [j], [e]), hex(e)
    assert native.multi_exp([enc] * len(scalars), scalars) == expected([k] * len(scalars), [j] * len(scalars), scalars)


def test_this_build_agrees_bit_for_bit_with_the_portable_build():
    """Differential: the portable build (radix 2^51 in C, no lanes) in a fresh interpreter, same inputs."""
    rng = random.Random(1315)
    cases = []
    for n in (3, 95, 96, 97, 700):
        encs, _, _ = family(rng, n)
        for es in scalar_sets(rng, n).values():
            cases.append(([e.hex() for e in encs], es))
    prog = ("import json, sys\nfrom threshold.groups import _ed25519 as m\nIN = json.loads(sys.stdin.read())\n"
            "print(json.dumps([m.ARITH, [[m.multi_exp([bytes.fromhex(h) for h in ps], es).hex(),"
            " m.multi_exp_torsion([bytes.fromhex(h) for h in ps], es)] for ps, es in IN]]))")
    env = {**os.environ, "QUORUM_ED25519_ARITH": "portable",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    res = subprocess.run([sys.executable, "-c", prog], input=json.dumps(cases), env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    arith, theirs = json.loads(res.stdout)
    assert arith == "portable"
    ours = [[native.multi_exp([bytes.fromhex(h) for h in ps], es).hex(),
             native.multi_exp_torsion([bytes.fromhex(h) for h in ps], es)] for ps, es in cases]
    assert ours == theirs


# ----------------------------------------------------------------------------- the 4-way lane product
def _limbs(v: int):
    return [(v >> (51 * i)) & (2**51 - 1) for i in range(4)] + [v >> 204]


def _value(ls) -> int:
    return sum(x << (51 * i) for i, x in enumerate(ls))


LIMB = st.one_of(st.integers(0, 2**52 - 1), st.sampled_from([0, 1, 2**51 - 1, 2**51, 2**51 + 19 * 2**11,
                                                            2**52 - 2, 2**52 - 1, 2**52 - 38]))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(LIMB, min_size=5, max_size=5), st.lists(LIMB, min_size=5, max_size=5))
def test_quad_mul_below_its_limb_bound(a, b):
    """f4_mul: every limb below 2^52 in (what f4_comb, f4_cached's 2p - b and f4_load produce), exact product mod p
    out in every lane, each limb below 2^51 + 19 2^11 (so it may be combined and multiplied again)."""
    if native.ARITH != "ifma":
        pytest.skip("no IFMA lanes in this process")
    lanes = native._field("quad_mul", a, b)
    for lane, r in enumerate(lanes):
        a_l, b_l = list(a), list(b)
        a_l[0] = a[0] - lane if a[0] >= lane else a[0] + lane
        b_l[0] = b[0] - lane if b[0] >= lane else b[0] + lane
        assert _value(r) % P == _value(a_l) * _value(b_l) % P
        assert all(v < 2**51 + 19 * 2**11 for v in r)


def test_quad_mul_bound_is_real():
    """The documented input bound is the multiplier's width: a limb of 2^52 is read as 0 (so every caller must
    stay below it, as the bounds analysis says they do)."""
    if native.ARITH != "ifma":
        pytest.skip("no IFMA lanes in this process")
    a, b = [2**52, 0, 0, 0, 0], _limbs(12345)
    assert _value(native._field("quad_mul", a, b)[0]) % P == 0


# ----------------------------------------------------------------------------- decode_many
def _valid(rng):
    while True:
        b = rng.randbytes(32)
        if x_dec(b) is not None:
            return b


def _off_curve(rng):
    while True:
        b = rng.randbytes(32)
        if x_dec(b) is None and int.from_bytes(b, "little") & (2**255 - 1) < P:
            return b


BAD_KINDS = {
    1: ("y >= p", [(P + i).to_bytes(32, "little") for i in range(19)]
        + [((P + i) | 2**255).to_bytes(32, "little") for i in range(19)]
        + [(2**255 - 1).to_bytes(32, "little"), (2**256 - 1).to_bytes(32, "little")]),
    2: ("not a point", []),
    3: ("sign bit", [(1 | 2**255).to_bytes(32, "little"), ((P - 1) | 2**255).to_bytes(32, "little")]),
}


def test_every_undecodable_kind_at_every_position():
    rng = random.Random(1316)
    BAD_KINDS[2][1][:] = [_off_curve(rng) for _ in range(6)]
    for code, (_, encs) in BAD_KINDS.items():
        for b in encs:
            assert x_dec(b) is None and native.check(b) == code
    for size in (1, 2, 7, 8, 9, 16, 17, 24):
        for pos in range(size):
            for code, (msg, encs) in BAD_KINDS.items():
                bad = rng.choice(encs)
                native.cache_clear()
                good = [_valid(rng) for _ in range(size)]
                for g in good:  # about half already cached: hits and misses interleaved
                    if rng.random() < 0.5:
                        assert native.check(g) == 0
                pts = list(good)
                pts[pos] = bad
                es = [rng.randrange(2**255) for _ in pts]
                for fn in (native.multi_exp, native.multi_exp_torsion):
                    with pytest.raises(ValueError, match=msg) as exc:
                        fn(pts, es)
                    assert type(exc.value).__name__ == "DecodeFailure"
                    assert native.check(bad) == code  # never cached
                for i, g in enumerate(good):
                    if i != pos:  # decoded, and cached, as the reference decodes it
                        assert native.add(g, IDENTITY) == g and native.scalarmult(g, 1) == g
                pts[pos] = good[pos]
                assert native.multi_exp(pts, es) == x_enc(x_sum([x_dec(p) for p in pts], es))


def test_repeats_small_order_and_half_cached_groups():
    rng = random.Random(1317)
    small = sorted(SMALL_ORDER)
    for size in (2, 8, 9, 16, 33, 100):
        native.cache_clear()
        base = [_valid(rng) for _ in range(3)] + small
        pts = [rng.choice(base) for _ in range(size)]
        for p in rng.sample(pts, size // 3):
            native.check(p)
        es = [rng.randrange(2**255) for _ in pts]
        want = x_sum([x_dec(p) for p in pts], es)
        assert native.multi_exp(pts, es) == x_enc(want)
        assert native.multi_exp_torsion(pts, es) == x_is_id(x_mul(want, 8))
        for p in set(pts):
            assert native.add(p, IDENTITY) == p
    for rot in range(8):  # the 8 small-order points (x = 0 and y = +-1 among them) at every lane of a group of 8
        native.cache_clear()
        pts = small[rot:] + small[:rot]
        es = [rng.randrange(2**255) for _ in pts]
        assert native.multi_exp(pts, es) == x_enc(x_sum([x_dec(p) for p in pts], es))
        assert native.multi_exp_torsion(pts, es) is True


def test_wrong_inputs_are_clean_errors_and_leave_nothing_cached():
    rng = random.Random(1318)
    native.cache_clear()
    good = [_valid(rng) for _ in range(9)]
    for bad in (b"\x01" * 31, b"\x01" * 33, b""):
        with pytest.raises(ValueError, match="expected 32 bytes"):
            native.multi_exp(good + [bad], [1] * 10)
    for bad in ("x" * 32, bytearray(32), memoryview(bytes(32)), None, 5):
        with pytest.raises(TypeError):
            native.multi_exp(good[:3] + [bad] + good[3:], [1] * 10)
    for sc, exc in ((-1, OverflowError), (2**255, OverflowError), (2**256, OverflowError), (1.0, TypeError),
                    ("1", TypeError)):
        with pytest.raises(exc):
            native.multi_exp(good, [1] * 8 + [sc])
        with pytest.raises(exc):
            native.multi_exp_torsion(good, [1] * 8 + [sc])
    with pytest.raises(ValueError, match="length mismatch"):
        native.multi_exp(good, [1])
    with pytest.raises(TypeError):
        native.multi_exp(tuple(good), [1] * 9)
    assert native.multi_exp([], []) == IDENTITY and native.multi_exp_torsion([], []) is True
    assert native.multi_exp(good, [1] * 9) == x_enc(x_sum([x_dec(p) for p in good], [1] * 9))


# ----------------------------------------------------------------------------- [8] sum = O, and the Python layer
def test_multi_exp_torsion_truth_table():
    """Sums that land in E[8] (every order) or just outside it; decided as the reference decides [8] sum = O."""
    rng = random.Random(1319)
    g = get_group("ed25519")
    for trial in range(60):
        n = rng.choice([1, 2, 3, 8, 9, 97])
        encs, ks, js = family(rng, n)
        es = [rng.randrange(L) for _ in range(n)]
        k = sum(a * b for a, b in zip(ks, es)) % L
        if trial % 3 != 2 and k:  # cancel the subgroup part with one more term: a point of E[8] (or O) remains
            encs, ks, js, es = encs + [BASEPOINT], ks + [1], js + [0], es + [L - k]
        if trial % 5 == 0:  # plus one more term of torsion only
            t = rng.randrange(8)
            encs, ks, js, es = encs + [x_enc(TT[t])], ks + [0], js + [t], es + [rng.randrange(1, 2**255)]
        want = expected(ks, js, es)
        in_e8 = x_is_id(x_mul(x_dec(want), 8))
        assert in_e8 == (want in SMALL_ORDER)
        assert native.multi_exp_torsion(encs, es) == in_e8
        terms = list(zip(encs, es))
        assert g.accepts_multi_exp(terms) == g.accepts(g.multi_exp(terms)) == in_e8
        assert holds(g, terms) == g.accepts(evaluate(g, terms)) == in_e8


@pytest.mark.parametrize("name", ["ed25519", "modp"])
def test_holds_with_unreduced_weights_and_merged_bases(name):
    """batch.holds against accepts(evaluate(...)) with repeated bases and exponents far above q."""
    group = get_group(name)
    rng = random.Random(1320)
    elems = [group.exp(group.g, rng.randrange(1, group.q)) for _ in range(5)]
    for _ in range(10):
        xs = [rng.randrange(1, group.q) for _ in range(4)]
        terms = [(group.g, sum(xs) * 7), (elems[0], 3 * group.q + 1)]
        terms += [(group.exp(group.g, x), -7 + rng.randrange(2) * group.q) for x in xs]
        terms += [(elems[0], -1 - 3 * group.q)]
        assert holds(group, terms) is True and group.accepts(evaluate(group, terms)) is True
        off = terms + [(elems[1], rng.randrange(1, group.q))]
        assert holds(group, off) is False and group.accepts(evaluate(group, off)) is False


# ----------------------------------------------------------------------------- verify_partial / combine
@pytest.fixture(scope="module")
def ceremonies():
    out = {}
    for name in ("ed25519", "modp"):
        g = get_group(name)
        result, keys = run_ceremony(CeremonyParams(g, 3, 2, b"e13"))
        pk = PublicKey(g, result.public_key)
        cts = [pk.encrypt(m)[0] for m in (0, 5)]
        good = [partial_decrypt(g, k.index, k.secret, cts, b"t13") for k in keys]
        out[name] = (g, result, keys, cts, good)
    return out


@pytest.mark.parametrize("name", ["ed25519", "modp"])
def test_shifted_shares_proven_with_the_real_secret_are_blamed(ceremonies, name):
    g, result, keys, cts, good = ceremonies[name]
    vk = result.verification_keys[1]
    shifts = [TT[1], TT[2], TT[4]] if name == "ed25519" else [None]  # orders 8, 4, 2; modp: the sign
    for pos in range(len(cts)):
        for t in shifts:
            shares = list(good[0].shares)
            shares[pos] = g.p - shares[pos] if t is None else x_enc(x_add(x_dec(shares[pos]), t))
            proofs = list(good[0].proofs)
            proofs[pos] = ChaumPedersenProof.prove(g, keys[0].secret, g.g, vk, cts[pos].alpha, shares[pos],
                                                   _ctx(b"t13", 1, pos), TAG)
            bad = PartialDecryption(1, tuple(shares), tuple(proofs))
            if name == "ed25519":  # the cofactored equations alone ignore the torsion (the reason for the fix)
                batch = BatchVerifier(g)
                batch.add(1, partial_equations(g, vk, cts, bad, b"t13"))
                assert batch.verify() == []
            assert not verify_partial(g, vk, cts, bad, b"t13")
            out = combine(g, cts, [bad, good[1], good[2]], result.verification_keys, 2, b"t13", 10)
            assert out.plaintexts == (0, 5) and out.blamed == (1,) and out.used == (2, 3)
    assert all(verify_partial(g, result.verification_keys[p.index], cts, p, b"t13") for p in good)


@pytest.mark.parametrize("name", ["ed25519", "modp"])
def test_wrong_or_tampered_partials_are_blamed(ceremonies, name):
    g, result, keys, cts, good = ceremonies[name]
    vk = result.verification_keys[1]
    wrong = g.mul(good[0].shares[0], g.g)
    cases = [
        PartialDecryption(1, (wrong,) + good[0].shares[1:], good[0].proofs),  # wrong share, honest proof
        PartialDecryption(1, good[0].shares[::-1], good[0].proofs),  # swapped shares
        PartialDecryption(1, good[0].shares, good[0].proofs[::-1]),  # swapped proofs
        PartialDecryption(1, good[1].shares, good[1].proofs),  # another trustee's partial under index 1
        PartialDecryption(1, (g.identity,) + good[0].shares[1:], good[0].proofs),
    ]
    if name == "ed25519":  # a share of small order, a share with torsion and its honest proof
        cases.append(PartialDecryption(1, (x_enc(TT[4]),) + good[0].shares[1:], good[0].proofs))
        cases.append(PartialDecryption(1, (x_enc(x_add(x_dec(good[0].shares[0]), TT[2])),) + good[0].shares[1:],
                                       good[0].proofs))
    for bad in cases:
        assert not verify_partial(g, vk, cts, bad, b"t13")
        out = combine(g, cts, [bad, good[1], good[2]], result.verification_keys, 2, b"t13", 10)
        assert out.plaintexts == (0, 5) and out.blamed == (1,)
    assert not verify_partial(g, vk, cts, good[0], b"other context")
