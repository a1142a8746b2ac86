"""Parsers of outside input fail only with DecodeError, naming a field (security rule 4)."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from threshold.decryption import PartialDecryption
from threshold.dkg import Announcement, CeremonyParams, DealerMessage
from threshold.elgamal import Ciphertext, PublicKey
from threshold.errors import DecodeError
from threshold.groups import get_group
from threshold.proofs import ChaumPedersenProof, RangeProof, SchnorrProof

G = get_group("ed25519")
PK = PublicKey(G, G.exp_g(7))
CT, R = PK.encrypt(1)
GOOD = RangeProof.prove(PK, CT, 1, R, 1, b"c").to_json(G)
PARAMS = CeremonyParams(G, 3, 2, b"fuzz")

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=70),
              st.sampled_from([G.to_hex(G.g), "00" * 32, "ff" * 32, G.scalar_to_hex(5)])),
    lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(st.text(max_size=12), children, max_size=4)),
    max_leaves=10,
)


def _mutations():
    keys = st.sampled_from(sorted(GOOD))
    return st.builds(lambda k, v: dict(GOOD, **{k: v}), keys, json_values)


PARSERS = [
    lambda o: Ciphertext.from_json(G, o),
    lambda o: SchnorrProof.from_json(G, o),
    lambda o: ChaumPedersenProof.from_json(G, o),
    lambda o: RangeProof.from_json(G, o, 1),
    lambda o: PartialDecryption.from_json(G, o, 1),
    lambda o: Announcement.from_json(PARAMS, o),
    lambda o: DealerMessage.from_json(PARAMS, o),
]


@settings(max_examples=150, deadline=None)
@given(obj=st.one_of(json_values, _mutations()), which=st.integers(min_value=0, max_value=len(PARSERS) - 1))
def test_parsers_raise_only_decode_errors(obj, which):
    try:
        PARSERS[which](obj)
    except DecodeError as exc:
        assert exc.field and str(exc).startswith(exc.field)
