"""The native edwards25519 arithmetic (threshold/groups/_ed25519.c) against libsodium and a
pure-Python reference: every operation bit for bit, decoding edge cases, and the batched
subgroup test with points carrying each torsion component (docs/spec.md, edwards25519)."""

from __future__ import annotations

import secrets

import nacl.bindings as sodium
import pytest
from hypothesis import given, settings, strategies as st

from threshold.batch import weights_from
from threshold.errors import DecodeError
from threshold.groups import _ed25519 as native
from threshold.groups import get_group
from threshold.groups.ed25519 import _BATCH_MEMBERSHIP_MIN, BASEPOINT, IDENTITY, L, SMALL_ORDER

from ed25519_reference import P, order8_point, ref_add, ref_decode, ref_encode, ref_mul, sodium_mul

ed = get_group("ed25519")


T8 = order8_point()
TORSION = {k: ref_encode(ref_mul(T8, k)) for k in range(8)}  # TORSION[k] has order 8 / gcd(k, 8)
ORDER = {0: 1, 4: 2, 2: 4, 6: 4, 1: 8, 3: 8, 5: 8, 7: 8}


def with_torsion(point: bytes, k: int) -> bytes:
    return ref_encode(ref_add(ref_decode(point), ref_decode(TORSION[k])))


def rand_point() -> bytes:
    return ed.exp_g(secrets.randbelow(L))


scalars = st.one_of(
    st.sampled_from([0, 1, 2, L - 1, L, L + 1, 2 * L, 2**252, 2**253 - 1, 2**255, 2**256 - 1, -1, -L]),
    st.integers(min_value=0, max_value=L - 1),
    st.integers(min_value=-(2**300), max_value=2**300),
)
points = st.one_of(st.just(IDENTITY), st.just(BASEPOINT),
                   st.integers(min_value=1, max_value=L - 1).map(lambda e: sodium_mul(BASEPOINT, e)))


