"""SQLAlchemy 2 models of the bulletin board and the engine factory (SQLite by default, PostgreSQL by URL)."""

from __future__ import annotations

import os
import re
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
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from threshold.errors import QuorumError

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


class DatabaseConfigError(QuorumError, ValueError):
    """A database URL that cannot be used: malformed, an unknown database type, a missing driver, a folder that
    cannot be made, or no server answering. `url` is the URL without its password; `reason` says what is wrong."""

    def __init__(self, url: str, reason: str) -> None:
        reason = _scrub(reason, url)  # a driver's message may repeat a host that holds part of the password
        super().__init__(f"database {redact_url(url)}: {reason}")
        self.url = redact_url(url)
        self.reason = reason


# Database types people write for the ones SQLAlchemy knows.
_DIALECT_HINTS = {"postgres": "postgresql", "pg": "postgresql", "psql": "postgresql", "pgsql": "postgresql",
                  "sqlite3": "sqlite"}
_EXAMPLES = "e.g. sqlite:///PATH or postgresql://USER@HOST/DATABASE"


# The user-information part of a URL up to its last "@" before the query (a password may hold a raw "@").
_USERINFO = re.compile(r"^([^:/?#]+://[^:/@?#]*:)([^?#]*)@")


def _secrets(url: str) -> list[str]:
    """The password of `url` as written (up to the last "@"), its "@"-separated pieces of 4 characters or more
    (a driver may show one as part of a host name), and any password= query value."""
    found = []
    match = _USERINFO.match(url)
    if match and match.group(2):
        found += [match.group(2)] + [piece for piece in match.group(2).split("@") if len(piece) >= 4]
    found += [v for v in re.findall(r"(?i)password=([^&;#]*)", url) if v]
    return sorted(set(found), key=len, reverse=True)


def _scrub(text: str, url: str) -> str:
    for secret in _secrets(url):
        text = text.replace(secret, "***")
    return text


def redact_url(url: str) -> str:
    """The URL as it may be shown: its password (in the authority, up to the last "@", or a password= parameter)
    replaced by ***."""
    raw = _USERINFO.sub(r"\1***@", url)
    try:
        shown = make_url(raw).render_as_string(hide_password=True)
    except (ArgumentError, ValueError, TypeError):
        shown = raw
    return _scrub(re.sub(r"(?i)(password=)[^&;#]*", r"\1***", shown), url)


def _driver_url(url: str) -> str:
    """PostgreSQL URLs go through psycopg 3 (installed with the web extras)."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def check_url(url: str) -> None:
    """Refuse a URL that could never work (malformed, unknown database type, driver not installed) without any I/O."""
    try:
        parsed = make_url(_driver_url(url))
    except (ArgumentError, ValueError, TypeError):
        raise DatabaseConfigError(url, f"not a database URL ({_EXAMPLES})") from None
    backend = parsed.get_backend_name()
    try:
        dialect = parsed.get_dialect()
    except NoSuchModuleError:
        hint = _DIALECT_HINTS.get(backend.lower())
        advice = f"did you mean {hint}://?" if hint else _EXAMPLES
        raise DatabaseConfigError(url, f"unknown database type {backend!r} ({advice})") from None
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        raise DatabaseConfigError(url, f"the driver for {parsed.drivername!r} is not installed ({exc})") from None


def make_engine(url: str = DEFAULT_URL) -> Engine:
    """An engine whose transactions serialize writers: BEGIN IMMEDIATE on SQLite, plain on PostgreSQL.

    A file-backed SQLite database runs in WAL mode with synchronous=FULL: readers run beside the one writer, and
    a committed entry (a voter's receipt) survives a power loss, not just a crash of the process.
    An unusable URL raises DatabaseConfigError (check_url); nothing connects yet."""
    check_url(url)
    if url.startswith("sqlite"):
        database = url.split("///", 1)[1] if "///" in url else ""
        file_backed = bool(database) and not database.startswith(":memory:") and "mode=memory" not in database
        if file_backed:
            folder = Path(database).parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DatabaseConfigError(url, f"cannot create the folder {folder} ({exc.strerror or exc})") from None
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
    try:
        return create_engine(_driver_url(url), pool_pre_ping=True, pool_size=10, max_overflow=20, pool_timeout=120)
    except (ArgumentError, ValueError, TypeError) as exc:  # e.g. ?port=abc: the driver's options are read here
        raise DatabaseConfigError(url, f"unusable connection options ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None


def _first_line(exc: DBAPIError) -> str:
    """The driver's own message, first line only (psycopg adds hints on further lines; no URL, no password)."""
    text = str(exc.orig if exc.orig is not None else exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _check_sqlite_folder(url: str) -> None:
    """The SQLite file's folder exists or could be made: its nearest existing ancestor is a writable folder
    (checked without creating anything)."""
    database = url.split("///", 1)[1] if "///" in url else ""
    if not database or database.startswith(":memory:") or "mode=memory" in database:
        return
    folder = Path(database.split("?", 1)[0]).parent
    ancestor = folder
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise DatabaseConfigError(url, f"cannot create the folder {folder} ({ancestor} is not a folder)")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise DatabaseConfigError(url, f"cannot create the folder {folder} ({ancestor} is not writable)")


def probe(url: str) -> None:
    """Check a URL before anything is written: check_url, then, for a database server, one connection.
    SQLite is only checked (connecting would create the file). Raises DatabaseConfigError."""
    check_url(url)
    if url.startswith("sqlite"):
        _check_sqlite_folder(url)
        return
    engine = make_engine(url)
    try:
        with engine.connect():
            pass
    except DBAPIError as exc:
        raise DatabaseConfigError(url, f"cannot connect: {_first_line(exc)}") from None
    finally:
        engine.dispose()


def open_engine(url: str) -> Engine:
    """make_engine, then upgrade the schema; a database that cannot be reached or opened raises DatabaseConfigError."""
    engine = make_engine(url)
    try:
        upgrade(engine)
    except OperationalError as exc:  # refused, unknown host, bad login, unreadable file; not a bug of ours
        engine.dispose()
        raise DatabaseConfigError(url, f"cannot open: {_first_line(exc)}") from None
    return engine


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision (idempotent)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
