"""Writes tests/vectors/core.json: known-answer vectors for the core's encodings, hashes,
group operations and proof transcripts (docs/spec.md explains each). Run from the repo root:

    .venv/bin/python tests/vectors/make_core_vectors.py
"""

from __future__ import annotations

import json
from pathlib import Path

from threshold.elgamal import PublicKey
from threshold.encoding import canonical_json, encode
from threshold.groups import get_group
from threshold.hashing import dst_for, expand_message_xmd, hash_to_scalar
from threshold.proofs import ChaumPedersenProof, RangeProof, SchnorrProof, challenge

OUT = Path(__file__).with_name("core.json")


def _enc(value):
    """JSON form of an encode() input: bytes as {"hex"}, others as themselves."""
    if isinstance(value, bytes):
        return {"hex": value.hex()}
    if isinstance(value, list):
        return [_enc(v) for v in value]
    return value


def build() -> dict:
    encodings = [[b"", "", 0], ["e1", "23x"], ["e12", "3x"], [[1, [b"\x00\xff", "é"]], 2**70]]
    vectors: dict = {
        "encode": [{"input": _enc(items), "output": encode(*items).hex()} for items in encodings],
        "canonical_json": [{"input": obj, "output": canonical_json(obj).decode("utf-8")}
                           for obj in [{"b": [1, 2], "a": "é\u2028\"x"}, {"z": {"y": None, "x": True}}]],
        "expand_message_xmd": [
            {"msg": msg.hex(), "dst": dst.decode(), "length": n, "output": expand_message_xmd(msg, dst, n).hex()}
            for msg, dst, n in [(b"", b"QUUX-V01-CS02-with-expander-SHA256-128", 32),
                                (b"abc", b"QUUX-V01-CS02-with-expander-SHA256-128", 32),
                                (b"quorum", dst_for("challenge-test"), 48)]],
        "groups": {},
    }
    for name in ("modp", "ed25519"):
        g = get_group(name)
        x = hash_to_scalar(g.q, "vector-secret", name)
        pk = PublicKey(g, g.exp_g(x))
        ctx = b"vector-context"
        ct, r = pk.encrypt(1)
        rp = RangeProof.prove(pk, ct, 1, r, 1, ctx)
        sp = SchnorrProof.prove(g, x, ctx)
        h = g.hash_to_element("vector", b"h")
        cp = ChaumPedersenProof.prove(g, x, g.g, pk.element, h, g.exp(h, x), ctx)
        vectors["groups"][name] = {
            "parameters": g.describe(),
            "hash_to_scalar": [{"tag": t, "items": _enc(items), "output": g.scalar_to_hex(hash_to_scalar(g.q, t, *items))}
                               for t, items in [("challenge-test", [b"a", "b", 3]), ("other", [])]],
            "exp_g": [{"scalar": g.scalar_to_hex(e), "element": g.to_hex(g.exp_g(e))} for e in (1, 2, 12345, g.q - 1)],
            "hash_to_element": [{"tag": "vector", "msg": b"h".hex(), "element": g.to_hex(h)}],
            "secret_key": g.scalar_to_hex(x),
            "public_key": pk.to_hex(),
            "range_proof": {
                "context": ctx.hex(), "limit": 1, "ciphertext": ct.to_json(g), "proof": rp.to_json(g),
                "challenge": g.scalar_to_hex(challenge(g, "range", ctx, [g.g, pk.element, ct.alpha, ct.beta],
                                                       list(rp.a) + list(rp.b), [1]))},
            "schnorr_proof": {
                "context": ctx.hex(), "public": pk.to_hex(), "proof": sp.to_json(g),
                "challenge": g.scalar_to_hex(challenge(g, "schnorr", ctx, [g.g, pk.element], [sp.commitment]))},
            "chaum_pedersen_proof": {
                "context": ctx.hex(), "h": g.to_hex(h), "hx": g.to_hex(g.exp(h, x)), "proof": cp.to_json(g),
                "challenge": g.scalar_to_hex(challenge(g, "chaum-pedersen", ctx, [g.g, pk.element, h, g.exp(h, x)],
                                                       [cp.a, cp.b]))},
        }
    vectors["groups"]["modp"]["invalid_elements"] = [
        {"why": "zero", "hex": "00" * 512}, {"why": "identity where a key is expected", "hex": (1).to_bytes(512, "big").hex()},
        {"why": "p - 1 has order 2", "hex": (int(get_group("modp").p) - 1).to_bytes(512, "big").hex()},
        {"why": "p itself", "hex": int(get_group("modp").p).to_bytes(512, "big").hex()},
        {"why": "3 is a non-residue", "hex": (3).to_bytes(512, "big").hex()},
    ]
    vectors["groups"]["ed25519"]["invalid_elements"] = [
        {"why": "identity where a key is expected", "hex": "01" + "00" * 31},
        {"why": "order 2 point (0, -1)", "hex": "ec" + "ff" * 30 + "7f"},
        {"why": "small-order point of order 8", "hex": "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"},
        {"why": "non-canonical y = p + 1", "hex": (2**255 - 18).to_bytes(32, "little").hex()},
        {"why": "not on the curve", "hex": "02" + "00" * 31},
    ]
    return vectors


if __name__ == "__main__":
    OUT.write_text(json.dumps(build(), indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")
