"""Adversarial review of the checked AND of the replicated boolean sharing (commit d6de4cf).

AND: each cross term x_T & y_U goes to a group G (the t + 1 lowest common members when n >= 3t + 1, else the
lowest one); G's message s_G = its terms XOR one PRSS draw of every subset containing G goes into the component of
one subset R_G; G's primary sends s_G to R_G's other members and every other member of G a SHA-256 digest.

Privacy is checked exactly (GF(2) linear algebra over the real `and_`, 64 bit positions at once); soundness by
coalitions that tamper with what they send (random edits, swaps, replays, and lies that every corrupt member of a
group backs with a matching digest); correctness and shapes end to end, in process and over TCP.
"""

from __future__ import annotations

import ast
import hashlib
import itertools
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import mpc_ml
from mpc_ml import runtime as rt_mod
from mpc_ml.protocols import boolean

ROOT = Path(__file__).resolve().parents[2]
ONES = boolean.ONES


def _session(parties, quorum=None):
    mpc_ml.init(parties=parties, quorum=quorum)
    rt = rt_mod.current()
    return rt, boolean._layout(rt)


def _share(lay, comps):
    """Simulated replicated sharing (L, C, size) of the components comps (C, size)."""
    return np.where(lay.member[:, :, None], comps[None], np.uint64(0))


def _and(rt, x, y, *, draws=None, counter=None, tamper=None, record=None, corrupt=()):
    """One real `and_`, optionally with fixed PRSS draws, a fixed PRSS counter, a tampering of what is sent
    (tamper(sends) -> sends) and a record of what each party received. The corrupt parties receive what the
    protocol sends them: all parties run in this process, and a corrupt party's own checks are not the
    adversary's (it may ignore them), so only honest receivers check what the coalition sent."""
    if counter is not None:
        rt.prss.counter = counter
    honest_exchange = rt.exchange_each

    def exchange(sends, expect):
        if tamper is None:
            got = honest_exchange(sends, expect)
        else:
            clean = honest_exchange(sends, expect)
            got = honest_exchange(tamper(sends), expect)
            for d in corrupt:
                got[d] = clean[d]
        if record is not None:
            record.append(got)
        return got

    rt.exchange_each = exchange
    if draws is not None:
        rt.prss.words = lambda count: {ti: d.reshape(-1).copy() for ti, d in draws.items()}
    try:
        return boolean.and_(rt, x, y)
    finally:
        del rt.exchange_each
        if draws is not None:
            del rt.prss.words


# ------------------------------------------------------------------------------------------------ privacy

def _view(rt, lay, cx, cy, draws, coalition):
    """What the coalition sees of one AND (words of size 1): the full messages it receives (the digests it
    receives are digests of those) and the output components it holds."""
    got: list = []
    out = _and(rt, _share(lay, cx), _share(lay, cy), draws=draws, record=got)
    parts = []
    for d in coalition:
        for (j, dd), gis in sorted(lay.full.items()):
            if dd == d:
                parts.append(got[0][d][j][:len(gis)])
        parts += [out[d, ti].reshape(-1) for ti, T in enumerate(lay.subsets) if d in T]
    return np.concatenate(parts)


def _column(vec, bit):
    return sum(((int(w) >> bit) & 1) << i for i, w in enumerate(vec))


def _basis(columns):
    basis: list[tuple[int, int]] = []
    for v in columns:
        for piv, b in basis:
            if v >> piv & 1:
                v ^= b
        if v:
            piv = v.bit_length() - 1
            basis = [(p, b ^ v if b >> piv & 1 else b) for p, b in basis] + [(piv, v)]
    return basis


def _in_span(basis, v):
    for piv, b in basis:
        if v >> piv & 1:
            v ^= b
    return v == 0


