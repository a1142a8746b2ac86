"""Pedersen distributed key generation for k-of-n trustees, adjudicable from public data.

Round 1 (announce): each trustee publishes an encryption key with a proof of knowledge and
the hash of the Feldman commitments it will reveal, so that nobody can choose its polynomial
after seeing the others' (rushing attack). Round 2 (deal): commitments, a proof of knowledge
of the constant term, and every share encrypted to its recipient. Round 3 (complain): a
trustee whose share does not match the commitments reveals the KEM secret of that one
ciphertext with a Chaum-Pedersen proof; anyone then decrypts it and decides. Dealers caught
are disqualified; the joint key and each trustee's verification key follow from the
commitments of the qualified dealers. Every trustee signs the transcript hash.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from threshold import hybrid
from threshold.encoding import canonical_json, encode, hex_bytes
from threshold.errors import DecodeError, ProtocolError, VerificationError
from threshold.groups import Element, Group
from threshold.hashing import sha256
from threshold.proofs import ChaumPedersenProof, SchnorrProof
from threshold.shamir import Share, evaluate, random_polynomial
from threshold.vss import expected_commitment, feldman_commit, feldman_verify


_DECIMAL = re.compile(r"[1-9][0-9]{0,5}")


@dataclass(frozen=True)
class CeremonyParams:
    """Who takes part: n trustees, any k of whom decrypt; `context` binds it to one election."""

    group: Group
    n: int
    k: int
    context: bytes

    def __post_init__(self) -> None:
        if not 1 <= self.k <= self.n:
            raise ValueError(f"need 1 <= k <= n, got k={self.k}, n={self.n}")

    def check_index(self, index: Any, field_name: str = "index") -> int:
        if not isinstance(index, int) or isinstance(index, bool) or not 1 <= index <= self.n:
            raise DecodeError(field_name, f"trustee index must be an integer in 1..{self.n}, got {index!r}")
        return index

    def ctx(self, *parts: Any) -> bytes:
        """Context of one proof: the ceremony's context plus the step and the trustees concerned."""
        return encode(self.context, self.n, self.k, *parts)


def commitments_hash(group: Group, commitments: list[Element]) -> bytes:
    """What a trustee commits to in round 1."""
    return sha256(encode("dkg-commitments", [group.encode(c) for c in commitments]))


@dataclass(frozen=True)
class Announcement:
    index: int
    enc_key: Element
    enc_proof: SchnorrProof
    commit_hash: bytes

    def to_json(self, group: Group) -> dict[str, Any]:
        return {"index": self.index, "enc_key": group.to_hex(self.enc_key),
                "enc_proof": self.enc_proof.to_json(group), "commit_hash": self.commit_hash.hex()}

    @classmethod
    def from_json(cls, params: CeremonyParams, obj: Any, field_name: str = "announcement") -> "Announcement":
        o = _fields(obj, {"index", "enc_key", "enc_proof", "commit_hash"}, field_name)
        g = params.group
        return cls(params.check_index(o["index"], f"{field_name}.index"),
                   g.from_hex(o["enc_key"], f"{field_name}.enc_key"),
                   SchnorrProof.from_json(g, o["enc_proof"], f"{field_name}.enc_proof"),
                   _hex32(o["commit_hash"], f"{field_name}.commit_hash"))

    def verify(self, params: CeremonyParams) -> bool:
        return self.enc_proof.verify(params.group, self.enc_key, params.ctx("enc-key", self.index))


