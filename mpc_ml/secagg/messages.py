"""Secure-aggregation messages as bytes: one strict parser per kind, client messages signed.

Layout: b"QSAG", version byte, kind byte, then big-endian fields. A client message ends with
an Ed25519 signature, by the key in that client's Keys message, over the session context
(SHA-256 of the Params message, so every parameter is bound) and every byte before it.
"""

from __future__ import annotations

import hashlib
import math
import struct
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .errors import SecAggError
from .quantize import usable_clip

MAGIC = b"QSAG"
VERSION = 3  # 2: the consistency-check round (Confirm); 3: Params carry the updates' shape
MAX_DIMS = 32  # dimensions of an update's shape that Params carry
FIELD = 2**255 - 19  # Shamir shares live in GF(2^255 - 19)
SHARE_PLAINTEXT = 4 + 4 + 32 + 32  # from, to, share of s_sk, share of b
SHARE_CIPHERTEXT = SHARE_PLAINTEXT + 16  # AES-GCM tag


class Reader:
    """Sequential strict reader over one message."""

    def __init__(self, data: bytes, kind: int, name: str) -> None:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise SecAggError(f"{name}: expected bytes, got {type(data).__name__}")
        self.data, self.pos, self.name = bytes(data), 0, name
        if self.take(4) != MAGIC:
            raise SecAggError(f"{name}: not a secure-aggregation message (bad magic)")
        version, got = self.take(1)[0], self.take(1)[0]
        if version != VERSION:
            raise SecAggError(f"{name}: unsupported version {version} (this release reads version {VERSION} only)")
        if got != kind:
            raise SecAggError(f"{name}: wrong message kind {got}, expected {kind}")

    def take(self, size: int) -> bytes:
        """The next `size` bytes."""
        if self.pos + size > len(self.data):
            raise SecAggError(f"{self.name}: truncated at byte {len(self.data)} ({size} more expected at byte {self.pos})")
        out = self.data[self.pos : self.pos + size]
        self.pos += size
        return out

    def unpack(self, fmt: str) -> tuple:
        """Struct fields."""
        return struct.unpack(">" + fmt, self.take(struct.calcsize(">" + fmt)))

    def ids(self, count: int) -> list[int]:
        """`count` distinct client ids in increasing order."""
        out = list(self.unpack(f"{count}I")) if count else []
        if any(b <= a for a, b in zip(out, out[1:])) or (out and out[0] == 0):
            raise SecAggError(f"{self.name}: client ids must be positive, distinct and increasing")
        return out

    def share(self) -> int:
        """A field element."""
        value = int.from_bytes(self.take(32), "little")
        if value >= FIELD:
            raise SecAggError(f"{self.name}: share value is not a field element")
        return value

    def end(self) -> None:
        """Refuse trailing bytes."""
        if self.pos != len(self.data):
            raise SecAggError(f"{self.name}: {len(self.data) - self.pos} unexpected trailing bytes")


def header(kind: int) -> bytes:
    """Magic, version and kind."""
    return MAGIC + bytes([VERSION, kind])


def session_of(context: bytes) -> bytes:
    """The session id a caller's context (task and round) names: 16 bytes of a domain-separated SHA-256."""
    if not isinstance(context, (bytes, bytearray)) or not context:
        raise SecAggError(f"context must be non-empty bytes, got {context!r}")
    return hashlib.sha256(b"quorum-secagg-session" + bytes(context)).digest()[:16]


def sign(key: Ed25519PrivateKey, context: bytes, unsigned: bytes) -> bytes:
    """The message with its signature (over the session context and the message) appended."""
    return unsigned + key.sign(context + unsigned)


def check_signature(public: bytes, context: bytes, data: bytes, what: str) -> None:
    """Verify the trailing 64-byte signature of `data` under `public` in this session context."""
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(data[-64:], context + data[:-64])
    except (InvalidSignature, ValueError) as exc:
        raise SecAggError(f"{what}: bad signature") from exc


def digest(data: bytes) -> bytes:
    """SHA-256, for binding a response to the request it answers."""
    return hashlib.sha256(data).digest()


