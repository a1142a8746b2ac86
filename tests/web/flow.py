"""A whole election driven through the JSON API by Python clients (the browser's stand-ins for the protocol steps)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from flask import Flask
from flask.testing import FlaskClient

from tests.web.conftest import api_post, form_post
from threshold import dkg
from threshold.groups import get_group
from voting.manifest import Manifest

MANIFEST = {
    "title": "Club election",
    "contests": [
        {"id": "chair", "title": "Chair", "kind": "plurality",
         "options": [{"id": "ann", "label": "Ann"}, {"id": "bob", "label": "Bob"}, {"id": "cy", "label": "Cy"}]},
        {"id": "pool", "title": "Build a pool?", "kind": "referendum"},
    ],
}
VOTERS = "voter_id,email\n" + "".join(f"v{i},v{i}@example.org\n" for i in range(1, 6))


def create(admin: FlaskClient, election_id: str = "club", group: str = "ed25519") -> dict[int, str]:
    """Create the election through the API; returns the invitation paths by trustee index."""
    response = api_post(admin, "/api/elections", {"election_id": election_id, "manifest": MANIFEST, "group": group,
                                                  "trustees": ["T1", "T2", "T3"], "quorum": 2, "voters_csv": VOTERS})
    assert response.status_code == 201, response.get_json()
    return {int(i): urlparse(u).path for i, u in response.get_json()["invites"].items()}


def join(app: Flask, invites: dict[int, str]) -> dict[int, FlaskClient]:
    """One client per trustee, each holding its seat."""
    clients = {}
    for index, path in invites.items():
        client = app.test_client()
        assert client.get(path).status_code == 200
        assert form_post(client, path).status_code == 302
        clients[index] = client
    return clients


def ceremony(trustees: dict[int, FlaskClient], election_id: str) -> dict[int, dkg.TrusteeKey]:
    """Run the DKG through the relay; returns each trustee's key (kept client-side, as a browser does)."""
    url = f"/api/elections/{election_id}/ceremony"
    state = trustees[1].get(url).get_json()
    group = get_group(state["group"])
    params = dkg.CeremonyParams(group, state["n"], state["k"], bytes.fromhex(state["context"]))
    parties = {i: dkg.Trustee(params, i) for i in trustees}
    for i, t in parties.items():
        assert api_post(trustees[i], f"{url}/announce", t.announce().to_json(group)).status_code == 200
    state = trustees[1].get(url).get_json()
    announcements = {a["index"]: dkg.Announcement.from_json(params, a) for a in state["announcements"]}
    for i, t in parties.items():
        assert api_post(trustees[i], f"{url}/deal", t.deal(announcements).to_json(group)).status_code == 200
    state = trustees[1].get(url).get_json()
    messages = {m["index"]: dkg.DealerMessage.from_json(params, m) for m in state["dealers"]}
    for i, t in parties.items():
        complaints = [c.to_json(group) for c in t.check_shares(messages)]
        assert api_post(trustees[i], f"{url}/complain", {"index": i, "complaints": complaints}).status_code == 200
    state = trustees[1].get(url).get_json()
    assert state["round"] == "sign"
    result = dkg.CeremonyResult.from_json(params, state["result"])
    keys = {}
    for i, t in parties.items():
        keys[i] = t.finish(result)
        body = {"index": i, "signature": t.sign(result).to_json(group)}
        assert api_post(trustees[i], f"{url}/sign", body).status_code == 200
    return keys


def manifest() -> Manifest:
    """The parsed manifest of the test election."""
    return Manifest.from_json(MANIFEST)


def expected_counts(final: dict[str, dict[str, list[str]]]) -> list[dict[str, Any]]:
    """The result the API should show for these last ballots."""
    out = []
    for contest in manifest().contests:
        counts = {o: 0 for o in contest.options}
        for choices in final.values():
            for o in choices.get(contest.id, []):
                counts[o] += 1
        out.append({"id": contest.id, "counts": [counts[o] for o in contest.options]})
    return out
