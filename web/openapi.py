"""The OpenAPI 3.1 document of the JSON API (kept beside the routes it describes, in web.api)."""

from __future__ import annotations

from typing import Any

HEX64 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
ANY_OBJECT = {"type": "object"}
ERROR_STATUSES = {
    "400": "malformed request", "401": "sign in first", "403": "missing CSRF token or not authorized",
    "404": "no such election or ballot", "409": "refused in the election's current phase",
    "413": "request body too large", "422": "invalid input: each error names its field",
    "429": "too many failed sign-ins",
}

SCHEMAS: dict[str, Any] = {
    "Problem": {
        "type": "object", "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
            "detail": {"type": "string"},
            "errors": {"type": "array", "items": {
                "type": "object", "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}}}},
        },
    },
    "Csrf": {"type": "object", "required": ["csrf_token", "header"],
             "properties": {"csrf_token": {"type": "string"}, "header": {"type": "string"}}},
    "Booth": {"type": "object", "required": ["booth_hash", "integrity"],
              "properties": {"booth_hash": HEX64, "integrity": {"type": "object", "additionalProperties": {"type": "string"}}}},
    "Login": {"type": "object", "required": ["username", "password"], "additionalProperties": False,
              "properties": {"username": {"type": "string"}, "password": {"type": "string"}}},
    "NewPassword": {"type": "object", "required": ["current_password", "new_password"], "additionalProperties": False,
                    "properties": {"current_password": {"type": "string"}, "new_password": {"type": "string"}}},
    "PasswordChanged": {"type": "object", "required": ["username", "must_change_password"],
                        "properties": {"username": {"type": "string"}, "must_change_password": {"type": "boolean"}}},
    "Session": {"type": "object", "required": ["username", "must_change_password", "csrf_token"],
                "properties": {"username": {"type": "string"}, "must_change_password": {"type": "boolean"},
                               "csrf_token": {"type": "string"}}},
    "ElectionList": {"type": "object", "required": ["elections"], "properties": {"elections": {"type": "array", "items": {
        "type": "object", "required": ["election_id", "phase", "entries"],
        "properties": {"election_id": {"type": "string"}, "phase": {"type": "string"}, "entries": {"type": "integer"}}}}}},
    "NewElection": {
        "type": "object", "additionalProperties": False,
        "required": ["election_id", "manifest", "group", "trustees", "quorum", "voters_csv"],
        "properties": {
            "election_id": {"type": "string"}, "manifest": ANY_OBJECT, "group": {"enum": ["modp", "ed25519"]},
            "trustees": {"type": "array", "items": {"type": "string"}}, "quorum": {"type": "integer"},
            "voters_csv": {"type": "string", "description": "CSV with header voter_id[,email]"},
        },
    },
    "Created": {"type": "object", "required": ["election_id", "invites"],
                "properties": {"election_id": {"type": "string"},
                               "invites": {"type": "object", "additionalProperties": {"type": "string"}}}},
    "Election": {
        "type": "object",
        "required": ["election_id", "phase", "title", "manifest", "group", "trustees", "quorum", "board_key", "base_hash", "booth_hash"],
        "properties": {
            "election_id": {"type": "string"}, "phase": {"type": "string"}, "title": {"type": "string"},
            "manifest": ANY_OBJECT, "group": {"type": "string"}, "trustees": {"type": "integer"},
            "quorum": {"type": "integer"}, "board_key": HEX64, "base_hash": {"type": ["string", "null"]},
            "booth_hash": HEX64,
        },
    },
    "Entries": {"type": "object", "required": ["entries"], "properties": {"entries": {"type": "array", "items": {
        "type": "object", "required": ["seq", "type", "payload", "prev", "hash", "sig"],
        "properties": {"seq": {"type": "integer"}, "type": {"type": "string"}, "payload": ANY_OBJECT,
                       "prev": HEX64, "hash": HEX64, "sig": {"type": "string"}}}}}},
    "CastRequest": {"type": "object", "required": ["ballot"], "additionalProperties": False,
                    "properties": {"ballot": {"$ref": "#/components/schemas/Ballot"}}},
    "ChallengeRequest": {"type": "object", "required": ["ballot", "reveal"], "additionalProperties": False,
                         "properties": {"ballot": {"$ref": "#/components/schemas/Ballot"},
                                        "reveal": {"type": "array", "items": ANY_OBJECT}}},
    "Ballot": {"type": "object", "description": "an encrypted ballot as built by the booth (see docs/spec.md)",
               "required": ["credential", "contests", "revote", "signature"],
               "properties": {"credential": HEX64, "contests": {"type": "array", "items": ANY_OBJECT},
                              "revote": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
                              "signature": {"type": "string", "pattern": "^[0-9a-f]{128}$"}}},
    "NextRevote": {"type": "object", "required": ["credential", "revote"],
                   "properties": {"credential": HEX64, "revote": {"type": "integer", "minimum": 0}}},
    "Receipt": {"type": "object", "required": ["seq", "ballot_hash", "tracker", "stored", "hash", "prev", "sig"],
                "properties": {"seq": {"type": "integer"}, "ballot_hash": HEX64, "tracker": HEX64, "stored": {"type": "boolean"},
                               "hash": HEX64, "prev": HEX64, "sig": {"type": "string", "pattern": "^[0-9a-f]{128}$"}}},
    "Found": {"type": "object", "required": ["seq", "status", "tracker", "ballot_hash", "cast_at", "entry"],
              "properties": {"seq": {"type": "integer"}, "status": {"enum": ["cast", "spoil"]}, "tracker": HEX64,
                             "ballot_hash": HEX64, "cast_at": {"type": "string"}, "entry": ANY_OBJECT}},
    "Result": {"type": "object", "required": ["contests"], "properties": {"contests": {"type": "array", "items": {
        "type": "object", "required": ["id", "title", "options"],
        "properties": {"id": {"type": "string"}, "title": {"type": "string"}, "options": {"type": "array", "items": {
            "type": "object", "required": ["label", "count"],
            "properties": {"label": {"type": "string"}, "count": {"type": "integer"}}}}}}}}},
    "Voters": {"type": "object", "required": ["voters"], "properties": {"voters": {"type": "array", "items": {
        "type": "object", "required": ["voter_id", "email", "delivery", "error"],
        "properties": {"voter_id": {"type": "string"}, "email": {"type": "string"},
                       "delivery": {"enum": ["none", "handed", "sent", "failed", "authority"]}, "error": {"type": "string"}}}}}},
    "VoterImport": {"type": "object", "required": ["voters_csv"], "additionalProperties": False,
                    "properties": {"voters_csv": {"type": "string"}}},
    "PublicCredentialImport": {"type": "object", "required": ["credentials_csv"], "additionalProperties": False,
                               "properties": {"credentials_csv": {"type": "string"}}},
    "VoterCount": {"type": "object", "required": ["voters"], "properties": {"voters": {"type": "integer"}}},
    "IssueRequest": {"type": "object", "additionalProperties": False, "properties": {
        "voter_ids": {"type": "array", "items": {"type": "string"}}, "send_mail": {"type": "boolean"}}},
    "Issued": {"type": "object", "required": ["credentials"], "properties": {"credentials": {"type": "array", "items": {
        "type": "object", "required": ["voter_id", "email", "credential", "delivery"],
        "properties": {"voter_id": {"type": "string"}, "email": {"type": "string"},
                       "credential": {"type": "string", "description": "the private credential: shown in this response only"},
                       "delivery": {"type": "string"}}}}}},
    "Phase": {"type": "object", "required": ["phase"], "properties": {"phase": {"type": "string"}}},
    "Ceremony": {"type": "object", "required": ["election_id", "group", "n", "k", "context", "round", "announcements",
                                                "dealers", "complaints", "qualification", "confirmations", "reveals",
                                                "reveals_closed",
                                                "reconstruct", "openings", "signed", "result", "you"],
                 "properties": {"election_id": {"type": "string"}, "group": {"type": "string"}, "n": {"type": "integer"},
                                "k": {"type": "integer"}, "context": {"type": "string"},
                                "round": {"enum": ["announce", "deal", "complain", "confirm", "reveal", "open", "sign", "publish",
                                                   "done"]},
                                "announcements": {"type": "array"}, "dealers": {"type": "array"},
                                "complaints": {"type": "array"},
                                "qualification": {"description": "QUAL, once the complaints are in (docs/spec.md section 6)",
                                                  "oneOf": [{"type": "null"}, {
                                                      "type": "object", "required": ["qualified", "disqualified", "rejected_complaints"],
                                                      "properties": {"qualified": {"type": "array", "items": {"type": "integer"}},
                                                                     "disqualified": {"type": "object", "additionalProperties": {"type": "string"}},
                                                                     "rejected_complaints": {"type": "array"}}}]},
                                "confirmations": {"description": "the qualified trustees' signatures of QUAL's hash",
                                                  "type": "array"},
                                "reveals": {"type": "array"}, "reveals_closed": {"type": "boolean"},
                                "reconstruct": {"description": "the qualified trustees without a reveal, once the reveal round is over",
                                                "type": ["array", "null"], "items": {"type": "integer"}},
                                "openings": {"type": "array"}, "signed": {"type": "array", "items": {"type": "integer"}},
                                "result": {"type": ["object", "null"]}, "you": {"type": ["integer", "null"]}}},
    "Audit": {"type": "object", "required": ["events"], "properties": {"events": {"type": "array", "items": {
        "type": "object", "required": ["at", "actor", "action", "election_id", "detail"],
        "properties": {"at": {"type": "string"}, "actor": {"type": "string"}, "action": {"type": "string"},
                       "election_id": {"type": "string"}, "detail": {"type": "string"}}}}}},
    "DecryptionAccepted": {"type": "object", "required": ["seq", "result_published"],
                           "properties": {"seq": {"type": "integer"}, "result_published": {"type": "boolean"}}},
}

ELECTION_ID = {"name": "election_id", "in": "path", "required": True,
               "schema": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"}}
CSRF = [{"csrf": []}]
ADMIN = [{"session": [], "csrf": []}]


def _json(schema: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}


def _op(op_id: str, summary: str, ok: tuple[str, str, str | None], errors: tuple[str, ...], *,
        body: str | None = None, params: list[dict[str, Any]] | None = None,
        security: list[dict[str, list[str]]] | None = None, retry: str | None = None) -> dict[str, Any]:
    """One operation: its success answer `ok` (status, description, schema), its error statuses, and for a write
    that a client may retry, `retry`: the description of the 200 that repeats the first answer."""
    status, description, schema = ok
    responses: dict[str, Any] = {status: {"description": description}}
    if schema == "zip":
        responses[status]["content"] = {"application/zip": {"schema": {"type": "string", "format": "binary"}}}
    elif schema:
        responses[status]["content"] = _json(schema)
    if retry:
        responses["200"] = {"description": retry, "content": _json(schema)}
    for code in errors:
        responses[code] = {"description": ERROR_STATUSES[code],
                           "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    op: dict[str, Any] = {"operationId": op_id, "summary": summary, "responses": responses}
    if params:
        op["parameters"] = params
    if body:
        op["requestBody"] = {"required": True, "content": _json(body)}
    op["security"] = security if security is not None else []
    return op


WRITE = ("400", "403", "413", "422")
PATHS: dict[str, Any] = {
    "/api/csrf": {"get": _op("getCsrf", "A CSRF token for this session (send it as X-CSRF-Token on writes)", ("200", "the token", "Csrf"), ())},
    "/api/booth": {"get": _op("getBooth", "The booth's scripts with their SRI values and the booth hash", ("200", "integrity values", "Booth"), ())},
    "/api/login": {"post": _op("login", "Sign in as an administrator", ("200", "signed in", "Session"),
                               WRITE + ("401", "429"), body="Login", security=CSRF)},
    "/api/audit": {"get": _op("getAudit", "The audit log of administrative and trustee actions, newest first",
                              ("200", "the events", "Audit"), ("401", "403"), security=ADMIN,
                              params=[{"name": "election", "in": "query", "required": False, "schema": {"type": "string"}}])},
    "/api/password": {"post": _op("changePassword", "Replace the signed-in administrator's password",
                                  ("200", "changed", "PasswordChanged"), WRITE + ("401", "429"), body="NewPassword",
                                  security=ADMIN)},
    "/api/elections": {
        "get": _op("listElections", "Every election with its phase", ("200", "the elections", "ElectionList"), ()),
        "post": _op("createElection", "Create an election (setup entry, voters, trustee invitation links)",
                    ("201", "created; the invitation links are shown only here", "Created"), WRITE + ("401", "409"),
                    body="NewElection", security=ADMIN),
    },
    "/api/elections/{election_id}": {"get": _op(
        "getElection", "The election's parameters, phase, base hash and booth hash", ("200", "the election", "Election"),
        ("404",), params=[ELECTION_ID])},
    "/api/elections/{election_id}/entries": {"get": _op(
        "getEntries", "The board entries, as in board.jsonl (only the given types with ?type=..., numbers with ?seq=...; "
        "with ?from=N and/or ?to=M only entries N to M, at most 1000 (and 32 MiB) per answer: ask again from the last "
        "one + 1)",
        ("200", "the entries", "Entries"), ("404", "422"),
        params=[ELECTION_ID, {"name": "type", "in": "query", "required": False, "style": "form", "explode": True,
                              "schema": {"type": "array", "items": {"type": "string"}}},
                {"name": "seq", "in": "query", "required": False, "style": "form", "explode": True,
                 "schema": {"type": "array", "items": {"type": "string", "pattern": "^[0-9]{1,12}$"}}},
                {"name": "from", "in": "query", "required": False, "schema": {"type": "string", "pattern": "^[0-9]{1,12}$"}},
                {"name": "to", "in": "query", "required": False, "schema": {"type": "string", "pattern": "^[0-9]{1,12}$"}}])},
    "/api/elections/{election_id}/record": {"get": _op(
        "getRecord", "The record as a zip, for `quorum verify`", ("200", "board.jsonl and board.pub", "zip"), ("404",),
        params=[ELECTION_ID])},
    "/api/elections/{election_id}/ballots": {"post": _op(
        "castBallot", "Cast a ballot encrypted and signed by the voter's device (a retry returns the first receipt)",
        ("201", "cast", "Receipt"), WRITE + ("404", "409"), body="CastRequest",
        params=[ELECTION_ID], security=CSRF, retry="a retry of the same ballot: its first receipt, nothing stored")},
    "/api/elections/{election_id}/revote/{credential}": {"get": _op(
        "getNextRevote", "The re-vote counter the credential's next ballot (cast or challenged) must carry",
        ("200", "the counter", "NextRevote"), ("404", "409"),
        params=[ELECTION_ID, {"name": "credential", "in": "path", "required": True, "schema": HEX64}])},
    "/api/elections/{election_id}/challenges": {"post": _op(
        "challengeBallot", "Publish a Benaloh-challenged ballot with its plaintexts and nonces (never counted)",
        ("201", "published as spoiled", "Receipt"), WRITE + ("404", "409"), body="ChallengeRequest",
        params=[ELECTION_ID], security=CSRF, retry="a retry of the same challenge: its first receipt, nothing stored")},
    "/api/elections/{election_id}/ballots/{code}": {"get": _op(
        "findBallot", "A ballot by tracking code or ballot hash (or a prefix of at least 8 hex characters)",
        ("200", "found", "Found"), ("404", "422"),
        params=[ELECTION_ID, {"name": "code", "in": "path", "required": True,
                               "schema": {"type": "string", "pattern": "^[0-9a-fA-F]{8,64}$"}}])},
    "/api/elections/{election_id}/result": {"get": _op(
        "getResult", "The counts per option, once decrypted", ("200", "the result", "Result"), ("404", "409"),
        params=[ELECTION_ID])},
    "/api/elections/{election_id}/voters": {
        "get": _op("listVoters", "The voter list with each credential's delivery status", ("200", "voters", "Voters"),
                   ("401", "403", "404"), params=[ELECTION_ID], security=ADMIN),
        "post": _op("replaceVoters", "Replace the voter list from CSV (before credentials are published)",
                    ("200", "imported", "VoterCount"), WRITE + ("401", "404", "409"), body="VoterImport",
                    params=[ELECTION_ID], security=ADMIN),
    },
    "/api/elections/{election_id}/credentials": {"post": _op(
        "issueCredentials", "Issue credentials; each private credential is in this response only (and its e-mail)",
        ("200", "issued", "Issued"), WRITE + ("401", "404", "409"), body="IssueRequest", params=[ELECTION_ID], security=ADMIN)},
    "/api/elections/{election_id}/public-credentials": {"post": _op(
        "importPublicCredentials", "Public credentials from a credential authority (CSV voter_id,public_credential)",
        ("200", "imported", "VoterCount"), WRITE + ("401", "404", "409"), body="PublicCredentialImport", params=[ELECTION_ID],
        security=ADMIN)},
    "/api/elections/{election_id}/{step}": {"post": _op(
        "stepElection", "Open (publishing the credentials), close or tally the election", ("200", "the new phase", "Phase"),
        ("400", "401", "403", "404", "409", "422"), params=[ELECTION_ID, {"name": "step", "in": "path", "required": True,
                                                                          "schema": {"enum": ["open", "close", "tally"]}}],
        security=ADMIN)},
    "/api/elections/{election_id}/ceremony": {"get": _op(
        "getCeremony", "The key ceremony so far: parameters, the round waiting, every public message, the outcome",
        ("200", "the transcript", "Ceremony"), ("404", "422"), params=[ELECTION_ID])},
    "/api/elections/{election_id}/ceremony/{round}": {"post": _op(
        "postCeremony", "A trustee's public message for the current round (trustee seat from the invitation link)",
        ("200", "stored; the transcript so far", "Ceremony"), WRITE + ("404", "409"),
        body=None, params=[ELECTION_ID, {"name": "round", "in": "path", "required": True,
                                         "schema": {"enum": ["announce", "deal", "complain", "confirm", "reveal", "open",
                                                                     "sign"]}}],
        security=[{"session": [], "csrf": []}])},
    "/api/elections/{election_id}/ceremony/close-reveals": {"post": _op(
        "closeReveals", "Proceed without the missing reveals: the other trustees then open their shares of the qualified "
        "trustees that did not reveal, whose secrets are reconstructed in public (the key stays the same)",
        ("200", "the reveal round is closed; the transcript so far", "Ceremony"), ("400", "401", "403", "404", "409", "422"),
        params=[ELECTION_ID], security=ADMIN)},
    "/api/elections/{election_id}/decryptions": {"post": _op(
        "postDecryption", "A trustee's partial decryption of the tally with its proofs",
        ("201", "on the board", "DecryptionAccepted"), WRITE + ("404", "409"), params=[ELECTION_ID],
        security=[{"session": [], "csrf": []}])},
}
for _path in ("/api/elections/{election_id}/ceremony/{round}", "/api/elections/{election_id}/decryptions"):
    PATHS[_path]["post"]["requestBody"] = {"required": True, "content": {"application/json": {"schema": ANY_OBJECT}}}


def document() -> dict[str, Any]:
    """The whole OpenAPI 3.1 document."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "Quorum", "version": "0.1.0",
                 "description": "Verifiable elections: board, ballots, trustees and administration. Writes need the "
                                "X-CSRF-Token header from GET /api/csrf (with the session cookie it belongs to); "
                                "errors are application/problem+json (RFC 9457)."},
        "paths": PATHS,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "quorum_session"},
                "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token"},
            },
        },
    }
