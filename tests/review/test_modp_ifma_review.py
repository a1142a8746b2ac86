"""Review of the AVX-512 IFMA arithmetic of threshold/groups/_modp.c (commits 172524f, 73def92).

What was checked, and how:
- amm52, le_to_52 / le_from_52, simd_setup (p52, k0, R^2) and simd_store are static C functions; a harness that
  #includes _modp.c (built with gcc into a temporary directory; skipped without gcc, the headers or IFMA) calls
  them directly: every byte count 1..520, inputs up to 2p - 1 for p up to 4158 bits, arbitrary 52-bit limbs
  against an exact model (no lane overflow), every value class through the final conditional subtraction.
- Through the Python API: every modulus size 65..4160 bits, both arithmetics against each other and gmpy2
  (hypothesis), composite moduli where a product is 0 mod p, comb/products, threads, fork, leaks (glibc
  mallinfo2), and every aligned_alloc failure point (an LD_PRELOAD shim in a child interpreter).
- Outside this file (not repeatable in 20 s): the module built with -fsanitize=address,undefined from the same
  source, loaded in place of the tree's .so, ran a differential stress of both arithmetics (moduli 65..5000 bits,
  all four methods, comb/products, every error path, 4 threads) clean, LeakSanitizer included. valgrind hides
  AVX-512 from the guest (Modulus.arith is not "ifma" under it), so it only covers the OpenSSL arithmetic: clean.

Findings, fixed (their tests stay as regression tests; a failed simd_setup now leaves the Modulus on OpenSSL):
- BUG (low) Modulus_init: a failed simd_setup (allocation) leaves p set, simd = 1 and p52/r2_52 NULL; the object
  then refuses __init__ ("immutable") and multi_exp/comb dereference NULL (segfault).
- BUG (low) Modulus_multi_exp: a base in p..256^nbytes-1 with exponent 0 is accepted (below_p only runs on the
  live terms), while the same base with exponent 1, or in comb(), raises "not in 0..p-1".
- PERF (low) Modulus_init: IFMA is chosen for every p of at most 4157 bits, but amm52 always does 80 x 80 limb
  products: about 44x slower than OpenSSL at 127 bits, 5x at 1024, 1.5x at 2048 (1.3 us per squaring whatever p);
  the project only uses the 4096-bit group, where IFMA is 2.5x faster.
Everything else held: lane bounds (< 2^61 + carries), the dropped final carry (results < 2p < 2^4160 for inputs
below 2p; the bound even holds at 4158 bits and fails from 4159, so the 4157 limit has one bit of margin), byte
conversions at every position, k0, R^2, the final subtraction, allocation sizes (640-byte slots, multiples of 64),
error paths, and no way to mix arithmetics (a Comb is tied to its Modulus, whose arithmetic never changes, and Comb
cannot be instantiated from Python).
"""

from __future__ import annotations

import ctypes
import gc
import os
import random
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import threading
from pathlib import Path

import gmpy2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from threshold.groups._modp import Modulus
from threshold.groups.modp import P

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "threshold" / "groups" / "_modp.c"
NL, M52, R = 80, (1 << 52) - 1, 1 << 4160
HAS_IFMA = Modulus(int(P)).arith == "ifma"
Limbs = ctypes.c_uint64 * NL
N29, W29, M29, R29 = 144, 148, (1 << 29) - 1, 1 << (29 * 144)  # the AVX2 arithmetic (amm29)
Limbs29 = ctypes.c_uint64 * N29


def _has_avx2() -> bool:
    try:
        return Modulus(int(P), arith="avx2").arith == "avx2"
    except ValueError:
        return False


HAS_AVX2 = _has_avx2()


def rand_modulus(rnd: random.Random, bits: int) -> int:
    return rnd.getrandbits(bits) | 1 | (1 << (bits - 1))


def naive(bases, exps, p):
    acc = gmpy2.mpz(1)
    for b, e in zip(bases, exps):
        acc = acc * gmpy2.powmod(b, e, p) % p
    return int(acc)


def run_child(code: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def gcc_build(tmp: Path, name: str, source: str, *args: str) -> Path:
    if not shutil.which("gcc"):
        pytest.skip("no gcc")
    src, out = tmp / f"{name}.c", tmp / f"{name}.so"
    src.write_text(textwrap.dedent(source))
    r = subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-std=gnu11", str(src), "-o", str(out), *args],
                       capture_output=True, text=True)
    assert r.returncode == 0, f"cannot build {name} (has the harness drifted from the C?): {r.stderr[-1500:]}"
    return out


# ============================================================== the static C functions, through a harness

