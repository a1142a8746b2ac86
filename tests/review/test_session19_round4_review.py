"""Session 19, fourth review round: commits 3a098a4 (PSI: wire version 2 with the setup digest in each response,
PsiClient(max_fpr=...), transport.serve answering up to WORKERS=32 connections in a ThreadPoolExecutor, _drain after
an error frame, lone surrogates, check_timeout) and ef5bea6 (secagg: aggregate(..., client_keys=...), the example's
audit against a registry, the Flower strategy's error bound and its clip check).

xfail(strict=True) tests are open defects: each mounts the attack against the real code, fails today and passes once
fixed (the reason names the file and function, what goes wrong, why it matters and a one-sentence fix). The other
tests pin properties that held under attack and could break. Not repeated here: the cases of
test_session19_psi_review.py, test_session19_secagg_review.py and test_session19_round3_review.py.
"""

from __future__ import annotations

import signal
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import time
import tracemalloc
import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mpc_ml.psi import PsiClient, PsiError, PsiServer, Response
from mpc_ml.psi.transport import WORKERS, check_timeout, recv_frame
from mpc_ml.secagg import SecAggError, aggregate, verify
from tests.psi.serving import _quiet_psi_log, serving  # noqa: F401  (_quiet_psi_log: autouse)
from tests.secagg.flower_pieces import flower, weighted_mean

ROOT = Path(__file__).resolve().parents[2]



def _server_process(nofile: int, timeout: float) -> tuple[subprocess.Popen[str], int]:
    """A PSI server in its own process (serve forever, `timeout` s per connection), with RLIMIT_NOFILE = `nofile`
    (0: unchanged) set after its imports; the process and its port."""
    code = textwrap.dedent(f"""
        import logging, resource, sys
        logging.disable(logging.CRITICAL)
        sys.path.insert(0, {str(ROOT)!r})
        from mpc_ml.psi import PsiServer
        server = PsiServer(["a", "b"])
        if {nofile}:
            resource.setrlimit(resource.RLIMIT_NOFILE, ({nofile}, {nofile}))
        server.serve(connections=None, timeout={timeout}, ready=lambda port: print(port, flush=True))
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT)
    line = proc.stdout.readline()  # type: ignore[union-attr]
    if not line.strip():
        proc.kill()
        raise AssertionError(f"the server process did not start: {proc.communicate()[1][-2000:]}")
    return proc, int(line)


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.communicate(timeout=10)


# =============================================================================================== PSI: the worker pool


def test_a_silent_connection_holds_a_worker_for_timeout_not_twice_timeout() -> None:
    """Failed before (fixed in session 19): mpc_ml/psi/transport.py _answer/_drain: after ANY PsiError, including
    the request deadline expiring on a silent or trickling peer, _answer sends the error frame and then drains for
    another full `timeout`, so an idle connection holds one of the WORKERS for 2 x timeout (120 s with the default)
    instead of the documented `timeout` (serve's and _recv_exact's docstrings): the 32 workers are pinned by 32 idle
    sockets twice as long and the previous fix's DoS bound is doubled. Fix: drain only when the refusal came while
    the peer was still sending a frame it announced (an over-limit length), and bound the drain by the request's own
    deadline.

    A client that connects and then says nothing (and does not close) must free the server's worker once the
    request frame's deadline (`timeout`) has passed: serve(connections=1) returns when its worker is free. (A timeout
    of 2 s, so that the bound between one and two timeouts leaves a loaded machine's scheduling a whole second.)"""
    timeout = 2.0
    idle = None
    try:
        with serving(PsiServer(["a"]), connections=1, timeout=timeout) as port:
            idle = socket.create_connection(("127.0.0.1", port))
            started = time.monotonic()
            idle.settimeout(5)
            assert b"sent nothing" in recv_frame(idle)  # the error frame arrives at `timeout`
        held = time.monotonic() - started  # serving() has joined the server: its worker is free
    finally:
        if idle is not None:
            idle.close()
    assert held < timeout * 1.5, f"the worker was held {held:.2f} s by a silent peer (timeout {timeout} s)"


def test_idle_connections_queued_behind_the_workers_expire_together() -> None:
    """Failed before (fixed in session 19): mpc_ml/psi/transport.py serve/_answer: connections are accepted at once
    into the ThreadPoolExecutor's unbounded queue, and a connection's deadline only starts when a worker picks it up
    (conn.settimeout in _answer), so N idle sockets opened together delay an honest client by N/WORKERS x (2 x
    timeout) (here 128 idle sockets and timeout 0.4 s: about 3.2 s), with no cap at all on N (before, the 128-entry
    listen backlog capped it): the commit's fix of idle-connection DoS only divides it by 32. Fix: stamp each
    connection's deadline at accept time (a queued connection whose deadline has passed is closed at once) and stop
    accepting while all workers are busy and a bounded queue is full.

    128 idle sockets (4 x WORKERS) opened at once against timeout 1 s: they all expire within about one timeout
    of being accepted, so an honest client connecting right after them is answered within 4 s (before the fix: 8 s,
    4 x 2 x timeout)."""
    assert WORKERS == 32
    with serving(PsiServer(["a", "b"]), connections=4 * WORKERS + 1, timeout=1.0) as port:
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(4 * WORKERS)]
        try:
            started = time.monotonic()
            try:
                result = PsiClient(["b", "z"]).query("127.0.0.1", port, timeout=4.0)
            except PsiError as exc:
                pytest.fail(f"the honest client was not answered within 4 s: {exc}")
            finally:
                elapsed = time.monotonic() - started
        finally:
            for sock in idle:
                sock.close()
    assert result.items == ["b"] and elapsed < 4.0


