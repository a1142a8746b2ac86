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

from voting.context import ELECTION_ID
from voting.credentials import new_private_credential, public_credential
from voting.voters_csv import VoterListError, parse_voters, private_credentials_csv

PRIVATE, PUBLIC = "private-credentials.csv", "public-credentials.csv"


def _public_csv(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([["voter_id", "public_credential"]] + rows)
    return out.getvalue()


def _create(path: Path, data: bytes, mode: int) -> None:
    """Write a new file: never over an existing one, never through a symbolic link planted in its place, and never
    half (a write that fails, the disk full, removes what it wrote)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    written: list[Path] = []
    try:
        if not ELECTION_ID.fullmatch(args.election):
            raise ValueError(f"election id {args.election!r}: 1-64 letters, digits, '_', '.' or '-', starting with a "
                             "letter or digit (the credentials are bound to it)")
        voters = parse_voters(Path(args.voters).read_bytes())
        out.mkdir(parents=True, exist_ok=True)
        secrets = [(v, new_private_credential()) for v in voters]
        for name, mode, text in (
                (PRIVATE, 0o600, private_credentials_csv((v["voter_id"], v["email"], s) for v, s in secrets)),
                (PUBLIC, 0o644, _public_csv([[v["voter_id"], public_credential(args.election, s)] for v, s in secrets]))):
            _create(out / name, text.encode("utf-8"), mode)
            written.append(out / name)
    except (OSError, ValueError, VoterListError) as exc:
        for path in written:  # never a private file without its public one, nor half a pair
            path.unlink(missing_ok=True)
        what = f"{exc.filename}: {exc.strerror}" if isinstance(exc, OSError) and exc.filename else str(exc)
        print(f"quorum credentials: {what}", file=sys.stderr)
        return 2
    print(f"{len(secrets)} credentials for election {args.election!r}: deliver {out / PRIVATE} (mode 0600) to the voters, "
          f"give {out / PUBLIC} to the administrator; once the election is open, check that the board holds exactly "
          f"these with `quorum verify RECORD --credentials {out / PUBLIC}`")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `credentials` subcommand."""
    parser = subparsers.add_parser("credentials", help="make voters' credentials as a credential authority", description=__doc__)
    parser.add_argument("election", help="election id (each credential's signing key is bound to it)")
    parser.add_argument("--voters", required=True, metavar="CSV", help="voter list (voter_id[,email]), as the administrator has it")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for private-credentials.csv and public-credentials.csv")
    parser.set_defaults(func=run)
