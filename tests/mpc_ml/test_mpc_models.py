"""nn (numpy-built and from PyTorch) and linear_model against plaintext references."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import mpc_ml

DATA = Path(__file__).parent / "fixtures" / "mlp_digits.npz"


def _digits_mlp():
    from sklearn.datasets import load_digits

    w = np.load(DATA)
    X, _ = load_digits(return_X_y=True)
    xte = (X / 16.0)[w["test_idx"]]
    nn = mpc_ml.nn
    model = nn.Sequential(nn.Linear(64, 128, w["0_weight"], w["0_bias"]), nn.ReLU(),
                          nn.Linear(128, 64, w["2_weight"], w["2_bias"]), nn.ReLU(),
                          nn.Linear(64, 10, w["4_weight"], w["4_bias"]))
    h = xte
    for i, k in enumerate(("0", "2", "4")):
        h = h @ w[f"{k}_weight"].T + w[f"{k}_bias"]
        if i < 2:
            h = np.maximum(h, 0)
    return model, xte, h


def test_mlp_digits_argmax_agreement(mpc):
    """The anchors' 64-128-64-10 MLP on the 450 test digits, built from numpy weights (no torch)."""
    model, xte, plain = _digits_mlp()
    model.encrypt(src=0)
    logits = model(mpc.cryptensor(xte, src=1)).get_plain_text(dst=1)
    assert (logits.argmax(1) == plain.argmax(1)).mean() >= 0.99
    assert np.abs(logits - plain).max() < 1e-3


def test_layers_from_numpy(mpc, rng):
    x = rng.standard_normal((2, 3, 8, 8))
    w, b = rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    nn = mpc.nn
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, weight=w, bias=b), nn.MaxPool2d(2), nn.AvgPool2d(2),
                        nn.Flatten(), nn.Sigmoid(), nn.Softmax(1))
    net.encrypt(src=0)
    out = net(mpc.cryptensor(x, src=1)).get_plain_text()
    # plaintext reference
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    conv = np.zeros((2, 4, 8, 8))
    for i in range(8):
        for j in range(8):
            conv[:, :, i, j] = np.einsum("ncij,ocij->no", xp[:, :, i:i + 3, j:j + 3], w) + b
    mp = conv.reshape(2, 4, 4, 2, 4, 2).max((3, 5))
    ap = mp.reshape(2, 4, 2, 2, 2, 2).mean((3, 5)).reshape(2, -1)
    s = 1 / (1 + np.exp(-ap))
    ref = np.exp(s) / np.exp(s).sum(1, keepdims=True)
    assert np.abs(out - ref).max() < 1e-4


def test_unsupported_layer_named():
    torch = pytest.importorskip("torch")
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Tanh())
    with pytest.raises(mpc_ml.InputError, match="unsupported layer Tanh.*Linear"):
        mpc_ml.nn.from_pytorch(model, torch.zeros(1, 4))


