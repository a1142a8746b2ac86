"""The pure-Python hex reading that `threshold.encoding.hex_bytes` replaced (before threshold._hashing.unhex): the
oracle the native reading must match, refusal for refusal and message for message."""

from __future__ import annotations

from typing import Any

from threshold.errors import DecodeError


def reference_hex_bytes(text: Any, field: str, size: int | None = None) -> bytes:
    """bytes.fromhex, then a refusal of what it tolerates (whitespace, upper case): lowercase hex digits only."""
    if not isinstance(text, str):
        raise DecodeError(field, f"expected a hex string, got {type(text).__name__}")
    if size is not None and len(text) != 2 * size:
        raise DecodeError(field, f"expected {2 * size} hex characters, got {len(text)}")
    try:
        data = bytes.fromhex(text)
    except ValueError:
        data = None
    if data is None or data.hex() != text:
        raise DecodeError(field, "expected lowercase hex digits only")
    return data
