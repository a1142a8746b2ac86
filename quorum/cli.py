"""Entry point of the `quorum` console script: one subcommand module per command."""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import os
import sys

# Each module defines register(subparsers) and sets `func` on its parser.
COMMANDS = ("quorum.cmd_demo", "quorum.cmd_verify", "quorum.cmd_vote", "quorum.cmd_credentials", "quorum.cmd_serve", "quorum.cmd_mpc")


def _version() -> str:
    """The installed distribution's version (Contracts: versioned with the record format and CLI)."""
    try:
        return importlib.metadata.version("quorum-suite")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every subcommand that is installed."""
    parser = argparse.ArgumentParser(prog="quorum", description="Verifiable elections and secure ML.")
    parser.add_argument("--version", action="version", version=f"quorum {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the chosen command; returns the exit code (130 on Ctrl-C; 141, as for a
    process ended by SIGPIPE, when stdout's reader went away, as with `| head`, unless the command settles it)."""
    args = build_parser().parse_args(argv)
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()
        return code
    except KeyboardInterrupt:
        print(f"quorum {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        silence_stdout()
        return 141


def silence_stdout() -> None:
    """The reader of stdout went away: point stdout at /dev/null so that the interpreter's final flush does not
    fail again (Python's documented recipe for SIGPIPE)."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (captured output): nothing to flush there
        return
    os.dup2(os.open(os.devnull, os.O_WRONLY), fd)


if __name__ == "__main__":
    sys.exit(main())
