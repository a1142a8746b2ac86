"""Session 17 review of the secure-aggregation fix (commit 6f729d8: the consistency-check round, masking only with
threshold - 1 neighbours' shares, out-of-range sums refused, disputes).

Its three findings (per-client key lists, confirmations replayed from earlier sessions, a withheld share) were fixed
in the same session (e19ae52); each test's docstring says what failed before. The other tests pin properties that
held under attack and that tests/secagg and tests/review/test_session17_psi_secagg_review.py do not cover.

The malicious server here drives honest `SecAggClient`s directly (it is the only party that routes messages), with a
PKI (`peer_keys`) everywhere, so it cannot forge a neighbour's keys or signatures.
"""

from __future__ import annotations

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mpc_ml.secagg import DropoutError, SecAggClient, SecAggError, SecAggServer, make_params, verify
from mpc_ml.secagg.client import graph_seed, pair_sign
from mpc_ml.secagg.graph import neighbours
from mpc_ml.secagg.keys import agree, new_scalar, public_bytes, secret_to_scalar
from mpc_ml.secagg.messages import Keys, Masked, Params, Unmask, UnmaskRequest, sender_of
from mpc_ml.secagg.prg import derive, mask
from mpc_ml.secagg.quantize import Quantizer
from mpc_ml.secagg.unmask import _reconstruct
from tests.secagg.rounds import through_shares

SECRET = np.array([0.125, -0.5, 0.75, -0.875])


def _pki(n: int) -> tuple[dict[int, Ed25519PrivateKey], dict[int, bytes]]:
    signing = {u: Ed25519PrivateKey.generate() for u in range(1, n + 1)}
    return signing, {u: k.public_key().public_bytes_raw() for u, k in signing.items()}


def _recover(answers: dict[int, Unmask], target: int, masked_with: set[int], y: bytes, target_keys: Keys, params: Params,
             quantizer: Quantizer) -> np.ndarray | None:
    """The target's input from the revealed shares (its self-mask seed, the mask keys of the peers it masked with),
    or None when the answers do not hold threshold shares of each."""
    try:
        seed = _reconstruct({z: a.b_shares[target] for z, a in answers.items() if target in a.b_shares}, params.threshold, "b", None)
        scalars = {v: secret_to_scalar(_reconstruct({z: a.sk_shares[v] for z, a in answers.items() if v in a.sk_shares},
                                                    params.threshold, "s", None), "s") for v in masked_with}
    except (DropoutError, SecAggError):
        return None
    q = Masked.from_bytes(y, target_keys.sig_pk, params.context, params.length).vector
    q = q - mask(derive(seed.to_bytes(32, "little"), "self mask", params.session), params.length)
    for v, scalar in scalars.items():
        pad = mask(derive(agree(scalar, target_keys.s_pk, "peer"), "pairwise mask", params.session), params.length)
        q = q - pad if pair_sign(target, v) > 0 else q + pad
    return quantizer.dequantize_sum(q, 1)


def _answer(client: SecAggClient, request: UnmaskRequest, relayed: list[bytes], sig_pk: bytes, params: Params) -> Unmask | None:
    try:
        return Unmask.from_bytes(client.unmask(request.to_bytes(), relayed), sig_pk, params.context)
    except SecAggError:
        return None


# ---------------------------------------------------------------------------------------------
# a key list of the server's choosing for each client (SecAgg+ mode)
# ---------------------------------------------------------------------------------------------


def _fake_keys(v: int, params: Params) -> bytes:
    """Keys for client v under a signing key of the server's own (a client checks only its neighbours' keys)."""
    return Keys.build(v, public_bytes(new_scalar()), public_bytes(new_scalar()), Ed25519PrivateKey.generate(), params.context)


def _key_list(owner: int, genuine: dict[int, bytes], members: set[int], fake: int | None, wanted: set[int], params: Params) -> list[bytes]:
    """The key list for `owner`: the genuine keys of `members`, plus keys of the server's own for `fake` (a client the
    owner must see listed but not as a neighbour), ground until the owner's neighbours are exactly `wanted`."""
    for _ in range(500):
        data = {v: genuine[v] for v in members}
        if fake is not None:
            data[fake] = _fake_keys(fake, params)
        parsed = {v: Keys.from_bytes(d, params.context, check=False) for v, d in data.items()}
        if neighbours(sorted(parsed), params.degree, graph_seed(params, parsed))[owner] == wanted:
            return [data[v] for v in sorted(data)]
    raise AssertionError("no key list found")


