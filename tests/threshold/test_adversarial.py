"""Adversarial review of the core: attacks found against it (now fixed, kept as regressions), one known
protocol weakness (xfail strict), and attacks it resists.

Each xfail names the bug in its reason; the lead removes the marker with the fix. The passing tests
cover attacks beyond the rest of tests/threshold (cancelling non-members in the batched membership
test, position/index binding of decryption shares, complaints moved to frame another dealer).
"""

from __future__ import annotations

import dataclasses
import os
import stat

import gmpy2
import pytest

from threshold import hybrid, keystore
from threshold.batch import BatchVerifier
from threshold.decryption import PartialDecryption, combine, partial_decrypt, verify_partial
from threshold.dkg import (CeremonyParams, CeremonyResult, Complaint, Trustee, TrusteeKey, adjudicate, conclude, qualify,
                           run_ceremony)
from threshold.elgamal import Ciphertext, PublicKey
from threshold.errors import DecodeError, ProtocolError, QuorumError, VerificationError
from threshold.groups import get_group
from threshold.groups.modp import P, Q
from threshold.proofs import RangeProof
from threshold.shamir import Share, evaluate, recover
from tests.review.dkg_helpers import confirmed

ED = get_group("ed25519")
MODP = get_group("modp")
FAST = {"time_cost": 1, "memory_cost": 8 * 1024, "parallelism": 1}


def _dkg(group, n, k, context=b"adversarial"):
    params = CeremonyParams(group, n, k, context)
    trustees = [Trustee(params, i) for i in range(1, n + 1)]
    ann = {t.index: t.announce() for t in trustees}
    msgs = {t.index: t.deal(ann) for t in trustees}
    return params, trustees, ann, msgs


def _adjudicate(params, trustees, ann, msgs, complaints, withhold=()):
    """Rounds 4-5, the trustees in `withhold` keeping their reveals back."""
    return conclude(params, trustees, ann, msgs, complaints, withhold).adjudicate(params)


def _verifies(check) -> bool:
    """A verifier may answer False or refuse with a named error; both count as rejection."""
    try:
        return bool(check())
    except (QuorumError, ValueError):
        return False


# --------------------------------------------------------------------------------------------
# Breaks and weaknesses (xfail strict: they fail now and pass once the code is fixed)
# --------------------------------------------------------------------------------------------


def test_complaint_does_not_open_another_dealers_share():
    """ATTACKS row 10 (DKG): ephemeral-copy attack on the complaint round, full key recovery below threshold.

    n = 3, k = 2, one corrupt trustee (3). Dealer 3 sends trustee 1 a ciphertext whose ephemeral is
    dealer 2's ephemeral to trustee 1 (and to trustee 2 the ephemeral of dealer 1's ciphertext to 2),
    with a junk body. Each honest trustee cannot decrypt, complains and publishes its KEM secret
    S = R^e with a valid Chaum-Pedersen proof. That S opens the *honest* dealer's ciphertext with the
    same R: everyone learns f_2(1) and f_1(2). With its own f_1(3), f_2(3), trustee 3 interpolates both
    honest constant terms and holds the joint secret key, although it alone is below the threshold.
    Fix: bind each ephemeral to its dealer and recipient with a proof of knowledge of r (Schnorr,
    context encode(context, n, k, "dkg-share", i, j)); adjudicate disqualifies a dealer whose proof
    fails, and an honest trustee never reveals S for an ephemeral without a valid proof.
    """
    g = ED
    params, trustees, ann, msgs = _dkg(g, 3, 2)
    evil = msgs[3]
    shares = dict(evil.shares)
    shares[1] = dataclasses.replace(evil.shares[1], ephemeral=msgs[2].shares[1].ephemeral, body=os.urandom(60))
    shares[2] = dataclasses.replace(evil.shares[2], ephemeral=msgs[1].shares[2].ephemeral, body=os.urandom(60))
    msgs[3] = trustees[2].sign_deal(shares)
    complaints = [c for t in trustees for c in t.check_shares(msgs)]
    result = _adjudicate(params, trustees, ann, msgs, complaints)

    leaked: dict[int, Share] = {}
    for c in complaints:  # public data only
        for dealer in (1, 2):
            if dealer in (c.dealer, c.accuser):
                continue
            try:
                raw = hybrid.open_with(g, c.kem_secret, msgs[dealer].shares[c.accuser],
                                       params.ctx("dkg-share", dealer, c.accuser))
            except VerificationError:
                continue
            leaked[dealer] = Share(c.accuser, int.from_bytes(raw[:32], "big"))
    if set(leaked) == {1, 2}:
        own = trustees[2].received  # what trustee 3 legitimately got from dealers 1 and 2
        a1 = recover([leaked[1], Share(3, own[1][0])], g.q)
        a2 = recover([leaked[2], Share(3, own[2][0])], g.q)
        assert g.exp_g(a1 + a2) != result.public_key, "one trustee below the threshold holds the joint secret key"
    assert leaked == {}, f"complaints opened honest dealers' shares: {sorted(leaked)}"


