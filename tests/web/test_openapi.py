"""The OpenAPI 3.1 document matches the API: schemathesis drives every operation (signed in, with the CSRF
token) and checks status codes, content types (problem+json for errors) and response schemas."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.web import flow
from tests.web.conftest import ADMIN_PASSWORD, csrf_of, form_post, make_config
from web import create_app
from web.auth import create_admin
from web.openapi import document

schemathesis = pytest.importorskip("schemathesis")


def test_document_is_openapi_3_1_and_lists_every_api_route(app: Flask) -> None:
    doc = document()
    assert doc["openapi"] == "3.1.0"
    routes = {r.rule for r in app.url_map.iter_rules() if r.rule.startswith("/api/") and r.rule != "/api/openapi.json"}
    described = {p.replace("{", "<").replace("}", ">") for p in doc["paths"]}
    normalized = {r.replace("<any(open, close, tally):step>", "<step>").replace("<round_name>", "<round>") for r in routes}
    assert normalized == described
    served = app.test_client().get("/api/openapi.json").get_json()
    assert served == doc


@pytest.fixture(scope="module")
def api_setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, dict[str, str]]]:
    """An app with an open election 'club' and the headers of a signed-in admin; its schema for schemathesis.

    Shared by every operation's test: whatever earlier operations changed (even closing 'club'), every
    answer must still match the document."""
    application = create_app(make_config(tmp_path_factory.mktemp("openapi")))
    with application.extensions["quorum"].session() as db:
        create_admin(db, "alice", ADMIN_PASSWORD)
    admin = application.test_client()
    form_post(admin, "/admin/login", {"username": "alice", "password": ADMIN_PASSWORD})
    trustees = flow.join(application, flow.create(admin))
    flow.ceremony(trustees, "club")
    token = csrf_of(admin)
    admin.post("/api/elections/club/credentials", json={}, headers={"X-CSRF-Token": token})
    admin.post("/api/elections/club/open", json={}, headers={"X-CSRF-Token": token})
    cookie = admin.get_cookie("quorum_session")
    headers = {"Cookie": f"quorum_session={cookie.value}", "X-CSRF-Token": token}
    yield schemathesis.openapi.from_wsgi("/api/openapi.json", application), headers
    application.extensions["quorum"].board.engine.dispose()


LABELS = sorted(f"{method.upper()} {path}" for path, ops in document()["paths"].items() for method in ops)


@pytest.mark.parametrize("label", LABELS)
def test_api_conforms(api_setup: tuple[Any, dict[str, str]], label: str) -> None:
    schema, headers = api_setup
    operation = schema.find_operation_by_label(label)

    @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(case=operation.as_strategy(), known=st.booleans())
    def check(case: Any, known: bool) -> None:
        if known and "election_id" in (case.path_parameters or {}):
            case.path_parameters["election_id"] = "club"  # reach the real election too, not only 404s
        case.call_and_validate(headers=headers)

    check()