def test_secagg_plus_per_client_key_lists_let_the_server_choose_neighbourhoods_and_recover_an_input() -> None:
    """Failed before (fixed in session 17): in SecAgg+ mode (neighbours < clients - 1) a malicious server
    with a PKI recovers one honest client's exact input at the default threshold (9 clients, 4 neighbours,
    threshold 3). Nothing makes clients agree on the round-0 key list: SecAggClient.share_keys builds the graph
    from whatever list the server sent it and checks (PKI, signature) only its neighbours' keys, so the server
    gives each client its own list (a complete graph over a chosen set, or a ring ground with Keys of its own
    for non-neighbours that requests must list) and so chooses every neighbourhood. Three stories, each
    confirmed by threshold clients of each answerer's own neighbourhood (client.unmask counts a confirmation by
    id and request digest only): the victim and the two peers it masked with (server withheld its other
    neighbours' shares) confirm 'victim survived'; the victim and two neighbours whose shares the victim never
    received reveal its seed; a 3-clique around the two peers reveals their mask keys. The package docstring's
    'the random graph ... makes that unlikely' is false: the server picks the graph after seeing every key. Fix:
    a Confirm signs the request together with the digest of the key list the client used (graph_seed), and
    unmask counts only confirmations made under its own key-list digest (so a neighbourhood confirms one story
    over one graph); also check every listed client's keys against peer_keys (not only neighbours'), and state
    the remaining model"""
    params = make_params(9, 4, threshold=3, neighbours=4)
    assert (params.degree, params.threshold) == (4, 3)
    signing, registry = _pki(9)
    clients = {u: SecAggClient(u, params, signing[u], registry) for u in range(1, 10)}
    genuine = {u: c.advertise() for u, c in clients.items()}
    keys = {u: Keys.from_bytes(k, params.context) for u, k in genuine.items()}
    u, m1, m2, a1, a2, c, b1, b2, b3 = range(1, 10)  # victim, its masking peers, its seed revealers (+ c), a 3-clique
    lists = {
        u: _key_list(u, genuine, {u, m1, m2, a1, a2}, b1, {m1, m2, a1, a2}, params),
        m1: _key_list(m1, genuine, {m1, u, b1, b2, b3}, m2, {u, b1, b2, b3}, params),
        m2: _key_list(m2, genuine, {m2, u, b1, b2, b3}, m1, {u, b1, b2, b3}, params),
        a1: _key_list(a1, genuine, {a1, u, a2, c}, None, {u, a2, c}, params),
        a2: _key_list(a2, genuine, {a2, u, a1, c}, None, {u, a1, c}, params),
        c: _key_list(c, genuine, {c, a1, a2, b2, b3}, u, {a1, a2, b2, b3}, params),
        **{b: _key_list(b, genuine, {b1, b2, b3, m1, m2}, None, {b1, b2, b3, m1, m2} - {b}, params) for b in (b1, b2, b3)},
    }
    try:
        shares = {z: clients[z].share_keys(lists[z]) for z in clients}
    except SecAggError:  # the fix: with a PKI every listed key must be registered (confirmations count against them)
        return
    received = {u: {m1, m2}, m1: {u, b1}, m2: {u, b1}, a1: {u, a2, c}, a2: {u, a1, c}, c: {a1, a2},
                b1: {b2, b3, m1, m2}, b2: {b1, b3, m1, m2}, b3: {b1, b2, m1, m2}}
    quantizer = Quantizer(params.clip, params.bits)
    y = {z: clients[z].masked_input(SECRET if z == u else np.zeros(4), [shares[v] for v in sorted(received[z])], quantizer)
         for z in clients}
    r_u, r_a, r_b = UnmaskRequest([u, m1, m2, b1], []), UnmaskRequest([u, a1, a2, c], []), UnmaskRequest([b1, b2, b3], [m1, m2])
    story = {u: r_u, m1: r_u, m2: r_u, a1: r_a, a2: r_a, c: r_a, b1: r_b, b2: r_b, b3: r_b}
    confirmations = {z: clients[z].confirm(story[z].to_bytes()) for z in clients}  # every honest client confirms its own story
    relayed = {z: [confirmations[v] for v in sorted(clients) if story[v] == story[z]] for z in clients}
    answers = {z: a for z in (u, a1, a2, b1, b2, b3) if (a := _answer(clients[z], story[z], relayed[z], keys[z].sig_pk, params))}
    recovered = _recover(answers, u, {m1, m2}, y[u], keys[u], params, quantizer)
    assert recovered is None or not np.allclose(recovered, SECRET, atol=1e-6), f"the server recovered client {u}'s input {recovered}"


# ---------------------------------------------------------------------------------------------
# confirmations replayed from an earlier session with the same parameters (complete graph)
# ---------------------------------------------------------------------------------------------