def test_partial_decryption_of_empty_tally_round_trips(group):
    """ATTACKS row 11 (decryption edge case): a contest/election with zero counted ballots.

    The tally is the empty product (identity, identity), which Ciphertext.from_json accepts; the
    trustee's partial decryption M = 1 comes with b = alpha^w = 1, so the published JSON cannot be
    read back and the result can never be decrypted (voting/election.py add_decryption).
    Fix: accept the identity for the commitments a and b of Chaum-Pedersen proofs (soundness does not
    rely on them being non-trivial), or at least for b in PartialDecryption.from_json.
    """
    x = group.random_scalar()
    empty = Ciphertext(group.identity, group.identity)
    partial = partial_decrypt(group, 1, x, [empty], b"tally")
    assert verify_partial(group, group.exp_g(x), [empty], partial, b"tally")
    again = PartialDecryption.from_json(group, partial.to_json(group), 1)
    assert verify_partial(group, group.exp_g(x), [empty], again, b"tally")


def test_range_proof_of_wrong_shape_is_rejected():
    """ATTACKS row 16 (short-circuited check): a 0/1 proof object for an encryption of 5.

    all_challenges() appends c - sum(challenges) to the stored list and equations() zips it with a:
    when the object carries L+1 stored challenges, zip drops the hashed one and every branch is
    simulated with free challenges. from_json enforces the lengths, so JSON input is safe, but verify()
    and equations() accept any in-memory object (and voting builds proofs from other code paths too).
    Fix: in equations(), raise DecodeError (or return a failing equation) unless len(b) ==
    len(responses) == len(a) and len(challenges) == len(a) - 1; better, take the expected limit as a
    parameter (spec: "L is never read from the proof").
    """
    g = ED
    pk = PublicKey(g, g.exp_g(g.random_scalar()))
    ct, _ = pk.encrypt(5)
    a, b, cs, vs = [], [], [], []
    for j in range(2):  # simulate both branches with challenges of our choice
        c, v = g.random_scalar(), g.random_scalar()
        a.append(g.mul(g.exp_g(v), g.exp(ct.alpha, -c)))
        b.append(g.mul(pk.exp(v), g.exp(g.div(ct.beta, g.exp_g(j)), -c)))
        cs.append(c)
        vs.append(v)
    forged = RangeProof(tuple(a), tuple(b), tuple(cs), tuple(vs))
    assert forged.limit == 1
    assert not _verifies(lambda: forged.verify(pk, ct, b"ctx")), "0/1 proof accepted for m = 5"

    def batch():
        bv = BatchVerifier(g)
        bv.add("forged", forged.equations(pk, ct, b"ctx"))
        return bv.verify() == []
    assert not _verifies(batch)


def test_combine_blames_invalid_partial_with_colliding_index():
    """ATTACKS row 11: 'combine exactly k valid shares plus extra invalid ones -> correct result + blame'.

    A junk partial that claims trustee 2's index (or an index >= q) makes combine raise DecodeError,
    although k valid partials are present. Fix: verify each partial first (an index outside 1..q-1 or
    without a verification key is blamed), then refuse duplicates only among the valid ones.
    """
    g = ED
    params = CeremonyParams(g, 3, 2, b"e")
    result, keys = run_ceremony(params)
    pk = PublicKey(g, result.public_key)
    cts = [pk.encrypt(3)[0]]
    parts = [partial_decrypt(g, k.index, k.secret, cts, b"t") for k in keys]
    junk = dataclasses.replace(parts[1], shares=(g.g,))  # claims index 2, does not verify
    out = combine(g, cts, [junk, parts[0], parts[1]], result.verification_keys, 2, b"t", 10)
    assert out.plaintexts == (3,) and 2 in out.blamed
    huge = dataclasses.replace(parts[0], index=g.q + 1)
    out = combine(g, cts, [huge, parts[0], parts[1]], result.verification_keys, 2, b"t", 10)
    assert out.plaintexts == (3,) and g.q + 1 in out.blamed


