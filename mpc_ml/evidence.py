"""Evidence for an opened output: every party's Ed25519-signed share; `verify` re-checks it.

The evidence is a JSON-ready dict: the session and output label, (n, t), the ring's primes, the
fixed-point precision and shape, each party's packed share and signature, and the parties'
verification keys. verify() checks every signature, that the shares lie on one polynomial of
degree t (naming the party where the error can be located), and recomputes the value.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from fractions import Fraction
from typing import Any

import numpy as np
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from .errors import EvidenceError, ShareCheckError
from .ring import Ring, primes_below_2_21

DOMAIN = b"quorum-mpc-output-share-v2"
VERSION = 2
MAX_PRIMES = 4096  # above any ring make_params or an exact regression of up to ~340 features uses; bounds verify()
# (Ring(4096) takes ~4 s to build: the cost a hostile evidence can impose)
MAX_PARTIES = 64  # far above what PRSS can run (C(n, t) seeds); verify() costs ~n^3 (1 s at 300, hours at 10^4)
META_FIELDS = ("version", "session", "label", "n", "t", "primes", "frac_bits", "shape", "receivers", "encoding")


def metadata(session: bytes, label: int, n: int, t: int, ring: Ring, frac_bits: int, shape: tuple[int, ...],
             receivers: list[int], bounds: tuple[int, int] | None = None) -> dict:
    """The signed metadata of one opening (every evidence field except shares, signatures and keys).

    encoding: "fixed" (fixed point with frac_bits), or a rational n/d with |n| <= num_bound,
    0 < d <= den_bound recovered from the residue (exact regression coefficients; `bounds`).
    """
    encoding: Any = "fixed" if bounds is None else {"kind": "rational", "num_bound": str(bounds[0]),
                                                     "den_bound": str(bounds[1])}
    return {"version": VERSION, "session": session.hex(), "label": label, "n": n, "t": t,
            "primes": list(ring.primes), "frac_bits": frac_bits, "shape": [int(s) for s in shape],
            "receivers": list(receivers), "encoding": encoding}


def signed_message(meta: dict, party: int, share: bytes) -> bytes:
    """The bytes a party signs for its share: a hash of all the opening's metadata, the party, the share."""
    canon = json.dumps({k: meta[k] for k in META_FIELDS}, sort_keys=True, separators=(",", ":"))
    head = DOMAIN + hashlib.sha256(canon.encode()).digest() + party.to_bytes(4, "big")
    return head + hashlib.sha256(share).digest()


def check_signature(vk: bytes, meta: dict, party: int, share: bytes, sig: bytes) -> bool:
    """True iff sig is party's signature on its share under the metadata `meta`."""
    try:
        VerifyKey(vk).verify(signed_message(meta, party, share), sig)
        return True
    except (BadSignatureError, ValueError):
        return False


def decode_value(ring: Ring, value: np.ndarray, frac_bits: int) -> np.ndarray:
    """Residues (1, K, *shape) of a fixed-point value -> float64 array (exact lift beyond int64)."""
    shape = value.shape[2:]
    flat = value.reshape(1, ring.k, -1)
    ints = ring.to_int64(flat)[0]
    out = ints.astype(np.float64)
    wrapped = np.flatnonzero(np.any(ring.from_int64(ints)[0] != flat[0], axis=0))
    if wrapped.size:  # |value| >= 2^63 units: centre the exact CRT lift instead
        half = ring.modulus // 2
        exact = ring.crt(flat[0][:, wrapped])
        out[wrapped] = [float(v - ring.modulus if v > half else v) for v in exact]
    return out.reshape(shape) / float(1 << frac_bits)


