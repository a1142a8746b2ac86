"""Write tests/vectors/js/vectors.json: known answers that threshold/ (Python) produces and the
browser modules in web/static/js/crypto/ must reproduce byte for byte.

Deterministic: every random draw (group.random_scalars, through which random_scalar draws too;
the Shamir coefficients, the AES-GCM nonces and keystore salts) comes from a seeded stream that
is recorded beside the vector, so
the JavaScript side replays the same draws through its injectable rng and must produce the
same bytes. Run: .venv/bin/python tests/vectors/js/make_vectors.py
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterator
from unittest import mock

import nacl.bindings as sodium

from threshold import dkg, hybrid, keystore, shamir
from threshold.decryption import partial_decrypt
from threshold.elgamal import PublicKey
from threshold.encoding import canonical_json, encode
from threshold.errors import DecodeError, ProtocolError, QuorumError
from threshold.groups import Group, get_group
from threshold.hashing import dst_for, expand_message_xmd, hash_to_field, hash_to_scalar
from threshold.groups import _ed25519
from threshold.proofs import ChaumPedersenProof, RangeProof, SchnorrProof, challenge

OUT = Path(__file__).with_name("vectors.json")

# RFC 9380 appendix K.1: expand_message_xmd(SHA-256), DST "QUUX-V01-CS02-with-expander-SHA256-128".
RFC9380_DST = "QUUX-V01-CS02-with-expander-SHA256-128"
RFC9380_XMD = [
    ("", 0x20, "68a985b87eb6b46952128911f2a4412bbc302a9d759667f87f7a21d803f07235"),
    ("abc", 0x20, "d8ccab23b5985ccea865c6c97b6e5b8350e794e603b4b97902f53a8a0d605615"),
    ("abcdef0123456789", 0x20, "eff31487c770a893cfb36f912fbfcbff40d5661771ca4b2cb4eafe524333f5c1"),
    ("q128_" + "q" * 128, 0x20, "b23a1d2b4d97b2ef7785562a7e8bac7eed54ed6e97e29aa51bfe3f12ddad1ff9"),
    ("a512_" + "a" * 512, 0x20, "4623227bcc01293b8c130bf771da8c298dede7383243dc0993d2d94823958c4c"),
    ("", 0x80, "af84c27ccfd45d41914fdff5df25293e221afc53d8ad2ac06d5e3e29485dadbee0d121587713a3e0dd4d5e69e93eb7cd"
               "4f5df4cd103e188cf60cb02edc3edf18eda8576c412b18ffb658e3dd6ec849469b979d444cf7b26911a08e63cf31f9dc"
               "c541708d3491184472c2c29bb749d4286b004ceb5ee6b9a7fa5b646c993f0ced"),
    ("abc", 0x80, "abba86a6129e366fc877aab32fc4ffc70120d8996c88aee2fe4b32d6c7b6437a647e6c3163d40b76a73cf6a5674ef1d8"
                  "90f95b664ee0afa5359a5c4e07985635bbecbac65d747d3d2da7ec2b8221b17b0ca9dc8a1ac1c07ea6a1e60583e2cb00"
                  "058e77b7b72a298425cd1b941ad4ec65e8afc50303a22c0f99b0509b4c895f40"),
    ("abcdef0123456789", 0x80, "ef904a29bffc4cf9ee82832451c946ac3c8f8058ae97d8d629831a74c6572bd9ebd0df635cd1f208"
                               "e2038e760c4994984ce73f0d55ea9f22af83ba4734569d4bc95e18350f740c07eef653cbb9f87910"
                               "d833751825f0ebefa1abe5420bb52be14cf489b37fe1a72f7de2d10be453b2c9d9eb20c7e3f6edc5"
                               "a60629178d9478df"),
    ("q128_" + "q" * 128, 0x80, "80be107d0884f0d881bb460322f0443d38bd222db8bd0b0a5312a6fedb49c1bbd88fd75d8b9a0948"
                                "6c60123dfa1d73c1cc3169761b17476d3c6b7cbbd727acd0e2c942f4dd96ae3da5de368d26b32286"
                                "e32de7e5a8cb2949f866a0b80c58116b29fa7fabb3ea7d520ee603e0c25bcaf0b9a5e92ec6a1fe4e"
                                "0391d1cdbce8c68a"),
    ("a512_" + "a" * 512, 0x80, "546aff5444b5b79aa6148bd81728704c32decb73a3ba76e9e75885cad9def1d06d6792f8a7d12794"
                                "e90efed817d96920d728896a4510864370c207f99bd4a608ea121700ef01ed879745ee3e4ceef777"
                                "eda6d9e5e38b90c86ea6fb0b36504ba4a45d22e86f6db5dd43d98a294bebb9125d5b794e9d2a8118"
                                "1066eb954966a487"),
]


class Draws:
    """A seeded stand-in for the OS generator that records every draw for the JavaScript side."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.count = 0
        self.scalars: list[int] = []
        self.bytes: list[bytes] = []

    def _next(self, size: int) -> bytes:
        self.count += 1
        return expand_message_xmd(encode(self.label, self.count), dst_for("test-vectors-rng"), size)

    def scalar(self, q: int) -> int:
        x = 1 + int.from_bytes(self._next(48), "big") % (q - 1)
        self.scalars.append(x)
        return x

    def below(self, n: int) -> int:
        """secrets.randbelow(n) for threshold.shamir, which draws 1 + randbelow(q - 1): that sum
        is the recorded scalar, as the JavaScript trustee draws it."""
        return self.scalar(n + 1) - 1

    def urandom(self, n: int) -> bytes:
        data = self._next(n)
        self.bytes.append(data)
        return data

    def to_json(self) -> dict[str, list[str]]:
        return {"scalars": [x.to_bytes(32, "big").hex() for x in self.scalars], "bytes": [b.hex() for b in self.bytes]}


