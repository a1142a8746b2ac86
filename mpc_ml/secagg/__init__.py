"""Secure aggregation (Bonawitz et al. 2017, SecAgg+ neighbour graph) with a verifiable transcript.

`aggregate(updates, dropouts=..., threshold=...)` runs a whole session here; `SecAggClient` and
`SecAggServer` run it over any transport as byte messages; `verify(transcript)` replays a
published transcript and recomputes the aggregate.

Threat model: the server learns only the sum of the survivors' updates, even if it lies about
who dropped: a client answers one unmask request and never reveals both secrets of a client,
and thresholds must exceed half of each neighbourhood, so two disjoint groups cannot each be
told a different story. Against a server that also forges clients' keys, give every client the
others' registered verify keys (`peer_keys`, a PKI; `aggregate` does); without them the server
is trusted to relay keys (the semi-honest model). With c clients colluding with the server,
privacy needs a threshold above (neighbourhood size + c) / 2: honest clients answer one request
each, so two stories need t - c honest answers apiece. Bonawitz's signed consistency-check round
gives the same bound (each story then needs t - c honest signatures), so it is not run; the
published transcript lets anyone check that all survivors answered the same request.
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
