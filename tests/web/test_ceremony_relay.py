"""The key ceremony relay's GJKR rounds (docs/spec.md section 6): a qualified trustee that withholds its reveal
cannot change the election key (the administrator proceeds, the others open their shares, its secret is rebuilt
in public), and every reveal and opening is checked when it arrives: a bad one is refused naming its field, and
nothing of it is stored."""

from __future__ import annotations

import copy
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from tests.web import flow
from tests.web.conftest import api_post, form_post
from threshold import dkg
from voting.context import parse_ceremony, parse_setup


def _entries(client: FlaskClient, election_id: str) -> dict[str, Any]:
    entries = client.get(f"/api/elections/{election_id}/entries").get_json()["entries"]
    return {e["type"]: e["payload"] for e in entries}


def _refused(response: Any, status: int, field: str) -> None:
    assert response.status_code == status, response.get_json()
    assert response.get_json()["errors"][0]["field"] == field, response.get_json()


def _waiting(admin: FlaskClient, election_id: str) -> str:
    """The election page's line naming the trustees the ceremony waits for (whitespace collapsed)."""
    page = admin.get(f"/admin/elections/{election_id}").get_data(as_text=True)
    start = page.find('id="ceremony-waiting"')
    return " ".join(page[start:page.find("</p>", start)].split()) if start >= 0 else ""


def test_the_election_page_names_the_trustees_each_round_waits_for(app: Flask, admin: FlaskClient) -> None:
    """The administrator sees whom to remind: everyone before the announcements, then whoever has not sent."""
    trustees = flow.join(app, flow.create(admin, "waits"))
    assert "Waiting for: T1 (trustee 1), T2 (trustee 2), T3 (trustee 3)." in _waiting(admin, "waits")
    run = flow.through_complaints(trustees, "waits")
    flow.reveal(trustees, run)
    state = trustees[1].get(run.url).get_json()
    assert state["round"] == "sign"
    assert "Waiting for: T1 (trustee 1), T2 (trustee 2), T3 (trustee 3)." in _waiting(admin, "waits")
    flow.sign(trustees, run)
    assert _waiting(admin, "waits") == ""  # published: the election moved on to credentials


def test_a_withheld_reveal_does_not_change_the_key(app: Flask, admin: FlaskClient) -> None:
    trustees = flow.join(app, flow.create(admin, "withheld"))
    run = flow.through_complaints(trustees, "withheld")
    flow.reveal(trustees, run, withhold=(2,))
    state = trustees[1].get(run.url).get_json()
    assert state["round"] == "reveal" and [r["index"] for r in state["reveals"]] == [1, 3]
    assert state["reconstruct"] is None
    # trustee 2 waits; the administrator sees who is missing and proceeds without it
    page = admin.get("/admin/elections/withheld").get_data(as_text=True)
    assert "have not revealed yet: 2." in page and "Proceed without the missing reveals" in page
    assert "Waiting for: T2 (trustee 2)." in _waiting(admin, "withheld")
    response = form_post(admin, "/admin/elections/withheld/ceremony/close-reveals")
    assert response.status_code == 302
    assert "now open their shares of trustees 2" in admin.get(response.headers["Location"]).get_data(as_text=True)
    assert "Waiting for 2 more openings, from any of: T1 (trustee 1), T3 (trustee 3)." in _waiting(admin, "withheld")
    state = trustees[1].get(run.url).get_json()
    assert state["round"] == "open" and state["reconstruct"] == [2] and state["reveals_closed"]
    # too late to reveal now: the set to reconstruct is fixed
    late = api_post(trustees[2], f"{run.url}/reveal", run.parties[2].reveal(run.confirmations).to_json(run.group))
    assert late.status_code == 409
    assert api_post(admin, f"{run.url}/close-reveals", {}).status_code == 409
    flow.open_shares(trustees, run, [2])
    keys = flow.sign(trustees, run)

    payload = _entries(admin, "withheld")["key_ceremony"]
    assert [r["index"] for r in payload["reveals"]] == [1, 3]
    assert [o["index"] for o in payload["openings"]] == [1, 3]
    setup = parse_setup(_entries(admin, "withheld")["setup"])
    published = parse_ceremony(setup, payload)  # the verifiers' re-adjudication accepts it
    # the key trustee 2's reveal would have given: the same, so withholding gained it nothing
    reveals = {i: t.reveal(run.confirmations) for i, t in run.parties.items()}
    revealing = dkg.adjudicate(run.params, run.announcements, run.messages, run.complaints, reveals, {})
    assert revealing.reconstructed == ()
    assert published.public_key.element == revealing.public_key
    assert published.verification_keys == revealing.verification_keys
    assert all(run.group.exp_g(k.secret) == revealing.verification_keys[i] for i, k in keys.items())
    events = admin.get("/api/audit").get_json()["events"]
    assert any(e["action"] == "ceremony_close_reveals" and e["actor"] == "alice" and "[2]" in e["detail"] for e in events)


