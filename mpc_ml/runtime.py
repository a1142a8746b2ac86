"""The runtime: parties, the current process's share of them, randomness and communication.

Local state is vectorized over a leading axis of the parties this process runs: all n of them in
simulated mode (one process, notebooks and tests) or only its own in TCP mode (one process per
party). Protocol code is written once against that axis and three communication primitives:
`exchange` (each party sends one array to a set of parties), `exchange_each` (each party sends its
own word array to each of its destinations) and `scatter` (one party sends a different array to each
party). The simulated backend moves arrays; the TCP one sends them.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from .errors import InputError
from .fixedpoint import Params, make_params
from .prss import PRSS, subsets
from .ring import Ring

MAX_SUBSETS = 500  # PRSS subsets C(n, t) a session may need (check_subsets); the tests and benchmarks use up to 35


@dataclass
class Codec:
    """How one message body is written and read: residues of a ring, or raw uint64 words."""

    ring: Ring | None = None

    def encode(self, arr: np.ndarray) -> bytes:
        """Bytes of one party's array (residues (K, ...) or uint64)."""
        return self.ring.pack(arr) if self.ring is not None else np.ascontiguousarray(arr, dtype=np.uint64).tobytes()

    def decode(self, data: bytes, shape: tuple[int, ...]) -> np.ndarray:
        """Inverse of encode for an array whose public shape (without the K axis) is `shape`."""
        if self.ring is not None:
            return self.ring.unpack(data, shape)
        size = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if len(data) != 8 * size:
            raise ValueError(f"word message has {len(data)} bytes, expected {8 * size}")
        return np.frombuffer(data, dtype=np.uint64).reshape(shape).copy()

    def size(self, arr: np.ndarray) -> int:
        """Wire size in bytes of one party's array."""
        return self.wire_size(arr.shape if self.ring is None else arr.shape[1:])

    def wire_size(self, shape: tuple[int, ...]) -> int:
        """Wire size in bytes of an array whose public shape (without the K axis) is `shape`."""
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        return 8 * count * (1 if self.ring is None else (self.ring.k + 2) // 3)


def _whole(value: Any) -> Any:
    """`value` with every numpy array replaced by its dtype, shape and bytes: numpy's repr elides the middle of a
    large array ('...'), so two arrays differing there would have the same repr."""
    if isinstance(value, np.ndarray):
        return ("ndarray", value.dtype.str, value.shape, value.tobytes())
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [_whole(v) for v in value])
    if isinstance(value, dict):
        return ("dict", sorted((repr(k), _whole(v)) for k, v in value.items()))
    return value


class Comm(Protocol):
    """A communication backend."""

    n: int

    def exchange(self, local: np.ndarray, dests: list[list[int]], codec: Codec, shape: tuple[int, ...]) -> np.ndarray:
        """Stack (n, ...) of what every sender j sent to the local receivers (zeros where nothing)."""

    def exchange_each(self, sends: list[dict[int, np.ndarray]],
                      expect: list[dict[int, int]]) -> list[dict[int, np.ndarray]]:
        """sends[l]: {destination: flat uint64 array} of local party l; expect[l]: {sender: word count} of what l
        receives. Returns, per local party, {sender: flat uint64 array}."""

    def scatter(self, src: int, per_dest: np.ndarray | None, codec: Codec, shape: tuple[int, ...]) -> np.ndarray:
        """(L, ...): the piece each local party received from src."""

    def close(self) -> None:
        """Release connections."""


@dataclass
class Stats:
    """Traffic counters of this process: bytes sent by its parties, communication rounds."""

    bytes_sent: int = 0
    rounds: int = 0
    per_party: dict = field(default_factory=dict)


