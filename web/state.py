"""The per-app services every blueprint reaches: settings, the board (and its engine), the booth's hashes."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from flask import current_app, url_for
from sqlalchemy.orm import Session

from voting import db as board_db
from voting.board import Board
from voting.election import Election
from web.config import Config
from web.sri import BoothAssets


@dataclass
class AppState:
    """What create_app builds once: configuration, the bulletin board, the hashed booth scripts."""

    config: Config
    board: Board
    booth: BoothAssets
    _elections: dict[str, Election] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def election(self, election_id: str) -> Election | None:
        """The board service of one election, kept for the app's life (its context is parsed once, when open);
        None if the board has no such election."""
        with self._lock:
            found = self._elections.get(election_id)
        if found is not None:
            return found
        with self.session() as db:
            if db.get(board_db.Election, election_id) is None:
                return None
        with self._lock:
            return self._elections.setdefault(election_id, Election(self.board, election_id))

    def session(self) -> Session:
        """A new ORM session on the board's database (the web tables live there too)."""
        return Session(self.board.engine, expire_on_commit=False)


def state() -> AppState:
    """The running app's state."""
    return current_app.extensions["quorum"]  # type: ignore[no-any-return]


def external_url(endpoint: str, **values: object) -> str:
    """The absolute URL of `endpoint` for a link sent out (invitations, credential e-mails): on the configured public
    origin (QUORUM_PUBLIC_URL) when there is one, so a request's Host header never chooses where links point."""
    public = state().config.public_url
    return public + url_for(endpoint, **values) if public else url_for(endpoint, _external=True, **values)
