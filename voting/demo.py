"""A whole election end to end on a scratch board: key ceremony, voters casting random ballots with re-votes
and Benaloh challenges, tally, decryption by the trustees present, and the record written out."""

from __future__ import annotations

import random
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nacl.signing import SigningKey

from threshold import dkg
from threshold.groups import Group, get_group
from voting.ballot import encrypt_ballot, reveal_json
from voting.board import Board, save_signing_key
from voting.context import MAX_TRUSTEES, ceremony_payload, credentials_payload, parse_setup, setup_payload
from voting.credentials import new_private_credential, public_credential
from voting.election import Election
from voting.manifest import Contest, Manifest
from voting.tally import trustee_decrypt

MAX_DEMO_VOTERS = 1_000_000  # the record allows 10^9 (spec section 10.1); a million credentials already take hours
DEMO_MANIFEST = {
    "title": "Quorum demo election",
    "contests": [
        {"id": "mayor", "title": "Mayor", "kind": "plurality",
         "options": [{"id": "ada", "label": "Ada"}, {"id": "alan", "label": "Alan"}, {"id": "grace", "label": "Grace"}]},
        {"id": "council", "title": "City council (up to 2)", "kind": "approval", "max": 2,
         "options": [{"id": f"c{i}", "label": f"Councillor {i}"} for i in range(1, 5)]},
        {"id": "board", "title": "Library board (exactly 2)", "kind": "exact", "k": 2,
         "options": [{"id": f"b{i}", "label": f"Trustee {i}"} for i in range(1, 4)]},
        {"id": "park", "title": "Build the new park?", "kind": "referendum"},
    ],
}


@dataclass(frozen=True)
class DemoResult:
    """The record's location, the published result and the counts the demo expects from its own plaintexts."""

    record: Path
    election_id: str
    result: dict[str, Any]
    expected: dict[str, list[int]]
    cast: int
    spoiled: int
    revotes: int


def random_choices(contest: Contest, rng: random.Random) -> list[str]:
    """A random valid choice in one contest."""
    count = rng.randint(contest.min_selections, contest.max_selections)
    return rng.sample(list(contest.options), count)


def key_ceremony(setup_p: dict[str, Any]) -> tuple[dict[str, Any], list[dkg.TrusteeKey]]:
    """Run the DKG among all trustees in this process: the key-ceremony payload and each trustee's key."""
    setup = parse_setup(setup_p)
    params = setup.ceremony_params()
    trustees, transcript, result = dkg.honest_ceremony(params)
    keys = [t.finish(transcript) for t in trustees]
    signatures = {t.index: t.sign(transcript) for t in trustees}
    return ceremony_payload(setup, transcript, result, signatures), keys


def run_demo(out: str | Path, voters: int = 20, trustees: int = 5, quorum: int = 3, absent: int = 2,
             group_name: str = "modp", board_key_path: str | Path | None = None, seed: int | None = None) -> DemoResult:
    """Run the election and export its record to `out` (a directory, or a zip if it ends in .zip)."""
    if not 1 <= quorum <= trustees <= MAX_TRUSTEES or not 0 <= absent <= trustees - quorum:
        raise ValueError(f"need 1 <= quorum <= trustees <= {MAX_TRUSTEES} and 0 <= absent <= trustees - quorum "
                         f"(got trustees={trustees}, quorum={quorum}, absent={absent})")
    if not 1 <= voters <= MAX_DEMO_VOTERS:
        raise ValueError(f"--voters: need 1 to {MAX_DEMO_VOTERS} voters (got {voters})")
    rng = random.Random(seed if seed is not None else secrets.randbits(64))
    key = SigningKey.generate()
    group = get_group(group_name)
    if board_key_path is not None:
        save_signing_key(key, board_key_path)
    try:
        return _run(out, voters, trustees, quorum, absent, group, key, rng)
    except BaseException:
        if board_key_path is not None:  # no private key of a board whose record was not written
            Path(board_key_path).unlink(missing_ok=True)
        raise


def _run(out: str | Path, voters: int, trustees: int, quorum: int, absent: int, group: Group, key: SigningKey,
         rng: random.Random) -> DemoResult:
    with tempfile.TemporaryDirectory(prefix="quorum-demo-") as scratch:
        board = Board.open(f"sqlite:///{Path(scratch) / 'board.db'}", key)
        election_id = "demo-" + secrets.token_hex(4)
        board.create_election(election_id)
        election = Election(board, election_id)
        manifest = Manifest.from_json(DEMO_MANIFEST)
        setup_p = setup_payload(election_id, manifest, group, trustees, quorum, board.public_key)
        election.setup(setup_p)
        ceremony_p, keys = key_ceremony(setup_p)
        election.key_ceremony(ceremony_p)
        private = [new_private_credential() for _ in range(voters)]
        election.register(credentials_payload([public_credential(election_id, c) for c in private], voters))
        election.open()
        ctx = election.context()
        final: dict[int, dict[str, list[int]]] = {}
        spoiled = revotes = cast = 0
        for v, credential in enumerate(private):
            # a Benaloh challenge before casting (it consumes no re-vote counter): the first voter always, so that every
            # demo record holds one, then at random; likewise a re-vote by the last voter
            if v == 0 or rng.random() < 0.2:
                ballot, secrets_ = encrypt_ballot(ctx, credential, {c.id: random_choices(c, rng) for c in manifest.contests}, 0)
                election.spoil(ballot, reveal_json(ctx, secrets_))
                spoiled += 1
            rounds = 2 if v == voters - 1 or rng.random() < 0.2 else 1
            for revote in range(rounds):  # the re-vote counter: 0 for the first ballot, 1 for the re-vote
                ballot, secrets_ = encrypt_ballot(ctx, credential, {c.id: random_choices(c, rng) for c in manifest.contests}, revote)
                election.cast(ballot)
                final[v] = secrets_.plaintexts
                cast += 1
            revotes += rounds - 1
        election.close()
        election.tally()
        published = election.cast_ballots()
        tally_p = next(e for e in election.entries() if e.type == "tally").payload
        present = rng.sample(keys, trustees - absent)
        for trustee_key in sorted(present, key=lambda k: k.index):
            election.add_decryption(trustee_decrypt(ctx, trustee_key, published, tally_p))
        result = election.publish_result().payload
        record = board.export(election_id, out)
        board.engine.dispose()
    expected = {c.id: [sum(p[c.id][j] for p in final.values()) for j in range(len(c.options))] for c in manifest.contests}
    return DemoResult(record, election_id, result, expected, cast, spoiled, revotes)
