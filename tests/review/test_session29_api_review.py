"""Session 29 adversarial review of the JSON API (web/api.py, web/openapi.py, web/ceremony.py and what they call in
voting/): malformed bodies, wrong phases, retries, state left behind, and the OpenAPI document against what the API
answers in the states schemathesis (tests/web/test_openapi.py) never reaches: a ceremony mid-way, a retried cast or
challenge, an imported credential list, an administrator on a one-time password, a locked password change.

Tests whose docstring starts "Failed before (fixed in session 29)" were findings (strict xfails naming the file and
function, what was wrong, why it mattered and a fix); their set-up steps raise RuntimeError if they go wrong.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from tests.review.test_session17_trustee_review import _replaced
from tests.review.test_voting_adversarial import _walk
from tests.web import flow
from tests.web.conftest import ADMIN_PASSWORD, admin, api_post, app, csrf_of  # noqa: F401  (fixtures)
from threshold import dkg
from threshold.groups import get_group
from voting.ballot import encrypt_ballot, reveal_json
from voting.credentials import new_private_credential, public_credential
from voting.election import Election
from web.app import MAX_BODY_BYTES
from web.auth import create_admin
from web.models import CeremonyMessage
from web.openapi import document

jsonschema_rs = pytest.importorskip("jsonschema_rs")

DOC = document()
URL = "/api/elections/club"


# --- helpers -----------------------------------------------------------------------------------------------------------
def _require(condition: bool, what: str) -> None:
    """A set-up step: RuntimeError, so that a broken set-up is told apart from the failure a test checks for."""
    if not condition:
        raise RuntimeError(what)


def _operation(method: str, path: str) -> tuple[str, dict[str, Any]]:
    """The documented operation answering `method path` (a literal segment beats a template one)."""
    candidates = sorted((t for t in DOC["paths"]
                         if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", t), path.split("?")[0])
                         and method.lower() in DOC["paths"][t]), key=lambda t: t.count("{"))
    _require(bool(candidates), f"no documented operation for {method} {path}")
    return candidates[0], DOC["paths"][candidates[0]][method.lower()]


def _conformance(method: str, path: str, response: Any) -> list[str]:
    """What in this answer the OpenAPI document does not describe: an undocumented status, another media type, a
    body its schema refuses."""
    template, op = _operation(method, path)
    status = str(response.status_code)
    if status not in op["responses"]:
        return [f"{method} {template}: status {status} is not documented (documented: {sorted(op['responses'])})"]
    problems = []
    for media_type, media in op["responses"][status].get("content", {}).items():
        if media_type.endswith("json"):
            if response.mimetype != media_type:
                problems.append(f"{method} {template} {status}: served as {response.mimetype}, documented {media_type}")
            validator = jsonschema_rs.Draft202012Validator({"components": DOC["components"], **media["schema"]})
            problems += [f"{method} {template} {status}: {e}" for e in validator.iter_errors(response.get_json())]
    return problems


def _messages(app: Flask) -> int:
    with app.extensions["quorum"].session() as db:
        return int(db.scalar(select(func.count()).select_from(CeremonyMessage)) or 0)


def _entries(client: FlaskClient) -> list[dict[str, Any]]:
    return client.get(f"{URL}/entries").get_json()["entries"]


def _open_election(app: Flask, admin: FlaskClient) -> tuple[dict[int, FlaskClient], list[dict[str, Any]]]:
    """'club' through its ceremony, credentials issued, open; the trustees' clients and the issued credentials."""
    trustees = flow.join(app, flow.create(admin, "club"))
    flow.ceremony(trustees, "club")
    issued = api_post(admin, f"{URL}/credentials", {}).get_json()["credentials"]
    _require(api_post(admin, f"{URL}/open", {}).status_code == 200, "open")
    return trustees, issued


