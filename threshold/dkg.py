"""Distributed key generation for k-of-n trustees (Gennaro-Jarecki-Krawczyk-Rabin), adjudicable from public data.

Round 1 (announce): each trustee publishes an encryption key with a proof of knowledge. Round 2
(deal): Pedersen commitments g^a_m h^b_m, which hide the polynomial, and every share pair
(f(j), f'(j)) encrypted to its recipient. Round 3 (complain): a trustee whose shares do not match
reveals the KEM secret of that one ciphertext with a Chaum-Pedersen proof; anyone decides, and the
qualified set QUAL is final. Round 4 (confirm): each qualified trustee signs the hash of rounds 1-3
as it computed it; nobody reveals or opens anything before every qualified trustee has signed the
same one (the relay is no broadcast channel: it could show trustees different rounds 1-3). Round 5
(reveal): each qualified dealer publishes its Feldman values g^a_m with proofs tying them to its
Pedersen commitments. Round 6 (open), only if a qualified dealer did not reveal: the trustees
publish their shares from it and anyone reconstructs its polynomial. Nobody sees a Feldman value
before QUAL is fixed and a withheld reveal changes nothing, so no trustee can choose between joint
keys. Every trustee signs the transcript hash.
docs/spec.md section 6 is the normative description.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Collection, Mapping, Sequence

from threshold import hybrid
from threshold.encoding import canonical_json, encode, hex_bytes
from threshold.errors import DecodeError, ProtocolError, VerificationError
from threshold.groups import Element, Group
from threshold.hashing import sha256
from threshold.proofs import ChaumPedersenProof, SchnorrProof
from threshold.batch import BatchVerifier
from threshold.shamir import Share, evaluate, interpolate, random_polynomial
from threshold.vss import expected_commitment, feldman_commit, pedersen_commit, pedersen_h, pedersen_verify


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


@dataclass(frozen=True)
class Announcement:
    """Round 1: trustee `index`'s encryption key E = g^e, with a proof of knowledge of e."""

    index: int
    enc_key: Element
    enc_proof: SchnorrProof

    def to_json(self, group: Group) -> dict[str, Any]:
        return {"index": self.index, "enc_key": group.to_hex(self.enc_key), "enc_proof": self.enc_proof.to_json(group)}

    @classmethod
    def from_json(cls, params: CeremonyParams, obj: Any, field_name: str = "announcement") -> "Announcement":
        o = _fields(obj, {"index", "enc_key", "enc_proof"}, field_name)
        g = params.group
        return cls(params.check_index(o["index"], f"{field_name}.index"),
                   g.from_hex(o["enc_key"], f"{field_name}.enc_key"),
                   SchnorrProof.from_json(g, o["enc_proof"], f"{field_name}.enc_proof"))

    def verify(self, params: CeremonyParams) -> bool:
        return self.enc_proof.verify(params.group, self.enc_key, params.ctx("enc-key", self.index))


@dataclass(frozen=True)
class DealerMessage:
    """Round 2: Pedersen commitments g^a_m h^b_m and each share pair (f(j), f'(j)) encrypted to trustee j, signed by
    the dealer (a Schnorr proof of its announced key bound to the rest), so that a relay that alters a share
    ciphertext is caught as the relay instead of convicting the dealer through the recipient's complaint."""

    index: int
    commitments: tuple[Element, ...]
    shares: Mapping[int, hybrid.HybridCiphertext]
    signature: SchnorrProof

    def signed_by(self, params: CeremonyParams, announcements: Mapping[int, "Announcement"]) -> bool:
        """Whether the dealer's announced key signed exactly this message, dealt to exactly these announcements."""
        return self.index in announcements and self.signature.verify(
            params.group, announcements[self.index].enc_key,
            _deal_context(params, self.index, self.commitments, self.shares, announcements))

    def to_json(self, group: Group) -> dict[str, Any]:
        return {"index": self.index, "commitments": [group.to_hex(c) for c in self.commitments],
                "shares": {str(j): ct.to_json(group) for j, ct in sorted(self.shares.items())},
                "signature": self.signature.to_json(group)}

    @classmethod
    def from_json(cls, params: CeremonyParams, obj: Any, field_name: str = "dealer") -> "DealerMessage":
        o = _fields(obj, {"index", "commitments", "shares", "signature"}, field_name)
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
        return cls(index, commitments, shares, SchnorrProof.from_json(g, o["signature"], f"{field_name}.signature"))


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
        if o["accuser"] == o["dealer"]:
            raise DecodeError(f"{field_name}.dealer", "a trustee holds no share from itself to complain about")
        return cls(params.check_index(o["accuser"], f"{field_name}.accuser"),
                   params.check_index(o["dealer"], f"{field_name}.dealer"),
                   g.from_hex(o["kem_secret"], f"{field_name}.kem_secret"),
                   ChaumPedersenProof.from_json(g, o["proof"], f"{field_name}.proof"))


@dataclass(frozen=True)
class Qualification:
    """The outcome of rounds 1-3: the qualified dealers (final from here on), why the others were not, and the hash
    of those rounds, to which every reveal is bound (so that no complaint can be added or dropped afterwards)."""

    qualified: tuple[int, ...]
    disqualified: Mapping[int, str]
    rejected_complaints: tuple[tuple[int, int], ...]
    transcript_hash: bytes


