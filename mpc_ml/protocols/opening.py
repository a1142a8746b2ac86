"""Opening an output to its recipients: signed shares, a degree-t consistency check, evidence."""

from __future__ import annotations

import numpy as np

from .. import evidence as ev
from ..errors import InputError, ProtocolError
from ..ring import Ring
from ..runtime import Runtime
from . import shamir


def open_output(rt: Runtime, shares: np.ndarray, dst: int | None, ring: Ring | None = None,
                bounds: tuple[int, int] | None = None) -> tuple[np.ndarray | None, dict | None]:
    """Send each party's signed share to dst (or to all); each recipient checks and decodes.

    ring: the shares' ring (default rt.ring); bounds: (numerator, denominator) bounds of exact
    rationals to recover from the residues (evidence.decode_rational) instead of fixed point.
    """
    receivers = list(range(rt.n)) if dst is None else [rt.check_party(dst, "dst")]
    rt.output_counter += 1
    label = rt.output_counter
    shape = tuple(shares.shape[2:])
    ring = ring or rt.ring
    meta = ev.metadata(rt.session, label, rt.n, rt.t, ring, rt.params.frac_bits, shape, receivers, bounds)
    # one message per party: its packed share followed by its Ed25519 signature on it and `meta`
    msgs = []
    for li, p in enumerate(rt.local_ids):
        packed = ring.pack(shares[li])
        sig = rt.signers[p].sign(ev.signed_message(meta, p, packed)).signature
        msgs.append(np.frombuffer(packed + sig, dtype=np.uint64))
    words = len(msgs[0])
    stack = rt.exchange(np.stack(msgs), [receivers] * rt.n, rt.word_codec, (words,))
    if not any(p in receivers for p in rt.local_ids):
        return None, None
    packed = [stack[j][:-8].tobytes() for j in range(rt.n)]
    sigs = [stack[j][-8:].tobytes() for j in range(rt.n)]
    for j in range(rt.n):
        if not ev.check_signature(rt.verify_keys[j], meta, j, packed[j], sigs[j]):
            raise ProtocolError(f"party {j} sent an output share with an invalid signature", j)
    parts = []
    for j, b in enumerate(packed):
        try:
            parts.append(ring.unpack(b, shape))
        except ValueError as exc:
            raise ProtocolError(f"party {j} sent a malformed output share: {exc}", j) from None
    stack = np.stack(parts)
    value = shamir.reconstruct(ring, stack, rt.t, check=True)[None]
    if bounds is None:
        out = ev.decode_value(ring, value, rt.params.frac_bits)
    else:
        out = ev.decode_rational(ring, value, bounds)
        if out is None:
            raise InputError("rational reconstruction failed: inputs exceed the declared range (value_bound)")
    evidence = ev.build(meta, packed, sigs, rt.verify_keys)
    return out, evidence