# ----------------------------------------------------------------------------- arithmetic
def test_small_order_points_are_the_known_eight():
    """The eight points of order dividing 8 (libsodium's blocklist, canonical ones) and the identity."""
    known = {bytes.fromhex(h) for h in (
        "0100000000000000000000000000000000000000000000000000000000000000",
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0000000000000000000000000000000000000000000000000000000000000080",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    )}
    assert set(TORSION.values()) == known == SMALL_ORDER
    for t in known:
        assert native.check(t) == 0 and native.member(t) == (t == IDENTITY)
    for k, t in TORSION.items():
        assert ref_mul(ref_decode(t), ORDER[k]) == (0, 1)


@settings(max_examples=60, deadline=None)
@given(e=scalars, base=points)
def test_scalar_multiplications_match_libsodium(e, base):
    expected = sodium_mul(base, e)
    assert ed.exp(base, e) == expected
    assert ed.fixed_base(base).exp(e) == expected
    assert ed.multi_exp([(base, e)]) == expected
    assert ed.exp_g(e) == sodium_mul(BASEPOINT, e)


@settings(max_examples=60, deadline=None)
@given(a=points, b=points)
def test_add_sub_match_libsodium(a, b):
    assert ed.mul(a, b) == native.add(a, b) == sodium.crypto_core_ed25519_add(a, b)
    assert ed.div(a, b) == native.sub(a, b) == sodium.crypto_core_ed25519_sub(a, b)
    assert ed.inv(b) == native.sub(IDENTITY, b) == sodium.crypto_core_ed25519_sub(IDENTITY, b)


@pytest.mark.parametrize("k", range(8))
def test_add_sub_with_small_order_points_match_libsodium(k):
    a, t = rand_point(), TORSION[k]
    assert native.add(a, t) == sodium.crypto_core_ed25519_add(a, t) == with_torsion(a, k)
    assert native.sub(a, t) == sodium.crypto_core_ed25519_sub(a, t)
    assert native.add(t, t) == ref_encode(ref_add(ref_decode(t), ref_decode(t)))


@pytest.mark.parametrize("n", [0, 1, 2, 7, 95, 96, 97, 300])
def test_multi_exp_matches_libsodium(n):
    """Straus below 96 points, Pippenger above; scalars include 0, 1, L-1, L and >= L."""
    bases = [rand_point() for _ in range(n)]
    special = [0, 1, L - 1, L, L + 5, 2**255 + 3, -7]
    exps = [special[i] if i < len(special) else secrets.randbelow(L) for i in range(n)]
    if n > 2:
        bases[1] = bases[2]  # a repeated base
    expected = IDENTITY
    for b, e in zip(bases, exps):
        expected = sodium.crypto_core_ed25519_add(expected, sodium_mul(b, e))
    assert ed.multi_exp(list(zip(bases, exps))) == expected


@pytest.mark.parametrize("n", [1, 4, 5, 97, 300])
def test_sums_of_points_match_libsodium(n):
    """Scalars of 0 and 1 only (Group.prod) take plain additions: points with torsion, repeats, the identity, and
    a scalar of 2 or 256 among ones takes the multi-exponentiation again."""
    bases = [rand_point() for _ in range(n)]
    bases[0] = with_torsion(bases[0], 5)
    bases[-1] = IDENTITY if n > 1 else bases[-1]
    bits = [secrets.randbelow(2) for _ in range(n)]
    bits[0] = 1

    def total(es):
        acc = IDENTITY
        for b, e in zip(bases, es):
            acc = ref_encode(ref_add(ref_decode(acc), ref_mul(ref_decode(b), e)))
        return acc
    assert native.multi_exp(bases, bits) == total(bits)
    assert ed.prod(bases) == total([1] * n)
    for other in (2, 256):
        es = bits[:-1] + [other]
        assert native.multi_exp(bases, es) == total(es)


@pytest.mark.parametrize("n", [1, 2, 8, 9, 21])
def test_multi_exp_decodes_uncached_points_in_groups_of_eight(n):
    """Points not in the decode cache are decoded together (their square roots in IFMA lanes, 8 at a time, where
    the CPU has them): whole groups, a partial last group, points with torsion, a repeated point."""
    native.cache_clear()
    bases = [with_torsion(rand_point(), i % 8) if i % 3 else rand_point() for i in range(n)]
    if n > 2:
        bases[2] = bases[0]
    exps = [secrets.randbelow(L) for _ in range(n)]
    native.cache_clear()
    expected = (0, 1)
    for b, e in zip(bases, exps):
        expected = ref_add(expected, ref_mul(ref_decode(b), e))
    assert native.multi_exp(bases, exps) == ref_encode(expected)


@pytest.mark.parametrize("bad, message", [((P + 3).to_bytes(32, "little"), "non-canonical encoding \\(y >= p\\)"),
                                          ((1 | 1 << 255).to_bytes(32, "little"), "sign bit"),
                                          ((2).to_bytes(32, "little"), "not a point")])
@pytest.mark.parametrize("at", [0, 5, 8, 12])
def test_multi_exp_refuses_an_undecodable_point_among_uncached_ones(bad, message, at):
    assert ref_decode((2).to_bytes(32, "little")) is None
    bases = [rand_point() for _ in range(12)]
    bases.insert(at, bad)
    native.cache_clear()
    with pytest.raises(native.DecodeFailure, match=message):
        native.multi_exp(bases, [1] * len(bases))
    with pytest.raises(native.DecodeFailure, match=message):
        native.multi_exp_torsion(bases, [1] * len(bases))


def test_fixed_base_table_of_a_public_key_matches_libsodium():
    K = rand_point()
    table = ed.fixed_base(K)
    for e in [0, 1, 2, 15, 16, 255, 256, L - 1, L, 2**252 - 1, 2**255 + 1, -3] + [secrets.randbelow(L) for _ in range(20)]:
        assert table.exp(e) == sodium_mul(K, e)


def test_fixed_base_products_match_libsodium():
    """Several products in one native pass (shared comb, short path for bounded exponents, one
    inversion for all): each equals the product computed term by term."""
    K = rand_point()
    gt, kt = ed.fixed_base(ed.g), ed.fixed_base(K)
    small = [0, 1, 2, 7, 8, 9, 15, 16, 17, 255, 256, 4095, 4096, 2**15, 2**16 - 1] + [secrets.randbelow(2**16) for _ in range(10)]
    for m in small:
        r = secrets.randbelow(L)
        products = [[(gt, r, None)], [(gt, m, 2**16), (kt, r, None)], [(gt, m, 2**16)], [(kt, m, 2**16)], [(kt, r, None), (gt, m, None)]]
        expected = [sodium_mul(ed.g, r), sodium.crypto_core_ed25519_add(sodium_mul(ed.g, m), sodium_mul(K, r)) if m else sodium_mul(K, r),
                    sodium_mul(ed.g, m) if m else IDENTITY, sodium_mul(K, m) if m else IDENTITY,
                    sodium.crypto_core_ed25519_add(sodium_mul(ed.g, m), sodium_mul(K, r)) if m else sodium_mul(K, r)]
        assert ed.fixed_base_products(products) == expected
    assert ed.fixed_base_products([]) == []
    assert ed.fixed_base_products([[(kt, L, None), (gt, 0, 2**16)]]) == [IDENTITY]
    with pytest.raises(ValueError):
        ed.fixed_base_products([[(gt, 2**16, 2**16)]])   # outside its stated bound
    with pytest.raises(ValueError):
        ed.fixed_base_products([[(gt, -1, 2**16)]])


def test_fixed_base_products_default_matches_ed25519_override():
    """modp uses the generic default of base.py; both give the same products as exp_g / tables."""
    from threshold.groups.base import Group

    for group in (ed, get_group("modp")):
        K = group.exp_g(12345)
        gt, kt = group.fixed_base(group.g), group.fixed_base(K)
        r, m = group.random_scalar(), 1
        got = group.fixed_base_products([[(gt, r, None)], [(gt, m, 2**16), (kt, r, None)]])
        assert got == [group.exp_g(r), group.mul(group.exp_g(m), group.exp(K, r))]
        assert got == Group.fixed_base_products(group, [[(gt, r, None)], [(gt, m, 2**16), (kt, r, None)]])


def test_scalar_multiplication_of_points_outside_the_subgroup_matches_reference():
    """The native code is exact on the whole curve (libsodium refuses these inputs)."""
    for k in (1, 2, 4):
        pt = with_torsion(rand_point(), k)
        for e in (0, 1, 3, 8, L, secrets.randbelow(2**253)):
            assert native.scalarmult(pt, e % 2**253) == ref_encode(ref_mul(ref_decode(pt), e % 2**253))
        assert native.table_exp(native.table(pt), 12345) == ref_encode(ref_mul(ref_decode(pt), 12345))


# ----------------------------------------------------------------------------- decoding
@settings(max_examples=300, deadline=None)
@given(data=st.binary(min_size=32, max_size=32))
def test_decoding_matches_reference_and_libsodium(data):
    ref = ref_decode(data)
    assert (native.check(data) == 0) == (ref is not None)
    member = ed.is_member(data)
    assert member == (data == IDENTITY or bool(sodium.crypto_core_ed25519_is_valid_point(data)))
    if ref is not None:
        assert member == (ref_mul(ref, L) == (0, 1))
        assert native.add(data, IDENTITY) == ref_encode(ref)  # decode then encode is the identity
    else:
        with pytest.raises(DecodeError, match="fld"):
            ed.decode(data, "fld")


def test_non_canonical_encodings():
    for y in range(P, 2**255):  # the 19 values y >= p, each with either sign bit
        for sign in (0, 1):
            data = (y | (sign << 255)).to_bytes(32, "little")
            assert native.check(data) == 1
            with pytest.raises(DecodeError, match="non-canonical"):
                ed.decode(data, "pt", allow_identity=True)
    for y in (1, P - 1):  # x = 0 with the sign bit set
        data = (y | (1 << 255)).to_bytes(32, "little")
        assert native.check(data) == 3
        with pytest.raises(DecodeError, match="sign bit"):
            ed.decode(data, "pt", allow_identity=True)


def test_off_curve_y_rejected():
    found = 0
    for y in range(2, 200):
        data = y.to_bytes(32, "little")
        if ref_decode(data) is None:
            found += 1
            assert native.check(data) == 2
            with pytest.raises(DecodeError, match="not a point"):
                ed.decode(data, "pt")
    assert found > 50


# ----------------------------------------------------------------------------- membership
@pytest.mark.parametrize("k", range(1, 8))
def test_single_decode_rejects_each_torsion_component(k):
    bad = with_torsion(rand_point(), k)
    assert native.check(bad) == 0 and not native.member(bad) and not ed.is_member(bad)
    with pytest.raises(DecodeError, match="prime-order"):
        ed.decode(bad, "pt")
    assert not native.member(TORSION[k])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=20))
