"""Adversarial review of mpc_ml (MPC runtime, evidence, transport, nn, PSI, secure aggregation).

Every test names the attack or claim it checks. Tests marked xfail(strict=True) demonstrate a bug
that exists now; the reason says where it is and how to fix it. The owners remove the marker when
they fix the bug (the test then passes). Unmarked tests record properties that held under attack.
"""

from __future__ import annotations

import copy
import socket
import threading
import time
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mpc_ml
from mpc_ml import runtime as rt_mod
from mpc_ml.fixedpoint import KAPPA
from mpc_ml.protocols import arith
from tests.secagg.rounds import through_shares

ULP = 2.0**-24


@pytest.fixture
def mpc3():
    mpc_ml.init(parties=3)
    yield rt_mod.current()
    mpc_ml.uninit()


# ---------------------------------------------------------------------------------------------
# (3) verifiability: evidence of an opened output
# ---------------------------------------------------------------------------------------------


def test_evidence_tampered_precision_changes_the_verified_output(mpc3):
    """Attack: a relay edits `frac_bits` in published evidence; verify() must fail, not return 16x the output."""
    x = mpc_ml.cryptensor(np.array([1.5, -2.25]), src=1)
    value, ev = x.get_plain_text_with_evidence(dst=0)
    vks = [bytes.fromhex(k) for k in ev["verify_keys"]]
    bad = copy.deepcopy(ev)
    bad["frac_bits"] = 20
    try:
        out = mpc_ml.verify(bad, verify_keys=vks)
    except mpc_ml.EvidenceError:
        return
    assert np.array_equal(out, value), f"verify() accepted tampered evidence and returned {out}, not {value}"


def test_evidence_tampered_receivers_is_rejected(mpc3):
    """Attack: evidence claims an output opened to party 0 only was opened to everyone."""
    x = mpc_ml.cryptensor(np.array([3.0]), src=1)
    _, ev = x.get_plain_text_with_evidence(dst=0)
    bad = copy.deepcopy(ev)
    bad["receivers"] = [0, 1, 2]
    with pytest.raises(mpc_ml.EvidenceError):
        mpc_ml.verify(bad, verify_keys=[bytes.fromhex(k) for k in ev["verify_keys"]])


def test_evidence_from_another_run_of_the_same_deployment_is_distinguishable(tmp_path, monkeypatch):
    """Attack: replay evidence of an earlier computation as the evidence of a later one."""
    from mpc_ml import launcher, transport
    from mpc_ml.prss import subsets

    class FakeComm:
        def __init__(self, me, peers, *a, **k):
            self.n = len(peers)
            self.last: dict[int, bytes] = {}

        def send_raw(self, j, payload):  # the other parties echo every start-up message (same nonce)
            self.last[j] = payload

        def recv_raw(self, j, size):
            assert len(self.last[j]) == size
            return self.last[j]

        def close(self):
            pass

    monkeypatch.setattr(transport, "TcpComm", FakeComm)
    monkeypatch.setattr(launcher, "_agree_seeds", lambda comm, me, n, t: {T: bytes(32) for T in subsets(n, t)})
    peers = launcher.write_local_deployment(3, tmp_path)
    monkeypatch.setenv(launcher.ENV_PEERS, str(peers))
    monkeypatch.setenv(launcher.ENV_PARTY, "0")
    monkeypatch.setenv(launcher.ENV_KEY, str(tmp_path / "party0.key"))
    run1 = launcher.runtime_from_env()
    run2 = launcher.runtime_from_env()
    assert (run1.session, run1.output_counter) != (run2.session, run2.output_counter), \
        "two runs of one deployment sign their first outputs under the same (session, label)"


def test_output_share_from_a_lying_party_is_detected_and_named():
    """Held: n=4, t=1: a party that sends (and signs) a wrong output share is named (suspects == [it])."""
    mpc_ml.init(parties=4)
    try:
        rt = rt_mod.current()
        x = mpc_ml.cryptensor(np.array([0.0, -1.0, 2.0**30]), src=2)
        x.share[3] = rt.ring.add(x.share[3][None], rt.ring.const(1 << 40).reshape(1, -1, 1))[0]
        with pytest.raises(mpc_ml.ShareCheckError) as err:
            x.get_plain_text(dst=0)
        assert err.value.suspects == [3]
    finally:
        mpc_ml.uninit()


def test_two_colluding_parties_cannot_frame_an_honest_one():
    """Attack: parties 0 and 1 (n=5, t=2) shift their output shares by h(x) = c (x-3)(x-4); party 4 is blamed."""
    mpc_ml.init(parties=5)
    try:
        rt = rt_mod.current()
        ring = rt.ring
        x = mpc_ml.cryptensor(np.array([1.0, 2.0]), src=4)
        c = np.broadcast_to(ring.const(1 << 30).reshape(1, -1, 1), (1, ring.k, 2)).copy()
        for party, mult in ((0, 6), (1, 2)):  # h(1) = 6c, h(2) = 2c, h(3) = h(4) = 0, h(5) = 2c
            x.share[party] = ring.add(x.share[party][None], ring.scale(c, mult))[0]
        with pytest.raises(mpc_ml.ShareCheckError) as err:
            x.get_plain_text()
        assert err.value.suspects != [4], "honest party 4 was named as the party that sent a wrong share"
    finally:
        mpc_ml.uninit()


