"""Concurrency review: shared state that two threads (gunicorn request threads, an auditor's thread pool) or two
processes (two `quorum vote` runs) could use at once. Each test forces the interleaving that broke it."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

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
