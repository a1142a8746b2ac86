"""Adversarial review of the GJKR key ceremony (threshold/dkg.py, docs/spec.md section 6, its use by
voting/context.py): a malicious trustee or a coalition of fewer than k, a board that edits the recorded
key_ceremony entry (re-hashing and re-signing its chain, but unable to forge a trustee's signature), and
malformed input.

xfail (strict) tests are confirmed defects: the reason says what is wrong, where, and the fix; the lead removes
the marker with the fix. The passing tests are attacks the code resists, kept as regressions.
"""

from __future__ import annotations

import copy
import dataclasses

import pytest
from nacl.signing import SigningKey

from ed25519_reference import ref_add, ref_decode, ref_encode
from threshold import dkg, hybrid
from threshold.dkg import (Announcement, CeremonyParams, CeremonyResult, Complaint, DealerMessage, Opening, Reveal,
                           Trustee, adjudicate, conclude, qualify, to_reconstruct)
from threshold.errors import DecodeError, ProtocolError, QuorumError, VerificationError
from threshold.groups import get_group
from threshold.proofs import ChaumPedersenProof, SchnorrProof, challenge
from threshold.shamir import Share, evaluate, interpolate
from threshold.vss import pedersen_h
from tests.review.dkg_helpers import confirmed, reveal_by_hand
from voting.context import Setup, ceremony_payload, parse_ceremony, parse_setup, setup_payload
from voting.demo import DEMO_MANIFEST
from voting.manifest import Manifest

ED = get_group("ed25519")
MODP = get_group("modp")


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _params(group, n, k, context=b"gjkr-review"):
    return CeremonyParams(group, n, k, context)


def _deal(params):
    """Rounds 1-2 by honest trustees: the trustees, announcements and deal messages."""
    trustees = [Trustee(params, i) for i in range(1, params.n + 1)]
    ann = {t.index: t.announce() for t in trustees}
    msgs = {t.index: t.deal(ann) for t in trustees}
    return trustees, ann, msgs


def _check(trustees, msgs):
    """Round 3: every trustee decrypts and checks its shares (filling `received`); the complaints."""
    return [c for t in trustees for c in t.check_shares(msgs)]


def _bad_share(params, ann, msgs, trustees, dealer, recipient):
    """Dealer's ciphertext to `recipient` replaced (and signed by the dealer) by a well-formed encryption of a pair
    off its commitments."""
    g = params.group
    bad = hybrid.encrypt(g, ann[recipient].enc_key, (1234567).to_bytes(64, "big"), params.ctx("dkg-share", dealer, recipient))
    msgs[dealer] = trustees[dealer - 1].sign_deal({**msgs[dealer].shares, recipient: bad})


def _complaint(params, trustee, msgs, dealer):
    """A complaint by `trustee` against `dealer` whatever its share (valid KEM secret and proof)."""
    g = params.group
    ct = msgs[dealer].shares[trustee.index]
    secret = hybrid.kem_secret(g, trustee.enc_secret, ct)
    proof = ChaumPedersenProof.prove(g, trustee.enc_secret, g.g, trustee.enc_key, ct.ephemeral, secret,
                                     params.ctx("dkg-complaint", trustee.index, dealer))
    return Complaint(trustee.index, dealer, secret, proof)


def _setup(group, n, k) -> Setup:
    key = SigningKey.generate().verify_key.encode().hex()
    return parse_setup(setup_payload("gjkr-review", Manifest.from_json(DEMO_MANIFEST), group, n, k, key))


def _signed_payload(setup, trustees, transcript, signers=None):
    result = transcript.adjudicate(setup.ceremony_params())
    signers = result.qualified if signers is None else signers
    sigs = {t.index: t.sign(transcript) for t in trustees if t.index in signers}
    return ceremony_payload(setup, transcript, result, sigs), result


def _eventful_record(group):
    """A recorded ceremony with every kind of message, n=5, k=3: dealer 5 cheats on trustee 4 (upheld complaint,
    5 disqualified), trustee 3 files a false complaint against dealer 1 (rejected), dealer 2 withholds its
    reveal (reconstructed from the openings of 1, 3, 4, 5)."""
    setup = _setup(group, 5, 3)
    params = setup.ceremony_params()
    trustees, ann, msgs = _deal(params)
    _bad_share(params, ann, msgs, trustees, 5, 4)
    complaints = _check(trustees, msgs)
    complaints.append(_complaint(params, trustees[2], msgs, 1))
    transcript = conclude(params, trustees, ann, msgs, complaints, withhold={2})
    payload, result = _signed_payload(setup, trustees, transcript)
    assert result.qualified == (1, 2, 3, 4) and result.reconstructed == (2,)
    assert result.rejected_complaints == ((3, 1),)
    return setup, params, trustees, transcript, result, payload


