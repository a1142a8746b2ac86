"""Honest clients refuse what would reveal an input (ATTACKS row 20); parsers reject bad messages."""

from __future__ import annotations

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from mpc_ml.secagg import SecAggClient, SecAggError, SecAggServer, make_params
from mpc_ml.secagg.messages import Confirm, Keys, Masked, Params, Shares, Unmask, UnmaskRequest
from mpc_ml.secagg.prg import mask
from tests.secagg.rounds import answer_all, through_shares


def run_to_unmasking(n: int = 5, dropped_after_shares: tuple[int, ...] = (2,)) -> tuple:
    params = make_params(n, 4, threshold=3)
    server = SecAggServer(params)
    clients = {u: SecAggClient(u, params.to_bytes()) for u in range(1, n + 1)}
    _, routed = through_shares(server, clients)
    for u, c in clients.items():
        if u not in dropped_after_shares:
            server.receive(c.masked_input(np.zeros(4), routed[u], server.quantizer))
    return server, clients, server.masked_round_done()


def test_row20_a_request_for_both_secrets_of_one_client_is_refused() -> None:
    """ATTACKS row 20: the server asks for the self-mask seed and the mask key of the same client."""
    server, clients, request = run_to_unmasking()
    honest = UnmaskRequest.from_bytes(request)
    greedy = UnmaskRequest(honest.survivors, sorted(set(honest.dropped) | {honest.survivors[-1]}))
    with pytest.raises(SecAggError, match="listed both as a survivor and as dropped"):
        clients[1].confirm(greedy.to_bytes())
    answer_all(server, clients, request)  # the refusal changed nothing: the honest request is still answered
    assert server.finish().survivors == honest.survivors



def test_row20_a_second_unmask_request_is_refused() -> None:
    """ATTACKS row 20: after answering once, a client answers no other request (no mixing of lists)."""
    _, clients, request = run_to_unmasking()
    clients[1].confirm(request)
    honest = UnmaskRequest.from_bytes(request)
    other = UnmaskRequest([u for u in honest.survivors if u != 3], sorted(honest.dropped + [3]))
    with pytest.raises(SecAggError, match="one per session"):
        clients[1].confirm(other.to_bytes())
    with pytest.raises(SecAggError, match="not the unmask request it confirmed"):
        clients[1].unmask(other.to_bytes(), [])


def test_a_request_that_omits_the_client_or_a_neighbour_is_refused() -> None:
    _, clients, request = run_to_unmasking()
    honest = UnmaskRequest.from_bytes(request)
    with pytest.raises(SecAggError, match="not listed as a survivor"):
        clients[1].confirm(UnmaskRequest([u for u in honest.survivors if u != 1], honest.dropped).to_bytes())
    with pytest.raises(SecAggError, match="do not match the neighbours"):
        clients[1].confirm(UnmaskRequest(honest.survivors, []).to_bytes())


def test_rounds_out_of_order_are_refused() -> None:
    params = make_params(3, 2)
    client = SecAggClient(1, params)
    with pytest.raises(SecAggError, match="out of order"):
        client.share_keys([])
    server = SecAggServer(params)
    with pytest.raises(SecAggError, match="during the keys round"):
        server.receive(Masked.build(1, np.zeros(2, np.uint32), [], Ed25519PrivateKey.generate(), params.context))


def test_a_bad_message_leaves_the_server_unchanged() -> None:
    params = make_params(3, 2)
    server = SecAggServer(params)
    good = SecAggClient(1, params).advertise()
    before = list(server.transcript)
    for bad in (good[:-1], good[:-1] + bytes([good[-1] ^ 1]), b"QSAG\x01\x09" + good[6:], b"xx"):
        with pytest.raises(SecAggError):
            server.receive(bad)
    assert server.transcript == before
    server.receive(good)
    with pytest.raises(SecAggError, match="repeated"):
        server.receive(good)


def test_a_share_for_another_recipient_fails_authentication() -> None:
    params = make_params(4, 2, threshold=3)
    server = SecAggServer(params)
    clients = {u: SecAggClient(u, params) for u in range(1, 5)}
    for c in clients.values():
        server.receive(c.advertise())
    keys = server.keys_round_done()
    shares = {u: Shares.from_bytes(c.share_keys(keys), Keys.from_bytes(keys[u - 1], params.context).sig_pk, params.context) for u, c in clients.items()}
    forged = dict(shares[2].ciphertexts)
    forged[1], forged[3] = forged[3], forged[1]
    with pytest.raises(SecAggError, match="bad signature"):
        clients[1].masked_input(np.zeros(2), [Shares.build(2, shares[2].b_commit, forged, Ed25519PrivateKey.generate(), params.context)], SecAggServer(params).quantizer)


PARSERS = [
    lambda d: Params.from_bytes(d),
    lambda d: UnmaskRequest.from_bytes(d),
    lambda d: Keys.from_bytes(d, bytes(16)),
    lambda d: Shares.from_bytes(d, bytes(32), bytes(16)),
    lambda d: Masked.from_bytes(d, bytes(32), bytes(16), 4),
    lambda d: Unmask.from_bytes(d, bytes(32), bytes(16)),
]


@given(st.binary(max_size=300))
def test_random_bytes_never_crash_the_parsers(data: bytes) -> None:
    for parse in PARSERS:
        with pytest.raises(SecAggError):
            parse(data)


