"""Start parties: key files, the peers file, `quorum mpc run` (n local processes) and one party of a deployment.

Peers file (JSON): {"version": 1, "session": hex16, "threshold": t, "parties": [{"id", "host", "port",
"kx_public": hex32 (X25519), "sign_public": hex32 (Ed25519)}, ...]}. Key file (JSON, mode 0600):
{"id", "kx_secret": hex32, "sign_secret": hex32}; hexN is N bytes written as 2N hex digits (the
session is 32 hex digits). A party process finds them through the environment variables
QUORUM_MPC_PEERS, QUORUM_MPC_PARTY and QUORUM_MPC_KEY, which mpc_ml.init() reads.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import queue
import runpy
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from nacl.signing import SigningKey

from threshold.keystore import create_new

from .errors import InputError, PartyDied, PartyTimeout, ProtocolError
from .prss import subsets
from .runtime import Runtime, Stats, check_subsets

ENV_PEERS, ENV_PARTY, ENV_KEY, ENV_TIMEOUT = "QUORUM_MPC_PEERS", "QUORUM_MPC_PARTY", "QUORUM_MPC_KEY", "QUORUM_MPC_TIMEOUT"
ENV_BLAME = "QUORUM_MPC_BLAME"  # where a party stopped by another's failure names that party for `quorum mpc run`
PEER_FAILED = 3  # a party's exit code when another party's failure stopped it
ENV_LISTEN_FD = "QUORUM_MPC_LISTEN_FD"  # a listening socket inherited from `quorum mpc run` (no port race)


def new_key(party: int) -> tuple[dict, dict]:
    """(secret key file dict, public peers entry without host/port) for one party."""
    kx = X25519PrivateKey.generate()
    sk = SigningKey.generate()
    raw = kx.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    pub = kx.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    secret = {"id": party, "kx_secret": raw.hex(), "sign_secret": bytes(sk).hex()}
    public = {"id": party, "kx_public": pub.hex(), "sign_public": bytes(sk.verify_key).hex()}
    return secret, public


def write_secret(path: Path, data: dict) -> None:
    """Write a new key file readable by its owner only (mode 0600, whole or not at all); an existing file (perhaps
    a deployed party's key) is never replaced: FileExistsError."""
    if not create_new(path, json.dumps(data).encode("utf-8")):
        raise FileExistsError(errno.EEXIST, "file exists: a party's key file is never replaced", str(path))


def _hexfield(obj: dict, name: str, size: int, where: str) -> str:
    val = obj.get(name)
    if not isinstance(val, str):
        raise InputError(f"{where}: field {name!r} is missing or not a string")
    try:
        raw = bytes.fromhex(val)
    except ValueError:
        raise InputError(f"{where}: field {name!r} is not hex") from None
    if len(raw) != size:
        raise InputError(f"{where}: field {name!r} has {len(raw)} bytes, expected {size}")
    return val


def _exchangeable(kx_public: str, where: str) -> None:
    """A key exchange with this X25519 public key gives a shared secret: not a low-order point (whose shared
    secret is all zeros, known to anyone, which X25519 implementations refuse)."""
    try:
        X25519PrivateKey.from_private_bytes(bytes(32)).exchange(X25519PublicKey.from_public_bytes(bytes.fromhex(kx_public)))
    except ValueError:
        raise InputError(f"{where}: field 'kx_public' is a low-order X25519 point, not a key") from None


def load_peers(path: str | Path) -> dict:
    """Parse and validate a peers file; errors name the field that is wrong."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"peers file {path}: cannot read JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("version") != 1:
        raise InputError(f"peers file {path}: expected an object with version 1")
    _hexfield(data, "session", 16, f"peers file {path}")
    parties = data.get("parties")
    if not isinstance(parties, list) or len(parties) < 3:
        raise InputError(f"peers file {path}: 'parties' must list at least 3 parties")
    n = len(parties)
    t = data.get("threshold", (n - 1) // 2)
    if not isinstance(t, int) or isinstance(t, bool) or not 0 < t < n / 2:
        raise InputError(f"peers file {path}: threshold {t!r} must satisfy 0 < t < n/2")
    for i, p in enumerate(parties):
        where = f"peers file {path}, party {i}"
        if not isinstance(p, dict) or p.get("id") != i:
            raise InputError(f"{where}: entries must be objects in id order (id {i})")
        if not isinstance(p.get("host"), str) or not p["host"]:
            raise InputError(f"{where}: 'host' must be a non-empty string")
        port = p.get("port")
        if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
            raise InputError(f"{where}: 'port' must be an integer in 1..65535")
        _hexfield(p, "kx_public", 32, where)
        _exchangeable(p["kx_public"], where)
        _hexfield(p, "sign_public", 32, where)
    data["threshold"] = t
    return data


def load_key(path: str | Path, party: int) -> dict:
    """Parse a party's key file."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"key file {path}: cannot read JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("id") != party:
        raise InputError(f"key file {path}: not the key of party {party}")
    _hexfield(data, "kx_secret", 32, f"key file {path}")
    _hexfield(data, "sign_secret", 32, f"key file {path}")
    return data


def _agree_session(comm, me: int, n: int, base: bytes, frac_bits: int) -> bytes:
    """This run's signing session: a hash of the deployment's session and a fresh nonce from every
    party, cross-checked by all (evidence of one run never passes for another run's). Each party's
    precision comes with its nonce: parties that disagree are told so here, before any round (their
    shares would otherwise look forged)."""
    nonces = {me: os.urandom(32)}
    for j in range(n):
        if j != me:
            comm.send_raw(j, b"NONCE" + nonces[me] + bytes([frac_bits]))
    for j in range(n):
        if j != me:
            data = comm.recv_raw(j, 38)
            if data[:5] != b"NONCE":
                raise ProtocolError(f"party {j} sent a malformed start-up nonce", j)
            if data[37] != frac_bits:
                raise InputError(f"party {j} runs with precision {data[37]}, party {me} with {frac_bits}: every party "
                                 "must call init() with the same precision")
            nonces[j] = data[5:37]
    session = hashlib.sha256(b"quorum-mpc-run" + base + b"".join(nonces[j] for j in range(n))).digest()[:16]
    for j in range(n):
        if j != me:
            comm.send_raw(j, b"RUN" + session)
    for j in range(n):
        if j != me and comm.recv_raw(j, 3 + len(session)) != b"RUN" + session:
            raise ProtocolError(f"party {j} derived another run session: some party sent different "
                                f"start-up nonces to different parties")
    return session


def _agree_seeds(comm, me: int, n: int, t: int) -> dict[tuple[int, ...], bytes]:
    """PRSS seeds: the lowest member of each subset draws its seed and sends it to the other members."""
    seeds: dict[tuple[int, ...], bytes] = {}
    mine = [T for T in subsets(n, t) if T[0] == me]
    for T in mine:
        seeds[T] = os.urandom(32)
    for j in range(n):
        if j == me:
            continue
        out = b"".join(seeds[T] for T in mine if j in T)
        comm.send_raw(j, b"SEEDS" + out)
    for j in range(n):
        if j == me:
            continue
        expect = [T for T in subsets(n, t) if T[0] == j and me in T]
        data = comm.recv_raw(j, 5 + 32 * len(expect))
        if data[:5] != b"SEEDS":
            raise ProtocolError(f"party {j} sent malformed PRSS seeds", j)
        for k, T in enumerate(expect):
            seeds[T] = data[5 + 32 * k:5 + 32 * (k + 1)]
    _check_seeds(comm, me, n, seeds)
    return seeds


def _seed_digest(T: tuple[int, ...], seed: bytes) -> bytes:
    """What a member of subset T shows the other members of its seed (they know the seed already)."""
    return hashlib.sha256(b"quorum-mpc-prss-seed" + bytes(T) + seed).digest()


def _check_seeds(comm, me: int, n: int, seeds: dict[tuple[int, ...], bytes]) -> None:
    """Compare every seed with the other members of its subset (one round): a dealer that sent members
    different seeds would otherwise push an honest member's mask shares off the polynomial, and the
    first checked opening would name that member."""
    common = {j: sorted(T for T in seeds if j in T) for j in range(n) if j != me}
    for j, shared in common.items():
        comm.send_raw(j, b"SEEDHASH" + b"".join(_seed_digest(T, seeds[T]) for T in shared))
    for j, shared in common.items():
        data = comm.recv_raw(j, 8 + 32 * len(shared))
        if data[:8] != b"SEEDHASH":
            raise ProtocolError(f"party {j} sent a malformed PRSS seed digest", j)
        for k, T in enumerate(shared):
            if data[8 + 32 * k:8 + 32 * (k + 1)] == _seed_digest(T, seeds[T]):
                continue
            if T[0] in (j, me):  # j dealt this seed, or this party did: j equivocated or lies
                raise ProtocolError(f"party {j} holds another PRSS seed for subset {T} than this party: "
                                    f"party {j} sent different seeds or a false digest", j)
            raise ProtocolError(f"party {j} holds another PRSS seed for subset {T} than this party: its dealer, "
                                f"party {T[0]}, sent the members different seeds, or party {j} sent a false digest")


def _exit_peer_failed_on_peer_errors() -> None:
    """In a party process: an uncaught PartyDied or PartyTimeout (this party stopped because another failed or went
    silent) exits with PEER_FAILED, not 1, so that `quorum mpc run` names the party whose own error stopped the run
    whatever order their processes end in; the party the error names is left for it in $QUORUM_MPC_BLAME."""
    report = sys.excepthook

    def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        report(kind, exc, tb)
        if issubclass(kind, (PartyDied, PartyTimeout)):
            blame, party = os.environ.get(ENV_BLAME), getattr(exc, "party", None)
            if blame and isinstance(party, int):
                try:
                    (Path(blame) / f"blame{os.environ.get(ENV_PARTY, '')}").write_text(str(party))
                except OSError:
                    pass  # the launcher then names a party by the order of exits
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(PEER_FAILED)

    sys.excepthook = hook


def runtime_from_env(frac_bits: int = 24, parties: int | None = None, quorum: int | None = None) -> Runtime:
    """The TCP runtime of the party named by the environment (set by `quorum mpc run`); `parties` and `quorum`, if
    given, must be the deployment's (a script asking for 4 parties must not run with 3, without a word)."""
    from .transport import TcpComm

    _exit_peer_failed_on_peer_errors()
    peers = load_peers(os.environ[ENV_PEERS])
    try:
        me = int(os.environ.get(ENV_PARTY, ""))
    except ValueError:
        raise InputError(f"{ENV_PARTY} must be a party index") from None
    n, t = len(peers["parties"]), peers["threshold"]
    if parties is not None and parties != n:
        raise InputError(f"init(parties={parties}) but this deployment has {n} parties (quorum mpc run -n {n})")
    if quorum is not None and quorum != t + 1:
        raise InputError(f"init(quorum={quorum}) but this deployment opens values with {t + 1} parties")
    check_subsets(n, t)
    if not 0 <= me < n:
        raise InputError(f"party index {me} is out of range: the peers file has parties 0..{n - 1}")
    key = load_key(os.environ.get(ENV_KEY, ""), me)
    mine = peers["parties"][me]
    if mine["kx_public"] != _public_of(key["kx_secret"]):
        raise InputError(f"key file does not match party {me}'s public key in the peers file")
    session = bytes.fromhex(peers["session"])
    stats = Stats()
    timeout = _env_timeout()
    listener = _inherited_listener()
    comm = TcpComm(me, peers["parties"], bytes.fromhex(key["kx_secret"]), session, stats, timeout=timeout,
                   connect_timeout=max(timeout, 30.0), listener=listener)
    try:  # a start-up that fails after connecting keeps no connection open
        session = _agree_session(comm, me, n, session, frac_bits)
        seeds = _agree_seeds(comm, me, n, t)
        signer = SigningKey(bytes.fromhex(key["sign_secret"]))
        return Runtime(n, t, [me], comm, seeds, {me: signer}, sign_keys(peers), frac_bits, stats, session)
    except BaseException:
        comm.close()
        raise


_INHERITED: list[socket.socket] = []  # the listening socket from `quorum mpc run`, held for the process's life


def _inherited_listener() -> socket.socket | None:
    """A copy of the listening socket `quorum mpc run` handed this party, for one run's TcpComm to close. The
    original stays open as long as the process: its port stays this party's, so a second init() (after uninit(), as
    in a notebook) listens on it again, and no other program can bind it in between."""
    fd = os.environ.pop(ENV_LISTEN_FD, None)
    if fd:
        _INHERITED.append(socket.socket(fileno=int(fd)))
    return _INHERITED[0].dup() if _INHERITED else None


def _env_timeout() -> float:
    """QUORUM_MPC_TIMEOUT (set by `quorum mpc run --timeout`), default 30 s; InputError naming it if unusable."""
    text = os.environ.get(ENV_TIMEOUT, "30")
    try:
        timeout = float(text)
        _check_timeout(timeout)
    except (ValueError, InputError):
        raise InputError(f"{ENV_TIMEOUT} must be a positive number of seconds up to {MAX_TIMEOUT:g}, got {text!r}") from None
    return timeout


def sign_keys(peers: dict) -> list[bytes]:
    """The parties' Ed25519 verification keys of a parsed peers file, in party order (what verify checks against)."""
    return [bytes.fromhex(p["sign_public"]) for p in peers["parties"]]


def _public_of(kx_secret_hex: str) -> str:
    key = X25519PrivateKey.from_private_bytes(bytes.fromhex(kx_secret_hex))
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def _listeners(count: int) -> list[socket.socket]:
    """Listening sockets on free loopback ports, handed to the party processes (no bind race)."""
    out = []
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        out.append(s)
    return out


def write_local_deployment(n: int, directory: Path, threshold: int | None = None,
                           ports: list[int] | None = None) -> Path:
    """Keys for n parties on 127.0.0.1 and their peers file; returns its path."""
    t = (n - 1) // 2 if threshold is None else threshold
    if ports is None:
        socks = _listeners(n)
        ports = [s.getsockname()[1] for s in socks]
        for s in socks:
            s.close()
    entries = []
    for i, port in enumerate(ports):
        secret, public = new_key(i)
        write_secret(directory / f"party{i}.key", secret)
        entries.append(dict(public, host="127.0.0.1", port=port))
    peers = {"version": 1, "session": os.urandom(16).hex(), "threshold": t, "parties": entries}
    path = directory / "peers.json"
    path.write_text(json.dumps(peers, indent=1))
    return path


MAX_TIMEOUT = 1e6  # seconds (11 days): socket and select timeouts overflow above ~9.2e9


def _check_timeout(timeout: float | None) -> None:
    """A timeout is a positive number of seconds up to MAX_TIMEOUT (0 fails every round at once, huge ones overflow
    the waits)."""
    if timeout is not None and not (isinstance(timeout, (int, float)) and not isinstance(timeout, bool)
                                    and 0 < timeout <= MAX_TIMEOUT):
        raise InputError(f"--timeout must be a positive number of seconds up to {MAX_TIMEOUT:g}, got {timeout!r}")


def run_local(n: int, script: str, args: list[str], timeout: float | None = None, threshold: int | None = None) -> int:
    """Run SCRIPT as n party processes over TCP on this machine; returns the worst exit code."""
    _check_timeout(timeout)
    if n < 3:
        raise InputError(f"-n must be at least 3, got {n}")
    if not Path(script).is_file():
        raise InputError(f"script {script} does not exist")
    t = (n - 1) // 2 if threshold is None else threshold
    check_subsets(n, t)  # once here, not once by every party
    with tempfile.TemporaryDirectory(prefix="quorum-mpc-") as tmp:
        socks = _listeners(n)
        peers = write_local_deployment(n, Path(tmp), t, [s.getsockname()[1] for s in socks])
        procs = []
        for i in range(n):
            env = dict(os.environ, **{ENV_PEERS: str(peers), ENV_PARTY: str(i), ENV_KEY: str(Path(tmp) / f"party{i}.key"),
                                      ENV_LISTEN_FD: str(socks[i].fileno()), ENV_BLAME: tmp,
                                      "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"})
            if timeout is not None:
                env[ENV_TIMEOUT] = str(timeout)
            procs.append(subprocess.Popen([sys.executable, script, *args], env=env, pass_fds=(socks[i].fileno(),)))
        for s in socks:
            s.close()
        grace = float(os.environ.get(ENV_TIMEOUT, "30")) if timeout is None else timeout
        try:
            codes, first = _wait_all(procs, grace)
        except BaseException:
            _stop(procs)  # no party outlives the launcher
            raise
        blamed = _blamed(Path(tmp), n)
        if blamed is not None and (first is None or codes[first] in (0, PEER_FAILED, -signal.SIGTERM)):
            first = blamed  # no party failed by its own error: the one the others' errors name
    if first is not None and codes[first] == 0:
        print(f"quorum mpc: party {first} exited while the others still needed it; they stopped", file=sys.stderr)
    elif first is not None and codes[first] in (PEER_FAILED, -signal.SIGTERM):
        print(f"quorum mpc: party {first} went silent (or left): the others stopped waiting for it, see their "
              "errors above" + (f"; it was stopped {grace:g} s later" if codes[first] == -signal.SIGTERM else ""),
              file=sys.stderr)
    elif first is not None:
        print(f"quorum mpc: party {first} failed first (exit code {codes[first]}); see its error above",
              file=sys.stderr)
    for i, c in enumerate(codes):
        if i == first:
            continue
        if c == -signal.SIGTERM and first is not None:
            print(f"quorum mpc: party {i} was stopped {grace:g} s after party {first} failed", file=sys.stderr)
        elif c == PEER_FAILED:
            print(f"quorum mpc: party {i} stopped because another party failed (exit code {c})", file=sys.stderr)
        elif c != 0:
            print(f"quorum mpc: party {i} exited with code {c}", file=sys.stderr)
    return max((abs(c) for c in codes), default=0) and 1


def _blamed(directory: Path, n: int) -> int | None:
    """The party most often named by the parties that stopped on a PartyDied or PartyTimeout (each leaves the one
    its error names in `directory`; ties: the lowest index), or None if none did."""
    named = []
    for i in range(n):
        try:
            named.append(int((directory / f"blame{i}").read_text()))
        except (OSError, ValueError):
            continue
    named = [j for j in named if 0 <= j < n]
    return min(set(named), key=lambda j: (-named.count(j), j)) if named else None


def _stop(procs: list[subprocess.Popen]) -> None:
    """SIGTERM the parties still running and wait for them (SIGKILL after 5 s)."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def _wait_all(procs: list[subprocess.Popen], grace: float) -> tuple[list[int], int | None]:
    """Wait for every party; once one fails, stop those still running `grace` seconds later (one busy with
    local work would otherwise keep a failed run alive). Returns the exit codes and the party that failed
    first: the first, in exit order, to fail by its own error (not PEER_FAILED: its processes may end after
    those its failure stopped); else, if every failure is PEER_FAILED, a party that exited with 0 (it left while
    the others still needed it: its interpreter may end after theirs), or one still running when they gave up
    and stopped here (it sent nothing: the others' PartyTimeout names it); else the first to fail at all."""
    exits: queue.Queue[int] = queue.Queue()
    order: list[int] = []
    for i, p in enumerate(procs):
        threading.Thread(target=lambda i=i, p=p: (p.wait(), exits.put(i)), daemon=True).start()
    own, any_, deadline = None, None, None
    try:
        for _ in procs:
            try:
                i = exits.get(timeout=None if deadline is None else max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                _stop(procs)
                deadline, i = None, exits.get()
            order.append(i)
            code = procs[i].returncode
            if code != 0 and any_ is None:
                any_, deadline = i, time.monotonic() + grace
            if code not in (0, PEER_FAILED, -signal.SIGTERM) and own is None:
                own = i
    except KeyboardInterrupt:
        _stop(procs)
    codes = [p.wait() for p in procs]
    if own is None and any_ is not None:  # only "a peer is gone" failures: a party that ended with 0 left them
        left = [i for i in order if codes[i] == 0] or [i for i in order if codes[i] == -signal.SIGTERM]
        if left:
            return codes, left[0]
    return codes, own if own is not None else any_


def run_party(party: int, peers: str, key: str | None, script: str, args: list[str],
              timeout: float | None = None) -> int:
    """Run SCRIPT in this process as one party of the deployment in the peers file."""
    _check_timeout(timeout)
    data = load_peers(peers)
    if not 0 <= party < len(data["parties"]):
        raise InputError(f"--party {party} is out of range: the peers file has parties 0..{len(data['parties']) - 1}")
    keyfile = key or str(Path(peers).with_name(f"party{party}.key"))
    os.environ.update({ENV_PEERS: str(peers), ENV_PARTY: str(party), ENV_KEY: keyfile})
    if timeout is not None:
        os.environ[ENV_TIMEOUT] = str(timeout)
    sys.argv = [script, *args]
    runpy.run_path(script, run_name="__main__")
    return 0
