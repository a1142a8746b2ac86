"""Session 18 conformance review of the public Contracts (../shared/DESIGN.md, "Contracts": Install and run, CLI,
Record) as an outside auditor's scripts read them.

Passing tests add what the suite lacked: an independent mini-verifier (plain hashlib, json and PyNaCl, nothing from
this project) that re-checks the Record rules (exact keys, canonical lines, seq, prev, hash, board signature,
board.pub = setup.board_key, fixed-length lowercase hex, timestamps only in cast_at/timestamp) on the records the
demo writes and on every sample record of tests/vectors/records/, and the README / .ci/run clause.

Each strict xfail is a deviation from a Contract clause: it fails today and passes once the code is fixed; the reason
names the clause and what the code does instead.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import pathlib
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any, Iterator

import pytest
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

import voting.demo
from quorum.cli import main

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "tests" / "vectors" / "records"
QUORUM = str(Path(sys.executable).with_name("quorum"))
SMALL = ["--voters", "2", "--trustees", "2", "--quorum", "1", "--group", "ed25519"]
ZEROS = "0" * 64
ENTRY_KEYS = {"seq", "type", "payload", "prev", "hash", "sig"}


# --- the independent mini-verifier -------------------------------------------------------------------------------
def canon(obj: Any) -> bytes:
    """Contracts: Record, canonical JSON, spelled out here (not imported from the project)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class Malformed(Exception):
    """The record is not even parseable as a Record (the contract's exit 2)."""


def read_record(path: Path) -> tuple[bytes, bytes]:
    """board.jsonl and board.pub of a record directory or zip, by plain file and zipfile reads."""
    if path.is_dir():
        return (path / "board.jsonl").read_bytes(), (path / "board.pub").read_bytes()
    with zipfile.ZipFile(path) as archive:
        names = {Path(n).name: n for n in archive.namelist()}
        return archive.read(names["board.jsonl"]), archive.read(names["board.pub"])


def parse(jsonl: bytes, pub: bytes) -> tuple[str, list[dict[str, Any]]]:
    """Strict parse: board.pub 64 lowercase hex (+ newline), every line the canonical JSON of exactly the six keys."""
    if not re.fullmatch(rb"[0-9a-f]{64}\n?", pub):
        raise Malformed("board.pub is not 64 lowercase hex digits")
    if not jsonl or not jsonl.endswith(b"\n"):
        raise Malformed("board.jsonl empty or its last line has no newline")
    entries = []
    for number, line in enumerate(jsonl[:-1].split(b"\n"), start=1):
        try:
            obj = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise Malformed(f"line {number}: {exc}") from None
        if not isinstance(obj, dict) or set(obj) != ENTRY_KEYS:
            raise Malformed(f"line {number}: keys are not exactly {sorted(ENTRY_KEYS)}")
        if canon(obj) != line:
            raise Malformed(f"line {number}: not canonical JSON")
        if not (type(obj["seq"]) is int and obj["seq"] >= 0 and isinstance(obj["type"], str)
                and isinstance(obj["payload"], dict)
                and all(isinstance(obj[k], str) and re.fullmatch(r"[0-9a-f]{64}", obj[k]) for k in ("prev", "hash"))
                and isinstance(obj["sig"], str) and re.fullmatch(r"[0-9a-f]{128}", obj["sig"])):
            raise Malformed(f"line {number}: a field of the wrong form")
        entries.append(obj)
    return pub.decode("ascii").strip(), entries


def chain_problems(pub: str, entries: list[dict[str, Any]]) -> list[tuple[int | None, str]]:
    """(seq, problem) for every violation of the chain, hash and signature rules of Contracts: Record."""
    problems: list[tuple[int | None, str]] = []
    key = VerifyKey(bytes.fromhex(pub))
    prev = ZEROS
    for position, e in enumerate(entries):
        if e["seq"] != position:
            problems.append((e["seq"], "seq is not the line position"))
        if e["prev"] != prev:
            problems.append((e["seq"], "prev is not the previous hash"))
        body = canon({"seq": e["seq"], "type": e["type"], "payload": e["payload"], "prev": e["prev"]})
        if hashlib.sha256(body).hexdigest() != e["hash"]:
            problems.append((e["seq"], "hash is not SHA-256 of the canonical {seq,type,payload,prev}"))
        try:
            key.verify(bytes.fromhex(e["hash"]), bytes.fromhex(e["sig"]))
        except BadSignatureError:
            problems.append((e["seq"], "sig is not board.pub's Ed25519 signature of the hash bytes"))
        prev = e["hash"]
    if entries and entries[0]["type"] == "setup" and entries[0]["payload"].get("board_key") != pub:
        problems.append((None, "board.pub differs from the setup's board_key"))
    return problems


