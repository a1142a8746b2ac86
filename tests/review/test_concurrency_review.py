"""Concurrency review: shared state that two threads (gunicorn request threads, an auditor's thread pool) or two
processes (two `quorum vote` runs) could use at once. Each test forces the interleaving that broke it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient

from mpc_ml.psi import PsiSumClient, PsiSumServer, decrypt_share, psisum
from mpc_ml.secagg import SecAggClient, SecAggServer, make_params, server as secagg_server, verify
from tests.secagg.rounds import answer_all, through_shares
from sqlalchemy import select

from tests.review.test_client_and_records_review import any_db_app  # noqa: F401  (fixture: SQLite and PostgreSQL)
from tests.voting.conftest import pg_url  # noqa: F401  (fixture)
from tests.web import flow
from tests.web.conftest import ADMIN_PASSWORD, admin, api_post, app, form_post, make_config  # noqa: F401  (fixtures)
from web import auth, ceremony
from threshold.dkg import CeremonyParams, run_ceremony
from threshold.elgamal import PublicKey
from threshold.errors import ProtocolError
from threshold.groups import get_group
from web.app import create_app
from web.models import Admin
from voting import verifier
from voting.client import VoterClient

RECORDS = Path(__file__).resolve().parents[1] / "vectors" / "records"


def test_two_verifications_at_once_each_check_their_own_record(monkeypatch: pytest.MonkeyPatch) -> None:
    """verify_raw keeps the record being checked in module globals (for its forked workers): a second verification
    started while the first was checking its chunks replaced them, so the first checked the second's record and
    called a tampered record valid. Verifications in one process now run one at a time."""
    run_chunks = verifier._run_chunks
    second_in, first_done = threading.Event(), threading.Event()
    reports: dict[str, Any] = {}

    def interleaved(chunks: list[tuple[int, int]], workers: int, progress: bool) -> list:
        if threading.current_thread() is threading.main_thread():
            other.start()
            second_in.wait(timeout=2.0)  # without serialization the second has replaced the globals by now
        else:
            second_in.set()
            first_done.wait()
        return run_chunks(chunks, workers, progress)

    other = threading.Thread(target=lambda: reports.update(valid=verifier.verify_record(RECORDS / "valid-ed25519", 1)))
    monkeypatch.setattr(verifier, "_run_chunks", interleaved)
    try:
        tampered = verifier.verify_record(RECORDS / "invalid-ballot_bad_signature", workers=1)
    finally:
        first_done.set()
        other.join()
    assert {f.check for f in tampered.failures} == {"ballot_signatures"}
    assert reports["valid"].valid, reports["valid"].failures


def test_two_voter_clients_writing_one_ledger_keep_both_counters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two `quorum vote` runs share the default ledger: each read it, added its counter and wrote it back, so the one
    that wrote last erased the other's counter (and with it the refusal of a stale re-vote counter). The
    read-modify-write now holds an exclusive lock on the ledger's lock file."""
    ledger = tmp_path / "votes.json"
    ctx: Any = SimpleNamespace(base_hash=bytes(32))
    first, second = VoterClient("http://127.0.0.1:9", ledger=ledger), VoterClient("http://127.0.0.1:9", ledger=ledger)
    read = VoterClient._ledger
    other = threading.Thread(target=lambda: second._remember(ctx, "b" * 64, 2))

    def interleaved(self: VoterClient) -> dict[str, int]:
        data = read(self)
        if self is first and other.ident is None:
            other.start()
            other.join(timeout=2.0)  # without the lock the second run writes its ledger here
        return data

    monkeypatch.setattr(VoterClient, "_ledger", interleaved)
    try:
        first._remember(ctx, "a" * 64, 1)
    finally:
        other.join()
    key = "00" * 32 + ":"
    assert json.loads(ledger.read_text(encoding="utf-8")) == {key + "a" * 64: 1, key + "b" * 64: 2}


