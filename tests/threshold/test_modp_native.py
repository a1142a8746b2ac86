"""The native modp multi-exponentiation (threshold/groups/_modp.c): agreement with gmpy2 and a clean
error, never a crash or a wrong answer, for every malformed input at its Python boundary."""

from __future__ import annotations

import os
import threading

import gmpy2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from threshold.groups._modp import Modulus
from threshold.groups.modp import _NATIVE, ARITH_ENV, P

SMALL = 2**127 - 1  # a Mersenne prime: two limbs, odd


def _runs(name: str) -> bool:
    try:
        Modulus(SMALL, arith=name)
        return True
    except ValueError:
        return False


ARITHS = [name for name in ("openssl", "avx2", "ifma") if _runs(name)]  # what this CPU can run, forced
BEST = ARITHS[-1]  # Modulus(P)'s default: the fastest of them
GROUP_ARITH = os.environ.get(ARITH_ENV) or BEST  # the modp group's (_NATIVE): $QUORUM_MODP_ARITH may force another
LIMIT = {"openssl": 16384, "avx2": 4174, "ifma": 4157}  # the largest p each takes, in bits


def naive(bases, exps, p):
    acc = gmpy2.mpz(1)
    for b, e in zip(bases, exps):
        acc = acc * gmpy2.powmod(b, e, p) % p
    return acc


@settings(max_examples=40, deadline=None)
@given(data=st.lists(st.tuples(st.integers(0, SMALL - 1), st.integers(0, 2**300)), max_size=40),
       method=st.sampled_from([0, 1, 2, 3]), arith=st.sampled_from(ARITHS))
def test_any_odd_modulus_any_method(data, method, arith):
    """Bases 0 and 1, zero exponents, repeated bases, exponents far above the modulus: all exact (a 127-bit
    modulus stays on OpenSSL's arithmetic by default; forced, the SIMD ones take it too)."""
    bases, exps = [b for b, _ in data], [e for _, e in data]
    assert Modulus(SMALL).arith == "openssl"
    assert Modulus(SMALL).multi_exp(bases, exps, method) == naive(bases, exps, SMALL)
    assert Modulus(SMALL, arith=arith).multi_exp(bases, exps, method) == naive(bases, exps, SMALL)


@settings(max_examples=25, deadline=None)
@given(bits=st.sampled_from([65, 1000, 2559, 2560, 4095, 4096, 4157, 4158, 6000]), seed=st.integers(0, 2**32),
       n=st.integers(1, 70), method=st.sampled_from([0, 1, 2, 3]))
def test_both_arithmetics_agree_with_gmp_near_their_limits(bits, seed, n, method):
    """Random odd moduli below the IFMA range (2560 to 4157 bits, where it beats OpenSSL; 4p < 2^4160), in it and
    beyond it, bases near p (the almost-Montgomery products stay below 2p and are reduced once at the end),
    exponents of every size a verifier uses."""
    import random

    rnd = random.Random(seed)
    p = rnd.getrandbits(bits) | 1 | (1 << (bits - 1))
    bases = [rnd.choice([p - 1, p - 2, 1, 0, rnd.randrange(p)]) for _ in range(n)]
    exps = [rnd.choice([1, 2**129 - 1, rnd.getrandbits(129), rnd.getrandbits(385), rnd.getrandbits(256)]) for _ in range(n)]
    want = naive(bases, exps, p)
    fast, plain = Modulus(p), Modulus(p, arith="openssl")
    assert (fast.arith == "ifma") == (2560 <= bits <= 4157 and BEST == "ifma")
    assert fast.multi_exp(bases, exps, method) == plain.multi_exp(bases, exps, method) == want
    for arith in ARITHS:
        if bits <= LIMIT[arith]:
            assert Modulus(p, arith=arith).multi_exp(bases, exps, method) == want, arith
        else:
            with pytest.raises(ValueError, match=f"arith='{arith}' needs"):
                Modulus(p, arith=arith)


