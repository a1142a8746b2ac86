"""PSI-sum wire messages: the server's blinded set, and the client's signed reply with encrypted values, each value
as the encryptions of its bits with a 0/1 proof per bit (so that no value is negative or beyond its bound)."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from threshold.batch import holds_weighted
from threshold.elgamal import Ciphertext, PublicKey
from threshold.encoding import encode
from threshold.errors import DecodeError
from threshold.groups import Element, ElementReader, Group
from threshold.proofs import RangeProof

from .errors import PsiError
from .messages import body, check_count, fields, header, points_body

TAG = "quorum-psi-sum-v3"  # v3: each value sent as its bits' ciphertexts, with a 0/1 proof per bit
MAX_VALUE_BITS = 64  # the most bits a value may have (a sum over 2^32 items stays far below the group order)
SCALAR = 32


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


def signed_part(group: Group, public_key: Element, request_id: bytes, bits: Sequence[Sequence[Ciphertext]],
                points: bytes, doubled: bytes) -> bytes:
    """What the client signs and the trustees check: its encrypted values (the ciphertexts of their bits), under which
    key, in which request, and the points that decide which of them match (its blinded items, row by row, and the
    server's blinded again). The bits' proofs are not signed: anyone checks them."""
    return encode(TAG, group.name, group.encode(public_key), request_id,
                  [b"".join(group.encode(c.alpha) + group.encode(c.beta) for c in row) for row in bits], points, doubled)


def value_bits(max_value: int) -> int:
    """The bits a value up to `max_value` is sent as (its proofs show it is below 2^bits)."""
    bits = max(1, int(max_value).bit_length())
    if bits > MAX_VALUE_BITS:
        raise PsiError(f"max_value {max_value} has more than {MAX_VALUE_BITS} bits")
    return bits


def value_ciphertext(group: Group, bits: Sequence[Ciphertext]) -> Ciphertext:
    """prod bit_i^(2^i): the encryption of the value its bits' plaintexts spell (0 or 1 each, by their proofs)."""
    return Ciphertext(group.multi_exp([(c.alpha, 1 << i) for i, c in enumerate(bits)]),
                      group.multi_exp([(c.beta, 1 << i) for i, c in enumerate(bits)]))


def bit_context(request_id: bytes, client_key: bytes, point: bytes, bit: int) -> bytes:
    """What the 0/1 proof of one bit is bound to: this request of this client, the row's point, the bit's place."""
    return encode(TAG, "value-bit", request_id, client_key, point, bit)


def check_bit_proofs(public_key: PublicKey, request_id: bytes, client_key: bytes, points: bytes,
                     bits: Sequence[Sequence[Ciphertext]], proofs: Sequence[Sequence[RangeProof]],
                     reader: ElementReader | None = None) -> None:
    """Raise PsiError unless every bit's 0/1 proof holds: one batch, and if it fails, halves until the first bad bit
    is named (about twice a batch: refusing a request of bad proofs costs no more than accepting a good one).
    `reader`: the reader the bits were parsed with, whose membership tests are run first."""
    group = public_key.group
    tables = {public_key.element: public_key.table}
    items = []
    for row, (cts, row_proofs) in enumerate(zip(bits, proofs)):
        point = points[32 * row : 32 * row + 32]
        for i, (ct, proof) in enumerate(zip(cts, row_proofs)):
            if proof.limit != 1:
                raise PsiError(f"value {row} bit {i}: expected a 0/1 proof")
            items.append(((row, i), proof.equations(public_key, ct, bit_context(request_id, client_key, point, i))))
    try:
        if reader is not None:
            reader.finish()
    except DecodeError as exc:
        raise PsiError(str(exc)) from exc

    def hold(part: list) -> bool:
        return holds_weighted(group, [eq for _, eqs in part for eq in eqs], tables)

    if not items or hold(items):
        return
    while len(items) > 1:
        half = len(items) // 2
        items = items[:half] if not hold(items[:half]) else items[half:]
    row, i = items[0][0]
    raise PsiError(f"value {row} bit {i}: its proof that it encrypts 0 or 1 does not verify")


def check_client_signature(client_key: bytes, signature: bytes, message: bytes) -> None:
    """Raise PsiError unless `signature` is the client's Ed25519 signature of `message`."""
    try:
        Ed25519PublicKey.from_public_bytes(client_key).verify(signature, message)
    except (InvalidSignature, ValueError) as exc:
        raise PsiError("the client's signature on its encrypted values and points does not verify") from exc


@dataclass(frozen=True)
class SumRequest:
    """Client to server: the server's points blinded again, c*s*H(y), sorted; per client item,
    sorted by point, c*H(x) with its value under the trustees' key, as the ciphertexts of its bits
    (least significant first) each with a 0/1 proof; a fresh request id; and the client's Ed25519
    signature on its ciphertexts and points (so trustees decrypt one sum per request, over the items
    that match, of values that are neither negative nor beyond 2^bits)."""

    doubled: bytes
    points: bytes
    bits: tuple[tuple[Ciphertext, ...], ...]
    proofs: tuple[tuple[RangeProof, ...], ...]
    request_id: bytes
    client_key: bytes
    signature: bytes
    KIND: ClassVar[int] = 7  # 6 was version 2's request: one ciphertext per value, nothing to bound it

    def to_bytes(self, group: Group) -> bytes:
        """Wire encoding (elements in the group's canonical bytes, scalars in 32 big-endian bytes)."""
        width = len(self.bits[0]) if self.bits else 0
        rows = b"".join(b"".join(group.encode(c.alpha) + group.encode(c.beta) + _proof_bytes(group, p)
                                 for c, p in zip(cts, proofs)) for cts, proofs in zip(self.bits, self.proofs))
        head = struct.pack(">QQB", len(self.doubled) // 32, len(self.bits), width) + self.request_id + self.client_key
        return header(self.KIND) + head + self.doubled + self.points + rows + self.signature

    @classmethod
    def from_bytes(
        cls, data: bytes, group: Group, public_key: Element, *, max_items: int | None = None, server_points: int | None = None,
        max_bits: int = MAX_VALUE_BITS,
    ) -> SumRequest:
        """Parse; check the points (valid, sorted, distinct), the ciphertexts' group membership, the client's
        signature and every bit's 0/1 proof. More than `max_items` client points (None: no cap), other than
        `server_points` server points (None: any number), or values of more than `max_bits` bits, are refused
        from the header, before any of that per-item work."""
        (doubled_count, count, width), rest = fields(body(data, cls.KIND, "sum request"), ">QQB", "sum request")
        if server_points is not None and doubled_count != server_points:
            raise PsiError(f"sum request: {doubled_count} server points returned, {server_points} sent")
        check_count(count, max_items, "sum request (client points)")
        if not 1 <= width <= min(max_bits, MAX_VALUE_BITS):
            raise PsiError(f"sum request: values of {width} bits, expected 1 to {min(max_bits, MAX_VALUE_BITS)}")
        size = group.element_bytes
        row_size = width * (6 * size + 3 * SCALAR)
        expected = 48 + 32 * doubled_count + (32 + row_size) * count + 64
        if len(rest) != expected:
            raise PsiError(f"sum request: {len(rest)} bytes after the header, expected {expected}")
        request_id, client_key, rest = bytes(rest[:16]), bytes(rest[16:48]), rest[48:]
        doubled = sorted_distinct(points_body(rest[: 32 * doubled_count], doubled_count, "sum request (server points)"),
                                  "sum request (server points)")
        cut = 32 * (doubled_count + count)
        points = sorted_distinct(points_body(rest[32 * doubled_count : cut], count, "sum request (client points)"),
                                 "sum request (client points)")
        reader = group.reader()
        try:
            with reader.batched():
                rows = [_read_row(group, reader, rest[cut + row_size * r : cut + row_size * (r + 1)], width, r)
                        for r in range(count)]
        except DecodeError as exc:
            raise PsiError(str(exc)) from exc
        bits = tuple(tuple(c for c, _ in row) for row in rows)
        proofs = tuple(tuple(p for _, p in row) for row in rows)
        signature = bytes(rest[-64:])
        # the membership tests owed by the reader first (folded into the proofs' batch), naming a bad element
        check_bit_proofs(PublicKey(group, public_key), request_id, client_key, points, bits, proofs, reader)
        check_client_signature(client_key, signature, signed_part(group, public_key, request_id, bits, points, doubled))
        return cls(doubled, points, bits, proofs, request_id, client_key, signature)


def _proof_bytes(group: Group, proof: RangeProof) -> bytes:
    """A 0/1 proof on the wire: a_0, a_1, b_0, b_1, then c_0, v_0, v_1."""
    return (b"".join(group.encode(x) for x in (*proof.a, *proof.b))
            + b"".join(int(x).to_bytes(SCALAR, "big") for x in (*proof.challenges, *proof.responses)))


def _read_row(group: Group, reader: ElementReader, data: memoryview, width: int, row: int) -> list[tuple[Ciphertext, RangeProof]]:
    """One value's bits: per bit its ciphertext (members, read through `reader`) and its 0/1 proof (read as
    RangeProof.from_json reads one, the same checks)."""
    size, out, at = group.element_bytes, [], 0

    def take(n: int) -> bytes:
        nonlocal at
        at += n
        return bytes(data[at - n : at])

    for i in range(width):
        where = f"sum request value {row} bit {i}"
        ct = Ciphertext(reader.element_bytes(take(size), f"{where} alpha", allow_identity=True),
                        reader.element_bytes(take(size), f"{where} beta", allow_identity=True))
        a, b = [take(size).hex(), take(size).hex()], [take(size).hex(), take(size).hex()]
        c0, v0, v1 = (take(SCALAR).hex() for _ in range(3))
        proof = RangeProof.from_json(group, {"a": a, "b": b, "challenges": [c0], "responses": [v0, v1]}, 1,
                                     f"{where} proof", reader=reader)
        out.append((ct, proof))
    return out
