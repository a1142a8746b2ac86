"""Shamir and VSS (ATTACKS row 11: index 0 and duplicates)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings, strategies as st

from threshold.errors import DecodeError, ProtocolError
from threshold.shamir import Share, evaluate, interpolate, lagrange_at_zero, random_polynomial, recover, split
from threshold.vss import feldman_commit, feldman_verify, pedersen_deal, pedersen_verify

PRIMES = [101, 2**127 - 1, 2**252 + 27742317777372353535851937790883648493]


@settings(max_examples=20, deadline=None)
@given(secret=st.integers(min_value=0), k=st.integers(min_value=1, max_value=5), extra=st.integers(min_value=0, max_value=3),
       prime=st.sampled_from(PRIMES))
def test_any_k_subset_recovers(secret, k, extra, prime):
    n = k + extra
    shares, _ = split(secret, k, n, prime)
    for subset in itertools.combinations(shares, k):
        assert recover(list(subset), prime) == secret % prime


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 6), st.sampled_from(PRIMES), st.randoms(use_true_random=False))
def test_interpolate_rebuilds_the_whole_polynomial(k, prime, rnd):
    """The DKG's public reconstruction: any k points give back every coefficient."""
    f = random_polynomial(rnd.randrange(prime), k - 1, prime)
    points = rnd.sample(range(1, min(prime, 200)), k)
    assert interpolate([Share(x, evaluate(f, x, prime)) for x in points], prime) == f


def test_k_minus_1_shares_fit_every_secret():
    """k-1 shares are consistent with every candidate secret: they reveal nothing checkable."""
    q = 101
    shares, _ = split(42, 3, 5, q)
    known = shares[:2]
    for candidate in range(q):
        points = [Share(0, candidate)] + known
        xs = [s.index for s in points]
        # the unique degree-2 polynomial through (0, candidate) and the two shares exists:
        value_at_3 = sum(s.value * _lagrange_at(s.index, xs, 3, q) for s in points) % q
        assert recover(known + [Share(3, value_at_3)], q) == candidate


def _lagrange_at(i, xs, x, q):
    num, den = 1, 1
    for j in xs:
        if j != i:
            num = num * (x - j) % q
            den = den * (i - j) % q
    return num * pow(den, -1, q) % q


def test_index_zero_and_duplicates_refused():
    q = 101
    shares, _ = split(5, 2, 3, q)
    with pytest.raises(DecodeError, match="index 0"):
        recover([Share(0, 5), shares[0]], q)
    with pytest.raises(DecodeError, match="duplicate"):
        recover([shares[0], shares[0]], q)
    with pytest.raises(DecodeError, match="index 0"):
        recover([Share(q, 1), shares[1]], q)
    with pytest.raises(ProtocolError, match="2 needed"):
        recover(shares[:1], q, k=2)


def test_lagrange_weights_sum_to_one():
    q = 2**127 - 1
    xs = [1, 4, 9]
    assert sum(lagrange_at_zero(i, xs, q) for i in xs) % q == 1


def test_feldman(group):
    shares, poly = split(group.random_scalar(), 3, 5, group.q)
    commitments = feldman_commit(group, poly)
    assert all(feldman_verify(group, commitments, s) for s in shares)
    assert not feldman_verify(group, commitments, Share(2, (shares[1].value + 1) % group.q))


def test_pedersen(group):
    shares, blinds, commitments = pedersen_deal(group, 1234, 2, 4)
    assert all(pedersen_verify(group, commitments, s, b) for s, b in zip(shares, blinds))
    assert not pedersen_verify(group, commitments, Share(1, shares[0].value + 1), blinds[0])
    assert recover(shares[:2], group.q) == 1234
    assert evaluate([1, 2, 3], 2, 101) == 17
