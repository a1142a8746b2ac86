"""The C loops of the ring (mpc_ml/_ring.c) against the numpy/integer reference paths (hypothesis).

Each kernel replaced a numpy routine; the references below are those routines (or exact integer
arithmetic, which they matched), so the kernels' outputs must be bit-identical to them.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mpc_ml.prss import PRSS, subsets
from mpc_ml.protocols import shamir
from mpc_ml.ring import DTYPE, Ring


def _residues(ring: Ring, vals: list[int]) -> np.ndarray:
    return ring.from_objects(np.array(vals, dtype=object))  # (1, K, n)


def _numpy_pack(ring: Ring, r: np.ndarray) -> bytes:
    """The numpy wire encoding that `Ring.pack` replaced."""
    u = r.astype(np.int32).astype(np.uint64)
    groups = []
    for g in range(0, ring.k, 3):
        w = u[g]
        for j in range(1, min(3, ring.k - g)):
            w = w | (u[g + j] << np.uint64(21 * j))
        groups.append(w)
    return np.stack(groups).tobytes()


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 14), st.data())
def test_mul_add_matches_the_float64_reduction(k, data):
    ring = Ring(k)
    n = data.draw(st.integers(1, 40))
    rows = st.lists(st.integers(0, 2**21), min_size=n * k, max_size=n * k)
    x, y, a = (np.array([min(v, q - 1) for v, q in zip(data.draw(rows), np.repeat(ring.primes, n))],
                        dtype=DTYPE).reshape(1, k, n) for _ in range(3))
    ref = ring.reduce(np.multiply(x, y, dtype=np.float64) + a)
    assert np.array_equal(ring.mul_add(x, y, a), ref)
    assert np.array_equal(ring.mul_add(x, y), ring.reduce(np.multiply(x, y, dtype=np.float64)))
    assert np.array_equal(ring.mul_add(x, None, a), ring.add(x, a))


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 13), st.data())
def test_pack_unpack_match_the_numpy_encoding(k, data):
    ring = Ring(k)
    vals = data.draw(st.lists(st.integers(0, ring.modulus - 1), min_size=1, max_size=30))
    r = _residues(ring, vals)[0]
    assert ring.pack(r) == _numpy_pack(ring, r)
    assert np.array_equal(ring.unpack(ring.pack(r), (len(vals),)), r)
    bad = np.frombuffer(ring.pack(r), dtype=np.uint64).copy()
    i = data.draw(st.integers(0, ring.k - 1))
    j = data.draw(st.integers(0, len(vals) - 1))
    w = bad.reshape(-1, len(vals))
    w[i // 3, j] |= np.uint64(0x1FFFFF << (21 * (i % 3)))  # field i of element j set to 2^21 - 1 >= p_i
    with pytest.raises(ValueError, match="outside the ring"):
        ring.unpack(w.tobytes(), (len(vals),))


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 9), st.integers(1, 3), st.lists(st.floats(0.0, 1.0 - 2.0 ** -19, exclude_max=True),
                                                    min_size=1, max_size=12), st.data())
def test_open_trunc_matches_integers(k, degree, fracs, data):
    """Lagrange combination + c mod 2^f by the CRT + division, for every c < M (1 - 2^-19), f in 1..64."""
    ring = Ring(k)
    m = ring.modulus
    vals = [int(f * m) for f in fracs] + [0, 1, m * (2 ** 19 - 1) // 2 ** 19 - 1]
    f = data.draw(st.integers(1, 64))
    nl = data.draw(st.integers(1, 3))
    his = [[data.draw(st.integers(0, m - 1)) for _ in vals] for _ in range(nl)]
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    s = degree + 1
    shares = np.empty((s, k, len(vals)), dtype=DTYPE)
    coeffs = [[int(rng.integers(0, 2**62)) * int(rng.integers(0, 2**62)) % m for _ in vals] for _ in range(degree)]
    for j in range(s):
        x = j + 1
        shares[j] = _residues(ring, [(v + sum(c[i] * x ** (e + 1) for e, c in enumerate(coeffs))) % m
                                     for i, v in enumerate(vals)])[0]
    hi = np.stack([_residues(ring, h)[0] for h in his])
    got = ring.open_trunc(shares, shamir.lagrange_weights(ring, tuple(range(s))), f, hi)
    inv = pow(1 << f, -1, m)
    for li in range(nl):
        want = [((v - v % (1 << f)) * inv - h) % m for v, h in zip(vals, his[li])]
        assert ring.crt(got[li]) == want
    assert ring.crt(ring.open_trunc(shares, shamir.lagrange_weights(ring, tuple(range(s))), f)[0]) == \
        [(v - v % (1 << f)) * inv % m for v in vals]


def _numpy_shares(prss: PRSS, ring: Ring, size: int, widths, outputs, zero, offsets) -> np.ndarray:
    """The former numpy path of PRSS.shares: limbs from the streams, exact int64 forms, zero terms."""
    j = len(widths)
    encs = prss._encryptors()
    held = sorted(encs)
    masks = np.array([(1 << w) - 1 for w in widths], dtype=np.uint32)[:, None]
    limbs = np.concatenate([np.frombuffer(encs[i].update(bytes(4 * j * size)), dtype=np.uint32).reshape(j, size)
                            & masks for i in held]).astype(np.int64)
    mat = prss._matrix(ring, j, outputs, held).astype(np.int64)  # (L, O*K, H*J)
    acc = np.matmul(mat, limbs).reshape(len(prss.local_ids), len(outputs), ring.k, size)
    if offsets is not None:
        acc += np.array([ring.const(v) for v in offsets], dtype=np.int64)[None, :, :, None]
    for o in zero:
        for coef, values in prss.zero_sharing(ring, (size,)):
            acc[:, o] += np.einsum("ltk,tks->lks", coef.astype(np.int64), values.astype(np.int64))
    return (acc % np.array(ring.primes, dtype=np.int64)[None, None, :, None]).astype(DTYPE)


@settings(max_examples=25, deadline=None)
@given(st.sampled_from([(3, 1), (4, 1), (5, 2)]), st.integers(1, 8), st.integers(1, 300), st.data())
def test_prss_shares_match_the_numpy_path(nt, k, size, data):
    n, t = nt
    ring = Ring(k)
    widths = data.draw(st.lists(st.integers(1, 24), min_size=1, max_size=7))
    term = st.tuples(st.integers(0, len(widths) - 1), st.integers(0, 2**80), st.integers(0, t))
    outputs = data.draw(st.lists(st.lists(term, min_size=1, max_size=5), min_size=1, max_size=3))
    zero = tuple(o for o in range(len(outputs)) if data.draw(st.booleans()))
    offsets = data.draw(st.none() | st.lists(st.integers(0, 2**90), min_size=len(outputs), max_size=len(outputs)))
    seeds = {T: os.urandom(32) for T in subsets(n, t)}
    locals_ = data.draw(st.sampled_from([[0], [n - 1], list(range(n))]))
    new, old = PRSS(n, t, seeds, locals_), PRSS(n, t, seeds, locals_)
    got, limbs = new.shares(ring, (size,), widths, outputs, zero=zero, offsets=offsets, with_limbs=True)
    want = _numpy_shares(old, ring, size, widths, outputs, zero, offsets)
    assert got.dtype == DTYPE and np.array_equal(got, want)
    assert new.counter == old.counter
    for lim in limbs.values():
        assert lim.shape == (len(widths), size)
        assert all((lim[j] < 2 ** w).all() for j, w in enumerate(widths))


def _numpy_residues(prss: PRSS, ring: Ring, size: int) -> dict[int, np.ndarray]:
    """The former numpy path of PRSS.residues (21-bit fields, rejection by the same stream)."""
    p = ring.p32[:, None]
    out = {}
    for i, enc in prss._encryptors().items():
        raw = np.frombuffer(enc.update(bytes(4 * ring.k * size)), dtype=np.uint32).reshape(ring.k, size)
        v = np.bitwise_and(raw, np.uint32((1 << 21) - 1)).astype(np.float32)
        bad = np.flatnonzero(v >= p)
        while bad.size:
            extra = np.frombuffer(enc.update(bytes(4 * bad.size)), dtype=np.uint32) & np.uint32((1 << 21) - 1)
            flat = v.reshape(-1)
            flat[bad] = extra.astype(np.float32)
            bad = bad[flat[bad] >= ring.p32[bad // size]]
        out[i] = v
    return out


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 8), st.integers(1, 3000), st.sampled_from([None, 1 << 20, 1 << 13]))
def test_prss_residues_match_the_numpy_rejection(k, size, small):
    ring = Ring(k)
    if small is not None:  # a stand-in modulus that rejects many fields (more than the kernel's index buffer)
        ring.p32 = np.full(k, small, dtype=np.float32)
        ring.p_u64 = ring.p32.astype(np.uint64)
    seeds = {T: os.urandom(32) for T in subsets(3, 1)}
    new, old = PRSS(3, 1, seeds, [1]), PRSS(3, 1, seeds, [1])
    got, want = new.residues(ring, (size,)), _numpy_residues(old, ring, size)
    assert got.shape == (len(want), k, size) and list(want) == new.held
    assert all(np.array_equal(got[h], want[i]) for h, i in enumerate(new.held))


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 8), st.integers(1, 7), st.integers(2, 1500), st.integers(0, 2**32 - 1), st.booleans())
def test_combine_residues_is_exact(k, nl, nt, seed, extreme):
    """The BLAS combination of residues, in two pairs, equals the integer sum mod each prime, for up to 1500 terms
    whose coefficients and values are uniform or all p - 1 (the largest partial sums)."""
    ring = Ring(k)
    rng = np.random.default_rng(seed)
    p = np.array(ring.primes, dtype=np.int64)
    if extreme:
        coef = np.broadcast_to(p - 1, (nl, nt, k)).astype(np.float64)
        values = np.broadcast_to((p - 1)[None, :, None], (nt, k, 3)).astype(DTYPE)
    else:
        coef = (rng.integers(0, 2**62, (nl, nt, k)) % p).astype(np.float64)
        values = (rng.integers(0, 2**62, (nt, k, 3)) % p[None, :, None]).astype(DTYPE)
    want = np.einsum("ltk,tks->lks", coef.astype(np.int64) % p, values.astype(np.int64) % p[None, :, None]) % p[None, :, None]
    got = ring.combine_residues((coef[:, : nt // 2], values[: nt // 2]), (coef[:, nt // 2:], values[nt // 2:]))
    assert got.dtype == DTYPE and np.array_equal(got.astype(np.int64), want)
