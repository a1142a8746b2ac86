"""The federated-averaging example runs end to end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_federated_averaging_example_runs() -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "secagg_federated_averaging.py"), "--rounds", "2"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert "transcript verified" in done.stdout
