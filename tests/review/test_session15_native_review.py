"""Session 15 review of 3fc6408 (modp: `Modulus.ct_exp`, the constant-time fixed-window exponentiation, and single
public powers on the native multi-exponentiation) and 7efa32b (`threshold._hashing.unhex` behind
`encoding.hex_bytes`).

Covered here (what the session's own tests leave out):
- ct_exp against pow() on every arithmetic this CPU runs: exponent lengths 1..512 bytes (sampled here; all 512 were
  run once during the review), moduli at each arithmetic's limits and of awkward shapes (2^k - 1, 2^(k-1) + 1, 65 bits,
  byte/limb boundaries), edge bases (0, 1, p-1, p-2, around 2^4096) and exponents (0, all ones, top nibble zero, one
  top bit); ModpGroup.exp and the single-term multi_exp_mod / membership test against pow();
- ct_exp's Python boundary: every bad type, sign and size of each argument, __index__ objects raising, int
  subclasses, mpz, an uninitialised Modulus, reference counts on success and error paths, threads;
- hex_bytes against the pre-7efa32b Python reading (copied below), over hex-like text with upper case, whitespace,
  NUL, latin-1, non-latin-1, surrogates, non-ASCII digits, str subclasses: same bytes or the same message.

Defects found, fixed in the same session (the tests below were strict xfails until then):
- unhex computed `2 * size` in Py_ssize_t (threshold/_hashing.c, py_unhex): signed overflow (undefined behaviour)
  for size > 2^62; UBSan aborted. Seen by compiling _hashing.c with -fsanitize=undefined (test below; skipped without
  gcc/libubsan).
- hex_bytes no longer refused what the old one refused for a negative or >= 2^63 `size` (a negative size meant
  "any length", a huge one raised OverflowError); every caller passes a constant, so not reachable from records.
- Risk, also mended: the final conversion's subtraction of p (sub_p_if_fits) was a branch on the result, which is
  secret in the KEM (R^x); it is a mask now.

Checked outside this file (too slow or tool-bound for a test): ct_exp under ASan+UBSan on every arithmetic and every
hostile argument (clean); memcheck with the exponent's bytes marked undefined (ctgrind) on AVX2: no branch or
address depends on the exponent inside window_exp, only the documented final conversion (sub_p_if_fits, PyLong);
callgrind counts identical on AVX2 for exponents of one length (OpenSSL: shorter for a zero top 64-bit word, and
immediate for e = 0, as docs/spec.md says). IFMA cannot run under valgrind (no AVX-512): reviewed by reading.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import sysconfig
import threading
from pathlib import Path

import gmpy2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from threshold import _hashing
from threshold.encoding import hex_bytes
from threshold.errors import DecodeError
from threshold.groups._modp import Modulus
from threshold.groups.modp import COFACTOR, G, P, Q, ModpGroup, _order_divides_q, multi_exp_mod

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "threshold"))
from hex_reference import reference_hex_bytes as _old_hex_bytes  # noqa: E402  (the pre-7efa32b reading)
PI, QI = int(P), int(Q)
LIMIT = {"openssl": 16384, "avx2": 4174, "ifma": 4157}


def _runs(name: str) -> bool:
    try:
        Modulus(2**127 - 1, arith=name)
        return True
    except ValueError:
        return False


ARITHS = [name for name in ("openssl", "avx2", "ifma") if _runs(name)]
MODS_P = {a: Modulus(PI, arith=a) for a in ARITHS}


def _edge_exponents(nb: int, rnd: random.Random) -> list[int]:
    top = 256**nb - 1
    return [0, 1, 15, 16, top, top >> 4, 1 << (8 * nb - 1), 15 << (8 * nb - 4),
            rnd.getrandbits(8 * nb) & ~(15 << (8 * nb - 4)), rnd.getrandbits(8 * nb)]


# ------------------------------------------------------------------ ct_exp: values


@pytest.mark.parametrize("arith", ARITHS)
def test_ct_exp_every_length_class_on_p(arith):
    """Exponent lengths around every byte/word/window boundary up to the 512-byte maximum, on the group's P."""
    rnd = random.Random(arith)
    m = MODS_P[arith]
    bases = [0, 1, 2, PI - 1, PI - 2, (1 << 4095) + 1, rnd.randrange(PI)]
    for nb in (1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 256, 257, 511, 512):
        for e in (256**nb - 1, rnd.getrandbits(8 * nb) >> 4, 1 << (8 * nb - 1)):
            b = rnd.choice(bases)
            assert m.ct_exp(b, e, nb) == gmpy2.powmod(b, e, PI), (nb, b, e)


