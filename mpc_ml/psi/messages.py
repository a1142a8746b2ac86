"""The PSI wire messages: Request, Response and ServerSetup, as plain bytes.

Every message starts with b"QPSI", a version byte and a kind byte; integers are big-endian.
Parsing checks every length exactly and raises PsiError naming what is wrong. Item counts are
checked against the reader's cap (MAX_ITEMS unless it says otherwise) before any per-item work,
and a peer's error text is sanitised (`mpc_ml.errors.peer_text`) as it is read.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar

from ..errors import peer_text
from .curve import check_points
from .errors import PsiError
from .gcs import CheckedSet, CompressedSet

MAGIC = b"QPSI"
VERSION = 2  # 2: the response names the setup it answers for
REVEALS = ("items", "size")
MAX_ITEMS = 1 << 24  # default cap on a peer's items: contact discovery's millions fit, a 67M-point request does not
POINTS_HEADER = 6 + 9  # header, then flags or reveal mode and a count


def check_count(count: int, max_items: int | None, what: str) -> None:
    """Refuse a peer's announced item count above `max_items` (None: no cap), before any per-item work."""
    if max_items is not None and count > max_items:
        raise PsiError(f"{what}: {count} items, more than the limit of {max_items}")


def points_frame_limit(count: int) -> int:
    """Bytes of a Request or Response frame of `count` points."""
    return POINTS_HEADER + 32 * count


def setup_frame_limit(max_items: int) -> int:
    """Most bytes of a ServerSetup frame that `ServerSetup.from_bytes(..., max_items=max_items)` accepts."""
    high_bits = max(max_items - 1, 0).bit_length()
    return 6 + 18 + (2**high_bits + max_items + 7) // 8 + (64 * max_items + 7) // 8


def header(kind: int) -> bytes:
    """The 6-byte message header for `kind`."""
    return MAGIC + bytes([VERSION, kind])


def body(data: bytes, kind: int, name: str) -> memoryview:
    """The bytes after a valid header of the expected kind."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise PsiError(f"{name}: expected bytes, got {type(data).__name__}")
    view = memoryview(data)
    if len(view) < 6:
        raise PsiError(f"{name}: truncated header ({len(view)} bytes)")
    if bytes(view[:4]) != MAGIC:
        raise PsiError(f"{name}: not a PSI message (bad magic)")
    if view[4] != VERSION:
        raise PsiError(f"{name}: unsupported version {view[4]}")
    if view[5] != kind:
        raise PsiError(f"{name}: wrong message kind {view[5]}, expected {kind}")
    return view[6:]


def fields(view: memoryview, fmt: str, name: str) -> tuple[tuple[int, ...], memoryview]:
    """Unpack a struct prefix of `view`; the rest is returned."""
    size = struct.calcsize(fmt)
    if len(view) < size:
        raise PsiError(f"{name}: truncated ({len(view)} bytes where {size} were expected)")
    return struct.unpack(fmt, view[:size]), view[size:]


def points_body(rest: memoryview, count: int, name: str) -> bytes:
    """Exactly `count` valid 32-byte points."""
    if len(rest) != 32 * count:
        raise PsiError(f"{name}: {len(rest)} bytes of points, expected {32 * count} for {count} points")
    points = bytes(rest)
    check_points(points, name)
    return points


@dataclass(frozen=True)
class Request:
    """Client to server: the client's items blinded by its key, c*H(x)."""

    points: bytes
    want_setup: bool = True
    KIND: ClassVar[int] = 1

    @property
    def count(self) -> int:
        """Number of items."""
        return len(self.points) // 32

    def to_bytes(self) -> bytes:
        """Wire encoding."""
        return header(self.KIND) + struct.pack(">BQ", int(self.want_setup), self.count) + self.points

    @classmethod
    def from_bytes(cls, data: bytes, *, max_items: int | None = None) -> Request:
        """Parse and check a request; one of more than `max_items` points (None: no cap) is refused
        from its header, before any point is checked."""
        (flags, count), rest = fields(body(data, cls.KIND, "request"), ">BQ", "request")
        if flags > 1:
            raise PsiError(f"request: unknown flags {flags}")
        check_count(count, max_items, "request")
        return cls(points_body(rest, count, "request"), bool(flags))


