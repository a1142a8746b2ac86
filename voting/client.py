"""A voter's own client for a Quorum server's JSON API (ATTACKS row 18): it encrypts, proves and signs with
this package's code, not with the JavaScript the server delivers, and checks what the server says back.

It reads the election's parameter entries, checks each one's hash and board signature, rebuilds the election
context (re-adjudicating the key ceremony) and compares the base hash with the one the open entry states;
after casting it fetches the board entry holding the ballot and checks that it holds exactly this ballot, under
the receipt's tracking code, signed by the board. It follows the board's chain from the open entry to the ballot
(VoterClient._follow), so a ballot that an earlier one of the same credential would outrank is refused.
"""

from __future__ import annotations

import fcntl
import http.client
import http.cookiejar
import json
import os
import threading
import time
import unicodedata
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from threshold.encoding import canonical_json
from threshold.errors import ProtocolError, QuorumError, VerificationError
from threshold.keystore import replace_private
from voting.ballot import ballot_hash, encrypt_ballot, next_tracker, reveal_json, signed_body
from voting.board import signature_valid
from voting import lifecycle
from voting.context import ElectionContext, build_context
from voting.credentials import public_credential
from voting.record import GENESIS, Entry, RecordFormatError, entry_hash, parse_entry_line

PARAMETER_TYPES = ("setup", "key_ceremony", "credentials", "open")
MAX_ANSWER_BYTES = 256 << 20  # a whole modp record's parameters fit many times over
SLOWEST_ENTRIES = 100  # a chain walk may take one timeout per this many entries (a server trickling pages is cut off)
MAX_CHAIN_ENTRIES = 1 << 22  # the most board entries one session follows (a server cannot feed it forever)


def _unsafe(c: str) -> bool:
    """The one rule for what a terminal must not get raw: Unicode category C (controls incl. C1, format incl. bidi
    overrides and isolates, surrogates, private use, unassigned) and the line and paragraph separators (U+2028,
    U+2029: a line break to some viewers, so a forged line)."""
    return unicodedata.category(c) in ("Zl", "Zp") or unicodedata.category(c)[0] == "C"


def printable(text: Any) -> str:
    """Server-supplied text made safe for a terminal: control characters (newlines, escape sequences) escaped."""
    return "".join(c if not _unsafe(c) else c.encode("unicode_escape").decode("ascii") for c in str(text))


def _json_escape(c: str) -> str:
    """c as a JSON \\u escape (a surrogate pair above U+FFFF)."""
    code = ord(c)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def printable_json(obj: Any, **kwargs: Any) -> str:
    """json.dumps(obj) safe for a terminal by printable()'s rule: every such character inside a string written as a
    \\u escape, so the text is still JSON and parses to obj; other non-ASCII (accented titles) stays as it is.
    json.dumps always escapes U+0000-U+001F in strings, so a raw one is the indentation's and stays."""
    text = json.dumps(obj, ensure_ascii=False, **kwargs)
    return "".join(_json_escape(c) if c > "\x1f" and _unsafe(c) else c for c in text)


class ServerError(QuorumError):
    """The server refused a request or answered something this client cannot accept."""


@dataclass(frozen=True)
class Receipt:
    """What the voter keeps: the tracking code and ballot hash of the ballot on the board, and its entry."""

    tracker: str
    ballot_hash: str
    seq: int
    status: str
    revote: int
    entry: dict[str, Any]  # the board-signed entry (hash, prev, sig): with the record, evidence of a fork


