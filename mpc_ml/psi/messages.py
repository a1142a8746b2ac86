"""The PSI wire messages: Request, Response and ServerSetup, as plain bytes.

Every message starts with b"QPSI", a version byte and a kind byte; integers are big-endian.
Parsing checks every length exactly and raises PsiError naming what is wrong.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar

import numpy as np

from .curve import check_points
from .errors import PsiError
from .gcs import CompressedSet

MAGIC = b"QPSI"
VERSION = 1
REVEALS = ("items", "size")


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
    def from_bytes(cls, data: bytes) -> Request:
        """Parse and check a request."""
        (flags, count), rest = fields(body(data, cls.KIND, "request"), ">BQ", "request")
        if flags > 1:
            raise PsiError(f"request: unknown flags {flags}")
        return cls(points_body(rest, count, "request"), bool(flags))


@dataclass(frozen=True)
class Response:
    """Server to client: s*c*H(x) for each request point, in request order or sorted (reveal='size')."""

    points: bytes
    reveal: str
    KIND: ClassVar[int] = 2

    @property
    def count(self) -> int:
        """Number of points."""
        return len(self.points) // 32

    def to_bytes(self) -> bytes:
        """Wire encoding."""
        return header(self.KIND) + struct.pack(">BQ", REVEALS.index(self.reveal), self.count) + self.points

    @classmethod
    def from_bytes(cls, data: bytes) -> Response:
        """Parse and check a response."""
        (reveal, count), rest = fields(body(data, cls.KIND, "response"), ">BQ", "response")
        if reveal >= len(REVEALS):
            raise PsiError(f"response: unknown reveal mode {reveal}")
        return cls(points_body(rest, count, "response"), REVEALS[reveal])


@dataclass(frozen=True)
class ServerSetup:
    """Server to client, once: the server's set s*H(y), hashed and Golomb-Rice compressed."""

    items: CompressedSet
    KIND: ClassVar[int] = 3

    @cached_property
    def values(self) -> np.ndarray:
        """The decoded, sorted set (checked on first use)."""
        return self.items.values()

    def to_bytes(self) -> bytes:
        """Wire encoding."""
        s = self.items
        return header(self.KIND) + struct.pack(">QBBQ", s.count, s.bits, s.high_bits, len(s.high)) + s.high + s.low

    @classmethod
    def from_bytes(cls, data: bytes) -> ServerSetup:
        """Parse and check a setup message (the compressed set is fully decoded once to check it)."""
        (count, bits, high_bits, high_len), rest = fields(body(data, cls.KIND, "setup"), ">QBBQ", "setup")
        if high_len > len(rest):
            raise PsiError(f"setup: high part of {high_len} bytes but only {len(rest)} bytes follow")
        setup = cls(CompressedSet(count, bits, high_bits, bytes(rest[:high_len]), bytes(rest[high_len:])))
        _ = setup.values
        return setup


@dataclass(frozen=True)
class ErrorMessage:
    """Server to client over TCP: why the request was refused."""

    text: str
    KIND: ClassVar[int] = 4

    def to_bytes(self) -> bytes:
        """Wire encoding."""
        return header(self.KIND) + self.text.encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes) -> ErrorMessage:
        """Parse an error message."""
        return cls(bytes(body(data, cls.KIND, "error")).decode("utf-8", errors="replace"))


def raise_if_error(data: bytes) -> bytes:
    """Raise PsiError with the peer's text when `data` is an ErrorMessage; else return it."""
    if len(data) >= 6 and data[:4] == MAGIC and data[5] == ErrorMessage.KIND:
        raise PsiError(f"peer refused: {ErrorMessage.from_bytes(data).text}")
    return data
