"""`quorum demo`: a whole election end to end, written as a record (Contracts: CLI)."""

from __future__ import annotations

import argparse
import sys

from threshold.errors import QuorumError
from voting.demo import DEMO_MANIFEST, format_result, run_demo
from voting.manifest import Manifest


def run(args: argparse.Namespace) -> int:
    """Run the demo election and print its result; returns the exit code."""
    try:
        demo = run_demo(args.out, voters=args.voters, trustees=args.trustees, quorum=args.quorum, absent=args.absent,
                        group_name=args.group, board_key_path=args.board_key)
    except (ValueError, QuorumError) as exc:
        print(f"quorum demo: {exc}", file=sys.stderr)
        return 2
    print(f"election {demo.election_id}: {demo.cast} ballots cast ({demo.revotes} re-votes), "
          f"{demo.spoiled} challenged, record written to {demo.record}")
    print(format_result(Manifest.from_json(DEMO_MANIFEST), demo.result))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `demo` subcommand."""
    parser = subparsers.add_parser("demo", help="run a whole election end to end and write its record")
    parser.add_argument("--out", required=True, help="record directory (or .zip) to write")
    parser.add_argument("--voters", type=int, default=20, help="number of voters (default 20)")
    parser.add_argument("--trustees", type=int, default=5, help="number of trustees (default 5)")
    parser.add_argument("--quorum", type=int, default=3, help="trustees needed to decrypt (default 3)")
    parser.add_argument("--absent", type=int, default=0, help="trustees absent at decryption (default 0)")
    parser.add_argument("--group", choices=("modp", "ed25519"), default="modp", help="group (default modp)")
    parser.add_argument("--board-key", help="write the board's private signing key (hex) to this file, mode 0600")
    parser.set_defaults(func=run)
