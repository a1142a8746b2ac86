"""Session 18 review: an index from every row of /work/shared/ATTACKS.md to the tests that mount that attack against
Quorum, plus the attacks that had no real test yet.

`ATTACK_TESTS` maps each row ("1".."20") to pytest node ids (existing tests, judged by reading the test and the code
it exercises, and the tests of this file). `test_every_listed_node_id_exists` checks, by parsing each file with `ast`,
that every node id names a function or a class method that exists.

The attacks added here (each names its row):
- row 1: the Bernhard-Pereira-Warinschi forgery of a 0/1 proof for a ciphertext of a huge value (weak Fiat-Shamir);
- row 3: the weak Fiat-Shamir fake decryption share; the Pedersen generator h of the DKG derived from a public seed
  (a trapdoored h lets a dealer open a commitment to two shares);
- row 2: a permuted copy of another voter's ballot;
- row 5: a mixed-order alpha (member times an element of order 2 or 8) sent to a trustee;
- row 6: a setup entry carrying other group parameters than the standard ones;
- row 15: another voter re-casting a challenged ballot's ciphertexts, permuted, with fresh valid proofs.
Where it is cheap, the defence is also removed in a *copy* of the module loaded in this process (never the project's
files), to show that the attack then succeeds: the test can fail.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import importlib.util
import secrets
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from tests.voting.voting_helpers import CHOICE, MANIFEST, OTHER, Scenario, open_election
from threshold import decryption as decryption_mod
from threshold import proofs as proofs_mod
from threshold import vss as vss_mod
from threshold import dkg as dkg_mod
from threshold.decryption import PartialDecryption, combine, partial_decrypt, verify_partial
from threshold.dkg import CeremonyParams, run_ceremony
from threshold.elgamal import Ciphertext, PublicKey
from threshold.errors import DecodeError, ProtocolError, VerificationError
from threshold.groups import get_group
from threshold.groups.ed25519 import IDENTITY, SMALL_ORDER
from threshold.hashing import hash_to_scalar
from threshold.proofs import ChaumPedersenProof, RangeProof
from voting import credentials
from voting import election as election_mod
from voting.ballot import ballot_hash, contest_context, encrypt_ballot, reveal_json, selection_context, signed_body
from voting.context import parse_setup, setup_payload

ROOT = Path(__file__).resolve().parents[2]

ATTACK_TESTS: dict[str, list[str]] = {
    "1": [  # weak Fiat-Shamir: the challenge must hash the statement
        "tests/threshold/test_proofs.py::test_schnorr",
        "tests/threshold/test_proofs.py::test_weak_fiat_shamir_forgery_is_rejected",
        "tests/threshold/test_proofs.py::test_range_proof_bound_to_everything",
        "tests/threshold/test_vectors.py::test_proof_transcript_vectors",
        "tests/voting/test_election.py::test_row01_row09_proofs_bound_to_statement_and_context",
        "tests/review/test_session12_cofactor_review.py::test_a_0_1_proof_of_an_encryption_of_2_never_verifies_whatever_the_torsion",
        "tests/review/test_session18_attacks_review.py::test_row01_weak_fiat_shamir_forged_0_1_proof_of_a_huge_value",
    ],
    "2": [  # ballot copying, re-randomised copies, permuted copies, replays
        "tests/voting/test_election.py::test_row02_copied_and_malleated_ballots_refused",
        "tests/threshold/test_proofs.py::test_range_proof_bound_to_everything",
        "tests/review/test_voting_adversarial.py::test_replayed_ballot",
        "tests/review/test_voting_adversarial.py::test_reencrypted_copy_under_own_credential",
        "tests/review/test_voting_adversarial.py::test_proofs_moved_to_another_credential",
        "tests/review/test_voting_adversarial.py::test_nonce_reused_inside_one_ballot",
        "tests/review/test_voting_adversarial.py::test_retried_cast_and_replays",
        "tests/review/test_session12_cofactor_review.py::test_a_third_party_cannot_make_a_second_valid_ballot_by_adding_torsion",
        "tests/review/test_session18_attacks_review.py::test_row02_permuted_copy_of_another_voters_ballot_is_refused",
    ],
    "3": [  # trapdoored commitment generators; fake decryption proofs (no shuffle in Quorum: homomorphic tally)
        "tests/threshold/test_proofs.py::test_chaum_pedersen",
        "tests/threshold/test_dkg.py::test_invalid_partial_decryptions_are_blamed",
        "tests/review/test_session12_cofactor_review.py::test_a_wrong_partial_decryption_never_verifies_and_a_share_with_torsion_is_refused",
        "tests/review/test_voting_adversarial.py::test_result_not_the_decryption",
        "tests/review/test_voting_adversarial.py::test_partial_with_another_trustees_share",
        "tests/threshold/test_gjkr_review.py::test_dealer_cannot_reveal_another_polynomial_even_with_valid_feldman_proofs",
        "tests/review/test_session18_attacks_review.py::test_row03_weak_fiat_shamir_fake_decryption_share",
        "tests/review/test_session18_attacks_review.py::test_row03_pedersen_h_comes_from_a_public_seed_and_a_trapdoor_would_break_binding",
    ],
    "4": [  # group membership at every entry point
        "tests/threshold/test_groups.py::test_modp_rejects_non_members",
        "tests/threshold/test_groups.py::test_modp_rejects_bad_lengths_and_identity",
        "tests/threshold/test_groups.py::test_ed25519_rejects_small_order_and_non_canonical",
        "tests/threshold/test_groups.py::test_ed25519_rejects_mixed_order_point",
        "tests/threshold/test_groups.py::test_non_canonical_y_rejected",
        "tests/threshold/test_proofs.py::test_proof_json_rejects_non_members_and_identity",
        "tests/threshold/test_adversarial.py::test_batched_membership_resists_cancelling_non_members",
        "tests/threshold/test_adversarial.py::test_reader_stays_failed_after_a_failed_membership_test",
        "tests/voting/test_election.py::test_row04_non_member_element_refused",
        "tests/threshold/test_dkg.py::test_a_share_outside_the_subgroup_is_blamed_even_with_a_proof_that_holds_up_to_it",
        "tests/review/test_session12_cofactor_review.py::test_every_dkg_statement_element_with_torsion_is_refused",
        "tests/review/test_session9_core_review.py::test_negated_modp_encryption_key_cannot_frame_an_honest_dealer",
        "tests/threshold/test_parsers_fuzz.py::test_parsers_raise_only_decode_errors",
    ],
    "5": [  # small-subgroup / cofactor leak of trustee secrets
        "tests/threshold/test_dkg.py::test_trustee_refuses_non_member_ciphertext_before_exponentiating",
        "tests/review/test_session9_core_review.py::test_trustee_reveals_no_kem_secret_for_a_non_member_ephemeral",
        "tests/review/test_session18_attacks_review.py::test_row05_mixed_order_alpha_is_refused_and_would_leak_the_share",
    ],
    "6": [  # trapdoored group parameters
        "tests/threshold/test_groups.py::test_modp_parameters_rederived",
        "tests/threshold/test_groups.py::test_ed25519_parameters",
        "tests/threshold/test_groups.py::test_unknown_group",
        "tests/review/test_session18_attacks_review.py::test_row06_setup_with_other_group_parameters_is_refused",
    ],
    "7": [  # biased challenge / nonce sampling
        "tests/threshold/test_encoding_hashing.py::test_hash_to_field_draws_128_extra_bits",
        "tests/threshold/test_encoding_hashing.py::test_hash_to_field_has_no_modulo_bias",
        "tests/threshold/test_encoding_hashing.py::test_rfc9380_expand_message_xmd_vectors",
        "tests/threshold/test_groups.py::test_random_scalars_reject_out_of_range_candidates_and_draw_again",
    ],
    "8": [  # non-injective encodings
        "tests/threshold/test_encoding_hashing.py::test_encoding_is_injective",
        "tests/threshold/test_encoding_hashing.py::test_encoding_separates_classic_ambiguities",
        "tests/threshold/test_encoding_hashing.py::test_canonical_json",
        "tests/threshold/test_vectors.py::test_encode_vectors",
        "tests/threshold/test_adversarial.py::test_hex_fields_have_one_spelling",
        "tests/threshold/test_adversarial.py::test_challenge_does_not_depend_on_the_python_type_of_an_element",
        "tests/voting/test_election.py::test_row08_row14_trackers_recomputed_by_the_voter_and_distinct",
        "tests/voting/test_election.py::test_row08_known_answers_pin_the_ballot_encodings",
        "tests/review/test_session9_core_review.py::test_browser_backup_hex_has_one_spelling",
        "tests/web/test_cli_voter.py::test_the_client_refuses_what_a_lying_server_answers",
    ],
    "9": [  # context binding (election, contest, option, voter, trustee, position)
        "tests/voting/test_election.py::test_row01_row09_proofs_bound_to_statement_and_context",
        "tests/threshold/test_adversarial.py::test_decryption_share_bound_to_position_and_trustee",
        "tests/threshold/test_adversarial.py::test_complaint_cannot_be_moved_to_frame_another_dealer",
        "tests/threshold/test_encoding_hashing.py::test_hash_to_scalar_domain_separation",
        "tests/threshold/test_proofs.py::test_range_proof_bound_to_everything",
        "tests/review/test_voting_adversarial.py::test_proofs_moved_to_another_credential",
    ],
    "10": [  # DKG rushing bias, equivocation, one signed transcript
        "tests/threshold/test_adversarial.py::test_withholding_dealer_cannot_choose_between_two_joint_keys",
        "tests/threshold/test_dkg.py::test_withheld_reveal_is_reconstructed_and_changes_nothing",
        "tests/threshold/test_gjkr_review.py::test_no_feldman_value_is_public_before_qual",
        "tests/threshold/test_dkg.py::test_cheating_dealer_is_caught_by_a_public_complaint",
        "tests/threshold/test_dkg.py::test_transcript_signed_by_every_trustee",
        "tests/threshold/test_adversarial.py::test_dkg_transcript_binds_share_ciphertexts",
        "tests/threshold/test_adversarial.py::test_complaint_does_not_open_another_dealers_share",
        "tests/threshold/test_gjkr_review.py::test_colluders_cannot_frame_an_honest_dealer",
        "tests/threshold/test_gjkr_review.py::test_board_edits_of_the_recorded_ceremony_are_caught",
    ],
    "11": [  # threshold decryption edge cases
        "tests/threshold/test_sharing.py::test_index_zero_and_duplicates_refused",
        "tests/threshold/test_adversarial.py::test_combine_blames_invalid_partial_with_colliding_index",
        "tests/threshold/test_dkg.py::test_invalid_partial_decryptions_are_blamed",
        "tests/threshold/test_dkg.py::test_openings_are_checked_and_a_quorum_is_needed",
        "tests/threshold/test_adversarial.py::test_partial_decryption_of_empty_tally_round_trips",
        "tests/review/test_voting_adversarial.py::test_too_few_partials",
        "tests/review/test_voting_adversarial.py::test_same_trustee_twice",
    ],
    "12": [  # tally-subset de-anonymisation
        "tests/voting/test_election.py::test_row12_trustee_refuses_a_tally_it_cannot_recompute",
        "tests/review/test_voting_adversarial.py::test_trustees_refuse_a_tally_of_one_ballot",
        "tests/review/test_voting_adversarial.py::test_tally_omits_a_ballot",
        "tests/review/test_voting_adversarial.py::test_tally_adds_a_ballot",
        "tests/review/test_voting_adversarial.py::test_tally_counts_the_superseded_ballot",
        "tests/voting/test_record_vectors.py::test_sample_record",
    ],
    "13": [  # ballot stuffing / eligibility
        "tests/voting/test_election.py::test_row13_ballot_stuffing_refused",
        "tests/review/test_voting_adversarial.py::test_stuffed_ballot_unknown_credential",
        "tests/web/test_credential_authority.py::test_voters_vote_with_credentials_the_server_never_saw",
        "tests/web/test_credential_authority.py::test_an_authority_credential_is_not_replaced_by_one_issued_on_the_server",
    ],
    "14": [  # clash attacks / tracker collisions
        "tests/voting/test_election.py::test_row08_row14_trackers_recomputed_by_the_voter_and_distinct",
        "tests/review/test_voting_adversarial.py::test_duplicate_tracking_code",
    ],
    "15": [  # Benaloh challenge misuse
        "tests/voting/test_election.py::test_row15_benaloh_challenge",
        "tests/review/test_voting_adversarial.py::test_challenged_ballot_cast_later",
        "tests/web/test_api_election.py::test_whole_election_over_the_api",
        "tests/web/test_browser_election.py::test_whole_election_in_the_browser",
        "tests/review/test_session18_attacks_review.py::test_row15_challenged_ciphertexts_recast_by_another_voter_permuted_with_fresh_proofs",
    ],
    "16": [  # stubbed or short-circuited verifier checks
        "tests/voting/test_verifier_mutation.py::test_every_failure_site_is_found",
        "tests/voting/test_verifier_mutation.py::test_row16_every_deleted_check_is_noticed",
        "tests/voting/test_verifier_tamper.py::test_every_check_has_a_case",
        "tests/voting/test_verifier_tamper.py::test_tamper_is_caught_by_its_check",
        "tests/voting/test_record_vectors.py::test_sample_record",
        "tests/threshold/test_adversarial.py::test_range_proof_of_wrong_shape_is_rejected",
    ],
    "17": [  # length leakage
        "tests/voting/test_ballot_length.py::test_ballot_length_does_not_depend_on_the_vote",
    ],
    "18": [  # server-delivered client code
        "tests/web/test_sri.py::test_booth_page_pins_every_module",
        "tests/web/test_sri.py::test_booth_hash_is_published",
        "tests/web/test_sri.py::test_browser_refuses_a_swapped_module",
        "tests/web/test_sri.py::test_created_election_publishes_the_served_booth_hash",
        "tests/web/test_security.py::test_headers_on_every_page",
        "tests/web/test_security.py::test_no_inline_script_or_style_in_templates",
        "tests/voting/test_setup_booth_hash.py::test_swapped_booth_hash_fails_even_rechained",
        "tests/web/test_cli_voter.py::test_cast_and_challenge_from_the_command_line",
    ],
    "19": [  # side channels in trustee secret operations
        "tests/threshold/test_side_channels.py::test_modp_trustee_secret_goes_through_the_constant_time_exponentiation_only",
        "tests/threshold/test_side_channels.py::test_ed25519_trustee_secret_goes_through_the_constant_time_ladder",
        "tests/threshold/test_side_channels.py::test_timing_variance_measurement_runs",
    ],
    "20": [  # MPC: mask reuse, fixed point, dealer trust, SecAgg unmask requests
        "tests/mpc_ml/test_mpc_verify.py::test_masks_are_fresh_and_no_dealer",
        "tests/mpc_ml/test_mpc_prss.py::test_preprocessed_masks_give_the_same_results_and_are_used_once",
        "tests/mpc_ml/test_mpc_prss.py::test_pool_hands_out_each_element_once",
        "tests/mpc_ml/test_mpc_arith.py::test_fixed_point_mul_error_bound",
        "tests/mpc_ml/test_mpc_arith.py::test_function_accuracy_over_documented_ranges",
        "tests/mpc_ml/test_mpc_arith.py::test_bad_input_rejected",
        "tests/review/test_mpc_second_pass.py::test_a_prss_seed_dealer_that_equivocates_is_caught_at_start_up",
        "tests/review/test_mpc_second_pass.py::test_an_additive_error_in_a_product_with_three_parties_is_caught",
        "tests/review/test_mpc_second_pass.py::test_a_comparison_flipped_by_one_party_is_caught_with_three_parties",
        "tests/secagg/test_protocol.py::test_row20_a_request_for_both_secrets_of_one_client_is_refused",
        "tests/secagg/test_protocol.py::test_row20_a_second_unmask_request_is_refused",
        "tests/secagg/test_protocol.py::test_row20_thresholds_that_allow_split_unmask_requests_are_refused",
        "tests/secagg/test_aggregate.py::test_values_outside_the_clip_range_are_clipped",
        "tests/review/test_session17_secagg_fix_review.py::test_secagg_plus_per_client_key_lists_let_the_server_choose_neighbourhoods_and_recover_an_input",
        "tests/review/test_session17_secagg_fix_review.py::test_confirmations_replayed_from_earlier_sessions_with_the_same_params_reveal_an_input",
    ],
}


# ============================================================================================ the index itself
def _defined(path: Path) -> set[str]:
    """'name' for every module-level function and 'Class::method' for every method of a module-level class."""
    names = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            names.update(f"{node.name}::{m.name}" for m in node.body if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef)))
    return names


def test_every_row_is_indexed_and_every_listed_node_id_exists() -> None:
    assert sorted(ATTACK_TESTS, key=int) == [str(i) for i in range(1, 21)]
    cache: dict[str, set[str]] = {}
    missing = []
    for row, node_ids in ATTACK_TESTS.items():
        assert node_ids, f"row {row} has no test"
        assert len(set(node_ids)) == len(node_ids), f"row {row} lists a node id twice"
        for node_id in node_ids:
            file, _, name = node_id.partition("::")
            path = ROOT / file
            assert file.startswith("tests/") and name and "[" not in name, node_id
            if file not in cache:
                cache[file] = _defined(path) if path.is_file() else set()
            if name not in cache[file] or not name.rsplit("::", 1)[-1].startswith("test"):
                missing.append(node_id)
    assert missing == []


# ============================================================================================ helpers
def _copy_of(module: types.ModuleType, monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """A fresh copy of `module` executed from its file under another name (registered while the test runs, for
    dataclasses): the project's module is neither edited nor patched."""
    name = f"{module.__name__}_session18_copy_{secrets.token_hex(4)}"
    spec = importlib.util.spec_from_file_location(name, module.__file__)
    assert spec is not None and spec.loader is not None
    copy_ = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, copy_)
    spec.loader.exec_module(copy_)
    return copy_


