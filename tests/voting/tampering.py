"""Tampering with a finished record, one case per verifier check: what a malicious board (or voter, or trustee)
changes, including whatever it can recompute afterwards (ballot hashes, trackers, seq numbers, decryptions).
Used by the verifier tests and by tests/vectors/make_record_vectors.py."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable

from nacl.signing import SigningKey

from threshold.decryption import partial_decrypt
from threshold.elgamal import Ciphertext
from threshold.proofs import RangeProof
from voting import credentials
from voting.ballot import ballot_hash, contest_context, encrypt_ballot, selection_context, signed_body
from voting.tally import CastBallot, counted_ballots, counted_hash, decryption_context, parse_tally, result_payload
from voting_helpers import OTHER, Scenario, fix_ballots, load, rechain, renumber, save

SMALL_ORDER_ED25519 = "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"


def _at(entries: list[dict[str, Any]], seq: int) -> dict[str, Any]:
    return next(e for e in entries if e["seq"] == seq)


def _of_type(entries: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return next(e for e in entries if e["type"] == kind)


def _resign_ballot(s: Scenario, ballot: dict[str, Any], voter: int) -> None:
    key = credentials.signing_key(s.ctx.setup.election_id, s.credentials[voter])
    ballot["signature"] = credentials.sign(key, ballot_hash(s.ctx, signed_body(ballot)))


# --- the tampering, one function per case: (entries, scenario) -> None -----------------------------------
def chain_seq(E, s):
    _at(E, 5)["seq"] = 50


def chain_prev(E, s):
    E[3]["prev"] = "11" * 32


def signature_flipped(E, s):
    sig = E[2]["sig"]
    E[2]["sig"] = ("0" if sig[0] != "0" else "1") + sig[1:]


def lifecycle_spoil_after_close(E, s):
    spoil = _at(E, s.seqs["spoil"])
    E.remove(spoil)
    E.insert(E.index(_of_type(E, "close")) + 1, spoil)
    renumber(E)
    fix_ballots(E, s.ctx)


def lifecycle_second_result(E, s):
    E.append(copy.deepcopy(_of_type(E, "result")))
    renumber(E)


def parameters_trustee_signature(E, s):
    sig = _of_type(E, "key_ceremony")["payload"]["signatures"][0]["signature"]
    sig["response"] = s.ctx.group.scalar_to_hex(s.ctx.group.scalar_from_hex(sig["response"]) + 1)


def parameters_reveal_dropped(E, s):
    """ATTACKS row 10: the board drops a trustee's Feldman reveal from the key ceremony (so that the key
    would have to be rebuilt from openings nobody published)."""
    del _of_type(E, "key_ceremony")["payload"]["reveals"][1]


def parameters_reveal_changed(E, s):
    """A reveal's first Feldman value replaced by its second (a valid element; the proofs no longer hold)."""
    feldman = _of_type(E, "key_ceremony")["payload"]["reveals"][0]["feldman"]
    feldman[0] = feldman[1]


def base_hash_changed(E, s):
    _of_type(E, "open")["payload"]["base_hash"] = "ab" * 32


def ballot_non_member(E, s):
    """ATTACKS.md row 4: a ciphertext element outside the group."""
    g = s.ctx.group
    bad = SMALL_ORDER_ED25519 if g.name == "ed25519" else g.to_hex(g.p - 1)
    _at(E, s.seqs["superseded"])["payload"]["ballot"]["contests"][0]["selections"][0]["alpha"] = bad
    fix_ballots(E, s.ctx)


def ballot_unknown_credential(E, s):
    """ATTACKS.md row 13: a ballot stuffed under a credential that is not on the list."""
    stuffed, _ = encrypt_ballot(s.ctx, credentials.new_private_credential(), OTHER)
    _at(E, s.seqs["superseded"])["payload"]["ballot"] = stuffed
    fix_ballots(E, s.ctx)


