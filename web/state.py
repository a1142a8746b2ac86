"""The per-app services every blueprint reaches: settings, the board (and its engine), the booth's hashes."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from sqlalchemy.orm import Session

from voting.board import Board
from web.config import Config
from web.sri import BoothAssets


@dataclass
class AppState:
    """What create_app builds once: configuration, the bulletin board, the hashed booth scripts."""

    config: Config
    board: Board
    booth: BoothAssets

    def session(self) -> Session:
        """A new ORM session on the board's database (the web tables live there too)."""
        return Session(self.board.engine, expire_on_commit=False)


def state() -> AppState:
    """The running app's state."""
    return current_app.extensions["quorum"]  # type: ignore[no-any-return]
