"""Removing the masks: reconstruct seeds and keys from revealed shares, then unmask the sum.

Shared by the server (which runs it on what it collected) and by `verify` (which runs it on a
published transcript, with every revealed share cross-checked).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from threshold.shamir import Share, recover

from .client import graph_seed, pair_sign
from .errors import DropoutError, SecAggError
from .graph import neighbours
from .keys import agree, public_bytes, secret_to_scalar
from .messages import FIELD, Confirm, Keys, Masked, Params, Shares, Unmask, UnmaskRequest
from .prg import commit, derive, mask


@dataclass
class Collected:
    """Every accepted message of one session, by sender."""

    params: Params
    keys: dict[int, Keys]
    shares: dict[int, Shares]
    masked: dict[int, Masked]
    request: UnmaskRequest | None
    confirms: dict[int, Confirm]
    unmasks: dict[int, Unmask]

    def graph(self) -> dict[int, set[int]]:
        """The neighbour graph over the clients that advertised keys."""
        return neighbours(sorted(self.keys), self.params.degree, graph_seed(self.params, self.keys))


def _value_at(shares: list[Share], x: int) -> int:
    """The polynomial through `shares`, evaluated at x."""
    total = 0
    for s in shares:
        num, den = 1, 1
        for o in shares:
            if o.index != s.index:
                num = num * (x - o.index) % FIELD
                den = den * (s.index - o.index) % FIELD
        total += s.value * num * pow(den, -1, FIELD)
    return total % FIELD


def _rebuild(points: list[Share], threshold: int, valid: Callable[[int], bool]) -> tuple[list[Share], int] | None:
    """`threshold` of the shares that rebuild a value `valid` accepts, and that value; None if none is found.

    The first `threshold` shares, else (one of them being wrong) each way of leaving one of the first
    threshold + 1 out: so one wrong share neither blocks the secret nor gets an honest share blamed.
    """
    first = points[: threshold + 1]
    candidates = [points[:threshold]]
    if len(points) > threshold:
        candidates += [[s for s in first if s is not left] for left in reversed(first[:threshold])]
    for base in candidates:
        secret = recover(base, FIELD, threshold)
        if valid(secret):
            return base, secret
    return None


def _reconstruct(
    shares: dict[int, int],
    threshold: int,
    what: str,
    disputes: list[str] | None,
    *,
    dealer: int = 0,
    valid: Callable[[int], bool] = lambda _: True,
    against: str = "its check",
) -> int:
    """The secret from `threshold` of the shares, checked by `valid` (its commitment or public key, named by
    `against`). With a `disputes` list (cross-checking), every other share must lie on the same polynomial; each
    that does not is wrong (the polynomial rebuilds the checked secret), but a transcript cannot tell whether
    `dealer` dealt it wrong or its holder revealed it wrong: it is listed, and the checked secret stands."""
    if len(shares) < threshold:
        raise DropoutError(f"{what}: {len(shares)} shares revealed, {threshold} needed")
    points = [Share(v, shares[v]) for v in sorted(shares)]
    found = _rebuild(points, threshold, valid)
    if found is None:
        raise SecAggError(f"{what}: does not match {against} (a revealed share is wrong)")
    base, secret = found
    if disputes is not None:
        disputes += [f"{what}: client {dealer} dealt or client {extra.index} revealed a wrong share"
                     for extra in points if extra not in base and _value_at(base, extra.index) != extra.value]
    return secret


def _is_seed_of(committed: bytes, session: bytes) -> Callable[[int], bool]:
    """Whether a rebuilt value is the self-mask seed with this commitment."""
    return lambda seed: commit(seed.to_bytes(32, "little"), session) == committed


def _is_scalar_of(public: bytes) -> Callable[[int], bool]:
    """Whether a rebuilt value is scalar / 8 for a clamped X25519 scalar whose public key is `public`."""
    return lambda secret: secret >> 251 == 1 and public_bytes(secret_to_scalar(secret, "mask key")) == public


def unmasked_sum(c: Collected, disputes: list[str] | None = None) -> np.ndarray:
    """The sum of the survivors' quantised updates mod 2^32, from everything collected (`disputes`: see
    `_reconstruct`). A sum above what the survivors' levels can reach (2^bits - 1 each) is refused: some client
    masked values that are not quantised levels, and the sum would be wrong without any sign of it."""
    p, req = c.params, c.request
    if req is None:
        raise SecAggError("no unmask request")
    alive = set(req.survivors)
    for u in req.survivors:  # a pairwise mask cancels only if both added it: the lists must pair up
        for v in c.masked[u].peers:
            if v in alive and u not in c.masked[v].peers:
                raise SecAggError(f"client {u} masked with client {v} but not {v} with {u}: a server withheld shares")
    total = np.zeros(p.length, dtype=np.uint32)
    for u in req.survivors:
        total += c.masked[u].vector
    for u in req.survivors:
        given = {v: m.b_shares[u] for v, m in c.unmasks.items() if u in m.b_shares}
        seed = _reconstruct(given, p.threshold, f"self-mask seed of client {u}", disputes, dealer=u,
                            valid=_is_seed_of(c.shares[u].b_commit, p.session), against="its commitment")
        total -= mask(derive(seed.to_bytes(32, "little"), "self mask", p.session), p.length)
    for u in req.dropped:
        maskers = sorted(v for v in alive if u in c.masked[v].peers)
        if not maskers:  # no survivor masked with u (its neighbours left before it shared): nothing to remove
            continue
        given = {v: m.sk_shares[u] for v, m in c.unmasks.items() if u in m.sk_shares}
        what = f"mask key of dropped client {u}"
        secret = _reconstruct(given, p.threshold, what, disputes, dealer=u, valid=_is_scalar_of(c.keys[u].s_pk),
                              against="its public key")
        scalar = secret_to_scalar(secret, what)
        for v in maskers:
            pad = mask(derive(agree(scalar, c.keys[v].s_pk, f"keys of client {v}"), "pairwise mask", p.session), p.length)
            total = total - pad if pair_sign(v, u) > 0 else total + pad
    reach = len(req.survivors) * (2**p.bits - 1)
    over = np.flatnonzero(total > reach)
    if over.size:
        raise SecAggError(
            f"the unmasked sum exceeds {reach} (every survivor's top level) at coordinates {over[:5].tolist()}"
            f"{' ...' if over.size > 5 else ''}: some client masked values that are not quantised levels")
    return total
