"""PRSS randomness (uniform residues by rejection, limbs) and the offline pool of masks."""

from __future__ import annotations

import os

import numpy as np
import pytest

import mpc_ml
from mpc_ml import runtime as rt_mod
from mpc_ml.prss import PRSS, subsets
from mpc_ml.ring import Ring


def _views(n: int = 3, t: int = 1):
    """Every party's own PRSS view (TCP-style: only its subsets' seeds) and the simulated one."""
    seeds = {T: os.urandom(32) for T in subsets(n, t)}
    own = [PRSS(n, t, {T: s for T, s in seeds.items() if p in T}, [p]) for p in range(n)]
    return own, PRSS(n, t, seeds, list(range(n)))


def test_residues_are_below_the_primes_agree_across_members_and_replace_rejected_fields():
    ring = Ring(6)
    own, sim = _views()
    per_party = [v.residues(ring, (4000,)) for v in own]
    both = sim.residues(ring, (4000,))
    for ti, T in enumerate(subsets(3, 1)):
        vals = [per_party[p][own[p].held.index(ti)] for p in T]  # rows in each view's `held` order
        assert all(np.array_equal(vals[0], v) for v in vals[1:]) and np.array_equal(vals[0], both[ti])
        assert (vals[0] < ring.p32[:, None]).all() and (vals[0] >= 0).all()
    # a field >= p is never used as such: force the rejection path with a tiny modulus stand-in
    small = Ring(6)
    small.p32 = np.full(6, 1 << 20, dtype=np.float32)  # half of all 21-bit fields rejected
    small.p_u64 = small.p32.astype(np.uint64)
    v = sim.residues(small, (5000,))[0]
    assert (v < (1 << 20)).all()
    assert 0.45 < (v < (1 << 19)).mean() < 0.55  # what is left is uniform on [0, 2^20)


def test_limbs_have_their_widths():
    own, _ = _views()
    lim = own[0].limbs((3000,), [24, 21, 5, 1])
    for v in lim.values():
        for j, w in enumerate([24, 21, 5, 1]):
            assert v[j].max() < 2 ** w and v[j].max() >= 2 ** (w - 1)
    with pytest.raises(ValueError):
        own[0].limbs((3,), [25])


def test_preprocessed_masks_give_the_same_results_and_are_used_once(rng):
    mpc_ml.init(parties=3)
    rt = rt_mod.current()
    a, b = rng.standard_normal((20, 30)), rng.standard_normal((20, 30))
    x, y = mpc_ml.cryptensor(a), mpc_ml.cryptensor(b, src=1)
    spent = mpc_ml.preprocess(multiplications=1000, reductions=50)
    assert set(spent) == {"seconds", "cpu_seconds"}
    key = ("trunc", rt.ring.primes, rt.params.frac_bits)
    assert rt.pool.available(key) == 1000
    z1 = (x * y).get_plain_text()  # 600 from the pool
    assert rt.pool.available(key) == 400
    z2 = (x * y).get_plain_text()  # 400 from the pool, 200 made on demand
    assert rt.pool.available(key) == 0
    assert np.abs(z1 - a * b).max() < 2 ** -22 and np.abs(z2 - a * b).max() < 2 ** -22
    before = rt.pool.available(("double", rt.ring.primes))
    r = x.relu().get_plain_text()
    assert np.array_equal(r, np.maximum(x.get_plain_text(), 0))
    assert rt.pool.available(("double", rt.ring.primes)) < before
    with pytest.raises(mpc_ml.InputError):
        mpc_ml.preprocess(multiplications=-1)
    mpc_ml.uninit()


def test_pool_hands_out_each_element_once():
    pool = rt_mod.Pool()
    pool.add(("k",), (np.arange(5.0)[None], -np.arange(5.0)[None]))
    pool.add(("k",), (np.arange(5.0, 8.0)[None], -np.arange(5.0, 8.0)[None]))
    made = []

    def make(m):
        made.append(m)
        return np.full((1, m), 100.0), np.full((1, m), -100.0)

    a, b = pool.take(("k",), 4, make)
    assert a.tolist() == [[0, 1, 2, 3]] and b.tolist() == [[0, -1, -2, -3]]
    a, _ = pool.take(("k",), 6, make)
    assert a.tolist() == [[4, 5, 6, 7, 100, 100]] and made == [2]
    assert pool.available(("k",)) == 0
