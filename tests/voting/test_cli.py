"""`quorum demo` and `quorum verify` as in Contracts: CLI."""

from __future__ import annotations

import json
import os
import unicodedata
from pathlib import Path

import pytest

from quorum.cli import main
from voting.board import load_signing_key


def test_demo_then_verify(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out, key = tmp_path / "rec", tmp_path / "board.key"
    assert main(["demo", "--out", str(out), "--voters", "6", "--trustees", "3", "--quorum", "2", "--absent", "1",
                 "--group", "ed25519", "--board-key", str(key)]) == 0
    printed = capsys.readouterr().out
    assert "Mayor" in printed and "decrypted by trustees" in printed
    assert os.stat(key).st_mode & 0o777 == 0o600
    assert bytes(load_signing_key(key).verify_key).hex() == (out / "board.pub").read_text().strip()
    assert main(["verify", str(out), "--json", "--workers", "2", "--quiet"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["valid"] is True and all(c["ok"] for c in report["checks"])
    assert set(report["checks"][0]) == {"name", "ok", "detail"}
    assert len(report["result"]["trustees"]) == 2
    assert main(["verify", str(out), "--quiet"]) == 0  # for people: the result by contest title and option label
    text = capsys.readouterr().out
    mayor = text[text.index("result:\n  Mayor:\n"):]
    counts = report["result"]["contests"][0]["counts"]
    assert mayor.splitlines()[2:5] == [f"    {label:<20} {n}" for label, n in zip(("Ada", "Alan", "Grace"), counts)]
    assert text.rstrip().endswith("VALID")
    lines = (out / "board.jsonl").read_text().splitlines()
    entry = json.loads(lines[-1])
    entry["payload"]["contests"][0]["counts"][0] += 1
    lines[-1] = json.dumps(entry, sort_keys=True, separators=(",", ":"))
    (out / "board.jsonl").write_text("\n".join(lines) + "\n")
    assert main(["verify", str(out), "--quiet"]) == 1
    text = capsys.readouterr().out
    assert "FAIL chain" in text and "FAIL result" in text and "INVALID" in text
    assert "\nresult:" not in text and "NOT a verified result" in text  # an invalid record's tally is no result


def test_demo_rejects_impossible_quorum(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["demo", "--out", str(tmp_path / "r"), "--trustees", "3", "--quorum", "2", "--absent", "2"]) == 2
    assert "absent" in capsys.readouterr().err


# bidi override and isolate, C1 CSI and NEL, zero-width space, DEL, a tag character, private use, line and paragraph
# separators; then a letter
HOSTILE = "x\u202eevil\u2066\x9b31m\x85\u200b\x7f\U000e0041\ue000\u2028\u2029 é"


def test_verify_json_escapes_what_a_terminal_would_act_on(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "rec"
    assert main(["demo", "--out", str(out), "--voters", "3", "--trustees", "3", "--quorum", "2", "--group", "ed25519"]) == 0
    capsys.readouterr()
    lines = (out / "board.jsonl").read_text().splitlines()
    for i, line in enumerate(lines):  # a record whose tally states its count as hostile text: quoted in a failure
        entry = json.loads(line)
        if entry["type"] == "tally":
            entry["payload"]["counted"] = HOSTILE
            lines[i] = json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    (out / "board.jsonl").write_text("\n".join(lines) + "\n")
    assert main(["verify", str(out), "--json", "--workers", "1", "--quiet"]) == 1
    printed = capsys.readouterr().out
    raw = {c for c in printed if c != "\n" and (unicodedata.category(c)[0] == "C" or c in "\u2028\u2029")}
    assert not raw, sorted(map(hex, map(ord, raw)))
    report = json.loads(printed)  # still JSON, same structure, and the detail quotes the record exactly
    assert set(report) == {"valid", "checks", "result"} and report["valid"] is False
    assert all(set(check) == {"name", "ok", "detail"} for check in report["checks"])
    counted = next(c for c in report["checks"] if c["name"] == "counted_ballots")
    assert not counted["ok"] and HOSTILE in counted["detail"]
    assert "é" in printed  # printable letters stay as they are
