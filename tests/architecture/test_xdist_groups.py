"""The suite's xdist_group marks (one worker for the browser tests, one for PostgreSQL's, whose connection limit
they share) hold only if `--dist loadgroup` works with the pytest and pytest-xdist installed: pytest 9.2 with
pytest-xdist 3.8 silently ran a group's tests on every worker. Checked on a throwaway suite, as `make test` runs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path


def test_loadgroup_keeps_a_group_on_one_worker(tmp_path: Path) -> None:
    (tmp_path / "test_grouped.py").write_text(
        "import pytest\npytestmark = pytest.mark.xdist_group('together')\n"
        "@pytest.mark.parametrize('i', range(8))\ndef test_grouped(i):\n    pass\n")
    (tmp_path / "test_free.py").write_text(
        "import pytest\n@pytest.mark.parametrize('i', range(8))\ndef test_free(i):\n    pass\n")
    run = subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-v", "-p", "no:cacheprovider",
                          str(tmp_path)], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    workers = re.findall(r"^\[(gw\d+)\].*PASSED.*test_grouped", run.stdout, re.M)
    assert len(workers) == 8 and len(set(workers)) == 1, run.stdout[-3000:]