@pytest.mark.parametrize("bits", [65, 2560, 3583, 3584, 4096, 4157, 4158, 4174, 4175, 6000])
def test_default_arithmetic_by_cpu_and_size(bits):
    """The default is the fastest arithmetic that takes p: IFMA from 2560 to 4157 bits, else AVX2 from 3584 to 4174
    bits (its fixed 144 limbs lose to OpenSSL's product sized to p below), else OpenSSL."""
    p = (1 << (bits - 1)) | 12345
    if "ifma" in ARITHS and 2560 <= bits <= 4157:
        want = "ifma"
    elif "avx2" in ARITHS and 3584 <= bits <= 4174:
        want = "avx2"
    else:
        want = "openssl"
    assert Modulus(p).arith == want and Modulus(p, arith="openssl").arith == "openssl"


def test_native_arithmetic_names_the_default():
    from threshold.groups.modp import native_arithmetic

    assert _NATIVE.arith == GROUP_ARITH
    assert native_arithmetic() == {"ifma": "AVX-512 IFMA", "avx2": "AVX2", "openssl": "OpenSSL"}[GROUP_ARITH]


def test_arith_argument_errors():
    with pytest.raises(ValueError, match="arith must be"):
        Modulus(int(P), arith="sse2")
    with pytest.raises(TypeError):
        Modulus(int(P), simd=False)  # the one way to choose is arith
    with pytest.raises(TypeError):
        Modulus(int(P), arith=2)
    with pytest.raises(AttributeError):
        _NATIVE.arith = "openssl"
    assert Modulus(int(P), arith=None).arith == BEST


# Operands of one product: 0, 1, 2, p-1, p-2 (p = 2^4096 - small: values near 2^4096), (p+1)/2, 2^4095, random.
EDGE = [0, 1, 2, int(P) - 1, int(P) - 2, (int(P) + 1) // 2, 1 << 4095, int(P) - (1 << 64)]


@settings(max_examples=60, deadline=None)
@given(a=st.one_of(st.sampled_from(EDGE), st.integers(0, int(P) - 1)),
       b=st.one_of(st.sampled_from(EDGE), st.integers(0, int(P) - 1)), arith=st.sampled_from(ARITHS))
def test_one_product_every_arithmetic(a, b, arith):
    """a b, a^2, a^3 b^2 mod p through each arithmetic forced (conversion in, one to four products, conversion out
    with its final subtraction) against gmpy2, for edge and random operands."""
    m = Modulus(int(P), arith=arith)
    assert m.multi_exp([a, b], [1, 1], 1) == a * b % P
    assert m.multi_exp([a], [2], 1) == a * a % P
    assert m.multi_exp([a, b], [3, 2], 1) == gmpy2.powmod(a, 3, P) * gmpy2.powmod(b, 2, P) % P
    assert m.comb(a, 1).exp(1) == a and m.comb(b, 1).exp(2) == b * b % P


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32), n=st.sampled_from([1, 2, 15, 16, 17, 64, 200]), method=st.sampled_from([0, 1, 2, 3]),
       arith=st.sampled_from(ARITHS))
def test_every_method_every_arithmetic(seed, n, method, arith):
    """Verification-shaped multi-exponentiations (129- to 385-bit exponents, bases near p) on each arithmetic forced."""
    import random

    rnd = random.Random(seed)
    bases = [rnd.choice([P - 1, 1, 0, rnd.randrange(P)]) for _ in range(n)]
    exps = [rnd.choice([0, 1, rnd.getrandbits(129), rnd.getrandbits(256), rnd.getrandbits(385)]) for _ in range(n)]
    assert Modulus(int(P), arith=arith).multi_exp(bases, exps, method) == naive(bases, exps, P)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32), n=st.integers(16, 90),
       shape=st.sampled_from(["ties", "equal", "dominant", "ones", "mixed", "wide"]))
