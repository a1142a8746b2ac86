"""Concurrency review: shared state that two threads (gunicorn request threads, an auditor's thread pool) or two
processes (two `quorum vote` runs) could use at once. Each test forces the interleaving that broke it."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.web import flow
from tests.web.conftest import admin, api_post, app  # noqa: F401  (fixtures)
from web import ceremony
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
    late = api_post(trustees[2], f"{run.url}/reveal", run.parties[2].reveal(run.qualification()).to_json(run.group))
    others.join()
    state = trustees[1].get(run.url)
    assert (late.status_code, answers, state.get_json().get("round", state.get_json())) == (409, [200], "sign")
    flow.sign(trustees, run)
    assert trustees[1].get(run.url).get_json()["round"] == "done"
