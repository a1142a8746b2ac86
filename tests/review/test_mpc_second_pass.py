"""Second-pass adversarial review of mpc_ml: blame, start-up agreement and evidence parsing.

Every test names the attack it mounts. The first review (test_mpc_adversarial.py) corrupted a
party's shares at an opening; these tests corrupt what comes before: the input party's dealing,
the shape it announces, the PRSS seeds a subset's dealer hands out, and the evidence file itself.
"""

from __future__ import annotations

import contextlib
import copy
import queue
import socket
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mpc_ml
from mpc_ml import launcher
from mpc_ml import runtime as rt_mod
from mpc_ml.errors import ProtocolError
from mpc_ml.prss import subsets
from mpc_ml.protocols import arith, shamir

ROOT = Path(__file__).resolve().parents[2]


def _deal_off_polynomial(victim: int):
    """A shamir.deal that moves `victim`'s share off the degree-t polynomial (a lying input party)."""
    honest = shamir.deal

    def deal(ring, value, n, t):
        out = honest(ring, value, n, t)
        out[victim] = ring.add(out[victim][None], np.ones_like(out[victim])[None])[0]
        return out

    return deal


def test_an_inconsistent_input_sharing_does_not_frame_the_party_that_received_it(monkeypatch):
    """Attack: input party 0 (n=4, t=1) deals party 2 a share off the polynomial; the opening's blame
    (n >= 3t + 1 names one party) must not name honest party 2 alone: the dealer is a suspect."""
    mpc_ml.init(parties=4)
    try:
        monkeypatch.setattr(shamir, "deal", _deal_off_polynomial(2))
        with pytest.raises(mpc_ml.ShareCheckError) as err:
            x = mpc_ml.cryptensor(np.array([1.0, 2.0]), src=0)
            (x + 1).get_plain_text()
        assert 0 in err.value.suspects and err.value.party != 2, err.value.suspects
    finally:
        mpc_ml.uninit()


def test_a_consistent_input_sharing_passes_the_input_check():
    """Held: an honest input opens as before for n = 3, 4, 5 (the check reveals only x + a uniform mask)."""
    for n in (3, 4, 5):
        mpc_ml.init(parties=n)
        try:
            a = np.array([[0.0, -1.5], [2.0**20, 3.25]])
            assert np.array_equal(mpc_ml.cryptensor(a, src=n - 1).get_plain_text(), a)
        finally:
            mpc_ml.uninit()


class _QueueComm:
    """In-memory start-up channels among threads (send_raw/recv_raw of TcpComm); `tamper` edits what
    this party sends: tamper(dest, payload) -> payload."""

    def __init__(self, me: int, boxes: dict, tamper=None) -> None:
        self.me, self.boxes, self.tamper = me, boxes, tamper

    def send_raw(self, j: int, payload: bytes) -> None:
        self.boxes[self.me, j].put(self.tamper(j, payload) if self.tamper else payload)

    def recv_raw(self, j: int, size: int) -> bytes:
        data = self.boxes[j, self.me].get(timeout=10)
        if len(data) != size:  # as TcpComm refuses such a frame from its header
            raise ProtocolError(f"party {j} sent a frame of {len(data)} bytes where this round's is {size}", j)
        return data


