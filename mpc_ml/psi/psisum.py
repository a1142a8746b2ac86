"""PSI-sum (private ad attribution): the sum of the client's values over the intersection,
encrypted under the trustees' threshold ElGamal key and released by a quorum with proofs.

Server (holds items Y) -> SumHello: s*H(y), sorted. Client (holds items X with values v) ->
SumRequest: c*s*H(y), sorted, and (c*H(x), Enc(v)) sorted by point, all of it signed by the
client; Enc(v) is sent as the encryptions of v's bits, each with a 0/1 proof, so that v is in 0..2^bits - 1
(Enc(v) = prod Enc(b_i)^(2^i): no negative value can lower a sum, none beyond the bound raise it). The
server computes s*c*H(x) on edwards25519 (the client's points lifted from their u-coordinates), marks the ciphertexts whose point is among the c*s*H(y), multiplies them (an
encryption of the sum: it learns only the intersection size), and proves with one batched DLEQ
proof (S = s*B, and a random combination of its products) that it multiplied every client point
by the same s: so which items match is fixed by the client's signed points and the server's one
key, not chosen by the server. Each trustee checks the client's signature (by a key registered
with the trustees), every bit's proof, the server's proof and the matched items it implies, that the encrypted total
is their product, that at least `min_count` match, and that it has not decrypted a sum for that
request before; then it publishes a partial decryption with a Chaum-Pedersen proof. Any `quorum`
of them release the sum; `verify` rechecks it all against the trustees' keys.
"""

from __future__ import annotations

import json
import re
import secrets
import sys
import threading
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from threshold.decryption import PartialDecryption, combine, partial_decrypt, verify_partial
from threshold.dkg import TrusteeKey
from threshold.elgamal import Ciphertext, PublicKey, ciphertext_sum
from threshold.encoding import canonical_json, encode, hex_list
from threshold.errors import DecodeError, ProtocolError, QuorumError
from threshold.groups import Element, Group, get_group
from threshold.hashing import hash_to_scalar, sha256
from threshold.proofs import ChaumPedersenProof, RangeProof
from threshold.shamir import check_indices, lagrange_at_zero

from ..errors import peer_text
from .curve import BlindingKey, check_points, to_edwards, to_montgomery
from .errors import PsiError
from .hashing import encode_items
from .items import Item, collection, item_bytes
from .messages import MAX_ITEMS, check_count
from .protocol import _check_cap, _check_distinct, _words
from .sum_messages import (MAX_VALUE_BITS, TAG, SumHello, SumRequest, bit_context, check_bit_proofs,
                           check_client_signature, signed_part, sorted_distinct, value_bits, value_ciphertext)

MIN_COUNT = 5  # default k-anonymity floor: no sum over fewer matched items is decrypted
VALUE_BITS = 32  # default widest value a server parses and a trustee decrypts (each a policy; the protocol's cap is 64)
ED = get_group("ed25519")  # where the server proves its blinding, whatever group encrypts the values
BLINDING_TAG = "psi-sum-blinding"  # the DLEQ proof's challenge
WEIGHTS_TAG = "psi-sum-blinding-weights"  # its random combination's weights


def _sorted_points(points: bytes) -> bytes:
    """The 32-byte points in increasing byte order."""
    return b"".join(sorted(points[i : i + 32] for i in range(0, len(points), 32)))


