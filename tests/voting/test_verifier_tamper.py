"""Every verifier check against a record tampered in exactly the data it guards, left as is and with the
chain re-hashed and re-signed by the board key; and 'every value in the record is bound' (Contracts: Record)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tampering import CASES, _at, tampered
from voting.ballot import elements_per_ballot
from voting.verifier import CHECKS, verify_record
from voting_helpers import Scenario, fix_ballots, load, rechain, save, scripted_record


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    return scripted_record(tmp_path_factory.mktemp("scripted"))


def test_every_check_has_a_case() -> None:
    assert {case[0] for case in CASES.values()} == set(CHECKS)


def test_untampered_record_is_valid(scenario: Scenario) -> None:
    report = verify_record(scenario.record, workers=1)
    assert report.valid, report.failures
    assert report.result is not None


@pytest.mark.parametrize("name,mode", [(n, m) for n, case in CASES.items() for m in case[2]])
def test_tamper_is_caught_by_its_check(scenario: Scenario, tmp_path: Path, name: str, mode: str) -> None:
    check, _, _, others = CASES[name]
    report = verify_record(tampered(scenario, name, mode, tmp_path / "rec"), workers=1)
    failed = {f.check for f in report.failures}
    assert check in failed, f"{name}/{mode}: expected {check} to fail, got {report.failures}"
    if mode != "plain":  # re-hashed and re-signed: the guarding check catches it (with the checks it implies)
        assert failed == {check} | others, report.failures


def _leaves(obj: Any, path: tuple = ()) -> list[tuple]:
    if isinstance(obj, dict):
        return [leaf for k, v in sorted(obj.items()) for leaf in _leaves(v, path + (k,))]
    if isinstance(obj, list):
        return [leaf for i, v in enumerate(obj) for leaf in _leaves(v, path + (i,))]
    return [path]


def _mutate(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, str) and value:
        return value[:-1] + ("1" if value[-1] != "1" else "2")
    return value + "x"


@pytest.fixture(scope="module")
def leaf_paths(scenario: Scenario) -> list[tuple]:
    paths = []
    for i, e in enumerate(load(scenario.record)):
        for leaf in _leaves(e["payload"]):
            if leaf[-1] not in ("cast_at", "timestamp"):
                paths.append((i, "payload") + leaf)
    return paths


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_value_is_bound(scenario: Scenario, leaf_paths: list[tuple], tmp_path_factory: pytest.TempPathFactory,
                              data: st.DataObject) -> None:
    """Contracts (Record): changing any one value, then re-hashing and re-signing the chain, fails verification."""
    path = data.draw(st.sampled_from(leaf_paths))
    entries = load(scenario.record)
    node: Any = entries
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = _mutate(node[path[-1]])
    rechain(entries, scenario.key)
    out = save(entries, scenario.board.public_key, tmp_path_factory.mktemp("bound"))
    assert not verify_record(out, workers=1).valid, f"changing {path} went unnoticed"


@pytest.mark.parametrize("name,mode", [(None, None), ("tally_subset", "rehash"), ("counted_changed", "rehash"),
                                       ("signature_flipped", "plain"), ("ballot_moved_proof", "rehash")])
def test_verdict_does_not_depend_on_chunking(scenario: Scenario, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             name: str | None, mode: str | None) -> None:
    """One entry per chunk, in 1 and 2 workers: the superseded ballot and its re-vote are in different chunks, so
    the tally check divides the chunks' products by a ballot that another chunk set aside; board signatures are
    checked in the workers. The failures are exactly those of one whole chunk."""
    import voting.verifier as verifier

    record = scenario.record if name is None else tampered(scenario, name, mode, tmp_path / "rec")
    whole = verify_record(record, workers=1)
    monkeypatch.setattr(verifier, "CHUNK", 1)
    assert len(verifier._chunks(len(load(record)), 2)) == len(load(record))
    for workers in (1, 2):
        split = verify_record(record, workers=workers)
        assert split.failures == whole.failures and split.result == whole.result
    assert whole.valid is (name is None)


@pytest.mark.parametrize("where", ["alpha", "proof_b"])
def test_an_undecodable_point_fails_only_its_ballot(scenario: Scenario, tmp_path: Path, where: str) -> None:
    """A ballot's points are decompressed together at the end of its parse (ElementReader.batched): one that is
    no curve point (ed25519) or out of range (modp) fails that ballot's format, named by its field, and nothing
    it read reaches the chunk's membership test, so the other ballots of the chunk are checked as usual."""

    entries = load(scenario.record)
    ballot = _at(entries, scenario.seqs["superseded"])["payload"]["ballot"]
    size = scenario.ctx.group.element_bytes
    bad = (2 + (2**255 - 19)).to_bytes(32, "little").hex() if size == 32 else "ff" * size  # y >= p; x >= p
    if where == "alpha":
        ballot["contests"][0]["selections"][0]["alpha"] = bad
    else:
        ballot["contests"][0]["proofs"][1]["b"][1] = bad
    fix_ballots(entries, scenario.ctx)
    rechain(entries, scenario.key)
    report = verify_record(save(entries, bytes(scenario.key.verify_key).hex(), tmp_path / "rec"), workers=1)
    field = "selections[0].alpha" if where == "alpha" else "proofs[1].b[1]"
    assert {f.check for f in report.failures} == {"ballot_format"}, report.failures
    assert [(f.seq, field in f.detail) for f in report.failures] == [(scenario.seqs["superseded"], True)]


def test_ed25519_chunks_hold_what_the_decode_cache_keeps(scenario: Scenario, monkeypatch: pytest.MonkeyPatch) -> None:
    """A chunk's ballots hold at most Group.batch_elements points (ed25519: half its decode cache), so that the points
    read are still decoded when the batch verifies; modp has no such limit, and a smaller CHUNK still rules."""
    from types import SimpleNamespace

    import voting.verifier as verifier
    from threshold.groups import get_group

    ctx = scenario.ctx
    ballot = next(e["payload"]["ballot"] for e in load(scenario.record) if e["type"] == "cast")
    per_ballot = elements_per_ballot(ctx.manifest)
    held = sum(2 * len(c["selections"]) + sum(len(p["a"]) + len(p["b"]) for p in c["proofs"] + [c["limit_proof"]])
               for c in ballot["contests"])
    assert per_ballot == held  # the points a cast ballot of the record holds
    size = verifier._chunk_size(ctx)
    assert size * per_ballot <= ctx.group.batch_elements < (size + 1) * per_ballot
    assert verifier._chunk_size(SimpleNamespace(group=get_group("modp"), manifest=ctx.manifest)) == verifier.CHUNK
    assert verifier._chunk_size(None) == verifier.CHUNK
    monkeypatch.setattr(verifier, "CHUNK", 3)
    assert verifier._chunk_size(ctx) == 3
