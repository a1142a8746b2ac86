"""The RNS ring against Python integers (hypothesis), and the wire format's rejection of bad data."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mpc_ml.ring import Ring

RING = Ring(6)
M = RING.modulus
elems = st.lists(st.integers(0, M - 1), min_size=1, max_size=12)


def _res(vals: list[int]) -> np.ndarray:
    return RING.from_objects(np.array(vals, dtype=object))


def _ints(res: np.ndarray) -> list[int]:
    return RING.crt(res[0])


@settings(max_examples=60, deadline=None)
@given(elems, elems)
def test_add_sub_mul_match_integers(a, b):
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    x, y = _res(a), _res(b)
    assert _ints(RING.add(x, y)) == [(u + v) % M for u, v in zip(a, b)]
    assert _ints(RING.sub(x, y)) == [(u - v) % M for u, v in zip(a, b)]
    assert _ints(RING.mul(x, y)) == [(u * v) % M for u, v in zip(a, b)]


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 6), st.integers(1, 3000), st.integers(1, 4), st.data())
def test_matmul_exact_including_chunked_inner_dimension(m, k, n, data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32)))
    a = rng.integers(0, 2**62, (m, k)).astype(object) % M
    b = rng.integers(0, 2**62, (k, n)).astype(object) % M
    got = np.array(RING.crt(RING.matmul(RING.from_objects(a), RING.from_objects(b))[0]), dtype=object)
    assert (got == (a.dot(b) % M)).all()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-(2**62), 2**62), min_size=1, max_size=10), st.integers(1, 64))
def test_signed_lift_and_low_bits(vals, k):
    res = RING.from_int64(np.array(vals, dtype=np.int64))
    assert RING.to_int64(res)[0].tolist() == vals
    assert RING.mod_2k(res, k)[0].tolist() == [(v % M) % (1 << k) for v in vals]


@settings(max_examples=40, deadline=None)
@given(elems)
def test_pack_roundtrip(a):
    x = _res(a)[0]
    assert np.array_equal(RING.unpack(RING.pack(x), (len(a),)), x)


def test_unpack_rejects_wrong_size_and_non_residues():
    x = _res([1, 2, 3])[0]
    data = RING.pack(x)
    with pytest.raises(ValueError, match="expected"):
        RING.unpack(data[:-8], (3,))
    bad = np.frombuffer(data, dtype=np.uint64).copy()
    bad[0] |= np.uint64((1 << 21) - 1)  # residue 2^21 - 1 >= p_0
    with pytest.raises(ValueError, match="outside the ring"):
        RING.unpack(bad.tobytes(), (3,))


@pytest.mark.parametrize("payload,msg", [
    (b"\x00" * 4, "truncated"),
    ((7).to_bytes(8, "big") + b"\x01" + (2).to_bytes(8, "big"), "round 7"),
    ((1).to_bytes(8, "big") + b"\x09", "bad shape header"),
    ((1).to_bytes(8, "big") + b"\x01" + (1 << 40).to_bytes(8, "big"), "implausible"),
    ((1).to_bytes(8, "big") + b"\x01" + (2).to_bytes(8, "big") + b"\x00" * 8, "bytes, expected"),
])
def test_input_message_parser_rejects_malformed(payload, msg):
    """An input (scatter) message from party 0 with a bad round, header or body names party 0."""
    from mpc_ml.errors import ProtocolError
    from mpc_ml.runtime import Codec, Stats
    from mpc_ml.transport import TcpComm

    comm = TcpComm.__new__(TcpComm)
    comm.n, comm.me, comm.round, comm.stats = 3, 1, 0, Stats()
    comm._transfer = lambda sends, expect, size=None: {0: payload}
    with pytest.raises(ProtocolError, match=msg) as err:
        comm.scatter(0, None, Codec(RING), None)
    assert err.value.party == 0


def test_a_ring_without_some_primes_keeps_the_others_in_order():
    full = Ring(6)
    sub = full.without([1, 4])
    assert sub.primes == tuple(q for i, q in enumerate(full.primes) if i not in (1, 4)) and sub.k == 4
    assert sub.modulus == full.modulus // (full.primes[1] * full.primes[4])
    assert sub.without([0]).primes == full.primes[2:4] + full.primes[5:]  # positions are the sub-ring's own
    x = np.array([[123456789, 2**60 + 5]], dtype=object)
    assert sub.crt(sub.from_objects(x)[0]) == [[123456789, 2**60 + 5]]
    for bad in ((6,), (-1,)):
        with pytest.raises(ValueError, match="not among"):
            Ring(6, bad)
        with pytest.raises(ValueError, match="not among"):
            sub.without([bad[0] - 2])  # 4 primes: positions 4 and -3 are not among them
    with pytest.raises(ValueError, match="at least one prime"):
        Ring(2, (0, 1))