# The hex rule. Strings: text only under these keys; every other string is fixed-length lowercase hex, of the
# length of its kind. JSON integers: only small counters and indices (the spec's JSON integers), never a scalar.
TEXT_KEYS = {"id", "label", "title", "kind", "name", "version", "election_id"}
TIME_KEYS = {"cast_at", "timestamp"}
INT_KEYS = {"trustees", "quorum", "voter_count", "revote", "counted", "index", "k", "max", "accuser", "dealer",
            "counts", "qualified", "plaintexts"}
HASH_KEYS = {"hash", "prev", "base_hash", "ballot_hash", "tracker", "counted_hash", "transcript_hash", "credential",
             "credentials", "board_key", "q"}
SCALAR_KEYS = {"response", "responses", "challenges", "nonces", "share", "blinding"}
ELEMENT_KEYS = {"alpha", "beta", "public_key", "verification_keys", "enc_key", "commitment", "commitments",
                "ephemeral", "feldman", "a", "b", "shares", "kem_secret", "g", "p"}
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")


def leaves(value: Any, key: str = "", path: str = "") -> Iterator[tuple[str, str, Any]]:
    """(key naming the value, path, value) of every scalar in a payload; list items are named by the list's key."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from leaves(v, k, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from leaves(v, key, f"{path}[{i}]")
    else:
        yield key, path, value


def hex_problems(entries: list[dict[str, Any]]) -> list[str]:
    """Violations of 'integers, scalars and group elements as fixed-length lowercase hex' and 'timestamps only in
    cast_at / timestamp' in every payload."""
    group = entries[0]["payload"]["group"]["name"]
    element = 1024 if group == "modp" else 64
    out = []
    for e in entries:
        where = f"seq {e['seq']} {e['type']}"
        for key, path, value in leaves(e["payload"]):
            if isinstance(value, bool) or value is None or isinstance(value, float):
                out.append(f"{where}{path}: {value!r} is no record value")
            elif isinstance(value, int):
                if key not in INT_KEYS or not 0 <= value < 2 ** 31:
                    out.append(f"{where}{path}: JSON integer {value} where hex is due")
            elif key in TIME_KEYS:
                if not TIMESTAMP.match(value):
                    out.append(f"{where}{path}: {value!r} is not a timestamp")
            elif key in TEXT_KEYS:
                if TIMESTAMP.search(value):
                    out.append(f"{where}{path}: a timestamp outside cast_at/timestamp")
            else:
                length = (64 if key in HASH_KEYS | SCALAR_KEYS else element if key in ELEMENT_KEYS
                          else 128 if key == "signature" else None)
                if key == "body":  # a hybrid ciphertext: bytes, not a number (docs/spec.md §6), >= 28 bytes
                    ok = re.fullmatch(r"(?:[0-9a-f]{2}){28,}", value) is not None
                else:
                    ok = length is not None and re.fullmatch(f"[0-9a-f]{{{length}}}", value) is not None
                if not ok:
                    out.append(f"{where}{path}: {value[:40]!r} is not {length} lowercase hex digits")
    return out


# --- records --------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ed_demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """An ed25519 demo record (seed 1: a challenged ballot and a re-vote in it) and its board key file."""
    base = tmp_path_factory.mktemp("s18ed")
    demo = voting.demo.run_demo(base / "rec", voters=3, trustees=3, quorum=2, absent=1, group_name="ed25519",
                                board_key_path=base / "board.key", seed=1)
    assert demo.spoiled >= 1 and demo.revotes >= 1
    return base / "rec", base / "board.key"


