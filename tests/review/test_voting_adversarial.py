"""Adversarial review of voting/: a malicious board, voter, trustee or admin against the board and `quorum verify`.

Threat model of the record tests: the board holds its signing key (`quorum demo --board-key` writes it), so after
any edit it re-hashes and re-signs the whole chain, recomputes what it can (ballot hashes, tracking codes, the
tally and counted hash) and, where the test says so, colludes with the trustees to re-decrypt. What it cannot do
is sign for a voter's credential it does not hold. Every test names its ATTACKS.md row where there is one.

Tests marked xfail(strict=True) are open findings: each reason says what is wrong, where, and the fix. The
owner removes the marker when fixing (the test then passes).

One election is built per module (ed25519, demo manifest, 3 trustees, quorum 2, one trustee absent) and every
test mutates a copy of its record.
"""

from __future__ import annotations

import copy
import json
import os
import stat
import subprocess
import sys
import threading
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest
from nacl.signing import SigningKey

from threshold.decryption import partial_decrypt
from threshold.dkg import TrusteeKey
from threshold.elgamal import Ciphertext
from threshold.errors import QuorumError
from threshold.groups import get_group
from voting import credentials as creds_mod
from voting.ballot import ballot_hash, encrypt_ballot, next_tracker, reveal_json, signed_body
from voting.board import Board, load_signing_key
from voting.context import ElectionContext, credentials_payload, setup_payload
from voting.credentials import new_private_credential, public_credential
from voting.demo import DEMO_MANIFEST, key_ceremony
from voting.election import Election
from voting.manifest import Manifest
from voting.record import GENESIS, RecordFormatError, entry_hash
from voting.tally import CastBallot, counted_ballots, decryption_context, parse_tally, result_payload, tally_payload
from voting.verifier import verify_record

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = Manifest.from_json(DEMO_MANIFEST)
CHOICE_A = {"mayor": ["ada"], "council": ["c1", "c3"], "board": ["b1", "b2"], "park": ["yes"]}
CHOICE_B = {"mayor": ["grace"], "council": [], "board": ["b2", "b3"], "park": ["no"]}
BOARD_CHOSEN = ("cast_at", "timestamp")  # Contracts: Record, the only values nothing binds


# --- the election every test starts from -----------------------------------------------------------------------
@dataclass
class World:
    """A finished election with every secret: board key, voters' private credentials, trustees' keys."""

    record: Path
    key: SigningKey
    ctx: ElectionContext
    private: list[str]
    trustee_keys: list[TrusteeKey]
    entries: list[dict[str, Any]]
    seqs: dict[str, int] = field(default_factory=dict)
    db_url: str = ""

    @property
    def pub(self) -> str:
        return (self.record / "board.pub").read_text().strip()

    def fresh(self) -> list[dict[str, Any]]:
        return copy.deepcopy(self.entries)


def _open_election(url: str, voters: int, election_id: str = "review") -> tuple[Board, Election, SigningKey, list[str], list[TrusteeKey]]:
    key = SigningKey.generate()
    board = Board.open(url, key)
    board.create_election(election_id)
    election = Election(board, election_id)
    setup_p = setup_payload(election_id, MANIFEST, get_group("ed25519"), 3, 2, board.public_key)
    election.setup(setup_p)
    ceremony_p, keys = key_ceremony(setup_p)
    election.key_ceremony(ceremony_p)
    private = [new_private_credential() for _ in range(voters)]
    election.register(credentials_payload([public_credential(election_id, c) for c in private], voters))
    election.open()
    return board, election, key, private, keys


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """v0 challenges a ballot then casts A; v1 casts A; v2 casts A then re-votes B; v3 casts B.
    Trustees 1 and 3 decrypt (trustee 2 absent)."""
    tmp = tmp_path_factory.mktemp("review-election")
    url = f"sqlite:///{tmp / 'board.db'}"
    board, election, key, private, keys = _open_election(url, 4)
    ctx = election.context()
    seqs: dict[str, int] = {}
    spoiled, secrets_ = encrypt_ballot(ctx, private[0], CHOICE_B)
    seqs["spoil"] = election.spoil(spoiled, reveal_json(ctx, secrets_)).seq
    seqs["v0"] = election.cast(encrypt_ballot(ctx, private[0], CHOICE_A)[0]).seq
    seqs["v1"] = election.cast(encrypt_ballot(ctx, private[1], CHOICE_A)[0]).seq
    seqs["v2_old"] = election.cast(encrypt_ballot(ctx, private[2], CHOICE_A)[0]).seq
    seqs["v3"] = election.cast(encrypt_ballot(ctx, private[3], CHOICE_B)[0]).seq
    seqs["v2_new"] = election.cast(encrypt_ballot(ctx, private[2], CHOICE_B, revote=1)[0]).seq
    election.close()
    election.tally()
    published = election.cast_ballots()
    tally_p = next(e for e in election.entries() if e.type == "tally").payload
    from voting.tally import trustee_decrypt
    for k in keys:
        if k.index != 2:
            election.add_decryption(trustee_decrypt(ctx, k, published, tally_p))
    election.publish_result()
    record = board.export("review", tmp / "record")
    board.engine.dispose()
    entries = [json.loads(line) for line in (record / "board.jsonl").read_text(encoding="utf-8").splitlines()]
    w = World(record, key, ctx, private, keys, entries, seqs, url)
    assert verify_record(record, workers=1).valid, "the untouched record must verify"
    return w


# --- what a malicious board can do after editing ------------------------------------------------------------------
def rechain(w: World, entries: list[dict[str, Any]]) -> None:
    """Re-hash and re-sign the whole chain with the board key."""
    prev = GENESIS
    for e in entries:
        e["prev"] = prev
        e["hash"] = entry_hash(e["seq"], e["type"], e["payload"], prev)
        e["sig"] = w.key.sign(bytes.fromhex(e["hash"])).signature.hex()
        prev = e["hash"]


