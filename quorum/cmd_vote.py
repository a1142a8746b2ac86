"""`quorum vote`: cast (or Benaloh-challenge) a ballot from the command line, encrypted by this package and not
by the server's booth (voting/client.py). Exit 0: on the board and checked; 1: refused by the server or a
check failed; 2: bad arguments or credential file."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

from threshold.errors import QuorumError
from voting.ballot import validate_choices
from voting.client import VoterClient, printable
from voting.credentials import public_credential
from voting.pins import PinError, parse_base_hash_pin, parse_board_key_pin


def default_ledger() -> Path:
    """Where this client remembers the re-vote counters it used: $XDG_STATE_HOME/quorum/votes.json."""
    return Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "quorum" / "votes.json"


def parse_choices(items: list[str]) -> dict[str, list[str]]:
    """CONTEST=OPT[,OPT...] per contest (CONTEST= for none); a contest given twice is an error."""
    choices: dict[str, list[str]] = {}
    for item in items:
        contest, sep, options = item.partition("=")
        if not sep or not contest:
            raise ValueError(f"--choose {item!r}: expected CONTEST=OPTION[,OPTION...]")
        if contest in choices:
            raise ValueError(f"--choose: contest {contest!r} given twice")
        choices[contest] = [o for o in options.split(",") if o]
    return choices


def run(args: argparse.Namespace) -> int:
    try:
        if urlsplit(args.url).scheme not in ("http", "https") or not urlsplit(args.url).netloc:
            raise ValueError(f"URL {args.url!r}: expected http://HOST[:PORT] or https://HOST[:PORT]")
        choices = parse_choices(args.choose)
        board_key = None if args.board_key is None else parse_board_key_pin(args.board_key)
        base_hash = None if args.base_hash is None else parse_base_hash_pin(args.base_hash)
        try:
            source = sys.stdin if args.credential == "-" else Path(args.credential).open(encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"--credential {args.credential}: {exc.strerror or exc}") from None
        with source:
            credential = source.read(1024).strip()
        public_credential(args.election, credential)  # a malformed credential is refused here, before any request
    except (ValueError, PinError, OSError, QuorumError) as exc:
        print(f"quorum vote: {printable(exc)}", file=sys.stderr)
        return 2
    client = VoterClient(args.url, ledger=None if args.no_ledger else Path(args.ledger or default_ledger()))
    try:
        ctx = client.context(args.election, board_key, base_hash)
    except (QuorumError, ValueError) as exc:
        print(f"quorum vote: {printable(exc)}", file=sys.stderr)
        return 1
    try:
        validate_choices(ctx, choices)
    except QuorumError as exc:  # bad arguments: checked against the manifest before anything is encrypted or sent
        print(f"quorum vote: --choose: {printable(exc)}", file=sys.stderr)
        return 2
    unnamed = [f"{c.id} ({c.title})" for c in ctx.manifest.contests if c.id not in choices]
    if unnamed:  # never a blank the voter did not ask for, in a contest perhaps never shown to them
        print(f"quorum vote: --choose: the election has contests you did not name: {printable(', '.join(unnamed))} "
              "(give CONTEST=OPTION, or CONTEST= to leave one blank)", file=sys.stderr)
        return 2
    try:
        receipt = (client.challenge if args.challenge else client.cast)(ctx, credential, choices)
    except (QuorumError, ValueError) as exc:
        print(f"quorum vote: {printable(exc)}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"status": receipt.status, "tracker": receipt.tracker, "ballot_hash": receipt.ballot_hash,
                          "seq": receipt.seq, "revote": receipt.revote, "base_hash": ctx.base_hash.hex(),
                          "entry": {k: receipt.entry[k] for k in ("seq", "type", "prev", "hash", "sig")}}))
    else:
        what = "challenged (published opened, never counted)" if receipt.status == "spoil" else "cast"
        print(f"{what}: tracking code {receipt.tracker} (board entry {receipt.seq}; ballot number {receipt.revote} "
              "of this credential: the last one cast counts)")
        print(f"ballot hash {receipt.ballot_hash}; election base hash {ctx.base_hash.hex()}")
        print(f"board signature of the entry: hash {receipt.entry['hash']}, signature {receipt.entry['sig']}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `vote` subcommand."""
    parser = subparsers.add_parser("vote", help="cast a ballot with this client's own encryption (not the server's booth)",
                                   description=__doc__)
    parser.add_argument("url", help="the server, e.g. http://127.0.0.1:5000")
    parser.add_argument("election", help="election id")
    parser.add_argument("--credential", required=True, metavar="FILE", help="file holding the private credential ('-': stdin)")
    parser.add_argument("--choose", action="append", default=[], metavar="CONTEST=OPT[,OPT]",
                        help="the options chosen in one contest (repeat per contest; CONTEST= for none)")
    parser.add_argument("--challenge", action="store_true",
                        help="Benaloh challenge: publish this ballot opened instead of casting it")
    parser.add_argument("--board-key", metavar="HEX_OR_FILE", default=None,
                        help="the board public key obtained out of band (64 hex, or a file with hex or PEM)")
    parser.add_argument("--base-hash", metavar="HEX", default=None,
                        help="the election's base hash obtained out of band (64 hex): another election under this name "
                             "(other trustees or voters) is refused before anything is encrypted")
    parser.add_argument("--json", action="store_true", help="print the receipt as JSON")
    parser.add_argument("--ledger", metavar="FILE", default=None,
                        help="where this client remembers the re-vote counters it used (default: $XDG_STATE_HOME/quorum/votes.json)")
    parser.add_argument("--no-ledger", action="store_true",
                        help="keep no such memory (a stale counter is then caught on the board alone, perhaps only after casting)")
    parser.set_defaults(func=run)
