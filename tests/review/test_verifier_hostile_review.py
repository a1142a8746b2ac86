"""Adversarial review of `quorum verify` on hostile records and arguments: record text reaching the terminal, a
board.pub that is no regular file, and a --workers far beyond the machine."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from quorum.cli import main
from tests.voting.voting_helpers import Scenario, load, rechain, save, scripted_record
from voting import verifier as verifier_mod
from voting.record import RecordFormatError, read_raw
from voting.verifier import verify_record

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    return scripted_record(tmp_path_factory.mktemp("hostile"))


def test_record_text_cannot_forge_the_verify_output(scenario: Scenario, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """The tally's `counted` is quoted in the counted_ballots failure: a board signing a string there with a
    newline and escape sequences could print a fake verdict line and hide the real one on the auditor's terminal."""
    entries = load(scenario.record)
    tally = next(e for e in entries if e["type"] == "tally")
    tally["payload"]["counted"] = "4\n17 entries: VALID\x1b[8m\x1b[2K\u202e\x9b"
    rechain(entries, scenario.key)
    record = save(entries, scenario.board.public_key, tmp_path / "forged")
    assert main(["verify", str(record), "--quiet", "--workers", "1"]) == 1
    out = capsys.readouterr().out
    assert not any(c in out for c in "\x1b\u202e\x9b"), out
    lines = out.splitlines()
    assert not any(line.endswith("entries: VALID") for line in lines) and lines[-1].endswith("INVALID (1 failures)"), out
    assert "counted_ballots: seq" in out and "\\n17 entries: VALID\\x1b[8m" in out


def _read_in_child(record: Path) -> tuple[int | None, str]:
    """read_raw in a child with 1 GiB of address space, killed after 60 s (a guard against a hang, not a timing
    check): the output says whether the record was refused."""
    script = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n"
        "from voting.record import RecordFormatError, read_raw\n"
        "try:\n"
        "    read_raw(sys.argv[1])\n"
        "    print('read')\n"
        "except RecordFormatError as exc:\n"
        "    print('refused', exc)\n"
    )
    process = subprocess.Popen([sys.executable, "-c", script, str(record)], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = process.communicate(timeout=60)
        return process.returncode, out
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
        out, _ = process.communicate()
        return None, out


@pytest.mark.parametrize("kind", ["fifo", "dev_zero"])
def test_a_board_pub_that_is_no_regular_file_is_refused(kind: str, scenario: Scenario, tmp_path: Path) -> None:
    """A FIFO blocked the read forever; a symlink to /dev/zero read until memory ran out (MemoryError: a crash)."""
    record = tmp_path / "record"
    record.mkdir()
    (record / "board.jsonl").write_bytes((scenario.record / "board.jsonl").read_bytes())
    if kind == "fifo":
        os.mkfifo(record / "board.pub")
    else:
        (record / "board.pub").symlink_to("/dev/zero")
    code, out = _read_in_child(record)
    assert code == 0 and out.startswith("refused") and "board.pub: not a regular file" in out, (code, out)


def test_an_oversized_board_pub_is_refused(scenario: Scenario, tmp_path: Path) -> None:
    record = tmp_path / "record"
    record.mkdir()
    (record / "board.jsonl").write_bytes((scenario.record / "board.jsonl").read_bytes())
    (record / "board.pub").write_bytes(b"0" * (1 << 17))
    with pytest.raises(RecordFormatError, match="board.pub: larger than"):
        read_raw(record)


def test_a_huge_worker_count_starts_no_more_processes_than_chunks(scenario: Scenario,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """`--workers 1000000` asked the pool for a million forked processes for a 20-entry record."""
    asked: list[int] = []
    real = multiprocessing.get_context("fork")

    class Context:
        def Pool(self, processes: int, **kwargs: Any) -> Any:  # noqa: N802 (the multiprocessing name)
            asked.append(processes)
            if processes > 64:
                raise AssertionError(f"a pool of {processes} processes")
            return real.Pool(processes, **kwargs)

    monkeypatch.setattr(verifier_mod.multiprocessing, "get_context", lambda method: Context())
    entries = len(load(scenario.record))
    assert verify_record(scenario.record, workers=10 ** 6).valid
    assert asked and 1 < asked[0] <= entries


def _nested_line(line: bytes, field: str, depth: int) -> bytes:
    """The entry line with payload[field] replaced by `depth` nested lists (hash and signature left stale)."""
    entry = json.loads(line)
    entry["payload"][field] = "@@"
    payload = json.dumps(entry["payload"], sort_keys=True, separators=(",", ":")).replace('"@@"', "[" * depth + "]" * depth)
    head = {k: entry[k] for k in ("hash", "prev", "seq", "sig", "type")}
    return (f'{{"hash":"{head["hash"]}","payload":{payload},"prev":"{head["prev"]}","seq":{head["seq"]},'
            f'"sig":"{head["sig"]}","type":"{head["type"]}"}}').encode()


def _nested_outcome(lines: list[bytes], index: int, field: str, depth: int, pub: Any, workers: int) -> str:
    """'report' (an invalid record) or 'malformed' (naming the damaged line) for the record with that line nested."""
    damaged = list(lines)
    damaged[index] = _nested_line(lines[index], field, depth)
    try:
        report = verifier_mod.verify_raw(b"".join(line + b"\n" for line in damaged), pub, workers=workers)
    except RecordFormatError as exc:
        assert exc.where == f"board.jsonl line {index + 1}", exc
        return "malformed"
    assert not report.valid
    return "report"


def test_deeply_nested_payloads_never_crash_the_verifier(scenario: Scenario) -> None:
    """Lists nested a few hundred deep in a close payload or a ballot's stated ballot_hash: forked workers could not
    pickle them back (MaybeEncodingError: a traceback, exit 1); nested just below the parser's recursion limit,
    encoding the parsed line again raised RecursionError. Every depth is now a report or a malformed record: every
    depth up to the record parser's nesting limit and near the recursion limit in one process, and in two forked
    workers the same verdict at a depth every 60, every 10 near the recursion limit and at the depths around each
    change of verdict (each run with workers forks a pool: all of them would take a minute)."""
    lines = (scenario.record / "board.jsonl").read_bytes().splitlines()
    kinds = [json.loads(line)["type"] for line in lines]
    close, cast = kinds.index("close"), kinds.index("cast")
    pub = scenario.board.public_key
    for index, field in ((close, "timestamp"), (cast, "ballot_hash")):
        depths = sorted({*range(40, 101), *range(40, 800, 60), *range(800, 1000)})  # the parser's nesting limit is below 100
        alone = {d: _nested_outcome(lines, index, field, d, pub, 1) for d in depths}
        assert set(alone.values()) == {"report", "malformed"}, (field, alone)
        changes = [d for a, d in zip(depths, depths[1:]) if alone[a] != alone[d]]
        near = {d for c in changes for d in range(c - 2, c + 2) if d in alone}
        for depth in sorted({*range(40, 1000, 60), *range(800, 1000, 10), *near} & set(alone)):
            assert _nested_outcome(lines, index, field, depth, pub, 2) == alone[depth], (field, depth)