def _run_seed_agreement(n: int, t: int, tamper: dict) -> dict[int, object]:
    """_agree_seeds at n parties in threads; per party its seeds or the exception it raised."""
    boxes = {(i, j): queue.Queue() for i in range(n) for j in range(n)}
    out: dict[int, object] = {}

    def party(i: int) -> None:
        try:
            out[i] = launcher._agree_seeds(_QueueComm(i, boxes, tamper.get(i)), i, n, t)
        except Exception as exc:  # noqa: BLE001  (recorded and asserted by the caller)
            out[i] = exc

    threads = [threading.Thread(target=party, args=(i,), daemon=True) for i in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(15)
    return out


def test_a_prss_seed_dealer_that_equivocates_is_caught_at_start_up():
    """Attack: party 0 (n=4, t=1) draws the seed of subset (0, 1, 2) and sends party 2 another seed than
    party 1. Parties 1 and 2 would then add different PRSS masks, so party 2's shares of every mask fall
    off the polynomial and the first checked opening names honest party 2. The parties must find the
    disagreement at start-up, and party 2 must name the dealer."""
    def equivocate(dest: int, payload: bytes) -> bytes:
        if dest == 2 and payload.startswith(b"SEEDS"):  # the first seed sent to 2 is that of (0, 1, 2)
            return payload[:5] + bytes(32) + payload[37:]
        return payload

    out = _run_seed_agreement(4, 1, {0: equivocate})
    assert isinstance(out[2], ProtocolError) and out[2].party == 0, out[2]
    assert isinstance(out[1], ProtocolError) and out[1].party != 2 and "party 0" in str(out[1]), out[1]


def test_honest_prss_seed_agreement_gives_every_member_the_same_seeds():
    """Held: without an attacker every party holds exactly the seeds of its subsets, equal across members."""
    out = _run_seed_agreement(5, 2, {})
    for T in subsets(5, 2):
        assert len({out[i][T] for i in T}) == 1 and all(T not in out[i] for i in range(5) if i not in T)


def test_an_input_party_that_sends_parties_different_shapes_is_the_suspect(tmp_path):
    """Attack (TCP): input party 0 sends party 1 a tensor of shape (2,) and party 2 one of shape (3,), to
    parties that did not know the shape. Party 1's next message then has the wrong size at party 2,
    which named honest party 1 as the sender of a malformed message; party 0 must be the suspect."""
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent("""
        import struct, sys, numpy as np, mpc_ml
        from mpc_ml import runtime
        mpc_ml.init()
        rt = runtime.current()
        if rt.me == 0:
            comm = rt.comm

            def scatter(src, per_dest, codec, shape):  # shape (2,) to party 1, (3,) to party 2
                comm.round += 1
                sends = {}
                for j, size in ((1, 2), (2, 3)):
                    head = struct.pack("!QBQ", comm.round, 1, size)
                    sends[j] = head + codec.encode(np.ascontiguousarray(per_dest[j][:, :size]))
                comm._transfer(sends, set())
                return per_dest[0][None]

            comm.scatter = scatter
        try:
            x = mpc_ml.cryptensor(np.array([1.0, 2.0, 3.0]) if rt.me == 0 else None, src=0)
            (x * x).get_plain_text()
            sys.stdout.write(f"{rt.me} none\\n")
        except mpc_ml.ShareCheckError as exc:
            sys.stdout.write(f"{rt.me} suspects {exc.suspects}\\n")
        except mpc_ml.ProtocolError as exc:
            sys.stdout.write(f"{rt.me} blames {exc.party}\\n")
        """))
    res = subprocess.run([sys.executable, "-m", "quorum", "mpc", "run", "-n", "3", "--timeout", "10", str(script)],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    lines = dict(line.split(" ", 1) for line in res.stdout.splitlines())
    for honest in ("1", "2"):
        verdict = lines.get(honest, "")
        assert verdict in ("blames 0", "suspects [0, 1]", "suspects [0, 2]"), (honest, res.stdout, res.stderr)


_JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=8),
                     lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=6), kids, max_size=3),
                     max_leaves=6)


@pytest.fixture(scope="module")
def evidence_json():
    """One honest opening's evidence (n=4, t=1) and its value."""
    mpc_ml.init(parties=4)
    try:
        value, ev = mpc_ml.cryptensor(np.array([[1.5, -2.0]]), src=3).get_plain_text_with_evidence()
    finally:
        mpc_ml.uninit()
    return value, ev


@settings(max_examples=150, deadline=None)
@given(field=st.sampled_from(["version", "session", "label", "n", "t", "primes", "frac_bits", "shape", "receivers",
                              "encoding", "shares", "signatures", "verify_keys"]),
       junk=_JSON, item=st.integers(0, 3), whole=st.booleans())
def test_verify_of_mangled_evidence_raises_only_evidence_error(evidence_json, field, junk, item, whole):
    """Attack: a published evidence file with any one field (or one item of a list field) replaced by
    arbitrary JSON: verify() returns the honest value or raises EvidenceError, nothing else."""
    value, ev = evidence_json
    bad = copy.deepcopy(ev)
    if whole or not isinstance(bad[field], list) or item >= len(bad[field]):
        bad[field] = junk
    else:
        bad[field][item] = junk
    try:
        out = mpc_ml.verify(bad, verify_keys=[bytes.fromhex(k) for k in ev["verify_keys"]])
    except mpc_ml.EvidenceError:
        return
    assert np.array_equal(out, value)