def _board_rehash(setup, payload):
    """What a board that edited the transcript part of the payload does next: recompute every stated outcome
    (qualified, keys, transcript hash) from the edited transcript; it cannot forge the trustees' signatures."""
    params, g = setup.ceremony_params(), setup.group
    try:
        by = lambda name, parse: {m["index"]: parse(params, m) for m in payload[name]}  # noqa: E731
        transcript = dkg.Transcript(by("announcements", Announcement.from_json), by("dealers", DealerMessage.from_json),
                                    [Complaint.from_json(params, c) for c in payload["complaints"]],
                                    by("reveals", Reveal.from_json), by("openings", Opening.from_json))
        result = transcript.adjudicate(params)
    except QuorumError:
        return payload
    return {**payload, "qualified": list(result.qualified), "public_key": g.to_hex(result.public_key),
            "verification_keys": [g.to_hex(result.verification_keys[j]) for j in range(1, params.n + 1)],
            "transcript_hash": result.transcript_hash.hex()}


# --------------------------------------------------------------------------------------------
# Review findings, fixed (or, where they are limits of the protocol, documented in spec sections 6 and 9)
# --------------------------------------------------------------------------------------------


def test_complaint_added_after_the_reveals_cannot_change_qual():
    """Review finding (fixed, was high): the reveals are bound to the hash of rounds 1-3, so a complaint added
    after them leaves no valid reveal (the ceremony fails instead of yielding a second key), and an honest
    trustee finishes and signs only an outcome of the qualification it revealed under."""
    params = _params(ED, 5, 3)
    trustees, ann, msgs = _deal(params)
    _bad_share(params, ann, msgs, trustees, 1, 2)  # corrupt dealer 1 prepares a complaint for corrupt trustee 2
    late = _check(trustees, msgs)
    assert [(c.accuser, c.dealer) for c in late] == [(2, 1)]
    qual = qualify(params, ann, msgs, [])  # trustee 2 stays silent in round 3: QUAL = everyone
    assert qual.qualified == (1, 2, 3, 4, 5)
    trustees[1].received[1] = (0, 0)  # the accomplice goes on although its share from dealer 1 is bad
    confirmations = confirmed(trustees, msgs, [])
    reveals = {t.index: t.reveal(confirmations) for t in trustees}
    honest = trustees[2:]
    on_time = dkg.Transcript(ann, msgs, [], reveals, {})
    for t in honest:
        t.finish(on_time)

    def add_the_complaint_now():
        later = dkg.Transcript(ann, msgs, late, {i: r for i, r in reveals.items() if i != 1}, {})
        result = later.adjudicate(params)
        assert result.qualified == (2, 3, 4, 5) and result.public_key != on_time.adjudicate(params).public_key
        for t in honest:
            t.finish(later)
            t.sign(later)
        return result

    with pytest.raises(QuorumError):
        add_the_complaint_now()


@pytest.mark.parametrize("n, k, withhold_reveal, withhold_opening", [(2, 2, 2, None), (4, 3, 1, 2)])
def test_below_an_honest_majority_a_withheld_reveal_aborts_attributably(n, k, withhold_reveal, withhold_opening):
    """Review finding (a limit of GJKR, documented in spec sections 6 and 9): with n < 2k-1, fewer than k colluders
    can leave fewer than k honest openers for a dealer that withholds its reveal. The ceremony then fails (it
    cannot yield another key), naming the dealer, and the missing openings are visible: a restart excludes them."""
    params = _params(ED, n, k)
    trustees, ann, msgs = _deal(params)
    complaints = _check(trustees, msgs)
    if n - 1 < k:  # fewer than k reveals left: no trustee opens anything for an outcome that cannot stand
        with pytest.raises(ProtocolError, match=rf"dealers \[{withhold_reveal}\] did not reveal"):
            conclude(params, trustees, ann, msgs, complaints, withhold={withhold_reveal})
        return
    transcript = conclude(params, trustees, ann, msgs, complaints, withhold={withhold_reveal})
    openings = {j: o for j, o in transcript.openings.items() if j != withhold_opening}
    with pytest.raises(ProtocolError, match=f"dealer {withhold_reveal} did not reveal"):
        adjudicate(params, ann, msgs, complaints, transcript.reveals, openings)


def test_a_trustee_refusing_to_sign_is_named():
    """Review finding (a limit of the issue's rule 'every trustee signs', documented in spec section 9): the
    signatures come after the key is public, so a qualified trustee can refuse to sign; verifiers then name it, so
    that a restarted ceremony leaves it out (each such abort costs the adversary one trustee)."""
    setup = _setup(ED, 5, 3)
    params = setup.ceremony_params()
    trustees, transcript, result = dkg.honest_ceremony(params)
    payload, _ = _signed_payload(setup, trustees, transcript, signers={1, 2, 3, 4})  # trustee 5 dislikes K
    with pytest.raises(VerificationError, match=r"missing: \[5\]"):
        parse_ceremony(setup, payload)


def test_trustee_does_not_open_its_share_of_a_dealer_that_revealed():
    params = _params(ED, 4, 2)
    trustees, ann, msgs = _deal(params)
    assert _check(trustees, msgs) == []
    qual = qualify(params, ann, msgs, [])
    confirmations = confirmed(trustees, msgs, [])
    reveals = {t.index: t.reveal(confirmations) for t in trustees}
    assert to_reconstruct(params, qual, msgs, reveals) == ()
    opening = trustees[2].open(msgs, reveals)  # a relay asks it to open: it decides RECON itself
    assert opening.openings == {}, "trustee 3 published its secret share from an honest dealer"
    withheld = {i: r for i, r in reveals.items() if i != 1}
    assert set(trustees[3].open(msgs, withheld).openings) == {1}
    with pytest.raises(ProtocolError, match=r"already opened its shares for dealers \[\] to be reconstructed, not \[1\]"):
        trustees[2].open(msgs, withheld)  # shown other reveals than before: it opens once only