@dataclass(frozen=True)
class DealerMessage:
    index: int
    commitments: tuple[Element, ...]
    proof: SchnorrProof
    shares: Mapping[int, hybrid.HybridCiphertext]

    def to_json(self, group: Group) -> dict[str, Any]:
        return {"index": self.index, "commitments": [group.to_hex(c) for c in self.commitments],
                "proof": self.proof.to_json(group),
                "shares": {str(j): ct.to_json(group) for j, ct in sorted(self.shares.items())}}

    @classmethod
    def from_json(cls, params: CeremonyParams, obj: Any, field_name: str = "dealer") -> "DealerMessage":
        o = _fields(obj, {"index", "commitments", "proof", "shares"}, field_name)
        g = params.group
        index = params.check_index(o["index"], f"{field_name}.index")
        if not isinstance(o["commitments"], list) or len(o["commitments"]) != params.k:
            raise DecodeError(f"{field_name}.commitments", f"expected a list of {params.k} elements")
        commitments = tuple(g.from_hex_many([(c, f"{field_name}.commitments[{m}]") for m, c in enumerate(o["commitments"])]))
        if not isinstance(o["shares"], dict):
            raise DecodeError(f"{field_name}.shares", "expected an object keyed by recipient index")
        expected = {str(j) for j in range(1, params.n + 1) if j != index}
        if set(o["shares"]) != expected:
            raise DecodeError(f"{field_name}.shares", f"expected one share for each of {sorted(expected, key=int)}")
        shares = {_int_key(j, f"{field_name}.shares"): hybrid.HybridCiphertext.from_json(g, ct, f"{field_name}.shares.{j}")
                  for j, ct in o["shares"].items()}
        return cls(index, commitments, SchnorrProof.from_json(g, o["proof"], f"{field_name}.proof"), shares)


@dataclass(frozen=True)
class Complaint:
    """`accuser` says its share from `dealer` is wrong and opens that ciphertext for everyone."""

    accuser: int
    dealer: int
    kem_secret: Element
    proof: ChaumPedersenProof

    def to_json(self, group: Group) -> dict[str, Any]:
        return {"accuser": self.accuser, "dealer": self.dealer,
                "kem_secret": group.to_hex(self.kem_secret), "proof": self.proof.to_json(group)}

    @classmethod
    def from_json(cls, params: CeremonyParams, obj: Any, field_name: str = "complaint") -> "Complaint":
        o = _fields(obj, {"accuser", "dealer", "kem_secret", "proof"}, field_name)
        g = params.group
        return cls(params.check_index(o["accuser"], f"{field_name}.accuser"),
                   params.check_index(o["dealer"], f"{field_name}.dealer"),
                   g.from_hex(o["kem_secret"], f"{field_name}.kem_secret"),
                   ChaumPedersenProof.from_json(g, o["proof"], f"{field_name}.proof"))


@dataclass(frozen=True)
class CeremonyResult:
    """The public outcome: qualified dealers, joint key, verification keys, transcript hash."""

    qualified: tuple[int, ...]
    disqualified: Mapping[int, str]
    public_key: Element
    verification_keys: Mapping[int, Element]
    transcript_hash: bytes
    rejected_complaints: tuple[tuple[int, int], ...] = ()

    def to_json(self, group: Group) -> dict[str, Any]:
        return {"qualified": list(self.qualified),
                "disqualified": {str(i): why for i, why in sorted(self.disqualified.items())},
                "public_key": group.to_hex(self.public_key),
                "verification_keys": {str(j): group.to_hex(v) for j, v in sorted(self.verification_keys.items())},
                "transcript_hash": self.transcript_hash.hex(),
                "rejected_complaints": [list(pair) for pair in self.rejected_complaints]}

    @classmethod
    def from_json(cls, params: CeremonyParams, obj: Any, field_name: str = "ceremony") -> "CeremonyResult":
        """Parse a published result; verifiers then recompute it with `adjudicate` and compare."""
        o = _fields(obj, {"qualified", "disqualified", "public_key", "verification_keys", "transcript_hash",
                          "rejected_complaints"}, field_name)
        g = params.group
        if not isinstance(o["qualified"], list) or not isinstance(o["disqualified"], dict) \
                or not isinstance(o["verification_keys"], dict) or not isinstance(o["rejected_complaints"], list):
            raise DecodeError(field_name, "qualified and rejected_complaints must be lists, the others objects")
        qualified = tuple(params.check_index(i, f"{field_name}.qualified") for i in o["qualified"])
        disqualified = {params.check_index(_int_key(i, f"{field_name}.disqualified"), f"{field_name}.disqualified"): str(w)
                        for i, w in o["disqualified"].items()}
        vks = {params.check_index(_int_key(j, f"{field_name}.verification_keys"), f"{field_name}.verification_keys"):
               g.from_hex(v, f"{field_name}.verification_keys.{j}") for j, v in o["verification_keys"].items()}
        rejected = []
        for pair in o["rejected_complaints"]:
            if not isinstance(pair, list) or len(pair) != 2:
                raise DecodeError(f"{field_name}.rejected_complaints", "expected [accuser, dealer] pairs")
            rejected.append((params.check_index(pair[0]), params.check_index(pair[1])))
        return cls(qualified, disqualified, g.from_hex(o["public_key"], f"{field_name}.public_key"), vks,
                   _hex32(o["transcript_hash"], f"{field_name}.transcript_hash"), tuple(rejected))


