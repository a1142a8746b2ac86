"""Authorization on every admin and trustee route: found by walking the URL map, so a new route is covered too."""

from __future__ import annotations

import re

from flask import Flask

from tests.web.conftest import csrf_of
from threshold import dkg
from threshold.groups import get_group

PUBLIC_ADMIN = {"admin.login", "admin.logout"}
PUBLIC_TRUSTEE = {"trustee.join", "trustee.accept"}
ADMIN_API = {"api.audit_log", "api.password", "api.create_election", "api.list_voters", "api.replace_voters", "api.issue", "api.step",
             "api.close_reveals"}
TRUSTEE_API = {"api.post_ceremony", "api.decrypt"}


def _url(rule: str) -> str:
    url = rule.replace("<any(open, close, tally):step>", "open").replace("<int:index>", "1")
    return re.sub(r"<[^>]+>", "x", url)


def test_every_admin_and_trustee_route_needs_its_role(app: Flask) -> None:
    client = app.test_client()
    checked = set()
    for rule in app.url_map.iter_rules():
        endpoint = rule.endpoint
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            send = getattr(client, method.lower())
            token = csrf_of(client)  # sign-out clears the session, so take the token afresh
            response = send(_url(rule.rule), headers={"X-CSRF-Token": token}, json={} if method == "POST" else None)
            if endpoint.startswith(("admin.", "admin_elections.")) and endpoint not in PUBLIC_ADMIN:
                assert response.status_code == 302 and "/admin/login" in response.headers["Location"], (method, rule.rule)
                checked.add(endpoint)
            elif endpoint.startswith("trustee.") and endpoint not in PUBLIC_TRUSTEE:
                assert response.status_code == 403, (method, rule.rule)
                checked.add(endpoint)
            elif endpoint in ADMIN_API:
                assert response.status_code == 401, (method, rule.rule)
                checked.add(endpoint)
            elif endpoint in TRUSTEE_API:
                assert response.status_code in (403, 404), (method, rule.rule)
                checked.add(endpoint)
    assert ADMIN_API | TRUSTEE_API <= checked
    assert {"admin_elections.new", "admin_elections.issue", "admin.audit_log", "trustee.ceremony", "trustee.decrypt"} <= checked


def test_trustee_routes_with_an_election_need_the_seat(app: Flask, admin) -> None:  # type: ignore[no-untyped-def]
    from tests.web import flow
    from tests.web.conftest import api_post

    invites = flow.create(admin, "seats")
    trustees = flow.join(app, {1: invites[1]})
    stranger = app.test_client()
    assert stranger.get("/trustee/seats/ceremony").status_code == 403
    assert trustees[1].get("/trustee/seats/ceremony").status_code == 200
    # trustee 1's session cannot speak for trustee 2
    state = trustees[1].get("/api/elections/seats/ceremony").get_json()
    assert state["you"] == 1
    params = dkg.CeremonyParams(get_group(state["group"]), state["n"], state["k"], bytes.fromhex(state["context"]))
    impostor = dkg.Trustee(params, 2).announce().to_json(params.group)
    wrong = api_post(trustees[1], "/api/elections/seats/ceremony/announce", impostor)
    assert wrong.status_code == 422 and wrong.get_json()["errors"][0]["field"] == "announce.index"
    assert trustees[1].get("/api/elections/seats/ceremony").get_json()["announcements"] == []
    assert api_post(stranger, "/api/elections/seats/decryptions", {"index": 1}).status_code == 403