def test_adjudicate_refuses_openings_of_dealers_that_revealed():
    params = _params(ED, 4, 2)
    trustees, ann, msgs = _deal(params)
    assert _check(trustees, msgs) == []
    transcript = conclude(params, trustees, ann, msgs, [], withhold={2})
    assert adjudicate(params, ann, msgs, [], transcript.reveals, transcript.openings).reconstructed == (2,)
    leaky = {j: Opening(j, {**o.openings, **({1: trustees[j - 1].received[1]} if j != 1 else {})})
             for j, o in transcript.openings.items()}
    coefficients = interpolate([Share(j, o.openings[1][0]) for j, o in sorted(leaky.items()) if 1 in o.openings][:2], ED.q)
    assert coefficients == trustees[0].polynomial  # dealer 1 revealed, yet its whole polynomial is in the transcript
    with pytest.raises(QuorumError):
        adjudicate(params, ann, msgs, [], transcript.reveals, leaky)


def test_adjudicate_refuses_a_key_whose_secret_the_transcript_reveals():
    params = _params(ED, 4, 2)
    trustees, ann, msgs = _deal(params)
    msgs = {i: m for i, m in msgs.items() if i in (1, 2)}  # the board dropped the deals of 3 and 4
    for t in trustees[2:]:  # since session 20 a trustee refuses a view without its own deal: 3 and 4 stop here
        with pytest.raises(ProtocolError, match="do not hold the one trustee"):
            t.check_shares(msgs)
    complaints = _check(trustees[:2], msgs)
    with pytest.raises(ProtocolError, match=r"lack those of trustees \[3, 4\]"):  # since session 21: no QUAL at all
        conclude(params, trustees[:2], ann, msgs, complaints, withhold={1, 2}).adjudicate(params)

    def pair(dealer, j):  # what trustee j holds from the dealer
        d = trustees[dealer - 1]
        return evaluate(d.polynomial, j, ED.q), evaluate(d.blinding, j, ED.q)

    # the reveals withheld, and openings of 1 and 2 by 3 and 4 published regardless:
    transcript = dkg.Transcript(ann, msgs, complaints, {}, {j: Opening(j, {i: pair(i, j) for i in (1, 2)}) for j in (3, 4)})

    def published():
        result = transcript.adjudicate(params)
        assert result.qualified == result.reconstructed == (1, 2)
        secret = sum(interpolate([Share(j, o.openings[i][0]) for j, o in sorted(transcript.openings.items())], ED.q)[0]
                     for i in (1, 2)) % ED.q
        assert ED.exp_g(secret) == result.public_key  # anyone decrypts every ballot
        return result

    with pytest.raises(ProtocolError):
        published()


def _negated_reveal(params, dealer, message, qual):
    """modp: dealer's reveal with A_0 replaced by -A_0 (p - A_0, outside the subgroup), both proofs made honestly
    over the negated statement: each equation then holds up to the sign (-1)^c, which modp's `accepts` ignores."""
    g, h = params.group, pedersen_h(params.group)
    feldman = [g.p - g.exp_g(dealer.polynomial[0])] + [g.exp_g(a) for a in dealer.polynomial[1:]]
    proofs = []
    for m, (a, b) in enumerate(zip(dealer.polynomial, dealer.blinding)):
        bound = qual.transcript_hash
        pf = _schnorr_over(g, g.g, feldman[m], a, params.ctx("dkg-feldman", dealer.index, m, bound))
        pb = _schnorr_over(g, h, g.div(message.commitments[m], feldman[m]), b, params.ctx("dkg-blinding", dealer.index, m, bound))
        proofs.append((pf, pb))
    return Reveal(dealer.index, tuple(feldman), tuple(proofs))


def _schnorr_over(g, base, X, x, ctx):
    """A Schnorr proof of x for the statement (base, X) as given, whether or not X = base^x exactly."""
    w = g.random_scalar()
    a = g.exp(base, w)
    return SchnorrProof(a, (w + challenge(g, SchnorrProof.TAG, ctx, [base, X], [a]) * x) % g.q)