HARNESS = f"""
#include "{SOURCE}"
void h_amm52(uint64_t *r, const uint64_t *a, const uint64_t *b, const uint64_t *p, uint64_t k0) {{ amm52(r, a, b, p, k0); }}
void h_le_to_52(uint64_t *out, const unsigned char *in, size_t n) {{ le_to_52(out, in, n); }}
void h_le_from_52(unsigned char *out, size_t n, const uint64_t *in) {{ le_from_52(out, n, in); }}
static int h_mod(Modulus *m, const unsigned char *pb, size_t n, int arith) {{
    memset(m, 0, sizeof *m);
    BN_CTX *ctx = BN_CTX_new();
    m->p = BN_lebin2bn(pb, (int)n, NULL);
    m->nbytes = n;
    m->pbytes = malloc(n);
    memcpy(m->pbytes, pb, n);
    m->arith = arith;
    int ok = ctx && m->p && (arith == ARITH_IFMA ? simd_setup(m, ctx) : avx2_setup(m, ctx));
    BN_CTX_free(ctx);
    return ok;
}}
static void h_mod_free(Modulus *m) {{ BN_free(m->p); free(m->pbytes); free_simd_constants(m); }}
int h_setup(const unsigned char *pb, size_t n, uint64_t *p52, uint64_t *r2, uint64_t *k0) {{
    Modulus m;
    int ok = h_mod(&m, pb, n, ARITH_IFMA);
    if (ok) {{ memcpy(p52, m.p52, NL * 8); memcpy(r2, m.r2_52, NL * 8); *k0 = m.k0; }}
    h_mod_free(&m);
    return ok;
}}
int h_store(const unsigned char *pb, size_t n, uint64_t *x, unsigned char *out) {{
    Modulus m;
    Arith ar;
    int ok = h_mod(&m, pb, n, ARITH_IFMA);
    if (ok) {{ arith_init(&ar, &m, NULL); ok = ar.store(&ar, out, x); }}
    h_mod_free(&m);
    return ok;
}}
void h_amm29(uint64_t *r, const uint64_t *a, const uint64_t *b, const uint64_t *p29s, uint64_t k0) {{ amm29(r, a, b, p29s, k0); }}
void h_asqr29(uint64_t *r, const uint64_t *a, const uint64_t *p29s, uint64_t k0) {{ asqr29(r, a, p29s, k0); }}
void h_le_to_limbs(uint64_t *out, size_t nl, unsigned w, const unsigned char *in, size_t n) {{ le_to_limbs(out, nl, w, in, n); }}
void h_le_from_limbs(unsigned char *out, size_t n, const uint64_t *in, size_t nl, unsigned w) {{ le_from_limbs(out, n, in, nl, w); }}
int h_avx2_setup(const unsigned char *pb, size_t n, uint64_t *p29s, uint64_t *r2, uint64_t *k0) {{
    Modulus m;
    int ok = h_mod(&m, pb, n, ARITH_AVX2);
    if (ok) {{ memcpy(p29s, m.p29s, 4 * W29 * 8); memcpy(r2, m.r2_29, N29 * 8); *k0 = m.k29; }}
    h_mod_free(&m);
    return ok;
}}
int h_avx2_store(const unsigned char *pb, size_t n, uint64_t *x, unsigned char *out) {{
    Modulus m;
    Arith ar;
    int ok = h_mod(&m, pb, n, ARITH_AVX2);
    if (ok) {{ arith_init(&ar, &m, NULL); ok = ar.store(&ar, out, x); }}
    h_mod_free(&m);
    return ok;
}}
"""


@pytest.fixture(scope="module")
def h(tmp_path_factory):
    inc = sysconfig.get_paths()["include"]
    lib = gcc_build(tmp_path_factory.mktemp("harness"), "harness", HARNESS, f"-I{inc}", "-lcrypto")
    return ctypes.CDLL(str(lib))


NEEDS_IFMA = pytest.mark.skipif(not HAS_IFMA, reason="this CPU has no AVX-512 IFMA (amm52 would kill the process)")


def to_limbs(x: int, w: int, kind):
    """x in a ctypes array of type `kind`, w bits a limb."""
    return kind(*[(x >> (w * i)) & ((1 << w) - 1) for i in range(kind._length_)])


def from_limbs(limbs, w: int) -> int:
    """The integer of w-bit limbs (not necessarily normalized)."""
    return sum(int(v) << (w * i) for i, v in enumerate(limbs))


def to52(x: int):
    return to_limbs(x, 52, Limbs)


def from52(limbs) -> int:
    return from_limbs(limbs, 52)


def setup(h, p: int):
    n = (p.bit_length() + 7) // 8
    p52, r2, k0 = Limbs(), Limbs(), ctypes.c_uint64()
    assert h.h_setup(p.to_bytes(n, "little"), ctypes.c_size_t(n), p52, r2, ctypes.byref(k0))
    return p52, r2, k0.value


def amm(h, a: int, b: int, p52, k0: int) -> int:
    r = Limbs()
    h.h_amm52(r, to52(a), to52(b), p52, ctypes.c_uint64(k0))
    return from52(r)


def test_simd_setup_constants_every_modulus_size(h):
    """p52 is p, k0 = -p^-1 mod 2^52 (six Newton steps from 1 give 64 bits), r2_52 = 2^8320 mod p: every size
    65..4157 bits, with p = 1 mod 2^52 (k0 = 2^52 - 1) and all-ones limbs among them."""
    rnd = random.Random(1)
    for bits in range(65, 4158):
        p = rand_modulus(rnd, bits) if bits % 7 else ((1 << (bits - 1)) + 1 if bits % 2 else (1 << bits) - 1)
        p52, r2, k0 = setup(h, p)
        assert from52(p52) == p and all(v <= M52 for v in p52)
        assert k0 <= M52 and (p * k0 + 1) % (1 << 52) == 0
        assert from52(r2) == pow(2, 2 * 52 * NL, p) and all(v <= M52 for v in r2), bits


