"""SQLite boards: WAL with synchronous=FULL for database files, and read-only sessions that never take the
write lock (appends stay serialized by BEGIN IMMEDIATE: test_concurrent_casts)."""

from __future__ import annotations

import threading
from pathlib import Path

from nacl.signing import SigningKey
from sqlalchemy import text

from voting.board import Board
from voting.db import make_engine, read_only


def _pragmas(url: str) -> tuple[str, int]:
    with make_engine(url).connect() as conn:
        return conn.exec_driver_sql("PRAGMA journal_mode").scalar(), conn.exec_driver_sql("PRAGMA synchronous").scalar()


def test_file_database_uses_wal_full(tmp_path: Path) -> None:
    """A receipt given to a voter is on disk: synchronous=FULL (2), not NORMAL (1)."""
    assert _pragmas(f"sqlite:///{tmp_path / 'sub' / 'board.db'}") == ("wal", 2)


def test_memory_database_is_left_alone() -> None:
    mode, _ = _pragmas("sqlite:///:memory:")
    assert mode == "memory"


def test_reads_do_not_wait_for_an_append(tmp_path: Path) -> None:
    board = Board.open(f"sqlite:///{tmp_path / 'board.db'}", SigningKey.generate())
    board.create_election("e")
    seen: list[int] = []
    with board.locked("e") as lb:  # a writer holds the lock, its append not yet committed
        lb.append("setup", {"n": 1})
        reader = threading.Thread(target=lambda: seen.append(len(board.entries("e"))))
        reader.start()
        reader.join(timeout=10)
        assert not reader.is_alive(), "a read waited for the writer's lock"
    assert seen == [0] and len(board.entries("e")) == 1


def test_read_only_engine_begins_deferred(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'board.db'}")
    with engine.connect() as writer:
        writer.execute(text("CREATE TABLE t (x INTEGER)"))
        writer.commit()
        writer.execute(text("INSERT INTO t VALUES (1)"))  # holds the write lock (BEGIN IMMEDIATE)
        with read_only(engine).connect() as reader:  # BEGIN DEFERRED: reads the last committed state at once
            assert reader.execute(text("SELECT count(*) FROM t")).scalar() == 0
        writer.commit()
