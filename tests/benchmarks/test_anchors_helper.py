"""benchmarks/anchors.py: write_section keeps every other section of BENCHMARKS.md intact.

No anchor is run here: the anchor venvs are not needed for the tests.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

HELPER = Path(__file__).resolve().parents[2] / "benchmarks" / "anchors.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("quorum_bench_anchors", HELPER)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses need the module registered
    spec.loader.exec_module(module)
    return module


anchors = _load()
write_section = anchors.write_section

DOC = """# Benchmarks

Intro text.

## Core

core v1
### detail
more core

## Elections

elections v1

## PSI

psi v1
"""


@pytest.fixture()
def md(tmp_path: Path) -> Path:
    path = tmp_path / "BENCHMARKS.md"
    path.write_text(DOC, encoding="utf-8")
    return path


def test_replaces_a_middle_section_only(md: Path) -> None:
    write_section(md, "Elections", "elections v2\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    assert md.read_text() == DOC.replace(
        "elections v1\n", "elections v2\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
    )


def test_replaces_first_section_with_its_subheadings(md: Path) -> None:
    write_section(md, "Core", "core v2")
    assert md.read_text() == DOC.replace("core v1\n### detail\nmore core\n", "core v2\n")


def test_replaces_last_section(md: Path) -> None:
    write_section(md, "PSI", "psi v2\n\n\n")
    assert md.read_text() == DOC.replace("psi v1\n", "psi v2\n")


def test_appends_a_new_section(md: Path) -> None:
    write_section(md, "Secure aggregation", "secagg v1")
    assert md.read_text() == DOC + "\n## Secure aggregation\n\nsecagg v1\n"


def test_append_after_trailing_blank_lines_and_missing_newline(tmp_path: Path) -> None:
    path = tmp_path / "B.md"
    path.write_text("# T\n\n## A\n\na\n\n\n", encoding="utf-8")
    write_section(path, "B", "b")
    assert path.read_text() == "# T\n\n## A\n\na\n\n## B\n\nb\n"
    path.write_text("# T\n\n## A\n\na", encoding="utf-8")
    write_section(path, "B", "b")
    assert path.read_text() == "# T\n\n## A\n\na\n\n## B\n\nb\n"


def test_idempotent(md: Path) -> None:
    write_section(md, "Elections", "elections v2")
    once = md.read_text()
    write_section(md, "Elections", "elections v2")
    assert md.read_text() == once


def test_creates_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "BENCHMARKS.md"
    write_section(path, "Core", "core v1")
    text = path.read_text()
    assert text.startswith("# Benchmarks\n")
    assert text.endswith("\n## Core\n\ncore v1\n")
    write_section(path, "PSI", "psi v1")
    write_section(path, "Core", "core v2")
    assert path.read_text() == text.replace("core v1", "core v2") + "\n## PSI\n\npsi v1\n"


def test_title_must_match_exactly(md: Path) -> None:
    write_section(md, "Elect", "x")
    assert "elections v1" in md.read_text()
    assert md.read_text().endswith("\n## Elect\n\nx\n")


def test_headings_inside_code_fences_are_not_sections(tmp_path: Path) -> None:
    path = tmp_path / "B.md"
    original = "# T\n\n## A\n\n```sh\n## PSI\nmake bench\n```\n\n## B\n\nb\n"
    path.write_text(original, encoding="utf-8")
    write_section(path, "A", "a2")
    assert path.read_text() == "# T\n\n## A\n\na2\n\n## B\n\nb\n"
    write_section(path, "PSI", "psi")
    assert path.read_text().endswith("## B\n\nb\n\n## PSI\n\npsi\n")


def test_body_with_fenced_heading_is_replaced_whole(tmp_path: Path) -> None:
    path = tmp_path / "B.md"
    write_section(path, "A", "```\n## not a heading\n```")
    write_section(path, "B", "b")
    write_section(path, "A", "a2")
    assert path.read_text().endswith("## A\n\na2\n\n## B\n\nb\n")
    assert "not a heading" not in path.read_text()


def test_duplicate_sections_collapse_to_one(tmp_path: Path) -> None:
    path = tmp_path / "B.md"
    path.write_text("## A\n\na1\n\n## B\n\nb\n\n## A\n\na-dup\n\n## C\n\nc\n", encoding="utf-8")
    write_section(path, "A", "a2")
    assert path.read_text() == "## A\n\na2\n\n## B\n\nb\n\n## C\n\nc\n"


@pytest.mark.parametrize("title", ["", "  ", "two\nlines"])
def test_rejects_bad_titles(md: Path, title: str) -> None:
    with pytest.raises(ValueError):
        write_section(md, title, "x")
    assert md.read_text() == DOC


def test_no_temp_files_left(md: Path) -> None:
    write_section(md, "Core", "core v2")
    assert [p.name for p in md.parent.iterdir()] == ["BENCHMARKS.md"]