def ballot_bad_signature(E, s):
    ballot = _at(E, s.seqs["superseded"])["payload"]["ballot"]
    body = signed_body(ballot)
    ballot["signature"] = credentials.sign(SigningKey.generate(), ballot_hash(s.ctx, body))


def ballot_moved_proof(E, s):
    """ATTACKS.md row 9: a proof moved to another option of the same ballot."""
    ballot = _at(E, s.seqs["superseded"])["payload"]["ballot"]
    proofs = ballot["contests"][1]["proofs"]
    proofs[0], proofs[1] = proofs[1], proofs[0]
    _resign_ballot(s, ballot, 2)
    fix_ballots(E, s.ctx)


def ballot_hash_stated(E, s):
    _at(E, s.seqs["v3"])["payload"]["ballot_hash"] = "00" * 32


def cast_after_challenge(E, s):
    """ATTACKS.md row 15: the challenged ballot's ciphertexts (nonces public) cast with fresh proofs."""
    spoil = _at(E, s.seqs["spoil"])["payload"]
    ctx, g, pk = s.ctx, s.ctx.group, s.ctx.public_key
    ballot = copy.deepcopy(spoil["ballot"])
    cred = ballot["credential"]
    for contest, item, reveal in zip(ctx.manifest.contests, ballot["contests"], spoil["reveal"]):
        cts = [Ciphertext(g.from_hex(c["alpha"]), g.from_hex(c["beta"])) for c in item["selections"]]
        rs = [g.scalar_from_hex(r) for r in reveal["nonces"]]
        item["proofs"] = [RangeProof.prove(pk, ct, m, r, 1, selection_context(ctx, cred, contest.id, o)).to_json(g)
                          for ct, m, r, o in zip(cts, reveal["plaintexts"], rs, contest.options)]
        total = Ciphertext(g.prod(c.alpha for c in cts), g.div(g.prod(c.beta for c in cts), g.exp_g(contest.min_selections)))
        item["limit_proof"] = RangeProof.prove(pk, total, sum(reveal["plaintexts"]) - contest.min_selections, sum(rs) % g.q,
                                               contest.max_selections - contest.min_selections,
                                               contest_context(ctx, cred, contest.id)).to_json(g)
    _resign_ballot(s, ballot, 1)
    cast = copy.deepcopy(_at(E, s.seqs["v1"]))
    cast["payload"]["ballot"] = ballot
    E.insert(E.index(_at(E, s.seqs["v1"])), cast)
    renumber(E)
    fix_ballots(E, s.ctx)


def tracker_changed(E, s):
    _at(E, s.seqs["v3"])["payload"]["tracker"] = "ab" * 32


def spoiled_reveal_lie(E, s):
    reveal = _at(E, s.seqs["spoil"])["payload"]["reveal"][0]
    reveal["plaintexts"][0] = 1 - reveal["plaintexts"][0]


def counted_changed(E, s):
    _of_type(E, "tally")["payload"]["counted"] += 1


def tally_subset(E, s):
    """ATTACKS.md row 12: the tally leaves a voter's ballot out, and colluding trustees decrypt it anyway."""
    ctx, g = s.ctx, s.ctx.group
    tally_e = _of_type(E, "tally")
    v0 = _at(E, s.seqs["v0"])["payload"]["ballot"]["contests"][0]["selections"][0]
    first = tally_e["payload"]["contests"][0]["ciphertexts"][0]
    first["alpha"] = g.to_hex(g.div(g.from_hex(first["alpha"], allow_identity=True), g.from_hex(v0["alpha"])))
    first["beta"] = g.to_hex(g.div(g.from_hex(first["beta"], allow_identity=True), g.from_hex(v0["beta"])))
    tally = parse_tally(ctx, tally_e["payload"])
    partials = [partial_decrypt(g, k.index, k.secret, tally, decryption_context(ctx)) for k in s.trustee_keys]
    for entry, partial in zip([e for e in E if e["type"] == "decryption"], partials):
        entry["payload"] = partial.to_json(g)
    _of_type(E, "result")["payload"] = result_payload(ctx, tally, partials, tally_e["payload"]["counted"])


