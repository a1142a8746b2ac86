"""The PSI examples run end to end (small sizes where they take a size)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize(
    "argv",
    [
        ["psi_contact_discovery.py", "--directory", "3000", "--apps", "2"],
        ["psi_ad_attribution.py"],
        ["psi_fraud_matching.py"],
        ["psi_medical_cohort.py"],
    ],
    ids=lambda argv: argv[0],
)
def test_example_runs(argv: list[str]) -> None:
    done = subprocess.run([sys.executable, str(EXAMPLES / argv[0]), *argv[1:]], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
