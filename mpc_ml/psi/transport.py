"""Length-prefixed frames over TCP, with timeouts and size limits, for the PSI roles."""

from __future__ import annotations

import errno
import logging
import socket
import struct
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

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


def _too_slow(got: int, size: int, what: str, limit: float | None) -> PsiError:
    """The error for a peer that did not send a whole frame within `limit` seconds."""
    if got == 0:
        return PsiError(f"peer sent nothing for {limit} s while {got} of {size} bytes of {what} were read")
    return PsiError(f"peer sent only {got} of {size} bytes of {what} in {limit} s")


def _recv_exact(sock: socket.socket, size: int, what: str, deadline: float | None, limit: float | None,
                reserve: Callable[[int], None] | None = None) -> bytes:
    """Exactly `size` bytes by `deadline` (time.monotonic; None: no limit), or PsiError if the peer
    closes or is too slow.

    The deadline covers the whole frame, not each recv: a peer that trickles a byte now and then
    would otherwise hold a reader (and one of `serve`'s workers) forever.
    Memory grows with what arrives, not with what is announced; `reserve(n)`, if given, is called with the length
    of each piece as it arrives (pieces of at most RESERVED_CHUNK bytes: a server's byte budget charges what arrived).
    """
    buf = bytearray()  # one buffer: a frame trickled a byte per recv costs its bytes, not an object per byte
    while len(buf) < size:
        got = len(buf)
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise _too_slow(got, size, what, limit)
            sock.settimeout(left)
        try:
            chunk = sock.recv(min(size - got, 1 << 20 if reserve is None else RESERVED_CHUNK))
        except TimeoutError as exc:
            raise _too_slow(got, size, what, limit) from exc
        except OSError as exc:
            raise PsiError(f"peer connection failed after {got} of {size} bytes of {what}: {exc}") from exc
        if not chunk:
            raise PsiError(f"peer closed the connection after {got} of {size} bytes of {what}")
        if reserve is not None:
            reserve(len(chunk))
        buf += chunk
    return bytes(buf)


def recv_frame(sock: socket.socket, max_size: int = MAX_FRAME, reserve: Callable[[int], None] | None = None) -> bytes:
    """Receive one frame (limited to `max_size` bytes), all of it within the socket's timeout; `reserve`: see
    `_recv_exact` (called as the body arrives, not for the size the peer announces)."""
    limit = sock.gettimeout()
    deadline = None if limit is None else time.monotonic() + limit
    try:
        (size,) = struct.unpack(">Q", _recv_exact(sock, 8, "a frame header", deadline, limit))
        if size > max_size:
            raise PsiError(f"peer announced a frame of {size} bytes, more than the limit of {max_size}")
        return _recv_exact(sock, size, "a frame", deadline, limit, reserve)
    finally:
        sock.settimeout(limit)


WORKERS = 32  # connections answered at once: idle or slow peers hold one each, not the whole server
QUEUED = 2 * WORKERS  # accepted connections waiting for a worker; more wait in the kernel's listen backlog
BUDGET_FRAMES = 4  # request bytes read at once by all workers together, in largest frames
RESERVED_CHUNK = 1 << 16  # a budgeted read takes at most this many bytes at a time (charged as they arrive)
TRANSIENT_ACCEPT = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM, errno.ECONNABORTED, errno.EPROTO,
                    errno.EPERM, errno.EINTR, errno.ENETDOWN, errno.ENOPROTOOPT, errno.EHOSTDOWN, errno.ENONET,
                    errno.EHOSTUNREACH, errno.EOPNOTSUPP, errno.ENETUNREACH}  # accept(2): retry, the server goes on
MAX_TIMEOUT = 1e6  # seconds: socket timeouts overflow above ~9.2e9


def check_timeout(timeout: object) -> float:
    """A timeout is a positive number of seconds up to MAX_TIMEOUT; PsiError naming it otherwise."""
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not 0 < timeout <= MAX_TIMEOUT:
        raise PsiError(f"timeout must be a positive number of seconds up to {MAX_TIMEOUT:g}, got {timeout!r}")
    return float(timeout)


class _Budget:
    """Bytes of request frames the workers hold at once, charged as they arrive. A reader that holds nothing yet may
    wait for room until its deadline; one that holds part of a frame is refused at once when the budget is short
    (waiting while holding would let concurrent large requests hold each other until all time out)."""

    def __init__(self, total: int) -> None:
        self.free = total
        self._changed = threading.Condition()

    def take(self, size: int, wait_until: float | None) -> None:
        """Hold `size` more bytes: waiting until `wait_until` (time.monotonic) at most, or not at all (None)."""
        with self._changed:
            while self.free < size:
                left = None if wait_until is None else wait_until - time.monotonic()
                if left is None or left <= 0:
                    raise PsiError("the server is reading other large requests: try again later")
                self._changed.wait(left)
            self.free -= size

    def give(self, size: int) -> None:
        """Release `size` bytes."""
        with self._changed:
            self.free += size
            self._changed.notify_all()


