"""A local 3-party TCP deployment started in threads: whole, or disturbed by a stray connection to party 0's port."""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import Callable

from mpc_ml.launcher import load_key, load_peers, write_local_deployment
from mpc_ml.runtime import Stats
from mpc_ml.transport import TcpComm


def start_up(tmp_path: Path, connect_timeout: float, stray_does: Callable[[socket.socket], None] | None = None
             ) -> dict[int, object]:
    """Each party's TcpComm (or the exception its start-up raised) once all three started; with `stray_does`,
    party 0 starts first, a stray connects to its port and does that (perhaps nothing), then the others start."""
    peers = load_peers(write_local_deployment(3, tmp_path))
    session = bytes.fromhex(peers["session"])
    results: dict[int, object] = {}

    def party(i: int) -> None:
        key = load_key(tmp_path / f"party{i}.key", i)
        try:
            results[i] = TcpComm(i, peers["parties"], bytes.fromhex(key["kx_secret"]), session, Stats(),
                                 timeout=4.0, connect_timeout=connect_timeout)
        except Exception as exc:  # noqa: BLE001  (returned to the test, which asserts on it)
            results[i] = exc

    threads = [threading.Thread(target=party, args=(i,), daemon=True) for i in range(3)]
    stray = None
    if stray_does is not None:
        threads[0].start()
        for _ in range(200):  # until party 0 listens
            try:
                stray = socket.create_connection(("127.0.0.1", peers["parties"][0]["port"]), timeout=1)
                break
            except OSError:
                threading.Event().wait(0.02)
        assert stray is not None, "party 0 never listened"
        stray_does(stray)
    for t in threads:
        if not t.is_alive() and t.ident is None:
            t.start()
    for t in threads:
        t.join(15)
    if stray is not None:
        stray.close()
    return results


def start_up_with_stray(tmp_path: Path, stray_does: Callable[[socket.socket], None], connect_timeout: float) -> dict[int, object]:
    """Party 0 starts listening, a stray connects to its port and does `stray_does`, then parties 1 and 2 start;
    returns each party's TcpComm (closed again) or the exception its start-up raised."""
    results = start_up(tmp_path, connect_timeout, stray_does)
    for r in results.values():
        if isinstance(r, TcpComm):
            r.close()
    return results
