"""Adapter for Flower strategies (optional extra `flower`): weighted averaging through secure aggregation.

`SecAggStrategy(FedAvg(...))` behaves as the wrapped strategy, except that `aggregate_fit`
computes the num_examples-weighted mean of the fit results by running a secure-aggregation
session among those clients (one `SecAggClient` per fit result, in this process, as in
Flower's simulation engine) and keeps each round's transcript for `verify`. A deployment
where the clients mask on their own machines runs `SecAggClient` in each client app and
`SecAggServer` in the server app, carrying their byte messages over Flower messages.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from flwr.common import FitRes, Parameters, Scalar, ndarrays_to_parameters, parameters_to_ndarrays
from flwr.server.client_proxy import ClientProxy
from flwr.server.strategy import Strategy

from .api import aggregate
from .errors import SecAggError
from .server import real_clip


class SecAggStrategy(Strategy):
    """Wraps a Flower strategy; fit results are averaged by secure aggregation."""

    def __init__(
        self, strategy: Strategy, *, clip: float = 8.0, max_weight: int = 1000, threshold: int | None = None, neighbours: int | None = None
    ) -> None:
        value = real_clip(clip)
        if not 1 <= value < float("inf"):
            raise SecAggError(f"clip must be a finite number of at least 1 (each update carries its weight, up to 1, "
                              f"as a value), got {clip!r}")
        self.strategy = strategy
        self.clip, self.max_weight = value, max_weight
        self.threshold, self.neighbours = threshold, neighbours
        self.transcripts: list[list[bytes]] = []

    def initialize_parameters(self, client_manager: Any) -> Parameters | None:
        """As the wrapped strategy."""
        return self.strategy.initialize_parameters(client_manager)

    def configure_fit(self, server_round: int, parameters: Parameters, client_manager: Any) -> Any:
        """As the wrapped strategy."""
        return self.strategy.configure_fit(server_round, parameters, client_manager)

    def configure_evaluate(self, server_round: int, parameters: Parameters, client_manager: Any) -> Any:
        """As the wrapped strategy."""
        return self.strategy.configure_evaluate(server_round, parameters, client_manager)

    def aggregate_evaluate(self, server_round: int, results: Any, failures: Any) -> Any:
        """As the wrapped strategy."""
        return self.strategy.aggregate_evaluate(server_round, results, failures)

    def evaluate(self, server_round: int, parameters: Parameters) -> Any:
        """As the wrapped strategy."""
        return self.strategy.evaluate(server_round, parameters)

    def aggregate_fit(
        self, server_round: int, results: list[tuple[ClientProxy, FitRes]], failures: list[Any]
    ) -> tuple[Parameters | None, dict[str, Scalar]]:
        """Weighted mean of the clients' parameters, summed by secure aggregation."""
        if not results:
            return None, {}
        arrays = [parameters_to_ndarrays(res.parameters) for _, res in results]
        shapes = [(a.shape, a.dtype) for a in arrays[0]]
        updates = []
        for (_, res), params in zip(results, arrays):
            if [(a.shape, a.dtype) for a in params] != shapes:
                raise SecAggError("fit results hold parameters of different shapes")
            if not 0 < res.num_examples <= self.max_weight:
                raise SecAggError(f"num_examples {res.num_examples} is outside 1..{self.max_weight} (max_weight)")
            weight = res.num_examples / self.max_weight
            updates.append(np.append(np.concatenate([a.ravel() for a in params]) * weight, weight))
        result = aggregate(updates, threshold=self.threshold, neighbours=self.neighbours, clip=self.clip)
        self.transcripts.append(result.transcript)
        weight, bound = result.total[-1], result.error_bound
        mean = result.total[:-1] / weight
        # the sums and the total weight each err by at most `bound`: |S/W - S'/W'| <= bound (1 + |S/W|) / (W - bound)
        top = float(np.max(np.abs(mean), initial=0.0))
        mean_bound = bound * (1 + top) / (weight - bound) if weight > bound else float("inf")
        mean_bound += top * max((float(np.finfo(d).eps) for _, d in shapes if np.issubdtype(d, np.floating)), default=0.0)
        if any(not np.issubdtype(d, np.floating) for _, d in shapes):
            mean_bound += 1.0  # an integer layer's mean is truncated to its dtype
        if any(np.any(np.abs(u) > self.clip) for u in updates):
            mean_bound = float("inf")  # clipped values: the mean is the clipped updates', no bound on the true one
        out, at = [], 0
        for shape, dtype in shapes:
            size = int(np.prod(shape))
            out.append(mean[at : at + size].reshape(shape).astype(dtype))
            at += size
        return ndarrays_to_parameters(out), {"secagg_clients": len(result.survivors), "secagg_error_bound": mean_bound}