def test_halving_membership_matches_multiplying_by_the_order(encodings):
    """member / members (three halvings' worth of square roots, 8 points sharing each in lanes) against the
    reference's [L]P = O, on whatever points random bytes decode to: their torsion component is uniform over
    Z_8, so every coset comes up; bytes off the curve are refused by both."""
    decodable = [x for x in encodings if ref_decode(x) is not None]
    want = [ref_mul(ref_decode(x), L) == (0, 1) for x in decodable]
    native.cache_clear()
    assert native.members(decodable) == want
    assert [native.member(x) for x in decodable] == want
    assert native.members(encodings) == [ref_decode(x) is not None and ref_mul(ref_decode(x), L) == (0, 1)
                                         for x in encodings]


PAIRS = [(4, 4), (2, 6), (2, 2), (1, 7), (3, 5), (1, 3), (4, 2), (1, 4), (6, 6), (5, 5)]


@pytest.mark.parametrize("ks", PAIRS)
def test_batched_membership_catches_torsion_that_cancels_in_one_sum(ks):
    """Two bad points whose torsion parts cancel (or not) in a single sum: every pair is caught.

    With order-2 components (4, 4) a single random combination of odd or even weights misses
    with probability 1/2; 128 independent subsets miss with probability 2^-128.
    """
    n = max(_BATCH_MEMBERSHIP_MIN, 160)
    good = [rand_point() for _ in range(n)]
    for _ in range(3):  # fresh randomness each time: never a lucky pass
        assert native.members_batch(good, secrets.token_bytes(16 * n))
        pts = list(good)
        pts[10] = with_torsion(pts[10], ks[0])
        pts[n - 3] = with_torsion(pts[n - 3], ks[1])
        assert not native.members_batch(pts, secrets.token_bytes(16 * n))
    items = [(p, f"items[{i}]") for i, p in enumerate(pts)]
    with pytest.raises(DecodeError, match=r"items\[10\]"):
        ed.decode_many(items)