@dataclass(frozen=True)
class Confirmation:
    """Round 4: qualified trustee `index` signs, with its announced key, the hash of rounds 1-3 it computed itself."""

    index: int
    signature: SchnorrProof

    def to_json(self, group: Group) -> dict[str, Any]:
        return {"index": self.index, "signature": self.signature.to_json(group)}

    @classmethod
    def from_json(cls, params: CeremonyParams, obj: Any, field_name: str = "confirmation") -> "Confirmation":
        o = _fields(obj, {"index", "signature"}, field_name)
        return cls(params.check_index(o["index"], f"{field_name}.index"),
                   SchnorrProof.from_json(params.group, o["signature"], f"{field_name}.signature"))

    def valid(self, params: CeremonyParams, announcement: Announcement, qualification: Qualification) -> bool:
        """Whether trustee `announcement.index` signed this qualification's hash."""
        return self.index == announcement.index and self.signature.verify(
            params.group, announcement.enc_key, _confirm_ctx(params, self.index, qualification))


@dataclass(frozen=True)
class Reveal:
    """Round 5: a qualified dealer's Feldman values A_m = g^a_m, each with proofs of a_m (A_m = g^a_m) and of
    b_m (C_m / A_m = h^b_m), so that A_m is the g-part of its Pedersen commitment C_m."""

    index: int
    feldman: tuple[Element, ...]
    proofs: tuple[tuple[SchnorrProof, SchnorrProof], ...]

    def to_json(self, group: Group) -> dict[str, Any]:
        return {"index": self.index, "feldman": [group.to_hex(a) for a in self.feldman],
                "proofs": [{"feldman": pf.to_json(group), "blinding": pb.to_json(group)} for pf, pb in self.proofs]}

    @classmethod
    def from_json(cls, params: CeremonyParams, obj: Any, field_name: str = "reveal") -> "Reveal":
        o = _fields(obj, {"index", "feldman", "proofs"}, field_name)
        g = params.group
        index = params.check_index(o["index"], f"{field_name}.index")
        for key in ("feldman", "proofs"):
            if not isinstance(o[key], list) or len(o[key]) != params.k:
                raise DecodeError(f"{field_name}.{key}", f"expected a list of {params.k} items")
        feldman = tuple(g.from_hex_many([(a, f"{field_name}.feldman[{m}]") for m, a in enumerate(o["feldman"])]))
        proofs = []
        for m, pair in enumerate(o["proofs"]):
            pair = _fields(pair, {"feldman", "blinding"}, f"{field_name}.proofs[{m}]")
            proofs.append((SchnorrProof.from_json(g, pair["feldman"], f"{field_name}.proofs[{m}].feldman"),
                           SchnorrProof.from_json(g, pair["blinding"], f"{field_name}.proofs[{m}].blinding")))
        return cls(index, feldman, tuple(proofs))

    def valid(self, params: CeremonyParams, message: DealerMessage, qualification: Qualification) -> bool:
        """Whether these Feldman values belong to `message`'s Pedersen commitments, proven under this qualification
        (all 2k proofs, one batch); members of the group only, never the identity."""
        g = params.group
        if self.index != message.index or len(self.feldman) != params.k or len(self.proofs) != params.k \
                or g.identity in self.feldman or not all(g.is_member(A) for A in self.feldman):
            return False
        h, bound = pedersen_h(g), qualification.transcript_hash
        batch = BatchVerifier(g, {h: g.fixed_base(h)})
        for m, (A, C, (pf, pb)) in enumerate(zip(self.feldman, message.commitments, self.proofs)):
            batch.add(m, pf.equations(g, A, params.ctx("dkg-feldman", self.index, m, bound)) +
                      pb.equations(g, g.div(C, A), params.ctx("dkg-blinding", self.index, m, bound), base=h))
        return not batch.verify()


@dataclass(frozen=True)
class Opening:
    """Round 6: trustee `index` publishes its share pair (f_i(index), f'_i(index)) from each dealer i that did not reveal."""

    index: int
    openings: Mapping[int, tuple[int, int]]

    def to_json(self, group: Group) -> dict[str, Any]:
        return {"index": self.index, "openings": {str(i): {"share": group.scalar_to_hex(s), "blinding": group.scalar_to_hex(t)}
                                                  for i, (s, t) in sorted(self.openings.items())}}

    @classmethod
    def from_json(cls, params: CeremonyParams, obj: Any, field_name: str = "opening") -> "Opening":
        o = _fields(obj, {"index", "openings"}, field_name)
        g = params.group
        index = params.check_index(o["index"], f"{field_name}.index")
        if not isinstance(o["openings"], dict):
            raise DecodeError(f"{field_name}.openings", "expected an object keyed by dealer index")
        openings = {}
        for key, pair in o["openings"].items():
            dealer = params.check_index(_int_key(key, f"{field_name}.openings"), f"{field_name}.openings")
            if dealer == index:
                raise DecodeError(f"{field_name}.openings.{key}", "a trustee holds no share of its own from itself")
            pair = _fields(pair, {"share", "blinding"}, f"{field_name}.openings.{key}")
            openings[dealer] = (g.scalar_from_hex(pair["share"], f"{field_name}.openings.{key}.share"),
                                g.scalar_from_hex(pair["blinding"], f"{field_name}.openings.{key}.blinding"))
        return cls(index, openings)