def decryption_wrong_share(E, s):
    last = [e for e in E if e["type"] == "decryption"][-1]["payload"]
    last["shares"][0], last["shares"][1] = last["shares"][1], last["shares"][0]


def result_count(E, s):
    _of_type(E, "result")["payload"]["contests"][0]["counts"][0] += 1


def chain_prev_signed(E, s):
    E[3]["_prev"] = "11" * 32


def chain_hash_signed(E, s):
    E[3]["_hash"] = "22" * 32


def ballot_payload_extra_key(E, s):
    _at(E, s.seqs["superseded"])["payload"]["note"] = "x"


def ballot_cast_at_number(E, s):
    _at(E, s.seqs["superseded"])["payload"]["cast_at"] = 5


def lifecycle_close_extra_key(E, s):
    _of_type(E, "close")["payload"]["note"] = "x"


def lifecycle_close_timestamp_number(E, s):
    """The close entry's timestamp is a number, not a string."""
    _of_type(E, "close")["payload"]["timestamp"] = 5


def lifecycle_unfinished(E, s):
    E.remove(_of_type(E, "result"))


def base_hash_open_extra_key(E, s):
    _of_type(E, "open")["payload"]["note"] = "x"


def base_hash_open_timestamp_object(E, s):
    """The open entry's timestamp is an object (structured data where the spec allows a string only)."""
    _of_type(E, "open")["payload"]["timestamp"] = {"note": "x"}


def base_hash_no_open(E, s):
    E.remove(_of_type(E, "open"))
    renumber(E)


def parameters_no_credentials(E, s):
    E.remove(_of_type(E, "credentials"))
    renumber(E)


def ballot_duplicated(E, s):
    entry = _at(E, s.seqs["superseded"])
    E.insert(E.index(entry) + 1, copy.deepcopy(entry))
    renumber(E)
    fix_ballots(E, s.ctx)


def _restate_counted_hash(E, s):
    """What the board recomputes after a counted ballot's bytes change: the tally's counted_hash (same ciphertexts)."""
    cast = [CastBallot(e["seq"], e["payload"]["ballot"]["credential"], ballot_hash(s.ctx, signed_body(e["payload"]["ballot"])).hex(),
                       (), e["payload"]["ballot"]["revote"]) for e in E if e["type"] == "cast"]
    _of_type(E, "tally")["payload"]["counted_hash"] = counted_hash(counted_ballots(cast))


def revote_reordered(E, s):
    """test_reordered_revotes_count_the_older_ballot: voter 2's re-vote (revote 1) moved before its first ballot."""
    old, new = _at(E, s.seqs["superseded"]), _at(E, s.seqs["v2"])
    i, j = E.index(old), E.index(new)
    E[i], E[j] = new, old
    renumber(E)
    fix_ballots(E, s.ctx)


def _recounter(E, s, revote):
    """Voter 2's re-vote carrying another counter (signed by the voter's device: a faulty or malicious booth)."""
    ballot = _at(E, s.seqs["v2"])["payload"]["ballot"]
    ballot["revote"] = revote
    _resign_ballot(s, ballot, 2)
    fix_ballots(E, s.ctx)
    _restate_counted_hash(E, s)


def revote_repeated(E, s):
    _recounter(E, s, 0)


def revote_gap(E, s):
    _recounter(E, s, 2)


def tracker_repeated(E, s):
    _at(E, s.seqs["v3"])["payload"]["tracker"] = _at(E, s.seqs["v2"])["payload"]["tracker"]


def tally_missing(E, s):
    E.remove(_of_type(E, "tally"))
    renumber(E)


def tally_malformed(E, s):
    _of_type(E, "tally")["payload"]["contests"][0]["ciphertexts"] = []


def counted_hash_changed(E, s):
    _of_type(E, "tally")["payload"]["counted_hash"] = "00" * 32


