"""Session 17 adversarial review of `quorum verify RECORD` as a hostile record author attacks it (zip members, line
encodings, JSON edge cases, wrong types) and as an auditor reads it (--json schema on every exit code, --workers 1
and 2 giving one verdict). Complements test_verifier_hostile_review.py and test_client_and_records_review.py."""

from __future__ import annotations

import bz2
import copy
import json
import os
import stat
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest
from nacl.signing import SigningKey

from quorum.cli import main
from threshold.encoding import canonical_json
from voting.record import GENESIS, entry_hash

ROOT = Path(__file__).resolve().parents[2]


# --- fixtures and helpers ---------------------------------------------------------------------------------------
class Demo:
    """A `quorum demo` record (ed25519, 3 voters) with the board key that signed it."""

    def __init__(self, record: Path, key: SigningKey) -> None:
        self.record, self.key = record, key
        self.pub = bytes(key.verify_key).hex()
        self.jsonl = (record / "board.jsonl").read_bytes()
        self.pub_file = (record / "board.pub").read_bytes()

    def entries(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.jsonl.decode().splitlines()]

    def signed(self, entries: list[dict[str, Any]]) -> bytes:
        """board.jsonl of `entries`, re-hashed and re-signed by the board (a hostile board can always do this)."""
        prev = GENESIS
        for e in entries:
            e["prev"] = prev
            e["hash"] = entry_hash(e["seq"], e["type"], e["payload"], prev)
            e["sig"] = self.key.sign(bytes.fromhex(e["hash"])).signature.hex()
            prev = e["hash"]
        return b"".join(canonical_json(e) + b"\n" for e in entries)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    base = tmp_path_factory.mktemp("s17demo")
    code = main(["demo", "--out", str(base / "rec"), "--voters", "3", "--trustees", "3", "--quorum", "2",
                 "--absent", "1", "--group", "ed25519", "--board-key", str(base / "board.key")])
    assert code == 0
    return Demo(base / "rec", SigningKey(bytes.fromhex((base / "board.key").read_text().strip())))


def _record(path: Path, jsonl: bytes, pub: bytes) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "board.jsonl").write_bytes(jsonl)
    (path / "board.pub").write_bytes(pub)
    return path


def _verify(record: Path, workers: int, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
    code = main(["verify", str(record), "--quiet", "--workers", str(workers), *extra])
    out = capsys.readouterr()
    return code, out.out, out.err


def _raw_zip(members: list[tuple[str, int, bytes, int, int]], flags: int = 0, external: dict[str, int] | None = None) -> bytes:
    """A zip whose headers state exactly what is given: (name, method, stored bytes, crc, uncompressed size)."""
    out, central = b"", b""
    for name, method, data, crc, size in members:
        n = name.encode("utf-8", "surrogateescape")
        attr = (external or {}).get(name, 0)
        out_at = len(out)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, flags, method, 0, 0x21, crc, len(data), size, len(n), 0) + n + data
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 0x0314, 20, flags, method, 0, 0x21, crc, len(data), size,
                               len(n), 0, 0, 0, 0, attr, out_at) + n
    return out + central + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central), len(out), 0)


def _deflated(data: bytes) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def _member(name: str, data: bytes, attr: int = 0) -> tuple[tuple[str, int, bytes, int, int], dict[str, int]]:
    return (name, 8, _deflated(data), zlib.crc32(data), len(data)), ({name: attr} if attr else {})


def _zip_of(path: Path, files: list[tuple[str, bytes, int]], flags: int = 0) -> Path:
    members, external = [], {}
    for name, data, attr in files:
        m, e = _member(name, data, attr)
        members.append(m)
        external.update(e)
    path.write_bytes(_raw_zip(members, flags, external))
    return path