def _confirmations_of_a_dropout_session(params: Params, signing: dict[int, Ed25519PrivateKey], registry: dict[int, bytes],
                                        dropped: set[int]) -> tuple[UnmaskRequest, list[bytes]]:
    """An ordinary session (the same Params, the clients' registered keys) in which `dropped` stop after sharing:
    the unmask request and the survivors' confirmations of it."""
    server = SecAggServer(params, registry)
    clients = {u: SecAggClient(u, params, signing[u], registry) for u in range(1, params.clients + 1)}
    _, routed = through_shares(server, clients)
    for z, cl in clients.items():
        if z not in dropped:
            server.receive(cl.masked_input(np.zeros(params.length), routed[z], server.quantizer))
    request = server.masked_round_done()
    return UnmaskRequest.from_bytes(request), [cl.confirm(request) for z, cl in clients.items() if z not in dropped]


def test_confirmations_replayed_from_earlier_sessions_with_the_same_params_reveal_an_input() -> None:
    """Failed before (fixed in session 17): confirmations replay across sessions that reuse the Params. A
    Confirm (messages.Confirm.build) signs only the Params context and the digest of the request, which lists
    client ids; with long-term registered signing keys (a PKI) and a session id the server picks, confirmations
    an honest client gave in earlier sessions with the same Params pass SecAggClient.unmask's check, so 'an
    honest client confirms one request per session' no longer bounds the stories. Complete graph, 5 clients,
    threshold 3: after three ordinary sessions in which 2, 3 or both dropped after sharing, the server replays
    their confirmations in a fourth session with the same Params and recovers client 1's exact input (client 1
    masked with clients 2 and 3 only). Fix: bind each Confirm to this session's fresh round-0 material (sign
    graph_seed(params, keys) or the digest of the key list beside the request digest) and count only
    confirmations under the client's own digest; the same binding stops per-client key lists"""
    params = make_params(5, 4, threshold=3)
    signing, registry = _pki(5)
    old: dict[bytes, list[bytes]] = {}
    for dropped in ({2, 3}, {3}, {2}):
        request, confirms = _confirmations_of_a_dropout_session(params, signing, registry, dropped)
        old[request.to_bytes()] = confirms

    server = SecAggServer(params, registry)  # the fourth session, with the same Params
    clients = {u: SecAggClient(u, params, signing[u], registry) for u in range(1, 6)}
    key_list, routed = through_shares(server, clients)
    keys = {sender_of(k): Keys.from_bytes(k, params.context) for k in key_list}
    y1 = clients[1].masked_input(SECRET, [m for m in routed[1] if sender_of(m) in (2, 3)], server.quantizer)
    for z in range(2, 6):
        clients[z].masked_input(np.zeros(4), routed[z], server.quantizer)
    story = {4: UnmaskRequest([1, 4, 5], [2, 3]), 5: UnmaskRequest([1, 4, 5], [2, 3]),
             2: UnmaskRequest([1, 2, 4, 5], [3]), 3: UnmaskRequest([1, 3, 4, 5], [2])}
    fresh = {z: clients[z].confirm(r.to_bytes()) for z, r in story.items()}
    answers = {}
    for z, r in story.items():
        relayed = [fresh[v] for v in story if story[v] == r] + old[r.to_bytes()]
        if (a := _answer(clients[z], r, relayed, keys[z].sig_pk, params)) is not None:
            answers[z] = a
    recovered = _recover(answers, 1, {2, 3}, y1, keys[1], params, server.quantizer)
    assert recovered is None or not np.allclose(recovered, SECRET, atol=1e-6), f"the server recovered client 1's input {recovered}"


# ---------------------------------------------------------------------------------------------
# verify and a routing the transcript does not record
# ---------------------------------------------------------------------------------------------


def test_verify_accepts_a_wrong_total_after_the_server_withheld_one_share() -> None:
    """Failed before (fixed in session 17): verify accepts a wrong total when the server withheld a Shares
    message from a survivor. The transcript does not record which peers each client masked with (Masked carries
    only the vector) and unmask.unmasked_sum assumes the server's graph, so the unmatched pairwise mask stays in
    the total; only the range check can notice it (it passes with probability about reach / 2^32 per coordinate:
    here 4 clients, 1 coordinate, about 1/2). Fix: each Masked message signs the sorted ids it masked with (its
    received set), unmasked_sum removes pairwise masks by those lists and verify/finish refuse a survivor whose
    list does not match the request"""
    signing, registry = _pki(4)
    for _ in range(40):
        params = make_params(4, 1, threshold=3)
        server = SecAggServer(params, registry)
        clients = {u: SecAggClient(u, params, signing[u], registry) for u in range(1, 5)}
        _, routed = through_shares(server, clients)
        server.receive(clients[1].masked_input(np.full(1, 0.5), [m for m in routed[1] if sender_of(m) != 4], server.quantizer))
        for z in (2, 3, 4):
            server.receive(clients[z].masked_input(np.full(1, 0.5), routed[z], server.quantizer))
        request = server.masked_round_done()
        with pytest.raises(SecAggError, match="do not match the neighbours"):
            clients[1].confirm(request)
        for z in (2, 3, 4):
            server.receive(clients[z].confirm(request))
        relayed = server.consistency_round_done()
        for z in (2, 3, 4):
            server.receive(clients[z].unmask(request, relayed))
        try:
            result = server.finish()
            checked = verify(result.transcript, registry)
        except SecAggError:
            continue  # the range check caught this one; the server runs another session
        assert np.allclose(checked.total, 2.0, atol=checked.error_bound), f"verify accepted the total {checked.total}, not 2.0"
        return