def test_byte_limb_conversions_every_byte_position(h):
    """le_to_52 / le_from_52 for every byte count 1..520 (up to 80 full limbs), every byte 0xff, random bytes,
    and a single set byte at every position (the nibble split at shifts 48 and 44 of the limbs)."""
    rnd = random.Random(2)
    for n in range(1, 521):
        for data in (b"\xff" * n, rnd.randbytes(n), bytes(n)):
            limbs = Limbs()
            h.h_le_to_52(limbs, data, ctypes.c_size_t(n))
            assert from52(limbs) == int.from_bytes(data, "little") and all(v <= M52 for v in limbs), n
            out = ctypes.create_string_buffer(n)
            h.h_le_from_52(out, ctypes.c_size_t(n), limbs)
            assert out.raw == data, n
    for i in range(520):
        for v in (0x01, 0x0F, 0xF0, 0xFF):
            data = bytes(i) + bytes([v]) + bytes(519 - i)
            limbs = Limbs()
            h.h_le_to_52(limbs, data, ctypes.c_size_t(520))
            assert from52(limbs) == v << (8 * i)


BOUND_BITS = [65, 66, 127, 1000, 2048, 4095, 4096, 4156, 4157, 4158]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bits=st.sampled_from(BOUND_BITS), kind=st.sampled_from(["random", "ones", "lowone"]), seed=st.integers(0, 2**32),
       edge=st.sampled_from(["2p-1", "p", "p-1", "0", "1", "random"]))
@NEEDS_IFMA
def test_amm52_stays_below_2p_and_is_a_montgomery_product(h, bits, kind, seed, edge):
    """For a, b < 2p and 4p < 2^4160: amm52 = a b / 2^4160 mod p and below 2p (hence the dropped final carry is 0).
    It holds up to 4158 bits (the code allows 4157)."""
    rnd = random.Random(seed)
    p = {"random": rand_modulus(rnd, bits), "ones": (1 << bits) - 1, "lowone": (1 << (bits - 1)) + 1}[kind]
    p52, _, k0 = setup(h, p)
    pick = {"2p-1": 2 * p - 1, "p": p, "p-1": p - 1, "0": 0, "1": 1, "random": rnd.randrange(2 * p)}
    for a, b in ((pick[edge], pick[edge]), (pick[edge], rnd.randrange(2 * p)), (rnd.randrange(2 * p), pick[edge])):
        r = amm(h, a, b, p52, k0)
        assert r < 2 * p and r % p == a * b * pow(R, -1, p) % p


@NEEDS_IFMA
def test_amm52_bound_margin_ends_at_4159_bits(h):
    """The 4157-bit limit is conservative by one bit: at 4159 bits (4p > 2^4160) an input near 2p gives a result of
    2^4160 or more, whose carry amm52 drops: a wrong residue. So the limit matters, and 4157 is safe."""
    p = (1 << 4159) - 1
    p52, _, k0 = setup(h, p)
    ri = pow(R, -1, p)
    rnd = random.Random(3)
    pairs = [(2 * p - 1, 2 * p - 1)] + [(rnd.randrange(p, 2 * p), rnd.randrange(p, 2 * p)) for _ in range(20)]
    assert any(not (r < 2 * p and r % p == a * b * ri % p) for r, a, b in ((amm(h, a, b, p52, k0), a, b) for a, b in pairs))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(a=st.integers(0, R - 1), b=st.integers(0, R - 1), seed=st.integers(0, 2**32),
       shape=st.sampled_from(["random", "ones", "max-limbs"]))
