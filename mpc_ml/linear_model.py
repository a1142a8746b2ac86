"""LinearRegression, Ridge (exact secure normal equations) and LogisticRegression (gradient descent).

X and y are shared tensors that may come from different parties (X from one, y from another) or
lists of row blocks from several parties (horizontal partitions). Linear models: X and y move into
a large RNS ring at their fixed-point scale, A = X^T X and b = X^T y are computed exactly there,
and A^-1 b is solved by masking (protocols/exact.py); only the coefficients are opened, to `dst`
(default: every party). Their error is the fixed-point rounding of the inputs (2^-25 per value).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import InputError
from .protocols import arith, exact
from .runtime import current
from .tensor import MPCTensor, _to_numpy, cat


def _rows(data: Any, what: str) -> MPCTensor:
    """One shared matrix from a shared tensor or a list of row blocks."""
    if isinstance(data, MPCTensor):
        return data
    if isinstance(data, (list, tuple)) and data and all(isinstance(d, MPCTensor) for d in data):
        return cat(list(data), 0)
    raise InputError(f"{what} must be a shared tensor (mpc_ml.cryptensor) or a list of row blocks of them")


def _positive_real(value: Any, name: str, allow_zero: bool = False) -> float:
    """value as a float, refusing anything but a finite real > 0 (>= 0 with allow_zero), naming `name`."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if not ok or not np.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        kind = "non-negative" if allow_zero else "positive"
        raise InputError(f"{name} must be a finite {kind} number, got {value!r}")
    return float(value)


def _plain_features(X: Any, coef: np.ndarray) -> np.ndarray:
    """Plaintext X as a (samples, features) or (features,) array matching the fitted coefficients."""
    arr = _to_numpy(X, "X")
    if arr.ndim not in (1, 2) or arr.shape[-1] != coef.shape[0]:
        raise InputError(f"X has shape {arr.shape}, expected (samples, {coef.shape[0]}) as in fit")
    return arr


def _shared_logits(X: MPCTensor, coef: np.ndarray, intercept: float) -> MPCTensor:
    """X coef + intercept for shared X, as (X * coef).sum(-1): each coefficient keeps its own normalised encoding
    (a coefficient of 1e-5 on amounts of 1e6 beside one of 0.02 on ages), where X @ coef shares one per column."""
    if X.dim() not in (1, 2) or X.shape[-1] != coef.shape[0]:
        raise InputError(f"X has shape {X.shape}, expected (samples, {coef.shape[0]}) as in fit")
    return (X * coef).sum(-1) + intercept


def _check_xy(X: MPCTensor, y: MPCTensor) -> tuple[MPCTensor, MPCTensor]:
    if X.dim() != 2:
        raise InputError(f"X must be 2-D (samples, features), got shape {X.shape}")
    if y.dim() == 2 and y.shape[1] == 1:
        y = y.reshape(-1)
    if y.dim() != 1 or y.shape[0] != X.shape[0]:
        raise InputError(f"y has shape {y.shape}, expected ({X.shape[0]},) to match X {X.shape}")
    return X, y


def _plain_target(y: Any, pred: np.ndarray) -> np.ndarray:
    """Plaintext y for a score against the predictions `pred`: a column (n, 1) read as (n,), as `fit` reads it; any
    other shape than the predictions' is an InputError (numpy would broadcast (n, 1) against (n,) to an (n, n)
    table and score that)."""
    yv = _to_numpy(y)
    if yv.ndim == 2 and yv.shape[1] == 1:
        yv = yv.reshape(-1)
    if yv.shape != np.shape(pred):
        raise InputError(f"y has shape {yv.shape}, expected {np.shape(pred)} to match the predictions")
    return yv


