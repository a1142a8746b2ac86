"""benchmarks/recount.py --no-write on tiny records: the trustee recount's benchmark still runs and prints its row
(BENCHMARKS.md is not touched). On records this small its differences are noise, even negative: only the shape is
checked."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
@pytest.mark.timeout(300)
def test_recount_bench_runs_on_tiny_records() -> None:
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "recount.py"), "--voters", "2", "--runs", "1",
                           "--groups", "ed25519", "--no-write"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert re.search(r"^\| ed25519 \| 2, 4 \| .* ms \| .* ms \| .* \|$", proc.stdout, re.M), proc.stdout
