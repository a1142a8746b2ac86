"""Secure aggregation (Bonawitz et al. 2017, SecAgg+ neighbour graph) with a verifiable transcript.

`aggregate(updates, dropouts=..., threshold=...)` runs a whole session here; `SecAggClient` and
`SecAggServer` run it over any transport as byte messages; `verify(transcript)` replays a
published transcript and recomputes the aggregate.
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
