"""Review of the secure-ML performance change (241b98d, d2d5713, 3e09971).

1. `boolean.and_` computes each group's message only for its local members (`_Layout.local_members`, a slice
   `_Layout.local_rows` where consecutive) and sums the cross terms as XOR_a x_a & (XOR_b y_b) (`by_first`).
2. `Ring.combine_residues(*pairs)` (one float64 matrix product per prime) replaces the per-subset sums of
   `PRSS.lift`, `PRSS.zero_sharing` (was `zero_terms`), `arith._double_masks` and `boolean.b2a`.

The checks: bit-for-bit agreement with the parent commit's formulas (copied here as references) at the same PRSS
counter; degree and value of the zero sharings and double masks; the AND check still names a party whose own
copy of a component differs (in process, groups of several local members; over TCP, one member per process);
combine_residues on strided views, multi-dim, single-term and empty inputs; end-to-end values in process
(n = 3, 4, 5, 7) and over TCP (n = 3, 4 with t = 1, 5).
"""

from __future__ import annotations

import ast
import itertools
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import mpc_ml
from mpc_ml import runtime as rt_mod
from mpc_ml.protocols import arith, boolean, shamir
from mpc_ml.ring import DTYPE, Ring

ROOT = Path(__file__).resolve().parents[2]

SESSIONS = [(3, None), (4, None), (5, None), (5, 2), (7, None), (7, 3), (7, 2)]  # (parties, quorum); t = quorum - 1


def _session(parties, quorum=None):
    mpc_ml.init(parties=parties, quorum=quorum)
    return rt_mod.current()


# ------------------------------------------------------------------------------------- pre-change references

def _old_pairs(rt, lay):
    """The parent commit's per-group cross terms (a, b), recomputed from the subsets (not from `by_first`)."""
    size = rt.t + 1 if rt.n >= 3 * rt.t + 1 else 1
    pairs = [[] for _ in lay.groups]
    S = lay.subsets
    for a in range(lay.C):
        for b in range(lay.C):
            G = tuple(sorted(set(S[a]) & set(S[b]))[:size])
            pairs[lay.groups.index(G)].append((a, b))
    return pairs


def _old_and(rt, x, y):
    """`and_` as of 241b98d^: every row computes every group's message pair by pair (the exchange that follows is
    the same code, so only the messages are replaced)."""
    lay = boolean._layout(rt)
    pairs = _old_pairs(rt, lay)

    def old_messages(lay, flat_x, flat_y, draws):
        message = {}
        for gi, G in enumerate(lay.groups):
            local = [li for li, p in enumerate(rt.local_ids) if p in G]
            if not local:
                continue
            w = np.zeros((rt.L, flat_x.shape[2]), dtype=np.uint64)
            for a, b in pairs[gi]:
                w ^= flat_x[:, a] & flat_y[:, b]
            for ti, slot in lay.masks[gi]:
                w ^= draws[ti][slot]
            for li in local:
                message[li, gi] = w[li]
        return message

    new_messages = boolean._group_messages
    boolean._group_messages = old_messages
    try:
        return boolean.and_(rt, x, y)
    finally:
        boolean._group_messages = new_messages


def _old_lift(rt, ring, values: dict, power=0):
    coef = rt.prss.coef(ring, power)
    terms = [(v[None], coef[:, ti, :].reshape((coef.shape[0], ring.k) + (1,) * (v.ndim - 1)))
             for ti, v in values.items()]
    return ring.lincomb(terms)


def _old_zero_terms(rt, ring, shape):
    vals = rt.prss.residues(ring, (rt.t,) + tuple(shape))
    vals = {i: vals[h] for h, i in enumerate(rt.prss.held)}  # the old dict form
    terms = []
    for j in range(1, rt.t + 1):
        coef = rt.prss.coef(ring, j)
        for ti, v in vals.items():
            terms.append((v[:, j - 1][None], coef[:, ti, :].reshape((coef.shape[0], ring.k) + (1,) * len(shape))))
    return terms