@dataclass(frozen=True)
class Response:
    """Server to client: s*c*H(x) for each request point, in request order or sorted (reveal='size'), and the
    digest of the setup (set and key) it answers for: a client holding another setup refuses it."""

    points: bytes
    reveal: str
    setup_digest: bytes
    KIND: ClassVar[int] = 2

    @property
    def count(self) -> int:
        """Number of points."""
        return len(self.points) // 32

    def to_bytes(self) -> bytes:
        """Wire encoding."""
        return (header(self.KIND) + struct.pack(">BQ", REVEALS.index(self.reveal), self.count) + self.setup_digest
                + self.points)

    @classmethod
    def from_bytes(cls, data: bytes, *, max_items: int | None = None) -> Response:
        """Parse and check a response (of at most `max_items` points; None: no cap)."""
        (reveal, count), rest = fields(body(data, cls.KIND, "response"), ">BQ", "response")
        if reveal >= len(REVEALS):
            raise PsiError(f"response: unknown reveal mode {reveal}")
        check_count(count, max_items, "response")
        if len(rest) < 32:
            raise PsiError(f"response: truncated setup digest ({len(rest)} bytes)")
        return cls(points_body(rest[32:], count, "response"), REVEALS[reveal], bytes(rest[:32]))


@dataclass(frozen=True)
class ServerSetup:
    """Server to client, once: the server's set s*H(y), hashed and Golomb-Rice compressed."""

    items: CompressedSet
    KIND: ClassVar[int] = 3

    @cached_property
    def checked(self) -> CheckedSet:
        """The set, checked (values sorted and distinct) and indexed, still compressed (on first use)."""
        return self.items.check()

    def to_bytes(self) -> bytes:
        """Wire encoding."""
        s = self.items
        return header(self.KIND) + struct.pack(">QBBQ", s.count, s.bits, s.high_bits, len(s.high)) + s.high + s.low

    @cached_property
    def digest(self) -> bytes:
        """SHA-256 of the encoding: names this setup (the server's set under its key) in the responses made for it."""
        return hashlib.sha256(self.to_bytes()).digest()

    @classmethod
    def from_bytes(cls, data: bytes, *, max_items: int | None = MAX_ITEMS) -> ServerSetup:
        """Parse and check a setup message (the compressed set is checked in one streaming pass).

        A set of more than `max_items` items (None: no cap), or with a high part wider than such
        a set has, is refused from the header. Memory is the message plus a small index: the set
        stays compressed (a crafted 2 MB message was once decoded to over 600 MB).
        """
        (count, bits, high_bits, high_len), rest = fields(body(data, cls.KIND, "setup"), ">QBBQ", "setup")
        if max_items is not None:
            check_count(count, max_items, "setup: the server's set")
            if high_bits > max(max_items - 1, 0).bit_length():
                raise PsiError(f"setup: {high_bits} high bits, more than a set of at most {max_items} items has")
        if high_len > len(rest):
            raise PsiError(f"setup: high part of {high_len} bytes but only {len(rest)} bytes follow")
        setup = cls(CompressedSet(count, bits, high_bits, bytes(rest[:high_len]), bytes(rest[high_len:])))
        _ = setup.checked
        return setup


@dataclass(frozen=True)
class ErrorMessage:
    """Server to client over TCP: why the request was refused (parsed text is sanitised: the peer wrote it)."""

    text: str
    KIND: ClassVar[int] = 4

    def to_bytes(self) -> bytes:
        """Wire encoding."""
        return header(self.KIND) + self.text.encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes) -> ErrorMessage:
        """Parse an error message: its text decoded, escaped and cut by `peer_text` (no control
        characters reach an exception or a log line)."""
        return cls(peer_text(body(data, cls.KIND, "error")))


def raise_if_error(data: bytes) -> bytes:
    """Raise PsiError with the peer's (sanitised) text when `data` is an ErrorMessage; else return it."""
    if len(data) >= 6 and data[:4] == MAGIC and data[5] == ErrorMessage.KIND:
        raise PsiError(f"peer refused: {ErrorMessage.from_bytes(data).text}")
    return data