@dataclass
class _Chain:
    """The board from the open entry on, as far as this client has checked it: the last entry checked, how many
    were followed, and per credential the highest re-vote counter among its cast ballots seen."""

    last: Entry
    credentials: frozenset[str]
    followed: int = 0
    highest: dict[str, int] = field(default_factory=dict)
    casts: dict[str, int] = field(default_factory=dict)  # per credential, its cast ballots seen
    phase: str = "open"

    def add(self, entry: Entry) -> None:
        """Append `entry` (already checked: signed, and linked to `last`), refused unless the lifecycle allows it
        after the entries before it (a ballot after the close would not count). Only credentials on the
        election's list are tracked (the verifier counts no other), so what is kept is bounded by that list."""
        try:
            self.phase = lifecycle.next_phase(self.phase, entry.type)
        except ProtocolError as exc:
            raise VerificationError(f"board entry seq {entry.seq}: {exc}") from None
        if entry.type == "cast":
            ballot = entry.payload.get("ballot")
            credential = ballot.get("credential") if isinstance(ballot, dict) else None
            revote = ballot.get("revote") if isinstance(ballot, dict) else None
            if not isinstance(credential, str) or type(revote) is not int:
                raise VerificationError(f"board entry seq {entry.seq}: a cast entry without a credential and re-vote counter")
            if credential in self.credentials:
                self.highest[credential] = max(revote, self.highest.get(credential, -1))
                self.casts[credential] = self.casts.get(credential, 0) + 1
        self.last = entry
        self.followed += 1


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects are answers like any other (an HTTPError): followed, one to another host would get the CSRF token,
    and the voter's client would talk to a server the voter never named."""

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> None:
        return None


@contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """An exclusive flock on `path` (made mode 0600 if missing) for the block: one writer at a time, whether the
    others are processes or threads (each open of the file is locked on its own)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


class VoterClient:
    """One voter's session with the server at `base_url` (e.g. http://127.0.0.1:5000).

    A stale re-vote counter from the server (which would leave the new ballot uncounted behind an older one) is
    refused against the board's chain: before casting as far as the server shows it, after casting up to the
    ballot's entry (which settles it, wherever the earlier ballots were cast). `ledger`: a file where the client
    also keeps, per election and credential, the counter of the last ballot it cast, so that a stale counter is
    refused before casting even when the server hides its newest entries; None keeps no memory."""

    def __init__(self, base_url: str, timeout: float = 60.0, ledger: Path | None = None) -> None:
        self.base = base_url.rstrip("/") + "/api"
        self.timeout = timeout
        self.ledger = ledger
        self._http = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
                                                 _NoRedirect())
        self._csrf: str | None = None
        self._opened: Entry | None = None  # the open entry of the context last built
        self._chain: _Chain | None = None  # the board after it, as far as checked (kept across ballots)

    def _request(self, method: str, path: str, body: Any = None) -> Any:
        """One JSON request; any failure (refusal, network, a slow, huge or malformed answer) is a ServerError."""
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            if self._csrf is None:
                answer = self._request("GET", "/csrf")
                token = answer.get("csrf_token") if isinstance(answer, dict) else None
                if not isinstance(token, str) or not token.isprintable():
                    raise ServerError("GET /csrf: expected a csrf_token string")
                self._csrf = token
            headers.update({"Content-Type": "application/json", "X-CSRF-Token": self._csrf})
            data = json.dumps(body).encode("utf-8")
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        where = f"{method} {printable(path)}"
        outcome: list[Any] = []
        exchange = threading.Thread(target=lambda: outcome.append(self._exchange(request, where)), daemon=True)
        exchange.start()  # a watchdog over the whole exchange: a status line or headers trickled byte by byte too
        exchange.join(self.timeout + 1)
        if not outcome:
            raise ServerError(f"{where}: no whole answer within {self.timeout:.0f} s")
        if isinstance(outcome[0], ServerError):
            raise outcome[0]
        return outcome[0]

    def _exchange(self, request: urllib.request.Request, where: str) -> Any:
        """The request's JSON answer, or the ServerError that says why there is none (returned, not raised: it
        crosses from the watchdog's thread)."""
        try:
            with self._http.open(request, timeout=self.timeout) as response:
                return json.loads(self._read(response, where))
        except urllib.error.HTTPError as exc:
            if 300 <= exc.code < 400:
                return ServerError(f"{where}: {exc.code} redirect to {printable(exc.headers.get('Location', '?'))} refused: "
                                   "this client talks to the server it was given only")
            try:
                problem = json.loads(self._read(exc, where))
                detail = (problem.get("detail") or problem.get("title")) if isinstance(problem, dict) else problem
            except (ValueError, RecursionError, OSError, http.client.HTTPException, ServerError):
                detail = exc.reason
            return ServerError(f"{where}: {exc.code} {printable(detail)}")
        except urllib.error.URLError as exc:  # no answer at all: name the server the voter gave
            return ServerError(f"{where}: cannot reach the server at {printable(self.base)} ({printable(exc.reason)})")
        except (OSError, http.client.HTTPException) as exc:
            return ServerError(f"{where}: {printable(exc)}")
        except (ValueError, RecursionError):
            return ServerError(f"{where}: the answer is not JSON")
        except ServerError as exc:
            return exc

    def _read(self, response: Any, where: str) -> bytes:
        """The whole answer, within the client's timeout overall (not per read) and MAX_ANSWER_BYTES."""
        deadline, chunks, size = time.monotonic() + self.timeout, [], 0
        while chunk := response.read1(1 << 16) if hasattr(response, "read1") else response.read(1 << 16):
            size += len(chunk)
            if size > MAX_ANSWER_BYTES:
                raise ServerError(f"{where}: the answer exceeds {MAX_ANSWER_BYTES} bytes")
            if time.monotonic() > deadline:
                raise ServerError(f"{where}: the answer took more than {self.timeout:.0f} s")
            chunks.append(chunk)
        return b"".join(chunks)

    def _object(self, answer: Any, where: str) -> dict[str, Any]:
        if not isinstance(answer, dict):
            raise ServerError(f"{where}: expected a JSON object")
        return answer

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

    def context(self, election_id: str, board_key: str | None = None, base_hash: str | None = None) -> ElectionContext:
        """The election's context rebuilt from its signed parameter entries, the board's first four (the lifecycle
        fixes them: setup, key ceremony, credentials, open), linked from the chain's start; `board_key` pins the
        board's key (hex) if the voter got it out of band, else the key the setup entry states is used; `base_hash`
        pins the election (hex): a server that signs a whole election of its own (its own key ceremony, whose key
        it holds) under the same board key is refused before anything is encrypted."""
        last, served = len(PARAMETER_TYPES) - 1, []
        while len(served) <= last:  # a page may hold fewer (the API cuts pages at 32 MiB: a list of a million voters)
            path = f"/elections/{urllib.parse.quote(election_id)}/entries?from={len(served)}&to={last}"
            page = self._object(self._request("GET", path), "entries").get("entries")
            if not isinstance(page, list):
                raise ServerError("entries: expected a list of board entries")
            if not page:
                break
            served += page
        if not served or not isinstance(served[0], dict) or not isinstance(served[0].get("payload"), dict):
            raise ServerError("entries: expected a list of board entries, the setup entry first")
        stated = served[0]["payload"].get("board_key")
        if board_key is not None and stated != board_key:
            raise VerificationError("the setup entry states another board key than the one pinned")
        if not isinstance(stated, str):
            raise ServerError("setup: no board_key")
        if len(served) > len(PARAMETER_TYPES):
            raise ServerError(f"entries: {len(served)} entries for the range 0 to {len(PARAMETER_TYPES) - 1}")
        by_type: dict[str, Entry] = {}
        prev = GENESIS
        for seq, obj in enumerate(served):
            entry = self._entry(obj, stated)
            if entry.seq != seq or entry.prev != prev or entry.type != PARAMETER_TYPES[seq]:
                raise VerificationError(f"board entry {seq}: expected the {PARAMETER_TYPES[seq]} entry, linked to the "
                                        f"one before, got seq {entry.seq}, type {entry.type!r}")
            by_type[entry.type], prev = entry, entry.hash
        missing = [t for t in PARAMETER_TYPES if t not in by_type]
        if missing:
            raise ProtocolError(f"election {election_id!r} is not open for voting: no {', '.join(missing)} entry")
        ctx = build_context(by_type["setup"].payload, by_type["key_ceremony"].payload, by_type["credentials"].payload)
        if ctx.setup.election_id != election_id or ctx.setup.board_key != stated:
            raise VerificationError(f"the setup entry is not election {election_id!r}'s")
        if by_type["open"].payload.get("base_hash") != ctx.base_hash.hex():
            raise VerificationError("the open entry's base hash is not the one recomputed from the parameters")
        if base_hash is not None and ctx.base_hash.hex() != base_hash:
            raise VerificationError(f"the election's base hash {ctx.base_hash.hex()} is not the pinned base hash "
                                    f"{base_hash}: another election (other trustees, key or voters) under that name")
        if self._chain is None or self._opened is None or self._opened.hash != by_type["open"].hash:
            self._chain = _Chain(by_type["open"], ctx.credentials)
        self._opened = by_type["open"]
        return ctx

    def cast(self, ctx: ElectionContext, private_credential: str, choices: Mapping[str, Sequence[str]]) -> Receipt:
        """Encrypt, prove and sign the choices here, cast them, and check the board entry that holds them."""
        ballot, _ = encrypt_ballot(ctx, private_credential, choices, self._revote(ctx, private_credential))
        receipt = self._checked(ctx, ballot, self._request("POST", f"/elections/{ctx.setup.election_id}/ballots",
                                                            {"ballot": ballot}), "cast")
        self._remember(ctx, public_credential(ctx.setup.election_id, private_credential), receipt.revote)
        return receipt

    def challenge(self, ctx: ElectionContext, private_credential: str, choices: Mapping[str, Sequence[str]]) -> Receipt:
        """A Benaloh challenge: encrypt the choices, then publish the ballot opened (never counted)."""
        ballot, secrets = encrypt_ballot(ctx, private_credential, choices, self._revote(ctx, private_credential))
        body = {"ballot": ballot, "reveal": reveal_json(ctx, secrets)}
        return self._checked(ctx, ballot, self._request("POST", f"/elections/{ctx.setup.election_id}/challenges", body),
                             "spoil", body["reveal"])

    def _revote(self, ctx: ElectionContext, private_credential: str) -> int:
        """The counter the server says the credential's next ballot carries; no lower than this client's own
        memory allows, nor than the counters of the credential's cast ballots on the board as far as the server
        shows it now (a stale one would leave the new ballot uncounted behind an older one). The board may hide
        its newest entries here: _checked settles it after casting, on the chain up to the ballot."""
        credential = public_credential(ctx.setup.election_id, private_credential)
        if credential not in ctx.credentials:
            raise ProtocolError("this credential is not on the election's published credential list")
        answer = self._request("GET", f"/elections/{ctx.setup.election_id}/revote/{credential}")
        revote = answer.get("revote") if isinstance(answer, dict) else None
        if type(revote) is not int or revote < 0:
            raise ServerError("revote: expected a non-negative integer")
        last = self._ledger().get(self._ledger_key(ctx, credential))
        if last is not None and revote <= last:
            raise VerificationError(f"the server says this credential's next ballot is number {revote}, but this client "
                                    f"already saw its ballot number {last} on the board: a ballot cast now would not count")
        self._counter(ctx, self._follow(ctx), credential, revote, "the server says this credential's next ballot is")
        return revote

    def _counter(self, ctx: ElectionContext, chain: _Chain, credential: str, revote: int, what: str) -> None:
        """Refuse `revote` unless it is the number of the credential's cast ballots on the chain followed: lower, a
        cast ballot carries as high a counter and the new one would not count (the highest counts; the ledger then
        learns that counter, so that the next run refuses a stale one before casting even if the server hides
        those entries again); higher, it leaves a gap, which the verifier refuses (a ballot the voter signed)."""
        highest = chain.highest.get(credential, -1)
        if highest >= revote:
            if highest > self._ledger().get(self._ledger_key(ctx, credential), -1):
                self._remember(ctx, credential, highest)
            raise VerificationError(f"{what} number {revote}, but the board up to entry {chain.last.seq} already holds "
                                    f"this credential's ballot number {highest}: this one would not count (the highest "
                                    "number counts)")
        expected = chain.casts.get(credential, 0)
        if revote != expected:
            raise VerificationError(f"{what} number {revote}, but the board up to entry {chain.last.seq} holds "
                                    f"{expected} cast ballots of this credential: number {expected} is next, a gap "
                                    "makes the record fail its re-vote check")

    def _follow(self, ctx: ElectionContext, upto: int | None = None) -> _Chain:
        """The chain followed from where it was checked to entry `upto` (None: as far as the server shows), with
        `?from=&to=` pages: each entry canonical, its hash recomputed, signed by the board, numbered one more than
        the last and linked to it by prev.

        Why it is sound: the chain starts at the open entry, board-signed with the base hash recomputed here, and
        each entry is bound to the one before by its hash; _checked ends it at the ballot's signed entry, whose
        prev must be the last entry followed. So the entries followed are the board's chain from the open entry
        to the ballot, every one the verifier counts (or else the board signed a fork, and the receipt proves
        it). Cost: the whole board once per session (then only what was appended), in the pages the server sends
        (web/api.py: 1000 entries, 32 MiB), at most MAX_CHAIN_ENTRIES."""
        chain = self._chain
        if chain is None or self._opened is None:
            raise ProtocolError("no election context: call context() first")
        election = urllib.parse.quote(ctx.setup.election_id)
        start, first = time.monotonic(), chain.followed
        while upto is None or chain.last.seq < upto:
            elapsed = time.monotonic() - start
            if elapsed > self.timeout * (1 + (chain.followed - first) / SLOWEST_ENTRIES):
                raise ServerError(f"entries: the board is served too slowly ({chain.followed - first} entries in "
                                  f"{elapsed:.0f} s, fewer than {SLOWEST_ENTRIES} per {self.timeout:.0f} s)")
            query = f"from={chain.last.seq + 1}" + ("" if upto is None else f"&to={upto}")
            page = self._object(self._request("GET", f"/elections/{election}/entries?{query}"), "entries").get("entries")
            if not isinstance(page, list):
                raise ServerError("entries: expected a list of board entries")
            if not page:
                if upto is None:
                    break
                raise ServerError(f"entries: expected board entries {chain.last.seq + 1} to {upto}")
            for obj in page:
                entry = self._entry(obj, ctx.setup.board_key)
                if upto is not None and entry.seq > upto:
                    raise ServerError(f"entries: board entry {entry.seq} is beyond the range asked")
                if entry.seq != chain.last.seq + 1 or entry.prev != chain.last.hash:
                    raise VerificationError(f"board entry seq {entry.seq} does not follow entry {chain.last.seq} on the chain")
                chain.add(entry)
                if chain.followed > MAX_CHAIN_ENTRIES:
                    raise ServerError(f"entries: the board holds more than {MAX_CHAIN_ENTRIES} entries after the open entry")
        return chain

    @staticmethod
    def _ledger_key(ctx: ElectionContext, credential: str) -> str:
        return f"{ctx.base_hash.hex()}:{credential}"

    def _ledger(self) -> dict[str, int]:
        if self.ledger is None or not self.ledger.exists():
            return {}
        try:
            data = json.loads(self.ledger.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError) as exc:  # RecursionError: JSON nested too deep
            raise ProtocolError(f"ledger {self.ledger}: unreadable ({exc})") from None
        if not isinstance(data, dict) or not all(isinstance(k, str) and type(v) is int for k, v in data.items()):
            raise ProtocolError(f"ledger {self.ledger}: expected an object of counters")
        return data

    def _remember(self, ctx: ElectionContext, credential: str, revote: int) -> None:
        """Record the highest counter known for the public credential (written atomically, mode 0600), read and
        written under the ledger's lock: two runs sharing the ledger would each write back what they read, and the
        counter of one would be lost."""
        if self.ledger is None:
            return
        self.ledger.parent.mkdir(parents=True, exist_ok=True)
        with _exclusive(self.ledger.with_name(self.ledger.name + ".lock")):
            data = self._ledger()
            key = self._ledger_key(ctx, credential)
            data[key] = max(revote, data.get(key, -1))
            replace_private(self.ledger, json.dumps(data, sort_keys=True).encode("utf-8"))

    def _checked(self, ctx: ElectionContext, ballot: dict[str, Any], receipt: Any, status: str,
                 reveal: Any = None) -> Receipt:
        """The receipt, once the board entry under its tracking code holds exactly this ballot, signed, after the
        open entry, linked to the entry before it (on the chain followed from the open entry) and with its tracking
        code chained over that entry's; a cast ballot, once no cast ballot of its credential on that chain carries
        as high a re-vote counter (else it would not count)."""
        digest = ballot_hash(ctx, signed_body(ballot)).hex()
        if not isinstance(receipt, dict) or receipt.get("ballot_hash") != digest or not isinstance(receipt.get("tracker"), str) \
                or len(receipt["tracker"]) != 64 or any(c not in "0123456789abcdef" for c in receipt["tracker"]):
            raise VerificationError("the receipt does not name this ballot's hash and a tracking code")
        election = ctx.setup.election_id
        found = self._request("GET", f"/elections/{election}/ballots/{receipt['tracker']}")
        entry = self._entry(found.get("entry") if isinstance(found, dict) else None, ctx.setup.board_key)
        p = entry.payload
        if entry.type != status or p.get("ballot") != ballot or p.get("ballot_hash") != digest \
                or p.get("tracker") != receipt["tracker"]:
            raise VerificationError(f"the board entry under tracking code {receipt['tracker']} is not this ballot")
        opened = self._opened
        if opened is None or entry.seq <= opened.seq:
            raise VerificationError(f"the ballot's board entry (seq {entry.seq}) is not after the election's open entry")
        chain = self._chain
        if chain is not None and chain.last.seq >= entry.seq:
            raise VerificationError(f"the ballot's board entry (seq {entry.seq}, hash {entry.hash}, board signature "
                                    f"{entry.sig}) is not on the chain: the board showed another entry {entry.seq} "
                                    "before this ballot was cast (a fork)")
        chain = self._follow(ctx, entry.seq - 1)
        previous = chain.last
        if previous.hash != entry.prev:
            raise VerificationError(f"the ballot's board entry does not follow entry {entry.seq - 1} on the chain")
        if previous.type == "open":
            if previous.hash != opened.hash:
                raise VerificationError("the entry before the ballot is not the election's open entry")
            chained = next_tracker(ctx.base_hash, bytes.fromhex(digest))
        elif previous.type in ("cast", "spoil") and isinstance(previous.payload.get("tracker"), str) \
                and len(previous.payload["tracker"]) == 64 and all(c in "0123456789abcdef" for c in previous.payload["tracker"]):
            chained = next_tracker(bytes.fromhex(previous.payload["tracker"]), bytes.fromhex(digest))
        else:
            raise VerificationError(f"the entry before the ballot is a {previous.type!r} entry, not a ballot or the open entry")
        if chained.hex() != receipt["tracker"]:
            raise VerificationError("the tracking code is not chained over the previous ballot's")
        self._counter(ctx, chain, ballot["credential"], ballot["revote"], "the board stored this ballot as")
        if reveal is not None and p.get("reveal") != reveal:
            raise VerificationError(f"the board published the challenged ballot (entry {entry.seq}) with another "
                                    "opening than the one this client sent")
        chain.add(entry)
        return Receipt(receipt["tracker"], digest, entry.seq, entry.type, ballot["revote"], entry.to_json())
