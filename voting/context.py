"""The election's public parameters, read from its first board entries (setup, key ceremony, credentials),
and the election base hash that binds every ballot and decryption proof to them."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any, Mapping

from threshold import dkg
from threshold.elgamal import PublicKey
from threshold.encoding import canonical_json, encode
from threshold.errors import DecodeError, VerificationError
from threshold.groups import GROUP_NAMES, Element, Group, get_group
from threshold.proofs import SchnorrProof
from voting.credentials import parse_public_credential
from voting.manifest import Manifest

RECORD_VERSION = "quorum-record/3"  # 3: the GJKR key ceremony (spec 6); 2: the re-vote counter in the ballot body (spec 10.4)
ELECTION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")  # what an election id may be
MAX_TRUSTEES = 64


def _fields(obj: Any, keys: set[str], field: str) -> dict[str, Any]:
    if not isinstance(obj, dict) or set(obj) != keys:
        got = sorted(obj) if isinstance(obj, dict) else type(obj).__name__
        raise DecodeError(field, f"expected an object with exactly the keys {sorted(keys)}, got {got}")
    return obj


def _int(value: Any, field: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise DecodeError(field, f"expected an integer from {low} to {high}")
    return value


@dataclass(frozen=True)
class Setup:
    """The setup entry: election id, manifest, group, trustee counts and the board's key."""

    election_id: str
    manifest: Manifest
    group: Group
    trustees: int
    quorum: int
    board_key: str
    payload: dict[str, Any]
    booth_hash: str | None = None

    @property
    def digest(self) -> bytes:
        """Hash of the setup payload: the key ceremony's context."""
        return hashlib.sha256(canonical_json(self.payload)).digest()

    def ceremony_params(self) -> dkg.CeremonyParams:
        """The DKG parameters of this election."""
        return dkg.CeremonyParams(self.group, self.trustees, self.quorum, encode("quorum/election", self.digest))


def setup_payload(election_id: str, manifest: Manifest, group: Group, trustees: int, quorum: int, board_key: str,
                  booth_hash: str | None = None) -> dict[str, Any]:
    """The payload of the setup entry (validated by parsing it back); `booth_hash`, when given, is the SHA-256 of
    the booth's script bundle (web.sri.BoothAssets.booth_hash) that voters' and trustees' browsers are served."""
    payload = {"version": RECORD_VERSION, "election_id": election_id, "manifest": manifest.to_json(),
               "group": group.describe(), "trustees": trustees, "quorum": quorum, "board_key": board_key}
    if booth_hash is not None:
        payload["booth_hash"] = booth_hash
    parse_setup(payload)
    return payload


def parse_setup(payload: Any) -> Setup:
    """Validate a setup payload; errors name the field."""
    keys = {"version", "election_id", "manifest", "group", "trustees", "quorum", "board_key"}
    o = _fields(payload, keys | ({"booth_hash"} & set(payload)) if isinstance(payload, dict) else keys, "setup")
    if o["version"] != RECORD_VERSION:
        raise DecodeError("setup.version", f"expected {RECORD_VERSION!r}")
    if not isinstance(o["election_id"], str) or not ELECTION_ID.fullmatch(o["election_id"]):
        raise DecodeError("setup.election_id", "expected an id of 1-64 letters, digits, '_', '.', '-'")
    name = o["group"].get("name") if isinstance(o["group"], dict) else None
    if name not in GROUP_NAMES:
        raise DecodeError("setup.group.name", f"expected one of {', '.join(GROUP_NAMES)}")
    group = get_group(name)
    if o["group"] != group.describe():
        raise DecodeError("setup.group", f"parameters differ from the standard {name} group")
    n = _int(o["trustees"], "setup.trustees", 1, MAX_TRUSTEES)
    k = _int(o["quorum"], "setup.quorum", 1, n)
    key = o["board_key"]
    if not isinstance(key, str) or not re.fullmatch(r"[0-9a-f]{64}", key):
        raise DecodeError("setup.board_key", "expected 64 lowercase hex characters")
    booth = o.get("booth_hash")
    if "booth_hash" in o and (not isinstance(booth, str) or not re.fullmatch(r"[0-9a-f]{64}", booth)):
        raise DecodeError("setup.booth_hash", "expected 64 lowercase hex characters (the SHA-256 of the booth's scripts)")
    return Setup(o["election_id"], Manifest.from_json(o["manifest"], "setup.manifest"), group, n, k, key, payload, booth)