@contextmanager
def deterministic(group: Group, draws: Draws) -> Iterator[Draws]:
    """Route every random draw of threshold/ through `draws` (scalars, Shamir coefficients, nonces)."""
    with mock.patch.object(group, "random_scalars", lambda n: [draws.scalar(group.q) for _ in range(n)]), \
            mock.patch.object(shamir, "secrets", SimpleNamespace(randbelow=draws.below)), \
            mock.patch.object(hybrid, "os", SimpleNamespace(urandom=draws.urandom)), \
            mock.patch.object(keystore, "os", SimpleNamespace(urandom=draws.urandom)):
        yield draws


def seeded_scalar(group: Group, label: str) -> int:
    return 1 + hash_to_scalar(group.q - 1, "test-vectors-seed", label)


def tagged(value: Any) -> Any:
    """The vectors' JSON form of an encodable value: {"b": hex}, {"s": text}, {"i": decimal}, [...]."""
    if isinstance(value, bytes):
        return {"b": value.hex()}
    if isinstance(value, str):
        return {"s": value}
    if isinstance(value, int):
        return {"i": str(value)}
    return [tagged(v) for v in value]


# --- encodings and hashing ------------------------------------------------------------------

ENCODING_SAMPLES: list[list[Any]] = [
    [],
    [b""],
    [""],
    [0],
    [255, 256, 2**64, 2**70 + 5, 2**256 - 189],
    ["e1", "23x"],
    ["e12", "3x"],
    ["1", 1, b"\x01"],
    [[1, 2]],
    [[1], 2],
    [[], [[]], [[], [b""]]],
    ["é", "日本語", "😀", "a\u0000b", "\u2028"],
    ["QUORUM", b"\x00\xff" * 5, [7, ["nested", [b"deep", 2**100]]]],
]

JSON_SAMPLES: list[Any] = [
    {},
    [],
    {"b": 1, "a": [1, 2, {"d": None, "c": True}], "A": False, "": "empty"},
    {"seq": 0, "type": "ballot", "payload": {"alpha": "00ff", "n": 123456789012345}, "prev": "0" * 64},
    {"é": 1, "e": 2, "z": 3, "\uff5e": 4, "😀": 5, "\u00e9t\u00e9": 6, "~": 7, "\u0080": 8},
    {"text": "quote \" backslash \\ slash / tab \t nl \n cr \r bs \b ff \f"},
    {"controls": "".join(chr(i) for i in range(0x20)) + "\u007f\u0080\u2028\u2029"},
    {"unicode": "Grüße, 日本, 😀, \U0010ffff, \ufeff"},
    {"neg": -42, "big": 9007199254740991, "zero": 0, "list": [[], {}, [[]]]},
]


def encoding_vectors() -> list[dict[str, Any]]:
    return [{"items": tagged(items), "hex": encode(*items).hex()} for items in ENCODING_SAMPLES]


def json_vectors() -> list[dict[str, Any]]:
    return [{"value": value, "text": canonical_json(value).decode("utf-8")} for value in JSON_SAMPLES]


