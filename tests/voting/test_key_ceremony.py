"""The key_ceremony entry (spec 6 and 10.1): a ceremony in which a qualified trustee withholds its Feldman reveal
is recorded with the openings that rebuild it, and verifiers accept it (that the key is the one the reveal would
have given is tests/threshold/test_dkg.py's)."""

from __future__ import annotations

import pytest
from nacl.signing import SigningKey

from threshold import dkg
from threshold.errors import QuorumError
from threshold.groups import get_group
from voting.context import Setup, ceremony_payload, parse_ceremony, parse_setup, setup_payload
from voting_helpers import MANIFEST


def _payload(group_name: str, withhold: set[int]) -> tuple[dict, dkg.CeremonyResult, Setup]:
    setup = parse_setup(setup_payload("kc", MANIFEST, get_group(group_name), 4, 2, SigningKey.generate().verify_key.encode().hex()))
    params = setup.ceremony_params()
    trustees, transcript, result = dkg.honest_ceremony(params, withhold)
    assert result.reconstructed == tuple(sorted(withhold))
    return ceremony_payload(setup, transcript, result, {t.index: t.sign(transcript) for t in trustees}), result, setup


@pytest.mark.parametrize("group_name", ["ed25519", "modp"])
def test_withheld_reveal_recorded_with_openings_verifies(group_name):
    payload, result, setup = _payload(group_name, {3})
    assert [o["index"] for o in payload["openings"]] == [1, 2, 4] and len(payload["reveals"]) == 3
    ceremony = parse_ceremony(setup, payload)
    assert ceremony.public_key.element == result.public_key


def test_dropped_openings_or_reordered_reveals_are_refused():
    payload, _, setup = _payload("ed25519", {2})
    with pytest.raises(QuorumError, match="1 valid openings"):
        parse_ceremony(setup, {**payload, "openings": payload["openings"][:1]})
    with pytest.raises(QuorumError, match=r"reveals\[1\].*out of order"):
        parse_ceremony(setup, {**payload, "reveals": payload["reveals"][::-1]})