@dataclass(frozen=True)
class CeremonyResult:
    """The public outcome: qualified dealers, those reconstructed in public, joint key, verification keys, transcript hash."""

    qualified: tuple[int, ...]
    disqualified: Mapping[int, str]
    public_key: Element
    verification_keys: Mapping[int, Element]
    transcript_hash: bytes
    rejected_complaints: tuple[tuple[int, int], ...]
    reconstructed: tuple[int, ...]
    qualification_hash: bytes

    def to_json(self, group: Group) -> dict[str, Any]:
        return {"qualified": list(self.qualified),
                "disqualified": {str(i): why for i, why in sorted(self.disqualified.items())},
                "reconstructed": list(self.reconstructed),
                "qualification_hash": self.qualification_hash.hex(),
                "public_key": group.to_hex(self.public_key),
                "verification_keys": {str(j): group.to_hex(v) for j, v in sorted(self.verification_keys.items())},
                "transcript_hash": self.transcript_hash.hex(),
                "rejected_complaints": [list(pair) for pair in self.rejected_complaints]}

    @classmethod
    def from_json(cls, params: CeremonyParams, obj: Any, field_name: str = "ceremony") -> "CeremonyResult":
        """Parse a published result; verifiers then recompute it with `adjudicate` and compare."""
        o = _fields(obj, {"qualified", "disqualified", "reconstructed", "qualification_hash", "public_key",
                          "verification_keys", "transcript_hash", "rejected_complaints"}, field_name)
        g = params.group
        if not isinstance(o["qualified"], list) or not isinstance(o["disqualified"], dict) or not isinstance(o["reconstructed"], list) \
                or not isinstance(o["verification_keys"], dict) or not isinstance(o["rejected_complaints"], list):
            raise DecodeError(field_name, "qualified, reconstructed and rejected_complaints must be lists, the others objects")
        qualified = _increasing(params, o["qualified"], f"{field_name}.qualified")
        reconstructed = _increasing(params, o["reconstructed"], f"{field_name}.reconstructed")
        if not set(reconstructed) <= set(qualified):
            raise DecodeError(f"{field_name}.reconstructed", "only qualified dealers are reconstructed")
        disqualified = {}
        for i, why in o["disqualified"].items():
            if not isinstance(why, str):
                raise DecodeError(f"{field_name}.disqualified.{i}", "expected the reason as a string")
            disqualified[params.check_index(_int_key(i, f"{field_name}.disqualified"), f"{field_name}.disqualified")] = why
        if set(qualified) & set(disqualified) or len(qualified) + len(disqualified) != params.n:
            raise DecodeError(f"{field_name}.qualified", f"every dealer 1..{params.n} is either qualified or disqualified, "
                              "never both")
        vks = {params.check_index(_int_key(j, f"{field_name}.verification_keys"), f"{field_name}.verification_keys"):
               g.from_hex(v, f"{field_name}.verification_keys.{j}") for j, v in o["verification_keys"].items()}
        if len(vks) != params.n:
            missing = sorted(set(range(1, params.n + 1)) - set(vks))
            raise DecodeError(f"{field_name}.verification_keys", f"expected one key per trustee 1..{params.n}, "
                              f"missing {missing}")
        rejected = []
        for n, pair in enumerate(o["rejected_complaints"]):
            where = f"{field_name}.rejected_complaints[{n}]"
            if not isinstance(pair, list) or len(pair) != 2:
                raise DecodeError(where, "expected an [accuser, dealer] pair")
            rejected.append((params.check_index(pair[0], where), params.check_index(pair[1], where)))
        return cls(qualified, disqualified, g.from_hex(o["public_key"], f"{field_name}.public_key"), vks,
                   _hex32(o["transcript_hash"], f"{field_name}.transcript_hash"), tuple(rejected), reconstructed,
                   _hex32(o["qualification_hash"], f"{field_name}.qualification_hash"))


def _announcements_json(group: Group, announcements: Mapping[int, Announcement]) -> list[bytes]:
    return [canonical_json(a.to_json(group)) for _, a in sorted(announcements.items())]


def _deal_context(params: CeremonyParams, dealer: int, commitments: Sequence[Element],
                  shares: Mapping[int, hybrid.HybridCiphertext], announcements: Mapping[int, "Announcement"]) -> bytes:
    """What a deal message's signature binds: the ceremony, the dealer, the hash of the message's other fields and
    the hash of the announcements it encrypted to (a relay that showed the dealer another key for a trustee is then
    caught as the relay, not through that trustee's complaint against the dealer)."""
    g = params.group
    body = {"index": dealer, "commitments": [g.to_hex(c) for c in commitments],
            "shares": {str(j): ct.to_json(g) for j, ct in sorted(shares.items())}}
    keys = [a.to_json(g) for _, a in sorted(announcements.items())]
    return params.ctx("dkg-deal", dealer, sha256(canonical_json(body)), sha256(canonical_json(keys)))


def _share_aad(params: CeremonyParams, dealer: int, recipient: int) -> bytes:
    return params.ctx("dkg-share", dealer, recipient)


def _complaint_ctx(params: CeremonyParams, accuser: int, dealer: int) -> bytes:
    return params.ctx("dkg-complaint", accuser, dealer)