def test_a_flood_of_connections_beyond_the_descriptor_limit_does_not_stop_the_server() -> None:
    """Failed before (fixed in session 19): mpc_ml/psi/transport.py serve: the accept loop hands every connection to
    the pool at once (unbounded queue), so the server process holds one file descriptor per queued connection; a
    flood of idle connections beyond RLIMIT_NOFILE (1024 by default on most Linux hosts; 64 here) makes
    listener.accept() raise OSError(EMFILE), which nothing catches: serve() ends and the PSI service is DOWN
    (connection refused) for everyone, where before the commit the extra connections waited in the kernel backlog.
    Fix: bound the connections held (a semaphore of WORKERS + a small queue, acquired before accept) and treat
    EMFILE/ENFILE/ECONNABORTED from accept as transient (log, sleep briefly, continue)."""
    proc, port = _server_process(nofile=64, timeout=1.0)
    idle: list[socket.socket] = []
    try:
        for _ in range(100):
            try:
                idle.append(socket.create_connection(("127.0.0.1", port), timeout=2))
            except OSError:
                break
        time.sleep(0.5)
        for sock in idle:
            sock.close()
        idle.clear()
        time.sleep(2.5)  # every idle connection has timed out (and been drained) by now
        assert proc.poll() is None, "the PSI server process died during the flood"
        assert PsiClient(["b", "q"]).query("127.0.0.1", port, timeout=5).items == ["b"]
    finally:
        for sock in idle:
            sock.close()
        _stop(proc)


def test_ctrl_c_stops_a_serving_psi_server_promptly_even_with_an_idle_client() -> None:
    """Failed before (fixed in session 19): mpc_ml/psi/transport.py serve: Ctrl-C (KeyboardInterrupt in accept)
    leaves `with ThreadPoolExecutor` through shutdown(wait=True), which waits for every running AND queued
    connection (each up to timeout for the request plus timeout for _drain), so one idle client makes an operator's
    Ctrl-C take 2 x timeout (2 minutes with the default 60 s; a queue of idle sockets makes it unbounded), where
    before the commit it stopped at once. Fix: on exit from the accept loop by an exception, close the listener,
    shutdown(wait=False, cancel_futures=True) the pool and shut down (SHUT_RDWR) the sockets the workers hold."""
    proc, port = _server_process(nofile=0, timeout=30.0)  # waiting for the idle client would take 30 s or 60 s
    try:
        with socket.create_connection(("127.0.0.1", port)):
            time.sleep(0.3)  # the idle connection is with a worker now
            started = time.monotonic()
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                pass
            stopped = time.monotonic() - started
        assert proc.poll() is not None, "the server did not stop within 15 s of SIGINT (its timeout: 30 s)"
        assert stopped < 15, f"SIGINT took {stopped:.2f} s to stop the server (timeout 30 s)"
    finally:
        _stop(proc)