# --- what held: the relay mid-ceremony ---------------------------------------------------------------------------------
def test_every_ceremony_round_answers_per_the_document_and_refused_relay_messages_store_nothing(
        app: Flask, admin: FlaskClient) -> None:  # noqa: F811
    """schemathesis sees the ceremony only once it is done; here every round's transcript (QUAL, confirmations, the
    closed reveal round, reconstruct, openings, the outcome) matches the Ceremony schema, and each confirm, reveal,
    open and sign message with one leaf replaced (an identity or generator element, a zero scalar, a wrong type, a
    wrong index) is a 409/422 problem at the relay (its own checks, past the parsers) with nothing stored."""
    trustees = flow.join(app, flow.create(admin, "club"))
    url = f"{URL}/ceremony"
    problems: list[str] = []

    def poll() -> dict[str, Any]:
        response = trustees[1].get(url)
        problems.extend(_conformance("GET", url, response))
        return response.get_json()

    def sweep(round_name: str, message: dict[str, Any], group: Any) -> None:
        values = [group.to_hex(group.identity), group.to_hex(group.g), group.scalar_to_hex(0), None, 2, True, []]
        for path in (p for p, leaf in _walk(message) if not isinstance(leaf, (dict, list))):
            for value in values:
                changed = _replaced(message, path, value)
                if changed == message:
                    continue
                stored = _messages(app)
                response = api_post(trustees[1], f"{url}/{round_name}", changed)
                assert response.status_code in (409, 422), (round_name, path, value, response.get_data(as_text=True)[:300])
                assert response.mimetype == "application/problem+json"
                assert _messages(app) == stored, (round_name, path, value)

    poll()
    run = flow.through_complaints(trustees, "club", confirm=False)
    g = run.group
    assert poll()["round"] == "confirm"
    sweep("confirm", run.parties[1].confirm(run.messages, run.complaints).to_json(g), g)
    for i, t in run.parties.items():
        response = api_post(trustees[i], f"{url}/confirm", t.confirm(run.messages, run.complaints).to_json(g))
        problems.extend(_conformance("POST", f"{url}/confirm", response))
    state = poll()
    run.confirmations = {c["index"]: dkg.Confirmation.from_json(run.params, c) for c in state["confirmations"]}
    sweep("reveal", run.parties[1].reveal(run.confirmations).to_json(g), g)
    flow.reveal(trustees, run, withhold=(3,))
    assert poll()["round"] == "reveal"
    closed = api_post(admin, f"{url}/close-reveals", {})
    problems.extend(_conformance("POST", f"{url}/close-reveals", closed))
    state = poll()
    assert state["round"] == "open" and state["reconstruct"] == [3]
    reveals = {r["index"]: dkg.Reveal.from_json(run.params, r) for r in state["reveals"]}
    sweep("open", run.parties[1].open(run.messages, reveals).to_json(g), g)
    flow.open_shares(trustees, run, [3])
    state = poll()
    assert state["round"] == "sign"
    transcript = flow.transcript_of(run.params, state)
    sweep("sign", {"index": 1, "signature": run.parties[1].sign(transcript).to_json(g)}, g)
    flow.sign(trustees, run)
    assert poll()["round"] == "done"
    assert problems == []


# --- open findings -----------------------------------------------------------------------------------------------------
def test_a_retried_cast_or_challenge_answers_a_documented_status(app: Flask, admin: FlaskClient) -> None:  # noqa: F811
    """Failed before (fixed in session 29): web/openapi.py PATHS castBallot / challengeBallot: POST
    /api/elections/{id}/ballots and /challenges answer a retry (the same ballot sent again after a lost answer;
    web/api.py _receipt: `201 if r.stored else 200`) with 200 and the first receipt, but the document lists only 201
    (castBallot mentions '200 for a retry' in the 201's description text only, challengeBallot not at all): a client
    generated from the document treats the retry that the booth and `quorum vote` rely on as an undocumented answer.
    Fix: give both operations a '200' response with the Receipt schema ("a retry: the first receipt, nothing
    stored")."""
    _, issued = _open_election(app, admin)
    ctx = Election(app.extensions["quorum"].board, "club").context()
    voter = app.test_client()
    spoiled, secrets = encrypt_ballot(ctx, issued[0]["credential"], {"chair": ["ann"], "pool": ["yes"]})
    challenge = {"ballot": spoiled, "reveal": reveal_json(ctx, secrets)}
    cast, _ = encrypt_ballot(ctx, issued[1]["credential"], {"chair": ["bob"], "pool": []})
    answers = []
    for path, body in ((f"{URL}/challenges", challenge), (f"{URL}/ballots", {"ballot": cast})):
        first, again = api_post(voter, path, body), api_post(voter, path, body)
        _require(first.status_code == 201 and again.status_code == 200 and again.get_json()["stored"] is False,
                 f"{path}: {first.status_code} then {again.status_code}")
        answers.append((path, again))
    assert [p for path, again in answers for p in _conformance("POST", path, again)] == []


