"""Joint statistics across organisations, and the examples (in-process and over TCP)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import mpc_ml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ["mpc_secure_inference.py", "mpc_regression.py", "mpc_wage_gap.py"]


def _orgs(rng, n_orgs=4):
    data = {}
    for org in range(n_orgs):
        n = 80 + 40 * org
        cat = rng.choice(["a", "b", "rare"], n, p=[0.55, 0.42, 0.03])
        data[org] = (rng.normal(50.0, 10.0, n) + (cat == "b") * 5, cat)
    return data


def test_group_summary_matches_plaintext(rng):
    mpc_ml.init(parties=4)
    data = _orgs(rng)
    bins = [0, 45, 55, 1000]
    res = mpc_ml.stats.group_summary(data, ["a", "b", "rare"], bins=bins)
    values = np.concatenate([v for v, _ in data.values()])
    cats = np.concatenate([c for _, c in data.values()])
    for i, lev in enumerate(["a", "b", "rare"]):
        x = values[cats == lev]
        assert res["count"][i] == x.size
        assert abs(res["mean"][i] - x.mean()) < 1e-5
        assert abs(res["variance"][i] - x.var()) < 1e-3
        assert res["histogram"][i] == np.histogram(x, bins=bins)[0].tolist()
    mpc_ml.uninit()


def test_small_count_suppression(mpc, rng):
    data = _orgs(rng, 3)
    cats = np.concatenate([c for _, c in data.values()])
    res = mpc.stats.group_summary(data, ["a", "b", "rare"], min_count=int((cats == "rare").sum()) + 1, dst=1)
    assert res["suppressed"] == [False, False, True]
    assert res["count"][2] is None and res["mean"][2] is None


def test_stats_bad_input(mpc):
    with pytest.raises(mpc_ml.InputError, match="not among the levels"):
        mpc.stats.group_summary({0: (np.ones(2), np.array(["x", "y"]))}, ["x"])
    with pytest.raises(mpc_ml.InputError, match="NaN"):
        mpc.stats.group_summary({0: (np.array([np.nan]), np.array(["x"]))}, ["x"])
    with pytest.raises(mpc_ml.InputError, match="range"):
        mpc.stats.group_summary({0: (np.full(3, 1e5), np.array(["x"] * 3))}, ["x"])
    with pytest.raises(mpc_ml.InputError, match="out of range"):
        mpc.stats.group_summary({5: (np.ones(1), np.array(["x"]))}, ["x"])


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_in_process(name):
    res = subprocess.run([sys.executable, str(ROOT / "examples" / name)], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip()


@pytest.mark.slow
@pytest.mark.parametrize("name", EXAMPLES)
def test_example_over_tcp(name):
    res = subprocess.run([sys.executable, "-m", "quorum", "mpc", "run", "-n", "3", str(ROOT / "examples" / name)],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip()