# ---------------------------------------------------------------------------------------------
# (1) privacy: who receives output shares; what truncation openings reveal
# ---------------------------------------------------------------------------------------------


def test_get_plain_text_dst_sends_shares_to_dst_only(mpc3):
    """Held: opening to party 2 addresses every party's share to party 2 only (simulation), and the TCP
    backend turns that into sends to party 2 only and no receive at the other parties."""
    from mpc_ml.runtime import Codec, Stats
    from mpc_ml.transport import TcpComm

    rt = mpc3
    seen = []
    orig = rt.exchange

    def spy(local, dests, codec, shape):
        seen.append([list(d) for d in dests])
        return orig(local, dests, codec, shape)

    x = mpc_ml.cryptensor(np.array([7.0]), src=0)  # (its input check is an all-to-all round)
    rt.exchange = spy
    assert x.get_plain_text(dst=2)[0] == 7.0
    assert seen == [[[2], [2], [2]]]

    for me in (0, 1):
        comm = TcpComm.__new__(TcpComm)
        comm.n, comm.me, comm.round, comm.stats = 3, me, 0, Stats()
        calls = []
        comm._transfer = lambda sends, expect, size=None, calls=calls: calls.append((set(sends), set(expect))) or {}
        out = comm.exchange(np.ones((1, 3), dtype=np.uint64), [[2]] * 3, Codec(None), (3,))
        assert calls == [({2}, set())] and not out[[j for j in range(3) if j != me]].any()


def _spy_truncation_openings(monkeypatch, rt) -> list[int]:
    """Record every value opened inside arith.trunc as a Python integer in [0, M).

    The spy sits on the runtime's exchange: what a truncation reveals is the set of shares every
    party sends to every other, so each exchanged stack is reconstructed here, independently of
    the protocol code (which folds the reconstruction into its division by 2^f)."""
    from mpc_ml.protocols import shamir

    opened: list[int] = []
    inside = {"trunc": False}
    orig_exchange, orig_trunc = rt.exchange, arith.trunc

    def exchange(local, dests, codec, shape):
        stack = orig_exchange(local, dests, codec, shape)
        if inside["trunc"]:
            assert codec.ring is not None and all(sorted(d) == list(range(rt.n)) for d in dests)
            c = shamir.reconstruct(codec.ring, stack, 2 * rt.t, check=False)
            opened.extend(np.ravel(np.array(codec.ring.crt(c), dtype=object)).tolist())
        return stack

    def trunc(*args, **kwargs):
        inside["trunc"] = True
        try:
            return orig_trunc(*args, **kwargs)
        finally:
            inside["trunc"] = False

    monkeypatch.setattr(rt, "exchange", exchange)
    monkeypatch.setattr(arith, "trunc", trunc)
    return opened


def test_truncation_openings_stay_inside_the_mask_range_for_valid_values(mpc3, monkeypatch):
    """Held: for in-range values, c = z + 2^(l-1) + r opened by truncation stays below 2^l + C*2^(l+kappa),
    i.e. it is statistically hidden by r (40 extra bits), also for negatives and values near 2^31."""
    opened = _spy_truncation_openings(monkeypatch, mpc3)
    p = mpc3.params
    a = np.array([-(2.0**15), -1.0, -ULP, 0.0, ULP, 1.5, 2.0**15 - 1])
    (mpc_ml.cryptensor(a) * mpc_ml.cryptensor(a[::-1], src=1)).get_plain_text()
    (mpc_ml.cryptensor(np.array([2.0**30.9, -(2.0**30.9)])) * 0.5).get_plain_text()
    limit = (1 << p.trunc_bits) + p.subsets * (1 << (p.trunc_bits + KAPPA))
    assert opened and max(opened) < limit


def test_truncation_openings_hide_the_secret_for_large_negative_sigmoid_inputs(mpc3, monkeypatch):
    """Attack: the input party's value x = -1000 (a legal input) makes truncation openings exceed the mask."""
    opened = _spy_truncation_openings(monkeypatch, mpc3)
    p = mpc3.params
    mpc_ml.cryptensor(np.array([-1000.0, 900.0]), src=1).sigmoid()
    limit = (1 << p.trunc_bits) + p.subsets * (1 << (p.trunc_bits + KAPPA))
    too_big = [c for c in opened if c >= limit]
    assert opened and not too_big, f"{len(too_big)} truncation openings exceed the mask range (largest 2^{max(too_big).bit_length()})"


# ---------------------------------------------------------------------------------------------
# (2) correctness: non-linear functions, comparisons, fixed-point claims
# ---------------------------------------------------------------------------------------------


def test_sigmoid_softmax_exp_far_from_zero(mpc3):
    """Claim: sigmoid and softmax (no documented input range) match plaintext for legal inputs |x| < 2^31."""
    x = mpc_ml.cryptensor(np.array([-1000.0, -700.0, 1000.0]))
    assert np.allclose(x.sigmoid().get_plain_text(), [0.0, 0.0, 1.0], atol=1e-4)
    assert np.allclose(mpc_ml.cryptensor(np.array([-1000.0])).exp().get_plain_text(), [0.0], atol=1e-4)
    s = mpc_ml.cryptensor(np.array([[0.0, 1000.0], [5.0, -800.0]]))
    assert np.allclose(s.softmax(1).get_plain_text(), [[0.0, 1.0], [1.0, 0.0]], atol=1e-4)