def _confirm_ctx(params: CeremonyParams, index: int, qualification: Qualification) -> bytes:
    return params.ctx("dkg-confirm", index, qualification.transcript_hash)


def _deals_digest(group: Group, messages: Mapping[int, DealerMessage]) -> bytes:
    """The hash of a view of the deal messages: a trustee opens its shares only against the view it confirmed."""
    return sha256(encode("dkg-deals", [canonical_json(m.to_json(group)) for _, m in sorted(messages.items())]))


def _share_pair(raw: bytes, q: int) -> tuple[int, int] | None:
    """A decrypted share plaintext: f(j) || f'(j), two 32-byte big-endian scalars below q; None if it is not."""
    if len(raw) != 64:
        return None
    s, t = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    return (s, t) if s < q and t < q else None


def _valid_pair(group: Group, commitments: tuple[Element, ...], j: int, pair: tuple[int, int] | None) -> bool:
    return pair is not None and pedersen_verify(group, commitments, Share(j, pair[0]), Share(j, pair[1]))


class Trustee:
    """One trustee's side of the ceremony; its secrets never leave this object unencrypted."""

    def __init__(self, params: CeremonyParams, index: int) -> None:
        self.params = params
        self.index = params.check_index(index)
        g = params.group
        self.enc_secret = g.random_scalar()
        self.enc_key = g.exp_g(self.enc_secret)
        self.polynomial = random_polynomial(g.random_scalar(), params.k - 1, g.q)
        self.blinding = random_polynomial(g.random_scalar(), params.k - 1, g.q)
        self.commitments = pedersen_commit(g, self.polynomial, self.blinding)
        self.received: dict[int, tuple[int, int]] = {}
        self.qualification: Qualification | None = None  # what this trustee computed and confirmed (round 4)
        self._confirmed_deals: bytes | None = None  # the hash of the deal messages that qualification is over
        self.agreed = False  # every qualified trustee confirmed that qualification: it may reveal and open
        self._dealt_to: dict[int, Announcement] | None = None  # the announcements it encrypted its shares to
        self._dealt: DealerMessage | None = None  # the deal message it sent (it deals once)
        self._dealt_honestly = False  # dealt through deal(): no QUAL can then disqualify it
        self.opened: tuple[int, ...] | None = None  # the dealers it opened its shares of (its RECON), once

    def announce(self) -> Announcement:
        p = self.params
        return Announcement(self.index, self.enc_key, SchnorrProof.prove(p.group, self.enc_secret, p.ctx("enc-key", self.index)))

    def deal(self, announcements: Mapping[int, Announcement]) -> DealerMessage:
        """Pedersen commitments, and every other trustee's share pair encrypted to its key. Once: asked again, the
        same message for the same announcements, and a refusal for others (a relay showing it keys of its own, then
        the real ones as if the first deal had been lost, would decrypt every share and keep the deal it published
        clean: with deal-once, the message on the record is the one dealt to its keys, and QUAL is refused)."""
        p, g = self.params, self.params.group
        _check_announcements(p, announcements)
        if self._dealt is not None:
            if _announcements_json(g, announcements) != _announcements_json(g, self._dealt_to or {}):
                raise ProtocolError(f"trustee {self.index} already dealt its shares, to other announcements: it deals "
                                    "once (whoever relays them showed it two sets of keys)")
            return self._dealt
        shares = {}
        for j in range(1, p.n + 1):
            if j != self.index:
                value = evaluate(self.polynomial, j, g.q).to_bytes(32, "big") + evaluate(self.blinding, j, g.q).to_bytes(32, "big")
                shares[j] = hybrid.encrypt(g, announcements[j].enc_key, value, _share_aad(p, self.index, j))
        self._dealt_to = dict(announcements)
        message = self.sign_deal(shares)
        self._dealt_honestly = True  # only once the message exists: a deal that failed midway sent nothing
        return message

    def sign_deal(self, shares: Mapping[int, hybrid.HybridCiphertext]) -> DealerMessage:
        """The deal message of this dealer's commitments and these share ciphertexts, signed by its announced key
        together with the announcements `deal` encrypted to."""
        p = self.params
        if self._dealt_to is None:
            raise ProtocolError(f"trustee {self.index} has not dealt yet: sign_deal signs what deal encrypted to")
        if self._dealt is not None:  # another message than deal's: a dealer cheating on purpose (tests, adversaries)
            self._dealt_honestly = False
        context = _deal_context(p, self.index, self.commitments, shares, self._dealt_to)
        self._dealt = DealerMessage(self.index, tuple(self.commitments), dict(shares),
                                    SchnorrProof.prove(p.group, self.enc_secret, context))
        return self._dealt

    def check_shares(self, messages: Mapping[int, DealerMessage]) -> list[Complaint]:
        """Decrypt the share pairs addressed to this trustee; complain about each one that is wrong. Every message must
        be signed by its dealer for the announcements this trustee dealt to: a complaint opens this trustee's share
        pair to everyone, so it is never made about a message the relay altered (the accuser would leak its share
        and, the dealer's real message being fine, be named a false accuser)."""
        p, g = self.params, self.params.group
        if self._dealt_to is None:
            raise ProtocolError(f"trustee {self.index} has not dealt yet: it checks shares against the announcements "
                                "it dealt to")
        self._own_message(messages)
        altered = [i for i, msg in sorted(messages.items())
                   if i != self.index and not msg.signed_by(p, self._dealt_to)]
        if altered:
            raise ProtocolError(f"the deal message of trustee {altered[0]} is not signed by its dealer for the "
                                f"announcements trustee {self.index} dealt to: whoever relayed it altered it (or showed "
                                "the dealers other announcements); no share is judged and no complaint made")
        complaints = []
        for i, msg in sorted(messages.items()):
            if i == self.index:
                continue
            ct = msg.shares.get(self.index)
            if ct is None or not g.is_member(ct.ephemeral) or not ct.ephemeral_valid(g, _share_aad(p, i, self.index)):
                continue  # public faults: qualify disqualifies the dealer; never reveal S for them (of R = p - g^r: e mod 2)
            try:
                pair = _share_pair(hybrid.decrypt(g, self.enc_secret, ct, _share_aad(p, i, self.index)), g.q)
            except VerificationError:
                pair = None
            if _valid_pair(g, msg.commitments, self.index, pair):
                self.received[i] = pair  # type: ignore[assignment]
                continue
            secret = hybrid.kem_secret(g, self.enc_secret, ct)
            proof = ChaumPedersenProof.prove(g, self.enc_secret, g.g, self.enc_key, ct.ephemeral, secret,
                                             _complaint_ctx(p, self.index, i))
            complaints.append(Complaint(self.index, i, secret, proof))
        return complaints

    def confirm(self, messages: Mapping[int, DealerMessage], complaints: list[Complaint]) -> Confirmation | None:
        """Round 4: QUAL and the hash of rounds 1-3, computed by this trustee itself from the announcements it dealt
        to and the deal messages and complaints shown (which must hold every trustee's deal, its own as sent: an
        honest dealer is then in every QUAL, so that no two groups of trustees agree on different ones), signed if
        it is qualified (None if not). The trustee keeps that qualification: it confirms, reveals, opens, finishes and
        signs under no other. Refused for a QUAL disqualifying it though it dealt as the protocol asks, or naming a
        dealer whose valid share it does not hold (its complaint was dropped)."""
        p, g = self.params, self.params.group
        if self._dealt_to is None:
            raise ProtocolError(f"trustee {self.index} has not dealt yet: it computes QUAL over the announcements it "
                                "dealt to")
        self._own_message(messages)
        absent = [j for j in range(1, p.n + 1) if j not in messages]
        if absent:
            raise ProtocolError(f"the deal messages shown to trustee {self.index} lack those of trustees {absent}: it "
                                "computes QUAL only over every trustee's deal (a relay dropping honest deals from "
                                "some views could otherwise fork the ceremony); a trustee that does not deal stops the "
                                "ceremony, which restarts without it")
        qualification = qualify(p, self._dealt_to, messages, complaints)
        if self.qualification is not None and self.qualification != qualification:
            raise ProtocolError(f"trustee {self.index} already confirmed another qualification: the rounds 1-3 shown "
                                "now differ from those it was shown before")
        if self._dealt_honestly and self.index not in qualification.qualified:  # an honest deal is never faulted
            raise ProtocolError(f"the rounds 1-3 shown disqualify trustee {self.index} "
                                f"({qualification.disqualified.get(self.index, 'no reason given')}), which dealt as the "
                                "protocol asks: whoever relays the deal messages dropped or altered its own")
        missing = [i for i in qualification.qualified if i != self.index and i not in self.received]
        if missing:  # its complaint was dropped, or it never checked its shares
            raise ProtocolError(f"trustee {self.index} holds no valid share from qualified dealers {missing}")
        self.qualification, self._confirmed_deals = qualification, _deals_digest(g, messages)
        if self.index not in qualification.qualified:
            return None
        return Confirmation(self.index, SchnorrProof.prove(g, self.enc_secret, _confirm_ctx(p, self.index, qualification)))

    def reveal(self, confirmations: Mapping[int, Confirmation]) -> Reveal | None:
        """Round 5: once every qualified trustee has confirmed the qualification this trustee confirmed, the Feldman
        values of its polynomial with their proofs, bound to that qualification's hash (None if not qualified).

        Every trustee, qualified or not, calls this before it opens or finishes. The relay is no broadcast channel:
        it could show trustees different rounds 1-3 (with a colluder, show one honest trustee a QUAL in which
        everyone qualifies, the others one without its deal) and have each reveal and open under its own;
        honest trustees confirm only what they computed, so no QUAL that some honest qualified trustee did not
        compute gets every confirmation."""
        if isinstance(confirmations, Qualification):
            raise TypeError("reveal takes the qualified trustees' confirmations (round 4), not a Qualification: the "
                            "trustee computes QUAL itself, in confirm()")
        qualification = self._qualification()
        assert self._dealt_to is not None  # confirm() ran
        unconfirmed = [i for i in qualification.qualified if i not in confirmations
                       or not confirmations[i].valid(self.params, self._dealt_to[i], qualification)]
        if unconfirmed:
            raise ProtocolError(f"qualified trustees {unconfirmed} have not confirmed the qualification trustee "
                                f"{self.index} computed (hash {qualification.transcript_hash.hex()[:16]}): they were "
                                "shown other rounds 1-3 than this trustee, or have not confirmed yet; it reveals and "
                                "opens nothing before every qualified trustee has")
        self.agreed = True
        if self.index not in qualification.qualified:
            return None
        p, g, bound = self.params, self.params.group, qualification.transcript_hash
        h = pedersen_h(g)
        proofs = tuple((SchnorrProof.prove(g, a, p.ctx("dkg-feldman", self.index, m, bound)),
                        SchnorrProof.prove(g, b, p.ctx("dkg-blinding", self.index, m, bound), base=h))
                       for m, (a, b) in enumerate(zip(self.polynomial, self.blinding)))
        return Reveal(self.index, tuple(feldman_commit(g, self.polynomial)), proofs)

    def open(self, messages: Mapping[int, DealerMessage], reveals: Mapping[int, Reveal]) -> Opening:
        """This trustee's share pairs from the qualified dealers that it finds without a valid reveal (never from
        others: it decides RECON itself), for their public reconstruction.

        Once only: the trustee keeps the RECON it opened for, opens for no other, and finishes and signs only an
        outcome that reconstructs exactly those dealers. A relay showing each trustee a view in which another dealer
        did not reveal would otherwise collect k openings of every polynomial (so the joint secret), then publish
        the clean transcript for every trustee to sign. Nor does it open from a view with fewer than k valid
        reveals, which `adjudicate` refuses anyway."""
        qualification = self._agreed()
        if _deals_digest(self.params.group, messages) != self._confirmed_deals:
            raise ProtocolError(f"the deal messages shown to trustee {self.index} differ from those it confirmed the "
                                "qualification over: whoever relays them altered the view")
        recon = to_reconstruct(self.params, qualification, messages, reveals)
        if self.opened is not None and self.opened != recon:
            raise ProtocolError(f"trustee {self.index} already opened its shares for dealers {list(self.opened)} to be "
                                f"reconstructed, not {list(recon)}: the reveals shown differ from those it was shown "
                                "before")
        revealed = len(qualification.qualified) - len(recon)
        if revealed < self.params.k:
            raise ProtocolError(f"dealers {list(recon)} did not reveal and only {revealed} qualified dealers did, "
                                f"{self.params.k} needed: trustee {self.index} opens no share for an outcome that "
                                "cannot stand")
        self.opened = recon
        return Opening(self.index, {i: self.received[i] for i in recon if i != self.index})

    def _own_message(self, messages: Mapping[int, DealerMessage]) -> None:
        """Refuse a view of the deal messages without the one this trustee sent, as it sent it: a relay that drops it
        makes the trustee a disqualified dealer in that view, whose openings no signature of its would cover."""
        if messages.get(self.index) != self._dealt:
            raise ProtocolError(f"the deal messages shown do not hold the one trustee {self.index} sent: whoever relays "
                                "them dropped or altered it")

    def _qualification(self) -> Qualification:
        if self.qualification is None:
            raise ProtocolError(f"trustee {self.index} has not confirmed a qualification yet")
        return self.qualification

    def _agreed(self) -> Qualification:
        """The qualification every qualified trustee confirmed (`reveal` checked their confirmations)."""
        qualification = self._qualification()
        if not self.agreed:
            raise ProtocolError(f"trustee {self.index} has not seen every qualified trustee's confirmation of its "
                                "qualification (reveal checks them)")
        return qualification

    def _check_result(self, result: CeremonyResult) -> None:
        """Refuse an outcome of other rounds 1-3 than those this trustee confirmed, or one reconstructing other
        dealers than those it opened its shares for."""
        if result.qualification_hash != self._agreed().transcript_hash:
            raise VerificationError(f"trustee {self.index}: the outcome is not of the qualification it confirmed")
        if self.opened is not None and tuple(result.reconstructed) != self.opened:
            raise VerificationError(f"trustee {self.index}: the outcome reconstructs dealers {list(result.reconstructed)}, "
                                    f"it opened its shares for {list(self.opened)}")

    def outcome(self, transcript: Transcript) -> tuple[CeremonyResult, TrusteeKey]:
        """The outcome this trustee adjudicates itself from the ceremony's transcript (never one handed to it: a
        coordinator could hand it a key of its own, with verification keys fitted through this trustee's), and its
        share of the joint secret, the sum of the qualified dealers' shares. Refused unless the transcript holds this
        trustee's own deal message as sent, is of the qualification it confirmed, reconstructs the dealers it
        opened for, and its share fits its verification key."""
        if not isinstance(transcript, Transcript):
            raise TypeError("a trustee finishes and signs from the ceremony's Transcript, which it adjudicates itself, "
                            f"not from a {type(transcript).__name__}")
        self._own_message(transcript.messages)
        result = transcript.adjudicate(self.params)
        self._check_result(result)
        g = self.params.group  # every qualified dealer's share is held: reveal() refused this QUAL otherwise
        own = evaluate(self.polynomial, self.index, g.q)
        secret = sum(own if i == self.index else self.received[i][0] for i in result.qualified) % g.q
        if g.exp_g(secret) != result.verification_keys[self.index]:
            raise VerificationError(f"trustee {self.index}: share does not match its verification key")
        return result, TrusteeKey(g, self.index, secret, result.public_key, dict(result.verification_keys))

    def finish(self, transcript: Transcript) -> TrusteeKey:
        """This trustee's key from the transcript (`outcome`)."""
        return self.outcome(transcript)[1]

    def sign(self, transcript: Transcript) -> SchnorrProof:
        """Signature on the transcript hash with the announced encryption key: only of an outcome that `outcome`
        accepts, so that a trustee shown another deal than the transcript's never vouches for the transcript."""
        result, _ = self.outcome(transcript)
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


