"""The OpenAPI 3.1 document of the JSON API (kept beside the routes it describes)."""

from __future__ import annotations

from typing import Any

HEX64 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
ELECTION_ID = {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"}

PROBLEM = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {"type": "array", "items": {
            "type": "object", "required": ["field", "message"],
            "properties": {"field": {"type": "string"}, "message": {"type": "string"}}}},
    },
}

SCHEMAS: dict[str, Any] = {
    "Problem": PROBLEM,
    "Csrf": {"type": "object", "required": ["csrf_token", "header"],
             "properties": {"csrf_token": {"type": "string"}, "header": {"type": "string"}}},
    "Booth": {"type": "object", "required": ["booth_hash", "integrity"],
              "properties": {"booth_hash": HEX64,
                             "integrity": {"type": "object", "additionalProperties": {"type": "string"}}}},
}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}


def _ok(schema: str, description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}


PATHS: dict[str, Any] = {
    "/api/csrf": {"get": {
        "operationId": "getCsrf", "summary": "A CSRF token for this session (send it as X-CSRF-Token on writes)",
        "responses": {"200": _ok("Csrf", "the token")}}},
    "/api/booth": {"get": {
        "operationId": "getBooth", "summary": "The booth's scripts with their SRI values and the booth hash",
        "responses": {"200": _ok("Booth", "integrity values and booth hash")}}},
}


def document() -> dict[str, Any]:
    """The whole OpenAPI 3.1 document."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "Quorum", "version": "0.1.0",
                 "description": "Verifiable elections: board, ballots, trustees and administration. "
                                "Writes need the X-CSRF-Token header from GET /api/csrf; errors are "
                                "application/problem+json (RFC 9457)."},
        "paths": PATHS,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "quorum_session"},
                "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token"},
            },
        },
    }
