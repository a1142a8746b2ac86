"""MPCTensor: a secret-shared fixed-point tensor with CrypTen's names and numpy broadcasting."""

from __future__ import annotations

import functools
import inspect
import numbers
import re
from typing import Any, Callable, Iterator

import numpy as np

from . import fixedpoint
from .errors import InputError
from .protocols import arith, functions, opening
from .runtime import Runtime, current


def _to_numpy(x: Any, what: str = "input") -> np.ndarray:
    """float64 numpy view of an array-like (numpy, list, scalar, or a torch tensor without importing
    torch); None, text, complex numbers, ragged lists and shared tensors are an InputError naming `what`."""
    if isinstance(x, MPCTensor):
        raise InputError(f"{what} is already a shared tensor (use it as it is, or open it with get_plain_text)")
    if _is_torch(x):
        x = x.detach().cpu()
        try:
            x = x.numpy()
        except TypeError:  # a dtype numpy lacks (bfloat16: raised numpy's "unsupported ScalarType")
            if x.is_complex():
                raise InputError(f"{what} holds complex numbers; shared tensors hold real numbers") from None
            x = x.double().numpy()
    if x is None or isinstance(x, (str, bytes)):
        raise InputError(f"{what} must be real numbers, got {type(x).__name__}")
    try:
        if not np.iscomplexobj(x):
            return np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what} must be a rectangular array of real numbers: {exc}") from None
    raise InputError(f"{what} holds complex numbers; shared tensors hold real numbers")


def _is_torch(x: Any) -> bool:
    """Whether x is a torch tensor (recognized without importing torch)."""
    return hasattr(x, "detach") and hasattr(x, "cpu")


def _dim(dim: Any, ndim: int, what: str = "dim") -> int:
    """dim in -ndim..ndim-1 as a non-negative index (torch's rule): out of range raises instead of wrapping."""
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool) or not -ndim <= dim < ndim:
        raise InputError(f"{what} {dim!r} is out of range for {ndim} dimension(s) (expected {-ndim}..{ndim - 1})")
    return int(dim) % ndim


def _zero_d(method: Callable) -> Callable:
    """torch's rule for a reduction over one dim of a 0-d tensor: dim 0 or -1 names its one element and the
    result is 0-d (x.sum(0) is x, x.softmax(-1) is 1, x.max(0) is (x, 0)); other tensors pass unchanged."""
    signature = inspect.signature(method)

    @functools.wraps(method)
    def wrapper(self: "MPCTensor", *args: Any, **kwargs: Any) -> Any:
        if self.dim() != 0:
            return method(self, *args, **kwargs)
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        dim = bound.arguments["dim"]
        if dim is None or isinstance(dim, (tuple, list)):
            return method(self, *args, **kwargs)
        if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool) or dim not in (0, -1):
            raise InputError(f"dim {dim!r} is out of range for a 0-d tensor (expected -1..0)")
        bound.arguments.update(self=self.reshape((1,)), dim=0)
        out = method(*bound.args, **bound.kwargs)
        return tuple(t.reshape(()) for t in out) if isinstance(out, tuple) else out.reshape(())

    return wrapper


def _same_session(tensors: list["MPCTensor"]) -> "Runtime":
    """The one runtime of all `tensors`; shares from different init() sessions must not be combined."""
    rt = tensors[0]._rt
    if any(t._rt is not rt for t in tensors):
        raise InputError("shared tensors from different mpc_ml sessions cannot be combined (init() was called "
                         "between them): share the inputs again in the current session")
    return rt


def _align(arr: np.ndarray, ndim: int) -> np.ndarray:
    """Insert unit user axes after (L, K) so the array has `ndim` user dims."""
    extra = ndim - (arr.ndim - 2)
    return arr.reshape(arr.shape[:2] + (1,) * extra + arr.shape[2:]) if extra > 0 else arr


def _broadcast_shape(a: tuple[int, ...], b: tuple[int, ...], op: str) -> tuple[int, ...]:
    try:
        return tuple(np.broadcast_shapes(a, b))
    except ValueError:
        raise InputError(f"shapes {a} and {b} do not broadcast for {op}") from None


