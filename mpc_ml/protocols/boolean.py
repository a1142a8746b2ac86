"""Replicated boolean sharing over 64-bit words, secure comparison and bit injection.

A word x is shared as x = XOR over PRSS subsets T of x_T, component x_T held by the members of T
(array (L, C, *shape), zero where a local party is not a member). XOR is local; AND takes one
round: the cross terms x_T & y_U are summed by a group of members of T and U, and the group reshares
its sum with PRSS masks into one component: one member sends the words to the component's other
members and every other member of the group a digest of them, which they compare (with n >= 3t + 1 the
groups have t + 1 members, so a deviation is caught; otherwise a group is one party, unchecked).

Comparison (LTZ) of a in [-2^(k-1), 2^(k-1)): open c = a + 2^(k-1) + r with
r = sum_T (lo_T + 2^(k-1) hi_T), lo_T < 2^(k-1) and hi_T < 2^(kappa+2) known to the members of T.
Then [a >= 0] = bit_(k-1)(c) XOR parity(sum_T hi_T) XOR bit_(k-1)(sum_T lo_T + 2^(k-1) - 1 - c mod 2^(k-1)),
the last bit from a carry-save adder and a Kogge-Stone carry chain on the shared words lo_T.
"""

from __future__ import annotations

import hashlib

import numpy as np

from ..errors import ShareCheckError
from ..fixedpoint import KAPPA
from ..prss import split_bits
from ..runtime import Runtime
from . import arith

ONES = np.uint64(0xFFFFFFFFFFFFFFFF)


class _Layout:
    """Per-runtime constants: subsets, the sending groups of AND and what each sends where.

    Each cross term x_T & y_U of an AND is summed by a group G of members of T and U: the t + 1 lowest of
    them when n >= 3t + 1 (T and U share at least n - 2t >= t + 1 members), else the lowest one alone. Every
    member of G computes G's message; one sends it and the others a digest of it, so each receiver hears from
    all |G| and, with t + 1 of them, from one honest: a party that changes what it sends is caught
    (ShareCheckError) instead of flipping a result.
    """

    def __init__(self, rt: Runtime) -> None:
        self.subsets = rt.prss.subsets
        C = len(self.subsets)
        self.C = C
        self.member = rt.prss.member  # (L, C)
        size = rt.t + 1 if rt.n >= 3 * rt.t + 1 else 1
        pairs: dict[tuple[int, ...], list[tuple[int, int]]] = {}
        for a in range(C):
            for b in range(C):
                common = sorted(set(self.subsets[a]) & set(self.subsets[b]))
                pairs.setdefault(tuple(common[:size]), []).append((a, b))
        self.groups = sorted(pairs)
        # per group, its cross terms by first component: (a, the b's paired with a), so that the sum is
        # XOR_a x_a & (XOR_b y_b), one AND per a
        self.by_first: list[list[tuple[int, np.ndarray]]] = []
        for G in self.groups:
            firsts: dict[int, list[int]] = {}
            for a, b in pairs[G]:
                firsts.setdefault(a, []).append(b)
            self.by_first.append([(a, np.array(bs)) for a, bs in sorted(firsts.items())])
        self.local_members = [[li for li, p in enumerate(rt.local_ids) if p in G] for G in self.groups]
        # rows of the local members as a slice where they are consecutive (a view, not a copy: one party per process)
        self.local_rows = [slice(m[0], m[-1] + 1) if m and m == list(range(m[0], m[-1] + 1)) else m
                           for m in self.local_members]
        # G's message is masked by one draw of every subset containing G; it is added into the component of
        # one of those subsets (taken in turn, to spread the load), whose members outside G receive it
        taken = [0] * C
        self.masks: list[list[tuple[int, int]]] = []  # per group: (subset, slot of its draw)
        self.into: list[int] = []
        for gi, G in enumerate(self.groups):
            supers = [ti for ti, T in enumerate(self.subsets) if set(G) <= set(T)]
            self.masks.append([(ti, taken[ti]) for ti in supers])
            for ti in supers:
                taken[ti] += 1
            self.into.append(supers[gi % len(supers)])
        self.draws, self.used = max(taken), taken
        self.filled = [[gi for gi, into in enumerate(self.into) if into == ti] for ti in range(C)]
        self.receivers = [[d for d in self.subsets[self.into[gi]] if d not in G] for gi, G in enumerate(self.groups)]
        # per (sender, receiver): the groups whose message goes that way in full (the sender is the group's
        # primary, taken in turn), and those of which it sends a SHA-256 digest each (it is another member)
        self.full: dict[tuple[int, int], list[int]] = {}
        self.digested: dict[tuple[int, int], list[int]] = {}
        self.primary = [G[gi % len(G)] for gi, G in enumerate(self.groups)]
        for gi, G in enumerate(self.groups):
            for j in G:
                for d in self.receivers[gi]:
                    (self.full if j == self.primary[gi] else self.digested).setdefault((j, d), []).append(gi)
        self.routes = sorted(set(self.full) | set(self.digested))
        self.first_local = {}
        for ti, T in enumerate(self.subsets):
            for li, p in enumerate(rt.local_ids):
                if p in T:
                    self.first_local[ti] = li
                    break


