"""One-call secure aggregation: every client and the server in this process, messages as bytes."""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Iterable, Mapping, Sequence, Sized

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
        if not isinstance(i, numbers.Integral) or isinstance(i, bool) or not 0 <= i < clients:
            raise SecAggError(f"dropout {i!r} is not a client index 0..{clients - 1}")
        if r not in (AFTER_KEYS, AFTER_SHARES, AFTER_MASKED):
            raise SecAggError(f"client {i} drops after round {r!r}; use 1 (keys), 2 (shares) or 3 (masked input)")
    return {int(i): r for i, r in rounds.items()}


def _arrays(updates: Sequence[object]) -> list[np.ndarray]:
    """The updates as float64 arrays of one common shape (SecAggError naming a bad update). A mapping is refused:
    iterating {client_id: update} walks its keys and would sum the client ids; so is an iterator, which has no
    length to check."""
    if isinstance(updates, Mapping) or not isinstance(updates, Sized):
        raise SecAggError(f"updates must be a list of vectors (one per client), got a {type(updates).__name__}: "
                          "pass e.g. list(updates.values()) for a dict, list(updates) for an iterator")
    if len(updates) < 2:
        raise SecAggError(f"secure aggregation needs at least 2 clients, got {len(updates)}")
    arrays = []
    for i, u in enumerate(updates):
        if np.iscomplexobj(u):  # np.asarray(..., float64) would drop the imaginary parts with a warning only
            raise SecAggError(f"update {i} is not an array of real numbers: it holds complex values")
        try:
            arrays.append(np.asarray(u, dtype=np.float64))
        except (TypeError, ValueError, OverflowError) as exc:
            raise SecAggError(f"update {i} is not an array of real numbers: {exc}") from None
        if not np.all(np.isfinite(arrays[-1])):
            raise SecAggError(f"update {i} contains NaN or infinity")
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise SecAggError(f"all updates must have the same shape (same number of values), got {sorted(shapes)}")
    return arrays


def _warn_clipped(arrays: list[np.ndarray], clip: float) -> None:
    """Warn that values beyond [-clip, clip] are clipped (the total and its error bound are then the clipped sum's)."""
    over = [i for i, v in enumerate(arrays) if np.any(np.abs(v) > clip)]
    if over:
        count = sum(int(np.count_nonzero(np.abs(arrays[i]) > clip)) for i in over)
        warnings.warn(f"{count} value(s) of updates {over} lie outside [-clip, clip] = [{-clip:g}, {clip:g}] and are "
                      "clipped: the total is the sum of the clipped updates (pass a larger clip to sum them as they are)",
                      stacklevel=3)


def aggregate(
    updates: Sequence[np.ndarray],
    dropouts: Iterable[int] | Mapping[int, int] = (),
    threshold: int | None = None,
    *,
    neighbours: int | None = None,
    clip: float = 1.0,
    bits: int | None = None,
    client_keys: Sequence[Ed25519PrivateKey] | None = None,
    context: bytes | None = None,
) -> AggregateResult:
    """Sum the updates of the clients that do not drop, without revealing any single update.

    `updates`: one array per client, all of one shape, in a list (or a 2-D array, one row per client; a dict is
    refused, pass list(d.values())). `dropouts`: indices that stop after sharing keys (before sending their
    input), or a map index -> 1, 2 or 3 (stop after keys, after shares, after the masked input). `threshold`:
    shares needed to rebuild a secret, default a majority of each neighbourhood. `neighbours`:
    SecAgg+ degree (even), default all others. Values are clipped to [-clip, clip] (with a
    warning when some are outside); the result, shaped as the updates, is within `error_bound`
    of the exact sum of the clipped updates. `client_keys`: each client's Ed25519 signing key, whose public
    halves the clients registered (an auditor passes those to `verify` as peer_keys); default fresh keys, which
    no one registered, so the transcript then shows the arithmetic, not who took part. `context`: the task and
    round (e.g. b"task 7, round 2"), bound into the session so that `verify(..., context=...)` refuses another
    round's transcript.
    """
    arrays = _arrays(updates)
    stop = _dropout_rounds(dropouts, len(arrays))
    params = make_params(len(arrays), arrays[0].shape, threshold=threshold, neighbours=neighbours, clip=clip, bits=bits,
                         context=context)
    _warn_clipped(arrays, clip)
    if client_keys is None:
        client_keys = [Ed25519PrivateKey.generate() for _ in arrays]
    if len(client_keys) != len(arrays) or not all(isinstance(k, Ed25519PrivateKey) for k in client_keys):
        raise SecAggError(f"client_keys must hold one Ed25519 private key per update ({len(arrays)})")
    signing = {i + 1: k for i, k in enumerate(client_keys)}
    registry = {u: k.public_key().public_bytes_raw() for u, k in signing.items()}  # the PKI every client knows
    server = SecAggServer(params, registry)
    clients = {u: SecAggClient(u, params, signing[u], registry, context) for u in signing}

    def active(round_: int) -> list[int]:
        return [u for u in clients if stop.get(u - 1, 99) >= round_]

    for u in active(1):
        server.receive(clients[u].advertise())
    keys = server.keys_round_done()
    for u in active(2):
        server.receive(clients[u].share_keys(keys))
    routed = server.shares_round_done()
    for u in active(3):
        server.receive(clients[u].masked_input(arrays[u - 1], routed[u], server.quantizer))
    request = server.masked_round_done()
    for u in active(4):
        server.receive(clients[u].confirm(request))
    confirmations = server.consistency_round_done()
    for u in active(4):
        server.receive(clients[u].unmask(request, confirmations))
    return server.finish()