def test_batched_membership_single_bad_point_and_small_batches():
    for n in (1, 5, _BATCH_MEMBERSHIP_MIN - 1, _BATCH_MEMBERSHIP_MIN, 400):
        good = [rand_point() for _ in range(n)]
        assert ed.decode_many([(p, "x") for p in good]) == good
        for k in (4, 2, 1):
            pts = list(good)
            pts[-1] = with_torsion(pts[-1], k)
            assert not native.members_batch(pts, secrets.token_bytes(16 * n))
            with pytest.raises(DecodeError, match="last"):
                ed.decode_many([(p, "ok") for p in pts[:-1]] + [(pts[-1], "last")])


def test_subset_check_alone_misses_cancelling_pair_half_the_time():
    """Why one combination is not enough: with all 128 subsets equal, a (T2, T2) pair passes
    exactly when the subset contains both or neither; the test sees both outcomes."""
    good = [rand_point() for _ in range(8)]
    pts = [with_torsion(good[0], 4), with_torsion(good[1], 4)] + good[2:]
    both = bytes([0xff] * 16) * 2 + bytes(16 * 6)   # both bad points in every subset: cancel
    one = bytes([0xff] * 16) + bytes(16 * 7)        # only the first: caught
    assert native.members_batch(pts, both)
    assert not native.members_batch(pts, one)


