"""TCP channels between parties: X25519-authenticated, AES-GCM-encrypted, length-prefixed frames.

Keys: each party has a static X25519 key (public half in the peers file). A channel's keys are
HKDF(X25519(own secret, peer public), salt = both sides' fresh nonces), one per direction, so
only the two key holders can read or write it and old traffic cannot be replayed; the dialling side's
first frame confirms its key, so a connection that only claims a party's id (its hello needs no key)
is dropped at start-up instead of taking that party's place. Frames carry a
64-bit round number checked by the receiver, so parties that run different programs fail loudly.
Each round is one select loop that writes and reads all sockets (no threads: measured here, thread
hand-offs cost milliseconds per round on a loaded machine); a party that closes its connection
raises PartyDied, one that sends nothing within `timeout` seconds raises PartyTimeout.
"""

from __future__ import annotations

import os
import select
import socket
import struct
import time

import numpy as np
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import InputError, InputSizeError, MPCError, PartyDied, PartyTimeout, ProtocolError
from .runtime import Codec, Stats

MAGIC = b"QMPC\x00\x01"
CONFIRM = b"QMPC-confirm"  # the dialling side's first encrypted frame: it holds its party's key
MAX_FRAME = 1 << 31
MAX_DIMS = 8
SOCKET_BUFFER = 4 << 20  # Linux caps it at net.core.wmem_max (4 MiB here) and doubles it
HANDSHAKE_TIMEOUT = 2.0  # seconds an accepted connection has to send its hello (peers send it at once)


class FrameSizeError(ProtocolError):
    """A frame whose header announces another size than the round fixes (refused before its body is read)."""

    def __init__(self, peer: int, size: int, expected: int) -> None:
        super().__init__(f"party {peer} sent a frame of {size} bytes where this round's is {expected}", peer)
        self.size, self.expected = size, expected


def _recv_exact(sock: socket.socket, n: int, deadline: float) -> bytes | None:
    """n bytes from a blocking socket before `deadline` (time.monotonic), None at EOF; socket.timeout when the
    deadline passes, however the bytes trickle in (each recv waits only for what is left of it)."""
    buf = bytearray()
    while len(buf) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("the handshake's deadline passed")
        sock.settimeout(left)
        chunk = sock.recv(min(n - len(buf), 1 << 22))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def _confirmed(ch: "Channel", deadline: float) -> bool:
    """Whether the dialling side's first frame (before `deadline`) is CONFIRM under the channel's
    keys, i.e. it holds the X25519 key of the party it claims to be (a hello alone needs no key)."""
    size = len(CONFIRM) + 16  # AES-GCM tag
    try:
        head = _recv_exact(ch.sock, 4, deadline)
        body = _recv_exact(ch.sock, size, deadline) if head == struct.pack("!I", size) else None
        if body is None:
            return False
        ch.inbuf += head + body
        return ch.pop_frame() == CONFIRM
    except (OSError, ProtocolError):
        return False