def _coalition_view_leaks(rt, lay, rng, variations=3):
    """Coalitions (of t parties) whose view of an AND depends on the honest parties' inputs.

    The only subset the coalition A does not hold is T_A = the others; its view is affine over GF(2) in T_A's
    draws (bitwise: each of the 64 bit positions on its own). The view is independent of the honest component
    (x_T_A, y_T_A) iff changing it moves the view by a vector in the span of T_A's draws' columns."""
    leaks = []
    for A in itertools.combinations(range(rt.n), rt.t):
        ta = lay.subsets.index(tuple(p for p in range(rt.n) if p not in A))
        cx, cy = (rng.integers(0, 2**64, (lay.C, 1), dtype=np.uint64) for _ in range(2))
        draws = {ti: rng.integers(0, 2**64, (lay.draws, 1), dtype=np.uint64) for ti in range(lay.C)}
        v0 = _view(rt, lay, cx, cy, draws, A)
        cols = []
        for slot in range(lay.used[ta]):
            d2 = {ti: d.copy() for ti, d in draws.items()}
            d2[ta][slot] ^= ONES
            cols.append(_view(rt, lay, cx, cy, d2, A) ^ v0)
        diffs = []
        for _ in range(variations):
            cx2, cy2 = cx.copy(), cy.copy()
            cx2[ta], cy2[ta] = rng.integers(0, 2**64, (2, 1), dtype=np.uint64)
            diffs.append(_view(rt, lay, cx2, cy2, draws, A) ^ v0)
        assert any(d.any() for d in diffs), "the honest component changes nothing: the check would be vacuous"
        for bit in range(64):
            basis = _basis([_column(c, bit) for c in cols])
            if not all(_in_span(basis, _column(d, bit)) for d in diffs):
                leaks.append(A)
                break
    return leaks


@pytest.mark.parametrize("parties,quorum", [(3, None), (4, None), (5, 2), (5, 3), (7, 2), (7, 3)])
def test_a_coalition_of_t_parties_learns_nothing_of_the_honest_inputs_of_an_and(parties, quorum):
    """Exact check (n=3, t=1; 4, 1; 5, 1; 5, 2; 7, 1; 7, 2): for every coalition of t parties, the messages it
    receives and the output components it holds are independent of the honest parties' component."""
    rt, lay = _session(parties, quorum)
    try:
        assert _coalition_view_leaks(rt, lay, np.random.default_rng(parties * 10 + rt.t)) == []
    finally:
        mpc_ml.uninit()


def test_the_privacy_check_catches_a_message_masked_only_by_the_subset_it_goes_into():
    """The check has teeth: with each message masked by one draw only (R_G's), a party receiving it learns
    cross terms of the honest component."""
    rt, lay = _session(4)
    try:
        lay.masks = [[(ti, s) for ti, s in m if ti == lay.into[gi]] for gi, m in enumerate(lay.masks)]
        assert _coalition_view_leaks(rt, lay, np.random.default_rng(7)) != []
    finally:
        mpc_ml.uninit()


# ------------------------------------------------------------------------------------------------ correctness

@pytest.mark.parametrize("parties,quorum", [(3, None), (4, None), (5, 2), (5, 3), (6, 2), (7, 2), (7, 3)])
@pytest.mark.parametrize("shape", [(), (0,), (2, 0, 3), (5,), (3, 4)])
def test_and_is_x_and_y_and_every_component_agrees_at_its_holders(parties, quorum, shape):
    rt, lay = _session(parties, quorum)
    try:
        rng = np.random.default_rng(len(shape) + parties)
        cx, cy = (rng.integers(0, 2**64, (lay.C,) + shape, dtype=np.uint64) for _ in range(2))
        member = lay.member.reshape(lay.member.shape + (1,) * len(shape))
        out = boolean.and_(rt, np.where(member, cx[None], np.uint64(0)), np.where(member, cy[None], np.uint64(0)))
        assert out.shape == (rt.L, lay.C) + shape
        comps = np.zeros((lay.C,) + shape, np.uint64)
        for ti, T in enumerate(lay.subsets):
            for p in T:
                assert np.array_equal(out[p, ti], out[T[0], ti]), (ti, p)
            for p in set(range(rt.n)) - set(T):
                assert not out[p, ti].any()
            comps[ti] = out[T[0], ti]
        x, y = np.bitwise_xor.reduce(cx, 0), np.bitwise_xor.reduce(cy, 0)
        assert np.array_equal(np.bitwise_xor.reduce(comps, 0), x & y)
    finally:
        mpc_ml.uninit()


