"""A whole election on the board: lifecycle refusals, bad input stored nowhere, re-votes, replays and copies,
Benaloh challenges, tracking codes, trustees refusing a tally they cannot recompute (ATTACKS.md rows 1-2, 8-9, 12-15)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from threshold.elgamal import Ciphertext
from threshold.errors import DecodeError, ProtocolError, QuorumError, VerificationError
from threshold.proofs import RangeProof
from voting import credentials, db
from voting.ballot import ballot_hash, encrypt_ballot, next_tracker, parse_ballot, reveal_json, selection_context, contest_context, signed_body
from voting.demo import run_demo
from voting.tally import trustee_decrypt
from voting.verifier import verify_record
from voting_helpers import CHOICE, OTHER, Scenario, finish, open_election


KAT = {  # computed once from the definitions in docs/spec.md section 10.4
    "ballot_hash": "975b961328e9ab0fb057aa7c9f8f836dc41372eaf0a5d81d13feb735b49e3f26",
    "tracker": "de5d0cb91f66bde840906f912c1970aa0dec43f24cc3e4601a0396c7686b7bae",
    "selection_context": "4c000000000000000553000000000000001071756f72756d2f73656c656374696f6e42000000000000002000010203"
                         "0405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f420000000000000020abababababababab"
                         "abababababababababababababababababababababababab530000000000000001415300000000000000026131",
}


@pytest.fixture
def s(sqlite_url: str) -> Scenario:
    return open_election(sqlite_url)


def _stored(s: Scenario) -> tuple[int, int, int]:
    with Session(s.board.engine) as session:
        return tuple(session.scalar(select(func.count()).select_from(t)) for t in (db.Entry, db.Ballot, db.Ciphertext))


def _rejected(s: Scenario, call, error=QuorumError) -> str:
    before = _stored(s)
    with pytest.raises(error) as info:
        call()
    assert _stored(s) == before, "a rejected request left something on the board"
    return str(info.value)


@pytest.mark.parametrize("group,voters,trustees,quorum,absent", [("ed25519", 12, 5, 3, 2), ("modp", 5, 3, 2, 1)])
def test_whole_election(tmp_path: Path, group: str, voters: int, trustees: int, quorum: int, absent: int) -> None:
    demo = run_demo(tmp_path / "rec.zip", voters=voters, trustees=trustees, quorum=quorum, absent=absent,
                    group_name=group, seed=7)
    assert [c["counts"] for c in demo.result["contests"]] == list(demo.expected.values())
    assert len(demo.result["trustees"]) == quorum
    report = verify_record(demo.record, workers=2)
    assert report.valid, report.failures
    assert report.result == demo.result


def test_lifecycle_refuses_illegal_steps(s: Scenario) -> None:
    _rejected(s, s.election.tally, ProtocolError)  # tally before close
    _rejected(s, s.election.open, ProtocolError)
    s.election.cast(s.ballot(0))
    late = s.ballot(1)
    finish(s)
    assert "open" in _rejected(s, lambda: s.election.cast(late), ProtocolError)  # ballot after close
    _rejected(s, s.election.publish_result, ProtocolError)  # a second result
    _rejected(s, s.election.close, ProtocolError)


def test_revote_last_ballot_counts_and_retry_is_idempotent(s: Scenario) -> None:
    first = s.ballot(0, OTHER)
    s.election.cast(first)
    second = s.ballot(0, CHOICE)
    receipt = s.election.cast(second)
    again = s.election.cast(second)  # a retried cast: same receipt, nothing stored
    assert again.seq == receipt.seq and again.tracker == receipt.tracker and not again.stored
    assert "replayed" in _rejected(s, lambda: s.election.cast(first), ProtocolError)  # the old ballot replayed
    result = finish(s)
    assert result["contests"][0]["counts"] == [1, 0, 0]  # CHOICE, not OTHER


def test_bad_input_gets_a_clear_error_and_stores_nothing(s: Scenario) -> None:
    g = s.ctx.group
    good = s.ballot(0)
    bad = copy.deepcopy(good)
    del bad["signature"]
    assert "ballot" in _rejected(s, lambda: s.election.cast(bad), DecodeError)
    assert "expected an object" in _rejected(s, lambda: s.election.cast(["not", "a", "ballot"]), DecodeError)
    bad = copy.deepcopy(good)
    bad["contests"][0]["selections"][0]["alpha"] = "zz" * g.element_bytes
    assert "selections[0].alpha" in _rejected(s, lambda: s.election.cast(bad), DecodeError)
    bad = copy.deepcopy(good)
    bad["contests"][1]["id"] = "no-such-contest"
    assert "unknown contest" in _rejected(s, lambda: s.election.cast(bad), DecodeError)
    bad = copy.deepcopy(good)
    bad["contests"][1]["selections"].append(bad["contests"][1]["selections"][0])
    assert "too many selections" in _rejected(s, lambda: s.election.cast(bad), DecodeError)
    bad = copy.deepcopy(good)
    bad["contests"][0]["proofs"][0]["responses"][0] = g.scalar_to_hex(1)
    _rejected(s, lambda: s.election.cast(bad), VerificationError)  # wrong proof (signature re-made below too)
    with pytest.raises(DecodeError, match="at most 2"):
        encrypt_ballot(s.ctx, s.credentials[0], {"council": ["c1", "c2", "c3"]})
    with pytest.raises(DecodeError, match="unknown contest"):
        encrypt_ballot(s.ctx, s.credentials[0], {"nope": []})


@pytest.mark.parametrize("group", ["ed25519", "modp"])
def test_row04_non_member_element_refused(tmp_path: Path, group: str) -> None:
    """ATTACKS.md row 4: a ciphertext element outside the prime-order subgroup never reaches the board."""
    s = open_election(f"sqlite:///{tmp_path / 'b.db'}", group, voters=1)
    g = s.ctx.group
    bad = s.ballot(0)
    small = "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a" if group == "ed25519" else g.to_hex(g.p - 1)
    bad["contests"][0]["selections"][0]["beta"] = small
    key = credentials.signing_key(s.ctx.setup.election_id, s.credentials[0])  # the voter crafts and signs it
    bad["signature"] = credentials.sign(key, ballot_hash(s.ctx, signed_body(bad)))
    assert "beta" in _rejected(s, lambda: s.election.cast(bad), DecodeError)


def test_row13_ballot_stuffing_refused(s: Scenario) -> None:
    """ATTACKS.md row 13: no ballot without a published credential; one credential per registered voter."""
    from voting.context import credentials_payload, parse_credentials
    from voting.credentials import new_private_credential

    stuffed, _ = encrypt_ballot(s.ctx, new_private_credential(), CHOICE)
    assert "unknown credential" in _rejected(s, lambda: s.election.cast(stuffed), ProtocolError)
    creds = sorted(s.ctx.credentials)
    with pytest.raises(DecodeError, match="registered voters"):
        parse_credentials(credentials_payload(creds, len(creds) + 1))
    with pytest.raises(DecodeError, match="duplicates"):
        parse_credentials({"voter_count": len(creds) + 1, "credentials": sorted(creds + creds[:1])})


def test_row02_copied_and_malleated_ballots_refused(s: Scenario) -> None:
    """ATTACKS.md row 2: voter 1's ballot B cast again, re-encrypted, and with its proofs under voter 2: all refused."""
    b = s.ballot(0)
    s.election.cast(b)
    s.election.cast(s.ballot(0, OTHER))  # voter 1 re-votes: B is now superseded
    assert "replayed" in _rejected(s, lambda: s.election.cast(b), ProtocolError)
    ctx, g, pk = s.ctx, s.ctx.group, s.ctx.public_key
    v2 = s.ballot(1)
    from voting import credentials

    key2 = credentials.signing_key(ctx.setup.election_id, s.credentials[1])
    # B's ciphertexts and proofs under voter 2's credential and signature
    moved = {"credential": v2["credential"], "contests": copy.deepcopy(b["contests"]), "revote": 0}
    moved["signature"] = credentials.sign(key2, ballot_hash(ctx, moved))
    _rejected(s, lambda: s.election.cast(moved), VerificationError)
    # a re-encryption of B, signed by voter 2
    reenc = copy.deepcopy(moved)
    for item in reenc["contests"]:
        item["selections"] = [pk.reencrypt(Ciphertext(g.from_hex(c["alpha"]), g.from_hex(c["beta"])))[0].to_json(g)
                              for c in item["selections"]]
    reenc["signature"] = credentials.sign(key2, ballot_hash(ctx, signed_body(reenc)))
    _rejected(s, lambda: s.election.cast(reenc), VerificationError)