@pytest.mark.parametrize("n", [0, 1, 4, 5, 7, 8, 9, 13, 16, 17, 24])
def test_members_agrees_with_member_for_every_kind_of_point(n):
    """members() tests [L]P = O of many points together (8 at a time in IFMA lanes where the CPU has them, the
    tail alone): subgroup points, each torsion component added, the 8 small-order points, undecodable encodings."""
    rng = secrets.SystemRandom()
    kinds = [lambda: rand_point(), lambda: with_torsion(rand_point(), rng.randrange(1, 8)),
             lambda: TORSION[rng.randrange(8)], lambda: (2).to_bytes(32, "little"), lambda: (P + 1).to_bytes(32, "little")]
    points = [rng.choice(kinds)() for _ in range(n)]
    if n:
        points[rng.randrange(n)] = with_torsion(rand_point(), 4)  # at least one non-member, anywhere
    native.cache_clear()
    assert native.members(points) == [native.member(x) for x in points]
    assert native.members([rand_point() for _ in range(n)]) == [True] * n
    with pytest.raises(TypeError):
        native.members([rand_point(), b"short"])


def test_a_commitment_with_torsion_added_after_hashing_fails():
    """Equations hold up to torsion, but the challenge hashes the commitment's bytes: adding torsion of any
    order to a published commitment breaks the proof; a ciphertext carrying torsion is still refused."""
    from threshold import PublicKey, RangeProof

    pk = PublicKey(ed, rand_point())
    ct, r = pk.encrypt(1)
    honest = RangeProof.prove(pk, ct, 1, r, 1, b"ctx")
    assert honest.verify(pk, ct, b"ctx")
    for k in range(1, 8):
        tampered = RangeProof((with_torsion(honest.a[0], k), honest.a[1]), honest.b, honest.challenges, honest.responses)
        assert not tampered.verify(pk, ct, b"ctx")
    reader = ed.reader()
    reader.element(with_torsion(ct.alpha, 4).hex(), "ct.alpha")
    with pytest.raises(DecodeError, match=r"ct\.alpha"):
        reader.finish()


@pytest.mark.parametrize("k", range(8))
def test_small_order_commitment_refused_where_the_identity_is(k):
    """A commitment of small order is the identity up to torsion: refused where the identity is not allowed."""
    from threshold import PublicKey, RangeProof

    pk = PublicKey(ed, rand_point())
    ct, r = pk.encrypt(1)
    obj = RangeProof.prove(pk, ct, 1, r, 1, b"ctx").to_json(ed)
    obj["b"][1] = TORSION[k].hex()
    with pytest.raises(DecodeError, match=r"proof\.b\[1\]"):
        RangeProof.from_json(ed, obj, 1)
    assert ed.reader().commitment(TORSION[k].hex(), "b", allow_identity=True) == TORSION[k]


# ----------------------------------------------------------------------------- weighted equations in C

def reference_weighted(equations, weights) -> tuple[list[bytes], list[int]]:
    """The merged terms of prod_k (prod [e]P)^w_k: bases by encoding, exponents reduced mod L, zeros left out."""
    acc: dict[bytes, int] = {}
    for eq, w in zip(equations, weights):
        for p, e in eq:
            acc[p] = (acc.get(p, 0) + int(e) * w) % L
    return [p for p, e in acc.items() if e], [e for e in acc.values() if e]