def _is_operand(x: Any) -> bool:
    """Whether == and != compare with x element-wise (a shared tensor, a number, an array-like or a
    torch tensor); for anything else (None, str, other objects) they fall back to identity."""
    return isinstance(x, (MPCTensor, numbers.Number, np.ndarray, np.generic, list, tuple)) or _is_torch(x)


class MPCTensor:
    """Shares held by the local parties of the runtime; every party knows the shape.

    Comparisons (==, !=, <, <=, >, >=) are element-wise and return shared 0/1 tensors, as in
    CrypTen and torch: `if x == y:` has no public truth value, so bool() of a shared tensor raises
    TypeError. Hashing stays by identity (as torch.Tensor), so tensors still work as dict keys.
    A tensor made from torch tensors (shared ones, public operands, a from_pytorch model's weights)
    opens to a torch tensor of torch's default dtype, as CrypTen's do; otherwise to a numpy array.
    """

    # numpy defers to our reflected operators: np.array(...) == x calls x.__eq__, np.array(...) + x
    # calls x.__radd__ (instead of numpy iterating over the shared tensor element by element).
    __array_ufunc__ = None

    def __init__(self, shares: np.ndarray, rt: Runtime | None = None, torch: bool = False) -> None:
        self._rt = rt or current()
        self.share = shares
        self._torch = torch

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_plain(cls, x: Any, src: int = 0, rt: Runtime | None = None) -> "MPCTensor":
        """Secret-share x, known at party src (its shape and finiteness are checked first)."""
        rt = rt or current()
        src = rt.check_party(src, "src")
        values = None
        shape = None
        if src in rt.local_ids:
            arr = _to_numpy(x, "cryptensor input")
            shape = arr.shape
            values = rt.ring.from_int64(fixedpoint.encode(arr, rt.params, "cryptensor input"))
        elif x is not None:
            shape = np.shape(_to_numpy(x, "cryptensor input"))
        return cls(arith.input_values(rt, values, src, shape), rt, _is_torch(x))

    def _wrap(self, shares: np.ndarray, other: Any = None) -> "MPCTensor":
        """A tensor of this session from shares computed from self (and other: torch if either is)."""
        torch = self._torch or (other._torch if isinstance(other, MPCTensor) else _is_torch(other))
        return MPCTensor(shares, self._rt, torch)

    def _public(self, x: Any) -> np.ndarray:
        arr = _to_numpy(x, "public operand")
        return self._rt.ring.from_int64(fixedpoint.encode(arr, self._rt.params, "public operand"))

    # ------------------------------------------------------------------ shape
    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the shared tensor."""
        return tuple(self.share.shape[2:])

    def size(self, dim: int | None = None) -> tuple[int, ...] | int:
        """torch-style size(): the shape, or its length along `dim` (InputError naming a dim out of range)."""
        return self.shape if dim is None else self.shape[_dim(dim, self.dim())]

    def dim(self) -> int:
        """Number of dimensions."""
        return len(self.shape)

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d shared tensor")
        return self.shape[0]

    def __iter__(self) -> Iterator["MPCTensor"]:
        """The sub-tensors along the first dim, as torch. A 0-d tensor is a TypeError: without __iter__ Python falls
        back to x[0], x[1]... and a 0-d tensor's IndexError ended the loop at once, silently."""
        if not self.shape:
            raise TypeError("iteration over a 0-d shared tensor")
        return (self[i] for i in range(self.shape[0]))

    def reshape(self, *shape: Any) -> "MPCTensor":
        """Reshape (local)."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        try:
            return self._wrap(self.share.reshape(self.share.shape[:2] + tuple(shape)))
        except (TypeError, ValueError):
            raise InputError(f"cannot reshape a shared tensor of shape {self.shape} to {tuple(shape)}") from None

    view = reshape

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> "MPCTensor":
        """Flatten dims start_dim..end_dim (torch's arguments)."""
        s = self.shape
        if not s:
            return self.reshape(1)
        a, b = _dim(start_dim, len(s), "start_dim"), _dim(end_dim, len(s), "end_dim")
        if a > b:
            raise InputError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} (shape {s})")
        return self.reshape(s[:a] + (int(np.prod(s[a:b + 1], dtype=np.int64)),) + s[b + 1:])

    def transpose(self, d0: int = 0, d1: int = 1) -> "MPCTensor":
        """Swap two dims."""
        nd = self.dim()
        return self._wrap(np.swapaxes(self.share, _dim(d0, nd) + 2, _dim(d1, nd) + 2))

    def permute(self, *dims: Any) -> "MPCTensor":
        """Reorder the dims (torch's permute: x.permute(2, 0, 1) or x.permute((2, 0, 1)))."""
        if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
            dims = tuple(dims[0])
        nd = self.dim()
        order = tuple(_dim(d, nd) for d in dims)
        if sorted(order) != list(range(nd)):
            raise InputError(f"permute needs each of the {nd} dims once, got {dims}")
        return self._wrap(np.transpose(self.share, (0, 1) + tuple(d + 2 for d in order)))

    def clone(self) -> "MPCTensor":
        """A copy (shares copied)."""
        return self._wrap(self.share.copy())

    def t(self) -> "MPCTensor":
        """Transpose of a matrix."""
        return self.transpose(0, 1) if self.dim() == 2 else self

    @property
    def T(self) -> "MPCTensor":
        """Reversed dims."""
        nd = self.dim()
        return self._wrap(np.transpose(self.share, (0, 1) + tuple(range(nd + 1, 1, -1))))

    def unsqueeze(self, dim: int) -> "MPCTensor":
        """Insert a unit dim."""
        d = _dim(dim, self.dim() + 1)
        return self._wrap(np.expand_dims(self.share, d + 2))

    def squeeze(self, dim: int | None = None) -> "MPCTensor":
        """Remove unit dims."""
        if dim is None:
            axes = tuple(i + 2 for i, s in enumerate(self.shape) if s == 1)
        else:  # torch: a dim whose size is not 1 is left as it is
            d = _dim(dim, self.dim())
            axes = (d + 2,) if self.shape[d] == 1 else ()
        return self._wrap(np.squeeze(self.share, axis=axes))

    def __getitem__(self, idx: Any) -> "MPCTensor":
        if not isinstance(idx, tuple):
            idx = (idx,)
        if any(isinstance(i, MPCTensor) for i in idx):
            raise InputError("a shared tensor cannot index another (the result's shape would depend on secret "
                             "values): multiply by a 0/1 mask such as (x > 0) instead")
        try:
            return self._wrap(self.share[(slice(None), slice(None)) + idx])
        except IndexError as exc:  # numpy counts the two share axes (parties, primes) in front of the user dims
            msg = re.sub(r"axis (\d+)", lambda m: f"dim {int(m[1]) - 2}", str(exc))
            msg = re.sub(r"array is (\d+)-dimensional, but (\d+) were indexed",
                         lambda m: f"the tensor has {int(m[1]) - 2} dim(s), but {int(m[2]) - 2} were indexed", msg)
            raise IndexError(f"{msg} (a shared tensor of shape {self.shape})") from None

    # ------------------------------------------------------------------ arithmetic
    def _binary(self, other: Any, op: str) -> tuple[np.ndarray, np.ndarray, bool]:
        """(own shares, other's shares or residues, other is shared), aligned for broadcasting."""
        if isinstance(other, MPCTensor):
            _same_session([self, other])
            oshape, o, shared = other.shape, other.share, True
        else:
            o = self._public(other)
            oshape, shared = tuple(o.shape[2:]), False
        shape = _broadcast_shape(self.shape, oshape, op)
        return _align(self.share, len(shape)), _align(o, len(shape)), shared

    def __add__(self, other: Any) -> "MPCTensor":
        a, b, _ = self._binary(other, "+")
        return self._wrap(self._rt.ring.add(a, b), other)

    __radd__ = __add__

    def __sub__(self, other: Any) -> "MPCTensor":
        a, b, _ = self._binary(other, "-")
        return self._wrap(self._rt.ring.sub(a, b), other)

    def __rsub__(self, other: Any) -> "MPCTensor":
        a, b, _ = self._binary(other, "-")
        return self._wrap(self._rt.ring.sub(b, a), other)

    def __neg__(self) -> "MPCTensor":
        return self._wrap(self._rt.ring.neg(self.share))

    def __mul__(self, other: Any) -> "MPCTensor":
        if not isinstance(other, MPCTensor):
            return self._mul_public(_to_numpy(other, "public operand"), other, "*")
        a, b, _ = self._binary(other, "*")
        return self._wrap(arith.mul_fixed(self._rt, a, b), other)

    __rmul__ = __mul__

    def _mul_public(self, arr: np.ndarray, other: Any, op: str) -> "MPCTensor":
        """self * a public array (normalised encoding: small factors keep their precision, as scalars)."""
        _broadcast_shape(self.shape, arr.shape, op)
        return self._wrap(functions.mul_public(self._rt, self.share, arr), other)

    def __truediv__(self, other: Any) -> "MPCTensor":
        if isinstance(other, MPCTensor):
            return self * other.reciprocal()
        arr = _to_numpy(other, "divisor")
        if np.any(arr == 0):
            raise InputError("division by a public zero")
        return self._mul_public(1.0 / arr, other, "/")  # a torch divisor makes a torch quotient, as *

    def __rtruediv__(self, other: Any) -> "MPCTensor":
        """A public numerator over a shared x: other * (1/x), within reciprocal's range."""
        return self.reciprocal() * other

    def div(self, other: Any) -> "MPCTensor":
        """Division (by a public value or, approximately, by a shared one)."""
        return self / other

    def mul(self, other: Any) -> "MPCTensor":
        """Elementwise product."""
        return self * other

    def add(self, other: Any) -> "MPCTensor":
        """Sum."""
        return self + other

    def sub(self, other: Any) -> "MPCTensor":
        """Difference."""
        return self - other

    def __matmul__(self, other: Any) -> "MPCTensor":
        return self.matmul(other)

    def __rmatmul__(self, other: Any) -> "MPCTensor":
        o = self._public(other)
        return self._matmul(o, self.share, o.shape[2:], self.shape, other)

    def matmul(self, other: Any) -> "MPCTensor":
        """Matrix product (numpy semantics, 1-D operands allowed)."""
        if isinstance(other, MPCTensor):
            _same_session([self, other])
            return self._matmul(self.share, other.share, self.shape, other.shape, other)
        w = _to_numpy(other, "public operand")
        if w.ndim in (1, 2) and w.size and self.dim() >= 1 and self.shape[-1] == w.shape[0]:
            return self._matmul_public(w, other)
        o = self._public(other)
        return self._matmul(self.share, o, self.shape, o.shape[2:], other)

    def _matmul_public(self, w: np.ndarray, other: Any) -> "MPCTensor":
        """x @ w for a public vector or matrix w, each output column j with its own extra bits e_j (the normalised
        encoding of functions.mul_public): w[:, j] encoded at 2^(f + e_j) and the column's product truncated by
        f + e_j, every column truncated once, all in one round. e_j is the largest with sum_i |w_ij| 2^e_j <= 1, so
        the product stays within the truncation's range; a column of small weights (1e-5, on amounts of 1e6) keeps
        their precision. (Weights of very different sizes within one column share its e_j: x * w keeps each.)"""
        rt, p = self._rt, self._rt.params
        fixedpoint.encode(w, p, "public operand")  # finite and in range (InputError)
        cap = min(functions.MAX_TRUNC_BITS - p.frac_bits, p.trunc_bits - 1 - p.frac_bits)
        sums = np.abs(w).sum(0)  # per output column (a scalar for a vector w)
        with np.errstate(divide="ignore"):
            bits = np.atleast_1d(np.clip(np.floor(-np.log2(np.where(sums > 0, sums, 1.0))), 0, cap).astype(int))
        groups = [(int(b), np.flatnonzero(bits == b)) for b in np.unique(bits)]
        parts, finish = [], None
        for b, cols in groups:
            part = w if len(groups) == 1 else w[:, cols]
            enc = rt.ring.from_int64(np.round(part * 2.0 ** (p.frac_bits + b)).astype(np.int64))
            product, finish = self._product(self.share, enc, self.shape, part.shape)
            parts.append((product, p.frac_bits + b, None))
        opened = arith.trunc_each(rt, parts)  # each output column truncated once, every group in one round
        if len(groups) == 1:
            return self._wrap(finish(opened[0]), other)
        out = np.empty(opened[0].shape[:-1] + (w.shape[1],), dtype=opened[0].dtype)
        for (_, cols), part in zip(groups, opened):
            out[..., cols] = part
        return self._wrap(finish(out), other)

    def _matmul(self, a: np.ndarray, b: np.ndarray, sa: tuple[int, ...], sb: tuple[int, ...],
                other: Any) -> "MPCTensor":
        product, finish = self._product(a, b, sa, sb)
        return self._wrap(finish(arith.trunc(self._rt, product)), other)

    def _product(self, a: np.ndarray, b: np.ndarray, sa: tuple[int, ...],
                 sb: tuple[int, ...]) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
        """The untruncated matrix product of residues a (user shape sa) and b (sb), numpy semantics, and the function
        that gives its truncation the product's shape (1-D operands' axes dropped)."""
        if len(sa) == 0 or len(sb) == 0:
            raise InputError("matmul needs operands with at least one dimension")
        va, vb = len(sa) == 1, len(sb) == 1
        if va:
            a = a.reshape(a.shape[:2] + (1,) + sa)
        if vb:
            b = b.reshape(b.shape[:2] + sb + (1,))
        ka, kb = a.shape[-1], b.shape[-2]
        if ka != kb:
            raise InputError(f"matmul shapes {sa} and {sb} do not match ({ka} != {kb})")
        nd = max(a.ndim - 2, b.ndim - 2)
        a, b = _align(a, nd), _align(b, nd)
        try:
            np.broadcast_shapes(a.shape[2:-2], b.shape[2:-2])
        except ValueError:
            raise InputError(f"matmul batch shapes {sa} and {sb} do not broadcast") from None

        def finish(out: np.ndarray) -> np.ndarray:
            if va:
                out = out[..., 0, :]
            return out[..., 0] if vb else out

        return self._rt.ring.matmul(a, b), finish

    def _dims(self, dim: Any) -> tuple[int, ...]:
        """A reduction's user dims: all for None, one int, or a tuple / list of distinct dims (as torch)."""
        if dim is None:
            return tuple(range(self.dim()))
        if isinstance(dim, (tuple, list)):
            dims = tuple(_dim(d, self.dim()) for d in dim)
            if len(set(dims)) != len(dims):
                raise InputError(f"dim {tuple(dim)!r} names a dim twice")
            return dims
        return (_dim(dim, self.dim()),)

    @_zero_d
    def sum(self, dim: Any = None, keepdim: bool = False) -> "MPCTensor":
        """Sum over all elements, one dim or a tuple of dims (local)."""
        ring = self._rt.ring
        axes = tuple(d + 2 for d in self._dims(dim))
        s = ring.sum(self.share, axes)
        if keepdim:
            s = np.expand_dims(s, axes)
        return self._wrap(s)

    @_zero_d
    def mean(self, dim: Any = None, keepdim: bool = False) -> "MPCTensor":
        """Mean over all elements, one dim or a tuple of dims."""
        count = int(np.prod([self.shape[d] for d in self._dims(dim)], dtype=np.int64))
        if count == 0:
            raise InputError(f"mean over no elements (shape {self.shape}, dim {dim})")
        return self.sum(dim, keepdim) * (1.0 / count)

    # ------------------------------------------------------------------ comparisons and functions
    def _bit(self, shares01: np.ndarray, other: Any = None) -> "MPCTensor":
        """0/1 integer shares (of a comparison with other) -> fixed-point 0.0/1.0."""
        return self._wrap(functions.scale_int(self._rt, shares01, 1 << self._rt.params.frac_bits), other)

    def _diff(self, other: Any, op: str) -> np.ndarray:
        a, b, _ = self._binary(other, op)
        return self._rt.ring.sub(a, b)

    def _compare(self, other: Any, op: str) -> "MPCTensor":
        """self `op` other as 0/1: [self >= other] for ">=" (1 minus it for "<"), [self <= other] for "<=" (1 minus
        it for ">"). A shape error names `op`, the operator the caller wrote."""
        d = self._diff(other, op)
        bits = functions.ge_zero(self._rt, d if op in (">=", "<") else self._rt.ring.neg(d))
        out = self._bit(bits, other)
        return out if op in (">=", "<=") else 1.0 - out

    def __ge__(self, other: Any) -> "MPCTensor":
        return self._compare(other, ">=")

    def __lt__(self, other: Any) -> "MPCTensor":
        return self._compare(other, "<")

    def __le__(self, other: Any) -> "MPCTensor":
        return self._compare(other, "<=")

    def __gt__(self, other: Any) -> "MPCTensor":
        return self._compare(other, ">")

    def ge(self, other: Any) -> "MPCTensor":
        """Elementwise >= as 0/1."""
        return self >= other

    def gt(self, other: Any) -> "MPCTensor":
        """Elementwise > as 0/1."""
        return self > other

    def le(self, other: Any) -> "MPCTensor":
        """Elementwise <= as 0/1."""
        return self <= other

    def lt(self, other: Any) -> "MPCTensor":
        """Elementwise < as 0/1."""
        return self < other

    def eq(self, other: Any) -> "MPCTensor":
        """Elementwise == as 0/1 (both <= and >=)."""
        d = self._diff(other, "==")
        rt = self._rt
        both = functions.ge_zero(rt, np.stack([d, rt.ring.neg(d)], 2))
        return self._bit(arith.mul(rt, both[:, :, 0], both[:, :, 1]), other)

    def ne(self, other: Any) -> "MPCTensor":
        """Elementwise != as 0/1 (1 - eq)."""
        return 1.0 - self.eq(other)

    def __eq__(self, other: Any) -> "MPCTensor":  # type: ignore[override]  (element-wise, as CrypTen)
        if not _is_operand(other):
            return NotImplemented
        return self.eq(other)

    def __ne__(self, other: Any) -> "MPCTensor":  # type: ignore[override]
        if not _is_operand(other):
            return NotImplemented
        return self.ne(other)

    # == is element-wise, so keep identity hashing (as torch.Tensor): tensors stay usable as dict keys
    # and set members, and a lookup never runs a comparison protocol (dicts compare identity first).
    __hash__ = object.__hash__

    def __bool__(self) -> bool:
        raise TypeError("the truth value of a shared tensor is secret: open it first, e.g. "
                        "bool((x == y).get_plain_text().all())")

    def __contains__(self, item: Any) -> bool:
        raise TypeError("`in` on a shared tensor would need a secret truth value: compare with == "
                        "and open the result (get_plain_text) instead")

    def relu(self) -> "MPCTensor":
        """max(x, 0), exact."""
        return self._wrap(functions.relu(self._rt, self.share))

    def sigmoid(self) -> "MPCTensor":
        """Logistic function."""
        return self._wrap(functions.sigmoid(self._rt, self.share))

    def exp(self) -> "MPCTensor":
        """e^x (accurate for x <= 16)."""
        return self._wrap(functions.exp(self._rt, self.share))

    def reciprocal(self) -> "MPCTensor":
        """1/x for any x in range (a secret normalisation, then Newton; 1/0 gives 0)."""
        return self._wrap(functions.reciprocal(self._rt, self.share))

    def sqrt(self) -> "MPCTensor":
        """sqrt(x) for any x >= 0 in range (a secret normalisation, then Newton; 0 for x <= 0)."""
        return self._wrap(functions.sqrt(self._rt, self.share))

    def abs(self) -> "MPCTensor":
        """|x|."""
        rt = self._rt
        b = functions.ge_zero(rt, self.share)
        sign = rt.ring.sub(functions.scale_int(rt, b, 2), arith.public(rt, 1, self.shape))
        return self._wrap(arith.mul(rt, self.share, sign))

    def square(self) -> "MPCTensor":
        """x * x."""
        return self * self

    def neg(self) -> "MPCTensor":
        """-x."""
        return -self

    __abs__ = abs

    def pow(self, exponent: Any) -> "MPCTensor":
        """x ** k for an integer k: by repeated squaring for k >= 0 (one product per step, each within the
        product's error bound), reciprocal(x) ** -k for k < 0 (reciprocal's range). Other exponents: InputError."""
        if isinstance(exponent, (bool, np.bool_)) or not isinstance(exponent, (numbers.Integral, float, np.floating)) \
                or not float(exponent).is_integer():
            raise InputError(f"pow takes an integer exponent, got {exponent!r} (x.sqrt() for 0.5)")
        k = int(exponent)
        if k < 0:
            return self.reciprocal().pow(-k)
        result, base = None, self
        while True:
            if k & 1:
                result = base if result is None else result * base
            k >>= 1
            if not k:
                break
            base = base * base
        return result if result is not None else self * 0.0 + 1.0

    __pow__ = pow

    def _tournament(self, dim: int, what: str, onehot: bool = True) -> tuple[int, np.ndarray, np.ndarray]:
        """(dim as an index, shares of the maxima along it, integer one-hot shares of the first maxima or None)."""
        d = _dim(dim, self.dim())
        if self.shape[d] == 0:
            raise InputError(f"{what} over no elements (shape {self.shape}, dim {dim})")
        mx, oh = functions.tournament(self._rt, self.share, d, onehot)
        return d, mx, oh

    def _max_values(self, dim: int, keepdim: bool = False, what: str = "max") -> "MPCTensor":
        """The maxima along dim only (no argmax: linear memory)."""
        d, mx, _ = self._tournament(dim, what, onehot=False)
        values = self._wrap(mx)
        return values.unsqueeze(d) if keepdim else values

    def _index(self, oh: np.ndarray, d: int) -> "MPCTensor":
        """The index along user dim d of integer one-hot shares (the dim summed away)."""
        ring = self._rt.ring
        idx = np.arange(self.shape[d], dtype=np.int64).reshape((-1,) + (1,) * (self.dim() - d - 1))
        weighted = ring.mul(oh, _align(ring.from_int64(idx << self._rt.params.frac_bits), self.dim()))
        return self._wrap(weighted).sum(d)

    @_zero_d
    def max(self, dim: int | None = None, keepdim: bool = False,
            one_hot: bool = True) -> "MPCTensor | tuple[MPCTensor, MPCTensor]":
        """The maximum of all elements; along dim, as CrypTen (and torch), a tuple (values, argmax) with argmax
        one-hot (CrypTen's default) or, one_hot=False, the index of the first maximum."""
        if dim is None:
            return self.flatten()._max_values(0)
        d, mx, oh = self._tournament(dim, "max")
        values = self._wrap(mx)
        if keepdim:
            values = values.unsqueeze(d)
        return values, self._argmax_result(oh, d, keepdim, one_hot)

    @_zero_d
    def min(self, dim: int | None = None, keepdim: bool = False,
            one_hot: bool = True) -> "MPCTensor | tuple[MPCTensor, MPCTensor]":
        """The minimum of all elements; along dim a tuple (values, argmin), as max."""
        if dim is None:
            return -((-self).flatten()._max_values(0, what="min"))
        values, arg = (-self).max(dim, keepdim, one_hot)
        return -values, arg

    def _argmax_result(self, oh: np.ndarray, d: int, keepdim: bool, one_hot: bool) -> "MPCTensor":
        if one_hot:
            return self._bit(oh)
        index = self._index(oh, d)
        return index.unsqueeze(d) if keepdim else index

    @_zero_d
    def argmax(self, dim: int | None = None, keepdim: bool = False, one_hot: bool = True) -> "MPCTensor":
        """One-hot (CrypTen's default) indicator of the first maximum along dim, or its index (one_hot=False;
        keepdim keeps the dim, as torch). Without dim: over all elements (one-hot in x's shape, or the flat index).
        Arguments in CrypTen's order, so that a positional call ports unchanged."""
        if dim is None:
            flat = self.flatten().argmax(0, one_hot=one_hot)
            if one_hot:
                return flat.reshape(self.shape)
            return flat.reshape((1,) * self.dim()) if keepdim else flat
        d, _, oh = self._tournament(dim, "argmax")
        return self._argmax_result(oh, d, keepdim, one_hot)

    @_zero_d
    def argmin(self, dim: int | None = None, keepdim: bool = False, one_hot: bool = True) -> "MPCTensor":
        """argmax of -x."""
        return (-self).argmax(dim, keepdim, one_hot)

    @_zero_d
    def softmax(self, dim: int = -1) -> "MPCTensor":
        """exp(x - max) / sum exp(x - max) along dim; the sum s lies in [1, n] for n elements along dim, and
        1/s is Newton's over that range from 1/n (no normalisation needed: the bounds are public)."""
        d = _dim(dim, self.dim())
        n = self.shape[d]
        if n == 0:
            return self._wrap(self.share)
        # x - max lies in [-2^32, 0]: clamped to [EXP_MIN, 0] first (both comparisons in range), since exp's own clamp
        # compares with its upper bound 30 ln 2 too, which leaves the comparison range near -2^32
        shifted = (self - self._max_values(d, keepdim=True)).share
        e = self._wrap(functions.clamp(self._rt, shifted, functions.EXP_MIN, 0.0)).exp()
        s = e.sum(d, keepdim=True)
        return e * self._wrap(functions.reciprocal_between(self._rt, s.share, 1.0, float(n)))

    # ------------------------------------------------------------------ output
    def get_plain_text(self, dst: int | None = None) -> Any:
        """Open to party dst (or to all): shares are checked and signed; None at other parties. A numpy array,
        or a torch tensor for a tensor made from torch tensors."""
        return self.get_plain_text_with_evidence(dst)[0]

    def get_plain_text_with_evidence(self, dst: int | None = None) -> tuple[Any, dict | None]:
        """Open as get_plain_text and also return the evidence that mpc_ml.verify() checks."""
        value, evidence = self._open(dst)
        if value is not None and self._torch:
            import torch

            value = torch.as_tensor(value, dtype=torch.get_default_dtype())
        return value, evidence

    def _open(self, dst: int | None) -> tuple[np.ndarray | None, dict | None]:
        """The opened value as a numpy array (for the library's own use) and its evidence."""
        return opening.open_output(self._rt, self.share, dst)

    def __repr__(self) -> str:
        return f"MPCTensor(shape={self.shape}, parties={self._rt.n})"


