"""Session 19 adversarial review of mpc_ml's secure-ML computations, as an ML engineer (fraud detection, medical
research) would use them: shared-tensor functions outside and at the edges of their ranges, the numpy-native layer
builder, public-weight products, and exact regression (LinearRegression / Ridge) against scikit-learn, with its
evidence.

Tests marked xfail(strict=True) demonstrate a defect that is still present (the reason names the file and
function, what goes wrong, why it matters and the fix); the others pin behaviour that held but could break.
Every result is compared with plaintext numpy / scikit-learn / torch."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import mpc_ml
from mpc_ml import InputError, MPCError
from mpc_ml.linear_model import LinearRegression, Ridge


@pytest.fixture
def mpc():
    """mpc_ml with 3 simulated parties."""
    mpc_ml.init(parties=3)
    yield mpc_ml
    mpc_ml.uninit()


def q(x):
    """x rounded to the fixed-point grid (f = 24), as the parties hold it."""
    return np.rint(np.asarray(x, dtype=np.float64) * 2.0 ** 24) / 2.0 ** 24


# ------------------------------------------------------------------ functions outside their documented range


@pytest.mark.parametrize("den", [-2.0, -0.5, 1000.0, 5000.0, 1.0e-4])
def test_division_by_a_shared_denominator_outside_0_01_200_is_right_or_refused(mpc, den):
    """Failed before (fixed in session 19): mpc_ml/protocols/functions.py:reciprocal (MPCTensor.reciprocal, x /
    shared y, 1 / x) runs Newton from 3 exp(1/2 - x) + 0.003 with no sign handling and no range check: 1 / -2 opens
    about 2.4e23, 1 / 1000 about -5.9e21, and 1 / 1e-4 opens 3976 instead of 1e4 (10 Newton steps from a start near
    5 do not reach it), silently. A ratio with a shared denominator that can be negative, above 200 or small (amount
    / balance, change / baseline) gives garbage with no error, where CrypTen computes sign(x) / |x|. Fix: compute
    1/x = sign(x) * reciprocal(|x|) with the exact sign already used by sigmoid, and bring |x| into (0.01, 200) by a
    secret power-of-two normalisation (or document that outside (0.01, 200) the result is undefined and offer a
    checked variant that raises)"""
    x = mpc.cryptensor(np.array([1.0, 3.0]))
    d = mpc.cryptensor(np.array([den, den]))
    try:
        got = (x / d).get_plain_text()
    except MPCError:
        return  # refusing is acceptable; garbage is not
    assert np.allclose(got, np.array([1.0, 3.0]) / den, rtol=1e-3, atol=1e-6), got


@pytest.mark.parametrize("v", [400.0, 1.0e4, 1.0e-4])
def test_sqrt_of_a_realistic_variance_outside_0_01_200_is_right_or_refused(mpc, v):
    """Failed before (fixed in session 19): mpc_ml/protocols/functions.py:inv_sqrt/sqrt start Newton from 2.2
    exp(-(x/2 + 0.2)) + 0.2 - x/1024, which is only a valid start below ~200: sqrt(400) opens about 2.8e23 and
    sqrt(1e4) about 3.4e22, and below the range sqrt(1e-4) opens 0.0085 instead of 0.01, silently. The standard
    deviation of a realistic feature (a variance of 400 for ages, of 1e4 for amounts, of 1e-4 for rates) is wrong
    with no error. Fix: normalise x by a secret power of two (from the comparison bits) before the Newton steps and
    undo it after, as CrypTen's sqrt does, or raise/document instead of returning garbage"""
    try:
        got = mpc.cryptensor(np.array([v])).sqrt().get_plain_text()
    except MPCError:
        return
    assert np.allclose(got, np.sqrt(v), rtol=1e-3), got


def test_relu_and_sigmoid_of_a_squared_legal_amount_are_right_or_refused(mpc):
    """Failed before (fixed in session 23): mpc_ml/protocols/boolean.py:ltz_bits (via functions.ge_zero, relu,
    sigmoid) is exact only for |a| < 2^32 (cmp_bits = value_bits + f + 2), but products of legal inputs are not
    range-checked: for an amount of 70,000 (a legal input), (x * x).relu() opens 0 and (x * x).sigmoid() opens 0
    instead of 4.9e9 and 1, silently, while x * x itself opens 4.9e9. A squared-amount feature of a fraud model
    flips its activations with no error. Fixed in part: comparisons take the headroom the 64-bit words allow
    (cmp_bits = 64 - bits(C(n,t)): exact below 2^37 for 3 parties); beyond it see the next test."""
    x = mpc.cryptensor(np.array([7.0e4, 1.0e3]))
    sq = x * x
    assert np.allclose(sq.get_plain_text(), [4.9e9, 1.0e6], rtol=1e-9)  # the product itself is fine
    try:
        relu = sq.relu().get_plain_text()
        sig = sq.sigmoid().get_plain_text()
    except MPCError:
        return
    assert np.allclose(relu, [4.9e9, 1.0e6], rtol=1e-6), relu
    assert np.allclose(sig, [1.0, 1.0], atol=1e-4), sig


