"""PSI-sum wire messages: the server's blinded set, and the client's reply with encrypted values."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar

from threshold.elgamal import Ciphertext
from threshold.errors import DecodeError
from threshold.groups import Group

from .errors import PsiError
from .messages import body, fields, header, points_body


@dataclass(frozen=True)
class SumHello:
    """Server to client: its items blinded, s*H(y), sorted (so their order says nothing)."""

    points: bytes
    KIND: ClassVar[int] = 5

    def to_bytes(self) -> bytes:
        """Wire encoding."""
        return header(self.KIND) + struct.pack(">Q", len(self.points) // 32) + self.points

    @classmethod
    def from_bytes(cls, data: bytes) -> SumHello:
        """Parse and check."""
        (count,), rest = fields(body(data, cls.KIND, "sum hello"), ">Q", "sum hello")
        return cls(points_body(rest, count, "sum hello"))


@dataclass(frozen=True)
class SumRequest:
    """Client to server: the server's points blinded again, c*s*H(y), sorted; and per client item,
    sorted by point, c*H(x) with Enc(value) under the trustees' key."""

    doubled: bytes
    points: bytes
    ciphertexts: tuple[Ciphertext, ...]
    KIND: ClassVar[int] = 6

    def to_bytes(self, group: Group) -> bytes:
        """Wire encoding (elements in the group's canonical bytes)."""
        cts = b"".join(group.encode(c.alpha) + group.encode(c.beta) for c in self.ciphertexts)
        head = struct.pack(">QQ", len(self.doubled) // 32, len(self.ciphertexts))
        return header(self.KIND) + head + self.doubled + self.points + cts

    @classmethod
    def from_bytes(cls, data: bytes, group: Group) -> SumRequest:
        """Parse and check the points and the ciphertexts' group membership."""
        (doubled_count, count), rest = fields(body(data, cls.KIND, "sum request"), ">QQ", "sum request")
        size = group.element_bytes
        expected = 32 * doubled_count + (32 + 2 * size) * count
        if len(rest) != expected:
            raise PsiError(f"sum request: {len(rest)} bytes after the header, expected {expected}")
        doubled = points_body(rest[: 32 * doubled_count], doubled_count, "sum request (server points)")
        cut = 32 * (doubled_count + count)
        points = points_body(rest[32 * doubled_count : cut], count, "sum request (client points)")
        cts = []
        try:
            for i in range(count):
                at = cut + 2 * size * i
                alpha = group.decode(bytes(rest[at : at + size]), f"sum request ciphertext {i} alpha", allow_identity=True)
                beta = group.decode(bytes(rest[at + size : at + 2 * size]), f"sum request ciphertext {i} beta", allow_identity=True)
                cts.append(Ciphertext(alpha, beta))
        except DecodeError as exc:
            raise PsiError(str(exc)) from exc
        return cls(doubled, points, tuple(cts))