@dataclass(frozen=True)
class Params:
    """Server, first: session id and the round's parameters. `shape` is the updates' shape (default the flat
    `length`): it is signed with the rest, so that the total read back from a transcript has the clients' shape."""

    session: bytes
    clients: int
    length: int
    threshold: int
    degree: int
    bits: int
    clip: float
    shape: tuple[int, ...] | None = None
    KIND: ClassVar[int] = 1

    def __post_init__(self) -> None:
        shape = (self.length,) if self.shape is None else self.shape
        if not isinstance(shape, (tuple, list)) or not all(type(d) is int for d in shape):
            raise SecAggError(f"params: shape must be a tuple of integers, got {shape!r}")
        object.__setattr__(self, "shape", tuple(shape))
        problems = []
        if len(self.session) != 16:
            problems.append("session id must be 16 bytes")
        if not 2 <= self.clients < 2**31:
            problems.append(f"clients must be at least 2, got {self.clients}")
        if not 1 <= self.length < 2**30:
            problems.append(f"vector length must be in 1..2^30 - 1, got {self.length} (shape {self.shape})")
        elif len(self.shape) > MAX_DIMS or min(self.shape, default=1) < 1 or math.prod(self.shape) != self.length:
            problems.append(f"shape {self.shape} is not {self.length} values in at most {MAX_DIMS} positive dimensions")
        if not 1 <= self.degree <= self.clients - 1:
            problems.append(f"neighbours must be 1..{self.clients - 1}, got {self.degree}")
        elif self.degree % 2 and self.degree != self.clients - 1:
            problems.append(f"neighbours must be even (a ring) or clients - 1 (complete graph), got {self.degree}")
        safe = (self.degree + 1) // 2 + 1
        if not safe <= self.threshold <= min(self.degree + 1, 65535):
            problems.append(
                f"threshold must be {safe}..{self.degree + 1} (more than half of neighbours + 1, so that no server "
                f"can collect both secrets of one client from two disjoint groups), got {self.threshold}"
            )
        if not 1 <= self.bits <= 31 or self.clients * (2**self.bits - 1) >= 2**32:
            problems.append(f"bits {self.bits} is out of range for {self.clients} clients")
        if not usable_clip(self.clip, self.bits):
            problems.append(f"clip must be positive and finite, with a finite scale at {self.bits} bits, got {self.clip!r}")
        if problems:
            raise SecAggError("params: " + "; ".join(problems))

    @property
    def confirmations_needed(self) -> int:
        """Confirmations of one unmask request over one key list before any client answers it: a majority of the
        clients (so that no two stories or graphs both get them), and at least the threshold."""
        return max(self.threshold, self.clients // 2 + 1)

    @property
    def context(self) -> bytes:
        """What every client signature is bound to: the hash of these parameters."""
        return digest(self.to_bytes())

    def to_bytes(self) -> bytes:
        """Wire encoding."""
        assert self.shape is not None  # set by __post_init__
        return (header(self.KIND) + self.session + struct.pack(">IIB", self.clients, self.length, len(self.shape))
                + struct.pack(f">{len(self.shape)}I", *self.shape)
                + struct.pack(">HIBd", self.threshold, self.degree, self.bits, self.clip))

    @classmethod
    def from_bytes(cls, data: bytes) -> Params:
        """Parse and check."""
        r = Reader(data, cls.KIND, "params")
        session = r.take(16)
        clients, length, dims = r.unpack("IIB")
        if dims > MAX_DIMS:
            raise SecAggError(f"params: shape of {dims} dimensions (at most {MAX_DIMS})")
        shape = r.unpack(f"{dims}I")
        threshold, degree, bits, clip = r.unpack("HIBd")
        r.end()
        return cls(session, clients, length, threshold, degree, bits, clip, shape)


@dataclass(frozen=True)
class Keys:
    """Client, round 0: its public keys for share encryption (c), masks (s) and signatures."""

    sender: int
    c_pk: bytes
    s_pk: bytes
    sig_pk: bytes
    raw: bytes = field(repr=False)
    KIND: ClassVar[int] = 2

    @staticmethod
    def build(sender: int, c_pk: bytes, s_pk: bytes, key: Ed25519PrivateKey, context: bytes) -> bytes:
        """The signed message."""
        sig_pk = key.public_key().public_bytes_raw()
        return sign(key, context, header(Keys.KIND) + struct.pack(">I", sender) + c_pk + s_pk + sig_pk)

    @classmethod
    def from_bytes(cls, data: bytes, context: bytes, check: bool = True) -> Keys:
        """Parse, and check the self-signature unless `check` is False (the caller checks it when it matters)."""
        r = Reader(data, cls.KIND, "keys")
        (sender,) = r.unpack("I")
        c_pk, s_pk, sig_pk = r.take(32), r.take(32), r.take(32)
        r.take(64)
        r.end()
        if len({c_pk, s_pk}) != 2 or sender == 0:
            raise SecAggError("keys: sender id 0 or equal encryption and mask keys")
        if check:
            check_signature(sig_pk, context, r.data, f"keys of client {sender}")
        return cls(sender, c_pk, s_pk, sig_pk, r.data)


@dataclass(frozen=True)
class Shares:
    """Client, round 1: commitment to its self-mask seed and its encrypted shares, one per neighbour."""

    sender: int
    b_commit: bytes
    ciphertexts: dict[int, bytes]
    raw: bytes = field(repr=False)
    KIND: ClassVar[int] = 3

    @staticmethod
    def build(sender: int, b_commit: bytes, ciphertexts: dict[int, bytes], key: Ed25519PrivateKey, context: bytes) -> bytes:
        """The signed message."""
        body = b"".join(struct.pack(">I", v) + ciphertexts[v] for v in sorted(ciphertexts))
        unsigned = header(Shares.KIND) + struct.pack(">I", sender) + b_commit + struct.pack(">I", len(ciphertexts)) + body
        return sign(key, context, unsigned)

    @classmethod
    def from_bytes(cls, data: bytes, sig_pk: bytes, context: bytes) -> Shares:
        """Parse and check the signature under the sender's key."""
        r = Reader(data, cls.KIND, "shares")
        (sender,) = r.unpack("I")
        b_commit = r.take(32)
        (count,) = r.unpack("I")
        ciphertexts: dict[int, bytes] = {}
        for _ in range(count):
            (to,) = r.unpack("I")
            if to in ciphertexts or to == sender or to == 0 or (ciphertexts and to < max(ciphertexts)):
                raise SecAggError(f"shares of client {sender}: recipient {to} repeated, out of order or invalid")
            ciphertexts[to] = r.take(SHARE_CIPHERTEXT)
        r.take(64)
        r.end()
        check_signature(sig_pk, context, r.data, f"shares of client {sender}")
        return cls(sender, b_commit, ciphertexts, r.data)


@dataclass(frozen=True)
class Masked:
    """Client, round 2: its masked, quantised update mod 2^32, and the peers it added a pairwise mask with (those
    whose shares it received): the unmasking removes exactly those masks, and refuses lists that do not pair up."""

    sender: int
    vector: np.ndarray
    peers: tuple[int, ...]
    raw: bytes = field(repr=False)
    KIND: ClassVar[int] = 4

    @staticmethod
    def build(sender: int, vector: np.ndarray, peers: list[int], key: Ed25519PrivateKey, context: bytes) -> bytes:
        """The signed message."""
        unsigned = (header(Masked.KIND) + struct.pack(">II", sender, len(vector)) + vector.astype("<u4").tobytes()
                    + struct.pack(f">I{len(peers)}I", len(peers), *sorted(peers)))
        return sign(key, context, unsigned)

    @classmethod
    def from_bytes(cls, data: bytes, sig_pk: bytes, context: bytes, length: int) -> Masked:
        """Parse and check length and signature."""
        r = Reader(data, cls.KIND, "masked input")
        sender, got = r.unpack("II")
        if got != length:
            raise SecAggError(f"masked input of client {sender}: length {got}, expected {length}")
        vector = np.frombuffer(r.take(4 * length), dtype="<u4")
        peers = tuple(r.ids(r.unpack("I")[0]))
        r.take(64)
        r.end()
        if sender in peers:
            raise SecAggError(f"masked input of client {sender}: lists itself as a peer")
        check_signature(sig_pk, context, r.data, f"masked input of client {sender}")
        return cls(sender, vector, peers, r.data)


@dataclass(frozen=True)
class UnmaskRequest:
    """Server, round 3 (the same to every survivor): who sent a masked input and who dropped after sharing; each
    survivor confirms it (Confirm), then answers it with the confirmations of its neighbourhood in hand."""

    survivors: list[int]
    dropped: list[int]
    KIND: ClassVar[int] = 5

    def to_bytes(self) -> bytes:
        """Wire encoding."""
        s, d = self.survivors, self.dropped
        return header(self.KIND) + struct.pack(f">I{len(s)}II{len(d)}I", len(s), *s, len(d), *d)

    @classmethod
    def from_bytes(cls, data: bytes) -> UnmaskRequest:
        """Parse and check."""
        r = Reader(data, cls.KIND, "unmask request")
        survivors = r.ids(r.unpack("I")[0])
        dropped = r.ids(r.unpack("I")[0])
        r.end()
        return cls(survivors, dropped)


@dataclass(frozen=True)
class Confirm:
    """Client, round 3 (Bonawitz's consistency check): its signature on the one unmask request it will answer, and on
    the key list it saw (its digest, the graph seed: fresh keys each session, so a confirmation binds one session and
    one graph; a server that showed clients different key lists, or replays an earlier session's confirmations, gets
    confirmations that do not count together)."""

    sender: int
    request: bytes
    keys: bytes
    raw: bytes = field(repr=False)
    KIND: ClassVar[int] = 6

    @staticmethod
    def build(sender: int, request: bytes, keys: bytes, key: Ed25519PrivateKey, context: bytes) -> bytes:
        """The signed message: the sender, the digest of the request and the digest of the key list."""
        return sign(key, context, header(Confirm.KIND) + struct.pack(">I", sender) + digest(request) + keys)

    @classmethod
    def from_bytes(cls, data: bytes, sig_pk: bytes, context: bytes) -> Confirm:
        """Parse and check the signature."""
        r = Reader(data, cls.KIND, "confirmation")
        (sender,) = r.unpack("I")
        request, keys = r.take(32), r.take(32)
        r.take(64)
        r.end()
        check_signature(sig_pk, context, r.data, f"confirmation of client {sender}")
        return cls(sender, request, keys, r.data)


def sender_of(data: bytes) -> int:
    """The sender id of a client message before its signature is checked (0 if too short to hold one)."""
    return int.from_bytes(bytes(data[6:10]), "big") if len(data) >= 10 else 0


@dataclass(frozen=True)
class Unmask:
    """Client, round 4: shares of survivors' self-mask seeds and of dropped clients' mask keys."""

    sender: int
    request: bytes
    b_shares: dict[int, int]
    sk_shares: dict[int, int]
    raw: bytes = field(repr=False)
    KIND: ClassVar[int] = 7

    @staticmethod
    def build(
        sender: int, request: bytes, b_shares: dict[int, int], sk_shares: dict[int, int], key: Ed25519PrivateKey, context: bytes
    ) -> bytes:
        """The signed message."""
        parts = [header(Unmask.KIND), struct.pack(">I", sender), digest(request)]
        for shares in (b_shares, sk_shares):
            parts.append(struct.pack(">I", len(shares)))
            parts += [struct.pack(">I", u) + shares[u].to_bytes(32, "little") for u in sorted(shares)]
        return sign(key, context, b"".join(parts))

    @classmethod
    def from_bytes(cls, data: bytes, sig_pk: bytes, context: bytes) -> Unmask:
        """Parse and check the signature."""
        r = Reader(data, cls.KIND, "unmask")
        (sender,) = r.unpack("I")
        request = r.take(32)
        groups: list[dict[int, int]] = []
        for _ in range(2):
            (count,) = r.unpack("I")
            shares: dict[int, int] = {}
            for _ in range(count):
                (u,) = r.unpack("I")
                if u == 0 or (shares and u <= max(shares)):
                    raise SecAggError(f"unmask of client {sender}: client ids must be positive and increasing")
                shares[u] = r.share()
            groups.append(shares)
        r.take(64)
        r.end()
        if set(groups[0]) & set(groups[1]):
            raise SecAggError(f"unmask of client {sender}: reveals both secrets of one client")
        check_signature(sig_pk, context, r.data, f"unmask of client {sender}")
        return cls(sender, request, groups[0], groups[1], r.data)


@dataclass(frozen=True)
class Result:
    """Server, last: the aggregate of the quantised updates mod 2^32."""

    total: np.ndarray
    KIND: ClassVar[int] = 8

    def to_bytes(self) -> bytes:
        """Wire encoding."""
        return header(self.KIND) + struct.pack(">I", len(self.total)) + self.total.astype("<u4").tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> Result:
        """Parse and check."""
        r = Reader(data, cls.KIND, "result")
        (length,) = r.unpack("I")
        total = np.frombuffer(r.take(4 * length), dtype="<u4")
        r.end()
        return cls(total)
