"""Distributed key generation (GJKR) and threshold decryption (ATTACKS rows 5, 10, 11)."""

from __future__ import annotations

import copy

import dataclasses
import itertools

import pytest

from threshold import hybrid
from threshold.batch import BatchVerifier
from threshold.decryption import (TAG, PartialDecryption, _ctx, combine, partial_decrypt, partial_equations,
                                  verify_partial)
from threshold.dkg import (Announcement, CeremonyParams, CeremonyResult, Complaint, DealerMessage, Opening, Reveal,
                           Trustee, adjudicate, conclude, qualify, run_ceremony, to_reconstruct, verify_signature)
from threshold.elgamal import PublicKey
from threshold.errors import DecodeError, ProtocolError, VerificationError
from threshold.proofs import ChaumPedersenProof
from tests.review.dkg_helpers import confirmed


def _ceremony(group, n=4, k=3, tamper=None):
    params = CeremonyParams(group, n, k, b"election-test")
    trustees = [Trustee(params, i) for i in range(1, n + 1)]
    ann = {t.index: t.announce() for t in trustees}
    msgs = {t.index: t.deal(ann) for t in trustees}
    if tamper:
        msgs = tamper(params, trustees, ann, msgs)
    complaints = [c for t in trustees for c in t.check_shares(msgs)]
    return params, trustees, ann, msgs, complaints


def _conclude(params, trustees, ann, msgs, complaints, withhold=(), tamper_reveals=None):
    """Rounds 4-5, the trustees in `withhold` keeping their reveals back, reveals altered by `tamper_reveals`: the
    outcome, the reveals, the openings and the transcript (which trustees finish and sign from)."""
    transcript = conclude(params, trustees, ann, msgs, complaints, withhold)
    if tamper_reveals:
        reveals = tamper_reveals(dict(transcript.reveals))
        recon = to_reconstruct(params, qualify(params, ann, msgs, complaints), msgs, reveals)
        openings = {t.index: t.open(msgs, reveals) for t in trustees if t.index not in recon}
        transcript = dataclasses.replace(transcript, reveals=reveals, openings=openings)
    return transcript.adjudicate(params), transcript.reveals, transcript.openings, transcript


def test_honest_ceremony_and_decryption_with_absent_trustees(group):
    params = CeremonyParams(group, 5, 3, b"e")
    result, keys = run_ceremony(params)
    pk = PublicKey(group, result.public_key)
    cts = [pk.encrypt(m)[0] for m in (4, 0, 9)]
    for present in itertools.combinations(keys, 3):  # any 3 of 5: n-k absent
        parts = [partial_decrypt(group, k.index, k.secret, cts, b"tally") for k in present]
        assert combine(group, cts, parts, result.verification_keys, 3, b"tally", 20).plaintexts == (4, 0, 9)
    from threshold.shamir import Share, recover

    joint = recover([Share(k.index, k.secret) for k in keys[:3]], group.q)
    assert group.exp_g(joint) == result.public_key != group.identity
    assert all(group.exp_g(k.secret) == result.verification_keys[k.index] for k in keys)


def test_cheating_dealer_is_caught_by_a_public_complaint(group):
    """A dealer sends trustee 2 a share that does not match its commitments."""
    def tamper(params, trustees, ann, msgs):
        bad = hybrid.encrypt(group, ann[2].enc_key, (12345).to_bytes(64, "big"), params.ctx("dkg-share", 1, 2))
        msgs[1] = trustees[0].sign_deal({**msgs[1].shares, 2: bad})
        return msgs

    params, trustees, ann, msgs, complaints = _ceremony(group, tamper=tamper)
    assert [(c.accuser, c.dealer) for c in complaints] == [(2, 1)]
    result, reveals, _, transcript = _conclude(params, trustees, ann, msgs, complaints)
    assert 1 not in reveals  # a disqualified dealer reveals nothing
    assert 1 in result.disqualified and "upheld" in result.disqualified[1]
    assert result.qualified == (2, 3, 4)
    keys = [t.finish(transcript) for t in trustees]
    pk = PublicKey(group, result.public_key)
    ct, _ = pk.encrypt(6)
    parts = [partial_decrypt(group, k.index, k.secret, [ct], b"t") for k in keys[1:]]
    assert combine(group, [ct], parts, result.verification_keys, 3, b"t", 10).plaintexts == (6,)