def test_bos_coster_on_the_exponent_shapes_that_steer_it(seed, n, shape):
    """Bos-Coster (method 3, and what method 0 picks from 16 terms on OpenSSL's arithmetic, 24 on IFMA) against gmpy2 where
    its steps branch: exponents equal in their 64-bit heap summary but not in full (the larger one may sit below
    the root), equal exponents (a term leaves at 0), one exponent 16 or more bits above the rest (raised alone),
    all ones, a verifier's mix of 129- and 385-bit exponents, and exponents beyond 1024 bits (Pippenger)."""
    import random

    rnd = random.Random(seed)
    exps = {
        "ties": lambda: 2**300 + 2**200 + rnd.getrandbits(40),
        "equal": lambda: 2**255 + 12345,
        "dominant": lambda: rnd.choice([rnd.getrandbits(20) + 1, 2**700 + rnd.getrandbits(600)]),
        "ones": lambda: 1,
        "mixed": lambda: rnd.choice([rnd.getrandbits(128) * 2 + 1, rnd.getrandbits(385)]),
        "wide": lambda: rnd.getrandbits(1100),
    }[shape]
    es = [exps() for _ in range(n)]
    bases = [rnd.choice([P - 1, 1, rnd.randrange(P)]) for _ in range(n)]
    want = naive(bases, es, P)
    plain = Modulus(int(P), arith="openssl")
    assert plain.multi_exp(bases, es, 3) == plain.multi_exp(bases, es, 0) == _NATIVE.multi_exp(bases, es, 3) == want


def test_edge_values_in_the_4096_bit_group():
    assert _NATIVE.multi_exp([], []) == 1
    assert _NATIVE.multi_exp([P - 1, 5], [3, 0]) == P - 1
    assert _NATIVE.multi_exp([0, 7], [1, 1]) == 0
    assert _NATIVE.multi_exp([gmpy2.mpz(3)], [gmpy2.mpz(2**4096)]) == gmpy2.powmod(3, 2**4096, P)


@pytest.mark.parametrize("bases, exps, match", [
    ([P], [1], "base 0 is not in 0..p-1"),
    ([-1], [1], "base 0 is not in 0..p-1"),
    ([2, 2**5000], [1, 1], "base 1 is not in 0..p-1"),
    ([2], [-1], "exponent 0 is negative"),
    ([2], [2**(2**20 + 1)], "more than 2\\^20 bits"),
    ([2, 3], [1], "differ in length"),
])
def test_bad_inputs_raise_value_error(bases, exps, match):
    with pytest.raises(ValueError, match=match):
        _NATIVE.multi_exp(bases, exps)


def test_bad_types_and_arguments():
    with pytest.raises(TypeError):
        _NATIVE.multi_exp([2.5], [1])
    with pytest.raises(TypeError):
        _NATIVE.multi_exp([2], ["1"])
    with pytest.raises(TypeError):
        _NATIVE.multi_exp(5, [1])
    with pytest.raises(ValueError, match="method"):
        _NATIVE.multi_exp([2], [1], 4)
    for bad in (2**128, -(2**127 - 1), 15):
        with pytest.raises(ValueError, match="odd integer"):
            Modulus(bad)
    with pytest.raises(TypeError):
        Modulus(gmpy2.mpz(SMALL))  # an int only: the constants are built once, from exact data
    with pytest.raises(TypeError, match="immutable"):
        _NATIVE.__init__(SMALL)


@pytest.mark.parametrize("arith", ARITHS)
def test_threads_share_one_modulus(arith):
    """The GIL is released while computing: concurrent calls on one Modulus must not share scratch."""
    modulus = Modulus(int(P), arith=arith)
    bases = [gmpy2.powmod(3, i + 2, P) for i in range(20)]
    exps = [2**200 + 7 * i for i in range(20)]
    want = naive(bases, exps, P)
    results = []

    def work():
        results.extend(modulus.multi_exp(bases, exps, m) for m in (1, 2))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [want] * 8