def test_from_pytorch_seed_example(mpc):
    """The seed's CrypTen snippet with the import changed."""
    torch = pytest.importorskip("torch")
    model = torch.nn.Sequential(torch.nn.Linear(10, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    enc = mpc.nn.from_pytorch(model, dummy_input=torch.zeros(1, 10))
    enc.encrypt(src=0)
    data = torch.randn(4, 10)
    out = enc(mpc.cryptensor(data, src=1)).get_plain_text(dst=1)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.get_default_dtype()  # as CrypTen's
    with torch.no_grad():
        assert torch.allclose(out, model(data), atol=1e-4)


def test_outputs_open_to_torch_tensors_when_made_from_torch_and_to_numpy_otherwise(mpc):
    """A CrypTen script keeps torch idioms (allclose, .argmax(dim=...), .item()) on what it opens; numpy code keeps
    numpy: the type follows where a tensor came from (a shared or public torch operand, a from_pytorch model)."""
    torch = pytest.importorskip("torch")
    a, t = mpc.cryptensor(np.arange(3.0)), mpc.cryptensor(torch.arange(3.0))
    assert isinstance(a.get_plain_text(), np.ndarray) and isinstance((a < 1).get_plain_text(), np.ndarray)
    for mixed in (t, a + torch.ones(3), torch.ones(3) * a, a * t, a @ torch.eye(3), a < t, (a == t),
                  mpc.cat([a, t]), mpc.stack([t, a]), t.relu(), t.softmax(0), t[1:]):
        out = mixed.get_plain_text()
        assert isinstance(out, torch.Tensor) and out.dtype == torch.get_default_dtype()
    assert t.argmax(0, one_hot=False).get_plain_text().item() == 2
    value, evidence = t.get_plain_text_with_evidence()
    assert isinstance(value, torch.Tensor) and np.array_equal(mpc.verify(evidence, verify_keys=mpc.party_keys()), np.arange(3.0))
    # a model converted from torch opens to torch even on a numpy input; a model built from numpy does not
    model = mpc.nn.from_pytorch(torch.nn.Sequential(torch.nn.Linear(3, 2)), torch.zeros(1, 3)).encrypt(src=0)
    assert isinstance(model(mpc.cryptensor(np.ones((1, 3)))).get_plain_text(), torch.Tensor)
    plain = mpc.nn.Linear(3, 2, weight=np.ones((2, 3)), bias=np.zeros(2)).encrypt(src=0)
    assert isinstance(plain(mpc.cryptensor(np.ones((1, 3)))).get_plain_text(), np.ndarray)


def test_torch_provenance_survives_pools_convolutions_division_and_weightless_converted_layers(mpc):
    """Every way of building a tensor keeps the torch provenance: pooling and im2col made new tensors without it
    (a torch image through MaxPool2d opened to numpy), so did a division by a torch tensor (while * kept it), and
    a from_pytorch model opened to numpy when unencrypted or without weights (ReLU only)."""
    torch = pytest.importorskip("torch")
    img = mpc.cryptensor(torch.randn(1, 1, 4, 4))
    conv = mpc.nn.Conv2d(1, 1, 2, weight=np.ones((1, 1, 2, 2)))
    for out in (mpc.nn.MaxPool2d(2)(img), mpc.nn.AvgPool2d(2)(img), conv(img), conv.encrypt(src=0)(img),
                mpc.cryptensor(np.ones(3)) / torch.tensor(2.0)):
        assert isinstance(out.get_plain_text(), torch.Tensor)
    plain = mpc.cryptensor(np.ones((1, 3)))
    unencrypted = mpc.nn.from_pytorch(torch.nn.Sequential(torch.nn.Linear(3, 2)), torch.zeros(1, 3))
    relu_only = mpc.nn.from_pytorch(torch.nn.Sequential(torch.nn.ReLU()), torch.zeros(1, 3))
    identity = mpc.nn.from_pytorch(torch.nn.Identity(), torch.zeros(1, 3))
    for model in (unencrypted, relu_only, identity):
        assert isinstance(model(plain).get_plain_text(), torch.Tensor)
    assert isinstance(plain.get_plain_text(), np.ndarray)  # the identity layer did not relabel its input


def test_a_public_numerator_over_a_shared_tensor():
    """2 / x and torch_tensor / x as in torch and CrypTen: other times the reciprocal (a torch numerator: torch out)."""
    torch = pytest.importorskip("torch")
    mpc_ml.init()
    try:
        x = mpc_ml.cryptensor(np.array([0.5, 2.0, 8.0]))
        assert np.allclose((2 / x).get_plain_text(), [4.0, 1.0, 0.25], atol=1e-3)
        out = (torch.tensor([1.0, 4.0, 16.0]) / x).get_plain_text()
        assert isinstance(out, torch.Tensor) and torch.allclose(out, torch.tensor([2.0, 2.0, 2.0]), atol=1e-3)
    finally:
        mpc_ml.uninit()


def _diabetes():
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    return (X - X.mean(0)) / X.std(0), y


def test_linear_regression_diabetes_vertical(mpc):
    """X from party 0, y from party 1: coefficients within 1e-3 of scikit-learn (measured ~1e-6)."""
    from sklearn.linear_model import LinearRegression

    X, y = _diabetes()
    m = mpc.linear_model.LinearRegression().fit(mpc.cryptensor(X, src=0), mpc.cryptensor(y, src=1))
    ref = LinearRegression().fit(X, y)
    assert np.abs(m.coef_ - ref.coef_).max() < 1e-4
    assert abs(m.intercept_ - ref.intercept_) < 1e-4
    assert abs(m.score(X, y) - ref.score(X, y)) < 1e-6
    assert np.abs(m.predict(X) - ref.predict(X)).max() < 1e-3


def test_ridge_horizontal_partitions(mpc):
    """Rows from three organisations; y likewise; opened to party 2 only."""
    from sklearn.linear_model import Ridge

    X, y = _diabetes()
    parts = np.array_split(np.arange(len(y)), 3)
    Xs = [mpc.cryptensor(X[p], src=i) for i, p in enumerate(parts)]
    ys = [mpc.cryptensor(y[p], src=i) for i, p in enumerate(parts)]
    m = mpc.linear_model.Ridge(alpha=2.5, dst=2).fit(Xs, ys)
    ref = Ridge(alpha=2.5).fit(X, y)
    assert np.abs(m.coef_ - ref.coef_).max() < 1e-4
    r2 = m.score(Xs, ys)
    assert abs(r2 - ref.score(X, y)) < 1e-4


def test_logistic_regression(mpc, rng):
    X = rng.standard_normal((200, 3))
    y = (X @ np.array([1.5, -2.0, 0.5]) + 0.3 > 0).astype(float)
    m = mpc.linear_model.LogisticRegression(learning_rate=1.0, max_iter=30).fit(
        mpc.cryptensor(X, src=0), mpc.cryptensor(y, src=1))
    # plaintext gradient descent with the same steps
    w, b = np.zeros(3), 0.0
    for _ in range(30):
        e = 1 / (1 + np.exp(-(X @ w + b))) - y
        w, b = w - X.T @ e / 200, b - e.sum() / 200
    assert np.abs(m.coef_ - w).max() < 1e-3 and abs(m.intercept_ - b) < 1e-3
    assert m.score(X, y) > 0.9


def test_linear_model_bad_shapes(mpc):
    X = mpc.cryptensor(np.ones((5, 2)))
    with pytest.raises(mpc_ml.InputError, match="expected \\(5,\\)"):
        mpc.linear_model.LinearRegression().fit(X, mpc.cryptensor(np.ones(4), src=1))
    with pytest.raises(mpc_ml.InputError, match="shared tensor"):
        mpc.linear_model.LinearRegression().fit(np.ones((5, 2)), X)


def test_from_pytorch_cnn_matches_torch(mpc):
    """Every supported layer kind, converted from PyTorch, against PyTorch's own output."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(3)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 3, 3, stride=1, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(3, 2, 2, stride=2), torch.nn.AvgPool2d(1), torch.nn.Flatten(),
        torch.nn.Sequential(torch.nn.Linear(8, 5), torch.nn.Sigmoid()), torch.nn.Linear(5, 4), torch.nn.Softmax(dim=1))
    data = torch.randn(2, 1, 8, 8)
    enc = mpc.nn.from_pytorch(model, torch.zeros(1, 1, 8, 8)).encrypt(src=0)
    out = enc(mpc.cryptensor(data, src=1)).get_plain_text()
    with torch.no_grad():
        assert torch.allclose(out, model(data), atol=1e-4)


def test_logistic_predict_proba_on_plain_features_is_exact_and_quiet_for_large_scores(mpc):
    """predict_proba on plaintext rows: the logistic function, no overflow warning where |score| is large."""
    import warnings

    m = mpc.linear_model.LogisticRegression()
    m.coef_, m.intercept_ = np.array([1.0, -1.0]), 0.5
    X = np.array([[0.0, 0.0], [2000.0, 0.0], [0.0, 2000.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = m.predict_proba(X)
    assert np.allclose(p, [1 / (1 + np.exp(-0.5)), 1.0, 0.0], atol=1e-15)


def _exact_solve(mpc, a: int, b: int, k: int, bound: int):
    """exact.solve of the 1x1 system a x = b (public shares: constant polynomials) in the ring of k primes."""
    from mpc_ml.protocols import exact
    from mpc_ml.ring import Ring
    from mpc_ml.runtime import current

    rt, ring = current(), Ring(k)
    share = lambda v: np.broadcast_to(ring.from_objects(np.array([[v]], dtype=object)), (len(rt.local_ids), k, 1, 1))  # noqa: E731
    return exact.solve(rt, share(a), share(b), ring, None, (bound, bound))


def test_an_exact_solve_goes_on_without_the_primes_that_divide_the_determinant(mpc):
    """det A divisible by one ring prime: solved in the others (the evidence names them and verifies); divisible by
    so many that the rest cannot hold the bound: a named InputError, not 'singular'; det A = 0: singular."""
    from mpc_ml.ring import Ring

    p = Ring(4).primes
    x, ev = _exact_solve(mpc, p[1] * 7, p[1] * 21, 4, 2**10)
    assert x.tolist() == [3.0] and ev["primes"] == [p[0], p[2], p[3]]
    assert mpc.verify(ev, value=x, verify_keys=mpc.party_keys()).tolist() == [3.0]
    with pytest.raises(mpc_ml.InputError, match="divisible by 3 of the exact solve's 4 primes"):
        _exact_solve(mpc, p[0] * p[1] * p[3], 5, 4, 2**10)
    with pytest.raises(mpc_ml.SingularMatrixError):
        _exact_solve(mpc, 0, 5, 4, 2**10)