def _old_double_masks(rt, size, ring):
    vals = rt.prss.residues(ring, (size,))
    vals = {i: vals[h] for h, i in enumerate(rt.prss.held)}
    coef = rt.prss.coef(ring, 0)
    r_terms = [(v[None], coef[:, ti, :, None]) for ti, v in vals.items()]
    return ring.lincomb(r_terms), ring.lincomb(r_terms + _old_zero_terms(rt, ring, (size,)))


def _shared(lay, comps):
    member = lay.member.reshape(lay.member.shape + (1,) * (comps.ndim - 1))
    return np.where(member, comps[None], np.uint64(0))


# ------------------------------------------------------------------------------------- AND

@pytest.mark.parametrize("parties,quorum", SESSIONS)
def test_and_is_bit_for_bit_the_pre_change_and(parties, quorum):
    """Same PRSS counter, same inputs: the new `and_` gives exactly the parent commit's output (every local row,
    every component, zeros outside the holders), for 0-d, empty, flat and multi-dim words; and XOR of the
    components is x & y."""
    rt = _session(parties, quorum)
    try:
        lay = boolean._layout(rt)
        rng = np.random.default_rng(parties * 10 + rt.t)
        for shape in ((), (0,), (2, 0, 3), (7,), (3, 2, 5)):
            cx, cy = (rng.integers(0, 2**64, (lay.C,) + shape, dtype=np.uint64) for _ in range(2))
            x, y = _shared(lay, cx), _shared(lay, cy)
            counter = rt.prss.counter
            new = boolean.and_(rt, x, y)
            after = rt.prss.counter
            rt.prss.counter = counter
            old = _old_and(rt, x, y)
            assert rt.prss.counter == after
            assert new.shape == old.shape == (rt.L, lay.C) + shape and new.dtype == np.uint64
            assert np.array_equal(new, old), shape
            comps = np.stack([new[lay.subsets[ti][0], ti] for ti in range(lay.C)])
            assert np.array_equal(np.bitwise_xor.reduce(comps, 0), np.bitwise_xor.reduce(cx, 0) & np.bitwise_xor.reduce(cy, 0))
            # non-contiguous inputs (a transposed view) give the same
            xt = np.ascontiguousarray(np.swapaxes(x, 0, 1)).swapaxes(0, 1)
            rt.prss.counter = counter
            assert np.array_equal(boolean.and_(rt, xt, y), new)
    finally:
        mpc_ml.uninit()


@pytest.mark.parametrize("parties,quorum", SESSIONS)
def test_layout_local_rows_and_by_first_cover_exactly_the_old_pairs(parties, quorum):
    rt = _session(parties, quorum)
    try:
        lay = boolean._layout(rt)
        old = _old_pairs(rt, lay)
        for gi, G in enumerate(lay.groups):
            got = sorted((a, int(b)) for a, bs in lay.by_first[gi] for b in bs)
            assert got == sorted(old[gi])
            assert lay.local_members[gi] == list(G)  # all local: row li is party li
            rows = np.arange(rt.L)[lay.local_rows[gi]]
            assert list(rows) == list(G)
    finally:
        mpc_ml.uninit()


def _deviations(rt, lay):
    """(party j, component a) such that j holds a and is in a group (of > 1 member) whose terms use x_a."""
    out = []
    for j in range(rt.n):
        for gi, G in enumerate(lay.groups):
            if j in G and len(G) > 1:
                for a, _ in lay.by_first[gi]:
                    if (j, a) not in out:
                        out.append((j, a))
    return out


