"""Concurrent casting on PostgreSQL: 52 voters in threads and in processes, each cast retried and some
voters re-voting at the same time: nothing lost, nothing stored twice, one valid chain, a valid record."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from nacl.signing import SigningKey

from voting.board import Board
from voting.db import make_engine
from voting.election import Election
from voting.verifier import verify_record
from voting_helpers import CHOICE, OTHER, finish, open_election, retrying

CASTERS = 52


def _cast_all(election: Election, ballots: list[dict[str, Any]]) -> list[tuple[int, str]]:
    receipts = []
    for ballot in ballots:
        first = retrying(lambda: election.cast(ballot))
        retry = retrying(lambda: election.cast(ballot))  # a client retry: same receipt, nothing stored
        assert (retry.seq, retry.tracker, retry.stored) == (first.seq, first.tracker, False)
        receipts.append((first.seq, first.tracker))
    return receipts


def _child(url: str, seed: bytes, election_id: str, ballots: list, queue: Any) -> None:
    election = Election(Board(make_engine(url), SigningKey(seed)), election_id)  # its own connection
    queue.put(_cast_all(election, ballots))
    election.board.engine.dispose()


@pytest.mark.postgres
@pytest.mark.xdist_group("postgres")  # one PostgreSQL load test at a time: max_connections is 100
@pytest.mark.parametrize("use_processes", [False, True], ids=["threads", "processes"])
def test_concurrent_casts_on_postgres(pg_url: str, tmp_path: Path, use_processes: bool) -> None:
    s = open_election(pg_url, "ed25519", voters=CASTERS, trustees=3, quorum=2)
    # each caster votes; every fourth also re-votes right away (its last ballot must count)
    work = [[s.ballot(v, OTHER)] + ([s.ballot(v, CHOICE, revote=1)] if v % 4 == 0 else []) for v in range(CASTERS)]
    seed = bytes(s.key)
    if use_processes:
        ctx = multiprocessing.get_context("fork")
        queue = ctx.Queue()
        procs = [ctx.Process(target=_child, args=(pg_url, seed, s.election.election_id, w, queue)) for w in work]
        for p in procs:
            p.start()
        receipts = [r for _ in procs for r in queue.get(timeout=300)]
        for p in procs:
            p.join(60)
            assert p.exitcode == 0
    else:
        shared = Election(s.board, s.election.election_id)  # threads share one pool of connections
        with ThreadPoolExecutor(CASTERS) as pool:
            receipts = [r for rs in pool.map(lambda w: _cast_all(shared, w), work) for r in rs]
    expected = sum(len(w) for w in work)
    assert len({seq for seq, _ in receipts}) == len({t for _, t in receipts}) == expected
    entries = s.election.entries()
    assert [e.seq for e in entries] == list(range(len(entries)))
    assert sum(e.type == "cast" for e in entries) == expected
    result = finish(s)
    revoters = len(range(0, CASTERS, 4))
    assert result["contests"][0]["counts"] == [revoters, 0, CASTERS - revoters]  # CHOICE: ada; OTHER: grace
    report = verify_record(s.board.export(s.election.election_id, tmp_path / "rec"), workers=2)
    assert report.valid, report.failures