@pytest.mark.parametrize("message", ["reveal", "complaint"])
def test_verification_does_not_rely_on_the_parser_for_subgroup_membership(message):
    g = MODP
    params = _params(g, 3, 2)
    trustees, ann, msgs = _deal(params)
    assert _check(trustees, msgs) == []
    qual = qualify(params, ann, msgs, [])
    if message == "reveal":
        forged = _negated_reveal(params, trustees[0], msgs[1], qual)
        confirmations = confirmed(trustees, msgs, [])
        reveals = {1: forged, 2: trustees[1].reveal(confirmations), 3: trustees[2].reveal(confirmations)}
        with pytest.raises(DecodeError):
            Reveal.from_json(params, forged.to_json(g))  # what the record and the relay would say
        if not forged.valid(params, msgs[1], qual):
            return  # fixed in Reveal.valid
        try:
            outcome = adjudicate(params, ann, msgs, [], reveals, {})
        except DecodeError:
            return  # fixed: adjudicate refuses the non-member
        assert g.is_member(outcome.public_key), "joint key outside the subgroup"
    else:
        t2, ct = trustees[1], msgs[1].shares[2]
        S = g.p - hybrid.kem_secret(g, t2.enc_secret, ct)
        ctx = params.ctx("dkg-complaint", 2, 1)
        w = g.random_scalar()
        a, b = g.exp_g(w), g.exp(ct.ephemeral, w)
        c = challenge(g, ChaumPedersenProof.TAG, ctx, [g.g, t2.enc_key, ct.ephemeral, S], [a, b])
        framing = Complaint(2, 1, S, ChaumPedersenProof(a, b, (w + c * t2.enc_secret) % g.q))
        with pytest.raises(DecodeError):
            Complaint.from_json(params, framing.to_json(g))
        try:
            qual = qualify(params, ann, msgs, [framing])
        except DecodeError:
            return  # fixed: qualify refuses the non-member
        assert qual.qualified == (1, 2, 3), "honest dealer 1 framed"


def test_complaint_parser_refuses_a_complaint_about_oneself():
    params = _params(ED, 3, 2)
    trustees, ann, msgs = _deal(params)
    doc = _complaint(params, trustees[0], msgs, 2).to_json(ED)
    with pytest.raises(DecodeError, match=r"complaint\.dealer"):
        Complaint.from_json(params, {**doc, "dealer": 1})


def test_ceremony_result_parser_names_rejected_complaints_field():
    params = _params(ED, 3, 2)
    _, _, result = dkg.honest_ceremony(params)
    doc = result.to_json(ED)
    with pytest.raises(DecodeError, match=r"ceremony\.rejected_complaints"):
        CeremonyResult.from_json(params, {**doc, "rejected_complaints": [[0, 1]]})


@pytest.mark.parametrize("edit", ["duplicate qualified", "reason not a string", "reconstructed outside qualified"])
def test_ceremony_result_parser_is_strict(edit):
    params = _params(ED, 3, 2)
    _, _, result = dkg.honest_ceremony(params)
    doc = result.to_json(ED)
    bad = {"duplicate qualified": {**doc, "qualified": [1, 1, 2, 3]},
           "reason not a string": {**doc, "disqualified": {"1": 5}},
           "reconstructed outside qualified": {**doc, "qualified": [1, 2], "reconstructed": [3]}}[edit]
    with pytest.raises(DecodeError):
        CeremonyResult.from_json(params, bad)


def test_parse_ceremony_requires_signatures_in_trustee_order():
    setup = _setup(ED, 3, 2)
    trustees, transcript, _ = dkg.honest_ceremony(setup.ceremony_params())
    payload, _ = _signed_payload(setup, trustees, transcript)
    parse_ceremony(setup, payload)
    with pytest.raises(DecodeError, match=r"signatures"):
        parse_ceremony(setup, {**payload, "signatures": payload["signatures"][::-1]})


# --------------------------------------------------------------------------------------------
# Attacks the ceremony resists
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("group", [ED, MODP], ids=["ed25519", "modp"])
def test_colluders_below_k_cannot_block_reconstruction_with_an_honest_majority(group):
    """n=5, k=3: dealer 1 withholds its reveal, colluder 2 withholds its opening, then publishes a forged one,
    then trustee 3's pair under its own index: three honest openings (3, 4, 5) rebuild dealer 1, same key."""
    params = _params(group, 5, 3)
    trustees, ann, msgs = _deal(params)
    assert _check(trustees, msgs) == []
    revealed = conclude(params, trustees, ann, msgs, []).adjudicate(params)
    transcript = conclude(params, trustees, ann, msgs, [], withhold={1})
    honest = {j: o for j, o in transcript.openings.items() if j != 2}
    s, t = transcript.openings[2].openings[1]
    for forged in (None, Opening(2, {1: ((s + 1) % group.q, t)}), Opening(2, {1: transcript.openings[3].openings[1]})):
        openings = honest if forged is None else {**honest, 2: forged}
        result = adjudicate(params, ann, msgs, [], transcript.reveals, openings)
        assert result.reconstructed == (1,) and result.public_key == revealed.public_key
        assert result.verification_keys == revealed.verification_keys