@NEEDS_IFMA
def test_amm52_no_lane_overflow_for_any_limbs(h, a, b, seed, shape):
    """Outside the < 2p contract too (any 80 limbs of 52 bits, p of 4160 bits): the result is the exact
    (a b + m p) / 2^4160 modulo 2^4160, so no 64-bit lane wrapped in the 80 rounds."""
    rnd = random.Random(seed)
    if shape == "ones":
        a = b = R - 1
    elif shape == "max-limbs":  # limbs whose low and high product halves are both large
        a = sum((M52 - rnd.randrange(1 << 20)) << (52 * i) for i in range(NL))
        b = sum(((1 << 51) + rnd.randrange(1 << 51)) << (52 * i) for i in range(NL))
    p = rand_modulus(rnd, 4160)
    p52, _, k0 = setup(h, p)
    m = (-a * b * pow(p, -1, R)) % R
    assert amm(h, a, b, p52, k0) == ((a * b + m * p) // R) % R


@NEEDS_IFMA
@pytest.mark.parametrize("bits", [65, 127, 1000, 4096, 4157])
def test_simd_store_final_subtraction(h, bits):
    """simd_store: x in 0..2p-1 (Montgomery form) leaves as x / 2^4160 mod p, fully reduced; x = p (a zero that
    the products can produce) gives 0 through the subtraction."""
    rnd = random.Random(bits)
    p = rand_modulus(rnd, bits)
    n = (bits + 7) // 8
    ri = pow(R, -1, p)
    for x in [0, 1, p - 1, p, p + 1, 2 * p - 1, R % p, (R * (p - 1)) % p] + [rnd.randrange(2 * p) for _ in range(20)]:
        out = ctypes.create_string_buffer(n)
        assert h.h_store(p.to_bytes(n, "little"), ctypes.c_size_t(n), to52(x), out)
        assert int.from_bytes(out.raw, "little") == x * ri % p, x


# ============================================================== the AVX2 arithmetic (amm29), same harness

NEEDS_AVX2 = pytest.mark.skipif(not HAS_AVX2, reason="this CPU has no AVX2 (amm29 would kill the process)")


def to29(x: int):
    return to_limbs(x, 29, Limbs29)


def from29(limbs) -> int:
    return from_limbs(limbs, 29)


def setup29(h, p: int):
    n = (p.bit_length() + 7) // 8
    p29s, r2, k0 = (ctypes.c_uint64 * (4 * W29))(), Limbs29(), ctypes.c_uint64()
    assert h.h_avx2_setup(p.to_bytes(n, "little"), ctypes.c_size_t(n), p29s, r2, ctypes.byref(k0))
    return p29s, r2, k0.value


def amm29(h, a: int, b: int, p29s, k0: int, square: bool = False) -> int:
    """amm29(a, b), or asqr29(a) (the squaring; b ignored) if `square`, as an int; checks that the limbs are normalized."""
    r = Limbs29()
    if square:
        h.h_asqr29(r, to29(a), p29s, ctypes.c_uint64(k0))
    else:
        h.h_amm29(r, to29(a), to29(b), p29s, ctypes.c_uint64(k0))
    assert all(v <= M29 for v in r)
    return from29(r)


def test_avx2_setup_constants_every_modulus_size(h):
    """p29s holds p shifted up by g = 0..3 limbs, zeros elsewhere (148 limbs each); k29 = -p^-1 mod 2^29,
    r2_29 = 2^8352 mod p: every size 65..4176 bits (the code takes up to 4174), p = 1 mod 2^29 and all-ones among them."""
    rnd = random.Random(5)
    for bits in range(65, 4177):
        p = rand_modulus(rnd, bits) if bits % 7 else ((1 << (bits - 1)) + 1 if bits % 2 else (1 << bits) - 1)
        p29s, r2, k0 = setup29(h, p)
        limbs = [(p >> (29 * i)) & M29 for i in range(N29)]
        for g in range(4):
            assert list(p29s[g * W29:(g + 1) * W29]) == [0] * g + limbs + [0] * (4 - g), (bits, g)
        assert k0 <= M29 and (p * k0 + 1) % (1 << 29) == 0
        assert from29(r2) == pow(2, 2 * 29 * N29, p) and all(v <= M29 for v in r2), bits


def test_byte_limb_conversions_29_bits(h):
    """le_to_limbs / le_from_limbs with 29-bit limbs: every byte count 1..522 (144 full limbs), every byte 0xff,
    random bytes, and one set byte at every position (the splits at every shift 22..28)."""
    rnd = random.Random(6)
    for n in range(1, 523):
        for data in (b"\xff" * n, rnd.randbytes(n), bytes(n)):
            limbs = Limbs29()
            h.h_le_to_limbs(limbs, ctypes.c_size_t(N29), ctypes.c_uint(29), data, ctypes.c_size_t(n))
            assert from29(limbs) == int.from_bytes(data, "little") and all(v <= M29 for v in limbs), n
            out = ctypes.create_string_buffer(n)
            h.h_le_from_limbs(out, ctypes.c_size_t(n), limbs, ctypes.c_size_t(N29), ctypes.c_uint(29))
            assert out.raw == data, n
    for i in range(522):
        for v in (0x01, 0x0F, 0xF0, 0xFF):
            limbs = Limbs29()
            h.h_le_to_limbs(limbs, ctypes.c_size_t(N29), ctypes.c_uint(29), bytes(i) + bytes([v]) + bytes(521 - i),
                            ctypes.c_size_t(522))
            assert from29(limbs) == v << (8 * i)


BOUND_BITS_29 = [65, 66, 127, 1000, 2048, 3584, 4095, 4096, 4173, 4174]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bits=st.sampled_from(BOUND_BITS_29), kind=st.sampled_from(["random", "ones", "lowone"]), seed=st.integers(0, 2**32),
       edge=st.sampled_from(["2p-1", "p", "p-1", "0", "1", "random"]))