def weighted_sum(equations, weights) -> bytes:
    bases, es = reference_weighted(equations, weights)
    acc = IDENTITY
    for p, e in zip(bases, es):
        acc = sodium.crypto_core_ed25519_add(acc, sodium_mul(p, e)) if acc != IDENTITY else sodium_mul(p, e)
    return acc


POINTS = [sodium_mul(BASEPOINT, 3 + 7919 * i) for i in range(6)]
OFF_CURVE = next(y.to_bytes(32, "little") for y in range(2, 100) if ref_decode(y.to_bytes(32, "little")) is None)
EDGE_EXPONENTS = [0, 1, -1, L - 1, L, -L, L + 1, 2**252, 2**255 - 1, 2**256 - 1, -(2**256 - 1), 2**256, -(2**256),
                  2**319, -(2**319), 2**320 + 5, -(2**512) - 3]
EDGE_RANDOMNESS = [bytes(16), b"\xff" * 16, b"\xff" * 8 + bytes(8), bytes(8) + b"\xff" * 8, bytes(15) + b"\x80",
                   b"\x01" + bytes(15)]
exponents = st.one_of(st.sampled_from(EDGE_EXPONENTS), st.integers(-(2**600), 2**600))
equations_st = st.lists(st.lists(st.tuples(st.sampled_from(POINTS), exponents), max_size=5), min_size=1, max_size=5)


def closing(total: bytes, randomness: bytes) -> list[tuple[bytes, int]]:
    """An equation that, under the weight `randomness` stands for, adds -total."""
    (rho,) = weights_from(randomness)
    return [(total, -pow(rho, -1, L))] if total != IDENTITY else []


@settings(max_examples=150, deadline=None)
@given(equations=equations_st, data=st.data())
def test_weighted_torsion_merges_and_reduces_like_python(equations, data):
    """An equation that cancels the weighted product exactly holds; off by one base point it does not, whatever the
    exponents' signs and sizes and the 16 random bytes of each weight."""
    chunks = data.draw(st.lists(st.one_of(st.sampled_from(EDGE_RANDOMNESS), st.binary(min_size=16, max_size=16)),
                                min_size=len(equations) + 1, max_size=len(equations) + 1))
    randomness = b"".join(chunks)
    total = weighted_sum(equations, weights_from(randomness[:-16]))
    assert native.weighted_torsion(equations + [closing(total, chunks[-1])], randomness, L)
    off = closing(total, chunks[-1]) + [(BASEPOINT, 1)]
    assert not native.weighted_torsion(equations + [off], randomness, L)


def test_weighted_torsion_reads_each_weight_as_2t_plus_1():
    p = POINTS[2]
    for chunk in EDGE_RANDOMNESS:
        rho = 2 * int.from_bytes(chunk, "little") + 1
        assert native.weighted_torsion([[(p, 1)], [(sodium_mul(p, rho), -1)]], chunk + bytes(16), L)  # [rho]P - [1][rho]P
        assert not native.weighted_torsion([[(p, 1)], [(sodium_mul(p, rho + 2), -1)]], chunk + bytes(16), L)


def test_weighted_torsion_accepts_torsion_only_and_other_integer_types():
    import gmpy2

    p, q = POINTS[0], with_torsion(POINTS[0], 3)  # q = p + T3: p - q is of order 8, which an equation may leave
    rnd = bytes(range(16))
    assert native.weighted_torsion([[(p, 1), (q, -1)]], rnd, L)
    assert not native.weighted_torsion([[(p, 1), (q, -2)]], rnd, L)
    assert native.weighted_torsion([[(p, gmpy2.mpz(-3)), (sodium_mul(p, 3), gmpy2.mpz(1))]], rnd, L)