def test_row15_benaloh_challenge(s: Scenario) -> None:
    """ATTACKS.md row 15: a challenged ballot is published with its nonces, never counted, never castable."""
    ballot, secrets_ = encrypt_ballot(s.ctx, s.credentials[0], OTHER)
    receipt = s.election.spoil(ballot, reveal_json(s.ctx, secrets_))
    assert receipt.ballot_hash == ballot_hash(s.ctx, signed_body(ballot)).hex()
    assert "challenged" in _rejected(s, lambda: s.election.cast(ballot), ProtocolError)
    lie = reveal_json(s.ctx, secrets_)
    lie[0]["plaintexts"] = [1 - m for m in lie[0]["plaintexts"]]
    other, other_secrets = encrypt_ballot(s.ctx, s.credentials[1], OTHER)
    assert "not the encryption" in _rejected(s, lambda: s.election.spoil(other, [lie[0]] + reveal_json(s.ctx, other_secrets)[1:]), VerificationError)
    # the same ciphertexts with fresh proofs (possible now that the nonces are public): refused as a copy
    ctx, g, pk = s.ctx, s.ctx.group, s.ctx.public_key
    recast = copy.deepcopy(ballot)
    for contest, item in zip(ctx.manifest.contests, recast["contests"]):
        cts = [Ciphertext(g.from_hex(c["alpha"]), g.from_hex(c["beta"])) for c in item["selections"]]
        ms, rs = secrets_.plaintexts[contest.id], secrets_.nonces[contest.id]
        item["proofs"] = [RangeProof.prove(pk, ct, m, r, 1, selection_context(ctx, recast["credential"], contest.id, o)).to_json(g)
                          for ct, m, r, o in zip(cts, ms, rs, contest.options)]
        total = Ciphertext(g.prod(c.alpha for c in cts), g.div(g.prod(c.beta for c in cts), g.exp_g(contest.min_selections)))
        item["limit_proof"] = RangeProof.prove(pk, total, sum(ms) - contest.min_selections, sum(rs) % g.q,
                                               contest.max_selections - contest.min_selections,
                                               contest_context(ctx, recast["credential"], contest.id)).to_json(g)
    from voting import credentials

    key = credentials.signing_key(ctx.setup.election_id, s.credentials[0])
    recast["signature"] = credentials.sign(key, ballot_hash(ctx, signed_body(recast)))
    assert "copied" in _rejected(s, lambda: s.election.cast(recast), ProtocolError)
    s.election.cast(s.ballot(2, CHOICE))
    result = finish(s)
    assert result["contests"][0]["counts"] == [1, 0, 0]  # the challenged ballot (OTHER) is not counted


