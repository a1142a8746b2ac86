"""benchmarks/core.py --quick --no-anchor: Quorum's half of the core benchmark still runs.

The ElectionGuard anchor is not needed (its venv may be missing); BENCHMARKS.md is not
touched: the section goes to a temporary file.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "core.py"


@pytest.mark.timeout(300)
def test_core_bench_quick_without_anchor(tmp_path: Path) -> None:
    md, out = tmp_path / "BENCH.md", tmp_path / "core.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--no-anchor", "--md", str(md), "--json", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]

    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["eg"] is None
    sizes = data["info"]["batch_sizes"]
    for group in ("modp", "ed25519"):
        figures = data["quorum"][group]
        for key in ("exp", "exp_g", "pk_exp", "encrypt", "prove01", "verify01", "verify01_from_json",
                    *(f"batch{n}_{kind}" for n in sizes for kind in ("from_json", "objects"))):
            assert figures[key]["median_s"] > 0, (group, key)
        stages = figures[f"batch{sizes[-1]}_from_json"]["stages_median_s"]
        assert set(stages) == {"parse", "membership", "equations", "multi_exp"}
    assert data["quorum"]["modp"]["powmod_raw"]["median_s"] > 0
    assert data["quorum"]["modp"]["table_build"]["median_s"] > 0
    assert data["targets"]["batch"]["pass"] is None  # needs the anchor
    assert isinstance(data["targets"]["fixed_base"]["pass"], bool)

    text = md.read_text(encoding="utf-8")
    assert "## Core (threshold/)" in text
    assert "--quick --no-anchor" in text
    assert "| operation |" in text and "### Targets (from the issue)" in text
