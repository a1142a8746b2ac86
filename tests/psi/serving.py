"""Servers in threads for the tests that talk to PSI peers through real sockets: a PsiServer, or a fake one."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from mpc_ml.psi import PsiServer


@contextmanager
def serving(server: PsiServer, connections: int, timeout: float = 5) -> Iterator[int]:
    """`server` answering `connections` connections (each within `timeout` s) on a free port: yields the port, then
    waits for the server to finish them."""
    ready, ports = threading.Event(), []
    thread = threading.Thread(target=server.serve, kwargs={"connections": connections, "timeout": timeout,
                              "ready": lambda port: (ports.append(port), ready.set())}, daemon=True)
    thread.start()
    assert ready.wait(5), "the server did not start listening"
    yield ports[0]
    thread.join(10)
    assert not thread.is_alive(), "the server did not finish its connections"


def raw_server(behaviour: bytes) -> tuple[int, threading.Thread]:
    """A fake server on a free port that reads one request, sends `behaviour` as it is, and closes: its port and
    thread."""
    listener = socket.create_server(("127.0.0.1", 0))

    def run() -> None:
        with listener:
            conn, _ = listener.accept()
            with conn:
                conn.recv(1 << 20)
                conn.sendall(behaviour)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return listener.getsockname()[1], thread
