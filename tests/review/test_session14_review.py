"""Session 14 review of 450ac96..HEAD: native transcript hashing (threshold/_hashing.c), weighted batch
verification in C (`_ed25519.weighted_torsion`, `sc_mont`), batched decompression (`checks`, `Ed25519Reader.batched`),
the rewritten Pippenger digits and the two-way decode cache.

Covered here (what the session's own tests leave out):
- weighted_torsion on the Pippenger path (>= 96 merged bases), bases carrying torsion of every order, exponents of
  every sign and size (negative multiples of L, >= 2^256 through the fallback, int subclasses, mpz), in this process
  and in every other arithmetic build (subprocess);
- multi_exp on the Pippenger path with scalars up to 2^255 - 1 (windows past bit 255) and torsion, against the
  pure-Python reference;
- checks() against check() with the bad point in every lane position and a partly warm cache; the two-way decode
  cache under many encodings of one set (same first 16 bytes), an off-curve encoding of that set never accepted;
- hash_to_scalar / encode at the C buffer boundaries: the 512-byte staging buffer (pieces of 511..513 bytes after
  any fill), ints of 63..66 bytes (the 64-byte stack buffer), moduli of 1919..2050 bits (the 256-byte output buffer);
- Ed25519Reader: the same DecodeError (field and message) batched or not for every kind of bad encoding; the reader
  after a failed block (any exception type, nested blocks) owes nothing of it and works again;
- two bugs the review found, fixed since: weighted_torsion kept borrowed references and a capacity counted up front
  across Python callbacks (heap overflow / use-after-free: it now works on a snapshot of the equations); the base
  ElementReader (modp) kept a failed block's elements owed.

Mutation check (review, against the session's tests + this file): caught - sc_reduce_once always subtracting, no
final reduction in sc_mont or sc_add, even weights, the weight's top bit dropped, -L left as L (this file), the
40-byte overflow test from byte 33, the two's complement without +1 (this file), no limb straddle in pip_digits, a
garbage fifth limb (this file), 16-byte cache keys, e[1] read without its used flag, two doublings for [8], zero sums
not skipped, checks() skipping the last point, the stage not flushed or not reset before a direct update, the depth
limit, ell <= 256, k = 120, 0 encoded empty; Python: commitments not checked in a block, a failed block trimming all or
nothing of `pending`, a block of one point not checked, equal weights, the j = 1 g term dropped, inner blocks
checking. Equivalent (not observable): `n > cap` for `n >= cap` in the sink, `i < 3` for `i < 4` in pip_digits (the
fifth limb is zero), always shifting a cache set (performance), the fallback's sign forced positive (Python's % is),
the ballot parsed without its own block (performance), holds_weighted ignoring `unreduced` (ed25519 has none).
Seen only under ASan (this file's boundary tests reach them): a 65-byte int in the 64-byte stack buffer, a 257..272
byte output in the 256-byte buffer of hash_to_scalar.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import gmpy2
import nacl.bindings as sodium
import pytest
from hypothesis import given, settings, strategies as st

from threshold import _hashing
from threshold.batch import check_equations, holds as batch_holds, weights_from
from threshold.encoding import _reference_encode, encode
from threshold.errors import DecodeError
from threshold.groups import _ed25519 as native
from threshold.groups import get_group
from threshold.groups.ed25519 import BASEPOINT, IDENTITY, L, SMALL_ORDER
from threshold.hashing import dst_for, hash_to_scalar

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "threshold"))
from ed25519_reference import P, order8_point, ref_add, ref_decode, ref_encode, ref_mul  # noqa: E402
from rfc9380_reference import oracle_xmd  # noqa: E402

ed = get_group("ed25519")
modp = get_group("modp")
RNG = random.Random(14)
T8 = order8_point()
TORSION = [ref_encode(ref_mul(T8, k)) for k in range(8)]
OFF_CURVE = next(y.to_bytes(32, "little") for y in range(2, 100) if ref_decode(y.to_bytes(32, "little")) is None)


def base_mul(e: int) -> bytes:
    e %= L
    return IDENTITY if e == 0 else sodium.crypto_scalarmult_ed25519_base_noclamp(e.to_bytes(32, "little"))


def add(a: bytes, b: bytes) -> bytes:
    return ref_encode(ref_add(ref_decode(a), ref_decode(b)))


def point(x: int, k: int) -> bytes:
    """[x]B + [k]T8: a base of known discrete log with a torsion part of any order."""
    return add(base_mul(x), TORSION[k])


# ----------------------------------------------------------------------------- weighted_torsion

BIG_EXPONENTS = [0, 1, -1, L - 1, L, -L, 2 * L, -(2**300) * L, 2**255 - 1, 2**256 - 1, -(2**256 - 1), 2**256, -(2**256),
                 2**319 - 1, -(2**319), 2**319, 2**400 + 3, -(2**700) - 5]


def weighted_case(rng: random.Random, n_bases: int, n_eqs: int, terms_per_eq: int):
    """Equations over n_bases bases [x_i]B + T (torsion of any order), their weights' randomness, and the closing
    exponent c of the basepoint (weight of the last 16 bytes) that makes [8] of the weighted product the identity."""
    xs = [rng.randrange(1, L) for _ in range(n_bases)]
    bases = [point(x, rng.randrange(8)) for x in xs]
    eqs, logs = [], []
    for _ in range(n_eqs):
        eq, log = [], 0
        for _ in range(terms_per_eq):
            i = rng.randrange(n_bases)
            e = rng.choice(BIG_EXPONENTS) if rng.random() < 0.2 else rng.randrange(-(2**260), 2**260)
            eq.append((bases[i], e))
            log += e * xs[i]
        eqs.append(eq)
        logs.append(log)
    randomness = rng.randbytes(16 * (n_eqs + 1))
    ws = weights_from(randomness)
    total = sum(w * lg for w, lg in zip(ws, logs)) % L
    c = -total * pow(ws[-1], -1, L) % L
    return eqs, randomness, c


@pytest.mark.parametrize("n_bases, n_eqs, terms", [(100, 40, 6), (260, 60, 9), (97, 97, 1), (5, 30, 3)])
def test_weighted_torsion_many_bases_with_torsion(n_bases, n_eqs, terms):
    """The Pippenger path (>= 96 merged bases) and the Straus path: exact cancellation holds under any representative
    of the closing exponent; one basepoint more does not."""
    rng = random.Random(n_bases * 1000 + n_eqs)
    eqs, rnd, c = weighted_case(rng, n_bases, n_eqs, terms)
    for rep in (c, c - L, c + (2**300) * L, c - (2**300) * L):
        assert native.weighted_torsion(eqs + [[(BASEPOINT, rep)]], rnd, L)
    assert not native.weighted_torsion(eqs + [[(BASEPOINT, c + 1)]], rnd, L)
    assert not native.weighted_torsion(eqs + [[(BASEPOINT, c), (eqs[0][0][0], L + 1)]], rnd, L)


def test_weighted_torsion_negative_multiples_of_L_leave_a_base_out():
    """A base whose exponents sum to 0 mod L is left out whatever their signs (no decoding, no [L]-multiple of it):
    -L, -k L and pairs cancelling through a negative exponent, as +L is."""
    one, three = bytes(16), b"\x01" + bytes(15)
    for e in (L, -L, 2 * L, -2 * L, -(2**300) * L, 0, -0):
        assert native.weighted_torsion([[(OFF_CURVE, e)]], one, L), e
    assert native.weighted_torsion([[(OFF_CURVE, -3)], [(OFF_CURVE, 1)]], one + three, L)
    assert native.weighted_torsion([[(OFF_CURVE, -L - 3)], [(OFF_CURVE, 2**256 * L + 1)]], one + three, L)
    with pytest.raises(native.DecodeFailure):
        native.weighted_torsion([[(OFF_CURVE, -L - 1)]], one, L)



POOL_LOGS = [0, 0, 1, 2, 3, L - 1, 12345, 2**200 + 7]
POOL = [IDENTITY, TORSION[4], BASEPOINT] + [point(x, k) for x, k in zip(POOL_LOGS[3:], (1, 2, 3, 5, 7))]
LOGS = [0, 0, 1] + POOL_LOGS[3:]


@settings(max_examples=120, deadline=None)
@given(terms=st.lists(st.lists(st.tuples(st.integers(0, len(POOL) - 1), st.sampled_from(BIG_EXPONENTS)
                                         | st.integers(-(2**300), 2**300)), max_size=6), min_size=1, max_size=6),
       rnd=st.binary(min_size=16 * 7, max_size=16 * 7), close=st.booleans(), nudge=st.sampled_from([0, 0, 1, L, -L]))
def test_weighted_torsion_equals_the_python_batch(terms, rnd, close, nudge):
    """weighted_torsion == threshold.batch.holds of the terms weighted in Python (weights_from), with the identity,
    small-order points and torsioned points among the bases, closed to the identity or not."""
    eqs = [[(POOL[i], e) for i, e in eq] for eq in terms]
    rnd = rnd[:16 * (len(eqs) + 1)]
    ws = weights_from(rnd)
    if close:
        total = sum(w * e * LOGS[i] for w, eq in zip(ws, terms) for i, e in eq) % L
        eqs.append([(BASEPOINT, -total * pow(ws[-1], -1, L) + nudge)])
    else:
        rnd = rnd[:16 * len(eqs)]
    expected = batch_holds(ed, [(b, e * w) for eq, w in zip(eqs, weights_from(rnd)) for b, e in eq])
    assert native.weighted_torsion(eqs, rnd, L) is expected
    if close:
        assert expected is (nudge % L == 0)

class Big(int):
    pass


def test_weighted_torsion_exponent_types():
    """int subclasses (also beyond 2^319: the fallback's remainder), bool and gmpy2 mpz weigh as their int value."""
    x = 12345
    p = point(x, 3)
    rnd = bytes(range(16))
    for e in (Big(7), Big(2**400 + 7), Big(-(2**400) + 7), gmpy2.mpz(2**500 + 7), gmpy2.mpz(-(2**500) + 7), True):
        v = int(e)
        assert native.weighted_torsion([[(p, e), (BASEPOINT, -v * x)]], rnd, L), type(e)
        assert not native.weighted_torsion([[(p, e), (BASEPOINT, -v * x + 1)]], rnd, L), type(e)


def test_batch_of_cancelling_false_equations_is_refused():
    """Two false equations whose errors cancel unweighted, merged through the same base: refused (odd independent
    weights), also among many true ones."""
    p = point(777, 0)
    true_eq = [(p, 5), (BASEPOINT, -5 * 777)]
    for k in range(3):
        eqs = [true_eq] * k + [[(p, 1), (BASEPOINT, -777 + 1)], [(p, 1), (BASEPOINT, -777 - 1)]] + [true_eq] * k
        assert not check_equations(ed, eqs)
        assert check_equations(ed, [true_eq] * (k + 2))


WEIGHTED_PROG = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, sys.argv[1])
    from threshold.groups import _ed25519 as native
    from threshold.groups.ed25519 import L
    cases = json.load(sys.stdin)
    out = []
    for eqs, rnd in cases:
        eqs = [[(bytes.fromhex(p), int(e)) for p, e in eq] for eq in eqs]
        out.append(native.weighted_torsion(eqs, bytes.fromhex(rnd), L))
    print(json.dumps({"arith": native.ARITH, "out": out}))
