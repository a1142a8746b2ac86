"""A newcomer data team's walkthrough of mpc_ml: the mistakes they make must give a clear error naming
the problem (never a silently wrong number, a hang, or a raw error from deep inside), and the
documented accuracy must hold against numpy / scikit-learn on sklearn's shipped datasets."""

from __future__ import annotations

import numpy as np
import pytest

import mpc_ml
from mpc_ml import InputError


@pytest.fixture
def mpc():
    """mpc_ml with 3 simulated parties."""
    mpc_ml.init(parties=3)
    yield mpc_ml
    mpc_ml.uninit()


# ------------------------------------------------------------------ shared tensors


@pytest.mark.parametrize("call", [
    lambda x: x.sum(2), lambda x: x.sum(-3), lambda x: x.mean(5), lambda x: x.transpose(0, 2),
    lambda x: x.argmax(2), lambda x: x.softmax(3), lambda x: x.max(-3), lambda x: x.unsqueeze(4),
    lambda x: x.flatten(2), lambda x: mpc_ml.cat([x, x], 2), lambda x: mpc_ml.stack([x, x], 4),
])
def test_a_dim_out_of_range_is_refused_not_wrapped(mpc, call):
    """x.sum(2) on a 2-D tensor summed dim 0 (2 % 2), silently: torch raises, and so do we now."""
    x = mpc.cryptensor(np.arange(6.0).reshape(2, 3))
    with pytest.raises(InputError, match="out of range"):
        call(x)


def test_tensors_of_different_sessions_are_not_combined(mpc):
    """After a second init(), adding an old tensor to a new one mixed shares of two sessions (a raw
    numpy broadcast error, or a result nobody can verify); it names the problem now."""
    old = mpc.cryptensor(np.ones((2, 3)))
    mpc.init(parties=5)
    new = mpc.cryptensor(np.ones((2, 3)))
    for combine in (lambda: old + new, lambda: new * old, lambda: new @ old.t(), lambda: mpc.cat([old, new])):
        with pytest.raises(InputError, match="different mpc_ml sessions"):
            combine()


@pytest.mark.parametrize("value, match", [
    (None, "NoneType"), ("1.5", "str"), ([[1.0, 2.0], [3.0]], "rectangular"), (np.array([1 + 2j]), "complex"),
    (["a", "b"], "real numbers"),
])
def test_inputs_that_are_not_real_numbers_are_named(mpc, value, match):
    """cryptensor(None) said "holds 1 NaN", complex input lost its imaginary part with only a warning,
    text and ragged lists raised numpy's ValueError."""
    with pytest.raises(InputError, match=match):
        mpc.cryptensor(value, src=0)
    with pytest.raises(InputError, match="public operand"):
        mpc.cryptensor(np.ones(2)) + value


def test_sharing_a_shared_tensor_again_is_named(mpc):
    """cryptensor(x) of a shared x, or a model encrypted twice, raised numpy's "setting an array element"."""
    x = mpc.cryptensor(np.ones(3))
    with pytest.raises(InputError, match="already a shared tensor"):
        mpc.cryptensor(x, src=1)


def test_empty_reductions_and_bad_shapes_are_named(mpc):
    """mean() of an empty tensor raised ZeroDivisionError, max() an IndexError from the comparison code,
    reshape numpy's error with the internal (parties, primes, ...) shape, cat([]) an IndexError."""
    empty = mpc.cryptensor(np.zeros(0))
    with pytest.raises(InputError, match="mean over no elements"):
        empty.mean()
    with pytest.raises(InputError, match="max over no elements"):
        empty.max()
    with pytest.raises(InputError, match="argmax over no elements"):
        empty.argmax()
    x = mpc.cryptensor(np.ones((2, 3)))
    with pytest.raises(InputError, match=r"shape \(2, 3\) to \(4, 2\)"):
        x.reshape(4, 2)
    with pytest.raises(InputError, match="non-empty list"):
        mpc.cat([])
    with pytest.raises(InputError, match=r"\(2, 3\), \(3, 2\)"):
        mpc.cat([x, x.t()])
    with pytest.raises(InputError, match="one shape"):
        mpc.stack([x, x.t()])
    with pytest.raises(TypeError, match="0-d"):
        len(x.sum())


def test_valid_dims_still_work(mpc):
    """Negative dims in range, 0-d flatten and keepdim sums behave as torch's."""
    a = np.arange(6.0).reshape(2, 3)
    x = mpc.cryptensor(a)
    assert np.allclose(x.sum(-1).get_plain_text(), a.sum(-1))
    assert np.allclose(x.sum(-2, keepdim=True).get_plain_text(), a.sum(0, keepdims=True))
    assert x.sum().flatten().shape == (1,)
    assert mpc.stack([x, x], -1).shape == (2, 3, 2)
