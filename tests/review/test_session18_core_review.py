"""Session 18 adversarial review of the threshold core: threshold/dkg.py, decryption.py, hybrid.py, keystore.py,
keystore_browser.py (and how web/ceremony.py drives the DKG where it matters to an attack).

xfail (strict) tests are confirmed defects: each fails today and passes once fixed; the reason says what is wrong
and why it matters. The few passing tests add coverage the existing suites lack.

ATTACKS.md rows: 10 (DKG bias / equivocation, transcript signatures), 11 (threshold edge cases), Security rules 3-4.
"""

from __future__ import annotations

import pytest

from threshold import dkg, keystore, keystore_browser
from threshold.dkg import (CeremonyParams, DealerMessage, Opening, Trustee, adjudicate, conclude, qualify,
                           verify_signature)
from threshold.errors import DecodeError, ProtocolError, QuorumError, VerificationError
from threshold.groups import get_group
from threshold.shamir import Share, evaluate, interpolate
from tests.review.dkg_helpers import confirmed, reveal_by_hand

ED = get_group("ed25519")
MODP = get_group("modp")
FAST = {"time_cost": 1, "memory_cost": 8 * 1024, "parallelism": 1}


def _deal(params):
    trustees = [Trustee(params, i) for i in range(1, params.n + 1)]
    announcements = {t.index: t.announce() for t in trustees}
    messages = {t.index: t.deal(announcements) for t in trustees}
    return trustees, announcements, messages


def _check(trustees, messages):
    return [c for t in trustees for c in t.check_shares(messages)]


# --------------------------------------------------------------------------------------------
# Defects
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("group", [ED, MODP], ids=["ed25519", "modp"])
def test_fewer_than_k_valid_reveals_leave_the_joint_secret_to_fewer_than_k_trustees(group):
    """Failed before (fixed in session 18): threshold/dkg.py adjudicate (and web/ceremony.py _closing) only refuse a
    result when EVERY qualified dealer is reconstructed; with fewer than k valid reveals the joint secret is
    sum(a_i0 of the revealers) + public values, so fewer than k trustees (the revealers) hold the election key
    without anyone else. Reachable with the library's own flow: a trustee that did not deal (disqualified) still
    opens, so openers reach k while only k-1 dealers revealed. Require at least k valid reveals (a quorum of
    private contributions).

    Row 10/11: n=5, k=3. Trustee 5 never deals (disqualified, but holds shares and opens as the spec asks),
    dealers 3 and 4 do not reveal (offline or withholding); dealers 1 and 2 reveal. Openings of 1, 2 and 5
    rebuild     3 and 4 in public, and then trustees 1 and 2 alone (2 < k) know the joint secret."""
    params = CeremonyParams(group, 5, 3, b"session18-few-reveals")
    trustees, announcements, messages = _deal(params)
    del messages[5]  # trustee 5 did not deal
    complaints = _check(trustees[:4], messages)  # (since session 20 trustee 5 refuses a view without its deal)
    with pytest.raises(ProtocolError, match=r"lack those of trustees \[5\]"):  # since session 21 nobody confirms it
        conclude(params, trustees[:4], announcements, messages, complaints, withhold={3, 4})
    qualification = dkg.qualify(params, announcements, messages, complaints)  # the record's adjudication still refuses
    reveals = {i: reveal_by_hand(params, trustees[i - 1], qualification) for i in (1, 2)}

    def pair(dealer, j):  # what trustee j holds from the dealer
        d = trustees[dealer - 1]
        return evaluate(d.polynomial, j, group.q), evaluate(d.blinding, j, group.q)

    openings = {j: Opening(j, {d: pair(d, j) for d in (3, 4)}) for j in (1, 2, 5)}  # published anyway
    transcript = dkg.Transcript(announcements, messages, complaints, reveals, openings)
    assert sorted(transcript.reveals) == [1, 2] and sorted(transcript.openings) == [1, 2, 5]
    with pytest.raises(ProtocolError):
        result = transcript.adjudicate(params)
        public = sum(interpolate([Share(j, o.openings[d][0]) for j, o in sorted(transcript.openings.items())][:3],
                                 group.q)[0] for d in (3, 4))
        two = (trustees[0].polynomial[0] + trustees[1].polynomial[0] + public) % group.q
        assert group.exp_g(two) != result.public_key, "trustees 1 and 2 alone (k = 3) hold the joint secret"


