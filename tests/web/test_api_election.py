"""A whole election through the JSON API, then `quorum verify` on the downloaded record; and the API's refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.web import flow
from tests.web.conftest import api_post
from voting.ballot import encrypt_ballot, reveal_json
from voting.credentials import public_credential
from voting.election import Election
from voting.tally import trustee_decrypt
from voting.verifier import verify_record
from web import api as web_api


def _decryption_line(admin: FlaskClient) -> str:
    """The election page's line on the partial decryptions published and still needed (whitespace collapsed)."""
    page = admin.get("/admin/elections/club").get_data(as_text=True)
    start = page.find('id="decryption-waiting"')
    return " ".join(page[start:page.find("</p>", start)].split()) if start >= 0 else ""


def test_whole_election_over_the_api(app: Flask, admin: FlaskClient, tmp_path: Path) -> None:
    """ATTACKS.md row 15: a challenged ballot is published with its nonces and can never be cast."""
    invites = flow.create(admin)
    trustees = flow.join(app, invites)
    keys = flow.ceremony(trustees, "club")
    assert admin.get("/api/elections/club").get_json()["phase"] == "keys"

    issued = api_post(admin, "/api/elections/club/credentials", {}).get_json()["credentials"]
    assert [c["voter_id"] for c in issued] == [f"v{i}" for i in range(1, 6)]
    assert api_post(admin, "/api/elections/club/open", {}).get_json() == {"phase": "open"}

    board = app.extensions["quorum"].board
    ctx = Election(board, "club").context()
    voter = app.test_client()
    final: dict[str, dict[str, list[str]]] = {}
    picks = [(["ann"], ["yes"]), (["bob"], ["no"]), (["ann"], []), ([], ["yes"]), (["cy"], ["yes"])]
    for cred, (chair, pool) in zip(issued, picks):
        choices = {"chair": chair, "pool": pool}
        ballot, _ = encrypt_ballot(ctx, cred["credential"], choices)
        receipt = api_post(voter, "/api/elections/club/ballots", {"ballot": ballot})
        assert receipt.status_code == 201, receipt.get_json()
        final[cred["voter_id"]] = choices
        found = voter.get(f"/api/elections/club/ballots/{receipt.get_json()['tracker'][:12]}").get_json()
        assert found["status"] == "cast" and found["ballot_hash"] == receipt.get_json()["ballot_hash"]

    # a retry returns the same receipt and stores nothing
    again = api_post(voter, "/api/elections/club/ballots", {"ballot": ballot})
    assert again.status_code == 200 and again.get_json()["stored"] is False

    # Benaloh challenge: published with its reveal, then refused as a cast ballot
    spoiled, secrets = encrypt_ballot(ctx, issued[0]["credential"], {"chair": ["cy"], "pool": ["no"]}, revote=1)
    challenge = api_post(voter, "/api/elections/club/challenges", {"ballot": spoiled, "reveal": reveal_json(ctx, secrets)})
    assert challenge.status_code == 201
    opened = voter.get(f"/api/elections/club/ballots/{challenge.get_json()['ballot_hash']}").get_json()
    assert opened["status"] == "spoil" and opened["entry"]["payload"]["reveal"] == reveal_json(ctx, secrets)
    params = voter.get("/api/elections/club/entries?type=setup&type=open").get_json()["entries"]
    assert [e["type"] for e in params] == ["setup", "open"]
    refused = api_post(voter, "/api/elections/club/ballots", {"ballot": spoiled})
    assert refused.status_code == 409 and "challenged" in refused.get_json()["detail"]

    # a re-vote: the booth asks for the credential's next counter; a stale one is refused and stores nothing
    public = public_credential("club", issued[1]["credential"])
    assert voter.get(f"/api/elections/club/revote/{public}").get_json() == {"credential": public, "revote": 1}
    assert voter.get(f"/api/elections/club/revote/{'ab' * 32}").status_code == 404
    stale, _ = encrypt_ballot(ctx, issued[1]["credential"], {"chair": ["cy"], "pool": ["yes"]}, revote=0)
    n = len(Election(board, "club").entries())
    refused = api_post(voter, "/api/elections/club/ballots", {"ballot": stale})
    assert refused.status_code == 409 and "revote 1" in refused.get_json()["detail"]
    assert len(Election(board, "club").entries()) == n
    # the last ballot of v2 (the highest counter) counts
    revote, _ = encrypt_ballot(ctx, issued[1]["credential"], {"chair": ["cy"], "pool": ["yes"]}, revote=1)
    assert api_post(voter, "/api/elections/club/ballots", {"ballot": revote}).status_code == 201
    final["v2"] = {"chair": ["cy"], "pool": ["yes"]}

    assert api_post(admin, "/api/elections/club/close", {}).get_json() == {"phase": "closed"}
    assert api_post(admin, "/api/elections/club/tally", {}).get_json() == {"phase": "tallied"}
    election = Election(board, "club")
    tally = next(e for e in election.entries() if e.type == "tally").payload
    published = election.cast_ballots()
    assert "2 more needed, from any of: T1 (trustee 1), T2 (trustee 2), T3 (trustee 3)." in _decryption_line(admin)
    first = api_post(trustees[1], "/api/elections/club/decryptions", trustee_decrypt(ctx, keys[1], published, tally))
    assert first.status_code == 201 and first.get_json()["result_published"] is False
    assert "Published so far by: T1 (trustee 1). 1 more needed, from any of: T2 (trustee 2), T3 (trustee 3)." \
        in _decryption_line(admin)  # the administrator sees whom to remind
    second = api_post(trustees[3], "/api/elections/club/decryptions", trustee_decrypt(ctx, keys[3], published, tally))
    assert second.get_json()["result_published"] is True

    result = voter.get("/api/elections/club/result").get_json()
    expected = flow.expected_counts(final)
    assert [[o["count"] for o in c["options"]] for c in result["contests"]] == [e["counts"] for e in expected]
    page = voter.get("/board/club/results").get_data(as_text=True)
    assert "<svg" in page and 'class="count">' in page

    record = tmp_path / "record.zip"
    record.write_bytes(voter.get("/board/club/record.zip").data)
    report = verify_record(record, workers=1)
    assert report.valid, report.failures


