"""The public record (Contracts: Record): entry hashing, strict parsing of board.jsonl/board.pub, export to a directory or zip."""

from __future__ import annotations

import hashlib
import io
import json
import lzma
import mmap
import os
import re
import shutil
import stat
import tempfile
import zipfile
import zlib
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from typing import Any, Iterable, Union

from threshold.encoding import canonical_json
from threshold.errors import QuorumError

GENESIS = "0" * 64
ENTRY_KEYS = frozenset({"seq", "type", "payload", "prev", "hash", "sig"})
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX128 = re.compile(r"[0-9a-f]{128}")
_TYPE = re.compile(r"[a-z_]{1,32}")
MAX_RECORD_BYTES = 64 << 30  # a zip's board.jsonl is expanded to a temporary file, never beyond its stated size
MAX_ZIP_RATIO = 20  # a real board.jsonl (hex and JSON) deflates about 2:1; far beyond that is a zip bomb
Buffer = Union[bytes, mmap.mmap]  # board.jsonl, a memory-mapped private copy: verifiers slice it line by line
# The shortest canonical entry line: no line shorter than this can be one.
MIN_ENTRY_BYTES = len(canonical_json({"hash": GENESIS, "payload": {}, "prev": GENESIS, "seq": 0, "sig": "0" * 128, "type": "x"}))
# JSON nesting allowed in a payload, checked on the line before parsing: a fixed bound, so that the verdict does not
# depend on the stack depth of the process parsing it (forked workers recurse from deeper than the parent); a deep
# payload would also fail to pickle from a worker. Real payloads nest under 10 levels.
MAX_NESTING = 64
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'"[]{}')


class RecordFormatError(QuorumError):
    """The record is unreadable or malformed (exit code 2); names the file and line."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message

    def __reduce__(self) -> tuple[type, tuple[str, str]]:
        """Rebuilt from both fields when a verifier worker sends it to the parent (the default pickling would
        call the class with one argument, fail in the pool, and leave the parent waiting forever)."""
        return type(self), (self.where, self.message)


@dataclass(frozen=True)
class Entry:
    """One board entry: the signed, hash-chained unit of the record."""

    seq: int
    type: str
    payload: dict[str, Any]
    prev: str
    hash: str
    sig: str

    def to_json(self) -> dict[str, Any]:
        """The JSON object written as one line of board.jsonl."""
        return {"seq": self.seq, "type": self.type, "payload": self.payload, "prev": self.prev, "hash": self.hash, "sig": self.sig}

    def line(self) -> bytes:
        """The canonical JSON line (without the newline)."""
        return canonical_json(self.to_json())


@dataclass(frozen=True)
class Record:
    """A parsed record: the board's public key (hex) and its entries in file order."""

    board_public_key: str
    entries: list[Entry]


def payload_json(raw: bytes, entry: Entry) -> bytes:
    """canonical_json(entry.payload) of an entry parsed from the line `raw` by parse_entry_line.

    That parse accepts a line only when it is the canonical JSON of the whole entry, whose sorted keys put
    the fixed-form hash first and prev, seq, sig, type last, so the payload's canonical JSON is a slice of
    the line: cutting it out avoids encoding the payload again.
    """
    head = len('{"hash":"') + 64 + len('","payload":')
    tail = len(f',"prev":"{entry.prev}","seq":{entry.seq},"sig":"{entry.sig}","type":"{entry.type}"}}')
    return raw[head:len(raw) - tail]


def hashed_json(raw: bytes, entry: Entry) -> bytes:
    """canonical_json({seq, type, payload, prev}), the bytes `entry_hash` hashes, cut from the line (see payload_json)."""
    return hashed_body(entry.seq, entry.type, payload_json(raw, entry), entry.prev)


def hashed_body(seq: int, entry_type: str, payload: bytes, prev: str) -> bytes:
    """canonical_json({seq, type, payload, prev}) from the payload's canonical JSON, encoded once: the sorted keys
    put it first."""
    return (b'{"payload":' + payload + b',"prev":' + canonical_json(prev) + b',"seq":' + canonical_json(seq)
            + b',"type":' + canonical_json(entry_type) + b"}")