def qualify(params: CeremonyParams, announcements: Mapping[int, Announcement],
            messages: Mapping[int, DealerMessage], complaints: list[Complaint]) -> Qualification:
    """QUAL from rounds 1-3, decided from public data only; final once published."""
    g = params.group
    _check_announcements(params, announcements)
    altered = [i for i, msg in sorted(messages.items()) if not msg.signed_by(params, announcements)]
    if altered:
        raise ProtocolError(f"the deal message of trustee {altered[0]} is not signed by its announced key: it was altered "
                            "after the dealer sent it, or the dealer was shown other announcements (by whoever relayed or "
                            "published them), and proves nothing against it")
    disqualified: dict[int, str] = {}
    for i in range(1, params.n + 1):
        msg = messages.get(i)
        if msg is None:
            disqualified[i] = "did not deal"
        elif msg.index != i:
            disqualified[i] = "message index does not match"
        elif len(msg.commitments) != params.k or g.identity in msg.commitments \
                or not all(g.is_member(c) for c in msg.commitments):
            disqualified[i] = "malformed commitments"
        elif set(msg.shares) != {j for j in range(1, params.n + 1) if j != i}:
            disqualified[i] = "did not send a share to every trustee"
        else:
            bad = [j for j, ct in sorted(msg.shares.items())
                   if not g.is_member(ct.ephemeral) or not ct.ephemeral_valid(g, _share_aad(params, i, j))]
            if bad:
                disqualified[i] = f"share ciphertext to trustee {bad[0]} has no valid ephemeral proof"
    rejected = []
    for c in complaints:
        if c.dealer in disqualified or c.accuser == c.dealer:
            continue
        ct = messages[c.dealer].shares[c.accuser]
        E = announcements[c.accuser].enc_key
        if not g.is_member(c.kem_secret) or not c.proof.verify(g, g.g, E, ct.ephemeral, c.kem_secret, _complaint_ctx(params, c.accuser, c.dealer)):
            rejected.append((c.accuser, c.dealer))
            continue
        try:
            pair = _share_pair(hybrid.open_with(g, c.kem_secret, ct, _share_aad(params, c.dealer, c.accuser)), g.q)
        except VerificationError:
            pair = None
        if not _valid_pair(g, messages[c.dealer].commitments, c.accuser, pair):
            disqualified[c.dealer] = f"complaint by trustee {c.accuser} upheld: invalid share"
        else:
            rejected.append((c.accuser, c.dealer))
    qualified = tuple(i for i in range(1, params.n + 1) if i not in disqualified)
    if len(qualified) < params.k:
        raise ProtocolError(f"only {len(qualified)} qualified dealers, {params.k} needed")
    digest = sha256(encode(
        "dkg-qualification", params.context, params.n, params.k,
        [canonical_json(a.to_json(g)) for _, a in sorted(announcements.items())],
        [canonical_json(m.to_json(g)) for _, m in sorted(messages.items())],
        [canonical_json(c.to_json(g)) for c in complaints], list(qualified)))
    return Qualification(qualified, disqualified, tuple(rejected), digest)