def test_comparisons_and_max_of_legal_inputs_far_apart(mpc3):
    """Claim (README): comparisons and ReLU are exact for |x| < 2^31."""
    a = np.array([1.5e9, -1.5e9, 2.0e9, -2.0e9])
    b = -a
    x, y = mpc_ml.cryptensor(a), mpc_ml.cryptensor(b, src=1)
    assert np.array_equal((x >= y).get_plain_text(), (a >= b).astype(float))
    m = mpc_ml.cryptensor(np.array([2.0e9, -2.0e9]))
    assert m.max().get_plain_text() == 2.0e9
    assert np.array_equal(m.argmax().get_plain_text(), [1.0, 0.0])


@settings(max_examples=12, deadline=None)
@given(st.lists(st.integers(-(2**55) + 1, 2**55 - 1), min_size=1, max_size=16))
def test_comparisons_exact_over_the_whole_range_near_zero_and_limits(ints):
    """Held: [x >= 0], relu and x < 0 are exact for every fixed-point value |x| < 2^31 (hypothesis over
    integers of ulps, always including 0, +-1 ulp and the extremes +-(2^31 - 2^-24))."""
    vals = np.array(ints + [0, 1, -1, 2**55 - 1, -(2**55) + 1], dtype=np.float64) * ULP
    vals = np.clip(vals, -(2.0**31) + 2**7 * ULP, 2.0**31 - 2**7 * ULP)  # float64 spacing near 2^31 is 2^-22
    mpc_ml.init(parties=3)
    try:
        x = mpc_ml.cryptensor(vals)
        assert np.array_equal((x >= 0).get_plain_text(), (vals >= 0).astype(float))
        assert np.array_equal(x.relu().get_plain_text(), np.maximum(vals, 0))
        assert np.array_equal((x < 0).get_plain_text(), (vals < 0).astype(float))
    finally:
        mpc_ml.uninit()


def test_public_scalar_operands_are_validated(mpc3):
    """Robustness: bad public operands are rejected with InputError, as the array path already does."""
    x = mpc_ml.cryptensor(np.array([1.5, -2.0]))
    for bad in (float("nan"), float("inf"), 1e20):
        with pytest.raises(mpc_ml.InputError):
            x * bad
    with pytest.raises(mpc_ml.InputError):
        x / 1e-12


def test_readme_multiplication_error_bound_for_four_parties():
    """Claim (README): one fixed-point multiplication errs by less than (bias + 1) units (2 units for n=4)."""
    mpc_ml.init(parties=4)
    try:
        rt = rt_mod.current()
        bound = rt.params.trunc_bias + 1
        rng = np.random.default_rng(7)
        a = rng.integers(-(2**26), 2**26, 3000) * ULP
        b = rng.integers(-(2**26), 2**26, 3000) * ULP
        z = (mpc_ml.cryptensor(a) * mpc_ml.cryptensor(b, src=1)).get_plain_text()
        err = np.abs(z - a * b) / ULP
        assert err.max() < bound, f"{int((err >= bound).sum())} of 3000 products err by >= {bound} units"
    finally:
        mpc_ml.uninit()


def test_precision_argument_is_validated_or_exact():
    """Bad input is rejected with InputError; integer mode (precision=0) multiplies exactly."""
    try:
        for bad in (2.5, -3):
            with pytest.raises(mpc_ml.InputError):
                mpc_ml.init(parties=3, precision=bad)
        try:
            mpc_ml.init(parties=3, precision=0)
        except mpc_ml.InputError:
            return
        x = mpc_ml.cryptensor(np.array([2.0, -3.0, 7.0]))
        assert np.array_equal((x * x).get_plain_text(), [4.0, 9.0, 49.0])
    finally:
        mpc_ml.uninit()


def test_documented_function_accuracy_at_range_edges(mpc3):
    """Held: reciprocal and sqrt on (0.01, 200) and exp on [-64, 16] meet the README's stated errors at the
    very edges of their ranges (where Newton starts farthest from the answer)."""
    x = np.array([0.0101, 0.011, 150.0, 199.9])
    t = mpc_ml.cryptensor(x)
    assert (np.abs(t.reciprocal().get_plain_text() * x - 1)).max() < 1e-4
    assert (np.abs(t.sqrt().get_plain_text() / np.sqrt(x) - 1)).max() < 1e-4
    e = np.array([-64.0, -63.9, -0.001, 0.0, 15.9, 16.0])
    got = mpc_ml.cryptensor(e).exp().get_plain_text()
    assert np.abs(got[:4] - np.exp(e[:4])).max() < 5e-5
    assert (np.abs(got[4:] / np.exp(e[4:]) - 1)).max() < 1e-3


