"""Opening an output to its recipients: signed shares, a degree-t consistency check, evidence."""

from __future__ import annotations

import numpy as np

from .. import evidence as ev
from ..errors import ProtocolError
from ..runtime import Runtime
from . import shamir


def open_output(rt: Runtime, shares: np.ndarray, dst: int | None) -> tuple[np.ndarray | None, dict | None]:
    """Send each party's signed share to dst (or to all); each recipient checks and decodes."""
    receivers = list(range(rt.n)) if dst is None else [rt.check_party(dst, "dst")]
    rt.output_counter += 1
    label = rt.output_counter
    shape = tuple(shares.shape[2:])
    ring = rt.ring
    sigs = np.zeros((rt.L, 8), dtype=np.uint64)
    for li, p in enumerate(rt.local_ids):
        msg = ev.signed_message(rt.session, label, p, shape, ring.pack(shares[li]))
        sigs[li] = np.frombuffer(rt.signers[p].sign(msg).signature, dtype=np.uint64)
    stack = rt.exchange(shares, [receivers] * rt.n, rt.ring_codec, shape)
    sig_stack = rt.exchange(sigs, [receivers] * rt.n, rt.word_codec, (8,))
    if not any(p in receivers for p in rt.local_ids):
        return None, None
    packed = [ring.pack(stack[j]) for j in range(rt.n)]
    for j in range(rt.n):
        if not ev.check_signature(rt.verify_keys[j], rt.session, label, j, shape, packed[j], sig_stack[j].tobytes()):
            raise ProtocolError(f"party {j} sent an output share with an invalid signature", j)
    value = shamir.reconstruct(ring, stack, rt.t, check=True)[None]
    out = ev.decode_value(ring, value, rt.params.frac_bits)
    evidence = ev.build(rt.session, label, rt.n, rt.t, ring, rt.params.frac_bits, shape, packed,
                        [sig_stack[j].tobytes() for j in range(rt.n)], rt.verify_keys, receivers)
    return out, evidence
