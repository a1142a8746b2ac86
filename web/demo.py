"""The ready demo election of `make run`: set up, keys made, credentials issued, open for voting.

Demo only: its three trustees' key shares are generated here and written, sealed with a passphrase in
the browser backup format (PBKDF2 + AES-GCM, mode 0600), to the data folder, so that a visitor can play
each trustee on the decryption page. A real election runs the key ceremony in the trustees' browsers."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from sqlalchemy.orm import Session

from threshold import keystore
from threshold.errors import ProtocolError
from threshold.keystore import replace_private
from voting.board import Board
from voting.demo import DEMO_MANIFEST, key_ceremony
from voting.election import Election
from web import elections

DEMO_ID = "demo"
DEMO_VOTERS = "voter_id,email\n" + "".join(f"voter{i},\n" for i in range(1, 6))
# argon2id for the demo's trustee files at its lightest (8 MiB, one pass): their passphrase is a random 96-bit token
# (demo-passphrase.txt beside them), which no amount of key stretching makes stronger
DEMO_KDF = {"time_cost": 1, "memory_cost": 8 * 1024, "parallelism": 1}


@dataclass(frozen=True)
class DemoElection:
    """What the operator is told once: voters' credentials, trustees' invitation tokens and sealed key files."""

    election_id: str
    credentials: dict[str, str]
    invitations: dict[int, str]
    trustee_files: list[Path]
    passphrase: str
    base_hash: str


def create_demo(board: Board, sessions: Callable[[], Session], data_dir: Path, group: str = "modp",
                booth_hash: str | None = None) -> DemoElection | None:
    """Create and open the demo election (its setup entry publishing `booth_hash`); None if it is already open.

    A demo that a crash left unopened is finished: new trustee links and voter credentials (those of the crashed run
    were never shown), and its key files if the key ceremony is not on the board yet. The sealed files and their
    passphrase (`demo-passphrase.txt`, 0600: the demo's keys are made here, so the server knows them anyway) are
    written before the key ceremony entry, so that no key on the board lacks its shares."""
    request = elections.validate(DEMO_ID, DEMO_MANIFEST, group, ["Trustee 1", "Trustee 2", "Trustee 3"], 2, DEMO_VOTERS)
    try:
        tokens = elections.create(board, request, booth_hash)
    except ProtocolError:
        if elections.phase(board, DEMO_ID) not in ("setup", "keys"):
            return None
        tokens = {i: elections.new_invite(sessions, DEMO_ID, i) for i in range(1, len(request.trustees) + 1)}
    election = Election(board, DEMO_ID)
    entries = election.entries()
    files = [data_dir / f"demo-trustee-{i}.json" for i in range(1, len(request.trustees) + 1)]
    secret = data_dir / "demo-passphrase.txt"
    if not any(e.type == "key_ceremony" for e in entries):
        payload, keys = key_ceremony(next(e.payload for e in entries if e.type == "setup"))
        passphrase = secrets.token_urlsafe(12)
        replace_private(secret, passphrase.encode("ascii"))
        for key, path in zip(keys, files):
            sealed = keystore.seal(key.to_json(), passphrase, DEMO_KDF)
            replace_private(path, json.dumps(sealed).encode("utf-8"))
        election.key_ceremony(payload)
    else:
        try:
            passphrase = secret.read_text(encoding="ascii")
        except OSError as exc:
            raise ProtocolError(f"the unfinished demo's key files cannot be opened ({exc.strerror}: {secret}): "
                                "start from an empty data folder") from None
    issued = elections.issue(board, sessions, DEMO_ID, None, "", voter_ids=[v["voter_id"] for v in request.voters])
    elections.open_election(board, DEMO_ID)
    return DemoElection(DEMO_ID, {c.voter_id: c.credential for c in issued}, tokens, files, passphrase,
                        elections.base_hash(board, DEMO_ID) or "")