def test_row08_row14_trackers_recomputed_by_the_voter_and_distinct(s: Scenario) -> None:
    """ATTACKS.md rows 8 and 14: the voter recomputes hash and tracker from the bytes it sent; identical choices
    give distinct trackers."""
    receipts = []
    previous = s.ctx.base_hash
    for voter in range(3):
        ballot = s.ballot(voter, CHOICE)
        mine = ballot_hash(s.ctx, signed_body(ballot))
        receipt = s.election.cast(ballot)
        assert receipt.ballot_hash == mine.hex()
        previous = next_tracker(previous, mine)
        assert receipt.tracker == previous.hex()
        receipts.append(receipt.tracker)
    assert len(set(receipts)) == 3


def test_row12_trustee_refuses_a_tally_it_cannot_recompute(s: Scenario) -> None:
    """ATTACKS.md row 12: a tally over a subset of the ballots is not decrypted."""
    s.election.cast(s.ballot(0))
    s.election.cast(s.ballot(1))
    s.election.close()
    s.election.tally()
    published = s.election.cast_ballots()
    tally_p = next(e for e in s.election.entries() if e.type == "tally").payload
    with pytest.raises(ProtocolError, match="refuses"):
        trustee_decrypt(s.ctx, s.trustee_keys[0], published[:1], tally_p)
    forged = copy.deepcopy(tally_p)
    forged["counted"] = 1
    with pytest.raises(ProtocolError, match="refuses"):
        trustee_decrypt(s.ctx, s.trustee_keys[0], published, forged)


