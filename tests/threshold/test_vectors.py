"""Known-answer vectors (tests/vectors/core.json): the transcript encodings other
implementations must reproduce, checked against this implementation (ATTACKS rows 1, 8)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from threshold.elgamal import Ciphertext, PublicKey
from threshold.encoding import canonical_json, encode
from threshold.errors import DecodeError
from threshold.groups import get_group
from threshold.hashing import expand_message_xmd, hash_to_scalar
from threshold.proofs import ChaumPedersenProof, RangeProof, SchnorrProof, challenge

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "core.json").read_text(encoding="utf-8"))


def _dec(value):
    if isinstance(value, dict):
        return bytes.fromhex(value["hex"])
    if isinstance(value, list):
        return [_dec(v) for v in value]
    return value


def test_encode_vectors():
    for v in VECTORS["encode"]:
        assert encode(*_dec(v["input"])).hex() == v["output"]


def test_canonical_json_vectors():
    for v in VECTORS["canonical_json"]:
        assert canonical_json(v["input"]).decode("utf-8") == v["output"]


def test_expand_message_vectors():
    for v in VECTORS["expand_message_xmd"]:
        out = expand_message_xmd(bytes.fromhex(v["msg"]), v["dst"].encode(), v["length"])
        assert out.hex() == v["output"]


@pytest.mark.parametrize("name", ["modp", "ed25519"])
def test_group_vectors(name):
    g = get_group(name)
    v = VECTORS["groups"][name]
    assert v["parameters"] == g.describe()
    for h in v["hash_to_scalar"]:
        assert g.scalar_to_hex(hash_to_scalar(g.q, h["tag"], *_dec(h["items"]))) == h["output"]
    for e in v["exp_g"]:
        assert g.to_hex(g.exp_g(g.scalar_from_hex(e["scalar"]))) == e["element"]
    for h in v["hash_to_element"]:
        assert g.to_hex(g.hash_to_element(h["tag"], bytes.fromhex(h["msg"]))) == h["element"]
    for bad in v["invalid_elements"]:
        with pytest.raises(DecodeError):
            g.from_hex(bad["hex"], bad["why"])


@pytest.mark.parametrize("name", ["modp", "ed25519"])
def test_proof_transcript_vectors(name):
    g = get_group(name)
    v = VECTORS["groups"][name]
    pk = PublicKey(g, g.from_hex(v["public_key"]))
    assert g.exp_g(g.scalar_from_hex(v["secret_key"])) == pk.element

    rv = v["range_proof"]
    ctx = bytes.fromhex(rv["context"])
    ct = Ciphertext.from_json(g, rv["ciphertext"])
    proof = RangeProof.from_json(g, rv["proof"], rv["limit"])
    c = challenge(g, "range", ctx, [g.g, pk.element, ct.alpha, ct.beta], list(proof.a) + list(proof.b), [1])
    assert g.scalar_to_hex(c) == rv["challenge"]
    assert proof.verify(pk, ct, ctx)

    sv = v["schnorr_proof"]
    sp = SchnorrProof.from_json(g, sv["proof"])
    assert g.scalar_to_hex(challenge(g, "schnorr", ctx, [g.g, pk.element], [sp.commitment])) == sv["challenge"]
    assert sp.verify(g, pk.element, ctx)

    cv = v["chaum_pedersen_proof"]
    h, hx = g.from_hex(cv["h"]), g.from_hex(cv["hx"])
    cp = ChaumPedersenProof.from_json(g, cv["proof"])
    assert g.scalar_to_hex(challenge(g, "chaum-pedersen", ctx, [g.g, pk.element, h, hx], [cp.a, cp.b])) == cv["challenge"]
    assert cp.verify(g, g.g, pk.element, h, hx, ctx)