def test_concurrent_maximal_requests_do_not_multiply_the_servers_memory_by_the_worker_count() -> None:
    """Failed before (fixed in session 19): mpc_ml/psi/transport.py serve + protocol.PsiServer: max_items (default
    MAX_ITEMS = 2^24, a 512 MiB request frame) was sized for a server answering one connection at a time; with
    WORKERS = 32 the server buffers up to 32 request frames at once (plus the join copy, the blinded points and the
    response of each: about 1.5 GiB per maximal request, ~48 GiB for 32), so a handful of clients sending maximal
    requests exhaust the host's memory. Here 32 stalled requests of 1 MiB each make the server hold ~32 MiB where
    one request needs 1 MiB. Fix: a shared budget of in-flight request bytes (acquire the announced frame size
    before reading it, refuse or wait beyond it), or divide the per-request cap by WORKERS."""
    frame = 1 << 20  # MIN_FRAME_CAP: the max frame of PsiServer(max_items=1000)
    server = PsiServer(["a"], max_items=1000)
    senders: list[socket.socket] = []
    tracemalloc.start()
    try:
        with serving(server, connections=WORKERS, timeout=2.0) as port:
            base = tracemalloc.get_traced_memory()[0]
            payload = b"\x00" * (frame - 1)
            for _ in range(WORKERS):
                sock = socket.create_connection(("127.0.0.1", port))
                sock.sendall(struct.pack(">Q", frame) + payload)  # all but the last byte, then stall
                senders.append(sock)
            time.sleep(1.0)  # the workers have read what was sent
            held = tracemalloc.get_traced_memory()[0] - base
            for sock in senders:
                sock.close()
    finally:
        tracemalloc.stop()
        for sock in senders:
            sock.close()
    assert held < 8 * frame, f"{WORKERS} stalled requests of {frame} bytes made the server hold {held / 2**20:.1f} MiB"


def test_a_refused_client_that_keeps_sending_does_not_grow_the_servers_memory_and_is_cut_at_the_deadline() -> None:
    """Held (_drain): a client whose request is refused from its length (announced beyond max_frame) and which then
    streams 48 MiB more without reading is cut off at the drain's deadline, and the server's memory does not grow
    with what it drains (each recv is dropped): the drain bounds the time, and memory stays O(1 MiB)."""
    timeout = 0.6
    tracemalloc.start()
    try:
        with serving(PsiServer(["a"], max_items=1000), connections=1, timeout=timeout) as port:
            base = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            with socket.create_connection(("127.0.0.1", port)) as sock:
                sock.sendall(struct.pack(">Q", 1 << 40))
                chunk, sent, started = b"\x00" * (1 << 20), 0, time.monotonic()
                try:
                    while sent < 48 << 20 and time.monotonic() - started < 5:
                        sock.sendall(chunk)
                        sent += len(chunk)
                except OSError:
                    pass
                cut = time.monotonic() - started
            peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, f"draining grew the server's memory by {peak / 2**20:.1f} MiB"
    assert cut < 5, "the drain did not stop a client that kept sending"


# ============================================================================= PSI: concurrency of the state machine


