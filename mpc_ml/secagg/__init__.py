"""Secure aggregation (Bonawitz et al. 2017, SecAgg+ neighbour graph) with a verifiable transcript.

`aggregate(updates, dropouts=..., threshold=...)` runs a whole session here; `SecAggClient` and
`SecAggServer` run it over any transport as byte messages; `verify(transcript)` replays a
published transcript and recomputes the aggregate.

Threat model: the server learns only the sum of the survivors' updates, even if it lies about
who dropped. A client masks only with shares from at least threshold - 1 neighbours (so that a
server withholding shares cannot isolate its input), confirms one unmask request by signature
(Bonawitz's consistency check), and answers it only once threshold clients of its neighbourhood,
itself included, have confirmed the same request; it never reveals both secrets of a client.
Thresholds must exceed half of each neighbourhood (the client and its neighbours), so two
stories cannot each collect enough confirmations in one neighbourhood. Against a server that
also forges clients' keys, give every client the others' registered verify keys (`peer_keys`, a
PKI; `aggregate` does); without them the server is trusted to relay keys (the semi-honest
model). With c clients colluding with the server, privacy needs a threshold above
(neighbourhood size + c) / 2. In a SecAgg+ graph (neighbours below clients - 1) the
confirmations are local to each neighbourhood: a server could still tell different stories to
parts of the graph whose every client has a confirming majority of its own neighbourhood inside
its part; the random graph, unknown until every key is advertised, makes that unlikely, as in
Bell et al. (CCS 2020). The unmasked sum is refused when it exceeds what quantised levels can
reach; a client that masks other in-range values is not detected (no per-client range proofs).
"""

from .api import aggregate
from .client import SecAggClient
from .errors import DropoutError, SecAggError
from .quantize import Quantizer
from .server import AggregateResult, SecAggServer, make_params
from .transcript import from_json, to_json, verify

__all__ = [
    "AggregateResult",
    "DropoutError",
    "Quantizer",
    "SecAggClient",
    "SecAggError",
    "SecAggServer",
    "aggregate",
    "from_json",
    "make_params",
    "to_json",
    "verify",
]