def test_trustee_does_not_sign_an_outcome_its_own_share_does_not_fit():
    """Failed before (fixed in session 18): threshold/dkg.py Trustee.sign only compares the qualification hash; it
    signs an outcome in which its own share does not match its verification key (finish() would refuse it).
    Under equivocation (the relay or dealer showed this trustee another deal than the one in the transcript) the
    trustee's signature then vouches for a transcript it never checked: exactly what row 10's signatures are
    meant to expose. The browser (ceremony.js) finishes before signing; the Python API does not. sign() should
    run finish()'s checks."""
    params = CeremonyParams(ED, 3, 2, b"session18-equivocation")
    trustees, announcements, messages = _deal(params)
    twin = Trustee(params, 1)  # dealer 1's second dealing, shown to trustee 3 only
    twin.enc_secret, twin.enc_key = trustees[0].enc_secret, trustees[0].enc_key
    assert trustees[2].check_shares({**messages, 1: twin.deal(announcements)}) == []
    assert _check(trustees[:2], messages) == []
    confirmations = confirmed(trustees, messages, [])
    reveals = {t.index: t.reveal(confirmations) for t in trustees}
    transcript = dkg.Transcript(announcements, messages, [], reveals, {})
    result = transcript.adjudicate(params)
    with pytest.raises(VerificationError):
        trustees[2].finish(transcript)  # its share from dealer 1 is not the published one
    with pytest.raises(QuorumError):
        signature = trustees[2].sign(transcript)
        assert not verify_signature(params, announcements[3], result, signature), \
            "trustee 3 signed a transcript whose deal from dealer 1 it never saw"


def test_relay_altering_a_share_ciphertext_cannot_convict_an_honest_dealer():
    """Failed before (fixed in session 18): threshold/dkg.py: deal messages carry no signature of their dealer (the
    ephemeral proofs bind R to the aad, not the body), so a relay that flips one byte of an honest dealer's
    share ciphertext gets the recipient's complaint upheld and the record 'proves' the honest dealer cheated
    ('complaint ... upheld: invalid share'); spec section 9 then has restarts leave it out. Sign each deal
    message (body included) with the announced key so that an altered message is refused as not the dealer's
    instead of convicting it."""
    params = CeremonyParams(ED, 3, 2, b"session18-relay")
    trustees, announcements, messages = _deal(params)
    doc = messages[1].to_json(ED)
    body = doc["shares"]["2"]["body"]
    doc["shares"]["2"]["body"] = body[:-2] + ("00" if body[-2:] != "00" else "01")
    try:
        altered = DealerMessage.from_json(params, doc)
        seen = {**messages, 1: altered}
        qualification = qualify(params, announcements, seen, _check(trustees, seen))
    except QuorumError:
        return  # the altered message is refused as not dealer 1's
    assert 1 not in qualification.disqualified, qualification.disqualified[1]


def test_keystore_seal_refuses_parameters_that_unseal_refuses(tmp_path):
    """Failed before (fixed in session 18): threshold/keystore.py seal/save accept any KDF parameters (memory_cost=8
    KiB, a bool time_cost) and write a file that unseal refuses (_LIMITS): the trustee's only copy of its share
    is then both trivially brute-forced and unreadable. Validate params in seal against the same limits
    (ValueError) before writing anything."""
    for params in ({"time_cost": 1, "memory_cost": 8, "parallelism": 1}, dict(FAST, time_cost=True),
                   dict(FAST, parallelism=0)):
        with pytest.raises(ValueError):
            keystore.save(tmp_path / "trustee.json", {"secret": "s"}, "pw", params)
        assert not (tmp_path / "trustee.json").exists()


@pytest.mark.parametrize("passphrase", ["\ud800", "pass\udfffword"])
def test_lone_surrogate_passphrase_is_a_named_decode_error(passphrase):
    """Failed before (fixed in session 18): threshold/keystore.py _derive and keystore_browser.py _derive call
    passphrase.encode('utf-8') unguarded: a lone surrogate raises a bare UnicodeEncodeError (not a QuorumError,
    not naming the passphrase), from unseal too, where callers expect DecodeError/VerificationError (rule 4).
    keystore.js refuses it as DecodeError('passphrase', ...); do the same in Python before deriving."""
    sealed = keystore.seal({"s": 1}, "pw", FAST)
    browser = keystore_browser.seal({"s": 1}, "pw")
    for call in (lambda: keystore.seal({"s": 1}, passphrase, FAST), lambda: keystore.unseal(sealed, passphrase),
                 lambda: keystore_browser.seal({"s": 1}, passphrase),
                 lambda: keystore_browser.unseal(browser, passphrase)):
        with pytest.raises(DecodeError) as info:
            call()
        assert info.value.field == "passphrase"


# --------------------------------------------------------------------------------------------
# Checked and sound (coverage the other suites lack)
# --------------------------------------------------------------------------------------------


def test_kdf_header_lowered_within_the_limits_does_not_open_the_file():
    """A file whose argon2 parameters or salt were edited (lowered to the floor unseal accepts) no longer opens:
    the header is an input of the key, so no downgrade yields the secret."""
    sealed = keystore.seal({"s": 1}, "pw", {"time_cost": 2, "memory_cost": 16 * 1024, "parallelism": 2})
    kdf = sealed["kdf"]
    for edit in ({"time_cost": 1}, {"memory_cost": 8 * 1024}, {"parallelism": 1}, {"salt": "00" * 16}):
        with pytest.raises(VerificationError):
            keystore.unseal(dict(sealed, kdf=dict(kdf, **edit)), "pw")
    assert keystore.unseal(sealed, "pw") == {"s": 1}
