"""`quorum verify`: re-check an election record (Contracts: CLI; exit 0 valid, 1 a check failed, 2 unreadable)."""

from __future__ import annotations

import argparse
import json
import sys

from voting.record import RecordFormatError
from voting.verifier import verify_record


def run(args: argparse.Namespace) -> int:
    """Verify the record and print every failure (or the JSON report); returns the exit code."""
    if args.workers is not None and args.workers < 1:
        print("quorum verify: --workers must be at least 1", file=sys.stderr)
        return 2
    try:
        report = verify_record(args.record, workers=args.workers, progress=not args.quiet)
    except RecordFormatError as exc:
        if args.json:
            print(json.dumps({"valid": False, "error": str(exc)}))
        print(f"quorum verify: malformed record: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
    else:
        for check in report.checks():
            print(f"{'ok  ' if check['ok'] else 'FAIL'} {check['name']}: {check['detail']}")
        if report.result:
            print("result: " + json.dumps(report.result, ensure_ascii=False))
        print(f"{report.entries} entries: " + ("VALID" if report.valid else f"INVALID ({len(report.failures)} failures)"))
    return 0 if report.valid else 1


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `verify` subcommand."""
    parser = subparsers.add_parser("verify", help="verify an election record (directory or zip)")
    parser.add_argument("record", help="record directory or zip")
    parser.add_argument("--json", action="store_true", help='print {"valid", "checks", "result"} as JSON')
    parser.add_argument("--workers", type=int, default=None, help="processes to use (default: all cores)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar on stderr")
    parser.set_defaults(func=run)
