"""The first two rounds of a secure-aggregation session, as most protocol tests start."""

from __future__ import annotations

from collections.abc import Mapping

from mpc_ml.secagg import SecAggClient, SecAggServer


def through_shares(server: SecAggServer, clients: Mapping[int, SecAggClient]) -> tuple[list[bytes], dict[int, list[bytes]]]:
    """Every client advertises its keys, then shares them: the published key list and the Shares messages routed
    to each client."""
    for c in clients.values():
        server.receive(c.advertise())
    keys = server.keys_round_done()
    for c in clients.values():
        server.receive(c.share_keys(keys))
    return keys, server.shares_round_done()
