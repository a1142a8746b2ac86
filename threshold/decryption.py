"""Threshold decryption: partial decryptions with Chaum-Pedersen proofs, combined by Lagrange.

Any k trustees decrypt; invalid partial decryptions are blamed and skipped as long as k valid
ones remain. A trustee refuses ciphertexts whose elements are not in the group before any
exponentiation with its secret (small-subgroup attacks).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from threshold.batch import BatchVerifier, Equation
from threshold.elgamal import Ciphertext, discrete_log
from threshold.encoding import encode
from threshold.errors import DecodeError, ProtocolError
from threshold.groups import Element, Group
from threshold.proofs import ChaumPedersenProof
from threshold.shamir import check_indices, lagrange_at_zero

TAG = "decryption"


@dataclass(frozen=True)
class PartialDecryption:
    """Trustee `index`'s shares M = alpha^x_i of several ciphertexts, each with its proof."""

    index: int
    shares: tuple[Element, ...]
    proofs: tuple[ChaumPedersenProof, ...]

    def to_json(self, group: Group) -> dict[str, Any]:
        return {"index": self.index, "shares": [group.to_hex(m) for m in self.shares],
                "proofs": [p.to_json(group) for p in self.proofs]}

    @classmethod
    def from_json(cls, group: Group, obj: Any, count: int, field: str = "partial") -> "PartialDecryption":
        if not isinstance(obj, dict) or set(obj) != {"index", "shares", "proofs"}:
            raise DecodeError(field, "expected an object with exactly 'index', 'shares', 'proofs'")
        index = obj["index"]
        if not isinstance(index, int) or isinstance(index, bool) or index < 1:
            raise DecodeError(f"{field}.index", "expected a positive integer")
        for key in ("shares", "proofs"):
            if not isinstance(obj[key], list) or len(obj[key]) != count:
                raise DecodeError(f"{field}.{key}", f"expected a list of {count} items")
        reader = group.reader()
        with reader.batched():
            shares = tuple(reader.element(m, f"{field}.shares[{i}]", allow_identity=True) for i, m in enumerate(obj["shares"]))
            proofs = tuple(ChaumPedersenProof.from_json(group, p, f"{field}.proofs[{i}]", reader)
                           for i, p in enumerate(obj["proofs"]))
        reader.finish()
        return cls(index, shares, proofs)


def _ctx(context: bytes, index: int, position: int) -> bytes:
    return encode(context, index, position)


def partial_decrypt(group: Group, index: int, secret: int, ciphertexts: Sequence[Ciphertext],
                    context: bytes) -> PartialDecryption:
    """alpha^x_i with a proof per ciphertext; refuses a ciphertext with an element outside the group before any
    exponentiation (beta is never raised to the secret, but what is not a ciphertext gets no proven share)."""
    reader = group.reader()  # both elements read as outside input: one batched membership test
    try:
        for pos, ct in enumerate(ciphertexts):
            reader.element_bytes(group.encode(ct.alpha), f"ciphertexts[{pos}].alpha", allow_identity=True)
            reader.element_bytes(group.encode(ct.beta), f"ciphertexts[{pos}].beta", allow_identity=True)
        reader.finish()
    except DecodeError as exc:
        raise DecodeError(exc.field, f"{exc.message}: refusing to decrypt") from None
    vk = group.exp(group.g, secret)  # the constant-time path (modp: not the generator's table, whose timing varies)
    shares, proofs = [], []
    for pos, ct in enumerate(ciphertexts):
        m = group.exp(ct.alpha, secret)
        shares.append(m)
        proofs.append(ChaumPedersenProof.prove(group, secret, group.g, vk, ct.alpha, m, _ctx(context, index, pos), TAG))
    return PartialDecryption(index, tuple(shares), tuple(proofs))


def partial_equations(group: Group, verification_key: Element, ciphertexts: Sequence[Ciphertext],
                      partial: PartialDecryption, context: bytes) -> list[Equation]:
    """The equations that hold iff every share in `partial` is correct (for batching)."""
    if len(partial.shares) != len(ciphertexts) or len(partial.proofs) != len(ciphertexts):
        raise DecodeError("partial", "one share and one proof per ciphertext expected")
    eqs: list[Equation] = []
    for pos, (ct, m, proof) in enumerate(zip(ciphertexts, partial.shares, partial.proofs)):
        eqs.extend(proof.equations(group, group.g, verification_key, ct.alpha, m, _ctx(context, partial.index, pos), TAG))
    return eqs


def verify_partial(group: Group, verification_key: Element, ciphertexts: Sequence[Ciphertext],
                   partial: PartialDecryption, context: bytes) -> bool:
    """Whether every share of one trustee is proven correct (its equations in one batch) and in the subgroup.

    The shares are tested as outside input even when the object was built in memory: a proof's equations
    hold only up to what `Group.accepts` ignores (a sign in modp, torsion in ed25519), so a share carrying
    such a part could pass them, and `combine` would then fail at the discrete log instead of blaming."""
    reader = group.reader()
    try:  # the shares as the group's elements (a share of another type is not one: blamed, not raised)
        shares = tuple(reader.element_bytes(group.encode(m), f"partial.shares[{pos}]", allow_identity=True)
                       for pos, m in enumerate(partial.shares))
    except (DecodeError, TypeError, ValueError, AttributeError):
        return False
    if not all(isinstance(p, ChaumPedersenProof) for p in partial.proofs):
        return False
    try:
        batch = BatchVerifier(group)
        batch.add(partial.index, partial_equations(group, verification_key, ciphertexts,
                                                   PartialDecryption(partial.index, shares, partial.proofs), context))
        return not batch.verify(reader)
    except DecodeError:
        return False


@dataclass(frozen=True)
class Decryption:
    """Plaintexts, the trustees whose shares were used, and those blamed for invalid shares."""

    plaintexts: tuple[int, ...]
    used: tuple[int, ...]
    blamed: tuple[int, ...]


def combine(group: Group, ciphertexts: Sequence[Ciphertext], partials: Sequence[PartialDecryption],
            verification_keys: Mapping[int, Element], k: int, context: bytes, bound: int) -> Decryption:
    """Check each partial, keep the first k valid ones, Lagrange-combine, and solve small logs.

    A partial is blamed if its proofs fail or its index is unknown; a second valid partial for
    an index already used is ignored, so no single bad message can stop the decryption.
    """
    valid, blamed, seen = [], [], set()
    for p in partials:
        vk = verification_keys.get(p.index) if isinstance(p.index, int) and p.index > 0 else None
        if vk is None or not verify_partial(group, vk, ciphertexts, p, context):
            blamed.append(p.index)
        elif p.index not in seen:
            seen.add(p.index)
            valid.append(p)
    check_indices([p.index for p in valid], group.q)
    if len(valid) < k:
        raise ProtocolError(f"{len(valid)} valid partial decryptions, {k} needed (blamed: {blamed})")
    valid = valid[:k]
    indices = [p.index for p in valid]
    lambdas = [lagrange_at_zero(i, indices, group.q) for i in indices]
    plaintexts = []
    for pos, ct in enumerate(ciphertexts):
        mask = group.multi_exp([(p.shares[pos], lam) for p, lam in zip(valid, lambdas)])
        plaintexts.append(discrete_log(group, group.div(ct.beta, mask), bound))
    return Decryption(tuple(plaintexts), tuple(indices), tuple(blamed))