def xmd_vectors() -> list[dict[str, Any]]:
    out = []
    for msg, length, expected in RFC9380_XMD:
        got = expand_message_xmd(msg.encode(), RFC9380_DST.encode(), length).hex()
        assert got == expected, f"threshold.hashing disagrees with RFC 9380 for {msg[:8]!r}/{length}"
        out.append({"source": "RFC 9380 K.1", "dst": RFC9380_DST, "msg": msg, "len": length, "out": expected})
    for tag, msg, length in [("challenge", "", 48), ("h2e-modp-x", "abc", 528), ("nonce", "x" * 300, 255 * 32)]:
        dst = dst_for(tag)
        out.append({"source": "quorum", "dst": dst.decode(), "msg": msg, "len": length,
                    "out": expand_message_xmd(msg.encode(), dst, length).hex()})
    return out


def hash_vectors() -> dict[str, Any]:
    fields = []
    for modulus in [2**127 - 1, 257, get_group("modp").q, get_group("ed25519").q, get_group("modp").p]:
        for msg in [b"", b"quorum"]:
            fields.append({"msg": msg.hex(), "dst": "QUORUM-V1-field", "modulus": str(modulus),
                           "out": str(hash_to_field(msg, b"QUORUM-V1-field", int(modulus)))})
    scalars = []
    for name in ("modp", "ed25519"):
        q = get_group(name).q
        for tag, items in [("schnorr", []), ("range", ["ed25519", b"ctx", [b"\x01" * 32, 3], []]),
                           ("chaum-pedersen", [0, "é😀", [[], [b""]]]), ("decryption", ["x" * 70, 2**300])]:
            scalars.append({"group": name, "tag": tag, "items": tagged(items),
                            "scalar": hash_to_scalar(q, tag, *items).to_bytes(32, "big").hex()})
    return {"hash_to_field": fields, "hash_to_scalar": scalars}


# --- groups ---------------------------------------------------------------------------------

def decode_cases(group: Group) -> list[tuple[bytes, bool, str]]:
    """(bytes, allow_identity, note) for valid and invalid encodings."""
    valid = [group.encode(group.exp_g(seeded_scalar(group, f"valid{i}"))) for i in range(4)]
    cases = [(v, False, "valid element") for v in valid]
    cases += [(group.encode(group.identity), False, "identity where a key is expected"),
              (group.encode(group.identity), True, "identity where allowed")]
    if group.name == "modp":
        p = int(group.p)
        n = group.element_bytes
        cases += [
            (bytes(n), True, "zero"),
            ((p - 1).to_bytes(n, "big"), True, "p-1 (order 2)"),
            (p.to_bytes(n, "big"), True, "p"),
            ((p + 1).to_bytes(n, "big"), True, "p+1"),
            (b"\xff" * n, True, "2^4096-1"),
            ((p - int(group.g)).to_bytes(n, "big"), False, "-g: a non-residue"),
            ((4).to_bytes(n, "big"), False, "4: a quadratic residue outside the order-q subgroup"),
            ((2).to_bytes(n, "big"), False, "2: generates the group of order p-1"),
            ((int(group.g) * (p - 1) % p).to_bytes(n, "big"), False, "g times the order-2 element"),
        ]
    else:
        p = 2**255 - 19
        small = ["0100000000000000000000000000000000000000000000000000000000000000",
                 "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
                 "0000000000000000000000000000000000000000000000000000000000000000",
                 "0000000000000000000000000000000000000000000000000000000000000080",
                 "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
                 "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
                 "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
                 "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
                 "0100000000000000000000000000000000000000000000000000000000000080",
                 "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"]
        cases += [(bytes.fromhex(h), True, "small-order point") for h in small]
        for k in (0, 1, 2, 18):
            for sign in (0, 0x80):
                raw = bytearray((p + k).to_bytes(32, "little"))
                raw[31] |= sign
                cases.append((bytes(raw), True, f"non-canonical y = p + {k}"))
        cases.append((b"\xff" * 32, True, "non-canonical y = 2^255 - 1"))
        for i, t in enumerate(small[1:8]):
            cases.append((sodium.crypto_core_ed25519_add(valid[i % 4], bytes.fromhex(t)), False, "valid point plus torsion"))
        neg = bytearray(valid[0])
        neg[31] ^= 0x80
        cases.append((bytes(neg), False, "sign bit flipped: the negated point"))
        for i in range(48):
            cases.append((expand_message_xmd(encode("random point", i), dst_for("test-vectors"), 32), True, "random bytes"))
    return cases


