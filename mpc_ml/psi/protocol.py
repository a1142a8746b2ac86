"""Two-party ECDH PSI over X25519: the server and client state machines, transport-free.

Client: Request = c*H(x) for its items. Server: Response = s*(c*H(x)), in request order when
the client may learn the items, sorted (so positions are lost) when it may learn only the
size; ServerSetup = its own set s*H(y), hashed and compressed, made once. Client: unblinds
with c^-1 to s*H(x) and looks each up in the compressed set.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from threshold.keystore import replace_private

from .curve import BlindingKey
from .errors import PsiError
from .gcs import CompressedSet, high_bits_for, range_bits, split
from .hashing import encode_items
from .items import Item, chunks, collection, normalise
from .messages import MAX_ITEMS, REVEALS, Request, Response, ServerSetup, check_count, points_frame_limit, setup_frame_limit
from .progress import Progress
from .transport import exchange, serve

BATCH = 1 << 14
SAVED_MAGIC = b"QPSS"
# Frames up to this long are always read whole: an over-limit request is then refused with an error frame the
# client sees (not a reset), and a client reads the server's error frame however few items it has.
MIN_FRAME_CAP = 1 << 20


@dataclass(frozen=True)
class PsiResult:
    """What the client learns: the size, and the items themselves when reveal='items'."""

    size: int
    items: list[Item] | None


def _check_reveal(reveal: str) -> str:
    """The reveal mode, checked."""
    if reveal not in REVEALS:
        raise PsiError(f"reveal must be 'items' or 'size', got {reveal!r}")
    return reveal


def _check_cap(value: int, name: str) -> int:
    """A positive item cap, checked."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise PsiError(f"{name} must be a positive integer, got {value!r}")
    return value


def _words(points: bytes) -> np.ndarray:
    """The first two little-endian 64-bit words of each 32-byte point, as a (k, 2) array."""
    return np.frombuffer(points, dtype="<u8").reshape(-1, 4)[:, :2]


def _check_distinct(fingerprints: np.ndarray, side: str) -> None:
    """Raise naming two positions of equal items (compared by their 128-bit curve hashes)."""
    order = np.lexsort((fingerprints[:, 1], fingerprints[:, 0]))
    ranked = fingerprints[order]
    equal = np.flatnonzero((ranked[1:] == ranked[:-1]).all(axis=1))
    if len(equal):
        first, second = sorted((int(order[equal[0]]), int(order[equal[0] + 1])))
        raise PsiError(f"{side} set: item {second} duplicates item {first}")


def _blind_items(
    items: Iterable[object], key: BlindingKey, label: str, progress: bool | None, keep: list[Item] | None
) -> bytes:
    """Hash and blind the items in batches; return the concatenated points."""
    total = len(items) if hasattr(items, "__len__") else None  # type: ignore[arg-type]
    bar = Progress(label, total, progress)
    blinded, fingerprints, start = [], [], 0
    for chunk in chunks(collection(items, label), BATCH):
        batch = normalise(chunk, start, label)
        if keep is not None:
            keep.extend(chunk)  # type: ignore[arg-type]
        start += len(chunk)
        points = encode_items(batch)
        fingerprints.append(_words(points).copy())
        blinded.append(key.blind(points))
        bar.advance(len(batch))
    bar.close()
    if not blinded:
        raise PsiError(f"{label} set is empty")
    _check_distinct(np.concatenate(fingerprints), label)
    return b"".join(blinded)