def test_exact_regression_with_negative_and_large_values(mpc3):
    """Held: LinearRegression/Ridge equal the exact least-squares solution of the fixed-point inputs, for
    features and targets near +-1e9 and of both signs (README: error = input rounding only)."""
    from mpc_ml.linear_model import LinearRegression, Ridge

    rng = np.random.default_rng(3)
    X = np.rint(rng.uniform(-1e9, 1e9, size=(25, 2)) / ULP) * ULP
    y = np.rint((X @ [0.5, -0.25] + rng.normal(size=25) * 1e3) / ULP) * ULP
    Xa = np.c_[X, np.ones(25)]
    m = LinearRegression().fit(mpc_ml.cryptensor(X, src=0), mpc_ml.cryptensor(y, src=1))
    ref = np.linalg.lstsq(Xa, y, rcond=None)[0]
    assert np.allclose(m.coef_, ref[:2], rtol=1e-9) and abs(m.intercept_ - ref[2]) < 1e-6 * max(1, abs(ref[2]))
    Xs = X / 1e8
    r = Ridge(alpha=3.0).fit(mpc_ml.cryptensor(Xs, src=2), mpc_ml.cryptensor(y / 1e8, src=1))
    Xsa = np.c_[np.rint(Xs / ULP) * ULP, np.ones(25)]
    ys = np.rint(y / 1e8 / ULP) * ULP
    ref = np.linalg.solve(Xsa.T @ Xsa + np.diag([3.0, 3.0, 0.0]), Xsa.T @ ys)
    assert np.allclose(np.r_[r.coef_, r.intercept_], ref, rtol=1e-9, atol=1e-12)


def test_division_by_public_constants_and_mean_are_accurate(mpc3):
    """Claim: fixed-point error of a product is a few units of 2^-24 (README), also for public factors."""
    x = mpc_ml.cryptensor(np.array([5e6, 123456.0, -7.5e5]))
    got = (x / 1e6).get_plain_text()
    assert np.abs(got - np.array([5.0, 0.123456, -0.75])).max() < 1e-5, got
    m = mpc_ml.cryptensor(np.ones(100000)).mean().get_plain_text()
    assert abs(float(m) - 1.0) < 1e-5, m


def test_opened_sums_beyond_int64_units_do_not_wrap_silently(mpc3):
    """Wrap-around: a sum of legal inputs outside the documented range must open correctly or raise."""
    x = mpc_ml.cryptensor(np.full(1024, 2.0**30))
    try:
        got = x.sum().get_plain_text()
    except mpc_ml.MPCError:
        return
    assert got == 2.0**40, f"opened {got} for 2^40"


@settings(max_examples=15, deadline=None)
@given(st.lists(st.tuples(st.integers(-(2**54), 2**54), st.integers(-(2**38), 2**38)), min_size=1, max_size=12))
def test_multiplication_error_bound_exact_reference(pairs):
    """Held: shared x shared products err by less than 2 units of 2^-24 for n = 3 (README), checked against
    an exact integer reference (inputs on the 2^-24 grid, |product| < 2^29 so float64 decoding is exact)."""
    pairs = [(a, b) for a, b in pairs if abs(a * b) < 2**77] + [(0, 5), (-1, 1), (-(2**38), 2**38 - 1),
                                                                (2**54 + 12345, -(2**22) - 3)]
    A = np.array([a for a, _ in pairs], dtype=np.float64) * ULP
    B = np.array([b for _, b in pairs], dtype=np.float64) * ULP
    mpc_ml.init(parties=3)
    try:
        z = (mpc_ml.cryptensor(A) * mpc_ml.cryptensor(B, src=2)).get_plain_text(dst=1)
    finally:
        mpc_ml.uninit()
    from fractions import Fraction

    for (a, b), got in zip(pairs, z):
        err = Fraction(int(round(got * 2**24))) - Fraction(a * b, 2**24)
        assert -2 < err < 2, (a, b, got, float(err))


def test_singular_regression_does_not_reveal_the_feature_dependency(mpc3, monkeypatch):
    """Attack: a computing party records the opened R A of a failing fit and finds the null vector of X."""
    from mpc_ml.linear_model import LinearRegression

    opened = []
    orig = arith.open_all

    def spy(rt, shares, degree, check=True, ring=None):
        out = orig(rt, shares, degree, check, ring)
        if ring is not None and ring is not rt.ring and degree == rt.t:
            opened.append((ring, out[0].copy()))
        return out

    monkeypatch.setattr(arith, "open_all", spy)
    rng = np.random.default_rng(5)
    x1, x3 = rng.integers(-50, 50, 30).astype(float), rng.integers(-50, 50, 30).astype(float)
    X, y = np.c_[x1, 2 * x1, x3], rng.integers(-50, 50, 30).astype(float)
    with pytest.raises(Exception):
        LinearRegression().fit(mpc_ml.cryptensor(X, src=0), mpc_ml.cryptensor(y, src=1))
    v = np.array([2, -1, 0, 0], dtype=object)  # the private dependency 2 x1 - x2 = 0 (intercept last)
    leaks = [not np.any(ra[0].astype(np.int64).astype(object).dot(v) % ring.primes[0]) for ring, ra in opened]
    assert opened and not any(leaks), f"{sum(leaks)} opened R A matrices annihilate the private null vector"


