"""`quorum demo`: a whole election end to end, written as a record (Contracts: CLI)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from threshold.errors import QuorumError
from voting.demo import DEMO_MANIFEST, run_demo
from voting.manifest import Manifest
from voting.tally import format_result


class _Refused(Exception):
    """An output path the demo will not write to; the message names the option and the path."""


def _writable_parent(option: str, path: Path, create: bool) -> None:
    """The folder that will hold path must be a writable folder (or, if create, be creatable in one)."""
    parent = path.parent
    if not create and not parent.is_dir():
        raise _Refused(f"{option} {path}: the folder {parent} does not exist")
    while not parent.exists():  # write_record makes missing folders: look at the nearest one that exists
        parent = parent.parent
    if not parent.is_dir():
        raise _Refused(f"{option} {path}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise _Refused(f"{option} {path}: cannot write in {parent} (permission denied)")


def check_outputs(out: str, board_key: str | None) -> None:
    """Refuse, before anything is computed or written, output paths that could not be written or would replace
    something: the demo never overwrites an existing record, file or key (remove it or choose another path)."""
    record = Path(out)
    advice = "the demo never overwrites: remove it or choose another path"
    if record.suffix == ".zip":
        if record.is_dir():
            raise _Refused(f"--out {record}: is a folder (a .zip path names the zip file to write)")
        if record.exists() or record.is_symlink():
            raise _Refused(f"--out {record}: already exists; {advice}")
    elif record.exists() or record.is_symlink():
        if not record.is_dir():
            raise _Refused(f"--out {record}: exists and is not a folder (the record is written as a folder, "
                           f"or as a zip if the path ends in .zip)")
        if any(record.iterdir()):
            what = "holds a record" if (record / "board.jsonl").exists() else "is not empty"
            raise _Refused(f"--out {record}: {what}; {advice}")
    _writable_parent("--out", record, create=True)
    if board_key is None:
        return
    key = Path(board_key)
    if key.is_dir():
        raise _Refused(f"--board-key {key}: is a folder (give the path of a new file)")
    if key.exists() or key.is_symlink():
        raise _Refused(f"--board-key {key}: already exists (perhaps another board's private key); "
                       f"the demo never overwrites one: remove it or choose another path")
    _writable_parent("--board-key", key, create=False)
    key_abs, record_abs = key.resolve(), record.resolve()
    if key_abs == record_abs:
        raise _Refused(f"--board-key {key}: is the same path as --out")
    if record.suffix != ".zip" and record_abs in key_abs.parents:
        raise _Refused(f"--board-key {key}: is inside the record folder --out {record} (a record is published; "
                       f"the private key must stay out of it)")


def run(args: argparse.Namespace) -> int:
    """Run the demo election and print its result; returns the exit code."""
    try:
        check_outputs(args.out, args.board_key)
    except _Refused as exc:
        print(f"quorum demo: {exc}", file=sys.stderr)
        return 2
    try:
        demo = run_demo(args.out, voters=args.voters, trustees=args.trustees, quorum=args.quorum, absent=args.absent,
                        group_name=args.group, board_key_path=args.board_key)
    except (ValueError, QuorumError) as exc:
        print(f"quorum demo: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a path changed under us after the checks above
        where = f" {exc.filename}" if exc.filename else ""
        print(f"quorum demo: cannot write{where}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(f"election {demo.election_id}: {demo.cast} ballots cast ({demo.revotes} re-votes), "
          f"{demo.spoiled} challenged, record written to {demo.record}")
    print(format_result(Manifest.from_json(DEMO_MANIFEST), demo.result))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `demo` subcommand."""
    parser = subparsers.add_parser("demo", help="run a whole election end to end and write its record")
    parser.add_argument("--out", required=True,
                        help="record directory (or .zip) to write; must not exist yet (or be an empty folder)")
    parser.add_argument("--voters", type=int, default=20, help="number of voters (default 20)")
    parser.add_argument("--trustees", type=int, default=5, help="number of trustees (default 5)")
    parser.add_argument("--quorum", type=int, default=3, help="trustees needed to decrypt (default 3)")
    parser.add_argument("--absent", type=int, default=0, help="trustees absent at decryption (default 0)")
    parser.add_argument("--group", choices=("modp", "ed25519"), default="modp", help="group (default modp)")
    parser.add_argument("--board-key", help="write the board's private signing key (hex) to this new file, mode 0600")
    parser.set_defaults(func=run)
