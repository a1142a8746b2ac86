"""The transcript: anyone recomputes the aggregate; any tampering is detected and named."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mpc_ml.secagg import SecAggClient, SecAggError, SecAggServer, aggregate, from_json, make_params, to_json, verify
from mpc_ml.secagg.messages import FIELD, Keys, Masked, Params, Result, Unmask, UnmaskRequest
from tests.secagg.rounds import through_shares

UPDATES = [np.random.default_rng(i).uniform(-1, 1, 8) for i in range(9)]
RESULT = aggregate(UPDATES, {1: 2, 4: 1, 6: 3}, threshold=4, neighbours=6)
T = RESULT.transcript


def kinds() -> list[int]:
    return [m[5] for m in T]


def test_verify_recomputes_the_aggregate_from_json() -> None:
    text = to_json(T)
    assert json.loads(text)["format"] == "quorum-secagg-transcript-v2"
    again = verify(text)
    assert np.array_equal(again.total, RESULT.total) and again.survivors == RESULT.survivors


@pytest.mark.parametrize("kind", [1, 2, 3, 4, 5, 6, 7, 8])
def test_a_flipped_byte_in_any_message_is_detected(kind: int) -> None:
    i = kinds().index(kind)
    for offset in (6, len(T[i]) // 2, len(T[i]) - 1):
        tampered = list(T)
        data = bytearray(tampered[i])
        data[offset] ^= 0x01
        tampered[i] = bytes(data)
        with pytest.raises(SecAggError):
            verify(tampered)


def test_a_changed_result_is_detected() -> None:
    total = Result.from_bytes(T[-1]).total.copy()
    total[0] += 1
    with pytest.raises(SecAggError, match="published result does not equal"):
        verify(T[:-1] + [Result(total).to_bytes()])


def test_a_resigned_masked_input_from_a_stranger_is_detected() -> None:
    i = kinds().index(4)
    sender = int.from_bytes(T[i][6:10], "big")
    forged = Masked.build(sender, np.zeros(8, np.uint32), [], Ed25519PrivateKey.generate(), Params.from_bytes(T[0]).context)
    with pytest.raises(SecAggError, match="bad signature"):
        verify(T[:i] + [forged] + T[i + 1 :])


def test_a_dishonest_unmask_request_is_detected() -> None:
    i = kinds().index(5)
    req = UnmaskRequest.from_bytes(T[i])
    lying = UnmaskRequest(req.survivors[:-1], sorted(req.dropped + req.survivors[-1:])).to_bytes()
    with pytest.raises(SecAggError, match="unmask request does not list exactly"):
        verify(T[:i] + [lying] + T[i + 1 :])


@pytest.mark.parametrize(
    "change",
    [
        lambda t: t[:-1],
        lambda t: t[:1] + t[2:],
        lambda t: [t[0]] + list(reversed(t[1:])),
        lambda t: t + [t[-1]],
        lambda t: t[:3] + [t[2]] + t[3:],
    ],
)
def test_missing_reordered_or_repeated_messages_are_detected(change) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SecAggError):
        verify(change(list(T)))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nope", "not JSON"),
        ('{"format": "x", "messages": []}', "expected an object"),
        ('{"format": "quorum-secagg-transcript-v2", "messages": [1]}', "base64 strings"),
        ('{"format": "quorum-secagg-transcript-v2", "messages": ["@@"]}', "not valid base64"),
        ('{"format": "quorum-secagg-transcript-v2", "messages": ["QR=="]}', "not canonical"),
    ],
)
def test_malformed_transcript_files_are_named(text: str, message: str) -> None:
    with pytest.raises(SecAggError, match=message):
        from_json(text)


def test_a_wrong_but_signed_share_is_named_by_the_cross_check() -> None:
    """The server needs only `threshold` shares; verify checks that every revealed share agrees."""
    params = make_params(6, 3, threshold=4)
    server = SecAggServer(params)
    clients = {u: SecAggClient(u, params) for u in range(1, 7)}
    keys, routed = through_shares(server, clients)
    for u, c in clients.items():
        server.receive(c.masked_input(np.zeros(3), routed[u], server.quantizer))
    request = server.masked_round_done()
    for c in clients.values():
        server.receive(c.confirm(request))
    confirmations = server.consistency_round_done()
    for u, c in clients.items():
        answer = Unmask.from_bytes(c.unmask(request, confirmations), Keys.from_bytes(keys[u - 1], params.context).sig_pk,
                                   params.context)
        if u == 6:  # client 6 lies about its share of client 1's seed, and signs the lie
            b_shares = dict(answer.b_shares)
            b_shares[1] = (b_shares[1] + 1) % FIELD
            server.receive(Unmask.build(6, request, b_shares, answer.sk_shares, c._sign, params.context))
        else:
            server.receive(answer.raw)
    result = server.finish()  # the server used shares 1..4 and did not notice
    again = verify(result.transcript)  # the seed matches its commitment: the total stands, the wrong share is named
    assert np.array_equal(again.total, result.total)
    assert again.disputes == ("self-mask seed of client 1: client 1 dealt or client 6 revealed a wrong share",)
