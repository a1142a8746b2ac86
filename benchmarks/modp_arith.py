"""A/B of the arithmetics behind threshold/groups/_modp.c (OpenSSL, AVX2, AVX-512 IFMA) on this machine.

    .venv/bin/python benchmarks/modp_arith.py              # 15 rounds (about 1 min with all three arithmetics)
    .venv/bin/python benchmarks/modp_arith.py --rounds 31
    .venv/bin/python benchmarks/modp_arith.py --verify 300
        # also the whole batch verifier path (benchmarks/core.py's batch_from_json) on 300 0/1 proofs, one child
        # process per arithmetic and round (QUORUM_MODP_ARITH; the group's tables are built on it)

Every arithmetic the CPU offers is forced in turn (Modulus(P, arith=...)) on the 4096-bit ElectionGuard prime:
- product: one 4096-bit Montgomery product, timed as a comb build (Modulus.comb(base, 32): rows of 5-bit
  windows, 31 products each, 6-bit and 63 on AVX2, every one waiting for the one before; one conversion, the
  entries' copies) divided by the products it took (Comb.build_products: 1612 or 2709);
- multi_exp of 1 and 4 terms with 256-bit exponents (Straus: about half the products are squarings), of 64 terms
  (exponents of 256 to 384 bits, as in a batch verification: Bos-Coster) and of 6000 terms, method 0 (the choice
  multi_exp makes by size), same bases and exponents for every arithmetic.
Each round runs every arithmetic once, in an order rotated from round to round (alternating A/B on a shared, noisy
machine); figures are medians over the rounds of CPU time (time.process_time: the work is single-threaded).
Writes the "modp arithmetics" section of BENCHMARKS.md (--no-write: prints it only).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from anchors import BENCHMARKS_MD, write_section  # noqa: E402

from threshold.groups._modp import Modulus  # noqa: E402
from threshold.groups.modp import ARITH_ENV, P  # noqa: E402


SHOWN = {"openssl": "OpenSSL", "avx2": "AVX2", "ifma": "AVX-512 IFMA"}  # what native_arithmetic() says of each


def available() -> dict[str, Modulus]:
    """The arithmetics this CPU can run on P, in a fixed order."""
    mods = {}
    for name in ("openssl", "avx2", "ifma"):
        try:
            mods[name] = Modulus(int(P), arith=name)
        except ValueError:
            pass
    return mods


def cpu_model() -> str:
    """The CPU's model name (Linux), else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f'CPU "{line.split(":", 1)[1].strip()}"'
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_time(fn: Callable[[], object]) -> float:
    t0 = time.process_time()
    fn()
    return time.process_time() - t0


def verify_child(arith: str, n: int, reps: int) -> None:
    """In this process (started with QUORUM_MODP_ARITH=arith), median CPU seconds of batch_from_json over n 0/1
    proofs."""
    from threshold.groups.modp import native_arithmetic

    assert native_arithmetic() == SHOWN[arith]
    import core  # benchmarks/core.py

    from threshold import PublicKey, get_group

    group = get_group("modp")
    pk = PublicKey(group, group.exp_g(group.random_scalar()))
    text = core.items_json(group, pk, core.make_items(group, pk, n))
    core.batch_from_json(group, pk, text)  # warm-up
    times = [core.batch_from_json(group, pk, text)["total"] for _ in range(reps)]
    print(json.dumps({"arith": native_arithmetic(), "total": statistics.median(times)}))


