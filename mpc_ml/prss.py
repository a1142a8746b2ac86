"""Pseudorandom secret sharing (Cramer-Damgard-Ishai): correlated randomness without a dealer.

Every subset T of n - t parties shares a 32-byte seed; AES-256-CTR on that seed gives a stream
that all members of T (and nobody else, when at most t parties collude) can compute. From the
streams the parties derive, with no interaction: Shamir sharings of uniform elements, of bounded
integers (truncation and comparison masks), of zero at degree 2t (masks for degree reduction),
and replicated boolean sharings whose component T is a word known to the members of T.
f_T is the degree-t polynomial with f_T(0) = 1 that vanishes on the parties outside T.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .ring import Ring


LIMB_BITS = 16  # random integers are drawn as 16-bit limbs (one uint16 view of the stream)


def uniform_limbs(ring: Ring) -> int:
    """Limbs of a random integer whose residues mod M are uniform up to 2^-40."""
    return -(-(ring.bits + 40) // LIMB_BITS)


def split_bits(bits: int) -> list[int]:
    """Widths of the limbs of a `bits`-bit random integer."""
    return [LIMB_BITS] * (bits // LIMB_BITS) + ([bits % LIMB_BITS] if bits % LIMB_BITS else [])


def subsets(n: int, t: int) -> list[tuple[int, ...]]:
    """All subsets of n - t parties, in a fixed order."""
    return list(combinations(range(n), n - t))


class PRSS:
    """Seeded streams for the subsets that contain at least one local party."""

    def __init__(self, n: int, t: int, seeds: dict[tuple[int, ...], bytes], local_ids: list[int]) -> None:
        self.n, self.t = n, t
        self.subsets = subsets(n, t)
        self.local_ids = list(local_ids)
        self.held = [i for i, T in enumerate(self.subsets) if any(p in T for p in self.local_ids)]
        missing = [self.subsets[i] for i in self.held if self.subsets[i] not in seeds]
        if missing:
            raise ValueError(f"missing PRSS seeds for subsets {missing}")
        self._seeds = {i: seeds[self.subsets[i]] for i in self.held}
        self.counter = 0
        # member[l, T] = local party l belongs to subset T
        self.member = np.array([[p in T for T in self.subsets] for p in self.local_ids], dtype=bool)
        self._coef: dict[tuple[int, int], np.ndarray] = {}
        self._mats: dict[tuple, np.ndarray] = {}

    def words(self, count: int) -> dict[int, np.ndarray]:
        """`count` fresh uint64 words for each held subset (one call of the shared counter)."""
        self.counter += 1
        nonce = self.counter.to_bytes(8, "big") + bytes(8)
        out = {}
        for i in self.held:
            enc = Cipher(algorithms.AES(self._seeds[i]), modes.CTR(nonce)).encryptor()
            out[i] = np.frombuffer(enc.update(bytes(8 * count)), dtype=np.uint64)
        return out

    def coef(self, ring: Ring, power: int = 0) -> np.ndarray:
        """x_l^power * f_T(x_l) mod each prime, shape (L, C, K); zero where l is not in T."""
        key = (ring.k, power)
        if key not in self._coef:
            out = np.zeros((len(self.local_ids), len(self.subsets), ring.k))
            for li, p in enumerate(self.local_ids):
                x = p + 1
                for ti, T in enumerate(self.subsets):
                    if p not in T:
                        continue
                    for ki, q in enumerate(ring.primes):
                        v = pow(x, power, q)
                        for j in range(self.n):
                            if j not in T:
                                v = v * (j + 1 - x) * pow(j + 1, -1, q) % q
                        out[li, ti, ki] = v
            self._coef[key] = out
        return self._coef[key]

    def lift(self, ring: Ring, values: dict[int, np.ndarray], power: int = 0) -> np.ndarray:
        """Shares (L, K, *shape) of sum_T values[T] * x^power f_T(x), values[T] residues (K, *shape)."""
        coef = self.coef(ring, power)
        terms = []
        for ti, v in values.items():
            terms.append((v[None], coef[:, ti, :].reshape((coef.shape[0], ring.k) + (1,) * (v.ndim - 1))))
        return ring.lincomb(terms)

    def shares(self, ring: Ring, shape: tuple[int, ...], widths: list[int],
               outputs: list[list[tuple[int, int, int]]]) -> tuple[np.ndarray, dict[int, np.ndarray]]:
        """Draw random limbs per subset and return shares of linear forms of them, in one product.

        Output o is sum_T sum_(j, weight, power) in outputs[o] of weight * x^power * f_T(x) * limb_T[j]
        (power 0: a degree-t sharing of sum_T value_T; power >= 1: part of a degree-2t zero sharing).
        Returns (shares (L, O, K, *shape), limbs {subset: (J, *shape)}).
        """
        limbs = self.limbs(shape, widths)
        held = sorted(limbs)
        key = (ring.k, tuple(widths), tuple(tuple(o) for o in outputs), tuple(held))
        plan = self._mats.get(key)
        if plan is None:
            mat = self._matrix(ring, len(widths), outputs, held)
            plan = []
            for o in range(len(outputs)):
                block = mat[:, o * ring.k:(o + 1) * ring.k]
                cols = np.nonzero(block.any(axis=(0, 1)))[0]  # only the limbs this output uses
                plan.append((np.ascontiguousarray(block[:, :, cols]), cols))
            self._mats[key] = plan
        stacked = np.concatenate([limbs[T].reshape(len(widths), -1) for T in held], 0)
        size = stacked.shape[1]
        out = np.empty((len(self.local_ids), len(outputs), ring.k, size), dtype=np.float32)
        for o, (block, cols) in enumerate(plan):
            rows = stacked if len(cols) == stacked.shape[0] else stacked[cols]
            prod = np.matmul(block, rows)  # (L, K, size), exact: < len(cols) * 2^37
            out[:, o] = ring.reduce(prod) if len(cols) <= 1024 else ring.reduce_big(prod)
        return out.reshape((len(self.local_ids), len(outputs), ring.k) + tuple(shape)), limbs

    def _matrix(self, ring: Ring, nlimbs: int, outputs: list, held: list[int]) -> np.ndarray:
        """(L, O*K, |held|*J): weight * x^power * f_T(x) mod p, reduced so products stay exact."""
        mat = np.zeros((len(self.local_ids), len(outputs) * ring.k, len(held) * nlimbs))
        for power in {pw for o in outputs for _, _, pw in o}:
            coef = self.coef(ring, power)  # (L, C, K)
            for oi, terms in enumerate(outputs):
                for j, weight, pw in terms:
                    if pw != power:
                        continue
                    for hi, T in enumerate(held):
                        for ki, q in enumerate(ring.primes):
                            mat[:, oi * ring.k + ki, hi * nlimbs + j] = coef[:, T, ki] * (weight % q) % q
        return mat

    def limbs(self, shape: tuple[int, ...], widths: list[int]) -> dict[int, np.ndarray]:
        """Per held subset, random limbs (J, *shape) as float64, limb j uniform in [0, 2^widths[j]).

        Limbs are 16-bit fields of the AES-CTR stream (widths <= LIMB_BITS), read with one uint16 view.
        """
        size = int(np.prod(shape, dtype=np.int64))
        w = self.words(-(-len(widths) * size // 4))
        short = [(j, (1 << wd) - 1) for j, wd in enumerate(widths) if wd < LIMB_BITS]
        out = {}
        for i, u in w.items():
            raw = u.view(np.uint16)[:len(widths) * size].reshape(len(widths), size)
            if short:
                raw = raw.copy()
                for j, mask in short:
                    raw[j] &= np.uint16(mask)
            out[i] = raw.astype(np.float64).reshape((len(widths),) + tuple(shape))
        return out

    def uniform(self, ring: Ring, shape: tuple[int, ...]) -> np.ndarray:
        """Degree-t shares of a uniform element of Z_M (2^-40 close: 40 extra random bits)."""
        return self.lift(ring, self.uniform_values(ring, shape))

    def uniform_values(self, ring: Ring, shape: tuple[int, ...]) -> dict[int, np.ndarray]:
        """Per held subset, a uniform element of Z_M (residues (K, *shape))."""
        j = uniform_limbs(ring)
        lim = self.limbs(shape, [LIMB_BITS] * j)
        weights = [1 << (LIMB_BITS * i) for i in range(j)]
        return {i: ring.combine(v, weights) for i, v in lim.items()}