def test_the_voter_list_after_an_authority_import_matches_its_schema(app: Flask, admin: FlaskClient) -> None:  # noqa: F811
    """Failed before (fixed in session 29): web/openapi.py SCHEMAS['Voters']: the delivery enum is ['none', 'handed',
    'sent', 'failed'], but a voter whose public credential was imported from a credential authority
    (web/elections.py import_public_credentials sets delivery='authority') is listed by GET
    /api/elections/{id}/voters with delivery 'authority', which the schema refuses: a client validating answers (or
    generated with an enum type) breaks exactly on the elections run with a credential authority. Fix: add
    'authority' to the enum (and to the page's legend if it lists them)."""
    flow.create(admin, "club")
    csv = "voter_id,public_credential\n" + "".join(f"v{i},{public_credential('club', new_private_credential())}\n"
                                                   for i in (1, 2))
    _require(api_post(admin, f"{URL}/public-credentials", {"credentials_csv": csv}).status_code == 200, "import")
    response = admin.get(f"{URL}/voters")
    _require({v["delivery"] for v in response.get_json()["voters"]} == {"authority", "none"}, "deliveries")
    assert _conformance("GET", f"{URL}/voters", response) == []


def test_an_administrator_on_a_one_time_password_gets_documented_answers(app: Flask, admin: FlaskClient) -> None:  # noqa: F811
    """Failed before (fixed in session 29): web/openapi.py PATHS getAudit / listVoters: web/auth.py admin_required
    answers 403 ('replace your one-time password first') to an administrator signed in with a one-time password
    (`quorum serve --create-admin`), on GET /api/audit and GET /api/elections/{id}/voters too, but these two GET
    operations document only 401 (and 404): the first API call a new administrator's script makes gets an
    undocumented answer. Fix: add '403' ("replace your one-time password first") to the responses of every admin-
    only operation (the POST ones have it through WRITE)."""
    flow.create(admin, "club")
    with app.extensions["quorum"].session() as db:
        one_time = create_admin(db, "bob")
    bob = app.test_client()
    signed_in = api_post(bob, "/api/login", {"username": "bob", "password": one_time})
    _require(signed_in.status_code == 200 and signed_in.get_json()["must_change_password"] is True, "bob signs in")
    problems = []
    for path in ("/api/audit", f"{URL}/voters"):
        response = bob.get(path)
        _require(response.status_code == 403, f"{path}: {response.status_code}")
        problems += _conformance("GET", path, response)
    assert problems == []


def test_a_locked_password_change_answers_a_documented_status(app: Flask) -> None:  # noqa: F811
    """Failed before (fixed in session 29): web/openapi.py PATHS changePassword: POST /api/password re-asks the current
    password through web/auth.py reauthenticate, rate-limited like a sign-in, so guesses past the limit get 429 with
    Retry-After (TooManyRequests from authenticate), but the operation documents WRITE + 401 only, no 429 (login has
    it): a client cannot tell from the document that it must wait. Fix: add '429' to changePassword's responses."""
    client = app.test_client()
    _require(api_post(client, "/api/login", {"username": "alice", "password": ADMIN_PASSWORD}).status_code == 200, "login")
    for _ in range(30):
        response = api_post(client, "/api/password", {"current_password": "not the password", "new_password": "x" * 20})
        if response.status_code != 422:
            break
    _require(response.status_code == 429 and response.headers.get("Retry-After"), f"locked: {response.status_code}")
    assert _conformance("POST", "/api/password", response) == []


