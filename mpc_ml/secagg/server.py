"""The secure-aggregation server: checks and routes every message, then unmasks the sum.

It keeps every accepted message, in order, as the public transcript; `verify` replays a
transcript through this same class. A server app may call it from several threads: each message
and each round's end runs under the server's lock.
"""

from __future__ import annotations

import functools
import math
import numbers
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from .client import graph_seed
from .errors import DropoutError, SecAggError
from .keys import check_public
from .messages import Confirm, Keys, Masked, Params, Result, Shares, Unmask, UnmaskRequest, digest, sender_of, session_of
from .quantize import Quantizer, default_bits
from .unmask import Collected, unmasked_sum

ROUND_NAMES = ("keys", "shares", "masked input", "consistency check", "unmasking", "done")
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class AggregateResult:
    """The sum of the survivors' updates, its error bound, and the transcript that proves it."""

    total: np.ndarray
    survivors: list[int]
    error_bound: float
    transcript: list[bytes]
    disputes: tuple[str, ...] = ()  # from `verify`: wrong shares beside the checked ones (see unmask._reconstruct)

    @property
    def mean(self) -> np.ndarray:
        """The survivors' mean update."""
        return self.total / len(self.survivors)


def make_params(
    clients: int, shape: int | tuple[int, ...], *, threshold: int | None = None, neighbours: int | None = None,
    clip: float = 1.0, bits: int | None = None, context: bytes | None = None,
) -> Params:
    """Fresh session parameters for `clients` updates of `shape` (an int: flat vectors of that length); defaults:
    complete graph, majority threshold, widest safe quantisation. With a `context` (the task and round, known to
    clients and auditors), the session id is derived from it, so that a transcript of another round does not pass
    for this one (`verify(..., context=...)`); else it is random. The counts must be Python or numpy integers: a
    float (3.0 from a config file) or a bool is a SecAggError naming the argument, not 3 or 1."""
    clients = _whole("clients", clients)
    dims = _dims(shape)
    degree = clients - 1 if neighbours is None else _whole("neighbours", neighbours)
    if threshold is None:
        threshold = (degree + 1) // 2 + 1 if degree >= 2 else degree + 1
    session = secrets.token_bytes(16) if context is None else session_of(context)
    return Params(session, clients, math.prod(dims), _whole("threshold", threshold), degree,
                  default_bits(clients) if bits is None else _whole("bits", bits), real_clip(clip), dims)


def _dims(shape: object) -> tuple[int, ...]:
    """The updates' shape as a tuple of positive ints (an int: a flat vector; a list as a tuple, as numpy takes it);
    SecAggError naming shape otherwise."""
    dims = tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)
    if not all(isinstance(d, numbers.Integral) and not isinstance(d, bool) and d >= 1 for d in dims):
        raise SecAggError(f"shape must be a positive integer or a tuple of positive integers, got {shape!r}")
    return tuple(int(d) for d in dims)