@dataclass(frozen=True)
class Ceremony:
    """The key ceremony's public outcome: the joint key and each trustee's verification key."""

    public_key: PublicKey
    verification_keys: Mapping[int, Element]
    payload: dict[str, Any]


def ceremony_payload(setup: Setup, transcript: dkg.Transcript, result: dkg.CeremonyResult,
                     signatures: Mapping[int, SchnorrProof]) -> dict[str, Any]:
    """The key-ceremony entry: the whole DKG transcript, its outcome and the trustees' signatures on it."""
    g = setup.group
    return {
        "announcements": [a.to_json(g) for _, a in sorted(transcript.announcements.items())],
        "dealers": [m.to_json(g) for _, m in sorted(transcript.messages.items())],
        "complaints": [c.to_json(g) for c in transcript.complaints],
        "reveals": [r.to_json(g) for _, r in sorted(transcript.reveals.items())],
        "openings": [o.to_json(g) for _, o in sorted(transcript.openings.items())],
        "qualified": list(result.qualified),
        "public_key": g.to_hex(result.public_key),
        "verification_keys": [g.to_hex(result.verification_keys[j]) for j in range(1, setup.trustees + 1)],
        "transcript_hash": result.transcript_hash.hex(),
        "signatures": [{"index": i, "signature": s.to_json(g)} for i, s in sorted(signatures.items())],
    }


def _by_index(params: dkg.CeremonyParams, items: Any, parse: Any, name: str) -> dict[int, Any]:
    """One round's messages from a list in increasing trustee order, keyed by trustee index."""
    out: dict[int, Any] = {}
    for i, item in enumerate(items):
        parsed = parse(params, item, f"key_ceremony.{name}[{i}]")
        if out and parsed.index <= max(out):
            raise DecodeError(f"key_ceremony.{name}[{i}]", f"trustee {parsed.index} out of order or twice (increasing trustee order)")
        out[parsed.index] = parsed
    return out


def parse_ceremony(setup: Setup, payload: Any) -> Ceremony:
    """Re-adjudicate the DKG from its public transcript and check every stated outcome and signature."""
    o = _fields(payload, {"announcements", "dealers", "complaints", "reveals", "openings", "qualified", "public_key",
                          "verification_keys", "transcript_hash", "signatures"}, "key_ceremony")
    params, g = setup.ceremony_params(), setup.group
    for key in ("announcements", "dealers", "complaints", "reveals", "openings", "qualified", "verification_keys", "signatures"):
        if not isinstance(o[key], list):
            raise DecodeError(f"key_ceremony.{key}", "expected a list")
    announcements = _by_index(params, o["announcements"], dkg.Announcement.from_json, "announcements")
    transcript = dkg.Transcript(
        announcements, _by_index(params, o["dealers"], dkg.DealerMessage.from_json, "dealers"),
        [dkg.Complaint.from_json(params, c, f"key_ceremony.complaints[{i}]") for i, c in enumerate(o["complaints"])],
        _by_index(params, o["reveals"], dkg.Reveal.from_json, "reveals"),
        _by_index(params, o["openings"], dkg.Opening.from_json, "openings"))
    result = transcript.adjudicate(params)
    stated_vks = o["verification_keys"]
    if len(stated_vks) != setup.trustees:
        raise DecodeError("key_ceremony.verification_keys", f"expected {setup.trustees} keys")
    if [params.check_index(i, "key_ceremony.qualified") for i in o["qualified"]] != list(result.qualified):
        raise VerificationError("key_ceremony.qualified differs from the adjudicated ceremony")
    if o["public_key"] != g.to_hex(result.public_key):
        raise VerificationError("key_ceremony.public_key is not the product of the qualified dealers' Feldman values")
    for j, vk in enumerate(stated_vks, start=1):
        if vk != g.to_hex(result.verification_keys[j]):
            raise VerificationError(f"key_ceremony.verification_keys[{j - 1}] does not follow from the commitments")
    if o["transcript_hash"] != result.transcript_hash.hex():
        raise VerificationError("key_ceremony.transcript_hash is not the hash of the transcript")
    signed: list[int] = []
    for i, s in enumerate(o["signatures"]):
        s = _fields(s, {"index", "signature"}, f"key_ceremony.signatures[{i}]")
        index = params.check_index(s["index"], f"key_ceremony.signatures[{i}].index")
        if signed and index <= signed[-1]:
            raise DecodeError(f"key_ceremony.signatures[{i}]", f"trustee {index} out of order or twice (increasing trustee order)")
        proof = SchnorrProof.from_json(g, s["signature"], f"key_ceremony.signatures[{i}].signature")
        if not dkg.verify_signature(params, announcements[index], result, proof):
            raise VerificationError(f"key_ceremony.signatures[{i}]: invalid signature of trustee {index}")
        signed.append(index)
    if set(signed) != set(result.qualified):
        missing = sorted(set(result.qualified) - set(signed))
        raise VerificationError(f"key_ceremony: signatures needed from every qualified trustee {list(result.qualified)} "
                                f"(missing: {missing}; from others: {sorted(set(signed) - set(result.qualified))})")
    return Ceremony(PublicKey(g, result.public_key), dict(result.verification_keys), payload)


