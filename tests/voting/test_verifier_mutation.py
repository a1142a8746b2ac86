"""Mutation testing of the verifier (ATTACKS.md row 16, stubbed or short-circuited checks).

Each mutant is voting/verifier.py with one failure report deleted (one `...append(Failure(...))` statement
replaced by `pass`), compiled and run on the tampered records of tampering.CASES. A mutant is killed when
some record's list of failures changes; every mutant must be killed, so no check of the verifier can be
deleted without a test noticing.
"""

from __future__ import annotations

import ast
import copy
import sys
import types
from pathlib import Path

import pytest

import voting.verifier as verifier
from tampering import CASES, tampered
from voting_helpers import Scenario, fix_ballots, load, rechain, save, scripted_record

SOURCE = Path(verifier.__file__).read_text(encoding="utf-8")


def _failure_sites() -> list[tuple[int, str]]:
    """(line, check name) of every statement that reports a Failure."""
    sites = []
    for node in ast.walk(ast.parse(SOURCE)):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            for arg in node.value.args:
                if isinstance(arg, ast.Call) and getattr(arg.func, "id", "") == "Failure":
                    sites.append((node.lineno, arg.args[0].value))
    return sorted(sites)


class _Delete(ast.NodeTransformer):
    def __init__(self, line: int) -> None:
        self.line = line

    def visit_Expr(self, node: ast.Expr) -> ast.AST:
        return ast.Pass() if node.lineno == self.line else node


def mutant(line: int, monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """The verifier with the failure report at `line` deleted (registered while the test runs: dataclasses need it)."""
    tree = ast.fix_missing_locations(_Delete(line).visit(ast.parse(SOURCE)))
    module = types.ModuleType(f"voting.verifier_mutant_{line}")
    module.__file__ = verifier.__file__
    monkeypatch.setitem(sys.modules, module.__name__, module)
    exec(compile(tree, verifier.__file__, "exec"), module.__dict__)
    return module


def _failures(module: types.ModuleType, record: Path) -> list[tuple]:
    return [(f.check, f.seq, f.detail) for f in module.verify_record(record, workers=1).failures]


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every tampered record, plus modp records whose ciphertext fails only the batched subgroup test, or fails at parse
    (edwards25519 defers its small-order test to the batch, so no ed25519 record fails there)."""
    base = tmp_path_factory.mktemp("mutation")
    scenario: Scenario = scripted_record(base / "ed25519")
    out = {"valid": scenario.record}
    for name, (_, _, modes, _) in CASES.items():
        for mode in modes:
            out[f"{name}-{mode}"] = tampered(scenario, name, mode, base / f"{name}-{mode}")
    modp = scripted_record(base / "modp", "modp")
    entries = load(modp.record)
    element = copy.deepcopy(entries[modp.seqs["superseded"]])
    element["payload"]["ballot"]["contests"][0]["selections"][0]["alpha"] = modp.ctx.group.to_hex(4)  # a residue of order q*s
    entries[modp.seqs["superseded"]] = element
    fix_ballots(entries, modp.ctx)
    rechain(entries, modp.key)
    out["deferred_non_member-rehash"] = save(entries, modp.board.public_key, base / "deferred")
    entries = load(modp.record)
    element = copy.deepcopy(entries[modp.seqs["superseded"]])
    element["payload"]["ballot"]["contests"][0]["selections"][0]["alpha"] = modp.ctx.group.to_hex(modp.ctx.group.p - 1)  # refused at parse (Jacobi)
    entries[modp.seqs["superseded"]] = element
    fix_ballots(entries, modp.ctx)
    rechain(entries, modp.key)
    out["parse_non_member-rehash"] = save(entries, modp.board.public_key, base / "parse")
    return out


@pytest.fixture(scope="module")
def baseline(records: dict[str, Path]) -> dict[str, list[tuple]]:
    return {name: _failures(verifier, path) for name, path in records.items()}


def test_every_failure_site_is_found() -> None:
    checks = {check for _, check in _failure_sites()}
    assert checks == set(verifier.CHECKS) and len(_failure_sites()) >= 30


@pytest.mark.parametrize("line,check", _failure_sites(), ids=lambda v: str(v))
def test_row16_every_deleted_check_is_noticed(records: dict[str, Path], baseline: dict[str, list[tuple]],
                                             line: int, check: str, monkeypatch: pytest.MonkeyPatch) -> None:
    module = mutant(line, monkeypatch)
    relevant = [name for name, failures in baseline.items() if any(f[0] == check for f in failures)]
    assert relevant, f"no sample record makes {check} fail: the report at line {line} is untested"
    for name in relevant:
        if _failures(module, records[name]) != baseline[name]:
            return
    pytest.fail(f"deleting the {check} report at voting/verifier.py:{line} changes no verdict")
