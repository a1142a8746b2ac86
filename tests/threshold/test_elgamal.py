"""Exponential ElGamal: homomorphism, re-encryption, small-plaintext decryption."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from threshold.elgamal import Ciphertext, PublicKey, ciphertext_sum, decrypt, discrete_log
from threshold.errors import DecodeError, VerificationError


@pytest.fixture(scope="module")
def keys(group):
    x = group.random_scalar()
    return x, PublicKey(group, group.exp_g(x))


@settings(max_examples=8, deadline=None)
@given(a=st.integers(min_value=0, max_value=300), b=st.integers(min_value=0, max_value=300))
def test_homomorphic_addition(group, keys, a, b):
    x, pk = keys
    total = ciphertext_sum(group, [pk.encrypt(a)[0], pk.encrypt(b)[0]])
    assert decrypt(group, x, total, 600) == a + b


def test_reencryption_changes_ciphertext_not_plaintext(group, keys):
    x, pk = keys
    ct, _ = pk.encrypt(5)
    again, _ = pk.reencrypt(ct)
    assert again != ct and decrypt(group, x, again, 10) == 5


def test_discrete_log_bounds(group):
    assert discrete_log(group, group.exp_g(0), 0) == 0
    assert discrete_log(group, group.exp_g(9999), 10000) == 9999
    with pytest.raises(VerificationError, match="0..10"):
        discrete_log(group, group.exp_g(11), 10)


def test_ciphertext_json_round_trip_and_errors(group, keys):
    _, pk = keys
    ct, _ = pk.encrypt(1)
    assert Ciphertext.from_json(group, ct.to_json(group)) == ct
    with pytest.raises(DecodeError, match="exactly"):
        Ciphertext.from_json(group, {"alpha": group.to_hex(ct.alpha)})
    with pytest.raises(DecodeError, match=r"ct\.beta"):
        Ciphertext.from_json(group, {"alpha": group.to_hex(ct.alpha), "beta": "00"}, "ct")


def test_public_key_refuses_identity(group):
    with pytest.raises(DecodeError, match="identity"):
        PublicKey(group, group.identity)