def test_hex_fields_have_one_spelling():
    """ATTACKS rows 2/8 (malleation, non-canonical encodings): records must be canonical JSON.

    '  ' + 62 hex digits has the right length, parses to the same 31-byte value as '00' + 62 digits:
    a proof's response or challenge (and a DKG share body) can be re-spelled without changing what it
    proves, so byte-level hashes of records and ballots are malleable. Fix: check the string with a
    regular expression [0-9a-f]{2n} (re.fullmatch) before bytes.fromhex, in hex_to_int, _hex_bytes,
    _hex32 and HybridCiphertext.from_json.
    """
    good = "ab" * 32
    with pytest.raises(DecodeError):
        ED.scalar_from_hex("  " + good[2:], "s")
    with pytest.raises(DecodeError):
        ED.scalar_from_hex("\n\t" + good[2:], "s")
    ct = hybrid.encrypt(ED, ED.g, b"x" * 32, b"aad")
    doc = ct.to_json(ED)
    with pytest.raises(DecodeError):
        hybrid.HybridCiphertext.from_json(ED, dict(doc, body=" ".join(doc["body"][i:i + 2] for i in range(0, len(doc["body"]), 2))))


def test_ceremony_result_keys_are_ascii_decimal():
    """Security rule 4: every parser fails with DecodeError only."""
    g = ED
    params = CeremonyParams(g, 3, 2, b"e")
    result, _ = run_ceremony(params)
    doc = result.to_json(g)
    for key in ("²", "١", "01", "+1", " 1"):
        with pytest.raises(DecodeError):
            CeremonyResult.from_json(params, dict(doc, disqualified={key: "x"}))


def test_trustee_key_parser_raises_only_decode_errors():
    """Security rule 4. A bool/float index survives parsing and later crashes encode() in partial_decrypt."""
    g = ED
    _, keys = run_ceremony(CeremonyParams(g, 3, 2, b"e"))
    doc = keys[0].to_json()
    vks = doc["verification_keys"]
    bad = [dict(doc, verification_keys=dict(vks, x=doc["public_key"])),
           dict(doc, verification_keys=dict(vks, **{"²": doc["public_key"]})),
           dict(doc, index=[1]), dict(doc, index={}), dict(doc, index=True), dict(doc, index=1.0),
           dict(doc, index="1"), dict(doc, verification_keys=[])]
    for obj in bad:
        with pytest.raises(DecodeError):
            TrusteeKey.from_json(g, obj)


def test_keystore_unseal_raises_only_named_errors():
    """Security rule 4 for the trustee secret file (a corrupted or hostile file)."""
    doc = keystore.seal({"s": 1}, "pw", FAST)
    kdf = doc["kdf"]
    bad = [dict(doc, nonce=""), dict(doc, kdf=dict(kdf, salt="")), dict(doc, kdf=dict(kdf, time_cost=0)),
           dict(doc, kdf=dict(kdf, parallelism=0)), dict(doc, kdf=dict(kdf, memory_cost=-1)),
           dict(doc, kdf=dict(kdf, name="scrypt")), dict(doc, kdf=dict(kdf, time_cost=True)),
           dict(doc, kdf=dict(kdf, memory_cost=1024 * 1024 + 1))]  # more than 1 GiB: refused before argon2 runs
    for obj in bad:
        with pytest.raises(DecodeError):
            keystore.unseal(obj, "pw")


def test_keystore_save_does_not_write_through_old_file_or_symlink(tmp_path):
    """Security rule 3 (mode 0600): the race the brief asks about.

    Fix: write to a fresh file created with O_CREAT | O_EXCL | O_NOFOLLOW, mode 0600, in the same
    directory, fsync, then os.replace() it onto the path.
    """
    path = tmp_path / "trustee.json"
    path.write_bytes(b"old")
    os.chmod(path, 0o644)
    fd = os.open(path, os.O_RDONLY)  # opened by someone else while the file was world-readable
    try:
        keystore.save(path, {"secret": "s"}, "pw", FAST)
        leaked = os.pread(fd, 1 << 16, 0)
    finally:
        os.close(fd)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert b"ciphertext" not in leaked, "the new sealed secret is readable through the old descriptor"
    target = tmp_path / "attacker-owned"
    target.write_bytes(b"")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    keystore.save(link, {"secret": "s"}, "pw", FAST)
    assert target.read_bytes() == b"", "save() followed a symlink"


def test_keystore_save_never_leaves_a_truncated_file(tmp_path, monkeypatch):
    """A trustee's only copy of its share must survive a failed re-save. Fix: temp file + os.replace."""
    path = tmp_path / "trustee.json"
    keystore.save(path, {"secret": "old"}, "pw", FAST)

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "write", disk_full)
    try:
        keystore.save(path, {"secret": "new"}, "pw", FAST)
    except OSError:
        pass
    monkeypatch.undo()
    assert keystore.load(path, "pw") in ({"secret": "old"}, {"secret": "new"})


