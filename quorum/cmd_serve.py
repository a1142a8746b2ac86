"""`quorum serve`: the web app on SQLite (default, under ./data/) or any SQLAlchemy URL, behind gunicorn."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any


def _count(low: int, high: int) -> Any:
    """An argparse type: a whole number in low..high (argparse refuses others with exit 2, naming the option)."""
    def parse(text: str) -> int:
        if not (text.isascii() and text.isdigit() and low <= int(text) <= high):
            raise argparse.ArgumentTypeError(f"expected a whole number from {low} to {high}, got {text!r}")
        return int(text)
    return parse


def register(subparsers: Any) -> None:
    """Add the serve subcommand."""
    p = subparsers.add_parser("serve", help="run the web app", description=__doc__)
    p.add_argument("--db", help="SQLAlchemy database URL (default: $QUORUM_DB or sqlite under the data folder)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=_count(1, 65535), default=5000)
    p.add_argument("--data-dir", help="folder for the SQLite database and keys (default: $QUORUM_DATA_DIR or ./data)")
    p.add_argument("--workers", type=_count(1, 64), default=2, help="worker processes (default 2)")
    p.add_argument("--threads", type=_count(1, 256), default=4, help="threads per worker (default 4)")
    p.add_argument("--demo", action="store_true", help="create a ready demo election (and a first admin) if missing")
    p.add_argument("--create-admin", metavar="NAME", help="create admin NAME (or reset its password) with a printed one-time password, then exit")
    p.set_defaults(func=run)


def _prepare(args: argparse.Namespace) -> "Any":
    """Check the database URL (one connection to a server) before anything is written, then settings and app.
    Raises voting.db.DatabaseConfigError or web.config.ConfigError for a setting that cannot be used."""
    from voting.db import probe
    from web.app import create_app
    from web.config import Config

    url = args.db or os.environ.get("QUORUM_DB")
    if url:
        probe(url)
    config = Config.load(db=args.db, data_dir=args.data_dir)
    return config, create_app(config)


def _refusal(args: argparse.Namespace, exc: Exception) -> str:
    """The one-line message for an unusable setting, naming the option (or variable) and the value given."""
    from voting.db import DatabaseConfigError

    if isinstance(exc, DatabaseConfigError):
        if args.db:
            where = f"--db {exc.url}"
        elif os.environ.get("QUORUM_DB"):
            where = f"QUORUM_DB={exc.url}"
        else:
            where = f"database {exc.url} (in the data folder; choose another with --data-dir or --db)"
        return f"quorum serve: {where}: {exc.reason}"
    setting, value, reason = exc.setting, exc.value, exc.reason  # type: ignore[attr-defined]
    if setting == "data_dir":
        return f"quorum serve: --data-dir {value}: {reason}"
    if setting.startswith("QUORUM_"):
        return f"quorum serve: {setting}={value}: {reason}"
    return f"quorum serve: {setting} {value}: {reason}"


def _first_admin(app: Any, name: str, force: bool) -> None:
    """Create admin `name` with a one-time password (or reset it, with `force`), printed once."""
    from sqlalchemy import select
    from sqlalchemy.exc import IntegrityError

    from web import auth
    from web.models import Admin
    from web.state import AppState

    state: AppState = app.extensions["quorum"]
    with state.session() as db:
        exists = db.scalars(select(Admin).where(Admin.username == name)).first() is not None
        if exists and not force:
            return
        try:
            password = auth.create_admin(db, name)
        except IntegrityError:  # another `quorum serve` on this database created it between the check and here
            print(f"admin {name!r} was created by another quorum serve starting at the same time: sign in with the "
                  "one-time password it printed", flush=True)
            return
    print(f"admin {name!r}: one-time password {password}  (you will choose your own at first sign-in)", flush=True)


def _demo(app: Any, config: Any, base_url: str) -> None:
    from web.demo import create_demo
    from web.state import AppState

    state: AppState = app.extensions["quorum"]
    demo = create_demo(state.board, state.session, config.data_dir, booth_hash=state.booth.booth_hash)
    if demo is None:
        print("demo election already exists", flush=True)
        return
    print(f"demo election {demo.election_id!r} is open; shown once: voters' credentials, trustees' links and keys", flush=True)
    print(f"  voting link (pins the election's fingerprint): {base_url}/vote/{demo.election_id}#base-hash={demo.base_hash}",
          flush=True)
    for voter, credential in demo.credentials.items():
        print(f"  {voter}: {credential}", flush=True)
    for index, token in sorted(demo.invitations.items()):
        print(f"  trustee {index}: {base_url}/trustee/join/{token}  key file {demo.trustee_files[index - 1]}", flush=True)
    print(f"  trustees' key file passphrase: {demo.passphrase}", flush=True)


def run(args: argparse.Namespace) -> int:
    """Prepare the database (admin, demo), then serve with gunicorn workers; 2 for a setting that cannot be used."""
    from voting.db import DatabaseConfigError, redact_url
    from web.config import ConfigError

    try:
        config, app = _prepare(args)
    except (DatabaseConfigError, ConfigError) as exc:
        print(_refusal(args, exc), file=sys.stderr)
        return 2
    if args.create_admin:
        _first_admin(app, args.create_admin, force=True)
        return 0
    if args.demo:
        _first_admin(app, "admin", force=False)
        _demo(app, config, f"http://{args.host}:{args.port}")
    app.extensions["quorum"].board.engine.dispose()
    print(f"Quorum on http://{args.host}:{args.port}/ (database {redact_url(config.db_url)})", flush=True)
    serve(args, config)
    return 0


def serve(args: argparse.Namespace, config: Any) -> None:
    """Run gunicorn in this process: each worker builds its own app (own database connections)."""
    from gunicorn.app.base import BaseApplication

    from web.app import create_app

    class _Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            settings = {"bind": f"{args.host}:{args.port}", "workers": args.workers, "threads": args.threads,
                        "worker_class": "gthread", "timeout": 120, "control_socket_disable": True, "accesslog": "-" if os.environ.get("QUORUM_ACCESS_LOG") else None}
            for key, value in settings.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            return create_app(config)

    _Server().run()