def decryption_unknown_trustee(E, s):
    [e for e in E if e["type"] == "decryption"][-1]["payload"]["index"] = 9


def decryption_malformed(E, s):
    last = [e for e in E if e["type"] == "decryption"][-1]["payload"]
    last["shares"] = last["shares"][:-1]


def decryption_twice(E, s):
    first = [e for e in E if e["type"] == "decryption"][0]
    E.insert(E.index(_of_type(E, "result")), copy.deepcopy(first))
    renumber(E)


def ballot_tracker_not_hex(E, s):
    _at(E, s.seqs["superseded"])["payload"]["tracker"] = []


def nonce_reused_in_a_ballot(E, s):
    """ATTACKS.md row 2 family: two selections of one ballot under one nonce, every proof valid, signed by the voter."""
    ctx, g, pk = s.ctx, s.ctx.group, s.ctx.public_key
    ballot = copy.deepcopy(_at(E, s.seqs["superseded"])["payload"]["ballot"])
    cred, contest = ballot["credential"], ctx.manifest.contests[1]
    shared = g.random_scalar()
    nonces = [shared, shared] + [g.random_scalar() for _ in contest.options[2:]]
    cts = [pk.encrypt(0, r)[0] for r in nonces]
    item = ballot["contests"][1]
    item["selections"] = [ct.to_json(g) for ct in cts]
    item["proofs"] = [RangeProof.prove(pk, ct, 0, r, 1, selection_context(ctx, cred, contest.id, option)).to_json(g)
                      for ct, r, option in zip(cts, nonces, contest.options)]
    total = Ciphertext(g.prod(c.alpha for c in cts), g.div(g.prod(c.beta for c in cts), g.exp_g(contest.min_selections)))
    item["limit_proof"] = RangeProof.prove(pk, total, 0, sum(nonces) % g.q, contest.max_selections - contest.min_selections,
                                           contest_context(ctx, cred, contest.id)).to_json(g)
    _resign_ballot(s, ballot, 2)
    _at(E, s.seqs["superseded"])["payload"]["ballot"] = ballot
    fix_ballots(E, s.ctx)


def result_too_few_decryptions(E, s):
    for e in [e for e in E if e["type"] == "decryption"][1:]:
        E.remove(e)
    renumber(E)