@pytest.mark.parametrize("bits", [65, 129, 1041, 2559, 4095, 4157, 4158, 4160, 4174, 4175, 8192])
def test_ct_exp_moduli_at_the_limits(bits):
    """Random, all-ones (2^k - 1) and 2^(k-1) + 1 moduli, each arithmetic that takes them, edge bases x exponents."""
    rnd = random.Random(bits)
    for p in (rnd.getrandbits(bits) | 1 | (1 << (bits - 1)), (1 << bits) - 1, (1 << (bits - 1)) | 1):
        for arith in ARITHS:
            if bits > LIMIT[arith]:
                with pytest.raises(ValueError, match=f"arith='{arith}' needs"):
                    Modulus(p, arith=arith)
                continue
            m = Modulus(p, arith=arith)
            bases = [0, 1, p - 1, p - 2, (p - 1) // 2, rnd.randrange(p), min(p - 1, (1 << 4096) - 1),
                     min(p - 1, (1 << 4096) + 1)]
            for nb in (1, 9):
                for e in _edge_exponents(nb, rnd):
                    for b in bases:
                        assert m.ct_exp(b, e, nb) == gmpy2.powmod(b, e, p), (arith, bits, b, e, nb)
            for b in bases:  # a scalar's length
                e = rnd.getrandbits(256)
                assert m.ct_exp(b, e, 32) == gmpy2.powmod(b, e, p), (arith, bits, b, e)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32), bits=st.integers(65, 4174), nb=st.integers(1, 40), arith=st.sampled_from(ARITHS))
def test_ct_exp_any_odd_modulus(seed, bits, nb, arith):
    rnd = random.Random(seed)
    p = rnd.getrandbits(bits) | 1 | (1 << (bits - 1))
    if bits > LIMIT[arith]:
        return
    m = Modulus(p, arith=arith)
    b, e = rnd.choice([0, 1, p - 1, rnd.randrange(p)]), rnd.getrandbits(8 * nb)
    assert m.ct_exp(b, e, nb) == pow(b, e, p)


def test_group_exp_and_single_public_powers():
    """ModpGroup.exp reduces e mod q (negative, >= q, multiples of q); the single-term multi_exp_mod and the
    membership test agree with pow (before 3fc6408: gmpy2.powmod)."""
    g = ModpGroup()
    rnd = random.Random(7)
    h = int(gmpy2.powmod(G, rnd.getrandbits(256), P))
    for a in (1, PI - 1, int(G), h, 2, 0):
        for e in (0, 1, -1, QI, QI - 1, QI + 1, 2**256 - 1, -(2**300) - 5, rnd.getrandbits(256), 3 * QI):
            assert g.exp(a, e) == pow(a, e % QI, PI), (a, e)
            assert type(g.exp(a, e)) is type(gmpy2.mpz(0))
    for b, e in ((0, 5), (1, QI), (PI - 1, QI), (h, COFACTOR), (2, 2**5000 + 1), (h, 1)):
        assert multi_exp_mod([(gmpy2.mpz(b), e)]) == pow(b, e, PI)
    assert multi_exp_mod([(gmpy2.mpz(5), 0)]) == 1
    assert _order_divides_q(gmpy2.mpz(h)) and not _order_divides_q(gmpy2.mpz(PI - 1))
    assert not _order_divides_q(gmpy2.mpz(2)) and not _order_divides_q(gmpy2.mpz(0))
    assert g.is_member(gmpy2.mpz(h)) and not g.is_member(gmpy2.mpz(PI - 1)) and not g.is_member(P)
    from threshold.hashing import dst_for, expand_message_xmd

    data = expand_message_xmd(b"msg" + (0).to_bytes(4, "big"), dst_for("h2e-modp-t"), 512 + 16)
    assert g.hash_to_element("t", b"msg") == pow(int.from_bytes(data, "big") % PI, int(COFACTOR), PI)


def test_group_exp_refuses_bases_outside_0_to_p_minus_1():
    """A behaviour change of 3fc6408, pinned: gmpy2.powmod_sec took any base (reducing it), ct_exp refuses those
    outside 0..p-1 (every caller passes a decoded element)."""
    g = ModpGroup()
    for a in (PI, PI + 2, -1, 2**5000):
        with pytest.raises(ValueError, match="base is not in 0..p-1"):
            g.exp(a, 5)


# ------------------------------------------------------------------ ct_exp: boundary


class _Idx:
    def __init__(self, v):
        self.v = v

    def __index__(self):
        return self.v


class _Raises:
    def __init__(self, exc):
        self.exc = exc

    def __index__(self):
        raise self.exc


class _Int(int):
    pass