def test_dealer_cannot_reveal_another_polynomial_even_with_valid_feldman_proofs():
    """A corrupt dealer reveals A'_0 = g^(a_0 + 1) with a valid Schnorr proof of a_0 + 1, and a blinding proof of b_0
    or of b_0 shifted: the blinding proof is about C_0 / A'_0, whose log_h it cannot know (that would give log_g h).
    Also a reveal made for another ceremony (context) and errors spread over two proofs so that they would cancel in
    a plain product. Each counts as withheld and the key is the one the shares fix."""
    params = _params(ED, 5, 3)
    trustees, ann, msgs = _deal(params)
    assert _check(trustees, msgs) == []
    honest = conclude(params, trustees, ann, msgs, []).adjudicate(params)
    d = trustees[0]
    h = pedersen_h(ED)
    qual = qualify(params, ann, msgs, [])
    good = d.reveal(confirmed(trustees, msgs, []))
    a0 = (d.polynomial[0] + 1) % ED.q
    pf = SchnorrProof.prove(ED, a0, params.ctx("dkg-feldman", 1, 0, qual.transcript_hash))
    forgeries = []
    for b in (d.blinding[0], (d.blinding[0] - 1) % ED.q):
        pb = SchnorrProof.prove(ED, b, params.ctx("dkg-blinding", 1, 0, qual.transcript_hash), base=h)
        forgeries.append(Reveal(1, (ED.exp_g(a0),) + good.feldman[1:], ((pf, pb),) + good.proofs[1:]))
    forgeries.append(reveal_by_hand(_params(ED, 5, 3, b"another election"), d, qual))
    (pf0, pb0), (pf1, pb1) = good.proofs[0], good.proofs[1]
    shifted0 = SchnorrProof(ED.mul(pf0.commitment, ED.g), pf0.response)
    shifted1 = SchnorrProof(ED.div(pf1.commitment, ED.g), pf1.response)
    forgeries.append(dataclasses.replace(good, proofs=((shifted0, pb0), (shifted1, pb1)) + good.proofs[2:]))
    assert good.valid(params, msgs[1], qual)
    for forged in forgeries:
        assert not forged.valid(params, msgs[1], qual)
        transcript = conclude(params, trustees, ann, msgs, [])
        reveals = {**transcript.reveals, 1: forged}
        openings = {t.index: t.open(msgs, reveals) for t in trustees[1:]}
        result = adjudicate(params, ann, msgs, [], reveals, openings)
        assert result.reconstructed == (1,) and result.public_key == honest.public_key


def test_disqualified_dealer_cannot_come_back_with_a_valid_reveal():
    """Dealer 1, disqualified by an upheld complaint, posts a perfectly valid reveal anyway: ignored, the key is the
    product over QUAL only, and no opening of its shares is asked for."""
    params = _params(ED, 4, 2)
    trustees, ann, msgs = _deal(params)
    _bad_share(params, ann, msgs, trustees, 1, 3)
    complaints = _check(trustees, msgs)
    qual = qualify(params, ann, msgs, complaints)
    assert qual.qualified == (2, 3, 4)
    confirmations = confirmed(trustees, msgs, complaints)
    reveals = {t.index: t.reveal(confirmations) for t in trustees[1:]}
    reveals[1] = reveal_by_hand(params, trustees[0], qual)  # it posts one anyway
    result = adjudicate(params, ann, msgs, complaints, reveals, {})
    assert result.qualified == (2, 3, 4) and result.reconstructed == ()
    assert result.public_key == ED.prod(reveals[i].feldman[0] for i in (2, 3, 4))


def test_colluders_cannot_frame_an_honest_dealer():
    """Trustees 2 and 3 collude against honest dealer 1: a true KEM secret (opens a valid share: rejected), a
    KEM secret of another ciphertext, a proof made for another accuser or dealer, and complaints about dealer 1's
    share to an honest trustee (4) whose KEM secret they cannot make: dealer 1 stays qualified."""
    params = _params(ED, 4, 2)
    trustees, ann, msgs = _deal(params)
    t2, t3 = trustees[1], trustees[2]
    true2 = _complaint(params, t2, msgs, 1)
    other_ct = hybrid.kem_secret(ED, t2.enc_secret, msgs[3].shares[2])
    forged = [
        true2,
        dataclasses.replace(true2, kem_secret=other_ct),
        dataclasses.replace(true2, accuser=3),
        dataclasses.replace(_complaint(params, t3, msgs, 1), accuser=4),
        dataclasses.replace(_complaint(params, t2, msgs, 3), dealer=1),
        Complaint(4, 1, ED.exp_g(7), true2.proof),
        true2, true2,  # repeated
    ]
    result = qualify(params, ann, msgs, forged)
    assert result.qualified == (1, 2, 3, 4)
    assert {(2, 1), (3, 1), (4, 1)} == set(result.rejected_complaints)


