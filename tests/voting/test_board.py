"""The bulletin board: chaining, signatures, idempotent appends, nothing stored on error, concurrent appends."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from nacl.signing import SigningKey

from threshold.errors import ProtocolError
from voting.db import make_engine
from voting.board import Board, load_signing_key, save_signing_key, signature_valid
from voting.record import GENESIS, entry_hash, read_record
from voting_helpers import retrying


def _assert_chain(board: Board, election_id: str) -> list:
    entries = board.entries(election_id)
    prev = GENESIS
    for i, e in enumerate(entries):
        assert e.seq == i and e.prev == prev
        assert e.hash == entry_hash(e.seq, e.type, e.payload, e.prev)
        assert signature_valid(board.public_key, e.hash, e.sig)
        prev = e.hash
    return entries


def test_append_chains_and_signs(sqlite_url: str, tmp_path: Path) -> None:
    board = Board.open(sqlite_url, SigningKey.generate())
    board.create_election("e")
    with board.locked("e") as lb:
        lb.append("setup", {"name": "x"})
        lb.append("open", {})
    entries = _assert_chain(board, "e")
    assert [e.type for e in entries] == ["setup", "open"]
    record = read_record(board.export("e", tmp_path / "rec.zip"))
    assert record.entries == entries and record.board_public_key == board.public_key


def test_dedup_append_is_idempotent(sqlite_url: str) -> None:
    board = Board.open(sqlite_url, SigningKey.generate())
    board.create_election("e")
    with board.locked("e") as lb:
        first = lb.append("cast", {"b": "1"}, dedup_key="k")
    with board.locked("e") as lb:
        assert lb.find("k") == first
    assert len(board.entries("e")) == 1


def test_error_inside_lock_stores_nothing(sqlite_url: str) -> None:
    board = Board.open(sqlite_url, SigningKey.generate())
    board.create_election("e")
    with pytest.raises(RuntimeError), board.locked("e") as lb:
        lb.append("cast", {"b": "1"})
        raise RuntimeError("rejected after the append")
    assert board.entries("e") == []


def test_error_while_creating_stores_no_election(sqlite_url: str) -> None:
    """What fails inside Board.creating takes the registration with it: the id stays free, no entry is left."""
    board = Board.open(sqlite_url, SigningKey.generate())
    with pytest.raises(RuntimeError), board.creating("e") as lb:
        lb.append("setup", {"name": "x"})
        raise RuntimeError("rejected after the setup entry")
    with pytest.raises(ProtocolError, match="no election"), board.locked("e"):
        pass
    with board.creating("e") as lb:
        lb.append("setup", {"name": "y"})
    assert [e.payload for e in _assert_chain(board, "e")] == [{"name": "y"}]


def test_wrong_key_or_unknown_election_refused(sqlite_url: str) -> None:
    board = Board.open(sqlite_url, SigningKey.generate())
    board.create_election("e")
    with pytest.raises(ProtocolError):
        board.create_election("e")
    other = Board(board.engine, SigningKey.generate())
    with pytest.raises(ProtocolError), other.locked("e"):
        pass
    with pytest.raises(ProtocolError), board.locked("nope"):
        pass


def test_board_key_file_mode_0600(tmp_path: Path) -> None:
    key = SigningKey.generate()
    path = tmp_path / "board.key"
    save_signing_key(key, path)
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert bytes(load_signing_key(path)) == bytes(key)


def _append_many(url: str, seed: bytes, worker: int, count: int) -> None:
    board = Board(make_engine(url), SigningKey(seed))
    def append(key: str, i: int) -> None:
        with board.locked("e") as lb:
            lb.append("cast", {"worker": worker, "i": i}, dedup_key=key)

    for i in range(count):
        key = f"w{worker}-{i}"
        for _ in range(2):  # every append is sent twice: the second must store nothing
            retrying(lambda: append(key, i))
    board.engine.dispose()


def _concurrent(url: str, use_processes: bool) -> None:
    seed = os.urandom(32)
    board = Board.open(url, SigningKey(seed))
    board.create_election("e")
    workers, each = 52, 3
    if use_processes:
        ctx = multiprocessing.get_context("fork")
        procs = [ctx.Process(target=_append_many, args=(url, seed, w, each)) for w in range(workers)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(120)
            assert p.exitcode == 0
    else:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(lambda w: _append_many(url, seed, w, each), range(workers)))
    entries = _assert_chain(board, "e")
    got = sorted((e.payload["worker"], e.payload["i"]) for e in entries)
    assert got == [(w, i) for w in range(workers) for i in range(each)]


@pytest.mark.postgres
@pytest.mark.xdist_group("postgres")  # one PostgreSQL load test at a time: max_connections is 100
@pytest.mark.parametrize("use_processes", [False, True], ids=["threads", "processes"])
def test_postgres_concurrent_appends(pg_url: str, use_processes: bool) -> None:
    """52 writers in threads or processes, each appending with a retry: nothing lost, nothing doubled, one chain."""
    _concurrent(pg_url, use_processes)


def test_sqlite_concurrent_appends(sqlite_url: str) -> None:
    """The same on SQLite (BEGIN IMMEDIATE), with threads."""
    _concurrent(sqlite_url, False)