def group_vectors(group: Group) -> dict[str, Any]:
    q = group.q
    exps = [0, 1, 2, 3, 255, 256, q - 1, q, q + 5, 2**256 - 1] + [seeded_scalar(group, f"exp{i}") for i in range(4)]
    base = group.exp_g(seeded_scalar(group, "base"))
    decode = []
    for data, allow, note in decode_cases(group):
        try:
            group.decode(data, "element", allow)
            ok = True
        except DecodeError:
            ok = False
        decode.append({"hex": data.hex(), "allow_identity": allow, "valid": ok, "note": note})
    a, b = group.exp_g(seeded_scalar(group, "a")), group.exp_g(seeded_scalar(group, "b"))
    return {
        "describe": group.describe(),
        "exp_g": [{"e": str(e), "element": group.to_hex(group.exp_g(e))} for e in exps],
        "exp": [{"base": group.to_hex(base), "e": str(e), "result": group.to_hex(group.exp(base, e))} for e in exps],
        "mul": {"a": group.to_hex(a), "b": group.to_hex(b), "product": group.to_hex(group.mul(a, b)),
                "quotient": group.to_hex(group.div(a, b)), "inverse_a": group.to_hex(group.inv(a))},
        "decode": decode,
        "hash_to_element": [{"tag": tag, "msg": msg.hex(), "element": group.to_hex(group.hash_to_element(tag, msg))}
                            for tag, msg in [("pedersen-h", b"Quorum Pedersen VSS generator h"), ("x", b""),
                                             ("test", bytes(range(40)))] + [("t", b"%d" % i) for i in range(24)]],
        "bad_hex": [group.to_hex(a)[:-2], group.to_hex(a) + "00", group.to_hex(a).upper(), "zz" * group.element_bytes, 5],
    }


# --- ElGamal and proofs ---------------------------------------------------------------------

def key_pair(group: Group, label: str) -> tuple[int, PublicKey]:
    x = seeded_scalar(group, label)
    return x, PublicKey(group, group.exp_g(x))


def elgamal_and_proofs(group: Group) -> dict[str, Any]:
    election_secret, pk = key_pair(group, "election key")
    context = encode("election", b"\x42" * 32, "voter-credential")
    encryptions, ranges = [], []
    for i, (m, limit) in enumerate([(0, 1), (1, 1), (0, 2), (2, 2), (1, 3), (3, 5)]):
        with deterministic(group, Draws(f"{group.name} range {i}")) as draws:
            ct, r = pk.encrypt(m)
            proof = RangeProof.prove(pk, ct, m, r, limit, context)
        assert proof.verify(pk, ct, context)
        encryptions.append({"public_key": pk.to_hex(), "m": m, "r": group.scalar_to_hex(r), "ciphertext": ct.to_json(group)})
        ranges.append({"public_key": pk.to_hex(), "m": m, "r": group.scalar_to_hex(r), "limit": limit,
                       "context": context.hex(), "ciphertext": ct.to_json(group), "draws": draws.to_json(),
                       "proof": proof.to_json(group)})
    schnorr = []
    for i, base in enumerate([None, group.exp_g(seeded_scalar(group, "other base"))]):
        x = seeded_scalar(group, f"schnorr {i}")
        with deterministic(group, Draws(f"{group.name} schnorr {i}")) as draws:
            proof = SchnorrProof.prove(group, x, context, base)
        b = group.g if base is None else base
        schnorr.append({"x": group.scalar_to_hex(x), "base": group.to_hex(b), "public": group.to_hex(group.exp(b, x)),
                        "context": context.hex(), "draws": draws.to_json(), "proof": proof.to_json(group)})
    x = seeded_scalar(group, "cp")
    g2 = group.exp_g(seeded_scalar(group, "cp base"))
    X1, X2 = group.exp_g(x), group.exp(g2, x)
    with deterministic(group, Draws(f"{group.name} cp")) as draws:
        proof = ChaumPedersenProof.prove(group, x, group.g, X1, g2, X2, context, "decryption")
    cp = [{"x": group.scalar_to_hex(x), "g2": group.to_hex(g2), "X1": group.to_hex(X1), "X2": group.to_hex(X2),
           "tag": "decryption", "context": context.hex(), "draws": draws.to_json(), "proof": proof.to_json(group)}]
    return {"election_secret": group.scalar_to_hex(election_secret), "encryptions": encryptions, "range": ranges,
            "schnorr": schnorr, "chaum_pedersen": cp, "shifted": shifted_commitments(group, pk, context)}


# What `accepts` ignores in a commitment: modp its sign; ed25519 its torsion part (orders 2 and 8 here).
T2, T8 = (bytes.fromhex(h) for h in ("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
                                     "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"))
SHIFTS = {"modp": [lambda x: get_group("modp").p - x] * 2, "ed25519": [lambda x: _ed25519.add(x, T2), lambda x: _ed25519.add(x, T8)]}


