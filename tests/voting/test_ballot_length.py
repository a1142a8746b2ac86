"""ATTACKS row 17 (length leakage): a ballot's bytes do not depend on the choices in it. Every option of every
contest is encrypted, every proof has the shape its contest fixes, and every element and scalar is fixed-length
hex, so an observer of sizes (the network, the board's storage) learns nothing. There are no write-ins."""

from __future__ import annotations

import itertools

import pytest
from nacl.signing import SigningKey

from threshold.encoding import canonical_json
from threshold.groups import get_group
from voting.ballot import ballot_hex_bytes, encrypt_ballot
from voting.context import build_context, credentials_payload, setup_payload
from voting.credentials import new_private_credential, public_credential
from voting.demo import key_ceremony
from voting_helpers import MANIFEST


def _every_choice() -> list[dict[str, list[str]]]:
    """Every valid choice of each contest, combined contest by contest with the first choice of the others."""
    per_contest = {}
    for contest in MANIFEST.contests:
        options = list(contest.options)
        per_contest[contest.id] = [list(c) for n in range(contest.min_selections, contest.max_selections + 1)
                                   for c in itertools.combinations(options, n)]
    base = {cid: choices[0] for cid, choices in per_contest.items()}
    return [{**base, cid: c} for cid, choices in per_contest.items() for c in choices]


@pytest.mark.parametrize("group_name", ["ed25519", "modp"])
def test_ballot_length_does_not_depend_on_the_vote(group_name):
    setup_p = setup_payload("len", MANIFEST, get_group(group_name), 3, 2, SigningKey.generate().verify_key.encode().hex())
    ceremony_p, _ = key_ceremony(setup_p)
    creds = [new_private_credential() for _ in range(2)]
    ctx = build_context(setup_p, ceremony_p, credentials_payload([public_credential("len", c) for c in creds], 2))
    choices = _every_choice()
    assert len(choices) > 10
    lengths = {len(canonical_json(encrypt_ballot(ctx, creds[i % 2], choice, revote=i % 2)[0]))
               for i, choice in enumerate(choices)}
    assert len(lengths) == 1, lengths


@pytest.mark.parametrize("group_name", ["ed25519", "modp"])
def test_the_hex_a_ballot_holds_bounds_its_size_from_below_closely(group_name):
    """ballot_hex_bytes, by which an election whose ballots could not fit a request is refused at creation
    (web/elections.py), is a lower bound of a real ballot's canonical JSON, and in modp (where the bound matters)
    within 3% of it: it counts the elements and scalars the ballot's structure holds, no more and no fewer."""
    g = get_group(group_name)
    setup_p = setup_payload("len", MANIFEST, g, 3, 2, SigningKey.generate().verify_key.encode().hex())
    ceremony_p, _ = key_ceremony(setup_p)
    cred = new_private_credential()
    ctx = build_context(setup_p, ceremony_p, credentials_payload([public_credential("len", cred)], 1))
    size = len(canonical_json(encrypt_ballot(ctx, cred, _every_choice()[0])[0]))
    bound = ballot_hex_bytes(MANIFEST, g)
    assert bound <= size
    if group_name == "modp":
        assert size < bound * 1.03, (size, bound)
