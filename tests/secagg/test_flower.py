"""The Flower adapter (skipped without the optional extra `flower`)."""

from __future__ import annotations

import numpy as np
import pytest

flwr = pytest.importorskip("flwr")

from flwr.common import Code, FitRes, Status, ndarrays_to_parameters, parameters_to_ndarrays  # noqa: E402
from flwr.server.strategy import FedAvg  # noqa: E402

from mpc_ml.secagg import SecAggError, verify  # noqa: E402
from mpc_ml.secagg.flower import SecAggStrategy  # noqa: E402


def fit_res(arrays: list[np.ndarray], n: int) -> FitRes:
    return FitRes(Status(Code.OK, ""), ndarrays_to_parameters(arrays), n, {})


def test_weighted_mean_matches_fedavg() -> None:
    rng = np.random.default_rng(1)
    clients = [([rng.uniform(-1, 1, (3, 2)).astype(np.float32), rng.uniform(-1, 1, 4).astype(np.float32)], int(rng.integers(10, 200))) for _ in range(6)]
    results = [(None, fit_res(a, n)) for a, n in clients]
    plain, _ = FedAvg().aggregate_fit(1, results, [])
    strategy = SecAggStrategy(FedAvg(), threshold=3, neighbours=4)
    secure, metrics = strategy.aggregate_fit(1, results, [])
    for a, b in zip(parameters_to_ndarrays(plain), parameters_to_ndarrays(secure)):
        assert a.shape == b.shape and a.dtype == b.dtype
        assert np.allclose(a, b, atol=1e-5)
    assert metrics["secagg_clients"] == 6
    assert len(verify(strategy.transcripts[0]).survivors) == 6


def test_bad_fit_results_are_refused() -> None:
    strategy = SecAggStrategy(FedAvg())
    with pytest.raises(SecAggError, match="different shapes"):
        strategy.aggregate_fit(1, [(None, fit_res([np.zeros(2)], 5)), (None, fit_res([np.zeros(3)], 5))], [])
    with pytest.raises(SecAggError, match="max_weight"):
        strategy.aggregate_fit(1, [(None, fit_res([np.zeros(2)], 5000)), (None, fit_res([np.zeros(2)], 5))], [])
    assert strategy.aggregate_fit(1, [], []) == (None, {})
