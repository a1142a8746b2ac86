"""A whole election driven through the JSON API by Python clients (the browser's stand-ins for the protocol steps)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from flask import Flask
from flask.testing import FlaskClient

from tests.web.conftest import api_post, form_post
from threshold import dkg
from threshold.groups import Group, get_group
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


@dataclass
class Dkg:
    """A ceremony driven through the relay by Python trustees (the browsers' stand-ins), up to some round."""

    url: str
    params: dkg.CeremonyParams
    parties: dict[int, dkg.Trustee]
    announcements: dict[int, dkg.Announcement] = field(default_factory=dict)
    messages: dict[int, dkg.DealerMessage] = field(default_factory=dict)
    complaints: list[dkg.Complaint] = field(default_factory=list)
    confirmations: dict[int, dkg.Confirmation] = field(default_factory=dict)

    @property
    def group(self) -> Group:
        return self.params.group

    def qualification(self) -> dkg.Qualification:
        return dkg.qualify(self.params, self.announcements, self.messages, self.complaints)


def through_complaints(trustees: dict[int, FlaskClient], election_id: str, confirm: bool = True) -> Dkg:
    """Rounds announce, deal, complain and (unless `confirm` is false) confirm, all honest; the relay then waits for
    reveals (for confirmations)."""
    url = f"/api/elections/{election_id}/ceremony"
    state = trustees[1].get(url).get_json()
    params = dkg.CeremonyParams(get_group(state["group"]), state["n"], state["k"], bytes.fromhex(state["context"]))
    run = Dkg(url, params, {i: dkg.Trustee(params, i) for i in trustees})
    group = run.group
    for i, t in run.parties.items():
        assert api_post(trustees[i], f"{url}/announce", t.announce().to_json(group)).status_code == 200
    state = trustees[1].get(url).get_json()
    run.announcements = {a["index"]: dkg.Announcement.from_json(params, a) for a in state["announcements"]}
    for i, t in run.parties.items():
        assert api_post(trustees[i], f"{url}/deal", t.deal(run.announcements).to_json(group)).status_code == 200
    state = trustees[1].get(url).get_json()
    run.messages = {m["index"]: dkg.DealerMessage.from_json(params, m) for m in state["dealers"]}
    for i, t in run.parties.items():
        mine = t.check_shares(run.messages)
        run.complaints += mine
        body = {"index": i, "complaints": [c.to_json(group) for c in mine]}
        assert api_post(trustees[i], f"{url}/complain", body).status_code == 200
    state = trustees[1].get(url).get_json()
    assert state["round"] == "confirm"
    assert state["qualification"]["qualified"] == list(run.qualification().qualified)
    if not confirm:
        return run
    for i, t in run.parties.items():
        confirmation = t.confirm(run.messages, run.complaints)
        if confirmation is not None:
            assert api_post(trustees[i], f"{url}/confirm", confirmation.to_json(group)).status_code == 200
    state = trustees[1].get(url).get_json()
    assert state["round"] == "reveal"
    run.confirmations = {c["index"]: dkg.Confirmation.from_json(params, c) for c in state["confirmations"]}
    return run


def reveal(trustees: dict[int, FlaskClient], run: Dkg, withhold: tuple[int, ...] = ()) -> None:
    """Every qualified trustee but those in `withhold` reveals."""
    for i, t in run.parties.items():
        revealed = t.reveal(run.confirmations)
        if revealed is not None and i not in withhold:
            response = api_post(trustees[i], f"{run.url}/reveal", revealed.to_json(run.group))
            assert response.status_code == 200, response.get_json()


def open_shares(trustees: dict[int, FlaskClient], run: Dkg, reconstruct: list[int]) -> None:
    """Every trustee not being reconstructed opens its shares of those it finds without a valid reveal on the relay."""
    state = trustees[1].get(run.url).get_json()
    reveals = {r["index"]: dkg.Reveal.from_json(run.params, r) for r in state["reveals"]}
    for i, t in run.parties.items():
        if i not in reconstruct:
            opening = t.open(run.messages, reveals)
            assert sorted(opening.openings) == [d for d in reconstruct if d != i]
            response = api_post(trustees[i], f"{run.url}/open", opening.to_json(run.group))
            assert response.status_code == 200, response.get_json()


def transcript_of(params: dkg.CeremonyParams, state: dict[str, Any]) -> dkg.Transcript:
    """The ceremony's transcript as the relay shows it (web/static/js/ceremony.js reads it the same way)."""
    def by(key: str, parse: Any) -> dict[int, Any]:
        return {m["index"]: parse(params, m) for m in state[key]}

    return dkg.Transcript(by("announcements", dkg.Announcement.from_json), by("dealers", dkg.DealerMessage.from_json),
                          [dkg.Complaint.from_json(params, c) for m in state["complaints"] for c in m["complaints"]],
                          by("reveals", dkg.Reveal.from_json), by("openings", dkg.Opening.from_json))


def sign(trustees: dict[int, FlaskClient], run: Dkg) -> dict[int, dkg.TrusteeKey]:
    """Every trustee adjudicates the relay's transcript itself and keeps its key; the qualified ones sign it."""
    state = trustees[1].get(run.url).get_json()
    assert state["round"] == "sign"
    result = dkg.CeremonyResult.from_json(run.params, state["result"])
    transcript = transcript_of(run.params, state)
    keys = {}
    for i, t in run.parties.items():
        keys[i] = t.finish(transcript)
        if i in result.qualified:
            body = {"index": i, "signature": t.sign(transcript).to_json(run.group)}
            assert api_post(trustees[i], f"{run.url}/sign", body).status_code == 200
    return keys


def ceremony(trustees: dict[int, FlaskClient], election_id: str, withhold: tuple[int, ...] = (),
             admin: FlaskClient | None = None) -> dict[int, dkg.TrusteeKey]:
    """Run the DKG through the relay; returns each trustee's key (kept client-side, as a browser does).

    Trustees in `withhold` keep their reveals back: then `admin` closes the reveal round through the API and the
    others open their shares of them."""
    run = through_complaints(trustees, election_id)
    reveal(trustees, run, withhold)
    if withhold:
        assert admin is not None, "closing the reveal round needs the administrator"
        response = api_post(admin, f"{run.url}/close-reveals", {})
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["reconstruct"] == sorted(withhold)
        open_shares(trustees, run, sorted(withhold))
    return sign(trustees, run)


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
