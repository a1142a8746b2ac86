"""The trustee's recount in the browser (web/static/js/trustee/tally.js) checks the counted ballots' proofs in chunks,
one weighted product each by Pippenger's buckets (crypto/batch.js multiExp), and reads a ballot's ciphertexts with
the checks of proof commitments only (crypto/elgamal.js provenCiphertextFromJSON): the proofs imply membership up
to what their equations ignore, and that cannot reach the strictly read tally. Under node 20."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.review.test_session20_browser_review import _node
from tests.voting.voting_helpers import CHOICE, OTHER, fix_ballots, load, rechain, scripted_record
from threshold.elgamal import Ciphertext
from threshold.proofs import RangeProof
from voting.ballot import ballot_hash, contest_context, encrypt_ballot, selection_context, signed_body
from voting.credentials import sign, signing_key

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")

_MULTIEXP = """
const { multiExp } = await import(`${js}/crypto/batch.js`);
for (const name of ["modp", "ed25519"]) {
  const g = getGroup(name);
  // bases of known logs x_k, so that the product is one g^(sum x_k e_k); exponents of 256 and 129 bits, 0, 1,
  // q - 1 and an odd number of hex digits (a bucket window half beyond the top)
  const special = [0n, 1n, g.q - 1n, 0xabcn];
  const xs = [], terms = [];
  let want = 0n;
  for (let k = 0; k < input.n; k++) {
    const x = (BigInt(k) * 0x9e3779b97f4a7c15n + 12345n) % g.q;
    const e = k < special.length ? special[k] : (BigInt(k) ** 37n) % (k % 4 ? g.q : 1n << 129n);
    terms.push([g.expG(x), e]);
    want = (want + x * e) % g.q;
  }
  const few = terms.slice(0, 7);
  const wantFew = few.reduce((acc, [b, e]) => g.mul(acc, g.exp(b, e)), g.identity);
  // more terms than a call may take arguments (a spread would throw): all but one exponent 0, so it is quick
  const wide = new Array(150000).fill([g.g, 0n]);
  wide.push([g.g, 5n]);
  out[name] = { many: g.eq(multiExp(g, terms), g.expG(want)), few: g.eq(multiExp(g, few), wantFew),
    none: g.eq(multiExp(g, []), g.identity), wide: g.eq(multiExp(g, wide), g.expG(5n)) };
}
"""


def test_multi_exponentiation_by_buckets_and_by_straus_is_the_product(tmp_path: Path) -> None:
    """800 terms (Pippenger's buckets by the count) and 7 (Straus) against the product computed apart, in both
    groups; exponents 0, 1, q - 1, of 12, 129 and 256 bits; 150,001 terms (a chunk of a large manifest's ballots),
    more than a JavaScript call takes as arguments."""
    out = _node(tmp_path, _MULTIEXP, {"n": 800})
    assert out == {g: {"many": True, "few": True, "none": True, "wide": True} for g in ("modp", "ed25519")}, out


_RECOUNT = """out.result = await recount(input);"""


def _recount(tmp_path: Path, entries: list[dict[str, Any]]) -> dict[str, Any]:
    return _node(tmp_path, _RECOUNT, entries)["result"]


def _tampered(tmp_path: Path, group: str, edit) -> tuple[Any, list[dict[str, Any]]]:
    """The scripted record with v3's counted ballot edited by `edit(ctx, ballot)`, re-signed by v3's own
    credential (the web server issues credentials) and the chain re-signed by the board key."""
    s = scripted_record(tmp_path / "record", group)
    entries = load(s.record)
    ballot = next(e for e in entries if e["seq"] == s.seqs["v3"])["payload"]["ballot"]
    edit(s.ctx, ballot)
    ballot["signature"] = sign(signing_key(s.ctx.setup.election_id, s.credentials[3]), ballot_hash(s.ctx, signed_body(ballot)))
    rechain(entries, s.key)
    return s, entries


def _element(g, text: str) -> Any:
    """An element as the board wrote it, in or out of the order-q subgroup (range and curve checks only)."""
    return bytes.fromhex(text) if g.name == "ed25519" else int(text, 16)


def _reproven(tmp_path: Path, group: str, factor, voters: tuple[int, ...] = (3,)) -> tuple[Any, list[dict[str, Any]]]:
    """The scripted record where each of `voters`' counted ballot is replaced by a fresh one whose first selection's
    alpha is multiplied by factor(group), its 0/1 proof and its contest's limit proof made again on that (as its
    voter, or a board holding the credentials, can: the prover knows the nonces), signed by the credential; the
    tally recomputed from the counted ballots, the ballot hashes, trackers and the chain made whole again."""
    s = scripted_record(tmp_path / "record", group)
    entries = load(s.record)
    g, pk = s.ctx.group, s.ctx.public_key
    contest = s.ctx.manifest.contests[0]
    tally = next(e for e in entries if e["type"] == "tally")["payload"]["contests"]
    for voter in voters:
        entry = next(e for e in entries if e["seq"] == s.seqs[f"v{voter}"])
        old = entry["payload"]["ballot"]
        ballot, secret = encrypt_ballot(s.ctx, s.credentials[voter], OTHER if voter == 3 else CHOICE, old["revote"])
        held = ballot["contests"][0]
        cts = [Ciphertext.from_json(g, x) for x in held["selections"]]
        cts[0] = Ciphertext(g.mul(cts[0].alpha, factor(g)), cts[0].beta)
        ms, rs = secret.plaintexts[contest.id], secret.nonces[contest.id]
        held["selections"][0] = cts[0].to_json(g)
        held["proofs"][0] = RangeProof.prove(pk, cts[0], ms[0], rs[0], 1, selection_context(
            s.ctx, ballot["credential"], contest.id, contest.options[0])).to_json(g)
        shifted = Ciphertext(g.prod(c.alpha for c in cts),
                             g.mul(g.prod(c.beta for c in cts), g.inv(g.exp_g(contest.min_selections))))
        held["limit_proof"] = RangeProof.prove(pk, shifted, sum(ms) - contest.min_selections, sum(rs) % g.q,
                                               contest.max_selections - contest.min_selections,
                                               contest_context(s.ctx, ballot["credential"], contest.id)).to_json(g)
        ballot["signature"] = sign(signing_key(s.ctx.setup.election_id, s.credentials[voter]),
                                   ballot_hash(s.ctx, signed_body(ballot)))
        for t, was, now in zip(tally, old["contests"], ballot["contests"]):
            for k, (a, b) in enumerate(zip(was["selections"], now["selections"])):
                t["ciphertexts"][k] = {
                    part: g.to_hex(g.div(g.mul(_element(g, t["ciphertexts"][k][part]), _element(g, b[part])),
                                         _element(g, a[part])))
                    for part in ("alpha", "beta")}
        entry["payload"]["ballot"] = ballot
    fix_ballots(entries, s.ctx)
    rechain(entries, s.key)
    return s, entries


ORDER_2 = bytes.fromhex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")  # edwards25519, y = -1


@pytest.mark.parametrize(("group", "factor", "refusal"), [
    ("modp", lambda g: pow(7, 2 * g.q, g.p), "has a proof that does not hold"),  # order r = (p-1)/(2q), a prime
    ("modp", lambda g: g.p - 1, "tally.contests[0].ciphertexts[0].alpha"),  # -1
    ("ed25519", lambda g: ORDER_2, "tally.contests[0].ciphertexts[0].alpha"),
])
def test_a_ballot_element_outside_the_subgroup_never_reaches_a_decryption(tmp_path: Path, group: str, factor,
                                                                          refusal: str) -> None:
    """A counted ballot whose alpha has a part outside the order-q subgroup, its proofs made on it and the tally
    recomputed with it: a part the proofs' equations see (modp's order r) fails them, naming the entry (the
    commitments were hashed before the challenge the part is raised to); a part they ignore (modp's sign, ed25519's
    torsion) reaches the tally, which fails its strict membership test. No decryption."""
    s, entries = _reproven(tmp_path, group, factor)
    out = _recount(tmp_path, entries)
    assert refusal in out.get("error", ""), out
    if refusal.startswith("has a proof"):
        assert f"the ballot at entry {s.seqs['v3']} has a proof" in out["error"], out


def test_two_ignored_parts_that_cancel_out_leave_a_tally_of_proven_votes(tmp_path: Path) -> None:
    """What the recount gives up for its speed, pinned: two counted ballots with alpha negated (modp's sign, which the
    equations ignore), proofs made on them, have a product that is a member again, so the recount accepts the tally,
    where `quorum verify` refuses those two ballots. Harmless: each ballot's subgroup part is still proven a 0/1 vote
    under its own credential, and the tally is their product."""
    _, entries = _reproven(tmp_path, "modp", lambda g: g.p - 1, voters=(2, 3))
    assert _recount(tmp_path, entries).get("ok") == 12


def test_a_bad_proof_inside_a_chunk_is_named_and_the_honest_record_recounts(tmp_path: Path) -> None:
    """The honest modp record recounts; with v3's first 0/1 proof's response changed (v3 is counted after v0, v1
    and v2, so its chunk holds others that are good), the refusal names v3's entry."""
    s = scripted_record(tmp_path / "honest", "modp")
    assert _recount(tmp_path, load(s.record)).get("ok") == 12

    def bump(ctx, ballot) -> None:
        proof = ballot["contests"][0]["proofs"][0]
        proof["responses"][1] = ctx.group.scalar_to_hex((ctx.group.scalar_from_hex(proof["responses"][1]) + 1) % ctx.group.q)

    s, entries = _tampered(tmp_path, "modp", bump)
    out = _recount(tmp_path, entries)
    assert out.get("error") == f"the ballot at entry {s.seqs['v3']} has a proof that does not hold: refusing to decrypt", out
