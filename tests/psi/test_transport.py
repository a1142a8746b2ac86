"""PSI over TCP between two processes, and failing peers: clear errors, no hang."""

from __future__ import annotations

import socket
import struct
import subprocess
import sys
from collections.abc import Iterator

import pytest

from mpc_ml.psi import PsiClient, PsiError, PsiServer
from tests.psi.serving import raw_server, serving

SERVER_SCRIPT = """
import sys
from mpc_ml.psi import PsiServer
server = PsiServer([f"user{i}" for i in range(100)], reveal=sys.argv[1])
server.serve(port=0, connections=2, timeout=10, ready=lambda port: print(port, flush=True))
"""


@pytest.mark.parametrize("reveal", ["items", "size"])
def test_server_and_client_in_two_processes(reveal: str) -> None:
    proc = subprocess.Popen([sys.executable, "-c", SERVER_SCRIPT, reveal], stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline())  # type: ignore[union-attr]
        client = PsiClient(["user3", "user99", "nobody"], reveal=reveal)
        result = client.query("127.0.0.1", port, timeout=10)
        assert result.size == 2
        assert result.items == (["user3", "user99"] if reveal == "items" else None)
        setup = PsiClient.fetch_setup("127.0.0.1", port, timeout=10)
        assert setup.items.count == 100
        assert proc.wait(timeout=20) == 0
    finally:
        proc.kill()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "closed the connection after 0 of 8 bytes"),
        (struct.pack(">Q", 100) + b"x" * 10, "after 10 of 100 bytes"),
        (struct.pack(">Q", 1 << 40), "more than the limit"),
        (2 * (struct.pack(">Q", 3) + b"abc"), "response: truncated header"),
    ],
)
def test_a_server_that_fails_gives_a_clear_error(raw: bytes, message: str) -> None:
    port, thread = raw_server(raw)
    with pytest.raises(PsiError, match=message):
        PsiClient(["a"]).query("127.0.0.1", port, timeout=5)
    thread.join(5)


def test_a_silent_server_times_out() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    with listener, pytest.raises(PsiError, match="sent nothing for 0.3 s"):
        PsiClient(["a"]).query("127.0.0.1", listener.getsockname()[1], timeout=0.3)


def test_no_server_is_a_clear_error() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()
    with pytest.raises(PsiError, match="cannot connect"):
        PsiClient(["a"]).query("127.0.0.1", port, timeout=2)


@pytest.fixture
def live_server() -> Iterator[int]:
    with serving(PsiServer(["a", "b"]), connections=3, timeout=2) as port:
        yield port


def test_server_survives_bad_clients(live_server: int) -> None:
    with socket.create_connection(("127.0.0.1", live_server)) as sock:  # disconnects mid-frame
        sock.sendall(struct.pack(">Q", 1000) + b"partial")
    with socket.create_connection(("127.0.0.1", live_server)) as sock:  # connects and says nothing
        pass
    assert PsiClient(["b", "z"]).query("127.0.0.1", live_server, timeout=5).items == ["b"]


def test_refusal_reaches_the_client(live_server: int) -> None:
    with socket.create_connection(("127.0.0.1", live_server)) as sock:
        sock.sendall(struct.pack(">Q", 4) + b"junk")
    with socket.create_connection(("127.0.0.1", live_server)) as sock:
        sock.sendall(struct.pack(">Q", 6) + b"QPSI\x02\x02")
        sock.settimeout(5)
        reply = sock.recv(1000)
        assert b"wrong message kind 2" in reply
    assert PsiClient(["a"]).query("127.0.0.1", live_server, timeout=5).items == ["a"]