class SimComm:
    """All parties in this process: a message is an array handed over."""

    def __init__(self, n: int, stats: Stats) -> None:
        self.n = n
        self.stats = stats

    def exchange(self, local: np.ndarray, dests: list[list[int]], codec: Codec, shape: tuple[int, ...]) -> np.ndarray:
        """Every receiver sees every sender's array; protocol code reads only what was sent to it."""
        self.stats.rounds += 1
        for j in range(self.n):
            sent = codec.size(local[j]) * len([d for d in dests[j] if d != j])
            self.stats.bytes_sent += sent
            self.stats.per_party[j] = self.stats.per_party.get(j, 0) + sent
        return local

    def exchange_each(self, sends: list[dict[int, np.ndarray]],
                      expect: list[dict[int, int]]) -> list[dict[int, np.ndarray]]:
        """Party d receives sends[j][d] from every j that expects to send it."""
        self.stats.rounds += 1
        for j, out in enumerate(sends):
            sent = sum(8 * arr.size for d, arr in out.items() if d != j)
            self.stats.bytes_sent += sent
            self.stats.per_party[j] = self.stats.per_party.get(j, 0) + sent
        return [{j: sends[j][d] for j in want} for d, want in enumerate(expect)]

    def scatter(self, src: int, per_dest: np.ndarray | None, codec: Codec, shape: tuple[int, ...]) -> np.ndarray:
        """Party l receives per_dest[l]."""
        self.stats.rounds += 1
        sent = codec.size(per_dest[0]) * (self.n - 1)
        self.stats.bytes_sent += sent
        self.stats.per_party[src] = self.stats.per_party.get(src, 0) + sent
        return per_dest

    def close(self) -> None:
        """Nothing to release."""


class Pool:
    """Correlated randomness made ahead of use (the offline phase), consumed first in, first out.

    Each kind (a key such as ("trunc", the ring's primes, bits)) holds arrays (L, K, N) of masks, element axis last;
    `take` hands out the next `size` elements and makes any shortfall on the spot with `make`.
    Every party runs the same program, so all of them fill and drain their pools identically and
    stay in step; no element is handed out twice.
    """

    def __init__(self) -> None:
        self._store: dict[tuple, list[list[np.ndarray]]] = {}

    def available(self, key: tuple) -> int:
        """Elements of kind `key` ready to use."""
        return sum(c[0].shape[-1] for c in self._store.get(key, []))

    def add(self, key: tuple, arrays: tuple[np.ndarray, ...]) -> None:
        """Append a batch (arrays sharing their last axis)."""
        self._store.setdefault(key, []).append(list(arrays))

    def take(self, key: tuple, size: int, make) -> tuple[np.ndarray, ...]:
        """The next `size` elements of kind `key` (each array (..., size)); make(m) supplies a shortfall."""
        chunks = self._store.get(key, [])
        parts: list[list[np.ndarray]] = []
        need = size
        while need and chunks:
            head = chunks[0]
            m = head[0].shape[-1]
            if m <= need:
                parts.append(head)
                chunks.pop(0)
                need -= m
            else:
                parts.append([a[..., :need] for a in head])
                chunks[0] = [a[..., need:] for a in head]
                need = 0
        if need or not parts:  # (a request of 0 elements: make(0)'s empty arrays, not nothing)
            parts.append(list(make(need)))
        if len(parts) == 1:
            return tuple(parts[0])
        return tuple(np.concatenate(col, -1) for col in zip(*parts))

    def clear(self) -> None:
        """Drop everything (the masks are never used)."""
        self._store.clear()


