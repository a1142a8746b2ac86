"""The layers of DESIGN.md import only downward."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# package -> packages it may import from (besides itself)
ALLOWED = {
    "threshold": set(),
    "voting": {"threshold"},
    "mpc_ml": {"threshold", "voting"},
    "web": {"threshold", "voting"},
    "quorum": {"threshold", "voting", "mpc_ml", "web"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "import_module":
            if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                found.add(node.args[0].value.split(".")[0])
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_no_upward_imports(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"package {package} has no modules"
    bad = []
    for path in files:
        for imported in _imports(path) & set(ALLOWED):
            if imported != package and imported not in ALLOWED[package]:
                bad.append(f"{path.relative_to(ROOT)} imports {imported}")
    assert not bad, "upward imports across layers:\n" + "\n".join(bad)


def test_checker_sees_a_violation(tmp_path: Path) -> None:
    """The checker itself is not blind: an upward import is found."""
    sample = tmp_path / "mod.py"
    sample.write_text("from web.app import create_app\nimport importlib\nimportlib.import_module('voting.x')\n")
    assert _imports(sample) >= {"web", "voting"}
