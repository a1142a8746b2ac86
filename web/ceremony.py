"""The key ceremony relay: trustees' browsers post each round's public message here; once every
qualified trustee has signed, the whole transcript goes on the board as the key_ceremony entry."""

from __future__ import annotations

import json
from typing import Any, Callable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from threshold import dkg
from threshold.errors import DecodeError, ProtocolError, VerificationError
from threshold.proofs import SchnorrProof
from voting.context import Setup, ceremony_payload, parse_setup
from voting.election import Election
from web.models import CeremonyMessage

ROUNDS = ("announce", "deal", "complain", "sign")


class Transcript:
    """The messages received so far for one election, parsed against its ceremony parameters."""

    def __init__(self, setup: Setup, rows: list[CeremonyMessage], published: bool) -> None:
        self.setup = setup
        self.published = published
        self._result: dkg.CeremonyResult | None = None
        self.params = setup.ceremony_params()
        self.raw: dict[str, dict[int, Any]] = {r: {} for r in ROUNDS}
        for row in rows:
            self.raw[row.round][row.trustee_index] = json.loads(row.payload)

    def announcements(self) -> dict[int, dkg.Announcement]:
        """Round 1 messages."""
        return {i: dkg.Announcement.from_json(self.params, m) for i, m in self.raw["announce"].items()}

    def dealers(self) -> dict[int, dkg.DealerMessage]:
        """Round 2 messages."""
        return {i: dkg.DealerMessage.from_json(self.params, m) for i, m in self.raw["deal"].items()}

    def complaints(self) -> list[dkg.Complaint]:
        """Round 3 messages, flattened in trustee order."""
        return [dkg.Complaint.from_json(self.params, c) for _, m in sorted(self.raw["complain"].items()) for c in m["complaints"]]

    def result(self) -> dkg.CeremonyResult:
        """The adjudicated outcome, once rounds 1-3 are complete (computed once: later messages are signatures)."""
        if self._result is None:
            self._result = dkg.adjudicate(self.params, self.announcements(), self.dealers(), self.complaints())
        return self._result

    def current_round(self) -> str:
        """The round waiting for messages; 'publish' once every qualified trustee has signed, 'done' once on the board."""
        for name in ROUNDS[:3]:
            if len(self.raw[name]) < self.params.n:
                return name
        if set(self.raw["sign"]) != set(self.result().qualified):
            return "sign"
        return "done" if self.published else "publish"

    def to_json(self) -> dict[str, Any]:
        """What a trustee's browser needs: parameters, the current round, every message so far, the outcome."""
        current = self.current_round()
        g = self.params.group
        return {
            "election_id": self.setup.election_id,
            "group": g.name, "n": self.params.n, "k": self.params.k, "context": self.params.context.hex(),
            "round": current,
            "announcements": [m for _, m in sorted(self.raw["announce"].items())],
            "dealers": [m for _, m in sorted(self.raw["deal"].items())],
            "complaints": [m for _, m in sorted(self.raw["complain"].items())],
            "signed": sorted(self.raw["sign"]),
            "result": self.result().to_json(g) if current in ("sign", "publish", "done") else None,
        }


def load(sessions: Callable[[], Session], election: Election) -> Transcript:
    """The transcript of an election that has its setup entry (board read first: no nested SQLite locks)."""
    entries = election.entries()
    setup = parse_setup(next((e.payload for e in entries if e.type == "setup"), None))
    with sessions() as db:
        rows = list(db.scalars(select(CeremonyMessage).where(CeremonyMessage.election_id == election.election_id)))
    return Transcript(setup, rows, any(e.type == "key_ceremony" for e in entries))


def _check(transcript: Transcript, round_name: str, index: int, body: Any) -> Any:
    """Parse one message of `round_name` from trustee `index`; errors name the field."""
    params = transcript.params
    if round_name == "announce":
        message = dkg.Announcement.from_json(params, body, "announcement")
        if not message.verify(params):
            raise VerificationError("announcement.enc_proof does not prove knowledge of the encryption key")
        owner = message.index
    elif round_name == "deal":
        owner = dkg.DealerMessage.from_json(params, body, "dealer").index
    elif round_name == "complain":
        if not isinstance(body, dict) or set(body) != {"index", "complaints"} or not isinstance(body["complaints"], list):
            raise DecodeError("complaints", "expected {\"index\": i, \"complaints\": [...]}")
        owner = params.check_index(body["index"], "complaints.index")
        for j, c in enumerate(body["complaints"]):
            if dkg.Complaint.from_json(params, c, f"complaints.complaints[{j}]").accuser != owner:
                raise DecodeError(f"complaints.complaints[{j}].accuser", "a trustee complains only for itself")
    else:
        if not isinstance(body, dict) or set(body) != {"index", "signature"}:
            raise DecodeError("signature", "expected {\"index\": i, \"signature\": {...}}")
        owner = params.check_index(body["index"], "signature.index")
        proof = SchnorrProof.from_json(params.group, body["signature"], "signature.signature")
        if not dkg.verify_signature(params, transcript.announcements()[owner], transcript.result(), proof):
            raise VerificationError("signature does not sign this ceremony's transcript hash with the announced key")
    if owner != index:
        raise DecodeError(f"{round_name}.index", f"you are trustee {index}, the message says {owner}")
    return body


def submit(sessions: Callable[[], Session], election: Election, round_name: str, index: int, body: Any) -> dict[str, Any]:
    """Store trustee `index`'s message for the current round; publish the transcript once it is complete."""
    if round_name not in ROUNDS:
        raise DecodeError("round", f"expected one of {', '.join(ROUNDS)}")
    transcript = load(sessions, election)
    current = transcript.current_round()
    if current != round_name:
        raise ProtocolError(f"the ceremony is in round {current!r}, not {round_name!r}")
    if index in transcript.raw[round_name]:
        raise ProtocolError(f"trustee {index} already sent its {round_name} message")
    _check(transcript, round_name, index, body)
    with sessions() as db:
        db.add(CeremonyMessage(election_id=election.election_id, round=round_name, trustee_index=index,
                               payload=json.dumps(body, sort_keys=True)))
        try:
            db.commit()
        except IntegrityError:
            raise ProtocolError(f"trustee {index} already sent its {round_name} message") from None
    transcript.raw[round_name][index] = body
    publish_if_complete(transcript, election)
    return transcript.to_json()


def publish_if_complete(transcript: Transcript, election: Election) -> None:
    """Put the whole transcript on the board as the key_ceremony entry, once every qualified trustee signed."""
    if transcript.current_round() != "publish":
        return
    g = transcript.params.group
    signatures = {i: SchnorrProof.from_json(g, m["signature"]) for i, m in transcript.raw["sign"].items()}
    try:
        election.key_ceremony(ceremony_payload(transcript.setup, transcript.announcements(), transcript.dealers(),
                                               transcript.complaints(), transcript.result(), signatures))
    except ProtocolError:
        if not any(e.type == "key_ceremony" for e in election.entries()):
            raise  # not the harmless race of two last signatures
    transcript.published = True