def _share_aad(params: CeremonyParams, dealer: int, recipient: int) -> bytes:
    return params.ctx("dkg-share", dealer, recipient)


def _complaint_ctx(params: CeremonyParams, accuser: int, dealer: int) -> bytes:
    return params.ctx("dkg-complaint", accuser, dealer)


class Trustee:
    """One trustee's side of the ceremony; its secrets never leave this object unencrypted."""

    def __init__(self, params: CeremonyParams, index: int) -> None:
        self.params = params
        self.index = params.check_index(index)
        g = params.group
        self.enc_secret = g.random_scalar()
        self.enc_key = g.exp_g(self.enc_secret)
        self.polynomial = random_polynomial(g.random_scalar(), params.k - 1, g.q)
        self.commitments = feldman_commit(g, self.polynomial)
        self.received: dict[int, int] = {}

    def announce(self) -> Announcement:
        p = self.params
        proof = SchnorrProof.prove(p.group, self.enc_secret, p.ctx("enc-key", self.index))
        return Announcement(self.index, self.enc_key, proof, commitments_hash(p.group, self.commitments))

    def deal(self, announcements: Mapping[int, Announcement]) -> DealerMessage:
        """Reveal commitments and send every other trustee its share, encrypted to its key."""
        p, g = self.params, self.params.group
        _check_announcements(p, announcements)
        proof = SchnorrProof.prove(g, self.polynomial[0], p.ctx("dkg-constant", self.index))
        shares = {}
        for j in range(1, p.n + 1):
            if j != self.index:
                value = evaluate(self.polynomial, j, g.q).to_bytes(32, "big")
                shares[j] = hybrid.encrypt(g, announcements[j].enc_key, value, _share_aad(p, self.index, j))
        return DealerMessage(self.index, tuple(self.commitments), proof, shares)

    def check_shares(self, messages: Mapping[int, DealerMessage]) -> list[Complaint]:
        """Decrypt the shares addressed to this trustee; complain about each one that is wrong."""
        p, g = self.params, self.params.group
        complaints = []
        for i, msg in sorted(messages.items()):
            if i == self.index:
                continue
            ct = msg.shares.get(self.index)
            if ct is None or not ct.ephemeral_valid(g, _share_aad(p, i, self.index)):
                continue  # public faults: adjudicate disqualifies the dealer; never reveal S for them
            try:
                raw = hybrid.decrypt(g, self.enc_secret, ct, _share_aad(p, i, self.index))
                value = int.from_bytes(raw, "big") if len(raw) == 32 else None
            except VerificationError:
                value = None
            if value is not None and value < g.q and feldman_verify(g, msg.commitments, Share(self.index, value)):
                self.received[i] = value
                continue
            secret = hybrid.kem_secret(g, self.enc_secret, ct)
            proof = ChaumPedersenProof.prove(g, self.enc_secret, g.g, self.enc_key, ct.ephemeral, secret,
                                             _complaint_ctx(p, self.index, i))
            complaints.append(Complaint(self.index, i, secret, proof))
        return complaints

    def finish(self, result: CeremonyResult) -> "TrusteeKey":
        """This trustee's share of the joint secret: the sum of the qualified dealers' shares."""
        g = self.params.group
        own = evaluate(self.polynomial, self.index, g.q)
        missing = [i for i in result.qualified if i != self.index and i not in self.received]
        if missing:
            raise ProtocolError(f"trustee {self.index} holds no valid share from qualified dealers {missing}")
        secret = sum(own if i == self.index else self.received[i] for i in result.qualified) % g.q
        if g.exp_g(secret) != result.verification_keys[self.index]:
            raise VerificationError(f"trustee {self.index}: share does not match its verification key")
        return TrusteeKey(self.params.group, self.index, secret, result.public_key, dict(result.verification_keys))

    def sign(self, result: CeremonyResult) -> SchnorrProof:
        """Signature on the transcript hash with the announced encryption key."""
        return SchnorrProof.prove(self.params.group, self.enc_secret,
                                  self.params.ctx("dkg-transcript", self.index, result.transcript_hash))


