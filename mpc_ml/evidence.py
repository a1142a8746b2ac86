"""Evidence for an opened output: every party's Ed25519-signed share; `verify` re-checks it.

The evidence is a JSON-ready dict: the session and output label, (n, t), the ring's primes, the
fixed-point precision and shape, each party's packed share and signature, and the parties'
verification keys. verify() checks every signature, that the shares lie on one polynomial of
degree t (naming the party where the error can be located), and recomputes the value.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from .errors import EvidenceError, ShareCheckError
from .ring import Ring

DOMAIN = b"quorum-mpc-output-share-v1"


def signed_message(session: bytes, label: int, party: int, shape: tuple[int, ...], share: bytes) -> bytes:
    """The bytes a party signs for its share of output `label` (binds session, party, shape)."""
    head = DOMAIN + session + label.to_bytes(8, "big") + party.to_bytes(4, "big")
    head += len(shape).to_bytes(2, "big") + b"".join(int(s).to_bytes(8, "big") for s in shape)
    return head + hashlib.sha256(share).digest()


def check_signature(vk: bytes, session: bytes, label: int, party: int, shape: tuple[int, ...],
                    share: bytes, sig: bytes) -> bool:
    """True iff sig is party's signature on its share."""
    try:
        VerifyKey(vk).verify(signed_message(session, label, party, shape, share), sig)
        return True
    except (BadSignatureError, ValueError):
        return False


def decode_value(ring: Ring, value: np.ndarray, frac_bits: int) -> np.ndarray:
    """Residues (1, K, *shape) of a fixed-point value -> float64 array."""
    return ring.to_int64(value)[0].astype(np.float64) / float(1 << frac_bits)


def build(session: bytes, label: int, n: int, t: int, ring: Ring, frac_bits: int, shape: tuple[int, ...],
          shares: list[bytes], sigs: list[bytes], vks: list[bytes], receivers: list[int]) -> dict:
    """The evidence dict of one opening."""
    return {"version": 1, "session": session.hex(), "label": label, "n": n, "t": t,
            "primes": list(ring.primes), "frac_bits": frac_bits, "shape": list(shape),
            "receivers": receivers, "shares": [s.hex() for s in shares],
            "signatures": [s.hex() for s in sigs], "verify_keys": [v.hex() for v in vks]}


def _field(evidence: dict, name: str, kind: type) -> Any:
    if not isinstance(evidence, dict) or name not in evidence:
        raise EvidenceError(f"evidence lacks field {name!r}")
    val = evidence[name]
    if not isinstance(val, kind) or isinstance(val, bool):
        raise EvidenceError(f"evidence field {name!r} has type {type(val).__name__}, expected {kind.__name__}")
    return val


def _hex(s: Any, what: str) -> bytes:
    try:
        return bytes.fromhex(s)
    except (TypeError, ValueError):
        raise EvidenceError(f"evidence {what} is not hex") from None


def verify(evidence: dict, value: Any = None, verify_keys: list[bytes] | None = None,
           atol: float = 0.0) -> np.ndarray:
    """Check signed output shares; return the value (raise EvidenceError if anything fails).

    value: the claimed output, compared with the recomputed one (within atol);
    verify_keys: the parties' keys as the verifier knows them (else those in the evidence).
    """
    from .protocols.shamir import reconstruct  # local: protocols import this module

    if _field(evidence, "version", int) != 1:
        raise EvidenceError("unknown evidence version")
    n, t = _field(evidence, "n", int), _field(evidence, "t", int)
    label, frac = _field(evidence, "label", int), _field(evidence, "frac_bits", int)
    primes = _field(evidence, "primes", list)
    shape = tuple(_field(evidence, "shape", list))
    session = _hex(_field(evidence, "session", str), "session")
    shares = [_hex(s, "share") for s in _field(evidence, "shares", list)]
    sigs = [_hex(s, "signature") for s in _field(evidence, "signatures", list)]
    vks = [_hex(s, "verify key") for s in _field(evidence, "verify_keys", list)]
    if not (3 <= n and 0 < t and 2 * t < n and len(shares) == len(sigs) == len(vks) == n):
        raise EvidenceError("evidence has inconsistent party counts")
    if not all(isinstance(s, int) and s >= 0 for s in shape) or not 0 < frac < 64:
        raise EvidenceError("evidence has a malformed shape or precision")
    ring = Ring(len(primes))
    if list(ring.primes) != primes:
        raise EvidenceError("evidence names a ring this version does not use")
    if verify_keys is not None:
        if [bytes(k) for k in verify_keys] != vks:
            raise EvidenceError("verification keys in the evidence are not the expected ones")
    for j in range(n):
        if not check_signature(vks[j], session, label, j, shape, shares[j], sigs[j]):
            raise EvidenceError(f"signature of party {j} on its share does not verify")
    try:
        stack = np.stack([ring.unpack(s, shape) for s in shares])
    except ValueError as exc:
        raise EvidenceError(f"malformed share: {exc}") from None
    try:
        val = reconstruct(ring, stack, t, check=True)[None]
    except ShareCheckError as exc:
        raise EvidenceError(f"shares are inconsistent: {exc}") from None
    out = decode_value(ring, val, frac)
    if value is not None:
        claimed = np.asarray(value, dtype=np.float64)
        if claimed.shape != out.shape or not np.allclose(claimed, out, rtol=0, atol=atol):
            raise EvidenceError("the claimed value differs from the value the shares open to")
    return out