def test_a_bad_reveal_or_opening_is_refused_naming_the_field(app: Flask, admin: FlaskClient) -> None:
    trustees = flow.join(app, flow.create(admin, "refusals"))
    url = "/api/elections/refusals/ceremony"
    assert api_post(admin, f"{url}/close-reveals", {}).status_code == 409  # only the reveal round can be closed
    run = flow.through_complaints(trustees, "refusals")
    g = run.group
    good = run.parties[1].reveal(run.confirmations).to_json(g)

    def bad_reveal(change: Any) -> dict[str, Any]:
        body = copy.deepcopy(good)
        change(body)
        return body

    other = run.parties[3].reveal(run.confirmations).to_json(g)
    cases = [
        (bad_reveal(lambda b: b["proofs"][0].__setitem__("blinding", other["proofs"][0]["blinding"])), "reveal.proofs[0].blinding"),
        (bad_reveal(lambda b: b["feldman"].__setitem__(1, g.to_hex(g.mul(g.from_hex(b["feldman"][1]), g.g)))),
         "reveal.proofs[1].feldman"),
        (bad_reveal(lambda b: b["feldman"].pop()), "reveal.feldman"),
        (bad_reveal(lambda b: b["proofs"][1].pop("feldman")), "reveal.proofs[1]"),
        (bad_reveal(lambda b: b["feldman"].__setitem__(0, "00" * g.element_bytes)), "reveal.feldman[0]"),
        (other, "reveal.index"),
        ({**good, "extra": 1}, "reveal"),
    ]
    for body, field in cases:
        _refused(api_post(trustees[1], f"{url}/reveal", body), 422, field)
        assert trustees[1].get(url).get_json()["reveals"] == [], field
    refused = api_post(admin, f"{url}/close-reveals", {})  # no reveal yet: every dealer rebuilt in public, refused
    assert refused.status_code == 409 and "joint secret alone" in refused.get_json()["detail"]
    flow.reveal(trustees, run, withhold=(2, 3))
    # proceeding with only trustee 1 left to open would leave fewer than k openings: refused, nothing changes
    refused = api_post(admin, f"{url}/close-reveals", {})
    assert refused.status_code == 409 and "2 needed" in refused.get_json()["detail"]
    assert trustees[1].get(url).get_json()["round"] == "reveal"
    flow.reveal(trustees, run, withhold=(1, 2))  # trustee 3 reveals too; 2 still withholds
    state = api_post(admin, f"{url}/close-reveals", {}).get_json()
    assert state["round"] == "open" and state["reconstruct"] == [2]

    s, t = run.parties[1].received[2]
    q = g.q

    def opening(pairs: dict[str, Any], index: int = 1) -> dict[str, Any]:
        return {"index": index, "openings": pairs}

    pair = {"share": g.scalar_to_hex(s), "blinding": g.scalar_to_hex(t)}
    cases = [
        (opening({"2": {"share": g.scalar_to_hex((s + 1) % q), "blinding": pair["blinding"]}}), "opening.openings.2"),
        (opening({"2": {"share": pair["share"], "blinding": g.scalar_to_hex((t + 1) % q)}}), "opening.openings.2"),
        (opening({"2": {"share": q.to_bytes(32, "big").hex(), "blinding": pair["blinding"]}}), "opening.openings.2.share"),
        (opening({"2": {"share": pair["share"]}}), "opening.openings.2"),
        (opening({}), "opening.openings"),
        (opening({"2": pair, "3": pair}), "opening.openings"),
        (opening({"02": pair}), "opening.openings"),
        (opening({"2": pair}, index=3), "open.index"),
        ({"index": 1, "openings": [pair]}, "opening.openings"),
    ]
    for body, field in cases:
        _refused(api_post(trustees[1], f"{url}/open", body), 422, field)
        assert trustees[1].get(url).get_json()["openings"] == [], field
    # the trustee being reconstructed opens nothing
    assert api_post(trustees[2], f"{url}/open", opening({"1": pair}, index=2)).status_code == 409
    flow.open_shares(trustees, run, [2])
    flow.sign(trustees, run)
    payload = _entries(admin, "refusals")["key_ceremony"]
    assert payload["qualified"] == [1, 2, 3] and [o["index"] for o in payload["openings"]] == [1, 3]


