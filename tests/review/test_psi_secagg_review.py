"""Adversarial review of mpc_ml.psi and mpc_ml.secagg: malicious peers, malformed messages, edited evidence.

Every test here failed on the code it was written against (the docstring names the input and what
happened), unless its docstring says it pins a property that held.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mpc_ml.psi import PsiClient, PsiError, PsiServer, PsiSumResult, intersection_sum, verify_sum
from mpc_ml.psi.transport import recv_frame
from mpc_ml.secagg import SecAggClient, SecAggError, SecAggServer, from_json, make_params, verify
from mpc_ml.secagg.messages import FIELD, Keys, Unmask
from tests.psi.serving import raw_server, serving
from tests.secagg.rounds import answer_all, through_shares

# ---------------------------------------------------------------------------------------------
# PSI-sum evidence
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trustees():  # type: ignore[no-untyped-def]
    from threshold.dkg import CeremonyParams, run_ceremony
    from threshold.groups import get_group

    return run_ceremony(CeremonyParams(get_group("ed25519"), 3, 2, b"tests/review/psi-secagg"))[1]


def test_psi_sum_verify_refuses_a_total_shifted_by_the_group_order(trustees) -> None:  # type: ignore[no-untyped-def]
    """Failed before: a published result whose total was edited from 12 to 12 + q (q the group order) verified
    and verify_sum returned the forged 7237...001 (g^total only fixes the total mod q). Now refused."""
    honest = intersection_sum({"a": 5, "b": 7}, ["a", "b"], trustees[:2], quorum=2, max_value=100, min_count=0)
    doc = json.loads(honest.to_json())
    doc["total"] += honest.record.group.q
    with pytest.raises(PsiError, match="total"):
        verify_sum(json.dumps(doc), trustees[0].public_key, trustees[0].verification_keys)
    assert verify_sum(honest.to_json(), trustees[0].public_key, trustees[0].verification_keys) == 12


def test_psi_sum_verify_refuses_a_total_above_the_stated_bound(trustees) -> None:  # type: ignore[no-untyped-def]
    """Failed before (with the test above): a total beyond the result's own bound (count * max_value) verified."""
    honest = intersection_sum({"a": 5, "b": 7}, ["a", "b"], trustees[:2], quorum=2, max_value=100, min_count=0)
    doc = json.loads(honest.to_json())
    doc["bound"] = 11
    with pytest.raises(PsiError, match="bound"):
        verify_sum(json.dumps(doc), trustees[0].public_key, trustees[0].verification_keys)


def test_psi_sum_request_with_repeated_points_is_refused(trustees) -> None:  # type: ignore[no-untyped-def]
    """Failed before: a client that repeated its one item's point 5 times (each with its own ciphertext, all
    signed) got a record of 5 matched items, so the trustees decrypted a sum under the min_count=5 floor for
    a single item (and the sum told whether that item is in the server's set). Now the parser refuses it."""
    from threshold.elgamal import PublicKey

    from mpc_ml.psi import PsiSumClient, PsiSumServer, decrypt_share
    from mpc_ml.psi.sum_messages import SumRequest, signed_part

    group = trustees[0].group
    pk = PublicKey(group, trustees[0].public_key)
    server = PsiSumServer(["target", "y1", "y2"])
    signing = Ed25519PrivateKey.generate()
    client = PsiSumClient({"target": 1}, pk, 10, signing)
    honest = client.reply(server.hello())
    bits, proofs = honest.bits * 5, honest.proofs * 5
    request_id = bytes(16)
    signature = signing.sign(signed_part(group, pk.element, request_id, bits, honest.points * 5, honest.doubled))
    forged = SumRequest(honest.doubled, honest.points * 5, bits, proofs, request_id, client.verify_key, signature)
    try:
        record = server.total(forged.to_bytes(group), pk)
    except PsiError as exc:
        assert "repeat" in str(exc)
        return
    decrypt_share(record, trustees[0], {client.verify_key}, set(), min_count=5, server_keys={server.server_key})
    pytest.fail(f"a request of one item repeated 5 times was decrypted as {record.count} matched items")


