"""Concurrency review: shared state that two threads (gunicorn request threads, an auditor's thread pool) or two
processes (two `quorum vote` runs) could use at once. Each test forces the interleaving that broke it."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from voting import verifier

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
