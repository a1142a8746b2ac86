"""`quorum mpc`: run a secure-computation script as N local parties, or as one party of a deployment."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `quorum mpc run` and `quorum mpc keygen`."""
    mpc = subparsers.add_parser("mpc", help="secure multiparty computation (mpc_ml scripts)")
    sub = mpc.add_subparsers(dest="mpc_command", required=True, metavar="SUBCOMMAND")
    run = sub.add_parser("run", help="run SCRIPT as N parties over TCP (or one party with --party/--peers)")
    run.add_argument("-n", type=int, default=None, help="number of local parties (one process each)")
    run.add_argument("--party", type=int, default=None, help="run this party of the deployment in --peers")
    run.add_argument("--peers", default=None, help="peers file (JSON) of a deployment")
    run.add_argument("--key", default=None, help="this party's key file (default: partyI.key beside --peers)")
    run.add_argument("--timeout", type=float, default=None, help="seconds to wait for a party before failing")
    run.add_argument("--quorum", type=int, default=None,
                     help="with -n: parties needed to open a value (default a majority, floor((N-1)/2) + 1)")
    run.add_argument("script")
    run.add_argument("args", nargs=argparse.REMAINDER)
    run.set_defaults(func=_run)
    keygen = sub.add_parser("keygen", help="write a party's key file and print its peers-file entry")
    keygen.add_argument("--party", type=int, required=True)
    keygen.add_argument("--out", required=True, help="key file to write (mode 0600)")
    keygen.add_argument("--host", default="127.0.0.1")
    keygen.add_argument("--port", type=int, required=True)
    keygen.set_defaults(func=_keygen)


def _run(args: argparse.Namespace) -> int:
    from mpc_ml import launcher, runtime
    from mpc_ml.errors import MPCError

    try:
        if args.party is not None or args.peers is not None:
            if args.party is None or args.peers is None or args.n is not None:
                print("quorum mpc run: use either -n N, or --party I with --peers FILE", file=sys.stderr)
                return 2
            if args.quorum is not None:
                print("quorum mpc run: --quorum goes with -n (a deployment's is its peers file's threshold + 1)",
                      file=sys.stderr)
                return 2
            return launcher.run_party(args.party, args.peers, args.key, args.script, args.args, args.timeout)
        if args.n is None:
            print("quorum mpc run: -n N is required (or --party I --peers FILE)", file=sys.stderr)
            return 2
        threshold = None if args.quorum is None or args.n < 3 else runtime.threshold_for(args.n, args.quorum)
        return launcher.run_local(args.n, args.script, args.args, args.timeout, threshold)
    except MPCError as exc:
        print(f"quorum mpc run: {exc}", file=sys.stderr)
        return 2


def _keygen(args: argparse.Namespace) -> int:
    from mpc_ml import launcher

    secret, public = launcher.new_key(args.party)
    try:
        launcher.write_secret(Path(args.out), secret)
    except OSError as exc:
        print(f"quorum mpc keygen: --out {args.out}: {exc.strerror}", file=sys.stderr)
        return 2
    print(json.dumps(dict(public, host=args.host, port=args.port)))
    return 0
