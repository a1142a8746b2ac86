"""ATTACKS row 17 (length leakage): a ballot's bytes do not depend on the choices in it. Every option of every
contest is encrypted, every proof has the shape its contest fixes, and every element and scalar is fixed-length
hex, so an observer of sizes (the network, the board's storage) learns nothing. There are no write-ins."""

from __future__ import annotations

import itertools

import pytest
from nacl.signing import SigningKey

from threshold.encoding import canonical_json
from threshold.groups import get_group
from voting.ballot import encrypt_ballot
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