def test_all_reveals_go_straight_to_sign(app: Flask, admin: FlaskClient) -> None:
    trustees = flow.join(app, flow.create(admin, "plain"))
    run = flow.through_complaints(trustees, "plain")
    flow.reveal(trustees, run)
    state = trustees[1].get(run.url).get_json()
    assert state["round"] == "sign" and state["reconstruct"] == [] and state["result"]["reconstructed"] == []
    assert api_post(admin, f"{run.url}/close-reveals", {}).status_code == 409
    flow.sign(trustees, run)
    assert _entries(admin, "plain")["key_ceremony"]["openings"] == []


def test_the_confirm_round_takes_only_the_qualified_trustees_signatures_of_the_servers_qual(app: Flask,
                                                                                             admin: FlaskClient) -> None:
    """Round 4: every qualified trustee signs the hash of rounds 1-3 it computed; the relay refuses a confirmation of
    another hash (that trustee was shown other messages), one signed by another trustee's key, one claiming another
    index, and any reveal before every qualified trustee has confirmed. Nothing refused is stored."""
    trustees = flow.join(app, flow.create(admin, "confirms"))
    run = flow.through_complaints(trustees, "confirms", confirm=False)
    url, g = run.url, run.group
    good = {i: t.confirm(run.messages, run.complaints) for i, t in run.parties.items()}
    # 1's key signing another hash, as a trustee shown other messages would
    wrong_hash = dkg.Confirmation(1, dkg.SchnorrProof.prove(g, run.parties[1].enc_secret,
                                                            run.params.ctx("dkg-confirm", 1, bytes(32))))
    refused = api_post(trustees[1], f"{url}/confirm", wrong_hash.to_json(g))
    assert refused.status_code == 422 and "computed QUAL over other messages" in str(refused.get_json())
    refused = api_post(trustees[1], f"{url}/confirm", {**good[2].to_json(g), "index": 1})  # 2's signature as 1's
    assert refused.status_code == 422
    _refused(api_post(trustees[1], f"{url}/confirm", good[2].to_json(g)), 422, "confirm.index")
    _refused(api_post(trustees[1], f"{url}/confirm", {"index": 1}), 422, "confirmation")
    reveal = api_post(trustees[1], f"{url}/reveal", run.parties[1].reveal(good).to_json(g))
    assert reveal.status_code == 409 and "'confirm'" in reveal.get_json()["detail"]
    state = trustees[1].get(url).get_json()
    assert state["round"] == "confirm" and state["confirmations"] == [] and state["reveals"] == []
    assert "Waiting for: T1 (trustee 1), T2 (trustee 2), T3 (trustee 3)." in _waiting(admin, "confirms")
    for i in (1, 2):
        assert api_post(trustees[i], f"{url}/confirm", good[i].to_json(g)).status_code == 200
    assert api_post(trustees[1], f"{url}/confirm", good[1].to_json(g)).status_code == 409  # once
    assert "Waiting for: T3 (trustee 3)." in _waiting(admin, "confirms")
    assert api_post(trustees[3], f"{url}/confirm", good[3].to_json(g)).status_code == 200
    state = trustees[1].get(url).get_json()
    assert state["round"] == "reveal" and [c["index"] for c in state["confirmations"]] == [1, 2, 3]