def _layout(rt: Runtime) -> _Layout:
    lay = getattr(rt, "_bool_layout", None)
    if lay is None:
        lay = _Layout(rt)
        rt._bool_layout = lay
    return lay


def _bcast(mask: np.ndarray, ndim: int) -> np.ndarray:
    return mask.reshape(mask.shape + (1,) * (ndim - mask.ndim))


def from_subset_words(rt: Runtime, words: dict[int, np.ndarray]) -> np.ndarray:
    """Sharing of XOR_T words[T], where words[T] is known to the members of T."""
    lay = _layout(rt)
    shape = next(iter(words.values())).shape
    out = np.zeros((rt.L, lay.C) + shape, dtype=np.uint64)
    for ti, w in words.items():
        out[:, ti] = w[None] & _bcast(np.where(lay.member[:, ti], ONES, np.uint64(0)), 1 + len(shape))
    return out


def xor_public(rt: Runtime, x: np.ndarray, pub: np.ndarray) -> np.ndarray:
    """x XOR a public word (added into component 0)."""
    lay = _layout(rt)
    out = x.copy()
    out[:, 0] ^= pub[None] & _bcast(np.where(lay.member[:, 0], ONES, np.uint64(0)), out.ndim - 1)
    return out


def _group_messages(lay: _Layout, x: np.ndarray, y: np.ndarray, draws: dict[int, np.ndarray]) -> dict[tuple[int, int], np.ndarray]:
    """(local party, group) -> the group's message: its cross terms x_a & y_b summed as XOR_a x_a & (XOR_b y_b),
    masked by its draws; x, y flat (L, C, size), computed only for the local parties in the group."""
    message: dict[tuple[int, int], np.ndarray] = {}
    for gi, local in enumerate(lay.local_members):
        if not local:
            continue
        xs, ys = x[lay.local_rows[gi]], y[lay.local_rows[gi]]
        w = np.zeros((len(local), x.shape[2]), dtype=np.uint64)
        for a, bs in lay.by_first[gi]:
            w ^= xs[:, a] & (ys[:, bs[0]] if len(bs) == 1 else np.bitwise_xor.reduce(ys[:, bs], axis=1))
        for ti, slot in lay.masks[gi]:
            w ^= draws[ti][slot]
        for k, li in enumerate(local):
            message[li, gi] = w[k]
    return message


