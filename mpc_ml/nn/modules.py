"""Layers with CrypTen's names: parameters are public numpy arrays until encrypt(src) shares them."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError
from ..tensor import MPCTensor, _to_numpy


def _pair(v: Any, name: str, least: int = 1) -> tuple[int, int]:
    """An int or a pair of ints, each at least `least`; InputError naming `name` otherwise."""
    pair = (v, v) if np.isscalar(v) else tuple(v) if isinstance(v, (tuple, list)) and len(v) == 2 else None
    if pair is None or not all(isinstance(e, (int, np.integer)) and not isinstance(e, bool) and e >= least for e in pair):
        raise InputError(f"{name} must be an integer >= {least} or a pair of them, got {v!r}")
    return int(pair[0]), int(pair[1])


def _count(v: Any, name: str) -> int:
    """A positive number of features or channels."""
    if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
        raise InputError(f"{name} must be a positive integer, got {v!r}")
    return int(v)


class Module:
    """Base layer: parameters (name -> numpy array or MPCTensor), forward on MPCTensors."""

    def __init__(self) -> None:
        self._params: dict[str, Any] = {}
        self.encrypted = False
        self.from_torch = False  # set by from_pytorch: outputs then open to torch tensors

    def parameters(self) -> dict[str, Any]:
        """This layer's parameters."""
        return self._params

    def encrypt(self, src: int = 0) -> "Module":
        """Secret-share the parameters, provided by party src."""
        if self.encrypted:
            raise InputError(f"{type(self).__name__} is already encrypted")
        for name, val in self._params.items():
            self._params[name] = MPCTensor.from_plain(val, src)
            self._params[name]._torch = self.from_torch
        self.encrypted = True
        return self

    def eval(self) -> "Module":
        """No-op (inference only), for CrypTen compatibility."""
        return self

    def train(self, mode: bool = True) -> "Module":
        """No-op, for CrypTen compatibility."""
        return self

    def __call__(self, x: MPCTensor) -> MPCTensor:
        if not isinstance(x, MPCTensor):
            raise InputError(f"{type(self).__name__} expects a shared tensor (mpc_ml.cryptensor), got {type(x).__name__}")
        out = self.forward(x)  # type: ignore[attr-defined]  (each layer defines forward)
        if self.from_torch and not out._torch:  # also unencrypted weights, layers without weights (a new tensor:
            out = MPCTensor(out.share, out._rt, True)  # an identity layer returns x itself)
        return out


class Linear(Module):
    """y = x W^T + b."""

    def __init__(self, in_features: int, out_features: int, weight: Any = None, bias: Any = None) -> None:
        super().__init__()
        in_features, out_features = _count(in_features, "in_features"), _count(out_features, "out_features")
        w = np.zeros((out_features, in_features)) if weight is None else _to_numpy(weight)
        if w.shape != (out_features, in_features):
            raise InputError(f"Linear weight has shape {w.shape}, expected {(out_features, in_features)}")
        self.in_features, self.out_features = in_features, out_features
        self._params["weight"] = w
        if bias is not None:
            b = _to_numpy(bias)
            if b.shape != (out_features,):
                raise InputError(f"Linear bias has shape {b.shape}, expected {(out_features,)}")
            self._params["bias"] = b

    def forward(self, x: MPCTensor) -> MPCTensor:
        """x @ W^T + b."""
        if x.dim() == 0 or x.shape[-1] != self.in_features:
            raise InputError(f"Linear expects {self.in_features} input features, got shape {x.shape}")
        w = self._params["weight"]
        y = x @ w.T
        return y + self._params["bias"] if "bias" in self._params else y


def _patches(x: MPCTensor, kh: int, kw: int, stride: tuple[int, int], padding: tuple[int, int],
             fill: np.ndarray | None = None) -> tuple[np.ndarray, int, int]:
    """im2col on shares: (L, K, N, C, Ho, Wo, kh, kw) view of the padded input and the output size.

    The padding is 0, or the public value with residues `fill` (K,) (every party's share of it).
    """
    s = x.share
    ph, pw = padding
    if ph or pw:
        s = np.pad(s, [(0, 0)] * 4 + [(ph, ph), (pw, pw)])
        if fill is not None:
            border = np.ones(s.shape[-2:], dtype=bool)
            border[ph:s.shape[-2] - ph, pw:s.shape[-1] - pw] = False
            s = np.where(border, fill.reshape(1, -1, 1, 1, 1, 1), s).astype(s.dtype)
    H, W = s.shape[-2:]
    ho, wo = (H - kh) // stride[0] + 1, (W - kw) // stride[1] + 1
    if ho < 1 or wo < 1:
        raise InputError(f"kernel {kh}x{kw} is larger than the padded input {H}x{W}")
    win = np.lib.stride_tricks.sliding_window_view(s, (kh, kw), axis=(-2, -1))
    return win[..., ::stride[0], ::stride[1], :, :], ho, wo


