"""The rounds of a secure-aggregation session that most protocol tests run honestly."""

from __future__ import annotations

from collections.abc import Mapping

from mpc_ml.secagg import SecAggClient, SecAggServer
from mpc_ml.secagg.messages import UnmaskRequest


def through_shares(server: SecAggServer, clients: Mapping[int, SecAggClient]) -> tuple[list[bytes], dict[int, list[bytes]]]:
    """Every client advertises its keys, then shares them: the published key list and the Shares messages routed
    to each client."""
    for c in clients.values():
        server.receive(c.advertise())
    keys = server.keys_round_done()
    for c in clients.values():
        server.receive(c.share_keys(keys))
    return keys, server.shares_round_done()


def answer_all(server: SecAggServer, clients: Mapping[int, SecAggClient], request: bytes) -> list[bytes]:
    """Every survivor of the request confirms it, then answers it with the confirmations; returns those."""
    alive = [c for u, c in clients.items() if u in UnmaskRequest.from_bytes(request).survivors]
    for c in alive:
        server.receive(c.confirm(request))
    confirmations = server.consistency_round_done()
    for c in alive:
        server.receive(c.unmask(request, confirmations))
    return confirmations