@pytest.mark.parametrize("arith", ARITHS)
def test_ct_exp_hostile_arguments(arith):
    m = MODS_P[arith]
    assert m.ct_exp(True, _Int(5), _Idx(1)) == 1 and m.ct_exp(_Idx(3), _Idx(5), True) == 243
    assert m.ct_exp(gmpy2.mpz(3), gmpy2.mpz(2**255), 32) == pow(3, 2**255, PI)
    assert m.ct_exp(3, 0, 512) == 1 and m.ct_exp(0, 0, 1) == 1 and m.ct_exp(0, 1, 1) == 0
    for base in (PI, PI + 1, -1, -(2**5000), 2**4096, 2**100000, _Idx(-1), _Idx(PI), _Raises(ValueError("x")),
                 _Raises(OverflowError("x"))):
        with pytest.raises(ValueError, match=r"^base is not in 0\.\.p-1$"):
            m.ct_exp(base, 1, 1)
    with pytest.raises(KeyError):  # any other error of __index__ passes through
        m.ct_exp(_Raises(KeyError("k")), 1, 1)
    for base in (1.5, "3", b"3", None, [], gmpy2.mpfr(2)):
        with pytest.raises(TypeError):
            m.ct_exp(base, 1, 1)
    for e, nb in ((-1, 1), (256, 1), (2**256, 32), (2**4096, 512), (2**1000000, 512), (_Idx(-3), 4)):
        with pytest.raises(ValueError, match=rf"^exponent must be in 0\.\.2\^{8 * nb} - 1$"):
            m.ct_exp(3, e, nb)
    with pytest.raises(KeyError):
        m.ct_exp(3, _Raises(KeyError("k")), 1)
    for e in (1.0, "1", None):
        with pytest.raises(TypeError):
            m.ct_exp(3, e, 1)
    for nb in (0, -1, 513, -(2**63), 2**63 - 1):
        with pytest.raises(ValueError, match="nbytes"):
            m.ct_exp(3, 1, nb)
    for nb in (2**63, 2**100):
        with pytest.raises(OverflowError):
            m.ct_exp(3, 1, nb)
    for nb in (1.0, "1", None):
        with pytest.raises(TypeError):
            m.ct_exp(3, 1, nb)
    for args in ((), (1,), (1, 2), (1, 2, 3, 4)):
        with pytest.raises(TypeError):
            m.ct_exp(*args)
    with pytest.raises(ValueError, match="not initialised"):
        Modulus.__new__(Modulus).ct_exp(1, 1, 1)


def test_ct_exp_reference_counts():
    """No reference kept or dropped on the success and error paths (base, exponent, their __index__ results)."""
    m = MODS_P[ARITHS[-1]]
    x, e, big = 2**3000 + 17, 2**200 + 5, 2**5000
    before = [sys.getrefcount(v) for v in (x, e, big)]
    for _ in range(300):
        m.ct_exp(x, e, 32)
        for args in ((x, big, 32), (big, e, 32), (-x, e, 32), (x, -e, 32), (x, e, 0)):
            with pytest.raises(ValueError):
                m.ct_exp(*args)
    del args  # the loop's last tuple holds x and e
    assert [sys.getrefcount(v) for v in (x, e, big)] == before


def test_ct_exp_threads_share_one_modulus():
    """The GIL is released inside: concurrent calls on one Modulus per arithmetic stay exact."""
    errors: list = []

    def work(seed: int) -> None:
        rnd = random.Random(seed)
        for _ in range(6):
            arith = rnd.choice(ARITHS)
            b, e = rnd.randrange(PI), rnd.getrandbits(256)
            if MODS_P[arith].ct_exp(b, e, 32) != gmpy2.powmod(b, e, P):
                errors.append((arith, b, e))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


# ------------------------------------------------------------------ unhex / hex_bytes




def _outcome(fn, *args):
    try:
        return ("ok", fn(*args))
    except DecodeError as exc:
        return ("refused", str(exc))
    except Exception as exc:  # noqa: BLE001 - compared by type and text
        return (type(exc).__name__, str(exc))


class _Str(str):
    pass


ALPHABET = "0123456789abcdefABCDEF \t\n\r\x0b\x0cxXg\x00\x7f\x80\xe9\xff\u0100\u0660\uff10\ud800\U0001f600"
TEXTS = st.one_of(
    st.text(alphabet=st.sampled_from(ALPHABET), max_size=10),
    st.binary(max_size=8).map(bytes.hex),
    st.binary(max_size=8).map(lambda b: b.hex().upper()),
    st.binary(min_size=1, max_size=8).map(lambda b: b.hex()).flatmap(
        lambda h: st.integers(0, len(h) - 1).flatmap(
            lambda i: st.sampled_from(ALPHABET).map(lambda c: h[:i] + c + h[i + 1:]))),
    st.binary(max_size=6).map(lambda b: _Str(b.hex())),
    st.one_of(st.none(), st.integers(), st.binary(max_size=4), st.builds(bytearray, st.binary(max_size=4)),
              st.floats(allow_nan=False), st.lists(st.integers(), max_size=2)),
)