def test_refusals_store_nothing(app: Flask, admin: FlaskClient) -> None:
    invites = flow.create(admin, "refusals")
    trustees = flow.join(app, invites)
    outsider = app.test_client()
    # trustee routes need the seat from the invitation
    forbidden = api_post(outsider, "/api/elections/refusals/ceremony/announce", {})
    assert forbidden.status_code == 403 and forbidden.mimetype == "application/problem+json"
    # a malformed announcement is named and not stored
    bad = api_post(trustees[1], "/api/elections/refusals/ceremony/announce", {"index": 1})
    assert bad.status_code == 422 and bad.get_json()["errors"][0]["field"] == "announcement"
    assert admin.get("/api/elections/refusals/ceremony").get_json()["announcements"] == []
    # a round out of order is refused
    early = api_post(trustees[1], "/api/elections/refusals/ceremony/deal", {})
    assert early.status_code == 409
    # ballots before the election opens
    entries = len(admin.get("/api/elections/refusals/entries").get_json()["entries"])
    ballot = api_post(outsider, "/api/elections/refusals/ballots", {"ballot": {}})
    assert ballot.status_code == 409
    junk = api_post(outsider, "/api/elections/refusals/ballots", {"ballot": {}, "extra": 1})
    assert junk.status_code == 422 and junk.get_json()["errors"][0]["field"] == "extra"
    assert len(admin.get("/api/elections/refusals/entries").get_json()["entries"]) == entries
    # the same election id twice is refused, and nothing of the second request is kept
    again = api_post(admin, "/api/elections", {"election_id": "refusals", "manifest": flow.MANIFEST, "group": "modp",
                                               "trustees": ["X"], "quorum": 1, "voters_csv": "voter_id\nsomeone\n"})
    assert again.status_code == 409 and "already exists" in again.get_json()["detail"]
    assert [v["voter_id"] for v in admin.get("/api/elections/refusals/voters").get_json()["voters"]] == [f"v{i}" for i in range(1, 6)]
    # opening before the key ceremony is refused
    api_post(admin, "/api/elections/refusals/credentials", {})
    assert api_post(admin, "/api/elections/refusals/open", {}).status_code == 409


def test_creation_errors_name_the_field(admin: FlaskClient) -> None:
    body = {"election_id": "x", "manifest": flow.MANIFEST, "group": "ed25519", "trustees": ["a"], "quorum": 2,
            "voters_csv": flow.VOTERS}
    response = api_post(admin, "/api/elections", body)
    assert response.status_code == 422 and response.get_json()["errors"][0]["field"] == "quorum"
    bad_csv = api_post(admin, "/api/elections", {**body, "quorum": 1, "voters_csv": "voter_id\nv1\nv1\n"})
    assert bad_csv.status_code == 422
    assert "row 3" in bad_csv.get_json()["errors"][0]["message"]
    several = api_post(admin, "/api/elections", {**body, "election_id": "no spaces", "group": "p256", "trustees": ["a", "a"],
                                                   "voters_csv": "voter_id\nv1\nv1\n"})  # every wrong field, at once
    assert several.status_code == 422
    assert [e["field"] for e in several.get_json()["errors"]] == ["election_id", "group", "trustees[1]", "voters"]
    assert admin.get("/api/elections").get_json() == {"elections": []}


