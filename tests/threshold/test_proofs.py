"""Proofs: soundness against moved statements, contexts, tampering (ATTACKS rows 1, 3, 4, 9)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from threshold.batch import BatchVerifier
from threshold.elgamal import Ciphertext, PublicKey
from threshold.errors import DecodeError
from threshold.proofs import ChaumPedersenProof, RangeProof, SchnorrProof, challenge

CTX = b"election-A|contest-1|credential-7"


@pytest.fixture(scope="module")
def pk(group):
    return PublicKey(group, group.exp_g(group.random_scalar()))


def test_schnorr(group):
    x = group.random_scalar()
    X = group.exp_g(x)
    proof = SchnorrProof.prove(group, x, CTX)
    assert proof.verify(group, X, CTX)
    assert not proof.verify(group, group.exp_g(x + 1), CTX), "moved to another statement"
    assert not proof.verify(group, X, b"election-B"), "moved to another context"
    assert not dataclasses.replace(proof, response=proof.response + 1).verify(group, X, CTX)
    assert SchnorrProof.from_json(group, proof.to_json(group)) == proof


def test_chaum_pedersen(group):
    x = group.random_scalar()
    h = group.hash_to_element("cp", b"h")
    stmt = (group.g, group.exp_g(x), h, group.exp(h, x))
    proof = ChaumPedersenProof.prove(group, x, *stmt, CTX)
    assert proof.verify(group, *stmt, CTX)
    wrong = (group.g, group.exp_g(x), h, group.exp(h, x + 1))
    assert not proof.verify(group, *wrong, CTX), "a fake decryption share must fail (row 3)"
    assert not proof.verify(group, *stmt, CTX + b"!")
    assert ChaumPedersenProof.from_json(group, proof.to_json(group)) == proof


@pytest.mark.parametrize("limit", [1, 3])
def test_range_proof_every_value(group, pk, limit):
    for m in range(limit + 1):
        ct, r = pk.encrypt(m)
        proof = RangeProof.prove(pk, ct, m, r, limit, CTX)
        assert proof.verify(pk, ct, CTX)
        assert RangeProof.from_json(group, proof.to_json(group), limit) == proof


def test_range_proof_refuses_out_of_range_plaintext(pk):
    ct, r = pk.encrypt(2)
    with pytest.raises(ValueError):
        RangeProof.prove(pk, ct, 2, r, 1, CTX)


def test_range_proof_cannot_prove_false_statement(group, pk):
    """An honest-looking proof for m=0 attached to an encryption of 2 does not verify."""
    ct2, _ = pk.encrypt(2)
    ct0, r0 = pk.encrypt(0)
    proof = RangeProof.prove(pk, ct0, 0, r0, 1, CTX)
    assert not proof.verify(pk, ct2, CTX)


def test_range_proof_bound_to_everything(group, pk):
    """ATTACKS rows 1, 2, 9: statement, key, ciphertext, context, credential all bound."""
    ct, r = pk.encrypt(1)
    proof = RangeProof.prove(pk, ct, 1, r, 1, CTX)
    other_pk = PublicKey(group, group.exp_g(group.random_scalar()))
    reenc, _ = pk.reencrypt(ct)
    assert not proof.verify(pk, reenc, CTX), "re-encrypted copy"
    assert not proof.verify(other_pk, ct, CTX), "other key"
    assert not proof.verify(pk, ct, b"election-A|contest-1|credential-8"), "other voter"
    assert not proof.verify(pk, ct, b"election-B|contest-1|credential-7"), "other election"
    changed = dataclasses.replace(proof, challenges=(proof.challenges[0] + 1,))
    assert not changed.verify(pk, ct, CTX), "changed challenge"
    swapped = dataclasses.replace(proof, a=proof.a[::-1])
    assert not swapped.verify(pk, ct, CTX)


def test_weak_fiat_shamir_forgery_is_rejected(group, pk):
    """ATTACKS row 1: a challenge computed without the statement would let a prover pick the
    ciphertext afterwards; ours hashes alpha and beta, so changing them changes c."""
    ct, r = pk.encrypt(1)
    proof = RangeProof.prove(pk, ct, 1, r, 1, CTX)
    c1 = challenge(group, RangeProof.TAG, CTX, [group.g, pk.element, ct.alpha, ct.beta], list(proof.a) + list(proof.b), [1])
    c2 = challenge(group, RangeProof.TAG, CTX, [group.g, pk.element, ct.alpha, group.mul(ct.beta, group.g)],
                   list(proof.a) + list(proof.b), [1])
    assert c1 != c2


def test_proof_json_rejects_non_members_and_identity(group, pk):
    ct, r = pk.encrypt(0)
    doc = RangeProof.prove(pk, ct, 0, r, 1, CTX).to_json(group)
    bad = dict(doc, a=[group.to_hex(group.identity), doc["a"][1]])
    with pytest.raises(DecodeError, match=r"p\.a\[0\]"):
        RangeProof.from_json(group, bad, 1, "p")
    junk = "00" * group.element_bytes
    with pytest.raises(DecodeError, match=r"p\.b\[1\]"):
        RangeProof.from_json(group, dict(doc, b=[doc["b"][0], junk]), 1, "p")
    with pytest.raises(DecodeError, match="list of 3"):
        RangeProof.from_json(group, doc, 2, "p")
    with pytest.raises(DecodeError, match="keys"):
        RangeProof.from_json(group, dict(doc, extra=1), 1, "p")


def test_batch_names_bad_proofs(group, pk):
    items = []
    for i in range(12):
        ct, r = pk.encrypt(i % 2)
        items.append((ct, RangeProof.prove(pk, ct, i % 2, r, 1, CTX)))
    batch = BatchVerifier(group, {pk.element: pk.table})
    for i, (ct, proof) in enumerate(items):
        batch.add(i, proof.equations(pk, ct, CTX if i not in (3, 8) else b"elsewhere"))
    assert batch.verify() == [3, 8]
    clean = BatchVerifier(group)
    for i, (ct, proof) in enumerate(items):
        clean.add(i, proof.equations(pk, ct, CTX))
    assert clean.verify() == []


def test_one_proof_checks_its_equations_under_independent_weights(group, monkeypatch):
    """A proof's several equations are checked as one product (one evaluation), each under its own
    fresh weight: two false equations whose errors cancel in the plain product (X and 1/X) are
    rejected, and so is either one alone."""
    import threshold.batch as batch_module

    X = group.exp_g(group.random_scalar())
    g = group.g
    true_eq = [(g, 1), (g, -1)]
    over, under = [(X, 1), (g, 0)], [(X, group.q - 1)]
    calls = []  # the group's verdicts: native weighted ones (ed25519), or on a product or a multi-exponentiation

    def counted(name):
        real = getattr(group, name)
        return lambda *a, **k: (lambda verdict: verdict if verdict is None else calls.append(name) or verdict)(real(*a, **k))

    for name in ("accepts_weighted", "accepts", "accepts_multi_exp"):
        monkeypatch.setattr(group, name, counted(name))
    assert batch_module.check_equations(group, [true_eq, true_eq, true_eq])
    assert len(calls) == 1, "one evaluation for the whole proof"
    assert not batch_module.check_equations(group, [over, under]), "errors that cancel unweighted"
    assert not batch_module.check_equations(group, [true_eq, over])
    assert not batch_module.check_equations(group, [under])


@pytest.mark.parametrize("bad", [set(), {0}, {36}, {5, 6, 7, 8}, {0, 17, 18, 36}, set(range(0, 37, 3))])
def test_batch_bisection_names_exactly_the_bad_items(group, pk, bad, monkeypatch):
    """A failed batch is split in halves re-batched with fresh weights: every bad item is named, no
    good one, and a single bad item among 37 costs a few small batches and at most 4 single checks."""
    import threshold.batch as batch_module

    ct, r = pk.encrypt(1)
    proof = RangeProof.prove(pk, ct, 1, r, 1, CTX)
    singles = []
    real = batch_module.check_equations
    monkeypatch.setattr(batch_module, "check_equations", lambda *a: singles.append(1) or real(*a))
    batch = BatchVerifier(group, {pk.element: pk.table})
    for i in range(37):
        batch.add(i, proof.equations(pk, ct, b"elsewhere" if i in bad else CTX))
    assert batch.verify() == sorted(bad)
    if len(bad) == 1:
        assert len(singles) <= 4


def test_batch_folds_owed_membership_tests(group, pk):
    """BatchVerifier.verify(reader): the owed subgroup tests join the batch (modp: one multi-exponentiation);
    a non-member is named by a DecodeError, whether or not the proofs hold."""
    ct, r = pk.encrypt(1)
    proof = RangeProof.prove(pk, ct, 1, r, 1, CTX)
    reader = group.reader()
    reader.key(group.to_hex(ct.alpha), "alpha")
    reader.key(group.to_hex(ct.beta), "beta")
    batch = BatchVerifier(group, {pk.element: pk.table})
    batch.add(0, proof.equations(pk, ct, CTX))
    assert batch.verify(reader) == []
    if group.name != "modp":
        return
    import gmpy2

    four = gmpy2.mpz(4)  # a quadratic residue of order q*s: passes the Jacobi test, not the subgroup test
    for label in ("good proofs", "bad proofs"):
        reader = group.reader()
        reader.key(group.to_hex(four), "x")
        reader.key(group.to_hex(ct.alpha), "alpha")
        batch = BatchVerifier(group, {pk.element: pk.table})
        batch.add(0, proof.equations(pk, ct, CTX if label == "good proofs" else b"elsewhere"))
        with pytest.raises(DecodeError, match="x"):
            batch.verify(reader)


def test_batch_catches_errors_that_cancel(group):
    """Two wrong equations whose errors cancel in a plain product still fail with random weights."""
    x = group.random_scalar()
    X = group.exp_g(x)
    h = group.exp_g(7)
    good = SchnorrProof.prove(group, x, CTX)
    eq = good.equations(group, X, CTX)[0]
    batch = BatchVerifier(group)
    batch.add("up", [[*eq, (h, 1)]])
    batch.add("down", [[*eq, (h, -1)]])
    assert sorted(batch.verify()) == ["down", "up"]


def test_non_member_commitment_cannot_pass_verification():
    """A commitment outside the subgroup (a quadratic residue of order s) is parsed cheaply but
    no single or batched check accepts it (the argument in ElementReader.commitment)."""
    import gmpy2

    from threshold.groups import get_group
    from threshold.groups.modp import P, Q

    g = get_group("modp")
    pk = PublicKey(g, g.exp_g(99))
    ct, r = pk.encrypt(1)
    proof = RangeProof.prove(pk, ct, 1, r, 1, CTX)
    u = gmpy2.powmod(5, 2 * Q, P)  # order divides s = (p-1)/2q, Jacobi symbol 1
    doc = proof.to_json(g)
    doc["a"][1] = g.to_hex(g.mul(proof.a[1], u))
    forged = RangeProof.from_json(g, doc, 1)  # parses: only cheap checks on commitments
    assert not forged.verify(pk, ct, CTX)
    batch = BatchVerifier(g, {pk.element: pk.table})
    for i in range(5):
        batch.add(i, proof.equations(pk, ct, CTX))
    batch.add("forged", forged.equations(pk, ct, CTX))
    assert batch.verify() == ["forged"]


def test_modp_commitment_sign_is_ignored_but_bound_by_the_challenge():
    """modp commitments skip the Jacobi test: a prover may publish -a (the equation then holds up to
    sign, which still proves the statement since -1 is outside the subgroup), but negating a
    commitment of a published proof changes its challenge and fails; -1 is refused like 1."""
    from threshold.groups import get_group

    g = get_group("modp")
    x, w = g.random_scalar(), g.random_scalar()
    X = g.exp_g(x)
    a = g.p - g.exp_g(w)  # -g^w: Jacobi symbol -1 (p = 3 mod 4)
    c = challenge(g, SchnorrProof.TAG, CTX, [g.g, X], [a])
    signed = SchnorrProof.from_json(g, {"commitment": g.to_hex(a), "response": g.scalar_to_hex((w + c * x) % g.q)})
    assert signed.verify(g, X, CTX)
    batch = BatchVerifier(g)
    batch.add("signed", signed.equations(g, X, CTX))
    assert batch.verify() == []

    honest = SchnorrProof.prove(g, x, CTX)
    doc = honest.to_json(g)
    doc["commitment"] = g.to_hex(g.p - honest.commitment)
    flipped = SchnorrProof.from_json(g, doc)
    assert not flipped.verify(g, X, CTX)
    batch = BatchVerifier(g)
    batch.add("honest", honest.equations(g, X, CTX))
    batch.add("flipped", flipped.equations(g, X, CTX))
    assert batch.verify() == ["flipped"]

    doc["commitment"] = g.to_hex(g.p - 1)
    with pytest.raises(DecodeError, match="identity"):
        SchnorrProof.from_json(g, doc)
    with pytest.raises(DecodeError, match="quadratic residue"):
        g.reader().key(g.to_hex(g.p - X), "key")  # statement elements keep the Jacobi test


def test_commitments_shifted_before_hashing_verify_in_every_path(group):
    """The known-answer pair of tests/vectors/js (also checked in the browser): a proof whose prover shifted two
    commitments by what `accepts` ignores (modp: the sign; ed25519: torsion of orders 2 and 8) before hashing
    them owes no membership test and verifies alone and in a batch; the same shift after hashing fails."""
    vec = json.loads((Path(__file__).parents[1] / "vectors" / "js" / "vectors.json").read_text())["proofs"][group.name]["shifted"]
    pk = PublicKey(group, group.from_hex(vec["public_key"]))
    ct, context = Ciphertext.from_json(group, vec["ciphertext"]), bytes.fromhex(vec["context"])
    reader = group.reader()
    valid = RangeProof.from_json(group, vec["valid"], 1, reader=reader)
    tampered = RangeProof.from_json(group, vec["tampered"], 1, reader=reader)
    assert reader.pending == []
    assert valid.verify(pk, ct, context) and not tampered.verify(pk, ct, context)
    batch = BatchVerifier(group, {pk.element: pk.table})
    for i in range(4):
        cti, ri = pk.encrypt(i % 2)
        batch.add(i, RangeProof.prove(pk, cti, i % 2, ri, 1, context).equations(pk, cti, context))
    batch.add("valid", valid.equations(pk, ct, context))
    assert batch.verify() == []
    batch.add("tampered", tampered.equations(pk, ct, context))
    assert batch.verify() == ["tampered"]


# ----------------------------------------------------------------------------- many range proofs in one call
def _read(group, objs, limit, bulk: bool):
    """The proofs, or the error (field, message), and what the reader then owes: through many_from_json or one
    from_json per proof, inside one block."""
    reader = group.reader()
    fields = [f"items[{i}].proof" for i in range(len(objs))]
    try:
        if bulk:
            out = RangeProof.many_from_json(group, objs, limit, fields, reader)
        else:
            with reader.batched():
                out = tuple(RangeProof.from_json(group, o, limit, f, reader) for o, f in zip(objs, fields))
        reader.finish()
        return out, reader.pending
    except DecodeError as exc:
        return (exc.field, str(exc)), reader.pending


def _mutations(group, obj: dict) -> list[tuple[str, object]]:
    """One malformation of each kind a proof can carry, as (label, the bad proof)."""
    good_hex = obj["a"][0]
    off_curve = "ff" * 31 + "7f" if group.name == "ed25519" else "00" * (len(good_hex) // 2)  # y >= p; 0
    small = "00" * 32 if group.name == "ed25519" else "00" * (len(good_hex) // 2 - 1) + "01"
    out: list[tuple[str, object]] = [
        ("not an object", ["a"]), ("a key missing", {k: v for k, v in obj.items() if k != "b"}),
        ("a key added", {**obj, "x": 1}), ("a list too short", {**obj, "a": obj["a"][:1]}),
        ("not a list", {**obj, "responses": "00"}), ("too many challenges", {**obj, "challenges": obj["challenges"] * 2})]
    for key in ("a", "b", "challenges", "responses"):
        out.append((f"upper-case hex in {key}", {**obj, key: [obj[key][0].upper()] + obj[key][1:]}))
        out.append((f"a number in {key}", {**obj, key: [7] + obj[key][1:]}))
    out.append(("a scalar not below q", {**obj, "responses": ["ff" * 32] + obj["responses"][1:]}))
    out.append(("a commitment off the curve or out of range", {**obj, "b": [off_curve] + obj["b"][1:]}))
    out.append(("the identity or a small-order commitment", {**obj, "a": obj["a"][:1] + [small]}))
    return out


def test_many_range_proofs_read_as_one_by_one(group, pk):
    """many_from_json gives the proofs from_json gives one by one, and for any malformed proof among well-formed ones,
    at any position, the same error (field and message) and the same reader state: its bulk path (ed25519) falls back
    to the one-by-one reading, which names the first bad field, and owes nothing for what the block read."""
    items = []
    for m in (0, 1, 1, 0, 1):
        ct, r = pk.encrypt(m)
        items.append(RangeProof.prove(pk, ct, m, r, 1, CTX).to_json(group))
    good = _read(group, items, 1, bulk=True)
    assert good == _read(group, items, 1, bulk=False) and len(good[0]) == 5
    assert _read(group, [], 1, bulk=True) == ((), [])
    for label, bad in _mutations(group, items[2]):
        for pos in (0, 2, 4):
            objs = items[:pos] + [bad] + items[pos + 1:]
            got, want = _read(group, objs, 1, bulk=True), _read(group, objs, 1, bulk=False)
            assert got == want, (label, pos)
            assert isinstance(got[0][0], str) and got[0][0].startswith(f"items[{pos}].proof"), (label, got)
    off_curve, bad_scalar = _mutations(group, items[1])[-2][1], _mutations(group, items[3])[-3][1]
    two_bad = items[:1] + [off_curve] + items[2:3] + [bad_scalar] + items[4:]
    assert _read(group, two_bad, 1, bulk=True) == _read(group, two_bad, 1, bulk=False)
    with pytest.raises(ValueError, match="one field name per proof"):
        RangeProof.many_from_json(group, items, 1, ["only one"], group.reader())


def test_many_range_proofs_of_a_wider_range(group, pk):
    """limit 3: 4 commitments of each kind, 3 challenges and 4 responses per proof, sliced back per proof."""
    objs = []
    for m in (3, 0, 2):
        ct, r = pk.encrypt(m)
        objs.append(RangeProof.prove(pk, ct, m, r, 3, CTX).to_json(group))
    got = _read(group, objs, 3, bulk=True)
    assert got == _read(group, objs, 3, bulk=False)
    assert [p.to_json(group) for p in got[0]] == objs
