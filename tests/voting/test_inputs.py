"""Manifest validation and voter CSV import: every defect named (field path or row number)."""

from __future__ import annotations

import copy

import pytest

from threshold.errors import DecodeError
from voting.demo import DEMO_MANIFEST
from voting.lifecycle import next_phase
from voting.manifest import Manifest, benchmark_manifest
from voting.voters_csv import VoterListError, parse_voters


def test_manifest_kinds_and_limits() -> None:
    m = Manifest.from_json(DEMO_MANIFEST)
    assert [(c.kind, c.min_selections, c.max_selections) for c in m.contests] == [
        ("plurality", 0, 1), ("approval", 0, 2), ("exact", 2, 2), ("referendum", 0, 1)]
    assert m.contests[3].options == ("yes", "no")
    assert Manifest.from_json(m.to_json()) == m
    assert [len(c.options) for c in benchmark_manifest().contests] == [4, 5]


@pytest.mark.parametrize("edit,field", [
    (lambda m: m.pop("title"), "manifest: missing title"),
    (lambda m: m.update(contests=[]), "manifest.contests"),
    (lambda m: m["contests"][0].update(kind="ranked"), "manifest.contests[0].kind"),
    (lambda m: m["contests"][1].update(max=9), "manifest.contests[1].max"),
    (lambda m: m["contests"][2].update(k=3), "manifest.contests[2].k"),
    (lambda m: m["contests"][0]["options"].append({"id": "ada", "label": "Again"}), "manifest.contests[0].options[3].id"),
    (lambda m: m["contests"][1].update(id=m["contests"][0]["id"]), "manifest.contests[1].id"),
    (lambda m: m["contests"][0]["options"][0].update(id="has space"), "manifest.contests[0].options[0].id"),
    (lambda m: m["contests"][3].update(options=[]), "manifest.contests[3]: unexpected options"),
    (lambda m: m["contests"][0].update(options=[{"id": "solo", "label": "Solo"}]), "manifest.contests[0].options"),
    (lambda m: m["contests"][0].update(extra=1), "manifest.contests[0]: unexpected extra"),
    (lambda m: m["contests"][0].update(title="Mayor\x1b[2J"), "manifest.contests[0].title: control characters"),
    (lambda m: m["contests"][0]["options"][1].update(label="Bob\nElected"), "manifest.contests[0].options[1].label"),
])
def test_manifest_errors_name_the_field(edit, field: str) -> None:
    m = copy.deepcopy(DEMO_MANIFEST)
    edit(m)
    with pytest.raises(DecodeError) as info:
        Manifest.from_json(m)
    assert str(info.value).startswith(field)


def test_voters_csv() -> None:
    assert parse_voters(b"\xef\xbb\xbfvoter_id,email\nv1,a@b.org\nv2,\n") == [
        {"voter_id": "v1", "email": "a@b.org"}, {"voter_id": "v2", "email": ""}]
    assert parse_voters("voter_id\nv1\n") == [{"voter_id": "v1", "email": ""}]


def test_voters_csv_errors_are_row_numbered() -> None:
    with pytest.raises(VoterListError) as info:
        parse_voters("voter_id,email\nv1,a@b.org\nv1,x\n,\nv 3,a@b.org\nv4\n")
    assert info.value.errors == [
        "row 3: voter_id 'v1' already on row 2", "row 3: email 'x' is not an address", "row 4: empty row",
        "row 5: voter_id 'v 3' must be 1-128 characters without spaces, commas or quotes, not starting with = + - @",
        "row 6: expected 2 columns, got 1"]
    for text, first in [("", "row 1"), ("name\nx\n", "row 1: header"), ('voter_id\nv1\n"v2\n', "row 3: malformed"),
                        ("voter_id\n", "row 2: no voters"), (b"voter_id\n\xff\n", "not UTF-8")]:
        with pytest.raises(VoterListError) as info:
            parse_voters(text)
        assert first in info.value.errors[0]


def test_lifecycle_transitions() -> None:
    phase = "new"
    for step in ("setup", "key_ceremony", "credentials", "open", "cast", "spoil", "cast", "close", "tally",
                 "decryption", "decryption", "result"):
        phase = next_phase(phase, step)
    assert phase == "done"
    from threshold.errors import ProtocolError

    for phase, step in [("new", "cast"), ("closed", "cast"), ("open", "tally"), ("done", "result"), ("tallied", "result")]:
        with pytest.raises(ProtocolError, match="refused"):
            next_phase(phase, step)
