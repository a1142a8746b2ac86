"""Session 12 adversarial review of fb4389a: ed25519 proof commitments parsed without the subgroup test and every
verification equation (alone or batched) accepted when its product is any point of E[8] (cofactored verification).

Each test is an attack that must fail (or a consistency claim that must hold) when the system is secure:

1. soundness: false statements (a 0/1 proof of an encryption of 2, a wrong partial decryption, discrepancies built
   to cancel between equations or batch items) never verify, whatever torsion the prover puts in its commitments;
2. commitments reach nothing but their own equations and challenge (tripwire on the parsers' call sites);
3. statement elements (ciphertexts, shares, keys, Feldman and Pedersen values, ephemerals, KEM secrets) keep the
   full membership test in every parser: the cofactored equations would otherwise ignore their torsion too;
4. every verifier agrees: single proof, batch with bisection, cast path, record verifier (1 and 2 workers, CLI)
   and the browser's proofs.js, on proofs shifted by torsion before hashing (valid) and after (invalid);
5. malleability: adding torsion to a published commitment breaks its proof, so no third party makes a second
   valid ballot out of a published one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from nacl.signing import SigningKey

from quorum.cli import main
from tests.voting.voting_helpers import CHOICE, OTHER, Scenario, finish, fix_ballots, load, open_election, rechain, save
from threshold import dkg, hybrid
from threshold.batch import BatchVerifier, evaluate
from threshold.decryption import (TAG as DECRYPTION_TAG, PartialDecryption, _ctx as decryption_item_ctx, combine,
                                  partial_equations, verify_partial)
from threshold.elgamal import Ciphertext, PublicKey
from threshold.errors import DecodeError, VerificationError
from threshold.groups import get_group
from threshold.groups.ed25519 import IDENTITY, L, SMALL_ORDER
from threshold.proofs import ChaumPedersenProof, RangeProof, SchnorrProof, challenge
from voting import credentials
from voting import verifier as verifier_mod
from voting.ballot import (_limits_ciphertext, ballot_hash, contest_context, parse_ballot, proofs_valid,
                           selection_context, signed_body, validate_choices)
from voting.context import ElectionContext, build_context
from voting.tally import decryption_context
from voting.verifier import verify_record

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "threshold"))
from ed25519_reference import order8_point, ref_add, ref_decode, ref_encode, ref_mul  # noqa: E402

ed = get_group("ed25519")
T8 = order8_point()
TORSION = [ref_encode(ref_mul(T8, k)) for k in range(8)]  # TORSION[k] has order 8 / gcd(k, 8)
CTX = b"session 12 cofactor review"


def shift(point: bytes, k: int) -> bytes:
    """point + TORSION[k] (pure-Python reference addition: independent of the native code under test)."""
    return ref_encode(ref_add(ref_decode(point), ref_decode(TORSION[k % 8])))


def member() -> bytes:
    return ed.exp_g(ed.random_scalar())


# ---------------------------------------------------------------- provers that put torsion in commitments

def range_proof(pk: PublicKey, ct: Ciphertext, m: int, r: int, limit: int, context: bytes,
                ta: tuple[int, ...] = (), tb: tuple[int, ...] = ()) -> RangeProof:
    """RangeProof.prove written out with group operations, a_j and b_j shifted by TORSION[ta[j]], TORSION[tb[j]]
    BEFORE the challenge is hashed (only a prover can do that). Branch m is the real one: if ct does not
    encrypt m under randomness r, the result is a forgery attempt."""
    g, q, K = pk.group, pk.group.q, pk.element
    ta, tb = tuple(ta) + (0,) * (limit + 1 - len(ta)), tuple(tb) + (0,) * (limit + 1 - len(tb))
    w = g.random_scalar()
    a, b, cs, vs = [], [], [], []
    for j in range(limit + 1):
        if j == m:
            a.append(g.exp_g(w))
            b.append(g.exp(K, w))
            cs.append(0)
            vs.append(0)
            continue
        cj, vj = g.random_scalar(), g.random_scalar()
        a.append(g.div(g.exp_g(vj), g.exp(ct.alpha, cj)))
        b.append(g.div(g.exp(K, vj), g.exp(g.div(ct.beta, g.exp_g(j)), cj)))
        cs.append(cj)
        vs.append(vj)
    a = [shift(x, k) for x, k in zip(a, ta)]
    b = [shift(x, k) for x, k in zip(b, tb)]
    c = challenge(g, RangeProof.TAG, context, [g.g, K, ct.alpha, ct.beta], a + b, [limit])
    cs[m] = (c - sum(cs)) % q
    vs[m] = (w + cs[m] * r) % q
    return RangeProof(tuple(a), tuple(b), tuple(cs[:limit]), tuple(vs))


def schnorr(x: int, context: bytes, t: int = 0, base: bytes | None = None, X: bytes | None = None,
            delta: int = 0) -> SchnorrProof:
    """A Schnorr proof with its commitment shifted by TORSION[t] before hashing; `delta` spoils the response."""
    base = ed.g if base is None else base
    X = ed.exp(base, x) if X is None else X
    w = ed.random_scalar()
    A = shift(ed.exp(base, w), t)
    c = challenge(ed, SchnorrProof.TAG, context, [base, X], [A])
    return SchnorrProof(A, (w + c * x + delta) % L)


def chaum_pedersen(x: int, g1: bytes, X1: bytes, g2: bytes, X2: bytes, context: bytes, tag: str = ChaumPedersenProof.TAG,
                   ta: int = 0, tb: int = 0) -> ChaumPedersenProof:
    w = ed.random_scalar()
    a, b = shift(ed.exp(g1, w), ta), shift(ed.exp(g2, w), tb)
    c = challenge(ed, tag, context, [g1, X1, g2, X2], [a, b])
    return ChaumPedersenProof(a, b, (w + c * x) % L)


def proof_shifted_after_hashing(proof: Any, slot: str, index: int, k: int) -> Any:
    """What a third party can do to a published proof: shift one commitment, through its JSON, by TORSION[k]."""
    obj = proof.to_json(ed)
    if isinstance(obj[slot], list):
        obj[slot][index] = shift(bytes.fromhex(obj[slot][index]), k).hex()
    else:
        obj[slot] = shift(bytes.fromhex(obj[slot]), k).hex()
    return obj


@pytest.fixture(scope="module")
def keypair() -> tuple[int, PublicKey]:
    x = ed.random_scalar()
    return x, PublicKey(ed, ed.exp_g(x))


# ================================================================ the arithmetic under `accepts`

_ARITH_SCRIPT = textwrap.dedent("""
    import secrets, sys
    sys.path.insert(0, sys.argv[1])
    from threshold.groups import _ed25519 as native
    from threshold.groups.ed25519 import BASEPOINT, L, SMALL_ORDER
    torsion = [bytes.fromhex(h) for h in sys.argv[2].split(",")]
    assert set(torsion) == SMALL_ORDER
    for trial in range(6):
        P = native.table_exp(native.table(BASEPOINT), 1 + secrets.randbelow(L - 1))
        for k, T in enumerate(torsion):
            PT = native.add(P, T)
            assert native.sub(PT, P) == T, ("sub", k)
            assert native.multi_exp([PT, P], [1, L - 1]) == T, ("straus", k)
            pts = [PT] + [P] * 121  # >= 96 points: Pippenger
            assert native.multi_exp(pts, [1] + [1] * 60 + [L - 1] * 61) == T, ("pippenger", k)
            assert native.multi_exp([T], [secrets.randbelow(L)]) in SMALL_ORDER
    print(native.ARITH)