@contextlib.contextmanager
def _party0_shifts_products(parties: int, quorum: int | None = None):  # type: ignore[no-untyped-def]
    """A session whose x = [2.0] is shared honestly, then in which party 0 shifts by 2^48 its sent share of every
    ring-valued exchange (the masked products it opens); yields (runtime, x, the honest exchange)."""
    mpc_ml.init(parties=parties, quorum=quorum)
    try:
        rt = rt_mod.current()
        x = mpc_ml.cryptensor(np.array([2.0]), src=0)
        honest = rt.exchange

        def lie(local, dests, codec, shape):  # type: ignore[no-untyped-def]
            out = honest(local, dests, codec, shape)
            if codec.ring is None:
                return out
            out = out.copy()
            out[0] = codec.ring.add(out[0][None], codec.ring.const(1 << 48).reshape(1, -1, *([1] * len(shape))))[0]
            return out

        rt.exchange = lie
        yield rt, x, honest
    finally:
        mpc_ml.uninit()


@pytest.mark.parametrize("parties,quorum,blamed", [(4, 2, "inconsistent; with 4 parties"), (5, 2, "party 0")])
def test_an_additive_error_in_a_product_is_caught_before_evidence_is_signed(parties, quorum, blamed):
    """Attack: party 0 (t=1) adds 2^48 to its share of the masked product it opens in x * x (which opened to 7, not
    4, under consistent signed shares). With n >= 3t + 1 every degree-2t opening is checked: caught, both in a
    fixed-point product (trunc) and in an integer one (reduce_degree, as exact solves use); from n >= 4t + 1 on,
    the sender of the wrong share is named."""
    with _party0_shifts_products(parties, quorum) as (rt, x, _):
        assert arith.products_checked(rt)
        with pytest.raises(mpc_ml.ShareCheckError, match=blamed):
            x * x
        with pytest.raises(mpc_ml.ShareCheckError, match=blamed):
            arith.mul(rt, x.share, x.share)


@pytest.mark.xfail(strict=True, reason="BUG (design, README: semi-honest below n = 3t + 1): with 3 parties (t = 1) the "
                   "degree-2t opening of a product has no redundancy, so one party can add any error to a product; "
                   "the honest parties then sign consistent shares of the wrong value and verify() accepts it. It "
                   "needs MACs (SPDZ-wise shares) or a multiplication check.")
def test_an_additive_error_in_a_product_with_three_parties_is_caught():
    """Attack: party 0 (n=3, t=1) adds 2^48 to its share of the masked product it opens in x * x."""
    with _party0_shifts_products(3) as (rt, x, honest):
        y = x * x
        rt.exchange = honest
        value = y.get_plain_text()
    assert value[0] == pytest.approx(4.0, abs=1e-5), f"x * x opened to {value[0]} under consistent signed shares"
@contextlib.contextmanager
def _party0_lies_in_and_round(parties: int, quorum: int | None = None, *, digest_only: bool = False):  # type: ignore[no-untyped-def]
    """A session with x = 0..63 and y = x + 0.5 shared honestly, in which party 0 inverts what it sends in the third
    AND round of a comparison (its full messages and digests, or only the digests); yields the runtime."""
    mpc_ml.init(parties=parties, quorum=quorum)
    try:
        rt = rt_mod.current()
        x, y = mpc_ml.cryptensor(np.arange(64.0), src=0), mpc_ml.cryptensor(np.arange(64.0) + 0.5, src=1)
        honest, rounds = rt.exchange_each, []

        def lie(sends, expect):  # type: ignore[no-untyped-def]
            rounds.append(1)
            if len(rounds) == 3:
                sends = [dict(s) for s in sends]
                for d, words in sends[0].items():
                    flipped = ~words
                    if digest_only:  # the digests follow the full messages, 4 words each
                        full = words.size - 4 * len(rt._bool_layout.digested.get((0, d), []))
                        flipped[:full] = words[:full]
                    sends[0][d] = flipped
            return honest(sends, expect)

        rt.exchange_each = lie
        yield rt, x, y
    finally:
        mpc_ml.uninit()


@pytest.mark.parametrize("parties,quorum", [(4, None), (5, 2), (7, 3)])
def test_a_comparison_flipped_by_one_party_is_caught_with_n_at_least_3t_plus_1(parties, quorum):
    """Attack: party 0 inverts every word it sends in one AND round of 64 comparisons x < x + 0.5. With n >= 3t + 1
    every AND message is sent by a group of t + 1 parties (one in full, the others as a digest), so the receiver
    sees the versions differ before anything is opened: caught, party 0 among the suspects."""
    with _party0_lies_in_and_round(parties, quorum) as (rt, x, y):
        assert arith.products_checked(rt)
        with pytest.raises(mpc_ml.ShareCheckError) as caught:
            x < y
        assert 0 in caught.value.suspects and len(caught.value.suspects) <= rt.t + 1