def verify_ab(names: list[str], n: int, rounds: int) -> list[str]:
    """Markdown lines: the batch verifier path per proof on each arithmetic, alternated in child processes."""
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            out = subprocess.run([sys.executable, __file__, "--child", name, "--verify", str(n)], check=True,
                                 capture_output=True, text=True, env={**os.environ, ARITH_ENV: name}).stdout
            samples[name].append(json.loads(out.splitlines()[-1])["total"])
    med = {name: statistics.median(v) for name, v in samples.items()}
    return [f"Batch verification of {n} 0/1 proofs from JSON (parse, membership, equations, multi_exp), "
            f"{rounds} child processes per arithmetic, medians of their medians of 3:", "",
            "| | " + " | ".join(names) + " | " + " | ".join(f"openssl / {x}" for x in names[1:]) + " |",
            "|---" * (2 * len(names)) + "|",
            "| per proof (ms) | " + " | ".join(f"{med[x] / n * 1e3:.3g}" for x in names) + " | "
            + " | ".join(f"{med['openssl'] / med[x]:.2f}x" for x in names[1:]) + " |"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--verify", type=int, default=0, help="also time batch verification of this many proofs")
    ap.add_argument("--no-write", action="store_true", help="print the section instead of writing BENCHMARKS.md")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        verify_child(args.child, args.verify, 3)
        return
    p = int(P)
    rnd = random.Random(2026)
    mods = available()
    base = rnd.randrange(2, p)
    b4, e4 = [rnd.randrange(1, p) for _ in range(4)], [rnd.getrandbits(256) for _ in range(4)]
    b64 = [rnd.randrange(1, p) for _ in range(64)]
    e64 = [rnd.getrandbits(rnd.choice((256, 384))) for _ in range(64)]
    b6k = [rnd.randrange(1, p) for _ in range(6000)]
    e6k = [rnd.getrandbits(rnd.choice((256, 384))) for _ in range(6000)]
    want64, want6k = mods["openssl"].multi_exp(b64, e64), mods["openssl"].multi_exp(b6k, e6k)
    want4 = mods["openssl"].multi_exp(b4, e4)
    for m in mods.values():  # warm-up, and the same results everywhere
        assert m.multi_exp(b64, e64) == want64 and m.multi_exp(b6k, e6k) == want6k and m.multi_exp(b4, e4) == want4
    builds = {name: m.comb(base, 32).build_products for name, m in mods.items()}
    cases: dict[str, Callable[[Modulus], float]] = {
        "product (us)": lambda m: cpu_time(lambda: m.comb(base, 32)) / builds[m.arith] * 1e6,
        "multi_exp 1 term (ms)": lambda m: cpu_time(lambda: m.multi_exp(b4[:1], e4[:1])) * 1e3,
        "multi_exp 4 terms (ms)": lambda m: cpu_time(lambda: m.multi_exp(b4, e4)) * 1e3,
        "multi_exp 64 terms (ms)": lambda m: cpu_time(lambda: m.multi_exp(b64, e64)) * 1e3,
        "multi_exp 6000 terms (ms)": lambda m: cpu_time(lambda: m.multi_exp(b6k, e6k)) * 1e3,
    }
    names = list(mods)
    samples = {(c, n): [] for c in cases for n in names}
    for r in range(args.rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for c, fn in cases.items():
            for n in order:
                samples[c, n].append(fn(mods[n]))
    command = " ".join([".venv/bin/python", "benchmarks/modp_arith.py"] + sys.argv[1:])
    lines = [f"Command: `{command}`  ",
             f"Date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; {cpu_model()}, {args.rounds} rounds, medians of "
             f"CPU time; default arithmetic here: {Modulus(p).arith} (the others forced with Modulus(P, arith=...)).", "",
             "| | " + " | ".join(names) + " | " + " | ".join(f"openssl / {n}" for n in names[1:]) + " |",
             "|---" * (2 * len(names)) + "|"]
    for c in cases:
        med = {n: statistics.median(samples[c, n]) for n in names}
        lines.append(f"| {c} | " + " | ".join(f"{med[n]:.3g}" for n in names) + " | "
                     + " | ".join(f"{med['openssl'] / med[n]:.2f}x" for n in names[1:]) + " |")
    if args.verify:
        lines += [""] + verify_ab(names, args.verify, max(3, args.rounds // 3))
    text = "\n".join(lines)
    if not args.no_write:
        write_section(BENCHMARKS_MD, "modp arithmetics (threshold/groups/_modp.c)", text)
    print(text)


if __name__ == "__main__":
    main()