@pytest.mark.parametrize("parties,quorum", [(4, None), (5, 2), (7, 2), (7, 3)])
def test_a_party_whose_own_copy_of_a_component_differs_is_caught_in_a_group_of_local_members(parties, quorum):
    """n >= 3t + 1, all parties in this process: party j's copy of component x_a (or y_a) is changed, so j's
    message in every group of it that uses a differs from the other members' (all local, computed in one
    block of rows). The receiver's digest check raises ShareCheckError naming j. Would fail if the local rows
    were mixed up or one row's message stood for all members."""
    rt = _session(parties, quorum)
    try:
        assert rt.n >= 3 * rt.t + 1
        lay = boolean._layout(rt)
        assert any(len(m) > 1 for m in lay.local_members)
        rng = np.random.default_rng(parties)
        cx, cy = (rng.integers(0, 2**64, (lay.C, 4), dtype=np.uint64) for _ in range(2))
        x, y = _shared(lay, cx), _shared(lay, cy)
        devs = _deviations(rt, lay)
        assert devs
        for n_done, (j, a) in enumerate(devs[:: max(1, len(devs) // 12)]):
            bad = (x.copy(), y.copy())
            which = n_done % 2
            bad[which][j, a, n_done % 4] ^= boolean.ONES  # every bit: some cross term changes
            with pytest.raises(mpc_ml.ShareCheckError) as exc:
                boolean.and_(rt, *bad) if which == 0 else boolean.and_(rt, x, bad[1])
            assert j in exc.value.suspects, (j, a, exc.value.suspects)
        boolean.and_(rt, x, y)  # the honest run goes through
    finally:
        mpc_ml.uninit()


# ------------------------------------------------------------------------------------- PRSS masks

@pytest.mark.parametrize("parties,quorum", SESSIONS)
@pytest.mark.parametrize("shape", [(3,), (2, 3, 4), (0,), (2, 0)])
def test_zero_sharing_opens_to_zero_at_degree_2t_and_equals_the_old_terms(parties, quorum, shape):
    rt = _session(parties, quorum)
    try:
        ring = rt.ring
        counter = rt.prss.counter
        pairs = rt.prss.zero_sharing(ring, shape)
        assert len(pairs) == rt.t
        z = ring.combine_residues(*pairs)
        rt.prss.counter = counter
        old = ring.lincomb(_old_zero_terms(rt, ring, shape))
        assert z.shape == old.shape == (rt.n, ring.k) + shape and z.dtype == DTYPE
        assert np.array_equal(z, old)
        assert ((z >= 0) & (z < ring.p32.reshape((1, -1) + (1,) * len(shape)))).all()
        if not z.size:
            return
        zero = shamir.reconstruct(ring, z, 2 * rt.t)  # checks consistency when n > 2t + 1
        assert not zero.any()
        for parties_used in itertools.islice(itertools.combinations(range(rt.n), 2 * rt.t + 1), 5):
            assert not shamir.interpolate(ring, z, parties_used).any()
        # degree exactly 2t, not less: t + 1 shares do not determine 0
        assert shamir.interpolate(ring, z, tuple(range(rt.t + 1))).any()
        if rt.n > 2 * rt.t + 1:  # a shifted share is off the degree-2t polynomial
            bad = z.copy()
            bad[rt.n - 1:] = ring.add(bad[rt.n - 1:], np.ones_like(bad[rt.n - 1:]))
            with pytest.raises(mpc_ml.ShareCheckError):
                shamir.reconstruct(ring, bad, 2 * rt.t)
    finally:
        mpc_ml.uninit()


@pytest.mark.parametrize("parties,quorum", SESSIONS)
def test_double_masks_open_to_the_same_r_and_equal_the_old_ones(parties, quorum):
    rt = _session(parties, quorum)
    try:
        ring = rt.ring
        for size in (0, 1, 24):
            counter = rt.prss.counter
            r_t, r_2t = arith._double_masks(rt, size, ring)
            rt.prss.counter = counter
            o_t, o_2t = _old_double_masks(rt, size, ring)
            assert np.array_equal(r_t, o_t) and np.array_equal(r_2t, o_2t)
            assert r_t.shape == r_2t.shape == (rt.n, ring.k, size)
        shape = (2, 3, 4)
        r_t, r_2t = arith.double_random(rt, shape)
        assert r_t.shape == r_2t.shape == (rt.n, ring.k) + shape
        a = shamir.reconstruct(ring, r_t, rt.t)
        b = shamir.reconstruct(ring, r_2t, 2 * rt.t)
        assert np.array_equal(a, b) and a.any()
        # r_t is really of degree t: any t + 1 parties give r
        for ps in itertools.combinations(range(rt.n), rt.t + 1):
            assert np.array_equal(shamir.interpolate(ring, r_t, ps), a)
        assert not np.array_equal(shamir.interpolate(ring, r_2t, tuple(range(rt.t + 1))), a)
        # uniform values lifted by PRSS.uniform are degree-t sharings too
        u = rt.prss.uniform(ring, (3, 2))
        shamir.reconstruct(ring, u, rt.t)
    finally:
        mpc_ml.uninit()


@pytest.mark.parametrize("parties,quorum", [(3, None), (4, None), (5, None), (7, 2)])
def test_b2a_is_bit_for_bit_the_pre_change_b2a(parties, quorum):
    rt = _session(parties, quorum)
    try:
        lay = boolean._layout(rt)
        rng = np.random.default_rng(5)
        for shape in ((), (5,), (2, 3), (0, 3)):
            comps = rng.integers(0, 2**64, (lay.C,) + shape, dtype=np.uint64)
            b = _shared(lay, comps)
            counter = rt.prss.counter
            new = boolean.b2a(rt, b)
            rt.prss.counter = counter
            # the old first step: lift of each component's bit by the per-subset sum
            ring = rt.ring
            terms_old = []
            for ti in range(lay.C):
                bit = (b[lay.first_local[ti], ti] & np.uint64(1)).astype(np.float64)
                terms_old.append(_old_lift(rt, ring, {ti: np.broadcast_to(bit[None], (ring.k,) + shape).copy()}))
                coef = rt.prss.coef(ring, 0)
                terms_new = ring.combine_residues((coef[:, [ti]], np.broadcast_to(bit[None], (1, ring.k) + shape)))
                assert np.array_equal(terms_old[-1], terms_new)
            assert new.shape == (rt.n, ring.k) + shape
            if new.size:
                bits = shamir.reconstruct(ring, new, rt.t)
                want = (np.bitwise_xor.reduce(comps, 0) & np.uint64(1)).astype(np.float32)
                assert np.array_equal(bits[0], want) and all(np.array_equal(bits[k], want) for k in range(ring.k))
    finally:
        mpc_ml.uninit()


# ------------------------------------------------------------------------------------- combine_residues

def _want(ring, pairs):
    p = np.array(ring.primes, dtype=np.int64)
    acc = None
    for coef, values in pairs:
        v = np.asarray(values).astype(np.int64)
        term = np.einsum("ltk,tk...->lk...", coef.astype(np.int64), v) % p.reshape((1, -1) + (1,) * (v.ndim - 2))
        acc = term if acc is None else acc + term
    return acc % p.reshape((1, -1) + (1,) * (acc.ndim - 2))


def _residues(rng, ring, shape, extreme=False):
    p = np.array(ring.primes, dtype=np.int64).reshape((1, -1) + (1,) * (len(shape) - 2)) if len(shape) >= 2 else None
    if extreme:
        return np.broadcast_to(p - 1, shape).astype(np.float32).copy()
    return (rng.integers(0, 2**62, shape) % p).astype(np.float32)


@pytest.mark.parametrize("k", [1, 3, 7])
def test_combine_residues_on_views_shapes_single_terms_and_empty(k):
    ring = Ring(k)
    rng = np.random.default_rng(k)
    pk = np.array(ring.primes, dtype=np.int64)

    def coef(nl, nt, extreme=False):
        c = np.broadcast_to(pk - 1, (nl, nt, k)) if extreme else rng.integers(0, 2**62, (nl, nt, k)) % pk
        return c.astype(np.float64)

    for extreme in (False, True):
        for shape in ((), (5,), (2, 3, 4), (0,), (0, 3), (3, 0), (2, 0, 4)):
            # single term
            c1, v1 = coef(3, 1, extreme), _residues(rng, ring, (1, k) + shape, extreme)
            got = ring.combine_residues((c1, v1))
            assert got.shape == (3, k) + shape and got.dtype == DTYPE
            assert np.array_equal(got.astype(np.int64), _want(ring, [(c1, v1)]))
            # a strided view: values[:, :, j] of a (T, K, t, *shape) draw, as zero_sharing passes
            big = _residues(rng, ring, (6, k, 3) + shape, extreme)
            c6 = coef(4, 6, extreme)
            pairs = [(c6, big[:, :, j]) for j in range(3)]
            assert not big[:, :, 1].flags.c_contiguous or big[:, :, 1].size == 0
            got = ring.combine_residues(*pairs)
            assert np.array_equal(got.astype(np.int64), _want(ring, pairs)), shape
            # reversed and transposed views, strided coefficients
            rev = big[::-1, :, 2]
            cs = coef(4, 12, extreme)[:, ::2]
            assert np.array_equal(ring.combine_residues((cs, rev)).astype(np.int64), _want(ring, [(cs, rev)]))
            if len(shape) >= 2:
                tr = np.swapaxes(big[:, :, 0], -1, -2)
                assert np.array_equal(ring.combine_residues((c6, tr)).astype(np.int64), _want(ring, [(c6, tr)]))
            # broadcast values (zero strides), as b2a passes
            bit = rng.integers(0, 2, shape).astype(np.float64)
            bc = np.broadcast_to(bit[None], (1, k) + shape)
            assert np.array_equal(ring.combine_residues((c1, bc)).astype(np.int64), _want(ring, [(c1, bc)]))
    # the documented limit: 2047 terms at p - 1 are exact (sum < 2^53)
    T = 2047
    cmax, vmax = coef(1, T, True), _residues(rng, ring, (T, k, 2), True)
    half = T // 2
    got = ring.combine_residues((cmax[:, :half], vmax[:half]), (cmax[:, half:], vmax[half:]))
    assert np.array_equal(got.astype(np.int64), _want(ring, [(cmax, vmax)]))


# ------------------------------------------------------------------------------------- end to end, in process

def _check_ops(mod, rng_seed=0):
    """relu, <, >, ==, max/argmax, products and matmul against numpy (shared body for in-process and TCP)."""
    rng = np.random.default_rng(rng_seed)
    a = np.round(rng.standard_normal((3, 4)) * 4, 2)
    b = np.round(rng.standard_normal((3, 4)) * 4, 2)
    b[0, :2] = a[0, :2]  # some equal entries
    a[1, 0] = 0.0
    m = np.round(rng.standard_normal((4, 2)), 3)
    x, y = mod.cryptensor(a, src=0), mod.cryptensor(b, src=1)
    out = {
        "relu": x.relu().get_plain_text(),
        "lt": (x < y).get_plain_text(),
        "gt": (x > y).get_plain_text(),
        "eq": (x == y).get_plain_text(),
        "ltz": (x < 0).get_plain_text(),
        "max": x.max(dim=1)[0].get_plain_text(),
        "argmax": x.argmax(dim=1).get_plain_text(),
        "maxall": x.max().get_plain_text(),
        "mul": (x * y).get_plain_text(),
        "matmul": (x @ mod.cryptensor(m, src=2)).get_plain_text(),
        "relu0": mod.cryptensor(np.zeros((0,)), src=0).relu().get_plain_text(),
        "gt03": (mod.cryptensor(np.zeros((0, 3)), src=0) > 0).get_plain_text(),
        "eq03": (mod.cryptensor(np.zeros((0, 3)), src=0) == 0).get_plain_text(),
        "mul03": (mod.cryptensor(np.zeros((0, 3)), src=0) * 2.0).get_plain_text(),
    }
    assert np.allclose(out["relu"], np.maximum(a, 0), atol=1e-4)
    assert np.array_equal(out["lt"], (a < b).astype(float))
    assert np.array_equal(out["gt"], (a > b).astype(float))
    assert np.array_equal(out["eq"], (a == b).astype(float))
    assert np.array_equal(out["ltz"], (a < 0).astype(float))
    assert np.allclose(out["max"], a.max(1), atol=1e-4)
    assert np.array_equal(out["argmax"], np.eye(4)[a.argmax(1)])
    assert np.allclose(out["maxall"], a.max(), atol=1e-4)
    assert np.allclose(out["mul"], a * b, atol=1e-3)
    assert np.allclose(out["matmul"], a @ m, atol=1e-3)
    assert out["relu0"].shape == (0,) and out["gt03"].shape == (0, 3) and out["eq03"].shape == (0, 3)
    assert out["mul03"].shape == (0, 3)
    return out


@pytest.mark.parametrize("parties,quorum", SESSIONS)
def test_relu_comparisons_max_argmax_products_in_process(parties, quorum):
    rt = _session(parties, quorum)
    try:
        assert rt.t == ((parties - 1) // 2 if quorum is None else quorum - 1)
        _check_ops(mpc_ml, parties)
    finally:
        mpc_ml.uninit()


# ------------------------------------------------------------------------------------- over TCP

_RUNNER = ("import sys; from mpc_ml import launcher; "
           "sys.exit(launcher.run_local(int(sys.argv[1]), sys.argv[2], sys.argv[4:], timeout=20, "
           "threshold=None if sys.argv[3] == '-' else int(sys.argv[3])))")


def _run(tmp_path, n, threshold, body, *args):
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(body))
    return subprocess.run([sys.executable, "-c", _RUNNER, str(n), str(script), "-" if threshold is None else str(threshold),
                           *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("n,threshold", [(3, None), (4, 1), (5, None)])
def test_tcp_relu_comparisons_max_argmax_products(tmp_path, n, threshold):
    """One party per process (the AND groups' local rows are one-row slices): every party opens the values and
    checks them against numpy; with n = 4, t = 1 every AND message is checked by digests."""
    res = _run(tmp_path, n, threshold, f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        import numpy as np, mpc_ml
        from mpc_ml import runtime
        from tests.review.test_session12_ml_perf_review import _check_ops
        mpc_ml.init()
        rt = runtime.current()
        assert rt.L == 1 and rt.n == {n}
        _check_ops(mpc_ml, {n})
        sys.stdout.write(f"OK {{rt.t}}\\n")
        """)
    assert res.returncode == 0, res.stderr[-3000:]
    t = threshold if threshold is not None else (n - 1) // 2
    assert res.stdout.split() == ["OK", str(t)] * n


def test_tcp_four_parties_a_party_whose_component_differs_is_named(tmp_path):
    """n = 4, t = 1 over TCP: party 2 flips every bit of its copy of every component it holds in the x input of the
    first AND of a comparison; its messages (computed from its one-row slice) disagree with the other members'
    and an honest receiver raises ShareCheckError naming party 2 before anything is opened."""
    body = """
        import sys, numpy as np, mpc_ml
        from mpc_ml import runtime
        from mpc_ml.protocols import boolean
        mpc_ml.init()
        rt, me = runtime.current(), mpc_ml.get_rank()
        x = mpc_ml.cryptensor(np.arange(-6.0, 6.0) + 0.5, src=0)
        if me == 2 and sys.argv[1] == "lie":
            honest, calls = boolean.and_, []
            def and_(rt, x, y):
                calls.append(1)
                if len(calls) == 1:
                    x = x.copy()
                    x ^= boolean.ONES  # every bit (one bit may meet only zero cross terms: no change)
                    x &= np.where(rt.prss.member[0], boolean.ONES, np.uint64(0)).reshape((1, -1) + (1,) * (x.ndim - 2))
                return honest(rt, x, y)
            boolean.and_ = and_
        try:
            out = (x > 0).get_plain_text()
        except mpc_ml.ShareCheckError as exc:
            sys.stdout.write(f"caught {me} {sorted(exc.suspects)}\\n")
            sys.exit(1)
        assert (out == (np.arange(-6.0, 6.0) + 0.5 > 0)).all(), out
        sys.stdout.write("OK\\n")
        """
    honest = _run(tmp_path, 4, 1, body, "honest")
    assert honest.returncode == 0, honest.stderr[-3000:]
    assert honest.stdout.split() == ["OK"] * 4
    lying = _run(tmp_path, 4, 1, body, "lie")
    assert lying.returncode != 0
    caught = [line.split(" ", 2) for line in lying.stdout.splitlines() if line.startswith("caught")]
    assert caught, (lying.stdout, lying.stderr[-3000:])
    for _, who, suspects in caught:
        assert who != "2" and 2 in ast.literal_eval(suspects), caught
    assert "OK" not in lying.stdout
