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
from voting.ballot import ballot_hash, contest_context, encrypt_ballot, selection_context
from voting.tally import decryption_context, parse_tally, result_payload
from voting_helpers import OTHER, Scenario, fix_ballots, load, rechain, renumber, save

SMALL_ORDER_ED25519 = "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"


def _at(entries: list[dict[str, Any]], seq: int) -> dict[str, Any]:
    return next(e for e in entries if e["seq"] == seq)


def _of_type(entries: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return next(e for e in entries if e["type"] == kind)


def _resign_ballot(s: Scenario, ballot: dict[str, Any], voter: int) -> None:
    key = credentials.signing_key(s.ctx.setup.election_id, s.credentials[voter])
    ballot["signature"] = credentials.sign(key, ballot_hash(s.ctx, {"credential": ballot["credential"], "contests": ballot["contests"]}))


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
    body = {"credential": ballot["credential"], "contests": ballot["contests"]}
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


BOTH, PLAIN = ("plain", "rehash"), ("plain",)
CASES: dict[str, tuple[str, Callable, tuple[str, ...]]] = {
    "chain_seq": ("chain", chain_seq, BOTH),
    "chain_prev": ("chain", chain_prev, PLAIN),
    "signature_flipped": ("signatures", signature_flipped, PLAIN),
    "signatures_other_key": ("signatures", lambda E, s: None, ("other_key",)),
    "lifecycle_spoil_after_close": ("lifecycle", lifecycle_spoil_after_close, BOTH),
    "lifecycle_second_result": ("lifecycle", lifecycle_second_result, BOTH),
    "parameters_trustee_signature": ("parameters", parameters_trustee_signature, BOTH),
    "base_hash_changed": ("base_hash", base_hash_changed, BOTH),
    "ballot_non_member": ("ballot_format", ballot_non_member, BOTH),
    "ballot_unknown_credential": ("ballot_credentials", ballot_unknown_credential, BOTH),
    "ballot_bad_signature": ("ballot_signatures", ballot_bad_signature, BOTH),
    "ballot_moved_proof": ("ballot_proofs", ballot_moved_proof, BOTH),
    "ballot_hash_stated": ("ballot_hashes", ballot_hash_stated, BOTH),
    "cast_after_challenge": ("ciphertext_uniqueness", cast_after_challenge, BOTH),
    "tracker_changed": ("trackers", tracker_changed, BOTH),
    "spoiled_reveal_lie": ("spoiled_ballots", spoiled_reveal_lie, BOTH),
    "counted_changed": ("counted_ballots", counted_changed, BOTH),
    "tally_subset": ("tally", tally_subset, BOTH),
    "decryption_wrong_share": ("decryptions", decryption_wrong_share, BOTH),
    "result_count": ("result", result_count, BOTH),
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
    return save(entries, bytes(key.verify_key).hex(), out)