def shifted_commitments(group: Group, pk: PublicKey, context: bytes) -> dict[str, Any]:
    """A 0/1 proof of m = 1 whose prover shifted a_0 and b_1 by what `accepts` ignores before hashing them
    (valid: its equations hold up to that part, docs/spec.md section 4), and the same proof without the
    shifts but with b_1 shifted after hashing (invalid: the challenge no longer matches)."""
    q, g, K = group.q, group.g, pk.element
    r, w, c0, v0 = (seeded_scalar(group, f"shifted {x}") for x in ("r", "w", "c0", "v0"))
    ct, _ = pk.encrypt(1, r)
    a = [group.mul(group.exp_g(v0), group.exp(ct.alpha, -c0)), group.exp_g(w)]
    b = [group.mul(group.exp(K, v0), group.exp(ct.beta, -c0)), group.exp(K, w)]

    def proof(a: list, b: list) -> RangeProof:
        c1 = (challenge(group, RangeProof.TAG, context, [g, K, ct.alpha, ct.beta], a + b, [1]) - c0) % q
        return RangeProof(tuple(a), tuple(b), (c0,), (v0, (w + c1 * r) % q))

    shift_a, shift_b = SHIFTS[group.name]
    valid = proof([shift_a(a[0]), a[1]], [b[0], shift_b(b[1])])
    honest = proof(a, b)
    tampered = RangeProof(honest.a, (honest.b[0], shift_b(honest.b[1])), honest.challenges, honest.responses)
    assert valid.verify(pk, ct, context) and honest.verify(pk, ct, context) and not tampered.verify(pk, ct, context)
    return {"public_key": pk.to_hex(), "context": context.hex(), "ciphertext": ct.to_json(group),
            "valid": valid.to_json(group), "tampered": tampered.to_json(group)}


def hybrid_vectors(group: Group) -> list[dict[str, Any]]:
    out = []
    secret, pk = key_pair(group, "hybrid recipient")
    for i, (plain, aad) in enumerate([(b"", b""), ((12345).to_bytes(32, "big"), encode(b"ctx", 1, 2)),
                                      ("Grüße 😀".encode() * 20, b"\x00" * 100)]):
        with deterministic(group, Draws(f"{group.name} hybrid {i}")) as draws:
            ct = hybrid.encrypt(group, pk.element, plain, aad)
        assert hybrid.decrypt(group, secret, ct, aad) == plain
        out.append({"secret": group.scalar_to_hex(secret), "recipient": pk.to_hex(), "plaintext": plain.hex(),
                    "aad": aad.hex(), "draws": draws.to_json(), "ciphertext": ct.to_json(group)})
    return out


# --- DKG and decryption ---------------------------------------------------------------------

def qualification_json(q: dkg.Qualification) -> dict[str, Any]:
    """The JSON the browser's qualificationToJSON gives (the relay publishes it after round 3, web/ceremony.py)."""
    return {"qualified": list(q.qualified), "disqualified": {str(i): why for i, why in sorted(q.disqualified.items())},
            "rejected_complaints": [list(pair) for pair in q.rejected_complaints], "transcript_hash": q.transcript_hash.hex()}


DKG_SCENARIOS = ("bad-dealer", "bad-ephemeral", "silent-dealer", "withheld-reveal", "bad-reveal")


