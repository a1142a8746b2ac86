"""Federated averaging of a small model with secure aggregation and dropouts.

Ten hospitals train a logistic-regression model on their own patients. Each round every
hospital trains locally and sends its weighted model update through secure aggregation
(Bonawitz et al. with a SecAgg+ neighbour graph): the server learns only the sum, even
though some hospitals drop out mid-round. Each round's transcript is verified, as an
auditor would, before the averaged model is used.

    .venv/bin/python examples/secagg_federated_averaging.py [--rounds 8]
"""

from __future__ import annotations

import argparse

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mpc_ml.secagg import aggregate, to_json, verify

FEATURES, HOSPITALS = 12, 10


def make_data(rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each hospital's patients: features and a binary outcome from one shared true model."""
    truth = rng.normal(size=FEATURES)
    data = []
    for _ in range(HOSPITALS):
        x = rng.normal(size=(int(rng.integers(80, 300)), FEATURES))
        y = (rng.random(len(x)) < 1 / (1 + np.exp(-x @ truth))).astype(float)
        data.append((x, y))
    return data


def local_update(w: np.ndarray, x: np.ndarray, y: np.ndarray, steps: int = 20, lr: float = 0.1) -> np.ndarray:
    """A few steps of gradient descent on the hospital's own data; returns the weight change."""
    start = w.copy()
    for _ in range(steps):
        w = w - lr * x.T @ (1 / (1 + np.exp(-x @ w)) - y) / len(y)
    return w - start


def accuracy(w: np.ndarray, data: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """Share of correct predictions over all patients."""
    right = sum(int(((x @ w > 0) == (y > 0.5)).sum()) for x, y in data)
    return right / sum(len(y) for _, y in data)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=8)
    a = ap.parse_args()
    rng = np.random.default_rng(2026)
    data = make_data(rng)
    # each hospital's signing key; the public halves are registered (the PKI the auditor trusts, not the aggregator)
    keys = [Ed25519PrivateKey.generate() for _ in data]
    registry = {i + 1: k.public_key().public_bytes_raw() for i, k in enumerate(keys)}
    w = np.zeros(FEATURES)
    for rnd in range(1, a.rounds + 1):
        # Each update is weighted by the hospital's patient count (scaled to stay within the
        # clip range), with the weight itself as the last value, so the sum gives a weighted mean.
        updates = [np.append(local_update(w, x, y) * len(y) / 300, len(y) / 300) for x, y in data]
        dropped = {int(i): int(rng.integers(1, 4)) for i in rng.choice(HOSPITALS, size=2, replace=False)}
        context = f"hospital study, round {rnd}".encode()  # the round the hospitals and the auditor agreed on
        result = aggregate(updates, dropouts=dropped, threshold=4, neighbours=6, clip=2.0, client_keys=keys,
                           context=context)
        audited = verify(to_json(result.transcript), peer_keys=registry, context=context)  # registered keys, this round
        assert np.array_equal(audited.total, result.total)
        w = w + result.total[:-1] / result.total[-1]
        gone = sorted(i + 1 for i, r in dropped.items() if r < 3)
        print(f"round {rnd}: {len(result.survivors)} updates summed (dropped: {gone or 'none'}; "
              f"error bound {result.error_bound:.1e}), transcript verified, accuracy {accuracy(w, data):.3f}")


if __name__ == "__main__":
    main()