""")


@pytest.mark.parametrize("arith", ["portable", "adx", "ifma"])
def test_weighted_torsion_every_build(arith):
    rng = random.Random(arith)
    cases, expected = [], []
    for n_bases, n_eqs, terms in [(100, 30, 5), (8, 10, 3)]:
        eqs, rnd, c = weighted_case(rng, n_bases, n_eqs, terms)
        for delta, ok in ((0, True), (1, False)):
            full = eqs + [[(BASEPOINT, c + delta)]]
            cases.append(([[[p.hex(), str(e)] for p, e in eq] for eq in full], rnd.hex()))
            expected.append(ok)
    env = {**os.environ, "QUORUM_ED25519_ARITH": arith, "PYTHONPATH": str(ROOT)}
    res = subprocess.run([sys.executable, "-c", WEIGHTED_PROG, str(ROOT)], env=env, cwd=ROOT, capture_output=True,
                         text=True, timeout=300, input=json.dumps(cases))
    if res.returncode and "this machine or build has no" in res.stderr:
        pytest.skip(f"{arith} not available here")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["arith"] == arith and out["out"] == expected


REENTRANT_PROG = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[1])
    from threshold.groups import _ed25519 as native
    from threshold.groups.ed25519 import L, BASEPOINT
    import nacl.bindings as sodium
    pts = [sodium.crypto_scalarmult_ed25519_base_noclamp(k.to_bytes(32, "little")) for k in range(2, 402)]
    eq = []
    class Grow:
        def __index__(self):  # runs inside weighted_torsion, after it counted the equation's terms
            eq.extend((p, 1) for p in pts)
            return 0
    eq.append((BASEPOINT, Grow()))
    try:
        print(native.weighted_torsion([eq], bytes(16), L))
    except Exception as exc:
        print("raised", type(exc).__name__)
""")


