"""Servers in threads for the tests that talk to PSI peers through real sockets: a PsiServer, or a fake one."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from mpc_ml.psi import PsiServer, transport


@pytest.fixture(autouse=True)
def _quiet_psi_log() -> Iterator[None]:
    """Refusals and accept failures are logged once per connection (hundreds of lines in the review tests); a module
    that imports this autouse fixture keeps its output readable."""
    logger = logging.getLogger("mpc_ml.psi.transport")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    yield
    logger.setLevel(level)


def serve_in_thread(handle: Callable[[bytes], list[bytes]], *, connections: int | None, timeout: float,
                    max_frame: int = transport.MAX_FRAME) -> tuple[int, threading.Thread, list[BaseException]]:
    """transport.serve on a free port in a thread: (port, thread, outcome list holding its exception if any)."""
    ready, ports, outcome = threading.Event(), [], []

    def run() -> None:
        try:
            transport.serve(handle, "127.0.0.1", 0, connections=connections, timeout=timeout,
                            ready=lambda port: (ports.append(port), ready.set()), max_frame=max_frame)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            outcome.append(exc)
            ready.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(5), "the server did not start listening"
    assert ports, f"the server failed before listening: {outcome}"
    return ports[0], thread, outcome


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
