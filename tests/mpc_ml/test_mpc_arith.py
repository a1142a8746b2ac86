"""Shared-tensor arithmetic against numpy, with the documented fixed-point error bounds (ATTACKS row 20)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import mpc_ml
from mpc_ml.ring import Ring

ULP = 2.0 ** -24


def test_ring_roundtrip_and_signs():
    ring = Ring(6)
    v = np.array([0, 1, -1, 2**40, -(2**62), 2**62], dtype=np.int64)
    assert np.array_equal(ring.to_int64(ring.from_int64(v))[0], v)


def test_add_sub_broadcast(mpc, rng):
    a, b = rng.standard_normal((4, 3)), rng.standard_normal(3)
    x, y = mpc.cryptensor(a, src=0), mpc.cryptensor(b, src=1)
    assert np.allclose((x + y).get_plain_text(), a + b, atol=ULP)
    assert np.allclose((x - y).get_plain_text(), a - b, atol=ULP)
    assert np.allclose((2.5 - x).get_plain_text(), 2.5 - a, atol=ULP)


def test_mul_matmul_sum_mean(mpc, rng):
    a, b = rng.standard_normal((5, 7)), rng.standard_normal((7, 3))
    x, y = mpc.cryptensor(a, src=0), mpc.cryptensor(b, src=2)
    assert np.abs((x @ y).get_plain_text() - a @ b).max() < 4 * ULP
    assert np.abs((x * x).get_plain_text() - a * a).max() < 4 * ULP
    assert np.abs((x @ b).get_plain_text() - a @ b).max() < 4 * ULP
    assert np.abs(x.sum(0).get_plain_text() - a.sum(0)).max() < ULP
    assert np.abs(x.mean().get_plain_text() - a.mean()).max() < 4 * ULP


@settings(max_examples=25, deadline=None)
@given(arrays(np.float64, st.integers(1, 20), elements=st.floats(-1000, 1000)),
       arrays(np.float64, st.integers(1, 20), elements=st.floats(-1000, 1000)))
def test_fixed_point_mul_error_bound(a, b):
    """One truncation errs by less than 2 ulp (n=3), plus the encoding rounding of each input."""
    mpc_ml.init(parties=3)
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    z = (mpc_ml.cryptensor(a) * mpc_ml.cryptensor(b, src=1)).get_plain_text()
    ea, eb = np.rint(a / ULP) * ULP, np.rint(b / ULP) * ULP
    assert np.all(np.abs(z - ea * eb) < 2 * ULP + 1e-12 * np.abs(ea * eb))


@settings(max_examples=20, deadline=None)
@given(arrays(np.float64, st.integers(1, 30), elements=st.floats(-1e6, 1e6)))
def test_comparisons_and_relu_exact(a):
    mpc_ml.init(parties=3)
    enc = np.rint(a / ULP) * ULP
    x = mpc_ml.cryptensor(a)
    assert np.array_equal(x.relu().get_plain_text(), np.maximum(enc, 0))
    assert np.array_equal((x >= 0).get_plain_text(), (enc >= 0).astype(float))
    assert np.array_equal((x < 0.5).get_plain_text(), (enc < 0.5).astype(float))


def test_nonlinear_functions(mpc, rng):
    a = rng.uniform(-6, 6, 200)
    x = mpc.cryptensor(a)
    assert np.abs(x.sigmoid().get_plain_text() - 1 / (1 + np.exp(-a))).max() < 1e-4
    assert np.abs(x.exp().get_plain_text() - np.exp(a)).max() < 1e-3 * np.exp(a).max()
    p = np.abs(a) + 0.1
    y = mpc.cryptensor(p)
    assert np.abs(y.reciprocal().get_plain_text() - 1 / p).max() < 1e-4
    assert np.abs(y.sqrt().get_plain_text() - np.sqrt(p)).max() < 1e-4
    s = rng.standard_normal((6, 10))
    z = mpc.cryptensor(s)
    assert np.abs(z.softmax(1).get_plain_text() - np.exp(s) / np.exp(s).sum(1, keepdims=True)).max() < 1e-4
    oh = z.argmax(1).get_plain_text()
    assert np.array_equal(oh.argmax(1), s.argmax(1)) and np.array_equal(oh.sum(1), np.ones(6))
    assert np.array_equal(z.argmax(1, one_hot=False).get_plain_text(), s.argmax(1).astype(float))
    # CrypTen's positional order (dim, keepdim, one_hot): a ported call means the same here
    assert np.array_equal(z.argmax(1, True, False).get_plain_text(), s.argmax(1)[:, None].astype(float))
    assert np.array_equal(z.argmin(1, True, False).get_plain_text(), s.argmin(1)[:, None].astype(float))
    assert np.abs(z.max(1)[0].get_plain_text() - s.max(1)).max() < ULP


def test_other_party_counts(rng):
    for n in (4, 5):
        mpc_ml.init(parties=n)
        a, b = rng.standard_normal(50), rng.standard_normal(50)
        x, y = mpc_ml.cryptensor(a, src=n - 1), mpc_ml.cryptensor(b, src=0)
        assert np.abs((x * y).get_plain_text() - a * b).max() < 8 * ULP
        assert np.array_equal((x > y).get_plain_text(), (np.rint(a / ULP) > np.rint(b / ULP)).astype(float))
    mpc_ml.uninit()


@pytest.mark.parametrize("bad,msg", [
    (np.array([1.0, np.nan]), "NaN"), (np.array([np.inf]), "infinite"), (np.array([3e10]), "range")])
def test_bad_input_rejected(mpc, bad, msg):
    with pytest.raises(mpc_ml.InputError, match=msg):
        mpc.cryptensor(bad)


def test_bad_party_and_shapes(mpc):
    with pytest.raises(mpc_ml.InputError, match="out of range"):
        mpc.cryptensor([1.0], src=3)
    x = mpc.cryptensor(np.ones((2, 3)))
    with pytest.raises(mpc_ml.InputError, match="broadcast"):
        x + mpc.cryptensor(np.ones((4,)))
    with pytest.raises(mpc_ml.InputError, match="matmul"):
        x @ mpc.cryptensor(np.ones((2, 2)))
    with pytest.raises(mpc_ml.InputError, match="out of range"):
        x.get_plain_text(dst=7)


def test_function_accuracy_over_documented_ranges(mpc):
    """The ranges and errors stated in mpc_ml/README.md."""
    x = np.linspace(-64, 0, 257)
    assert np.abs(mpc.cryptensor(x).exp().get_plain_text() - np.exp(x)).max() < 5e-5
    x = np.geomspace(0.01, 200, 257)
    assert (np.abs(mpc.cryptensor(x).reciprocal().get_plain_text() - 1 / x) * x).max() < 1e-4
    assert (np.abs(mpc.cryptensor(x).sqrt().get_plain_text() - np.sqrt(x)) / np.sqrt(x)).max() < 1e-4
    x = np.linspace(-30, 30, 257)
    assert np.abs(mpc.cryptensor(x).sigmoid().get_plain_text() - 1 / (1 + np.exp(-x))).max() < 2e-5


@pytest.mark.parametrize("parties", [3, 4, 5])
def test_comparisons_are_exact_up_to_the_edge_of_their_range(parties):
    """Comparisons take the whole 64-bit word their circuit works on: |a| < 2^(cmp_bits - 1) units, 2^37 for 3
    parties, beyond the inputs' 2^31, so that a product of two legal values (a squared amount) compares exactly
    up to that edge, on either side."""
    from mpc_ml.runtime import current

    mpc_ml.init(parties=parties)
    try:
        params = current().params
        f, k1 = params.frac_bits, params.cmp_bits - 1
        assert k1 == 63 - params.subsets.bit_length() and k1 - f > params.value_bits
        top = 2.0 ** (k1 - f - 30) - 2.0 ** -20  # x y = 2^(k1 - f) - 2^10: inside by 2^34 units (y's precision)
        x = mpc_ml.cryptensor(np.full(6, 2.0 ** 30))
        y = mpc_ml.cryptensor(np.array([top, -top, 2.0 ** -20, -2.0 ** -20, top / 2, -top / 2]))
        z = x * y
        got = z.relu().get_plain_text()
        want = np.maximum(z.get_plain_text(), 0)
        assert np.array_equal((got > 0), (want > 0)) and np.allclose(got, want, rtol=1e-9)
        assert (z >= 0).get_plain_text().tolist() == [1, 0, 1, 0, 1, 0]
    finally:
        mpc_ml.uninit()
