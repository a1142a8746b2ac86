"""Domain-separated hashing: RFC 9380 expand_message_xmd (SHA-256) and hash_to_field,
so that challenges, nonces and derived scalars carry no modulo bias."""

from __future__ import annotations

import hashlib

from threshold.encoding import Encodable, encode

PROTOCOL = b"QUORUM-V1"
_B_IN_BYTES = 32  # SHA-256 output
_R_IN_BYTES = 64  # SHA-256 block
SECURITY_BITS = 128  # the k of RFC 9380: extra bits drawn beyond the modulus


def dst_for(tag: str) -> bytes:
    """The domain separation tag of one use: protocol name and version, then the use."""
    dst = PROTOCOL + b"-" + tag.encode("ascii")
    if len(dst) > 255:
        raise ValueError("domain separation tag too long")
    return dst


def expand_message_xmd(msg: bytes, dst: bytes, length: int) -> bytes:
    """RFC 9380 section 5.3.1 with SHA-256."""
    ell = -(-length // _B_IN_BYTES)
    if ell > 255 or length > 65535:
        raise ValueError("requested output too long")
    dst_prime = dst + bytes([len(dst)])
    msg_prime = bytes(_R_IN_BYTES) + msg + length.to_bytes(2, "big") + b"\x00" + dst_prime
    b0 = hashlib.sha256(msg_prime).digest()
    b = [hashlib.sha256(b0 + b"\x01" + dst_prime).digest()]
    x0 = int.from_bytes(b0, "big")
    for i in range(2, ell + 1):
        prev = (x0 ^ int.from_bytes(b[-1], "big")).to_bytes(_B_IN_BYTES, "big")
        b.append(hashlib.sha256(prev + bytes([i]) + dst_prime).digest())
    return b"".join(b)[:length]


def hash_to_field(msg: bytes, dst: bytes, modulus: int) -> int:
    """RFC 9380 hash_to_field with one output: L = ceil((ceil(log2 p) + k) / 8) bytes, mod p."""
    length = -(-(modulus.bit_length() + SECURITY_BITS) // 8)
    return int.from_bytes(expand_message_xmd(msg, dst, length), "big") % modulus


def hash_to_scalar(modulus: int, tag: str, *items: Encodable) -> int:
    """The one hash-to-scalar: tag-separated, over the canonical encoding of `items`."""
    return hash_to_field(encode(*items), dst_for(tag), modulus)


def sha256(data: bytes) -> bytes:
    """SHA-256 digest (record hashes, tracking codes)."""
    return hashlib.sha256(data).digest()