@settings(max_examples=600, deadline=None)
@given(text=TEXTS, size=st.one_of(st.none(), st.integers(0, 9)))
def test_hex_bytes_matches_the_old_reading(text, size):
    assert _outcome(hex_bytes, text, "f", size) == _outcome(_old_hex_bytes, text, "f", size)


def test_hex_bytes_edges():
    for text, size, want in (("", None, b""), ("", 0, b""), ("00", 1, b"\x00"), ("ff" * 4096, 4096, b"\xff" * 4096),
                             (_Str("0a"), 1, b"\n"), ("0123456789abcdef", None, bytes.fromhex("0123456789abcdef"))):
        assert hex_bytes(text, "f", size) == want == _old_hex_bytes(text, "f", size)
    for text, size in (("00\x00", None), ("\x0000", None), ("0a" * 3 + "\x80\x80", 4), ("\xff\xff", 1),
                       ("\u0100" * 2, 1), ("\ud800" * 2, 1), ("\uff10\uff10", 1), ("0 ", 1), ("0", None), ("AB", 1),
                       ("0x", 1)):
        with pytest.raises(DecodeError, match="^f: expected lowercase hex digits only$"):
            hex_bytes(text, "f", size)
    with pytest.raises(DecodeError, match="^f: expected 0 hex characters, got 2$"):
        hex_bytes("00", "f", 0)
    for obj in (b"00", bytearray(b"00"), memoryview(b"00"), None, 5):
        with pytest.raises(DecodeError, match=f"^f: expected a hex string, got {type(obj).__name__}$"):
            hex_bytes(obj, "f", 1)


def test_unhex_arguments_and_reference_counts():
    assert _hashing.unhex("00", 2**62) == 2 and _hashing.unhex("00", 2**63 - 1) == 2  # UB in C (see below)
    assert _hashing.unhex(5, 2**62) == 1 and _hashing.unhex("00", 0) == 2 and _hashing.unhex("0", 0) == 2
    for size in (1.0, "1", b"1"):
        with pytest.raises(TypeError):
            _hashing.unhex("00", size)
    for args in ((), ("00",), ("00", 1, 2)):
        with pytest.raises(TypeError):
            _hashing.unhex(*args)
    text = "ab" * 32
    before = sys.getrefcount(text)
    for _ in range(500):
        _hashing.unhex(text, 32)
        _hashing.unhex(text, 31)
        _hashing.unhex(text, -1)
        _hashing.unhex("zz" * 32, 32)
    assert sys.getrefcount(text) == before
    assert _hashing.unhex(text, 32) is not _hashing.unhex(text, 32)


def test_hex_bytes_negative_size_refused_as_before():
    assert _outcome(_old_hex_bytes, "00", "f", -1) == ("refused", "f: expected -2 hex characters, got 2")
    assert _outcome(hex_bytes, "00", "f", -1) == _outcome(_old_hex_bytes, "00", "f", -1)


def test_hex_bytes_huge_size_refused_as_before():
    for text in ("00", 5):
        assert _outcome(hex_bytes, text, "f", 2**63) == _outcome(_old_hex_bytes, text, "f", 2**63)


UBSAN_PROG = r"""
import importlib.util, sys
spec = importlib.util.spec_from_file_location("_hashing", sys.argv[1])
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
assert mod.unhex("00", 1) == b"\x00"
print(mod.unhex("00", 2**62), mod.unhex("00", 2**63 - 1))
"""


def _ubsan_runtime() -> str | None:
    gcc = shutil.which("gcc")
    if not gcc:
        return None
    lib = subprocess.run([gcc, "-print-file-name=libubsan.so"], capture_output=True, text=True).stdout.strip()
    return lib if os.path.isabs(lib) and os.path.exists(lib) else None


def test_unhex_has_no_signed_overflow_under_ubsan(tmp_path):
    lib = _ubsan_runtime()
    if lib is None:
        pytest.skip("gcc with libubsan needed")
    so = tmp_path / "_hashing.so"
    build = subprocess.run(
        ["gcc", "-shared", "-fPIC", "-O1", "-std=gnu11", "-fsanitize=undefined", "-fno-sanitize-recover=undefined",
         f"-I{sysconfig.get_paths()['include']}", str(ROOT / "threshold" / "_hashing.c"), "-lcrypto", "-o", str(so)],
        capture_output=True, text=True, timeout=120)
    if build.returncode:
        pytest.skip(f"cannot build with UBSan: {build.stderr[-300:]}")
    env = dict(os.environ, LD_PRELOAD=lib, UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=0")
    res = subprocess.run([sys.executable, "-c", UBSAN_PROG, str(so)], env=env, capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0 and "runtime error" not in res.stderr, res.stderr[-500:]
    assert res.stdout.split() == ["2", "2"]