@pytest.mark.xfail(strict=True, reason=(
    "mpc_ml/protocols/boolean.py:ltz_bits is exact for |a| < 2^(cmp_bits - 1) units only (2^37 for 3 parties since "
    "session 23, which took the whole 64-bit word), and nothing bounds the magnitude of intermediate results: an "
    "amount of 400,000 (a legal input) squared is 1.6e11, beyond 2^37 = 1.37e11, and (x * x).relu() opens a wrong "
    "value with no error while x * x itself opens 1.6e11. Fix: track a public magnitude bound per tensor (inputs: "
    "their declared or checked range; products, sums and matmuls: the bound of the result) so that a comparison of a "
    "value that may leave its range raises InputError, or compare in two words"))
def test_relu_of_a_value_beyond_the_comparison_range_is_right_or_refused(mpc):
    x = mpc.cryptensor(np.array([4.0e5]))
    sq = x * x
    assert np.allclose(sq.get_plain_text(), [1.6e11], rtol=1e-9)
    try:
        relu = sq.relu().get_plain_text()
    except MPCError:
        return
    assert np.allclose(relu, [1.6e11], rtol=1e-6), relu


def test_softmax_over_20000_tied_logits_is_uniform(mpc):
    """Failed before (fixed in session 19): mpc_ml/protocols/functions.py:reciprocal_between (softmax's 1/s, s in
    [1, n]) starts Newton at y0 = 2 / (1 + n): when the logits tie (s = n, e.g. 20,000 items scored by an untrained
    or uninformative model, zero logits, constant padding), s y0 = 2n / (n + 1) and the first step y0 (2 - s y0) = 4
    / n^2 falls below one unit of 2^-24 for n above ~8,000; when its truncation error makes it negative, Newton
    diverges and the row opens values near 1e23 (measured: most rows of 20,000 zeros, some of 10,000) instead of
    1/n, silently. Fix: start Newton at 1/hi (so that s y0 lies in [1/n, 1] and no step underflows), with log2(n) +
    5 steps, or clamp the first step away from zero"""
    n = 20000
    try:
        got = mpc.cryptensor(np.zeros((6, n))).softmax(1).get_plain_text()
    except MPCError:
        return
    err = np.abs(got - 1.0 / n).max(1)
    assert np.all(err < 1e-4), err


def test_reciprocal_and_sqrt_at_500_and_below_0_01_stay_close_where_they_happen_to_converge(mpc):
    """Held (pins the edge of what currently works): 1/500 and sqrt(0.001) still converge; a change of the Newton
    start that breaks them would show here."""
    x = mpc.cryptensor(np.array([500.0]))
    assert abs(float(x.reciprocal().get_plain_text()[0]) * 500.0 - 1) < 1e-3
    s = mpc.cryptensor(np.array([0.001])).sqrt().get_plain_text()
    assert abs(float(s[0]) / np.sqrt(0.001) - 1) < 1e-3


