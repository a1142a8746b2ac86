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


LIMB_BITS = 21  # random integers are drawn as limbs of up to 21 bits (uint32 words of the stream, masked)
MAX_LIMB_BITS = 24  # a limb times a residue stays below 2^45 (exact float64 sums of many)
FIELD_MASK = (1 << 21) - 1  # uniform residues are drawn as 21-bit fields, rejected when >= p


def split_bits(bits: int, limb: int = LIMB_BITS) -> list[int]:
    """Widths of the limbs of a `bits`-bit random integer."""
    return [limb] * (bits // limb) + ([bits % limb] if bits % limb else [])


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
        self._coef: dict[tuple[tuple[int, ...], int], np.ndarray] = {}
        self._mats: dict[tuple, np.ndarray] = {}

    def _encryptors(self) -> dict[int, object]:
        """One AES-256-CTR stream per held subset at a fresh value of the shared counter."""
        self.counter += 1
        nonce = self.counter.to_bytes(8, "big") + bytes(8)
        return {i: Cipher(algorithms.AES(self._seeds[i]), modes.CTR(nonce)).encryptor() for i in self.held}

    def words(self, count: int) -> dict[int, np.ndarray]:
        """`count` fresh uint64 words for each held subset (one call of the shared counter)."""
        return {i: np.frombuffer(enc.update(bytes(8 * count)), dtype=np.uint64)
                for i, enc in self._encryptors().items()}

    def residues(self, ring: Ring, shape: tuple[int, ...]) -> np.ndarray:
        """Per held subset (in `held` order), exactly uniform elements of Z_M as residues: (held, K, *shape) (one
        counter value).

        Residue k is a 21-bit field of the stream (a uint32 word masked to 21 bits) accepted when it
        is below p_k; a rejected field (probability (2^21 - p_k) / 2^21, below 10^-4 for the first 12 primes)
        is replaced by the next fields of the same stream, so every member of the subset derives the
        same residues and each residue is uniform mod p_k without any bias, hence by the CRT the
        element is uniform in Z_M.
        """
        size = int(np.prod(shape, dtype=np.int64))
        buf = np.empty((len(self.held), ring.k) + tuple(shape), dtype=np.float32)
        self._residues_into(ring, size, buf)
        return buf

    def _residues_into(self, ring: Ring, size: int, out: np.ndarray) -> None:
        """`residues` written into out (held, K, ...) (one counter value; one pass of C per subset)."""
        from . import _ring

        bad = np.empty(256, dtype=np.int64)
        for h, (i, enc) in enumerate(self._encryptors().items()):
            raw = np.frombuffer(enc.update(bytes(4 * ring.k * size)), dtype=np.uint32)
            v = out[h].reshape(-1)
            count = _ring.fields(v, raw, ring.p_u64, bad, size)
            if not count:
                continue
            bad_idx = bad[:count].copy() if count <= bad.size else np.flatnonzero(v >= np.repeat(ring.p32, size))
            while bad_idx.size:  # rare: about 10^-4 of the fields for the largest 21-bit primes
                extra = np.frombuffer(enc.update(bytes(4 * bad_idx.size)), dtype=np.uint32) & np.uint32(FIELD_MASK)
                v[bad_idx] = extra.astype(np.float32)
                bad_idx = bad_idx[v[bad_idx] >= ring.p32[bad_idx // size]]

    def zero_sharing(self, ring: Ring, shape: tuple[int, ...]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Pairs (coef (L, held, K), values (held, K, *shape)) whose `Ring.combine_residues` is this process's shares
        of a degree-2t sharing of 0: sum_T sum_(j=1..t) z_(T,j) x^j f_T(x), z_(T,j) uniform in Z_M (from
        `residues`): the coefficients of degrees 1..2t of the sum are uniform, its constant term is zero."""
        vals = self.residues(ring, (self.t,) + tuple(shape))  # (held, K, t, *shape)
        return [(self.coef(ring, j)[:, self.held], vals[:, :, j - 1]) for j in range(1, self.t + 1)]

    def coef(self, ring: Ring, power: int = 0) -> np.ndarray:
        """x_l^power * f_T(x_l) mod each prime, shape (L, C, K); zero where l is not in T."""
        key = (ring.primes, power)  # by the primes: a sub-ring may have as many as another ring
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

    def lift(self, ring: Ring, values: np.ndarray, power: int = 0) -> np.ndarray:
        """Shares (L, K, *shape) of sum_T values[T] * x^power f_T(x), values (held, K, *shape) residues in `held`
        order."""
        return ring.combine_residues((self.coef(ring, power)[:, self.held], values))

    def shares(self, ring: Ring, shape: tuple[int, ...], widths: list[int],
               outputs: list[list[tuple[int, int, int]]], zero: tuple[int, ...] = (),
               offsets: list[int] | None = None, with_limbs: bool = False) -> tuple[np.ndarray, dict[int, np.ndarray]]:
        """Draw random limbs per subset and return shares of linear forms of them, in one pass (C).

        Output o is sum_T sum_(j, weight, power) in outputs[o] of weight * x^power * f_T(x) * limb_T[j]
        (power 0: a degree-t sharing of sum_T value_T; power >= 1: part of a degree-2t zero sharing),
        plus offsets[o] (a public constant: every share shifted by it shifts the value by it), plus,
        for o in `zero`, a degree-2t sharing of zero drawn as uniform residues (`zero_terms`).
        All of it is accumulated exactly in uint64 and reduced once (`_ring.lin_mod`).
        Returns (shares (L, O, K, *shape), limbs {subset: (J, *shape) float64} if with_limbs, else {}).
        """
        from . import _ring

        size = int(np.prod(shape, dtype=np.int64))
        words, masks = self._words(widths, size)
        held = sorted(self._seeds)
        nl, no, nw = len(self.local_ids), len(outputs), len(words)
        key = (ring.primes, tuple(widths), tuple(tuple(o) for o in outputs), tuple(held),
               None if offsets is None else tuple(offsets), tuple(zero))
        plan = self._mats.get(key)
        if plan is None:
            mat = self._matrix(ring, len(widths), outputs, held).astype(np.uint32)  # entries < p < 2^21
            off = np.zeros((no, ring.k), dtype=np.uint32)
            if offsets is not None:
                off[:] = [ring.const(v) for v in offsets]
            per = len(held) * self.t  # residues per zero sharing: each output in `zero` draws its own
            zmat = np.zeros((nl, no, ring.k, len(zero) * per), dtype=np.uint32)
            for zi, o in enumerate(zero):
                for j in range(1, self.t + 1):
                    coef = self.coef(ring, j)  # (L, C, K)
                    for h, T in enumerate(held):
                        zmat[:, o, :, zi * per + h * self.t + j - 1] = coef[:, T, :]
            plan = self._mats[key] = (np.ascontiguousarray(mat.reshape(nl, no, ring.k, nw)), zmat, off)
        mat, zmat, off = plan
        if zero:  # (|zero| * held, K, t, size): residues of the degree-2t zero sharings' coefficients
            zres = np.empty((len(zero), len(held), ring.k, self.t, size), dtype=np.float32)
            for zi in range(len(zero)):
                self._residues_into(ring, self.t * size, zres[zi])
        else:
            zres, zmat = np.empty(0, dtype=np.float32), np.empty(0, dtype=np.uint32)
        out = np.empty((nl, no, ring.k, size), dtype=np.float32)
        _ring.lin_mod(out, words, masks, mat, zres, zmat, off, ring.p_u64, nl, no, ring.k, nw,
                      len(zero) * len(held) * self.t, size, self.t)
        limbs = {}
        if with_limbs:
            j = len(widths)
            lim = (words & masks[:, None]).astype(np.float64)
            limbs = {T: lim[h * j:(h + 1) * j].reshape((j,) + tuple(shape)) for h, T in enumerate(held)}
        return out.reshape((nl, no, ring.k) + tuple(shape)), limbs

    def _matrix(self, ring: Ring, nlimbs: int, outputs: list, held: list[int]) -> np.ndarray:
        """(L, O*K, |held|*J): weight * x^power * f_T(x) mod p."""
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

    def _words(self, widths: list[int], size: int) -> tuple[np.ndarray, np.ndarray]:
        """Raw uint32 words (held * J, size) of the held subsets' streams (one counter value), and the
        limb masks (held * J,): limb j of an element is the low widths[j] bits of its word."""
        if any(not 0 < w <= MAX_LIMB_BITS for w in widths):
            raise ValueError(f"limb widths must be in 1..{MAX_LIMB_BITS}: {widths}")
        j = len(widths)
        encs = self._encryptors()
        chunk = 4 * j * size
        buf = bytearray(len(encs) * chunk + 15)  # update_into wants block_size - 1 spare bytes
        view, zeros = memoryview(buf), bytes(chunk)
        for h, (_, enc) in enumerate(sorted(encs.items())):
            enc.update_into(zeros, view[h * chunk:])
        words = np.frombuffer(buf, dtype=np.uint32, count=len(encs) * j * size).reshape(len(encs) * j, size)
        masks = np.tile(np.array([(1 << w) - 1 for w in widths], dtype=np.uint32), len(encs))
        return words, masks

    def limbs(self, shape: tuple[int, ...], widths: list[int]) -> dict[int, np.ndarray]:
        """Per held subset, random limbs (J, *shape) as float64, limb j uniform in [0, 2^widths[j])."""
        words, masks = self._words(widths, int(np.prod(shape, dtype=np.int64)))
        lim = (words & masks[:, None]).astype(np.float64)
        j = len(widths)
        return {T: lim[h * j:(h + 1) * j].reshape((j,) + tuple(shape)) for h, T in enumerate(sorted(self._seeds))}

    def uniform(self, ring: Ring, shape: tuple[int, ...]) -> np.ndarray:
        """Degree-t shares of a uniform element of Z_M."""
        return self.lift(ring, self.uniform_values(ring, shape))

    def uniform_values(self, ring: Ring, shape: tuple[int, ...]) -> np.ndarray:
        """Per held subset, a uniform element of Z_M (residues (held, K, *shape), see `residues`)."""
        return self.residues(ring, shape)