def ceremony(group: Group, scenario: str) -> tuple[dict[str, Any], list[dkg.TrusteeKey]]:
    """One 2-of-3 ceremony; trustee 1's draws are recorded so that the browser replays it exactly.

    Scenarios: honest; bad-dealer (3 sends 1 a wrong share: 1's complaint is upheld); bad-ephemeral (2 reuses
    another ciphertext's ephemeral proof: a public fault); silent-dealer (3 never deals); withheld-reveal (2 is
    qualified but does not reveal: 1 and 3 open their shares of it); bad-reveal (2's reveal carries a wrong
    Feldman value: invalid, so 2 is reconstructed as if it had not revealed)."""
    n, k = 3, 2
    params = dkg.CeremonyParams(group, n, k, encode("election", scenario, b"\x07" * 32))
    draws = {i: Draws(f"{group.name} dkg {scenario} trustee {i}") for i in range(1, n + 1)}

    def step(i, fn):
        with deterministic(group, draws[i]):
            return fn()

    trustees = {i: step(i, lambda i=i: dkg.Trustee(params, i)) for i in range(1, n + 1)}
    announcements = {i: step(i, t.announce) for i, t in trustees.items()}
    messages = {i: step(i, lambda t=t: t.deal(announcements)) for i, t in trustees.items()}
    if scenario == "bad-dealer":
        t3 = trustees[3]
        wrong = ((shamir.evaluate(t3.polynomial, 1, group.q) + 1).to_bytes(32, "big")
                 + shamir.evaluate(t3.blinding, 1, group.q).to_bytes(32, "big"))
        forged = step(3, lambda: hybrid.encrypt(group, announcements[1].enc_key, wrong, params.ctx("dkg-share", 3, 1)))
        messages[3] = step(3, lambda: t3.sign_deal({**messages[3].shares, 1: forged}))
    elif scenario == "bad-ephemeral":  # dealer 2 reuses the proof of another ciphertext: a public fault
        m2 = messages[2]
        swapped = hybrid.HybridCiphertext(m2.shares[3].ephemeral, m2.shares[1].proof, m2.shares[3].body)
        messages[2] = step(2, lambda: trustees[2].sign_deal({**m2.shares, 3: swapped}))
    elif scenario == "silent-dealer":
        del messages[3]
    silent = trustees.pop(3) if scenario == "silent-dealer" else None  # whose deal is not on the record: it stops
    complaints = [c for i, t in trustees.items() for c in step(i, lambda t=t: t.check_shares(messages))]
    qualification = dkg.qualify(params, announcements, messages, complaints)
    confirmations, refused = {}, None
    for i, t in trustees.items():
        if scenario == "silent-dealer":  # no trustee confirms a view without every deal (spec section 6 step 4); the
            try:  # adjudication of such a transcript stays specified, so its trustees are stepped past round 4 by hand
                t.confirm(messages, complaints)
            except ProtocolError as e:
                refused = str(e) if i == 1 else refused
            t.qualification, t._confirmed_deals = qualification, dkg._deals_digest(group, messages)
            confirmations[i] = dkg.Confirmation(i, step(i, lambda t=t, i=i: SchnorrProof.prove(
                group, t.enc_secret, dkg._confirm_ctx(params, i, qualification))))
            continue
        confirmation = step(i, lambda t=t: t.confirm(messages, complaints))
        if confirmation is not None:
            confirmations[i] = confirmation
    reveals = {}
    for i, t in trustees.items():
        reveal = step(i, lambda t=t: t.reveal(confirmations))
        if reveal is not None:
            reveals[i] = reveal
    if_all_revealed = dkg.adjudicate(params, announcements, messages, complaints, reveals, {})
    if scenario == "withheld-reveal":
        del reveals[2]
    elif scenario == "bad-reveal":
        r2 = reveals[2]
        reveals[2] = dkg.Reveal(2, (r2.feldman[0], group.mul(r2.feldman[1], group.g)), r2.proofs)
    reconstruct = dkg.to_reconstruct(params, qualification, messages, reveals)
    openings = {i: t.open(messages, reveals) for i, t in trustees.items() if i not in reconstruct} if reconstruct else {}
    result = dkg.adjudicate(params, announcements, messages, complaints, reveals, openings)
    assert result.public_key == if_all_revealed.public_key, "a withheld reveal changed the joint key"
    assert result.verification_keys == if_all_revealed.verification_keys
    transcript = dkg.Transcript(announcements, messages, complaints, reveals, openings)
    keys = [trustees[i].finish(transcript) for i in result.qualified]
    signatures = {i: step(i, lambda t=t: t.sign(transcript)) for i, t in trustees.items()}
    for i, sig in signatures.items():
        assert dkg.verify_signature(params, announcements[i], result, sig)
    vector = {
        "scenario": scenario, "n": n, "k": k, "context": params.context.hex(),
        "announcements": [a.to_json(group) for _, a in sorted(announcements.items())],
        "messages": [m.to_json(group) for _, m in sorted(messages.items())],
        "complaints": [c.to_json(group) for c in complaints],
        "qualification": qualification_json(qualification),
        "confirmations": [c.to_json(group) for _, c in sorted(confirmations.items())],
        "reveals": [r.to_json(group) for _, r in sorted(reveals.items())],
        "reconstruct": list(reconstruct),
        "openings": [o.to_json(group) for _, o in sorted(openings.items())],
        "result": result.to_json(group),
        "signatures": {str(i): s.to_json(group) for i, s in signatures.items()},
        "trustee1": {"draws": draws[1].to_json(), "key": trustees[1].finish(transcript).to_json()},
    }
    if scenario == "withheld-reveal":  # trustee 1 also opens a dealer that revealed: adjudicate refuses it
        extra = dkg.Opening(1, {**openings[1].openings, 3: trustees[1].received[3]})
        vector["openings_outside_recon"] = [extra.to_json(group), openings[3].to_json(group)]
    if scenario == "silent-dealer":  # 2 withholds too: 1 and the disqualified 3 can rebuild it, but 1 alone revealed
        alone = {1: reveals[1]}
        vector["reveals_of_1"] = [reveals[1].to_json(group)]
        assert dkg.to_reconstruct(params, qualification, messages, alone) == (2,)
        # what 1 and 3 would open (a trustee itself opens nothing from a view with fewer than k reveals)
        vector["openings_without_2"] = [dkg.Opening(i, {2: (shamir.evaluate(trustees[2].polynomial, i, group.q),
                                                             shamir.evaluate(trustees[2].blinding, i, group.q))}).to_json(group)
                                        for i in (1, 3)]
        assert vector["openings_without_2"][0] == dkg.Opening(1, {2: trustees[1].received[2]}).to_json(group)
        assert silent is not None and refused is not None
        vector["confirm_refused"] = refused
    return vector, keys