class PsiSumServer:
    """The party with the items only (e.g. the ad platform: who saw the ad).

    `max_items` caps the client items of one request (each costs a blinding, a signature-checked
    ciphertext and two group decodings): a larger request is refused from its header.
    """

    def __init__(self, items: Iterable[Item], *, max_items: int = MAX_ITEMS, max_value_bits: int = VALUE_BITS) -> None:
        """`max_value_bits`: the widest values it parses (a wider request is refused from its header)."""
        self.max_items = _check_cap(max_items, "max_items")
        self.max_value_bits = _check_bits(max_value_bits)
        normalised = [item_bytes(x, i, "server") for i, x in enumerate(collection(items, "server"))]
        if not normalised:
            raise PsiError("server set is empty")
        hashed = encode_items(normalised)
        _check_distinct(_words(hashed).copy(), "server")
        self._key = BlindingKey()
        self._hello = SumHello(_sorted_points(self._key.blind(hashed)))

    def hello(self) -> SumHello:
        """The first message."""
        return self._hello

    @property
    def server_key(self) -> bytes:
        """S = s*B on edwards25519: this server's public blinding key, which its records carry and prove (trustees and
        verifiers are given it to know which server a result is from)."""
        return ED.exp_g(self._key.exponent())

    def total(self, request: SumRequest | bytes, public_key: PublicKey) -> SumRecord:
        """The encrypted sum over the intersection, as a record for the trustees (a request of more
        than `max_items` client items is refused before any per-item work)."""
        group = public_key.group
        if not isinstance(request, SumRequest):
            request = SumRequest.from_bytes(
                request, group, public_key.element, max_items=self.max_items, server_points=len(self._hello.points) // 32,
                max_bits=self.max_value_bits,
            )
        check_count(len(request.bits), self.max_items, "sum request (client points)")
        if len(request.doubled) != len(self._hello.points):
            raise PsiError(f"sum request: {len(request.doubled) // 32} server points returned, {len(self._hello.points) // 32} sent")
        lifted = _lifted(request.points, "sum request (client points)")
        key = self._key.exponent()
        blinded = tuple(ED.exp(point, key) for point in lifted)  # constant time in the key
        server_key = self.server_key
        m, z = _combination(request.request_id, request.client_key, server_key, lifted, blinded)
        proof = ChaumPedersenProof.prove(ED, key, ED.g, server_key, m, z,
                                         _blinding_context(request.request_id, request.client_key), BLINDING_TAG)
        matched = _matched(blinded, request.doubled)
        total = ciphertext_sum(group, [value_ciphertext(group, request.bits[i]) for i in matched])
        # from the request (as bytes, checked by SumRequest.from_bytes: signature, points, ciphertexts, bit proofs) and
        # this server's own blinding: the trustees check the record (SumRecord.check); the server does not redo its proof
        return SumRecord(group, public_key.element, request.request_id, request.client_key, request.signature,
                         request.bits, request.proofs, request.points, request.doubled, blinded, server_key, proof,
                         matched, total)


def _check_bits(bits: Any) -> int:
    """A value-width policy: an integer in 1..MAX_VALUE_BITS."""
    if not isinstance(bits, int) or isinstance(bits, bool) or not 1 <= bits <= MAX_VALUE_BITS:
        raise PsiError(f"max_value_bits must be an integer in 1..{MAX_VALUE_BITS}, got {bits!r}")
    return bits


def _lifted(points: bytes, what: str) -> list[bytes]:
    """The client's points on edwards25519, each checked to be in the prime-order subgroup."""
    try:
        return ED.decode_many([(e, f"{what} {i}") for i, e in enumerate(to_edwards(points, what))])
    except DecodeError as exc:
        raise PsiError(str(exc)) from exc


def _blinding_context(request_id: bytes, client_key: bytes) -> bytes:
    """What the DLEQ proof is bound to: this request of this client."""
    return encode(TAG, "blinding", request_id, client_key)


def _combination(request_id: bytes, client_key: bytes, server_key: bytes, lifted: Sequence[bytes],
                 blinded: Sequence[bytes]) -> tuple[bytes, bytes]:
    """(sum r_i P_i, sum r_i D_i) with weights r_i hashed from everything: D_i = s P_i for every i, except with
    negligible probability, if the combinations have equal discrete logs to bases P and D."""
    seed = sha256(encode(TAG, request_id, client_key, server_key, list(lifted), list(blinded)))
    weights = [hash_to_scalar(ED.q, WEIGHTS_TAG, seed, i) for i in range(len(lifted))]
    return ED.multi_exp(list(zip(lifted, weights))), ED.multi_exp(list(zip(blinded, weights)))