def decode_rational(ring: Ring, value: np.ndarray, bounds: tuple[int, int]) -> np.ndarray | None:
    """Residues (1, K, *shape) of exact rationals -> float64 array (None if one is out of bounds)."""
    from .protocols.exact import rational  # local: protocols import this module

    out = []
    for v in np.ravel(np.array(ring.crt(value[0]), dtype=object)):
        nd = rational(int(v), ring.modulus, *bounds)
        if nd is None:
            return None
        out.append(float(Fraction(*nd)))
    return np.array(out, dtype=np.float64).reshape(value.shape[2:])


def _bounds(evidence: dict) -> tuple[int, int] | None:
    """The rational bounds of the evidence's encoding (None for fixed point)."""
    enc = _field(evidence, "encoding", object)
    if enc == "fixed":
        return None
    if not isinstance(enc, dict) or set(enc) != {"kind", "num_bound", "den_bound"} or enc["kind"] != "rational":
        raise EvidenceError("evidence field 'encoding' is neither 'fixed' nor a rational encoding")
    raw = enc["num_bound"], enc["den_bound"]  # decimal strings, as metadata() writes them (beyond JSON's safe ints)
    if not all(isinstance(b, str) and b.isascii() and b.isdigit() and b[0] != "0" and len(b) <= 4096 for b in raw):
        raise EvidenceError("evidence encoding has malformed rational bounds "
                            "(not decimal strings of positive integers)")
    return int(raw[0]), int(raw[1])


def build(meta: dict, shares: list[bytes], sigs: list[bytes], vks: list[bytes]) -> dict:
    """The evidence dict of one opening: its signed metadata, the shares, signatures and keys."""
    return dict(meta, shares=[s.hex() for s in shares], signatures=[s.hex() for s in sigs],
                verify_keys=[v.hex() for v in vks])


def _field(evidence: dict, name: str, kind: type) -> Any:
    if not isinstance(evidence, dict) or name not in evidence:
        raise EvidenceError(f"evidence lacks field {name!r}")
    val = evidence[name]
    if not isinstance(val, kind) or isinstance(val, bool):
        raise EvidenceError(f"evidence field {name!r} has type {type(val).__name__}, expected {kind.__name__}")
    return val