def test_challenge_does_not_depend_on_the_python_type_of_an_element():
    """ATTACKS row 8 (ambiguous encodings): the transcript must depend on the value only.

    PublicKey(modp, int(K)) == PublicKey(modp, K), yet a proof made under one fails under the other.
    Not a forgery (the encoding stays injective per type), but the hashed bytes are decided by the
    Python type, not by the spec's "elements as canonical bytes, integers as integers". Fix: let
    challenge() take the statement's elements and its integers separately (e.g. statement elements
    always through group.encode, integers passed in a separate list) instead of guessing by type.
    """
    K = MODP.exp_g(12345)
    as_int, as_mpz = PublicKey(MODP, int(K)), PublicKey(MODP, K)
    assert as_int == as_mpz
    ct, r = as_mpz.encrypt(1)
    proof = RangeProof.prove(as_int, ct, 1, r, 1, b"c")
    assert proof.verify(as_mpz, ct, b"c")


def test_dkg_transcript_binds_share_ciphertexts():
    """ATTACKS row 10 (equivocation): 'all trustees sign the same transcript hash posted on the board'.

    A dealer can show trustees (or the board can later show auditors) different encrypted shares and
    complaint openings under the same signed hash, so the signatures do not fix the data that
    adjudication ran on. Fix: hash every DealerMessage (commitments, proof, every HybridCiphertext)
    and every Complaint (accuser, dealer, kem_secret, proof) into the transcript.
    """
    g = ED
    params, trustees, ann, msgs = _dkg(g, 3, 2)
    assert [c for t in trustees for c in t.check_shares(msgs)] == []
    qual = qualify(params, ann, msgs, [])
    reveals = {t.index: t.reveal(confirmed(trustees, msgs, [])) for t in trustees}
    before = adjudicate(params, ann, msgs, [], reveals, {}).transcript_hash
    value = evaluate(trustees[0].polynomial, 2, g.q).to_bytes(32, "big") + evaluate(trustees[0].blinding, 2, g.q).to_bytes(32, "big")
    other = hybrid.encrypt(g, ann[2].enc_key, value, params.ctx("dkg-share", 1, 2))  # the same share pair, new bytes
    msgs[1] = trustees[0].sign_deal({**msgs[1].shares, 2: other})
    assert qualify(params, ann, msgs, []).transcript_hash != qual.transcript_hash
    with pytest.raises(ProtocolError, match="did not reveal"):  # the reveals were bound to the first
        adjudicate(params, ann, msgs, [], reveals, {})
    assert before


def test_withholding_dealer_cannot_choose_between_two_joint_keys():
    """ATTACKS row 10 (DKG bias by a rushing adversary, GJKR 1999). Dealer 3 sees every honest Feldman value
    before deciding whether to reveal its own, i.e. it can compute the joint key either way. Under Pedersen's
    DKG, withholding dropped it from QUAL: two candidate keys, one bit of bias. Now QUAL is fixed from hiding
    commitments before any Feldman value is public, and a withheld reveal is reconstructed from the opened
    shares: both choices give the same key."""
    g = ED
    params, trustees, ann, msgs = _dkg(g, 3, 2)
    complaints = [c for t in trustees for c in t.check_shares(msgs)]
    revealed = _adjudicate(params, trustees, ann, msgs, complaints)
    withheld = _adjudicate(params, trustees, ann, msgs, complaints, withhold={3})
    assert withheld.reconstructed == (3,)
    assert revealed.public_key == withheld.public_key, "the last dealer chose between two joint keys after seeing the others'"
    # nor can it leave QUAL by dealing badly on purpose once the others' values are known: QUAL was final before
    assert qualify(params, ann, msgs, complaints).qualified == withheld.qualified == (1, 2, 3)


def test_reader_stays_failed_after_a_failed_membership_test():
    """ATTACKS row 4 (deferred membership): a caller that catches the DecodeError, drops the named
    item and calls finish() again to validate the rest (what a verifier naturally does) gets no
    test at all for the remaining elements. Fix: clear pending only on success, or mark the reader
    failed so that every later finish() raises again."""
    z = _order_s(13)
    reader = MODP.reader()
    reader.element(MODP.to_hex(MODP.g), "ok")
    reader.element(int(z).to_bytes(512, "big").hex(), "bad1")
    reader.element(int(z).to_bytes(512, "big").hex(), "bad2")
    with pytest.raises(DecodeError, match="bad1"):
        reader.finish()
    with pytest.raises(DecodeError):
        reader.finish()