@NEEDS_AVX2
def test_amm29_stays_below_2p_and_is_a_montgomery_product(h, bits, kind, seed, edge):
    """For a, b < 2p and 4p < 2^4176: amm29 = a b / 2^4176 mod p, below 2p, in normalized limbs; up to 4174 bits.
    The squaring asqr29(a) gives the same limbs as amm29(a, a)."""
    rnd = random.Random(seed)
    p = {"random": rand_modulus(rnd, bits), "ones": (1 << bits) - 1, "lowone": (1 << (bits - 1)) + 1}[kind]
    p29s, _, k0 = setup29(h, p)
    ri = pow(R29, -1, p)
    pick = {"2p-1": 2 * p - 1, "p": p, "p-1": p - 1, "0": 0, "1": 1, "random": rnd.randrange(2 * p)}
    x = pick[edge]
    for a, b in ((x, x), (x, rnd.randrange(2 * p)), (rnd.randrange(2 * p), x)):
        r = amm29(h, a, b, p29s, k0)
        assert r < 2 * p and r % p == a * b * ri % p
        assert amm29(h, a, a, p29s, k0, square=True) == amm29(h, a, a, p29s, k0)


@NEEDS_AVX2
def test_amm29_bound_margin_ends_at_4175_bits(h):
    """At 4175 bits (4p > 2^4176) inputs near 2p give results of 2^4176 or more, whose carry amm29 drops: the 4174-bit
    limit of arith='avx2' matters."""
    p = (1 << 4175) - 1
    p29s, _, k0 = setup29(h, p)
    ri = pow(R29, -1, p)
    rnd = random.Random(7)
    pairs = [(2 * p - 1, 2 * p - 1)] + [(rnd.randrange(p, 2 * p), rnd.randrange(p, 2 * p)) for _ in range(20)]
    assert any(not (r < 2 * p and r % p == a * b * ri % p) for r, a, b in ((amm29(h, a, b, p29s, k0), a, b) for a, b in pairs))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(a=st.integers(0, R29 - 1), b=st.integers(0, R29 - 1), seed=st.integers(0, 2**32),
       shape=st.sampled_from(["random", "ones", "max-limbs"]))
