"""The key ceremony relay: trustees' browsers post each round's public message here; once every
qualified trustee has signed, the whole transcript goes on the board as the key_ceremony entry.

Rounds (docs/spec.md section 6): announce, deal and complain wait for all n trustees; the complaints fix
QUAL. Confirm waits for every qualified trustee's signature of the hash of rounds 1-3 as its browser computed it
(a confirmation of any other hash is refused: that browser was shown other messages). Reveal waits for a valid
reveal from every qualified trustee, unless the administrator closes it
(`close_reveals`, "proceed without the missing reveals"). If some qualified dealer then has no reveal,
open waits for k of the other trustees' openings of its shares (one trustee that does not open cannot stall it),
so that its polynomial is reconstructed in public and withholding a reveal cannot change the key; otherwise the
ceremony goes straight to sign.
Every message is checked when it arrives: a refused one is not stored. It is stored in a transaction holding the
election's board lock, and only if its round is still the current one then (see `_store`)."""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from typing import Any, Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from threshold import dkg
from threshold.errors import DecodeError, ProtocolError, VerificationError
from threshold.proofs import SchnorrProof
from threshold.shamir import Share
from threshold.vss import pedersen_h, pedersen_verify
from voting.context import Setup, ceremony_payload, parse_setup
from voting.election import Election
from web.models import CeremonyMessage

ROUNDS = ("announce", "deal", "complain", "confirm", "reveal", "open", "sign")
# The administrator's decision to close the reveal round: a row of the same table, trustee index 0.
CLOSE_REVEALS = "close-reveals"