def _weak_challenge(group, tag, context, statement, commitments, params=()):  # noqa: ANN001, ANN202
    """Helios' mistake (ATTACKS row 1): the challenge hashes the commitments (and here even tag, group, context and
    parameters) but not the statement."""
    return hash_to_scalar(group.q, tag, group.name, context, [int(p) for p in params], [],
                          [group.encode(c) for c in commitments])


def _weak_proofs(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    weak = _copy_of(proofs_mod, monkeypatch)
    weak.challenge = _weak_challenge  # the defence removed in the copy only
    return weak


GROUPS = ["ed25519", "modp"]


# ============================================================================================ row 1
@pytest.mark.parametrize("group_name", GROUPS)
def test_row01_weak_fiat_shamir_forged_0_1_proof_of_a_huge_value(group_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """ATTACKS row 1 (Bernhard, Pereira, Warinschi 2012): with a challenge over the commitments only, a voter fixes the
    commitments, gets c, and only then picks the ciphertext: here one that encrypts m = -B/c mod q (a huge value, which
    would make the tally undecryptable or shift it), with a "0/1" proof (branch 0 takes all of c, branch 1 none).

    The same proof verifies against a copy of threshold/proofs.py whose challenge omits the statement (the attack is
    real) and is rejected by Quorum's RangeProof, whose challenge hashes g, K, alpha and beta."""
    g = get_group(group_name)
    q = g.q
    pk = PublicKey(g, g.exp_g(g.random_scalar()))
    K = pk.element
    ctx = b"election-A|contest-1|credential-7"
    A0, A1, B0 = g.random_scalar(), g.random_scalar(), g.random_scalar()
    a = (g.exp_g(A0), g.exp_g(A1))
    b = (g.mul(g.exp(K, A0), g.exp_g(B0)), g.exp(K, A1))
    c = _weak_challenge(g, RangeProof.TAG, ctx, None, list(a) + list(b), [1])  # known before the statement
    m = (-B0 * pow(c, -1, q)) % q
    r = g.random_scalar()
    ct = Ciphertext(g.exp_g(r), g.mul(g.exp_g(m), g.exp(K, r)))
    fields = dict(a=a, b=b, challenges=(c,), responses=((A0 + r * c) % q, A1))
    assert m not in (0, 1)

    weak = _weak_proofs(monkeypatch)
    assert weak.RangeProof(**fields).verify(pk, ct, ctx), "the forgery must work once the statement is not hashed"
    assert not RangeProof(**fields).verify(pk, ct, ctx), "Quorum accepted a weak Fiat-Shamir forgery"
    assert not RangeProof.from_json(g, RangeProof(**fields).to_json(g), 1).verify(pk, ct, ctx)


# ============================================================================================ row 3
@pytest.mark.parametrize("group_name", GROUPS)
def test_row03_weak_fiat_shamir_fake_decryption_share(group_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """ATTACKS row 3 (Haines, Lewis, Pereira, Teague 2020: Fiat-Shamir without the statement in the decryption proof).
    Trustee 1 picks a = g^w and b = alpha^w D, gets c, answers v = w + c x_1 (so the key half of the proof holds)
    and only then picks its share M' = (alpha^v / b)^(1/c) = alpha^x_1 D^(-1/c), a wrong share.

    A copy of the decryption code over a copy of proofs.py with the weak challenge accepts it (and a decryption
    would then be wrong); Quorum's verify_partial rejects it, and combine blames trustee 1 and still decrypts right
    from trustees 2 and 3."""
    g = get_group(group_name)
    q = g.q
    result, keys = run_ceremony(CeremonyParams(g, 3, 2, b"session18-row3"))
    pk = PublicKey(g, result.public_key)
    ct, _ = pk.encrypt(1)
    context = b"session18 tally"
    x1, vk1 = keys[0].secret, result.verification_keys[1]
    item_ctx = decryption_mod._ctx(context, 1, 0)
    w = g.random_scalar()
    D = g.hash_to_element("session18-attacker", b"shift")
    a, b = g.exp_g(w), g.mul(g.exp(ct.alpha, w), D)
    c = _weak_challenge(g, decryption_mod.TAG, item_ctx, None, [a, b])
    v = (w + c * x1) % q
    forged_share = g.exp(g.div(g.exp(ct.alpha, v), b), pow(c, -1, q))
    assert forged_share != g.exp(ct.alpha, x1)

    weak = _weak_proofs(monkeypatch)
    weak_dec = _copy_of(decryption_mod, monkeypatch)
    weak_dec.ChaumPedersenProof = weak.ChaumPedersenProof
    weak_partial = weak_dec.PartialDecryption(1, (forged_share,), (weak.ChaumPedersenProof(a, b, v),))
    assert weak_dec.verify_partial(g, vk1, [ct], weak_partial, context), "the fake share must pass a weak verifier"

    forged = PartialDecryption(1, (forged_share,), (ChaumPedersenProof(a, b, v),))
    assert not verify_partial(g, vk1, [ct], forged, context)
    honest = [partial_decrypt(g, k.index, k.secret, [ct], context) for k in keys[1:]]
    dec = combine(g, [ct], [forged, *honest], result.verification_keys, 2, context, 10)
    assert dec.blamed == (1,) and dec.used == (2, 3) and dec.plaintexts == (1,)


@pytest.mark.parametrize("group_name", GROUPS)
def test_row03_pedersen_h_comes_from_a_public_seed_and_a_trapdoor_would_break_binding(
        group_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """ATTACKS row 3 (Lewis, Pereira, Teague on sVote: commitment generators with a known discrete-log relation).
    Quorum's only commitment generator besides g is the Pedersen h of the DKG. (i) It is hash-to-group of a public
    seed, recomputed by everyone (the DKG and its adjudication use `pedersen_h`, no transcript carries an h), and it
    is a member, not the identity nor g. (ii) What that prevents: in a copy of threshold/vss.py whose h = g^t with t
    known to the dealer, the dealer opens its commitments to a second, different share for trustee 2 that passes
    `pedersen_verify`, so honest trustees end up with inconsistent shares; the same equivocation fails against the
    real h."""
    g = get_group(group_name)
    h = vss_mod.pedersen_h(g)
    assert h == g.hash_to_element("pedersen-h", b"Quorum Pedersen VSS generator h")
    assert dkg_mod.pedersen_h is vss_mod.pedersen_h
    assert h not in (g.identity, g.g) and g.is_member(h)
    assert g.decode(g.encode(h)) == h

    t = g.random_scalar()
    trap = _copy_of(vss_mod, monkeypatch)
    trap.pedersen_h = lambda group: group.exp_g(t)  # the defence removed: a generator whose log the dealer knows
    t_inv = pow(t, -1, g.q)
    for module, should_pass in ((trap, True), (vss_mod, False)):
        shares, blinds, commitments = module.pedersen_deal(g, 1234, 2, 3)
        assert module.pedersen_verify(g, commitments, shares[1], blinds[1])
        other = dataclasses.replace(shares[1], value=(shares[1].value + 1) % g.q)  # another share for trustee 2
        other_blind = dataclasses.replace(blinds[1], value=(blinds[1].value - t_inv) % g.q)
        assert module.pedersen_verify(g, commitments, other, other_blind) is should_pass


# ============================================================================================ row 5
def _order8(g) -> bytes:  # noqa: ANN001
    return next(T for T in sorted(SMALL_ORDER) if g.exp(T, 4) != IDENTITY)


class _NoMembershipGroup:
    """A group whose reader checks nothing: partial_decrypt with its defence removed (the group is a parameter)."""

    class _Reader:
        def element_bytes(self, *args: Any, **kwargs: Any) -> None:
            return None

        def finish(self) -> None:
            return None

    def __init__(self, group: Any) -> None:
        self._group = group

    def __getattr__(self, name: str) -> Any:
        return getattr(self._group, name)

    def reader(self) -> "_NoMembershipGroup._Reader":
        return self._Reader()


@pytest.mark.parametrize("group_name", GROUPS)
def test_row05_mixed_order_alpha_is_refused_and_would_leak_the_share(group_name: str) -> None:
    """ATTACKS row 5: a ciphertext whose alpha is a member P = g^r times a small-order element T (order 8 on
    edwards25519, -1 of order 2 in Z_p^*), i.e. not a pure small-order point. Answered, the share (P T)^x = VK^r T^x
    would give the attacker x mod 8 (ed25519) or x mod 2 (modp), since it knows r and VK = g^x. The trustee refuses
    before exponentiating; with the membership check removed the leak is shown."""
    g = get_group(group_name)
    x = g.random_scalar()
    vk = g.exp_g(x)
    r = g.random_scalar()
    P = g.exp_g(r)
    if group_name == "ed25519":
        T, order = _order8(g), 8
        alpha = g.mul(P, T)
    else:
        T, order = g.p - 1, 2
        alpha = g.p - P  # (-1) * P, of order 2q
    ct = Ciphertext(alpha, g.g)
    with pytest.raises(DecodeError, match="refusing to decrypt"):
        partial_decrypt(g, 1, x, [ct], b"session18")
    # the defence removed: the share answers, and the attacker reads x mod `order` from it
    leaked_share = partial_decrypt(_NoMembershipGroup(g), 1, x, [ct], b"session18").shares[0]
    residue = g.div(leaked_share, g.exp(vk, r))
    powers = [k for k in range(order) if (g.exp(T, k) if k else g.identity) == residue]
    assert powers == [x % order]


# ============================================================================================ row 6
@pytest.mark.parametrize("group_name", GROUPS)
def test_row06_setup_with_other_group_parameters_is_refused(group_name: str) -> None:
    """ATTACKS row 6: a board that publishes a setup entry with its own parameters (a generator g' = g^t whose log it
    knows, another p or q) is refused: the setup must describe the standard group exactly, whose parameters the
    group tests re-derive from nothing-up-my-sleeve data (and the record verifier parses the setup the same way)."""
    g = get_group(group_name)
    good = setup_payload("row6", MANIFEST, g, 3, 2, "ab" * 32)
    parse_setup(good)
    trapdoor_g = g.to_hex(g.exp_g(2))
    edits = [("g", trapdoor_g), ("q", format(int(good["group"]["q"], 16) - 2, "x"))]
    if group_name == "modp":
        edits.append(("p", format(int(good["group"]["p"], 16) - 2, "x")))
    for key, value in edits:
        bad = copy.deepcopy(good)
        bad["group"][key] = value
        with pytest.raises(DecodeError, match="setup.group"):
            parse_setup(bad)
    bad = copy.deepcopy(good)
    bad["group"]["name"] = "modp-custom"
    with pytest.raises(DecodeError, match="setup.group.name"):
        parse_setup(bad)


# ============================================================================================ rows 2 and 15
def _count_entries(s: Scenario) -> int:
    return len(s.election.entries())


def _signed_as(s: Scenario, voter: int, body: dict[str, Any]) -> dict[str, Any]:
    key = credentials.signing_key(s.ctx.setup.election_id, s.credentials[voter])
    body = {**body, "credential": bytes(key.verify_key).hex()}
    return {**body, "signature": credentials.sign(key, ballot_hash(s.ctx, signed_body(body)))}


def test_row02_permuted_copy_of_another_voters_ballot_is_refused(tmp_path: Path) -> None:
    """ATTACKS row 2 (Cortier-Smyth, permuted copies): voter 2 takes voter 1's cast ballot, swaps the ciphertexts of
    two options of the mayor contest (so the copy votes for another candidate and the tally would reveal voter 1's
    choice by difference), with the proofs swapped too or left in place, and signs it with its own credential. Each
    is refused (every 0/1 proof's context names the credential and the option) and nothing is stored."""
    s = open_election(f"sqlite:///{tmp_path / 'b.db'}", voters=3)
    victim = s.ballot(0, CHOICE)
    s.election.cast(victim)
    before = _count_entries(s)
    for swap_proofs in (True, False):
        body = {"contests": copy.deepcopy(victim["contests"]), "revote": 0}
        mayor = body["contests"][0]
        mayor["selections"][0], mayor["selections"][1] = mayor["selections"][1], mayor["selections"][0]
        if swap_proofs:
            mayor["proofs"][0], mayor["proofs"][1] = mayor["proofs"][1], mayor["proofs"][0]
        with pytest.raises(VerificationError):
            s.election.cast(_signed_as(s, 1, body))
        assert _count_entries(s) == before
    # the same permutation by voter 1 itself (a re-vote of its own, permuted) is refused too: the proofs name the option
    own = {"contests": copy.deepcopy(victim["contests"]), "revote": 1}
    mayor = own["contests"][0]
    mayor["selections"][0], mayor["selections"][1] = mayor["selections"][1], mayor["selections"][0]
    mayor["proofs"][0], mayor["proofs"][1] = mayor["proofs"][1], mayor["proofs"][0]
    with pytest.raises(VerificationError):
        s.election.cast(_signed_as(s, 0, own))
    assert _count_entries(s) == before


def _recast_with_fresh_proofs(s: Scenario, voter: int, ballot: dict[str, Any], secrets_: Any) -> dict[str, Any]:
    """The challenged ballot's ciphertexts (nonces public), mayor options 0 and 1 swapped, every proof made afresh
    for `voter`'s credential: a ballot that is valid in every respect but the reuse of the ciphertexts."""
    ctx, g, pk = s.ctx, s.ctx.group, s.ctx.public_key
    cred = bytes(credentials.signing_key(ctx.setup.election_id, s.credentials[voter]).verify_key).hex()
    contests = []
    for n, (contest, item) in enumerate(zip(ctx.manifest.contests, ballot["contests"])):
        cts = [Ciphertext(g.from_hex(c["alpha"]), g.from_hex(c["beta"])) for c in item["selections"]]
        ms, rs = list(secrets_.plaintexts[contest.id]), list(secrets_.nonces[contest.id])
        if n == 0:
            for seq in (cts, ms, rs):
                seq[0], seq[1] = seq[1], seq[0]
        proofs = [RangeProof.prove(pk, ct, m, r, 1, selection_context(ctx, cred, contest.id, o)).to_json(g)
                  for ct, m, r, o in zip(cts, ms, rs, contest.options)]
        total = Ciphertext(g.prod(c.alpha for c in cts), g.div(g.prod(c.beta for c in cts), g.exp_g(contest.min_selections)))
        limit = RangeProof.prove(pk, total, sum(ms) - contest.min_selections, sum(rs) % g.q,
                                 contest.max_selections - contest.min_selections,
                                 contest_context(ctx, cred, contest.id)).to_json(g)
        contests.append({"id": contest.id, "selections": [c.to_json(g) for c in cts], "proofs": proofs, "limit_proof": limit})
    return _signed_as(s, voter, {"contests": contests, "revote": s.election.next_revote(cred)})


def test_row15_challenged_ciphertexts_recast_by_another_voter_permuted_with_fresh_proofs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ATTACKS row 15 (and row 2, copies): voter 1 challenges a ballot, publishing its nonces. Voter 2 re-uses its
    ciphertexts, permuted, with fresh valid proofs under its own credential: signature, proofs and re-vote counter
    are all valid, and only the board's refusal of an alpha already on the board stops it ("copied"). With that check
    removed in a copy of voting/election.py (alpha_digests made unique), the same ballot is accepted: the test can
    fail."""
    s = open_election(f"sqlite:///{tmp_path / 'b.db'}", voters=3)
    challenged, secrets_ = encrypt_ballot(s.ctx, s.credentials[0], OTHER)
    s.election.spoil(challenged, reveal_json(s.ctx, secrets_))
    recast = _recast_with_fresh_proofs(s, 1, challenged, secrets_)
    before = _count_entries(s)
    with pytest.raises(ProtocolError, match="copied"):
        s.election.cast(recast)
    assert _count_entries(s) == before

    weak = _copy_of(election_mod, monkeypatch)
    weak.alpha_digests = lambda ctx, ballot: [secrets.token_hex(32) for cb in ballot.contests for _ in cb.selections]
    receipt = weak.Election(s.board, s.election.election_id).cast(recast)
    assert receipt.stored, "without the copy check the re-used ciphertexts are accepted"