def verify_signature(params: CeremonyParams, announcement: Announcement, result: CeremonyResult,
                     signature: SchnorrProof) -> bool:
    """Whether trustee `announcement.index` signed this transcript hash."""
    return signature.verify(params.group, announcement.enc_key,
                            params.ctx("dkg-transcript", announcement.index, result.transcript_hash))


@dataclass(frozen=True)
class TrusteeKey:
    """A trustee's share x_i of the joint secret with the public data needed to decrypt."""

    group: Group
    index: int
    secret: int
    public_key: Element
    verification_keys: Mapping[int, Element] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        g = self.group
        return {"group": g.name, "index": self.index, "secret": g.scalar_to_hex(self.secret),
                "public_key": g.to_hex(self.public_key),
                "verification_keys": {str(j): g.to_hex(v) for j, v in sorted(self.verification_keys.items())}}

    @classmethod
    def from_json(cls, group: Group, obj: Any) -> "TrusteeKey":
        o = _fields(obj, {"group", "index", "secret", "public_key", "verification_keys"}, "trustee_key")
        if o["group"] != group.name:
            raise DecodeError("trustee_key.group", f"expected {group.name}, got {o['group']!r}")
        if not isinstance(o["verification_keys"], dict):
            raise DecodeError("trustee_key.verification_keys", "expected an object")
        index = o["index"]
        if not isinstance(index, int) or isinstance(index, bool) or index < 1:
            raise DecodeError("trustee_key.index", "expected a positive integer")
        vks = {_int_key(j, "trustee_key.verification_keys"): group.from_hex(v, f"trustee_key.verification_keys.{j}")
               for j, v in o["verification_keys"].items()}
        key = cls(group, index, group.scalar_from_hex(o["secret"], "trustee_key.secret"),
                  group.from_hex(o["public_key"], "trustee_key.public_key"), vks)
        if group.exp_g(key.secret) != vks.get(key.index):
            raise DecodeError("trustee_key.secret", "does not match the trustee's verification key")
        return key