class _Linear:
    """Shared fit/predict/score of the linear models."""

    def __init__(self, fit_intercept: bool = True, alpha: float = 0.0, dst: int | None = None,
                 value_bound: float | None = None) -> None:
        self.alpha = _positive_real(alpha, "alpha", allow_zero=True)
        self.value_bound = None if value_bound is None else _positive_real(value_bound, "value_bound")
        self.fit_intercept = fit_intercept
        self.dst = dst
        self.coef_: np.ndarray | None = None
        self.intercept_: float = 0.0
        self.evidence_: dict | None = None  # signed shares of the solution (coef_ then intercept_), for mpc_ml.verify

    def fit(self, X: Any, y: Any) -> "_Linear":
        """Solve the (ridge) normal equations exactly on shared X and y; open coef_ and intercept_."""
        rt = current()
        X, y = _check_xy(_rows(X, "X"), _rows(y, "y"))
        if self.dst is not None:
            rt.check_party(self.dst, "dst")
        n, d = X.shape
        f = rt.params.frac_bits
        vb = rt.params.value_bits if self.value_bound is None else int(np.ceil(np.log2(self.value_bound)))
        if vb < -f:
            raise InputError(f"value_bound {self.value_bound} is below the fixed-point precision 2^-{f}")
        if vb > rt.params.value_bits:
            raise InputError(f"value_bound {self.value_bound} exceeds the fixed-point range 2^{rt.params.value_bits}")
        bits = vb + f
        cols = d + 1 if self.fit_intercept else d
        if not self.alpha and n < cols:
            raise InputError(f"X has shape {X.shape}: {n} samples cannot determine {cols} coefficients "
                             "(with the intercept); add samples or use Ridge")
        lam = int(round(self.alpha * (1 << (2 * f))))  # the ridge penalty at the scale of X^T X
        num_b, den_b = exact.bounds(n, cols, bits, lam)
        big = rt.ring_of(exact.ring_for(num_b, den_b).k)
        both = exact.switch(rt, np.concatenate([X.share, y.share[..., None]], -1), bits, big)
        xs, ys = both[..., :d], both[..., d:]
        if self.fit_intercept:
            ones = np.broadcast_to(big.const(1 << f).reshape(1, big.k, 1, 1), (xs.shape[0], big.k, n, 1))
            xs = np.concatenate([xs, ones], -1)
        xt = np.swapaxes(xs, -1, -2)
        ab = arith.reduce_degree(rt, big.matmul(xt, np.concatenate([xs, ys], -1)), big)
        a, b = ab[..., :cols], ab[..., cols:]
        if lam:
            diag = np.zeros((cols, cols), dtype=object)  # Python integers: any alpha in range, no int64 overflow
            for i in range(d):  # the intercept is not penalized
                diag[i, i] = lam
            a = big.add(a, big.from_objects(diag))
        sol, self.evidence_ = exact.solve(rt, a, b, big, self.dst, (num_b, den_b))
        if sol is not None:
            w = sol
            self.coef_ = w[:d]
            self.intercept_ = float(w[d]) if self.fit_intercept else 0.0
        return self

    def _require_fit(self) -> np.ndarray:
        if self.coef_ is None:
            raise InputError("the model is not fitted here (fit first; coefficients open only to dst)")
        return self.coef_

    def predict(self, X: Any) -> Any:
        """X @ coef_ + intercept_ (shared if X is shared)."""
        coef = self._require_fit()
        if isinstance(X, MPCTensor):
            return _shared_logits(X, coef, self.intercept_)
        return _plain_features(X, coef) @ coef + self.intercept_

    def score(self, X: Any, y: Any) -> float | None:
        """R^2; for shared X, y only the residual and total sums of squares are opened (to dst). y of shape (n, 1)
        counts as (n,), as in `fit`; any other shape than the predictions' is refused (never broadcast)."""
        pred = self.predict(X if not isinstance(X, (list, tuple)) else _rows(X, "X"))
        if isinstance(pred, MPCTensor) or isinstance(y, (MPCTensor, list, tuple)):
            yy = _rows(y, "y") if isinstance(y, (list, tuple, MPCTensor)) else MPCTensor.from_plain(y)
            if yy.dim() == 2 and yy.shape[1] == 1:
                yy = yy.reshape(-1)
            if tuple(yy.shape) != tuple(pred.shape):
                raise InputError(f"y has shape {tuple(yy.shape)}, expected {tuple(pred.shape)} to match the predictions")
            res = pred - yy
            cen = yy - yy.mean()
            from .tensor import stack

            vals = stack([(res * res).sum(), (cen * cen).sum()])._open(self.dst)[0]
            return None if vals is None else float(1 - vals[0] / vals[1])
        yv = _plain_target(y, pred)
        return float(1 - ((yv - pred) ** 2).sum() / ((yv - yv.mean()) ** 2).sum())


