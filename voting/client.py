"""A voter's own client for a Quorum server's JSON API (ATTACKS row 18): it encrypts, proves and signs with
this package's code, not with the JavaScript the server delivers, and checks what the server says back.

It reads the election's parameter entries, checks each one's hash and board signature, rebuilds the election
context (re-adjudicating the key ceremony) and compares the base hash with the one the open entry states;
after casting it fetches the board entry holding the ballot and checks that it holds exactly this ballot, under
the receipt's tracking code, signed by the board.
"""

from __future__ import annotations

import http.cookiejar
import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from threshold.encoding import canonical_json
from threshold.errors import ProtocolError, QuorumError, VerificationError
from voting.ballot import ballot_hash, encrypt_ballot, reveal_json, signed_body
from voting.board import signature_valid
from voting.context import ElectionContext, build_context
from voting.credentials import public_credential
from voting.record import Entry, RecordFormatError, entry_hash, parse_entry_line

PARAMETER_TYPES = ("setup", "key_ceremony", "credentials", "open")


class ServerError(QuorumError):
    """The server refused a request or answered something this client cannot accept."""


@dataclass(frozen=True)
class Receipt:
    """What the voter keeps: the tracking code and ballot hash of the ballot on the board, and its entry."""

    tracker: str
    ballot_hash: str
    seq: int
    status: str


class VoterClient:
    """One voter's session with the server at `base_url` (e.g. http://127.0.0.1:5000)."""

    def __init__(self, base_url: str, timeout: float = 60.0) -> None:
        self.base = base_url.rstrip("/") + "/api"
        self.timeout = timeout
        self._http = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        self._csrf: str | None = None

    def _request(self, method: str, path: str, body: Any = None) -> Any:
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            if self._csrf is None:
                self._csrf = self._request("GET", "/csrf")["csrf_token"]
            headers.update({"Content-Type": "application/json", "X-CSRF-Token": self._csrf})
            data = json.dumps(body).encode("utf-8")
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with self._http.open(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            try:
                problem = json.loads(exc.read())
                detail = problem.get("detail") or problem.get("title") or str(problem)
            except ValueError:
                detail = exc.reason
            raise ServerError(f"{method} {path}: {exc.code} {detail}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise ServerError(f"{method} {path}: {getattr(exc, 'reason', exc)}") from None
        except ValueError:
            raise ServerError(f"{method} {path}: the answer is not JSON") from None

    @staticmethod
    def _entry(obj: Any, board_key: str) -> Entry:
        """A board entry as served, checked: canonical form, hash, and signature by `board_key`."""
        try:
            entry = parse_entry_line(canonical_json(obj), 1)
        except (RecordFormatError, TypeError, ValueError) as exc:
            raise ServerError(f"malformed board entry: {getattr(exc, 'message', exc)}") from None
        if entry.hash != entry_hash(entry.seq, entry.type, entry.payload, entry.prev):
            raise VerificationError(f"board entry seq {entry.seq}: its hash is not the hash of its content")
        if not signature_valid(board_key, entry.hash, entry.sig):
            raise VerificationError(f"board entry seq {entry.seq}: not signed by the board key")
        return entry

    def context(self, election_id: str, board_key: str | None = None) -> ElectionContext:
        """The election's context rebuilt from its signed parameter entries; `board_key` pins the board's
        key (hex) if the voter got it out of band, else the key the setup entry states is used."""
        query = urllib.parse.urlencode([("type", t) for t in PARAMETER_TYPES])
        served = self._request("GET", f"/elections/{urllib.parse.quote(election_id)}/entries?{query}").get("entries")
        if not isinstance(served, list) or not served or not isinstance(served[0], dict) \
                or not isinstance(served[0].get("payload"), dict):
            raise ServerError("entries: expected a list of board entries, the setup entry first")
        stated = served[0]["payload"].get("board_key")
        if board_key is not None and stated != board_key:
            raise VerificationError("the setup entry states another board key than the one pinned")
        if not isinstance(stated, str):
            raise ServerError("setup: no board_key")
        by_type: dict[str, Entry] = {}
        for obj in served:
            entry = self._entry(obj, stated)
            by_type.setdefault(entry.type, entry)
        missing = [t for t in PARAMETER_TYPES if t not in by_type]
        if missing:
            raise ProtocolError(f"election {election_id!r} is not open for voting: no {', '.join(missing)} entry")
        ctx = build_context(by_type["setup"].payload, by_type["key_ceremony"].payload, by_type["credentials"].payload)
        if ctx.setup.election_id != election_id or ctx.setup.board_key != stated:
            raise VerificationError(f"the setup entry is not election {election_id!r}'s")
        if by_type["open"].payload.get("base_hash") != ctx.base_hash.hex():
            raise VerificationError("the open entry's base hash is not the one recomputed from the parameters")
        return ctx

    def cast(self, ctx: ElectionContext, private_credential: str, choices: Mapping[str, Sequence[str]]) -> Receipt:
        """Encrypt, prove and sign the choices here, cast them, and check the board entry that holds them."""
        ballot, _ = encrypt_ballot(ctx, private_credential, choices, self._revote(ctx, private_credential))
        return self._checked(ctx, ballot, self._request("POST", f"/elections/{ctx.setup.election_id}/ballots",
                                                         {"ballot": ballot}), "cast")

    def challenge(self, ctx: ElectionContext, private_credential: str, choices: Mapping[str, Sequence[str]]) -> Receipt:
        """A Benaloh challenge: encrypt the choices, then publish the ballot opened (never counted)."""
        ballot, secrets = encrypt_ballot(ctx, private_credential, choices, self._revote(ctx, private_credential))
        body = {"ballot": ballot, "reveal": reveal_json(ctx, secrets)}
        return self._checked(ctx, ballot, self._request("POST", f"/elections/{ctx.setup.election_id}/challenges", body),
                             "spoil")

    def _revote(self, ctx: ElectionContext, private_credential: str) -> int:
        credential = public_credential(ctx.setup.election_id, private_credential)
        if credential not in ctx.credentials:
            raise ProtocolError("this credential is not on the election's published credential list")
        answer = self._request("GET", f"/elections/{ctx.setup.election_id}/revote/{credential}")
        revote = answer.get("revote") if isinstance(answer, dict) else None
        if type(revote) is not int or revote < 0:
            raise ServerError("revote: expected a non-negative integer")
        return revote

    def _checked(self, ctx: ElectionContext, ballot: dict[str, Any], receipt: Any, status: str) -> Receipt:
        """The receipt, once the board entry under its tracking code holds exactly this ballot, signed."""
        digest = ballot_hash(ctx, signed_body(ballot)).hex()
        if not isinstance(receipt, dict) or receipt.get("ballot_hash") != digest or not isinstance(receipt.get("tracker"), str):
            raise VerificationError("the receipt does not name this ballot's hash")
        found = self._request("GET", f"/elections/{ctx.setup.election_id}/ballots/{receipt['tracker']}")
        entry = self._entry(found.get("entry") if isinstance(found, dict) else None, ctx.setup.board_key)
        p = entry.payload
        if entry.type != status or p.get("ballot") != ballot or p.get("ballot_hash") != digest \
                or p.get("tracker") != receipt["tracker"]:
            raise VerificationError(f"the board entry under tracking code {receipt['tracker']} is not this ballot")
        return Receipt(receipt["tracker"], digest, entry.seq, entry.type)
