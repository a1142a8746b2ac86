"""The trustee's recount in the browser's code (web/static/js/trustee/tally.js `checkedTally`: every counted
ballot's proofs checked in weighted chunks, the tally recomputed), run under node on `quorum demo` records,
beside the Python verifier's check of one of their ballots alone: CPU milliseconds per counted ballot.

    python benchmarks/recount.py                  # both groups, 40 voters
    python benchmarks/recount.py --voters 8 --groups ed25519 --no-write
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from anchors import BENCHMARKS_MD, write_section  # noqa: E402
from threshold.groups.modp import native_arithmetic  # noqa: E402
from voting.ballot import parse_ballot, proofs_valid, signature_valid  # noqa: E402
from voting.context import ElectionContext, build_context  # noqa: E402
from voting.demo import run_demo  # noqa: E402

SECTION = "Trustee recount in the browser's code (node)"
JS = (REPO / "web" / "static" / "js").as_uri()

# Reads the record's entries and takes the election's base hash (computed by voting.context), then times checkedTally
# `runs` times in this one process (the first run also builds the generator's and the key's comb tables).
_SCRIPT = """
import fs from "node:fs";
const js = %(js)r;
const { checkedTally } = await import(`${js}/trustee/tally.js`);
const { getGroup } = await import(`${js}/crypto/groups.js`);
const { fromHex } = await import(`${js}/crypto/bytes.js`);
const entries = fs.readFileSync(process.argv[2], "utf8").split("\\n").filter(Boolean).map((l) => JSON.parse(l));
const base = fromHex(process.argv[3], 32, "base hash");
const runs = Number(process.argv[4]);
const group = getGroup(entries.find((e) => e.type === "setup").payload.group.name);
const ms = [];
let counted = 0;
for (let k = 0; k < runs; k++) {
  const t0 = process.cpuUsage();
  await checkedTally(group, entries, base, (done) => { counted = done; });
  const t = process.cpuUsage(t0);
  ms.push((t.user + t.system) / 1000);
}
console.log(JSON.stringify({ ms, counted }));
"""


def demo_record(group: str, voters: int, scratch: Path) -> Path:
    """A whole election as `quorum demo` runs it (its manifest, 5 trustees, quorum 3), its voters' choices, re-votes
    and challenges drawn from a seed (the number of voters), so that every run recounts the same kinds of entries."""
    out = scratch / f"record-{group}-{voters}"
    run_demo(out, voters=voters, absent=0, group_name=group, seed=voters)
    return out


def read_record(record: Path) -> tuple[list[dict[str, Any]], ElectionContext]:
    """The record's entries and its election context (base hash, manifest, key, credentials)."""
    entries = [json.loads(line) for line in (record / "board.jsonl").read_text(encoding="utf-8").splitlines() if line]
    payload = {e["type"]: e["payload"] for e in entries if e["type"] in ("setup", "key_ceremony", "credentials")}
    return entries, build_context(payload["setup"], payload["key_ceremony"], payload["credentials"])


