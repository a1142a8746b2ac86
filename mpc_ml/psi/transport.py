"""Length-prefixed frames over TCP, with timeouts and size limits, for the PSI roles."""

from __future__ import annotations

import logging
import socket
import struct
from collections.abc import Callable

from .errors import PsiError
from .messages import ErrorMessage, raise_if_error

MAX_FRAME = 1 << 31
log = logging.getLogger(__name__)


def send_frame(sock: socket.socket, data: bytes) -> None:
    """Send one frame: 8-byte big-endian length, then the data."""
    try:
        sock.sendall(struct.pack(">Q", len(data)) + data)
    except OSError as exc:
        raise PsiError(f"peer connection failed while sending: {exc}") from exc


def _recv_exact(sock: socket.socket, size: int, what: str) -> bytes:
    """Exactly `size` bytes, or PsiError if the peer closes or stalls (memory grows with what arrives)."""
    chunks, got = [], 0
    while got < size:
        try:
            chunk = sock.recv(min(size - got, 1 << 20))
        except TimeoutError as exc:
            raise PsiError(f"peer sent nothing for {sock.gettimeout()} s while {got} of {size} bytes of {what} were read") from exc
        except OSError as exc:
            raise PsiError(f"peer connection failed after {got} of {size} bytes of {what}: {exc}") from exc
        if not chunk:
            raise PsiError(f"peer closed the connection after {got} of {size} bytes of {what}")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def recv_frame(sock: socket.socket, max_size: int = MAX_FRAME) -> bytes:
    """Receive one frame (limited to `max_size` bytes)."""
    (size,) = struct.unpack(">Q", _recv_exact(sock, 8, "a frame header"))
    if size > max_size:
        raise PsiError(f"peer announced a frame of {size} bytes, more than the limit of {max_size}")
    return _recv_exact(sock, size, "a frame")


def serve(
    handle: Callable[[bytes], list[bytes]],
    host: str,
    port: int,
    *,
    connections: int | None,
    timeout: float,
    ready: Callable[[int], None] | None,
) -> None:
    """Accept connections one at a time: read one frame, send the frames `handle` returns.

    A bad request or a failed peer ends that connection only (the client gets an error frame
    when it can); `connections` bounds how many are served (None: forever).
    """
    with socket.create_server((host, port)) as listener:
        if ready is not None:
            ready(listener.getsockname()[1])
        served = 0
        while connections is None or served < connections:
            conn, peer = listener.accept()
            served += 1
            with conn:
                conn.settimeout(timeout)
                try:
                    for frame in handle(recv_frame(conn)):
                        send_frame(conn, frame)
                except PsiError as exc:
                    log.warning("PSI request from %s refused: %s", peer, exc)
                    try:
                        send_frame(conn, ErrorMessage(str(exc)).to_bytes())
                    except PsiError:
                        pass  # the peer is gone; nothing more to tell it


def exchange(host: str, port: int, request: bytes, replies: int, *, timeout: float) -> list[bytes]:
    """Connect, send one frame, receive `replies` frames (a peer error frame raises PsiError)."""
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        raise PsiError(f"cannot connect to {host}:{port}: {exc}") from exc
    with sock:
        send_frame(sock, request)
        return [raise_if_error(recv_frame(sock)) for _ in range(replies)]