T8 = ref_decode(bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"))


def _with_torsion(point: bytes) -> bytes:
    return ref_encode(ref_add(ref_decode(point), T8))


def test_small_order_components_are_refused_where_they_could_frame_a_dealer():
    """ed25519: an accuser whose encryption key E carries a torsion component T would make an honest dealer's
    E^r differ from R^e and its own complaint 'open' the dealer's share to garbage. The key, the KEM secret and the
    ephemeral are all parsed with the full subgroup test."""
    params = _params(ED, 3, 2)
    trustees, ann, msgs = _deal(params)
    doc = ann[2].to_json(ED)
    with pytest.raises(DecodeError, match=r"announcement\.enc_key"):
        Announcement.from_json(params, {**doc, "enc_key": _with_torsion(ann[2].enc_key).hex()})
    doc = _complaint(params, trustees[1], msgs, 1).to_json(ED)
    with pytest.raises(DecodeError, match=r"complaint\.kem_secret"):
        Complaint.from_json(params, {**doc, "kem_secret": _with_torsion(bytes.fromhex(doc["kem_secret"])).hex()})
    doc = msgs[1].to_json(ED)
    ct = doc["shares"]["2"]
    with pytest.raises(DecodeError, match=r"dealer\.shares\.2\.ephemeral"):
        torsioned = {**ct, "ephemeral": _with_torsion(bytes.fromhex(ct["ephemeral"])).hex()}
        DealerMessage.from_json(params, {**doc, "shares": {**doc["shares"], "2": torsioned}})


def test_no_feldman_value_is_public_before_qual():
    """Rounds 1-3 publish no g^(a_im): the commitments are Pedersen's (hiding), the shares are encrypted, and a
    rejected complaint opens one share pair only (f_i(j), f'_i(j)), never a coefficient's exponential."""
    params = _params(ED, 5, 3)
    trustees, ann, msgs = _deal(params)
    complaints = [_complaint(params, trustees[1], msgs, 1)]
    public = set()
    for m in msgs.values():
        public.update(m.commitments)
        for ct in m.shares.values():
            public.update((ct.ephemeral, ct.proof.commitment))
    for a in ann.values():
        public.update((a.enc_key, a.enc_proof.commitment))
    for c in complaints:
        public.update((c.kem_secret, c.proof.a, c.proof.b))
    feldman = {ED.exp_g(a) for t in trustees for a in t.polynomial}
    assert not public & feldman


def test_trustee_methods_refuse_or_ignore_lists_that_do_not_match():
    """confirm() refuses a QUAL with a dealer it holds no valid share from, and a second, different QUAL; open()
    opens only what it finds to reconstruct, never its own dealing; finish() refuses a transcript of another QUAL
    and one without its own deal message as it sent it."""
    params = _params(ED, 4, 2)
    trustees, ann, msgs = _deal(params)
    _bad_share(params, ann, msgs, trustees, 1, 2)
    complaints = _check(trustees, msgs)
    t2 = trustees[1]
    with pytest.raises(ProtocolError, match=r"\[1\]"):
        t2.confirm(msgs, [])  # the complaint dropped: dealer 1 qualified, whose valid share it does not hold
    assert t2.confirm(msgs, complaints) is not None
    with pytest.raises(ProtocolError, match="another qualification"):
        t2.confirm(msgs, complaints * 2)
    with pytest.raises(ProtocolError, match="confirmation"):
        t2.open(msgs, {})  # before every qualified trustee's confirmation: it opens nothing
    confirmations = confirmed(trustees, msgs, complaints)
    with pytest.raises(ProtocolError, match=r"\[3\] have not confirmed"):
        t2.reveal({i: c for i, c in confirmations.items() if i != 3})
    reveals = {t.index: t.reveal(confirmations) for t in trustees[1:]}
    with pytest.raises(ProtocolError, match="did not reveal"):
        copy.copy(t2).open(msgs, {})  # no reveal at all: fewer than k, it opens nothing for an outcome that cannot stand
    opener = copy.copy(t2)  # another run of round 5 (the record of what it opened starts empty)
    assert opener.open(msgs, {i: r for i, r in reveals.items() if i != 2}).openings == {}  # never its own dealing
    assert set(copy.copy(t2).open(msgs, {i: r for i, r in reveals.items() if i != 3}).openings) == {3}
    transcript = conclude(params, trustees, ann, msgs, complaints)
    t2.finish(transcript)  # the outcome it adjudicates itself (since session 20 no result is handed to it)
    with pytest.raises(QuorumError):  # the complaint dropped: another QUAL, whose reveals are void
        t2.finish(dataclasses.replace(transcript, complaints=[]))
    with pytest.raises(ProtocolError, match="do not hold the one trustee 2 sent"):
        t2.finish(dataclasses.replace(transcript, messages={**transcript.messages, 2: transcript.messages[3]}))


def _transcript_edits(params, trustees, transcript):
    """(name, edited transcript): one field of one message changed for another well-formed value."""
    g = params.group
    t = transcript
    r1, o3 = t.reveals[1], t.openings[3]
    fresh_reveal = trustees[0].reveal(confirmed(trustees, t.messages, t.complaints))  # new proof nonces
    m4 = t.messages[4]
    ct = m4.shares[1]
    c0 = t.complaints[0]
    s, b = o3.openings[2]
    return [
        ("deal commitment", dataclasses.replace(t, messages={**t.messages, 4: dataclasses.replace(
            m4, commitments=(g.mul(m4.commitments[0], g.g),) + m4.commitments[1:])})),
        ("share ciphertext body", dataclasses.replace(t, messages={**t.messages, 4: dataclasses.replace(
            m4, shares={**m4.shares, 1: dataclasses.replace(ct, body=ct.body[:-1] + bytes([ct.body[-1] ^ 1]))})})),
        ("share re-encrypted", dataclasses.replace(t, messages={**t.messages, 4: dataclasses.replace(
            m4, shares={**m4.shares, 1: hybrid.encrypt(g, t.announcements[1].enc_key, b"\0" * 64,
                                                       params.ctx("dkg-share", 4, 1))})})),
        ("complaint order", dataclasses.replace(t, complaints=t.complaints[::-1])),
        ("complaint dropped", dataclasses.replace(t, complaints=t.complaints[1:])),
        ("complaint repeated", dataclasses.replace(t, complaints=t.complaints + [c0])),
        ("reveal with fresh proofs", dataclasses.replace(t, reveals={**t.reveals, 1: fresh_reveal})),
        ("reveal proof commitment", dataclasses.replace(t, reveals={**t.reveals, 1: dataclasses.replace(
            r1, proofs=((SchnorrProof(g.g, r1.proofs[0][0].response), r1.proofs[0][1]),) + r1.proofs[1:])})),
        ("opening value", dataclasses.replace(t, openings={**t.openings, 3: Opening(3, {2: ((s + 1) % g.q, b)})})),
        ("opening dropped", dataclasses.replace(t, openings={j: o for j, o in t.openings.items() if j != 5})),
        ("opening blinding", dataclasses.replace(t, openings={**t.openings, 3: Opening(3, {2: (s, (b + 1) % g.q)})})),
    ]


def test_every_message_field_is_bound_into_the_transcript_hash():
    """Each edit either breaks adjudication or changes the transcript hash, even when the outcome (QUAL, RECON, key)
    stays the same (a re-proved reveal, a dropped surplus opening, a changed share of a disqualified dealer).
    Edits of rounds 1-3 (complaints reordered, dropped, repeated) now void every reveal, bound to those rounds."""
    _, params, trustees, transcript, result, _ = _eventful_record(ED)
    same_key = 0
    for name, edited in _transcript_edits(params, trustees, transcript):
        try:
            other = edited.adjudicate(params)
        except QuorumError:
            continue
        assert other.transcript_hash != result.transcript_hash, name
        same_key += other.public_key == result.public_key
    assert same_key >= 4


BOARD_EDITS = {
    "drop upheld complaint": lambda p: p.update(complaints=[c for c in p["complaints"] if c["accuser"] != 4]),
    "drop rejected complaint": lambda p: p.update(complaints=[c for c in p["complaints"] if c["accuser"] != 3]),
    "reorder complaints": lambda p: p.update(complaints=p["complaints"][::-1]),
    "repeat a complaint": lambda p: p.update(complaints=p["complaints"] + p["complaints"][:1]),
    "drop a disqualified dealer's deal": lambda p: p.update(dealers=p["dealers"][:4]),
    "drop a reveal": lambda p: p.update(reveals=p["reveals"][1:]),
    "drop a surplus opening": lambda p: p.update(openings=p["openings"][:3]),
    "drop openings below k": lambda p: p.update(openings=p["openings"][:2]),
    "restate the key": lambda p: p.update(public_key=p["verification_keys"][0]),
    "restate a verification key": lambda p: p["verification_keys"].reverse(),
    "restate QUAL": lambda p: p.update(qualified=[1, 2, 3]),
    "restate the hash": lambda p: p.update(transcript_hash="00" * 32),
    "drop a signature": lambda p: p.update(signatures=p["signatures"][1:]),
    "repeat a signature": lambda p: p.update(signatures=p["signatures"] + p["signatures"][:1]),
    "swap signatures between trustees": lambda p: p["signatures"][0].update(index=2) or p["signatures"][1].update(index=1),
}


@pytest.fixture(scope="module")
def eventful_ed25519():
    return _eventful_record(ED)


@pytest.mark.parametrize("edit", sorted(BOARD_EDITS))
def test_board_edits_of_the_recorded_ceremony_are_caught(eventful_ed25519, edit):
    """The board edits the key_ceremony payload and restates every outcome from the edited transcript; only the
    trustees' signatures, which it cannot make, are kept."""
    setup, _, trustees, _, _, payload = eventful_ed25519
    assert parse_ceremony(setup, payload)
    edited = copy.deepcopy(payload)
    BOARD_EDITS[edit](edited)
    if edit not in ("restate the key", "restate a verification key", "restate QUAL", "restate the hash") \
            and "signature" not in edit:
        edited = _board_rehash(setup, edited)
    with pytest.raises(QuorumError):
        parse_ceremony(setup, edited)


def test_board_cannot_add_a_valid_signature_of_a_disqualified_trustee(eventful_ed25519):
    setup, params, trustees, transcript, result, payload = eventful_ed25519
    extra = {"index": 5, "signature": trustees[4].sign(transcript).to_json(ED)}
    with pytest.raises(VerificationError, match="signatures"):
        parse_ceremony(setup, {**payload, "signatures": payload["signatures"] + [extra]})


def test_modp_board_cannot_flip_signs_in_the_recorded_ceremony():
    """modp accepts a proof equation up to sign, so the board tries -x (p - x) on a reveal's proof commitment, on a
    Feldman value and on a signature's commitment: the first breaks the proof (its challenge hashes the bytes), the
    others are refused as non-residues or break the signature."""
    setup = _setup(MODP, 3, 2)
    trustees, transcript, _ = dkg.honest_ceremony(setup.ceremony_params(), withhold={3})
    payload, _ = _signed_payload(setup, trustees, transcript)
    parse_ceremony(setup, payload)
    neg = lambda x: (MODP.p - int(x, 16)).to_bytes(512, "big").hex()  # noqa: E731
    edits = []
    p = copy.deepcopy(payload)
    p["reveals"][0]["proofs"][0]["blinding"]["commitment"] = neg(p["reveals"][0]["proofs"][0]["blinding"]["commitment"])
    edits.append(_board_rehash(setup, p))
    p = copy.deepcopy(payload)
    p["reveals"][1]["feldman"][1] = neg(p["reveals"][1]["feldman"][1])
    edits.append(p)
    p = copy.deepcopy(payload)
    p["signatures"][0]["signature"]["commitment"] = neg(p["signatures"][0]["signature"]["commitment"])
    edits.append(p)
    for p in edits:
        with pytest.raises(QuorumError):
            parse_ceremony(setup, p)


def _parser_cases(params, trustees, transcript):
    g = params.group
    ann = transcript.announcements[1].to_json(g)
    deal = transcript.messages[1].to_json(g)
    rev = transcript.reveals[1].to_json(g)
    op = transcript.openings[1].to_json(g)
    comp = transcript.complaints[0].to_json(g)
    ident, big = g.to_hex(g.identity), g.q.to_bytes(32, "big").hex()
    return [
        (Announcement, {**ann, "index": True}, r"announcement\.index"),
        (Announcement, {**ann, "index": 6}, r"announcement\.index"),
        (Announcement, {**ann, "enc_key": ident}, r"announcement\.enc_key"),
        (Announcement, {**ann, "extra": 1}, r"announcement"),
        (DealerMessage, {**deal, "index": 0}, r"dealer\.index"),
        (DealerMessage, {**deal, "commitments": deal["commitments"] + deal["commitments"][:1]}, r"dealer\.commitments"),
        (DealerMessage, {**deal, "commitments": [ident] + deal["commitments"][1:]}, r"dealer\.commitments\[0\]"),
        (DealerMessage, {**deal, "shares": {**deal["shares"], "1": deal["shares"]["2"]}}, r"dealer\.shares"),
        (DealerMessage, {**deal, "shares": {("02" if j == "2" else j): v for j, v in deal["shares"].items()}},
         r"dealer\.shares"),
        (DealerMessage, {**deal, "shares": list(deal["shares"].values())}, r"dealer\.shares"),
        (DealerMessage, {**deal, "shares": {**deal["shares"], "2": {**deal["shares"]["2"], "body": "00"}}},
         r"dealer\.shares\.2\.body"),
        (Complaint, {**comp, "accuser": 0}, r"complaint\.accuser"),
        (Complaint, {**comp, "dealer": "1"}, r"complaint\.dealer"),
        (Complaint, {**comp, "kem_secret": ident}, r"complaint\.kem_secret"),
        (Reveal, {**rev, "index": 6}, r"reveal\.index"),
        (Reveal, {**rev, "feldman": rev["feldman"] + rev["feldman"][:1]}, r"reveal\.feldman"),
        (Reveal, {**rev, "feldman": [ident] + rev["feldman"][1:]}, r"reveal\.feldman\[0\]"),
        (Reveal, {**rev, "proofs": rev["proofs"][:-1]}, r"reveal\.proofs"),
        (Reveal, {**rev, "proofs": [{**rev["proofs"][0], "blinding": {**rev["proofs"][0]["blinding"], "response": big}}]
                  + rev["proofs"][1:]}, r"reveal\.proofs\[0\]\.blinding\.response"),
        (Opening, {**op, "index": False}, r"opening\.index"),
        (Opening, {**op, "openings": {"1": op["openings"]["5"]}}, r"opening\.openings"),
        (Opening, {**op, "openings": {"6": op["openings"]["5"]}}, r"opening\.openings"),
        (Opening, {**op, "openings": {"05": op["openings"]["5"]}}, r"opening\.openings"),
        (Opening, {**op, "openings": {"5": {**op["openings"]["5"], "share": big}}}, r"opening\.openings\.5\.share"),
        (Opening, {**op, "openings": [op["openings"]["5"]]}, r"opening\.openings"),
    ]


def test_message_parsers_are_strict_and_name_the_field():
    params = _params(ED, 5, 3)
    trustees, ann, msgs = _deal(params)
    assert _check(trustees, msgs) == []
    complaints = [_complaint(params, trustees[1], msgs, 3)]
    transcript = conclude(params, trustees, ann, msgs, complaints, withhold={5})
    for cls, doc, field in _parser_cases(params, trustees, transcript):
        with pytest.raises(DecodeError, match=field):
            cls.from_json(params, doc)


def test_record_parser_refuses_out_of_order_or_foreign_messages(eventful_ed25519):
    """parse_ceremony: lists in increasing trustee order (no index twice), each message parsed with its field
    named."""
    setup, _, _, _, _, payload = eventful_ed25519
    cases = {
        "dealers": {**payload, "dealers": payload["dealers"][::-1]},
        "announcements": {**payload, "announcements": payload["announcements"][:1] * 2 + payload["announcements"][2:]},
        "openings": {**payload, "openings": payload["openings"][::-1]},
        r"complaints\[0\]": {**payload, "complaints": [{**payload["complaints"][0], "accuser": 9}]},
        r"signatures\[0\]\.index": {**payload, "signatures": [{**payload["signatures"][0], "index": 0}]},
        "qualified": {**payload, "qualified": "1234"},
    }
    for field, bad in cases.items():
        with pytest.raises(DecodeError, match=rf"key_ceremony\.{field}"):
            parse_ceremony(setup, bad)