BOTH, PLAIN, REHASH, NONE = ("plain", "rehash"), ("plain",), ("rehash",), frozenset()
# name: (the check that guards the data, tampering, modes, other checks that must fail with it)
CASES: dict[str, tuple[str, Callable, tuple[str, ...], frozenset[str]]] = {
    "chain_seq": ("chain", chain_seq, BOTH, NONE),
    "chain_prev": ("chain", chain_prev, PLAIN, NONE),
    "signature_flipped": ("signatures", signature_flipped, PLAIN, NONE),
    "signatures_other_key": ("signatures", lambda E, s: None, ("other_key",), NONE),
    "lifecycle_spoil_after_close": ("lifecycle", lifecycle_spoil_after_close, BOTH, frozenset({"revote_counters"})),
    "lifecycle_second_result": ("lifecycle", lifecycle_second_result, BOTH, NONE),
    "parameters_trustee_signature": ("parameters", parameters_trustee_signature, BOTH, NONE),
    "parameters_reveal_dropped": ("parameters", parameters_reveal_dropped, BOTH, NONE),
    "parameters_reveal_changed": ("parameters", parameters_reveal_changed, BOTH, NONE),
    "base_hash_changed": ("base_hash", base_hash_changed, BOTH, NONE),
    "ballot_non_member": ("ballot_format", ballot_non_member, BOTH, NONE),
    "ballot_unknown_credential": ("ballot_credentials", ballot_unknown_credential, BOTH, frozenset({"revote_counters"})),
    "ballot_bad_signature": ("ballot_signatures", ballot_bad_signature, BOTH, NONE),
    "ballot_moved_proof": ("ballot_proofs", ballot_moved_proof, BOTH, NONE),
    "ballot_hash_stated": ("ballot_hashes", ballot_hash_stated, BOTH, NONE),
    "cast_after_challenge": ("ciphertext_uniqueness", cast_after_challenge, BOTH, frozenset({"revote_counters"})),
    "tracker_changed": ("trackers", tracker_changed, BOTH, NONE),
    "spoiled_reveal_lie": ("spoiled_ballots", spoiled_reveal_lie, BOTH, NONE),
    "counted_changed": ("counted_ballots", counted_changed, BOTH, NONE),
    "tally_subset": ("tally", tally_subset, BOTH, NONE),
    "decryption_wrong_share": ("decryptions", decryption_wrong_share, BOTH, NONE),
    "result_count": ("result", result_count, BOTH, NONE),
    "chain_prev_signed": ("chain", chain_prev_signed, REHASH, NONE),
    "chain_hash_signed": ("chain", chain_hash_signed, REHASH, NONE),
    "ballot_payload_extra_key": ("ballot_format", ballot_payload_extra_key, BOTH, NONE),
    "ballot_cast_at_number": ("ballot_format", ballot_cast_at_number, BOTH, NONE),
    "lifecycle_close_extra_key": ("lifecycle", lifecycle_close_extra_key, BOTH, NONE),
    "lifecycle_unfinished": ("lifecycle", lifecycle_unfinished, BOTH, frozenset({"result"})),
    "base_hash_open_extra_key": ("base_hash", base_hash_open_extra_key, BOTH, NONE),
    "base_hash_open_timestamp_object": ("base_hash", base_hash_open_timestamp_object, BOTH, NONE),
    "lifecycle_close_timestamp_number": ("lifecycle", lifecycle_close_timestamp_number, BOTH, NONE),
    "base_hash_no_open": ("base_hash", base_hash_no_open, BOTH, frozenset({"lifecycle"})),
    "parameters_no_credentials": ("parameters", parameters_no_credentials, BOTH, frozenset({"lifecycle"})),
    "ballot_duplicated": ("ballot_hashes", ballot_duplicated, BOTH, frozenset({"ciphertext_uniqueness", "revote_counters"})),
    "tracker_repeated": ("trackers", tracker_repeated, BOTH, NONE),
    "tally_missing": ("tally", tally_missing, BOTH, frozenset({"lifecycle"})),
    "tally_malformed": ("tally", tally_malformed, BOTH, NONE),
    "counted_hash_changed": ("counted_ballots", counted_hash_changed, BOTH, NONE),
    "decryption_unknown_trustee": ("decryptions", decryption_unknown_trustee, BOTH, NONE),
    "decryption_malformed": ("decryptions", decryption_malformed, BOTH, NONE),
    "decryption_twice": ("decryptions", decryption_twice, BOTH, NONE),
    "result_too_few_decryptions": ("result", result_too_few_decryptions, BOTH, NONE),
    "ballot_tracker_not_hex": ("ballot_format", ballot_tracker_not_hex, BOTH, frozenset({"trackers"})),
    "nonce_reused_in_a_ballot": ("ciphertext_uniqueness", nonce_reused_in_a_ballot, BOTH, NONE),
    "revote_reordered": ("revote_counters", revote_reordered, BOTH, NONE),
    "revote_repeated": ("revote_counters", revote_repeated, BOTH, NONE),
    "revote_gap": ("revote_counters", revote_gap, BOTH, NONE),
}


def tampered(s: Scenario, name: str, mode: str, out: Path) -> Path:
    """Write the scenario's record tampered by case `name` in mode plain, rehash or other_key."""
    entries = load(s.record)
    CASES[name][1](entries, s)
    key = s.key
    if mode == "other_key":
        key = SigningKey.generate()
    if mode != "plain":
        rechain(entries, key)
    for e in entries:
        e.pop("_prev", None)
        e.pop("_hash", None)
    return save(entries, bytes(key.verify_key).hex(), out)