def renumber(entries: list[dict[str, Any]]) -> None:
    for i, e in enumerate(entries):
        e["seq"] = i


def fix_ballots(w: World, entries: list[dict[str, Any]]) -> None:
    """Recompute stated ballot hashes and the tracking-code chain (the board computes both)."""
    previous = w.ctx.base_hash
    for e in entries:
        if e["type"] in ("cast", "spoil"):
            b = e["payload"]["ballot"]
            digest = ballot_hash(w.ctx, signed_body(b))
            e["payload"]["ballot_hash"] = digest.hex()
            previous = next_tracker(previous, digest)
            e["payload"]["tracker"] = previous.hex()


def _cast_ballot(w: World, e: dict[str, Any]) -> CastBallot:
    g = w.ctx.group
    b = e["payload"]["ballot"]
    sels = tuple(tuple(Ciphertext(g.from_hex(s["alpha"]), g.from_hex(s["beta"])) for s in c["selections"]) for c in b["contests"])
    digest = ballot_hash(w.ctx, signed_body(b)).hex()
    return CastBallot(e["seq"], b["credential"], digest, sels, b["revote"])


def _all_cast(w: World, entries: list[dict[str, Any]]) -> list[CastBallot]:
    return [_cast_ballot(w, e) for e in entries if e["type"] == "cast"]


def recount(w: World, entries: list[dict[str, Any]], chosen: Callable[[list[CastBallot]], list[CastBallot]] | None = None,
            decrypt: bool = True) -> None:
    """Recompute the tally entry over `chosen` cast ballots (default: the re-vote rule), then, colluding with
    the trustees (or honestly, when the tally is what they would compute), their partial decryptions and the
    result: everything downstream of the ballots made consistent again."""
    cast = [_cast_ballot(w, e) for e in entries if e["type"] == "cast"]
    counted = chosen(cast) if chosen else counted_ballots(cast)
    tally = next(e for e in entries if e["type"] == "tally")
    tally["payload"] = tally_payload(w.ctx, counted)
    if not decrypt:
        return
    flat = parse_tally(w.ctx, tally["payload"])
    partials = []
    for e in entries:
        if e["type"] == "decryption":
            key = next(k for k in w.trustee_keys if k.index == e["payload"]["index"])
            p = partial_decrypt(w.ctx.group, key.index, key.secret, flat, decryption_context(w.ctx))
            e["payload"] = p.to_json(w.ctx.group)
            partials.append(p)
    result = next(e for e in entries if e["type"] == "result")
    result["payload"] = result_payload(w.ctx, flat, partials, len(counted))


def save(w: World, entries: list[dict[str, Any]], out: Path, resign: bool = True) -> Path:
    if resign:
        rechain(w, entries)
    out.mkdir(parents=True, exist_ok=True)
    (out / "board.jsonl").write_bytes(b"".join(
        json.dumps(e, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() + b"\n" for e in entries))
    (out / "board.pub").write_text(w.pub + "\n", encoding="ascii")
    return out


def failed_checks(path: Path) -> set[str]:
    report = verify_record(path, workers=1)
    return {f.check for f in report.failures}


def at(entries: list[dict[str, Any]], seq: int) -> dict[str, Any]:
    return next(e for e in entries if e["seq"] == seq)


def of_type(entries: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in entries if e["type"] == kind]


def cli_verify(path: Path) -> tuple[int, str]:
    """`quorum verify` in-process: exit code and stderr; an exception escaping main() fails the caller's test."""
    import contextlib
    import io

    from quorum.cli import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["verify", str(path), "--quiet", "--workers", "1"])
    return code, err.getvalue()


# =================================================================================================================
# (1) every value bound: the mutation sweep
# =================================================================================================================
def _walk(o: Any, p: tuple = ()):
    yield p, o
    if isinstance(o, dict):
        for k, v in o.items():
            yield from _walk(v, p + (k,))
    elif isinstance(o, list):
        for i, v in enumerate(o):
            yield from _walk(v, p + (i,))


def _set(o: Any, p: tuple, v: Any) -> None:
    for k in p[:-1]:
        o = o[k]
    o[p[-1]] = v


def _mutation(v: Any) -> tuple[str, Any] | None:
    """The most telling change of one value: another valid group element or scalar where it is one (so only a
    proof or a recomputation can catch it, not the parser), else a flipped hex digit, an int +1, a longer string,
    a list without its last item, an object with an extra key."""
    g = get_group("ed25519")
    if isinstance(v, bool):
        return "not", not v
    if isinstance(v, int):
        return "+1", v + 1
    if isinstance(v, str):
        if len(v) == 64 and all(c in "0123456789abcdef" for c in v):
            try:
                return "element*g", g.to_hex(g.mul(g.from_hex(v, allow_identity=True), g.g))
            except QuorumError:
                n = int(v, 16)
                if n < g.q - 1:
                    return "scalar+1", g.scalar_to_hex(n + 1)
        if v and all(c in "0123456789abcdef" for c in v):
            return "flip", v[:-1] + ("0" if v[-1] != "0" else "1")
        return "str", v + "x"
    if isinstance(v, list):
        return ("drop-last", v[:-1]) if v else ("add-null", [None])
    if isinstance(v, dict):
        return "extra-key", {**v, "zz": 1}
    return None


def _sweep_cases(entries: list[dict[str, Any]]) -> list[tuple[int, tuple, str, Any]]:
    """One mutation per (entry type, path with list indices generalized): every kind of value in every payload.
    Ballot fields are swept on the first cast entry; the spoil entry adds its reveal and receipt fields."""
    cases, seen = [], set()
    for idx, e in enumerate(entries):
        for p, v in _walk(e["payload"]):
            if not p or p[-1] in BOARD_CHOSEN:
                continue
            if e["type"] == "spoil" and p[0] == "ballot":
                continue
            shape = (e["type"],) + tuple("*" if isinstance(k, int) else k for k in p)
            m = _mutation(v)
            if shape in seen or m is None or m[1] == v:
                continue
            seen.add(shape)
            cases.append((idx, p, m[0], m[1]))
    return cases