class LinearRegression(_Linear):
    """Ordinary least squares, solved exactly on secret-shared data (sklearn's names).

    value_bound: a public bound on |X| and |y| (default: the fixed-point range, always safe). A
    tighter bound shrinks the ring of the exact solve; the ring keeps 64 bits beyond the bound it
    implies, so data beyond the declared bound makes the reconstruction fail (an error) rather
    than return other coefficients, unless the bound is exceeded by a large factor.
    """

    def __init__(self, fit_intercept: bool = True, dst: int | None = None, value_bound: float | None = None) -> None:
        super().__init__(fit_intercept, 0.0, dst, value_bound)


class Ridge(_Linear):
    """Least squares with an L2 penalty alpha (the intercept is not penalized, as in sklearn)."""

    def __init__(self, alpha: float = 1.0, fit_intercept: bool = True, dst: int | None = None,
                 value_bound: float | None = None) -> None:
        super().__init__(fit_intercept, alpha, dst, value_bound)


class LogisticRegression:
    """Binary logistic regression by full-batch gradient descent on shared X, y (labels 0/1)."""

    def __init__(self, learning_rate: float = 0.5, max_iter: int = 100, fit_intercept: bool = True,
                 dst: int | None = None) -> None:
        if not isinstance(max_iter, (int, np.integer)) or isinstance(max_iter, bool) or max_iter < 1:
            raise InputError(f"max_iter must be a positive integer, got {max_iter!r}")
        self.learning_rate, self.max_iter = _positive_real(learning_rate, "learning_rate"), int(max_iter)
        self.fit_intercept, self.dst = fit_intercept, dst
        self.coef_: np.ndarray | None = None
        self.intercept_: float = 0.0
        self.evidence_: dict | None = None  # signed shares of coef_ then intercept_, for mpc_ml.verify

    def fit(self, X: Any, y: Any) -> "LogisticRegression":
        """max_iter steps of w -= lr X^T (sigmoid(X w + b) - y) / n; the weights are opened at the end."""
        if self.dst is not None:
            current().check_party(self.dst, "dst")
        X, y = _check_xy(_rows(X, "X"), _rows(y, "y"))
        n, d = X.shape
        if n == 0:
            raise InputError(f"X has shape {X.shape}: no samples to fit")
        zero = np.zeros(d)
        w = MPCTensor.from_plain(zero, 0)
        b = MPCTensor.from_plain(np.zeros(1), 0)
        Xt = X.t()
        step = self.learning_rate / n
        for _ in range(self.max_iter):
            z = X @ w + b if self.fit_intercept else X @ w
            err = z.sigmoid() - y
            w = w - (Xt @ err) * step
            if self.fit_intercept:
                b = b - err.sum() * step
        out, self.evidence_ = cat([w, b])._open(self.dst)
        if out is not None:
            self.coef_, self.intercept_ = out[:d], float(out[d]) if self.fit_intercept else 0.0
        return self

    def predict_proba(self, X: Any) -> Any:
        """P(y = 1 | x) (shared if X is shared)."""
        if self.coef_ is None:
            raise InputError("the model is not fitted here (fit first; coefficients open only to dst)")
        if isinstance(X, MPCTensor):
            return _shared_logits(X, self.coef_, self.intercept_).sigmoid()
        z = _plain_features(X, self.coef_) @ self.coef_ + self.intercept_
        return 0.5 * (1 + np.tanh(z / 2))  # the logistic function, without exp's overflow for large |z|

    def predict(self, X: Any) -> Any:
        """Labels 0/1 (shared if X is shared): the exact sign of the logit, so both paths agree at the boundary."""
        if self.coef_ is None:
            raise InputError("the model is not fitted here (fit first; coefficients open only to dst)")
        if isinstance(X, MPCTensor):
            return _shared_logits(X, self.coef_, self.intercept_) >= 0
        return (_plain_features(X, self.coef_) @ self.coef_ + self.intercept_ >= 0).astype(float)

    def score(self, X: Any, y: Any) -> float:
        """Accuracy on plaintext X, y (y of shape (n, 1) counts as (n,), as in `fit`; another shape is refused)."""
        pred = self.predict(_to_numpy(X))
        return float((pred == _plain_target(y, pred)).mean())
