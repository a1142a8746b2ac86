"""A credential authority (Belenios-style; ATTACKS.md row 13): `quorum credentials` makes the voters' credentials off
the server, the administrator imports only the public ones, and the voters vote with the private ones, which the
server never saw."""

from __future__ import annotations

import csv
import io
import json
import stat
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from quorum.cli import main
from tests.web import flow
from tests.web.conftest import api_post, form_post
from tests.web.live import serve
from voting.client import VoterClient


def _authority(tmp_path: Path, election_id: str = "club") -> tuple[list[dict[str, str]], str]:
    (tmp_path / "voters.csv").write_text(flow.VOTERS)
    assert main(["credentials", election_id, "--voters", str(tmp_path / "voters.csv"), "--out", str(tmp_path / "ca")]) == 0
    private = tmp_path / "ca" / "private-credentials.csv"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert main(["credentials", election_id, "--voters", str(tmp_path / "voters.csv"), "--out", str(tmp_path / "ca")]) == 2
    return list(csv.DictReader(io.StringIO(private.read_text()))), (tmp_path / "ca" / "public-credentials.csv").read_text()


def test_voters_vote_with_credentials_the_server_never_saw(app: Flask, admin: FlaskClient, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    trustees = flow.join(app, flow.create(admin))
    private, public = _authority(tmp_path)
    assert api_post(admin, "/api/elections/club/public-credentials", {"credentials_csv": public}).get_json() == {"voters": 5}
    voters = admin.get("/api/elections/club/voters").get_json()["voters"]
    assert {v["delivery"] for v in voters} == {"authority"}
    flow.ceremony(trustees, "club")
    assert api_post(admin, "/api/elections/club/open", {}).get_json() == {"phase": "open"}
    with serve(app) as url:
        client = VoterClient(url)
        ctx = client.context("club")
        receipt = client.cast(ctx, private[0]["credential"], {"chair": ["ann"], "pool": ["yes"]})
    assert receipt.status == "cast"
    refused = api_post(admin, "/api/elections/club/public-credentials", {"credentials_csv": public})
    assert refused.status_code == 409 and "published" in refused.get_json()["detail"]
    audit = admin.get("/api/audit").get_json()
    assert any(e["action"] == "public_credentials_imported" for e in audit["events"])
    # the authority checks the published record against its own list: exactly its credentials are on the board
    (tmp_path / "record.zip").write_bytes(admin.get("/api/elections/club/record").data)
    capsys.readouterr()
    main(["verify", str(tmp_path / "record.zip"), "--credentials", str(tmp_path / "ca" / "public-credentials.csv"),
          "--json", "--quiet", "--workers", "1"])
    pinned = [c for c in json.loads(capsys.readouterr().out)["checks"] if c["name"] == "pinned_credentials"]
    assert pinned and pinned[0]["ok"], pinned


def test_bad_public_credentials_are_refused_by_row_and_change_nothing(app: Flask, admin: FlaskClient, tmp_path: Path) -> None:
    flow.create(admin)
    _, public = _authority(tmp_path)
    lines = public.splitlines()
    cases = {
        "unknown voter": ("\n".join([lines[0], "nobody," + lines[1].split(",")[1]]), "'nobody' is not on the voter list"),
        "twice": ("\n".join([lines[0], lines[1], lines[2].split(",")[0] + "," + lines[1].split(",")[1]]), "row 3: the same public credential as row 2"),
        "not a key": ("\n".join([lines[0], lines[1].split(",")[0] + "," + "00" * 32]), "row 2"),
        "header": ("voter,key\n" + lines[1], "row 1: header"),
    }
    for name, (text, message) in cases.items():
        response = api_post(admin, "/api/elections/club/public-credentials", {"credentials_csv": text})
        assert response.status_code == 422, name
        assert message in response.get_data(as_text=True), (name, response.get_json())
    assert {v["delivery"] for v in admin.get("/api/elections/club/voters").get_json()["voters"]} == {"none"}
    page = form_post(admin, "/admin/elections/club/public-credentials", {"credentials": public})
    assert page.status_code == 302
    assert {v["delivery"] for v in admin.get("/api/elections/club/voters").get_json()["voters"]} == {"authority"}


def test_an_authority_credential_is_not_replaced_by_one_issued_on_the_server(app: Flask, admin: FlaskClient,
                                                                           tmp_path: Path) -> None:
    """Re-issuing on the server would hand the server the voter's private credential (ATTACKS.md row 13): refused,
    nothing changed; a voter without an authority credential can still be issued one."""
    flow.create(admin)
    _, public = _authority(tmp_path)
    api_post(admin, "/api/elections/club/public-credentials", {"credentials_csv": "\n".join(public.splitlines()[:3])})
    before = admin.get("/api/elections/club/voters").get_json()["voters"]
    authority = [v["voter_id"] for v in before if v["delivery"] == "authority"]
    refused = api_post(admin, "/api/elections/club/credentials", {"voter_ids": [authority[0]]})
    assert refused.status_code == 422 and "credential authority" in refused.get_json()["detail"]
    assert admin.get("/api/elections/club/voters").get_json()["voters"] == before
    issued = api_post(admin, "/api/elections/club/credentials", {}).get_json()
    assert len(issued["credentials"]) == len(before) - len(authority) == 3