@pytest.mark.parametrize("arith", ARITHS)
def test_comb_and_products_match_powmod(arith):
    """On every arithmetic this CPU has, bases near p included."""
    modulus = Modulus(int(P), arith=arith)
    h = gmpy2.powmod(5, 2 * 12345, P)
    comb = modulus.comb(int(h), 32)
    for e in (0, 1, 255, 256, 2**256 - 1, 2**200 + 2**8):
        assert comb.exp(e) == gmpy2.powmod(h, e, P)
    g2 = modulus.comb(3, 2)
    got = modulus.products([[], [(comb, 7)], [(comb, 2**255), (g2, 65535), (comb, 1)]])
    assert got == [1, gmpy2.powmod(h, 7, P), gmpy2.powmod(h, 2**255 + 1, P) * gmpy2.powmod(3, 65535, P) % P]
    top = modulus.comb(int(P) - 1, 1)
    assert [top.exp(e) for e in (0, 1, 2, 255)] == [1, P - 1, 1, P - 1]
    # a term's public bound in bytes: only those rows of the table (a vote's g^m: 2 bytes of 32)
    short = modulus.products([[(comb, 0, 2)], [(comb, 65535, 2), (g2, 9)], [(comb, 200, 1)], [(comb, 2**255, 32)]])
    assert short == [1, gmpy2.powmod(h, 65535, P) * gmpy2.powmod(3, 9, P) % P, gmpy2.powmod(h, 200, P),
                     gmpy2.powmod(h, 2**255, P)]


