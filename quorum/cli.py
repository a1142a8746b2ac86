"""Entry point of the `quorum` console script: one subcommand module per command."""

from __future__ import annotations

import argparse
import importlib
import sys

# Each module defines register(subparsers) and sets `func` on its parser.
COMMANDS = ("quorum.cmd_demo", "quorum.cmd_verify", "quorum.cmd_vote", "quorum.cmd_credentials", "quorum.cmd_serve", "quorum.cmd_mpc")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every subcommand that is installed."""
    parser = argparse.ArgumentParser(prog="quorum", description="Verifiable elections and secure ML.")
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
    """Parse the command line and run the chosen command; returns the exit code."""
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