def to_reconstruct(params: CeremonyParams, qualification: Qualification, messages: Mapping[int, DealerMessage],
                   reveals: Mapping[int, Reveal]) -> tuple[int, ...]:
    """The qualified dealers without a valid reveal: their polynomials are reconstructed from opened shares."""
    missing = [i for i in qualification.qualified if i not in messages]
    if missing:
        raise ProtocolError(f"the deal messages shown lack those of qualified dealers {missing}: whoever relays them "
                            "dropped them")
    return tuple(i for i in qualification.qualified
                 if i not in reveals or not reveals[i].valid(params, messages[i], qualification))


def _reconstruct(params: CeremonyParams, dealer: int, message: DealerMessage, openings: Mapping[int, Opening]) -> list[Element]:
    """Feldman values of a dealer that did not reveal, from the valid openings of its shares."""
    g = params.group
    points = [Share(j, o.openings[dealer][0]) for j, o in sorted(openings.items())
              if j != dealer and o.index == j and dealer in o.openings
              and _valid_pair(g, message.commitments, j, o.openings[dealer])]
    if len(points) < params.k:
        raise ProtocolError(f"dealer {dealer} did not reveal and {len(points)} valid openings of its shares were "
                            f"published, {params.k} needed to reconstruct it")
    coefficients = interpolate(points[:params.k], g.q)
    if any(evaluate(coefficients, s.index, g.q) != s.value for s in points[params.k:]):
        raise ProtocolError(f"valid openings of dealer {dealer}'s shares disagree (Pedersen binding broken)")
    return feldman_commit(g, coefficients)