def test_false_complaint_is_rejected(group):
    params, trustees, ann, msgs, _ = _ceremony(group)
    liar = trustees[2]
    ct = msgs[1].shares[liar.index]
    from threshold.proofs import ChaumPedersenProof

    secret = hybrid.kem_secret(group, liar.enc_secret, ct)
    proof = ChaumPedersenProof.prove(group, liar.enc_secret, group.g, liar.enc_key, ct.ephemeral, secret,
                                     params.ctx("dkg-complaint", liar.index, 1))
    result = qualify(params, ann, msgs, [Complaint(liar.index, 1, secret, proof)])
    assert result.disqualified == {} and result.rejected_complaints == ((3, 1),)
    # a complaint with a forged KEM secret does not even get opened
    forged = Complaint(liar.index, 1, group.exp_g(5), proof)
    assert qualify(params, ann, msgs, [forged]).rejected_complaints == ((3, 1),)


def test_withheld_reveal_is_reconstructed_and_changes_nothing(group):
    """ATTACKS row 10 (rushing/abort bias, GJKR): a qualified dealer that sees every other Feldman value and then
    withholds its own does not leave QUAL; its polynomial is rebuilt from the opened shares and the joint key, every
    verification key and every trustee's secret are the ones its reveal would have given."""
    params, trustees, ann, msgs, complaints = _ceremony(group, n=5, k=3)
    revealed, _, _, clean = _conclude(params, trustees, ann, msgs, complaints)
    secrets = [t.finish(clean).secret for t in trustees]  # before any opening: an opener finishes no other outcome
    withheld, reveals, openings, transcript = _conclude(params, trustees, ann, msgs, complaints, withhold={4})
    assert withheld.reconstructed == (4,) and 4 in withheld.qualified and set(openings) == {1, 2, 3, 5}
    assert withheld.public_key == revealed.public_key
    assert withheld.verification_keys == revealed.verification_keys
    assert [t.finish(transcript).secret for t in trustees] == secrets
    with pytest.raises(VerificationError, match="opened its shares for"):
        trustees[0].finish(clean)
    assert withheld.transcript_hash != revealed.transcript_hash


def test_invalid_reveal_is_reconstructed(group):
    """A reveal whose Feldman value is not the g-part of its Pedersen commitment (or whose proofs were made for
    another dealer or coefficient) counts as withheld: the key stays the one the dealer's shares fix."""
    params, trustees, ann, msgs, complaints = _ceremony(group)
    honest, *_ = _conclude(params, trustees, ann, msgs, complaints)

    def shifted(reveals):  # A_0 times g: the key would move by g
        r = reveals[2]
        return {**reveals, 2: dataclasses.replace(r, feldman=(group.mul(r.feldman[0], group.g),) + r.feldman[1:])}

    def swapped(reveals):  # coefficient proofs in the wrong order
        r = reveals[3]
        return {**reveals, 3: dataclasses.replace(r, proofs=r.proofs[::-1])}

    def moved(reveals):  # dealer 1's reveal presented as dealer 2's
        return {**reveals, 2: dataclasses.replace(reveals[1], index=2)}

    for tamper, dealer in ((shifted, 2), (swapped, 3), (moved, 2)):  # each its own ceremony's rounds 4-5: the
        fresh = [copy.copy(t) for t in trustees]  # trustees' record of what they opened starts empty
        result, reveals, *_ = _conclude(params, fresh, ann, msgs, complaints, tamper_reveals=tamper)
        assert not reveals[dealer].valid(params, msgs[dealer], qualify(params, ann, msgs, complaints))
        assert result.reconstructed == (dealer,) and result.public_key == honest.public_key


def test_openings_are_checked_and_a_quorum_is_needed(group):
    params, trustees, ann, msgs, complaints = _ceremony(group, n=4, k=3)
    confirmations = confirmed(trustees, msgs, complaints)
    reveals = {t.index: t.reveal(confirmations) for t in trustees if t.index != 1}
    openings = {t.index: t.open(msgs, reveals) for t in trustees[1:]}
    expected = adjudicate(params, ann, msgs, complaints, reveals, openings).public_key
    s, b = openings[2].openings[1]
    forged = {**openings, 2: Opening(2, {1: ((s + 1) % group.q, b)})}  # not on dealer 1's Pedersen commitments
    with pytest.raises(ProtocolError, match="2 valid openings"):
        adjudicate(params, ann, msgs, complaints, reveals, forged)
    stolen = {**openings, 2: Opening(2, {1: openings[3].openings[1]})}  # trustee 3's pair claimed by trustee 2
    with pytest.raises(ProtocolError, match="2 valid openings"):
        adjudicate(params, ann, msgs, complaints, reveals, stolen)
    with pytest.raises(ProtocolError, match="2 valid openings"):
        adjudicate(params, ann, msgs, complaints, reveals, {i: o for i, o in openings.items() if i != 4})
    assert adjudicate(params, ann, msgs, complaints, reveals, openings).public_key == expected


