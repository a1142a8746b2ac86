"""== and != on shared tensors: element-wise shared 0/1 results as in CrypTen (not Python identity)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import mpc_ml
from mpc_ml import runtime as rt_mod

ULP = 2.0 ** -24


def _rounds() -> int:
    return rt_mod.current().stats.rounds


def _plain(t: mpc_ml.MPCTensor) -> np.ndarray:
    assert isinstance(t, mpc_ml.MPCTensor), f"expected a shared tensor, got {type(t).__name__}: {t!r}"
    return t.get_plain_text()


def test_crypten_snippet_eq_ne(mpc):
    """Regression: `x == y` was the Python bool False (identity), `x != y` True, and x.ne(y) missing."""
    x = mpc.cryptensor([1.0, 2.0, 3.0, -4.5])
    y = mpc.cryptensor([1.0, 5.0, 3.0, 4.5], src=1)
    assert np.array_equal(((x == y).get_plain_text()), [1.0, 0.0, 1.0, 0.0])
    assert np.array_equal(((x != y).get_plain_text()), [0.0, 1.0, 0.0, 1.0])
    assert np.array_equal(x.eq(y).get_plain_text(), [1.0, 0.0, 1.0, 0.0])
    assert np.array_equal(x.ne(y).get_plain_text(), [0.0, 1.0, 0.0, 1.0])
    assert np.array_equal(((x == x).get_plain_text()), np.ones(4))
    assert np.array_equal(((x != x).get_plain_text()), np.zeros(4))


def test_public_operands_on_either_side(mpc):
    a = np.array([[0.0, 1.5, -2.0], [3.0, 1.5, 0.25]])
    x = mpc.cryptensor(a, src=2)
    p = np.array([[0.0, 1.0, -2.0], [3.0, 1.5, 0.0]])
    want = (a == p).astype(float)
    for got in (x == p, p == x, x.eq(p), x == p.tolist(), p.tolist() == x, x.eq(p.tolist())):
        assert np.array_equal(_plain(got), want)
    for got in (x != p, p != x, x.ne(p), x != p.tolist(), p.tolist() != x):
        assert np.array_equal(_plain(got), 1.0 - want)
    for s in (1.5, 3, np.float64(1.5), np.int64(3), True):
        w = (a == float(s)).astype(float)
        assert np.array_equal(_plain(x == s), w) and np.array_equal(_plain(s == x), w)
        assert np.array_equal(_plain(x != s), 1 - w) and np.array_equal(_plain(s != x), 1 - w)
        assert np.array_equal(_plain(x.eq(s)), w) and np.array_equal(_plain(x.ne(s)), 1 - w)
    # a numpy array on the left defers to the shared tensor (it used to iterate over it and fail)
    assert np.array_equal(_plain(p < x), (p < a).astype(float))
    assert np.abs(_plain(p + x) - (p + a)).max() < ULP and np.abs(_plain(p - x) - (p - a)).max() < ULP


def test_torch_operand_on_either_side(mpc):
    torch = pytest.importorskip("torch")
    x = mpc.cryptensor([1.0, 2.0, 3.0])
    t = torch.tensor([1.0, 0.0, 3.0])
    for got in (x == t, t == x, x.eq(t)):
        assert np.array_equal(_plain(got), [1.0, 0.0, 1.0])
    for got in (x != t, t != x, x.ne(t)):
        assert np.array_equal(_plain(got), [0.0, 1.0, 0.0])


def test_broadcasting(mpc, rng):
    a = rng.integers(-3, 4, (4, 3)).astype(float)
    b = rng.integers(-3, 4, 3).astype(float)
    x, y = mpc.cryptensor(a), mpc.cryptensor(b, src=1)
    for got, want in ((x == y, a == b), (y == x, a == b), (x != y, a != b), (y.ne(x), a != b),
                      (x.eq(b), a == b), (b == x, a == b), (b != x, a != b)):
        assert got.shape == (4, 3)
        assert np.array_equal(_plain(got), want.astype(float))
    col, row = mpc.cryptensor(a[:, :1], src=2), mpc.cryptensor(a[:1, :], src=0)  # (4, 1) vs (1, 3)
    got = col == row
    assert got.shape == (4, 3) and np.array_equal(_plain(got), (a[:, :1] == a[:1, :]).astype(float))
    z = mpc.cryptensor(np.array(2.0))  # 0-d against a vector, on both sides
    assert np.array_equal(_plain(z == mpc.cryptensor([2.0, 1.0])), [1.0, 0.0])
    assert np.array_equal(_plain(np.array([2.0, 1.0]) != z), [0.0, 1.0])


def test_shape_mismatch_is_rejected_before_any_round(mpc):
    x, y = mpc.cryptensor(np.zeros((2, 3))), mpc.cryptensor(np.zeros(4), src=1)
    before = _rounds()
    for op in (lambda: x == y, lambda: x != y, lambda: x.eq(y), lambda: x.ne(np.zeros(2))):
        with pytest.raises(mpc_ml.InputError, match="do not broadcast"):
            op()
    assert _rounds() == before


def test_one_ulp_apart_is_not_equal(mpc):
    a = np.array([1.0, 1.0 + ULP, -7.25, 0.0, -ULP])
    x, y = mpc.cryptensor(a), mpc.cryptensor([1.0, 1.0, -7.25, -0.0, 0.0], src=1)
    assert np.array_equal(_plain(x == y), [1.0, 0.0, 1.0, 1.0, 0.0])
    assert np.array_equal(_plain(x != y), [0.0, 1.0, 0.0, 0.0, 1.0])


@settings(max_examples=15, deadline=None)
@given(arrays(np.float64, st.integers(1, 25), elements=st.integers(-5, 5).map(float)),
       arrays(np.float64, st.integers(1, 25), elements=st.integers(-5, 5).map(float)))
def test_eq_ne_match_numpy(a, b):
    mpc_ml.init(parties=3)
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    x, y = mpc_ml.cryptensor(a), mpc_ml.cryptensor(b, src=2)
    eq, ne = (x == y).get_plain_text(), (x != y).get_plain_text()
    assert np.array_equal(eq, (a == b).astype(float)) and np.array_equal(ne, (a != b).astype(float))


def test_other_party_counts(rng):
    for n in (4, 5):
        mpc_ml.init(parties=n)
        a = rng.integers(0, 3, 20).astype(float)
        b = rng.integers(0, 3, 20).astype(float)
        x, y = mpc_ml.cryptensor(a, src=n - 1), mpc_ml.cryptensor(b, src=0)
        assert np.array_equal((x == y).get_plain_text(), (a == b).astype(float))
        assert np.array_equal((x != y).get_plain_text(), (a != b).astype(float))
    mpc_ml.uninit()


def test_identity_uses_run_no_protocol(mpc):
    """Tensors stay hashable by identity (as torch.Tensor): dict keys, sets, `is`, `x in [x]`, and
    == against non-tensor objects (None, str) fall back to identity without any MPC round."""
    x, y = mpc.cryptensor([1.0, 2.0]), mpc.cryptensor([1.0, 2.0], src=1)
    before = _rounds()
    assert hash(x) == hash(x) and hash(x) != hash(y)
    d = {x: "x", y: "y"}
    assert d[x] == "x" and d[y] == "y" and len({x, y, x}) == 2 and x in d and y in {y}
    assert x in [x] and [x, y].index(x) == 0
    assert (x == None) is False and (x != None) is True  # noqa: E711  (deliberate: no element-wise ==)
    assert (x == "a") is False and (x != "a") is True and (None == x) is False
    assert _rounds() == before


def test_truth_value_is_secret(mpc):
    """`if x == y:` cannot be answered without opening: a clear error, not a silently truthy result."""
    x, y = mpc.cryptensor([1.0, 2.0]), mpc.cryptensor([1.0, 2.0], src=1)
    with pytest.raises(TypeError, match="secret"):
        bool(x == y)
    with pytest.raises(TypeError, match="secret"):
        if x != y:
            pass
    before = _rounds()
    with pytest.raises(TypeError, match="secret"):
        1.0 in x  # noqa: B015
    assert _rounds() == before
    assert bool((x == y).get_plain_text().all())