def test_row01_row09_proofs_bound_to_statement_and_context(s: Scenario) -> None:
    """ATTACKS.md rows 1 and 9: a ballot proof fails for another ciphertext, option, contest, voter or election."""
    ctx, g, pk = s.ctx, s.ctx.group, s.ctx.public_key
    ballot = parse_ballot(ctx, s.ballot(0))
    cb, contest = ballot.contests[1], ctx.manifest.contests[1]
    ct, proof = cb.selections[0], cb.proofs[0]
    here = selection_context(ctx, ballot.credential, contest.id, contest.options[0])
    assert proof.verify(pk, ct, here)
    other_cred = parse_ballot(ctx, s.ballot(1)).credential
    for context in (selection_context(ctx, ballot.credential, contest.id, contest.options[1]),
                    selection_context(ctx, ballot.credential, ctx.manifest.contests[0].id, contest.options[0]),
                    selection_context(ctx, other_cred, contest.id, contest.options[0])):
        assert not proof.verify(pk, ct, context)
    assert not proof.verify(pk, cb.selections[1], here)
    assert not proof.verify(pk, Ciphertext(ct.alpha, g.mul(ct.beta, g.g)), here)
    other = open_election(f"sqlite:///{Path(s.board.engine.url.database).parent / 'other.db'}")
    assert not proof.verify(pk, ct, selection_context(other.ctx, ballot.credential, contest.id, contest.options[0]))


@pytest.mark.parametrize("sig", ["z" * 128, "A" * 128, "0" * 127, 7])
def test_a_ballot_signature_that_is_not_128_lowercase_hex_digits_is_malformed(s: Scenario, sig) -> None:
    """The signature field is 128 lowercase hex digits (spec 10.4): anything else is a parse error naming it
    (ballot_format in the verifier), not a signature that fails (non-hex letters passed the parser)."""
    ballot = copy.deepcopy(s.ballot(0))
    ballot["signature"] = sig
    with pytest.raises(DecodeError, match="ballot.signature"):
        parse_ballot(s.ctx, ballot)


def test_row08_known_answers_pin_the_ballot_encodings() -> None:
    """ATTACKS.md row 8: ballot hash, tracker and proof contexts are injective encodings, pinned by known answers."""
    from types import SimpleNamespace

    ctx = SimpleNamespace(base_hash=bytes(range(32)))
    body = {"credential": "ab" * 32, "contests": [{"id": "A", "selections": []}]}
    assert ballot_hash(ctx, body).hex() == KAT["ballot_hash"]
    assert next_tracker(bytes(32), bytes(range(32))).hex() == KAT["tracker"]
    assert selection_context(ctx, "ab" * 32, "A", "a1").hex() == KAT["selection_context"]
    assert selection_context(ctx, "ab" * 32, "A", "a1") != selection_context(ctx, "ab" * 32, "Aa", "1")