class PsiServer:
    """Holds the server's set, prepared once (hash, blind, compress), and answers requests.

    `max_items` caps the points of one request: each costs an X25519 multiplication on a server
    that answers up to transport.WORKERS connections at once, so a larger request is refused from its header (an
    error frame over TCP), before any per-point work. Its own set may be larger.
    """

    def __init__(
        self,
        items: Iterable[Item],
        *,
        reveal: str = "items",
        fpr: float = 1e-12,
        progress: bool | None = None,
        max_items: int = MAX_ITEMS,
    ) -> None:
        self.reveal = _check_reveal(reveal)
        self.max_items = _check_cap(max_items, "max_items")
        self._key = BlindingKey()
        self._progress = progress
        words = _words(_blind_items(items, self._key, "server", progress, None))
        bits = range_bits(len(words), fpr)
        high = high_bits_for(len(words), bits)
        self.setup = ServerSetup(CompressedSet.build(split(words, bits, high), bits, high))

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the prepared set and the secret key to `path` (mode 0600, atomically)."""
        replace_private(path, SAVED_MAGIC + bytes([REVEALS.index(self.reveal)]) + self._key.to_bytes() + self.setup.to_bytes())

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, progress: bool | None = None, max_items: int = MAX_ITEMS) -> PsiServer:
        """A server prepared earlier and saved with `save` (checked as it is read, its own set uncapped);
        `max_items` as for the constructor."""
        data = Path(path).read_bytes()
        if len(data) < 37 or data[:4] != SAVED_MAGIC or data[4] >= len(REVEALS):
            raise PsiError(f"{path}: not a saved PSI server")
        server = cls.__new__(cls)
        server.reveal, server._progress, server.max_items = REVEALS[data[4]], progress, _check_cap(max_items, "max_items")
        server._key, server.setup = BlindingKey(data[5:37]), ServerSetup.from_bytes(data[37:], max_items=None)
        return server

    def respond(self, request: Request | bytes) -> Response:
        """Blind the client's points with s; sort them when only the size may be revealed.
        A request of more than `max_items` points is refused before any of them is looked at."""
        if not isinstance(request, Request):
            request = Request.from_bytes(request, max_items=self.max_items)
        check_count(request.count, self.max_items, "request")
        bar = Progress("server", request.count, self._progress)
        parts = []
        for start in range(0, len(request.points), 32 * BATCH):
            parts.append(self._key.blind(request.points[start : start + 32 * BATCH]))
            bar.advance(len(parts[-1]) // 32)
        bar.close()
        points = b"".join(parts)
        if self.reveal == "size":
            limbs = np.frombuffer(points, dtype="<u8").reshape(-1, 4)
            points = limbs[np.lexsort(limbs.T)].tobytes()
        return Response(points, self.reveal, self.setup.digest)

    def handle(self, data: bytes) -> list[bytes]:
        """The reply frames to one request frame: the setup if asked for, then the response."""
        request = Request.from_bytes(data, max_items=self.max_items)
        response = self.respond(request).to_bytes()
        return [self.setup.to_bytes(), response] if request.want_setup else [response]

    def serve(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        connections: int | None = None,
        timeout: float = 60.0,
        ready: Callable[[int], None] | None = None,
    ) -> None:
        """Answer PSI clients over TCP; `ready(port)` is called once listening. A request frame longer
        than `max_items` points allow (and than MIN_FRAME_CAP) is refused from its length prefix."""
        max_frame = max(MIN_FRAME_CAP, points_frame_limit(self.max_items))
        serve(self.handle, host, port, connections=connections, timeout=timeout, ready=ready, max_frame=max_frame)


class PsiClient:
    """Holds the client's set and key; makes the request and reads the answer.

    `max_server_items` caps the server's set this client accepts: a setup announcing more is
    refused from its header, and a setup frame longer than such a set allows is not read. `max_fpr` bounds the
    chance that one of its items matches without being in the server's set: a setup with too few bits (a server
    inflating the count) is refused.
    """

    def __init__(
        self, items: Iterable[Item], *, reveal: str = "items", progress: bool | None = None, max_server_items: int = MAX_ITEMS,
        max_fpr: float = 1e-6,
    ) -> None:
        self.reveal = _check_reveal(reveal)
        self.max_server_items = _check_cap(max_server_items, "max_server_items")
        if not isinstance(max_fpr, (int, float)) or isinstance(max_fpr, bool) or not 0 < max_fpr < 1:
            raise PsiError(f"max_fpr must be in (0, 1), got {max_fpr!r}")
        self.max_fpr = float(max_fpr)
        self._key = BlindingKey()
        self._progress = progress
        self._items: list[Item] | None = [] if reveal == "items" else None
        self._points = _blind_items(items, self._key, "client", progress, self._items)

    @property
    def count(self) -> int:
        """Number of client items."""
        return len(self._points) // 32

    def request(self, want_setup: bool = True) -> Request:
        """The request message; `want_setup=False` when the client already holds the server's setup."""
        return Request(self._points, want_setup)

    def finish(self, response: Response | bytes, setup: ServerSetup | bytes) -> PsiResult:
        """Unblind the response and look it up in the server's set (of at most `max_server_items`)."""
        if not isinstance(response, Response):
            response = Response.from_bytes(response, max_items=self.count)
        if not isinstance(setup, ServerSetup):
            setup = ServerSetup.from_bytes(setup, max_items=self.max_server_items)
        check_count(setup.items.count, self.max_server_items, "setup: the server's set")
        fpr = setup.items.count / 2.0 ** setup.items.bits  # a non-member's chance to match a value of the set
        if fpr > self.max_fpr:
            raise PsiError(f"setup: {setup.items.bits} bits for {setup.items.count} items make a non-member match with "
                           f"probability {fpr:.2g}, above this client's max_fpr {self.max_fpr:g}")
        if response.setup_digest != setup.digest:
            raise PsiError("the response is for another setup than this client holds (the server's set or key changed "
                           "since it was fetched, e.g. a restart): fetch the setup again")
        if response.reveal != self.reveal:
            raise PsiError(f"response reveals {response.reveal!r} but this client expects {self.reveal!r}")
        if response.count != self.count:
            raise PsiError(f"response has {response.count} points for a request of {self.count}")
        bar = Progress("client", self.count, self._progress)
        parts = []
        for start in range(0, len(response.points), 32 * BATCH):
            parts.append(self._key.unblind(response.points[start : start + 32 * BATCH]))
            bar.advance(len(parts[-1]) // 32)
        bar.close()
        compressed = setup.items
        found = setup.checked.contains(split(_words(b"".join(parts)), compressed.bits, compressed.high_bits))
        size = int(found.sum())
        if self._items is None:
            return PsiResult(size, None)
        return PsiResult(size, [self._items[i] for i in np.flatnonzero(found)])

    def query(self, host: str, port: int, *, setup: ServerSetup | None = None, timeout: float = 60.0) -> PsiResult:
        """Run the protocol with a PsiServer over TCP (fetching its setup unless given)."""
        limit = max(MIN_FRAME_CAP, points_frame_limit(self.count))
        if setup is None:
            limit = max(limit, setup_frame_limit(self.max_server_items))
        frames = exchange(
            host, port, self.request(setup is None).to_bytes(), 2 if setup is None else 1, timeout=timeout, max_frame=limit
        )
        return self.finish(frames[-1], setup if setup is not None else frames[0])

    @staticmethod
    def fetch_setup(host: str, port: int, *, timeout: float = 60.0, max_items: int = MAX_ITEMS) -> ServerSetup:
        """Download and check a server's setup once, to reuse across many queries; a set of more
        than `max_items` items is refused (pass the same cap as the clients' `max_server_items`)."""
        max_items = _check_cap(max_items, "max_items")
        limit = max(MIN_FRAME_CAP, setup_frame_limit(max_items))
        frames = exchange(host, port, Request(b"", True).to_bytes(), 2, timeout=timeout, max_frame=limit)
        return ServerSetup.from_bytes(frames[0], max_items=max_items)