def test_missing_dealer_and_too_few_qualified(group):
    params, trustees, ann, msgs, complaints = _ceremony(group, n=3, k=2)
    del msgs[3]
    assert qualify(params, ann, msgs, []).disqualified == {3: "did not deal"}
    del msgs[2]
    with pytest.raises(ProtocolError, match="1 qualified"):
        qualify(params, ann, msgs, [])


def test_transcript_signed_by_every_trustee(group):
    params, trustees, ann, msgs, complaints = _ceremony(group)
    result, _, _, transcript = _conclude(params, trustees, ann, msgs, complaints)
    sigs = {t.index: t.sign(transcript) for t in trustees}
    assert all(verify_signature(params, ann[i], result, s) for i, s in sigs.items())
    assert not verify_signature(params, ann[1], result, sigs[2])
    other = dataclasses.replace(result, transcript_hash=b"\x00" * 32)
    assert not verify_signature(params, ann[1], other, sigs[1])


def test_messages_round_trip_json(group):
    params, trustees, ann, msgs, complaints = _ceremony(group)
    for i, a in ann.items():
        assert Announcement.from_json(params, a.to_json(group)) == a
    for i, m in msgs.items():
        again = DealerMessage.from_json(params, m.to_json(group))
        assert again.commitments == m.commitments and again.shares == m.shares
    with pytest.raises(DecodeError, match="index"):
        Announcement.from_json(params, dict(ann[1].to_json(group), index=0))
    with pytest.raises(DecodeError, match="shares"):
        doc = msgs[1].to_json(group)
        DealerMessage.from_json(params, dict(doc, shares={"2": doc["shares"]["2"]}))
    _, reveals, openings, _ = _conclude(params, trustees, ann, msgs, complaints, withhold={1})
    for r in reveals.values():
        assert Reveal.from_json(params, r.to_json(group)) == r
    for o in openings.values():
        assert Opening.from_json(params, o.to_json(group)) == o
    doc = reveals[2].to_json(group)
    with pytest.raises(DecodeError, match=r"reveal\.feldman"):
        Reveal.from_json(params, dict(doc, feldman=doc["feldman"][:2]))
    with pytest.raises(DecodeError, match=r"reveal\.feldman\[0\]"):
        Reveal.from_json(params, dict(doc, feldman=[group.to_hex(group.identity)] + doc["feldman"][1:]))
    with pytest.raises(DecodeError, match=r"reveal\.proofs\[1\]"):
        Reveal.from_json(params, dict(doc, proofs=[doc["proofs"][0], {"feldman": doc["proofs"][1]["feldman"]}, doc["proofs"][2]]))
    doc = openings[2].to_json(group)
    with pytest.raises(DecodeError, match=r"opening\.openings\.1\.share"):
        Opening.from_json(params, dict(doc, openings={"1": {"share": "zz", "blinding": doc["openings"]["1"]["blinding"]}}))
    with pytest.raises(DecodeError, match="its own"):
        Opening.from_json(params, dict(doc, openings={"2": doc["openings"]["1"]}))


def test_invalid_partial_decryptions_are_blamed(group):
    params = CeremonyParams(group, 4, 2, b"e")
    result, keys = run_ceremony(params)
    pk = PublicKey(group, result.public_key)
    cts = [pk.encrypt(3)[0]]
    good = [partial_decrypt(group, k.index, k.secret, cts, b"t") for k in keys]
    bad = dataclasses.replace(good[0], shares=(group.mul(good[0].shares[0], group.g),))
    assert not verify_partial(group, result.verification_keys[1], cts, bad, b"t")
    out = combine(group, cts, [bad, good[1], good[2]], result.verification_keys, 2, b"t", 10)
    assert out.plaintexts == (3,) and out.blamed == (1,) and out.used == (2, 3)
    with pytest.raises(ProtocolError, match="1 valid"):
        combine(group, cts, [bad, good[1]], result.verification_keys, 2, b"t", 10)
    with pytest.raises(ProtocolError, match="1 valid"):  # a duplicate index counts once
        combine(group, cts, [good[1], good[1]], result.verification_keys, 2, b"t", 10)
    moved = partial_decrypt(group, 2, keys[1].secret, cts, b"other-election")
    assert not verify_partial(group, result.verification_keys[2], cts, moved, b"t")
    assert PartialDecryption.from_json(group, good[1].to_json(group), 1) == good[1]