def serve(
    handle: Callable[[bytes], list[bytes]],
    host: str,
    port: int,
    *,
    connections: int | None,
    timeout: float,
    ready: Callable[[int], None] | None,
    max_frame: int = MAX_FRAME,
) -> None:
    """Accept connections and answer up to WORKERS at once: read one frame, send the frames `handle` returns.

    A bad request or a failed peer ends that connection only (the client gets an error frame
    when it can); `connections` bounds how many are served (None: forever). `timeout` bounds, from the connection's
    acceptance, the time its whole request frame may take to arrive (waiting for a worker included), and then the
    sending of each reply; a request frame announced longer than `max_frame` bytes is refused from its length. At
    most QUEUED accepted connections wait for a worker, and the workers hold at most BUDGET_FRAMES largest frames of
    requests at once, charged as the bytes arrive (announcing large frames, or sending nothing, holds nothing; a
    request holding nothing yet waits for room until its deadline, one holding part of a frame is refused at once,
    "try again later", rather than waiting while holding). Stopping (an exception, Ctrl-C) closes the open
    connections at once; after `connections` connections the served ones are finished first.
    """
    timeout = check_timeout(timeout)
    budget, slots = _Budget(BUDGET_FRAMES * max_frame), threading.BoundedSemaphore(WORKERS + QUEUED)
    live: set[socket.socket] = set()
    guard = threading.Lock()

    def answer(conn: socket.socket, peer: object, deadline: float) -> None:
        try:
            _answer(handle, conn, peer, deadline, timeout, max_frame, budget)
        finally:
            with guard:
                live.discard(conn)
            slots.release()

    with socket.create_server((host, port)) as listener, ThreadPoolExecutor(WORKERS) as pool:
        listener.settimeout(None)  # not a process-wide default timeout: an idle spell is no error
        if ready is not None:
            ready(listener.getsockname()[1])
        served = 0
        try:
            while connections is None or served < connections:
                slots.acquire()
                try:
                    conn, peer = listener.accept()
                except OSError as exc:
                    slots.release()
                    if exc.errno not in TRANSIENT_ACCEPT:  # e.g. a closed listener: retrying would spin forever
                        raise
                    log.warning("PSI server cannot accept a connection: %s", exc)  # e.g. out of descriptors (a flood)
                    time.sleep(0.1)
                    continue
                served += 1
                with guard:
                    live.add(conn)
                pool.submit(answer, conn, peer, time.monotonic() + timeout)
        except BaseException:  # stopping (Ctrl-C, an error): idle or slow peers must not hold the shutdown
            with guard:
                for conn in live:
                    try:
                        conn.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
            raise


def _answer(handle: Callable[[bytes], list[bytes]], conn: socket.socket, peer: object, deadline: float,
            timeout: float, max_frame: int, budget: _Budget) -> None:
    """One connection: its request (by `deadline`), the replies (each within `timeout`) or an error frame; then the
    connection is closed."""
    held = 0

    def hold(size: int) -> None:  # a piece of the request arrived: charge it (waiting only while holding nothing)
        nonlocal held
        budget.take(size, deadline if held == 0 else None)
        held += size

    with conn:
        refusal = None
        try:
            left = deadline - time.monotonic()
            if left <= 0:
                raise PsiError("the request waited for a worker longer than the timeout")
            conn.settimeout(left)
            request = recv_frame(conn, max_frame, hold)
            conn.settimeout(timeout)
            for frame in handle(request):
                send_frame(conn, frame)
        except PsiError as exc:
            refusal = str(exc)  # the exception (and the frames it holds, the request's bytes) ends here
        except Exception:  # a bug must not pass silently, nor stop the other connections
            log.exception("PSI request from %s failed", peer)
        finally:
            budget.give(held)  # before any drain: a refused request holds nothing while its peer is drained
            held = 0
        if refusal is not None:
            log.warning("PSI request from %s refused: %s", peer, refusal)
            try:
                send_frame(conn, ErrorMessage(refusal).to_bytes())
                _drain(conn, deadline)
            except (PsiError, OSError):
                pass  # the peer is gone; nothing more to tell it


def _drain(conn: socket.socket, deadline: float) -> None:
    """Read and drop what the peer still sends (a refused request's rest), until the request's deadline at most:
    closing with unread data would reset the connection, and the peer would see the reset instead of the error."""
    conn.shutdown(socket.SHUT_WR)
    while (left := deadline - time.monotonic()) > 0:
        conn.settimeout(left)
        if not conn.recv(RESERVED_CHUNK):  # small reads: many drains at once stay within a few MiB
            return


def exchange(
    host: str, port: int, request: bytes, replies: int, *, timeout: float, max_frame: int = MAX_FRAME
) -> list[bytes]:
    """Connect, send one frame, receive `replies` frames (a peer error frame raises PsiError with
    its text sanitised); `timeout` bounds the connection, the sending, and the arrival of each
    whole reply frame; a reply announced longer than `max_frame` bytes is refused from its length."""
    timeout = check_timeout(timeout)
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        raise PsiError(f"cannot connect to {host}:{port}: {exc}") from exc
    with sock:
        send_frame(sock, request)
        return [raise_if_error(recv_frame(sock, max_frame)) for _ in range(replies)]
