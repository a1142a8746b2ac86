"""Session 23 review of commit 627ceb3: the exact solve goes on in a sub-ring without the primes that divide det A.

What was checked (each test pins a property that holds; the four "Failed before" tests are the defects found, fixed
in session 23 by keying those caches by ring.primes):

* Ring(k, drop) / Ring.without against plain Python integers (hypothesis): primes, modulus, from_objects -> crt,
  pack -> unpack, matmul, reduce_big, to_int64, mod_2k, _digits (Garner), lincomb, combine_residues; Shamir
  deal -> reconstruct (and a tampered share caught) over a sub-ring.  All hold.
* exact._inverse_mod: where it says a prime works the inverse is right, and it never says so where det = 0 mod p
  (pivot-free elimination may drop a prime whose RAS is invertible: harmless, only conservative).
* The regression through LinearRegression / Ridge with det A divisible by ring primes: with fit_intercept, with a
  Ridge alpha (with and without intercept), with 1, 2 and 3 primes dropped (coefficients are exactly the rational
  solution of the fixed-point inputs; the evidence names the sub-ring and verifies); 4 primes -> named InputError;
  det A = 0 -> SingularMatrixError.  All hold.
* Evidence (_ring_of / verify): hostile `primes` lists (bools, floats, strings, None, nested lists, negative,
  huge ints, non-primes, duplicates, ascending, primes past MAX_PRIMES positions, > MAX_PRIMES entries) are all
  refused with EvidenceError and quickly; a sparse sub-ring (one prime at position 4095) costs < 2 s; a sub-ring
  evidence cannot be re-labelled with another well-formed sub-ring (re-adding the dropped prime, dropping another)
  or a wrong claimed value.  All hold.
* Branch agreement: over TCP (3 processes, dst = 2) all parties drop the same prime and agree on the InputError
  branch.  Holds.
* Privacy: a solve that drops primes makes the same openings as one that does not (RAS once, masked products,
  the output); what is new is only that the evidence's `primes` tells a verifier which primes divide det A (or,
  once in ~2^20, det R or det S), which the parties already saw as RAS's rank modulo each prime.

Defects found, fixed (all one root cause: caches keyed by the NUMBER of primes, which assumed ring.primes ==
primes_below_2_21(ring.k), false for a sub-ring):
* mpc_ml/prss.py:PRSS.coef caches x^power f_T(x) mod the primes under (ring.k, power): a sub-ring with as many
  primes as a ring already used gets coefficients modulo other primes -> the solve's reduce_degree makes garbage
  masks -> ShareCheckError blaming every party for an honest, nonsingular system (LinearRegression with
  value_bound 2^-10, big ring 7 primes, sub-ring 6 = the base ring's count), and a sub-ring used first poisons the
  cache for a later, ordinary fit whose big ring has that many primes.
* mpc_ml/runtime.py:Pool keys ("double", ring.k): after mpc_ml.preprocess(reductions=...) a 6-prime sub-ring takes
  the base ring's double sharings (still fails with PRSS.coef fixed).
(PRSS._mats was keyed by ring.k too: latent, as no sub-ring goes through PRSS.shares; keyed by the primes now.)

Observations, not bugs: after leaving primes out the ring keeps >= 20 bits (not 64) beyond 2 N D, so data beyond a
declared value_bound is less sure to fail the reconstruction; Ring.without([-1]) silently dropped the last prime
(Python indexing; exact.solve only passes flatnonzero positions; now a ValueError); a hostile evidence of MAX_PRIMES primes still
costs a verifier ~6 s to build its ring here (as before the change; a sub-ring costs less).
"""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mpc_ml
from mpc_ml import evidence as ev
from mpc_ml.linear_model import LinearRegression, Ridge
from mpc_ml.protocols import arith, exact, shamir
from mpc_ml.ring import Ring, primes_below_2_21

ROOT = Path(__file__).resolve().parents[2]
F = 24