def test_every_truncation_of_a_real_message_is_refused() -> None:
    server, _, request = run_to_unmasking()
    session = server.params.context
    for data, parse in [(server.transcript[0], Params.from_bytes), (server.transcript[1], lambda d: Keys.from_bytes(d, session)), (request, UnmaskRequest.from_bytes)]:
        for cut in range(len(data)):
            with pytest.raises(SecAggError):
                parse(data[:cut])
        with pytest.raises(SecAggError, match="trailing"):
            parse(data + b"\x00")


def test_mask_is_the_aes256_ctr_keystream() -> None:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    key = bytes(range(32))
    blocks = b"".join(i.to_bytes(16, "big") for i in range(3))
    expected = Cipher(algorithms.AES(key), modes.ECB()).encryptor().update(blocks)
    assert mask(key, 12).tobytes() == expected


@pytest.mark.parametrize(("clients", "neighbours", "threshold"), [(5, None, 2), (10, 6, 3), (10, 6, 4 - 1), (3, None, 1)])
def test_row20_thresholds_that_allow_split_unmask_requests_are_refused(clients: int, neighbours: int | None, threshold: int) -> None:
    """ATTACKS row 20: with 2t <= neighbours + 1 a server could tell t neighbours 'u survived' and t
    others 'u dropped' and so get both secrets of u; such thresholds are refused."""
    with pytest.raises(SecAggError, match="more than half"):
        make_params(clients, 4, threshold=threshold, neighbours=neighbours)


def test_with_a_pki_substituted_neighbour_keys_are_refused() -> None:
    """A server that swaps in keys of its own for the neighbours gets nothing from a client that
    knows its peers' registered verify keys (the review attack on the semi-honest model)."""
    params = make_params(3, 4)
    signing = {u: Ed25519PrivateKey.generate() for u in (1, 2, 3)}
    registry = {u: k.public_key().public_bytes_raw() for u, k in signing.items()}
    victim = SecAggClient(1, params, signing[1], registry)
    impostors = [SecAggClient(v, params) for v in (2, 3)]  # the server's own keys, not the registered ones
    key_list = [victim.advertise()] + [f.advertise() for f in impostors]
    with pytest.raises(SecAggError, match="not signed by its registered key"):
        victim.share_keys(key_list)
    server = SecAggServer(params, registry)
    with pytest.raises(SecAggError, match="not signed by its registered key"):
        server.receive(key_list[1])


def test_a_client_answers_only_once_a_majority_confirmed_the_same_request_over_the_same_key_list() -> None:
    """Bonawitz's consistency check: too few confirmations, a forged one, or a confirmation of another request or
    another key list, and the client reveals nothing; with a majority of the clients confirming, it answers."""
    server, clients, request = run_to_unmasking()
    mine = {u: c.confirm(request) for u, c in clients.items() if u != 2}
    with pytest.raises(SecAggError, match="2 clients confirmed the unmask request, 3 needed"):
        clients[1].unmask(request, [mine[1], mine[3]])
    forged = bytearray(mine[3])
    forged[-1] ^= 1
    with pytest.raises(SecAggError, match="confirmation of client 3: bad signature"):
        clients[1].unmask(request, [mine[1], bytes(forged), mine[4]])
    other = UnmaskRequest.from_bytes(request)  # client 3's key on another story, as a server splitting stories has it
    context, seed = clients[3].params.context, clients[3]._seed
    for lie in (Confirm.build(3, UnmaskRequest(other.survivors, other.dropped + [99]).to_bytes(), seed, clients[3]._sign, context),
                Confirm.build(3, request, bytes(32), clients[3]._sign, context)):  # the same request over another key list
        with pytest.raises(SecAggError, match="client 3 confirmed another unmask request or key list"):
            clients[1].unmask(request, [mine[1], lie, mine[4], mine[5]])
    Unmask.from_bytes(clients[1].unmask(request, list(mine.values())), clients[1]._keys[1].sig_pk, clients[1].params.context)

def test_a_client_masks_its_input_only_with_shares_from_threshold_minus_one_neighbours() -> None:
    """Bonawitz round 2: a server that withholds Shares messages must not get an input masked by few pairwise masks."""
    params = make_params(5, 4, threshold=3)
    server = SecAggServer(params)
    clients = {u: SecAggClient(u, params) for u in range(1, 6)}
    _, routed = through_shares(server, clients)
    with pytest.raises(SecAggError, match="shares from 1 neighbours; at least 2"):
        clients[1].masked_input(np.zeros(4), routed[1][:1], server.quantizer)
    server.receive(clients[1].masked_input(np.zeros(4), routed[1][:2], server.quantizer))  # the refusal changed nothing


def test_pairwise_masks_that_do_not_pair_up_are_refused_not_summed() -> None:
    """A server that withholds client 4's Shares from client 1 (client 1 then masks without 4, 4 with 1): the signed
    peer lists of the masked inputs show it, and the sum is refused instead of coming out wrong."""
    params = make_params(4, 1, threshold=3)
    server = SecAggServer(params)
    clients = {u: SecAggClient(u, params) for u in range(1, 5)}
    _, routed = through_shares(server, clients)
    server.receive(clients[1].masked_input(np.full(1, 0.5), routed[1][:2], server.quantizer))
    for u in (2, 3, 4):
        server.receive(clients[u].masked_input(np.full(1, 0.5), routed[u], server.quantizer))
    request = server.masked_round_done()
    for u in (2, 3, 4):
        server.receive(clients[u].confirm(request))
    confirmations = server.consistency_round_done()
    for u in (2, 3, 4):
        server.receive(clients[u].unmask(request, confirmations))
    with pytest.raises(SecAggError, match="client 4 masked with client 1 but not 1 with 4"):
        server.finish()
