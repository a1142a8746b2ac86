"""Group parameters, arithmetic, encodings and membership checks (ATTACKS rows 4, 5, 6)."""

from __future__ import annotations

import gmpy2
import pytest
from gmpy2 import mpz
from hypothesis import given, settings, strategies as st

from threshold.errors import DecodeError
from threshold.groups import get_group
from threshold.groups.ed25519 import IDENTITY, L
from threshold.groups.modp import _NATIVE, COFACTOR, G, P, Q, ModpFixedBase, multi_exp_mod

modp = get_group("modp")
ed = get_group("ed25519")


def test_modp_parameters_rederived():
    """ATTACKS row 6: p, q, g re-derived from public nothing-up-my-sleeve data and checked."""
    assert Q == 2**256 - 189 and gmpy2.is_prime(Q, 50)
    assert P.bit_length() == 4096 and gmpy2.is_prime(P, 50)
    assert (P - 1) % Q == 0
    assert gmpy2.is_prime((P - 1) // (2 * Q), 25), "(p-1)/2q prime: basis of the batched membership test"
    assert P % 4 == 3, "Z_p^* = {1, -1} x QR: the sign of a commitment is all that ModpGroup.accepts ignores"
    # p = 2^4096 - 2^3840 + 2^256 * (floor(2^3584 ln 2) + delta) - 1 with a small delta
    ctx = gmpy2.get_context()
    old = ctx.precision
    ctx.precision = 4200
    try:
        ln2_bits = int(gmpy2.floor(gmpy2.log(mpz(2)) * mpz(2) ** 3584))
    finally:
        ctx.precision = old
    middle = (P - (mpz(2) ** 4096 - mpz(2) ** 3840) + 1)
    assert middle % 2**256 == 0
    delta = middle // 2**256 - ln2_bits
    assert 0 <= delta < 2**300, "only the low bits of the ln 2 expansion are adjusted"
    assert G == gmpy2.powmod(2, COFACTOR, P)
    assert G != 1 and gmpy2.powmod(G, Q, P) == 1


def test_ed25519_parameters():
    assert gmpy2.is_prime(L, 50)
    assert ed.exp(ed.g, L) == IDENTITY
    assert ed.exp(ed.g, L - 1) == ed.inv(ed.g)


@settings(max_examples=10, deadline=None)
@given(x=st.integers(min_value=0, max_value=2**260), y=st.integers(min_value=0, max_value=2**260))
def test_homomorphism(group, x, y):
    assert group.mul(group.exp_g(x), group.exp_g(y)) == group.exp_g(x + y)
    assert group.exp(group.exp_g(x), y) == group.exp_g(x * y)
    assert group.exp_g(-x) == group.inv(group.exp_g(x))


@settings(max_examples=10, deadline=None)
@given(x=st.integers(min_value=1, max_value=2**252))
def test_encoding_round_trip(group, x):
    a = group.exp_g(x)
    assert group.decode(group.encode(a)) == a
    assert group.from_hex(group.to_hex(a)) == a
    assert len(group.to_hex(a)) == 2 * group.element_bytes
    assert group.scalar_from_hex(group.scalar_to_hex(x)) == x % group.q


def test_fixed_base_table_matches_powmod():
    h = modp.hash_to_element("test", b"fixed")
    table = ModpFixedBase(h)
    for e in [0, 1, 2, 255, 256, int(Q) - 1, int(Q), 2**255 + 12345, -7]:
        assert table.exp(e) == gmpy2.powmod(h, e % int(Q), P)
    assert modp.exp_g(12345) == gmpy2.powmod(G, 12345, P)


@settings(max_examples=15, deadline=None)
@given(exps=st.lists(st.integers(min_value=0, max_value=2**400), min_size=0, max_size=90), split=st.integers(0, 90))
def test_straus_and_multi_exp_mod_match_naive(exps, split):
    """Native Straus, Pippenger and the chooser agree with the naive product, for exponents of mixed sizes above q too."""
    exps = [e >> 272 if i < split else e for i, e in enumerate(exps)]  # 128-bit weights beside 400-bit exponents
    bases = [modp.hash_to_element("pip", bytes([i])) for i in range(len(exps))]
    naive = mpz(1)
    for b, e in zip(bases, exps):
        naive = naive * gmpy2.powmod(b, e, P) % P
    assert _NATIVE.multi_exp(bases, exps, 1) == _NATIVE.multi_exp(bases, exps, 2) == naive
    assert multi_exp_mod(list(zip(bases, exps))) == naive


def test_multi_exp_unreduced_terms():
    """modp multi_exp: reduced terms times unreduced ones, equal bases merged."""
    b = [modp.hash_to_element("u", bytes([i])) for i in range(20)]
    terms = [(x, -i - 1) for i, x in enumerate(b)]
    unreduced = [(x, int(Q) * (i + 5) + i) for i, x in enumerate(b[5:])]
    expected = mpz(1)
    for x, e in terms:
        expected = expected * gmpy2.powmod(x, e % int(Q), P) % P
    for x, e in unreduced:
        expected = expected * gmpy2.powmod(x, e, P) % P
    assert modp.multi_exp(terms, unreduced=unreduced) == expected


def test_multi_exp(group):
    terms = [(group.hash_to_element("m", bytes([i])), group.random_scalar()) for i in range(12)]
    expected = group.identity
    for b, e in terms:
        expected = group.mul(expected, group.exp(b, e))
    assert group.multi_exp(terms) == expected


def test_hash_to_element_reproducible_and_independent(group):
    a = group.hash_to_element("gen", b"one")
    assert a == group.hash_to_element("gen", b"one")
    assert a != group.hash_to_element("gen", b"two") != group.hash_to_element("other", b"one")
    assert group.is_member(a) and a != group.identity


def _modp_bad():
    non_residue = 3 if gmpy2.jacobi(3, P) == -1 else 5
    outside_q = gmpy2.powmod(modp.hash_to_element("x", b"y") * 7 % P, 2 * Q, P)  # a QR of order dividing s
    return {"zero": 0, "p-1 (order 2)": P - 1, "p": P, "p+1": P + 1,
            "non-residue": non_residue, "quadratic residue outside the subgroup": outside_q}


@pytest.mark.parametrize("name", list(_modp_bad()))
def test_modp_rejects_non_members(name):
    """ATTACKS row 4: 0, p-1, p, non-residues and elements of order s are refused."""
    value = int(_modp_bad()[name])
    data = value.to_bytes(512, "big") if value < 2**4096 else b"\xff" * 512
    with pytest.raises(DecodeError, match="field-x"):
        modp.decode(data, "field-x")
    with pytest.raises(DecodeError, match="field-x"):
        modp.decode_many([(modp.encode(modp.g), "ok")] * 5 + [(data, "field-x")])


def test_modp_rejects_bad_lengths_and_identity():
    with pytest.raises(DecodeError, match="512 bytes"):
        modp.decode(b"\x01" * 511)
    with pytest.raises(DecodeError, match="identity"):
        modp.decode((1).to_bytes(512, "big"))
    assert modp.decode((1).to_bytes(512, "big"), allow_identity=True) == 1
    with pytest.raises(DecodeError, match="lowercase"):
        modp.from_hex(modp.to_hex(modp.g).upper())


def test_batched_membership_names_the_bad_element():
    good = [(modp.encode(modp.exp_g(i + 2)), f"e{i}") for i in range(40)]
    bad_value = gmpy2.powmod(11, 2 * Q, P)
    assert gmpy2.jacobi(bad_value, P) == 1 and gmpy2.powmod(bad_value, Q, P) != 1
    items = good[:17] + [(int(bad_value).to_bytes(512, "big"), "ballot[3].alpha")] + good[17:]
    with pytest.raises(DecodeError, match=r"ballot\[3\]\.alpha"):
        modp.decode_many(items)
    assert len(modp.decode_many(good)) == 40


ED_SMALL_ORDER = [
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0100000000000000000000000000000000000000000000000000000000000080",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
]


@pytest.mark.parametrize("point", ED_SMALL_ORDER)
def test_ed25519_rejects_small_order_and_non_canonical(point):
    """ATTACKS rows 4-5: torsion points and non-canonical encodings are refused."""
    with pytest.raises(DecodeError, match="pt"):
        ed.decode(bytes.fromhex(point), "pt")


def test_ed25519_rejects_mixed_order_point():
    torsion = bytes.fromhex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")  # (0, -1), order 2
    import nacl.bindings as sodium

    mixed = sodium.crypto_core_ed25519_add(ed.exp_g(5), torsion)
    with pytest.raises(DecodeError, match="prime-order"):
        ed.decode(mixed, "pt")
    with pytest.raises(DecodeError, match="identity"):
        ed.decode(IDENTITY, "pt")
    assert ed.decode(IDENTITY, "pt", allow_identity=True) == IDENTITY


def test_non_canonical_y_rejected():
    # y = p + 1 encodes the same field element as y = 1 but is not canonical
    p = 2**255 - 19
    with pytest.raises(DecodeError):
        ed.decode((p + 1).to_bytes(32, "little"), "pt")


def test_scalar_decoding(group):
    with pytest.raises(DecodeError, match="reduced"):
        group.scalar_from_hex(group.q.to_bytes(32, "big").hex(), "s")
    with pytest.raises(DecodeError, match="64 hex"):
        group.scalar_from_hex("00", "s")
    with pytest.raises(DecodeError, match="lowercase hex"):
        group.scalar_from_hex("zz" * 32, "s")


def test_unknown_group():
    with pytest.raises(DecodeError, match="unknown group"):
        get_group("p256")
    with pytest.raises(DecodeError, match="unknown group"):
        get_group(["modp"])  # type: ignore[arg-type]  # a name from JSON of the wrong type


def test_one_group_instance_when_threads_ask_at_once(monkeypatch):
    """Threads asking for a group not made yet all get one instance (keys of two would not compare equal)."""
    import threading
    import time

    import threshold.groups as groups

    made: list[object] = []

    def slow_make(name: str) -> object:
        time.sleep(0.02)  # widens the window in which a second thread could make another instance
        made.append(object())
        return made[-1]

    monkeypatch.setattr(groups, "_GROUPS", {})
    monkeypatch.setattr(groups, "_make_group", slow_make)
    got: list[object] = []
    threads = [threading.Thread(target=lambda: got.append(groups.get_group("ed25519"))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(made) == 1 and got == made * 8


def test_random_scalars_reject_out_of_range_candidates_and_draw_again(group, monkeypatch):
    """Rejection sampling over one draw of candidates: a candidate at or above q - 1 (after masking to q - 1's bit
    length) is skipped, never reduced; when too many are rejected another draw follows; each result is in [1, q)."""
    import threshold.groups.base as base

    bound = group.q - 1
    bits = bound.bit_length()
    size = (bits + 7) // 8
    draws = []

    def fake_urandom(n):
        draws.append(n)
        if len(draws) == 1:  # every candidate of the first draw is q - 1 itself: rejected
            return bound.to_bytes(size, "little") * (n // size)
        pair = (bound - 1).to_bytes(size, "little") + (0).to_bytes(size, "little")  # then q - 2 and 0, accepted
        return (pair * n)[:n]

    monkeypatch.setattr(base.os, "urandom", fake_urandom)
    assert group.random_scalars(3) == [bound, 1, bound]  # candidates q - 2, 0, q - 2 of the second draw, plus one
    assert len(draws) == 2 and all(n % size == 0 and n >= 3 * size for n in draws)
    monkeypatch.undo()  # the real os.urandom again
    values = group.random_scalars(200)
    assert len(values) == 200 and all(1 <= v < group.q for v in values) and len(set(values)) == 200
    assert 1 <= group.random_scalar() < group.q