@pytest.fixture
def mpc():
    """mpc_ml with 3 simulated parties."""
    mpc_ml.init(parties=3)
    yield mpc_ml
    mpc_ml.uninit()


# ------------------------------------------------------------------ helpers


def _two_squares(p: int) -> tuple[int, int]:
    """(a, b) with a^2 + b^2 = p for a prime p = 1 mod 4."""
    for a in range(1, math.isqrt(p) + 1):
        b = math.isqrt(p - a * a)
        if b * b == p - a * a:
            return a, b
    raise ValueError(p)


def _sum_of_squares(primes: list[int]) -> tuple[int, int]:
    """(a, b) with a^2 + b^2 = prod(primes) (Gaussian integers), all primes = 1 mod 4."""
    a, b = 1, 0
    for p in primes:
        c, d = _two_squares(p)
        a, b = a * c - b * d, a * d + b * c
    return abs(a), abs(b)


def _big(n: int, cols: int, vb: int = 31, lam: int = 0) -> Ring:
    """The ring LinearRegression / Ridge solve in for n samples, cols columns, value_bound 2^vb, penalty lam."""
    return exact.ring_for(*exact.bounds(n, cols, vb + F, lam))


def _fq(x: float) -> Fraction:
    """x on the fixed-point grid, exactly."""
    return Fraction(int(np.rint(x * 2.0 ** F)), 1 << F)


def _exact_fit(x: np.ndarray, y: np.ndarray, intercept: bool, alpha: Fraction = Fraction(0)) -> list[Fraction]:
    """The exact rational (ridge) least-squares solution of the fixed-point inputs (intercept unpenalized)."""
    rows = [[_fq(v) for v in r] + ([Fraction(1)] if intercept else []) for r in x]
    ys = [_fq(v) for v in y]
    c = len(rows[0])
    a = [[sum(r[i] * r[j] for r in rows) + (alpha if i == j and (i < x.shape[1]) else 0) for j in range(c)]
         for i in range(c)]
    b = [sum(r[i] * yy for r, yy in zip(rows, ys)) for i in range(c)]
    for i in range(c):  # Gauss-Jordan over the rationals
        piv = next(k for k in range(i, c) if a[k][i] != 0)
        a[i], a[piv], b[i], b[piv] = a[piv], a[i], b[piv], b[i]
        for k in range(c):
            if k != i and a[k][i]:
                f = a[k][i] / a[i][i]
                a[k] = [u - f * v for u, v in zip(a[k], a[i])]
                b[k] -= f * b[i]
    return [b[i] / a[i][i] for i in range(c)]


def _solve_1x1(a: int, b: int, ring: Ring, bound: int = 2 ** 10, dst=None):
    """exact.solve of a x = b with public shares (constant polynomials) in `ring`."""
    rt = mpc_ml.runtime.current()
    share = lambda v: np.broadcast_to(ring.from_objects(np.array([[v]], dtype=object)),  # noqa: E731
                                      (len(rt.local_ids), ring.k, 1, 1))
    return exact.solve(rt, share(a), share(b), ring, dst, (bound, bound))


# ------------------------------------------------------------------ Ring(k, drop) against plain integers


@st.composite
def _subring(draw):
    span = draw(st.integers(1, 14))
    kept = draw(st.lists(st.integers(0, span - 1), min_size=1, max_size=span, unique=True))
    return span, tuple(sorted(set(range(span)) - set(kept)))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_subring(), st.integers(0, 2 ** 32 - 1))
