"""X25519 blinding keys and batch scalar multiplication of u-coordinates (libsodium via PyNaCl).

X25519 was chosen over edwards25519 (`crypto_scalarmult_ed25519_noclamp`) because one
multiplication costs about 21 us here against 63 us. Of the two X25519s reachable from Python,
libsodium's `crypto_scalarmult` (constant-time Montgomery ladder), called through PyNaCl's
compiled cffi module with the scalar and the output buffer allocated once per batch, measured
about 10% faster per point than OpenSSL's through `cryptography`, which needs a key object per
peer point (`X25519PublicKey.from_public_bytes`, about 1.5 us) and an `exchange` call.
Both compute the same function (RFC 7748 X25519); the tests check one against the other.
`to_edwards` and `to_montgomery` carry u-coordinates to and from edwards25519 encodings
(birational map, y = (u - 1) / (u + 1)), where PSI-sum proves its blinding (a DLEQ proof).
Points from a peer are checked to be canonical and on curve25519 (not its twist); small-order
points make libsodium fail (an all-zero result), which is refused. Clamped scalars are
multiples of 8, so torsion components never reach an output. Unblinding multiplies by a
clamped representative of k^-1 mod the group order: a key is drawn until its inverse has one
(about every second draw).
"""

from __future__ import annotations

import secrets

import gmpy2
import numpy as np
from nacl._sodium import ffi, lib  # PyNaCl's compiled libsodium binding (what nacl.bindings wraps)

from .errors import PsiError

P = 2**255 - 19
ELL = 2**252 + 27742317777372353535851937790883648493  # order of the prime-order subgroup
_INV8 = pow(8, -1, ELL)
_A = 486662

if lib.sodium_init() < 0:  # picks the fastest implementation for this CPU (as nacl.bindings does)
    raise ImportError("libsodium failed to initialise")


def _clamped(scalar: int) -> bytes:
    """The 32-byte encoding of an integer that X25519 clamping leaves unchanged."""
    return scalar.to_bytes(32, "little")


def _clamped_representative(residue: int) -> int | None:
    """A clamped scalar (2^254 + 8m, m < 2^251) congruent to `residue` mod ELL, if one exists."""
    m = ((residue - 2**254) * _INV8) % ELL
    return 2**254 + 8 * m if m < 2**251 else None


class BlindingKey:
    """A secret X25519 scalar k with a clamped inverse k' (k*k' = 1 mod ELL) for unblinding."""

    def __init__(self, raw: bytes | None = None) -> None:
        """A fresh key, or the one saved as `raw` (32 bytes from `to_bytes`)."""
        while raw is None:
            candidate = bytearray(secrets.token_bytes(32))
            candidate[0] &= 248
            candidate[31] &= 127
            candidate[31] |= 64
            if _clamped_representative(pow(int.from_bytes(candidate, "little"), -1, ELL)) is not None:
                raw = bytes(candidate)
        k = int.from_bytes(raw, "little") if len(raw) == 32 else 0
        inverse = _clamped_representative(pow(k, -1, ELL)) if k % 8 == 0 and k >> 254 == 1 else None
        if inverse is None:
            raise PsiError("not a saved PSI key (32 bytes, clamped, with a clamped inverse)")
        self._key = ffi.new("unsigned char[32]", raw)
        self._inverse = ffi.new("unsigned char[32]", _clamped(inverse))

    def to_bytes(self) -> bytes:
        """The secret scalar (keep it secret: it is the server's whole key)."""
        return bytes(ffi.buffer(self._key))

    def exponent(self) -> int:
        """k mod the group order: the same multiplication on edwards25519 (for a proof about this key; secret)."""
        return int.from_bytes(ffi.buffer(self._key), "little") % ELL

    def _inverse_bytes(self) -> bytes:
        """The clamped inverse scalar (for tests)."""
        return bytes(ffi.buffer(self._inverse))

    def blind(self, points: bytes) -> bytes:
        """k * P for each 32-byte u-coordinate in `points`."""
        return _multiply(self._key, points)

    def unblind(self, points: bytes) -> bytes:
        """k^-1 * P for each 32-byte u-coordinate of a point in the prime-order subgroup."""
        return _multiply(self._inverse, points)


def _multiply(scalar: object, points: bytes) -> bytes:
    """X25519(scalar, u) for each 32-byte u in `points`; a small-order input is an error."""
    if len(points) % 32:
        raise PsiError(f"points: length {len(points)} is not a multiple of 32")
    out = bytearray(len(points))
    dst, src = ffi.from_buffer("unsigned char[]", out), ffi.from_buffer("unsigned char[]", points)
    mult, failed = lib.crypto_scalarmult, 0
    for i in range(0, len(points), 32):
        failed |= mult(dst + i, scalar, src + i)  # -1 for a small-order input (all-zero result)
    if failed:
        raise PsiError("a point of small order was received")
    return bytes(out)


def check_points(points: bytes, what: str) -> None:
    """Reject u-coordinates that are non-canonical (>= p) or lie on the twist rather than the curve."""
    if len(points) % 32:
        raise PsiError(f"{what}: length {len(points)} is not a multiple of 32")
    limbs = np.frombuffer(points, dtype="<u8").reshape(-1, 4)
    high = limbs[:, 3] >= np.uint64(0x7FFFFFFFFFFFFFFF)
    if high.any():
        for row in np.flatnonzero(high):
            if int.from_bytes(points[32 * row : 32 * row + 32], "little") >= P:
                raise PsiError(f"{what}: point {row} is not a canonical field element")
    p, jacobi, load = P, gmpy2.jacobi, gmpy2.mpz.from_bytes
    for i in range(0, len(points), 32):
        u = load(points[i : i + 32], "little")
        if jacobi(u * (u * (u + _A) + 1), p) < 0:  # jacobi reduces mod p itself
            raise PsiError(f"{what}: point {i // 32} is not on curve25519")


def _inverses(values: list[gmpy2.mpz], what: str) -> list[gmpy2.mpz]:
    """1 / v mod P of each value, with one inversion (Montgomery's trick); a zero is refused, naming its index."""
    prefix, acc = [], gmpy2.mpz(1)
    for i, v in enumerate(values):
        if not v:
            raise PsiError(f"{what}: point {i} has no image on the other curve model")
        prefix.append(acc)
        acc = acc * v % P
    inv, out = gmpy2.invert(acc, P), [gmpy2.mpz(0)] * len(values)
    for i in range(len(values) - 1, -1, -1):
        out[i], inv = inv * prefix[i] % P, inv * values[i] % P
    return out


def to_edwards(points: bytes, what: str) -> list[bytes]:
    """The edwards25519 encodings (y = (u - 1) / (u + 1), sign bit 0) of checked curve25519 u-coordinates: one of
    the two points +-P whose u is given (X25519 does not tell them apart; the choice is fixed for everyone)."""
    us = [gmpy2.mpz.from_bytes(points[i : i + 32], "little") for i in range(0, len(points), 32)]
    return [((u - 1) * w % P).to_bytes(32, "little") for u, w in zip(us, _inverses([(u + 1) % P for u in us], what))]


def to_montgomery(encodings: list[bytes], what: str) -> bytes:
    """The curve25519 u-coordinates (u = (1 + y) / (1 - y)) of edwards25519 encodings, concatenated; the identity
    (y = 1) has none and is refused."""
    ys = [gmpy2.mpz.from_bytes(e, "little") & (2**255 - 1) for e in encodings]
    return b"".join(((1 + y) * w % P).to_bytes(32, "little") for y, w in zip(ys, _inverses([(1 - y) % P for y in ys], what)))