class Runtime:
    """n parties, threshold t (degree of Shamir sharings), the local ones, their keys and channels."""

    def __init__(self, n: int, t: int, local_ids: list[int], comm: Comm, seeds: dict[tuple[int, ...], bytes],
                 signers: dict[int, object], verify_keys: list[bytes], frac_bits: int = 24,
                 stats: Stats | None = None, session: bytes | None = None) -> None:
        if n < 3:
            raise InputError(f"need at least 3 parties, got {n}")
        if not 0 < t or not 2 * t < n:
            raise InputError(f"threshold t={t} must satisfy 0 < t < n/2 = {n / 2}")
        self.n, self.t = n, t
        self.local_ids = list(local_ids)
        self.ids = np.array(self.local_ids)
        self.L = len(self.local_ids)
        self.params: Params = make_params(n, t, frac_bits)
        self.ring = self.params.ring
        self.prss = PRSS(n, t, seeds, self.local_ids)
        self.comm = comm
        self.stats = stats if stats is not None else Stats()
        self.signers = signers
        self.verify_keys = verify_keys
        self.output_counter = 0
        self.session = session if session is not None else os.urandom(16)
        self.ring_codec = Codec(self.ring)
        self.word_codec = Codec(None)
        self._rings: dict[int, Ring] = {self.ring.k: self.ring}
        self.pool = Pool()
        self.closed = False

    @property
    def simulated(self) -> bool:
        """True when all parties run in this process."""
        return self.L == self.n

    @property
    def me(self) -> int | None:
        """This process's party id in TCP mode, None when simulated."""
        return None if self.simulated else self.local_ids[0]

    def ring_of(self, k: int) -> Ring:
        """The ring with k primes (cached)."""
        if k not in self._rings:
            self._rings[k] = Ring(k)
        return self._rings[k]

    def check_party(self, i: int, what: str = "party") -> int:
        """Validate a party index."""
        if not isinstance(i, (int, np.integer)) or isinstance(i, bool) or not 0 <= int(i) < self.n:
            raise InputError(f"{what} index {i!r} is out of range: parties are 0..{self.n - 1}")
        return int(i)

    def preprocess(self, multiplications: int = 0, reductions: int = 0, batch: int = 1 << 17) -> dict:
        """Offline phase: make masks now for that many fixed-point products / integer degree reductions.

        multiplications: elements of fixed-point products (truncation masks by the fraction bits f,
        used by products, matmul outputs and products by public reals >= 1/2 in magnitude; smaller
        public factors truncate by more bits and make their masks on demand); reductions: elements
        of integer products (double sharings of `reduce_degree`, used by comparisons and ReLU). The masks come from PRSS with no communication, so this
        costs local CPU only; later protocol steps take them from the pool instead of making them.
        Returns the time spent {"seconds": wall, "cpu_seconds": process CPU}.
        """
        import time

        from .protocols import arith

        w0, c0 = time.perf_counter(), time.process_time()
        for count, fill in ((multiplications, arith.fill_trunc), (reductions, arith.fill_double)):
            if not isinstance(count, (int, np.integer)) or count < 0:
                raise InputError(f"preprocess counts must be non-negative integers, got {count!r}")
            for start in range(0, int(count), batch):
                fill(self, min(batch, int(count) - start))
        return {"seconds": time.perf_counter() - w0, "cpu_seconds": time.process_time() - c0}

    def agree(self, what: str, parameters: dict[str, Any]) -> None:
        """Check that every party calls `what` with the same public parameters (one round of 32-byte digests, one
        per parameter); InputError naming the first parameter and party that differ. Parties that disagree would
        otherwise compute a wrong result with valid evidence, or diverge into an error blaming a party."""
        import hashlib

        names = sorted(parameters)
        digests = np.concatenate([np.frombuffer(hashlib.sha256(repr(_whole(parameters[k])).encode()).digest(),
                                                dtype=np.uint64) for k in names])
        sends = [{d: digests for d in range(self.n) if d != me} for me in self.local_ids]
        got = self.exchange_each(sends, [{j: digests.size for j in range(self.n) if j != me} for me in self.local_ids])
        for me, received in zip(self.local_ids, got):
            for j, theirs in sorted(received.items()):
                differ = [k for i, k in enumerate(names) if not np.array_equal(theirs[4 * i:4 * i + 4], digests[4 * i:4 * i + 4])]
                if differ:
                    raise InputError(f"party {j} calls {what} with another {differ[0]} than party {me}: every party "
                                     f"must pass the same {', '.join(differ)}")

    def _check_open(self) -> None:
        """InputError when the session was closed: a tensor kept across uninit() (or a new init()) would otherwise
        compute on in simulation, and over TCP write to closed sockets (PartyDied blaming an honest party)."""
        if self.closed:
            raise InputError("this tensor's session was closed by uninit() or a new init(): share the inputs again "
                             "in the current session")

    def exchange(self, local: np.ndarray, dests: list[list[int]], codec: Codec, shape: tuple[int, ...]) -> np.ndarray:
        """See Comm.exchange."""
        self._check_open()
        return self.comm.exchange(local, dests, codec, shape)

    def exchange_each(self, sends: list[dict[int, np.ndarray]],
                      expect: list[dict[int, int]]) -> list[dict[int, np.ndarray]]:
        """See Comm.exchange_each."""
        self._check_open()
        return self.comm.exchange_each(sends, expect)

    def scatter(self, src: int, per_dest: np.ndarray | None, codec: Codec, shape: tuple[int, ...]) -> np.ndarray:
        """See Comm.scatter."""
        self._check_open()
        return self.comm.scatter(src, per_dest, codec, shape)

    def close(self) -> None:
        """Close channels; every later protocol step of this session is an InputError."""
        self.closed = True
        self.comm.close()