class _Outcomes:
    """QUAL and the ceremony's outcome by the digest of the messages they follow from: every trustee's page polls
    the ceremony each second, and adjudicating it again on each poll cost O(n^2) proof checks (0.12 s for modp and
    10 trustees). Stored messages never change, so a digest of them names the outcome; a few recent ones are kept."""

    SIZE = 64

    def __init__(self) -> None:
        self._held: OrderedDict[bytes, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: bytes, compute: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._held:
                self._held.move_to_end(key)
                return self._held[key]
        value = compute()
        with self._lock:
            self._held[key] = value
            while len(self._held) > self.SIZE:
                self._held.popitem(last=False)
        return value


_OUTCOMES = _Outcomes()


class Transcript:
    """The messages received so far for one election, parsed against its ceremony parameters."""

    def __init__(self, setup: Setup, rows: list[CeremonyMessage], published: bool) -> None:
        self.setup = setup
        self.published = published
        self._qualification: dkg.Qualification | None = None
        self._result: dkg.CeremonyResult | None = None
        self.params = setup.ceremony_params()
        self.raw: dict[str, dict[int, Any]] = {r: {} for r in ROUNDS}
        self.reveals_closed = False
        stored: dict[str, list[tuple[int, str]]] = {r: [] for r in ROUNDS}
        for row in rows:
            if row.round == CLOSE_REVEALS:
                self.reveals_closed = True
            else:
                self.raw[row.round][row.trustee_index] = json.loads(row.payload)
                stored[row.round].append((row.trustee_index, row.payload))
        p = self.params  # the outcome is a function of the parameters and the messages: the digest covers both
        digest = hashlib.sha256(f"{p.group.name}/{p.n}/{p.k}/{len(p.context)}:".encode() + p.context)
        self._keys: dict[str, bytes] = {}
        for r in ROUNDS[:-1]:  # the signatures of the last round decide nothing
            for index, payload in sorted(stored[r]):
                digest.update(f"{r}/{index}/{len(payload)}:".encode() + payload.encode())
            self._keys[r] = digest.digest()

    def announcements(self) -> dict[int, dkg.Announcement]:
        """Round 1 messages."""
        return {i: dkg.Announcement.from_json(self.params, m) for i, m in self.raw["announce"].items()}

    def dealers(self) -> dict[int, dkg.DealerMessage]:
        """Round 2 messages."""
        return {i: dkg.DealerMessage.from_json(self.params, m) for i, m in self.raw["deal"].items()}

    def complaints(self) -> list[dkg.Complaint]:
        """Round 3 messages, flattened in trustee order."""
        return [dkg.Complaint.from_json(self.params, c) for _, m in sorted(self.raw["complain"].items()) for c in m["complaints"]]

    def reveals(self) -> dict[int, dkg.Reveal]:
        """Round 5 messages (each was checked valid on arrival)."""
        return {i: dkg.Reveal.from_json(self.params, m) for i, m in self.raw["reveal"].items()}

    def openings(self) -> dict[int, dkg.Opening]:
        """Round 6 messages (each was checked valid on arrival)."""
        return {i: dkg.Opening.from_json(self.params, m) for i, m in self.raw["open"].items()}

    def received(self) -> set[tuple[str, int]]:
        """(round, trustee index) of every message held, the administrator's closing of the reveals included."""
        closed = {(CLOSE_REVEALS, 0)} if self.reveals_closed else set()
        return {(r, i) for r in ROUNDS for i in self.raw[r]} | closed

    def messages(self) -> dkg.Transcript:
        """Every public message so far, as the key_ceremony entry holds them."""
        return dkg.Transcript(self.announcements(), self.dealers(), self.complaints(), self.reveals(), self.openings())

    def qualification(self) -> dkg.Qualification:
        """QUAL, once rounds 1-3 are complete (computed once: it is final)."""
        if self._qualification is None:
            self._qualification = _OUTCOMES.get(b"qualify" + self._keys["complain"], lambda: dkg.qualify(
                self.params, self.announcements(), self.dealers(), self.complaints()))
        return self._qualification

    def reconstruct(self) -> tuple[int, ...]:
        """The qualified dealers without a reveal, once the reveal round is over: their shares are opened."""
        return tuple(i for i in self.qualification().qualified if i not in self.raw["reveal"])

    def openers(self) -> tuple[int, ...]:
        """The trustees that open their shares of the dealers to reconstruct: every trustee not among them."""
        recon = self.reconstruct()
        return tuple(j for j in range(1, self.params.n + 1) if j not in recon)

    def result(self) -> dkg.CeremonyResult:
        """The adjudicated outcome, once rounds 1-5 are complete (computed once: later messages are signatures)."""
        if self._result is None:
            self._result = _OUTCOMES.get(b"adjudicate" + self._keys["open"], lambda: self.messages().adjudicate(self.params))
        return self._result

    def reveal_round_over(self) -> bool:
        """Every qualified trustee revealed, or the administrator closed the round."""
        return self.reveals_closed or set(self.raw["reveal"]) == set(self.qualification().qualified)

    def waiting_for(self) -> tuple[int, ...]:
        """The trustees whose message the current round still lacks (in the open round, any k - (openings so far)
        of them will do)."""
        current = self.current_round()
        if current in ("announce", "deal", "complain"):
            needed: tuple[int, ...] = tuple(range(1, self.params.n + 1))
        elif current in ("confirm", "reveal"):
            needed = self.qualification().qualified
        elif current == "open":
            needed = self.openers()
        elif current == "sign":
            needed = self.result().qualified
        else:
            return ()
        return tuple(i for i in needed if i not in self.raw[current])

    def current_round(self) -> str:
        """The round waiting for messages; 'publish' once every qualified trustee has signed, 'done' once on the board
        (first: a ceremony published before the confirm round existed has no confirmations and needs none)."""
        if self.published:
            return "done"
        for name in ROUNDS[:3]:
            if len(self.raw[name]) < self.params.n:
                return name
        if not set(self.qualification().qualified) <= set(self.raw["confirm"]):
            return "confirm"
        if not self.reveal_round_over():
            return "reveal"
        if self.reconstruct() and len(self.raw["open"]) < self.params.k:  # k openings rebuild every missing dealer
            return "open"
        if not set(self.result().qualified) <= set(self.raw["sign"]):
            return "sign"
        return "publish"

    def to_json(self) -> dict[str, Any]:
        """What a trustee's browser needs: parameters, the current round, every message so far, QUAL, the outcome."""
        current = self.current_round()
        g = self.params.group
        after_complaints = current not in ROUNDS[:3]
        over = after_complaints and current not in ("confirm", "reveal")
        return {
            "election_id": self.setup.election_id,
            "group": g.name, "n": self.params.n, "k": self.params.k, "context": self.params.context.hex(),
            "round": current,
            "announcements": [m for _, m in sorted(self.raw["announce"].items())],
            "dealers": [m for _, m in sorted(self.raw["deal"].items())],
            "complaints": [m for _, m in sorted(self.raw["complain"].items())],
            "qualification": qualification_json(self.qualification()) if after_complaints else None,
            "confirmations": [m for _, m in sorted(self.raw["confirm"].items())],
            "reveals": [m for _, m in sorted(self.raw["reveal"].items())],
            "reveals_closed": self.reveals_closed,
            "reconstruct": list(self.reconstruct()) if over else None,
            "openings": [m for _, m in sorted(self.raw["open"].items())],
            "signed": sorted(self.raw["sign"]),
            "result": self.result().to_json(g) if current in ("sign", "publish", "done") else None,
        }


def qualification_json(q: dkg.Qualification) -> dict[str, Any]:
    """QUAL as the browser computes it (web/static/js/crypto/dkg.js qualificationToJSON)."""
    return {"qualified": list(q.qualified), "disqualified": {str(i): why for i, why in sorted(q.disqualified.items())},
            "rejected_complaints": [list(pair) for pair in q.rejected_complaints], "transcript_hash": q.transcript_hash.hex()}


def load(sessions: Callable[[], Session], election: Election) -> Transcript:
    """The transcript of an election that has its setup entry (board read first: no nested SQLite locks)."""
    entries = election.entries()
    setup = parse_setup(next((e.payload for e in entries if e.type == "setup"), None))
    with sessions() as db:
        rows = _rows(db, election.election_id)
    return Transcript(setup, rows, any(e.type == "key_ceremony" for e in entries))


def _rows(db: Session, election_id: str) -> list[CeremonyMessage]:
    """The election's stored ceremony messages."""
    return list(db.scalars(select(CeremonyMessage).where(CeremonyMessage.election_id == election_id)))


def _object(body: Any, keys: set[str], field: str, shape: str) -> dict[str, Any]:
    if not isinstance(body, dict) or set(body) != keys:
        raise DecodeError(field, f"expected {shape}")
    return body


def _check_confirmation(transcript: Transcript, index: int, body: Any) -> int:
    """A qualified trustee's signature of the hash of rounds 1-3 that this server computed too."""
    params = transcript.params
    confirmation = dkg.Confirmation.from_json(params, body, "confirmation")
    if confirmation.index != index:
        return confirmation.index
    qualification = transcript.qualification()
    if index not in qualification.qualified:
        raise ProtocolError(f"trustee {index} is not qualified ({qualification.disqualified.get(index, '')}): the "
                            "qualified trustees confirm QUAL")
    if not confirmation.valid(params, transcript.announcements()[index], qualification):
        raise VerificationError(f"confirmation.signature does not sign, with trustee {index}'s announced key, the "
                                f"hash of rounds 1-3 on this server ({qualification.transcript_hash.hex()[:16]}): "
                                "that trustee computed QUAL over other messages")
    return confirmation.index


def _check_reveal(transcript: Transcript, index: int, body: Any) -> int:
    """A reveal from a qualified trustee whose Feldman values match its Pedersen commitments (proof by proof)."""
    params, g = transcript.params, transcript.params.group
    reveal = dkg.Reveal.from_json(params, body, "reveal")
    if reveal.index != index:
        return reveal.index
    qualification = transcript.qualification()
    if index not in qualification.qualified:
        raise ProtocolError(f"trustee {index} is not qualified ({qualification.disqualified.get(index, '')}): it reveals nothing")
    message = transcript.dealers()[index]
    if not reveal.valid(params, message, qualification):
        h, bound = pedersen_h(g), qualification.transcript_hash
        for m, (A, C, (pf, pb)) in enumerate(zip(reveal.feldman, message.commitments, reveal.proofs)):
            if not pf.verify(g, A, params.ctx("dkg-feldman", index, m, bound)):
                raise DecodeError(f"reveal.proofs[{m}].feldman", f"does not prove knowledge of the logarithm of feldman[{m}]")
            if not pb.verify(g, g.div(C, A), params.ctx("dkg-blinding", index, m, bound), h):
                raise DecodeError(f"reveal.proofs[{m}].blinding",
                                  f"does not prove that commitments[{m}] / feldman[{m}] is a power of h")
        raise DecodeError("reveal", "not a valid reveal of this dealer's commitments")
    return reveal.index


def _check_opening(transcript: Transcript, index: int, body: Any) -> int:
    """An opening of exactly the dealers to reconstruct (but the sender), each matching the dealer's commitments."""
    params, g = transcript.params, transcript.params.group
    opening = dkg.Opening.from_json(params, body, "opening")
    if opening.index != index:
        return opening.index
    if index not in transcript.openers():
        raise ProtocolError(f"trustee {index} did not reveal: its own polynomial is being reconstructed, it opens nothing")
    expected = {i for i in transcript.reconstruct() if i != index}
    if set(opening.openings) != expected:
        raise DecodeError("opening.openings", f"expected your shares from exactly the dealers {sorted(expected)}")
    dealers = transcript.dealers()
    for i, (s, t) in sorted(opening.openings.items()):
        if not pedersen_verify(g, dealers[i].commitments, Share(index, s), Share(index, t)):
            raise DecodeError(f"opening.openings.{i}", f"does not match dealer {i}'s commitments")
    return opening.index


def _check(transcript: Transcript, round_name: str, index: int, body: Any) -> Any:
    """Parse one message of `round_name` from trustee `index`; errors name the field."""
    params = transcript.params
    if round_name == "announce":
        message = dkg.Announcement.from_json(params, body, "announcement")
        if not message.verify(params):
            raise VerificationError("announcement.enc_proof does not prove knowledge of the encryption key")
        owner = message.index
    elif round_name == "deal":
        message = dkg.DealerMessage.from_json(params, body, "dealer")
        owner = message.index
        if not message.signed_by(params, transcript.announcements()):
            raise DecodeError("dealer.signature", f"not trustee {owner}'s signature, with its announced key, of this "
                              "message dealt to the announcements on the board")
    elif round_name == "complain":
        body = _object(body, {"index", "complaints"}, "complaints", "{\"index\": i, \"complaints\": [...]}")
        if not isinstance(body["complaints"], list):
            raise DecodeError("complaints.complaints", "expected a list")
        owner = params.check_index(body["index"], "complaints.index")
        dealers: set[int] = set()
        for j, c in enumerate(body["complaints"]):
            complaint = dkg.Complaint.from_json(params, c, f"complaints.complaints[{j}]")
            if complaint.accuser != owner:
                raise DecodeError(f"complaints.complaints[{j}].accuser", "a trustee complains only for itself")
            if complaint.dealer in dealers:  # each is adjudicated at every load of the transcript: no repeats
                raise DecodeError(f"complaints.complaints[{j}].dealer", f"a second complaint against dealer {complaint.dealer}")
            dealers.add(complaint.dealer)
    elif round_name == "confirm":
        owner = _check_confirmation(transcript, index, body)
    elif round_name == "reveal":
        owner = _check_reveal(transcript, index, body)
    elif round_name == "open":
        owner = _check_opening(transcript, index, body)
    else:
        body = _object(body, {"index", "signature"}, "signature", "{\"index\": i, \"signature\": {...}}")
        owner = params.check_index(body["index"], "signature.index")
        if owner == index and owner not in transcript.result().qualified:
            raise ProtocolError(f"trustee {index} is not qualified: the transcript needs the qualified trustees' signatures only")
        proof = SchnorrProof.from_json(params.group, body["signature"], "signature.signature")
        if not dkg.verify_signature(params, transcript.announcements()[owner], transcript.result(), proof):
            raise VerificationError("signature does not sign this ceremony's transcript hash with the announced key")
    if owner != index:
        raise DecodeError(f"{round_name}.index", f"you are trustee {index}, the message says {owner}")
    return body


def _expect(transcript: Transcript, round_name: str, index: int) -> None:
    """Refuse a message of a round other than the current one, or trustee `index`'s second one of the round."""
    current = transcript.current_round()
    if current != round_name:
        raise ProtocolError(f"the ceremony is in round {current!r}, not {round_name!r}")
    if index in transcript.raw[round_name]:
        raise ProtocolError(f"trustee {index} already sent its {round_name} message")


def _store(election: Election, transcript: Transcript, round_name: str, index: int,
           settle: Callable[[Transcript], Any]) -> tuple[Transcript, Any]:
    """Store trustee `index`'s message of `round_name` in a transaction holding the election's board lock, `settle`
    deciding on the transcript as it stands then (it raises if the message may not be stored, else returns it);
    returns that transcript and the message. The transcript is read again only if messages were stored since it was
    loaded. Without the lock a message checked against an older transcript was stored after its round had ended: a
    reveal landing after the others opened that dealer's shares made every later adjudication fail."""
    with election.board.locked(election.election_id) as lb:
        rows = _rows(lb.session, election.election_id)
        if {(r.round, r.trustee_index) for r in rows} != transcript.received():
            transcript = Transcript(transcript.setup, rows, transcript.published)
        body = settle(transcript)
        lb.session.add(CeremonyMessage(election_id=election.election_id, round=round_name, trustee_index=index,
                                       payload=json.dumps(body, sort_keys=True)))
    return transcript, body


def submit(sessions: Callable[[], Session], election: Election, round_name: str, index: int, body: Any) -> dict[str, Any]:
    """Store trustee `index`'s message for the current round; publish the transcript once it is complete."""
    if round_name not in ROUNDS:
        raise DecodeError("round", f"expected one of {', '.join(ROUNDS)}")
    transcript = load(sessions, election)
    _expect(transcript, round_name, index)
    _check(transcript, round_name, index, body)

    def settle(now: Transcript) -> Any:
        _expect(now, round_name, index)  # checked against `transcript`: it holds while the round is the same
        return body

    transcript, _ = _store(election, transcript, round_name, index, settle)
    transcript.raw[round_name][index] = body
    publish_if_complete(transcript, election)
    return transcript.to_json()


def close_reveals(sessions: Callable[[], Session], election: Election, admin: str) -> dict[str, Any]:
    """The administrator's "proceed without the missing reveals": the reveal round ends now, and every
    qualified trustee that has not revealed is reconstructed from the others' openings."""
    transcript, _ = _store(election, load(sessions, election), CLOSE_REVEALS, 0, lambda now: _closing(now, admin))
    publish_if_complete(transcript, election)
    return transcript.to_json()


def _closing(transcript: Transcript, admin: str) -> dict[str, Any]:
    """The record of the reveal round's closing by `admin`, marked on `transcript`. Refused outside the reveal
    round, before k qualified trustees revealed (the joint secret would be the few revealers' alone, plus public
    openings), and when fewer than k trustees would be left to open."""
    current = transcript.current_round()
    if current != "reveal":
        raise ProtocolError(f"the ceremony is in round {current!r}: only the reveal round can be closed")
    transcript.reveals_closed = True
    openers, k = transcript.openers(), transcript.params.k
    revealed = len(transcript.qualification().qualified) - len(transcript.reconstruct())
    if revealed < k:
        raise ProtocolError(f"{revealed} qualified trustees have revealed, {k} needed: the dealers rebuilt from public "
                            "openings, those few would hold the joint secret alone; wait for reveals")
    if len(openers) < k:
        raise ProtocolError(f"only {len(openers)} trustees would be left to open the missing dealers' shares, {k} needed: "
                            "wait for more reveals")
    return {"by": admin, "missing": list(transcript.reconstruct())}


def publish_if_complete(transcript: Transcript, election: Election) -> None:
    """Put the whole transcript on the board as the key_ceremony entry, once every qualified trustee signed."""
    if transcript.current_round() != "publish":
        return
    g = transcript.params.group
    signatures = {i: SchnorrProof.from_json(g, m["signature"]) for i, m in transcript.raw["sign"].items()}
    try:
        election.key_ceremony(ceremony_payload(transcript.setup, transcript.messages(), transcript.result(), signatures))
    except ProtocolError:
        if not any(e.type == "key_ceremony" for e in election.entries()):
            raise  # not the harmless race of two last signatures
    transcript.published = True