@pytest.mark.parametrize("parse", [PsiSumResult.from_json, from_json], ids=["psi-sum result", "secagg transcript"])
def test_deeply_nested_json_is_a_clear_error(parse) -> None:  # type: ignore[no-untyped-def]
    """Failed before: 100000 nested '[' raised RecursionError out of json.loads (neither parser caught it)."""
    with pytest.raises((PsiError, SecAggError), match="JSON|nested|deep"):
        parse("[" * 100_000)


# ---------------------------------------------------------------------------------------------
# PSI transport
# ---------------------------------------------------------------------------------------------


def _trickle(sock: socket.socket, data: bytes, pause: float) -> None:
    """Send `data` one byte at a time, `pause` seconds apart, until done or the peer is gone."""
    try:
        for i in range(len(data)):
            sock.sendall(data[i : i + 1])
            time.sleep(pause)
    except OSError:
        pass


def test_a_peer_that_trickles_a_frame_is_cut_off() -> None:
    """Failed before: the timeout applied to each recv, so a peer sending one byte every 0.05 s (well within a
    0.3 s timeout) kept the reader busy for as long as it liked: the single-threaded PsiServer.serve answered
    nobody else meanwhile. Now a whole frame must arrive within the timeout."""
    ours, theirs = socket.socketpair()
    with ours, theirs:
        ours.settimeout(0.3)
        thread = threading.Thread(target=_trickle, args=(theirs, struct.pack(">Q", 32) + bytes(32), 0.05), daemon=True)
        thread.start()
        with pytest.raises(PsiError, match="0.3 s"):
            recv_frame(ours)
        ours.close()
        thread.join(5)


@pytest.fixture
def slow_server() -> Iterator[int]:
    """A PsiServer in a thread, answering 2 connections with a 0.5 s timeout."""
    with serving(PsiServer(["a", "b"]), connections=2, timeout=0.5) as port:
        yield port


def test_a_trickling_client_does_not_starve_the_others(slow_server: int) -> None:
    """Failed before (real sockets, the server's own serve loop): a client trickling a 100-byte frame at a byte
    per 0.1 s held the server for 10 s and the honest client behind it timed out after 3 s."""
    stalker = socket.create_connection(("127.0.0.1", slow_server))
    thread = threading.Thread(target=_trickle, args=(stalker, struct.pack(">Q", 100) + bytes(100), 0.1), daemon=True)
    thread.start()
    try:
        assert PsiClient(["b", "z"]).query("127.0.0.1", slow_server, timeout=3).items == ["b"]
    finally:
        stalker.close()
        thread.join(15)


# ---------------------------------------------------------------------------------------------
# secure aggregation
# ---------------------------------------------------------------------------------------------


