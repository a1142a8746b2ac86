"""SQLAlchemy 2 models of the bulletin board and the engine factory (SQLite by default, PostgreSQL by URL)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import (
    BigInteger,
    Engine,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

DEFAULT_URL = "sqlite:///data/quorum.db"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class Base(DeclarativeBase):
    """Declarative base of the board tables."""


class Election(Base):
    """One election's board: its signing key, chain head and lifecycle phase (the per-election lock row)."""

    __tablename__ = "board_elections"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    board_public_key: Mapped[str] = mapped_column(String(64))
    head_seq: Mapped[int] = mapped_column(BigInteger, default=-1)
    head_hash: Mapped[str] = mapped_column(String(64))
    phase: Mapped[str] = mapped_column(String(32), default="new")
    last_tracker: Mapped[str] = mapped_column(String(64))


class Entry(Base):
    """One board entry exactly as exported in board.jsonl (payload kept as canonical JSON text)."""

    __tablename__ = "board_entries"
    __table_args__ = (
        UniqueConstraint("election_id", "seq", name="uq_board_entries_seq"),
        UniqueConstraint("election_id", "dedup_key", name="uq_board_entries_dedup"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    election_id: Mapped[str] = mapped_column(ForeignKey("board_elections.id"), index=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    type: Mapped[str] = mapped_column(String(32))
    payload: Mapped[str] = mapped_column(Text)
    prev: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    sig: Mapped[str] = mapped_column(String(128))
    dedup_key: Mapped[str | None] = mapped_column(String(64), nullable=True)


class Ballot(Base):
    """Index of the ballots on the board: replay, re-vote, spoiled-ballot and tracker uniqueness checks."""

    __tablename__ = "board_ballots"
    __table_args__ = (
        UniqueConstraint("election_id", "ballot_hash", name="uq_board_ballots_hash"),
        UniqueConstraint("election_id", "tracker", name="uq_board_ballots_tracker"),
        Index("ix_board_ballots_credential", "election_id", "credential"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    election_id: Mapped[str] = mapped_column(ForeignKey("board_elections.id"))
    ballot_hash: Mapped[str] = mapped_column(String(64))
    credential: Mapped[str] = mapped_column(String(64))
    tracker: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))


class Ciphertext(Base):
    """Digest of every ciphertext published on the board: a ciphertext is never accepted twice."""

    __tablename__ = "board_ciphertexts"
    __table_args__ = (UniqueConstraint("election_id", "digest", name="uq_board_ciphertexts_digest"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    election_id: Mapped[str] = mapped_column(ForeignKey("board_elections.id"))
    digest: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(BigInteger)


READ_ONLY = "quorum_read_only"


def read_only(engine: Engine) -> Engine:
    """The same engine (same pool) for sessions that only read: on SQLite they BEGIN DEFERRED instead of taking
    the write lock, so readers never wait for an append (nor appends for readers). Never write through it."""
    return engine.execution_options(**{READ_ONLY: True})


def make_engine(url: str = DEFAULT_URL) -> Engine:
    """An engine whose transactions serialize writers: BEGIN IMMEDIATE on SQLite, plain on PostgreSQL.

    A file-backed SQLite database runs in WAL mode with synchronous=FULL: readers run beside the one writer, and
    a committed entry (a voter's receipt) survives a power loss, not just a crash of the process."""
    if url.startswith("sqlite"):
        database = url.split("///", 1)[1] if "///" in url else ""
        file_backed = bool(database) and not database.startswith(":memory:") and "mode=memory" not in database
        if file_backed:
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _no_implicit_transactions(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            dbapi_connection.isolation_level = None
            if file_backed:
                dbapi_connection.execute("PRAGMA journal_mode=WAL").fetchall()
                dbapi_connection.execute("PRAGMA synchronous=FULL")

        @event.listens_for(engine, "begin")
        def _begin_immediate(connection) -> None:  # type: ignore[no-untyped-def]
            reading = connection.get_execution_options().get(READ_ONLY, False)
            connection.exec_driver_sql("BEGIN DEFERRED" if reading else "BEGIN IMMEDIATE")

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, pool_timeout=120)


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision (idempotent)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