def test_verify_rejects_an_absurd_ring_quickly():
    """Attack: a published evidence file names 200000 primes; verify() must raise EvidenceError, not hang."""
    import subprocess
    import sys

    code = ("import mpc_ml\n"
            "ev = {'version': 2, 'n': 3, 't': 1, 'label': 1, 'frac_bits': 24, 'shape': [1], 'session': '00',"
            " 'primes': list(range(200000)), 'shares': ['00'] * 3, 'signatures': ['00'] * 3,"
            " 'verify_keys': ['00'] * 3, 'receivers': [0]}\n"
            "try:\n    mpc_ml.verify(ev)\nexcept mpc_ml.EvidenceError:\n    print('rejected')\n")
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=6)
    except subprocess.TimeoutExpired:
        pytest.fail("verify() did not return within 6 s on evidence naming 200000 primes")
    assert out.stdout.strip() == "rejected", out.stderr[-500:]


def test_bad_party_indices_are_rejected_before_any_round(mpc3):
    """Robustness: bad input (party index out of range) is rejected before any protocol round."""
    from mpc_ml import stats
    from mpc_ml.linear_model import LogisticRegression

    X, y = mpc_ml.cryptensor(np.ones((4, 2))), mpc_ml.cryptensor(np.ones(4), src=1)
    calls = [
        lambda: LogisticRegression(max_iter=2, dst=7).fit(X, y),
        lambda: stats.group_summary({0: ([1.0, 2.0], ["a", "b"])}, ["a", "b"], dst=9),
        lambda: stats.group_summary({0: ([1.0, 2.0], ["a", "b"]), 5: ([1.0], ["a"])}, ["a", "b"]),
    ]
    for call in calls:
        before = mpc3.stats.rounds
        with pytest.raises(mpc_ml.InputError, match="out of range"):
            call()
        assert mpc3.stats.rounds == before, f"{mpc3.stats.rounds - before} rounds ran before the bad index was rejected"


def test_regression_coefficients_come_with_verifiable_evidence(mpc3):
    """Claim (DESIGN, Contracts): every revealed output can come with evidence that verify() checks."""
    from mpc_ml.linear_model import LinearRegression

    X = np.arange(12.0).reshape(6, 2) ** 1.5
    y = X @ [1.0, -2.0] + 0.5
    m = LinearRegression().fit(mpc_ml.cryptensor(X, src=0), mpc_ml.cryptensor(y, src=1))
    ev = getattr(m, "evidence_", None)
    assert ev is not None, "the fitted model exposes no evidence for its coefficients"
    mpc_ml.verify(ev, verify_keys=mpc_ml.party_keys())


def test_cli_timeout_applies_to_one_party_of_a_deployment(tmp_path, monkeypatch):
    """Robustness: `quorum mpc run --party I --peers F --timeout T` must make a stalled peer fail after T
    seconds, as in -n mode (QUORUM_MPC_TIMEOUT must reach the party's runtime)."""
    import argparse
    import os
    import runpy
    import sys

    from mpc_ml import launcher
    from quorum import cmd_mpc

    peers = launcher.write_local_deployment(3, tmp_path)
    script = tmp_path / "s.py"
    script.write_text("pass\n")
    seen = {}
    monkeypatch.setattr(runpy, "run_path", lambda *a, **k: seen.setdefault("t", os.environ.get(launcher.ENV_TIMEOUT)))
    monkeypatch.delenv(launcher.ENV_TIMEOUT, raising=False)
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    for name in (launcher.ENV_PEERS, launcher.ENV_PARTY, launcher.ENV_KEY):
        monkeypatch.setenv(name, os.environ.get(name, ""))  # restored after the test
    args = argparse.Namespace(n=None, party=1, peers=str(peers), key=None, timeout=1.5, quorum=None, script=str(script),
                              args=[])
    cmd_mpc._run(args)
    assert seen.get("t") is not None and float(seen["t"]) == 1.5, f"the party runs with timeout {seen.get('t')!r}"


# ---------------------------------------------------------------------------------------------
# nn
# ---------------------------------------------------------------------------------------------


def test_maxpool_with_padding_matches_pytorch(mpc3):
    """Claim: from_pytorch models give PyTorch's outputs; MaxPool2d(2, 2, padding=1) on negative inputs."""
    from mpc_ml.nn.modules import MaxPool2d

    x = -1.0 - np.arange(16.0).reshape(1, 1, 4, 4)
    got = MaxPool2d(2, 2, 1)(mpc_ml.cryptensor(x)).get_plain_text()
    padded = np.pad(x, [(0, 0), (0, 0), (1, 1), (1, 1)], constant_values=-np.inf)
    ref = padded.reshape(1, 1, 3, 2, 3, 2).max(axis=(3, 5))
    assert np.array_equal(got, ref), f"got {got.ravel()}, expected {ref.ravel()}"


