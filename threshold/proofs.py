"""Non-interactive zero-knowledge proofs by strong Fiat-Shamir, in commitment form.

Each challenge hashes the protocol tag, the group, the caller's context (election base hash,
voter credential, trustee index...), the whole statement and the commitments. Proofs keep
their commitments so that many can be verified in one batch (threshold.batch); challenges are
recomputed, never read from the proof.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from threshold.batch import Equation, check_equations
from threshold.elgamal import Ciphertext, PublicKey
from threshold.errors import DecodeError
from threshold.groups import Element, ElementReader, Group
from threshold.hashing import hash_to_scalar


def challenge(group: Group, tag: str, context: bytes, statement: Sequence[Element], commitments: Sequence[Element],
              params: Sequence[int] = ()) -> int:
    """c = H(tag; group; context; integer parameters; statement elements; commitments), elements as bytes."""
    return hash_to_scalar(group.q, tag, group.name, context, list(map(int, params)),
                          group.encode_all(statement), group.encode_all(commitments))


_RANGE_KEYS = frozenset({"a", "b", "challenges", "responses"})


def _obj(obj: Any, keys: frozenset[str] | set[str], field: str) -> dict:
    if not isinstance(obj, dict):
        raise DecodeError(field, "expected an object")
    if set(obj) != keys:
        raise DecodeError(field, f"expected exactly the keys {sorted(keys)}, got {sorted(obj)}")
    return obj


def _finish(group: Group, reader: ElementReader | None, parse):
    own = reader is None
    reader = reader or group.reader()
    with reader.batched():
        value = parse(reader)
    if own:
        reader.finish()
    return value


@dataclass(frozen=True)
class SchnorrProof:
    """Knowledge of x with X = base^x."""

    commitment: Element
    response: int

    TAG = "schnorr"

    @classmethod
    def prove(cls, group: Group, x: int, context: bytes, base: Element | None = None) -> "SchnorrProof":
        base = group.g if base is None else base
        X = group.exp_g(x) if base == group.g else group.exp(base, x)
        w = group.random_scalar()
        a = group.exp_g(w) if base == group.g else group.exp(base, w)
        c = challenge(group, cls.TAG, context, [base, X], [a])
        return cls(a, (w + c * x) % group.q)

    def equations(self, group: Group, X: Element, context: bytes, base: Element | None = None) -> tuple[Equation, ...]:
        base = group.g if base is None else base
        c = challenge(group, self.TAG, context, [base, X], [self.commitment])
        return (((self.commitment, 1), (X, c), (base, -self.response)),)

    def verify(self, group: Group, X: Element, context: bytes, base: Element | None = None) -> bool:
        return check_equations(group, self.equations(group, X, context, base))

    def to_json(self, group: Group) -> dict[str, str]:
        return {"commitment": group.to_hex(self.commitment), "response": group.scalar_to_hex(self.response)}

    @classmethod
    def from_json(cls, group: Group, obj: Any, field: str = "proof", reader: ElementReader | None = None) -> "SchnorrProof":
        o = _obj(obj, {"commitment", "response"}, field)
        return _finish(group, reader, lambda r: cls(
            r.commitment(o["commitment"], f"{field}.commitment"), group.scalar_from_hex(o["response"], f"{field}.response")))


@dataclass(frozen=True)
class ChaumPedersenProof:
    """Equality of discrete logs: log_g1 X1 = log_g2 X2 (decryption shares, exact sums)."""

    a: Element
    b: Element
    response: int

    TAG = "chaum-pedersen"

    @classmethod
    def prove(cls, group: Group, x: int, g1: Element, X1: Element, g2: Element, X2: Element,
              context: bytes, tag: str = TAG) -> "ChaumPedersenProof":
        w = group.random_scalar()
        a = group.exp_g(w) if g1 == group.g else group.exp(g1, w)
        b = group.exp(g2, w)
        c = challenge(group, tag, context, [g1, X1, g2, X2], [a, b])
        return cls(a, b, (w + c * x) % group.q)

    def equations(self, group: Group, g1: Element, X1: Element, g2: Element, X2: Element,
                  context: bytes, tag: str = TAG) -> tuple[Equation, ...]:
        c = challenge(group, tag, context, [g1, X1, g2, X2], [self.a, self.b])
        v = self.response
        return ((self.a, 1), (X1, c), (g1, -v)), ((self.b, 1), (X2, c), (g2, -v))

    def verify(self, group: Group, g1: Element, X1: Element, g2: Element, X2: Element,
               context: bytes, tag: str = TAG) -> bool:
        return check_equations(group, self.equations(group, g1, X1, g2, X2, context, tag))

    def to_json(self, group: Group) -> dict[str, str]:
        return {"a": group.to_hex(self.a), "b": group.to_hex(self.b), "response": group.scalar_to_hex(self.response)}

    @classmethod
    def from_json(cls, group: Group, obj: Any, field: str = "proof", reader: ElementReader | None = None) -> "ChaumPedersenProof":
        o = _obj(obj, {"a", "b", "response"}, field)
        return _finish(group, reader, lambda r: cls(
            r.commitment(o["a"], f"{field}.a"), r.commitment(o["b"], f"{field}.b", allow_identity=True),
            group.scalar_from_hex(o["response"], f"{field}.response")))


@dataclass(frozen=True)
class RangeProof:
    """A ciphertext under K encrypts some m in 0..L (disjunctive Chaum-Pedersen; L = 1 is the 0/1 proof).

    Branch j proves (alpha, beta / g^j) = (g^r, K^r); all branches but the true one are simulated.
    The challenges c_0..c_(L-1) are stored; c_L = c - sum of the others, with c the hash.
    """

    a: tuple[Element, ...]
    b: tuple[Element, ...]
    challenges: tuple[int, ...]
    responses: tuple[int, ...]

    TAG = "range"

    @property
    def limit(self) -> int:
        return len(self.a) - 1

    @classmethod
    def prove(cls, pk: PublicKey, ct: Ciphertext, m: int, r: int, limit: int, context: bytes) -> "RangeProof":
        """Prover knows m and r: every commitment, simulated or not, is a product of fixed-base
        table exponentiations (constant time), all computed in one `fixed_base_products` call."""
        group, q = pk.group, pk.group.q
        if not 0 <= m <= limit:
            raise ValueError(f"plaintext {m} outside 0..{limit}")
        gt, kt = group.fixed_base(group.g), pk.table
        a_terms, b_terms, cs, vs = [], [], [], []
        w, *drawn = group.random_scalars(1 + 2 * limit)  # the nonce, then each simulated branch's challenge and response
        simulated = iter(drawn)
        for j in range(limit + 1):
            if j == m:
                a_terms.append([(gt, w, None)])
                b_terms.append([(kt, w, None)])
                cs.append(0)
                vs.append(0)
                continue
            cj, vj = next(simulated), next(simulated)
            # a_j = g^v alpha^-c = g^(v - r c);  b_j = K^v (beta g^-j)^-c = K^(v - r c) g^((j - m) c)
            t = (vj - r * cj) % q
            a_terms.append([(gt, t, None)])
            b_terms.append([(kt, t, None), (gt, (j - m) * cj % q, None)])
            cs.append(cj)
            vs.append(vj)
        commitments = group.fixed_base_products(a_terms + b_terms)
        a, b = commitments[:limit + 1], commitments[limit + 1:]
        c = challenge(group, cls.TAG, context, [group.g, pk.element, ct.alpha, ct.beta], a + b, [limit])
        cs[m] = (c - sum(cs)) % q
        vs[m] = (w + cs[m] * r) % q
        return cls(tuple(a), tuple(b), tuple(cs[:limit]), tuple(vs))

    def all_challenges(self, group: Group, pk: PublicKey, ct: Ciphertext, context: bytes) -> list[int]:
        if not (len(self.b) == len(self.a) == len(self.responses) == len(self.challenges) + 1):
            raise DecodeError("proof", "range proof has inconsistent numbers of commitments, challenges and responses")
        c = challenge(group, self.TAG, context, [group.g, pk.element, ct.alpha, ct.beta], self.a + self.b,
                      [len(self.a) - 1])
        return [*self.challenges, (c - sum(self.challenges)) % group.q]

    def equations(self, pk: PublicKey, ct: Ciphertext, context: bytes) -> tuple[Equation, ...]:
        group = pk.group
        cs = self.all_challenges(group, pk, ct, context)
        g, K, alpha, beta = group.g, pk.element, ct.alpha, ct.beta
        eqs: list[Equation] = []
        for j, (aj, bj, cj, vj) in enumerate(zip(self.a, self.b, cs, self.responses)):
            eqs.append(((aj, 1), (alpha, cj), (g, -vj)))
            eqs.append(((bj, 1), (beta, cj), (g, -j * cj), (K, -vj)) if j else ((bj, 1), (beta, cj), (K, -vj)))
        return tuple(eqs)

    def verify(self, pk: PublicKey, ct: Ciphertext, context: bytes) -> bool:
        return check_equations(pk.group, self.equations(pk, ct, context), {pk.element: pk.table})

    def to_json(self, group: Group) -> dict[str, list[str]]:
        return {"a": [group.to_hex(x) for x in self.a], "b": [group.to_hex(x) for x in self.b],
                "challenges": [group.scalar_to_hex(c) for c in self.challenges],
                "responses": [group.scalar_to_hex(v) for v in self.responses]}

    @classmethod
    def from_json(cls, group: Group, obj: Any, limit: int, field: str = "proof",
                  reader: ElementReader | None = None) -> "RangeProof":
        """Parse a proof for the range 0..limit (the limit comes from the manifest, not the proof)."""
        o = _obj(obj, _RANGE_KEYS, field)
        n = limit + 1

        def parse(r: ElementReader) -> "RangeProof":
            return cls(r.commitments(o["a"], n, f"{field}.a"), r.commitments(o["b"], n, f"{field}.b"),
                       group.scalars_from_hex(o["challenges"], limit, f"{field}.challenges"),
                       group.scalars_from_hex(o["responses"], n, f"{field}.responses"))

        return _finish(group, reader, parse)

    @classmethod
    def many_from_json(cls, group: Group, objs: Sequence[Any], limit: int, fields: Sequence[str],
                       reader: ElementReader) -> tuple["RangeProof", ...]:
        """`from_json(group, obj, limit, field, reader)` for each (obj, field) in turn, in one block of `reader`: the
        same proofs, or the same DecodeError. Where every proof is well formed and the reader has a bulk path
        (`commitment_runs`), their hex is read in two native calls; otherwise one by one, which names what is bad."""
        if len(objs) != len(fields):
            raise ValueError("one field name per proof")
        n = limit + 1
        with reader.batched():
            points: list[Any] = []
            scalars: list[Any] = []
            for o in objs:
                if type(o) is not dict or o.keys() != _RANGE_KEYS:
                    break
                a, b, cs, vs = o["a"], o["b"], o["challenges"], o["responses"]
                if not (type(a) is type(b) is type(cs) is type(vs) is list
                        and len(a) == len(b) == len(vs) == n and len(cs) == limit):
                    break
                points += a
                points += b
                scalars += cs
                scalars += vs
            else:
                try:
                    with reader.batched():  # a bad scalar leaves this block: it forgets the runs it read
                        runs = reader.commitment_runs(points, n, [f"{f}.{part}" for f in fields for part in ("a", "b")])
                        if runs is not None:
                            xs = group.scalars_from_hex(scalars, len(scalars), "proofs")
                            m = 2 * limit + 1
                            return tuple(cls(tuple(runs[2 * n * k:2 * n * k + n]),
                                             tuple(runs[2 * n * k + n:2 * n * (k + 1)]),
                                             xs[m * k:m * k + limit], xs[m * k + limit:m * (k + 1)])
                                         for k in range(len(objs)))
                except DecodeError:
                    pass  # read one by one below, which names the bad field
            return tuple(cls.from_json(group, o, limit, field, reader) for o, field in zip(objs, fields))
