"""Private set intersection: two-party ECDH over X25519, intersection or size only, and PSI-sum.

`intersection(a, b, reveal="items"|"size")` runs both roles here; `PsiServer` / `PsiClient`
run them in two processes over TCP (`serve` / `query`) or over any transport as the byte
messages `Request`, `Response` and `ServerSetup`. `intersection_sum` sums the client's values
over the intersection under the trustees' threshold key; `verify_sum` rechecks the release.

Peers are capped at 2^24 items by default (`messages.MAX_ITEMS`): a server refuses a larger request from
its header (`PsiServer(max_items=...)`, `PsiSumServer(max_items=...)`), a client a larger server
set (`PsiClient(max_server_items=...)`, `PsiClient.fetch_setup(max_items=...)`). A received setup
is checked in one streaming pass and kept compressed; a peer's error text is escaped and cut.
Text items are compared in Unicode NFC form (bytes items exactly as given).

Security model: semi-honest for reveal="size". A client that follows the protocol learns only the
size, but a malicious client (one that blinds each item with its own key and unblinds the sorted
answer point by point) learns which of its items matched; use reveal="size" where the querying
party is trusted to run the published client. Both parties learn nothing about the other's items
outside the intersection either way (the server's points are blinded by its key alone).
"""

from .api import intersection
from .errors import PsiError
from .messages import Request, Response, ServerSetup
from .protocol import PsiClient, PsiResult, PsiServer
from .psisum import PsiSumClient, PsiSumResult, PsiSumServer, SumRecord, decrypt_share, intersection_sum, release
from .psisum import verify as verify_sum
from .sum_messages import SumHello, SumRequest

__all__ = [
    "PsiClient",
    "PsiError",
    "PsiResult",
    "PsiServer",
    "PsiSumClient",
    "PsiSumResult",
    "PsiSumServer",
    "Request",
    "Response",
    "ServerSetup",
    "SumHello",
    "SumRecord",
    "SumRequest",
    "decrypt_share",
    "intersection",
    "intersection_sum",
    "release",
    "verify_sum",
]