def _matched(blinded: Sequence[bytes], doubled: bytes) -> tuple[int, ...]:
    """The client rows whose point, times s, is among the server's points blinded again by the client."""
    targets = {doubled[i : i + 32] for i in range(0, len(doubled), 32)}
    mine = to_montgomery(list(blinded), "blinded client points")
    return tuple(i for i in range(len(blinded)) if mine[32 * i : 32 * i + 32] in targets)


class PsiSumClient:
    """The party with items and values (e.g. the merchant: who bought, for how much)."""

    def __init__(
        self,
        values: Mapping[Item, int] | Iterable[tuple[Item, int]],
        public_key: PublicKey,
        max_value: int,
        signing_key: Ed25519PrivateKey | None = None,
        *,
        max_server_items: int = MAX_ITEMS,
    ) -> None:
        """`signing_key`: the client's key, whose public half the trustees know (fresh if None).
        `max_server_items`: the largest server set (SumHello) this client blinds again. Each value is sent as
        the bit length of `max_value` bits (its proofs bound it below the next power of two)."""
        self.max_server_items = _check_cap(max_server_items, "max_server_items")
        if not isinstance(max_value, int) or isinstance(max_value, bool) or max_value < 1:
            raise PsiError(f"max_value must be a positive integer, got {max_value!r}")
        self._bits = value_bits(max_value)
        pairs = list(values.items()) if isinstance(values, Mapping) else list(values)
        if not pairs:
            raise PsiError("client set is empty")
        items, amounts = [], []
        for i, pair in enumerate(pairs):
            if not isinstance(pair, tuple) or len(pair) != 2:
                raise PsiError(f"client entry {i} is not an (item, value) pair")
            item, value = pair
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= max_value:
                raise PsiError(f"value of client item {i} must be an integer in 0..{max_value}, got {value!r}")
            items.append(item_bytes(item, i, "client"))
            amounts.append(value)
        hashed = encode_items(items)
        _check_distinct(_words(hashed).copy(), "client")
        self._key = BlindingKey()
        self._public_key = public_key
        self._points, self._values = self._key.blind(hashed), amounts
        self._signing = signing_key or Ed25519PrivateKey.generate()
        self.verify_key = self._signing.public_key().public_bytes_raw()

    def reply(self, hello: SumHello | bytes) -> SumRequest:
        """Blind the server's points again and attach the encrypted values (bit by bit, each bit with its 0/1 proof
        bound to this request and row), all shuffled by sorting."""
        if not isinstance(hello, SumHello):
            hello = SumHello.from_bytes(hello, max_items=self.max_server_items)
        check_count(len(hello.points) // 32, self.max_server_items, "sum hello")
        doubled = _sorted_points(self._key.blind(hello.points))
        rows = sorted((self._points[32 * i : 32 * i + 32], v) for i, v in enumerate(self._values))
        request_id = secrets.token_bytes(16)
        pk = self._public_key
        bits, proofs = [], []
        for point, value in rows:
            row_bits, row_proofs = [], []
            for i in range(self._bits):
                bit = value >> i & 1
                ct, r = pk.encrypt(bit)
                row_bits.append(ct)
                row_proofs.append(RangeProof.prove(pk, ct, bit, r, 1, bit_context(request_id, self.verify_key, point, i)))
            bits.append(tuple(row_bits))
            proofs.append(tuple(row_proofs))
        points = b"".join(p for p, _ in rows)
        signature = self._signing.sign(signed_part(pk.group, pk.element, request_id, bits, points, doubled))
        return SumRequest(doubled, points, tuple(bits), tuple(proofs), request_id, self.verify_key, signature)


@dataclass(frozen=True)
class SumRecord:
    """What the trustees decrypt: one signed client request, the server's blinding of its points with the
    proof that one key made it, which of its ciphertexts matched, and their product, under one key."""

    group: Group
    public_key: Element
    request_id: bytes
    client_key: bytes
    signature: bytes
    bits: tuple[tuple[Ciphertext, ...], ...]  # per row, its value's bits encrypted, least significant first
    bit_proofs: tuple[tuple[RangeProof, ...], ...]  # their 0/1 proofs
    points: bytes  # the client's c*H(x), row by row (u-coordinates)
    doubled: bytes  # c*s*H(y), sorted (u-coordinates)
    blinded: tuple[bytes, ...]  # s*c*H(x) per row, on edwards25519
    server_key: bytes  # S = s*B on edwards25519
    proof: ChaumPedersenProof  # log_B S = log of the combined blinded points to the combined client points
    matched: tuple[int, ...]
    total: Ciphertext

    @property
    def count(self) -> int:
        """Size of the intersection."""
        return len(self.matched)

    @property
    def value_bits(self) -> int:
        """The bits of each value (each is proven to lie in 0..2^value_bits - 1)."""
        return len(self.bits[0]) if self.bits else 0

    @cached_property
    def ciphertexts(self) -> tuple[Ciphertext, ...]:
        """Each row's value ciphertext: the product of its bits' ciphertexts raised to 2^i."""
        return tuple(value_ciphertext(self.group, row) for row in self.bits)

    @property
    def request(self) -> bytes:
        """The request's identity for the trustees' ledgers: client key and request id."""
        return self.client_key + self.request_id

    def to_json(self) -> dict[str, Any]:
        """Canonical JSON fields."""
        g = self.group
        return {"group": g.name, "public_key": g.to_hex(self.public_key), "request_id": self.request_id.hex(),
                "client_key": self.client_key.hex(), "signature": self.signature.hex(),
                "bits": [[c.to_json(g) for c in row] for row in self.bits],
                "bit_proofs": [[p.to_json(g) for p in row] for row in self.bit_proofs], "points": _rows_hex(self.points),
                "doubled": _rows_hex(self.doubled), "blinded": [b.hex() for b in self.blinded],
                "server_key": self.server_key.hex(), "proof": self.proof.to_json(ED), "matched": list(self.matched),
                "total": self.total.to_json(g)}

    @classmethod
    def from_json(cls, obj: Any) -> SumRecord:
        """Parse and membership-check every element (the signature and the proof are checked by `check`)."""
        keys = {"group", "public_key", "request_id", "client_key", "signature", "bits", "bit_proofs", "points", "doubled",
                "blinded", "server_key", "proof", "matched", "total"}
        if not isinstance(obj, dict) or set(obj) != keys:
            raise DecodeError("record", f"expected exactly {', '.join(sorted(keys))}")
        if not isinstance(obj["group"], str):
            raise DecodeError("record.group", "expected a group name")
        group = get_group(obj["group"])
        raw = {}
        for name, size in (("request_id", 16), ("client_key", 32), ("signature", 64)):
            text = obj[name]
            if not isinstance(text, str) or not re.fullmatch(f"[0-9a-f]{{{2 * size}}}", text):  # fromhex skips spaces
                raise DecodeError(f"record.{name}", f"expected {size} bytes as lowercase hex")
            raw[name] = bytes.fromhex(text)
        for name in ("bits", "bit_proofs", "points", "doubled", "blinded", "matched"):
            if not isinstance(obj[name], list):
                raise DecodeError(f"record.{name}", "expected a list")
        if not all(isinstance(i, int) and not isinstance(i, bool) for i in obj["matched"]):
            raise DecodeError("record.matched", "expected integer indices")
        bits, proofs = _bit_rows(group, obj["bits"], obj["bit_proofs"])
        points, doubled = (_rows(obj[name], f"record.{name}") for name in ("points", "doubled"))
        blinded = tuple(ED.from_hex_many([(x, f"record.blinded[{i}]") for i, x in enumerate(obj["blinded"])]))
        return cls(group, group.from_hex(obj["public_key"], "record.public_key"), raw["request_id"], raw["client_key"],
                   raw["signature"], bits, proofs, points, doubled, blinded, ED.from_hex(obj["server_key"], "record.server_key"),
                   ChaumPedersenProof.from_json(ED, obj["proof"], "record.proof"), tuple(obj["matched"]),
                   Ciphertext.from_json(group, obj["total"], "record.total"))

    def context(self) -> bytes:
        """What every decryption proof is bound to: this record's canonical JSON."""
        return encode(TAG, sha256(canonical_json(self.to_json())))

    def check(self, min_count: int, max_value_bits: int = MAX_VALUE_BITS) -> None:
        """Refuse a record whose request is not signed by its client, whose values are not each of the same number
        of bits, at most `max_value_bits`, every bit with a valid 0/1 proof, whose blinded points are not the client's
        points times one server key (the DLEQ proof), whose matched items are not those that this blinding
        implies, whose total is not their product, or that has too few."""
        try:
            check_client_signature(self.client_key, self.signature, signed_part(
                self.group, self.public_key, self.request_id, self.bits, self.points, self.doubled))
            width = self.value_bits
            if not 1 <= width <= min(max_value_bits, MAX_VALUE_BITS) and self.bits:
                raise PsiError(f"values of {width} bits, at most {min(max_value_bits, MAX_VALUE_BITS)} accepted")
            if any(len(row) != width for row in self.bits) or len(self.bit_proofs) != len(self.bits) \
                    or any(len(row) != width for row in self.bit_proofs):
                raise PsiError("every value must have the same number of bits, each with one proof")
            for name, points in (("record.points", self.points), ("record.doubled", self.doubled)):
                check_points(sorted_distinct(points, name), name)
            try:  # a record may come as an object, not through from_json: members of the prime-order subgroup only
                ED.decode_many([(self.server_key, "record.server_key")] +
                               [(b, f"record.blinded[{i}]") for i, b in enumerate(self.blinded)])
            except DecodeError as exc:
                raise PsiError(str(exc)) from exc
            if not len(self.bits) == len(self.points) // 32 == len(self.blinded):
                raise PsiError(f"{len(self.bits)} values, {len(self.points) // 32} client points and "
                               f"{len(self.blinded)} blinded points: one of each per client item expected")
            check_bit_proofs(PublicKey(self.group, self.public_key), self.request_id, self.client_key, self.points,
                             self.bits, self.bit_proofs)
            lifted = _lifted(self.points, "record.points")
            m, z = _combination(self.request_id, self.client_key, self.server_key, lifted, self.blinded)
            if not self.proof.verify(ED, ED.g, self.server_key, m, z, _blinding_context(self.request_id, self.client_key),
                                     BLINDING_TAG):
                raise PsiError("the server's proof that one key blinded every client point does not verify")
            implied = _matched(self.blinded, self.doubled)
        except PsiError as exc:
            raise ProtocolError(f"refused: {exc}") from exc
        if self.matched != implied:
            raise ProtocolError("refused: the matched items are not those whose blinded point is among the server's "
                                f"points blinded by the client ({len(implied)} are, the record marks {self.count})")
        if self.count < min_count:
            raise ProtocolError(f"refused: {self.count} matched items, at least {min_count} required")
        if ciphertext_sum(self.group, [self.ciphertexts[i] for i in self.matched]) != self.total:
            raise ProtocolError("refused: the encrypted total is not the product of the matched ciphertexts")


def _bit_rows(group: Group, rows: list, proofs: list) -> tuple[tuple[tuple[Ciphertext, ...], ...],
                                                              tuple[tuple[RangeProof, ...], ...]]:
    """Each value's bit ciphertexts (one batched membership test) and their 0/1 proofs, as JSON lists of rows."""
    if len(proofs) != len(rows):
        raise DecodeError("record.bit_proofs", f"expected one row of proofs per value ({len(rows)})")
    reader = group.reader()
    with reader.batched():
        bits, out = [], []
        for r, (row, row_proofs) in enumerate(zip(rows, proofs)):
            if not isinstance(row, list) or not isinstance(row_proofs, list) or len(row_proofs) != len(row) \
                    or not 1 <= len(row) <= MAX_VALUE_BITS:
                raise DecodeError(f"record.bits[{r}]", f"expected 1 to {MAX_VALUE_BITS} bit ciphertexts, each with a proof")
            bits.append(tuple(Ciphertext.from_json(group, c, f"record.bits[{r}][{i}]", reader=reader) for i, c in enumerate(row)))
            out.append(tuple(RangeProof.from_json(group, p, 1, f"record.bit_proofs[{r}][{i}]", reader=reader)
                             for i, p in enumerate(row_proofs)))
    reader.finish()
    return tuple(bits), tuple(out)


def _rows_hex(points: bytes) -> list[str]:
    return [points[i : i + 32].hex() for i in range(0, len(points), 32)]


def _rows(items: list, field: str) -> bytes:
    """A JSON list of curve25519 u-coordinates (checked: canonical, on the curve) as concatenated bytes."""
    points = b"".join(hex_list(items, field, 32, len(items)))
    try:
        check_points(points, field)
    except PsiError as exc:
        raise DecodeError(field, str(exc)) from exc
    return points


_LEDGER_LOCK = threading.Lock()  # a ledger's look-up and entry of a request: one thread at a time


def decrypt_share(
    record: SumRecord, trustee: TrusteeKey, client_keys: Collection[bytes], ledger: set[bytes], min_count: int = MIN_COUNT,
    *, server_keys: Collection[bytes], max_value_bits: int = VALUE_BITS,
) -> PartialDecryption:
    """One trustee's partial decryption of the total, with its proof, after checking the record.

    `client_keys`: the clients' verify keys this trustee accepts requests from; `server_keys`: the servers' blinding
    keys (PsiSumServer.server_key) it accepts records from (else a client alone could play a server of its own
    making, holding the items it likes). `ledger`: the
    requests it has already decrypted a sum for (kept by the trustee across calls): one sum per
    request, so no server can learn single values from differences of overlapping subsets. The request
    enters it before the decryption, under a lock, so that two records of one request decrypted at once
    (a trustee answering in several threads) still give one sum; it stays there if the decryption fails
    (fail closed: that request is never decrypted by this trustee). `max_value_bits`: the most bits this trustee
    accepts per value (each value is proven to lie in 0..2^bits - 1).
    """
    _check_bits(max_value_bits)
    if trustee.public_key != record.public_key:
        raise ProtocolError("refused: the record is not encrypted under this trustee's joint key")
    if record.client_key not in client_keys:
        raise ProtocolError("refused: the request is not signed by a registered client")
    if record.server_key not in server_keys:
        raise ProtocolError("refused: the record is not from a registered server (its blinding key is unknown)")
    with _LEDGER_LOCK:  # a replay is refused before the record's proof is checked again (its cost grows with the rows)
        if record.request in ledger:
            raise ProtocolError("refused: this trustee already decrypted a sum for this request")
    record.check(min_count, max_value_bits)
    if record.count == 0:
        raise ProtocolError("refused: the intersection is empty, its sum is 0 and needs no decryption")
    with _LEDGER_LOCK:
        if record.request in ledger:
            raise ProtocolError("refused: this trustee already decrypted a sum for this request")
        ledger.add(record.request)
    return partial_decrypt(record.group, trustee.index, trustee.secret, [record.total], record.context())


@dataclass(frozen=True)
class PsiSumResult:
    """The released sum with its evidence: the record, the trustees' partial decryptions and keys."""

    total: int
    record: SumRecord
    partials: tuple[PartialDecryption, ...]
    verification_keys: dict[int, Element]
    quorum: int
    bound: int

    @property
    def count(self) -> int:
        """Size of the intersection."""
        return self.record.count

    def to_json(self) -> str:
        """Canonical JSON of everything `verify` needs."""
        g = self.record.group
        return canonical_json({
            "total": self.total, "record": self.record.to_json(), "quorum": self.quorum, "bound": self.bound,
            "partials": [p.to_json(g) for p in self.partials],
            "verification_keys": {str(i): g.to_hex(v) for i, v in sorted(self.verification_keys.items())},
        }).decode("utf-8")

    @classmethod
    def from_json(cls, text: str | bytes) -> PsiSumResult:
        """Parse a published result (checked by `verify`); an error quoting the document's own text
        passes it through `peer_text`."""
        try:
            obj = json.loads(text)
            if not isinstance(obj, dict) or set(obj) != {"total", "record", "quorum", "bound", "partials", "verification_keys"}:
                raise DecodeError("result", "expected exactly total, record, quorum, bound, partials, verification_keys")
            record = SumRecord.from_json(obj["record"])
            g = record.group
            for name in ("total", "quorum", "bound"):
                if not isinstance(obj[name], int) or isinstance(obj[name], bool) or obj[name] < 0:
                    raise DecodeError(f"result.{name}", "expected a non-negative integer")
            if not isinstance(obj["partials"], list) or not isinstance(obj["verification_keys"], dict):
                raise DecodeError("result", "partials must be a list and verification_keys an object")
            partials = tuple(PartialDecryption.from_json(g, p, 1, f"result.partials[{i}]") for i, p in enumerate(obj["partials"]))
            vks = {int(i): g.from_hex(v, f"result.verification_keys.{i}") for i, v in obj["verification_keys"].items()}
        except (ValueError, QuorumError) as exc:  # the reason may quote the document (a group name): cut, escaped
            raise PsiError(f"PSI-sum result: {peer_text(str(exc))}") from exc
        except RecursionError as exc:  # json.loads on deeply nested arrays or objects
            raise PsiError("PSI-sum result: JSON nested too deeply") from exc
        return cls(obj["total"], record, partials, vks, obj["quorum"], obj["bound"])


def _check_quorum(quorum: object) -> int:
    """`quorum` as a positive int; PsiError naming it otherwise (0 partial decryptions would "release" beta)."""
    if not isinstance(quorum, int) or isinstance(quorum, bool) or quorum < 1:
        raise PsiError(f"quorum must be a positive integer (the key's threshold), got {quorum!r}")
    return quorum


def _check_key_threshold(group: Group, verification_keys: Mapping[int, Element], quorum: int) -> None:
    """PsiError when `quorum` is below the key's threshold. The verification keys are g^f(i) for the key's sharing
    polynomial f, of degree threshold - 1: when quorum - 1 is less, the keys beyond the first `quorum` are not where
    interpolating those puts them, and `quorum` partial decryptions would combine to no plaintext in range."""
    indices = sorted(verification_keys)
    base = indices[:quorum]
    for j in indices[quorum:]:  # the weight of f(i) in f(j) is lagrange_at_zero with every index moved by -j
        terms = [(verification_keys[i], lagrange_at_zero(i - j, [m - j for m in base], group.q)) for i in base]
        if group.multi_exp(terms) != verification_keys[j]:
            raise PsiError(f"quorum {quorum} is below the key's threshold: the trustees' verification keys do not lie "
                           f"on a polynomial of degree {quorum - 1} (pass the quorum of the key ceremony)")


def release(record: SumRecord, partials: Sequence[PartialDecryption], verification_keys: Mapping[int, Element], quorum: int,
            bound: int | None = None) -> PsiSumResult:
    """Combine `quorum` valid partial decryptions into the sum (invalid ones are skipped); an empty intersection has
    sum 0 and needs none. `quorum` must be at least the key's threshold (checked on the verification keys: a
    PsiError naming the quorum). `bound`: the largest sum the result states; by default, and at least, what the
    values' proofs allow (matched items times 2^bits - 1: a smaller one could leave a proven sum undecryptable)."""
    _check_key_threshold(record.group, verification_keys, _check_quorum(quorum))
    proven = record.count * ((1 << record.value_bits) - 1)
    bound = proven if bound is None else bound
    if not isinstance(bound, int) or isinstance(bound, bool) or bound < proven:
        raise PsiError(f"bound must be an integer of at least {proven} (the matched values' proven maximum), got {bound!r}")
    if record.count == 0:
        return PsiSumResult(0, record, (), dict(verification_keys), quorum, bound)
    try:
        decryption = combine(record.group, [record.total], partials, verification_keys, quorum, record.context(), bound)
    except QuorumError as exc:
        raise PsiError(f"cannot release the sum: {exc}") from exc
    return PsiSumResult(decryption.plaintexts[0], record, tuple(partials), dict(verification_keys), quorum, bound)


def verify(
    result: PsiSumResult | str, public_key: Element, verification_keys: Mapping[int, Element], client_key: bytes | None = None,
    server_key: bytes | None = None, max_value_bits: int = MAX_VALUE_BITS,
) -> int:
    """Recheck a released sum against the trustees' keys from their key ceremony (never the result's
    own): the client signed the request (with `client_key` when given), the total is the product of
    its matched ciphertexts, at least `quorum` partial decryptions carry valid proofs, the released
    total is at most the result's bound and below the group order (the one exponent in 0..q-1 that
    g^total fixes), and g^total = beta / prod(share^lambda). No discrete log is taken. `max_value_bits`: the widest
    values the auditor accepts (a campaign's bound; every value's bits are proven either way)."""
    _check_bits(max_value_bits)
    if isinstance(result, str):
        result = PsiSumResult.from_json(result)
    record, group = result.record, result.record.group
    if client_key is not None and record.client_key != client_key:
        raise PsiError("PSI-sum result does not verify: the request was signed by another client")
    if server_key is not None and record.server_key != server_key:
        raise PsiError("PSI-sum result does not verify: the record is from another server (another blinding key)")
    if record.public_key != public_key:
        raise PsiError("PSI-sum result does not verify: it is encrypted under another key than the trustees'")
    if any(result.verification_keys.get(i) != vk for i, vk in verification_keys.items()) or set(result.verification_keys) - set(verification_keys):
        raise PsiError("PSI-sum result does not verify: its verification keys are not the trustees'")
    if not 0 <= result.total <= min(result.bound, group.q - 1):
        # g^total fixes the total only mod q: total + q would pass the check below.
        raise PsiError(f"PSI-sum result does not verify: its total {result.total} is outside 0..{result.bound} (its bound) "
                       "or not below the group order")
    try:
        record.check(0, max_value_bits)
        if record.count == 0:
            if result.total != 0 or result.partials:
                raise ProtocolError("an empty intersection must release 0 with no partial decryptions")
            return 0
        check_indices([p.index for p in result.partials], group.q)
        valid = [p for p in result.partials if p.index in verification_keys
                 and verify_partial(group, verification_keys[p.index], [record.total], p, record.context())]
        if len(valid) < max(result.quorum, 1):
            raise ProtocolError(f"{len(valid)} valid partial decryptions, quorum is {result.quorum}")
        chosen = valid[: result.quorum]
        indices = [p.index for p in chosen]
        mask = group.multi_exp([(p.shares[0], lagrange_at_zero(p.index, indices, group.q)) for p in chosen])
    except QuorumError as exc:
        raise PsiError(f"PSI-sum result does not verify: {exc}") from exc
    if group.exp_g(result.total) != group.div(record.total.beta, mask):
        raise PsiError(f"PSI-sum result does not verify: the partial decryptions do not decrypt to {result.total}")
    return result.total


def intersection_sum(
    values: Mapping[Item, int] | Iterable[tuple[Item, int]],
    server_items: Iterable[Item],
    trustees: Sequence[TrusteeKey],
    quorum: int,
    *,
    max_value: int = 2**20,
    min_count: int = MIN_COUNT,
) -> PsiSumResult:
    """Sum of the client's `values` over the items also in `server_items`, released by `trustees`
    (any `quorum` of the key's trustees; more may be given) if at least `min_count` items match.
    All roles run here (so neither side caps the other's size); the client's signing key is
    registered with the trustees in passing."""
    if len(trustees) < _check_quorum(quorum):
        raise PsiError(f"{len(trustees)} trustees present, quorum is {quorum}")
    first = trustees[0]
    public_key = PublicKey(first.group, first.public_key)
    client = PsiSumClient(values, public_key, max_value, max_server_items=sys.maxsize)
    bits = value_bits(max_value)  # the width this call's values are sent as: its server and trustees accept it
    server = PsiSumServer(server_items, max_items=sys.maxsize, max_value_bits=bits)
    request = client.reply(server.hello().to_bytes()).to_bytes(first.group)
    record = server.total(request, public_key)
    try:
        partials = [decrypt_share(record, t, {client.verify_key}, set(), min_count, server_keys={server.server_key},
                                  max_value_bits=bits) for t in trustees] if record.count else []
    except QuorumError as exc:
        raise PsiError(f"trustee {exc}") from exc
    return release(record, partials, first.verification_keys, quorum)
