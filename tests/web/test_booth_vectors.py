"""The booth's ballot code in chromium agrees byte for byte with voting/ (item 7 of issue 4, for the ballot
layer): the same public credential from a private one, the same base hash and ballot hash, the Python
ballot's proofs verify in JavaScript, and the Benaloh check opens a Python-made challenged ballot."""

from __future__ import annotations

import json

import pytest
from flask import Flask

from tests.web import flow
from tests.web.conftest import api_post
from tests.web.live import chromium, serve
from voting.ballot import ballot_hash, encrypt_ballot, reveal_json, signed_body
from voting.credentials import public_credential

pytestmark = pytest.mark.browser

SCRIPT = """async ([api, pin, credential, ballot, reveal]) => {
  const { loadContext, contestRules } = await import("/static/js/booth/election.js");
  const { ballotHash, checkReveal, credentialKey } = await import("/static/js/booth/ballot.js");
  const { RangeProof } = await import("/static/js/crypto/proofs.js");
  const { ciphertextFromJSON } = await import("/static/js/crypto/elgamal.js");
  const { encode } = await import("/static/js/crypto/encoding.js");
  const { fromHex, toHex } = await import("/static/js/crypto/bytes.js");
  const ctx = await loadContext(api, pin);
  const key = await credentialKey(ctx.electionId, credential);
  const body = { credential: ballot.credential, contests: ballot.contests, revote: ballot.revote };
  const checks = [];
  ctx.manifest.contests.forEach((contest, i) => {
    contestRules(contest).options.forEach((option, j) => {
      const ct = ciphertextFromJSON(ctx.group, ballot.contests[i].selections[j]);
      const proof = RangeProof.fromJSON(ctx.group, ballot.contests[i].proofs[j], 1);
      const context = encode("quorum/selection", ctx.baseHash, fromHex(ballot.credential, 32, "c"), contest.id, option);
      checks.push(proof.verify(ctx.publicKey, ct, context));
    });
  });
  const opened = checkReveal(ctx, ballot, reveal);
  return { publicHex: key.publicHex, baseHash: toHex(ctx.baseHash), ballotHash: toHex(await ballotHash(ctx, body)),
           proofs: (await Promise.all(checks)).every(Boolean), choices: opened.choices, problems: opened.problems };
}"""


@pytest.mark.parametrize("group", ["ed25519", "modp"])
def test_booth_matches_python(app: Flask, admin, group: str) -> None:  # type: ignore[no-untyped-def]
    trustees = flow.join(app, flow.create(admin, "vectors", group=group))
    flow.ceremony(trustees, "vectors")
    credential = api_post(admin, "/api/elections/vectors/credentials", {}).get_json()["credentials"][0]["credential"]
    api_post(admin, "/api/elections/vectors/open", {})
    ctx = app.extensions["quorum"].election("vectors").context()
    ballot, secrets = encrypt_ballot(ctx, credential, {"chair": ["bob"], "pool": ["no"]}, revote=1)
    body = signed_body(ballot)
    with serve(app) as base, chromium() as browser:
        page = browser.new_page()
        page.goto(f"{base}/verify")
        got = page.evaluate(SCRIPT, ["/api/elections/vectors", ctx.base_hash.hex(), credential, ballot,
                                     reveal_json(ctx, secrets)])
    assert got["publicHex"] == public_credential("vectors", credential) == ballot["credential"]
    assert got["baseHash"] == ctx.base_hash.hex()
    assert got["ballotHash"] == ballot_hash(ctx, body).hex()
    assert got["proofs"] is True
    assert got["problems"] == [] and got["choices"] == {"chair": ["Bob"], "pool": ["No"]}, json.dumps(got)