""")


@pytest.mark.parametrize("arith", ["portable", "adx", "ifma"])
def test_products_that_are_torsion_encode_exactly_as_the_eight_known_points(arith: str) -> None:
    """`accepts` compares the product's bytes with the eight canonical encodings of E[8]: every field arithmetic
    must encode a torsion result canonically (y fully reduced, sign 0 for x = 0), through add, sub, Straus and
    Pippenger, else a valid proof would be refused by one build and accepted by another (and by the browser)."""
    proc = subprocess.run([sys.executable, "-c", _ARITH_SCRIPT, str(ROOT), ",".join(t.hex() for t in TORSION)],
                          env={**os.environ, "QUORUM_ED25519_ARITH": arith}, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0 and "ImportError" in proc.stderr:
        pytest.skip(f"{arith} arithmetic not available here")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == arith


def test_accepts_is_exactly_e8_and_a_product_over_members_is_accepted_only_at_the_identity() -> None:
    assert SMALL_ORDER == frozenset(TORSION)
    P = member()
    assert ed.accepts(IDENTITY) and not ed.accepts(P) and not ed.accepts(shift(P, 4))
    for k in range(8):
        assert ed.accepts(evaluate(ed, [(shift(P, k), 1), (P, -1)]))
        assert not ed.accepts(evaluate(ed, [(shift(P, k), 1), (P, -1), (ed.g, 1)]))


# ================================================================ 1. soundness

def test_prover_torsion_before_hashing_verifies_alone_and_in_batch_owing_nothing(keypair) -> None:
    """The relaxation itself: every order of torsion in every commitment, put there before hashing, still gives a
    valid proof (single and batched; the reader owes no test for it) - the statement is still proven."""
    x, pk = keypair
    ct, r = pk.encrypt(1)
    batch = BatchVerifier(ed)
    for k in range(8):
        rp = range_proof(pk, ct, 1, r, 1, CTX, ta=(k, 7 - k), tb=((k + 3) % 8, k))
        sp = schnorr(x, CTX, t=k)
        cp = chaum_pedersen(x, ed.g, pk.element, ct.alpha, ed.exp(ct.alpha, x), CTX, ta=k, tb=(k + 5) % 8)
        for proof, parse in ((rp, lambda o: RangeProof.from_json(ed, o, 1, reader=reader)),
                             (sp, lambda o: SchnorrProof.from_json(ed, o, reader=reader)),
                             (cp, lambda o: ChaumPedersenProof.from_json(ed, o, reader=reader))):
            reader = ed.reader()
            assert parse(proof.to_json(ed)) == proof
            assert reader.pending == []
        assert rp.verify(pk, ct, CTX) and sp.verify(ed, pk.element, CTX)
        assert cp.verify(ed, ed.g, pk.element, ct.alpha, ed.exp(ct.alpha, x), CTX)
        batch.add(("range", k), rp.equations(pk, ct, CTX))
        batch.add(("schnorr", k), sp.equations(ed, pk.element, CTX))
        batch.add(("cp", k), cp.equations(ed, ed.g, pk.element, ct.alpha, ed.exp(ct.alpha, x), CTX))
    assert batch.verify() == []


def test_a_0_1_proof_of_an_encryption_of_2_never_verifies_whatever_the_torsion(keypair) -> None:
    """Forgery: ct encrypts 2; the prover runs branch 0 or 1 for real with the true r and simulates the other,
    trying every torsion point on the commitments of the failing equations (before hashing). The failing
    equation is off by a non-zero subgroup element (c_m g^(2-m)), which no torsion can absorb."""
    _, pk = keypair
    ct, r = pk.encrypt(2)
    honest_ct, honest_r = pk.encrypt(1)
    forged = []
    for m in (0, 1):
        for k in range(8):
            proof = range_proof(pk, ct, m, r, 1, CTX, ta=(k, k), tb=(k, (k + 1) % 8) if m else ((k + 1) % 8, k))
            assert not proof.verify(pk, ct, CTX)
            forged.append(proof)
    # the same code proves the true statement (m = 2 within 0..2), torsion and all: the forgery is not a bug of the helper
    assert range_proof(pk, ct, 2, r, 2, CTX, ta=(1, 2, 3), tb=(4, 5, 6)).verify(pk, ct, CTX)
    batch = BatchVerifier(ed)
    bad = set()
    for i, proof in enumerate(forged):
        if i % 3 == 0:
            batch.add(("forged", i), proof.equations(pk, ct, CTX))
            bad.add(("forged", i))
        batch.add(("honest", i), range_proof(pk, honest_ct, 1, honest_r, 1, CTX, ta=(i % 8,), tb=(0, i % 8)).equations(pk, honest_ct, CTX))
    assert set(batch.verify()) == bad


def cancelling_forgery(x: int, pk: PublicKey) -> tuple[Ciphertext, RangeProof]:
    """A 0/1 "proof" for an encryption of 2 (made with the election secret x) whose branch-1 equations are off by
    -delta g and +delta g, with torsion in all four commitments: its equations sum to a torsion point."""
    ct, r = pk.encrypt(2)
    g, K, q = ed, pk.element, L
    c0, v0, w = (ed.random_scalar() for _ in range(3))
    a = [shift(g.div(g.exp_g(v0), g.exp(ct.alpha, c0)), 3), shift(g.exp_g(w), 1)]
    b = [shift(g.div(g.exp(K, v0), g.exp(ct.beta, c0)), 6), shift(g.exp(K, w), 2)]
    c1 = (challenge(ed, RangeProof.TAG, CTX, [g.g, K, ct.alpha, ct.beta], a + b, [1]) - c0) % q
    delta = c1 * pow(1 + x, -1, q) % q  # E_a = T1 - delta g, E_b = T2 + c1 g - delta K = T2 + delta g
    return ct, RangeProof(tuple(a), tuple(b), (c0,), (v0, (w + c1 * r + delta) % q))


def test_discrepancies_built_to_cancel_need_the_random_weights_and_fail(keypair) -> None:
    """Stronger than any prover (we use the election secret): a forged 0/1 proof of an encryption of 2 whose two
    branch-1 equations are off by exactly opposite subgroup elements, plus torsion. With equal weights its
    product is a torsion point (accepted); the fresh weights of check_equations, the batch and the browser's
    per-equation check must all refuse it. Likewise two Schnorr proofs whose errors cancel across batch items."""
    x, pk = keypair
    K = pk.element
    ct, forged = cancelling_forgery(x, pk)
    eqs = forged.equations(pk, ct, CTX)
    assert ed.accepts(evaluate(ed, [t for eq in eqs for t in eq]))  # equal weights would accept it
    assert all(not ed.accepts(evaluate(ed, eq)) for eq in eqs[2:])  # but both branch-1 equations are false
    assert not forged.verify(pk, ct, CTX)
    batch = BatchVerifier(ed)
    batch.add("forged", eqs)
    assert batch.verify() == ["forged"]

    # across items: errors -delta g and +delta g, with torsion in both commitments
    d = ed.random_scalar()
    p1, p2 = schnorr(x, CTX, t=4, delta=d), schnorr(x, CTX, t=4, delta=-d)
    e1, e2 = p1.equations(ed, K, CTX), p2.equations(ed, K, CTX)
    assert ed.accepts(evaluate(ed, e1[0] + e2[0])) and not p1.verify(ed, K, CTX) and not p2.verify(ed, K, CTX)
    batch = BatchVerifier(ed)
    for i in range(6):
        batch.add(("ok", i), schnorr(x, CTX, t=i).equations(ed, K, CTX))
    batch.add("p1", e1)
    batch.add("p2", e2)
    assert sorted(map(str, batch.verify())) == ["p1", "p2"]


def test_schnorr_without_the_key_and_a_key_carrying_torsion(keypair) -> None:
    """No proof for a key whose log the prover lacks: guessing the challenge fails for every torsion. A key
    X + T (the prover knows log X) does pass the cofactored equation - so every parser of keys must refuse it."""
    x, pk = keypair
    X = member()  # log unknown to this "prover"
    for k in range(8):
        s, guess = ed.random_scalar(), ed.random_scalar()
        A = shift(ed.div(ed.exp_g(s), ed.exp(X, guess)), k)
        assert not SchnorrProof(A, s).verify(ed, X, CTX)
    for k in (1, 2, 4):
        bad_key = shift(pk.element, k)
        proof = schnorr(x, CTX, t=0, X=bad_key)
        assert proof.verify(ed, bad_key, CTX)  # load-bearing: the equation ignores the key's torsion
        with pytest.raises(DecodeError):
            ed.from_hex(bad_key.hex(), "key")
        reader = ed.reader()
        reader.key(bad_key.hex(), "key")
        with pytest.raises(DecodeError, match="key"):
            reader.finish()
        with pytest.raises(DecodeError):
            BatchVerifier(ed).verify(_reader_with(bad_key))


def _reader_with(element: bytes):
    reader = ed.reader()
    reader.element(element.hex(), "statement")
    return reader


def test_a_wrong_partial_decryption_never_verifies_and_a_share_with_torsion_is_refused(keypair) -> None:
    """Chaum-Pedersen: a share off by g never verifies, whatever torsion in a and b; a share off by a torsion point
    (with a proof made for it) passes the cofactored equations, so PartialDecryption.from_json - how shares reach
    the board, the record verifier and PSI result files - and verify_partial must refuse it."""
    x, pk = keypair
    vk = pk.element
    cts = [pk.encrypt(i)[0] for i in range(3)]
    honest = [ed.exp(ct.alpha, x) for ct in cts]
    ctx = lambda pos: decryption_item_ctx(CTX, 1, pos)  # noqa: E731
    for k in range(8):
        wrong = [ed.mul(honest[0], ed.g)] + honest[1:]
        proofs = [chaum_pedersen(x, ed.g, vk, ct.alpha, m, ctx(pos), DECRYPTION_TAG, ta=k, tb=(k * 3) % 8)
                  for pos, (ct, m) in enumerate(zip(cts, wrong))]
        assert not verify_partial(ed, vk, cts, PartialDecryption(1, tuple(wrong), tuple(proofs)), CTX)
    good = PartialDecryption(1, tuple(honest), tuple(chaum_pedersen(x, ed.g, vk, ct.alpha, m, ctx(pos), DECRYPTION_TAG, tb=pos + 1)
                                                    for pos, (ct, m) in enumerate(zip(cts, honest))))
    assert verify_partial(ed, vk, cts, good, CTX)
    assert combine(ed, cts, [good], {1: vk}, 1, CTX, 5).plaintexts == (0, 1, 2)
    for k in (1, 2, 4):
        shares = (shift(honest[0], k),) + tuple(honest[1:])
        proofs = (chaum_pedersen(x, ed.g, vk, cts[0].alpha, shares[0], ctx(0), DECRYPTION_TAG),) + good.proofs[1:]
        torsioned = PartialDecryption(1, shares, proofs)
        batch = BatchVerifier(ed)
        batch.add(1, partial_equations(ed, vk, cts, torsioned, CTX))
        assert batch.verify() == []  # load-bearing: the cofactored equations hold, only membership tests stop it
        assert not verify_partial(ed, vk, cts, torsioned, CTX)  # (since session 13, in memory too)
        with pytest.raises(DecodeError, match=r"shares\[0\]"):
            PartialDecryption.from_json(ed, torsioned.to_json(ed), 3)


# ================================================================ 2. commitments reach only their equations

def test_commitment_parsers_are_called_only_by_the_proofs() -> None:
    """Tripwire: a proof commitment (torsion allowed) is parsed only by threshold/proofs.py (Python) and
    crypto/proofs.js (browser); anything else parsed that way would skip the membership test it needs. One
    exception, by design since session 27: crypto/elgamal.js provenCiphertextFromJSON, read only by
    booth/ballot.js ballotCiphertexts for the trustee's recount, which checks those ciphertexts' proofs next
    (tests/web/test_trustee_recount.py shows what the proofs and the strict tally leave)."""
    python = sorted(str(p.relative_to(ROOT)) for d in ("threshold", "voting", "web", "mpc_ml", "quorum")
                    for p in (ROOT / d).rglob("*.py") if ".commitment(" in p.read_text(encoding="utf-8")
                    or "parse_commitment(" in p.read_text(encoding="utf-8"))
    assert python == ["threshold/groups/base.py", "threshold/groups/ed25519.py", "threshold/groups/modp.py",
                      "threshold/proofs.py"], python
    for path in ("threshold/groups/base.py",):
        text = (ROOT / path).read_text(encoding="utf-8")
        assert text.count(".parse_commitment(") == 1 and ".commitment(" not in text.replace("def commitment(", "")
    js = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "web" / "static" / "js").rglob("*.js")
                if "commitmentFromHex(" in p.read_text(encoding="utf-8"))
    assert js == ["web/static/js/crypto/ed25519.js", "web/static/js/crypto/elgamal.js", "web/static/js/crypto/group.js",
                  "web/static/js/crypto/modp.js", "web/static/js/crypto/proofs.js"], js
    proven = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "web" / "static" / "js").rglob("*.js")
                    if "provenCiphertextFromJSON(" in p.read_text(encoding="utf-8"))
    assert proven == ["web/static/js/booth/ballot.js", "web/static/js/crypto/elgamal.js"], proven
    readers = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "web" / "static" / "js").rglob("*.js")
                     if "ballotCiphertexts(" in p.read_text(encoding="utf-8"))
    assert readers == ["web/static/js/booth/ballot.js", "web/static/js/trustee/tally.js"], readers


def test_small_order_commitments_refused_where_the_identity_is_and_owed_nothing_elsewhere() -> None:
    for k in range(8):
        with pytest.raises(DecodeError, match="commitment"):
            ed.reader().commitment(TORSION[k].hex(), "commitment")
        reader = ed.reader()
        assert reader.commitment(TORSION[k].hex(), "b", allow_identity=True) == TORSION[k] and reader.pending == []
    for bad in ("ed" + "ff" * 30 + "7f",  # y = p: non-canonical
                "0100000000000000000000000000000000000000000000000000000000000080",  # identity with the sign bit
                "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"):  # order 2 with the sign bit
        with pytest.raises(DecodeError):
            ed.reader().commitment(bad, "commitment", allow_identity=True)


def test_hybrid_and_dkg_proofs_with_prover_torsion_change_nothing_but_their_own_check() -> None:
    """A dealer's ephemeral proof and a complaint's Chaum-Pedersen proof with torsion in their commitments: accepted
    (the statement holds), and the KEM, the opening and the adjudication see only the statement elements."""
    params = dkg.CeremonyParams(ed, 3, 2, CTX)
    trustees = [dkg.Trustee(params, i) for i in (1, 2, 3)]
    ann = {t.index: t.announce() for t in trustees}
    ann[3] = dkg.Announcement(3, trustees[2].enc_key, schnorr(trustees[2].enc_secret, params.ctx("enc-key", 3), t=5))
    ann = {i: dkg.Announcement.from_json(params, a.to_json(ed)) for i, a in ann.items()}
    messages = {t.index: t.deal(ann) for t in trustees}
    # dealer 1 re-encrypts trustee 2's share under an ephemeral whose proof carries torsion; dealer 2 sends trustee 1 a bad share
    aad = dkg._share_aad(params, 1, 2)
    plain = hybrid.decrypt(ed, trustees[1].enc_secret, messages[1].shares[2], aad)
    r = ed.random_scalar()
    eph = ed.exp_g(r)
    key = hybrid._key(ed, eph, ed.exp(ann[2].enc_key, r), aad)
    nonce = os.urandom(12)
    ct2 = hybrid.HybridCiphertext(eph, schnorr(r, hybrid._ephemeral_ctx(ed, aad), t=2), nonce + AESGCM(key).encrypt(nonce, plain, aad))
    ct2 = hybrid.HybridCiphertext.from_json(ed, ct2.to_json(ed))
    assert ct2.ephemeral_valid(ed, aad) and hybrid.decrypt(ed, trustees[1].enc_secret, ct2, aad) == plain
    messages[1] = trustees[0].sign_deal({**messages[1].shares, 2: ct2})
    bad_pair = (1).to_bytes(32, "big") * 2
    messages[2] = trustees[1].sign_deal(
        {**messages[2].shares, 1: hybrid.encrypt(ed, ann[1].enc_key, bad_pair, dkg._share_aad(params, 2, 1))})
    messages = {i: dkg.DealerMessage.from_json(params, m.to_json(ed)) for i, m in messages.items()}
    complaints = [c for t in trustees for c in t.check_shares(messages)]
    assert [(c.accuser, c.dealer) for c in complaints] == [(1, 2)]
    c = complaints[0]
    E, R = ann[1].enc_key, messages[2].shares[1].ephemeral
    proof = chaum_pedersen(trustees[0].enc_secret, ed.g, E, R, c.kem_secret, dkg._complaint_ctx(params, 1, 2), ta=6, tb=1)
    complaint = dkg.Complaint.from_json(params, dkg.Complaint(1, 2, c.kem_secret, proof).to_json(ed))
    q = dkg.qualify(params, ann, messages, [complaint])
    assert q.qualified == (1, 3) and "upheld" in q.disqualified[2] and q.rejected_complaints == ()
    assert 1 in trustees[1].received  # trustee 2 took dealer 1's share sent under the torsion-proved ephemeral


# ================================================================ 3. statement elements keep the membership test

@pytest.fixture(scope="module")
def ceremony() -> tuple[dkg.CeremonyParams, dkg.Transcript, dkg.CeremonyResult, list, list]:
    params = dkg.CeremonyParams(ed, 3, 2, CTX)
    trustees, transcript, result = dkg.honest_ceremony(params)
    return params, transcript, result, [t.finish(transcript) for t in trustees], trustees


def _json_paths(params, transcript, result, keys) -> list[tuple[str, Any, list, Any]]:
    """(name, document, path to one element, parser) for every statement element a DKG message carries."""
    ann = transcript.announcements[1].to_json(ed)
    deal = transcript.messages[1].to_json(ed)
    reveal = transcript.reveals[1].to_json(ed)
    share = deal["shares"]["2"]
    cp = chaum_pedersen(1, ed.g, ed.g, member(), member(), CTX)
    complaint = {"accuser": 1, "dealer": 2, "kem_secret": ed.to_hex(member()), "proof": cp.to_json(ed)}
    res = result.to_json(ed)
    tk = keys[0].to_json()
    return [
        ("announcement.enc_key", ann, ["enc_key"], lambda o: dkg.Announcement.from_json(params, o)),
        ("dealer.commitments", deal, ["commitments", 1], lambda o: dkg.DealerMessage.from_json(params, o)),
        ("dealer.shares.ephemeral", deal, ["shares", "2", "ephemeral"], lambda o: dkg.DealerMessage.from_json(params, o)),
        ("hybrid.ephemeral", share, ["ephemeral"], lambda o: hybrid.HybridCiphertext.from_json(ed, o)),
        ("complaint.kem_secret", complaint, ["kem_secret"], lambda o: dkg.Complaint.from_json(params, o)),
        ("reveal.feldman", reveal, ["feldman", 0], lambda o: dkg.Reveal.from_json(params, o)),
        ("ceremony.public_key", res, ["public_key"], lambda o: dkg.CeremonyResult.from_json(params, o)),
        ("ceremony.verification_keys", res, ["verification_keys", "2"], lambda o: dkg.CeremonyResult.from_json(params, o)),
        ("trustee_key.public_key", tk, ["public_key"], lambda o: dkg.TrusteeKey.from_json(ed, o)),
        ("trustee_key.verification_keys", tk, ["verification_keys", "3"], lambda o: dkg.TrusteeKey.from_json(ed, o)),
    ]


@pytest.mark.parametrize("k", [1, 2, 4])
def test_every_dkg_statement_element_with_torsion_is_refused(ceremony, k: int) -> None:
    params, transcript, result, keys, _ = ceremony
    for name, doc, path, parse in _json_paths(params, transcript, result, keys):
        parse(json.loads(json.dumps(doc)))  # the untouched document parses
        bad = json.loads(json.dumps(doc))
        node = bad
        for p in path[:-1]:
            node = node[p]
        node[path[-1]] = shift(bytes.fromhex(node[path[-1]]), k).hex()
        with pytest.raises(DecodeError):
            parse(bad)
            pytest.fail(f"{name} with torsion {k} parsed")


def test_dkg_in_memory_statement_elements_with_torsion_are_refused_whatever_parsed_them(ceremony) -> None:
    """Defence in depth of the DKG (its keys pass their proofs up to torsion now): an announcement key or Feldman
    value built in memory with torsion, its proofs made for it, is still refused by qualify / Reveal.valid."""
    params, transcript, result, _, trustees = ceremony
    e = ed.random_scalar()
    bad_key = shift(ed.exp_g(e), 4)
    bad = dkg.Announcement(2, bad_key, schnorr(e, params.ctx("enc-key", 2), X=bad_key))
    assert bad.verify(params)  # load-bearing
    with pytest.raises(VerificationError):
        dkg.qualify(params, {**transcript.announcements, 2: bad}, transcript.messages, list(transcript.complaints))
    qualification = dkg.qualify(params, transcript.announcements, transcript.messages, list(transcript.complaints))
    reveal, dealer, bound = transcript.reveals[1], trustees[0], qualification.transcript_hash
    assert reveal.valid(params, transcript.messages[1], qualification)
    # Feldman value A_0 + T with both of its proofs made for it: knowledge of log(A_0 + T) and of log_h(C_0 / (A_0 + T))
    bad_a = shift(reveal.feldman[0], 2)
    h = dkg.pedersen_h(ed)
    proofs = ((schnorr(dealer.polynomial[0], params.ctx("dkg-feldman", 1, 0, bound), X=bad_a),
               schnorr(dealer.blinding[0], params.ctx("dkg-blinding", 1, 0, bound), base=h,
                       X=ed.div(transcript.messages[1].commitments[0], bad_a))),) + reveal.proofs[1:]
    assert all(pf.verify(ed, A, params.ctx("dkg-feldman", 1, m, bound)) for m, (A, (pf, _)) in
               enumerate(zip((bad_a,) + reveal.feldman[1:], proofs)))  # load-bearing
    assert not dkg.Reveal(1, (bad_a,) + reveal.feldman[1:], proofs).valid(params, transcript.messages[1], qualification)


@pytest.mark.parametrize("k", [1, 2, 4])
def test_ciphertexts_with_torsion_are_refused_by_every_parser(keypair, k: int) -> None:
    from mpc_ml.psi.psisum import SumRecord

    from threshold.proofs import RangeProof

    _, pk = keypair
    ct, r = pk.encrypt(1)
    proof = RangeProof.prove(pk, ct, 1, r, 1, b"session12 torsion").to_json(ed)  # the shape of a bit's proof
    for part in ("alpha", "beta"):
        doc = ct.to_json(ed)
        doc[part] = shift(bytes.fromhex(doc[part]), k).hex()
        with pytest.raises(DecodeError, match=part):
            Ciphertext.from_json(ed, doc)
        reader = ed.reader()
        Ciphertext.from_json(ed, doc, reader=reader)
        with pytest.raises(DecodeError, match=part):
            reader.finish()
        record = {"group": "ed25519", "public_key": pk.element.hex(), "request_id": "00" * 16, "client_key": "11" * 32,
                  "signature": "22" * 64, "bits": [[ct.to_json(ed)], [doc]], "bit_proofs": [[proof], [proof]],
                  "matched": [0], "total": ct.to_json(ed),
                  "points": [], "doubled": [], "blinded": [], "server_key": ed.to_hex(ed.g),
                  "proof": {"a": ed.to_hex(ed.g), "b": ed.to_hex(ed.g), "response": "00" * 32}}
        SumRecord.from_json({**record, "bits": [[ct.to_json(ed)]] * 2})
        with pytest.raises(DecodeError, match=part):
            SumRecord.from_json(record)
        with pytest.raises(DecodeError, match=part):
            SumRecord.from_json({**record, "bits": [[ct.to_json(ed)]], "bit_proofs": [[proof]], "total": doc})


# ---------------------------------------------------------------- ballots

def torsion_ballot(ctx: ElectionContext, private_credential: str, choices: dict, revote: int = 0,
                   alpha_torsion: int = 0, seed: int = 1) -> tuple[dict[str, Any], list[tuple[str, dict]]]:
    """encrypt_ballot with every 0/1 and limit proof's commitments shifted by torsion BEFORE hashing (orders 2, 4
    and 8 spread over the positions), signed by the voter. `alpha_torsion`: the first ciphertext's alpha also
    carries TORSION[alpha_torsion] and the proofs are made for that ciphertext (they hold up to torsion).
    Also returns the browser cases (one per proof) for the JS verifier."""
    key = credentials.signing_key(ctx.setup.election_id, private_credential)
    cred = bytes(key.verify_key).hex()
    pk, g = ctx.public_key, ctx.group
    vectors = validate_choices(ctx, choices)
    contests, cases, n = [], [], seed
    for ci, contest in enumerate(ctx.manifest.contests):
        cts, rs, proofs = [], [], []
        for oi, (option, m) in enumerate(zip(contest.options, vectors[contest.id])):
            ct, r = pk.encrypt(m)
            if ci == oi == 0 and alpha_torsion:
                ct = Ciphertext(shift(ct.alpha, alpha_torsion), ct.beta)
            context = selection_context(ctx, cred, contest.id, option)
            proof = range_proof(pk, ct, m, r, 1, context, ta=(n % 8, (n + 3) % 8), tb=((n + 5) % 8, (n + 1) % 8))
            n += 1
            cts.append(ct)
            rs.append(r)
            proofs.append(proof)
            cases.append((f"{contest.id}.{option}", _range_case(pk, ct, context, 1, proof)))
        shifted = _limits_ciphertext(ctx, contest, cts)
        limit = contest.max_selections - contest.min_selections
        context = contest_context(ctx, cred, contest.id)
        lp = range_proof(pk, shifted, sum(vectors[contest.id]) - contest.min_selections, sum(rs) % g.q, limit, context,
                         ta=tuple((n + i) % 8 for i in range(limit + 1)), tb=tuple((n + 2 * i + 1) % 8 for i in range(limit + 1)))
        n += 1
        cases.append((f"{contest.id}.limit", _range_case(pk, shifted, context, limit, lp)))
        contests.append({"id": contest.id, "selections": [c.to_json(g) for c in cts],
                         "proofs": [p.to_json(g) for p in proofs], "limit_proof": lp.to_json(g)})
    body = {"credential": cred, "contests": contests, "revote": revote}
    return {**body, "signature": credentials.sign(key, ballot_hash(ctx, body))}, cases


def _range_case(pk: PublicKey, ct: Ciphertext, context: bytes, limit: int, proof: RangeProof | dict) -> dict:
    return {"kind": "range", "pk": pk.element.hex(), "ct": {"alpha": ct.alpha.hex(), "beta": ct.beta.hex()},
            "context": context.hex(), "limit": limit, "proof": proof if isinstance(proof, dict) else proof.to_json(ed)}


@pytest.fixture()
def election(tmp_path: Path) -> Scenario:
    """A fresh open ed25519 election (3 trustees, quorum 2, 4 voters)."""
    return open_election(f"sqlite:///{tmp_path / 'board.db'}", "ed25519")


def test_ballot_with_torsion_in_a_ciphertext_is_refused_at_cast_parse_and_in_the_record(
        election: Scenario, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its proofs (made for the torsioned ciphertext) hold up to torsion, so only the membership test stops it; it
    must fail in parse_ballot, in the cast path (DecodeError, nothing stored), in the browser's parser (see the
    browser test) and, put on the board by a malicious board, in the record verifier (ballot_format, 1 and 2
    workers) - not counted."""
    s = election
    for seat in range(3):
        s.election.cast(s.ballot(seat))
    for k in (1, 2, 4):
        ballot, cases = torsion_ballot(s.ctx, s.credentials[3], CHOICE, alpha_torsion=k)
        reader = ed.reader()
        parsed = parse_ballot(s.ctx, ballot, reader)
        assert proofs_valid(s.ctx, parsed)  # load-bearing: without the owed membership test the proofs pass
        with pytest.raises(DecodeError, match=r"selections\[0\]\.alpha"):
            proofs_valid(s.ctx, parsed, reader)
        with pytest.raises(DecodeError, match=r"selections\[0\]\.alpha"):
            parse_ballot(s.ctx, ballot)
        with pytest.raises(DecodeError, match=r"selections\[0\]\.alpha"):
            s.election.cast(ballot)
    assert s.election.next_revote(credentials.public_credential(s.election.election_id, s.credentials[3])) == 0
    seq = s.election.cast(s.ballot(3, OTHER)).seq
    finish(s)
    record = s.board.export(s.election.election_id, tmp_path / "record")
    monkeypatch.setattr(verifier_mod, "CHUNK", 2)
    assert verify_record(record, workers=2).valid
    entries = load(record)
    entry = next(e for e in entries if e["seq"] == seq)
    entry["payload"]["ballot"] = torsion_ballot(s.ctx, s.credentials[3], OTHER, alpha_torsion=4)[0]
    fix_ballots(entries, s.ctx)
    rechain(entries, s.key)
    forged = save(entries, s.board.public_key, tmp_path / "forged")
    for workers in (1, 2):
        failures = verify_record(forged, workers=workers).failures
        assert any(f.check == "ballot_format" and f.seq == seq and "selections[0].alpha" in f.detail for f in failures), failures
        assert "ballot_proofs" not in {f.check for f in failures}


