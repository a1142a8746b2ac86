"""Domain-separated hashing: RFC 9380 expand_message_xmd (SHA-256) and hash_to_field,
so that challenges, nonces and derived scalars carry no modulo bias."""

from __future__ import annotations

import hashlib
from functools import lru_cache

from threshold import _hashing
from threshold.encoding import Encodable, encode

PROTOCOL = b"QUORUM-V1"
SECURITY_BITS = 128  # the k of RFC 9380: extra bits drawn beyond the modulus


def dst_for(tag: str) -> bytes:
    """The domain separation tag of one use: protocol name and version, then the use."""
    dst = PROTOCOL + b"-" + tag.encode("ascii")
    if len(dst) > 255:
        raise ValueError("domain separation tag too long")
    return dst


def expand_message_xmd(msg: bytes, dst: bytes, length: int) -> bytes:
    """RFC 9380 section 5.3.1 with SHA-256 (native: threshold/_hashing.c)."""
    return _hashing.expand_message_xmd(msg, dst, length)


def hash_to_field(msg: bytes, dst: bytes, modulus: int) -> int:
    """RFC 9380 hash_to_field with one output: L = ceil((ceil(log2 p) + k) / 8) bytes, mod p."""
    length = -(-(modulus.bit_length() + SECURITY_BITS) // 8)
    return int.from_bytes(expand_message_xmd(msg, dst, length), "big") % modulus


_cached_dst = lru_cache(maxsize=256)(dst_for)  # tags are the code's constants: a challenge needs no new DST


def hash_to_scalar(modulus: int, tag: str, *items: Encodable) -> int:
    """The one hash-to-scalar: tag-separated, over the canonical encoding of `items`.

    Natively in one call (the encoding streamed into SHA-256), unless an item or the modulus needs the Python
    reference: then hash_to_field(encode(*items), ...), the same value."""
    c = _hashing.hash_to_scalar(modulus, _cached_dst(tag), items)
    return hash_to_field(encode(*items), dst_for(tag), modulus) if c is NotImplemented else c


def sha256(data: bytes) -> bytes:
    """SHA-256 digest (record hashes, tracking codes)."""
    return hashlib.sha256(data).digest()