class Conv2d(Module):
    """2-D convolution (NCHW), as a matrix product over image patches."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
                 weight: Any = None, bias: Any = None) -> None:
        super().__init__()
        self.kernel = _pair(kernel_size, "kernel_size")
        self.stride, self.padding = _pair(stride, "stride"), _pair(padding, "padding", 0)
        self.in_channels, self.out_channels = _count(in_channels, "in_channels"), _count(out_channels, "out_channels")
        shape = (out_channels, in_channels) + self.kernel
        w = np.zeros(shape) if weight is None else _to_numpy(weight)
        if w.shape != shape:
            raise InputError(f"Conv2d weight has shape {w.shape}, expected {shape}")
        self._params["weight"] = w
        if bias is not None:
            b = _to_numpy(bias)
            if b.shape != (out_channels,):
                raise InputError(f"Conv2d bias has shape {b.shape}, expected {(out_channels,)}")
            self._params["bias"] = b

    def forward(self, x: MPCTensor) -> MPCTensor:
        """Convolution via im2col."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise InputError(f"Conv2d expects input (N, {self.in_channels}, H, W), got {x.shape}")
        win, ho, wo = _patches(x, *self.kernel, self.stride, self.padding)
        n = x.shape[0]
        cols = np.moveaxis(win, 3, 5)  # (L, K, N, Ho, Wo, C, kh, kw)
        cols = x._wrap(cols.reshape(cols.shape[:2] + (n, ho * wo, -1)))
        wm = self._params["weight"].reshape(self.out_channels, -1)
        y = cols @ wm.T  # (N, Ho*Wo, out)
        if "bias" in self._params:
            y = y + self._params["bias"]
        return y.transpose(1, 2).reshape(n, self.out_channels, ho, wo)


class _Pool(Module):
    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0) -> None:
        super().__init__()
        self.kernel = _pair(kernel_size, "kernel_size")
        self.stride = _pair(stride, "stride") if stride is not None else self.kernel
        self.padding = _pair(padding, "padding", 0)
        if any(2 * p > k for p, k in zip(self.padding, self.kernel)):  # as torch: a window of padding alone
            raise InputError(f"padding {padding!r} must be at most half of kernel_size {kernel_size!r}")

    def _windows(self, x: MPCTensor, fill: np.ndarray | None = None) -> tuple[MPCTensor, tuple[int, ...]]:
        if x.dim() != 4:
            raise InputError(f"{type(self).__name__} expects input (N, C, H, W), got {x.shape}")
        win, ho, wo = _patches(x, *self.kernel, self.stride, self.padding, fill)
        flat = win.reshape(win.shape[:6] + (-1,))
        return x._wrap(np.ascontiguousarray(flat)), (x.shape[0], x.shape[1], ho, wo)


class MaxPool2d(_Pool):
    """Maximum over windows (log-depth tournament of exact comparisons)."""

    def forward(self, x: MPCTensor) -> MPCTensor:
        """Window maxima; padding is the least legal value (PyTorch pads with -inf)."""
        p = x._rt.params
        w, _ = self._windows(x, x._rt.ring.const(1 - (1 << (p.value_bits + p.frac_bits))))
        return w._max_values(-1)


class AvgPool2d(_Pool):
    """Mean over windows."""

    def forward(self, x: MPCTensor) -> MPCTensor:
        """Window means."""
        w, _ = self._windows(x)
        return w.mean(-1)


class ReLU(Module):
    """max(x, 0)."""

    def forward(self, x: MPCTensor) -> MPCTensor:
        """Exact ReLU."""
        return x.relu()


class Sigmoid(Module):
    """Logistic function."""

    def forward(self, x: MPCTensor) -> MPCTensor:
        """Sigmoid."""
        return x.sigmoid()


class Softmax(Module):
    """Softmax along dim; dim=None is torch's legacy implicit dim (0 for 0-, 1- and 3-d inputs, else 1)."""

    def __init__(self, dim: int | None = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: MPCTensor) -> MPCTensor:
        """Softmax."""
        dim = self.dim if self.dim is not None else (0 if x.dim() in (0, 1, 3) else 1)
        return x.softmax(dim)


class Flatten(Module):
    """Flatten dims start_dim..end_dim."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x: MPCTensor) -> MPCTensor:
        """Reshape."""
        return x.flatten(self.start_dim, self.end_dim)


class Sequential(Module):
    """Layers applied in order."""

    def __init__(self, *layers: Module) -> None:
        super().__init__()
        for layer in layers:
            if not isinstance(layer, Module):
                raise InputError(f"Sequential takes mpc_ml.nn layers, got {type(layer).__name__}")
        self.layers = list(layers)

    def encrypt(self, src: int = 0) -> "Sequential":
        """Share every layer's parameters from party src."""
        if self.encrypted:
            raise InputError("Sequential is already encrypted")
        for layer in self.layers:
            layer.encrypt(src)
        self.encrypted = True
        return self

    def forward(self, x: MPCTensor) -> MPCTensor:
        """Apply the layers."""
        for layer in self.layers:
            x = layer(x)
        return x

    def __getitem__(self, i: int) -> Module:
        return self.layers[i]

    def __len__(self) -> int:
        return len(self.layers)