def test_a_sub_ring_computes_like_plain_integers_modulo_its_own_primes(sub, seed):
    span, drop = sub
    ring = Ring(span, drop)
    canon = primes_below_2_21(span)
    primes = tuple(q for i, q in enumerate(canon) if i not in drop)
    assert ring.primes == primes and ring.k == len(primes) and ring.modulus == math.prod(primes)
    assert ring.span == span and ring.dropped == drop
    rng = np.random.default_rng(seed)
    m = ring.modulus
    vals = [int.from_bytes(rng.bytes(40), "big") % m for _ in range(6)] + [0, m - 1, 1]
    x = np.array(vals, dtype=object).reshape(3, 3)
    res = ring.from_objects(x)[0]  # (K, 3, 3)
    for i, q in enumerate(primes):
        assert res[i].astype(np.int64).tolist() == [[v % q for v in row] for row in x.tolist()]
    assert ring.crt(res) == x.tolist()
    # Garner digits reconstruct the value; mod_2k gives its low 64 bits
    digits = ring._digits(res[None])
    back = [[0] * 3 for _ in range(3)]
    weight = 1
    for d, q in zip(digits, primes):
        for r in range(3):
            for c in range(3):
                back[r][c] += int(d[0][r, c]) * weight
        weight *= q
    assert back == x.tolist()
    assert ring.mod_2k(res[None], 64)[0].tolist() == [[v % (1 << 64) for v in row] for row in x.tolist()]
    # wire format round trip and rejection of a non-residue
    assert np.array_equal(ring.unpack(ring.pack(res), (3, 3)), res)
    wrong = res.copy()
    wrong[-1, 0, 0] = ring.primes[-1]
    with pytest.raises(ValueError, match="outside the ring"):
        ring.unpack(ring.pack(wrong), (3, 3))
    # matrix product against Python integers
    y = np.array([int.from_bytes(rng.bytes(40), "big") % m for _ in range(6)], dtype=object).reshape(3, 2)
    prod = ring.matmul(res[None], ring.from_objects(y))[0]
    assert ring.crt(prod) == [[sum(a * b for a, b in zip(row, col)) % m for col in zip(*y.tolist())]
                              for row in x.tolist()]
    # signed lift of small values
    small = rng.integers(-2 ** 40, 2 ** 40, size=5)
    if m > 2 ** 42:
        assert ring.to_int64(ring.from_int64(small)).tolist() == [small.tolist()]
    # lincomb and combine_residues (the Shamir interpolation and the PRSS lift)
    c1, c2 = ring.const(7), ring.const(m - 3)
    lc = ring.lincomb([(res[None], ring.col(4, c1)), (res[None], ring.col(4, c2))])[0]
    assert ring.crt(lc) == [[4 * v % m for v in row] for row in x.tolist()]
    coef = np.stack([np.stack([ring.const(2), ring.const(5)])])  # (L=1, T=2, K)
    comb = ring.combine_residues((coef, np.stack([res, res])))[0]
    assert ring.crt(comb) == [[7 * v % m for v in row] for row in x.tolist()]


def test_shamir_over_a_sub_ring_deals_reconstructs_and_catches_a_wrong_share():
    ring = Ring(9).without([0, 4, 8])
    value = ring.from_objects(np.array([12345678901234567890, 3], dtype=object))[0]
    shares = shamir.deal(ring, value, 4, 1)
    assert np.array_equal(shamir.reconstruct(ring, shares, 1), value)
    bad = shares.copy()
    bad[2, 1, 0] = (bad[2, 1, 0] + 1) % ring.primes[1]
    with pytest.raises(mpc_ml.ShareCheckError):
        shamir.reconstruct(ring, bad, 1)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 4), st.integers(0, 2 ** 32 - 1), st.booleans())
def test_inverse_mod_is_right_where_it_says_so_and_never_claims_a_singular_prime(d, seed, singular):
    primes = (101, 103, 2097143, 2097133)
    rng = np.random.default_rng(seed)
    a = np.stack([rng.integers(0, q, size=(d, d)) for q in primes]).astype(np.int64)
    if singular:
        a[1, -1] = a[1, 0] if d > 1 else 0  # singular mod 103
    z, ok = exact._inverse_mod(a, primes)
    for i, q in enumerate(primes):
        if ok[i]:
            assert ((a[i] @ z[i]) % q == np.eye(d, dtype=np.int64)).all()
        if _det(a[i].tolist()) % q == 0:
            assert not ok[i]


