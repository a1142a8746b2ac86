"""Distributed key generation and threshold decryption (ATTACKS rows 5, 10, 11)."""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from threshold import hybrid
from threshold.decryption import PartialDecryption, combine, partial_decrypt, verify_partial
from threshold.dkg import (Announcement, CeremonyParams, Complaint, DealerMessage, Trustee, adjudicate,
                           run_ceremony, verify_signature)
from threshold.elgamal import PublicKey
from threshold.errors import DecodeError, ProtocolError


def _ceremony(group, n=4, k=3, tamper=None):
    params = CeremonyParams(group, n, k, b"election-test")
    trustees = [Trustee(params, i) for i in range(1, n + 1)]
    ann = {t.index: t.announce() for t in trustees}
    msgs = {t.index: t.deal(ann) for t in trustees}
    if tamper:
        msgs = tamper(params, trustees, ann, msgs)
    complaints = [c for t in trustees for c in t.check_shares(msgs)]
    return params, trustees, ann, msgs, complaints


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
        bad = hybrid.encrypt(group, ann[2].enc_key, (12345).to_bytes(32, "big"), params.ctx("dkg-share", 1, 2))
        msgs[1] = dataclasses.replace(msgs[1], shares={**msgs[1].shares, 2: bad})
        return msgs

    params, trustees, ann, msgs, complaints = _ceremony(group, tamper=tamper)
    assert [(c.accuser, c.dealer) for c in complaints] == [(2, 1)]
    result = adjudicate(params, ann, msgs, complaints)
    assert 1 in result.disqualified and "upheld" in result.disqualified[1]
    assert result.qualified == (2, 3, 4)
    keys = [t.finish(result) for t in trustees]
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
    result = adjudicate(params, ann, msgs, [Complaint(liar.index, 1, secret, proof)])
    assert result.disqualified == {} and result.rejected_complaints == ((3, 1),)
    # a complaint with a forged KEM secret does not even get opened
    forged = Complaint(liar.index, 1, group.exp_g(5), proof)
    assert adjudicate(params, ann, msgs, [forged]).rejected_complaints == ((3, 1),)


def test_rushing_dealer_cannot_change_commitments(group):
    """ATTACKS row 10: commitments revealed after the commit-hash must match it."""
    def tamper(params, trustees, ann, msgs):
        late = Trustee(params, 4)  # a new polynomial chosen after seeing the others
        msgs[4] = dataclasses.replace(late.deal(ann), index=4)
        return msgs

    params, trustees, ann, msgs, complaints = _ceremony(group, tamper=tamper)
    result = adjudicate(params, ann, msgs, complaints)
    assert "committed hash" in result.disqualified[4]


def test_missing_dealer_and_too_few_qualified(group):
    params, trustees, ann, msgs, complaints = _ceremony(group, n=3, k=2)
    del msgs[3]
    assert adjudicate(params, ann, msgs, []).disqualified == {3: "did not reveal its commitments"}
    del msgs[2]
    with pytest.raises(ProtocolError, match="1 qualified"):
        adjudicate(params, ann, msgs, [])


def test_transcript_signed_by_every_trustee(group):
    params, trustees, ann, msgs, complaints = _ceremony(group)
    result = adjudicate(params, ann, msgs, complaints)
    sigs = {t.index: t.sign(result) for t in trustees}
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
    result = adjudicate(params, ann, msgs, complaints)
    from threshold.dkg import CeremonyResult

    assert CeremonyResult.from_json(params, result.to_json(group)) == result
    with pytest.raises(DecodeError, match="transcript_hash"):
        CeremonyResult.from_json(params, dict(result.to_json(group), transcript_hash="00"))
