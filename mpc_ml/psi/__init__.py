"""Private set intersection: two-party ECDH over X25519, intersection or size only, and PSI-sum.

`intersection(a, b, reveal="items"|"size")` runs both roles here; `PsiServer` / `PsiClient`
run them in two processes over TCP (`serve` / `query`) or over any transport as the byte
messages `Request`, `Response` and `ServerSetup`.
"""

from .api import intersection
from .errors import PsiError
from .messages import Request, Response, ServerSetup
from .protocol import PsiClient, PsiResult, PsiServer

__all__ = [
    "PsiClient",
    "PsiError",
    "PsiResult",
    "PsiServer",
    "Request",
    "Response",
    "ServerSetup",
    "intersection",
]
