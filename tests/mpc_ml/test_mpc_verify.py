"""Openings check that shares lie on one degree-t polynomial; outputs carry signed, verifiable evidence."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import mpc_ml
from mpc_ml import runtime as rt_mod
from mpc_ml.evidence import signed_message


def _corrupt_exchange(rt, party: int, when):
    """Make party's share wrong in the exchanges selected by when(call_index)."""
    orig = rt.exchange
    calls = {"i": 0}

    def exchange(local, dests, codec, shape):
        out = orig(local, dests, codec, shape).copy()
        calls["i"] += 1
        if codec.ring is not None and when(calls["i"]):
            out[party] = codec.ring.add(out[party][None], np.ones_like(out[party])[None])[0]
        return out

    rt.exchange = exchange


@pytest.mark.parametrize("n,named", [(3, False), (4, True), (5, False)])
def test_corrupted_output_share_detected(n, named):
    mpc_ml.init(parties=n)
    rt = rt_mod.current()
    x = mpc_ml.cryptensor(np.arange(6.0), src=0)
    x.share[1] = rt.ring.add(x.share[1][None], np.ones_like(x.share[1])[None])[0]  # party 1 lies (and signs)
    with pytest.raises(mpc_ml.ShareCheckError) as err:
        x.get_plain_text(dst=2)
    assert (err.value.suspects == [1]) if named else (1 in err.value.suspects)
    mpc_ml.uninit()


def test_corrupted_share_in_comparison_opening_detected():
    mpc_ml.init(parties=3)
    rt = rt_mod.current()
    x = mpc_ml.cryptensor(np.array([1.0, -2.0]))
    _corrupt_exchange(rt, 0, lambda i: i == 1)
    with pytest.raises(mpc_ml.ShareCheckError):
        x.relu()
    mpc_ml.uninit()


@pytest.mark.parametrize("n,liar", [(3, 0), (3, 2), (4, 0), (4, 3), (7, 5)])
def test_wrong_share_in_a_comparison_opening_is_named_when_it_can_be(n, liar):
    """n >= 3t + 1 (4 parties with t = 1, 7 with t = 2): the party whose share is off the polynomial is
    named; n = 3: detected, every party a suspect (two degree-1 polynomials through honest shares)."""
    mpc_ml.init(parties=n)
    rt = rt_mod.current()
    x = mpc_ml.cryptensor(np.array([1.0, -2.0, 0.5]))
    _corrupt_exchange(rt, liar, lambda i: i == 1)  # the masked opening of the comparison
    with pytest.raises(mpc_ml.ShareCheckError) as err:
        x.relu()
    t = (n - 1) // 2
    assert err.value.suspects == ([liar] if n >= 3 * t + 1 else list(range(n)))
    mpc_ml.uninit()


def test_evidence_verifies_and_tampering_fails(mpc):
    x = mpc.cryptensor(np.array([1.5, -2.25]), src=1)
    value, ev = (x * 2).get_plain_text_with_evidence(dst=0)
    keys = mpc_ml.party_keys()
    assert np.array_equal(mpc_ml.verify(ev, value, verify_keys=keys), value)
    with pytest.warns(UserWarning, match="keys it carries"):  # without the deployment's keys: said, not silent
        assert np.array_equal(mpc_ml.verify(ev), value)
    with pytest.raises(mpc_ml.EvidenceError, match="claimed value"):
        mpc_ml.verify(ev, value + 1, verify_keys=keys)
    bad = copy.deepcopy(ev)
    bad["shares"][2] = ("00" if bad["shares"][2][:2] != "00" else "01") + bad["shares"][2][2:]
    with pytest.raises(mpc_ml.EvidenceError, match="party 2"):
        mpc_ml.verify(bad, verify_keys=keys)
    bad = copy.deepcopy(ev)
    bad["label"] += 1
    with pytest.raises(mpc_ml.EvidenceError, match="signature"):
        mpc_ml.verify(bad, verify_keys=keys)
    with pytest.raises(mpc_ml.EvidenceError, match="expected ones"):
        mpc_ml.verify(ev, verify_keys=[bytes(32)] * 3)
    for broken in ({}, dict(ev, n="3"), dict(ev, shares=["zz"] * 3)):
        with pytest.raises(mpc_ml.EvidenceError):
            mpc_ml.verify(broken, verify_keys=keys)


def test_evidence_whose_shape_says_true_for_1_is_malformed(mpc):
    """JSON `true` where the shape says 1 signs the same metadata (int(True) == 1) but is no dimension: refused as
    malformed evidence, not a TypeError from deep inside (found by the mangled-evidence property test)."""
    _, ev = mpc.cryptensor(np.array([2.5])).get_plain_text_with_evidence()
    bad = dict(ev, shape=[True])
    with pytest.raises(mpc_ml.EvidenceError, match="malformed shape"):
        mpc_ml.verify(bad, verify_keys=mpc_ml.party_keys())
    for junk in (5, 5.0, True, None, " 5", "05", "-5", "5_0", "\u0665"):  # decimal strings, not what int() accepts
        encoding = {"kind": "rational", "num_bound": junk, "den_bound": 7}
        with pytest.raises(mpc_ml.EvidenceError, match="malformed rational bounds"):
            mpc_ml.verify(dict(ev, encoding=encoding), verify_keys=mpc_ml.party_keys())