def _det(m: list[list[int]]) -> int:
    """Exact integer determinant (Laplace, d <= 4)."""
    if len(m) == 1:
        return m[0][0]
    return sum((-1) ** j * m[0][j] * _det([row[:j] + row[j + 1:] for row in m[1:]]) for j in range(len(m)))


# ------------------------------------------------------------------ the regression through the public models


def test_fit_intercept_with_a_determinant_a_ring_prime_divides_is_exact_and_verifies(mpc):
    """det of [[sum x^2, sum x], [sum x, n]] is (x1 - x0)^2 for two samples: x1 - x0 = p / 2^24 makes p divide it."""
    big = _big(2, 2)
    p = big.primes[3]
    x = np.array([[0.0], [p / 2.0 ** F]])
    y = np.array([0.25, -0.5])
    m = LinearRegression().fit(mpc.cryptensor(x), mpc.cryptensor(y, src=1))
    ref = _exact_fit(x, y, True)
    assert [*m.coef_, m.intercept_] == [float(r) for r in ref]
    assert m.evidence_["primes"] == [q for q in big.primes if q != p]
    assert np.array_equal(mpc.verify(m.evidence_, [*m.coef_, m.intercept_], verify_keys=mpc.party_keys()),
                          [float(r) for r in ref])


@pytest.mark.parametrize("intercept", [False, True])
def test_ridge_whose_penalty_makes_a_ring_prime_divide_the_determinant_is_exact(mpc, intercept):
    """A = X^T X + lam I (intercept unpenalized): lam chosen so that det A = 0 mod a ring prime."""
    rng = np.random.default_rng(3)
    a = rng.integers(1, 2 ** 24, size=3)
    x = (a / 2.0 ** F)[:, None]
    y = np.array([0.5, -0.25, 0.125])
    cols = 2 if intercept else 1
    big = _big(3, cols, lam=2 ** 47)
    p = big.primes[2]
    s2, s1, n = int((a * a).sum()), int(a.sum()), 3
    # det / 2^48 = n (s2 + lam) - s1^2 (intercept) or s2 + lam (none); both = 0 mod p
    target = (s1 * s1 * pow(n, -1, p) - s2) % p if intercept else (-s2) % p
    lam = (1 << 47) + (target - (1 << 47)) % p
    alpha = lam / 2.0 ** 48
    assert int(round(alpha * 2.0 ** 48)) == lam and _big(3, cols, lam=lam).primes == big.primes
    m = Ridge(alpha=alpha, fit_intercept=intercept).fit(mpc.cryptensor(x), mpc.cryptensor(y, src=1))
    ref = _exact_fit(x, y, intercept, Fraction(lam, 1 << 48))
    got = [*m.coef_] + ([m.intercept_] if intercept else [])
    assert got == [float(r) for r in ref]
    assert p not in m.evidence_["primes"] and len(m.evidence_["primes"]) == big.k - 1
    assert np.array_equal(mpc.verify(m.evidence_, got, verify_keys=mpc.party_keys()), got)


@pytest.mark.parametrize("count", [1, 2, 3, 4])
def test_a_determinant_divisible_by_several_ring_primes(mpc, count):
    """One feature, two samples (a, b) with a^2 + b^2 = the product of `count` ring primes = 1 mod 4: up to 3 are
    left out and the coefficient is exact; 4 leave too little modulus: a named InputError (never ShareCheckError,
    never another fraction)."""
    big = _big(2, 1)
    ps = [q for q in big.primes if q % 4 == 1][:count]
    a, b = _sum_of_squares(ps)
    x = np.array([[a], [b]]) / 2.0 ** F
    y = np.array([0.3, -0.2])
    if count == 4:
        with pytest.raises(mpc_ml.InputError, match="divisible by 4 of the exact solve's"):
            LinearRegression(fit_intercept=False).fit(mpc.cryptensor(x), mpc.cryptensor(y, src=1))
        return
    m = LinearRegression(fit_intercept=False).fit(mpc.cryptensor(x), mpc.cryptensor(y, src=1))
    assert m.coef_.tolist() == [float(_exact_fit(x, y, False)[0])]
    assert m.evidence_["primes"] == [q for q in big.primes if q not in ps]
    assert np.array_equal(mpc.verify(m.evidence_, m.coef_, verify_keys=mpc.party_keys()), m.coef_)


