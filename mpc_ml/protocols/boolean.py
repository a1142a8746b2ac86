"""Replicated boolean sharing over 64-bit words, secure comparison and bit injection.

A word x is shared as x = XOR over PRSS subsets T of x_T, component x_T held by the members of T
(array (L, C, *shape), zero where a local party is not a member). XOR is local; AND takes one
round: the cross terms x_T & y_U are summed by a member of T and U, and each party reshares its
sum with PRSS masks, sending one word to the members of one subset it is not in.

Comparison (LTZ) of a in [-2^(k-1), 2^(k-1)): open c = a + 2^(k-1) + r with
r = sum_T (lo_T + 2^(k-1) hi_T), lo_T < 2^(k-1) and hi_T < 2^(kappa+2) known to the members of T.
Then [a >= 0] = bit_(k-1)(c) XOR parity(sum_T hi_T) XOR bit_(k-1)(sum_T lo_T + 2^(k-1) - 1 - c mod 2^(k-1)),
the last bit from a carry-save adder and a Kogge-Stone carry chain on the shared words lo_T.
"""

from __future__ import annotations

import numpy as np

from ..fixedpoint import KAPPA
from ..prss import split_bits
from ..runtime import Runtime
from . import arith

ONES = np.uint64(0xFFFFFFFFFFFFFFFF)


class _Layout:
    """Per-runtime constants: subsets, AND owners, resharing targets."""

    def __init__(self, rt: Runtime) -> None:
        self.subsets = rt.prss.subsets
        C = len(self.subsets)
        self.C = C
        self.member = rt.prss.member  # (L, C)
        self.pairs = []
        for a in range(C):
            for b in range(C):
                owner = min(set(self.subsets[a]) & set(self.subsets[b]))
                self.pairs.append((a, b, np.where(rt.ids == owner, ONES, np.uint64(0))))
        self.target = [next(i for i, T in enumerate(self.subsets) if j not in T) for j in range(rt.n)]
        self.dests = [list(self.subsets[self.target[j]]) for j in range(rt.n)]
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


def and_(rt: Runtime, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Sharing of x AND y (one round)."""
    lay = _layout(rt)
    shape = x.shape[2:]
    z = np.zeros((rt.L,) + shape, dtype=np.uint64)
    for a, b, own in lay.pairs:
        z ^= (x[:, a] & y[:, b]) & _bcast(own, z.ndim)
    size = int(np.prod(shape, dtype=np.int64)) if shape else 1
    width = rt.n - rt.t
    masks = rt.prss.words(width * size)  # per subset: one mask per member
    m = {ti: w.reshape((width,) + shape) for ti, w in masks.items()}
    send = z.copy()
    for li, p in enumerate(rt.local_ids):
        for ti, T in enumerate(lay.subsets):
            if p in T:
                send[li] ^= m[ti][T.index(p)]
    recv = rt.exchange(send, lay.dests, rt.word_codec, shape)
    out = np.zeros((rt.L, lay.C) + shape, dtype=np.uint64)
    for ti, T in enumerate(lay.subsets):
        if ti not in m:
            continue
        comp = np.bitwise_xor.reduce(m[ti], axis=0)
        for j in range(rt.n):
            if lay.target[j] == ti:
                comp = comp ^ recv[j]
        out[:, ti] = comp[None] & _bcast(np.where(lay.member[:, ti], ONES, np.uint64(0)), 1 + len(shape))
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
    terms = []
    for ti in range(lay.C):
        if ti in lay.first_local:
            bit = (b[lay.first_local[ti], ti] & np.uint64(1)).astype(np.float64)
            vals = {ti: np.broadcast_to(bit[None], (ring.k,) + shape).copy()}
            terms.append(rt.prss.lift(ring, vals))
        else:
            terms.append(np.zeros((rt.L, ring.k) + shape))
    while len(terms) > 1:
        half = len(terms) // 2
        xs, ys = np.stack(terms[:half], 2), np.stack(terms[half:2 * half], 2)
        prod = arith.mul(rt, xs, ys)
        xor = ring.sub(ring.add(xs, ys), ring.add(prod, prod))
        terms = [xor[:, :, i] for i in range(half)] + terms[2 * half:]
    return terms[0]