def _key_bytes(value: Any, what: str) -> bytes:
    """A key or session given by the caller: bytes, or lowercase hex as evidence stores them."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return _hex(value, what)
    raise EvidenceError(f"{what}: expected bytes or hex text, got {type(value).__name__}")


def _hex(s: Any, what: str) -> bytes:
    try:
        return bytes.fromhex(s)
    except (TypeError, ValueError):
        raise EvidenceError(f"evidence {what} is not hex") from None


def _ring_of(primes: list) -> Ring:
    """The ring of the primes an evidence names: the first k of this version's primes, some left out (an exact
    solve leaves out those dividing its determinant), descending; the k within MAX_PRIMES."""
    canon = primes_below_2_21(MAX_PRIMES)
    where = {q: i for i, q in enumerate(canon)}
    pos = [where.get(q) if isinstance(q, int) and not isinstance(q, bool) else None for q in primes]
    if None in pos or any(x >= y for x, y in zip(pos, pos[1:])):
        raise EvidenceError("evidence names a ring this version does not use")
    span = pos[-1] + 1
    return Ring(span, tuple(sorted(set(range(span)) - set(pos))))


def verify(evidence: dict, value: Any = None, verify_keys: list[bytes] | None = None,
           atol: float = 0.0, session: bytes | None = None, label: int | None = None) -> np.ndarray:
    """Check signed output shares; return the value (raise EvidenceError if anything fails).

    value: the claimed output, compared with the recomputed one (within atol);
    verify_keys: the parties' keys as the verifier knows them (mpc_ml.party_keys(peers_file)); without them the
    evidence is checked against the keys it carries, which anyone can choose (a UserWarning says so);
    session, label: the run (Runtime.session) and output number the verifier expects, if known.
    """
    from .protocols.shamir import reconstruct  # local: protocols import this module

    if _field(evidence, "version", int) != VERSION:
        raise EvidenceError(f"unknown evidence version (this verifier reads version {VERSION})")
    n, t = _field(evidence, "n", int), _field(evidence, "t", int)
    ev_label, frac = _field(evidence, "label", int), _field(evidence, "frac_bits", int)
    primes = _field(evidence, "primes", list)
    shape = tuple(_field(evidence, "shape", list))
    ev_session = _hex(_field(evidence, "session", str), "session")
    shares = [_hex(s, "share") for s in _field(evidence, "shares", list)]
    sigs = [_hex(s, "signature") for s in _field(evidence, "signatures", list)]
    vks = [_hex(s, "verify key") for s in _field(evidence, "verify_keys", list)]
    if not 3 <= n <= MAX_PARTIES:
        raise EvidenceError(f"evidence field 'n' is {n}; verify() reads evidence of 3 to {MAX_PARTIES} parties")
    if not (0 < t and 2 * t < n and len(shares) == len(sigs) == len(vks) == n):
        raise EvidenceError("evidence has inconsistent party counts")
    if not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape) or not 0 < frac < 64:
        raise EvidenceError("evidence has a malformed shape or precision")
    receivers = _field(evidence, "receivers", list)
    if not receivers or any(not isinstance(r, int) or isinstance(r, bool) for r in receivers) \
            or receivers != sorted(set(receivers)) or not 0 <= receivers[0] <= receivers[-1] < n:
        raise EvidenceError("evidence field 'receivers' is not a sorted list of distinct party indices")
    if not 0 < len(primes) <= MAX_PRIMES:
        raise EvidenceError(f"evidence names {len(primes)} primes; at most {MAX_PRIMES} are allowed")
    bounds = _bounds(evidence)
    ring = _ring_of(primes)
    if session is not None and _key_bytes(session, "session") != ev_session:
        raise EvidenceError("the evidence is from another run (session differs from the expected one)")
    if label is not None and label != ev_label:
        raise EvidenceError(f"the evidence is of output {ev_label}, not of the expected output {label}")
    if verify_keys is None:
        warnings.warn("mpc_ml.verify: evidence checked against the keys it carries, which anyone can choose; pass "
                      "verify_keys=mpc_ml.party_keys(peers_file) to check that the deployment's parties signed it",
                      UserWarning, stacklevel=2)
    elif [_key_bytes(k, "verify_keys") for k in verify_keys] != vks:
        raise EvidenceError("verification keys in the evidence are not the expected ones")
    meta = metadata(ev_session, ev_label, n, t, ring, frac, shape, receivers, bounds)
    for j in range(n):
        if not check_signature(vks[j], meta, j, shares[j], sigs[j]):
            raise EvidenceError(f"signature of party {j} on its share does not verify")
    try:
        stack = np.stack([ring.unpack(s, shape) for s in shares])
    except ValueError as exc:
        raise EvidenceError(f"malformed share: {exc}") from None
    try:
        val = reconstruct(ring, stack, t, check=True)[None]
    except ShareCheckError as exc:
        raise EvidenceError(f"shares are inconsistent: {exc}") from None
    out = decode_value(ring, val, frac) if bounds is None else decode_rational(ring, val, bounds)
    if out is None:
        raise EvidenceError("the shares open to a residue that is no rational within the stated bounds")
    if value is not None:
        claimed = np.asarray(value)  # a value opened as float32 (torch's default) is compared in float32
        if claimed.dtype.kind not in "biuf" or not np.all(np.isfinite(claimed)):
            raise EvidenceError("the claimed value must be real and finite (no complex, NaN or infinite entry)")
        narrow = claimed.dtype == np.float32  # float16 would make distinct values equal (both inf, say)
        expected = out.astype(claimed.dtype) if narrow else out
        claimed = claimed.astype(np.float64)
        if claimed.shape != expected.shape or not np.allclose(claimed, expected, rtol=0, atol=atol):
            raise EvidenceError("the claimed value differs from the value the shares open to")
    return out