@pytest.mark.parametrize("arith", ARITHS)
def test_comb_reaches_every_entry_of_every_row(arith):
    """Every window's digit takes every value at every row, 0 and all ones included (5-bit windows; 6-bit over
    entries packed as 32-bit words on AVX2), and the comb says its window and the products its build took."""
    comb = Modulus(int(P), arith=arith).comb(7, 32)
    w = comb.bits
    rows = -(-256 // w)
    assert w == (6 if arith == "avx2" else 5) and comb.build_products == rows * (2**w - 1)
    for d in range(2**w):
        e = sum((d + 7 * i) % 2**w << w * i for i in range(rows)) % 2**256
        assert comb.exp(e) == gmpy2.powmod(7, e, P), d


@settings(max_examples=40, deadline=None)
@given(bits=st.sampled_from([65, 2560, 4096, 4157, 4174]), seed=st.integers(0, 2**32), nbytes=st.integers(1, 64),
       arith=st.sampled_from(ARITHS))
def test_constant_time_exponentiation_agrees_with_gmp(bits, seed, nbytes, arith):
    """ct_exp on every arithmetic that takes the modulus: bases near p, exponents of every length up to nbytes,
    the all-zero and all-ones ones (a zero nibble on top, or every nibble selecting entry 15)."""
    import random

    rnd = random.Random(seed)
    p = rnd.getrandbits(bits) | 1 | (1 << (bits - 1))
    if bits > LIMIT[arith]:
        return
    m = Modulus(p, arith=arith)
    top = 256**nbytes - 1
    for base in (0, 1, 2, p - 1, p - 2, rnd.randrange(p)):
        for e in (0, 1, 15, 16, top, top >> 4, rnd.randrange(256**nbytes)):
            assert m.ct_exp(base, e, nbytes) == pow(base, e, p), (base, e)


def test_constant_time_exponentiation_bad_inputs():
    for base in (P, -3, 2**5000):
        with pytest.raises(ValueError, match="base is not in 0..p-1"):
            _NATIVE.ct_exp(base, 1, 32)
    for e in (-1, 2**256):
        with pytest.raises(ValueError, match="exponent must be in 0..2\\^256 - 1"):
            _NATIVE.ct_exp(3, e, 32)
    for nbytes in (0, 513, -1):
        with pytest.raises(ValueError, match="nbytes"):
            _NATIVE.ct_exp(3, 1, nbytes)
    for args in (("3", 1, 32), (3, 1.5, 32), (3, 1, "32"), (3, 1)):
        with pytest.raises(TypeError):
            _NATIVE.ct_exp(*args)
    assert _NATIVE.ct_exp(gmpy2.mpz(3), gmpy2.mpz(5), 1) == 243  # gmpy2's integers are read as ints


def test_comb_bad_inputs():
    comb = _NATIVE.comb(3, 2)
    for bad in (-1, 2**16):
        with pytest.raises(ValueError, match="exponent must be in 0..2\\^16 - 1"):
            comb.exp(bad)
    with pytest.raises(TypeError):
        comb.exp(1.5)
    for base in (P, -3, 2**5000):
        with pytest.raises(ValueError, match="base is not in 0..p-1"):
            _NATIVE.comb(base, 2)
    with pytest.raises(TypeError):
        _NATIVE.comb("3", 2)
    for rows in (0, 257):
        with pytest.raises(ValueError, match="rows"):
            _NATIVE.comb(3, rows)
    other = Modulus(SMALL).comb(3, 2)
    with pytest.raises(ValueError, match="another modulus"):
        _NATIVE.products([[(other, 1)]])
    for bad in ([[(comb,)]], [[(3, 1)]], [[[comb, 1]]], [5], 5):
        with pytest.raises(TypeError):
            _NATIVE.products(bad)
    with pytest.raises(ValueError, match="exponent"):
        _NATIVE.products([[(comb, 1)], [(comb, -2)]])
    for nbytes in (0, 3, -1, 2**70, "2", None):  # the comb has 2 rows: a bound of 1 or 2 exponent bytes
        with pytest.raises(ValueError, match="exponent bytes must be in 1..2"):
            _NATIVE.products([[(comb, 1, nbytes)]])
    with pytest.raises(ValueError, match="exponent must be in 0..2\\^8 - 1"):  # beyond its stated bound
        _NATIVE.products([[(comb, 256, 1)]])


def test_the_arithmetic_can_be_forced_by_environment() -> None:
    """$QUORUM_MODP_ARITH picks the modp group's arithmetic at import (each one this CPU offers); a name it cannot
    run is an error naming the variable, not a silent fallback."""
    import os
    import subprocess
    import sys

    probe = "from threshold.groups.modp import native_arithmetic; print(native_arithmetic())"
    names = {"openssl": "OpenSSL", "avx2": "AVX2", "ifma": "AVX-512 IFMA"}
    for arith, shown in names.items():
        try:
            Modulus(int(P), arith=arith)
        except ValueError:
            continue
        out = subprocess.run([sys.executable, "-c", probe], env={**os.environ, "QUORUM_MODP_ARITH": arith},
                             capture_output=True, text=True, check=True)
        assert out.stdout.strip() == shown
    bad = subprocess.run([sys.executable, "-c", probe], env={**os.environ, "QUORUM_MODP_ARITH": "sse"},
                         capture_output=True, text=True)
    assert bad.returncode != 0 and "QUORUM_MODP_ARITH='sse'" in bad.stderr


def test_group_products_take_any_public_bound():
    """Group.fixed_base_products' contract: `bound` is any public B with 0 <= e < B, which a group *may* use. A bound
    wider than the table (B > 2^256: more bytes than the comb's 32 rows) means the whole table; it raised ValueError
    (exponent bytes must be in 1..32), where ed25519 takes it."""
    from threshold.groups import get_group

    group = get_group("modp")
    gt = group.fixed_base(group.g)
    e = 2**255 + 12345
    for bound in (2**256, 2**256 + 1, 2**257, 2**300, 2**4096):
        assert group.fixed_base_products([[(gt, e, bound)], [(gt, 7, bound), (gt, 5, 2**16)]]) == [
            gmpy2.powmod(group.g, e, P), gmpy2.powmod(group.g, 12, P)]