def _whole(name: str, value: object) -> int:
    """`value` as an int when it is an integer (not a bool, which would pass for 0 or 1); SecAggError naming `name`
    otherwise (Params then checks the range)."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise SecAggError(f"{name} must be an integer, got {value!r}")
    return int(value)


def real_clip(clip: object) -> float:
    """The clip as a float: a real number that a float holds; SecAggError naming clip otherwise (Params then checks
    that it is positive and finite)."""
    if not isinstance(clip, numbers.Real) or isinstance(clip, bool):
        raise SecAggError(f"clip must be a real number, got {clip!r}")
    try:
        return float(clip)
    except OverflowError:
        raise SecAggError(f"clip {clip!r} is beyond the float range") from None



def _serialized(method: F) -> F:
    """`method` under the server's lock: a message checked against the open round is stored before the round can
    end (one stored after the unmask request that left it out made the sum wrong)."""

    @functools.wraps(method)
    def locked(self: SecAggServer, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)

    return locked  # type: ignore[return-value]


class SecAggServer:
    """Collects one session's messages round by round; fails cleanly below the threshold."""

    def __init__(self, params: Params | bytes, peer_keys: Mapping[int, bytes] | None = None) -> None:
        """`peer_keys`: the clients' registered verify keys, when there is a PKI (see SecAggClient)."""
        self.params = params if isinstance(params, Params) else Params.from_bytes(params)
        self._peer_keys = dict(peer_keys) if peer_keys is not None else None
        self.quantizer = Quantizer(self.params.clip, self.params.bits)
        self._c = Collected(self.params, {}, {}, {}, None, {}, {})
        self._graph: dict[int, set[int]] = {}
        self._round = 0
        self.transcript: list[bytes] = [self.params.to_bytes()]
        self._lock = threading.RLock()  # reentrant: close_until ends rounds through their own methods

    def _need(self, round_: int, what: str) -> None:
        if self._round != round_:
            raise SecAggError(f"{what} arrived during the {ROUND_NAMES[self._round]} round")

    def _enough(self, count: int, what: str) -> None:
        if count < self.params.threshold:
            raise DropoutError(f"only {count} clients {what}; at least {self.params.threshold} (the threshold) are needed")

    @_serialized
    def receive(self, data: bytes) -> None:
        """Check one client message against the current round and keep it; a bad message changes nothing."""
        if len(data) < 6:
            raise SecAggError(f"message of {len(data)} bytes is too short")
        handler = {2: self._keys, 3: self._shares, 4: self._masked, 6: self._confirm, 7: self._unmask}.get(data[5])
        if handler is None:
            raise SecAggError(f"message kind {data[5]} is not a client message")
        handler(bytes(data))
        self.transcript.append(bytes(data))

    def _sender(self, data: bytes, known: dict, what: str) -> int:
        sender = sender_of(data)
        if sender not in known:
            raise SecAggError(f"{what} from client {sender}, which is not in this round")
        return sender

    def _keys(self, data: bytes) -> None:
        self._need(0, "keys")
        k = Keys.from_bytes(data, self.params.context)
        if k.sender > self.params.clients or k.sender in self._c.keys:
            raise SecAggError(f"keys from client {k.sender}: out of range or repeated")
        if self._peer_keys is not None and self._peer_keys.get(k.sender) != k.sig_pk:
            raise SecAggError(f"keys from client {k.sender}: not signed by its registered key")
        check_public(k.c_pk, f"keys from client {k.sender}: encryption key")
        check_public(k.s_pk, f"keys from client {k.sender}: mask key")
        self._c.keys[k.sender] = k

    def _shares(self, data: bytes) -> None:
        self._need(1, "shares")
        sender = self._sender(data, self._c.keys, "shares")
        msg = Shares.from_bytes(data, self._c.keys[sender].sig_pk, self.params.context)
        if sender in self._c.shares:
            raise SecAggError(f"shares from client {sender}: repeated")
        if set(msg.ciphertexts) != self._graph[sender]:
            raise SecAggError(f"shares from client {sender}: recipients are not exactly its neighbours")
        self._c.shares[sender] = msg

    def _masked(self, data: bytes) -> None:
        self._need(2, "masked input")
        sender = self._sender(data, self._c.shares, "masked input")
        if sender in self._c.masked:
            raise SecAggError(f"masked input from client {sender}: repeated")
        msg = Masked.from_bytes(data, self._c.keys[sender].sig_pk, self.params.context, self.params.length)
        if not set(msg.peers) <= self._graph[sender] & set(self._c.shares):
            raise SecAggError(f"masked input from client {sender}: lists peers that are not neighbours that shared keys")
        self._c.masked[sender] = msg

    def _confirm(self, data: bytes) -> None:
        self._need(3, "confirmation")
        sender = self._sender(data, self._c.masked, "confirmation")
        msg = Confirm.from_bytes(data, self._c.keys[sender].sig_pk, self.params.context)
        if sender in self._c.confirms:
            raise SecAggError(f"confirmation from client {sender}: repeated")
        assert self._c.request is not None
        if msg.request != digest(self._c.request.to_bytes()):
            raise SecAggError(f"confirmation from client {sender}: confirms another unmask request")
        if msg.keys != graph_seed(self.params, self._c.keys):
            raise SecAggError(f"confirmation from client {sender}: confirms another key list")
        self._c.confirms[sender] = msg

    def _unmask(self, data: bytes) -> None:
        self._need(4, "unmask")
        req = self._c.request
        assert req is not None
        sender = self._sender(data, self._c.confirms, "unmask")
        msg = Unmask.from_bytes(data, self._c.keys[sender].sig_pk, self.params.context)
        if sender in self._c.unmasks:
            raise SecAggError(f"unmask from client {sender}: repeated")
        if msg.request != digest(req.to_bytes()):
            raise SecAggError(f"unmask from client {sender}: answers another unmask request")
        holders = self._graph[sender] & set(self._c.shares)
        if not set(msg.b_shares) <= (holders | {sender}) & set(req.survivors) or not set(msg.sk_shares) <= holders & set(req.dropped):
            raise SecAggError(f"unmask from client {sender}: reveals shares it should not hold or not reveal")
        self._c.unmasks[sender] = msg

    @property
    def round(self) -> int:
        """The round now open: 0 keys, 1 shares, 2 masked input, 3 consistency check, 4 unmasking, 5 done."""
        return self._round

    @_serialized
    def close_until(self, round_: int) -> None:
        """Close rounds 0, 1 and 3 as needed so that `round_` is open (for replays); round 2 closes only with its
        unmask request (`masked_round_done`), which a replay checks against the published one."""
        closers = {0: self.keys_round_done, 1: self.shares_round_done, 3: self.consistency_round_done}
        while self._round < round_ and self._round in closers:
            closers[self._round]()

    @_serialized
    def keys_round_done(self) -> list[bytes]:
        """Close round 0: every Keys message, to be sent to every client."""
        self._need(0, "end of keys round")
        self._enough(len(self._c.keys), "advertised keys")
        self._graph = self._c.graph()
        self._round = 1
        return [self._c.keys[u].raw for u in sorted(self._c.keys)]

    @_serialized
    def shares_round_done(self) -> dict[int, list[bytes]]:
        """Close round 1: for each client that shared, the Shares messages holding a share for it."""
        self._need(1, "end of shares round")
        self._enough(len(self._c.shares), "shared their keys")
        self._round = 2
        return {v: [self._c.shares[u].raw for u in sorted(self._graph[v] & set(self._c.shares))] for v in sorted(self._c.shares)}

    @_serialized
    def masked_round_done(self) -> bytes:
        """Close round 2: the unmask request for every survivor."""
        self._need(2, "end of masked-input round")
        self._enough(len(self._c.masked), "sent a masked input")
        survivors = sorted(self._c.masked)
        self._c.request = UnmaskRequest(survivors, sorted(set(self._c.shares) - set(survivors)))
        self._round = 3
        data = self._c.request.to_bytes()
        self.transcript.append(data)
        return data

    @_serialized
    def consistency_round_done(self) -> list[bytes]:
        """Close round 3: every confirmation, to be sent with the unmask request to every client that confirmed
        (each needs a majority of the session's clients)."""
        self._need(3, "end of consistency round")
        needed = self.params.confirmations_needed
        if len(self._c.confirms) < needed:
            raise DropoutError(f"only {len(self._c.confirms)} clients confirmed the unmask request; {needed} (a majority "
                               "of the clients, and the threshold) are needed")
        self._round = 4
        return [self._c.confirms[u].raw for u in sorted(self._c.confirms)]

    @_serialized
    def finish(self, cross_check: bool = False) -> AggregateResult:
        """Close round 4: the unmasked sum (DropoutError if some secret lacks threshold-many shares); `cross_check`
        lists in `disputes` every revealed share beyond the needed ones that is wrong."""
        self._need(4, "end of unmasking round")
        disputes: list[str] | None = [] if cross_check else None
        total = unmasked_sum(self._c, disputes)
        self._round = 5
        self.transcript.append(Result(total).to_bytes())
        count = len(self._c.masked)
        q = self.quantizer
        return AggregateResult(q.dequantize_sum(total, count).reshape(self.params.shape), sorted(self._c.masked),
                               q.error_bound(count), list(self.transcript), tuple(disputes or ()))
