"""The Flower pieces the strategy tests use (skipping the test without the optional extra `flower`), and the
plaintext weighted mean the strategy must return."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest


def flower() -> tuple[Any, Any, Any, Any]:
    """(fit_res(arrays, num_examples), parameters_to_ndarrays, FedAvg, SecAggStrategy)."""
    pytest.importorskip("flwr")
    from flwr.common import Code, FitRes, Status, ndarrays_to_parameters, parameters_to_ndarrays
    from flwr.server.strategy import FedAvg

    from mpc_ml.secagg.flower import SecAggStrategy

    def fit_res(arrays: list[np.ndarray], n: int) -> FitRes:
        return FitRes(Status(Code.OK, ""), ndarrays_to_parameters(arrays), n, {})

    return fit_res, parameters_to_ndarrays, FedAvg, SecAggStrategy


def weighted_mean(clients: list[tuple[list[np.ndarray], int]]) -> list[np.ndarray]:
    """The mean of the clients' arrays weighted by their example counts, in float64."""
    total = sum(n for _, n in clients)
    return [sum(a[i].astype(np.float64) * n for a, n in clients) / total for i in range(len(clients[0][0]))]
