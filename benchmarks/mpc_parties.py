"""How secure ML scales with the number of parties: ReLU (a comparison) and a product of 20,000 elements.

All parties run in this process (`mpc_ml.init(parties=n)`, the notebook setting), so a figure is the CPU of
every party together; the default threshold t = (n - 1) // 2 gives C(n, t) PRSS subsets, which sets the cost
of the replicated boolean sharing behind comparisons and of the PRSS masks.

    .venv/bin/python benchmarks/mpc_parties.py [--size 20000] [--reps 3] [--md BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from math import comb

from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]  # the package, not benchmarks/mpc_ml.py

from anchors import BENCHMARKS_MD, write_section  # noqa: E402

import mpc_ml  # noqa: E402

PARTIES = (3, 4, 5, 7)


def median_cpu(fn, reps: int) -> float:
    """Median CPU seconds of fn() over reps runs."""
    times = []
    for _ in range(reps):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return statistics.median(times)


def measure(n: int, size: int, reps: int) -> dict[str, float]:
    """CPU seconds of one ReLU and one product of `size` elements with n parties, opened."""
    mpc_ml.init(parties=n)
    try:
        x = mpc_ml.cryptensor(np.random.default_rng(n).standard_normal(size))
        t = mpc_ml.runtime.current().t
        return {"t": t, "relu": median_cpu(lambda: x.relu().get_plain_text(), reps),
                "mul": median_cpu(lambda: (x * x).get_plain_text(), reps)}
    finally:
        mpc_ml.uninit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=20000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--md", default=str(BENCHMARKS_MD), help="BENCHMARKS.md to update ('' to skip)")
    args = parser.parse_args()
    rows = []
    for n in PARTIES:
        m = measure(n, args.size, args.reps)
        rows.append(f"| {n} | {m['t']} | {comb(n, m['t'])} | {m['relu']:.2f} s | {m['mul'] * 1000:.0f} ms |")
        print(rows[-1], flush=True)
    load = os.getloadavg()[0]
    body = "\n".join([
        f"Command: `.venv/bin/python benchmarks/mpc_parties.py --size {args.size} --reps {args.reps}`; "
        f"date {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load average at end {load:.2f}.",
        f"CPU seconds (median of {args.reps}) of one ReLU and one product of {args.size:,} elements, opened, all parties "
        "in one process (the figure is every party's CPU together). No anchor in this table: MPyC's driver "
        "(shared/anchors/mpc/bench_mpyc.py) runs every task of the 3-party comparison, which does not fit at -M7 on "
        "this 2-core machine; the comparison with CrypTen and MPyC is the section 'Secure ML (mpc_ml)'.",
        "",
        "| parties n | threshold t | PRSS subsets C(n, t) | ReLU | product |",
        "|---:|---:|---:|---:|---:|",
        *rows,
    ])
    if args.md:
        write_section(args.md, "Secure ML: cost by number of parties (in-process)", body)


if __name__ == "__main__":
    main()
