"""The Flask app factory: board, web tables, security, error handlers and the role blueprints."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from typing import Any

from flask import Flask, abort
from nacl.signing import SigningKey
from werkzeug.middleware.proxy_fix import ProxyFix

from voting.board import Board, load_signing_key, save_signing_key
from voting.context import ELECTION_ID, MAX_TRUSTEES
from voting.db import open_engine
from web import admin, admin_elections, api, board, forms, trustee, voter
from web.config import MAX_BODY_BYTES, Config, ConfigError
from web.errors import init_errors
from web.models import create_tables
from web.security import init_security
from web.sri import BoothAssets
from web.state import AppState


def board_key(path: Path) -> SigningKey:
    """The board's signing key from the data folder, created (mode 0600) on first start; a process starting at the
    same moment reads the key written first. A key file that cannot be read or written raises ConfigError."""
    try:
        if path.exists():
            return load_signing_key(path)
        key = SigningKey.generate()
        try:
            save_signing_key(key, path)
        except FileExistsError:
            return load_signing_key(path)
        return key
    except OSError as exc:
        raise ConfigError("board key", str(path), f"cannot be read or written ({exc.strerror or exc})") from None
    except ValueError:
        raise ConfigError("board key", str(path), "is not a board key (64 hex digits)") from None


def create_app(config: Config) -> Flask:
    """Build the app: open (and migrate) the database, hash the booth scripts, register every blueprint."""
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=config.secret_key,
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=config.session_hours),
        TESTING=config.testing,
        JSON_SORT_KEYS=False,
        MAX_FORM_MEMORY_SIZE=MAX_BODY_BYTES,  # one form field (a pasted voter list) may fill a whole body
    )
    # The database first: an unusable one (db.DatabaseConfigError) leaves the data folder as it was (no board.key).
    engine = open_engine(config.db_url)
    try:
        key = board_key(config.board_key_path)
    except ConfigError:
        engine.dispose()
        raise
    the_board = Board(engine, key)
    create_tables(the_board.engine)
    booth = BoothAssets.scan()
    app.extensions["quorum"] = AppState(config, the_board, booth)
    app.jinja_env.globals.update(sri=booth.attr, booth_import_map=booth.import_map, zip=zip,
                                 field_label=forms.field_label)
    app.url_value_preprocessor(_ids_of_the_right_shape)
    init_security(app, config.https)
    init_errors(app)
    for module in (board, admin, admin_elections, trustee, voter, api):
        app.register_blueprint(module.bp)
    if config.https:  # behind one TLS-terminating proxy: trust its X-Forwarded-For/Proto/Host
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)  # type: ignore[method-assign]
    return app


def _ids_of_the_right_shape(endpoint: str | None, values: dict[str, Any] | None) -> None:
    """404 for an election id no election can have (a NUL byte, which PostgreSQL refuses in a query) or a trustee
    index beyond any (the integer column overflows): before any query is made with them."""
    if not values:
        return
    election_id, index = values.get("election_id"), values.get("index")
    if election_id is not None and not ELECTION_ID.fullmatch(election_id):
        abort(404, description="no such election on this board")
    if isinstance(index, int) and not 0 < index <= MAX_TRUSTEES:
        abort(404, description="no such trustee in this election")
