"""PSI-sum against plaintext, with the trustees' threshold key, proofs, and tampering."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from mpc_ml.psi import (
    PsiError,
    PsiSumClient,
    PsiSumResult,
    PsiSumServer,
    SumRecord,
    decrypt_share,
    intersection_sum,
    release,
    verify_sum,
)
from mpc_ml.psi.hashing import encode_items
from threshold.dkg import CeremonyParams, run_ceremony
from threshold.elgamal import PublicKey, ciphertext_sum
from threshold.errors import ProtocolError
from threshold.groups import get_group

GROUP = get_group("ed25519")
ED = GROUP  # the group of the server's blinding proof (also the values' group here)
_, KEYS = run_ceremony(CeremonyParams(GROUP, 3, 2, b"tests/psi/test_psisum"))
PK = PublicKey(GROUP, KEYS[0].public_key)


@settings(max_examples=15, deadline=None)
@given(
    st.dictionaries(st.text(max_size=6), st.integers(0, 50), min_size=1, max_size=12),
    st.lists(st.text(max_size=6), min_size=1, max_size=12, unique=True),
    st.sampled_from([(0, 1), (1, 2), (0, 2), (0, 1, 2)]),
)
def test_sum_equals_plaintext_for_any_quorum(values: dict, server: list, present: tuple) -> None:
    result = intersection_sum(values, server, [KEYS[i] for i in present], quorum=2, max_value=50, min_count=0)
    common = set(values) & set(server)
    assert result.total == sum(values[x] for x in common)
    assert result.count == len(common)
    assert verify_sum(result.to_json(), KEYS[0].public_key, KEYS[0].verification_keys) == result.total


def test_too_few_trustees_is_a_clear_error() -> None:
    with pytest.raises(PsiError, match="1 trustees present, quorum is 2"):
        intersection_sum({"a": 1}, ["a"], KEYS[:1], quorum=2)


@pytest.mark.parametrize(
    ("values", "message"),
    [({}, "client set is empty"), ({"a": -1}, "0..100"), ({"a": True}, "0..100"), ({"a": 1.5}, "0..100"), ({3: 1}, "item 0 is a int")],
)
def test_bad_client_values_are_refused(values: dict, message: str) -> None:
    with pytest.raises(PsiError, match=message):
        intersection_sum(values, ["a"], KEYS, quorum=2, max_value=100)


def test_duplicate_and_empty_server_items_are_refused() -> None:
    with pytest.raises(PsiError, match="duplicates"):
        PsiSumServer(["a", b"a"])
    with pytest.raises(PsiError, match="server set is empty"):
        PsiSumServer([])


def _record(values: dict, items: list) -> tuple[SumRecord, bytes]:
    server = PsiSumServer(items)
    client = PsiSumClient(values, PK, 100)
    return server.total(client.reply(server.hello()).to_bytes(GROUP), PK), client.verify_key


def _replace(record: SumRecord, **changes: object) -> SumRecord:
    import dataclasses

    return dataclasses.replace(record, **changes)


def test_trustees_refuse_a_total_that_is_not_the_product_of_the_matched() -> None:
    """As ATTACKS row 12 for tallies: the trustees decrypt only the product of the marked ciphertexts."""
    record, client = _record({"a": 5, "b": 7}, ["a", "b"])
    with pytest.raises(ProtocolError, match="not the product"):
        decrypt_share(_replace(record, total=record.ciphertexts[0]), KEYS[0], {client}, set(), min_count=0, server_keys={record.server_key})


def test_the_server_cannot_choose_which_items_match() -> None:
    """The matched items follow from the client's signed points and the server's one key (its DLEQ proof): marking
    more, fewer or other rows, or blinding one row with another key, is refused before any decryption."""
    record, client = _record({"a": 5, "b": 7, "c": 9}, ["a", "b", "z"])
    assert record.count == 2
    for matched in ((0, 1, 2), tuple(record.matched[:1]), (1, 1)):
        with pytest.raises(ProtocolError, match="matched items are not those"):
            decrypt_share(_replace(record, matched=matched), KEYS[0], {client}, set(), min_count=0, server_keys={record.server_key})
    outside = next(i for i in range(3) if i not in record.matched)
    other = list(record.blinded)
    other[outside] = ED.exp_g(3)  # a point of the subgroup, but not s times the client's point
    with pytest.raises(ProtocolError, match="one key blinded every client point"):
        decrypt_share(_replace(record, blinded=tuple(other)), KEYS[0], {client}, set(), min_count=0, server_keys={record.server_key})
    with pytest.raises(ProtocolError, match="one key blinded every client point"):
        decrypt_share(_replace(record, server_key=ED.exp_g(5)), KEYS[0], {client}, set(), min_count=0,
                      server_keys={ED.exp_g(5)})
    again, _ = _record({"a": 5, "b": 7, "c": 9}, ["a", "b", "z"])
    with pytest.raises(ProtocolError, match="one key blinded every client point"):  # a proof of another request
        decrypt_share(_replace(record, proof=again.proof, server_key=again.server_key), KEYS[0], {client}, set(), min_count=0,
                      server_keys={again.server_key})
    with pytest.raises(ProtocolError, match="signature"):  # the server's points blinded again are the client's
        decrypt_share(_replace(record, doubled=record.doubled[32:]), KEYS[0], {client}, set(), min_count=0, server_keys={record.server_key})


def test_trustees_decrypt_one_sum_per_signed_request() -> None:
    """The review attack: sums over overlapping subsets of one request would give single values."""
    record, client = _record({"alice": 11, "bob": 20, "carol": 40}, ["alice", "bob", "carol"])
    ledger: set[bytes] = set()
    decrypt_share(record, KEYS[0], {client}, ledger, min_count=0, server_keys={record.server_key})
    with pytest.raises(ProtocolError, match="already decrypted"):
        decrypt_share(record, KEYS[0], {client}, ledger, min_count=0, server_keys={record.server_key})
    for subset in ((0, 1), (0, 2), (1, 2)):  # nor can a subset be marked (test_the_server_cannot_choose_...)
        chosen = _replace(record, matched=subset, total=ciphertext_sum(GROUP, [record.ciphertexts[i] for i in subset]))
        with pytest.raises(ProtocolError, match="matched items are not those"):
            decrypt_share(chosen, KEYS[0], {client}, set(), min_count=0, server_keys={record.server_key})


def test_trustees_refuse_unsigned_foreign_or_reordered_requests() -> None:
    record, client = _record({"a": 5, "b": 7}, ["a", "b"])
    with pytest.raises(ProtocolError, match="registered server"):  # a server the trustee does not know
        decrypt_share(record, KEYS[0], {client}, set(), min_count=0, server_keys={ED.exp_g(5)})
    with pytest.raises(ProtocolError, match="registered client"):
        decrypt_share(record, KEYS[0], {bytes(32)}, set(), min_count=0, server_keys={record.server_key})
    forged = _replace(record, bits=record.bits[::-1], bit_proofs=record.bit_proofs[::-1])
    with pytest.raises(ProtocolError, match="signature"):
        decrypt_share(forged, KEYS[0], {client}, set(), min_count=0, server_keys={record.server_key})
    with pytest.raises(ProtocolError, match="signature"):
        decrypt_share(_replace(record, points=record.points[32:] + record.points[:32]), KEYS[0], {client}, set(), min_count=0, server_keys={record.server_key})


def test_trustees_refuse_too_small_an_intersection() -> None:
    record, client = _record({"a": 5, "b": 7}, ["a", "z"])
    with pytest.raises(ProtocolError, match="1 matched items, at least 5"):
        decrypt_share(record, KEYS[0], {client}, set(), server_keys={record.server_key})
    with pytest.raises(PsiError, match="at least 5"):
        intersection_sum({"a": 5, "b": 7}, ["a", "b"], KEYS, quorum=2)


def test_a_wrong_partial_decryption_is_skipped_and_blamed() -> None:
    record, client = _record({"a": 5, "b": 7, "c": 1}, ["a", "b"])
    good = [decrypt_share(record, k, {client}, set(), min_count=0, server_keys={record.server_key}) for k in KEYS]
    bad = type(good[0])(good[0].index, (GROUP.g,), good[0].proofs)
    result = release(record, [bad, good[1], good[2]], KEYS[0].verification_keys, 2)
    assert result.total == 12
    with pytest.raises(PsiError, match="1 valid partial decryptions, 2 needed"):
        release(record, [bad, good[1]], KEYS[0].verification_keys, 2)


@pytest.mark.parametrize(
    "path",
    [("total",), ("record", "bits", 0, 0, "beta"), ("record", "bit_proofs", 0, 1, "a", 0), ("record", "total", "alpha"), ("partials", 0, "shares", 0), ("record", "matched", 0),
     ("record", "blinded", 0), ("record", "server_key"), ("record", "proof", "a"), ("record", "proof", "response"),
     ("record", "points", 0), ("record", "doubled", 0)],
)
def test_tampered_results_fail_verification(path: tuple) -> None:
    result = intersection_sum({"a": 5, "b": 7, "c": 1}, ["a", "b", "d"], KEYS, quorum=3, max_value=10, min_count=0)
    doc = json.loads(result.to_json())
    target = doc
    for key in path[:-1]:
        target = target[key]
    last = path[-1]
    value = target[last]
    if isinstance(value, int):
        target[last] = value + 1
    elif path[-1] == "response":
        target[last] = GROUP.scalar_to_hex(GROUP.scalar_from_hex(value) + 1)
    elif path[1] in ("points", "doubled"):  # curve25519 u-coordinates: another valid one
        target[last] = encode_items([b"another item"]).hex()
    else:
        target[last] = GROUP.to_hex(GROUP.mul(GROUP.from_hex(value), GROUP.g))
    with pytest.raises(PsiError):
        verify_sum(json.dumps(doc), KEYS[0].public_key, KEYS[0].verification_keys)


@pytest.mark.parametrize("text", ["nope", "[]", '{"total": 1}'])
def test_malformed_result_files_are_named(text: str) -> None:
    with pytest.raises(PsiError, match="PSI-sum result"):
        PsiSumResult.from_json(text)


def test_malformed_sum_messages_are_refused() -> None:
    server = PsiSumServer(["a", "b"])
    request = PsiSumClient({"a": 1}, PK, 10).reply(server.hello()).to_bytes(GROUP)
    for cut in (0, 10, len(request) - 1):
        with pytest.raises(PsiError):
            server.total(request[:cut], PK)
    size = GROUP.element_bytes  # the last bit of the last value: alpha, beta, 4 commitments, 3 scalars, then the signature
    at = len(request) - 64 - (6 * size + 96) + size
    broken = request[:at] + bytes(size) + request[at + size:]  # beta is not a valid group element
    with pytest.raises(PsiError, match="beta"):
        server.total(broken, PK)
    unsigned = request[:-1] + bytes([request[-1] ^ 1])
    with pytest.raises(PsiError, match="signature"):
        server.total(unsigned, PK)


def test_a_result_under_keys_of_the_forgers_choice_is_refused() -> None:
    """verify_sum takes the trustees' keys from their ceremony, never from the result."""
    _, fake = run_ceremony(CeremonyParams(GROUP, 3, 2, b"forger"))
    forged = intersection_sum({"a": 999}, ["a"], fake[:2], quorum=2, max_value=1000, min_count=0)
    with pytest.raises(PsiError, match="another key"):
        verify_sum(forged.to_json(), KEYS[0].public_key, KEYS[0].verification_keys)
    honest = intersection_sum({"a": 5}, ["a"], KEYS[:2], quorum=2, max_value=10, min_count=0)
    doc = json.loads(honest.to_json())
    doc["verification_keys"]["1"] = GROUP.to_hex(fake[0].verification_keys[1])
    with pytest.raises(PsiError, match="verification keys"):
        verify_sum(json.dumps(doc), KEYS[0].public_key, KEYS[0].verification_keys)