@pytest.fixture(scope="module")
def modp_zip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """`quorum demo` with the 4096-bit group, written as a zip, with --board-key; and what it printed."""
    base = tmp_path_factory.mktemp("s18modp")
    run = subprocess.run([QUORUM, "demo", "--out", str(base / "rec.zip"), "--voters", "2", "--trustees", "2",
                          "--quorum", "1", "--absent", "1", "--group", "modp", "--board-key", str(base / "key")],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    return base / "rec.zip", base / "key", run.stdout


def _verify(record: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    code = main(["verify", str(record), "--workers", "1", "--quiet", *extra])
    return code, capsys.readouterr().out


def _resigned(record: Path, key: SigningKey, out: Path, change: Any) -> Path:
    """A copy of the record with change(entries) applied, re-hashed and re-signed by the board (as a hostile board
    can), using only the contract's rules."""
    jsonl, pub = read_record(record)
    _, entries = parse(jsonl, pub)
    change(entries)
    prev = ZEROS
    for e in entries:
        e["prev"] = prev
        e["hash"] = hashlib.sha256(canon({k: e[k] for k in ("seq", "type", "payload", "prev")})).hexdigest()
        e["sig"] = key.sign(bytes.fromhex(e["hash"])).signature.hex()
        prev = e["hash"]
    out.mkdir()
    (out / "board.jsonl").write_bytes(b"".join(canon(e) + b"\n" for e in entries))
    (out / "board.pub").write_bytes(pub)
    return out


# --- what conforms (passing) ----------------------------------------------------------------------------------------
def test_the_mini_verifier_accepts_the_demo_records(ed_demo: tuple[Path, Path], modp_zip: tuple[Path, Path, str]) -> None:
    """Records written by the demo (directory and zip; both groups) obey every chain, hash, signature, hex and
    timestamp rule of Contracts: Record as an independent verifier reads them; the --board-key file is the raw hex
    seed of board.pub's key, mode 0600."""
    for record, key_file in (ed_demo, modp_zip[:2]):
        jsonl, pub = read_record(record)
        board_pub, entries = parse(jsonl, pub)
        assert pub.endswith(b"\n")
        assert chain_problems(board_pub, entries) == []
        assert hex_problems(entries) == []
        assert entries[0]["prev"] == ZEROS and entries[0]["type"] == "setup"
        assert os.stat(key_file).st_mode & 0o777 == 0o600
        seed = bytes.fromhex(key_file.read_text(encoding="ascii").strip())
        assert bytes(SigningKey(seed).verify_key).hex() == board_pub
    with zipfile.ZipFile(modp_zip[0]) as archive:
        assert sorted(archive.namelist()) == ["board.jsonl", "board.pub"]
    assert "Mayor:" in modp_zip[2] and "decrypted by trustees" in modp_zip[2]  # the demo prints the result


def test_the_mini_verifier_agrees_with_every_sample_record() -> None:
    """tests/vectors/records: the malformed samples fail the strict parse; of the others, exactly those whose
    index.json names `chain` or `signatures` break a chain/hash/signature rule, and every sample past the parse
    keeps the hex and timestamp rules unless it is a sample of exactly that fault."""
    index = json.loads((VECTORS / "index.json").read_text(encoding="utf-8"))
    assert index
    for name, expect in sorted(index.items()):
        try:
            pub, entries = parse(*read_record(VECTORS / name))
        except Malformed:
            assert expect["expect_exit"] == 2, name
            continue
        assert expect["expect_exit"] in (0, 1), name
        broken = bool(chain_problems(pub, entries))
        assert broken == bool({"chain", "signatures"} & set(expect["failing_checks"])), (name, chain_problems(pub, entries))
        if expect["expect_exit"] == 0:
            assert hex_problems(entries) == [], name


def test_the_mini_verifier_catches_what_it_checks(ed_demo: tuple[Path, Path]) -> None:
    """The mini-verifier's own rules bite (so that its passing verdicts above mean something)."""
    jsonl, pub = read_record(ed_demo[0])
    board_pub, entries = parse(jsonl, pub)
    lines = jsonl.split(b"\n")
    for damaged in (lines[0].replace(b'":', b'": ', 1), lines[0][:-1] + b',"extra":1}', lines[0] + b" "):
        with pytest.raises(Malformed):
            parse(b"\n".join([damaged, *lines[1:]]), pub)
    with pytest.raises(Malformed):
        parse(jsonl[:-1], pub)
    with pytest.raises(Malformed):
        parse(jsonl, pub.upper())
    broken = json.loads(json.dumps(entries))
    broken[2]["prev"] = ZEROS
    broken[3]["sig"] = broken[4]["sig"]
    broken[5]["payload"]["cast_at"] = "later"
    assert [p[0] for p in chain_problems(board_pub, broken)] == [2, 2, 3, 5]  # prev is hashed too
    assert [p[0] for p in chain_problems(bytes(SigningKey.generate().verify_key).hex(), entries)].count(None) == 1
    bad = json.loads(json.dumps(entries))
    bad[1]["payload"]["public_key"] = bad[1]["payload"]["public_key"].upper()
    bad[0]["payload"]["manifest"]["title"] = "closes 2026-11-27T10:00Z"
    bad[2]["payload"]["voter_count"] = str(bad[2]["payload"]["voter_count"])
    bad[-1]["payload"]["contests"][0]["counts"][0] = 2 ** 40
    bad[3]["payload"]["timestamp"] = "soon"
    assert len(hex_problems(bad)) == 5, hex_problems(bad)


def test_tampering_a_value_under_the_contract_rules_is_caught(ed_demo: tuple[Path, Path], tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """An auditor's own re-hash and re-sign (from the contract alone) reproduces the board's chain byte for byte, and
    a changed count re-signed that way still fails `quorum verify` (exit 1, the result check, with its seq)."""
    record, key_file = ed_demo
    key = SigningKey(bytes.fromhex(key_file.read_text().strip()))
    same = _resigned(record, key, tmp_path / "same", lambda entries: None)
    assert (same / "board.jsonl").read_bytes() == (record / "board.jsonl").read_bytes()

    def bump(entries: list[dict[str, Any]]) -> None:
        entries[-1]["payload"]["contests"][0]["counts"][0] += 1

    bad = _resigned(record, key, tmp_path / "bad", bump)
    code, out = _verify(bad, capsys, "--json")
    report = json.loads(out)
    assert code == 1 and report["valid"] is False
    failed = {c["name"]: c["detail"] for c in report["checks"] if not c["ok"]}
    last = sum(1 for _ in (record / "board.jsonl").open("rb")) - 1
    assert set(failed) == {"result"} and f"seq {last}:" in failed["result"]


def test_the_readme_starts_with_make_run_and_make_test_and_ci_calls_make_test() -> None:
    """Contracts: Install and run: the README's first commands are `make run` and `make test`; `.ci/run` calls
    `make test`; the Makefile's run target serves on 127.0.0.1:5000 (the serve defaults) with the demo."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first_block = re.search(r"```[a-z]*\n(.*?)```", readme, flags=re.S)
    assert first_block is not None
    commands = [line.split("#")[0].strip() for line in first_block.group(1).splitlines() if line.strip()]
    assert commands[:2] == ["make run", "make test"]
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()
          if line.strip() and not line.lstrip().startswith("#")]
    assert "make test" in ci
    assert os.access(ROOT / ".ci" / "run", os.X_OK)
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^run: .*\n\t\$\(BIN\)/quorum serve --demo\s*$", makefile, flags=re.M)
    from quorum.cli import build_parser
    serve = build_parser().parse_args(["serve"])
    assert (serve.host, serve.port, serve.db) == ("127.0.0.1", 5000, None)


def test_verify_json_has_exactly_the_contract_keys_on_exit_0_and_1(ed_demo: tuple[Path, Path], tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    record, key_file = ed_demo
    code, out = _verify(record, capsys, "--json")
    report = json.loads(out)
    assert code == 0 and set(report) == {"valid", "checks", "result"} and report["valid"] is True
    assert all(set(c) == {"name", "ok", "detail"} and c["ok"] is True for c in report["checks"])
    assert set(report["result"]) == {"contests", "trustees"}
    key = SigningKey(bytes.fromhex(key_file.read_text().strip()))
    bad = _resigned(record, key, tmp_path / "bad", lambda es: es[-1]["payload"]["trustees"].reverse())
    code, out = _verify(bad, capsys, "--json")
    report = json.loads(out)
    assert code == 1 and set(report) == {"valid", "checks", "result"} and report["valid"] is False


# --- deviations (strict xfail) --------------------------------------------------------------------------------------
def test_a_refused_demo_leaves_no_private_key_behind(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Failed before (fixed in session 18): Contracts: CLI, `quorum demo --board-key FILE` with a bad value must give a
    clear error and exit non-zero without leaving output behind; --trustees 65 is refused (exit 2,
    'setup.trustees: expected an integer from 1 to 64') only after voting/demo.py:run_demo has already written
    the board's private key to FILE (save_signing_key before setup_payload), so a private key of a board that
    signed nothing stays on disk. Fix: check trustees <= 64 (and every setup bound) in run_demo's first lines,
    and write the key file only after the record is exported (or remove it on any failure)"""
    code = main(["demo", "--out", str(tmp_path / "rec"), "--voters", "1", "--trustees", "65", "--quorum", "1",
                 "--group", "ed25519", "--board-key", str(tmp_path / "board.key")])
    assert code == 2 and "Traceback" not in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_failed_record_write_leaves_no_half_written_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """Failed before (fixed in session 18): Contracts: CLI / Security rule 4, `quorum demo --out DIR` never leaves a
    half-written DIR; voting/record.py:write_record (via Board.export) creates DIR and writes board.jsonl, then
    board.pub, in place: when the second write fails (disk full, here simulated with ENOSPC) the demo exits 2
    but DIR holds a board.jsonl without board.pub (and the zip branch writes the zip in place, likewise). Fix:
    write both files into a temporary sibling folder (or zip file) and os.replace/rename it onto DIR only when
    complete, removing it on error"""
    real = pathlib.Path.write_bytes

    def disk_full(self: pathlib.Path, data: bytes) -> int:
        if self.name == "board.pub":
            raise OSError(errno.ENOSPC, "No space left on device", str(self))
        return real(self, data)

    monkeypatch.setattr(pathlib.Path, "write_bytes", disk_full)
    out = tmp_path / "rec"
    code = main(["demo", "--out", str(out), *SMALL])
    assert code == 2 and "No space left" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir()), sorted(p.name for p in out.iterdir())


def test_the_demo_always_includes_a_revote_and_a_challenged_ballot(tmp_path: Path) -> None:
    """Failed before (fixed in session 18): Contracts: CLI, `quorum demo` runs 'N voters casting random ballots
    including re-votes and Benaloh-challenged ballots'; voting/demo.py:run_demo draws each voter's challenge and
    re-vote with probability 0.2, so small elections often have neither (seed 0, 3 voters: 0 challenged, 0 re-
    votes; 20 voters: about 2% of runs lack one of them), and an auditor's script expecting spoil entries and a
    superseded ballot in a demo record fails at random. Fix: make at least one voter challenge a ballot and at
    least one re-vote (e.g. voter 0 always does both), the rest random"""
    demo = voting.demo.run_demo(tmp_path / "rec", voters=3, trustees=1, quorum=1, absent=0, group_name="ed25519", seed=0)
    assert demo.spoiled >= 1 and demo.revotes >= 1, (demo.spoiled, demo.revotes)


def test_the_demo_refuses_more_voters_than_a_record_can_hold_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """Failed before (fixed in session 18): Contracts: CLI, bad `quorum demo` values give a clear error at once;
    --voters above the record's limit (docs/spec.md §10.1: voter_count 1..10^9) is not checked by
    voting/demo.py:run_demo (only voters < 1 is), so the demo starts generating 10^9+1 credentials (hours of
    CPU) before the board refuses them. Fix: refuse voters > 10^9 (and preferably a practical demo bound) up
    front with exit 2 naming --voters"""
    class Started(Exception):
        pass

    def started() -> str:
        raise Started("the demo began generating credentials for an impossible electorate")

    monkeypatch.setattr(voting.demo, "new_private_credential", started)
    code = main(["demo", "--out", str(tmp_path / "rec"), "--voters", str(10 ** 9 + 1), "--trustees", "1",
                 "--quorum", "1", "--group", "ed25519"])
    assert code == 2 and "voters" in capsys.readouterr().err


def test_a_parameters_failure_names_the_entrys_seq(ed_demo: tuple[Path, Path], tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Failed before (fixed in session 18): Contracts: CLI, `quorum verify` exit 1: 'each failure is named, with the
    entry's seq'; a failure inside a parameter entry (here the key_ceremony entry at seq 1, a trustee's
    transcript signature changed, chain re-signed) is reported by voting/verifier.py:_context as
    Failure('parameters', None, ...): the detail says 'key_ceremony.signatures[0]: ...' with no seq. Fix: carry
    the seq of the setup/key_ceremony/credentials entry that failed into the Failure (build_context can say
    which payload it rejected)"""
    record, key_file = ed_demo
    key = SigningKey(bytes.fromhex(key_file.read_text().strip()))

    def forge(entries: list[dict[str, Any]]) -> None:
        ceremony = next(e for e in entries if e["type"] == "key_ceremony")
        assert ceremony["seq"] == 1
        sig = ceremony["payload"]["signatures"][0]["signature"]
        sig["response"] = format((int(sig["response"], 16) + 1) % 2 ** 252, "064x")

    bad = _resigned(record, key, tmp_path / "bad", forge)
    code, out = _verify(bad, capsys, "--json")
    failed = {c["name"]: c["detail"] for c in json.loads(out)["checks"] if not c["ok"]}
    assert code == 1 and "parameters" in failed
    assert "seq 1:" in failed["parameters"], failed["parameters"]


def test_a_board_key_mismatch_names_the_setup_seq(ed_demo: tuple[Path, Path], tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """Failed before (fixed in session 18): Contracts: CLI, each failure named with the entry's seq; when board.pub is
    not the setup entry's board_key (seq 0), voting/verifier.py:_signatures reports Failure('signatures', None,
    ...) without a seq. Fix: report it with seq 0 (the setup entry whose board_key differs)"""
    record, _ = ed_demo
    other = SigningKey.generate()
    bad = _resigned(record, other, tmp_path / "bad", lambda entries: None)
    (bad / "board.pub").write_text(bytes(other.verify_key).hex() + "\n")
    code, out = _verify(bad, capsys, "--json")
    failed = {c["name"]: c["detail"] for c in json.loads(out)["checks"] if not c["ok"]}
    assert code == 1 and set(failed) == {"signatures"}
    assert "seq 0:" in failed["signatures"], failed["signatures"]


def test_verify_json_on_exit_2_has_exactly_the_contract_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Failed before (fixed in session 18): Contracts: CLI, `quorum verify --json` prints {"valid", "checks",
    "result"}; on exit 2 quorum/cmd_verify.py:unreadable adds a fourth key "error", so a script checking the
    documented shape exactly (set(report) == {valid, checks, result}) rejects every exit-2 report. Fix: drop
    "error" (the message is already the detail of the "record" check), or document the extra key in the
    Contracts with a version note"""
    code, out = _verify(tmp_path / "missing", capsys, "--json")
    assert code == 2
    assert set(json.loads(out)) == {"valid", "checks", "result"}


@pytest.mark.parametrize("workers", ["abc", "2.5", ""])
def test_verify_json_reports_a_non_integer_workers(ed_demo: tuple[Path, Path], workers: str) -> None:
    """Failed before (fixed in session 18): Contracts: CLI, `quorum verify RECORD --json [--workers N]` prints the JSON
    report in every case; a --workers value that is not an integer ('abc', '2.5', '') is rejected by argparse in
    quorum/cmd_verify.py:register (type=int) before run() sees --json: exit 2 with usage text on stderr and
    nothing on stdout, while --workers 0 does get the JSON report. Fix: parse --workers as a string (or catch
    the parser error when --json is present) and route the error through unreadable(), as run() does for
    --workers < 1"""
    run = subprocess.run([QUORUM, "verify", str(ed_demo[0]), "--json", "--workers", workers],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    report = json.loads(run.stdout)
    assert report["valid"] is False and report["checks"] and report["result"] == {}


def test_serve_refuses_an_impossible_port_clearly(tmp_path: Path) -> None:
    """Failed before (fixed in session 18): Contracts: CLI, `quorum serve [--port P]` (and Security rule 4: clear
    errors); an impossible port (70000) is accepted by quorum/cmd_serve.py (type=int, no range check), the data
    folder and database are prepared, 'Quorum on http://127.0.0.1:70000/' is printed, then gunicorn's bind
    raises OverflowError: a Python traceback and exit 1 instead of the exit-2 one-line refusal every other
    unusable setting of serve gets (_refusal). Fix: check 1 <= port <= 65535 (0 only if meant) in
    register/_prepare and refuse with 'quorum serve: --port 70000: ...', exit 2, before anything is written"""
    run = subprocess.run([QUORUM, "serve", "--data-dir", str(tmp_path / "data"), "--port", "70000", "--workers", "1"],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert run.returncode == 2, (run.returncode, run.stderr[-400:])
    assert "Traceback" not in run.stderr and "--port" in run.stderr
