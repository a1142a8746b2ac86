"""The SecAgg+ neighbour graph: a ring over a pseudorandom order of the clients, fixed by their keys."""

from __future__ import annotations

import hashlib


def neighbours(clients: list[int], degree: int, seed: bytes) -> dict[int, set[int]]:
    """Each client's neighbours (itself excluded): degree/2 on each side of a shuffled ring.

    `degree` >= len(clients) - 1 gives the complete graph (classic SecAgg).
    """
    if degree >= len(clients) - 1:
        return {u: set(clients) - {u} for u in clients}
    order = sorted(clients, key=lambda u: hashlib.sha256(seed + u.to_bytes(4, "big")).digest())
    half, size = degree // 2, len(order)
    graph: dict[int, set[int]] = {}
    for pos, u in enumerate(order):
        graph[u] = {order[(pos + step) % size] for step in range(-half, half + 1) if step}
    return graph
