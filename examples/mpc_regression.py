"""The seed's two-party regression (MP-SPDZ style): features from party 0, labels from party 1.

Run in one process:            python examples/mpc_regression.py
Run as 3 processes over TCP:   quorum mpc run -n 3 examples/mpc_regression.py
The trustees (3 parties, honest majority) compute X^T X and X^T y on shares and solve the normal
equations exactly; only the coefficients are opened, here to both data owners.
"""

import numpy as np

import mpc_ml

mpc_ml.init()
rank = mpc_ml.get_rank()

# Secret-shared data from two parties (each process builds only what it owns; the seed is public
# here so the example can print a plaintext check at the end)
n_samples, n_features = 100, 5
rng = np.random.default_rng(42)
X_plain = rng.standard_normal((n_samples, n_features))
y_plain = X_plain @ np.array([1.0, -2.0, 0.5, 3.0, 0.0]) + 0.1 * rng.standard_normal(n_samples) + 4.0

X = mpc_ml.cryptensor(X_plain, src=0)  # Party 0 provides features
y = mpc_ml.cryptensor(y_plain, src=1)  # Party 1 provides labels

for owner in (0, 1):
    model = mpc_ml.linear_model.LinearRegression(dst=owner).fit(X, y)
    if model.coef_ is not None:
        print(f"party {owner}: coefficients {np.round(model.coef_, 4).tolist()}, intercept {model.intercept_:.4f}")
        ref = np.linalg.lstsq(np.c_[X_plain, np.ones(n_samples)], y_plain, rcond=None)[0]
        print(f"party {owner}: max difference to a plaintext solve {np.abs(ref[:-1] - model.coef_).max():.2e}")
if rank == 0:
    print("Regression complete")
