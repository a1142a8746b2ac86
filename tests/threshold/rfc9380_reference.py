"""RFC 9380 expand_message_xmd with SHA-256 in plain Python: the oracle the native hashing is tested against."""

from __future__ import annotations

import hashlib


def oracle_xmd(msg: bytes, dst: bytes, length: int) -> bytes:
    """RFC 9380 section 5.3.1 with SHA-256, as threshold.hashing computed it in Python."""
    ell = -(-length // 32)
    if ell > 255 or length > 65535:
        raise ValueError("requested output too long")
    dst_prime = dst + bytes([len(dst)])
    b0 = hashlib.sha256(bytes(64) + msg + length.to_bytes(2, "big") + b"\x00" + dst_prime).digest()
    b = [hashlib.sha256(b0 + b"\x01" + dst_prime).digest()]
    for i in range(2, ell + 1):
        b.append(hashlib.sha256(bytes(x ^ y for x, y in zip(b0, b[-1])) + bytes([i]) + dst_prime).digest())
    return b"".join(b)[:length]
