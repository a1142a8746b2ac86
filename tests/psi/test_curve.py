"""The X25519 batch multiplication (libsodium) against OpenSSL's X25519 (`cryptography`), and its refusals."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from mpc_ml.psi.curve import ELL, BlindingKey
from mpc_ml.psi.errors import PsiError
from mpc_ml.psi.hashing import encode_items


def openssl_x25519(scalar: bytes, points: bytes) -> bytes:
    key = X25519PrivateKey.from_private_bytes(scalar)
    return b"".join(key.exchange(X25519PublicKey.from_public_bytes(points[i : i + 32])) for i in range(0, len(points), 32))


@settings(max_examples=20, deadline=None)
@given(st.lists(st.binary(max_size=20), min_size=1, max_size=6, unique=True))
def test_blind_and_unblind_match_openssl(msgs: list[bytes]) -> None:
    key = BlindingKey()
    points = encode_items(msgs)
    blinded = key.blind(points)
    assert blinded == openssl_x25519(key.to_bytes(), points)
    inverse = int.from_bytes(key.to_bytes(), "little")
    assert key.unblind(blinded) == openssl_x25519(key._inverse_bytes(), blinded)
    assert int.from_bytes(key._inverse_bytes(), "little") * inverse % ELL == 1
    assert key.unblind(key.blind(blinded)) == blinded  # blinded points are in the prime-order subgroup


def test_saved_key_is_the_same_key() -> None:
    key = BlindingKey()
    points = encode_items([b"a", b"b"])
    assert BlindingKey(key.to_bytes()).blind(points) == key.blind(points)


@pytest.mark.parametrize("u", [0, 1])  # small-order u-coordinates (order 4 and 2 points)
def test_small_order_points_are_refused(u: int) -> None:
    points = encode_items([b"a"]) + u.to_bytes(32, "little")
    with pytest.raises(PsiError, match="small order"):
        BlindingKey().blind(points)


def test_unclamped_saved_keys_are_refused() -> None:
    with pytest.raises(PsiError, match="not a saved PSI key"):
        BlindingKey(bytes(range(32)))
