"""PSI-sum wire messages: the server's blinded set, and the client's signed reply with encrypted values."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from threshold.elgamal import Ciphertext
from threshold.encoding import encode
from threshold.errors import DecodeError
from threshold.groups import Element, Group

from .errors import PsiError
from .messages import body, check_count, fields, header, points_body

TAG = "quorum-psi-sum-v2"


@dataclass(frozen=True)
class SumHello:
    """Server to client: its items blinded, s*H(y), sorted (so their order says nothing)."""

    points: bytes
    KIND: ClassVar[int] = 5

    def to_bytes(self) -> bytes:
        """Wire encoding."""
        return header(self.KIND) + struct.pack(">Q", len(self.points) // 32) + self.points

    @classmethod
    def from_bytes(cls, data: bytes, *, max_items: int | None = None) -> SumHello:
        """Parse and check (more than `max_items` points, None: no cap, are refused from the header)."""
        (count,), rest = fields(body(data, cls.KIND, "sum hello"), ">Q", "sum hello")
        check_count(count, max_items, "sum hello")
        return cls(points_body(rest, count, "sum hello"))


def sorted_distinct(points: bytes, name: str) -> bytes:
    """The points, refused unless in strictly increasing byte order (as the client sends them): a
    repeated client point would count its item more than once, toward the trustees' min_count too."""
    rows = [points[i : i + 32] for i in range(0, len(points), 32)]
    for i in range(1, len(rows)):
        if rows[i] <= rows[i - 1]:
            raise PsiError(f"{name}: point {i} repeats or is out of order (the points must be sorted and distinct)")
    return points


def signed_part(group: Group, public_key: Element, request_id: bytes, ciphertexts: tuple[Ciphertext, ...],
                points: bytes, doubled: bytes) -> bytes:
    """What the client signs and the trustees check: its encrypted values, under which key, in which request, and
    the points that decide which of them match (its blinded items, row by row, and the server's blinded again)."""
    return encode(TAG, group.name, group.encode(public_key), request_id,
                  [group.encode(c.alpha) + group.encode(c.beta) for c in ciphertexts], points, doubled)


def check_client_signature(client_key: bytes, signature: bytes, message: bytes) -> None:
    """Raise PsiError unless `signature` is the client's Ed25519 signature of `message`."""
    try:
        Ed25519PublicKey.from_public_bytes(client_key).verify(signature, message)
    except (InvalidSignature, ValueError) as exc:
        raise PsiError("the client's signature on its encrypted values and points does not verify") from exc


@dataclass(frozen=True)
class SumRequest:
    """Client to server: the server's points blinded again, c*s*H(y), sorted; per client item,
    sorted by point, c*H(x) with Enc(value) under the trustees' key; a fresh request id; and the
    client's Ed25519 signature on its ciphertexts and points (so trustees decrypt one sum per request, over the
    items that match)."""

    doubled: bytes
    points: bytes
    ciphertexts: tuple[Ciphertext, ...]
    request_id: bytes
    client_key: bytes
    signature: bytes
    KIND: ClassVar[int] = 6

    def to_bytes(self, group: Group) -> bytes:
        """Wire encoding (elements in the group's canonical bytes)."""
        cts = b"".join(group.encode(c.alpha) + group.encode(c.beta) for c in self.ciphertexts)
        head = struct.pack(">QQ", len(self.doubled) // 32, len(self.ciphertexts)) + self.request_id + self.client_key
        return header(self.KIND) + head + self.doubled + self.points + cts + self.signature

    @classmethod
    def from_bytes(
        cls, data: bytes, group: Group, public_key: Element, *, max_items: int | None = None, server_points: int | None = None
    ) -> SumRequest:
        """Parse; check the points (valid, sorted, distinct), the ciphertexts' group membership and the
        client's signature. More than `max_items` client points (None: no cap), or other than
        `server_points` server points (None: any number), are refused from the header, before any
        of that per-item work."""
        (doubled_count, count), rest = fields(body(data, cls.KIND, "sum request"), ">QQ", "sum request")
        if server_points is not None and doubled_count != server_points:
            raise PsiError(f"sum request: {doubled_count} server points returned, {server_points} sent")
        check_count(count, max_items, "sum request (client points)")
        size = group.element_bytes
        expected = 48 + 32 * doubled_count + (32 + 2 * size) * count + 64
        if len(rest) != expected:
            raise PsiError(f"sum request: {len(rest)} bytes after the header, expected {expected}")
        request_id, client_key, rest = bytes(rest[:16]), bytes(rest[16:48]), rest[48:]
        doubled = sorted_distinct(points_body(rest[: 32 * doubled_count], doubled_count, "sum request (server points)"),
                                  "sum request (server points)")
        cut = 32 * (doubled_count + count)
        points = sorted_distinct(points_body(rest[32 * doubled_count : cut], count, "sum request (client points)"),
                                 "sum request (client points)")
        cts = []
        try:
            for i in range(count):
                at = cut + 2 * size * i
                alpha = group.decode(bytes(rest[at : at + size]), f"sum request ciphertext {i} alpha", allow_identity=True)
                beta = group.decode(bytes(rest[at + size : at + 2 * size]), f"sum request ciphertext {i} beta", allow_identity=True)
                cts.append(Ciphertext(alpha, beta))
        except DecodeError as exc:
            raise PsiError(str(exc)) from exc
        signature = bytes(rest[-64:])
        check_client_signature(client_key, signature, signed_part(group, public_key, request_id, tuple(cts), points, doubled))
        return cls(doubled, points, tuple(cts), request_id, client_key, signature)
