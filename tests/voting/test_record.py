"""The record parser: strict canonical lines, every defect named by its line, exit 2 from `quorum verify`;
hypothesis on arbitrary and mutated input."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quorum.cli import main
from threshold.encoding import canonical_json
from voting.record import (Entry, RecordFormatError, entry_hash, hashed_json, parse_board, parse_entry_line, payload_json,
                           read_record, write_record)

PUB = b"ab" * 32


def _line(seq: int = 0, payload: dict | None = None) -> bytes:
    payload = payload if payload is not None else {"x": "01"}
    h = entry_hash(seq, "setup", payload, "0" * 64)
    return canonical_json({"seq": seq, "type": "setup", "payload": payload, "prev": "0" * 64, "hash": h, "sig": "cd" * 64})


def test_roundtrip_dir_and_zip(tmp_path: Path) -> None:
    entry = parse_entry_line(_line(), 1)
    for out in (tmp_path / "rec", tmp_path / "rec.zip"):
        write_record(out, PUB.decode(), [entry])
        record = read_record(out)
        assert record.entries == [entry] and record.board_public_key == PUB.decode()


@pytest.mark.parametrize("raw,message", [
    (b'{"seq":0', "not valid JSON"),
    (b"[1,2]", "JSON object"),
    (b'{"seq":0,"type":"setup"}', "keys wrong"),
    (_line().replace(b'"seq":0', b'"seq":-1'), "seq"),
    (_line().replace(b'"seq":0', b'"seq":true'), "seq"),
    (_line().replace(b'"type":"setup"', b'"type":"Setup!"'), "type"),
    (_line().replace(b'"prev":"' + b"0" * 64, b'"prev":"' + b"0" * 63), "prev"),
    (_line().replace(b'"sig":"cd', b'"sig":"CD'), "sig"),
    (_line(payload={"x": "01"}).replace(b'{"x":"01"}', b'{"x": "01"}'), "canonical"),
    (_line(payload={"x": "01"}).replace(b'{"x":"01"}', b'{"x":1.5}'), "non-integer"),
    (_line(payload={"x": "01"}).replace(b'{"x":"01"}', b'{"x":NaN}'), "not allowed"),
    (_line(payload={"x": "01"}).replace(b'{"x":"01"}', b'{"x":"01","x":"02"}'), "duplicate key"),
    (_line().replace(b'"type":"setup"', b'"type":"setup","type":"setup"'), "duplicate key"),
    (_line(payload={"x": "01"}).replace(b'{"x":"01"}', b'{"x":"01","x":"01"}'), "duplicate key"),
    (b"\xff\xfe", "UTF-8"),
])
def test_malformed_line_is_named(raw: bytes, message: str) -> None:
    data = _line() + b"\n" + raw + b"\n"
    with pytest.raises(RecordFormatError, match="line 2") as info:
        parse_board(data, PUB)
    assert message in str(info.value)


def test_truncated_record_names_the_last_line() -> None:
    data = _line() + b"\n" + _line(1)
    with pytest.raises(RecordFormatError, match="line 2: truncated"):
        parse_board(data, PUB)
    with pytest.raises(RecordFormatError, match="line 2"):
        parse_board(data[:-10] + b"\n", PUB)


def test_bad_board_pub_and_zip(tmp_path: Path) -> None:
    with pytest.raises(RecordFormatError, match="board.pub"):
        parse_board(_line() + b"\n", b"xyz")
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(RecordFormatError, match="zip"):
        read_record(bad)
    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w") as archive:
        archive.writestr("other.txt", "x")
    with pytest.raises(RecordFormatError, match="board.jsonl"):
        read_record(empty)


def test_verify_cli_exit_2_names_the_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "rec"
    out.mkdir()
    (out / "board.jsonl").write_bytes(_line() + b"\n" + _line(1)[:40] + b"\n")
    (out / "board.pub").write_bytes(PUB + b"\n")
    assert main(["verify", str(out), "--quiet"]) == 2
    assert "line 2" in capsys.readouterr().err
    assert main(["verify", str(tmp_path / "missing"), "--quiet"]) == 2


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_fail_only_with_record_format_error(data: bytes) -> None:
    try:
        parse_board(data, PUB)
    except RecordFormatError as exc:
        assert "board.jsonl" in str(exc)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(payload=st.dictionaries(st.text(max_size=6), json_values, max_size=4), seq=st.integers(0, 10**6),
       cut=st.integers(0, 400), junk=st.binary(max_size=3))
def test_valid_lines_parse_and_mutations_are_named(payload: dict, seq: int, cut: int, junk: bytes) -> None:
    """Any canonical entry parses back to itself; the same line cut short or with bytes spliced in fails naming line 1."""
    h = entry_hash(seq, "cast", payload, "1" * 64)
    obj = {"seq": seq, "type": "cast", "payload": payload, "prev": "1" * 64, "hash": h, "sig": "2" * 128}
    raw = canonical_json(obj)
    assert parse_board(raw + b"\n", PUB).entries == [Entry(seq, "cast", payload, "1" * 64, h, "2" * 128)]
    mutated = raw[:cut % len(raw)] + junk + raw[cut % len(raw) + 1:]
    if mutated != raw and b"\n" not in mutated:
        try:
            entry = parse_board(mutated + b"\n", PUB).entries[0]
        except RecordFormatError as exc:
            assert "line 1" in str(exc)
        else:  # a mutation that is still a canonical entry: it must parse to exactly what it says
            assert canonical_json(entry.to_json()) == mutated
            assert json.loads(mutated) == entry.to_json()


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=10,
)


@settings(max_examples=150, deadline=None)
@given(payload=st.dictionaries(st.text(max_size=6), _json_values, max_size=4), seq=st.integers(0, 10**6),
       kind=st.sampled_from(["setup", "ballot", "close"]), prev=st.sampled_from(["0" * 64, "f" * 64]))
def test_hashed_bytes_cut_from_the_line_equal_the_encoded_ones(payload: dict, seq: int, kind: str, prev: str) -> None:
    """The verifier hashes slices of the canonical line (record.payload_json / hashed_json) instead of
    re-encoding the payload: the slices must be exactly what canonical_json and entry_hash produce (the board
    composes the hashed bytes from the payload's encoding the same way: record.hashed_body)."""
    h = entry_hash(seq, kind, payload, prev)
    assert h == hashlib.sha256(canonical_json({"seq": seq, "type": kind, "payload": payload, "prev": prev})).hexdigest()
    raw = canonical_json({"seq": seq, "type": kind, "payload": payload, "prev": prev, "hash": h, "sig": "cd" * 64})
    entry = parse_entry_line(raw, 1)
    assert payload_json(raw, entry) == canonical_json(payload)
    assert hashed_json(raw, entry) == canonical_json({"seq": seq, "type": kind, "payload": payload, "prev": prev})
    assert hashlib.sha256(hashed_json(raw, entry)).hexdigest() == h
