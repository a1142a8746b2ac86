"""Parties as separate processes over TCP: `quorum mpc run`, a killed party, a stalled party, bad peers files."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mpc_ml import launcher
from mpc_ml.errors import InputError, ProtocolError

ROOT = Path(__file__).resolve().parents[2]


def _run(tmp_path: Path, body: str, *extra: str, timeout: float = 120) -> subprocess.CompletedProcess:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(body))
    return subprocess.run([sys.executable, "-m", "quorum", "mpc", "run", *extra, str(script)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def test_three_processes_compute_and_open_to_one_party(tmp_path):
    res = _run(tmp_path, """
        import numpy as np, mpc_ml
        mpc_ml.init()
        a = np.arange(6.0).reshape(2, 3) - 2
        x = mpc_ml.cryptensor(a, src=0)
        y = mpc_ml.cryptensor(np.full((3,), 0.5), src=1)
        z = ((x * y) @ np.ones((3, 2))).relu()
        out = z.get_plain_text(dst=2)
        if out is not None:
            assert mpc_ml.get_rank() == 2
            ref = np.maximum((a * 0.5) @ np.ones((3, 2)), 0)
            assert np.abs(out - ref).max() < 1e-5, out
            print("OK", mpc_ml.get_rank())
        """, "-n", "3")
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["OK", "2"]


def test_four_processes_check_every_and_message_and_catch_a_party_that_flips_one(tmp_path):
    """With 4 parties (t = 1) over TCP the comparisons' AND messages travel as one full copy and one digest from
    two senders: honest runs compare right, and a party that inverts what it sends in one AND round is caught by
    the receiver (ShareCheckError naming it among two suspects) before any output is opened."""
    honest = _run(tmp_path, """
        import sys, numpy as np, mpc_ml
        mpc_ml.init()
        x = mpc_ml.cryptensor(np.arange(-8.0, 8.0) + 0.25, src=0)
        out = (x > 0).get_plain_text()
        assert (out == (np.arange(-8.0, 8.0) + 0.25 > 0)).all(), out
        sys.stdout.write("OK\\n")  # one write: the parties share the pipe
        """, "-n", "4")
    assert honest.returncode == 0, honest.stderr
    assert honest.stdout.split() == ["OK"] * 4
    lying = _run(tmp_path, """
        import sys, numpy as np, mpc_ml
        from mpc_ml import runtime
        mpc_ml.init()
        rt = runtime.current()
        x = mpc_ml.cryptensor(np.arange(-8.0, 8.0) + 0.25, src=0)
        if mpc_ml.get_rank() == 0:
            send, rounds = rt.comm.exchange_each, []
            def lie(sends, expect):
                rounds.append(1)
                if len(rounds) == 2:
                    sends = [{d: ~words for d, words in sends[0].items()}]
                return send(sends, expect)
            rt.comm.exchange_each = lie
        try:
            (x > 0).get_plain_text()
        except mpc_ml.ShareCheckError as exc:
            sys.stdout.write(f"caught {exc.suspects}\\n")
            sys.exit(1)
        """, "-n", "4", "--timeout", "20")
    assert lying.returncode != 0
    assert "caught [0, " in lying.stdout, (lying.stdout, lying.stderr)


def test_evidence_of_a_run_verifies_against_the_deployment_s_peers_file(tmp_path):
    """An auditor checks an output's evidence against the keys of the deployment's peers file (party_keys), with
    no warning; the keys of the session are those of the file; keys of another deployment are refused."""
    res = _run(tmp_path, """
        import os, sys, warnings, numpy as np, mpc_ml
        warnings.simplefilter("error")
        mpc_ml.init()
        value, ev = mpc_ml.cryptensor(np.array([1.5, -2.0]), src=0).get_plain_text_with_evidence()
        keys = mpc_ml.party_keys(os.environ["QUORUM_MPC_PEERS"])
        assert keys == mpc_ml.party_keys() and len(keys) == 3
        assert np.array_equal(mpc_ml.verify(ev, value, verify_keys=keys), [1.5, -2.0])
        try:
            mpc_ml.verify(ev, verify_keys=keys[1:] + keys[:1])
        except mpc_ml.EvidenceError:
            sys.stdout.write("OK\\n")  # one write: the parties share the pipe
        """, "-n", "3")
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["OK"] * 3


def test_killed_party_gives_clear_error(tmp_path):
    res = _run(tmp_path, """
        import os, sys, numpy as np, mpc_ml
        mpc_ml.init()
        x = mpc_ml.cryptensor(np.ones(4), src=0)
        if mpc_ml.get_rank() == 1:
            os._exit(9)
        try:
            (x * x).get_plain_text()
        except mpc_ml.PartyDied as exc:
            sys.stdout.write(f"died {exc.party}\\n")  # one write: the parties share the pipe (unbuffered too)
            sys.exit(3)
        """, "-n", "3", "--timeout", "20")
    assert res.returncode != 0
    assert sorted(res.stdout.split()) == ["1", "1", "died", "died"]
    assert "party 1 failed first (exit code 9)" in res.stderr and "party 1 exited" not in res.stderr  # said once


def test_stalled_party_times_out(tmp_path):
    res = _run(tmp_path, """
        import sys, time, numpy as np, mpc_ml
        mpc_ml.init()
        x = mpc_ml.cryptensor(np.ones(4), src=0)
        if mpc_ml.get_rank() == 2:
            time.sleep(8)
            sys.exit(0)
        try:
            (x * x).get_plain_text()
        except mpc_ml.PartyTimeout as exc:
            sys.stdout.write(f"timeout {exc.party}\\n")  # one write: the parties share the pipe
            sys.exit(4)
        """, "-n", "3", "--timeout", "3")
    assert sorted(res.stdout.split()) == ["2", "2", "timeout", "timeout"]


def test_party_mode_with_peers_file(tmp_path):
    """--party I --peers FILE: three separate `quorum mpc run` invocations of one deployment."""
    peers = launcher.write_local_deployment(3, tmp_path)
    script = tmp_path / "s.py"
    script.write_text("import numpy as np, mpc_ml\nmpc_ml.init()\n"
                      "v = mpc_ml.cryptensor(np.array([2.0, 3.0]), src=1).sum().get_plain_text()\n"
                      "print(round(float(v), 6))\n")
    procs = [subprocess.Popen([sys.executable, "-m", "quorum", "mpc", "run", "--party", str(i), "--peers", str(peers),
                               str(script)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(3)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1] for o in outs]
    assert [o[0].strip() for o in outs] == ["5.0"] * 3


@pytest.mark.parametrize("mutate,msg", [
    (lambda d: d.update(version=2), "version 1"),
    (lambda d: d["parties"][1].update(port="x"), "party 1: 'port'"),
    (lambda d: d["parties"][2].update(kx_public="abcd"), "party 2: field 'kx_public' has 2 bytes"),
    (lambda d: d.update(parties=d["parties"][:2]), "at least 3"),
    (lambda d: d.update(threshold=2), "threshold"),
    (lambda d: d["parties"][0].update(id=5), "id order"),
])
def test_peers_file_rejects_malformed(tmp_path, mutate, msg):
    path = launcher.write_local_deployment(3, tmp_path)
    data = json.loads(path.read_text())
    mutate(data)
    path.write_text(json.dumps(data))
    with pytest.raises(InputError, match=msg):
        launcher.load_peers(path)


def test_key_file_is_private(tmp_path):
    launcher.write_local_deployment(3, tmp_path)
    assert (tmp_path / "party0.key").stat().st_mode & 0o077 == 0


def test_cli_errors_and_keygen(tmp_path):
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "quorum", "mpc", *args], cwd=ROOT, capture_output=True,
                              text=True, timeout=60)

    res = cli("run", "-n", "2", str(tmp_path / "x.py"))
    assert res.returncode == 2 and "at least 3" in res.stderr
    res = cli("run", "--party", "0", "--peers", str(tmp_path / "none.json"), str(tmp_path / "x.py"))
    assert res.returncode == 2 and "cannot read JSON" in res.stderr
    res = cli("keygen", "--party", "1", "--out", str(tmp_path / "p1.key"), "--port", "7001")
    entry = json.loads(res.stdout)
    assert entry["id"] == 1 and entry["port"] == 7001 and len(bytes.fromhex(entry["kx_public"])) == 32
    assert (tmp_path / "p1.key").stat().st_mode & 0o077 == 0
    assert launcher.load_key(tmp_path / "p1.key", 1)["id"] == 1
    kept = (tmp_path / "p1.key").read_bytes()
    res = cli("keygen", "--party", "1", "--out", str(tmp_path / "p1.key"), "--port", "7001")  # never replaced
    assert res.returncode == 2 and "p1.key: file exists" in res.stderr and res.stdout == ""
    assert (tmp_path / "p1.key").read_bytes() == kept


def _open_sockets() -> int:
    """Sockets open in this process, once the garbage collector has closed the unreachable ones."""
    import gc
    import os

    gc.collect()
    fds = Path("/proc/self/fd")
    count = 0
    for fd in os.listdir(fds):
        try:
            count += os.readlink(fds / fd).startswith("socket:")
        except OSError:  # closed while listing
            pass
    return count


def test_channel_rejects_an_impostor(tmp_path):
    """A process without party 1's X25519 secret cannot complete the channel: the others name party 1, and close
    the connections they had made before finding it (they stayed open until garbage collection)."""
    import threading

    from mpc_ml.runtime import Stats
    from mpc_ml.transport import TcpComm

    peers = json.loads(launcher.write_local_deployment(3, tmp_path).read_text())
    secrets = [bytes.fromhex(launcher.load_key(tmp_path / f"party{i}.key", i)["kx_secret"]) for i in range(3)]
    secrets[1] = bytes(range(32))  # the impostor's own key, not the one in the peers file
    errors: dict[int, BaseException] = {}
    before = _open_sockets()

    def party(i: int) -> None:
        try:
            TcpComm(i, peers["parties"], secrets[i], bytes(16), Stats(), timeout=3, connect_timeout=4).close()
        except BaseException as exc:  # noqa: BLE001 - recorded (with its traceback) for the assertions
            errors[i] = exc

    threads = [threading.Thread(target=party, args=(i,)) for i in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    assert set(errors) >= {0, 2}
    for i in (0, 2):
        assert "party 1" in str(errors[i]), errors[i]
    assert _open_sockets() <= before, "a party that failed its start-up kept connections open"


def test_a_dial_refused_at_the_handshake_closes_its_socket(tmp_path):
    """A process at a peer's address that does not answer the handshake: the dialling party raises and closes that
    connection (it was kept, referenced by the error's traceback)."""
    import socket
    import threading

    from mpc_ml.runtime import Stats
    from mpc_ml.transport import TcpComm

    peers = json.loads(launcher.write_local_deployment(3, tmp_path).read_text())
    secret = bytes.fromhex(launcher.load_key(tmp_path / "party1.key", 1)["kx_secret"])
    with socket.create_server(("127.0.0.1", peers["parties"][0]["port"])) as fake:
        def serve() -> None:
            conn, _ = fake.accept()
            with conn:
                conn.sendall(bytes(64))

        server = threading.Thread(target=serve)
        server.start()
        before = _open_sockets()
        with pytest.raises(ProtocolError, match="party 0 did not answer the handshake") as failure:
            TcpComm(1, peers["parties"], secret, bytes(16), Stats(), timeout=3, connect_timeout=4)
        server.join(10)
        assert _open_sockets() <= before, "the failed dial kept its socket open while its error is held"
        assert failure.value.party == 0


def test_a_connection_reset_after_its_hello_is_dropped_and_accepting_goes_on(tmp_path):
    """A stray that sends a well-formed hello and hangs up before the answer: the listening party's answer fails with
    ECONNRESET; it drops that connection (closed) and keeps accepting, instead of failing its start-up."""
    import struct

    from mpc_ml.runtime import Stats
    from mpc_ml.transport import MAGIC, TcpComm

    class Reset:
        closed = False

        def settimeout(self, _: float) -> None:
            pass

        def recv(self, n: int) -> bytes:
            return (MAGIC + struct.pack("!HH", 1, 0) + bytes(32))[:n]

        def sendall(self, _: bytes) -> None:
            raise ConnectionResetError(104, "Connection reset by peer")

        def close(self) -> None:
            self.closed = True

    class Listener:
        def __init__(self) -> None:
            self.conn = Reset()

        def settimeout(self, _: float) -> None:
            pass

        def accept(self) -> tuple[Reset, tuple[str, int]]:
            return self.conn, ("127.0.0.1", 1)

    peers = json.loads(launcher.write_local_deployment(3, tmp_path).read_text())
    comm = TcpComm.__new__(TcpComm)
    comm.n, comm.me, comm.stats, comm.channels, comm._unconfirmed = 3, 0, Stats(), {}, set()
    comm._peers = peers["parties"]
    listener = Listener()
    comm._accept_one(listener, deadline=float("inf"))  # type: ignore[arg-type]
    assert comm.channels == {} and listener.conn.closed


def test_a_frame_of_another_size_than_the_round_s_is_refused_from_its_header(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A party announcing a 1 GiB frame in a round whose frames are 48 bytes is named at once, from the header: the
    receiver does not buffer up to MAX_FRAME bytes of it (nor wait for them until its timeout)."""
    import struct

    import numpy as np

    from mpc_ml.runtime import Codec
    from mpc_ml.transport import TcpComm
    from tests.mpc_ml.deployment import start_up

    comms = start_up(tmp_path, connect_timeout=6.0)
    assert all(isinstance(c, TcpComm) for c in comms.values()), comms
    try:
        comms[1].channels[0].sock.sendall(struct.pack("!I", 1 << 30) + bytes(1 << 16))
        with pytest.raises(ProtocolError, match="party 1 sent a frame of 1073741824 bytes where this round's is 64"):
            comms[0].exchange(np.zeros((1, 5), dtype=np.uint64), [[0, 1, 2]] * 3, Codec(None), (5,))
    finally:
        for c in comms.values():
            c.close()  # type: ignore[union-attr]


@pytest.mark.parametrize("opening", ["(x * x).get_plain_text()", "x.get_plain_text(dst=0)"])
def test_a_silent_party_is_the_one_named_not_those_that_gave_up_waiting_for_it(tmp_path, opening):
    """Party 2 sends nothing (it sleeps past --timeout): the parties waiting for it raise PartyTimeout naming it and
    exit 3 (with an opening to party 0 only, party 1 sends its share and finishes with 0), and `quorum mpc run`
    stops it. It is the one named, from the others' errors; no party that gave up waiting or finished is blamed."""
    res = _run(tmp_path, f"""
        import time, numpy as np, mpc_ml
        mpc_ml.init()
        x = mpc_ml.cryptensor(np.ones(3), src=0)
        if mpc_ml.get_rank() == 2:
            time.sleep(300)
        print({opening})
        """, "-n", "3", "--timeout", "2")
    assert res.returncode == 1
    assert "PartyTimeout: party 2 sent nothing" in res.stderr
    assert "party 2 went silent (or left): the others stopped waiting for it, see their errors above; it was " \
        "stopped 2 s later" in res.stderr, res.stderr[-2000:]
    assert "failed first" not in res.stderr and "exited while the others" not in res.stderr, res.stderr[-2000:]


def test_quorum_sets_how_many_parties_open_and_the_subset_limit_is_refused_once(tmp_path):
    """`--quorum K` with -n is init(quorum=K) for every party: 7 parties with quorum 2 run (7 PRSS subsets), where
    the default quorum (4: C(7, 3) = 35 subsets) would also run but 12 parties' default (C(12, 5) = 792) is refused
    by the launcher itself, once, before any party starts; a quorum outside 2..majority is named."""
    script = """
        import numpy as np, mpc_ml
        from mpc_ml import runtime
        mpc_ml.init()
        out = (mpc_ml.cryptensor(np.arange(3.0), src=0) * 2).get_plain_text(dst=0)
        if out is not None:
            print("OK", mpc_ml.get_world_size(), runtime.current().t + 1, out.tolist())
        """
    res = _run(tmp_path, script, "-n", "7", "--quorum", "2")
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.split() == ["OK", "7", "2", "[0.0,", "2.0,", "4.0]"]
    big = _run(tmp_path, script, "-n", "12")
    assert big.returncode == 2 and big.stderr.count("C(12, 5) = 792") == 1, big.stderr[-2000:]
    bad = _run(tmp_path, script, "-n", "5", "--quorum", "4")
    assert bad.returncode == 2 and "quorum must be an integer in 2..3 for 5 parties" in bad.stderr, bad.stderr