def and_(rt: Runtime, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Sharing of x AND y (one round): each group's masked sum of its cross terms, from all its members."""
    lay = _layout(rt)
    shape = x.shape[2:]
    size = int(np.prod(shape, dtype=np.int64)) if shape else 1
    draws = {ti: w.reshape((lay.draws, size)) for ti, w in rt.prss.words(lay.draws * size).items()}
    message = _group_messages(lay, x.reshape(x.shape[:2] + (size,)), y.reshape(y.shape[:2] + (size,)), draws)
    sends = [{d: _message([message[li, gi] for gi in lay.full.get((p, d), [])],
                          [message[li, gi] for gi in lay.digested.get((p, d), [])])
              for (j, d) in lay.routes if j == p} for li, p in enumerate(rt.local_ids)]
    expect = [{j: size * len(lay.full.get((j, d), [])) + DIGEST_WORDS * len(lay.digested.get((j, d), []))
               for (j, d) in lay.routes if d == p} for p in rt.local_ids]
    got = rt.exchange_each(sends, expect)
    out = np.zeros((rt.L, lay.C, size), dtype=np.uint64)
    for li, p in enumerate(rt.local_ids):
        received = _received(lay, got[li], p, size) if any(d == p for _, d in lay.routes) else {}
        for ti, T in enumerate(lay.subsets):
            if p not in T:
                continue
            comp = np.bitwise_xor.reduce(draws[ti][:lay.used[ti]], axis=0)
            for gi in lay.filled[ti]:
                comp = comp ^ (message[li, gi] if (li, gi) in message else received[gi])
            out[li, ti] = comp
    return out.reshape((rt.L, lay.C) + shape)


DIGEST_WORDS = 4  # a SHA-256 digest as uint64 words


def _digest(words: np.ndarray) -> np.ndarray:
    return np.frombuffer(hashlib.sha256(np.ascontiguousarray(words)).digest(), dtype=np.uint64)


def _message(full: list[np.ndarray], digested: list[np.ndarray]) -> np.ndarray:
    """What a sender sends one receiver: its groups' messages in full, then a digest of each of the others."""
    return np.concatenate(full + [_digest(m) for m in digested])


def _received(lay: _Layout, got: dict[int, np.ndarray], me: int, size: int) -> dict[int, np.ndarray]:
    """The groups' messages sent to `me`, each checked against the digests of its other members; a mismatch
    is a ShareCheckError naming the group's primary and the member whose digest differs (one of them lied)."""
    out: dict[int, np.ndarray] = {}
    for (j, d), gis in lay.full.items():
        if d == me:
            for at, gi in enumerate(gis):
                out[gi] = got[j][at * size:(at + 1) * size]
    for (j, d), gis in lay.digested.items():
        if d != me:
            continue
        start = size * len(lay.full.get((j, d), []))
        for at, gi in enumerate(gis):
            if not np.array_equal(got[j][start + at * DIGEST_WORDS:start + (at + 1) * DIGEST_WORDS], _digest(out[gi])):
                liars = sorted({j, lay.primary[gi]})
                raise ShareCheckError(f"parties {liars} sent party {me} different versions of one AND message: one "
                                      "of them deviated from the protocol", liars)
    return out


def _and2(rt: Runtime, x1: np.ndarray, y1: np.ndarray, x2: np.ndarray, y2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(x1 AND y1, x2 AND y2) in one round."""
    both = and_(rt, np.stack([x1, x2], 2), np.stack([y1, y2], 2))
    return both[:, :, 0], both[:, :, 1]


def _csa(rt: Runtime, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Carry-save addition of three shared words: (sum, carry) with x + y + z = sum + carry."""
    xy, zxy = _and2(rt, x, y, z, x ^ y)
    return x ^ y ^ z, (xy ^ zxy) << np.uint64(1)


def ltz_bits(rt: Runtime, a: np.ndarray) -> np.ndarray:
    """Boolean sharing (bit 0) of [a >= 0] for degree-t shares a of |a| < 2^(k-1), k = cmp_bits."""
    ring = rt.ring
    lay = _layout(rt)
    k1 = rt.params.cmp_bits - 1
    shape = a.shape[2:]
    lo_w, hi_w = split_bits(k1), split_bits(KAPPA + 2)
    terms = [(j, 1 << sum(lo_w[:j]), 0) for j in range(len(lo_w))]
    terms += [(len(lo_w) + j, 1 << (k1 + sum(hi_w[:j])), 0) for j in range(len(hi_w))]
    sh, limbs = rt.prss.shares(ring, shape, lo_w + hi_w, [terms], with_limbs=True)
    lo, hi = {}, {}
    for ti, v in limbs.items():
        word = np.zeros(shape, dtype=np.uint64)
        for j, shift in enumerate(np.cumsum([0] + lo_w[:-1])):
            word |= v[j].astype(np.uint64) << np.uint64(shift)
        lo[ti] = word
        hi[ti] = v[len(lo_w)].astype(np.uint64)
    masked = ring.add(ring.add(a, sh[:, 0]), arith.public(rt, 1 << k1, shape))
    c = arith.open_all(rt, masked, rt.t)
    cm = ring.mod_2k(c, k1 + 1)[0]
    low_mask = np.uint64((1 << k1) - 1)
    kpub = low_mask - (cm & low_mask)
    c_bit = (cm >> np.uint64(k1)) & np.uint64(1)
    # D = sum_T lo_T + kpub: the members of the first subset add the public term to their lo_T (an
    # integer below 2^(k-1) + 2^(k-1) is still known to them), then carry-save adders reduce the
    # shared operands to two
    if 0 in lo:
        lo[0] = lo[0] + kpub
    ops = [from_subset_words(rt, {ti: lo[ti]}) if ti in lo else np.zeros((rt.L, lay.C) + shape, np.uint64)
           for ti in range(lay.C)]
    while len(ops) > 2:
        s, cy = _csa(rt, ops[0], ops[1], ops[2])
        ops = ops[3:] + [s, cy]
    if len(ops) == 1:
        ops.append(np.zeros_like(ops[0]))
    x, y = ops
    # Kogge-Stone carry into bit k1 of x + y
    g = and_(rt, x & low_mask, y & low_mask)
    p = (x ^ y) & low_mask
    shift = 1
    while shift < k1:
        sh = np.uint64(shift)
        if shift * 2 < k1:
            pg, pp = _and2(rt, p, g << sh, p, p << sh)
            g, p = g ^ pg, pp
        else:
            g = g ^ and_(rt, p, g << sh)
        shift *= 2
    carry = (g >> np.uint64(k1 - 1)) & np.uint64(1)
    d_bit = (((x ^ y) >> np.uint64(k1)) & np.uint64(1)) ^ carry
    parity = from_subset_words(rt, {ti: hi[ti] & np.uint64(1) for ti in hi})
    return xor_public(rt, d_bit ^ parity, c_bit)


def b2a(rt: Runtime, b: np.ndarray) -> np.ndarray:
    """Degree-t arithmetic shares (integers 0/1) of the boolean-shared bit 0 of b."""
    ring = rt.ring
    lay = _layout(rt)
    shape = b.shape[2:]
    coef = rt.prss.coef(ring, 0)
    terms = []
    for ti in range(lay.C):
        if ti in lay.first_local:
            bit = (b[lay.first_local[ti], ti] & np.uint64(1)).astype(np.float64)
            terms.append(ring.combine_residues((coef[:, [ti]], np.broadcast_to(bit[None], (1, ring.k) + shape))))
        else:
            terms.append(np.zeros((rt.L, ring.k) + shape))
    while len(terms) > 1:
        half = len(terms) // 2
        xs, ys = np.stack(terms[:half], 2), np.stack(terms[half:2 * half], 2)
        prod = arith.mul(rt, xs, ys)
        xor = ring.sub(ring.add(xs, ys), ring.add(prod, prod))
        terms = [xor[:, :, i] for i in range(half)] + terms[2 * half:]
    return terms[0]
