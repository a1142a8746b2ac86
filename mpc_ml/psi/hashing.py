"""Hash to curve25519: RFC 9380 encode_to_curve (curve25519_XMD:SHA-512_ELL2_NU_), x-only.

The output is the Montgomery u-coordinate of map_to_curve_elligator2(hash_to_field(msg)),
without clear_cofactor: every scalar applied to it is an X25519-clamped multiple of 8,
which removes the torsion component anyway. `clear_cofactor_u` gives RFC 9380's P.x.

Why the nonuniform encoding (one Elligator 2 map) rather than hash_to_curve (two maps and
a point addition): the DH-PSI argument needs a hash whose outputs have unknown discrete
logs and whose map can be inverted on a constant fraction of points, so a simulator can
program it; a single Elligator 2 map has both (CPace derives its X25519 generator the same
way). Measured here, the RO variant costs about two X25519 multiplications per item (two maps
with square roots and a point addition); the NU variant as `encode_items` computes it (two
SHA-512, one Jacobi symbol, the inversion shared by the batch) about 0.15 of one.
"""

from __future__ import annotations

import hashlib

import gmpy2
from gmpy2 import mpz

P = mpz(2**255 - 19)
A = 486662
DST = b"QUORUM-PSI-V1-with-curve25519_XMD:SHA-512_ELL2_NU_"
_L = 48  # ceil((ceil(log2(p)) + 128) / 8): hash_to_field bytes per field element


def _suffixes(dst: bytes) -> tuple[bytes, bytes]:
    """The constant tails of expand_message_xmd's two SHA-512 inputs for 48 output bytes."""
    if len(dst) > 255:
        raise ValueError("domain separation tag longer than 255 bytes")
    dst_prime = dst + bytes([len(dst)])
    return _L.to_bytes(2, "big") + b"\x00" + dst_prime, b"\x01" + dst_prime


def hash_to_field(msg: bytes, dst: bytes = DST) -> mpz:
    """RFC 9380 hash_to_field with expand_message_xmd(SHA-512), one element of GF(2^255-19)."""
    tail0, tail1 = _suffixes(dst)
    b0 = hashlib.sha512(bytes(128) + msg + tail0).digest()
    b1 = hashlib.sha512(b0 + tail1).digest()
    return mpz(int.from_bytes(b1[:_L], "big")) % P


def map_to_curve_u(u: mpz) -> mpz:
    """RFC 9380 map_to_curve_elligator2_curve25519, u-coordinate only (Z = 2)."""
    # 1 + 2u^2 is never 0: -1/2 is not a square mod p, so inv0's special case cannot occur.
    x1 = (-A * gmpy2.invert((1 + 2 * u * u) % P, P)) % P
    if gmpy2.jacobi((x1 * (x1 * (x1 + A) + 1)) % P, P) == -1:
        return (-x1 - A) % P
    return x1


def encode_items(msgs: list[bytes], dst: bytes = DST) -> bytes:
    """The 32-byte little-endian u-coordinates of encode_to_curve for each message, concatenated.

    The same steps as `map_to_curve_u(hash_to_field(msg))`, with the n inversions of 1 + 2u^2
    replaced by one (Montgomery's trick: 3(n-1) multiplications) and the square test on
    x1 = -A/(1 + 2u^2) done by a Jacobi symbol, which costs less than a square root.
    """
    tail0, tail1 = _suffixes(dst)
    zpad = hashlib.sha512(bytes(128))
    sha512, jacobi, load, p, a = hashlib.sha512, gmpy2.jacobi, mpz.from_bytes, P, A
    denominators, prefix, acc = [], [], mpz(1)
    for msg in msgs:
        h = zpad.copy()
        h.update(msg + tail0)
        u = load(sha512(h.digest() + tail1).digest()[:_L], "big")
        d = (2 * u * u + 1) % p  # never 0: -1/2 is not a square mod p
        denominators.append(d)
        prefix.append(acc)
        acc = acc * d % p
    scaled = -a * gmpy2.invert(acc, p)  # -A / (d_0 ... d_{n-1})
    out = [b""] * len(msgs)
    for i in range(len(msgs) - 1, -1, -1):
        x1 = scaled * prefix[i] % p  # -A / d_i
        scaled = scaled * denominators[i] % p  # -A / (d_0 ... d_{i-1})
        if jacobi(x1 * (x1 * (x1 + a) + 1), p) < 0:
            x1 = (-a - x1) % p
        out[i] = x1.to_bytes(32, "little")
    return b"".join(out)


def clear_cofactor_u(u: mpz) -> mpz:
    """The u-coordinate of 8*Q from that of Q (three x-only doublings), as RFC 9380's clear_cofactor."""
    x = mpz(u)
    for _ in range(3):
        x = ((x * x - 1) ** 2 * gmpy2.invert((4 * x * (x * x + A * x + 1)) % P, P)) % P
    return x