# --------------------------------------------------------------------------------------------
# Attacks the core resists (coverage beyond the other files)
# --------------------------------------------------------------------------------------------


def _order_s(seed: int) -> gmpy2.mpz:
    """A quadratic residue of order s = (p-1)/(2q): passes the Jacobi test, fails x^q = 1."""
    x = gmpy2.powmod(seed, 2 * Q, P)
    assert gmpy2.jacobi(x, P) == 1 and gmpy2.powmod(x, Q, P) != 1
    return x


@pytest.mark.parametrize("shape", ["cancelling pair", "pair alone", "duplicates", "with identity"])
def test_batched_membership_resists_cancelling_non_members(shape):
    """ATTACKS row 4: non-members chosen so that their s-components cancel in a plain product
    (z and z^-1), the same non-member twice, a two-element list (checked one by one), and a
    non-member next to identities (which are never owed a test)."""
    z = _order_s(11)
    z_inv = gmpy2.invert(z, P)
    good = [(MODP.encode(MODP.exp_g(i + 2)), f"ok{i}") for i in range(3)]
    enc = lambda v: int(v).to_bytes(512, "big")  # noqa: E731
    items = {"cancelling pair": good + [(enc(z), "bad1"), (enc(z_inv), "bad2")],
             "pair alone": [(enc(z), "bad1"), (enc(z_inv), "bad2")],
             "duplicates": good + [(enc(z), "bad1"), (enc(z), "bad2")],
             "with identity": [(enc(1), "id1"), (enc(1), "id2"), (enc(z), "bad1")]}[shape]
    with pytest.raises(DecodeError, match="bad1"):
        MODP.decode_many(items, allow_identity=True)
    # through the deferred reader as a proof parser uses it
    reader = MODP.reader()
    for data, field in items:
        reader.element(data.hex(), field, allow_identity=True)
    with pytest.raises(DecodeError, match="bad1"):
        reader.finish()


def test_decryption_share_bound_to_position_and_trustee():
    """ATTACKS rows 9/11: a correct share moved to another ciphertext position, or relabelled as
    another trustee's (whose verification key differs, or which shares the same key), fails."""
    g = ED
    result, keys = run_ceremony(CeremonyParams(g, 3, 2, b"e"))
    pk = PublicKey(g, result.public_key)
    ct, _ = pk.encrypt(1)
    part = partial_decrypt(g, 1, keys[0].secret, [ct, ct], b"t")  # the same ciphertext twice
    swapped = dataclasses.replace(part, shares=part.shares[::-1], proofs=part.proofs[::-1])
    assert part.shares[0] == part.shares[1]
    assert verify_partial(g, result.verification_keys[1], [ct, ct], part, b"t")
    assert not verify_partial(g, result.verification_keys[1], [ct, ct], swapped, b"t")
    relabelled = dataclasses.replace(part, index=2)
    assert not verify_partial(g, result.verification_keys[1], [ct, ct], relabelled, b"t")
    vks = dict(result.verification_keys)
    vks[2] = vks[1]  # even a verifier tricked into equal keys: the index is in the transcript
    assert not verify_partial(g, vks[2], [ct, ct], relabelled, b"t")


def test_complaint_cannot_be_moved_to_frame_another_dealer():
    """ATTACKS row 10: an honest complaint against cheating dealer 1, re-addressed to honest dealer 2
    (same KEM secret and proof, or the KEM secret of dealer 2's ciphertext with the old proof), and
    a complaint by trustee 3 replayed as trustee 2's, are all rejected: dealer 2 stays qualified."""
    g = ED
    params, trustees, ann, msgs = _dkg(g, 4, 2)
    bad = hybrid.encrypt(g, ann[3].enc_key, (7).to_bytes(64, "big"), params.ctx("dkg-share", 1, 3))
    msgs[1] = trustees[0].sign_deal({**msgs[1].shares, 3: bad})
    complaints = [c for t in trustees for c in t.check_shares(msgs)]
    assert [(c.accuser, c.dealer) for c in complaints] == [(3, 1)]
    honest = complaints[0]
    t3 = trustees[2]
    s2 = hybrid.kem_secret(g, t3.enc_secret, msgs[2].shares[3])
    moved = [dataclasses.replace(honest, dealer=2),
             dataclasses.replace(honest, dealer=2, kem_secret=s2),
             dataclasses.replace(honest, accuser=2)]
    result = qualify(params, ann, msgs, moved + complaints)
    assert set(result.disqualified) == {1}
    assert {(3, 2), (2, 1)} <= set(result.rejected_complaints)
    assert Complaint.from_json(params, honest.to_json(g)) == honest