def test_checked_layout_every_group_member_talks_to_every_receiver():
    """Structure behind soundness (n >= 3t + 1): groups have t + 1 members, all inside R_G and every subset
    containing G; each member sends each receiver the full message (the primary) or a digest."""
    for parties, quorum in ((4, None), (5, 2), (6, 2), (7, 2), (7, 3)):
        rt, lay = _session(parties, quorum)
        try:
            for gi, G in enumerate(lay.groups):
                assert len(G) == rt.t + 1 and set(G) <= set(lay.subsets[lay.into[gi]])
                assert lay.receivers[gi] and not set(G) & set(lay.receivers[gi])
                for d in lay.receivers[gi]:
                    senders = [j for j in G if gi in lay.full.get((j, d), []) + lay.digested.get((j, d), [])]
                    assert senders == list(G)
                    assert gi in lay.full.get((lay.primary[gi], d), [])
        finally:
            mpc_ml.uninit()


# ------------------------------------------------------------------------------------------------ soundness

def _digest(words):
    return np.frombuffer(hashlib.sha256(np.ascontiguousarray(words)).digest(), dtype=np.uint64)


def _slices(lay, j, d, size):
    """{group: ("full" | "digest", slice)} of the array j sends d."""
    full, dig = lay.full.get((j, d), []), lay.digested.get((j, d), [])
    out = {gi: ("full", slice(at * size, (at + 1) * size)) for at, gi in enumerate(full)}
    base = size * len(full)
    out.update({gi: ("digest", slice(base + 4 * at, base + 4 * (at + 1))) for at, gi in enumerate(dig)})
    return out


def _random_tamper(lay, coalition, rng, size, previous):
    """A coalition's random deviation in one round; returns (tamper, changed) where changed[0] says whether
    anything sent to an honest party differs from the protocol's."""
    changed = [False]

    def tamper(sends):
        sends = [dict(s) for s in sends]
        for j in coalition:
            for d in list(sends[j]):
                honest = sends[j][d]
                how = rng.integers(0, 5)
                arr = honest.copy()
                if how == 1:  # flip one random bit
                    arr[rng.integers(0, arr.size)] ^= np.uint64(1) << np.uint64(rng.integers(0, 64))
                elif how == 2:  # what another receiver gets, if of the same length
                    others = [sends[j][e] for e in sends[j] if e != d and sends[j][e].size == arr.size]
                    if others:
                        arr = others[rng.integers(0, len(others))].copy()
                elif how == 3 and previous and d in previous[-1][j] and previous[-1][j][d].size == arr.size:
                    arr = previous[-1][j][d].copy()  # replayed from the previous round
                sends[j][d] = arr
        # consistent lies: for one group with a corrupt primary, every corrupt member backs s ^ e
        gis = [gi for gi in range(len(lay.groups)) if lay.primary[gi] in coalition]
        if gis and rng.integers(0, 2):
            gi = gis[rng.integers(0, len(gis))]
            p = lay.primary[gi]
            d = lay.receivers[gi][rng.integers(0, len(lay.receivers[gi]))]
            kind, sl = _slices(lay, p, d, size)[gi]
            lie = sends[p][d][sl] ^ np.uint64(rng.integers(1, 2**63))
            sends[p][d][sl] = lie
            for j in set(lay.groups[gi]) & set(coalition) - {p}:
                sends[j][d][_slices(lay, j, d, size)[gi][1]] = _digest(lie)
        for j in coalition:
            for d in sends[j]:
                if d not in coalition and not np.array_equal(sends[j][d], honest_sends[j][d]):
                    changed[0] = True
        previous.append(honest_sends)
        return sends

    honest_sends: list = []

    def wrapped(sends):
        honest_sends[:] = [{d: a.copy() for d, a in s.items()} for s in sends]
        return tamper(sends)

    return wrapped, changed