def test_a_reveal_checked_while_the_reveals_close_is_refused_after_the_openings(
        app: Flask, admin: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    """A trustee's reveal was checked against the transcript loaded when it arrived and stored whatever happened
    meanwhile: if the administrator closed the reveals and the others opened that trustee's shares during its check,
    the reveal landed after the openings, and every later adjudication failed ('opened its shares from dealer 2,
    which is not being reconstructed'): the ceremony could never finish. Messages are now stored under the
    election's board lock, only if their round is still the current one: the late reveal is refused."""
    trustees = flow.join(app, flow.create(admin, "late"))
    run = flow.through_complaints(trustees, "late")
    flow.reveal(trustees, run, withhold=(2,))
    check = ceremony._check
    answers: list[int] = []

    def close_and_open() -> None:
        answers.append(api_post(admin, f"{run.url}/close-reveals", {}).status_code)
        if answers[0] == 200:
            flow.open_shares(trustees, run, [2])

    others = threading.Thread(target=close_and_open)

    def interleaved(transcript: ceremony.Transcript, round_name: str, index: int, body: Any) -> Any:
        checked = check(transcript, round_name, index, body)
        if others.ident is None:
            others.start()
            others.join()  # the reveals close and the openings are stored while this reveal is checked
        return checked

    monkeypatch.setattr(ceremony, "_check", interleaved)
    late = api_post(trustees[2], f"{run.url}/reveal", run.parties[2].reveal(run.confirmations).to_json(run.group))
    others.join()
    state = trustees[1].get(run.url)
    assert (late.status_code, answers, state.get_json().get("round", state.get_json())) == (409, [200], "sign")
    flow.sign(trustees, run)
    assert trustees[1].get(run.url).get_json()["round"] == "done"


@pytest.fixture
def pg_app(pg_url: str, tmp_path: Path) -> Iterator[Flask]:  # noqa: F811
    """The app with one admin, 'alice', on PostgreSQL (a fresh schema; skipped if the server is not reachable)."""
    application = create_app(make_config(tmp_path, db=pg_url))
    with application.extensions["quorum"].session() as db:
        auth.create_admin(db, "alice", "correct horse battery staple")
    yield application
    application.extensions["quorum"].board.engine.dispose()


def _guess(app: Flask, password: str) -> int:
    """One sign-in attempt as alice from a new browser; its status."""
    return form_post(app.test_client(), "/admin/login", {"username": "alice", "password": password}).status_code


@pytest.mark.postgres
def test_guesses_sent_at_once_get_no_more_tries_than_the_limit(pg_app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """authenticate counted the recent failures, checked the password (argon2id, slow), then recorded a failure: on
    PostgreSQL guesses sent at once all passed the count before any was recorded, so an attacker got as many tries
    per window as it could send at once. Each attempt is now recorded before it is counted and checked."""
    limit = pg_app.extensions["quorum"].config.login_max_failures
    hasher, checked, others = auth.HASHER, [], []

    class Interleaving:
        """The hasher, but the first check waits for `limit` more guesses sent meanwhile."""

        def __getattr__(self, name: str) -> Any:
            return getattr(hasher, name)

        def verify(self, stored: str, password: str) -> bool:
            checked.append(password)
            if len(checked) == 1:
                meanwhile = threading.Thread(target=lambda: others.extend(_guess(pg_app, f"guess {i}") for i in range(limit)))
                meanwhile.start()
                meanwhile.join()
            return hasher.verify(stored, password)

    monkeypatch.setattr(auth, "HASHER", Interleaving())
    first = _guess(pg_app, "first guess")
    assert (len(checked), first, others) == (limit, 422, [422] * (limit - 1) + [429])


def test_one_sum_per_request_when_a_trustee_answers_two_requests_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """decrypt_share looked the request up in the trustee's ledger, decrypted, then added it: a server sending two
    records of one signed request at once got both decrypted (then over overlapping subsets, whose difference is one
    client's value; the matched items are now fixed by the record's proof, and a trustee still decrypts one sum per
    request). The request is now entered in the ledger, under a lock, before the decryption."""
    group = get_group("ed25519")
    _, keys = run_ceremony(CeremonyParams(group, 3, 2, b"tests/review/test_concurrency_review"))
    public_key = PublicKey(group, keys[0].public_key)
    server, client = PsiSumServer(["alice", "bob", "carol"]), PsiSumClient({"alice": 11, "bob": 20, "carol": 40}, public_key, 100)
    record = server.total(client.reply(server.hello()).to_bytes(group), public_key)
    pair, others = [record, record], []
    ledger: set[bytes] = set()
    decrypt = psisum.partial_decrypt

    def second_request() -> None:
        try:
            others.append(decrypt_share(pair[1], keys[0], {client.verify_key}, ledger, min_count=0,
                                        server_keys={server.server_key}))
        except ProtocolError as exc:
            others.append(exc)

    meanwhile = threading.Thread(target=second_request)

    def interleaved(*args: Any) -> Any:
        if meanwhile.ident is None:
            meanwhile.start()
            meanwhile.join()  # the second request is answered while the first is decrypted
        return decrypt(*args)

    monkeypatch.setattr(psisum, "partial_decrypt", interleaved)
    decrypt_share(pair[0], keys[0], {client.verify_key}, ledger, min_count=0, server_keys={server.server_key})
    assert [type(x) for x in others] == [ProtocolError] and "already decrypted" in str(others[0])


def test_a_masked_input_checked_while_the_round_closes_is_counted_or_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """SecAggServer checked a message against the round open when it arrived and stored it whatever happened
    meanwhile: a masked input still being checked when the server app closed the round (another thread) was stored
    after the unmask request that left it out, so the sum and the transcript were wrong (`verify` refused it). Each
    message and each round's end now runs under the server's lock."""
    params = make_params(5, 4, threshold=3)
    server = SecAggServer(params)
    clients = {u: SecAggClient(u, params.to_bytes()) for u in range(1, 6)}
    _, routed = through_shares(server, clients)
    inputs = {u: np.full(4, u / 10) for u in clients}
    for u in (1, 3, 4, 5):
        server.receive(clients[u].masked_input(inputs[u], routed[u], server.quantizer))
    late, request = clients[2].masked_input(inputs[2], routed[2], server.quantizer), []
    closing = threading.Thread(target=lambda: request.append(server.masked_round_done()))
    parse = secagg_server.Masked.from_bytes

    def interleaved(*args: Any) -> Any:
        if closing.ident is None:
            closing.start()
            closing.join(timeout=2.0)  # without the lock the round closes here
        return parse(*args)

    monkeypatch.setattr(secagg_server.Masked, "from_bytes", interleaved)
    try:
        server.receive(late)
    finally:
        closing.join()
    answer_all(server, clients, request[0])
    result = server.finish()
    assert result.survivors == [1, 2, 3, 4, 5]
    assert np.allclose(result.total, sum(inputs.values()), atol=result.error_bound)
    assert np.allclose(verify(result.transcript).total, result.total)


def test_a_sign_in_checked_while_the_password_changes_opens_no_session(
        any_db_app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    """authenticate checked the password, then the session was recorded in a later transaction: a sign-in with the
    old (perhaps leaked) password whose check overlapped a password change got a session that the change's end of
    the admin's other sessions had missed. The session is now recorded in the transaction that locks the admin's
    row and finds there the hash just checked; a reset ends the sessions after it has changed the hash."""
    hasher, changed = auth.HASHER, []

    def change() -> None:
        with any_db_app.extensions["quorum"].session() as db:
            auth.set_password(db, db.scalars(select(Admin).where(Admin.username == "alice")).one(), "a brand new passphrase")
        changed.append(True)

    class Interleaving:
        """The hasher, but the password changes right after the first check."""

        def __getattr__(self, name: str) -> Any:
            return getattr(hasher, name)

        def verify(self, stored: str, password: str) -> bool:
            ok = hasher.verify(stored, password)
            if not changed:
                meanwhile = threading.Thread(target=change)
                meanwhile.start()
                meanwhile.join()
            return ok

    monkeypatch.setattr(auth, "HASHER", Interleaving())
    thief = any_db_app.test_client()
    signed = form_post(thief, "/admin/login", {"username": "alice", "password": ADMIN_PASSWORD}).status_code
    assert (changed, signed, thief.get("/admin/audit").status_code) == ([True], 422, 302)


@pytest.mark.postgres
def test_a_reset_while_a_sign_in_is_recorded_ends_that_session(pg_app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """create_admin (`quorum serve --create-admin NAME` resets a password) ended the admin's sessions, then changed the hash: a
    sign-in being recorded at that moment held the admin's row, so the reset's end of the sessions ran before the
    new session was committed, and it survived the reset. The hash now changes first (its row lock waits for the
    sign-in), and the sessions end after."""
    sign_in, reset = auth.sign_in, threading.Thread(target=lambda: _reset(pg_app))

    def interleaved(db: Any, admin: Admin) -> None:
        sign_in(db, admin)
        if reset.ident is None:
            reset.start()
            reset.join(timeout=2.0)  # the reset waits for the admin's row, locked until this sign-in commits

    monkeypatch.setattr(auth, "sign_in", interleaved)
    thief = pg_app.test_client()
    try:
        signed = form_post(thief, "/admin/login", {"username": "alice", "password": "correct horse battery staple"})
    finally:
        reset.join()
    assert (signed.status_code, thief.get("/admin/audit").status_code) == (302, 302)


def _reset(app: Flask) -> None:
    """Give alice a one-time password, as an operator resetting her account does."""
    with app.extensions["quorum"].session() as db:
        auth.create_admin(db, "alice")