def test_evidence_names_a_party_that_signed_a_wrong_share():
    """n=4, t=1: a party that signs a wrong share is located by the verifier."""
    mpc_ml.init(parties=4)
    rt = rt_mod.current()
    value, ev = mpc_ml.cryptensor(np.array([3.0])).get_plain_text_with_evidence()
    ring = rt.ring
    share = ring.unpack(bytes.fromhex(ev["shares"][3]), (1,))
    forged = ring.pack(ring.add(share[None], np.ones_like(share)[None])[0])
    bad = copy.deepcopy(ev)
    bad["shares"][3] = forged.hex()
    msg = signed_message(ev, 3, forged)
    bad["signatures"][3] = rt.signers[3].sign(msg).signature.hex()
    with pytest.raises(mpc_ml.EvidenceError, match="party 3"):
        mpc_ml.verify(bad, verify_keys=mpc_ml.party_keys())
    mpc_ml.uninit()


def test_masks_are_fresh_and_no_dealer():
    """ATTACKS row 20: correlated randomness is never reused and no party holds every seed.

    Every PRSS draw advances a shared counter (a fresh AES-CTR nonce), so the same product opened
    twice is masked differently; in a party's own view (TCP mode) only the seeds of the subsets it
    belongs to exist, so no party could play CrypTen's trusted first party.
    """
    from mpc_ml.prss import PRSS, subsets
    from mpc_ml.protocols import shamir

    mpc_ml.init(parties=3)
    rt = rt_mod.current()
    x = mpc_ml.cryptensor(np.array([0.5, 1.25]))
    seen = []
    orig = rt.exchange

    def spy(local, dests, codec, shape):  # the value each product's masked opening reveals
        stack = orig(local, dests, codec, shape)
        seen.append(shamir.reconstruct(codec.ring, stack, 2 * rt.t, check=False))
        return stack

    rt.exchange = spy
    try:
        (x * x)
        (x * x)
    finally:
        rt.exchange = orig
    assert len(seen) == 2 and not np.array_equal(seen[0], seen[1])
    before = rt.prss.counter
    rt.prss.words(4)
    assert rt.prss.counter == before + 1
    seeds = {T: bytes([i]) * 32 for i, T in enumerate(subsets(3, 1)) if 2 in T}
    own = PRSS(3, 1, seeds, [2])
    assert all(2 in own.subsets[i] for i in own.held) and len(own.held) == 2
    with pytest.raises(ValueError, match="missing PRSS seeds"):
        PRSS(3, 1, seeds, [0])
    mpc_ml.uninit()


def test_evidence_is_bound_to_its_run_and_label():
    """verify(session=, label=) refuses evidence of another run or of another output."""
    mpc_ml.init(parties=3)
    try:
        rt = rt_mod.current()
        _, ev = mpc_ml.cryptensor(np.array([1.0])).get_plain_text_with_evidence()
        keys = mpc_ml.party_keys()
        mpc_ml.verify(ev, session=rt.session, label=ev["label"], verify_keys=keys)
        with pytest.raises(mpc_ml.EvidenceError, match="another run"):
            mpc_ml.verify(ev, session=bytes(len(rt.session)), verify_keys=keys)
        with pytest.raises(mpc_ml.EvidenceError, match="expected output"):
            mpc_ml.verify(ev, label=ev["label"] + 1, verify_keys=keys)
    finally:
        mpc_ml.uninit()


def test_evidence_naming_primes_this_version_does_not_use_is_refused(mpc):
    """The ring of an evidence is the first k primes of this version, some perhaps left out (an exact solve leaves
    out those dividing its determinant), descending: any other list of primes is refused before any arithmetic."""
    _, ev = mpc.cryptensor(np.array([2.5])).get_plain_text_with_evidence()
    primes = ev["primes"]
    for other in ([primes[0] - 2] + primes[1:], primes[::-1], primes[:1] + primes, [True] + primes[1:],
                  [float(primes[0])] + primes[1:], primes[:-1] + [3]):
        with pytest.raises(mpc_ml.EvidenceError, match="names a ring"):
            mpc_ml.verify(dict(ev, primes=other), verify_keys=mpc_ml.party_keys())
    with pytest.raises(mpc_ml.EvidenceError, match="signature"):  # a well-formed subring, not the one signed
        mpc_ml.verify(dict(ev, primes=primes[1:]), verify_keys=mpc_ml.party_keys())
