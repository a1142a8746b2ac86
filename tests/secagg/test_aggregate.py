"""Secure aggregation equals the plain sum within the quantisation bound, with dropouts in any round."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mpc_ml.secagg import DropoutError, SecAggError, aggregate, verify


def plain_sum(updates: list[np.ndarray], dropped_inputs: set[int]) -> np.ndarray:
    return sum((u for i, u in enumerate(updates) if i not in dropped_inputs), np.zeros_like(updates[0]))


@st.composite
def sessions(draw: st.DrawFn) -> tuple:
    n = draw(st.integers(3, 9))
    d = draw(st.integers(1, 16))
    degree = draw(st.sampled_from(sorted({n - 1} | {k for k in range(2, n - 1, 2)})))
    threshold = draw(st.integers((degree + 1) // 2 + 1, degree + 1))
    clip = draw(st.sampled_from([0.5, 1.0, 8.0]))
    updates = draw(st.lists(st.lists(st.floats(-clip, clip), min_size=d, max_size=d), min_size=n, max_size=n))
    drops = draw(st.dictionaries(st.integers(0, n - 1), st.sampled_from([1, 2, 3]), max_size=n))
    return [np.array(u) for u in updates], drops, threshold, degree, clip


@settings(max_examples=40, deadline=None)
@given(sessions())
def test_aggregate_equals_plain_sum_or_fails_cleanly(session: tuple) -> None:
    updates, drops, threshold, degree, clip = session
    try:
        result = aggregate(updates, drops, threshold, neighbours=degree, clip=clip)
    except DropoutError:
        return  # too many dropouts for this threshold: a clean, named failure
    dropped_inputs = {i for i, r in drops.items() if r < 3}
    assert result.survivors == [i + 1 for i in range(len(updates)) if i not in dropped_inputs]
    assert np.abs(result.total - plain_sum(updates, dropped_inputs)).max() <= result.error_bound
    assert np.array_equal(verify(result.transcript).total, result.total)


@pytest.mark.parametrize(
    ("neighbours", "threshold", "dropped"),
    [
        (None, 6, []),
        (None, 6, [0, 3]),
        (None, 6, [0, 3, 5, 6]),  # threshold-many: 6 of 10 left
        (6, 4, []),
        (6, 4, [0, 3]),
        (6, 4, [0, 3, 5]),  # at most 3 gone from any neighbourhood of 7: 4 left
    ],
)
def test_no_some_and_threshold_many_dropouts(neighbours: int | None, threshold: int, dropped: list[int]) -> None:
    rng = np.random.default_rng(5)
    updates = [rng.uniform(-1, 1, 64) for _ in range(10)]
    result = aggregate(updates, dropped, threshold=threshold, neighbours=neighbours)
    assert np.abs(result.total - plain_sum(updates, set(dropped))).max() <= result.error_bound
    assert np.allclose(result.mean, plain_sum(updates, set(dropped)) / (10 - len(dropped)), atol=1e-6)


@pytest.mark.parametrize("round_", [1, 2, 3])
def test_too_many_dropouts_fail_cleanly(round_: int) -> None:
    updates = [np.ones(4) * 0.1 for _ in range(6)]
    with pytest.raises(DropoutError, match="needed|threshold"):
        aggregate(updates, {0: round_, 1: round_, 2: round_}, threshold=4)


def test_a_dropout_after_the_masked_input_still_counts() -> None:
    updates = [np.full(3, i / 10) for i in range(6)]
    result = aggregate(updates, {2: 3}, threshold=4)
    assert result.survivors == [1, 2, 3, 4, 5, 6]
    assert np.allclose(result.total, 1.5, atol=result.error_bound)


def test_values_outside_the_clip_range_are_clipped() -> None:
    with pytest.warns(UserWarning, match="clipped"):
        result = aggregate([np.array([5.0, -5.0]), np.array([0.5, 0.5]), np.array([0.0, 0.0])], clip=1.0)
    assert np.allclose(result.total, [1.5, -0.5], atol=result.error_bound)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"updates": [np.ones(3)]}, "at least 2 clients"),
        ({"updates": [np.ones(3), np.ones(4)]}, "same number of values"),
        ({"updates": [np.ones(3), np.array([1.0, np.nan, 0])]}, "NaN"),
        ({"updates": [np.ones(3)] * 3, "dropouts": [7]}, "not a client index"),
        ({"updates": [np.ones(3)] * 3, "dropouts": {0: 5}}, "drops after round"),
        ({"updates": [np.ones(3)] * 5, "neighbours": 3}, "even"),
        ({"updates": [np.ones(3)] * 5, "threshold": 9}, "threshold"),
        ({"updates": [np.ones(3)] * 5, "threshold": 2}, "more than half"),
        ({"updates": [np.ones(3)] * 5, "clip": -1.0}, "clip"),
        ({"updates": [np.ones(3)] * 5, "bits": 31}, "bits"),
    ],
)
def test_bad_arguments_are_named(kwargs: dict, message: str) -> None:
    with pytest.raises(SecAggError, match=message):
        aggregate(**kwargs)