@NEEDS_AVX2
def test_amm29_no_column_overflow_for_any_limbs(h, a, b, seed, shape):
    """Outside the < 2p contract too (any 144 limbs of 29 bits, p of 4176 bits, every Montgomery digit up to 2^29-1):
    the result is the exact (a b + m p) / 2^4176 modulo 2^4176, so no 64-bit column wrapped between the carries
    (every 6 row groups) nor lost a carry."""
    rnd = random.Random(seed)
    if shape == "ones":
        a = b = R29 - 1
    elif shape == "max-limbs":
        a = sum((M29 - rnd.randrange(1 << 8)) << (29 * i) for i in range(N29))
        b = sum((M29 - rnd.randrange(1 << 4)) << (29 * i) for i in range(N29))
    p = rand_modulus(rnd, 4176) if shape != "ones" else R29 - 1
    p29s, _, k0 = setup29(h, p)
    pinv = pow(p, -1, R29)
    for x, y, square in ((a, b, False), (a, a, True), (b, b, True)):  # asqr29 is carried every 4 groups
        m = (-x * y * pinv) % R29
        assert amm29(h, x, y, p29s, k0, square) == ((x * y + m * p) // R29) % R29


@NEEDS_AVX2
@pytest.mark.parametrize("bits", [65, 127, 1000, 4096, 4174])
def test_avx2_store_final_subtraction(h, bits):
    """avx2_store: x in 0..2p-1 (Montgomery form, 29-bit limbs) leaves as x / 2^4176 mod p, fully reduced."""
    rnd = random.Random(bits)
    p = rand_modulus(rnd, bits)
    n = (bits + 7) // 8
    ri = pow(R29, -1, p)
    for x in [0, 1, p - 1, p, p + 1, 2 * p - 1, R29 % p, (R29 * (p - 1)) % p] + [rnd.randrange(2 * p) for _ in range(20)]:
        out = ctypes.create_string_buffer(n)
        assert h.h_avx2_store(p.to_bytes(n, "little"), ctypes.c_size_t(n), to29(x), out)
        assert int.from_bytes(out.raw, "little") == x * ri % p, x


# ============================================================== the Python API: both arithmetics agree

def test_every_modulus_size_roundtrips_on_both_arithmetics():
    """Each size 65..4160 bits: IFMA never above 4157 bits; values with every byte set survive load and store;
    a product and a base p-1 are exact; the OpenSSL arithmetic gives the same."""
    rnd = random.Random(4)
    for bits in range(65, 4161):
        p = rand_modulus(rnd, bits)
        b, ff = rnd.randrange(p), (1 << (bits - 1)) - 1
        want = (b, ff, p - 1, b * b * (p - 1) % p)
        for m in (Modulus(p), Modulus(p, arith="openssl")):
            got = (m.multi_exp([b], [1]), m.multi_exp([ff], [1]), m.multi_exp([p - 1], [1]), m.multi_exp([b, p - 1], [2, 3]))
            assert got == want, (bits, m.arith)
        if bits > 4157:  # 4p >= 2^4160 or close: never IFMA (below that, IFMA where the CPU has it)
            assert Modulus(p).arith != "ifma"


DIFF_BITS = [65, 127, 1000, 4095, 4096, 4157, 4158]


@settings(max_examples=35, deadline=None)
@given(bits=st.sampled_from(DIFF_BITS), seed=st.integers(0, 2**32), method=st.sampled_from([0, 1, 2, 3]),
       terms=st.lists(st.tuples(st.sampled_from(["p-1", "0", "1", "p-2", "random"]),
                                st.sampled_from(["0", "1", "ones", "pow2", "random"]), st.integers(1, 1500)),
                      max_size=20))
def test_ifma_openssl_gmp_agree(bits, seed, method, terms):
    rnd = random.Random(seed)
    p = rand_modulus(rnd, bits)
    pick = {"p-1": p - 1, "0": 0, "1": 1, "p-2": p - 2}
    bases = [pick[b] if b in pick else rnd.randrange(p) for b, _, _ in terms]
    exps = [{"0": 0, "1": 1, "ones": (1 << k) - 1, "pow2": 1 << k, "random": rnd.getrandbits(k)}[e] for _, e, k in terms]
    want = naive(bases, exps, p)
    assert Modulus(p).multi_exp(bases, exps, method) == Modulus(p, arith="openssl").multi_exp(bases, exps, method) == want


def test_even_and_out_of_range_moduli_are_refused():
    for bad in (2**64 + 2, 2**64 - 1, 2**4096, 2**4157, 1, -(2**127 - 1), 2**16384 + 1):
        for arith in (None, "openssl"):
            with pytest.raises(ValueError, match="odd integer"):
                Modulus(bad, arith=arith)
    assert Modulus(2**64 + 1).multi_exp([2], [64]) == 2**64 % (2**64 + 1)  # 65 bits, the smallest accepted


def test_exponents_of_2_20_bits_on_both_arithmetics():
    p = 2**127 - 1
    top = (1 << (1 << 20)) - 1
    want = naive([3, 5], [top, 12345], p)
    assert Modulus(p, arith="openssl").multi_exp([3, 5], [top, 12345], 2) == want
    assert Modulus(p).multi_exp([3, 5], [top, 12345], 1) == want
    # IFMA on a prime it keeps whatever the size policy (M3217): e = K (p - 1) + 5 of exactly 2^20 bits, 3^e = 3^5
    m3217 = 2**3217 - 1
    k = 2**20 - 3217
    e = (((1 << k) - 1) ^ random.Random(8).getrandbits(k - 8)) * (m3217 - 1) + 5  # K's top 8 bits set
    assert e.bit_length() == 2**20
    assert Modulus(m3217).multi_exp([3], [e]) == 243  # about 1.4 s on IFMA (80-limb products)
    for arith in (None, "openssl"):
        with pytest.raises(ValueError, match="2\\^20 bits"):
            Modulus(p, arith=arith).multi_exp([3], [1 << (1 << 20)])


@pytest.mark.parametrize("p, base, e", [
    (3**41, 3, 41), (3**41, 3**20, 3), (3**2645, 3**100, 27), (3**2622 * 5, 15, 2622), (3**2622 * 5, 5, 1000),
])
def test_composite_moduli_reaching_zero(p, base, e):
    """Any odd modulus is accepted: with a composite p a product can be 0 mod p (the representation p in the
    almost-Montgomery domain). Every method and both arithmetics give pow()."""
    want = naive([base, 7], [e, 5], p)
    for arith in (None, "openssl"):
        m = Modulus(p, arith=arith)
        assert [m.multi_exp([base, 7], [e, 5], k) for k in (0, 1, 2)] == [want] * 3
        c = m.comb(base, 2)
        assert c.exp(e) == pow(base, e, p) and m.products([[(c, e), (m.comb(7, 1), 5)]]) == [want]


@settings(max_examples=25, deadline=None)
@given(bits=st.sampled_from(DIFF_BITS), seed=st.integers(0, 2**32), rows=st.sampled_from([1, 2, 3, 32, 33]),
       base=st.sampled_from(["p-1", "0", "1", "random"]), nprod=st.integers(0, 4))
def test_comb_and_products_agree_on_both_arithmetics(bits, seed, rows, base, nprod):
    rnd = random.Random(seed)
    p = rand_modulus(rnd, bits)
    b = {"p-1": p - 1, "0": 0, "1": 1, "random": rnd.randrange(p)}[base]
    b2 = rnd.choice([p - 1, rnd.randrange(p)])
    lim = 256**rows
    exps = [0, 1, 255, lim - 1, rnd.randrange(lim)] + ([256, 2**(8 * rows - 1)] if rows > 1 else [])
    shapes = [([rnd.randrange(lim) for _ in range(rnd.randrange(4))], rnd.randrange(256)) for _ in range(nprod)]
    want = [pow(b, sum(es), p) * pow(b2, e2, p) % p for es, e2 in shapes]
    for arith in (None, "openssl"):
        m = Modulus(p, arith=arith)
        c, c2 = m.comb(b, rows), m.comb(b2, 1)
        assert [c.exp(e) for e in exps] == [pow(b, e, p) for e in exps], arith
        assert m.products([[(c, e) for e in es] + [(c2, e2)] for es, e2 in shapes]) == want, arith


# ============================================================== mixing arithmetics, immutability, lifetimes

def test_a_comb_cannot_meet_another_arithmetic():
    """A Comb's slots are of its Modulus's arithmetic; products() takes only combs of the same Modulus object,
    whose arithmetic never changes (immutable), and Comb cannot be instantiated from Python."""
    p = int(P)
    fast, slow = Modulus(p), Modulus(p, arith="openssl")
    cf, cs = fast.comb(3, 2), slow.comb(3, 2)
    with pytest.raises(ValueError, match="another modulus"):
        fast.products([[(cs, 5)]])
    with pytest.raises(ValueError, match="another modulus"):
        slow.products([[(cf, 5)]])
    with pytest.raises(TypeError, match="immutable"):
        fast.__init__(p, arith="openssl")
    with pytest.raises(TypeError, match="immutable"):
        slow.__init__(p)
    with pytest.raises(AttributeError):
        fast.arith = "openssl"
    assert (fast.arith == "ifma") == HAS_IFMA and slow.arith == "openssl"
    with pytest.raises(TypeError):
        type(cf)()
    with pytest.raises(TypeError):
        type(cf).__new__(type(cf))
    with pytest.raises(TypeError):
        type("Sub", (Modulus,), {})
    fresh = Modulus.__new__(Modulus)
    for call in (lambda: fresh.multi_exp([2], [3]), lambda: fresh.comb(2, 1), lambda: fresh.products([])):
        with pytest.raises(ValueError, match="not initialised"):
            call()
    assert fresh.arith == "openssl"


def test_comb_keeps_its_modulus_alive():
    p = 2**521 - 1
    for arith in (None, "openssl"):
        m = Modulus(p, arith=arith)
        c = m.comb(5, 3)
        del m
        gc.collect()
        assert c.exp(2**23 + 17) == pow(5, 2**23 + 17, p)


def test_method_and_empty_inputs():
    for arith in (None, "openssl"):
        m = Modulus(2**127 - 1, arith=arith)
        assert [m.multi_exp([], [], k) for k in (0, 1, 2, 3)] == [1, 1, 1, 1]
        assert [m.multi_exp([0, 5], [0, 0], k) for k in (0, 1, 2, 3)] == [1, 1, 1, 1]
        assert m.products([]) == [] and m.products([[], []]) == [1, 1]
        assert m.comb(0, 1).exp(0) == 1 and m.comb(0, 1).exp(1) == 0
        for bad in (-1, 4):
            with pytest.raises(ValueError, match="method"):
                m.multi_exp([2], [3], bad)
        with pytest.raises(ValueError, match="not in 0..p-1"):
            m.multi_exp([2**127 - 1], [1])
        with pytest.raises(ValueError, match="not in 0..p-1"):
            m.multi_exp([-2], [0])


def test_base_at_or_above_p_is_refused_whatever_its_exponent():
    m = Modulus(2**127 - 1)
    with pytest.raises(ValueError, match="not in 0..p-1"):
        m.multi_exp([2**127 - 1, 3], [0, 5])


def test_small_moduli_keep_the_faster_openssl_arithmetic():
    assert not HAS_IFMA or not any(Modulus((1 << bits) - 1).arith == "ifma" for bits in (127, 521, 1024, 2048))


# ============================================================== threads, fork, leaks, allocation failures

def test_threads_share_moduli_and_combs_on_both_arithmetics():
    rnd = random.Random(6)
    p = rand_modulus(rnd, 4096)
    mods = [Modulus(p), Modulus(p, arith="openssl")]
    combs = [m.comb(7, 32) for m in mods]
    bases = [rnd.randrange(p) for _ in range(18)]
    exps = [rnd.getrandbits(256) for _ in range(18)]
    e1, e2 = rnd.getrandbits(256), rnd.getrandbits(256)
    want = (naive(bases, exps, p), pow(7, e1, p), [pow(7, e1 + e2, p), 1])
    results, errors = [], []

    def work(i):
        try:
            for _ in range(2):
                m, c = mods[i % 2], combs[i % 2]
                results.append((m.multi_exp(bases, exps, 1 + i % 2), c.exp(e1), m.products([[(c, e1), (c, e2)], []])))
                m.comb(rnd.randrange(p), 2)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and results == [want] * 8


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork")
def test_fork_child_uses_the_parents_modulus_and_comb():
    p = int(P)
    m = Modulus(p)
    c = m.comb(3, 32)
    want = (m.multi_exp([3, 5], [2**255 + 1, 77]), c.exp(2**200 + 9), m.products([[(c, 12345)]]))
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        ok = (m.multi_exp([3, 5], [2**255 + 1, 77]), c.exp(2**200 + 9), m.products([[(c, 12345)]])) == want
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert want[1] == pow(3, 2**200 + 9, p)


def test_no_leak_on_success_or_error_paths():
    """glibc's count of allocated bytes (mallinfo2) does not grow over 300 rounds of every call and error
    path on every arithmetic (a leaked 640-byte slot per call would add 190 KB)."""
    libc = ctypes.CDLL(None)
    if not hasattr(libc, "mallinfo2"):
        pytest.skip("no mallinfo2")

    class MallInfo2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in
                    "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]

    libc.mallinfo2.restype = MallInfo2

    def used():
        gc.collect()
        info = libc.mallinfo2()
        return info.uordblks + info.hblkhd

    p = rand_modulus(random.Random(7), 1500)
    for arith in ["openssl"] + ["ifma"] * HAS_IFMA + ["avx2"] * HAS_AVX2:
        m = Modulus(p, arith=arith)
        c = m.comb(5, 2)

        def rounds(n):
            for _ in range(n):
                m.comb(5, 2).exp(1000)
                m.products([[(c, 3), (c, 9)], []])
                m.multi_exp([3] * 17, list(range(1, 18)))
                m.multi_exp([3, 5], [7, 9], 1)
                Modulus(p, arith=arith)
                for bad in (lambda: m.multi_exp([p], [1]), lambda: m.comb(p, 1), lambda: c.exp(-1),
                            lambda: m.products([[(c, 1)], [(c, -1)]]), lambda: m.multi_exp([2, 3], [1, -1])):
                    try:
                        bad()
                    except ValueError:
                        pass

        rounds(30)
        before = used()
        rounds(300)
        assert used() - before < 40_000, arith


SHIM = """
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
static long countdown, calls;
void arm(long n) { countdown = n; }
long ncalls(void) { return calls; }
void *aligned_alloc(size_t al, size_t size) {
    static void *(*real)(size_t, size_t);
    if (!real) real = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "aligned_alloc");
    calls++;
    if (countdown > 0 && --countdown == 0) return NULL;
    return real(al, size);
}
"""


@pytest.fixture(scope="module")
def shim(tmp_path_factory):
    if not (HAS_IFMA or HAS_AVX2):
        pytest.skip("the aligned allocations are the SIMD arithmetics'")
    return gcc_build(tmp_path_factory.mktemp("shim"), "failalloc", SHIM, "-ldl")


def needs(arith: str) -> None:
    if not {"ifma": HAS_IFMA, "avx2": HAS_AVX2}[arith]:
        pytest.skip(f"this CPU has no {arith}")


@pytest.mark.parametrize("arith", ["ifma", "avx2"])
def test_every_aligned_alloc_failure_raises_memory_error_and_recovers(shim, arith):
    """The n-th aligned_alloc fails, for every n a call makes (Modulus, multi_exp Straus and Pippenger, comb,
    exp, products): MemoryError, no crash or double free (Comb_dealloc with entries NULL included), and the
    next call is exact. A default Modulus (IFMA here) whose constants cannot be allocated falls back to OpenSSL;
    a forced one (arith='avx2') raises MemoryError."""
    needs(arith)
    make = "Modulus(p)" if arith == "ifma" else "Modulus(p, arith='avx2')"
    r = run_child(f"""
        import ctypes
        shim = ctypes.CDLL({str(shim)!r})
        shim.ncalls.restype = ctypes.c_long
        from threshold.groups._modp import Modulus
        from threshold.groups.modp import P
        p = int(P)
        m = {make}
        assert m.arith == {arith!r}
        c = m.comb(3, 2)
        ops = {{
            "straus": lambda: m.multi_exp([3, 5], [2**100 + 1, 7], 1),
            "pippenger": lambda: m.multi_exp([3] * 20, list(range(1, 21)), 2),
            "comb": lambda: m.comb(5, 3).exp(1000),
            "exp": lambda: c.exp(1000),
            "products": lambda: m.products([[(c, 5)], [(c, 7)]]),
            "modulus": lambda: {make}.multi_exp([3], [5]),
        }}
        for name, f in ops.items():
            want = f()
            before = shim.ncalls(); f(); n = shim.ncalls() - before
            assert n >= 1, name
            for k in range(1, n + 1):
                shim.arm(k)
                try:
                    got = f()
                except MemoryError:
                    pass
                else:
                    if name != "modulus" or {arith!r} != "ifma":  # the default falls back to OpenSSL
                        raise AssertionError(("no MemoryError", name, k))
                    assert got == want, name
                shim.arm(0)
                assert f() == want, name
        print("ok")
    """, env={"LD_PRELOAD": str(shim)})
    assert r.returncode == 0 and r.stdout.strip() == "ok", (r.returncode, r.stderr[-2000:])


@pytest.mark.parametrize("arith", ["ifma", "avx2"])
def test_failed_simd_setup_leaves_no_half_initialised_modulus(shim, arith):
    needs(arith)
    r = run_child(f"""
        import ctypes
        shim = ctypes.CDLL({str(shim)!r})
        from threshold.groups._modp import Modulus
        from threshold.groups.modp import P
        m = Modulus.__new__(Modulus)
        shim.arm(1)  # p52's or p29s's aligned_alloc
        try:
            m.__init__(int(P), arith={arith!r})
        except MemoryError:
            pass
        shim.arm(0)
        try:
            print(m.multi_exp([3], [5]))
        except (ValueError, TypeError, MemoryError):
            print("refused")
    """, env={"LD_PRELOAD": str(shim)})
    assert r.returncode == 0 and r.stdout.strip() in ("243", "refused"), (r.returncode, r.stderr[-500:])
