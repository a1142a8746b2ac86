"""Verifiable secret sharing: Feldman (C_j = g^a_j) and Pedersen (C_j = g^a_j h^b_j) commitments."""

from __future__ import annotations

from functools import lru_cache
from typing import Sequence

from threshold.groups import Element, Group
from threshold.shamir import Share, evaluate, random_polynomial


@lru_cache(maxsize=None)
def pedersen_h(group: Group) -> Element:
    """The second Pedersen generator, from a public seed: nobody knows log_g h."""
    return group.hash_to_element("pedersen-h", b"Quorum Pedersen VSS generator h")


def feldman_commit(group: Group, coefficients: Sequence[int]) -> list[Element]:
    """C_j = g^a_j."""
    return [group.exp_g(a) for a in coefficients]


def expected_commitment(group: Group, commitments: Sequence[Element], index: int) -> Element:
    """prod_j C_j^(index^j), which equals g^f(index) for honest commitments."""
    q = group.q
    return group.multi_exp([(c, pow(index, j, q)) for j, c in enumerate(commitments)])


def feldman_verify(group: Group, commitments: Sequence[Element], share: Share) -> bool:
    """g^s_i == prod_j C_j^(i^j)."""
    return group.exp_g(share.value) == expected_commitment(group, commitments, share.index)


def pedersen_commit(group: Group, coefficients: Sequence[int], blinding: Sequence[int]) -> list[Element]:
    """C_j = g^a_j h^b_j (h through its fixed-base table)."""
    h = group.fixed_base(pedersen_h(group))
    return [group.mul(group.exp_g(a), h.exp(b)) for a, b in zip(coefficients, blinding)]


def pedersen_deal(group: Group, secret: int, k: int, n: int) -> tuple[list[Share], list[Share], list[Element]]:
    """Shares of the secret, blinding shares and commitments g^a_j h^b_j (hiding the secret)."""
    q = group.q
    f = random_polynomial(secret, k - 1, q)
    r = random_polynomial(group.random_scalar(), k - 1, q)
    commitments = pedersen_commit(group, f, r)
    shares = [Share(i, evaluate(f, i, q)) for i in range(1, n + 1)]
    blinds = [Share(i, evaluate(r, i, q)) for i in range(1, n + 1)]
    return shares, blinds, commitments


def pedersen_verify(group: Group, commitments: Sequence[Element], share: Share, blind: Share) -> bool:
    """g^s_i h^t_i == prod_j C_j^(i^j)."""
    if share.index != blind.index:
        return False
    lhs = group.mul(group.exp_g(share.value), group.fixed_base(pedersen_h(group)).exp(blind.value))
    return lhs == expected_commitment(group, commitments, share.index)