def test_entries_by_range_are_paged_and_strictly_parsed(app: Flask, admin: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """?from=N&to=M: entries N to M in order (from 0 without ?from=, to the newest without ?to=), with the ?type= and
    ?seq= filters, at most ENTRIES_PAGE per answer; a malformed or repeated bound is a 422 naming the field."""
    flow.ceremony(flow.join(app, flow.create(admin)), "club")
    api_post(admin, "/api/elections/club/credentials", {})
    assert api_post(admin, "/api/elections/club/open", {}).status_code == 200
    every = admin.get("/api/elections/club/entries").get_json()["entries"]
    head = every[-1]["seq"]

    def seqs(query: str) -> list[int]:
        answer = admin.get(f"/api/elections/club/entries?{query}")
        assert answer.status_code == 200, answer.get_json()
        return [e["seq"] for e in answer.get_json()["entries"]]

    assert head >= 3 and seqs("from=1&to=2") == [1, 2] and seqs("from=1") == list(range(1, head + 1))
    assert seqs(f"from={head}&to={head + 5}") == [head] and seqs(f"from={head + 1}") == [] and seqs("from=2&to=1") == []
    assert seqs("to=1") == [0, 1] and admin.get("/api/elections/club/entries?from=0").get_json()["entries"] == every
    opened = next(e["seq"] for e in every if e["type"] == "open")
    assert seqs("from=1&type=open&type=setup") == [opened] and seqs(f"from=1&to={head}&seq=0&seq=2&seq={head + 1}") == [2]
    monkeypatch.setattr(web_api, "ENTRIES_PAGE", 2)
    assert seqs("from=1") == [1, 2] and seqs("to=5") == [0, 1] and seqs(f"from=0&seq=1&seq={head}&seq=0") == [0, 1]
    monkeypatch.setattr(web_api, "ENTRIES_PAGE_BYTES", 1)  # payload bytes: always the first entry, no more
    assert seqs("from=1") == [1] and seqs(f"from={head}") == [head]
    for query, field in [("from=1&from=2", "from"), ("from=1&to=2&to=3", "to"), ("from=x", "from"), ("from=-1", "from"),
                         ("from=%D9%A3", "from"), ("to=1234567890123", "to"), ("from=1&to=", "to"), ("from=1&seq=a", "seq")]:
        refused = admin.get(f"/api/elections/club/entries?{query}")
        assert refused.status_code == 422 and refused.get_json()["errors"][0]["field"] == field, query
    assert admin.get("/api/elections/nowhere/entries?from=0").status_code == 404


def test_a_creation_that_fails_midway_leaves_nothing(app: Flask, admin: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """The board's election, its setup entry, the voters, the trustee invitations and the audit event are one
    transaction: a failure while storing the invitations leaves no election (and no audit event of one) behind, and
    the same id can be created afterwards."""
    from web import elections

    body = {"election_id": "half", "manifest": flow.MANIFEST, "group": "ed25519", "trustees": ["a", "b"], "quorum": 1,
            "voters_csv": flow.VOTERS}
    request = elections.validate(*(body[k] for k in ("election_id", "manifest", "group", "trustees", "quorum", "voters_csv")))
    board = app.extensions["quorum"].board

    def failing(token: str) -> str:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(elections, "token_hash", failing)
    with pytest.raises(RuntimeError):
        elections.create(board, request, actor="alice", detail="API")
    monkeypatch.undo()
    assert board.entries("half") == [] and admin.get("/api/elections").get_json() == {"elections": []}
    assert admin.get("/api/elections/half/voters").status_code == 404
    assert not [e for e in admin.get("/api/audit").get_json()["events"] if e["action"] == "election_created"]
    assert api_post(admin, "/api/elections", body).status_code == 201
    assert [e.type for e in board.entries("half")] == ["setup"]
    created = [e for e in admin.get("/api/audit").get_json()["events"] if e["action"] == "election_created"]
    assert [(e["election_id"], e["detail"]) for e in created] == [("half", "API")]
