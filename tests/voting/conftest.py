"""Fixtures of the voting tests: board databases on SQLite and on PostgreSQL (one schema per test, dropped after)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_BASE = "postgresql+psycopg://127.0.0.1:5432/test"


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite board database file."""
    return f"sqlite:///{tmp_path / 'board.db'}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL schema in database `test`, reached through search_path; dropped afterwards."""
    psycopg = pytest.importorskip("psycopg")
    schema = "qt_" + secrets.token_hex(6)
    try:
        conn = psycopg.connect("host=127.0.0.1 port=5432 dbname=test", autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:  # pragma: no cover - depends on the machine
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    with conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{PG_BASE}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect("host=127.0.0.1 port=5432 dbname=test", autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
