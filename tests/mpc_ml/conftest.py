"""Shared fixtures: a fresh simulated 3-party runtime per test."""

from __future__ import annotations

import numpy as np
import pytest

import mpc_ml


@pytest.fixture
def mpc():
    """mpc_ml initialised with 3 simulated parties."""
    mpc_ml.init(parties=3)
    yield mpc_ml
    mpc_ml.uninit()


@pytest.fixture
def rng():
    """Deterministic test data."""
    return np.random.default_rng(12345)