def test_verification_takes_no_discrete_log_whatever_the_bound() -> None:
    result = intersection_sum({"a": 5, "b": 7}, ["a", "b"], KEYS[:2], quorum=2, max_value=100, min_count=0)
    doc = json.loads(result.to_json())
    doc["bound"] = 10**30
    assert verify_sum(json.dumps(doc), KEYS[0].public_key, KEYS[0].verification_keys) == 12
    doc["total"] = 10**25
    with pytest.raises(PsiError, match="do not decrypt to"):
        verify_sum(json.dumps(doc), KEYS[0].public_key, KEYS[0].verification_keys)


def test_too_small_a_quorum_claim_is_refused() -> None:
    result = intersection_sum({"a": 5, "b": 7}, ["a", "b"], KEYS, quorum=2, max_value=100, min_count=0)
    doc = json.loads(result.to_json())
    doc["quorum"] = 1
    with pytest.raises(PsiError, match="do not decrypt"):
        verify_sum(json.dumps(doc), KEYS[0].public_key, KEYS[0].verification_keys)


def test_values_are_sent_as_proven_bits_and_trustees_cap_their_width() -> None:
    """Each value travels as the ciphertexts of its bits with a 0/1 proof each (bound to the request and row): the
    value ciphertext is their product raised to 2^i, so no value is negative or reaches 2^bits. A trustee refuses
    values of more bits than it accepts; a bit that encrypts 2 (its proof made for another ciphertext) is named."""
    from mpc_ml.psi.sum_messages import SumRequest, signed_part

    server = PsiSumServer(["a", "b", "c"])
    signing = Ed25519PrivateKey.generate()
    client = PsiSumClient({"a": 9, "b": 3}, PK, 10, signing)  # 10 < 2^4: four bits a value
    request = client.reply(server.hello())
    assert [len(row) for row in request.bits] == [4, 4]
    record = server.total(request.to_bytes(GROUP), PK)
    assert record.value_bits == 4 and record.count == 2
    with pytest.raises(ProtocolError, match="values of 4 bits, at most 3"):
        decrypt_share(record, KEYS[0], {client.verify_key}, set(), min_count=0, server_keys={server.server_key},
                      max_value_bits=3)
    decrypt_share(record, KEYS[0], {client.verify_key}, set(), min_count=0, server_keys={server.server_key},
                  max_value_bits=4)
    bits = [list(row) for row in request.bits]
    bits[1][2] = PK.encrypt(2)[0]  # a "bit" of 2: value 3 + 2 * 4 = 11
    bits = tuple(tuple(row) for row in bits)
    forged = SumRequest(request.doubled, request.points, bits, request.proofs, request.request_id, client.verify_key,
                        signing.sign(signed_part(GROUP, PK.element, request.request_id, bits, request.points,
                                                 request.doubled)))
    with pytest.raises(PsiError, match="value 1 bit 2: its proof that it encrypts 0 or 1 does not verify"):
        server.total(forged.to_bytes(GROUP), PK)
    with pytest.raises(PsiError, match="more than 64 bits"):
        PsiSumClient({"a": 1}, PK, 2**64)