def test_weighted_torsion_survives_an_exponent_that_mutates_its_equation():
    """Expected: the equations as they were when the call started (the exponent 0 leaves the only base out: True),
    or a Python exception; never the appended terms, written past the buffers sized for one term."""
    res = subprocess.run([sys.executable, "-c", REENTRANT_PROG, str(ROOT)], cwd=ROOT, capture_output=True, text=True,
                         timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip() == "True" or res.stdout.startswith("raised"), res.stdout


# ----------------------------------------------------------------------------- Pippenger digits

def test_multi_exp_pippenger_scalars_up_to_2_255_with_torsion():
    """Scalars of every top bit up to 254 (get_scalar's bound, beyond 2^253 the windows' cost model assumes): the
    digits of the last windows, read past bit 255 from the zero fifth limb, and the torsion part (s mod 8) exact."""
    rng = random.Random(255)
    n = 120
    xs = [rng.randrange(L) for _ in range(n)]
    ks = [rng.randrange(8) for _ in range(n)]
    pts = [point(x, k) for x, k in zip(xs, ks)]
    T = [ref_decode(t) for t in TORSION]
    for kind in ("top", "near", "mixed", "limb-edges"):
        if kind == "top":
            ss = [2**255 - 1 - rng.randrange(2**16) for _ in range(n)]
        elif kind == "near":
            ss = [rng.randrange(2**253, 2**255) for _ in range(n)]
        elif kind == "mixed":
            ss = [rng.randrange(2 ** rng.randrange(1, 256)) for _ in range(n)]
        else:
            ss = [rng.choice([2**64 - 1, 2**64, 2**128 - 1, 2**192 + 2**191, 2**254, 0, 1]) for _ in range(n)]
        got = native.multi_exp(pts, ss)
        tor = sum(s * k for s, k in zip(ss, ks)) % 8
        expected = ref_encode(ref_add(ref_decode(base_mul(sum(s * x for s, x in zip(ss, xs)))), T[tor]))
        assert got == expected, kind
    with pytest.raises(OverflowError):
        native.multi_exp(pts, [2**255] + ss[1:])


# ----------------------------------------------------------------------------- checks() and the decode cache

def same_set_encodings(count: int) -> tuple[list[bytes], list[bytes]]:
    """Curve points and off-curve encodings sharing their first 16 bytes: one set of the two-way cache each."""
    prefix = os.urandom(16)
    good, bad = [], []
    while len(good) < count or len(bad) < 3:
        enc = prefix + os.urandom(15) + bytes([RNG.randrange(0x70)])
        (good if ref_decode(enc) is not None else bad).append(enc)
    return good[:count], bad[:3]


def test_two_way_cache_under_one_set():
    native.cache_clear()
    good, bad = same_set_encodings(7)
    for rounds in range(3):
        for enc in good + bad:
            assert native.check(enc) == (0 if enc in good else 2)
        assert native.checks(good + bad + good[::-1]) == [0] * 7 + [2] * 3 + [0] * 7
    for i, enc in enumerate(good):  # decodings from the cache are the points themselves
        assert native.multi_exp([enc], [1]) == enc
        assert native.multi_exp([enc, good[i - 1]], [1, 1]) == add(enc, good[i - 1])
    for b in bad:  # never accepted from a set holding valid neighbours
        assert native.check(b) == 2
        with pytest.raises(native.DecodeFailure):
            native.multi_exp([good[0], b], [1, 1])


def test_checks_bad_point_in_every_lane_position():
    goods = [ed.exp_g(RNG.randrange(1, L)) for _ in range(17)]
    bads = [OFF_CURVE, (P + 1).to_bytes(32, "little"), (1 | 1 << 255).to_bytes(32, "little")]
    for warm in (False, True):
        for pos in range(17):
            native.cache_clear()
            if warm:
                native.checks(goods[::3])
            encs = goods[:pos] + [bads[pos % 3]] + goods[pos:]
            assert native.checks(encs) == [native.check(e) for e in encs] == \
                [0] * pos + [(2, 1, 3)[pos % 3]] + [0] * (17 - pos)
    assert native.checks(goods[:3] * 4) == [0] * 12


# ----------------------------------------------------------------------------- hashing boundaries

def oracle_h2s(q: int, tag: str, items: tuple) -> int:
    length = -(-(q.bit_length() + 128) // 8)
    return int.from_bytes(oracle_xmd(_reference_encode(items), dst_for(tag), length), "big") % q


@pytest.mark.parametrize("fill", [0, 1, 9, 100, 493, 494, 502, 503, 511])
def test_hash_to_scalar_pieces_around_the_staging_buffer(fill):
    """Pieces of 511..513 (and 1000, 5000) bytes after a stage holding any amount: the flush, then the direct update."""
    q = ed.q
    for size in (0, 1, 502, 503, 511, 512, 513, 1000, 5000):
        items = (b"a" * fill, bytes(range(256)) * (size // 256) + b"z" * (size % 256), "s", 7)
        assert hash_to_scalar(q, "stage", *items) == oracle_h2s(q, "stage", items)
        assert encode(*items) == _reference_encode(items)


def test_ints_around_the_stack_buffer():
    q = modp.q
    values = [2**(8 * n) - 1 for n in range(60, 68)] + [2**(8 * n) for n in range(60, 68)] + [2**(8 * n - 1) for n in range(60, 68)]
    for v in values:
        for items in ((v,), ([v, b"x" * 600],), ("é", [[v]], v)):
            assert _hashing.encode(items) == _reference_encode(items)
            assert hash_to_scalar(q, "ints", *items) == oracle_h2s(q, "ints", items)


@pytest.mark.parametrize("bits", [1, 2, 127, 128, 129, 1919, 1920, 1921, 1927, 1928, 2040, 2048, 2049, 2050, 4095,
                                  8 * 8160 - 128 - 7])
def test_hash_to_scalar_moduli_around_the_output_buffer(bits):
    """Output lengths around 256 bytes (the stack buffer of hash_to_scalar) and up to the RFC's 8160."""
    for q in {2**(bits - 1) + 1, 2**bits - 1, (2**bits - 1) | 1}:
        if q <= 0:
            continue
        items = (b"x", [q.bit_length()], "m")
        assert hash_to_scalar(q, "mod", *items) == oracle_h2s(q, "mod", items)


@settings(max_examples=60, deadline=None)
@given(items=st.lists(st.one_of(st.binary(min_size=400, max_size=1100), st.integers(0, 2**4200),
                                st.lists(st.binary(max_size=600), max_size=3)), max_size=4))
def test_hash_to_scalar_large_items(items):
    for q in (ed.q, modp.q):
        assert hash_to_scalar(q, "large", *items) == oracle_h2s(q, "large", tuple(items))


# ----------------------------------------------------------------------------- the batched reader

def bad_encodings() -> dict[str, bytes]:
    out = {"off": OFF_CURVE, "y=p": P.to_bytes(32, "little"), "y=p+1": (P + 1).to_bytes(32, "little"),
           "identity-signed": (1 | 1 << 255).to_bytes(32, "little"), "(0,-1)-signed": ((P - 1) | 1 << 255).to_bytes(32, "little"),
           "identity": IDENTITY, "basepoint": BASEPOINT, "torsioned": point(5, 3)}
    out.update({f"small{i}": s for i, s in enumerate(sorted(SMALL_ORDER))})
    return out


def outcome(f):
    try:
        return ("ok", f())
    except DecodeError as exc:
        return (exc.field, exc.message)


@pytest.mark.parametrize("kind", ["commitment", "element", "key"])
@pytest.mark.parametrize("allow", [False, True])
def test_batched_and_unbatched_reads_refuse_alike(kind, allow):
    """The same DecodeError (field and message), or the same value, with or without a block: only when the
    check runs changes. Also for hex that is no 32-byte lowercase hex."""
    texts = {k: v.hex() for k, v in bad_encodings().items()}
    texts.update({"upper": BASEPOINT.hex().upper(), "short": BASEPOINT.hex()[:62], "int": 5})
    for name, text in texts.items():
        def plain():
            r = ed.reader()
            return r.key(text, "f") if kind == "key" else getattr(r, kind)(text, "f", allow)

        def batched():
            r = ed.reader()
            with r.batched():
                return r.key(text, "f") if kind == "key" else getattr(r, kind)(text, "f", allow)
        assert outcome(plain) == outcome(batched), name


@pytest.mark.parametrize("exc", [DecodeError("later", "bad"), KeyError("k"), ValueError("v")])
def test_a_reader_after_a_failed_block(exc):
    """Whatever the exception, a failed block (also from an inner block) owes finish() nothing, leaves no block
    open, and the reader reads and finishes as usual afterwards."""
    good = [ed.exp_g(k) for k in (3, 5, 7)]
    reader = ed.reader()
    reader.element(good[0].hex(), "before")
    with pytest.raises(type(exc)):
        with reader.batched():
            reader.element(good[1].hex(), "in-outer")
            with reader.batched():
                reader.element(good[2].hex(), "in-inner")
                reader.element(OFF_CURVE.hex(), "off")  # never checked: the block fails first
                raise exc
    assert [f for _, f in reader.pending] == ["before"] and reader.failure is None
    assert reader._points == reader._fields == [] and reader._open == 0
    with pytest.raises(DecodeError, match="not a point") as err:
        with reader.batched():
            reader.element(good[1].hex(), "x")
            reader.commitment(OFF_CURVE.hex(), "c")
    assert err.value.field == "c" and [f for _, f in reader.pending] == ["before"]
    with reader.batched():
        assert reader.element(good[2].hex(), "after") == good[2]
    assert [f for _, f in reader.pending] == ["before", "after"]
    reader.finish()
    assert reader.pending == []


def test_a_failed_block_of_a_non_member_owes_finish_nothing_ed25519():
    """Non-member (torsioned) points read in a block that fails for another reason are not tested by finish()."""
    reader = ed.reader()
    with pytest.raises(DecodeError):
        with reader.batched():
            reader.element(point(9, 1).hex(), "torsioned")
            raise DecodeError("other", "bad")
    reader.finish()


def test_a_failed_block_of_a_non_member_owes_finish_nothing_modp():
    x = (4).to_bytes(modp.element_bytes, "big")  # a quadratic residue outside the order-q subgroup
    assert pow(4, modp.q, modp.p) != 1
    reader = modp.reader()
    with pytest.raises(DecodeError):
        with reader.batched():
            reader.element_bytes(x, "failed.x")
            raise DecodeError("failed.y", "bad")
    assert reader.pending == []
    reader.finish()


def test_decode_many_names_a_bad_field_and_keeps_order():
    items = [(ed.exp_g(k), f"e[{k}]") for k in range(1, 12)]
    assert ed.decode_many(items) == [x for x, _ in items]
    for pos in (0, 5, 10):
        bad = list(items)
        bad[pos] = (OFF_CURVE, f"e[{pos + 1}]")
        with pytest.raises(DecodeError) as err:
            ed.decode_many(bad)
        assert err.value.field == f"e[{pos + 1}]" and "not a point" in err.value.message