def adjudicate(params: CeremonyParams, announcements: Mapping[int, Announcement], messages: Mapping[int, DealerMessage],
               complaints: list[Complaint], reveals: Mapping[int, Reveal],
               openings: Mapping[int, Opening]) -> CeremonyResult:
    """Decide the ceremony from public data only; anyone reruns this to check the result."""
    g = params.group
    qualification = qualify(params, announcements, messages, complaints)
    recon = to_reconstruct(params, qualification, messages, reveals)
    for j, opening in sorted(openings.items()):
        extra = sorted(set(opening.openings) - set(recon))
        if extra:
            raise DecodeError(f"opening.openings.{extra[0]}", f"trustee {j} opened its shares from dealer {extra[0]}, "
                              "which is not being reconstructed")
    feldman = {i: list(reveals[i].feldman) if i not in recon else _reconstruct(params, i, messages[i], openings)
               for i in qualification.qualified}
    revealed = len(qualification.qualified) - len(recon)
    if revealed < params.k:  # the joint secret is theirs plus public values: at least one of k must be honest
        raise ProtocolError(f"{revealed} qualified dealers have a valid reveal, {params.k} needed: the others rebuilt "
                            "from public openings, those few would hold the joint secret alone")
    public_key = g.prod(feldman[i][0] for i in qualification.qualified)
    vks = {j: g.prod(expected_commitment(g, feldman[i], j) for i in qualification.qualified)
           for j in range(1, params.n + 1)}
    transcript = sha256(encode(
        "dkg-transcript", params.context, params.n, params.k,
        [canonical_json(a.to_json(g)) for _, a in sorted(announcements.items())],
        [canonical_json(m.to_json(g)) for _, m in sorted(messages.items())],
        [canonical_json(c.to_json(g)) for c in complaints],
        [canonical_json(r.to_json(g)) for _, r in sorted(reveals.items())],
        [canonical_json(o.to_json(g)) for _, o in sorted(openings.items())],
        list(qualification.qualified), list(recon), g.encode(public_key)))
    return CeremonyResult(qualification.qualified, qualification.disqualified, public_key, vks, transcript,
                          qualification.rejected_complaints, recon, qualification.transcript_hash)


