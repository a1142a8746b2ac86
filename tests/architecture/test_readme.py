"""The README's Python snippets run as printed (a newcomer copies them first)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_python_snippet_of_the_readme_runs() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    assert blocks, "the README shows no Python snippet"
    for code in blocks:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                              cwd=README.parent)
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout.strip(), "a snippet printed nothing"
