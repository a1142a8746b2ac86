"""Pure-Python edwards25519 reference (RFC 8032 decoding, affine addition, double-and-add) that
the native extension's tests compare against."""

from __future__ import annotations

P = 2**255 - 19
D = (-121665 * pow(121666, -1, P)) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)


def ref_decode(b: bytes):
    """RFC 8032 decoding, strict: None if non-canonical or off the curve."""
    y = int.from_bytes(b, "little") & ((1 << 255) - 1)
    sign = b[31] >> 7
    if y >= P:
        return None
    u, v = (y * y - 1) % P, (D * y * y + 1) % P
    x = u * pow(v, 3, P) * pow(u * pow(v, 7, P), (P - 5) // 8, P) % P
    if v * x * x % P == (-u) % P:
        x = x * SQRT_M1 % P
    if v * x * x % P != u:
        return None
    if x == 0 and sign:
        return None
    if x & 1 != sign:
        x = P - x
    return (x, y)


def ref_encode(pt) -> bytes:
    x, y = pt
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def ref_add(a, b):
    (x1, y1), (x2, y2) = a, b
    t = D * x1 * x2 * y1 * y2 % P
    return ((x1 * y2 + y1 * x2) * pow(1 + t, -1, P) % P, (y1 * y2 + x1 * x2) * pow(1 - t, -1, P) % P)


def ref_mul(pt, e: int):
    acc, e = (0, 1), int(e)
    for bit in bin(e)[2:] if e else "":
        acc = ref_add(acc, acc)
        if bit == "1":
            acc = ref_add(acc, pt)
    return acc


L = 2**252 + 27742317777372353535851937790883648493  # the prime order of the main subgroup


def order8_point():
    """A point of order 8 (it generates the torsion subgroup): [L] of a random curve point, until its order is 8."""
    import secrets

    while True:
        pt = ref_decode(secrets.token_bytes(32))
        if pt is None:
            continue
        t = ref_mul(pt, L)
        if ref_mul(t, 4) != (0, 1):
            return t


# ----------------------------------------------------------------------------- libsodium's answers, for comparison
IDENTITY = (1).to_bytes(32, "little")


def sodium_mul(point: bytes, e: int) -> bytes:
    """[e]point by libsodium, for a point of the prime-order subgroup (e is taken mod L)."""
    import nacl.bindings as sodium

    e %= L
    if e == 0 or point == IDENTITY:
        return IDENTITY
    return sodium.crypto_scalarmult_ed25519_noclamp(e.to_bytes(32, "little"), point)


def sodium_sum(points) -> bytes:
    """The sum of prime-order points by libsodium (identities skipped)."""
    import nacl.bindings as sodium

    acc = IDENTITY
    for q in points:
        if q != IDENTITY:
            acc = q if acc == IDENTITY else sodium.crypto_core_ed25519_add(acc, q)
    return acc