def test_every_payload_value_is_bound(world: World, tmp_path: Path) -> None:
    """Contracts: Record: changing any single payload value (other than cast_at/timestamp), with the chain
    re-hashed and re-signed by the board key, makes `quorum verify` fail (and never crash). ATTACKS row 16
    (stubbed verifier checks): every check must be live. Also sweeps key and item removal/addition."""
    cases = _sweep_cases(world.entries)
    assert len(cases) > 100
    unbound, crashed = [], []
    for n, (idx, path, name, new) in enumerate(cases):
        entries = world.fresh()
        _set(entries[idx]["payload"], path, new)
        out = save(world, entries, tmp_path / f"m{n}")
        where = f"seq {idx} {entries[idx]['type']}.{'/'.join(map(str, path))} ({name})"
        try:
            if verify_record(out, workers=1).valid:
                unbound.append(where)
        except RecordFormatError:
            pass
        except Exception as exc:  # noqa: BLE001 - any escape is a finding
            crashed.append(f"{where}: {type(exc).__name__}: {exc}")
    assert not unbound, f"values not bound by any check: {unbound}"
    assert not crashed, f"verifier crashed: {crashed}"


def test_demo_board_key_file_signs_the_record(tmp_path: Path) -> None:
    """The sweep's threat model is real: `quorum demo --board-key` writes the board's private key, mode 0600,
    and it is the key of board.pub (so whoever holds it can re-sign any edited chain)."""
    out, keyfile = tmp_path / "rec", tmp_path / "board.key"
    proc = subprocess.run([sys.executable, "-m", "quorum.cli", "demo", "--out", str(out), "--voters", "2", "--trustees", "2",
                           "--quorum", "1", "--absent", "1", "--group", "ed25519", "--board-key", str(keyfile)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert stat.S_IMODE(os.stat(keyfile).st_mode) == 0o600
    key = load_signing_key(keyfile)
    assert bytes(key.verify_key).hex() == (out / "board.pub").read_text().strip()


# =================================================================================================================
# (2) stuffing, replay, copying, challenged ballots, re-voting, tally, decryption
# =================================================================================================================
def _insert_ballot(w: World, entries: list[dict[str, Any]], entry_type: str, ballot: dict[str, Any],
                   extra: dict[str, Any] | None = None) -> None:
    """Append a ballot entry just before close, then renumber, re-chain the trackers and recount."""
    close = of_type(entries, "close")[0]
    entries.insert(entries.index(close), {"seq": 0, "type": entry_type, "prev": "", "hash": "", "sig": "",
                                          "payload": {"ballot": ballot, "ballot_hash": "", "tracker": "",
                                                      "cast_at": "2026-01-01T00:00:00.000000Z", **(extra or {})}})
    renumber(entries)
    fix_ballots(w, entries)


def test_stuffed_ballot_unknown_credential(world: World, tmp_path: Path) -> None:
    """ATTACKS row 13: the board stuffs a well-formed ballot signed by a credential that is not on the list, and
    counts it (colluding trustees decrypt the new tally)."""
    entries = world.fresh()
    stuffed, _ = encrypt_ballot(world.ctx, new_private_credential(), CHOICE_A)
    _insert_ballot(world, entries, "cast", stuffed)
    recount(world, entries, chosen=lambda cast: counted_ballots(cast))  # the stuffed one counted
    assert "ballot_credentials" in failed_checks(save(world, entries, tmp_path / "r"))


def test_replayed_ballot(world: World, tmp_path: Path) -> None:
    """ATTACKS row 2: the same cast ballot appended a second time (trackers recomputed) is reported."""
    entries = world.fresh()
    _insert_ballot(world, entries, "cast", copy.deepcopy(at(entries, world.seqs["v1"])["payload"]["ballot"]))
    recount(world, entries)
    assert {"ballot_hashes", "ciphertext_uniqueness"} <= failed_checks(save(world, entries, tmp_path / "r"))


def _reencrypt(w: World, ballot: dict[str, Any]) -> dict[str, Any]:
    return _reencrypt_ctx(w.ctx, ballot)


def _sign_as(w: World, ballot: dict[str, Any], private: str) -> dict[str, Any]:
    return _sign_as_ctx(w.ctx, ballot, private)


def test_reencrypted_copy_under_own_credential(world: World, tmp_path: Path) -> None:
    """ATTACKS row 2 (Cortier-Smyth): voter 3 re-randomizes voter 1's ciphertexts, keeps the proofs and signs with
    its own credential (replacing its own ballot) to learn voter 1's vote from the tally."""
    entries = world.fresh()
    victim = at(entries, world.seqs["v1"])["payload"]["ballot"]
    copied = _sign_as(world, _reencrypt(world, victim), world.private[3])
    _insert_ballot(world, entries, "cast", copied)
    recount(world, entries)
    assert "ballot_proofs" in failed_checks(save(world, entries, tmp_path / "r"))


def test_proofs_moved_to_another_credential(world: World, tmp_path: Path) -> None:
    """ATTACKS rows 2 and 9: voter 1's exact ciphertexts and proofs, re-signed by voter 3's credential."""
    entries = world.fresh()
    copied = _sign_as(world, copy.deepcopy(at(entries, world.seqs["v1"])["payload"]["ballot"]), world.private[3])
    _insert_ballot(world, entries, "cast", copied)
    recount(world, entries)
    assert {"ballot_proofs", "ciphertext_uniqueness"} <= failed_checks(save(world, entries, tmp_path / "r"))


def test_challenged_ballot_cast_later(world: World, tmp_path: Path) -> None:
    """ATTACKS row 15: the spoiled ballot (nonces public) cast afterwards as it is, by the same credential."""
    entries = world.fresh()
    spoiled = copy.deepcopy(at(entries, world.seqs["spoil"])["payload"]["ballot"])
    _insert_ballot(world, entries, "cast", spoiled)
    recount(world, entries)
    assert {"ballot_hashes", "ciphertext_uniqueness"} <= failed_checks(save(world, entries, tmp_path / "r"))


def test_duplicate_tracking_code(world: World, tmp_path: Path) -> None:
    """ATTACKS row 14 (clash attack): the board shows two voters the same tracking code."""
    entries = world.fresh()
    at(entries, world.seqs["v1"])["payload"]["tracker"] = at(entries, world.seqs["v0"])["payload"]["tracker"]
    assert "trackers" in failed_checks(save(world, entries, tmp_path / "r"))


def test_tally_counts_the_superseded_ballot(world: World, tmp_path: Path) -> None:
    """Re-vote rule (DESIGN: the last ballot of a credential counts): the board tallies voter 2's older ballot,
    states a matching counted/counted_hash, and colluding trustees decrypt that tally."""
    entries = world.fresh()
    recount(world, entries, chosen=lambda cast: [b for b in cast if b.seq != world.seqs["v2_new"]])
    assert "counted_ballots" in failed_checks(save(world, entries, tmp_path / "r"))


def test_reordered_revotes_count_the_older_ballot(world: World, tmp_path: Path) -> None:
    """Re-vote rule attacked by reordering (ATTACKS rows 12/13 family: the board decides what is tallied): swap
    voter 2's two cast entries, re-chain trackers, honest re-tally and decryption. The verifier should notice
    that the counted ballot is not the one the voter cast last.

    Fixed by the re-vote counter in the signed ballot body (spec 10.4/10.5): the board tallies the last ballot in
    its (reordered) order, colluding trustees decrypt it (honest ones, counting the highest counter, refuse), and
    the verifier reports the counters out of order and the counted ballot not the highest."""
    entries = world.fresh()
    i_old = entries.index(at(entries, world.seqs["v2_old"]))
    i_new = entries.index(at(entries, world.seqs["v2_new"]))
    entries[i_old], entries[i_new] = entries[i_new], entries[i_old]
    renumber(entries)
    fix_ballots(world, entries)
    last_on_board = {b.credential: b for b in sorted(_all_cast(world, entries), key=lambda b: b.seq)}
    recount(world, entries, chosen=lambda cast: sorted(last_on_board.values(), key=lambda b: b.seq))
    out = save(world, entries, tmp_path / "r")
    report = verify_record(out, workers=1)
    assert report.result != verify_record(world.record, workers=1).result  # the attack changed the outcome
    assert not report.valid
    assert {"revote_counters", "counted_ballots"} <= {f.check for f in report.failures}


def test_tally_omits_a_ballot(world: World, tmp_path: Path) -> None:
    """ATTACKS row 12: the tally leaves out voter 3's ballot while stating the honest counted/counted_hash."""
    entries = world.fresh()
    tally = copy.deepcopy(of_type(entries, "tally")[0]["payload"])
    recount(world, entries, chosen=lambda cast: [b for b in counted_ballots(cast) if b.seq != world.seqs["v3"]], decrypt=False)
    of_type(entries, "tally")[0]["payload"]["counted"] = tally["counted"]
    of_type(entries, "tally")[0]["payload"]["counted_hash"] = tally["counted_hash"]
    recount_partials_only(world, entries)
    assert "tally" in failed_checks(save(world, entries, tmp_path / "r"))


def recount_partials_only(w: World, entries: list[dict[str, Any]]) -> None:
    """Colluding trustees decrypt whatever tally is stated; result combined from their shares."""
    tally = of_type(entries, "tally")[0]["payload"]
    flat = parse_tally(w.ctx, tally)
    partials = []
    for e in of_type(entries, "decryption"):
        key = next(k for k in w.trustee_keys if k.index == e["payload"]["index"])
        p = partial_decrypt(w.ctx.group, key.index, key.secret, flat, decryption_context(w.ctx))
        e["payload"] = p.to_json(w.ctx.group)
        partials.append(p)
    of_type(entries, "result")[0]["payload"] = result_payload(w.ctx, flat, partials, tally["counted"])


def test_tally_adds_a_ballot(world: World, tmp_path: Path) -> None:
    """ATTACKS rows 12/13: the superseded ballot counted as well, counted and counted_hash restated to match."""
    entries = world.fresh()
    recount(world, entries, chosen=lambda cast: cast)
    assert "counted_ballots" in failed_checks(save(world, entries, tmp_path / "r"))


def test_result_not_the_decryption(world: World, tmp_path: Path) -> None:
    """A result that swaps two candidates' counts (same total) is reported."""
    entries = world.fresh()
    counts = of_type(entries, "result")[0]["payload"]["contests"][0]["counts"]
    i, j = next((i, j) for i in range(len(counts)) for j in range(i) if counts[i] != counts[j])
    counts[i], counts[j] = counts[j], counts[i]
    assert "result" in failed_checks(save(world, entries, tmp_path / "r"))


@pytest.mark.parametrize("where", ["trustees", "counts"])
def test_boolean_for_integer_in_result(world: World, tmp_path: Path, where: str) -> None:
    """A result stating `true` for a trustee index 1 or a count of 1 (wrong JSON type, same Python value)."""
    entries = world.fresh()
    result = of_type(entries, "result")[0]["payload"]
    if where == "trustees":
        assert result["trustees"][0] == 1
        result["trustees"][0] = True
    else:
        item = next(c for c in result["contests"] if 1 in c["counts"] or 0 in c["counts"])
        k = next(i for i, n in enumerate(item["counts"]) if n in (0, 1))
        item["counts"][k] = bool(item["counts"][k])
    assert not verify_record(save(world, entries, tmp_path / "r"), workers=1).valid


def test_partial_by_unknown_trustee(world: World, tmp_path: Path) -> None:
    """A partial decryption under index 4 of a 3-trustee election (computed with trustee 1's secret)."""
    entries = world.fresh()
    flat = parse_tally(world.ctx, of_type(entries, "tally")[0]["payload"])
    k1 = next(k for k in world.trustee_keys if k.index == 1)
    forged = partial_decrypt(world.ctx.group, 4, k1.secret, flat, decryption_context(world.ctx)).to_json(world.ctx.group)
    of_type(entries, "decryption")[0]["payload"] = forged
    assert {"decryptions", "result"} <= failed_checks(save(world, entries, tmp_path / "r"))


def test_partial_with_another_trustees_share(world: World, tmp_path: Path) -> None:
    """Absent trustee 2's slot filled with a partial made from trustee 1's secret under index 2."""
    entries = world.fresh()
    flat = parse_tally(world.ctx, of_type(entries, "tally")[0]["payload"])
    k1 = next(k for k in world.trustee_keys if k.index == 1)
    of_type(entries, "decryption")[0]["payload"] = partial_decrypt(
        world.ctx.group, 2, k1.secret, flat, decryption_context(world.ctx)).to_json(world.ctx.group)
    assert {"decryptions", "result"} <= failed_checks(save(world, entries, tmp_path / "r"))


def test_too_few_partials(world: World, tmp_path: Path) -> None:
    """ATTACKS row 11: one partial decryption for a quorum of 2 cannot give the stated result."""
    entries = world.fresh()
    entries.remove(of_type(entries, "decryption")[1])
    renumber(entries)
    assert "result" in failed_checks(save(world, entries, tmp_path / "r"))


def test_same_trustee_twice(world: World, tmp_path: Path) -> None:
    """ATTACKS row 11 (duplicate indices in Lagrange interpolation): trustee 1's partial published twice in place
    of trustee 3's."""
    entries = world.fresh()
    d = of_type(entries, "decryption")
    d[1]["payload"] = copy.deepcopy(d[0]["payload"])
    assert {"decryptions", "result"} <= failed_checks(save(world, entries, tmp_path / "r"))


# =================================================================================================================
# (3) parser robustness: every malformed record exits 2 naming the line, never a traceback
# =================================================================================================================
def _garble(kind: str, lines: list[bytes]) -> tuple[bytes, int]:
    """board.jsonl bytes with one line garbled; returns them and the 1-based line that is wrong."""
    n = 3  # the credentials line (index 2)
    lines = list(lines)
    if kind == "truncated_last":
        return b"\n".join(lines)[:-40], len(lines)
    if kind == "truncated_middle":
        lines[n - 1] = lines[n - 1][: len(lines[n - 1]) // 2]
    elif kind == "not_utf8":
        lines[n - 1] = lines[n - 1][:20] + b"\xff\xfe" + lines[n - 1][20:]
    elif kind == "not_json":
        lines[n - 1] = b"this is not json"
    elif kind == "spaces":
        lines[n - 1] = lines[n - 1].replace(b'","', b'", "', 1)
    elif kind == "float":
        lines[n - 1] = lines[n - 1].replace(b'"voter_count":4', b'"voter_count":4.0')
    elif kind == "nan":
        lines[n - 1] = lines[n - 1].replace(b'"voter_count":4', b'"voter_count":NaN')
    elif kind == "duplicate_key":
        lines[n - 1] = lines[n - 1].replace(b'"voter_count":4', b'"voter_count":4,"voter_count":4')
    elif kind == "array":
        lines[n - 1] = b"[" + lines[n - 1] + b"]"
    elif kind == "deep":
        lines[n - 1] = b"[" * 200000 + b"]" * 200000
    elif kind == "empty_line":
        lines.insert(n - 1, b"")
    elif kind == "crlf":
        lines[n - 1] = lines[n - 1] + b"\r"
    elif kind == "lone_surrogate":
        lines[n - 1] = lines[n - 1].replace(b'"voter_count":4', b'"voter_count":4,"x":"\\ud800"')
    elif kind == "missing_key":
        lines[n - 1] = lines[n - 1].replace(b'"seq":2,', b"")
    elif kind == "huge_int":
        lines[n - 1] = lines[n - 1].replace(b'"voter_count":4', b'"voter_count":' + b"9" * 5000)
    return b"\n".join(lines) + b"\n", n


GARBLES = ["truncated_last", "truncated_middle", "not_utf8", "not_json", "spaces", "float", "nan", "duplicate_key",
           "array", "deep", "empty_line", "crlf", "missing_key", "huge_int",
           "lone_surrogate"]


@pytest.mark.parametrize("kind", GARBLES)
def test_garbled_line_exits_2_naming_the_line(world: World, tmp_path: Path, kind: str) -> None:
    """Security rule 4 / Contracts: CLI: a garbled or truncated board.jsonl line gives exit 2 naming the line."""
    data, lineno = _garble(kind, (world.record / "board.jsonl").read_bytes().rstrip(b"\n").split(b"\n"))
    out = tmp_path / "r"
    out.mkdir()
    (out / "board.jsonl").write_bytes(data)
    (out / "board.pub").write_text(world.pub + "\n")
    code, err = cli_verify(out)
    assert code == 2
    assert f"line {lineno}" in err


@pytest.mark.parametrize("value", [[], {}])
def test_non_string_tracker_is_reported_not_a_crash(world: World, tmp_path: Path, value: Any) -> None:
    """A ballot entry with a list or object as its tracking code must be a named failure (exit 1), not a traceback."""
    entries = world.fresh()
    at(entries, world.seqs["v0"])["payload"]["tracker"] = value
    code, _ = cli_verify(save(world, entries, tmp_path / "r"))
    assert code == 1


def test_zip_and_board_pub_garbage(world: World, tmp_path: Path) -> None:
    """Not a zip, a zip without board.pub, a board.pub that is not hex, a missing record: exit 2, no traceback."""
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"PK\x03\x04 definitely not a zip")
    assert cli_verify(bad)[0] == 2
    partial = tmp_path / "partial.zip"
    with zipfile.ZipFile(partial, "w") as z:
        z.writestr("board.jsonl", (world.record / "board.jsonl").read_bytes())
    assert cli_verify(partial)[0] == 2
    d = tmp_path / "d"
    d.mkdir()
    (d / "board.jsonl").write_bytes((world.record / "board.jsonl").read_bytes())
    (d / "board.pub").write_text("zz" * 32 + "\n")
    assert cli_verify(d)[0] == 2
    assert cli_verify(tmp_path / "nowhere")[0] == 2


# =================================================================================================================
# (4) board concurrency and idempotency
# =================================================================================================================
@pytest.fixture
def fresh_board(tmp_path: Path):
    board, election, key, private, keys = _open_election(f"sqlite:///{tmp_path / 'b.db'}", 3, "fresh")
    yield board, election, private, keys
    board.engine.dispose()


def test_retried_cast_and_replays(fresh_board) -> None:
    """ATTACKS rows 2/15 on the board: a retried cast returns the first receipt and stores nothing; a replay of a
    superseded ballot, a challenged ballot cast later and a copy of another voter's ballot are refused, and a
    refused ballot leaves nothing behind (Security rule 4)."""
    board, election, private, _ = fresh_board
    ctx = election.context()
    a = encrypt_ballot(ctx, private[0], CHOICE_A)[0]
    b = encrypt_ballot(ctx, private[0], CHOICE_B, revote=1)[0]
    r1 = election.cast(a)
    assert election.cast(a) == type(r1)(r1.seq, r1.ballot_hash, r1.tracker, False)
    election.cast(b)
    before = len(election.entries())
    with pytest.raises(QuorumError):
        election.cast(a)  # the older ballot replayed after the re-vote
    spoiled, secrets_ = encrypt_ballot(ctx, private[1], CHOICE_A)
    election.spoil(spoiled, reveal_json(ctx, secrets_))
    before = len(election.entries())
    with pytest.raises(QuorumError):
        election.cast(spoiled)
    copied = copy.deepcopy(b)
    key = creds_mod.signing_key(ctx.setup.election_id, private[2])
    copied["credential"] = bytes(key.verify_key).hex()
    copied["revote"] = 0  # private[2]'s first ballot: refused as a copy, not for its counter
    copied["signature"] = creds_mod.sign(key, ballot_hash(ctx, signed_body(copied)))
    with pytest.raises(QuorumError):
        election.cast(copied)
    with pytest.raises(QuorumError):
        election.cast(_sign_as_ctx(ctx, {**_reencrypt_ctx(ctx, b), "revote": 0}, private[2]))
    assert len(election.entries()) == before


def _reencrypt_ctx(ctx: ElectionContext, ballot: dict[str, Any]) -> dict[str, Any]:
    g, pk = ctx.group, ctx.public_key
    out = copy.deepcopy(ballot)
    for c in out["contests"]:
        for s in c["selections"]:
            zero, _ = pk.encrypt(0)
            s["alpha"] = g.to_hex(g.mul(g.from_hex(s["alpha"]), zero.alpha))
            s["beta"] = g.to_hex(g.mul(g.from_hex(s["beta"]), zero.beta))
    return out


def _sign_as_ctx(ctx: ElectionContext, ballot: dict[str, Any], private: str) -> dict[str, Any]:
    key = creds_mod.signing_key(ctx.setup.election_id, private)
    ballot["credential"] = bytes(key.verify_key).hex()
    ballot["signature"] = creds_mod.sign(key, ballot_hash(ctx, signed_body(ballot)))
    return ballot


def test_concurrent_duplicate_partial_decryption(fresh_board) -> None:
    """Two simultaneous submissions of one trustee's partial decryption must store one entry."""
    board, election, private, keys = fresh_board
    ctx = election.context()
    election.cast(encrypt_ballot(ctx, private[0], CHOICE_A)[0])
    election.close()
    election.tally()
    from voting.tally import trustee_decrypt
    tally_p = of_type([{"type": e.type, "payload": e.payload} for e in election.entries()], "tally")[0]["payload"]
    payload = trustee_decrypt(ctx, keys[0], election.cast_ballots(), tally_p)
    barrier = threading.Barrier(2, timeout=20)
    errors: list[BaseException] = []

    def submit() -> None:
        e = Election(board, "fresh")
        e._context = ctx
        original = e._step

        def step(entry_type: str, p: dict[str, Any]):
            barrier.wait()  # both have passed the duplicate check: now race for the append
            return original(entry_type, p)

        e._step = step  # type: ignore[method-assign]
        try:
            e.add_decryption(payload)
        except QuorumError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len([e for e in election.entries() if e.type == "decryption"]) == 1


# =================================================================================================================
# (5) lifecycle: illegal steps refused on the board, nothing stored; illegal orders reported by the verifier
# =================================================================================================================
def test_board_refuses_illegal_steps(fresh_board) -> None:
    board, election, private, keys = fresh_board
    ctx = election.context()
    n = len(election.entries())
    for step in (election.open, election.tally, election.publish_result):
        with pytest.raises(QuorumError):
            step()
    assert len(election.entries()) == n
    election.cast(encrypt_ballot(ctx, private[0], CHOICE_A)[0])
    election.close()
    n = len(election.entries())
    for step in (election.close, election.open, election.publish_result):
        with pytest.raises(QuorumError):
            step()
    with pytest.raises(QuorumError):
        election.cast(encrypt_ballot(ctx, private[1], CHOICE_A)[0])
    spoiled, secrets_ = encrypt_ballot(ctx, private[2], CHOICE_B)
    with pytest.raises(QuorumError):
        election.spoil(spoiled, reveal_json(ctx, secrets_))
    assert len(election.entries()) == n
    election.tally()
    with pytest.raises(QuorumError):
        election.tally()
    from voting.tally import trustee_decrypt
    tally_p = next(e for e in election.entries() if e.type == "tally").payload
    election.add_decryption(trustee_decrypt(ctx, keys[0], election.cast_ballots(), tally_p))
    n = len(election.entries())
    with pytest.raises(QuorumError):
        election.publish_result()  # one partial, quorum 2
    first = next(e for e in election.entries() if e.type == "decryption")
    assert election.add_decryption(trustee_decrypt(ctx, keys[0], election.cast_ballots(), tally_p)) == first  # a retry
    assert len(election.entries()) == n
    election.add_decryption(trustee_decrypt(ctx, keys[1], election.cast_ballots(), tally_p))
    election.publish_result()
    n = len(election.entries())
    with pytest.raises(QuorumError):
        election.publish_result()
    with pytest.raises(QuorumError):
        election.add_decryption(trustee_decrypt(ctx, keys[2], election.cast_ballots(), tally_p))
    assert len(election.entries()) == n


@pytest.mark.parametrize("move", ["cast_after_close", "decryption_after_result", "second_tally", "second_open",
                                  "result_before_decryptions", "unknown_type"])
def test_verifier_reports_illegal_order(world: World, tmp_path: Path, move: str) -> None:
    entries = world.fresh()
    if move == "cast_after_close":
        e = at(entries, world.seqs["v3"])
        entries.remove(e)
        entries.insert(entries.index(of_type(entries, "close")[0]) + 1, e)
        renumber(entries)
        fix_ballots(world, entries)
    elif move == "decryption_after_result":
        e = of_type(entries, "decryption")[0]
        entries.remove(e)
        entries.append(e)
    elif move == "second_tally":
        entries.insert(entries.index(of_type(entries, "tally")[0]) + 1, copy.deepcopy(of_type(entries, "tally")[0]))
    elif move == "second_open":
        entries.insert(entries.index(of_type(entries, "open")[0]) + 1, copy.deepcopy(of_type(entries, "open")[0]))
        fix_ballots(world, entries)
    elif move == "result_before_decryptions":
        r = of_type(entries, "result")[0]
        entries.remove(r)
        entries.insert(entries.index(of_type(entries, "tally")[0]) + 1, r)
    elif move == "unknown_type":
        entries.insert(3, {"seq": 0, "type": "note", "payload": {}, "prev": "", "hash": "", "sig": ""})
    renumber(entries)
    assert "lifecycle" in failed_checks(save(world, entries, tmp_path / "r"))


# =================================================================================================================
# more: values the board accepts but the record cannot carry, ambiguous records, parallel verification
# =================================================================================================================
def test_spoil_with_float_plaintexts_cannot_poison_the_record(fresh_board, tmp_path: Path) -> None:
    """Security rule 4 (a rejected input leaves nothing behind) and Contracts: Record: whatever the board accepts
    from a voter must keep the record verifiable. A challenged ballot whose reveal says 1.0 instead of 1."""
    board, election, private, keys = fresh_board
    ctx = election.context()
    ballot, secrets_ = encrypt_ballot(ctx, private[0], CHOICE_A)
    reveal = reveal_json(ctx, secrets_)
    reveal[0]["plaintexts"] = [float(m) for m in reveal[0]["plaintexts"]]
    try:
        election.spoil(ballot, reveal)
    except QuorumError:
        return  # refused: fine
    election.cast(encrypt_ballot(ctx, private[1], CHOICE_B)[0])
    election.close()
    election.tally()
    from voting.tally import trustee_decrypt
    tally_p = next(e for e in election.entries() if e.type == "tally").payload
    for k in keys[:2]:
        election.add_decryption(trustee_decrypt(ctx, k, election.cast_ballots(), tally_p))
    election.publish_result()
    code, err = cli_verify(board.export("fresh", tmp_path / "rec"))
    assert code == 0, err


def test_lone_surrogate_in_manifest_refused_by_name(tmp_path: Path) -> None:
    board = Board.open(f"sqlite:///{tmp_path / 'b.db'}", SigningKey.generate())
    board.create_election("sur")
    manifest = copy.deepcopy(DEMO_MANIFEST)
    manifest["title"] = "Vote \ud800"
    try:
        with pytest.raises(QuorumError):
            payload = setup_payload("sur", Manifest.from_json(manifest), get_group("ed25519"), 3, 2, board.public_key)
            Election(board, "sur").setup(payload)
        assert board.entries("sur") == []
    finally:
        board.engine.dispose()


def test_retried_challenge_returns_its_receipt(fresh_board) -> None:
    board, election, private, _ = fresh_board
    ctx = election.context()
    ballot, secrets_ = encrypt_ballot(ctx, private[0], CHOICE_A)
    first = election.spoil(ballot, reveal_json(ctx, secrets_))
    again = election.spoil(ballot, reveal_json(ctx, secrets_))
    assert (again.seq, again.tracker, again.stored) == (first.seq, first.tracker, False)


def test_trustees_refuse_a_tally_of_one_ballot(world: World) -> None:
    """ATTACKS row 12 (helios-server#170): the board posts a 'tally' that is one voter's ballot; every trustee
    refuses to decrypt it because it is not the product of the published ballots."""
    from voting.tally import trustee_decrypt
    cast = [_cast_ballot(world, e) for e in world.entries if e["type"] == "cast"]
    one = tally_payload(world.ctx, [b for b in cast if b.seq == world.seqs["v1"]])
    for k in world.trustee_keys:
        with pytest.raises(QuorumError):
            trustee_decrypt(world.ctx, k, cast, one)


def test_zip_with_two_logs_is_refused(world: World, tmp_path: Path) -> None:
    entries = world.fresh()
    of_type(entries, "result")[0]["payload"]["contests"][0]["counts"][0] += 100
    forged = save(world, entries, tmp_path / "forged")
    z = tmp_path / "two.zip"
    with zipfile.ZipFile(z, "w") as archive:
        archive.writestr("board.jsonl", (forged / "board.jsonl").read_bytes())
        archive.writestr("board.pub", world.pub + "\n")
        archive.writestr("verified/board.jsonl", (world.record / "board.jsonl").read_bytes())
    assert cli_verify(z)[0] == 2


def test_chunked_parallel_verification_agrees(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The forked, chunked path of `quorum verify --workers N` finds what the serial one finds, across chunk
    boundaries: a replayed ballot and a copied ciphertext far from the original (ATTACKS row 2)."""
    import voting.verifier as verifier

    entries = world.fresh()
    _insert_ballot(world, entries, "cast", copy.deepcopy(at(entries, world.seqs["spoil"])["payload"]["ballot"]))
    recount(world, entries)
    out = save(world, entries, tmp_path / "r")
    serial = verify_record(out, workers=1)
    monkeypatch.setattr(verifier, "CHUNK", 3)
    parallel = verify_record(out, workers=2)
    assert parallel.failures == serial.failures and not serial.valid
    assert verify_record(world.record, workers=2).valid


def _ballot_reusing_a_nonce(w: World, private: str, choices: dict[str, list[str]], contest_id: str) -> dict[str, Any]:
    """encrypt_ballot, except that the first two options of `contest_id` share one nonce (so one alpha): every
    proof is honest and valid, the credential signs it."""
    from threshold.proofs import RangeProof
    from voting.ballot import _limits_ciphertext, contest_context, selection_context, validate_choices

    ctx, pk, g = w.ctx, w.ctx.public_key, w.ctx.group
    vectors = validate_choices(ctx, choices)
    key = creds_mod.signing_key(ctx.setup.election_id, private)
    cred = bytes(key.verify_key).hex()
    contests = []
    for contest in ctx.manifest.contests:
        cts, proofs, rs = [], [], []
        for j, (option, m) in enumerate(zip(contest.options, vectors[contest.id])):
            r = rs[0] if (contest.id == contest_id and j == 1) else g.random_scalar()
            ct, _ = pk.encrypt(m, r)
            cts.append(ct)
            rs.append(r)
            proofs.append(RangeProof.prove(pk, ct, m, r, 1, selection_context(ctx, cred, contest.id, option)))
        shifted = _limits_ciphertext(ctx, contest, cts)
        limit = RangeProof.prove(pk, shifted, sum(vectors[contest.id]) - contest.min_selections, sum(rs) % g.q,
                                 contest.max_selections - contest.min_selections, contest_context(ctx, cred, contest.id))
        contests.append({"id": contest.id, "selections": [c.to_json(g) for c in cts],
                         "proofs": [p.to_json(g) for p in proofs], "limit_proof": limit.to_json(g)})
    body = {"credential": cred, "contests": contests, "revote": 0}
    return {**body, "signature": creds_mod.sign(key, ballot_hash(ctx, body))}


def test_nonce_reused_inside_one_ballot(world: World, tmp_path: Path) -> None:
    """ATTACKS row 2 family (ciphertext copies): a counted ballot with two selections under one nonce, every proof
    valid, stored by a colluding board, counted and decrypted: `quorum verify` should report it."""
    entries = world.fresh()
    leaky = _ballot_reusing_a_nonce(world, world.private[3], {**CHOICE_B, "council": ["c2"]}, "council")
    sels = leaky["contests"][1]["selections"]
    assert sels[0]["alpha"] == sels[1]["alpha"]
    _insert_ballot(world, entries, "cast", leaky)
    recount(world, entries)
    assert "ciphertext_uniqueness" in failed_checks(save(world, entries, tmp_path / "r"))


def _patched_zip(world: World, flag: int | None = None, method: int | None = None) -> bytes:
    """A record zip whose entries claim encryption (flag bit 0) or another compression method, as a hostile
    or merely exotic archiver writes them."""
    import io
    import struct

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("board.jsonl", (world.record / "board.jsonl").read_bytes())
        z.writestr("board.pub", world.pub + "\n")
    data = bytearray(buf.getvalue())
    for magic, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        i = data.find(magic)
        while i >= 0:
            if flag is not None:
                data[i + flag_at:i + flag_at + 2] = struct.pack("<H", flag)
            if method is not None:
                data[i + flag_at + 2:i + flag_at + 4] = struct.pack("<H", method)
            i = data.find(magic, i + 4)
    return bytes(data)


@pytest.mark.parametrize("patch", [{"flag": 1}, {"method": 9}], ids=["encrypted", "deflate64"])
def test_exotic_zip_exits_2(world: World, tmp_path: Path, patch: dict[str, int]) -> None:
    z = tmp_path / "rec.zip"
    z.write_bytes(_patched_zip(world, **patch))
    assert cli_verify(z)[0] == 2


def test_board_append_with_known_dedup_key_returns_the_stored_entry(fresh_board) -> None:
    board, election, _, _ = fresh_board
    with board.locked("fresh") as lb:
        first = lb.append("note", {"x": 1}, dedup_key="k" * 64)
    with board.locked("fresh") as lb:
        again = lb.append("note", {"x": 1}, dedup_key="k" * 64)
    assert again == first
    assert sum(e.type == "note" for e in board.entries("fresh")) == 1


def test_boolean_for_integer_in_qualified(world: World) -> None:
    from voting.context import build_context

    head = {e["type"]: copy.deepcopy(e["payload"]) for e in world.entries[:3]}
    assert head["key_ceremony"]["qualified"][0] == 1
    head["key_ceremony"]["qualified"][0] = True
    with pytest.raises(QuorumError):
        build_context(head["setup"], head["key_ceremony"], head["credentials"])