def adjudicate(params: CeremonyParams, announcements: Mapping[int, Announcement],
               messages: Mapping[int, DealerMessage], complaints: list[Complaint]) -> CeremonyResult:
    """Decide the ceremony from public data only; anyone reruns this to check the result."""
    g = params.group
    _check_announcements(params, announcements)
    disqualified: dict[int, str] = {}
    for i in range(1, params.n + 1):
        msg = messages.get(i)
        if msg is None:
            disqualified[i] = "did not reveal its commitments"
        elif msg.index != i:
            disqualified[i] = "message index does not match"
        elif commitments_hash(g, list(msg.commitments)) != announcements[i].commit_hash:
            disqualified[i] = "revealed commitments differ from the committed hash"
        elif len(msg.commitments) != params.k or g.identity in msg.commitments:
            disqualified[i] = "malformed commitments"
        elif not msg.proof.verify(g, msg.commitments[0], params.ctx("dkg-constant", i)):
            disqualified[i] = "invalid proof of knowledge of the constant term"
        elif set(msg.shares) != {j for j in range(1, params.n + 1) if j != i}:
            disqualified[i] = "did not send a share to every trustee"
        else:
            bad = [j for j, ct in sorted(msg.shares.items()) if not ct.ephemeral_valid(g, _share_aad(params, i, j))]
            if bad:
                disqualified[i] = f"share ciphertext to trustee {bad[0]} has no valid ephemeral proof"
    rejected = []
    for c in complaints:
        if c.dealer in disqualified or c.accuser == c.dealer:
            continue
        ct = messages[c.dealer].shares[c.accuser]
        E = announcements[c.accuser].enc_key
        if not c.proof.verify(g, g.g, E, ct.ephemeral, c.kem_secret, _complaint_ctx(params, c.accuser, c.dealer)):
            rejected.append((c.accuser, c.dealer))
            continue
        try:
            raw = hybrid.open_with(g, c.kem_secret, ct, _share_aad(params, c.dealer, c.accuser))
            value = int.from_bytes(raw, "big") if len(raw) == 32 else g.q
        except VerificationError:
            value = g.q
        if value >= g.q or not feldman_verify(g, messages[c.dealer].commitments, Share(c.accuser, value)):
            disqualified[c.dealer] = f"complaint by trustee {c.accuser} upheld: invalid share"
        else:
            rejected.append((c.accuser, c.dealer))
    qualified = tuple(i for i in range(1, params.n + 1) if i not in disqualified)
    if len(qualified) < params.k:
        raise ProtocolError(f"only {len(qualified)} qualified dealers, {params.k} needed")
    public_key = g.prod(messages[i].commitments[0] for i in qualified)
    vks = {j: g.prod(expected_commitment(g, messages[i].commitments, j) for i in qualified)
           for j in range(1, params.n + 1)}
    transcript = sha256(encode(
        "dkg-transcript", params.context, params.n, params.k,
        [canonical_json(a.to_json(g)) for _, a in sorted(announcements.items())],
        [canonical_json(m.to_json(g)) for _, m in sorted(messages.items())],
        [canonical_json(c.to_json(g)) for c in complaints],
        list(qualified), g.encode(public_key)))
    return CeremonyResult(qualified, disqualified, public_key, vks, transcript, tuple(rejected))


def run_ceremony(params: CeremonyParams) -> tuple[CeremonyResult, list[TrusteeKey]]:
    """All trustees honest in one process (demos, tests, benchmarks)."""
    trustees = [Trustee(params, i) for i in range(1, params.n + 1)]
    announcements = {t.index: t.announce() for t in trustees}
    messages = {t.index: t.deal(announcements) for t in trustees}
    complaints = [c for t in trustees for c in t.check_shares(messages)]
    result = adjudicate(params, announcements, messages, complaints)
    return result, [t.finish(result) for t in trustees]


def _check_announcements(params: CeremonyParams, announcements: Mapping[int, Announcement]) -> None:
    if set(announcements) != set(range(1, params.n + 1)):
        raise ProtocolError(f"announcements needed from all trustees 1..{params.n}")
    for i, a in announcements.items():
        if a.index != i or not a.verify(params):
            raise VerificationError(f"trustee {i}: invalid encryption key announcement")


def _fields(obj: Any, keys: set[str], name: str) -> dict:
    if not isinstance(obj, dict) or set(obj) != keys:
        raise DecodeError(name, f"expected an object with exactly the keys {sorted(keys)}")
    return obj


def _int_key(text: Any, name: str) -> int:
    if not isinstance(text, str) or not _DECIMAL.fullmatch(text):
        raise DecodeError(name, f"expected a decimal trustee index as key, got {text!r}")
    return int(text)


def _hex32(text: Any, name: str) -> bytes:
    return hex_bytes(text, name, 32)
