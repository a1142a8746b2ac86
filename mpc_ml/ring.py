"""Residue-number-system rings Z_M, M = p_1...p_K, with 21-bit primes; residues stored as float32.

Why: numpy has no 128-bit integers. Residues below 2^21 are exact in float32 (24-bit mantissa),
so additions stay in float32 (half the memory traffic of float64, measured 5x faster here);
products of two residues are exact in float64 (< 2^42), a matrix product with inner dimension
up to 2048 is exact in one float64 BLAS call, and a reduction is one multiply by 1/p (rounded
up), a floor and a subtract. Shamir sharing
works over Z_M because every difference of evaluation points (1..n) is a unit mod each p_i.
Arrays of residues have the residue axis at position 1: shape (L, K, *shape), L being the
leading axis of local parties (or 1 for public values).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from . import _ring  # fused loops in exact uint64 arithmetic (mpc_ml/_ring.c)

PRIME_BITS = 21
DTYPE = np.float32
_MAX_INNER = 2048  # k * (2^21)^2 < 2^53: exact float64 dot products up to this inner size


def _is_prime(q: int) -> bool:
    """Deterministic trial division (q < 2^21)."""
    if q < 2 or q % 2 == 0:
        return q == 2
    f = 3
    while f * f <= q:
        if q % f == 0:
            return False
        f += 2
    return True


@lru_cache(maxsize=None)
def primes_below_2_21(count: int) -> tuple[int, ...]:
    """The `count` largest primes below 2^21, descending."""
    out: list[int] = []
    q = (1 << PRIME_BITS) - 1
    while len(out) < count:
        if q < 2:
            raise ValueError(f"there are fewer than {count} primes below 2^{PRIME_BITS}")
        if _is_prime(q):
            out.append(q)
        q -= 2
    return tuple(out)


class Ring:
    """Z_M for M the product of K distinct 21-bit primes; element arrays hold float32 residues.

    Ring(k) is over the k largest primes below 2^21; Ring(k, drop) leaves out those at the positions in
    `drop` (an exact solve leaves out the primes that divide its matrix's determinant).
    """

    def __init__(self, k: int, drop: tuple[int, ...] = ()) -> None:
        self.span, self.dropped = k, tuple(sorted(set(drop)))
        if self.dropped and not 0 <= self.dropped[0] <= self.dropped[-1] < k:
            raise ValueError(f"positions to drop {drop} are not among the ring's {k} primes")
        self.primes = tuple(q for i, q in enumerate(primes_below_2_21(max(k, 0))) if i not in self.dropped)
        self.k = k = len(self.primes)
        if k < 1:
            raise ValueError("a ring needs at least one prime")
        self.modulus = 1
        for q in self.primes:
            self.modulus *= q
        self.bits = self.modulus.bit_length()
        self.p = np.array(self.primes, dtype=np.float64)
        self.p32 = self.p.astype(DTYPE)
        self.pu = np.nextafter(1.0 / self.p, 2.0)  # 1/p rounded up: floor(x*pu) exact for 0 <= x < 2^42
        self.p_u64 = np.array(self.primes, dtype=np.uint64)
        self._garner_inv = [[pow(self.primes[j], -1, self.primes[i]) for j in range(i)] for i in range(k)]
        prefix = [1]
        for q in self.primes[:-1]:
            prefix.append(prefix[-1] * q)
        self._prefix = prefix
        self._prefix_mod64 = np.array([x % (1 << 64) for x in prefix], dtype=np.uint64)
        self._m_mod64 = np.uint64(self.modulus % (1 << 64))
        self._weights: dict[tuple[int, ...], np.ndarray] = {}

    def __repr__(self) -> str:
        return f"Ring(K={self.k}, {self.bits} bits)"

    def without(self, positions: list[int]) -> "Ring":
        """This ring less the primes at `positions` (indices into self.primes)."""
        if any(not 0 <= i < self.k for i in positions):
            raise ValueError(f"positions to drop {positions} are not among the ring's {self.k} primes")
        kept = [i for i in range(self.span) if i not in self.dropped]
        return Ring(self.span, self.dropped + tuple(kept[i] for i in positions))

    # ---------------------------------------------------------------- shapes
    def col(self, ndim: int, arr: np.ndarray | None = None) -> np.ndarray:
        """The moduli (or `arr`, shape (K,)) shaped (1, K, 1, ...) for an array of `ndim` dims."""
        a = self.p if arr is None else arr
        return a.reshape((1, self.k) + (1,) * (ndim - 2))

    # ---------------------------------------------------------------- arithmetic
    def reduce(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """float32 residues of a float64 array of non-negative integers below 2^47 (exact: see below).

        With pu = 1/p rounded up and x < 2^47, x*pu is within 2^-26 of x/p, while a non-integer
        x/p is at least 2^-21 from the next integer, and an integer x/p is never rounded below
        itself: the floor is exact, no correction step is needed.
        """
        q = x * self.col(x.ndim, self.pu)
        np.floor(q, out=q)
        q *= self.col(x.ndim)
        if out is not None:  # x is left as it was; the residues go straight into `out` (float32)
            return np.subtract(x, q, out=out, casting="unsafe")
        x -= q
        return x.astype(DTYPE)

    def reduce_big(self, x: np.ndarray) -> np.ndarray:
        """float32 residues of integer-valued float64 |x| < 2^53 (dot products), exactly corrected."""
        x = np.asarray(x, dtype=np.float64)
        q = x * self.col(x.ndim, 1.0 / self.p)
        np.floor(q, out=q)
        q *= self.col(x.ndim)
        r = (x - q).astype(DTYPE)  # in [-p, 2p): exact in float32
        p = self.col(r.ndim, self.p32)
        r -= p * (r >= p)
        r += p * (r < 0)
        return r

    def add(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """a + b mod M."""
        s = np.add(a, b, dtype=DTYPE)
        p = self.col(s.ndim, self.p32)
        s -= p * (s >= p)
        return s

    def sub(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """a - b mod M."""
        s = np.subtract(a, b, dtype=DTYPE)
        s += self.col(s.ndim, self.p32) * (s < 0)
        return s

    def neg(self, a: np.ndarray) -> np.ndarray:
        """-a mod M."""
        return self.sub(np.zeros_like(a), a)

    def mul(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """a * b mod M (elementwise, broadcasting)."""
        return self.reduce(np.multiply(a, b, dtype=np.float64))

    def mul_add(self, x: np.ndarray, y: np.ndarray | None = None, a: np.ndarray | None = None) -> np.ndarray:
        """x * y + a mod M for residue arrays of one shape (y = None: 1, a = None: 0), in one pass (C)."""
        shape = x.shape
        x = np.ascontiguousarray(x, dtype=DTYPE)
        y = None if y is None else np.ascontiguousarray(np.broadcast_to(y, shape), dtype=DTYPE)
        a = None if a is None else np.ascontiguousarray(np.broadcast_to(a, shape), dtype=DTYPE)
        out = np.empty(shape, dtype=DTYPE)
        if x.size:
            k_axis = shape[1] if x.ndim > 1 else 0
            if k_axis != self.k:
                raise ValueError(f"residue arrays need K = {self.k} on axis 1, got shape {shape}")
            rows = int(np.prod(shape[:2]))
            _ring.mul_add(out, x, y, a, self.p_u64, rows, x.size // rows)
        return out

    def scale(self, a: np.ndarray, c: int) -> np.ndarray:
        """a * c mod M for a Python integer c (any size, any sign)."""
        return self.mul(a, self.col(a.ndim, self.const(c)))

    def const(self, c: int) -> np.ndarray:
        """Residues of one Python integer, shape (K,)."""
        return np.array([c % q for q in self.primes], dtype=DTYPE)

    def matmul(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """a @ b mod M over the last two axes (inner dimension chunked to stay exact)."""
        inner = a.shape[-1]
        a = np.asarray(a, dtype=np.float64)
        b = np.asarray(b, dtype=np.float64)
        if inner <= _MAX_INNER:
            return self.reduce_big(np.matmul(a, b))
        out = None
        for s in range(0, inner, _MAX_INNER):
            part = self.reduce_big(np.matmul(a[..., s:s + _MAX_INNER], b[..., s:s + _MAX_INNER, :]))
            out = part if out is None else self.add(out, part)
        return out

    def sum(self, a: np.ndarray, axis: int | tuple[int, ...]) -> np.ndarray:
        """Sum mod M along user axes (chunked so float sums stay exact)."""
        axes = (axis,) if isinstance(axis, int) else tuple(axis)
        n = int(np.prod([a.shape[x] for x in axes])) if axes else 1
        if n <= (1 << 31):
            return self.reduce_big(a.sum(axis=axes, dtype=np.float64))
        raise ValueError("sum over more than 2^31 elements")

    def lincomb(self, terms: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        """sum of a_i * c_i mod M, products accumulated exactly in float64 and reduced once."""
        acc = None
        for a, c in terms:
            prod = np.multiply(a, c, dtype=np.float64)
            if acc is None or acc.shape != prod.shape:
                acc = prod if acc is None else acc + prod
            else:
                acc += prod
        return self.reduce(acc) if len(terms) <= 32 else self.reduce_big(acc)

    def combine_residues(self, *pairs: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        """Residues (L, K, *shape) of the sum over pairs (coef (L, T, K), values (T, K, *shape)) of
        sum_t coef[l, t, k] * values[t, k] mod p_k, coefficients and values residues below 2^21: one float64 matrix
        product per prime and pair, exact while all pairs hold fewer than 2^11 terms together (every partial sum
        is an integer below 2^53, whatever order the BLAS adds in), reduced once. `values` may be a strided view."""
        nl, shape = pairs[0][0].shape[0], pairs[0][1].shape[2:]
        out = np.zeros((self.k, nl, int(np.prod(shape, dtype=np.int64))))
        for i in range(self.k):
            for coef, values in pairs:
                out[i] += coef[:, :, i] @ values[:, i].astype(np.float64).reshape(values.shape[0], -1)
        return self.reduce_big(out.transpose(1, 0, 2)).reshape((nl, self.k) + shape)

    def combine(self, limbs: np.ndarray, weights: list[int]) -> np.ndarray:
        """Residues (K, *shape) of sum_j limbs[j] * weights[j]; limbs (J <= 32, *shape), each < 2^21."""
        key = tuple(weights)
        w = self._weights.get(key)
        if w is None:
            w = self._weights[key] = np.array([[wt % q for wt in weights] for q in self.primes], dtype=np.float64)
        shape = limbs.shape[1:]
        out = w @ limbs.reshape(limbs.shape[0], -1)
        return self.reduce(out[None])[0].reshape((self.k,) + shape)

    # ---------------------------------------------------------------- conversions
    def from_int64(self, x: np.ndarray) -> np.ndarray:
        """Residues of a signed int64 array, shape (1, K, *x.shape)."""
        x = np.asarray(x, dtype=np.int64)
        out = np.empty((1, self.k) + x.shape, dtype=DTYPE)
        for i, q in enumerate(self.primes):
            out[0, i] = np.mod(x, q)
        return out

    def from_objects(self, x: np.ndarray) -> np.ndarray:
        """Residues of an array of Python integers (any size), shape (1, K, *x.shape)."""
        x = np.asarray(x, dtype=object)
        out = np.empty((1, self.k) + x.shape, dtype=DTYPE)
        for i, q in enumerate(self.primes):
            out[0, i] = np.vectorize(lambda v, q=q: int(v) % q, otypes=[np.float64])(x) if x.size else 0
        return out

    def _digits(self, r: np.ndarray) -> list[np.ndarray]:
        """Mixed-radix (Garner) digits of residues r (K on axis 1), each array over the rest.

        Digit j is fixed, then subtracted from every later residue row and the rows multiplied by
        p_j^-1 modulo their primes, all later rows in one vectorized step.
        """
        if self.k == 1:
            return [r[:, 0].astype(np.float64)]
        if not hasattr(self, "_garner_cols"):
            inv = np.zeros((self.k, self.k))
            for i in range(self.k):
                for j in range(i):
                    inv[i, j] = self._garner_inv[i][j]
            self._garner_cols = inv
        t = np.moveaxis(r, 1, 0).astype(np.float64)  # (K, ...)
        extra = (1,) * (t.ndim - 1)
        q = self.p.reshape((self.k,) + extra)
        qi = (1.0 / self.p).reshape(q.shape)
        digits: list[np.ndarray] = []
        for j in range(self.k):
            d = t[j]
            if j:  # rows j.. are in (-p, 2p) after the floor reduction with a rounded 1/p
                d -= self.p[j] * (d >= self.p[j])
                d += self.p[j] * (d < 0)
            digits.append(d)
            if j + 1 < self.k:
                rest = t[j + 1:]
                rest -= d
                rest *= self._garner_cols[j + 1:, j].reshape((self.k - j - 1,) + extra)
                rest -= np.floor(rest * qi[j + 1:]) * q[j + 1:]
        return digits

    def mod_2k(self, r: np.ndarray, k: int) -> np.ndarray:
        """(x mod 2^k) as uint64 for the values x in [0, M) whose residues are r (k <= 64)."""
        acc = np.zeros(r[:, 0].shape, dtype=np.uint64)
        for d, pm in zip(self._digits(r), self._prefix_mod64):
            acc += d.astype(np.uint64) * pm
        if k < 64:
            acc &= np.uint64((1 << k) - 1)
        return acc

    def open_trunc(self, shares: np.ndarray, weights: np.ndarray, f: int, hi: np.ndarray | None = None) -> np.ndarray:
        """(c - (c mod 2^f)) / 2^f - hi mod M for c = sum_j weights[j] shares[j] (a Lagrange combination).

        shares (S, K, *shape) residues, weights (S, K) residues, hi residues (L, K, *shape) or None
        (then L = 1); the result has shape (L, K, *shape),
        1 <= f <= 64; c must be below M (1 - 2^-19) (truncation openings are below M / 4 by the choice
        of the ring: fixedpoint.make_params). One pass in C (`_ring.open_low`): the factors (M/p_k)^-1 of
        the CRT are folded into the weights, so y_k = c (M/p_k)^-1 mod p_k comes out of the combination;
        c = sum_k y_k M/p_k - alpha M with alpha = floor(sum_k y_k / p_k + 2^-20) (the float sum is
        within K 2^-52 of alpha + c/M), hence c mod 2^f exactly in uint64, and each result residue is
        y_k (M/p_k) 2^-f - (c mod 2^f) 2^-f - hi_k mod p_k.
        """
        if not 1 <= f <= 64:
            raise ValueError(f"open_trunc supports 1..64 bits, got {f}")
        s = shares.shape[0]
        key = ("open", f, np.asarray(weights, dtype=np.float64).tobytes())
        tab = self._weights.get(key)
        if tab is None:
            cof = [self.modulus // q for q in self.primes]
            inv = [pow(c % q, -1, q) for c, q in zip(cof, self.primes)]
            inv2f = [pow(1 << f, -1, q) for q in self.primes]
            w = np.array([[int(weights[j][i]) * inv[i] % q for i, q in enumerate(self.primes)] for j in range(s)],
                         dtype=np.uint64)
            a = np.array([c % q * v % q for c, q, v in zip(cof, self.primes, inv2f)], dtype=np.uint64)
            tab = self._weights[key] = (w, a, np.array(inv2f, dtype=np.uint64),
                                        np.array([c % (1 << 64) for c in cof], dtype=np.uint64),
                                        self.modulus % (1 << 64))
        w, a, inv2f, cof_low, m_low = tab
        sh = np.ascontiguousarray(shares, dtype=DTYPE)
        n = sh[0, 0].size
        nl = 1 if hi is None else hi.shape[0]
        if hi is not None:
            hi = np.ascontiguousarray(hi, dtype=DTYPE).reshape((nl,) + sh.shape[1:])
        out = np.empty((nl,) + sh.shape[1:], dtype=DTYPE)
        _ring.open_low(out, sh, w, a, inv2f, cof_low, m_low, hi, self.p_u64, s, self.k, n, f, nl)
        return out

    def to_int64(self, r: np.ndarray) -> np.ndarray:
        """Signed int64 values (centred lift, |x| < 2^63 assumed) of residues r (K on axis 1)."""
        digits = self._digits(r)
        acc = np.zeros(r[:, 0].shape, dtype=np.uint64)
        frac = np.zeros(r[:, 0].shape, dtype=np.float64)
        for d, pm in zip(digits, self._prefix_mod64):
            acc += d.astype(np.uint64) * pm
        for i in range(self.k):
            frac = (frac + digits[i]) / self.primes[i]
        neg = frac > 0.5
        acc = np.where(neg, acc - self._m_mod64, acc)
        return acc.view(np.int64)

    def crt(self, r: np.ndarray) -> list:
        """Values in [0, M) (nested lists of Python ints) of residues r (K, *shape), by the CRT basis."""
        if not hasattr(self, "_crt_basis"):
            self._crt_basis = [(self.modulus // q) * pow(self.modulus // q, -1, q) for q in self.primes]
        flat = r.reshape(self.k, -1).astype(np.int64).T.tolist()
        vals = [sum(int(x) * c for x, c in zip(row, self._crt_basis)) % self.modulus for row in flat]
        return np.array(vals, dtype=object).reshape(r.shape[1:]).tolist()

    # ---------------------------------------------------------------- randomness and wire format
    def uniform(self, u: np.ndarray) -> np.ndarray:
        """Residues uniform up to 2^-43 statistical distance from 64-bit random words u (shape (K, ...))."""
        hi = (u >> np.uint64(32)).astype(np.float64)
        lo = (u & np.uint64(0xFFFFFFFF)).astype(np.float64)
        p = self.p.reshape((self.k,) + (1,) * (u.ndim - 1))
        pu = self.pu.reshape(p.shape)
        hi -= np.floor(hi * pu) * p
        x = hi * self.const(1 << 32).astype(np.float64).reshape(p.shape) + lo
        x -= np.floor(x * pu) * p
        return x.astype(DTYPE)

    def pack(self, r: np.ndarray) -> bytes:
        """Wire encoding of residues r (K, ...): 21-bit fields, 3 residues per uint64 word (C)."""
        r = np.ascontiguousarray(r, dtype=DTYPE)
        if r.ndim == 0 or r.shape[0] != self.k:
            raise ValueError(f"pack expects residues of shape ({self.k}, ...), got {r.shape}")
        n = r.size // self.k
        out = np.empty(((self.k + 2) // 3) * n, dtype=np.uint64)
        _ring.pack(out, r, self.k, n)
        return out.tobytes()

    def unpack(self, data: bytes, shape: tuple[int, ...]) -> np.ndarray:
        """Inverse of pack for residues of shape (K, *shape); rejects wrong sizes and non-residues."""
        ng = (self.k + 2) // 3
        size = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if len(data) != ng * size * 8:
            raise ValueError(f"share message has {len(data)} bytes, expected {ng * size * 8}")
        out = np.empty((self.k,) + tuple(shape), dtype=DTYPE)
        if not _ring.unpack(out, data, self.p_u64, size):
            raise ValueError("share message holds a value outside the ring")
        return out