def _deflate_bomb(mebibytes: int) -> bytes:
    """A raw deflate stream of `mebibytes` MiB of zeros, about 1 KB per MiB (one full-flushed block repeated)."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = c.compress(b"\0" * (1 << 20)) + c.flush(zlib.Z_FULL_FLUSH)
    return block * mebibytes + c.flush()


def _bzip2_bomb(blocks: int) -> bytes:
    """A bzip2 stream of `blocks` copies of one block of 4.5 MB of zeros (its bits repeated, the stream CRC
    combined): a few bytes per block, so a 4 KB member expands to gigabytes."""
    one = bz2.compress(b"\0" * 4_500_000, 9)
    bits = "".join(f"{b:08b}" for b in one)
    eos = f"{0x177245385090:048b}"
    block = bits[32:bits.rindex(eos)]
    assert block.startswith(f"{0x314159265359:048b}")
    crc, combined = int(block[48:80], 2), 0
    for _ in range(blocks):
        combined = (((combined << 1) | (combined >> 31)) & 0xFFFFFFFF) ^ crc
    body = bits[:32] + block * blocks + eos + f"{combined:032b}"
    body += "0" * (-len(body) % 8)
    return int(body, 2).to_bytes(len(body) // 8, "big")


def _verify_in_child(record: Path, limit: int = 1 << 30, timeout: float = 60) -> tuple[int | None, str]:
    """`quorum verify --json --workers 1` in a child with `limit` bytes of address space (killed after `timeout` s:
    a guard against a hang, not a timing check)."""
    script = (
        "import resource, sys\n"
        f"resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))\n"
        "from quorum.cli import main\n"
        "sys.exit(main(['verify', sys.argv[1], '--quiet', '--workers', '1', '--json']))\n"
    )
    process = subprocess.Popen([sys.executable, "-c", script, str(record)], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = process.communicate(timeout=timeout)
        return process.returncode, out
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
        out, _ = process.communicate()
        return None, out


# --- 1. zip bombs that the stated-size and ratio checks do not see --------------------------------------------------
def test_a_bzip2_board_jsonl_bomb_is_refused_in_bounded_memory(demo: Demo, tmp_path: Path) -> None:
    """Failed before (fixed in session 17): a 4 KB zip whose board.jsonl is bzip2 (method 12; LZMA takes the
    same path) expands to gigabytes in one call: zipfile decompresses bzip2/lzma chunks without max_length, so
    the ratio check on the stated sizes (voting/record.py:_read_zip) does not bound memory; under 1 GiB quorum
    verify dies with a MemoryError traceback and exit 1 (without a limit it allocates ~4.5 GB). Fix: in
    _read_zip accept only ZIP_STORED/ZIP_DEFLATED (write_record only writes deflate), or decompress with
    bz2/lzma decompressors and max_length; also catch MemoryError as RecordFormatError"""
    stream = _bzip2_bomb(1000)
    assert len(stream) < 64 << 10
    bomb = tmp_path / "bz.zip"  # states 1 MiB uncompressed: passes the size and ratio checks
    bomb.write_bytes(_raw_zip([("board.jsonl", zipfile.ZIP_BZIP2, stream, 0, 1 << 20),
                               ("board.pub", 0, demo.pub_file, zlib.crc32(demo.pub_file), len(demo.pub_file))]))
    code, out = _verify_in_child(bomb)
    assert code == 2 and "malformed record" in out and "Traceback" not in out, (code, out[-600:])


def test_a_deflate_board_pub_bomb_is_refused_in_bounded_memory(demo: Demo, tmp_path: Path) -> None:
    """Failed before (fixed in session 17): board.pub has a size cap (64 KiB stated) but no compression-ratio
    check, and voting/record.py:_read_zip reads it with archive.read(), which inflates up to 2 GiB per call
    before cutting at the stated size: a 2 MB zip makes quorum verify allocate ~2.1 GB (measured), or die with a
    MemoryError traceback and exit 1 under a 1 GiB limit. Fix: apply the ratio check to board.pub too and read
    it with archive.open(info).read(limit + 1) (bounded inflation), catching MemoryError"""
    stream = _deflate_bomb(2048)
    jsonl = _member("board.jsonl", demo.jsonl)[0]
    bomb = tmp_path / "pub.zip"
    bomb.write_bytes(_raw_zip([jsonl, ("board.pub", 8, stream, zlib.crc32(demo.pub_file), len(demo.pub_file))]))
    assert bomb.stat().st_size < 3 << 20
    code, out = _verify_in_child(bomb)
    assert code == 2 and "malformed record" in out and "Traceback" not in out, (code, out[-600:])


def test_a_record_of_empty_lines_is_refused_in_bounded_memory(tmp_path: Path) -> None:
    """Failed before (fixed in session 17): voting/record.py:line_bounds builds a Python list of (start, end)
    tuples for every line before the first line is parsed: about 140 bytes of memory per line, so 8 MB of
    newlines needs over 1 GB (a 20 MB one took 2.9 GB and 18 s, measured) just to report 'line 1: not valid
    JSON'; under a 768 MiB limit quorum verify dies with a MemoryError traceback, exit 1. Fix: refuse a line too
    short to be an entry (a canonical entry has over 250 bytes of hash, prev and sig) while scanning, or find
    bounds lazily per chunk / store them in array('q')"""
    record = _record(tmp_path / "r", b"\n" * (8 << 20), b"ab" * 32 + b"\n")
    code, out = _verify_in_child(record, limit=768 << 20)
    assert code == 2 and "board.jsonl line 1" in out and "Traceback" not in out, (code, out[-600:])


# --- 2. one verdict whatever --workers ---------------------------------------------------------------------------
def _deep_cast_record(path: Path, depth: int) -> Path:
    """Two lines: a cast entry whose ballot is `depth` nested lists, then a close entry (hashes and signatures stale:
    the record is invalid either way; the question is exit 1 or 2)."""
    lines = []
    for seq, kind, payload in ((0, "cast", '{"ballot":' + "[" * depth + "]" * depth + "}"), (1, "close", '{"timestamp":"t"}')):
        lines.append(f'{{"hash":"{"1" * 64}","payload":{payload},"prev":"{GENESIS}","seq":{seq},"sig":"{"2" * 128}",'
                     f'"type":"{kind}"}}\n')
    return _record(path, "".join(lines).encode(), b"ab" * 32 + b"\n")


def test_deep_nesting_gets_one_verdict_whatever_the_worker_count(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Failed before (fixed in session 17): the exit code depends on --workers: a ballot payload nested some
    ~10 levels below the interpreter's recursion limit is a report (exit 1) with --workers 1 but 'not valid JSON
    (maximum recursion depth exceeded)' (exit 2) with --workers 2, because voting/record.py:parse_entry_line
    bounds nesting only by RecursionError, whose depth depends on the caller's stack (forked pool workers
    inherit the parent's stack plus the pool's frames); non-ballot lines likewise get different exit-2 messages.
    Fix: check nesting depth on the raw line in parse_entry_line against a fixed limit (e.g. a bracket-depth
    scan outside strings, one message) before json.loads"""
    def first_malformed(workers: int) -> int:
        lo, hi = 200, 1200  # lo gives a report (exit 1), hi is malformed (exit 2) for any worker count
        while hi - lo > 1:
            mid = (lo + hi) // 2
            code, _, _ = _verify(_deep_cast_record(tmp_path / f"d{workers}-{mid}", mid), workers, capsys)
            assert code in (1, 2)
            lo, hi = (lo, mid) if code == 2 else (mid, hi)
        return hi

    one, two = first_malformed(1), first_malformed(2)
    at = min(one, two)
    record = _deep_cast_record(tmp_path / "at", at)
    verdicts = {w: _verify(record, w, capsys)[:1] for w in (1, 2)}
    assert one == two and verdicts[1] == verdicts[2], (one, two, verdicts)