def node_recount(node: str, record: Path, runs: int, scratch: Path) -> dict[str, Any]:
    """CPU ms of each checkedTally run, and how many ballots it counted."""
    script = scratch / "recount.mjs"
    script.write_text(_SCRIPT % {"js": JS}, encoding="utf-8")
    base = read_record(record)[1].base_hash.hex()
    run = subprocess.run([node, str(script), str(record / "board.jsonl"), base, str(runs)], capture_output=True,
                         text=True, timeout=3600, check=False)
    if run.returncode != 0:
        raise SystemExit(f"node recount failed: {run.stderr[-2000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def python_verify_one(record: Path, runs: int) -> tuple[float, int]:
    """Median CPU ms of the Python verifier's check of one ballot alone (parse, membership, signature, proofs),
    over every ballot cast in the record, `runs` times; and how many proof equations a ballot has."""
    entries, ctx = read_record(record)
    ballots = [e["payload"]["ballot"] for e in entries if e["type"] == "cast"]
    ms = []
    for ballot in ballots * runs:
        start = time.process_time()
        reader = ctx.group.reader()
        parsed = parse_ballot(ctx, ballot, reader)
        if not (signature_valid(parsed) and proofs_valid(ctx, parsed, reader)):
            raise SystemExit("a demo ballot does not verify")
        ms.append((time.process_time() - start) * 1000)
    equations = sum(2 * len(p.a) for c in parsed.contests for p in (*c.proofs, c.limit_proof))
    return statistics.median(ms), equations


def measure(group: str, voters: int, runs: int, node: str, scratch: Path) -> dict[str, Any]:
    """The recount on records of `voters` and 2 x `voters` voters: the cost of one more counted ballot is the slope
    between them, so that what a record costs whatever its size (reading the setup, the chain) does not count."""
    small, large = (demo_record(group, v, scratch) for v in (voters, 2 * voters))
    js = [node_recount(node, r, runs + 1, scratch) for r in (small, large)]
    extra = js[1]["counted"] - js[0]["counted"]
    if extra <= 0:
        raise SystemExit(f"the larger record counts no more ballots ({js[0]['counted']}, {js[1]['counted']})")
    return {"group": group, "counted": (js[0]["counted"], js[1]["counted"]),
            "js_ms": (statistics.median(js[1]["ms"][1:]) - statistics.median(js[0]["ms"][1:])) / extra,
            **dict(zip(("py_ms", "equations"), python_verify_one(large, runs)))}


def report(args: argparse.Namespace, rows: list[dict[str, Any]], node_version: str, started: float) -> str:
    """The BENCHMARKS.md section."""
    lines = [
        "Command: `.venv/bin/python benchmarks/recount.py " + " ".join(sys.argv[1:]) + "`  ",
        f"Date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC (whole run {time.time() - started:.0f} s wall); "
        f"machine: nproc = {os.cpu_count()}, {platform.platform()}, load average at end {os.getloadavg()[0]:.2f} "
        f"(shared machine); node {node_version}; Python's modp arithmetic: {native_arithmetic()}.  ",
        f"Records: `quorum demo --voters {args.voters}` and `--voters {2 * args.voters}` (its manifest, 5 trustees, "
        "quorum 3; some voters re-vote or challenge a ballot, drawn from a fixed seed, so fewer ballots are counted "
        "than cast); each figure is the recount's cost of one more counted ballot: the difference between the two "
        "records over the difference of their counted ballots, so that what every record costs whatever its size "
        "does not count. The recount is what a trustee's page does before it decrypts: the chain and the board's signature of every entry (re-votes and challenged ballots "
        "included), every counted ballot's signature and proofs, in chunks of about 2,048 equations checked as one "
        "weighted product, and the tally recomputed and compared. Beside it, the Python verifier's check of one "
        "ballot alone (parse, membership tests, signature, proofs; `quorum verify` batches a record's ballots, which "
        f"is faster per ballot). CPU time; medians over {args.runs} runs, the recount's in one node process after a "
        "first run that builds its tables.",
        "",
        "| group | ballots counted | trustee recount (node), per ballot | Python, one ballot alone | recount / Python |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['group']} | {r['counted'][0]}, {r['counted'][1]} | {r['js_ms']:.1f} ms | "
                     f"{r['py_ms']:.2f} ms | " + (f"{r['js_ms'] / r['py_ms']:.1f}x |" if r["py_ms"] > 0 else "— |"))
    lines += ["", "The recount runs on JavaScript's BigInt (modp) and on a JavaScript field (ed25519), where the "
              "verifier has native code; a trustee recounts 10,000 ballots in about "
              + ", ".join(f"{r['js_ms'] * 10000 / 60000:.0f} min ({r['group']})" for r in rows)
              + " of one core; the page shows its progress between chunks, each of them some "
              + ", ".join(f"{r['js_ms'] * 2048 / r['equations']:.0f} ms ({r['group']})" for r in rows)
              + ", and gets the event loop back between the windows of their multi-exponentiation (at most every "
              "50 ms; crypto/batch.js holdsWeightedYielding)."]
    return "\n".join(lines)


def main() -> int:
    """Run the benchmark and write its section of BENCHMARKS.md (or print it)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voters", type=int, default=40)
    parser.add_argument("--runs", type=int, default=5, help="runs of each side (the recount's after a first one)")
    parser.add_argument("--groups", default="modp,ed25519")
    parser.add_argument("--no-write", action="store_true", help="print the section instead of writing BENCHMARKS.md")
    args = parser.parse_args()
    node = shutil.which("node")
    if node is None:
        raise SystemExit("node is not installed (make system-deps)")
    node_version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    started = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        rows = [measure(g, args.voters, args.runs, node, Path(tmp)) for g in args.groups.split(",")]
    text = report(args, rows, node_version, started)
    if not args.no_write:
        write_section(BENCHMARKS_MD, SECTION, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