def credentials_payload(public_credentials: list[str], voter_count: int) -> dict[str, Any]:
    """The credentials entry: the sorted public credentials, one per registered voter."""
    return {"voter_count": voter_count, "credentials": sorted(public_credentials)}


def parse_credentials(payload: Any) -> tuple[frozenset[str], int]:
    """Validate the credentials entry: valid keys, sorted, no duplicates, one per registered voter."""
    o = _fields(payload, {"voter_count", "credentials"}, "credentials")
    count = _int(o["voter_count"], "credentials.voter_count", 1, 10**9)
    creds = o["credentials"]
    if not isinstance(creds, list):
        raise DecodeError("credentials.credentials", "expected a list")
    for i, c in enumerate(creds):
        parse_public_credential(c, f"credentials.credentials[{i}]")
    if creds != sorted(set(creds)):
        raise DecodeError("credentials.credentials", "must be sorted and without duplicates")
    if len(creds) != count:
        raise DecodeError("credentials.voter_count", f"{len(creds)} credentials for {count} registered voters")
    return frozenset(creds), count


@dataclass(frozen=True)
class ElectionContext:
    """Everything a ballot or a decryption is checked against, with the base hash binding it all."""

    setup: Setup
    ceremony: Ceremony
    credentials: frozenset[str]
    voter_count: int
    base_hash: bytes

    @property
    def group(self) -> Group:
        """The election's group."""
        return self.setup.group

    @property
    def manifest(self) -> Manifest:
        """The election's manifest."""
        return self.setup.manifest

    @property
    def public_key(self) -> PublicKey:
        """The joint ElGamal key of the trustees."""
        return self.ceremony.public_key


def base_hash(setup: Setup, ceremony: Ceremony, credentials_p: dict[str, Any]) -> bytes:
    """The election base hash over the whole setup (manifest, group, trustees, board key, booth hash), the whole key
    ceremony transcript (joint and verification keys) and the public credential list."""
    return hashlib.sha256(encode("quorum/election-base-hash", canonical_json(setup.payload),
                                 canonical_json(ceremony.payload), canonical_json(credentials_p))).digest()


def build_context(setup_p: Any, ceremony_p: Any, credentials_p: Any) -> ElectionContext:
    """Parse and check the three parameter entries and derive the base hash."""
    setup = parse_setup(setup_p)
    ceremony = parse_ceremony(setup, ceremony_p)
    creds, count = parse_credentials(credentials_p)
    return ElectionContext(setup, ceremony, creds, count, base_hash(setup, ceremony, credentials_p))