def test_a_lie_in_an_and_digest_alone_is_caught():
    """Attack: party 0 (n=4, t=1) sends its full AND messages honestly but wrong digests of its partners' messages
    (to frame them): the run stops with both parties as suspects; no wrong result is signed."""
    with _party0_lies_in_and_round(4, digest_only=True) as (rt, x, y):
        with pytest.raises(mpc_ml.ShareCheckError) as caught:
            x < y
        assert 0 in caught.value.suspects and len(caught.value.suspects) == 2


def test_comparisons_are_right_when_every_party_follows_the_protocol():
    """The checked AND (n=4, t=1; n=5, t=1; n=7, t=2) and the unchecked one (n=3; n=5, t=2) agree with the clear
    comparison and ReLU (test_and_check_review.py checks the components at their holders)."""
    v = np.linspace(-40.0, 40.0, 161) + 0.05
    for parties, quorum in ((3, None), (4, None), (5, 2), (5, 3), (7, 3)):
        mpc_ml.init(parties=parties, quorum=quorum)
        try:
            x = mpc_ml.cryptensor(v, src=0)
            assert np.array_equal((x > 0.1).get_plain_text(), (v > 0.1).astype(float)), parties
            assert np.allclose(x.relu().get_plain_text(), np.maximum(v, 0), atol=1e-4), parties
        finally:
            mpc_ml.uninit()


@pytest.mark.xfail(strict=True, reason="BUG (design, README: semi-honest below n = 3t + 1): with 3 parties an AND "
                   "message has one sender (two members of two subsets share only one party), so a party that "
                   "inverts what it sends flips comparison results undetected; it needs a multiplication check.")
def test_a_comparison_flipped_by_one_party_is_caught_with_three_parties():
    """Attack: party 0 (n=3, t=1) inverts every word it sends in one AND round of 64 comparisons x < x + 0.5."""
    with _party0_lies_in_and_round(3) as (rt, x, y):
        result = (x < y).get_plain_text()
    assert (result == 1).all(), f"{int((result != 1).sum())} of 64 comparisons flipped, none caught"


def test_verify_refuses_evidence_of_absurdly_many_parties():
    """Attack: publish self-signed evidence of 201 parties (t = 100, 60 KB): the degree-t check of
    verify() costs ~n^3 Lagrange steps (1 s at 300 parties, hours at 10^4, the file still under 2 MB),
    so verify() must refuse such an n before checking signatures or shares."""
    from nacl.signing import SigningKey

    from mpc_ml import evidence
    from mpc_ml.ring import Ring

    n, t, ring = 201, 100, Ring(3)
    meta = evidence.metadata(bytes(16), 1, n, t, ring, 24, (1,), [0])
    keys = [SigningKey.generate() for _ in range(n)]
    shares = [ring.pack(np.full((3, 1), i + 1, dtype=np.float32)) for i in range(n)]  # f(x) = x: consistent
    sigs = [keys[i].sign(evidence.signed_message(meta, i, shares[i])).signature for i in range(n)]
    forged = evidence.build(meta, shares, sigs, [bytes(k.verify_key) for k in keys])
    with pytest.raises(mpc_ml.EvidenceError, match="'n' is 201"):
        mpc_ml.verify(forged)


def test_a_stray_connection_claiming_a_party_id_does_not_break_start_up(tmp_path):
    """Attack: anyone who can reach party 0's port connects first and sends a well-formed hello claiming
    to be party 2 (no key needed), then goes silent. Party 0 bound that connection as party 2's channel
    and refused the real party 2, so no computation could start; it must drop the impostor instead."""
    import struct

    from mpc_ml.transport import MAGIC, TcpComm
    from tests.mpc_ml.deployment import start_up_with_stray

    def impostor(stray: socket.socket) -> None:
        stray.sendall(MAGIC + struct.pack("!HH", 2, 0) + bytes(32))
        stray.recv(64)  # party 0's answer: the impostor is now in the middle of the handshake

    results = start_up_with_stray(tmp_path, impostor, connect_timeout=6.0)
    assert all(isinstance(results.get(i), TcpComm) for i in range(3)), results