@pytest.mark.parametrize("parties,quorum,coalitions", [
    (4, None, [(0,), (1,), (3,)]),
    (5, 2, [(0,), (2,), (4,)]),
    (7, 3, [(0, 1), (0, 2), (1, 2), (3, 6)]),
])
def test_any_change_a_coalition_sends_an_honest_party_in_an_and_is_caught(parties, quorum, coalitions):
    """Attack: a coalition of t parties edits, swaps between receivers, replays from the previous round, and
    lies consistently (the corrupt primary sends s ^ e and every corrupt member of the group its digest). Every
    run in which an honest party is sent anything else than the protocol's stops with ShareCheckError naming a
    corrupt party; every other run leaves every honest party's output components exactly the honest run's."""
    rt, lay = _session(parties, quorum)
    try:
        rng = np.random.default_rng(parties)
        size = 3
        caught = 0
        for coalition in coalitions:
            previous: list = []
            for _ in range(12):
                cx, cy = (rng.integers(0, 2**64, (lay.C, size), dtype=np.uint64) for _ in range(2))
                x, y = _share(lay, cx), _share(lay, cy)
                counter = rt.prss.counter
                honest = _and(rt, x, y, counter=counter)
                tamper, changed = _random_tamper(lay, coalition, rng, size, previous)
                try:
                    out = _and(rt, x, y, counter=counter, tamper=tamper, corrupt=coalition)
                except mpc_ml.ShareCheckError as exc:
                    assert changed[0], "an honest run was stopped"
                    assert set(exc.suspects) & set(coalition), (exc.suspects, coalition)
                    caught += 1
                    continue
                assert not changed[0], "an honest party was sent something else and nothing was caught"
                for p in set(range(parties)) - set(coalition):
                    assert np.array_equal(out[p], honest[p])
        assert caught > 0
    finally:
        mpc_ml.uninit()


def test_a_two_party_coalition_backing_one_lie_is_caught_by_the_third_member_at_seven_parties():
    """Attack (n=7, t=2): for every group, its primary and another member are corrupt; the primary sends every
    receiver s_G ^ 1 and the other corrupt member the digest of s_G ^ 1. The third member's digest differs:
    caught at every honest receiver, the primary among the suspects."""
    rt, lay = _session(7, 3)
    try:
        rng = np.random.default_rng(3)
        size = 2
        cx, cy = (rng.integers(0, 2**64, (lay.C, size), dtype=np.uint64) for _ in range(2))
        x, y = _share(lay, cx), _share(lay, cy)
        for gi, G in enumerate(lay.groups):
            p = lay.primary[gi]
            other = next(j for j in G if j != p)
            for d in lay.receivers[gi]:

                def tamper(sends, gi=gi, p=p, other=other, d=d):
                    sends = [{e: a.copy() for e, a in s.items()} for s in sends]
                    sl = _slices(lay, p, d, size)[gi][1]
                    sends[p][d][sl] ^= np.uint64(1)
                    sends[other][d][_slices(lay, other, d, size)[gi][1]] = _digest(sends[p][d][sl])
                    return sends

                with pytest.raises(mpc_ml.ShareCheckError) as exc:
                    _and(rt, x, y, tamper=tamper, corrupt=(p, other))
                assert p in exc.value.suspects and f"party {d}" in str(exc.value)
    finally:
        mpc_ml.uninit()


# ------------------------------------------------------------------------------------------------ end to end

@pytest.mark.parametrize("parties,quorum", [(3, None), (4, None), (5, 2), (5, 3), (6, 2), (7, 2)])
def test_comparisons_relu_max_argmax_on_scalars_and_small_arrays(parties, quorum):
    mpc_ml.init(parties=parties, quorum=quorum)
    try:
        v = np.array([[-2.5, 0.75, 3.0], [1.0, -0.25, 2.0]])
        x = mpc_ml.cryptensor(v, src=0)
        assert np.array_equal((x > 0).get_plain_text(), (v > 0).astype(float))
        assert np.allclose(x.relu().get_plain_text(), np.maximum(v, 0), atol=1e-4)
        assert np.allclose(x.max(dim=1)[0].get_plain_text(), v.max(1), atol=1e-4)  # (values, argmax), as CrypTen
        assert np.array_equal(x.argmax(dim=1).get_plain_text(), np.eye(3)[v.argmax(1)])
        s = mpc_ml.cryptensor(np.array(-1.5), src=1)
        assert (s < 0).get_plain_text() == 1 and s.relu().get_plain_text() == pytest.approx(0, abs=1e-6)
    finally:
        mpc_ml.uninit()