def test_a_share_outside_the_subgroup_is_blamed_even_with_a_proof_that_holds_up_to_it(group):
    """A trustee that adds what `accepts` ignores to its share (modp: the sign; ed25519: a torsion point of order 2)
    and proves that share with its real secret passes the proof's equations; the membership test of verify_partial
    (run on objects built in memory too) blames it, and combine still decrypts with the others."""
    params = CeremonyParams(group, 3, 2, b"e")
    result, keys = run_ceremony(params)
    pk = PublicKey(group, result.public_key)
    cts = [pk.encrypt(3)[0]]
    good = [partial_decrypt(group, k.index, k.secret, cts, b"t") for k in keys]
    if group.name == "modp":
        shifted = group.p - good[0].shares[0]
    else:
        from threshold.groups import _ed25519
        shifted = _ed25519.add(good[0].shares[0], bytes.fromhex("ec" + "ff" * 30 + "7f"))  # + (0, -1), of order 2
    vk = result.verification_keys[1]
    proof = ChaumPedersenProof.prove(group, keys[0].secret, group.g, vk, cts[0].alpha, shifted, _ctx(b"t", 1, 0), TAG)
    bad = PartialDecryption(1, (shifted,), (proof,))
    batch = BatchVerifier(group)
    batch.add(1, partial_equations(group, vk, cts, bad, b"t"))
    assert batch.verify() == [], "the equations alone hold up to the ignored part"
    assert not verify_partial(group, vk, cts, bad, b"t")
    out = combine(group, cts, [bad, good[1], good[2]], result.verification_keys, 2, b"t", 10)
    assert out.plaintexts == (3,) and out.blamed == (1,) and out.used == (2, 3)
    assert verify_partial(group, vk, cts, good[0], b"t")
    for junk in ("abc", None, 5, b"\x01" * 3, [1]):  # shares built in memory that are no element
        share = PartialDecryption(1, (junk,), good[0].proofs)
        assert not verify_partial(group, vk, cts, share, b"t")
        assert combine(group, cts, [share, good[1], good[2]], result.verification_keys, 2, b"t", 10).blamed == (1,)
    assert not verify_partial(group, vk, cts, PartialDecryption(1, good[0].shares, ("proof",)), b"t")


def test_trustee_refuses_non_member_ciphertext_before_exponentiating(group, monkeypatch):
    """ATTACKS row 5: an alpha outside the subgroup is refused before alpha^x is computed."""
    from threshold.elgamal import Ciphertext

    if group.name == "modp":
        from threshold.groups.modp import P
        bad_alpha = P - 1  # order 2
    else:
        bad_alpha = bytes.fromhex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")
    calls = []
    monkeypatch.setattr(type(group), "exp", lambda self, a, e: calls.append(a))
    with pytest.raises(DecodeError, match="refusing"):
        partial_decrypt(group, 1, 12345, [Ciphertext(bad_alpha, group.g)], b"t")
    assert calls == []


def test_result_round_trips_json(group):
    params, trustees, ann, msgs, complaints = _ceremony(group)
    result, *_ = _conclude(params, trustees, ann, msgs, complaints, withhold={2})
    assert result.reconstructed == (2,)
    assert CeremonyResult.from_json(params, result.to_json(group)) == result
    with pytest.raises(DecodeError, match="transcript_hash"):
        CeremonyResult.from_json(params, dict(result.to_json(group), transcript_hash="00"))


def test_result_parser_refuses_missing_keys_and_dealers_in_both_or_neither_list(group):
    """A result must name a verification key for every trustee and put every dealer in exactly one list."""
    params, trustees, ann, msgs, complaints = _ceremony(group)
    doc = _conclude(params, trustees, ann, msgs, complaints, withhold=set())[0].to_json(group)
    keys = dict(doc["verification_keys"])
    keys.pop("2")
    with pytest.raises(DecodeError, match=r"verification_keys.*missing \[2\]"):
        CeremonyResult.from_json(params, dict(doc, verification_keys=keys))
    with pytest.raises(DecodeError, match="either qualified or disqualified"):
        CeremonyResult.from_json(params, dict(doc, qualified=doc["qualified"][1:]))
    with pytest.raises(DecodeError, match="either qualified or disqualified"):
        CeremonyResult.from_json(params, dict(doc, disqualified={str(doc["qualified"][0]): "x"}))