def test_a_singular_system_is_still_singular(mpc):
    x = np.array([[1.0, 2.0], [2.0, 4.0], [3.0, 6.0]])
    with pytest.raises(mpc_ml.SingularMatrixError):
        LinearRegression(fit_intercept=False).fit(mpc.cryptensor(x), mpc.cryptensor(np.ones(3), src=1))


def test_a_partial_solve_opens_what_a_plain_solve_opens(mpc, monkeypatch):
    """Privacy: the same openings (masked RA|RB, masked RAS, RAS, masked solution, then the output) whether or not a
    prime is left out; the only other thing that differs is the evidence's list of primes."""
    seen = []
    real = arith.open_all

    def spy(rt, shares, degree, check=True, ring=None):
        seen.append((tuple(shares.shape[2:]), degree, (ring or rt.ring).k))
        return real(rt, shares, degree, check, ring)

    monkeypatch.setattr(arith, "open_all", spy)
    ring = Ring(9)
    x, _ = _solve_1x1(7, 21, ring)
    plain, seen[:] = list(seen), []
    x2, ev2 = _solve_1x1(ring.primes[4] * 7, ring.primes[4] * 21, ring)
    assert x.tolist() == x2.tolist() == [3.0]
    assert [(s, d) for s, d, _ in seen] == [(s, d) for s, d, _ in plain]
    assert [k for *_, k in seen] == [9, 9, 9, 8] and ev2["primes"] == [q for q in ring.primes if q != ring.primes[4]]


# ------------------------------------------------------------------ evidence: hostile lists of primes


def test_hostile_lists_of_primes_are_refused_with_evidence_error_and_fast(mpc):
    _, good = mpc.cryptensor(np.array([2.5])).get_plain_text_with_evidence()
    canon = list(primes_below_2_21(ev.MAX_PRIMES))
    beyond = primes_below_2_21(ev.MAX_PRIMES + 3)[-1]
    hostile = [
        [True], [False, canon[0]], [float(canon[0])], [str(canon[0])], [None], [[canon[0]]], [{"p": 1}],
        [-canon[0]], [canon[0] + 2 ** 64], [10 ** 300], [canon[0] - 1], [2], [3], [canon[1], canon[0]],
        [canon[0], canon[0]], canon[:3] + [canon[2]], [canon[0], beyond], [beyond], [1 << 21],
        canon + [beyond], [canon[0]] * (ev.MAX_PRIMES + 1), [],
    ]
    t0 = time.perf_counter()
    for primes in hostile:
        with pytest.raises(mpc_ml.EvidenceError, match=r"names (a ring this version does not use|\d+ primes)"):
            mpc.verify(dict(good, primes=primes), verify_keys=mpc.party_keys())
    assert time.perf_counter() - t0 < 10  # a hang, not a speed: the machine may be loaded
    t0 = time.perf_counter()
    with pytest.raises(mpc_ml.EvidenceError, match="signature"):  # the sparsest sub-ring: one prime at 4095
        mpc.verify(dict(good, primes=[canon[-1]]), verify_keys=mpc.party_keys())
    assert time.perf_counter() - t0 < 10  # a hang, not a speed: the machine may be loaded


def test_a_sub_ring_evidence_cannot_be_relabelled_or_claim_another_value(mpc):
    big = Ring(8)
    p = big.primes[5]
    x, good = _solve_1x1(p * 7, p * 22, big)
    keys = mpc.party_keys()
    assert x.tolist() == [22 / 7] and good["primes"] == [q for q in big.primes if q != p]
    assert mpc.verify(good, x, verify_keys=keys).tolist() == [22 / 7]
    for primes in (list(big.primes), good["primes"][:-1], good["primes"][1:], good["primes"][:4] + good["primes"][5:]):
        with pytest.raises(mpc_ml.EvidenceError, match="signature"):
            mpc.verify(dict(good, primes=primes), verify_keys=keys)
    with pytest.raises(mpc_ml.EvidenceError, match="differs"):
        mpc.verify(good, [3.0], verify_keys=keys)
    forged = dict(good, encoding={"kind": "rational", "num_bound": "1", "den_bound": "1"})
    with pytest.raises(mpc_ml.EvidenceError, match="signature"):
        mpc.verify(forged, verify_keys=keys)