def test_from_pytorch_refuses_or_matches_layer_options(mpc3):
    """Claim: from_pytorch(model) computes the model, or names what it does not support."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    x = torch.randn(1, 1, 5, 5)
    models = {
        "circular Conv2d": torch.nn.Sequential(torch.nn.Conv2d(1, 1, 3, padding=1, padding_mode="circular")),
        "MaxPool2d ceil_mode": torch.nn.Sequential(torch.nn.MaxPool2d(2, ceil_mode=True)),
        "MaxPool2d dilation": torch.nn.Sequential(torch.nn.MaxPool2d(2, dilation=2)),
        "AvgPool2d count_include_pad=False": torch.nn.Sequential(torch.nn.AvgPool2d(2, padding=1, count_include_pad=False)),
        "Flatten end_dim": torch.nn.Sequential(torch.nn.Flatten(0, 1)),
    }
    wrong = []
    for name, model in models.items():
        try:
            converted = mpc_ml.nn.from_pytorch(model, x)
        except mpc_ml.InputError:
            continue
        got = np.asarray(converted(mpc_ml.cryptensor(x.numpy())).get_plain_text())
        ref = model(x).detach().numpy()
        if got.shape != ref.shape or np.abs(got - ref).max() > 1e-4:
            wrong.append(name)
    assert not wrong, f"silently different from PyTorch: {wrong}"


def test_key_files_are_private_and_never_replaced(tmp_path):
    """Secret files are written with mode 0600 (DESIGN security rule 3); an existing one (perhaps a deployed
    party's key) is never replaced."""
    import os
    import stat

    from mpc_ml.launcher import new_key, write_secret

    path = tmp_path / "party0.key"
    write_secret(path, new_key(0)[0])
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    kept = path.read_bytes()
    with pytest.raises(FileExistsError):
        write_secret(path, new_key(0)[0])
    assert path.read_bytes() == kept


# ---------------------------------------------------------------------------------------------
# (4) robustness of the TCP transport
# ---------------------------------------------------------------------------------------------


def test_malformed_frames_are_protocol_errors_naming_the_party():
    """Held: a frame that is too short, too long, or fails AES-GCM authentication raises ProtocolError with
    the sender's party index (never a crash or a hang)."""
    import struct

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from mpc_ml.errors import ProtocolError
    from mpc_ml.transport import Channel

    key = bytes(range(32))
    for frame in (struct.pack("!I", 3) + b"abc", struct.pack("!I", (1 << 31) + 1),
                  struct.pack("!I", 40) + bytes(40)):
        ch = Channel(2, None, key, key)
        ch.inbuf += frame
        with pytest.raises(ProtocolError) as err:
            ch.pop_frame()
        assert err.value.party == 2
    ch = Channel(2, None, key, key)
    good = AESGCM(key).encrypt((0).to_bytes(12, "big"), b"hello", None)
    ch.inbuf += struct.pack("!I", len(good)) + good + struct.pack("!I", len(good)) + good  # replayed frame
    assert ch.pop_frame() == b"hello"
    with pytest.raises(ProtocolError):
        ch.pop_frame()


def test_a_silent_stray_connection_does_not_break_start_up(tmp_path):
    """Attack: connect to party 0's port and send nothing while the real parties start."""
    from mpc_ml.transport import TcpComm
    from tests.mpc_ml.deployment import start_up_with_stray

    results = start_up_with_stray(tmp_path, lambda stray: None, connect_timeout=3.0)
    assert all(isinstance(results.get(i), TcpComm) for i in range(3)), results


# ---------------------------------------------------------------------------------------------
# (5) PSI
# ---------------------------------------------------------------------------------------------


def test_psi_size_mode_response_does_not_depend_on_request_order():
    """Held: in reveal='size' the server's response is sorted, so it is the same for any order of the
    request: a (semi-honest) client cannot tell which of its items matched."""
    from mpc_ml.psi import PsiServer, Request

    server = PsiServer(["a", "b", "c", "d"], reveal="size")
    from mpc_ml.psi import PsiClient

    client = PsiClient(["x", "b", "y", "d", "z"], reveal="size")
    pts = client.request(False).points
    rows = [pts[i:i + 32] for i in range(0, len(pts), 32)]
    reordered = Request(b"".join(rows[::-1]), False)
    assert server.respond(client.request(False)).points == server.respond(reordered).points
    assert client.finish(server.respond(client.request()).to_bytes(), server.setup.to_bytes()).size == 2


def test_psi_false_positive_rate_within_the_stated_fpr():
    """Held: with fpr=0.02 and 300 server items, 3000 non-members of the client match at most at the
    stated rate (binomial slack: < 1.5 * fpr * 3000)."""
    from mpc_ml.psi import intersection

    server = [f"s{i}" for i in range(300)]
    client = [f"c{i}" for i in range(3000)]
    found = intersection(client, server, reveal="size", fpr=0.02)
    assert found < 1.5 * 0.02 * 3000


def _psi_keys():
    from threshold.dkg import CeremonyParams, run_ceremony
    from threshold.groups import get_group

    group = get_group("ed25519")
    return group, run_ceremony(CeremonyParams(group, 3, 2, b"tests/review/psi"))[1]


def test_psi_sum_verify_rejects_a_result_under_keys_of_the_forgers_choice():
    """Attack: forge a PSI-sum result (total 999999) with a fresh key set; verify_sum must not accept it as
    the trustees' release."""
    from mpc_ml.psi import intersection_sum, verify_sum

    group, real = _psi_keys()
    honest = intersection_sum({"a": 5, "b": 7}, ["a", "b", "c"], real[:2], quorum=2, max_value=10**6, min_count=0)
    assert verify_sum(honest.to_json(), real[0].public_key, real[0].verification_keys) == 12
    _, fake = _psi_keys()
    forged = intersection_sum({"a": 999999}, ["a"], fake[:2], quorum=2, max_value=10**6, min_count=0)
    try:
        total = verify_sum(forged.to_json(), real[0].public_key, real[0].verification_keys)
    except Exception:  # noqa: BLE001  (any refusal is the fix)
        return
    assert forged.record.public_key == real[0].public_key, f"a forged result verified with total {total}"


def test_psi_sum_trustees_refuse_overlapping_subsets_of_one_request():
    """Attack: the server submits {c0,c1}, {c0,c2}, {c1,c2} from one request and solves for each value."""
    import dataclasses

    from mpc_ml.psi import PsiSumClient, PsiSumServer, decrypt_share, release
    from threshold.elgamal import PublicKey, ciphertext_sum
    from threshold.errors import ProtocolError

    group, keys = _psi_keys()
    pk = PublicKey(group, keys[0].public_key)
    values = {"alice": 11, "bob": 20, "carol": 40}
    server = PsiSumServer(["zed"])  # no item in common: the true sum is 0 and must reveal nothing
    client = PsiSumClient(values, pk, 100)
    honest = server.total(client.reply(server.hello()).to_bytes(group), pk)
    cts = honest.ciphertexts
    ledgers = {k.index: set() for k in keys[:2]}  # each trustee's record of decrypted requests
    sums = []
    for pair in ((0, 1), (0, 2), (1, 2)):
        chosen = tuple(cts[i] for i in pair)
        record = dataclasses.replace(honest, matched=pair, total=ciphertext_sum(group, list(chosen)))
        try:
            partials = [decrypt_share(record, k, {client.verify_key}, ledgers[k.index], min_count=2,
                                      server_keys={server.server_key}) for k in keys[:2]]
        except ProtocolError:
            return
        sums.append(release(record, partials, keys[0].verification_keys, 2).total)
    s01, s02, s12 = sums
    learned = sorted([(s01 + s02 - s12) // 2, (s01 + s12 - s02) // 2, (s02 + s12 - s01) // 2])
    assert learned != sorted(values.values()), "the server learned every individual value of a disjoint set"


def test_psi_sum_verify_is_not_a_denial_of_service_on_a_huge_bound():
    """Attack: publish an honest result with `bound` raised to 10^30; verify_sum must answer quickly."""
    import json
    import subprocess
    import sys

    from mpc_ml.psi import intersection_sum

    group, keys = _psi_keys()
    doc = json.loads(intersection_sum({"a": 5, "b": 7}, ["a", "b"], keys[:2], quorum=2, max_value=100, min_count=0).to_json())
    doc["bound"] = 10**30
    ceremony = {"pk": group.to_hex(keys[0].public_key),
                "vks": {str(i): group.to_hex(v) for i, v in keys[0].verification_keys.items()}}
    code = ("import sys, json\nfrom mpc_ml.psi import verify_sum\nfrom threshold.groups import get_group\n"
            "doc, keys = json.loads(sys.stdin.read())\ng = get_group('ed25519')\n"
            "vks = {int(i): g.from_hex(v) for i, v in keys['vks'].items()}\n"
            "try:\n    print(verify_sum(json.dumps(doc), g.from_hex(keys['pk']), vks))\n"
            "except Exception as e:\n    print('rejected', type(e).__name__, e)\n")
    try:
        out = subprocess.run([sys.executable, "-c", code], input=json.dumps([doc, ceremony]), capture_output=True,
                             text=True, timeout=6)
    except subprocess.TimeoutExpired:
        pytest.fail("verify_sum did not return within 6 s on a result whose bound is 10^30")
    assert out.stdout.strip() == "12" or out.stdout.startswith("rejected PsiError"), out.stdout + out.stderr[-500:]


# ---------------------------------------------------------------------------------------------
# (6) secure aggregation
# ---------------------------------------------------------------------------------------------


def _strip_masks(y: np.ndarray, b_seed: int, s_scalar: int, me: int, peer_s_pk: dict, params) -> np.ndarray:
    """y - PRG(b) - sum_v +-PRG(agree(s, s_pk_v)) mod 2^32: the quantised input of client `me`."""
    from mpc_ml.secagg.client import pair_sign
    from mpc_ml.secagg.keys import agree
    from mpc_ml.secagg.prg import derive, mask

    q = y - mask(derive(b_seed.to_bytes(32, "little"), "self mask", params.session), params.length)
    for v, pk in peer_s_pk.items():
        pad = mask(derive(agree(s_scalar, pk, "peer"), "pairwise mask", params.session), params.length)
        q = q - pad if pair_sign(me, v) > 0 else q + pad
    return q


def test_secagg_split_unmask_requests_do_not_reveal_an_input():
    """Attack: two different (each self-consistent) unmask requests to disjoint groups of honest clients."""
    from mpc_ml.secagg import SecAggClient, SecAggServer, make_params
    from mpc_ml.secagg.keys import secret_to_scalar
    from mpc_ml.secagg.messages import Keys, Masked, Unmask, UnmaskRequest
    from mpc_ml.secagg.unmask import _reconstruct

    try:
        params = make_params(5, 4, threshold=2)
    except Exception:  # noqa: BLE001  (refusing the threshold is the fix)
        return
    server = SecAggServer(params)
    clients = {u: SecAggClient(u, params.to_bytes()) for u in range(1, 6)}
    key_list, routed = through_shares(server, clients)
    secret = np.array([0.125, -0.5, 0.75, -0.875])
    masked = {}
    for u, c in clients.items():
        masked[u] = c.masked_input(secret if u == 5 else np.zeros(4), routed[u], server.quantizer)
    keys = {u: Keys.from_bytes(k, params.context) for u, k in zip(range(1, 6), key_list)}
    b, s = {}, {}
    for group, request in (((1, 5), UnmaskRequest([1, 2, 3, 4, 5], [])), ((3, 4), UnmaskRequest([1, 2, 3, 4], [5]))):
        for v in group:
            try:
                msg = Unmask.from_bytes(clients[v].unmask(request.to_bytes()), keys[v].sig_pk, params.context)
            except Exception:  # noqa: BLE001  (an honest refusal is the fix)
                return
            if 5 in msg.b_shares:
                b[v] = msg.b_shares[5]
            if 5 in msg.sk_shares:
                s[v] = msg.sk_shares[5]
    seed = _reconstruct(b, 2, "b", False)
    scalar = secret_to_scalar(_reconstruct(s, 2, "s", False), "s")
    y = Masked.from_bytes(masked[5], keys[5].sig_pk, params.context, 4).vector
    q = _strip_masks(y, seed, scalar, 5, {v: keys[v].s_pk for v in range(1, 5)}, params)
    recovered = server.quantizer.dequantize_sum(q, 1)
    assert not np.allclose(recovered, secret, atol=1e-6), f"the server recovered client 5's input {recovered}"


def test_secagg_substituted_neighbour_keys_do_not_reveal_an_input():
    """Attack: the server shows client 1 a key list where clients 2 and 3 are impostors it controls."""
    from mpc_ml.secagg import SecAggClient, make_params
    from mpc_ml.secagg.keys import agree
    from mpc_ml.secagg.messages import Keys, Masked
    from mpc_ml.secagg.prg import derive, mask
    from mpc_ml.secagg.quantize import Quantizer
    from mpc_ml.secagg.unmask import _reconstruct

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    params = make_params(3, 4)
    quant = Quantizer(params.clip, params.bits)
    signing = {u: Ed25519PrivateKey.generate() for u in (1, 2, 3)}  # the PKI: every client's registered key
    registered = {u: k.public_key().public_bytes_raw() for u, k in signing.items()}
    victim = SecAggClient(1, params, signing_key=signing[1], peer_keys=registered)
    fakes = {v: SecAggClient(v, params) for v in (2, 3)}
    key_list = [victim.advertise()] + [f.advertise() for f in fakes.values()]
    try:
        victim_shares = victim.share_keys(key_list)
    except Exception:  # noqa: BLE001  (refusing unregistered keys is the fix)
        return
    fake_shares = {v: f.share_keys(key_list) for v, f in fakes.items()}
    for f in fakes.values():
        f.masked_input(np.zeros(4), [victim_shares], quant)
    secret = np.array([0.3, -0.6, 0.9, 0.0])
    y_msg = victim.masked_input(secret, list(fake_shares.values()), quant)
    keys = {u: Keys.from_bytes(k, params.context) for u, k in zip((1, 2, 3), key_list)}
    seed = _reconstruct({v: fakes[v]._received[1][1] for v in fakes}, params.threshold, "b", False)
    y = Masked.from_bytes(y_msg, keys[1].sig_pk, params.context, 4).vector
    q = y - mask(derive(seed.to_bytes(32, "little"), "self mask", params.session), 4)
    for v, f in fakes.items():  # the impostors' own mask keys give the pairwise masks
        q = q - mask(derive(agree(f._s, keys[1].s_pk, "victim"), "pairwise mask", params.session), 4)
    recovered = quant.dequantize_sum(q, 1)
    assert not np.allclose(recovered, secret, atol=1e-6), f"the server recovered client 1's input {recovered}"


@settings(max_examples=15, deadline=None)
@given(st.integers(2, 6), st.lists(st.floats(-3, 3), min_size=3, max_size=3), st.sampled_from([0.5, 1.0, 2.5]))
def test_secagg_sum_within_the_stated_quantisation_bound(clients, base, clip):
    """Held: the aggregate of clipped updates (including values at and beyond +-clip) is within
    error_bound of the exact sum of the clipped values."""
    from mpc_ml.secagg import aggregate

    rng = np.random.default_rng(clients)
    ups = [np.r_[np.array(base), rng.uniform(-clip, clip, 3), [clip, -clip]] for _ in range(clients)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # clipping on purpose: aggregate warns that it clips
        res = aggregate(ups, clip=clip)
    exact = np.sum([np.clip(u, -clip, clip) for u in ups], axis=0)
    assert np.abs(res.total - exact).max() <= res.error_bound