def threshold_for(parties: int, quorum: int | None) -> int:
    """t for `quorum` of `parties` needed to open a value (quorum = t + 1; default the honest majority
    floor((n - 1) / 2) + 1); InputError for a quorum outside 2..that majority."""
    most = (parties - 1) // 2 + 1  # t < n/2
    if quorum is not None and (not isinstance(quorum, int) or isinstance(quorum, bool) or not 2 <= quorum <= most):
        raise InputError(f"quorum must be an integer in 2..{most} for {parties} parties (an honest majority "
                         f"opens values: fewer than half may collude), got {quorum!r}")
    return most - 1 if quorum is None else quorum - 1


def check_subsets(n: int, t: int) -> None:
    """InputError when (n, t) needs more than MAX_SUBSETS PRSS subsets. There is one seed per subset of n - t
    parties, C(n, t) of them, every draw reads each stream and an AND gate's work grows with C(n, t)^2: C(12, 5) =
    792 already takes minutes for a ReLU of 100 values, and C(40, 19) = 1.3e11 seeds do not fit in memory."""
    count = math.comb(n, t)
    if count > MAX_SUBSETS:
        raise InputError(f"{n} parties with quorum {t + 1} need C({n}, {t}) = {count} PRSS subsets, more than the "
                         f"{MAX_SUBSETS} this runtime runs: use fewer parties or a smaller quorum (quorum 2 needs "
                         f"C({n}, 1) = {n})")


def simulated(n: int = 3, t: int | None = None, frac_bits: int = 24) -> Runtime:
    """A runtime with all n parties in this process (fresh seeds and signing keys from the OS)."""
    from nacl.signing import SigningKey

    t = (n - 1) // 2 if t is None else t
    check_subsets(n, t)
    seeds = {T: os.urandom(32) for T in subsets(n, t)}
    signers = {i: SigningKey.generate() for i in range(n)}
    vks = [bytes(signers[i].verify_key) for i in range(n)]
    stats = Stats()
    return Runtime(n, t, list(range(n)), SimComm(n, stats), seeds, signers, vks, frac_bits, stats)


_current: list[Runtime] = []


def current() -> Runtime:
    """The runtime set by mpc_ml.init()."""
    if not _current:
        raise InputError("mpc_ml.init() has not been called")
    return _current[-1]


def set_current(rt: Runtime) -> None:
    """Make rt the runtime used by cryptensor() and friends (closing the previous one)."""
    while _current:
        _current.pop().close()
    _current.append(rt)