# ------------------------------------------------------------------ every party takes the same branch (TCP)


def test_over_tcp_every_party_leaves_out_the_same_primes_and_agrees_on_the_input_error(tmp_path):
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent("""
        import math, sys, numpy as np, mpc_ml
        from mpc_ml.protocols import exact
        from mpc_ml.linear_model import LinearRegression
        mpc_ml.init()
        big = exact.ring_for(*exact.bounds(2, 1, 55))
        ps = [q for q in big.primes if q % 4 == 1]
        def squares(primes):
            a, b = 1, 0
            for p in primes:
                c = next(c for c in range(1, 2000) if math.isqrt(p - c * c) ** 2 == p - c * c)
                d = math.isqrt(p - c * c)
                a, b = a * c - b * d, a * d + b * c
            return abs(a), abs(b)
        out = []
        a, b = squares(ps[:1])
        m = LinearRegression(fit_intercept=False, dst=2).fit(mpc_ml.cryptensor(np.array([[a], [b]]) / 2.0 ** 24),
                                                           mpc_ml.cryptensor(np.array([0.3, -0.2]), src=1))
        out.append("none" if m.evidence_ is None else f"{m.coef_[0]!r}:{len(m.evidence_['primes'])}:"
                   f"{ps[0] in m.evidence_['primes']}")
        a, b = squares(ps[:4])
        try:
            LinearRegression(fit_intercept=False).fit(mpc_ml.cryptensor(np.array([[a], [b]]) / 2.0 ** 24),
                                                      mpc_ml.cryptensor(np.array([0.3, -0.2]), src=1))
            out.append("solved")
        except mpc_ml.InputError as exc:
            out.append("InputError" if "divisible by 4" in str(exc) else repr(exc))
        sys.stdout.write(f"R{mpc_ml.get_rank()} " + " ".join(out) + "\\n")
        """))
    res = subprocess.run([sys.executable, "-m", "quorum", "mpc", "run", "-n", "3", str(script)], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    lines = sorted(res.stdout.split("\n")[:-1])
    ps = [q for q in _big(2, 1).primes if q % 4 == 1]
    a, b = _two_squares(ps[0])
    ref = float(_exact_fit(np.array([[a], [b]]) / 2.0 ** F, np.array([0.3, -0.2]), False)[0])
    assert lines == ["R0 none InputError", "R1 none InputError",
                     f"R2 {np.float64(ref)!r}:{_big(2, 1).k - 1}:False InputError"]


# ------------------------------------------------------------------ defects: caches keyed by the number of primes


def test_prss_coefficients_of_a_sub_ring_are_its_own(mpc):
    """Failed before (fixed in session 23): mpc_ml/prss.py:PRSS.coef caches x^power f_T(x) mod each prime under the
    key (ring.k, power), assuming the ring of k primes is always primes_below_2_21(k); a sub-ring of exact.solve
    (Ring(7) less position 1) has 6 primes like the base ring, so coef returns residues modulo the base ring's
    primes. Fix: key the cache (and PRSS._mats, which is keyed by ring.k too) by ring.primes"""
    from mpc_ml.prss import PRSS

    rt = mpc_ml.runtime.current()
    sub = Ring(7).without([1])
    rt.prss.coef(rt.ring, 0)  # the base ring (6 primes) was used first, as every input does
    fresh = PRSS(rt.n, rt.t, {T: rt.prss._seeds[i] for i, T in enumerate(rt.prss.subsets)}, rt.local_ids)
    assert np.array_equal(rt.prss.coef(sub, 0), fresh.coef(sub, 0))


def test_a_small_value_bound_fit_whose_sub_ring_has_the_base_ring_s_prime_count(mpc):
    """Failed before (fixed in session 23): mpc_ml/protocols/exact.py:solve -> arith.reduce_degree in the sub-ring
    -> PRSS.coef keyed by (ring.k, power): LinearRegression(fit_intercept=False, value_bound=2**-10) on x = [122,
    1443] / 2^24 (122^2 + 1443^2 = 2097133, the ring's 2nd prime), y = [2^-12, -2^-13] solves in Ring(7); the
    sub-ring without 2097133 has 6 primes like the base ring, whose cached PRSS coefficients (modulo other primes)
    make garbage masks: ShareCheckError 'the opening is inconsistent ... suspects: all parties' for an honest
    nonsingular system (the fix of this commit fails and blames everyone). Fix: key PRSS caches by ring.primes"""
    big = _big(2, 1, vb=-10)
    assert big.k == mpc_ml.runtime.current().ring.k + 1 == 7
    p = big.primes[1]
    a, b = _two_squares(p)
    assert (a, b) == (122, 1443)
    x = np.array([[a], [b]]) / 2.0 ** F
    y = np.array([2.0 ** -12, -2.0 ** -13])
    m = LinearRegression(fit_intercept=False, value_bound=2.0 ** -10).fit(mpc.cryptensor(x), mpc.cryptensor(y, src=1))
    assert m.coef_.tolist() == [float(_exact_fit(x, y, False)[0])]


def test_a_sub_ring_solve_does_not_poison_a_later_ordinary_fit(mpc):
    """Failed before (fixed in session 23): mpc_ml/prss.py:PRSS.coef keyed by (ring.k, power): a fit that left a
    prime out (default value_bound, x^2 + x'^2 = the 2nd prime of its 15-prime ring) caches the 14-prime sub-ring's
    coefficients under k = 14; a later ordinary fit in the same session whose big ring has 14 primes (20 random
    samples, value_bound 2^24) gets them and fails with ShareCheckError blaming all parties: one unlucky dataset
    breaks every later model of that size. Fix: key PRSS caches by ring.primes"""
    big = _big(2, 1)
    p = next(q for q in big.primes[:-1] if q % 4 == 1)
    a, b = _two_squares(p)
    x = np.array([[a], [b]]) / 2.0 ** F
    first = LinearRegression(fit_intercept=False).fit(mpc.cryptensor(x), mpc.cryptensor(np.array([0.3, -0.2]), src=1))
    assert len(first.evidence_["primes"]) == big.k - 1 == 14
    rng = np.random.default_rng(1)
    X = rng.normal(size=(20, 1))
    Y = 2 * X[:, 0] + 0.5 * rng.normal(size=20)
    assert _big(20, 1, vb=24).k == 14
    m = LinearRegression(fit_intercept=False, value_bound=2.0 ** 24).fit(mpc.cryptensor(X), mpc.cryptensor(Y, src=1))
    assert m.coef_.tolist() == [float(_exact_fit(X, Y, False)[0])]


def test_preprocessed_double_sharings_are_not_taken_for_a_sub_ring(mpc):
    """Failed before (fixed in session 23): mpc_ml/protocols/arith.py:double_random takes ('double', ring.k) from
    runtime.Pool: after mpc_ml.preprocess(reductions=64) (filled in the 6-prime base ring) the exact solve of 7 x =
    21 scaled by the 2nd prime of Ring(7) reduces in the 6-prime sub-ring and takes the base ring's double sharings:
    ShareCheckError (this stays after PRSS.coef is fixed). Fix: key the pool by ring.primes (('double',
    ring.primes)), or never take pooled masks for a ring other than the one they were made in"""
    mpc.preprocess(reductions=64)
    ring = Ring(7)
    p = ring.primes[1]
    x, evd = _solve_1x1(p * 7, p * 21, ring)
    assert x.tolist() == [3.0] and p not in evd["primes"]