# ---------------------------------------------------------------------------------------------
# held
# ---------------------------------------------------------------------------------------------


def test_complete_graph_n_2t_minus_1_per_client_stories_in_one_session_get_no_answer() -> None:
    """Held: in one session (complete graph, 5 clients, threshold 3, the victim masking with 2 and 3 only) the four
    stories of the replay attack above each miss a confirmation: no answer reveals anything."""
    params = make_params(5, 4, threshold=3)
    signing, registry = _pki(5)
    server = SecAggServer(params, registry)
    clients = {u: SecAggClient(u, params, signing[u], registry) for u in range(1, 6)}
    key_list, routed = through_shares(server, clients)
    keys = {sender_of(k): Keys.from_bytes(k, params.context) for k in key_list}
    clients[1].masked_input(SECRET, [m for m in routed[1] if sender_of(m) in (2, 3)], server.quantizer)
    for z in range(2, 6):
        clients[z].masked_input(np.zeros(4), routed[z], server.quantizer)
    story = {4: UnmaskRequest([1, 4, 5], [2, 3]), 5: UnmaskRequest([1, 4, 5], [2, 3]),
             2: UnmaskRequest([1, 2, 4, 5], [3]), 3: UnmaskRequest([1, 3, 4, 5], [2])}
    with pytest.raises(SecAggError, match="do not match the neighbours"):
        clients[1].confirm(story[4].to_bytes())
    fresh = {z: clients[z].confirm(r.to_bytes()) for z, r in story.items()}
    for z, r in story.items():
        relayed = [fresh[v] for v in story if story[v] == r]
        assert _answer(clients[z], r, relayed, keys[z].sig_pk, params) is None
        # all confirmations at once (a refusal leaves the client where it was): still too few, or one from a circle
        # member on another story, which makes the client refuse
        assert _answer(clients[z], r, list(fresh.values()), keys[z].sig_pk, params) is None


def test_a_confirmation_signed_in_another_session_does_not_count() -> None:
    """Held (context binding on the client side): a confirmation of the very same request from a session with another
    session id fails its signature in SecAggClient.unmask, so the client refuses rather than counts it."""
    signing, registry = _pki(4)
    other = make_params(4, 2, threshold=3)
    _, old_confirms = _confirmations_of_a_dropout_session(other, signing, registry, set())
    params = make_params(4, 2, threshold=3)
    server = SecAggServer(params, registry)
    clients = {u: SecAggClient(u, params, signing[u], registry) for u in range(1, 5)}
    _, routed = through_shares(server, clients)
    for z, cl in clients.items():
        server.receive(cl.masked_input(np.zeros(2), routed[z], server.quantizer))
    request = server.masked_round_done()
    mine = clients[1].confirm(request)
    with pytest.raises(SecAggError, match="bad signature"):
        clients[1].unmask(request, [mine] + [m for m in old_confirms if sender_of(m) != 1])


def test_clients_that_confirm_but_never_answer_do_not_stop_an_honest_session() -> None:
    """Held (liveness): 5 clients, threshold 3; clients 4 and 5 confirm and then vanish. Clients 1..3 have three
    confirmations each, answer, and the sum of all five inputs comes out (the vanished clients' seeds from 1..3)."""
    params = make_params(5, 2, threshold=3)
    server = SecAggServer(params)
    clients = {u: SecAggClient(u, params) for u in range(1, 6)}
    _, routed = through_shares(server, clients)
    for z, cl in clients.items():
        server.receive(cl.masked_input(np.full(2, 0.1 * z), routed[z], server.quantizer))
    request = server.masked_round_done()
    for cl in clients.values():
        server.receive(cl.confirm(request))
    relayed = server.consistency_round_done()
    for z in (1, 2, 3):
        server.receive(clients[z].unmask(request, relayed))
    result = server.finish()
    assert np.allclose(result.total, 1.5, atol=result.error_bound)
    assert np.allclose(verify(result.transcript).total, result.total)
