"""One-call PSI: both roles in this process, the messages passed as bytes."""

from __future__ import annotations

import sys
from collections.abc import Iterable

from .errors import PsiError
from .items import Item
from .protocol import PsiClient, PsiServer


def intersection(
    a: Iterable[Item], b: Iterable[Item], reveal: str = "items", *, fpr: float = 1e-12, progress: bool | None = None
) -> list[Item] | int:
    """Items of `a` (the client's set, in its order) that are in `b`, or only their number.

    A false positive (an item of `a` reported though not in `b`) happens with probability
    at most `fpr` per item of `a`. Both sets are this caller's own, so neither role caps the
    other's size (the peer caps of `PsiClient` and `PsiServer` are for two processes).
    """
    if not isinstance(fpr, (int, float)) or isinstance(fpr, bool) or not 0 < fpr < 1:
        raise PsiError(f"fpr must be in (0, 1), got {fpr!r}")
    client = PsiClient(a, reveal=reveal, progress=progress, max_server_items=sys.maxsize, max_fpr=fpr)
    server = PsiServer(b, reveal=reveal, fpr=fpr, progress=progress, max_items=sys.maxsize)
    response = server.respond(client.request().to_bytes())
    result = client.finish(response.to_bytes(), server.setup.to_bytes())
    return result.items if reveal == "items" else result.size  # type: ignore[return-value]