def test_weighted_torsion_merges_equal_encodings_and_skips_zero_exponents():
    p = POINTS[1]
    copy = bytes(bytearray(p))  # equal encoding, another object
    one, three = bytes(16), b"\x01" + bytes(15)  # weights 1 and 3
    assert copy is not p and native.weighted_torsion([[(p, 3)], [(copy, -1)]], one + three, L)
    assert native.weighted_torsion(([(p, 3)], [(copy, -1)]), one + three, L), "a tuple of equations as well"
    assert native.weighted_torsion((((p, 3),), ((copy, -1),)), one + three, L), "equations as tuples as well"
    # a base whose exponents cancel is never decoded (as in threshold.batch's merge): no error for an off-curve one
    assert native.weighted_torsion([[(OFF_CURVE, 3)], [(OFF_CURVE, -1)]], one + three, L)
    with pytest.raises(native.DecodeFailure, match="not a point"):
        native.weighted_torsion([[(OFF_CURVE, 3)]], one, L)


@pytest.mark.parametrize("equations, randomness, error, message", [
    ([[(BASEPOINT, 1)]], bytes(32), ValueError, "16 random bytes per equation"),
    ([[(BASEPOINT, 1)]], [1], TypeError, "bytes"),
    ([{(BASEPOINT, 1)}], bytes(16), TypeError, "an equation must be a list or tuple"),
    ([(BASEPOINT, 1)], bytes(16), TypeError, "a term must be a"),  # a tuple is an equation: its items are terms
    ([[BASEPOINT]], bytes(16), TypeError, "a term must be a"),
    ([[(BASEPOINT, 1, 2)]], bytes(16), TypeError, "a term must be a"),
    ([[(BASEPOINT, 1.5)]], bytes(16), TypeError, "integer"),
    ([[(BASEPOINT.hex(), 1)]], bytes(16), TypeError, "expected bytes"),
    ([[(BASEPOINT[:31], 1)]], bytes(16), native.DecodeFailure, "expected 32 bytes"),
])
def test_weighted_torsion_refuses_malformed_input(equations, randomness, error, message):
    with pytest.raises(error, match=message):
        native.weighted_torsion(equations, randomness, L)


# ----------------------------------------------------------------------------- decompressions batched by the reader

NON_CANONICAL = (2**255 - 19 + 1).to_bytes(32, "little")  # y = p + 1 >= p


@settings(max_examples=60, deadline=None)
@given(seeds=st.lists(st.tuples(st.booleans(), st.binary(min_size=32, max_size=32)), min_size=1, max_size=20))
def test_batched_decompressions_agree_with_one_by_one(seeds):
    """However many points miss the cache (the square roots of 2 to 8 of them share lanes: IFMA, or AVX2 where the
    CPU has no IFMA), each gets the code a lone decoding gives it, and a decoded point is the point it encodes."""
    encs = [rand_point() if valid else raw for valid, raw in seeds]
    native.cache_clear()
    batched = native.checks(encs)
    native.cache_clear()
    alone = []
    for e in encs:
        alone.append(native.check(e))
        native.cache_clear()
    assert batched == alone
    assert [rc == 0 for rc in batched] == [ref_decode(e) is not None for e in encs]
    native.checks(encs)  # now from the cache, as the batch decoded them
    assert all(native.multi_exp([e], [1]) == e for e, rc in zip(encs, batched) if rc == 0)


def test_the_lanes_this_cpu_offers_are_used():
    """IFMA's with the ifma arithmetic; on adx (no IFMA, or forced), AVX2's wherever the CPU has AVX2."""
    with open("/proc/cpuinfo") as f:
        avx2 = " avx2" in f.read()
    assert native.LANES == {"ifma": "ifma", "adx": "avx2" if avx2 else "none", "portable": "none"}[native.ARITH]


