"""Secure aggregation (Bonawitz et al. 2017, SecAgg+ neighbour graph) with a verifiable transcript.

`aggregate(updates, dropouts=..., threshold=...)` runs a whole session here; `SecAggClient` and
`SecAggServer` run it over any transport as byte messages; `verify(transcript)` replays a
published transcript and recomputes the aggregate.

Threat model: the server learns only the sum of the survivors' updates, even if it lies about
who dropped. A client masks only with shares from at least threshold - 1 neighbours (so that a
server withholding shares cannot isolate its input) and signs the peers it masked with (so that
masks that do not pair up are refused, not summed). It confirms one unmask request by signature,
together with the digest of the key list it saw (Bonawitz's consistency check, bound to this
session's fresh keys and to one graph), and answers only once a majority of all the session's
clients, and at least threshold, confirmed that same request over that same key list; it never
reveals both secrets of a client. Honest clients confirm once, so two stories or two graphs
cannot both win a majority. This needs the clients' registered verify keys (`peer_keys`, a PKI;
`aggregate` gives them): every listed client's keys are then checked against it, so a server
cannot add clients or confirmations of its own. Without it the server is trusted to relay keys
(the semi-honest model). With c clients colluding with the server, the majority and each
neighbourhood's threshold must hold without them (thresholds above (neighbourhood size + c) / 2).
Liveness: more than half of the clients must stay until the confirmations. The unmasked sum is
refused when it exceeds what quantised levels can reach; a client that masks other in-range
values is not detected (no per-client range proofs).
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
