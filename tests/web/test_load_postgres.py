"""200 concurrent ballot submissions over HTTP to `quorum serve` on PostgreSQL: every ballot accepted exactly
once, nothing lost or duplicated, and the whole record (chain, signatures, proofs, result) verifies."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.xdist_group("postgres")]  # max_connections is 100

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "web_load.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("quorum_bench_web_load", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_200_concurrent_casters_on_postgresql() -> None:
    psycopg = pytest.importorskip("psycopg")
    web_load = _load()
    try:
        schema = web_load.pg_schema()
        url = schema.__enter__()
    except psycopg.OperationalError as exc:  # pragma: no cover - depends on the machine
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    try:
        outcome = web_load.run("postgres", url, ballots=200, concurrency=200, group="ed25519")
    finally:
        schema.__exit__(None, None, None)
    assert outcome.statuses == {201: 200}
    assert outcome.board_ballots == 200 and outcome.distinct_receipts == 200
    assert outcome.record_valid
