"""Private set intersection: two-party ECDH over X25519, intersection or size only, and PSI-sum.

`intersection(a, b, reveal="items"|"size")` runs both roles here; `PsiServer` / `PsiClient`
run them in two processes over TCP (`serve` / `query`) or over any transport as the byte
messages `Request`, `Response` and `ServerSetup`. `intersection_sum` sums the client's values
over the intersection under the trustees' threshold key; `verify_sum` rechecks the release.
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