def _joinable(tensors: Any, what: str) -> tuple[list[MPCTensor], Runtime]:
    """The tensors of cat/stack as a non-empty list of shared tensors of one session, and that session."""
    tensors = list(tensors)
    if not tensors or not all(isinstance(t, MPCTensor) for t in tensors):
        raise InputError(f"{what} takes a non-empty list of shared tensors")
    return tensors, _same_session(tensors)


def cat(tensors: list[MPCTensor], dim: int = 0) -> MPCTensor:
    """Concatenate shared tensors."""
    tensors, rt = _joinable(tensors, "cat")
    d = _dim(dim, tensors[0].dim())
    try:
        return MPCTensor(np.concatenate([t.share for t in tensors], d + 2), rt, any(t._torch for t in tensors))
    except ValueError:
        raise InputError(f"cat along dim {dim} needs equal other dims, got shapes {[t.shape for t in tensors]}") from None


def stack(tensors: list[MPCTensor], dim: int = 0) -> MPCTensor:
    """Stack shared tensors along a new dim."""
    tensors, rt = _joinable(tensors, "stack")
    d = _dim(dim, tensors[0].dim() + 1)
    if len({t.shape for t in tensors}) != 1:
        raise InputError(f"stack needs tensors of one shape, got {[t.shape for t in tensors]}")
    return MPCTensor(np.stack([t.share for t in tensors], d + 2), rt, any(t._torch for t in tensors))
