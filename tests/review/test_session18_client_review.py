"""Session 18 adversarial review of the parts of the election system that voters, credential authorities and
auditors run themselves: `quorum vote` (quorum/cmd_vote.py, voting/client.py) against a malicious server,
`quorum credentials` and voting/voters_csv.py, and the verifier's pins (voting/pins.py).

ATTACKS rows 2, 12-15 and 18. Threat model of the client tests (as in test_client_and_records_review.py): the server
holds the board key, so every lie it tells is well-formed and board-signed; what it cannot do is sign for the
voter's credential. The rule checked here: the client never reports success (exit 0) for a ballot that the
verifier of the published record would not count, or would flag, when the client had the evidence to see it.

Tests marked xfail(strict=True) are open findings; each reason says what is wrong and why it matters. The owner
removes the marker when fixing (the test then passes).
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from quorum.cli import main
from tests.review.test_client_and_records_review import (  # noqa: F401  (_own_state_home: an autouse fixture)
    _board, _credential_file, _entries, _open, _own_state_home)
from tests.web import flow
from tests.web.conftest import admin, api_post, app  # noqa: F401  (fixtures)
from tests.web.live import serve
from voting.ballot import ballot_hash, encrypt_ballot, next_tracker, signed_body
from voting.client import ServerError, VoterClient
from voting.context import build_context
from voting.credentials import new_private_credential, public_credential
from voting.election import Election
from voting.voters_csv import VoterListError, parse_public_credentials, parse_voters

STAMP = "2026-11-27T00:00:00.000000Z"
BOB = {"chair": ["bob"], "pool": []}


def _store(app: Flask, kind: str, body: dict[str, Any], ctx: Any, previous: bytes | None = None) -> dict[str, Any]:
    """What a malicious board does with a ballot an honest one refuses: chain it (tracking code over `previous`, by
    default the board's last code), sign and store it as `kind` ('cast' or 'spoil'), whatever the lifecycle; returns
    the receipt it answers."""
    ballot = body["ballot"]
    digest = ballot_hash(ctx, signed_body(ballot))
    with _board(app).locked("club") as lb:
        before = previous if previous is not None else bytes.fromhex(lb.election.last_tracker)
        tracker = next_tracker(before, digest).hex()
        payload = {"ballot": ballot, "ballot_hash": digest.hex(), "tracker": tracker, "cast_at": STAMP}
        if kind == "spoil":
            payload["reveal"] = body["reveal"]
        entry = lb.append(kind, payload, dedup_key=digest.hex())
        lb.election.last_tracker = tracker
    return {"seq": entry.seq, "ballot_hash": digest.hex(), "tracker": tracker, "stored": True}


def _vote(url: str, tmp_path: Path, secret: str, *extra: str) -> int:
    return main(["vote", url, "club", "--credential", _credential_file(tmp_path, secret), *extra])


# === 1. Re-vote counters the verifier refuses ====================================================================
@pytest.mark.parametrize("kind", ["cast", "spoil"])
def test_a_counter_with_a_gap_is_refused(kind: str, app: Flask, admin: FlaskClient, tmp_path: Path,  # noqa: F811
                                          monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Failed before (fixed in session 18): voting/client.py:_stale (called from _revote and _checked) refuses only a
    counter that is NOT ABOVE the highest one on the chain; the verifier's revote_counters
    (voting/verifier.py:_revotes, spec 10.6) requires the k-th cast ballot to carry exactly k-1 and a challenged
    one exactly the number of casts before it. A server answering /revote with 2 (or 1 for a challenge) for a
    credential with no ballot on the board, and storing the ballot, gets 'cast'/'challenged' and exit 0 from the
    client although the client followed the whole chain and could see the gap; the published record then fails
    revote_counters on a ballot the VOTER signed (its counter is under the credential's signature, the /revote
    answer is not), so the board can blame the voter's software. Fix: track per credential the number of cast
    entries on the chain and require revote == that number, before casting (as far as shown) and in _checked for
    both cast and spoil.

    ATTACKS row 15 (challenges) and the re-vote rule: the whole board is shown, the counter skips ahead."""
    issued = _open(app, admin)
    secret = issued[0]["credential"]
    real = VoterClient._request

    def gap(self: VoterClient, method: str, path: str, body: Any = None) -> Any:
        if "/revote/" in path:
            return {"credential": public_credential("club", secret), "revote": 2 if kind == "cast" else 1}
        if method == "POST" and (path.endswith("/ballots") or path.endswith("/challenges")):
            return _store(app, kind, body, Election(_board(app), "club").context())
        return real(self, method, path, body)

    monkeypatch.setattr(VoterClient, "_request", gap)
    with serve(app) as url:
        code = _vote(url, tmp_path, secret, "--choose", "chair=ann", "--choose", "pool=yes",
                     *(["--challenge"] if kind == "spoil" else []))
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("quorum vote: "), err
    assert not _entries(app, kind), "the voter's signed ballot with a gapped counter was stored"


# === 2. A ballot after the close =================================================================================
def test_a_ballot_stored_after_the_close_is_not_reported_cast(app: Flask, admin: FlaskClient, tmp_path: Path,  # noqa: F811
                                                              monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """Failed before (fixed in session 18): voting/client.py:_Chain.add / _follow accept any entry type on the chain
    between the open entry and the ballot: a board that wrote its `close` entry and then keeps storing ballots
    from CLI voters (chained after another ballot) gets exit 0 'cast' from `quorum vote`, yet the verifier's
    lifecycle check (spec 10.1: cast only while open) fails every such ballot and the tally the board makes
    after the close need not contain it: the voter is told the vote is in while it is outside the election. Fix:
    in _Chain.add run voting.lifecycle.next_phase from phase 'open' and refuse (VerificationError naming the
    entry's seq and type) anything but cast/spoil before the ballot, and a ballot whose chain holds a
    close/tally/decryption/result entry."""
    issued = _open(app, admin)
    election = Election(_board(app), "club")
    ctx = election.context()
    election.close()
    other, _ = encrypt_ballot(ctx, issued[1]["credential"], BOB, 0)
    _store(app, "cast", {"ballot": other}, ctx)  # another voter's ballot, stored after the close
    real = VoterClient._request

    def after_close(self: VoterClient, method: str, path: str, body: Any = None) -> Any:
        if "/revote/" in path:
            return {"credential": path.rsplit("/", 1)[1], "revote": 0}
        if method == "POST" and path.endswith("/ballots"):
            return _store(app, "cast", body, ctx)
        return real(self, method, path, body)

    monkeypatch.setattr(VoterClient, "_request", after_close)
    with serve(app) as url:
        code = _vote(url, tmp_path, issued[0]["credential"], "--choose", "chair=ann", "--choose", "pool=yes")
    out, err = capsys.readouterr()
    # refused before casting (the chain shown already holds a ballot after the close), or after the board stored it
    assert [e.type for e in _entries(app)][-3:] in (["open", "close", "cast"], ["close", "cast", "cast"])
    assert code == 1 and out == "" and "close" in err, out + err


# === 3. Parameters that are not the board's first entries ========================================================
def test_parameters_appended_after_the_open_are_refused(app: Flask, admin: FlaskClient, tmp_path: Path,  # noqa: F811
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """Failed before (fixed in session 18): voting/client.py:VoterClient.context takes whichever
    setup/key_ceremony/credentials/open entries the server serves (each signed) and starts the chain at that
    open entry, but never checks that they are the record's parameters (spec 10.1: the first such entries,
    before the first open; setup at seq 0 after 64 zeros). A board that appends, after the real open, a second
    credentials entry (the list plus a credential it holds) and an open entry stating that list's base hash, and
    serves those two, gets the ballot encrypted and signed under the wrong base hash and exit 0 'cast'; the
    verifier of the published record uses the first parameters, so the ballot fails
    ballot_signatures/ballot_proofs/trackers and is not counted. Fix: in context() fetch entries
    ?from=0&to=<open.seq> and require a whole signed, prev-linked chain from seq 0 (GENESIS) to the open entry
    holding exactly setup, key_ceremony, credentials (spec order) and no earlier open."""
    issued = _open(app, admin)
    election = Election(_board(app), "club")
    ctx = election.context()
    first = {e.type: e for e in reversed(_entries(app))}
    listed = first["credentials"].payload["credentials"]
    stuffed = sorted(listed + [public_credential("club", new_private_credential())])
    swapped = {**first["credentials"].payload, "credentials": stuffed, "voter_count": len(stuffed)}
    other = build_context(first["setup"].payload, first["key_ceremony"].payload, swapped)
    assert other.base_hash != ctx.base_hash
    with _board(app).locked("club") as lb:
        cred_entry = lb.append("credentials", swapped)
        open_entry = lb.append("open", {"base_hash": other.base_hash.hex(), "timestamp": STAMP})
    served = [first["setup"].to_json(), first["key_ceremony"].to_json(), cred_entry.to_json(), open_entry.to_json()]
    real = VoterClient._request

    def swapping(self: VoterClient, method: str, path: str, body: Any = None) -> Any:
        if "type=setup" in path:
            return {"entries": served}
        if method == "POST" and path.endswith("/ballots"):
            return _store(app, "cast", body, other, previous=other.base_hash)
        return real(self, method, path, body)

    monkeypatch.setattr(VoterClient, "_request", swapping)
    with serve(app) as url:
        code = _vote(url, tmp_path, issued[0]["credential"], "--choose", "chair=ann", "--choose", "pool=yes")
    out, err = capsys.readouterr()
    assert code == 1 and out == "", out + err


# === 4. Contests the voter never named ============================================================================
def test_a_contest_left_out_of_the_command_is_not_cast_blank(app: Flask, admin: FlaskClient, tmp_path: Path,  # noqa: F811
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """Failed before (fixed in session 18): quorum/cmd_vote.py:run + voting/ballot.py:validate_choices: a contest of
    the manifest that no --choose names is encrypted as a blank (choices.get(contest.id, [])) whenever its
    minimum is 0 (referendum, approval), silently: the help says 'repeat per contest; CONTEST= for none', yet
    `--choose chair=ann` alone casts 'pool' blank and prints only the tracking code. A server whose manifest
    carries a contest the voter does not expect (or a voter who forgot one) gets a ballot the voter never saw
    described. Fix: in cmd_vote, after the context is built, refuse (exit 2, naming the contest ids and titles)
    any manifest contest not given with --choose."""
    issued = _open(app, admin)
    with serve(app) as url:
        code = _vote(url, tmp_path, issued[0]["credential"], "--choose", "chair=ann")
    err = capsys.readouterr().err
    assert code == 2 and "pool" in err, err
    assert not _entries(app, "cast")


# === 5. Voter lists: ids that are one person to a reader =========================================================
@pytest.mark.parametrize("first, second", [("v1", "\uff561"), ("alice", "\uff41lice"), ("team2", "team\u00b2"),
                                           ("xiv", "\u2169\u2173")])
def test_compatibility_forms_of_one_id_are_duplicates(first: str, second: str) -> None:
    """Failed before (fixed in session 18): voting/voters_csv.py:voter_key folds ids with NFC + casefold only, so
    compatibility forms that a reader (and a spreadsheet's font) shows as the same id are two voters: fullwidth
    'ｖ1' vs 'v1' or 'ａlice' vs 'alice', 'team²' vs 'team2', the roman numerals 'Ⅹⅳ' vs 'xiv' (NFKC-equal,
    casefold does not fold them). `quorum credentials` then issues one person two credentials (two counted
    votes) from a merged export. Fix: key on unicodedata.normalize('NFKC', id).casefold() (or refuse non-NFKC
    ids outright) in voter_key, used by both parse_voters and parse_public_credentials."""
    with pytest.raises(VoterListError, match="already on row 2"):
        parse_voters(f"voter_id\n{first}\n{second}\n")
    rows = "".join(f"{v},{public_credential('club', new_private_credential())}\n" for v in (first, second))
    with pytest.raises(VoterListError, match="already on row 2"):
        parse_public_credentials("voter_id,public_credential\n" + rows)


# === 6. Redirects to another host ================================================================================
@contextmanager
def _http_server(handle: Callable[[http.server.BaseHTTPRequestHandler], None]) -> Iterator[tuple[str, list[dict[str, str]]]]:
    """A loopback http.server whose every GET and POST is `handle(request)`; yields its URL and each request's
    headers (with the path under 'path')."""
    seen: list[dict[str, str]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def _any(self) -> None:
            seen.append({"path": self.path, **{k.lower(): v for k, v in self.headers.items()}})
            handle(self)

        do_GET = do_POST = _any

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _answer(request: http.server.BaseHTTPRequestHandler, status: int, body: bytes, **headers: str) -> None:
    request.send_response(status)
    for name, value in {"Content-Type": "application/json", "Content-Length": str(len(body)), **headers}.items():
        request.send_header(name, value)
    request.end_headers()
    request.wfile.write(body)


def test_a_redirect_to_another_host_is_refused_and_leaks_no_token(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """Failed before (fixed in session 18): voting/client.py:VoterClient.__init__ builds its opener with urllib's
    default HTTPRedirectHandler, which follows redirects to any host (and to ftp://) and copies every header but
    Content-*: a server answering a request with `302 Location: http://elsewhere/...` makes the client send the
    session's X-CSRF-Token to a third host, and any answer then comes from a host the voter never named (errors
    still say 'the server at <url>'). Fix: an HTTPRedirectHandler subclass that refuses (ServerError naming both
    URLs) a redirect leaving the scheme://host:port the voter gave, or refuse redirects altogether (the API
    never redirects)."""
    with _http_server(lambda r: _answer(r, 404, b'{"title": "Not Found"}')) as (elsewhere, leaked):
        def voter_server(request: http.server.BaseHTTPRequestHandler) -> None:
            if request.path == "/api/csrf":
                _answer(request, 200, b'{"csrf_token": "session-secret-token"}')
            else:
                _answer(request, 302, b"{}", Location=f"{elsewhere}{request.path}")

        with _http_server(voter_server) as (url, _):
            client = VoterClient(url, timeout=5)
            with pytest.raises(Exception) as caught:  # noqa: PT011 - what matters is what reached the other host
                client._request("POST", "/elections/club/ballots", {"ballot": {}})
    assert not leaked, f"the client followed the redirect to {elsewhere}: {leaked}"
    assert "redirect" in str(caught.value), caught.value


# === 7. Benaloh challenge: the published reveal ==================================================================
def test_a_challenge_published_with_another_opening_is_refused(app: Flask, admin: FlaskClient, tmp_path: Path,  # noqa: F811
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """Failed before (fixed in session 18): voting/client.py:_checked compares the spoil entry's ballot, ballot_hash
    and tracker with what was sent, but never its `reveal`: a board that publishes the challenged ballot with
    other plaintexts or nonces (here: the plaintexts of another choice) gets 'challenged (published opened,
    never counted)' and exit 0, although the published opening is not the voter's and fails spoiled_ballots. The
    Benaloh challenge exists so that others can check the opening (ATTACKS row 15); the client is the one party
    that knows the right one. Fix: in _checked for status 'spoil' require entry.payload['reveal'] == the
    reveal_json sent (pass it in)."""
    issued = _open(app, admin)
    ctx = Election(_board(app), "club").context()
    real = VoterClient._request

    def lying(self: VoterClient, method: str, path: str, body: Any = None) -> Any:
        if method == "POST" and path.endswith("/challenges"):
            reveal = json.loads(json.dumps(body["reveal"]))
            chair = next(item for item in reveal if item["id"] == "chair")
            chair["plaintexts"] = chair["plaintexts"][1:] + chair["plaintexts"][:1]  # 'ann' published as 'bob'
            return _store(app, "spoil", {**body, "reveal": reveal}, ctx)
        return real(self, method, path, body)

    monkeypatch.setattr(VoterClient, "_request", lying)
    with serve(app) as url:
        code = _vote(url, tmp_path, issued[0]["credential"], "--choose", "chair=ann", "--choose", "pool=yes",
                     "--challenge")
    out, err = capsys.readouterr()
    assert _entries(app, "spoil"), "the malicious board stored the challenge"
    assert code == 1 and out == "", out + err


# === 8. A whole other election under the same board key: nothing for the voter to pin ==============================
def _exit_code(argv: list[str]) -> int:
    """main(argv), with argparse's SystemExit (an unknown option) turned into its exit code."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


def _authority_election(application: Flask, public_csv: str) -> FlaskClient:
    """Election 'club' on `application` with the credential authority's public list imported, its own trustees'
    key ceremony done, opened; returns the signed-in admin."""
    from tests.web.conftest import ADMIN_PASSWORD, form_post
    from web.auth import create_admin

    with application.extensions["quorum"].session() as db:
        create_admin(db, "alice", ADMIN_PASSWORD)
    admin_client = application.test_client()
    assert form_post(admin_client, "/admin/login", {"username": "alice", "password": ADMIN_PASSWORD}).status_code == 302
    trustees = flow.join(application, flow.create(admin_client))
    imported = api_post(admin_client, "/api/elections/club/public-credentials", {"credentials_csv": public_csv})
    assert imported.status_code == 200, imported.get_json()
    flow.ceremony(trustees, "club")
    assert api_post(admin_client, "/api/elections/club/open", {}).status_code == 200
    return admin_client


def test_vote_can_pin_the_base_hash_against_a_server_with_its_own_key_ceremony(
        app: Flask, admin: FlaskClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    """Failed before (fixed in session 18): quorum/cmd_vote.py has no --base-hash pin (only --board-key; spec 10.8 'the
    board key is the only thing it takes on trust'). But the board key is the SERVER's key: a malicious server
    signs whatever it likes with it, so it can present a complete, self-consistent election 'club' (same board
    key, same setup and credential list, a key ceremony run by trustees it controls, an open entry with that
    base hash) and `quorum vote --board-key <the real key>` encrypts the ballot under a public key whose secret
    the server holds: ballot privacy is lost at the POST, before any receipt check (the fork is only provable
    afterwards, and not at all if the server then answers an error and serves the real election on the retry).
    The base hash that trustees and auditors publish (and `quorum verify --base-hash` pins) is the one value the
    voter can check. Fix: add `quorum vote --base-hash HEX` (voting/pins.parse_base_hash_pin) and in
    VoterClient.context refuse, before encrypting, a recomputed base hash that differs (VerificationError naming
    both).

    ATTACKS row 18 (the CLI voter client is the defence against a malicious server) and row 13 (credentials)."""
    import shutil

    from tests.web.conftest import make_config
    from web import create_app

    (tmp_path / "voters.csv").write_text(flow.VOTERS)
    assert main(["credentials", "club", "--voters", str(tmp_path / "voters.csv"), "--out", str(tmp_path / "ca")]) == 0
    public_csv = (tmp_path / "ca" / "public-credentials.csv").read_text()
    secret = (tmp_path / "ca" / "private-credentials.csv").read_text().splitlines()[1].rsplit(",", 1)[1]
    trustees = flow.join(app, flow.create(admin))  # the real election, on the real server
    assert api_post(admin, "/api/elections/club/public-credentials", {"credentials_csv": public_csv}).status_code == 200
    flow.ceremony(trustees, "club")
    assert api_post(admin, "/api/elections/club/open", {}).status_code == 200
    real = {e.type: e for e in reversed(_entries(app))}
    board_key, base = real["setup"].payload["board_key"], real["open"].payload["base_hash"]

    evil_dir = tmp_path / "evil"  # the same operator, holding the same board key, with trustees it runs itself
    (evil_dir / "data").mkdir(parents=True)
    shutil.copy2(tmp_path / "data" / "board.key", evil_dir / "data" / "board.key")
    evil = create_app(make_config(evil_dir))
    try:
        _authority_election(evil, public_csv)
        fake = {e.type: e for e in reversed(Election(evil.extensions["quorum"].board, "club").entries())}
        assert fake["setup"].payload["board_key"] == board_key and fake["open"].payload["base_hash"] != base
        assert fake["setup"].payload["manifest"] == real["setup"].payload["manifest"]
        cred = _credential_file(tmp_path, secret)
        with serve(evil) as url:
            pinned_key_only = _exit_code(["vote", url, "club", "--credential", cred, "--board-key", board_key,
                                          "--choose", "chair=ann", "--choose", "pool=yes", "--no-ledger"])
            assert pinned_key_only == 0  # today's only pin passes: the ballot went out under the server's own key
            capsys.readouterr()
            code = _exit_code(["vote", url, "club", "--credential", cred, "--board-key", board_key, "--base-hash", base,
                               "--choose", "chair=ann", "--choose", "pool=yes", "--no-ledger"])
        err = capsys.readouterr().err
        casts = [e for e in Election(evil.extensions["quorum"].board, "club").entries() if e.type == "cast"]
    finally:
        evil.extensions["quorum"].board.engine.dispose()
    assert code == 1 and "base hash" in err, err
    assert len(casts) == 1, "a second ballot went out although the base hash was pinned"


# === 9. Slow answers, one entry at a time ==========================================================================
def test_a_server_paging_one_entry_at_a_time_cannot_hold_the_client(app: Flask, admin: FlaskClient,  # noqa: F811
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Failed before (fixed in session 18): voting/client.py:_request bounds each request (timeout + 1 s) and _read
    each answer, but _follow makes as many requests as the server wants: it accepts a page of ONE entry (the
    API's page is 1000 entries or 32 MiB) and asks again, so a server answering every `?from=` page with a
    single entry, each just inside the timeout, holds `quorum vote` for (entries after the open) x 60 s: 1000
    ballots on the board is 16 hours, with nothing printed. Fix: an overall deadline for a session's chain walk
    (e.g. a few timeouts plus a per-MiB allowance), or refuse a page shorter than the page size that neither
    reaches `to` nor is empty-terminated (ServerError naming the page size), so that a walk takes about (entries
    / 1000) requests."""
    issued = _open(app, admin)
    with serve(app) as url:
        honest = VoterClient(url)
        ctx = honest.context("club")
        for round_ in range(2):
            for voter in issued:
                honest.cast(ctx, voter["credential"], BOB if round_ else {"chair": ["ann"], "pool": ["yes"]})
        assert len(_entries(app, "cast")) == 10
        real = VoterClient._request
        pages: list[str] = []

        def trickling(self: VoterClient, method: str, path: str, body: Any = None) -> Any:
            answer = real(self, method, path, body)
            if "from=" in path:
                pages.append(path)
                threading.Event().wait(0.6)  # within the 1 s timeout, every time
                return {"entries": answer["entries"][:1]}
            return answer

        monkeypatch.setattr(VoterClient, "_request", trickling)
        outcome: list[Any] = []

        def vote() -> None:
            client = VoterClient(url, timeout=1.0)
            try:
                outcome.append(client.cast(client.context("club"), issued[0]["credential"], BOB))
            except Exception as exc:  # noqa: BLE001 - recorded for the assertion
                outcome.append(exc)

        worker = threading.Thread(target=vote, daemon=True)
        worker.start()
        worker.join(timeout=60)
        assert not worker.is_alive(), f"still walking the board after 60 s ({len(pages)} one-entry pages so far)"
    # counted in pages, not seconds (a loaded machine only makes each page slower): a walk of the whole board one
    # entry at a time is 14 pages; the client gives up after about one timeout's worth of them in each walk
    assert isinstance(outcome[0], ServerError) and "served too slowly" in str(outcome[0]), outcome
    assert len(pages) < 10, pages