@dataclass(frozen=True)
class Transcript:
    """Every public message of a ceremony, by round (complaints in the order given)."""

    announcements: Mapping[int, Announcement]
    messages: Mapping[int, DealerMessage]
    complaints: list[Complaint]
    reveals: Mapping[int, Reveal]
    openings: Mapping[int, Opening]

    def adjudicate(self, params: CeremonyParams) -> CeremonyResult:
        return adjudicate(params, self.announcements, self.messages, self.complaints, self.reveals, self.openings)


def conclude(params: CeremonyParams, trustees: Sequence[Trustee], announcements: Mapping[int, Announcement],
             messages: Mapping[int, DealerMessage], complaints: list[Complaint], withhold: Collection[int] = ()) -> Transcript:
    """Rounds 4 to 6 played in one process by `trustees`, those in `withhold` keeping their reveals back."""
    qualification = qualify(params, announcements, messages, complaints)
    confirmed = {t.index: t.confirm(messages, complaints) for t in trustees}
    confirmations = {i: c for i, c in confirmed.items() if c is not None}
    made = {t.index: t.reveal(confirmations) for t in trustees}  # a withholding trustee too goes on under QUAL
    reveals = {i: r for i, r in made.items() if r is not None and i not in withhold}
    recon = to_reconstruct(params, qualification, messages, reveals)
    openings = {t.index: t.open(messages, reveals) for t in trustees if recon and t.index not in recon}
    return Transcript(announcements, messages, complaints, reveals, openings)


def honest_ceremony(params: CeremonyParams, withhold: Collection[int] = ()) -> tuple[list[Trustee], Transcript, CeremonyResult]:
    """All trustees in one process (demos, tests, benchmarks), those in `withhold` not revealing: the trustees, the
    transcript, its outcome."""
    trustees = [Trustee(params, i) for i in range(1, params.n + 1)]
    announcements = {t.index: t.announce() for t in trustees}
    messages = {t.index: t.deal(announcements) for t in trustees}
    complaints = [c for t in trustees for c in t.check_shares(messages)]
    transcript = conclude(params, trustees, announcements, messages, complaints, withhold)
    return trustees, transcript, transcript.adjudicate(params)


def run_ceremony(params: CeremonyParams) -> tuple[CeremonyResult, list[TrusteeKey]]:
    """All trustees honest in one process: the outcome and every trustee's key."""
    trustees, transcript, result = honest_ceremony(params)
    return result, [t.finish(transcript) for t in trustees]


def _check_announcements(params: CeremonyParams, announcements: Mapping[int, Announcement]) -> None:
    """One valid announcement per trustee, its key a member other than the identity whatever parsed it: a modp key
    p - E passes its proof up to sign, and shares sent to it fail to open from E's KEM secret (a framing complaint)."""
    g = params.group
    if set(announcements) != set(range(1, params.n + 1)):
        raise ProtocolError(f"announcements needed from all trustees 1..{params.n}")
    for i, a in announcements.items():
        if a.index != i or a.enc_key == g.identity or not g.is_member(a.enc_key) or not a.verify(params):
            raise VerificationError(f"trustee {i}: invalid encryption key announcement")


def _increasing(params: CeremonyParams, items: Any, name: str) -> tuple[int, ...]:
    """Trustee indices in strictly increasing order."""
    out = tuple(params.check_index(i, name) for i in items)
    if any(a >= b for a, b in zip(out, out[1:])):
        raise DecodeError(name, "expected trustee indices in increasing order, each once")
    return out


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
