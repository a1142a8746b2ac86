"""Hash to curve25519 against RFC 9380's known-answer vectors (curve25519_XMD:SHA-512_ELL2_NU_)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mpc_ml.psi.hashing import clear_cofactor_u, encode_items, hash_to_field, map_to_curve_u

RFC_DST = b"QUUX-V01-CS02-with-curve25519_XMD:SHA-512_ELL2_NU_"
# RFC 9380 Appendix J.7.2: msg, u[0], P.x (P = clear_cofactor(map_to_curve(u))), big-endian hex.
VECTORS = [
    (b"", "608d892b641f0328523802a6603427c26e55e6f27e71a91a478148d45b5093cd",
     "1bb913f0c9daefa0b3375378ffa534bda5526c97391952a7789eb976edfe4d08"),
    (b"abc", "46f5b22494bfeaa7f232cc8d054be68561af50230234d7d1d63d1d9abeca8da5",
     "7c22950b7d900fa866334262fcaea47a441a578df43b894b4625c9b450f9a026"),
    (b"abcdef0123456789", "235fe40c443766ce7e18111c33862d66c3b33267efa50d50f9e8e5d252a40aaa",
     "31ad08a8b0deeb2a4d8b0206ca25f567ab4e042746f792f4b7973f3ae2096c52"),
]


@pytest.mark.parametrize(("msg", "u_hex", "px_hex"), VECTORS)
def test_rfc9380_known_answers(msg: bytes, u_hex: str, px_hex: str) -> None:
    u = hash_to_field(msg, RFC_DST)
    assert int(u) == int(u_hex, 16)
    assert int(clear_cofactor_u(map_to_curve_u(u))) == int(px_hex, 16)


@given(st.lists(st.binary(max_size=80), max_size=8))
def test_batch_encoding_matches_the_reference_steps(msgs: list[bytes]) -> None:
    out = encode_items(msgs, RFC_DST)
    expected = b"".join(int(map_to_curve_u(hash_to_field(m, RFC_DST))).to_bytes(32, "little") for m in msgs)
    assert out == expected
