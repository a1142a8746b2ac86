"""`quorum credentials`: a credential authority's tool (Belenios-style). It makes each voter's private credential
on this machine and writes two files: the private ones, for the authority to deliver to the voters, and the public
ones, for the election administrator to import; the server never sees a private credential."""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
from pathlib import Path

from voting.credentials import new_private_credential, public_credential
from voting.voters_csv import VoterListError, parse_voters


def _csv(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def run(args: argparse.Namespace) -> int:
    try:
        voters = parse_voters(Path(args.voters).read_bytes())
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        private, public = out / "private-credentials.csv", out / "public-credentials.csv"
        if private.exists() or public.exists():
            raise FileExistsError(f"{out} already holds credential files: refusing to overwrite them")
    except (OSError, VoterListError) as exc:
        print(f"quorum credentials: {exc}", file=sys.stderr)
        return 2
    secrets = [(v, new_private_credential()) for v in voters]
    fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(_csv([["voter_id", "email", "credential"]] + [[v["voter_id"], v["email"], s] for v, s in secrets]))
    public.write_text(_csv([["voter_id", "public_credential"]] +
                           [[v["voter_id"], public_credential(args.election, s)] for v, s in secrets]), encoding="utf-8")
    print(f"{len(secrets)} credentials for election {args.election!r}: deliver {private} (mode 0600) to the voters, "
          f"give {public} to the administrator")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `credentials` subcommand."""
    parser = subparsers.add_parser("credentials", help="make voters' credentials as a credential authority", description=__doc__)
    parser.add_argument("election", help="election id (each credential's signing key is bound to it)")
    parser.add_argument("--voters", required=True, metavar="CSV", help="voter list (voter_id[,email]), as the administrator has it")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for private-credentials.csv and public-credentials.csv")
    parser.set_defaults(func=run)