def _refusal(fn: Any) -> dict[str, Any]:
    """How threshold/ refuses: the error's kind, field (DecodeError) and message, which the browser must repeat."""
    try:
        fn()
    except DecodeError as e:
        return {"kind": "DecodeError", "field": e.field, "message": e.message}
    except ProtocolError as e:
        return {"kind": "ProtocolError", "message": str(e)}
    except QuorumError as e:
        raise AssertionError(f"unexpected {type(e).__name__}: {e}") from e
    raise AssertionError("accepted")


def dkg_rejects(group: Group, scenarios: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Published results, complaints and transcripts that threshold/ refuses, with the error the browser must give.

    Result parser (strict: indices increasing, reconstructed among the qualified, reasons strings, errors naming
    rejected_complaints[n]); a complaint about oneself; adjudicate refusing a transcript with no valid reveal (the
    joint secret would be public; also when a complaint is dropped after the reveals, which voids them all: they are
    bound to the hash of rounds 1-3), with fewer than k valid reveals (those few would hold the joint secret) and an
    opening of a dealer outside RECON. `message: None`: the field only (the
    wording of the generic object and element checks differs between the languages)."""
    cases: list[dict[str, Any]] = []

    def params(v: dict[str, Any]) -> dkg.CeremonyParams:
        return dkg.CeremonyParams(group, v["n"], v["k"], bytes.fromhex(v["context"]))

    def result(name: str, scenario: str, exact: bool = True, drop: str = "", **changes: Any) -> None:
        v = scenarios[scenario]
        obj = {key: value for key, value in {**v["result"], **changes}.items() if key != drop}
        refusal = _refusal(lambda: dkg.CeremonyResult.from_json(params(v), obj))
        cases.append({"name": name, "op": "result", "scenario": scenario, "input": obj,
                      **refusal, **({} if exact else {"message": None})})

    def complaint(name: str, **changes: Any) -> None:
        v = scenarios["bad-dealer"]
        obj = {**v["complaints"][0], **changes}
        cases.append({"name": name, "op": "complaint", "scenario": "bad-dealer", "input": obj,
                      **_refusal(lambda: dkg.Complaint.from_json(params(v), obj))})

    def adjudicate(name: str, scenario: str, **changes: Any) -> None:
        v = scenarios[scenario]
        rounds = {key: changes.get(key, v[key]) for key in ("complaints", "reveals", "openings")}
        p = params(v)

        def run() -> None:
            dkg.adjudicate(p, {a["index"]: dkg.Announcement.from_json(p, a) for a in v["announcements"]},
                           {m["index"]: dkg.DealerMessage.from_json(p, m) for m in v["messages"]},
                           [dkg.Complaint.from_json(p, c) for c in rounds["complaints"]],
                           {r["index"]: dkg.Reveal.from_json(p, r) for r in rounds["reveals"]},
                           {o["index"]: dkg.Opening.from_json(p, o) for o in rounds["openings"]})
        cases.append({"name": name, "op": "adjudicate", "scenario": scenario, **rounds, **_refusal(run)})

    result("qualified out of order", "honest", qualified=[2, 1, 3])
    result("qualified twice", "honest", qualified=[1, 1, 2, 3])
    result("qualified outside 1..n", "honest", qualified=[1, 2, 4])
    result("qualified as a string", "honest", qualified=[1, "2", 3])
    result("qualified as a boolean", "honest", qualified=[True, 2, 3])
    result("reconstructed out of order", "honest", reconstructed=[3, 2])
    result("reconstructed not qualified", "withheld-reveal", qualified=[1, 3])
    result("reason not a string", "bad-dealer", disqualified={"3": 5})
    result("disqualified key with a leading zero", "bad-dealer", disqualified={"03": "x"})
    result("disqualified key outside 1..n", "bad-dealer", disqualified={"4": "x"})
    result("rejected complaint not a pair", "honest", rejected_complaints=[[1]])
    result("rejected complaint naming no trustee", "honest", rejected_complaints=[[1, 2], [1, 4]])
    result("rejected complaints not a list", "honest", rejected_complaints={})
    result("disqualified a list", "honest", disqualified=[])
    result("qualification hash too short", "honest", qualification_hash="ab")
    result("verification key index 0", "honest", verification_keys={"0": scenarios["honest"]["result"]["public_key"]})
    result("qualification hash missing", "honest", exact=False, drop="qualification_hash")
    result("public key the identity", "honest", exact=False, public_key=group.to_hex(group.identity))
    complaint("complaint about oneself", dealer=1)
    complaint("complaint about oneself outside 1..n", accuser=9, dealer=9)
    complaint("complaint by trustee 0", accuser=0)
    adjudicate("no reveal at all", "honest", reveals=[])
    adjudicate("a complaint dropped after the reveals", "bad-dealer", complaints=[])
    adjudicate("an opening outside RECON", "withheld-reveal", openings=scenarios["withheld-reveal"]["openings_outside_recon"])
    adjudicate("fewer than k valid reveals", "silent-dealer", reveals=scenarios["silent-dealer"]["reveals_of_1"],
               openings=scenarios["silent-dealer"]["openings_without_2"])
    return cases


def decryption_vectors(group: Group, key: dkg.TrusteeKey) -> dict[str, Any]:
    pk = PublicKey(group, key.public_key)
    context = encode("tally", b"\x09" * 32)
    cts = []
    for i in range(3):
        with deterministic(group, Draws(f"{group.name} tally ct {i}")):
            cts.append(pk.encrypt(i)[0])
    with deterministic(group, Draws(f"{group.name} partial")) as draws:
        partial = partial_decrypt(group, key.index, key.secret, cts, context)
    if group.name == "modp":  # p-1 (order 2) and a point of order 8: refused before any exponentiation
        bad = (int(group.p) - 1).to_bytes(group.element_bytes, "big").hex()
        assert not group.is_member(int(bad, 16))
    else:
        bad = "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"
        assert not group.is_member(bytes.fromhex(bad))
    rejected = [ct.to_json(group) for ct in cts]
    rejected[1]["alpha"] = bad
    return {"key": key.to_json(), "context": context.hex(), "ciphertexts": [ct.to_json(group) for ct in cts],
            "draws": draws.to_json(), "partial": partial.to_json(group),
            "rejects": {"ciphertexts": rejected, "field": "ciphertexts[1].alpha"}}


def keystore_vector() -> dict[str, Any]:
    secret = {"group": "ed25519", "index": 2, "secret": "0f" * 32, "note": "Grüße 😀"}
    draws = Draws("keystore")
    with mock.patch.object(keystore, "os", SimpleNamespace(urandom=draws.urandom)):
        document = keystore.seal(secret, "correct horse battery staple", {"time_cost": 1, "memory_cost": 8 * 1024,
                                                                          "parallelism": 1})
    assert keystore.unseal(document, "correct horse battery staple") == secret
    return {"passphrase": "correct horse battery staple", "secret": secret, "draws": draws.to_json(), "document": document}


def build() -> dict[str, Any]:
    groups, proofs, hybrids, dkgs, rejects, decryptions = {}, {}, {}, {}, {}, {}
    for name in ("modp", "ed25519"):
        group = get_group(name)
        groups[name] = group_vectors(group)
        proofs[name] = elgamal_and_proofs(group)
        hybrids[name] = hybrid_vectors(group)
        honest, keys = ceremony(group, "honest")
        dkgs[name] = [honest] + [ceremony(group, s)[0] for s in DKG_SCENARIOS]
        rejects[name] = dkg_rejects(group, {v["scenario"]: v for v in dkgs[name]})
        decryptions[name] = decryption_vectors(group, keys[0])
    return {"version": 1, "encoding": encoding_vectors(), "canonical_json": json_vectors(),
            "expand_message_xmd": xmd_vectors(), **hash_vectors(), "groups": groups, "proofs": proofs,
            "hybrid": hybrids, "dkg": dkgs, "dkg_rejects": rejects, "decryption": decryptions,
            "keystore": keystore_vector()}


def main() -> None:
    OUT.write_text(json.dumps(build(), indent=1, sort_keys=True, ensure_ascii=True) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
