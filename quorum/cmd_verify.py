"""`quorum verify`: re-check an election record (Contracts: CLI; exit 0 valid, 1 a check failed, 2 unreadable)."""

from __future__ import annotations

import argparse
import sys

from quorum.cli import silence_stdout
from voting.client import printable, printable_json
from voting.pins import PinError, check_pins_raw, parse_base_hash_pin, parse_board_key_pin, parse_credentials_pin
from voting.record import RecordFormatError, read_raw
from voting.tally import format_result
from voting.verifier import verify_raw


def unreadable(args: argparse.Namespace, message: str) -> int:
    """Exit 2: the message on stderr, and with --json the Contracts' report shape, one failed "record" check."""
    if args.json:
        print(printable_json({"valid": False, "checks": [{"name": "record", "ok": False, "detail": message}], "result": {}}))
    print(f"quorum verify: {printable(message)}", file=sys.stderr)
    return 2


def _workers(text: str | None) -> int | None:
    """--workers as a number of processes (at least 1); None if not given or not such a number (read here, not by
    argparse, so that a bad value still gets the --json report)."""
    if text is None or not text.isascii() or not text.isdigit():
        return None
    return int(text) if int(text) >= 1 else None


def run(args: argparse.Namespace) -> int:
    """Verify the record and print every failure (or the JSON report); returns the exit code."""
    workers = _workers(args.workers)
    if workers is None and args.workers is not None:
        return unreadable(args, f"--workers must be a whole number of at least 1, got {args.workers!r}")
    try:
        board_key = None if args.board_key is None else parse_board_key_pin(args.board_key)
        base_hash = None if args.base_hash is None else parse_base_hash_pin(args.base_hash)
        credentials = None if args.credentials is None else parse_credentials_pin(args.credentials)
    except PinError as exc:
        return unreadable(args, str(exc))
    try:
        data, pub = read_raw(args.record)  # read once: the pins are checked on the bytes verified
        report = verify_raw(data, pub, workers=workers, progress=not args.quiet and sys.stderr.isatty())
        pinned = (board_key, base_hash, credentials)
        pins = check_pins_raw(data, pub, *pinned) if any(p is not None for p in pinned) else []
    except RecordFormatError as exc:
        return unreadable(args, f"malformed record: {exc}")
    pin_failures = sum(not p["ok"] for p in pins)
    valid = report.valid and not pin_failures
    if args.json:
        out = report.to_json()
        out["valid"], out["checks"] = valid, out["checks"] + pins  # pins only when given: unchanged otherwise
        lines = [printable_json(out, indent=2)]  # details quote the record: no C1 control or bidi override raw
    else:
        lines = [f"{'ok  ' if check['ok'] else 'FAIL'} {check['name']}: {check['detail']}" for check in report.checks() + pins]
        if report.result and report.manifest:  # a failed record's tally is not a result: said so above it
            head = "result:" if valid else "what the partial decryptions combine to (NOT a verified result: see the failures):"
            lines += [head, *("  " + line for line in format_result(report.manifest, report.result).splitlines())]
        failures = len(report.failures) + pin_failures
        lines = [printable(line) for line in lines]  # details quote the record: no newline or escape sequence forges a line
        lines.append(f"{report.entries} entries: " + ("VALID" if valid else f"INVALID ({failures} failures)"))
    code = 0 if valid else 1
    try:
        print("\n".join(lines), flush=True)
    except BrokenPipeError:  # `quorum verify ... | head`: the verdict still decides the exit code
        silence_stdout()
    return code


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `verify` subcommand."""
    parser = subparsers.add_parser("verify", help="verify an election record (directory or zip)")
    parser.add_argument("record", help="record directory or zip")
    parser.add_argument("--json", action="store_true", help='print {"valid", "checks", "result"} as JSON')
    parser.add_argument("--workers", default=None, help="processes to use (default: all cores)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar on stderr (drawn only when stderr is a terminal)")
    parser.add_argument("--board-key", metavar="HEX_OR_FILE", default=None,
                        help="expected board public key (64 hex, or a file with hex or PEM): check pinned_board_key")
    parser.add_argument("--base-hash", metavar="HEX", default=None,
                        help="expected election base hash (64 hex): check pinned_base_hash")
    parser.add_argument("--credentials", metavar="CSV", default=None,
                        help="the credential authority's public-credentials.csv: check pinned_credentials (the board "
                             "holds exactly these public credentials)")
    parser.set_defaults(func=run)