@pytest.mark.parametrize("parties,quorum", [(3, None), (4, None), (7, 3)])
def test_products_and_comparisons_of_empty_tensors(parties, quorum):
    """An empty tensor multiplied or compared gives an empty result (it raised ValueError from Pool.take, which
    returned nothing for a request of 0 masks)."""
    mpc_ml.init(parties=parties, quorum=quorum)
    try:
        for shape in ((0,), (0, 3), (2, 0)):
            x = mpc_ml.cryptensor(np.zeros(shape), src=0)
            assert (x * x).get_plain_text().shape == shape
            assert (x > 0).get_plain_text().shape == shape
            assert x.relu().get_plain_text().shape == shape
    finally:
        mpc_ml.uninit()


def test_seven_processes_with_t_2_catch_two_parties_backing_one_and_lie(tmp_path):
    """Over TCP (n=7, t=2): parties 0 and 1 both deviate in one AND round, consistently for each group of
    theirs (the corrupt primary sends s ^ 1, the other corrupt member the digest of s ^ 1). An honest party
    stops with ShareCheckError before anything is opened; an honest run with the same script compares right."""
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent("""
        import hashlib, sys, numpy as np, mpc_ml
        from mpc_ml import runtime
        from mpc_ml.protocols import boolean
        lie = sys.argv[1] == "lie"
        mpc_ml.init()
        rt, me = runtime.current(), mpc_ml.get_rank()
        x = mpc_ml.cryptensor(np.arange(-4.0, 4.0) + 0.5, src=0)
        if lie and me in (0, 1):
            lay, rounds, made = boolean._layout(rt), [], []
            message = boolean._message
            def record(full, digested):
                made.append(full + digested)
                return message(full, digested)
            boolean._message = record
            send = rt.comm.exchange_each
            def each(sends, expect):
                rounds.append(1)
                if len(rounds) == 2:
                    out = {}
                    routes = [r for r in lay.routes if r[0] == me]
                    for (j, d), msgs in zip(routes, made):
                        arr = sends[0][d].copy()
                        gis = lay.full.get((j, d), []) + lay.digested.get((j, d), [])
                        size = msgs[0].size if lay.full.get((j, d)) else None
                        at_full = len(lay.full.get((j, d), []))
                        for k, gi in enumerate(gis):
                            if not {0, 1} <= set(lay.groups[gi]) or lay.primary[gi] not in (0, 1) or d in (0, 1):
                                continue
                            bad = msgs[k] ^ np.uint64(1)
                            if k < at_full:
                                arr[k * bad.size:(k + 1) * bad.size] = bad
                            else:
                                start = sum(m.size for m in msgs[:at_full]) + 4 * (k - at_full)
                                arr[start:start + 4] = np.frombuffer(hashlib.sha256(bad).digest(), np.uint64)
                        out[d] = arr
                    sends = [out]
                made.clear()
                return send(sends, expect)
            rt.comm.exchange_each = each
        try:
            out = (x > 0).get_plain_text()
        except mpc_ml.ShareCheckError as exc:
            sys.stdout.write(f"caught {me} {exc.suspects}\\n")
            sys.exit(1)
        assert (out == (np.arange(-4.0, 4.0) + 0.5 > 0)).all(), out
        sys.stdout.write("OK\\n")
        """))
    runner = ("import sys; from mpc_ml import launcher; "
              "sys.exit(launcher.run_local(7, sys.argv[1], sys.argv[2:], timeout=20, threshold=2))")

    def run(mode):
        return subprocess.run([sys.executable, "-c", runner, str(script), mode], cwd=ROOT, capture_output=True,
                              text=True, timeout=120)

    lying = run("lie")
    assert lying.returncode != 0
    caught = [line.split(" ", 2) for line in lying.stdout.splitlines() if line.startswith("caught")]
    assert caught, (lying.stdout, lying.stderr)
    for _, who, suspects in caught:  # an honest receiver, blaming the corrupt primary and the honest member
        assert int(who) not in (0, 1) and len(set(ast.literal_eval(suspects)) & {0, 1}) == 1, caught
    assert "OK" not in lying.stdout
    honest = run("honest")
    assert honest.returncode == 0, honest.stderr
    assert honest.stdout.split() == ["OK"] * 7