def test_checks_matches_check_one_by_one():
    """Among the misses decoded together (in lanes), the two encodings of x = 0 with the sign bit set (y = 1 and y = -1)
    are refused as a lone decoding refuses them."""
    bad_sign = [(1 | 1 << 255).to_bytes(32, "little"), (2**255 - 20 | 1 << 255).to_bytes(32, "little")]
    encs = POINTS + [OFF_CURVE, NON_CANONICAL, IDENTITY, TORSION[3]] + [sodium_mul(BASEPOINT, 5 + i) for i in range(11)]
    encs[3:3] = bad_sign
    native.cache_clear()
    assert native.checks(encs) == [native.check(e) for e in encs]
    assert native.checks([]) == []
    with pytest.raises(TypeError):
        native.checks([b"short"])


def test_a_batched_block_checks_its_points_at_its_end_and_names_the_first_bad_one(monkeypatch):
    calls = []
    real = native.checks
    monkeypatch.setattr(native, "checks", lambda encs: calls.append(len(encs)) or real(encs))
    reader = ed.reader()
    with reader.batched():
        with reader.batched():  # an inner block: the outermost one checks
            xs = [reader.element(p.hex(), f"x[{i}]") for i, p in enumerate(POINTS)]
        ident = reader.element(IDENTITY.hex(), "ident", allow_identity=True)
        c = reader.commitment(POINTS[0].hex(), "c")
        assert calls == []
    assert calls == [len(POINTS) + 1] and xs == POINTS and ident == IDENTITY and c == POINTS[0]
    assert [f for _, f in reader.pending] == [f"x[{i}]" for i in range(len(POINTS))]  # commitments owe no test
    reader.finish()

    reader = ed.reader()
    reader.element(POINTS[1].hex(), "before")
    with pytest.raises(DecodeError) as err:
        with reader.batched():
            reader.element(POINTS[0].hex(), "good")
            reader.element(OFF_CURVE.hex(), "bad1")
            reader.commitment(NON_CANONICAL.hex(), "bad2")
    assert err.value.field == "bad1" and "not a point" in err.value.message
    assert [f for _, f in reader.pending] == ["before"], "what the failed block read owes finish() nothing"
    reader.finish()


@pytest.mark.parametrize("text, field, message", [
    (IDENTITY.hex(), "k", "identity"), ("00" * 31, "k", "expected 64 hex"), (TORSION[4].hex(), "c", "small order")])
def test_a_batched_block_refuses_what_needs_no_arithmetic_at_once(text, field, message):
    reader = ed.reader()
    with pytest.raises(DecodeError, match=message):
        with reader.batched():
            reader.key(text, "k") if field == "k" else reader.commitment(text, "c")
            pytest.fail("refused at once, before the block's end")


def test_a_proof_and_a_ciphertext_read_in_one_block_share_one_batch(monkeypatch):
    from threshold import PublicKey, RangeProof
    from threshold.elgamal import Ciphertext

    pk = PublicKey(ed, ed.exp_g(12345))
    ct, r = pk.encrypt(1)
    proof = RangeProof.prove(pk, ct, 1, r, 1, b"ctx")
    calls = []
    real = native.checks
    monkeypatch.setattr(native, "checks", lambda encs: calls.append(len(encs)) or real(encs))
    reader = ed.reader()
    with reader.batched():
        ct2 = Ciphertext.from_json(ed, ct.to_json(ed), reader=reader)
        proof2 = RangeProof.from_json(ed, proof.to_json(ed), 1, reader=reader)
    reader.finish()
    assert calls == [6] and ct2 == ct and proof2 == proof and proof2.verify(pk, ct2, b"ctx")
    bad = {**proof.to_json(ed), "b": [proof.to_json(ed)["b"][0], OFF_CURVE.hex()]}
    with pytest.raises(DecodeError) as err:
        RangeProof.from_json(ed, bad, 1, "proof")
    assert err.value.field == "proof.b[1]"