def test_concurrent_clients_each_get_their_own_correct_intersection() -> None:
    """Held (thread safety of PsiServer.handle/respond and of the cached setup digest under the pool): 24 clients
    querying one server at once (half fetching the setup, half with a cached one; both reveal modes would need two
    servers, so items mode) each get exactly their own intersection; a shared output buffer, a progress bar or a
    digest computed concurrently would show as a wrong or mixed answer here."""
    members = [f"user{i}" for i in range(400)]
    server = PsiServer(members)
    with serving(server, connections=25, timeout=10) as port:
        cached = PsiClient.fetch_setup("127.0.0.1", port, timeout=10)
        answers: dict[int, list[object] | BaseException] = {}
        barrier = threading.Barrier(24)

        def run(k: int) -> None:
            mine = [f"user{j}" for j in range(k, 400, 17)] + [f"stranger{k}-{j}" for j in range(30)]
            client = PsiClient(mine)
            barrier.wait(10)
            try:
                answers[k] = client.query("127.0.0.1", port, setup=cached if k % 2 else None, timeout=10).items
            except BaseException as exc:  # noqa: BLE001 - reported below
                answers[k] = exc

        threads = [threading.Thread(target=run, args=(k,)) for k in range(24)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert not any(t.is_alive() for t in threads)
    for k in range(24):
        assert answers[k] == [f"user{j}" for j in range(k, 400, 17)], (k, answers[k])


def test_a_response_whose_digest_names_another_setup_is_refused_even_with_valid_points() -> None:
    """Held (wire version 2): a response computed by the right key for the right points but naming another setup
    (a proxy that swaps the 32-byte digest, or a response of a second server with the same key) is refused by
    finish, and a response frame cut inside its digest is refused from its length."""
    server = PsiServer(["a", "b", "c"])
    client = PsiClient(["b", "x"])
    good = server.respond(client.request())
    assert client.finish(good, server.setup).items == ["b"]
    swapped = Response(good.points, good.reveal, bytes(32))
    with pytest.raises(PsiError, match="another setup"):
        client.finish(swapped.to_bytes(), server.setup)
    data = good.to_bytes()
    with pytest.raises(PsiError):
        client.finish(data[: 15 + 20], server.setup)  # header and count, then 20 of the digest's 32 bytes


def test_max_fpr_refuses_a_setup_just_above_it_and_accepts_one_just_below() -> None:
    """Held (PsiClient.finish): the fpr check uses count / 2^bits exactly: a server set of 1000 items built for
    fpr 1e-3 (bits = ceil(log2(1e6)) = 20, fpr 9.5e-4) is refused by a client with max_fpr 9e-4 and accepted by one
    with 1e-3, and bad max_fpr values are a PsiError naming it."""
    server = PsiServer([f"s{i}" for i in range(1000)], fpr=1e-3)
    assert server.setup.items.bits == 20
    strict, loose = PsiClient(["s5", "t"], max_fpr=9e-4), PsiClient(["s5", "t"], max_fpr=1e-3)
    with pytest.raises(PsiError, match="max_fpr"):
        strict.finish(server.respond(strict.request()), server.setup)
    assert loose.finish(server.respond(loose.request()), server.setup).items == ["s5"]
    for bad in (0, 1, -1e-3, float("nan"), True, "1e-6"):
        with pytest.raises(PsiError, match="max_fpr"):
            PsiClient(["a"], max_fpr=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("timeout", [0, -0.0, 1e6 + 1, None, "5", True])
def test_check_timeout_refuses_what_sockets_cannot_use(timeout: object) -> None:
    """Held (transport.check_timeout): zero, a negative zero, beyond MAX_TIMEOUT, None, a string and a bool are
    PsiErrors naming the timeout (the previous review covered -1, nan and inf); 1e6 itself is accepted."""
    with pytest.raises(PsiError, match="timeout"):
        check_timeout(timeout)
    assert check_timeout(1e6) == 1e6


def test_lone_surrogates_mixed_with_bytes_are_named_by_position_and_bytes_pass() -> None:
    """Held (items.normalise's slow path): in a chunk mixing bytes and str (not the all-str fast path the previous
    review tested) a lone surrogate is named by its index, and the same value passed as its surrogateescape bytes
    is a valid item that intersects."""
    raw = "caf\udce9".encode("utf-8", "surrogateescape")
    with pytest.raises(PsiError, match="item 3 is not valid Unicode"):
        PsiClient([b"x", "y", b"z", "caf\udce9"])
    server = PsiServer([raw, "other"])
    client = PsiClient([b"x", raw])
    assert client.finish(server.respond(client.request()), server.setup).items == [raw]


# ============================================================================================ secagg: client_keys


def _registry(keys: list[Ed25519PrivateKey]) -> dict[int, bytes]:
    return {i + 1: k.public_key().public_bytes_raw() for i, k in enumerate(keys)}


def test_client_keys_are_checked_before_any_session_and_the_registry_pins_who_took_part() -> None:
    """Held (api.aggregate client_keys): too few keys, a public key in place of a private one and a non-key are a
    SecAggError naming client_keys; a session run with the hospitals' keys in ANOTHER order (so that each id signs
    with a key registered to another id) is refused by the registry audit, as is one where an extra, unregistered
    client took part."""
    updates = [np.array([0.1, -0.2]), np.array([0.3, 0.1]), np.array([-0.2, 0.2])]
    keys = [Ed25519PrivateKey.generate() for _ in updates]
    registry = _registry(keys)
    for bad in (keys[:2], [keys[0], keys[1], keys[2].public_key()], [keys[0], keys[1], b"\x01" * 32]):
        with pytest.raises(SecAggError, match="client_keys"):
            aggregate(updates, client_keys=bad)  # type: ignore[arg-type]
    swapped = aggregate(updates, client_keys=[keys[1], keys[0], keys[2]])
    with pytest.raises(SecAggError):
        verify(swapped.transcript, peer_keys=registry)
    extra = aggregate(updates + [np.array([0.9, 0.9])], client_keys=keys + [Ed25519PrivateKey.generate()])
    with pytest.raises(SecAggError):
        verify(extra.transcript, peer_keys=registry)
    honest = aggregate(updates, client_keys=keys)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.array_equal(verify(honest.transcript, peer_keys=registry).total, honest.total)


def test_the_example_s_audit_refuses_a_previous_rounds_transcript_replayed_as_this_rounds() -> None:
    """Failed before (fixed in session 19): mpc_ml/secagg/api.py aggregate + transcript.verify +
    examples/secagg_federated_averaging.py: the hospitals keep one signing key across rounds and the session id is
    drawn by the aggregator (make_params), so nothing the auditor holds binds a transcript to a round: an aggregator
    that returns round 1's transcript and total as round 2's (a stale or chosen earlier model update) passes the
    example's audit verify(transcript, peer_keys=registry) and its total check. Fix: let aggregate/SecAggClient take
    a caller-chosen context (the round number and model digest) that every client signs into its messages, and let
    verify(..., context=...) refuse a transcript signed for another."""
    keys = [Ed25519PrivateKey.generate() for _ in range(4)]
    registry = _registry(keys)
    round1 = aggregate([np.full(3, 0.1 * (i + 1)) for i in range(4)], client_keys=keys, context=b"round 1")
    round2 = aggregate([np.full(3, -0.1 * (i + 1)) for i in range(4)], client_keys=keys, context=b"round 2")
    assert np.array_equal(verify(round2.transcript, peer_keys=registry, context=b"round 2").total, round2.total)
    with pytest.raises(SecAggError):
        verify(round1.transcript, peer_keys=registry, context=b"round 2")  # the replay the example accepts today


# ============================================================================================== secagg: Flower




def test_a_fraction_clip_accepted_by_the_strategy_aggregates_a_round() -> None:
    """Failed before (fixed in session 19): mpc_ml/secagg/flower.py SecAggStrategy.__init__: the clip check now
    admits any numbers.Real, so clip=Fraction(17, 2) is accepted, and every aggregate_fit then crashes with a
    TypeError from numpy (Quantizer.quantize: rint of an object array), outside SecAggError and only once a training
    round has run. Fix: store self.clip = float(clip) after the check (and have make_params/Params coerce clip to
    float)."""
    fit_res, parameters_to_ndarrays, FedAvg, SecAggStrategy = flower()
    clients = [([np.full(3, 0.5)], 100), ([np.full(3, -0.25)], 300)]
    strategy = SecAggStrategy(FedAvg(), clip=Fraction(17, 2))
    parameters, metrics = strategy.aggregate_fit(1, [(None, fit_res(a, n)) for a, n in clients], [])
    error = np.abs(parameters_to_ndarrays(parameters)[0] - weighted_mean(clients)[0]).max()
    assert error <= metrics["secagg_error_bound"]


def test_a_numpy_float32_clip_gives_a_transcript_that_verifies_to_the_parameters_returned() -> None:
    """Failed before (fixed in session 19): mpc_ml/secagg/flower.py SecAggStrategy (clip check widened to
    numbers.Real) + api.aggregate/make_params: clip=np.float32(8) is kept as a float32 in Params, so the session's
    Quantizer scale (2^bits - 1) / (2 clip) is computed in float32 (NEP 50) while the transcript carries clip as a
    float64 and verify's replay uses the float64 scale: the audited total differs from the one the strategy averaged
    (here by ~1e-8 per coordinate), so an auditor re-checking strategy.transcripts gets another model than the one
    deployed. Fix: coerce clip to float in SecAggStrategy.__init__ and in make_params."""
    fit_res, parameters_to_ndarrays, FedAvg, SecAggStrategy = flower()
    clients = [([np.array([0.5, -0.25, 0.125])], 1000), ([np.array([-0.5, 0.75, 0.0])], 250)]
    strategy = SecAggStrategy(FedAvg(), clip=np.float32(8.0))
    parameters, _ = strategy.aggregate_fit(1, [(None, fit_res(a, n)) for a, n in clients], [])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        audited = verify(strategy.transcripts[-1])
    replayed = audited.total[:-1] / audited.total[-1]
    assert np.array_equal(parameters_to_ndarrays(parameters)[0], replayed), (
        parameters_to_ndarrays(parameters)[0], replayed)


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.bool_, np.float16])
def test_the_flower_metric_bounds_the_error_of_narrow_and_unsigned_layers(dtype) -> None:  # type: ignore[no-untyped-def]
    """Held (the +1 for integer layers and the eps term for floats): uint8 (a mean just above 0 that the masking
    error could push below it, where a cast to unsigned could wrap), int16, bool and float16 layers beside a float64
    layer all come back within secagg_error_bound of the float weighted mean, and the bound is finite (nothing was
    clipped)."""
    fit_res, parameters_to_ndarrays, FedAvg, SecAggStrategy = flower()
    values = {np.uint8: ([0, 1, 7], [0, 0, 6]), np.int16: ([-7, 3, 0], [6, -2, 1]), np.bool_: ([1, 0, 1], [0, 0, 1]),
              np.float16: ([0.1, -0.3, 7.5], [0.2, 0.3, -7.5])}[dtype]
    clients = [([np.full(2, 0.3), np.array(values[0], dtype=dtype)], 333),
               ([np.full(2, -0.1), np.array(values[1], dtype=dtype)], 667)]
    strategy = SecAggStrategy(FedAvg())
    parameters, metrics = strategy.aggregate_fit(1, [(None, fit_res(a, n)) for a, n in clients], [])
    got, want = parameters_to_ndarrays(parameters), weighted_mean(clients)
    assert got[1].dtype == dtype
    bound = metrics["secagg_error_bound"]
    assert np.isfinite(bound)
    error = max(float(np.abs(g.astype(np.float64) - w).max()) for g, w in zip(got, want))
    assert error <= bound, (error, bound, got[1])