def _check_same_across_workers(record: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
    one = _verify(record, 1, capsys, *extra)
    two = _verify(record, 2, capsys, *extra)
    assert one == two, (one, two)
    assert "Traceback" not in one[2]
    return one


# --- 3. --json on exit 2 ----------------------------------------------------------------------------------------
def _json_matches_contract(text: str) -> bool:
    try:
        report = json.loads(text)
    except ValueError:
        return False
    return (isinstance(report, dict) and set(report) >= {"valid", "checks", "result"} and report["valid"] is False
            and isinstance(report["checks"], list) and report["checks"]
            and all(isinstance(c, dict) and set(c) == {"name", "ok", "detail"} for c in report["checks"])
            and isinstance(report["result"], dict))


def test_json_output_on_exit_2_matches_the_contract(demo: Demo, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Failed before (fixed in session 17): with --json, exit 2 prints {"valid": false, "error": ...} (no
    "checks", no "result"), and a bad --workers or pin prints no JSON at all, while Contracts: CLI fixes --json
    to {"valid", "checks": [{name, ok, detail}], "result"}: a script reading report["checks"] crashes on exactly
    the records it must reject. quorum/cmd_verify.py:run. Fix: on exit 2 print {"valid": false, "checks":
    [{"name": "record", "ok": false, "detail": <error>}], "result": {}} (keeping "error" as an extra key if
    wanted), for every exit-2 path"""
    bad = {
        "truncated": _record(tmp_path / "t", demo.jsonl[:-1], demo.pub_file),
        "empty": _record(tmp_path / "e", b"", demo.pub_file),
        "not_a_zip": tmp_path / "x.zip",
    }
    bad["not_a_zip"].write_bytes(b"PK\x03\x04 nothing")
    outputs = {}
    for name, record in bad.items():
        code, out, _ = _verify(record, 1, capsys, "--json")
        assert code == 2
        outputs[name] = out
    code, out, _ = _verify(demo.record, 1, capsys, "--json", "--base-hash", "not-hex")
    assert code == 2
    outputs["bad_pin"] = out
    code, out, _ = _verify(demo.record, 0, capsys, "--json")
    assert code == 2
    outputs["workers_0"] = out
    assert all(_json_matches_contract(out) for out in outputs.values()), outputs


# --- 4. timestamps that are no strings ----------------------------------------------------------------------------
@pytest.mark.parametrize("kind,value", [("open", {"covert": [1, 2, 3]}), ("close", 1700000000), ("close", None)],
                         ids=["open-object", "close-int", "close-null"])
def test_a_timestamp_that_is_no_string_is_a_failure(demo: Demo, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    kind: str, value: Any) -> None:
    """Failed before (fixed in session 17): docs/spec.md §10.1 says timestamp and cast_at 'must be JSON
    strings', but only cast_at is checked: an open or close entry whose timestamp is an object, list, number or
    null verifies VALID (exit 0), so the only unbound fields can carry arbitrary structured data.
    voting/verifier.py:_lifecycle (close) and _base_hash (open). Fix: fail lifecycle / base_hash when
    payload['timestamp'] is not a str"""
    entries = demo.entries()
    next(e for e in entries if e["type"] == kind)["payload"]["timestamp"] = value
    record = _record(tmp_path / "r", demo.signed(entries), demo.pub_file)
    code, out, _ = _verify(record, 1, capsys)
    assert code == 1, out


# --- what held --------------------------------------------------------------------------------------------------
def test_the_demo_record_verifies_and_its_reports_agree(demo: Demo, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _check_same_across_workers(demo.record, capsys, "--json")
    assert code == 0 and json.loads(out)["valid"] is True


def test_hostile_zip_layouts(demo: Demo, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Nothing is extracted, so traversal names are harmless; a second board.jsonl by the same name, a directory
    entry or a backslash path is refused; a symlink member is read as its (non-hex) text; extra members are ignored;
    a name flagged UTF-8 that is not is a readable-zip error. Every outcome is the same with 1 and 2 workers."""
    J, P = demo.jsonl, demo.pub_file
    link, folder = stat.S_IFLNK | 0o777, stat.S_IFDIR | 0o755
    cases: dict[str, tuple[list[tuple[str, bytes, int]], int, int, str]] = {
        "traversal": ([("../../board.jsonl", J, 0), ("/abs/board.pub", P, 0)], 0, 0, ""),
        "extra_members": ([("board.jsonl", J, 0), ("board.pub", P, 0), ("../../etc/cron.d/x", b"* * * * * root id", 0),
                           ("notes/", b"", folder)], 0, 0, ""),
        "same_name_twice": ([("board.jsonl", J, 0), ("board.jsonl", J, 0), ("board.pub", P, 0)], 0, 2, "exactly one board.jsonl, found 2"),
        "directory_member": ([("board.jsonl/", b"", folder), ("r/board.jsonl", J, 0), ("board.pub", P, 0)], 0, 2, "found 2"),
        "directory_only": ([("board.jsonl/", b"", folder), ("board.pub", P, 0)], 0, 2, "empty record"),
        "symlink_pub": ([("board.jsonl", J, 0), ("board.pub", b"/etc/hostname", link)], 0, 2, "board.pub"),
        "backslash": ([("rec\\board.jsonl", J, 0), ("board.pub", P, 0)], 0, 2, "found 0"),
        "bad_utf8_name": ([("board.jsonl", J, 0), ("board.pub", P, 0), ("x\udcff", b"", 0)], 0x800, 2, "not a readable zip"),
    }
    for name, (files, flags, want, message) in cases.items():
        record = _zip_of(tmp_path / f"{name}.zip", files, flags)
        code, _, err = _check_same_across_workers(record, capsys)
        assert code == want and message in err, (name, code, err)


@pytest.mark.parametrize("group", ["zip", "dir"])
def test_malformed_lines_exit_2_naming_the_line_with_either_worker_count(demo: Demo, tmp_path: Path, group: str,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """CRLF, a BOM, no final newline, a blank last line, bytes that are not UTF-8, a NUL, a lone surrogate, an
    integer beyond Python's 4300 digits, floats, NaN/Infinity, a duplicate key deep in a payload: exit 2, the line
    named, no traceback, the same message from 1 and 2 workers, in a folder and in a zip."""
    lines = demo.jsonl.splitlines(keepends=True)
    tally = next(i for i, line in enumerate(lines) if b'"type":"tally"' in line)
    t = lines[tally]

    def at_tally(new: bytes) -> bytes:
        return b"".join(lines[:tally]) + new + b"".join(lines[tally + 1:])

    counted = t[t.index(b'"counted":'):].split(b",", 1)[0]
    cases = {
        "crlf": (demo.jsonl.replace(b"\n", b"\r\n"), 1),
        "bom": (b"\xef\xbb\xbf" + demo.jsonl, 1),
        "no_final_newline": (demo.jsonl[:-1], len(lines)),
        "blank_last_line": (demo.jsonl + b"\n", len(lines) + 1),
        "latin1": (at_tally(t.replace(b'"tally"', b'"t\xe4lly"')), tally + 1),
        "nul": (at_tally(t.replace(b'"type":"tally"', b'"type":"tally\x00"')), tally + 1),
        "lone_surrogate": (at_tally(t.replace(counted, b'"counted":"\\ud800"')), tally + 1),
        "int_4301_digits": (at_tally(t.replace(counted, b'"counted":' + b"9" * 4301)), tally + 1),
        "float": (at_tally(t.replace(counted, b'"counted":3.0')), tally + 1),
        "exponent": (at_tally(t.replace(counted, b'"counted":3e0')), tally + 1),
        "nan": (at_tally(t.replace(counted, b'"counted":NaN')), tally + 1),
        "infinity": (at_tally(t.replace(counted, b'"counted":-Infinity')), tally + 1),
        "duplicate_deep_key": (at_tally(t.replace(b'"contests":[{', b'"contests":[{"id":"x",', 1)), tally + 1),
    }
    for name, (jsonl, lineno) in cases.items():
        if group == "zip":
            record = _zip_of(tmp_path / f"{name}.zip", [("board.jsonl", jsonl, 0), ("board.pub", demo.pub_file, 0)])
        else:
            record = _record(tmp_path / name, jsonl, demo.pub_file)
        code, _, err = _check_same_across_workers(record, capsys)
        assert code == 2 and f"board.jsonl line {lineno}" in err, (name, code, err)


def test_huge_integers_where_integers_are_expected_are_reported(demo: Demo, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """A 4300-digit integer (the most Python parses) as the tally's count, a trustee index, a re-vote counter, the
    quorum and the voter count, re-signed by the board: each is a named failure (exit 1), no traceback, and the
    report is the same with 1 and 2 workers."""
    huge = 10 ** 4299
    places = [("tally", ("counted",)), ("decryption", ("index",)), ("cast", ("ballot", "revote")),
              ("setup", ("quorum",)), ("credentials", ("voter_count",)), ("result", ("trustees", 0))]
    for kind, path in places:
        entries = demo.entries()
        node = next(e for e in entries if e["type"] == kind)["payload"]
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = huge
        record = _record(tmp_path / kind, demo.signed(entries), demo.pub_file)
        code, out, _ = _check_same_across_workers(record, capsys, "--json")
        report = json.loads(out)
        assert code == 1 and report["valid"] is False and _json_shape_ok(report), (kind, out[:500])


def _json_shape_ok(report: dict[str, Any]) -> bool:
    return (set(report) == {"valid", "checks", "result"} and isinstance(report["result"], dict)
            and all(set(c) == {"name", "ok", "detail"} for c in report["checks"]))


WRONG = [None, [], {"x": [1]}, "zz"]


def _fields(entries: list[dict[str, Any]]) -> list[tuple[int, tuple]]:
    """Every top-level payload key of every entry, and every key of the first cast and spoil ballots."""
    out = []
    for i, e in enumerate(entries):
        out += [(i, (k,)) for k in e["payload"] if k not in ("timestamp", "cast_at")]
        if e["type"] in ("cast", "spoil") and not any(entries[j]["type"] == e["type"] for j in range(i)):
            out += [(i, ("ballot", k)) for k in e["payload"]["ballot"]]
            out += [(i, ("ballot", "contests", 0, k)) for k in e["payload"]["ballot"]["contests"][0]]
    return out


def test_a_wrong_type_in_any_field_is_a_named_failure(demo: Demo) -> None:
    """Every field replaced by null, a list, an object and a non-hex string (re-signed by the board): exit 1
    (the in-process verifier returns a report, never raises), and 1 and 2 workers give the same failures (checked
    on one value per field, to keep the test short)."""
    from voting.verifier import verify_raw

    base = demo.entries()
    fields = _fields(base)
    assert len(fields) > 40
    for n, (i, path) in enumerate(fields):
        for k, value in enumerate(WRONG):
            entries = copy.deepcopy(base)
            node = entries[i]["payload"]
            for key in path[:-1]:
                node = node[key]
            if node[path[-1]] == value:
                continue
            node[path[-1]] = value
            data = demo.signed(entries)
            one = verify_raw(data, demo.pub, workers=1)
            assert not one.valid, (entries[i]["type"], path, value)
            if k == n % len(WRONG):
                two = verify_raw(data, demo.pub, workers=2)
                assert two.failures == one.failures, (entries[i]["type"], path, value)


def test_extra_files_and_a_line_of_megabytes(demo: Demo, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Unknown files, folders and symlinks beside board.jsonl and board.pub are ignored (the verdict is that of the
    two files); a 3 MB string where the tally's count belongs is one named failure (exit 1), the same from 1 and
    2 workers, with the detail quoting it on one line; an empty board.jsonl is exit 2."""
    record = _record(tmp_path / "extra", demo.jsonl, demo.pub_file)
    (record / "README").write_text("hi")
    (record / "sub").mkdir()
    (record / "board.jsonl.bak").symlink_to("/dev/zero")
    (record / "link").symlink_to(record)
    assert _check_same_across_workers(record, capsys)[0] == 0
    entries = demo.entries()
    next(e for e in entries if e["type"] == "tally")["payload"]["counted"] = "7" * (3 << 20)
    big = _record(tmp_path / "big", demo.signed(entries), demo.pub_file)
    code, out, _ = _check_same_across_workers(big, capsys)
    assert code == 1 and "FAIL counted_ballots: seq" in out and out.rstrip().endswith("INVALID (1 failures)"), out[-300:]
    code, _, err = _check_same_across_workers(_record(tmp_path / "empty", b"", demo.pub_file), capsys)
    assert code == 2 and "board.jsonl: empty record" in err
