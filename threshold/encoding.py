"""Canonical encodings: the injective length-prefixed encoding hashed in every transcript,
and the canonical JSON of records (Contracts: sorted keys, no spaces, UTF-8)."""

from __future__ import annotations

import json
import struct
from typing import Any, Union

from threshold import _hashing
from threshold.errors import DecodeError

Encodable = Union[bytes, str, int, list, tuple]

_TAG_BYTES, _TAG_STR, _TAG_INT, _TAG_LIST = b"B", b"S", b"I", b"L"
_length = struct.Struct(">Q").pack  # the 8-byte big-endian length


def encode(*items: Encodable) -> bytes:
    """Injective encoding of a sequence of values: type tag, 8-byte length, content.

    bytes, str (UTF-8), non-negative int (minimal big-endian) and nested lists/tuples are
    accepted; group elements and scalars are passed in already encoded as fixed-length bytes.
    The sequence itself is encoded as a list. Native (threshold/_hashing.c) for the exact types;
    any other accepted type (subclasses, bytearray, memoryview, gmpy2 mpz) takes the reference.
    """
    data = _hashing.encode(items)
    return _reference_encode(items) if data is NotImplemented else data


def _reference_encode(items: tuple) -> bytes:
    """The encoding in Python, the spec's reference: parts are collected and joined once."""
    out = [_TAG_LIST, _length(len(items))]
    for value in items:
        _emit(out, value)
    return b"".join(out)


def _emit(out: list[bytes], value: Encodable) -> None:
    t = type(value)
    if t is bytes:  # the common cases first: encoded elements and scalars, lists of them, tags, ints
        out += (_TAG_BYTES, _length(len(value)), value)  # type: ignore[arg-type]
    elif t is list or t is tuple:
        out += (_TAG_LIST, _length(len(value)))  # type: ignore[arg-type]
        for v in value:  # type: ignore[union-attr]
            if type(v) is bytes:
                out += (_TAG_BYTES, _length(len(v)), v)
            else:
                _emit(out, v)
    elif t is str:
        data = value.encode("utf-8")  # type: ignore[union-attr]
        out += (_TAG_STR, _length(len(data)), data)
    elif t is int:
        _emit_int(out, value)  # type: ignore[arg-type]
    else:
        _emit_other(out, value)


def _emit_int(out: list[bytes], value: int) -> None:
    if value < 0:
        raise TypeError("negative integers are not encodable")
    data = value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")
    out += (_TAG_INT, _length(len(data)), data)


def _emit_other(out: list[bytes], value: Any) -> None:
    """Subclasses and the other accepted types, spelled like their base type."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        out += (_TAG_BYTES, _length(len(data)), data)
    elif isinstance(value, str):
        data = value.encode("utf-8")
        out += (_TAG_STR, _length(len(data)), data)
    elif isinstance(value, bool):
        raise TypeError("booleans are not encodable: use 0 or 1")
    elif isinstance(value, int) or type(value).__name__ == "mpz":
        _emit_int(out, int(value))
    elif isinstance(value, (list, tuple)):
        _emit(out, list(value))
    else:
        raise TypeError(f"cannot encode value of type {type(value).__name__}")


def canonical_json(obj: Any) -> bytes:
    """The one JSON serialization of records and messages (Contracts: Record)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def int_to_hex(value: int, size: int) -> str:
    """Fixed-length lowercase hex of a non-negative integer in `size` bytes."""
    return int(value).to_bytes(size, "big").hex()


def hex_bytes(text: Any, field: str, size: int | None = None) -> bytes:
    """Parse lowercase hex (the one spelling: no whitespace, no prefix, no upper case); `size` in bytes if fixed.
    Native (threshold/_hashing.c: every parser of records and messages reads its hex here)."""
    data = _hashing.unhex(text, size)
    if type(data) is bytes:
        return data
    if data == 1:
        raise DecodeError(field, f"expected a hex string, got {type(text).__name__}")
    if data == 2:
        raise DecodeError(field, f"expected {2 * size} hex characters, got {len(text)}")
    raise DecodeError(field, "expected lowercase hex digits only")


def hex_list(items: Any, field: str, size: int, n: int) -> list[bytes]:
    """A JSON list of exactly n lowercase hex values of `size` bytes each, in one native call; `field[i]` names a bad
    item with the message `hex_bytes` gives it."""
    if not isinstance(items, list) or len(items) != n:
        raise DecodeError(field, f"expected a list of {n} items")
    out = _hashing.unhex_list(items, size)
    if type(out) is list:
        return out
    hex_bytes(items[out], f"{field}[{out}]", size)  # raises, naming what is wrong
    raise AssertionError("unhex_list refused an item that hex_bytes accepts")


def hex_ints(items: Any, field: str, size: int, n: int, bound: int, above: str) -> tuple[int, ...]:
    """A JSON list of exactly n lowercase hex values of `size` bytes each, as big-endian integers below `bound`, in
    one native call; `field[i]` names a bad item with the message `hex_bytes` gives it, or `above` if too large."""
    if not isinstance(items, list) or len(items) != n:
        raise DecodeError(field, f"expected a list of {n} items")
    out = _hashing.unhex_ints(items, size, bound)
    if type(out) is tuple:
        return out
    hex_bytes(items[out], f"{field}[{out}]", size)  # raises if malformed
    raise DecodeError(f"{field}[{out}]", above)


def hex_to_int(text: Any, size: int, field: str) -> int:
    """Parse fixed-length lowercase hex of `size` bytes; errors name `field`."""
    return int.from_bytes(hex_bytes(text, field, size), "big")