def _keys_round(n: int, present: int | None = None) -> tuple:
    """A session of `n` clients whose first `present` (default all) have advertised their keys."""
    params = make_params(n, 4, threshold=n // 2 + 1)
    server = SecAggServer(params)
    clients = {u: SecAggClient(u, params) for u in range(1, (present or n) + 1)}
    for c in clients.values():
        server.receive(c.advertise())
    return params, server, clients


@pytest.mark.parametrize("bad", [bytes(32), b"\x01" + bytes(31), (2**255 - 19 + 9).to_bytes(32, "little")],
                         ids=["zero", "order-1", "non-canonical"])
def test_server_refuses_keys_that_are_not_valid_x25519_public_keys(bad: bytes) -> None:
    """Failed before: the server accepted a signed Keys message whose mask key was a small-order point (0 or 1)
    or a non-canonical u (p + 9, an alias of the base point); every honest client then aborted at share_keys
    ('invalid public key'). Now the message is refused on arrival, naming the key, and the session goes on."""
    params, server, clients = _keys_round(5, present=4)
    evil = Keys.build(5, bytes([9]) + bytes(31), bad, Ed25519PrivateKey.generate(), params.context)
    with pytest.raises(SecAggError, match="client 5: mask key"):
        server.receive(evil)
    keys = server.keys_round_done()
    assert len(keys) == 4 and len(server.transcript) == 5
    for c in clients.values():
        server.receive(c.share_keys(keys))


@pytest.mark.parametrize("clip", [1e308, 1e-300])
def test_a_clip_without_a_finite_scale_is_refused(clip: float) -> None:
    """Failed before: Params took any finite positive clip. With 1e308 (2 * clip overflows, scale 0) aggregate
    raised ZeroDivisionError; with 1e-300 (the scale overflows) it returned a wrong sum ([-3e-300, -3e-300]
    for [3e-300, -3e-300]) with an error bound of 2.7e-315. A Params message is outside input to every client."""
    from mpc_ml.secagg import aggregate
    from mpc_ml.secagg.messages import Params

    ups = [np.array([0.5, -0.25])] * 3
    try:
        result = aggregate(ups, clip=clip)
    except SecAggError:
        pass
    else:
        exact = np.sum([np.clip(u, -clip, clip) for u in ups], axis=0)
        assert np.abs(result.total - exact).max() <= result.error_bound, (result.total, exact, result.error_bound)
    wire = Params(bytes(16), 3, 2, 2, 2, 30, 1.0).to_bytes()[:-8] + struct.pack(">d", clip)
    with pytest.raises(SecAggError, match="clip"):
        Params.from_bytes(wire)


def _to_masked_round(n: int = 4) -> tuple:
    params = make_params(n, 4, threshold=3)
    server = SecAggServer(params)
    clients = {u: SecAggClient(u, params) for u in range(1, n + 1)}
    return (server, clients, *through_shares(server, clients))


def test_a_refused_shares_list_leaves_the_client_where_it_was() -> None:
    """Failed before: masked_input moved the client to the unmasking round before checking the Shares messages,
    so one corrupted message (a flipped byte) left it half-filled: it could not take the correct list again
    ('out of order'), and it would answer an unmask request for a masked input it never sent."""
    server, clients, _, routed = _to_masked_round()
    broken = list(routed[1])
    damaged = bytearray(broken[-1])
    damaged[20] ^= 1
    broken[-1] = bytes(damaged)
    with pytest.raises(SecAggError, match="bad signature"):
        clients[1].masked_input(np.zeros(4), broken, server.quantizer)
    with pytest.raises(SecAggError, match="round"):
        clients[1].confirm(b"QSAG\x02\x05" + struct.pack(">II", 0, 0))
    for u, c in clients.items():
        server.receive(c.masked_input(np.full(4, 0.5), routed[u], server.quantizer))
    answer_all(server, clients, server.masked_round_done())
    assert np.allclose(server.finish().total, 2.0, atol=1e-6)


def test_an_unmask_request_padded_with_unknown_ids_is_refused() -> None:
    """Failed before: the server listed survivors [1, 2, 99] (99 is no client of the session) and dropped
    [3, 4, 5]; client 1 counted 3 survivors, passed its threshold check (3) and answered, revealing its
    shares of the mask keys of 3, 4 and 5 for a sum over 2 real survivors. Now the unknown id is refused."""
    from mpc_ml.secagg.messages import UnmaskRequest

    server, clients, _, routed = _to_masked_round(5)
    for u, c in clients.items():
        server.receive(c.masked_input(np.zeros(4), routed[u], server.quantizer))
    padded = UnmaskRequest([1, 2, 99], [3, 4, 5]).to_bytes()
    with pytest.raises(SecAggError, match="client 99 is listed"):
        clients[1].confirm(padded)
    request = server.masked_round_done()
    server.receive(clients[1].confirm(request))  # the refusal changed nothing


def test_a_refused_key_list_leaves_the_client_where_it_was() -> None:
    """Failed before: share_keys moved the client on before checking the key list, so a list with one altered
    key could not be followed by the correct one ('out of order')."""
    params, server, clients = _keys_round(4)
    keys = server.keys_round_done()
    altered = list(keys)
    damaged = bytearray(altered[1])
    damaged[-1] ^= 1
    altered[1] = bytes(damaged)
    with pytest.raises(SecAggError, match="bad signature"):
        clients[1].share_keys(altered)
    server.receive(clients[1].share_keys(keys))


def _to_unmasking(n: int, threshold: int) -> tuple:
    """A session of n clients (each update 0.25 everywhere) up to the unmask request, with their signing keys."""
    params = make_params(n, 4, threshold=threshold)
    signing = {u: Ed25519PrivateKey.generate() for u in range(1, n + 1)}
    server = SecAggServer(params)
    clients = {u: SecAggClient(u, params, signing[u]) for u in range(1, n + 1)}
    _, routed = through_shares(server, clients)
    for u, c in clients.items():
        server.receive(c.masked_input(np.full(4, 0.25), routed[u], server.quantizer))
    return params, signing, server, clients, server.masked_round_done()


def _lie(data: bytes, liar: int, about: int, params, signing, request: bytes) -> bytes:  # type: ignore[no-untyped-def]
    """The liar's signed unmask answer with its share of `about`'s self-mask seed off by one."""
    msg = Unmask.from_bytes(data, signing[liar].public_key().public_bytes_raw(), params.context)
    b_shares = dict(msg.b_shares)
    b_shares[about] = (b_shares[about] + 1) % FIELD
    return Unmask.build(liar, request, b_shares, msg.sk_shares, signing[liar], params.context)


def test_verify_names_the_client_whose_share_is_wrong_not_an_honest_one() -> None:
    """Failed before: client 1 signed a wrong share of client 2's seed into the transcript (a server colluding
    with it can publish that); verify rebuilt from the first `threshold` shares (clients 1, 2, 3), which
    include the lie, and reported 'the share revealed by client 4 is inconsistent': an honest client framed.
    Now the rebuilt seed is checked against its commitment before any other share is judged; the wrong share is
    listed in `disputes` with its dealer (the transcript cannot tell which of the two lied; the total stands)."""
    params, signing, server, clients, request = _to_unmasking(5, 3)
    answer_all(server, clients, request)
    transcript = server.finish().transcript
    first_unmask = [m[5] for m in transcript].index(Unmask.KIND)
    assert int.from_bytes(transcript[first_unmask][6:10], "big") == 1
    transcript[first_unmask] = _lie(transcript[first_unmask], 1, 2, params, signing, request)
    assert verify(transcript).disputes == ("self-mask seed of client 2: client 2 dealt or client 1 revealed a wrong share",)


def test_one_wrong_share_does_not_stop_an_honest_server() -> None:
    """Failed before: with client 1 lying about client 2's seed, the server's finish rebuilt from shares 1, 2, 3
    and failed ('does not match its commitment') though four honest shares were there. Now it finds the
    threshold of shares that rebuild the committed seed, and verify names client 1 (or the dealer) in `disputes`."""
    params, signing, server, clients, request = _to_unmasking(5, 3)
    for c in clients.values():
        server.receive(c.confirm(request))
    confirmations = server.consistency_round_done()
    for u, c in clients.items():
        data = c.unmask(request, confirmations)
        server.receive(_lie(data, 1, 2, params, signing, request) if u == 1 else data)
    result = server.finish()
    assert np.allclose(result.total, 1.25, atol=result.error_bound)
    assert verify(result.transcript).disputes == ("self-mask seed of client 2: client 2 dealt or client 1 revealed a wrong share",)


# ---------------------------------------------------------------------------------------------
# PSI: the server's setup on the client, request size on the server, a peer's error text
# ---------------------------------------------------------------------------------------------


def _setup_bytes(count: int, bits: int, high_bits: int, high: bytes, low: bytes) -> bytes:
    """A ServerSetup message with these fields, whatever they say."""
    from mpc_ml.psi.messages import header

    return header(3) + struct.pack(">QBBQ", count, bits, high_bits, len(high)) + high + low


@pytest.mark.parametrize(
    ("setup", "value"),
    [
        (_setup_bytes(16, 1, 1, b"\xff\xff", b""), 1),  # 16 ones: every value is 0
        (_setup_bytes(3, 9, 1, b"\xe0", b"\x01\x05\x03"), 2),  # one high part, low parts 1, 5, 3
        (_setup_bytes(2, 9, 1, b"\xc0", b"\x07\x07"), 1),  # one value twice
    ],
    ids=["all-equal", "unsorted", "duplicate"],
)
def test_a_setup_with_repeated_or_unsorted_values_is_refused(setup: bytes, value: int) -> None:
    """Failed before: ServerSetup.from_bytes accepted values that repeat or are out of order (a 2 MB message
    of 0xff coded 16.8M equal values and decoded to 560 MB). Now refused naming the value."""
    from mpc_ml.psi import ServerSetup

    with pytest.raises(PsiError, match=f"compressed set: value {value} repeats or is out of order"):
        ServerSetup.from_bytes(setup)


def test_a_setup_stays_compressed_on_the_client() -> None:
    """Failed before (no `checked`; from_bytes decoded every value, 16 bytes each, plus temporaries: about 160x
    the message for this one, 320x for repeated values): a crafted 1 MB setup of distinct values at the densest
    coding (4M values, 2 bits each) now keeps only the message and an index of one value per BLOCK values, and
    tracing the parse peaks at the message's copies plus a fixed working set (one scan window), not per value."""
    import tracemalloc

    from mpc_ml.psi import ServerSetup
    from mpc_ml.psi.gcs import BLOCK

    size = 1 << 20
    count = 4 * size  # b"\xaa" is "10101010": one value in each high bucket
    data = _setup_bytes(count, 22, 22, b"\xaa" * size, b"")
    tracemalloc.start()
    try:
        setup = ServerSetup.from_bytes(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert setup.checked.blocks == count // BLOCK and setup.checked.firsts.nbytes == 16 * (count // BLOCK)
    assert peak < 2 * len(data) + (8 << 20), f"parsing a {len(data)}-byte setup peaked at {peak} bytes"
    probe = np.zeros(3, dtype=setup.checked.firsts.dtype)
    probe["high"] = [0, 1234, count - 1]
    assert setup.checked.contains(probe).all()
    probe["low"] = 1
    assert not setup.checked.contains(probe).any()


def test_the_client_caps_the_server_set_it_accepts() -> None:
    """Failed before (no cap; the keyword did not exist): a setup announcing 2^24 + 1 items is refused from its
    header naming the limit, and a client made with max_server_items=2 refuses a server of 3 items, through
    finish and over TCP (query and fetch_setup), while the default accepts it."""
    from mpc_ml.psi import ServerSetup
    from mpc_ml.psi.messages import MAX_ITEMS

    with pytest.raises(PsiError, match=f"setup: the server's set: {MAX_ITEMS + 1} items, more than the limit of {MAX_ITEMS}"):
        ServerSetup.from_bytes(_setup_bytes(MAX_ITEMS + 1, 40, 24, b"", b""))
    server = PsiServer(["a", "b", "c"])
    client = PsiClient(["a", "z"], max_server_items=2)
    response = server.respond(client.request()).to_bytes()
    with pytest.raises(PsiError, match="more than the limit of 2"):
        client.finish(response, server.setup.to_bytes())
    with pytest.raises(PsiError, match="more than the limit of 2"):
        client.finish(response, server.setup)
    assert PsiClient(["a", "z"]).finish(response, server.setup.to_bytes()).items == []  # another key: no match
    with serving(server, connections=3) as port:
        with pytest.raises(PsiError, match="more than the limit of 2"):
            PsiClient.fetch_setup("127.0.0.1", port, timeout=5, max_items=2)
        with pytest.raises(PsiError, match="more than the limit of 2"):
            client.query("127.0.0.1", port, timeout=5)
        assert PsiClient(["a", "z"]).query("127.0.0.1", port, timeout=5).items == ["a"]


def test_a_request_over_the_server_limit_is_refused_before_any_point_is_touched(monkeypatch: pytest.MonkeyPatch) -> None:
    """Failed before (no limit; the keyword did not exist): a request header announcing 67M points was parsed
    point by point (about 23 minutes of CPU for a real one on the one-at-a-time server). Now PsiServer's
    max_items (default 2^24) refuses it from the header: no point is checked or blinded."""
    import mpc_ml.psi.messages as messages
    from mpc_ml.psi import Request
    from mpc_ml.psi.messages import MAX_ITEMS

    server = PsiServer(["a", "b"], max_items=2)

    def untouched(*args: object) -> None:
        raise AssertionError("a point was looked at")

    monkeypatch.setattr(messages, "check_points", untouched)
    monkeypatch.setattr(server._key, "blind", untouched)
    with pytest.raises(PsiError, match="request: 3 items, more than the limit of 2"):
        server.handle(PsiClient(["a", "b", "c"]).request().to_bytes())
    with pytest.raises(PsiError, match=f"request: {1 << 26} items, more than the limit of {MAX_ITEMS}"):
        PsiServer(["a"]).handle(Request(b"").to_bytes()[:7] + struct.pack(">Q", 1 << 26))
    with pytest.raises(PsiError, match="request: 3 items, more than the limit of 2"):
        server.respond(PsiClient(["a", "b", "c"]).request())


def test_an_over_limit_request_gets_an_error_frame_and_the_server_goes_on() -> None:
    """Failed before (no limit): over TCP the client of 3 items gets the refusal as the server's error frame,
    and the next client within the limit is answered."""
    with serving(PsiServer(["a", "b"], max_items=2), connections=2) as port:
        with pytest.raises(PsiError, match="peer refused: request: 3 items, more than the limit of 2"):
            PsiClient(["a", "b", "c"]).query("127.0.0.1", port, timeout=5)
        assert PsiClient(["b", "z"]).query("127.0.0.1", port, timeout=5).items == ["b"]


def test_the_sum_server_caps_a_request_before_any_per_item_work(trustees) -> None:  # type: ignore[no-untyped-def]
    """Failed before (no limit; the keyword did not exist): PsiSumServer parsed and checked every point and
    ciphertext of a request of any size. Now more than max_items client items, or a number of server points
    other than it sent, are refused from the header."""
    from threshold.elgamal import PublicKey

    from mpc_ml.psi import PsiSumClient, PsiSumServer

    pk = PublicKey(trustees[0].group, trustees[0].public_key)
    server = PsiSumServer(["a", "b", "c"], max_items=2)
    request = PsiSumClient({"a": 1, "b": 2, "c": 3}, pk, 10).reply(server.hello()).to_bytes(pk.group)
    with pytest.raises(PsiError, match=r"sum request \(client points\): 3 items, more than the limit of 2"):
        server.total(request, pk)
    short = PsiSumClient({"a": 1}, pk, 10).reply(PsiSumServer(["a", "b"]).hello()).to_bytes(pk.group)
    with pytest.raises(PsiError, match="2 server points returned, 3 sent"):
        server.total(short, pk)
    with pytest.raises(PsiError, match="sum hello: 3 items, more than the limit of 2"):
        PsiSumClient({"a": 1}, pk, 10, max_server_items=2).reply(server.hello().to_bytes())


_HOSTILE = "\x1b[2J\x1b]0;pwned\x07\r\nWARNING forged log line\u202e" + "x" * 5000


def test_a_peer_error_text_is_sanitised_where_it_is_read() -> None:
    """Failed before: an error frame's text went into PsiError as sent: terminal escapes (clear screen, window
    title), a CR LF that forges a log line, a bidi override, and 5000 more characters. Now escaped and cut."""
    from mpc_ml.psi.messages import ErrorMessage, raise_if_error

    frame = ErrorMessage(_HOSTILE).to_bytes()
    port, thread = raw_server(struct.pack(">Q", len(frame)) + frame)
    with pytest.raises(PsiError) as caught:
        PsiClient(["a"]).query("127.0.0.1", port, timeout=5)
    thread.join(5)
    text = str(caught.value)
    assert text.isprintable() and len(text) < 600, text
    assert "\\x1b[2J" in text and "\\r\\nWARNING" in text and "\\u202e" in text and "cut" in text
    with pytest.raises(PsiError) as again:
        raise_if_error(ErrorMessage(_HOSTILE).to_bytes())
    assert str(again.value) == text
    assert ErrorMessage.from_bytes(ErrorMessage(_HOSTILE).to_bytes()).text.isprintable()


def test_a_published_result_quoting_itself_in_an_error_is_cut() -> None:
    """Failed before: a PSI-sum result whose group name was 3000 characters long came back whole inside the
    PsiError (3080 characters, to logs and terminals). Now the quoted text goes through the same peer_text."""
    doc = {"total": 1, "quorum": 1, "bound": 1, "partials": [], "verification_keys": {},
           "record": {"group": _HOSTILE, "public_key": "", "request_id": "", "client_key": "", "signature": "",
                      "bits": [], "bit_proofs": [], "points": [], "doubled": [], "blinded": [], "server_key": "", "proof": {},
                      "matched": [], "total": {}}}
    with pytest.raises(PsiError, match="unknown group") as caught:
        PsiSumResult.from_json(json.dumps(doc))
    assert str(caught.value).isprintable() and len(str(caught.value)) < 600, str(caught.value)