def test_a_third_party_cannot_make_a_second_valid_ballot_by_adding_torsion(election: Scenario) -> None:
    """Malleability at the cast path: v2's published ballot with torsion added to a commitment (signature kept, or
    even re-signed by the voter) is refused; the original is stored once and a replay returns its receipt."""
    s = election
    original = s.ballot(2)
    receipt = s.election.cast(original)
    mutated = json.loads(json.dumps(original))
    proof = mutated["contests"][1]["proofs"][2]
    proof["b"][1] = shift(bytes.fromhex(proof["b"][1]), 4).hex()
    with pytest.raises(VerificationError, match="signed"):
        s.election.cast(mutated)
    key = credentials.signing_key(s.election.election_id, s.credentials[2])
    mutated["signature"] = credentials.sign(key, ballot_hash(s.ctx, signed_body(mutated)))
    with pytest.raises(VerificationError, match="proof"):
        s.election.cast(mutated)
    again = s.election.cast(original)
    assert again.seq == receipt.seq and not again.stored


def test_prover_torsion_ballot_and_partials_are_accepted_by_cast_batch_record_verifier_and_cli(
        election: Scenario, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Consistency: a ballot whose prover put torsion in every commitment before hashing is accepted by the cast
    path, by each proof alone, by one batch, by the record verifier with 1 and 2 workers and by `quorum verify`;
    a trustee's partial decryption with torsion in its proofs' commitments likewise. Then the same record with one
    commitment shifted after hashing (by the board, re-chained and re-signed) fails ballot_proofs everywhere."""
    s = election
    ballot, cases = torsion_ballot(s.ctx, s.credentials[0], CHOICE, seed=3)
    parsed = parse_ballot(s.ctx, ballot)
    for cb, contest in zip(parsed.contests, s.ctx.manifest.contests):
        for option, ct, proof in zip(contest.options, cb.selections, cb.proofs):
            assert proof.verify(s.ctx.public_key, ct, selection_context(s.ctx, parsed.credential, contest.id, option))
    assert proofs_valid(s.ctx, parsed)
    seq = s.election.cast(ballot).seq
    s.election.cast(s.ballot(1, OTHER))
    # a trustee decrypts with torsion in its proofs' commitments; the others honestly
    s.election.close()
    s.election.tally()
    from voting.tally import parse_tally, trustee_decrypt
    tally_entry = next(e for e in s.election.entries() if e.type == "tally")
    tally = parse_tally(s.ctx, tally_entry.payload)
    key = s.trustee_keys[0]
    shares = tuple(ed.exp(ct.alpha, key.secret) for ct in tally)
    dctx = decryption_context(s.ctx)
    proofs = tuple(chaum_pedersen(key.secret, ed.g, key.verification_keys[key.index], ct.alpha, m,
                                  decryption_item_ctx(dctx, key.index, pos), DECRYPTION_TAG, ta=pos % 8, tb=(pos + 1) % 8)
                   for pos, (ct, m) in enumerate(zip(tally, shares)))
    s.election.add_decryption(PartialDecryption(key.index, shares, proofs).to_json(ed))
    s.election.add_decryption(trustee_decrypt(s.ctx, s.trustee_keys[1], s.election.cast_ballots(), tally_entry.payload))
    result = s.election.publish_result().payload
    record = s.board.export(s.election.election_id, tmp_path / "record")

    monkeypatch.setattr(verifier_mod, "CHUNK", 2)  # several chunks, so that --workers 2 really splits the ballots
    for workers in (1, 2):
        report = verify_record(record, workers=workers)
        assert report.valid, report.failures
        assert report.result == result
    assert main(["verify", str(record), "--quiet", "--json", "--workers", "2"]) == 0
    assert json.loads(capsys.readouterr().out)["valid"] is True

    # the board shifts one commitment of that ballot after hashing, and recomputes hashes, trackers and signatures
    entries = load(record)
    entry = next(e for e in entries if e["seq"] == seq)
    lp = entry["payload"]["ballot"]["contests"][1]["limit_proof"]
    lp["a"][2] = shift(bytes.fromhex(lp["a"][2]), 2).hex()
    fix_ballots(entries, s.ctx)
    rechain(entries, s.key)
    tampered = save(entries, s.board.public_key, tmp_path / "tampered")
    for workers in (1, 2):
        failures = verify_record(tampered, workers=workers).failures
        assert ("ballot_proofs", seq) in {(f.check, f.seq) for f in failures}
        assert "ballot_format" not in {f.check for f in failures}
    assert main(["verify", str(tampered), "--quiet", "--json", "--workers", "2"]) == 1
    checks = {c["name"]: c for c in json.loads(capsys.readouterr().out)["checks"]}
    assert not checks["ballot_proofs"]["ok"] and f"seq {seq}" in checks["ballot_proofs"]["detail"]
    shifted = parse_ballot(s.ctx, entry["payload"]["ballot"]).contests[1]
    contest = s.ctx.manifest.contests[1]
    assert not shifted.limit_proof.verify(s.ctx.public_key, _limits_ciphertext(s.ctx, contest, shifted.selections),
                                          contest_context(s.ctx, entry["payload"]["ballot"]["credential"], contest.id))


def test_demo_record_with_a_commitment_shifted_after_hashing_fails_quorum_verify(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`quorum demo --group ed25519`, then the board (its key from --board-key) adds torsion of each order to one
    0/1 proof commitment, re-hashes and re-signs: `quorum verify` (1 and 2 workers) fails ballot_proofs there."""
    out, key_file = tmp_path / "demo", tmp_path / "board.key"
    assert main(["demo", "--out", str(out), "--group", "ed25519", "--voters", "5", "--board-key", str(key_file)]) == 0
    capsys.readouterr()
    assert main(["verify", str(out), "--quiet", "--workers", "1"]) == 0
    capsys.readouterr()
    board = SigningKey(bytes.fromhex(key_file.read_text().strip()))
    entries = load(out)
    payloads = {e["type"]: e["payload"] for e in entries if e["type"] in ("setup", "key_ceremony", "credentials")}
    ctx = build_context(payloads["setup"], payloads["key_ceremony"], payloads["credentials"])
    casts = [e for e in entries if e["type"] == "cast"]
    for k, (slot, index) in zip((1, 2, 4), (("a", 0), ("b", 1), ("a", 1))):
        tampered = json.loads(json.dumps(entries))
        target = next(e for e in tampered if e["seq"] == casts[k % len(casts)]["seq"])
        proof = target["payload"]["ballot"]["contests"][0]["proofs"][0]
        proof[slot][index] = shift(bytes.fromhex(proof[slot][index]), k).hex()
        fix_ballots(tampered, ctx)
        rechain(tampered, board)
        record = save(tampered, (out / "board.pub").read_text().strip(), tmp_path / f"tampered{k}")
        for workers in ("1", "2"):
            assert main(["verify", str(record), "--quiet", "--json", "--workers", workers]) == 1
            checks = {c["name"]: c for c in json.loads(capsys.readouterr().out)["checks"]}
            assert not checks["ballot_proofs"]["ok"] and f"seq {target['seq']}" in checks["ballot_proofs"]["detail"]
            assert checks["ballot_format"]["ok"] and checks["chain"]["ok"] and checks["signatures"]["ok"]


# ================================================================ 5. malleability and the bisection

def test_torsion_added_after_hashing_breaks_every_proof_and_the_bisection_names_exactly_those(keypair) -> None:
    """Every commitment slot of every proof type, every non-trivial torsion point, added to a published proof
    (prover torsion or not): it still parses (no format error) but fails alone, and a batch of 7 valid and the
    mutated ones (bisection over > 4 items) names exactly the mutated ones. Responses >= q do not parse."""
    x, pk = keypair
    ct, r = pk.encrypt(0)
    X2 = ed.exp(ct.alpha, x)
    makers = {
        "range": (lambda t: range_proof(pk, ct, 0, r, 1, CTX, ta=(t, 0), tb=(0, t)),
                  lambda o: RangeProof.from_json(ed, o, 1), lambda p: p.equations(pk, ct, CTX), [("a", 0), ("a", 1), ("b", 0), ("b", 1)]),
        "schnorr": (lambda t: schnorr(x, CTX, t=t), lambda o: SchnorrProof.from_json(ed, o),
                    lambda p: p.equations(ed, pk.element, CTX), [("commitment", 0)]),
        "cp": (lambda t: chaum_pedersen(x, ed.g, pk.element, ct.alpha, X2, CTX, ta=t, tb=t),
               lambda o: ChaumPedersenProof.from_json(ed, o), lambda p: p.equations(ed, ed.g, pk.element, ct.alpha, X2, CTX),
               [("a", 0), ("b", 0)]),
    }
    for name, (make, parse, equations, slots) in makers.items():
        batch, bad = BatchVerifier(ed), []
        for i in range(7):
            batch.add(("valid", i), equations(make(i)))
        for slot, index in slots:
            for k in range(1, 8):
                proof = make(k % 3)  # with or without prover torsion
                mutated = parse(proof_shifted_after_hashing(proof, slot, index, k))
                assert mutated != proof and not _single(name, mutated, pk, ct, x, X2)
                batch.add((slot, index, k), equations(mutated))
                bad.append((slot, index, k))
        assert sorted(batch.verify()) == sorted(bad), name
        obj = make(0).to_json(ed)
        if "responses" in obj:
            obj["responses"][0] = (int(obj["responses"][0], 16) + L).to_bytes(32, "big").hex()
        else:
            obj["response"] = (int(obj["response"], 16) + L).to_bytes(32, "big").hex()
        with pytest.raises(DecodeError, match="response"):
            parse(obj)


def _single(name: str, proof: Any, pk: PublicKey, ct: Ciphertext, x: int, X2: bytes) -> bool:
    if name == "range":
        return proof.verify(pk, ct, CTX)
    if name == "schnorr":
        return proof.verify(ed, pk.element, CTX)
    return proof.verify(ed, ed.g, pk.element, ct.alpha, X2, CTX)


def _js_case(name: str, proof: Any, pk: PublicKey, ct: Ciphertext, X2: bytes) -> dict:
    if name == "range":
        return _range_case(pk, ct, CTX, 1, proof)
    if name == "schnorr":
        return {"kind": "schnorr", "X": pk.element.hex(), "base": ed.g.hex(), "context": CTX.hex(), "proof": proof.to_json(ed)}
    return {"kind": "cp", "g1": ed.g.hex(), "X1": pk.element.hex(), "g2": ct.alpha.hex(), "X2": X2.hex(),
            "context": CTX.hex(), "tag": ChaumPedersenProof.TAG, "proof": proof.to_json(ed)}


# ================================================================ 4. the browser agrees (runs last: collects the cases above)

_JS_RUNNER = textwrap.dedent("""
    import { readFileSync } from "node:fs";
    import { getGroup } from "./crypto/groups.js";
    import { fromHex } from "./crypto/bytes.js";
    import { PublicKey, ciphertextFromJSON } from "./crypto/elgamal.js";
    import { ChaumPedersenProof, RangeProof, SchnorrProof } from "./crypto/proofs.js";
    import { DecodeError } from "./crypto/errors.js";
    const g = getGroup("ed25519");
    const cases = JSON.parse(readFileSync(process.argv[2], "utf8"));
    const out = [];
    for (const c of cases) {
      try {
        const ctx = fromHex(c.context, null, "context");
        if (c.kind === "range") {
          out.push(await RangeProof.fromJSON(g, c.proof, c.limit).verify(PublicKey.fromHex(g, c.pk), ciphertextFromJSON(g, c.ct), ctx));
        } else if (c.kind === "schnorr") {
          out.push(await SchnorrProof.fromJSON(g, c.proof).verify(g, g.fromHex(c.X, "X"), ctx, { base: g.fromHex(c.base, "base") }));
        } else {
          out.push(await ChaumPedersenProof.fromJSON(g, c.proof).verify(g, g.fromHex(c.g1, "g1"), g.fromHex(c.X1, "X1"),
            g.fromHex(c.g2, "g2", true), g.fromHex(c.X2, "X2", true), ctx, { tag: c.tag }));
        }
      } catch (e) {
        out.push(e instanceof DecodeError ? "DecodeError" : `${e.constructor.name}: ${e.message}`);
      }
    }
    console.log(JSON.stringify(out));
""")


def _small_order_cases(keypair) -> list[tuple[str, dict, Any]]:
    """Small-order commitments: refused where the identity is (both sides), accepted as b of a Chaum-Pedersen
    proof of an empty sum (g2 = X2 = identity), as Python does."""
    x, pk = keypair
    out = []
    for k in (1, 2, 4):
        p = schnorr(x, CTX).to_json(ed)
        out.append((f"schnorr small-order commitment {k}", {"kind": "schnorr", "X": pk.element.hex(), "base": ed.g.hex(),
                                                            "context": CTX.hex(), "proof": {**p, "commitment": TORSION[k].hex()}}, "DecodeError"))
        cp = chaum_pedersen(x, ed.g, pk.element, IDENTITY, IDENTITY, CTX, DECRYPTION_TAG, tb=k)
        assert cp.b == TORSION[k] and cp.verify(ed, ed.g, pk.element, IDENTITY, IDENTITY, CTX, DECRYPTION_TAG)
        out.append((f"empty-sum decryption proof with b of order {8 // (k & -k)}",
                    {"kind": "cp", "g1": ed.g.hex(), "X1": pk.element.hex(), "g2": IDENTITY.hex(), "X2": IDENTITY.hex(),
                     "context": CTX.hex(), "tag": DECRYPTION_TAG, "proof": cp.to_json(ed)}, True))
    cp = chaum_pedersen(x, ed.g, pk.element, IDENTITY, IDENTITY, CTX, DECRYPTION_TAG).to_json(ed)
    for bad in ("0100000000000000000000000000000000000000000000000000000000000080",  # the identity with the sign bit
                "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",  # (0, -1) with the sign bit
                "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"):  # y = p
        out.append((f"non-canonical b {bad[:4]}..{bad[-4:]}", {"kind": "cp", "g1": ed.g.hex(), "X1": pk.element.hex(),
                                                              "g2": IDENTITY.hex(), "X2": IDENTITY.hex(), "context": CTX.hex(),
                                                              "tag": DECRYPTION_TAG, "proof": {**cp, "b": bad}}, "DecodeError"))
    return out


def _python_outcome(case: dict) -> Any:
    try:
        if case["kind"] == "range":
            reader = ed.reader()
            pk = PublicKey(ed, ed.from_hex(case["pk"]))
            ct = Ciphertext.from_json(ed, case["ct"])
            proof = RangeProof.from_json(ed, case["proof"], case["limit"], reader=reader)
            reader.finish()
            return proof.verify(pk, ct, bytes.fromhex(case["context"]))
        if case["kind"] == "schnorr":
            proof = SchnorrProof.from_json(ed, case["proof"])
            return proof.verify(ed, ed.from_hex(case["X"]), bytes.fromhex(case["context"]), ed.from_hex(case["base"]))
        proof = ChaumPedersenProof.from_json(ed, case["proof"])
        return proof.verify(ed, ed.from_hex(case["g1"]), ed.from_hex(case["X1"]), ed.from_hex(case["g2"], allow_identity=True),
                            ed.from_hex(case["X2"], allow_identity=True), bytes.fromhex(case["context"]), case["tag"])
    except DecodeError:
        return "DecodeError"


def _browser_cases(keypair, s: Scenario) -> list[tuple[str, dict, Any]]:
    """Every kind of case the tests above check in Python, for the browser: prover torsion (valid), torsion after
    hashing and forgeries (invalid), torsion in a ciphertext and small-order commitments (refused at parsing)."""
    x, pk = keypair
    cases: list[tuple[str, dict, Any]] = []
    ballot, per_proof = torsion_ballot(s.ctx, s.credentials[0], CHOICE, seed=5)
    cases += [(f"ballot prover torsion {name}", case, True) for name, case in per_proof]
    lp = json.loads(json.dumps(next(c for n, c in per_proof if n == "council.limit")))
    lp["proof"]["a"][2] = shift(bytes.fromhex(lp["proof"]["a"][2]), 2).hex()
    cases.append(("council limit proof shifted after hashing", lp, False))
    for k in (1, 2, 4):
        _, bad = torsion_ballot(s.ctx, s.credentials[1], OTHER, alpha_torsion=k)
        cases += [(f"torsion {k} in a ciphertext: {name}", case, "DecodeError") for name, case in bad[:1] + bad[3:4]]
    ct, r = pk.encrypt(0)
    X2 = ed.exp(ct.alpha, x)
    makers = {"range": (lambda t: range_proof(pk, ct, 0, r, 1, CTX, ta=(t, 0), tb=(0, t)), ["a", "b"]),
              "schnorr": (lambda t: schnorr(x, CTX, t=t), ["commitment"]),
              "cp": (lambda t: chaum_pedersen(x, ed.g, pk.element, ct.alpha, X2, CTX, ta=t, tb=t), ["a", "b"])}
    for name, (make, slots) in makers.items():
        for k in range(8):
            proof = make(k)
            cases.append((f"{name} prover torsion {k}", _js_case(name, proof, pk, ct, X2), True))
            if k:
                for slot in slots:
                    case = _js_case(name, proof, pk, ct, X2)
                    case["proof"] = proof_shifted_after_hashing(proof, slot, k % 2, k)
                    cases.append((f"{name} {slot} shifted by {k} after hashing", case, False))
    two, r2 = pk.encrypt(2)
    for m in (0, 1):
        cases.append((f"0/1 proof of 2 via branch {m}", _range_case(pk, two, CTX, 1, range_proof(pk, two, m, r2, 1, CTX, ta=(m, 4), tb=(4, m))), False))
    cct, forged = cancelling_forgery(x, pk)
    cases.append(("cancelling forgery", _range_case(pk, cct, CTX, 1, forged), False))
    return cases + _small_order_cases(keypair)


def test_browser_verifier_agrees_with_python_on_every_case(keypair, election: Scenario, tmp_path: Path) -> None:
    """proofs.js (commitmentFromHex, holds) against Python's parsers and single-proof checks on every kind of case:
    prover torsion (accepted), torsion after hashing and forgeries (refused), torsion in a ciphertext and
    small-order commitments (refused at parsing), small-order b of an empty-sum decryption proof (accepted)."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node not installed")
    cases = _browser_cases(keypair, election)
    python = [_python_outcome(c) for _, c, _ in cases]
    assert python == [expected for _, _, expected in cases], [n for (n, _, e), p in zip(cases, python) if p != e]
    shutil.copytree(ROOT / "web" / "static" / "js" / "crypto", tmp_path / "crypto")
    (tmp_path / "package.json").write_text('{"type": "module"}')
    (tmp_path / "cases.json").write_text(json.dumps([c for _, c, _ in cases]))
    (tmp_path / "run.js").write_text(_JS_RUNNER)
    proc = subprocess.run([node, "run.js", "cases.json"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    browser = json.loads(proc.stdout)
    assert browser == python, [(n, p, b) for (n, _, _), p, b in zip(cases, python, browser) if p != b]