class Channel:
    """One authenticated, encrypted, ordered connection to a peer (frames: 4-byte length, AES-GCM body)."""

    def __init__(self, peer: int, sock: socket.socket, send_key: bytes, recv_key: bytes) -> None:
        self.peer = peer
        self.sock = sock
        self._send = AESGCM(send_key)
        self._recv = AESGCM(recv_key)
        self._send_ctr = 0
        self._recv_ctr = 0
        self.inbuf = bytearray()
        self.outbuf = bytearray()
        self.closed = False
        self.expect: int | None = None  # the exact size of the next frame's body when the round fixes it

    def queue(self, payload: bytes) -> int:
        """Encrypt one frame into the output buffer; returns its size on the wire."""
        nonce = self._send_ctr.to_bytes(12, "big")
        self._send_ctr += 1
        ct = self._send.encrypt(nonce, payload, None)
        self.outbuf += struct.pack("!I", len(ct))
        self.outbuf += ct
        return 4 + len(ct)

    def pop_frame(self) -> bytes | None:
        """Decrypt and remove the first complete frame of the input buffer, if there is one."""
        if len(self.inbuf) < 4:
            return None
        (length,) = struct.unpack("!I", self.inbuf[:4])
        if length > MAX_FRAME or length < 16:
            raise ProtocolError(f"party {self.peer} sent a frame of {length} bytes", self.peer)
        if self.expect is not None and length != self.expect:  # refused from its header, before its body is buffered
            raise FrameSizeError(self.peer, length, self.expect)
        if len(self.inbuf) < 4 + length:
            return None
        nonce = self._recv_ctr.to_bytes(12, "big")
        self._recv_ctr += 1
        try:
            with memoryview(self.inbuf) as view:  # decrypted in place of a copy of the body
                plain = self._recv.decrypt(nonce, view[4:4 + length], None)
        except Exception:
            raise ProtocolError(f"frame from party {self.peer} failed authentication", self.peer) from None
        if len(self.inbuf) == 4 + length:
            self.inbuf = bytearray()  # the common case: nothing follows, no memmove
        else:
            del self.inbuf[:4 + length]
        return plain

    def read_some(self) -> None:
        """Move available bytes from the socket into the input buffer (EOF marks the channel closed)."""
        try:
            chunk = self.sock.recv(1 << 22)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        if not chunk:
            self.closed = True
        self.inbuf += chunk

    def write_some(self) -> None:
        """Send as much of the output buffer as the socket takes."""
        try:
            sent = self.sock.send(self.outbuf)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            raise PartyDied(f"party {self.peer} is unreachable: {exc}", self.peer) from None
        del self.outbuf[:sent]

    def close(self) -> None:
        """Close the socket."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def _derive(secret: X25519PrivateKey, peer_pub: bytes, lo: int, hi: int, nonces: bytes,
            session: bytes) -> tuple[bytes, bytes]:
    shared = secret.exchange(X25519PublicKey.from_public_bytes(peer_pub))
    okm = HKDF(algorithm=hashes.SHA256(), length=64, salt=nonces,
               info=b"quorum-mpc-channel" + session + struct.pack("!HH", lo, hi)).derive(shared)
    return okm[:32], okm[32:]  # lo -> hi, hi -> lo


class TcpComm:
    """This party's channels to all others, implementing the runtime's Comm interface."""

    def __init__(self, me: int, peers: list[dict], kx_secret: bytes, session: bytes, stats: Stats,
                 timeout: float = 30.0, connect_timeout: float = 30.0, listener: socket.socket | None = None) -> None:
        self.n = len(peers)
        self.me = me
        self.stats = stats
        self.timeout = timeout
        self.round = 0
        self._secret = X25519PrivateKey.from_private_bytes(kx_secret)
        self._peers = peers
        self._session = session
        self.channels: dict[int, Channel] = {}
        self._unconfirmed: set[int] = set()  # ids claimed by connections that failed key confirmation
        try:
            self._connect(connect_timeout, listener)
        except BaseException:  # a start-up that fails keeps no connection open
            self.close()
            raise

    # ------------------------------------------------------------------ setup
    def _initiate(self, sock: socket.socket, peer: int, deadline: float) -> Channel:
        """Handshake as the dialling side (the higher party id dials the lower), before `deadline`."""
        mine = os.urandom(32)
        sock.sendall(MAGIC + struct.pack("!HH", self.me, peer) + mine)
        reply = _recv_exact(sock, len(MAGIC) + 4 + 32, deadline)
        if reply is None or reply[:len(MAGIC)] != MAGIC:
            raise ProtocolError(f"party {peer} did not answer the handshake", peer)
        frm, to = struct.unpack("!HH", reply[len(MAGIC):len(MAGIC) + 4])
        if frm != peer or to != self.me:
            raise ProtocolError(f"the process at party {peer}'s address says it is party {frm}", peer)
        k_lohi, k_hilo = _derive(self._secret, bytes.fromhex(self._peers[peer]["kx_public"]), peer, self.me,
                                 mine + reply[-32:], self._session)
        ch = Channel(peer, sock, k_hilo, k_lohi)
        ch.queue(CONFIRM)  # proves to the listening side that this connection holds party me's key
        sock.sendall(ch.outbuf)
        ch.outbuf.clear()
        return ch

    def _accept_one(self, srv: socket.socket, deadline: float) -> None:
        srv.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            sock, _ = srv.accept()
        except socket.timeout:
            missing = [j for j in range(self.me + 1, self.n) if j not in self.channels]
            fakes = sorted(self._unconfirmed & set(missing))
            note = f" (connections claiming to be party {', '.join(map(str, fakes))} failed key confirmation)" \
                if fakes else ""
            raise PartyTimeout(f"parties {missing} did not connect within the start-up timeout{note}",
                               missing[0] if missing else None) from None
        # one deadline for the whole handshake (hello and key confirmation), however slowly its bytes trickle in
        handshake = min(time.monotonic() + HANDSHAKE_TIMEOUT, max(deadline, time.monotonic() + 0.1))
        try:
            hello = _recv_exact(sock, len(MAGIC) + 4 + 32, handshake)
        except OSError:  # a silent, slow or broken stray connection: drop it, keep accepting
            hello = None
        if hello is None or hello[:len(MAGIC)] != MAGIC:
            sock.close()
            return
        frm, to = struct.unpack("!HH", hello[len(MAGIC):len(MAGIC) + 4])
        if to != self.me or not self.me < frm < self.n or frm in self.channels:
            sock.close()
            return
        mine = os.urandom(32)
        try:
            sock.settimeout(max(0.01, handshake - time.monotonic()))
            sock.sendall(MAGIC + struct.pack("!HH", self.me, frm) + mine)
        except OSError:  # the connection was reset after its hello (a stray that hung up): drop it, keep accepting
            sock.close()
            return
        nonces = hello[-32:] + mine
        lo, hi = self.me, frm
        k_lohi, k_hilo = _derive(self._secret, bytes.fromhex(self._peers[frm]["kx_public"]), lo, hi, nonces,
                                 self._session)
        ch = Channel(frm, sock, k_lohi, k_hilo)
        if not _confirmed(ch, handshake):  # a connection that only claims to be party frm: drop it, keep accepting
            self._unconfirmed.add(frm)
            sock.close()
            return
        self.channels[frm] = ch

    def _connect(self, connect_timeout: float, listener: socket.socket | None) -> None:
        deadline = time.monotonic() + connect_timeout
        me = self._peers[self.me]
        if listener is not None:
            srv = listener
        else:
            srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                srv.bind((me["host"], int(me["port"])))
            except OSError as exc:
                srv.close()
                raise MPCError(f"party {self.me} cannot listen on {me['host']}:{me['port']} ({exc.strerror}): is another "
                               "run, or another program, using that port?") from None
            srv.listen(self.n)
        try:
            for j in range(self.me):
                self.channels[j] = self._dial(j, deadline)
            while len(self.channels) < self.n - 1:
                self._accept_one(srv, deadline)
        finally:
            srv.close()
        for ch in self.channels.values():
            ch.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for opt in (socket.SO_SNDBUF, socket.SO_RCVBUF):  # whole share messages fit in the kernel
                ch.sock.setsockopt(socket.SOL_SOCKET, opt, SOCKET_BUFFER)
            ch.sock.setblocking(False)
        got = self._transfer({j: b"ready" for j in self.channels}, set(self.channels), len(b"ready"))
        for j, msg in got.items():
            if msg != b"ready":
                raise ProtocolError(f"party {j} failed channel confirmation", j)

    def _dial(self, j: int, deadline: float) -> Channel:
        peer = self._peers[j]
        while True:
            sock = None
            try:
                sock = socket.create_connection((peer["host"], int(peer["port"])), timeout=2.0)
                sock.settimeout(max(0.1, deadline - time.monotonic()))
                return self._initiate(sock, j, max(deadline, time.monotonic() + 0.1))
            except OSError:  # refused, timed out or reset: close this attempt and try again until the deadline
                if sock is not None:
                    sock.close()
                if time.monotonic() > deadline:
                    raise PartyTimeout(f"could not connect to party {j} at {peer['host']}:{peer['port']}", j) from None
                time.sleep(0.05)
            except BaseException:  # a ProtocolError from the handshake: no retry, and the socket is not kept
                if sock is not None:
                    sock.close()
                raise

    # ------------------------------------------------------------------ messages
    def _transfer(self, sends: dict[int, bytes], expect: set[int],
                  size: int | dict[int, int] | None = None) -> dict[int, bytes]:
        """Send one frame to each peer in `sends` and receive one from each in `expect`, interleaved
        in one select loop (no thread hand-offs; large frames in both directions cannot deadlock).
        `size`: the exact payload size every expected frame has, or each peer's (a frame announcing another is
        refused from its header, so a peer cannot make this party buffer up to MAX_FRAME bytes)."""
        for j, payload in sends.items():  # each frame goes to the kernel as soon as it is sealed
            self.stats.bytes_sent += self.channels[j].queue(payload)
            self.channels[j].write_some()
        for j in expect:
            want = size.get(j) if isinstance(size, dict) else size
            self.channels[j].expect = None if want is None else want + 16  # AES-GCM tag
        try:
            return self._receive(expect)
        finally:
            for j in expect:
                self.channels[j].expect = None

    def _receive(self, expect: set[int]) -> dict[int, bytes]:
        """One frame from each peer in `expect` (and the output buffers flushed), within the timeout."""
        got: dict[int, bytes] = {}
        deadline = time.monotonic() + self.timeout
        while True:
            for j in expect - got.keys():
                frame = self.channels[j].pop_frame()
                if frame is not None:
                    got[j] = frame
                elif self.channels[j].closed:
                    raise PartyDied(f"party {j} closed its connection", j)
            writing = [ch.sock for ch in self.channels.values() if ch.outbuf]
            if len(got) == len(expect) and not writing:
                return got
            left = deadline - time.monotonic()
            if left <= 0:
                late = sorted(expect - got.keys()) or sorted(ch.peer for ch in self.channels.values() if ch.outbuf)
                raise PartyTimeout(f"party {late[0]} sent nothing for {self.timeout:g} s "
                                   f"(waiting for parties {late})", late[0])
            # only the peers this round still waits for: another peer's bytes stay in the kernel (its flow control
            # bounds them) until a round expects that peer, whose frame header is then checked before its body
            reading = [self.channels[j].sock for j in expect - got.keys() if not self.channels[j].closed]
            readable, writable, _ = select.select(reading, writing, [], left)
            by_sock = {ch.sock: ch for ch in self.channels.values()}
            for sock in readable:
                by_sock[sock].read_some()
            for sock in writable:
                by_sock[sock].write_some()

    def send_raw(self, j: int, payload: bytes) -> None:
        """Send a setup message to party j."""
        self._transfer({j: payload}, set())

    def recv_raw(self, j: int, size: int) -> bytes:
        """Receive a setup message of `size` bytes from party j (another size is refused from its frame header)."""
        return self._transfer({}, {j}, size)[j]

    def _check_round(self, j: int, data: bytes) -> bytes:
        if len(data) < 8:
            raise ProtocolError(f"party {j} sent a truncated message", j)
        (rnd,) = struct.unpack("!Q", data[:8])
        if rnd != self.round:
            raise ProtocolError(f"party {j} is at protocol round {rnd}, this party at {self.round}: "
                                f"the parties are not running the same program", j)
        return memoryview(data)[8:]  # no copy of a large body

    def exchange(self, local: np.ndarray, dests: list[list[int]], codec: Codec, shape: tuple[int, ...]) -> np.ndarray:
        """Send local[0] to dests[me]; receive from every j whose dests include me."""
        self.round += 1
        self.stats.rounds += 1
        me = self.me
        body = struct.pack("!Q", self.round) + codec.encode(local[0])
        sends = {d: body for d in dests[me] if d != me}
        expect = {j for j in range(self.n) if j != me and me in dests[j]}
        got = self._transfer(sends, expect, len(body))  # every party's body: this round's number, one share
        out = np.empty((self.n,) + local.shape[1:], dtype=local.dtype)
        for j in range(self.n):
            if j != me and j not in got:
                out[j] = 0
        out[me] = local[0]
        for j, data in got.items():
            try:
                out[j] = codec.decode(self._check_round(j, data), tuple(shape))
            except ValueError as exc:
                raise ProtocolError(f"party {j} sent a malformed message: {exc}", j) from None
        return out

    def exchange_each(self, sends: list[dict[int, np.ndarray]],
                      expect: list[dict[int, int]]) -> list[dict[int, np.ndarray]]:
        """Send sends[0][d] to each d; receive expect[0][j] words from each j (this round's number first)."""
        self.round += 1
        self.stats.rounds += 1
        me, head = self.me, struct.pack("!Q", self.round)
        bodies = {d: head + np.ascontiguousarray(arr, dtype=np.uint64).tobytes()
                  for d, arr in sends[0].items() if d != me}
        want = {j: count for j, count in expect[0].items() if j != me}
        got = self._transfer(bodies, set(want), {j: 8 + 8 * count for j, count in want.items()})
        out = {}
        for j, data in got.items():
            body = self._check_round(j, data)
            if len(body) != 8 * want[j]:
                raise ProtocolError(f"party {j} sent a malformed message: {len(body)} bytes, expected {8 * want[j]}", j)
            out[j] = np.frombuffer(body, dtype=np.uint64).copy()
        return [out]

    def scatter(self, src: int, per_dest: np.ndarray | None, codec: Codec, shape: tuple[int, ...] | None) -> np.ndarray:
        """src sends per_dest[j] (with its shape) to each j; returns this party's piece."""
        self.round += 1
        self.stats.rounds += 1
        if self.me == src:
            dims = tuple(per_dest.shape[2:]) if codec.ring is not None else tuple(per_dest.shape[1:])
            head = struct.pack("!QB", self.round, len(dims)) + b"".join(struct.pack("!Q", d) for d in dims)
            self._transfer({j: head + codec.encode(per_dest[j]) for j in range(self.n) if j != src}, set())
            return per_dest[src][None]
        size = None if shape is None else 8 + 1 + 8 * len(shape) + codec.wire_size(tuple(shape))  # known: refused from its header
        try:
            data = self._check_round(src, self._transfer({}, {src}, size)[src])
        except FrameSizeError as exc:
            if exc.party != src:
                raise
            raise InputSizeError(f"party {src} shared a tensor of another size than the shape {tuple(shape)} this "
                                 f"party expected (a message of {exc.size - 16} bytes for {size}): every party must "
                                 "pass the same shape", src) from None
        try:
            nd = data[0]
            if nd > MAX_DIMS or len(data) < 1 + 8 * nd:
                raise ValueError(f"bad shape header ({nd} dims)")
            dims = struct.unpack(f"!{nd}Q", data[1:1 + 8 * nd])
            if any(d > (1 << 31) for d in dims):
                raise ValueError(f"implausible shape {dims}")
            if shape is not None and tuple(shape) != tuple(dims):
                raise InputError(f"party {src} shared a tensor of shape {tuple(dims)}, this party expected {tuple(shape)}")
            return codec.decode(data[1 + 8 * nd:], tuple(dims))[None]
        except (ValueError, IndexError, struct.error) as exc:
            if isinstance(exc, InputError):
                raise
            raise ProtocolError(f"party {src} sent a malformed input message: {exc}", src) from None

    def close(self) -> None:
        """Close all channels."""
        for ch in self.channels.values():
            ch.close()
