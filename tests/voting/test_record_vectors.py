"""The shipped sample records (tests/vectors/records/index.json): `quorum verify` gives each its exit code
and exactly its failing checks; malformed ones name their line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from quorum.cli import main

RECORDS = Path(__file__).resolve().parents[1] / "vectors" / "records"
INDEX = json.loads((RECORDS / "index.json").read_text(encoding="utf-8"))


def test_every_fault_kind_is_shipped() -> None:
    from tampering import CASES

    assert {f"invalid-{name}" for name in CASES} <= set(INDEX)
    assert {"valid-ed25519", "valid-modp.zip", "malformed-truncated", "malformed-garbled"} <= set(INDEX)


@pytest.mark.parametrize("name", sorted(INDEX))
def test_sample_record(name: str, capsys: pytest.CaptureFixture) -> None:
    expected = INDEX[name]
    code = main(["verify", str(RECORDS / name), "--json", "--quiet", "--workers", "1"])
    assert code == expected["expect_exit"]
    out, err = capsys.readouterr()
    if code == 2:
        assert f"line {expected['line']}" in err
        return
    report = json.loads(out)
    assert sorted(c["name"] for c in report["checks"] if not c["ok"]) == expected["failing_checks"]