def entry_hash(seq: int, entry_type: str, payload: dict[str, Any], prev: str) -> str:
    """Hex SHA-256 of the canonical JSON of {seq, type, payload, prev}."""
    return hashlib.sha256(hashed_body(seq, entry_type, canonical_json(payload), prev)).hexdigest()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _reject_float(text: str) -> Any:
    raise ValueError(f"non-integer number {text} is not allowed")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def parse_json_strict(text: str) -> Any:
    """JSON with no duplicate keys, no floats and no NaN/Infinity (raises ValueError)."""
    return json.loads(text, object_pairs_hook=_unique_keys, parse_float=_reject_float, parse_constant=_reject_constant)


def _nesting(raw: bytes) -> int:
    """The deepest nesting of arrays and objects in a JSON text, brackets inside strings skipped: escaped
    backslashes, then escaped quotes dropped; every byte but quotes and brackets dropped; then every other
    quote-delimited run (a string's inside) dropped. About 0.1 ms for a 95 kB modp ballot line."""
    if b"\\" in raw:
        raw = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    outside = b"".join(raw.translate(None, _NOT_STRUCTURE).split(b'"')[::2])
    return max(accumulate(1 if b in b"[{" else -1 for b in outside), default=0)


def parse_entry_line(raw: bytes, lineno: int) -> Entry:
    """Parse one line of board.jsonl; any defect raises RecordFormatError naming the line."""
    where = f"board.jsonl line {lineno}"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RecordFormatError(where, f"not UTF-8 ({exc.reason} at byte {exc.start})") from None
    if _nesting(raw) - 1 > MAX_NESTING:  # the entry object is one level
        raise RecordFormatError(where, f"payload nested deeper than {MAX_NESTING} levels")
    try:  # duplicate keys are caught below: the canonical line has each key once (then named by the strict parser)
        obj = json.loads(text, parse_float=_reject_float, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise RecordFormatError(where, f"not valid JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise RecordFormatError(where, "an entry must be a JSON object")
    if set(obj) != ENTRY_KEYS:
        missing, extra = sorted(ENTRY_KEYS - set(obj)), sorted(set(obj) - ENTRY_KEYS)
        raise RecordFormatError(where, f"entry keys wrong (missing {missing}, unexpected {extra})")
    seq, kind, payload, prev, digest, sig = (obj[k] for k in ("seq", "type", "payload", "prev", "hash", "sig"))
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise RecordFormatError(where, "seq must be a non-negative integer")
    if not isinstance(kind, str) or not _TYPE.fullmatch(kind):
        raise RecordFormatError(where, "type must be a lowercase name")
    if not isinstance(payload, dict):
        raise RecordFormatError(where, "payload must be a JSON object")
    for name, value in (("prev", prev), ("hash", digest)):
        if not isinstance(value, str) or not _HEX64.fullmatch(value):
            raise RecordFormatError(where, f"{name} must be 64 lowercase hex characters")
    if not isinstance(sig, str) or not _HEX128.fullmatch(sig):
        raise RecordFormatError(where, "sig must be 128 lowercase hex characters")
    try:
        canonical = canonical_json(obj)
    except UnicodeEncodeError:
        raise RecordFormatError(where, "a string holds a lone surrogate (not encodable as UTF-8)") from None
    except RecursionError:  # parsed just below the recursion limit, then one level too deep to encode
        raise RecordFormatError(where, "JSON nested too deep") from None
    if canonical != raw:
        try:
            parse_json_strict(text)
        except (ValueError, RecursionError) as exc:
            raise RecordFormatError(where, f"not valid JSON ({exc})") from None
        raise RecordFormatError(where, "line is not canonical JSON")
    return Entry(seq, kind, payload, prev, digest, sig)


def parse_public_key(public_key: bytes) -> str:
    """The board's public key from board.pub: 64 lowercase hex characters, optionally newline-terminated."""
    try:
        key = public_key.decode("ascii")
    except UnicodeDecodeError:
        raise RecordFormatError("board.pub", "not ASCII hex") from None
    key = key[:-1] if key.endswith("\n") else key
    if not _HEX64.fullmatch(key):
        raise RecordFormatError("board.pub", "must hold the board's Ed25519 public key as 64 lowercase hex characters")
    return key


def parse_board(data: Buffer, public_key: bytes) -> Record:
    """Parse board.jsonl and board.pub contents into a Record (strict; errors name the line)."""
    key = parse_public_key(public_key)
    entries = [parse_entry_line(data[start:end], i) for i, (start, end) in enumerate(line_bounds(data), start=1)]
    return Record(key, entries)


class LineBounds(Sequence[tuple[int, int]]):
    """(start, end) of every line, 16 bytes a line (a list of tuples took ~140: a record of empty lines exhausted
    memory before its first line was parsed)."""

    def __init__(self) -> None:
        self._flat = array("q")

    def append(self, start: int, end: int) -> None:
        self._flat.extend((start, end))

    def __len__(self) -> int:
        return len(self._flat) // 2

    def __getitem__(self, index: int) -> tuple[int, int]:  # type: ignore[override]
        if not -len(self) <= index < len(self):
            raise IndexError(index)
        index %= len(self)
        return self._flat[2 * index], self._flat[2 * index + 1]


def line_bounds(data: Buffer) -> LineBounds:
    """(start, end) of every line of board.jsonl; a missing final newline is a truncated last line, and a line too
    short to hold an entry (`MIN_ENTRY_BYTES`) is refused while scanning, before any is parsed."""
    if not len(data):
        raise RecordFormatError("board.jsonl", "empty record")
    bounds, start = LineBounds(), 0
    while start < len(data):
        end = data.find(b"\n", start)
        if end < 0:
            raise RecordFormatError(f"board.jsonl line {len(bounds) + 1}", "truncated: the last line has no newline")
        if end - start < MIN_ENTRY_BYTES:  # parsed now for the error naming its defect; it cannot be an entry
            parse_entry_line(bytes(data[start:end]), len(bounds) + 1)
            raise RecordFormatError(f"board.jsonl line {len(bounds) + 1}",
                                    f"{end - start} bytes: too short to be an entry (at least {MIN_ENTRY_BYTES})")
        bounds.append(start, end)
        start = end + 1
    return bounds


def _snapshot(source: Any) -> Buffer:
    """A private copy of `source` (a binary stream) in an unlinked temporary file, memory-mapped read-only (b"" if
    empty): forked verifier workers share its pages, so a record larger than memory verifies, and a record file
    that changes or shrinks while it is verified changes nothing (mapping it directly would SIGBUS)."""
    with tempfile.TemporaryFile() as copy:
        shutil.copyfileobj(source, copy, 1 << 20)
        copy.flush()
        if copy.tell() == 0:
            return b""
        return mmap.mmap(copy.fileno(), 0, access=mmap.ACCESS_READ)


def _read_small(path: Path, limit: int) -> bytes:
    """A regular file of at most `limit` bytes (board.pub): a FIFO, device or symlink to one is refused without
    blocking on it or reading it forever (opened non-blocking, then checked on the descriptor)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise RecordFormatError(str(path), "not a regular file")
        data = file.read(limit + 1)
    if len(data) > limit:
        raise RecordFormatError(str(path), f"larger than {limit} bytes")
    return data


def _read_zip(path: Path) -> tuple[Buffer, bytes]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, RuntimeError, ValueError) as exc:
        raise RecordFormatError(str(path), f"not a readable zip ({exc})") from None
    with archive:
        infos = {}
        for needed in ("board.jsonl", "board.pub"):
            found = [n for n in archive.namelist() if Path(n).name == needed]
            if len(found) != 1:
                raise RecordFormatError(str(path), f"the zip must hold exactly one {needed}, found {len(found)}")
            infos[needed] = archive.getinfo(found[0])
        for name, info in infos.items():  # zipfile inflates bzip2 and LZMA without an output bound: a bomb's door
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise RecordFormatError(str(path), f"{name} is compressed by method {info.compress_type}: a record zip "
                                        "holds stored or deflated files only")
        board = infos["board.jsonl"]
        if board.file_size > MAX_RECORD_BYTES or infos["board.pub"].file_size > 1 << 16:
            raise RecordFormatError(str(path), "a file in the zip is too large")
        if board.file_size > (1 << 20) + MAX_ZIP_RATIO * board.compress_size:
            raise RecordFormatError(str(path), f"board.jsonl states {board.file_size} bytes from {board.compress_size} "
                                    f"compressed: a compression ratio above {MAX_ZIP_RATIO} is no record (zip bomb?)")
        try:
            with archive.open(infos["board.pub"]) as file:  # read() would inflate up to 2 GiB before the stated size
                key = file.read((1 << 16) + 1)
            with archive.open(board) as packed:  # zipfile stops at the stated size and checks the CRC
                return _snapshot(packed), key
        except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, ValueError, zlib.error, lzma.LZMAError) as exc:
            raise RecordFormatError(str(path), f"unreadable in zip ({exc})") from None


def read_raw(path: str | Path) -> tuple[Buffer, str]:
    """board.jsonl (a memory-mapped private copy) and the checked board.pub key of a record directory or zip."""
    path = Path(path)
    if path.is_dir():
        try:
            key = _read_small(path / "board.pub", 1 << 16)
            board = path / "board.jsonl"
            if not board.is_file() or board.stat().st_size > MAX_RECORD_BYTES:
                raise RecordFormatError(str(board), f"not a regular file of at most {MAX_RECORD_BYTES} bytes")
            with board.open("rb") as file:
                data = _snapshot(file)
        except OSError as exc:
            raise RecordFormatError(str(path), f"cannot read ({exc.strerror}: {exc.filename})") from None
    elif path.is_file():
        data, key = _read_zip(path)
    else:
        raise RecordFormatError(str(path), "no such record directory or zip")
    return data, parse_public_key(key)


def read_record(path: str | Path) -> Record:
    """Read and parse a record directory or zip (Contracts: Record); RecordFormatError if unreadable or malformed."""
    data, key = read_raw(path)
    return parse_board(data, key.encode("ascii"))


def serialize_board(entries: Iterable[Entry]) -> bytes:
    """board.jsonl contents: one canonical JSON line per entry."""
    return b"".join(e.line() + b"\n" for e in entries)


def write_record(path: str | Path, board_public_key: str, entries: Iterable[Entry]) -> Path:
    """Export a record to a directory, or to a zip when the path ends in .zip. Whole or not at all: the files are
    written beside the target first and moved into place once complete, so a failed write (a full disk) leaves no
    half-written record."""
    path = Path(path)
    data = serialize_board(entries)
    key = (board_public_key + "\n").encode("ascii")
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".zip":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("board.jsonl", data)
            archive.writestr("board.pub", key)
        fd, staged = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
        os.fchmod(fd, 0o644)  # a public record (mkstemp makes it 0600)
        os.close(fd)
        try:
            Path(staged).write_bytes(buffer.getvalue())
            os.replace(staged, path)
        except BaseException:
            Path(staged).unlink(missing_ok=True)
            raise
        return path
    staged_dir = Path(tempfile.mkdtemp(prefix=f".{path.name}-", dir=path.parent))
    staged_dir.chmod(0o755)  # a public record (mkdtemp makes it 0700)
    try:
        (staged_dir / "board.jsonl").write_bytes(data)
        (staged_dir / "board.pub").write_bytes(key)
        if not path.exists():
            staged_dir.rename(path)
            return path
        for name in ("board.jsonl", "board.pub"):  # an existing directory keeps its other files
            os.replace(staged_dir / name, path / name)
    finally:
        shutil.rmtree(staged_dir, ignore_errors=True)
    return path
    path.mkdir(parents=True, exist_ok=True)
    (path / "board.jsonl").write_bytes(data)
    (path / "board.pub").write_bytes(key)
    return path
