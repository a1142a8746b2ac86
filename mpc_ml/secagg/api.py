"""One-call secure aggregation: every client and the server in this process, messages as bytes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .client import SecAggClient
from .errors import SecAggError
from .server import AggregateResult, SecAggServer, make_params

# When a dropped client stops: after advertising keys, after sharing them, after its masked input.
AFTER_KEYS, AFTER_SHARES, AFTER_MASKED = 1, 2, 3


def _dropout_rounds(dropouts: Iterable[int] | Mapping[int, int], clients: int) -> dict[int, int]:
    """Client index (0-based) -> the round after which it stops."""
    rounds = dict(dropouts) if isinstance(dropouts, Mapping) else {i: AFTER_SHARES for i in dropouts}
    for i, r in rounds.items():
        if not isinstance(i, int) or not 0 <= i < clients:
            raise SecAggError(f"dropout {i!r} is not a client index 0..{clients - 1}")
        if r not in (AFTER_KEYS, AFTER_SHARES, AFTER_MASKED):
            raise SecAggError(f"client {i} drops after round {r!r}; use 1 (keys), 2 (shares) or 3 (masked input)")
    return rounds


def aggregate(
    updates: Sequence[np.ndarray],
    dropouts: Iterable[int] | Mapping[int, int] = (),
    threshold: int | None = None,
    *,
    neighbours: int | None = None,
    clip: float = 1.0,
    bits: int | None = None,
) -> AggregateResult:
    """Sum the updates of the clients that do not drop, without revealing any single update.

    `dropouts`: indices that stop after sharing keys (before sending their input), or a map
    index -> 1, 2 or 3 (stop after keys, after shares, after the masked input). `threshold`:
    shares needed to rebuild a secret, default a majority of each neighbourhood. `neighbours`:
    SecAgg+ degree (even), default all others. Values are clipped to [-clip, clip]; the
    result is within `error_bound` of the exact sum.
    """
    if len(updates) < 2:
        raise SecAggError(f"secure aggregation needs at least 2 clients, got {len(updates)}")
    vectors = [np.asarray(u, dtype=np.float64).ravel() for u in updates]
    if len({v.shape for v in vectors}) != 1:
        raise SecAggError("all updates must have the same number of values")
    stop = _dropout_rounds(dropouts, len(vectors))
    params = make_params(len(vectors), len(vectors[0]), threshold=threshold, neighbours=neighbours, clip=clip, bits=bits)
    signing = {i + 1: Ed25519PrivateKey.generate() for i in range(len(vectors))}
    registry = {u: k.public_key().public_bytes_raw() for u, k in signing.items()}  # the PKI every client knows
    server = SecAggServer(params, registry)
    clients = {u: SecAggClient(u, params, signing[u], registry) for u in signing}

    def active(round_: int) -> list[int]:
        return [u for u in clients if stop.get(u - 1, 99) >= round_]

    for u in active(1):
        server.receive(clients[u].advertise())
    keys = server.keys_round_done()
    for u in active(2):
        server.receive(clients[u].share_keys(keys))
    routed = server.shares_round_done()
    for u in active(3):
        server.receive(clients[u].masked_input(vectors[u - 1], routed[u], server.quantizer))
    request = server.masked_round_done()
    for u in active(4):
        server.receive(clients[u].unmask(request))
    return server.finish()