def test_functions_of_transposed_reversed_and_strided_views_match_numpy(mpc):
    """Held: the C extension's passes (products with masks, openings with truncation, comparisons) receive the
    non-contiguous share views that .T, [::-1] and [:, ::2] make; every function of such views equals numpy on the
    same view (a pass that assumed C order would open permuted or garbage values)."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(4, 6)), rng.normal(size=(6, 4))
    x, y = mpc.cryptensor(a), mpc.cryptensor(b)
    checks = [
        ((x[::-1] * y.T), a[::-1] * b.T, 1e-6),
        ((x[:, ::2] * y.T[:, 1::2]), a[:, ::2] * b.T[:, 1::2], 1e-6),
        ((x.T @ y.T), a.T @ b.T, 1e-5),
        (x[::-1, ::-1].relu(), np.maximum(a[::-1, ::-1], 0), 0),
        (x.T.sigmoid(), 1 / (1 + np.exp(-a.T)), 3e-5),
        (x[::-1].softmax(0), np.exp(a[::-1]) / np.exp(a[::-1]).sum(0), 3e-5),
        (x.T.argmax(1), np.eye(4)[a.T.argmax(1)], 0),
        ((x.T == x.T[::-1]), (a.T == a.T[::-1]).astype(float), 0),
        ((x.permute(1, 0) * np.array([0.1, 0.2, 0.3, 1e-3])), a.T * np.array([0.1, 0.2, 0.3, 1e-3]), 1e-6),
        (x.T[::-1].mean(1), a.T[::-1].mean(1), 1e-6),
    ]
    for got, ref, tol in checks:
        out = got.get_plain_text()
        assert out.shape == ref.shape and np.abs(out - (q(ref) if tol == 0 else ref)).max() <= max(tol, 0), (got, out)


def test_truncation_error_has_no_systematic_bias_with_four_parties(request):
    """Failed before (fixed in session 19): mpc_ml/protocols/arith.py:_trunc_masks/trunc subtract bias = C(n,t) //
    2, which centres the error interval but not the mean: the carry e has mean C/2 and floor() loses 1/2 on average,
    so for even C (4 parties, the README's configuration for checked products; 5 parties with t = 2) every fixed-
    point product is biased by -0.5 unit (measured -0.500 over 200,000 products, 0.000 with 3 parties) and chained
    products drift linearly: 100 products of x by a shared 1 lose 50 units, against about 10 for an unbiased error;
    gradient descent and long pipelines accumulate it. Fix: for even C fold 2^(bits-1) (half a unit) into the public
    offset of the truncation mask, which makes the mean error 0"""
    mpc_ml.init(parties=4)
    request.addfinalizer(mpc_ml.uninit)
    rng = np.random.default_rng(1)
    a, b = q(rng.uniform(-100, 100, 20000)), q(rng.uniform(-3, 3, 20000))
    err = ((mpc_ml.cryptensor(a) * mpc_ml.cryptensor(b)).get_plain_text() - a * b) * 2.0 ** 24
    x, one = mpc_ml.cryptensor(np.full(2000, 0.7)), mpc_ml.cryptensor(np.ones(2000))
    for _ in range(100):
        x = x * one
    drift = (x.get_plain_text() - q(0.7)) * 2.0 ** 24
    assert abs(err.mean()) < 0.1 and abs(drift.mean()) < 20, (err.mean(), drift.mean())


def test_truncation_error_is_unbiased_with_three_parties(mpc):
    """Held: with 3 parties (odd C) the mean error of a product is 0 and 100 chained products do not drift."""
    rng = np.random.default_rng(1)
    a, b = q(rng.uniform(-100, 100, 20000)), q(rng.uniform(-3, 3, 20000))
    err = ((mpc.cryptensor(a) * mpc.cryptensor(b)).get_plain_text() - a * b) * 2.0 ** 24
    x, one = mpc.cryptensor(np.full(2000, 0.7)), mpc.cryptensor(np.ones(2000))
    for _ in range(100):
        x = x * one
    drift = (x.get_plain_text() - q(0.7)) * 2.0 ** 24
    assert abs(err.mean()) < 0.1 and abs(drift.mean()) < 20, (err.mean(), drift.mean())


# ------------------------------------------------------------------ public-weight products


def test_a_product_with_small_public_weights_is_as_precise_as_elementwise(mpc):
    """Failed before (fixed in session 19): mpc_ml/tensor.py:MPCTensor.matmul / _public encode a public matrix
    operand at a flat 2^-24 (no normalised mantissa), unlike functions.mul_public used by x * w: with a public
    weight of 1.234567e-5 on amounts up to 1e6, x @ w is off by 7e-3 while (x * w).sum(-1) is off by 3e-7. This hits
    LinearRegression.predict and LogisticRegression.predict_proba on shared X (their coefficients are public) and
    every unencrypted nn.Linear: a model trained on raw amounts has weights ~1e-5 and loses three digits. Fix:
    encode public matmul operands per column with the exponent grouping of functions.mul_public (truncate by f + e)"""
    rng = np.random.default_rng(3)
    amount = rng.uniform(1e3, 1e6, size=(40, 1))
    w = np.array([1.234567e-5])
    x = mpc.cryptensor(amount)
    ref = amount @ w
    elementwise = (x * w).sum(-1).get_plain_text()
    assert np.abs(elementwise - ref).max() < 1e-5  # the normalised public product
    assert np.abs((x @ w).get_plain_text() - ref).max() < 1e-5


def test_predict_on_shared_x_equals_predict_on_plain_x(mpc):
    """Failed before (fixed in session 19): mpc_ml/linear_model.py:_Linear.predict on shared X computes X @ coef_
    with the public coefficients encoded at 2^-24 (tensor.py:_public), so on a fraud-style dataset (amounts
    1e3..1e6, coefficient ~1.2e-5) predict(cryptensor(X)) differs from predict(X) by 5e-3 although the coefficients
    are exact; a scoring service gets other predictions than the analyst. Fix: compute X @ coef_ as (X *
    coef_).sum(-1) (functions.mul_public's normalised encoding) or give matmul that encoding"""
    rng = np.random.default_rng(3)
    amount, age = rng.uniform(1e3, 1e6, size=40), rng.uniform(18, 90, size=40)
    X = np.c_[amount, age]
    y = 1.234567e-5 * amount + 0.02 * age + rng.normal(size=40) * 0.01
    m = LinearRegression().fit(mpc.cryptensor(X, src=0), mpc.cryptensor(y, src=1))
    plain = m.predict(X)
    shared = m.predict(mpc.cryptensor(X, src=2)).get_plain_text()
    assert np.abs(shared - plain).max() < 1e-4, np.abs(shared - plain).max()


# ------------------------------------------------------------------ the numpy-native layer builder


def _bad_layers(nn):
    return {
        "Conv2d bias of the wrong size": lambda: nn.Conv2d(1, 2, 3, bias=np.zeros(3)),
        "Conv2d stride 0": lambda: nn.Conv2d(1, 1, 3, stride=0, weight=np.ones((1, 1, 3, 3))),
        "Conv2d kernel 0": lambda: nn.Conv2d(1, 1, 0),
        "Conv2d negative padding": lambda: nn.Conv2d(1, 1, 3, padding=-1),
        "MaxPool2d stride 0": lambda: nn.MaxPool2d(2, stride=0),
        "MaxPool2d kernel 0": lambda: nn.MaxPool2d(0),
        "MaxPool2d padding beyond half the kernel": lambda: nn.MaxPool2d(2, padding=2),
        "Linear negative features": lambda: nn.Linear(-1, 2),
    }


@pytest.mark.parametrize("case", list(_bad_layers(mpc_ml.nn)))
def test_impossible_layer_geometry_is_refused_with_input_error(mpc, case):
    """Failed before (fixed in session 19): mpc_ml/nn/modules.py:Conv2d/_Pool/Linear.__init__ do not validate their
    geometry (Linear checks its bias, Conv2d does not): a Conv2d bias of the wrong size raises numpy's ValueError,
    stride 0 a ZeroDivisionError in _patches, negative sizes numpy ValueErrors, and kernel 0 (Conv2d) or a MaxPool2d
    padding beyond half the kernel (which torch refuses) are accepted and open garbage (a 6x6 map of noise from a
    5x5 input; windows of padding only open -2^31). Fix: check in the constructors that kernel and stride are
    positive, padding is in 0..kernel/2 for pools and >= 0 for convolutions, sizes are positive, and the bias has
    out_channels elements, raising InputError naming the argument"""
    img = mpc.cryptensor(np.arange(25.0).reshape(1, 1, 5, 5))
    with pytest.raises(InputError):
        layer = _bad_layers(mpc.nn)[case]()
        layer(img).get_plain_text()


def test_numpy_native_cnn_matches_plain_numpy(mpc):
    """Held: a numpy-built Conv2d (stride 2, padding 1) -> ReLU -> AvgPool2d -> Flatten -> Linear -> Softmax, encrypted
    by party 0 on party 1's input, equals the same network in plain numpy within 1e-4."""
    rng = np.random.default_rng(7)
    w1, b1 = rng.normal(size=(3, 2, 3, 3)), rng.normal(size=3)
    w2, b2 = rng.normal(size=(4, 3 * 2 * 2)) * 0.3, rng.normal(size=4)
    nn = mpc.nn
    model = nn.Sequential(nn.Conv2d(2, 3, 3, stride=2, padding=1, weight=w1, bias=b1), nn.ReLU(),
                          nn.AvgPool2d(2), nn.Flatten(), nn.Linear(12, 4, w2, b2), nn.Softmax(1)).encrypt(src=0)
    x = rng.normal(size=(2, 2, 7, 7))
    got = model(mpc.cryptensor(x, src=1)).get_plain_text(dst=1)
    # plain reference
    xp = np.pad(x, [(0, 0), (0, 0), (1, 1), (1, 1)])
    conv = np.zeros((2, 3, 4, 4))
    for i in range(4):
        for j in range(4):
            patch = xp[:, :, 2 * i:2 * i + 3, 2 * j:2 * j + 3]
            conv[:, :, i, j] = np.einsum("nchw,ochw->no", patch, w1) + b1
    h = np.maximum(conv, 0).reshape(2, 3, 2, 2, 2, 2).mean(axis=(3, 5)).reshape(2, -1)
    z = h @ w2.T + b2
    ref = np.exp(z - z.max(1, keepdims=True))
    ref /= ref.sum(1, keepdims=True)
    assert got.shape == ref.shape and np.abs(got - ref).max() < 1e-4


def test_a_torch_mlp_on_breast_cancer_gives_torchs_logits_and_labels(mpc):
    """Held: a small torch MLP (30-16-2, ReLU) trained on standardised breast cancer, converted with from_pytorch and
    encrypted by party 0, gives torch's logits within 1e-4 and the same argmax labels on all 569 rows (input from
    party 1, output opened to party 1 only)."""
    torch = pytest.importorskip("torch")
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(30, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    xt, yt = torch.tensor(X, dtype=torch.float32), torch.tensor(y)
    for _ in range(30):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(xt), yt).backward()
        opt.step()
    model.eval()
    enc = mpc.nn.from_pytorch(model, torch.zeros(1, 30)).encrypt(src=0)
    out = enc(mpc.cryptensor(xt, src=1))
    logits = out.get_plain_text(dst=1)
    labels = out.argmax(1, one_hot=False).get_plain_text(dst=1)
    with torch.no_grad():
        ref = model(xt)
    assert (logits - ref).abs().max() < 1e-4
    assert torch.equal(labels.long(), ref.argmax(1))


# ------------------------------------------------------------------ exact regression against scikit-learn


@pytest.mark.parametrize("alpha", [4.0e4, 1.0e6])
def test_ridge_with_a_large_alpha_matches_sklearn(mpc, alpha):
    """Failed before (fixed in session 19): mpc_ml/linear_model.py:_Linear.fit builds the ridge diagonal as
    np.eye(cols, dtype=np.int64) * lam with lam = alpha 2^48: for alpha >= 32768 lam leaves int64 and fit raises the
    builtin OverflowError ('Python int too large to convert to C long'). Ridge's alpha grids (RidgeCV, 1e-3..1e6)
    routinely reach it, and sklearn fits them. Fix: build the diagonal as an object array (or add lam through
    big.const) so that any alpha below the fixed-point range works"""
    from sklearn.linear_model import Ridge as SkRidge

    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    y = X @ [1.0, 2.0, 3.0] + 0.1 * rng.normal(size=30)
    m = Ridge(alpha=alpha).fit(mpc.cryptensor(X), mpc.cryptensor(y, src=1))
    ref = SkRidge(alpha=alpha).fit(q(X), q(y))
    assert np.allclose(m.coef_, ref.coef_, rtol=1e-6, atol=1e-12)
    assert abs(m.intercept_ - ref.intercept_) < 1e-9


@pytest.mark.parametrize("n, d, scale, bound, alpha", [(8, 2, 0.02, 0.03, 30.0), (12, 10, 1.0, 1.0, 1.0e4)])
def test_ridge_with_a_value_bound_fits_in_range_data_for_any_alpha(mpc, n, d, scale, bound, alpha):
    """Failed before (fixed in session 19): mpc_ml/protocols/exact.py:bounds (used by linear_model._Linear.fit)
    bounds the numerators and denominators of A^-1 b from X^T X alone and ignores the ridge term alpha I, which
    dominates A when value_bound is small: with rates of about 0.02 and value_bound=0.03 (8 x 2), Ridge fails from
    alpha = 30 on all 6 seeds tried (from alpha = 3 on some), and with data in [-1, 1] and value_bound=1 (12 x 10)
    from alpha = 1000, all X and y inside the bound: the rational reconstruction finds no fraction and fit raises
    'inputs exceed the declared range (value_bound)', which is false and sends the user looking for bad data
    (sklearn fits them). Fix: bound the diagonal entries by n 2^(2 bits) + alpha 2^(2f) in exact.bounds (pass lam to
    it)"""
    from sklearn.linear_model import Ridge as SkRidge

    rng = np.random.default_rng(0)
    X = rng.uniform(-scale, scale, size=(n, d)) * 0.99
    y = X @ np.linspace(0.6, -0.3, d) / d + rng.normal(size=n) * 1e-4 * scale
    assert np.abs(np.r_[X.ravel(), y]).max() < bound
    m = Ridge(alpha=alpha, value_bound=bound).fit(mpc.cryptensor(X), mpc.cryptensor(y, src=1))
    ref = SkRidge(alpha=alpha).fit(q(X), q(y))
    assert np.allclose(m.coef_, ref.coef_, rtol=1e-6, atol=1e-12)


def test_ridge_with_a_value_bound_and_a_moderate_alpha_matches_sklearn(mpc):
    """Held: data in [-1, 1] with value_bound=1 and alpha = 100 (inside the bound's 64-bit margin) match sklearn
    on the rounded data."""
    from sklearn.linear_model import Ridge as SkRidge

    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(12, 10)) * 0.99
    y = X @ np.linspace(0.6, -0.3, 10) / 10 + rng.normal(size=12) * 1e-4
    m = Ridge(alpha=100.0, value_bound=1).fit(mpc.cryptensor(X), mpc.cryptensor(y, src=1))
    ref = SkRidge(alpha=100.0).fit(q(X), q(y))
    assert np.allclose(m.coef_, ref.coef_, rtol=1e-6, atol=1e-12)
    assert abs(m.intercept_ - ref.intercept_) < 1e-9


def test_data_beyond_value_bound_is_an_mpc_error(mpc):
    """Failed before (fixed in session 19): mpc_ml/protocols/opening.py:open_output raises the builtin
    ArithmeticError('rational reconstruction failed ...') when data exceed LinearRegression(value_bound=...), not an
    mpc_ml error: a caller that catches mpc_ml.MPCError (the documented base of every mpc_ml error) around fit()
    lets it through. Fix: raise InputError (or a new MPCError subclass, as SingularMatrixError is both MPCError and
    ArithmeticError)"""
    rng = np.random.default_rng(2)
    X = rng.uniform(-1, 1, size=(20, 3)) * 1e3
    y = X @ [1.0, 2.0, 3.0]
    with pytest.raises(MPCError, match="value_bound"):
        LinearRegression(value_bound=1).fit(mpc.cryptensor(X), mpc.cryptensor(y, src=1))


def test_a_value_bound_below_the_precision_is_named(mpc):
    """Failed before (fixed in session 19): mpc_ml/linear_model.py:_Linear.fit computes bits =
    ceil(log2(value_bound)) + f and protocols/exact.py:switch shifts by 1 << bits: a value_bound below 2^-24 (data
    in units where values are ~1e-9) raises the builtin ValueError('negative shift count') deep in the protocol
    instead of a named InputError. Fix: refuse value_bound < 2^-frac_bits in _Linear.__init__/fit with an InputError
    naming value_bound"""
    X = np.array([[1.0], [2.0], [3.0]]) * 1e-10
    with pytest.raises(InputError, match="value_bound"):
        LinearRegression(value_bound=1e-9).fit(mpc.cryptensor(X), mpc.cryptensor(X[:, 0]))


def test_linear_regression_on_breast_cancer_as_shipped_matches_sklearn(mpc):
    """Held: LinearRegression on scikit-learn's breast cancer data as shipped (569 x 30, features from 1e-3 to
    4254; X from party 0, labels from party 1) is the exact solution for the inputs rounded to 2^-24 (README) and
    its predictions equal sklearn's within 1e-5."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LinearRegression as SkLR

    X, y = load_breast_cancer(return_X_y=True)
    m = LinearRegression().fit(mpc.cryptensor(X, src=0), mpc.cryptensor(y.astype(float), src=1))
    A = np.c_[q(X), np.ones(len(X))]
    exact = np.linalg.lstsq(A, y, rcond=None)[0]
    assert np.abs(m.coef_ - exact[:-1]).max() < 1e-8 * max(1.0, np.abs(exact).max())
    assert abs(m.intercept_ - exact[-1]) < 1e-8 * max(1.0, abs(exact[-1]))
    ref = SkLR().fit(X, y)
    assert np.abs(m.predict(X) - ref.predict(X)).max() < 1e-5


def test_a_nonsingular_system_whose_determinant_a_ring_prime_divides_is_solved(mpc):
    """Failed before (fixed in session 23): mpc_ml/protocols/exact.py:solve declared A singular when RAS had no
    inverse modulo ANY prime of the big RNS ring, so a nonsingular A whose determinant one of the ring's primes
    divides failed every time with 'the system matrix is singular (collinear features?)'. Here one feature, two
    samples (x^2 + x'^2 = 0 mod the first prime = 1 mod 4 of the ring), no intercept. Fix: the solve goes on
    without the primes that divide the determinant while the others keep the modulus above the bound; the
    evidence names the ring it used and verifies."""
    from mpc_ml.protocols import exact

    params = mpc_ml.runtime.current().params
    num, den = exact.bounds(2, 1, params.value_bits + params.frac_bits)
    p = next(q for q in exact.ring_for(num, den).primes if q % 4 == 1)
    i = next(r for r in (pow(g, (p - 1) // 4, p) for g in range(2, 200)) if r * r % p == p - 1)
    a = 1234567
    b = a * i % p
    assert (a * a + b * b) % p == 0
    x = np.array([[a], [b]]) / 2.0 ** 24  # exact on the fixed-point grid: 0.0736 and a value below 0.125
    y = np.array([0.3, -0.2])
    m = LinearRegression(fit_intercept=False).fit(mpc.cryptensor(x), mpc.cryptensor(y, src=1))
    ref = (x[:, 0] @ q(y)) / (x[:, 0] @ x[:, 0])
    assert abs(m.coef_[0] - ref) < 1e-9 * abs(ref)
    assert p not in m.evidence_["primes"]
    assert np.allclose(mpc.verify(m.evidence_, verify_keys=mpc.party_keys()), m.coef_)


def test_logistic_predict_on_shared_x_agrees_with_plain_predict_at_the_boundary(mpc):
    """Failed before (fixed in session 19): mpc_ml/linear_model.py:LogisticRegression.predict on shared X thresholds
    the approximate sigmoid (error up to 2e-5) at 0.5 instead of taking the exact sign of the logit: for logits
    within ~3e-5 of 0 (including exactly 0, where the plaintext predict says 1) about one row in 15 gets the other
    label than predict on the same plaintext X. A fraud model scoring millions of transactions flips some decisions,
    and the two code paths of one fitted model disagree. Fix: predict = (X @ coef_ + intercept_) >= 0 for shared X
    (exact, and one comparison instead of a sigmoid)"""
    from mpc_ml.linear_model import LogisticRegression

    rng = np.random.default_rng(5)
    X = rng.normal(size=(40, 1))
    y = (X[:, 0] > 0.1).astype(float)
    m = LogisticRegression(learning_rate=1.0, max_iter=3).fit(mpc.cryptensor(X), mpc.cryptensor(y, src=1))
    z = np.arange(-200, 201) * 8 * 2.0 ** -24  # logits within 1e-4 of the boundary
    Xb = q((z - m.intercept_) / m.coef_[0])[:, None]
    plain = m.predict(Xb)
    shared = m.predict(mpc.cryptensor(Xb, src=2)).get_plain_text()
    # below one fixed-point unit from 0 the float logit's own rounding decides (the row of z = 0 computes -1e-9)
    decided = np.abs(Xb[:, 0] * m.coef_[0] + m.intercept_) >= 2.0 ** -24
    wrong = np.flatnonzero((plain != shared) & decided)
    logits = Xb[wrong, 0] * m.coef_[0] + m.intercept_
    assert wrong.size == 0, f"{wrong.size} of {len(z)} labels differ, at logits {logits[:5]}"


def test_logistic_regression_on_no_rows_is_named(mpc):
    """Failed before (fixed in session 19): mpc_ml/linear_model.py:LogisticRegression.fit computes step =
    learning_rate / n before any check, so X and y with no rows (a partition whose filter matched nothing) raise the
    builtin ZeroDivisionError('float division by zero'), where LinearRegression names the problem with InputError.
    Fix: refuse n == 0 in LogisticRegression.fit with an InputError naming the empty X"""
    from mpc_ml.linear_model import LogisticRegression

    with pytest.raises(InputError):
        LogisticRegression(max_iter=1).fit(mpc.cryptensor(np.zeros((0, 2))), mpc.cryptensor(np.zeros(0), src=1))


# ------------------------------------------------------------------ evidence of published regression outputs


def test_published_coefficients_verify_against_the_models_evidence(mpc):
    """Failed before (fixed in session 19): mpc_ml/linear_model.py:_Linear.fit opens the solution with shape (cols,
    1) (exact.solve's b is a column), so the evidence_ of a model does not verify the coefficients as the model
    publishes them: mpc_ml.verify(m.evidence_, value=np.append(m.coef_, m.intercept_)) raises 'the claimed value
    differs' although they are exactly the opened values. An auditor checking a published regression is told it was
    forged. LogisticRegression's evidence_ opens flat (d + 1,), so the two models differ. Fix: open sol reshaped to
    (cols,) (coef_ then intercept_), as the evidence_ docstring describes"""
    rng = np.random.default_rng(4)
    X = rng.normal(size=(10, 2))
    y = X @ [1.0, 2.0] + 1.0
    m = LinearRegression().fit(mpc.cryptensor(X), mpc.cryptensor(y, src=1))
    published = np.append(m.coef_, m.intercept_)
    got = mpc.verify(m.evidence_, value=published, verify_keys=mpc.party_keys())
    assert np.array_equal(np.ravel(got), published)


def test_evidence_of_a_regression_on_45_features_verifies(mpc):
    """Failed before (fixed in session 19): mpc_ml/evidence.py:verify refuses evidence naming more than MAX_PRIMES =
    512 primes, but protocols/exact.py:ring_for gives LinearRegression (default value_bound) a ring of about 550
    primes at 45 features (491 at 40): the fit succeeds in about 2 s and its model.evidence_ can never be verified
    (EvidenceError 'evidence names 549 primes; at most 512 are allowed'), breaking the contract that every revealed
    output comes with evidence verify() checks, for any medical dataset of more than about 42 features. Fix: derive
    verify's limit from the signed rational bounds (the ring ring_for would choose for them) instead of a constant,
    or raise MAX_PRIMES above what ring_for produces for the largest supported d"""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 45))
    y = X @ rng.normal(size=45) + rng.normal(size=50)
    m = LinearRegression().fit(mpc.cryptensor(X), mpc.cryptensor(y, src=1))
    opened = mpc.verify(m.evidence_, verify_keys=mpc.party_keys())
    assert np.array_equal(np.ravel(opened), np.append(m.coef_, m.intercept_))


def test_regression_evidence_refuses_changed_coefficients(mpc):
    """Held: the evidence of a fit verifies its own opened solution at atol 0 and refuses the same solution with one
    coefficient changed by 1e-9 (in the shape the evidence opens to)."""
    rng = np.random.default_rng(4)
    X = rng.normal(size=(10, 2))
    y = X @ [1.0, 2.0] + 1.0
    m = LinearRegression().fit(mpc.cryptensor(X), mpc.cryptensor(y, src=1))
    opened = mpc.verify(m.evidence_, verify_keys=mpc.party_keys())
    assert np.array_equal(np.ravel(opened), np.append(m.coef_, m.intercept_))
    forged = np.array(opened, dtype=np.float64)
    forged.flat[0] += 1e-9
    with pytest.raises(mpc.EvidenceError):
        mpc.verify(m.evidence_, value=forged, verify_keys=mpc.party_keys())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        tampered = dict(m.evidence_, encoding=dict(m.evidence_["encoding"], den_bound="1"))
        with pytest.raises(mpc.EvidenceError):
            mpc.verify(tampered)


# ------------------------------------------------------------------ precision


@pytest.mark.parametrize("precision", [8, 12])
def test_sigmoid_at_a_low_accepted_precision_is_accurate_or_refused(precision):
    """Failed before (fixed in session 19): mpc_ml/__init__.py:init accepts precision 8..40
    (fixedpoint.make_params), but protocols/functions.py:exp always takes 8 squarings of a Taylor base on x/256,
    which multiplies the truncation error by 2^8 units of 2^-f: at precision=8 sigmoid on [-8, 8] opens values from
    13 up to 3e13 (sigmoid(1.5) opened 0.39, sigmoid(0) 0.75), exp is off by 70% and reciprocal by 17%; at
    precision=12 sigmoid is off by 0.02 to 0.045, silently (the README's bounds are for f = 24 only). A user
    lowering precision for speed gets flipped classifications. Fix: refuse precisions below 16 in make_params (or
    scale the squarings and Newton steps with f and state each function's bound per precision)"""
    try:
        try:
            mpc_ml.init(parties=3, precision=precision)
        except InputError:
            return
        xs = np.linspace(-8.0, 8.0, 401)
        got = mpc_ml.cryptensor(xs).sigmoid().get_plain_text()
        assert np.abs(got - 1 / (1 + np.exp(-xs))).max() < 5e-3, got
    finally:
        mpc_ml.uninit()


def test_sigmoid_and_softmax_at_crypten_default_precision_16_are_usable(request):
    """Held: at CrypTen's default precision (16 bits) sigmoid is within 5e-3 and softmax within 1e-2 of numpy (measured
    2.1e-3 and 3.4e-3 over 40 runs: about 2^7 units of 2^-16, the same number of units as at f = 24)."""
    mpc_ml.init(parties=3, precision=16)
    request.addfinalizer(mpc_ml.uninit)
    xs = np.array([-5.0, -1.0, 0.0, 0.5, 1.0, 3.0, 10.0])
    assert np.abs(mpc_ml.cryptensor(xs).sigmoid().get_plain_text() - 1 / (1 + np.exp(-xs))).max() < 5e-3
    z = np.array([[1.0, 2.0, 3.0], [0.0, -4.0, 0.5]])
    e = np.exp(z - z.max(1, keepdims=True))
    e /= e.sum(1, keepdims=True)
    assert np.abs(mpc_ml.cryptensor(z).softmax(1).get_plain_text() - e).max() < 1e-2
