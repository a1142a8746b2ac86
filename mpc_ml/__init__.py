"""Secure ML on secret-shared data, run by the trustees (CrypTen's names, Shamir sharing, no dealer).

    import mpc_ml as crypten
    crypten.init()                       # 3 simulated parties (or the party of `quorum mpc run`)
    x = crypten.cryptensor(data, src=1)  # party 1 secret-shares its data
    y = (x @ w).relu()
    print(y.get_plain_text(dst=1))       # opened to party 1 only, shares checked and signed
"""

from __future__ import annotations

import os
from typing import Any

from . import runtime as _runtime
from .errors import (EvidenceError, InputError, InputSizeError, MPCError, PartyDied, PartyTimeout, ProtocolError,
                     ShareCheckError, SingularMatrixError)
from .evidence import verify
from .tensor import MPCTensor, cat, stack

__all__ = ["init", "uninit", "preprocess", "cryptensor", "verify", "party_keys", "MPCTensor", "cat", "stack",
           "get_rank", "get_world_size", "is_initialized", "MPCError", "InputError", "InputSizeError", "ProtocolError", "PartyDied",
           "PartyTimeout", "ShareCheckError", "SingularMatrixError", "EvidenceError", "nn", "linear_model", "stats"]


def init(parties: int | None = None, quorum: int | None = None, precision: int = 24) -> None:
    """Start the runtime: in a `quorum mpc run` party process, that party over TCP; else all simulated.

    parties: the number of parties (default: the deployment's, or 3 simulated); under `quorum mpc run` a value
    other than the deployment's is refused. quorum: how many parties are needed to open a value (t + 1); default
    the honest majority floor((n - 1) / 2) + 1. precision: fractional bits of the fixed-point representation.
    """
    _single_threaded_blas()
    if os.environ.get("QUORUM_MPC_PEERS"):
        from .launcher import runtime_from_env

        _runtime.set_current(runtime_from_env(precision, parties, quorum))
        return
    if parties is None:
        parties = 3
    if not isinstance(parties, int) or isinstance(parties, bool) or parties < 3:
        raise InputError(f"parties must be an integer >= 3, got {parties!r}")
    _runtime.set_current(_runtime.simulated(parties, _runtime.threshold_for(parties, quorum), precision))


def _single_threaded_blas() -> None:
    """One BLAS thread: OpenBLAS threading made the small products of the protocols ~100x slower here."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")


def party_keys(peers: str | os.PathLike | None = None) -> list[bytes]:
    """The parties' Ed25519 verification keys, to pass to verify(evidence, verify_keys=...): those of a deployment's
    peers file, or without one those of the current session (simulated or this party's)."""
    if peers is not None:
        from .launcher import load_peers, sign_keys

        return sign_keys(load_peers(peers))
    return list(_runtime.current().verify_keys)


def uninit() -> None:
    """Close the runtime's channels; a tensor of the closed session is refused (InputError) at its next protocol
    step."""
    while _runtime._current:
        _runtime._current.pop().close()


def preprocess(multiplications: int = 0, reductions: int = 0) -> dict:
    """Offline phase: make the masks of that many fixed-point product elements (and integer degree
    reductions) now, locally and without communication (PRSS), so that the online phase only uses
    them. Optional: masks missing later are made on demand. Returns {"seconds", "cpu_seconds"}."""
    return _runtime.current().preprocess(multiplications, reductions)


def is_initialized() -> bool:
    """True after init()."""
    return bool(_runtime._current)


def get_world_size() -> int:
    """Number of parties."""
    return _runtime.current().n


def get_rank() -> int:
    """This process's party id (0 when all parties are simulated here)."""
    rt = _runtime.current()
    return rt.me if rt.me is not None else 0


def cryptensor(x: Any, src: int = 0) -> MPCTensor:
    """Secret-share x, provided by party src (other parties' x only gives the shape, or None)."""
    return MPCTensor.from_plain(x, src)


def __getattr__(name: str) -> Any:
    if name in ("nn", "linear_model", "stats"):
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(name)

from . import psi  # noqa: E402,F401  (mpc_ml.psi: private set intersection)
from . import secagg  # noqa: E402,F401  (mpc_ml.secagg: secure aggregation)
