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

from threshold import keystore_browser
from threshold.errors import ProtocolError
from threshold.keystore import replace_private
from voting.board import Board
from voting.demo import DEMO_MANIFEST, key_ceremony
from voting.election import Election
from web import elections

DEMO_ID = "demo"
DEMO_VOTERS = "voter_id,email\n" + "".join(f"voter{i},\n" for i in range(1, 6))


@dataclass(frozen=True)
class DemoElection:
    """What the operator is told once: voters' credentials, trustees' invitation tokens and sealed key files."""

    election_id: str
    credentials: dict[str, str]
    invitations: dict[int, str]
    trustee_files: list[Path]
    passphrase: str


def create_demo(board: Board, sessions: Callable[[], Session], data_dir: Path, group: str = "modp",
                booth_hash: str | None = None) -> DemoElection | None:
    """Create and open the demo election (its setup entry publishing `booth_hash`); None if it already exists."""
    request = elections.validate(DEMO_ID, DEMO_MANIFEST, group, ["Trustee 1", "Trustee 2", "Trustee 3"], 2, DEMO_VOTERS)
    try:
        tokens = elections.create(board, request, booth_hash)
    except ProtocolError:
        return None
    election = Election(board, DEMO_ID)
    setup = next(e.payload for e in election.entries() if e.type == "setup")
    payload, keys = key_ceremony(setup)
    election.key_ceremony(payload)
    passphrase = secrets.token_urlsafe(12)
    files = []
    for key in keys:
        path = data_dir / f"demo-trustee-{key.index}.json"
        replace_private(path, json.dumps(keystore_browser.seal(key.to_json(), passphrase)).encode("utf-8"))
        files.append(path)
    issued = elections.issue(board, sessions, DEMO_ID, None, "")
    elections.open_election(board, DEMO_ID)
    return DemoElection(DEMO_ID, {c.voter_id: c.credential for c in issued}, tokens, files, passphrase)
