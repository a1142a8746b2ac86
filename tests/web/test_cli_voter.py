"""`quorum vote` (ATTACKS.md row 18: server-delivered client code): a voter casts and challenges with this package's
own encryption over real HTTP, and the client refuses what a lying server answers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from quorum.cli import main
from tests.web import flow
from tests.web.conftest import api_post
from tests.web.live import serve
from threshold.errors import VerificationError
from voting.client import VoterClient
from voting.election import Election
from voting.record import entry_hash


def _open(app: Flask, admin: FlaskClient) -> list[dict[str, str]]:
    flow.ceremony(flow.join(app, flow.create(admin)), "club")
    issued = api_post(admin, "/api/elections/club/credentials", {}).get_json()["credentials"]
    api_post(admin, "/api/elections/club/open", {})
    return issued


def _vote(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    code = main(["vote", *argv])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 else err)


def test_cast_and_challenge_from_the_command_line(app: Flask, admin: FlaskClient, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    issued = _open(app, admin)
    cred = tmp_path / "credential.txt"
    cred.write_text(issued[0]["credential"] + "\n")
    board_key = app.extensions["quorum"].board.public_key
    with serve(app) as url:
        code, challenged = _vote(capsys, url, "club", "--credential", str(cred), "--choose", "chair=bob",
                                 "--choose", "pool=no", "--challenge", "--json")
        assert code == 0 and challenged["status"] == "spoil"
        code, cast = _vote(capsys, url, "club", "--credential", str(cred), "--choose", "chair=ann",
                           "--choose", "pool=", "--board-key", board_key, "--json")
        assert code == 0 and cast["status"] == "cast" and cast["revote"] == 0
        ledger = json.loads((tmp_path / "state" / "quorum" / "votes.json").read_text())
        assert list(ledger.values()) == [0]  # this client remembers the counter it used
        code, err = _vote(capsys, url, "club", "--credential", str(cred), "--choose", "chair=ann", "--choose", "pool=",
                          "--board-key", "ab" * 32)
        assert code == 1 and "board key" in err
        code, err = _vote(capsys, url, "club", "--credential", str(cred), "--choose", "chair=nobody", "--choose", "pool=")
        assert code == 2 and "--choose" in err and "nobody" in err  # a bad argument, checked against the manifest
        code, err = _vote(capsys, url, "club", "--credential", str(cred), "--choose", "chiar=ann", "--choose", "pool=")
        assert code == 2 and "chiar" in err
        code, err = _vote(capsys, url.split("://", 1)[1], "club", "--credential", str(cred), "--choose", "chair=ann")
        assert code == 2 and "expected http://" in err
        code, err = _vote(capsys, url, "club", "--credential", str(cred), "--choose", "chair")
        assert code == 2 and "CONTEST=OPTION" in err
    entries = Election(app.extensions["quorum"].board, "club").entries()
    on_board = {e.payload["tracker"]: e for e in entries if e.type in ("cast", "spoil")}
    assert on_board[cast["tracker"]].type == "cast" and on_board[cast["tracker"]].seq == cast["seq"]
    assert on_board[challenged["tracker"]].type == "spoil"
    assert on_board[cast["tracker"]].payload["ballot"]["revote"] == 0  # a challenge consumes no counter
    assert cast["base_hash"] == Election(app.extensions["quorum"].board, "club").context().base_hash.hex()


def test_the_client_refuses_what_a_lying_server_answers(app: Flask, admin: FlaskClient, monkeypatch, tmp_path: Path) -> None:
    """Each lie is well-formed and signed by the board key: only the client's own checks catch it."""
    issued = _open(app, admin)
    key = app.extensions["quorum"].board.key

    def resigned(entry: dict[str, Any], **payload: Any) -> dict[str, Any]:
        e = {**entry, "payload": {**entry["payload"], **payload}}
        e["hash"] = entry_hash(e["seq"], e["type"], e["payload"], e["prev"])
        e["sig"] = key.sign(bytes.fromhex(e["hash"])).signature.hex()
        return e

    with serve(app) as url:
        client = VoterClient(url)
        ctx = client.context("club")
        other = client.cast(ctx, issued[0]["credential"], {"chair": ["bob"], "pool": ["yes"]})
        honest = client._request
        lies = {
            "a receipt for another ballot": lambda m, p, b=None: {**honest(m, p, b), "ballot_hash": other.ballot_hash}
            if p.endswith("/ballots") else honest(m, p, b),
            "another voter's entry under the tracking code": lambda m, p, b=None: honest(m, p, b)
            if "/ballots/" not in p else honest("GET", f"/elections/club/ballots/{other.tracker}"),
        }
        for i, lie in enumerate(lies.values(), start=1):
            monkeypatch.setattr(client, "_request", lie)
            with pytest.raises(VerificationError, match="receipt|not this ballot"):
                client.cast(ctx, issued[i]["credential"], {"chair": ["ann"], "pool": []})
        monkeypatch.setattr(client, "_request", lambda m, p, b=None: {"entries": [
            resigned(e, base_hash="ab" * 32) if e["type"] == "open" else e for e in honest(m, p, b)["entries"]]})
        with pytest.raises(VerificationError, match="base hash"):
            client.context("club")
        monkeypatch.setattr(client, "_request", lambda m, p, b=None: {"entries": [
            {**e, "sig": "00" * 64} if e["type"] == "key_ceremony" else e for e in honest(m, p, b)["entries"]]})
        with pytest.raises(VerificationError, match="not signed"):
            client.context("club")
        monkeypatch.undo()
        remembering = VoterClient(url, ledger=tmp_path / "votes.json")
        ctx = remembering.context("club")
        assert remembering.cast(ctx, issued[3]["credential"], {"chair": ["ann"], "pool": []}).revote == 0
        real = remembering._request
        monkeypatch.setattr(remembering, "_request", lambda m, p, b=None: {"credential": "x", "revote": 0}
                            if "/revote/" in p else real(m, p, b))  # a stale counter: the new ballot would not count
        with pytest.raises(VerificationError, match="would not count"):
            remembering.cast(ctx, issued[3]["credential"], {"chair": ["bob"], "pool": []})