def test_an_election_no_ballot_of_which_fits_a_request_is_refused_at_creation(app: Flask, admin: FlaskClient) -> None:  # noqa: F811
    """Failed before (fixed in session 29): web/elections.py validate (voting/manifest.py Manifest.from_json): the
    manifest limits (64 contests of 64 options) do not depend on the group, so POST /api/elections accepts a modp
    election whose every ballot is larger than the request limit (web/app.py MAX_BODY_BYTES, 16 MiB): 64 plurality
    contests of 64 options make a 26.6 MB ballot (each option: a ciphertext and a 0/1 proof, six 4096-bit elements),
    answered 413 before it is read. The election is created, its ceremony run, its credentials sent and it opens,
    and nobody can vote; the manifest cannot change after creation. Fix: in validate, refuse (DecodeError
    'manifest') a manifest whose ballot size for the chosen group (elements_per_ballot(manifest) x the element's hex
    length, plus scalars) exceeds the body limit with a margin, naming the largest number of options that fits; or
    size the body limit by the election."""
    manifest = {"title": "Many questions", "contests": [
        {"id": f"c{i}", "title": f"Question {i}", "kind": "plurality",
         "options": [{"id": f"o{j}", "label": f"Option {j}"} for j in range(64)]} for i in range(64)]}
    g = get_group("modp")
    element, scalar = g.to_hex(g.g), g.scalar_to_hex(1)

    def range_proof(limit: int) -> dict[str, list[str]]:
        return {"a": [element] * (limit + 1), "b": [element] * (limit + 1), "challenges": [scalar] * limit,
                "responses": [scalar] * (limit + 1)}

    # the smallest a ballot of this manifest can be: every value is fixed-length hex
    ballot = {"credential": "ab" * 32, "revote": 0, "signature": "ab" * 64, "contests": [
        {"id": c["id"], "selections": [{"alpha": element, "beta": element}] * 64, "proofs": [range_proof(1)] * 64,
         "limit_proof": range_proof(1)} for c in manifest["contests"]]}
    size = len(json.dumps({"ballot": ballot}, separators=(",", ":")))
    _require(size > MAX_BODY_BYTES, f"a ballot is {size} bytes")
    too_big = admin.post(f"{URL}/ballots", data=b" " * (MAX_BODY_BYTES + 1), content_type="application/json",
                         headers={"X-CSRF-Token": csrf_of(admin)})
    _require(too_big.status_code == 413, "the limit answers 413")
    response = api_post(admin, "/api/elections", {"election_id": "club", "manifest": manifest, "group": "modp",
                                                  "trustees": ["A", "B"], "quorum": 1, "voters_csv": "voter_id\nv1\n"})
    assert response.status_code == 422, f"created ({response.status_code}); each of its ballots is {size} bytes"
    assert response.get_json()["errors"][0]["field"].startswith("manifest")


def test_a_bad_credential_authority_file_is_named_by_its_body_field(app: Flask, admin: FlaskClient) -> None:  # noqa: F811
    """Failed before (fixed in session 29): web/errors.py field_errors (for web/api.py import_public_credentials):
    every VoterListError is reported under field 'voters', so a bad row of the credentials_csv body of POST
    /api/elections/{id}/public-credentials is named 'voters' (a field that body does not have; it is a credential
    authority's file, not a voter list), while a wrong type of the same field is named 'credentials_csv': a client
    mapping errors[].field to its request cannot place the error. Fix: let the caller name the field (e.g.
    VoterListError(errors, field='credentials_csv'), or re-raise in _import_csv with the body field's name) and use
    it in field_errors."""
    flow.create(admin, "club")
    wrong_type = api_post(admin, f"{URL}/public-credentials", {"credentials_csv": 5})
    _require(wrong_type.get_json()["errors"][0]["field"] == "credentials_csv", "the type error's field")
    for text in ("nonsense", "voter_id,public_credential\nv1," + "zz" * 32 + "\n",
                 "voter_id,public_credential\nnobody," + public_credential("club", new_private_credential()) + "\n"):
        response = api_post(admin, f"{URL}/public-credentials", {"credentials_csv": text})
        _require(response.status_code == 422, f"{text!r}: {response.status_code}")
        assert response.get_json()["errors"][0]["field"] == "credentials_csv", response.get_json()
    assert {v["delivery"] for v in admin.get(f"{URL}/voters").get_json()["voters"]} == {"none"}


@pytest.mark.parametrize("plaintext", ["1", True, 2, None])
def test_a_reveal_whose_plaintext_is_not_0_or_1_is_named_by_its_field(app: Flask, admin: FlaskClient,  # noqa: F811
                                                                      plaintext: Any) -> None:
    """Failed before (fixed in session 29): voting/ballot.py check_reveal judged a plaintext of the wrong type ("1",
    true, 2) with the openings, so POST .../challenges answered "Verification failed" with an empty errors[].field
    (the message named it). parse_reveal refuses it as malformed input, naming reveal[i].plaintexts[j]; nothing is
    stored."""
    _, issued = _open_election(app, admin)
    ctx = Election(app.extensions["quorum"].board, "club").context()
    ballot, secrets = encrypt_ballot(ctx, issued[0]["credential"], {"chair": ["ann"], "pool": ["yes"]})
    reveal = reveal_json(ctx, secrets)
    reveal[0]["plaintexts"][1] = plaintext
    before = len(_entries(app.test_client()))
    response = api_post(app.test_client(), f"{URL}/challenges", {"ballot": ballot, "reveal": reveal})
    assert response.status_code == 422
    assert response.get_json()["errors"] == [{"field": "reveal[0].plaintexts[1]", "message": "expected 0 or 1"}]
    assert len(_entries(app.test_client())) == before