def test_the_flower_bound_is_infinite_when_a_weighted_value_is_just_beyond_clip_and_finite_at_clip() -> None:
    """Held (the clip check against aggregate's clipping): a parameter of exactly clip with full weight (1000 of
    max_weight 1000) is summed as is and the bound is finite and holds; nudged one ulp beyond clip, the value is
    clipped inside aggregate and the bound is infinite, so the metric never claims a bound for clipped values."""
    fit_res, parameters_to_ndarrays, FedAvg, SecAggStrategy = flower()
    strategy = SecAggStrategy(FedAvg(), clip=8.0)
    at_clip = [([np.array([8.0, -8.0])], 1000), ([np.array([1.0, 2.0])], 1000)]
    parameters, metrics = strategy.aggregate_fit(1, [(None, fit_res(a, n)) for a, n in at_clip], [])
    error = np.abs(parameters_to_ndarrays(parameters)[0] - weighted_mean(at_clip)[0]).max()
    assert np.isfinite(metrics["secagg_error_bound"]) and error <= metrics["secagg_error_bound"]
    beyond = [([np.array([np.nextafter(8.0, 9.0), -8.0])], 1000), ([np.array([1.0, 2.0])], 1000)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        _, metrics = strategy.aggregate_fit(2, [(None, fit_res(a, n)) for a, n in beyond], [])
    assert metrics["secagg_error_bound"] == float("inf")
