"""Secure aggregation beside Flower 1.42 SecAgg+ (its own primitives), in one run.

Same round as the anchor driver (shared/anchors/secagg/bench_flwr_secagg.py): n clients,
vectors of d float32 uniform in [-1, 1], a random 10% of clients finish the key and share
rounds and then drop before sending their masked input, 15 shares per secret (14 neighbours
plus the client itself) and threshold 10, clipping range 8. Per-client CPU is the sum of
that client's four calls (median over surviving clients); server CPU is every server call;
total = all clients + server. Bytes are the exact messages each client sends / receives.

    .venv/bin/python benchmarks/secagg.py --n 100 --d 100000 --dropout 0.1 --reps 3 [--md]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from anchors import BENCHMARKS_MD, AnchorError, run_anchor, write_section  # noqa: E402

from mpc_ml.secagg import SecAggClient, SecAggServer, make_params, verify  # noqa: E402


def run_ours(n: int, d: int, dropout: float, degree: int, threshold: int, seed: int) -> dict:
    """One round with every client and the server here; CPU seconds and bytes per party."""
    rng = np.random.default_rng(seed)
    updates = [rng.uniform(-1, 1, d).astype(np.float32) for _ in range(n)]
    dropped = set(random.Random(seed).sample(range(1, n + 1), int(dropout * n)))
    cpu = {u: 0.0 for u in range(1, n + 1)}
    up = {u: 0 for u in cpu}
    down = {u: 0 for u in cpu}
    server_cpu = 0.0

    def client_call(u: int, fn, *args):  # type: ignore[no-untyped-def]
        t = time.process_time()
        out = fn(*args)
        cpu[u] += time.process_time() - t
        up[u] += len(out)
        return out

    def server_call(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal server_cpu
        t = time.process_time()
        out = fn(*args, **kwargs)
        server_cpu += time.process_time() - t
        return out

    params = server_call(make_params, n, d, threshold=threshold, neighbours=degree, clip=8.0)
    server = server_call(SecAggServer, params)
    clients = {}
    for u in cpu:
        t = time.process_time()
        clients[u] = SecAggClient(u, params.to_bytes())
        cpu[u] += time.process_time() - t
        down[u] += len(params.to_bytes())
    for u, c in clients.items():
        server_call(server.receive, client_call(u, c.advertise))
    keys = server_call(server.keys_round_done)
    for u, c in clients.items():
        down[u] += sum(map(len, keys))
        server_call(server.receive, client_call(u, c.share_keys, keys))
    routed = server_call(server.shares_round_done)
    for u, c in clients.items():
        down[u] += sum(map(len, routed[u]))
        if u not in dropped:
            server_call(server.receive, client_call(u, c.masked_input, updates[u - 1], routed[u], server.quantizer))
    request = server_call(server.masked_round_done)
    for u, c in clients.items():
        if u not in dropped:
            down[u] += len(request)
            server_call(server.receive, client_call(u, c.confirm, request))
    confirmations = server_call(server.consistency_round_done)
    for u, c in clients.items():
        if u not in dropped:
            down[u] += sum(map(len, confirmations))
            server_call(server.receive, client_call(u, c.unmask, request, confirmations))
    result = server_call(server.finish)
    t = time.process_time()
    verify(result.transcript)
    verify_cpu = time.process_time() - t
    alive = [u for u in cpu if u not in dropped]
    exact = sum(updates[u - 1].astype(np.float64) for u in alive)
    return {
        "client_cpu_s_median": statistics.median(cpu[u] for u in alive),
        "client_cpu_s_max": max(cpu[u] for u in alive),
        "server_cpu_s": server_cpu,
        "total_cpu_s": server_cpu + sum(cpu.values()),
        "verify_cpu_s": verify_cpu,
        "client_up_bytes_median": statistics.median(up[u] for u in alive),
        "client_down_bytes_median": statistics.median(down[u] for u in alive),
        "masked_vector_bytes": len(result.transcript[[m[5] for m in result.transcript].index(4)]),
        "max_abs_err": float(np.abs(result.total - exact).max()),
        "error_bound": result.error_bound,
        "transcript_bytes": sum(map(len, result.transcript)),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--d", type=int, default=100_000)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--num-shares", type=int, default=15, help="Flower's num_shares: neighbours + 1")
    ap.add_argument("--threshold", type=int, default=10)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--no-anchor", action="store_true")
    ap.add_argument("--md", action="store_true", help="write the secure-aggregation section of BENCHMARKS.md")
    a = ap.parse_args()
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load_start = os.getloadavg()[0]
    flower = None
    if not a.no_anchor:
        try:
            args = ["--n", str(a.n), "--d", str(a.d), "--dropout", str(a.dropout), "--num-shares", str(a.num_shares),
                    "--threshold", str(a.threshold), "--reps", str(a.reps)]
            flower = run_anchor("flwr", "secagg/bench_flwr_secagg.py", args, timeout=3600)["rows"][0]
        except AnchorError as exc:
            print(f"anchor skipped: {exc}", file=sys.stderr)
    runs = [run_ours(a.n, a.d, a.dropout, a.num_shares - 1, a.threshold, seed=1000 + r) for r in range(a.reps)]
    ours = {k: statistics.median(r[k] for r in runs) if k != "max_abs_err" else max(r[k] for r in runs) for k in runs[0]}
    print(json.dumps({"ours": ours, "flower": {k: v for k, v in (flower or {}).items() if not k.endswith("_reps")}}), flush=True)
    if a.md:
        conditions = (f"Date: {when}; machine: {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, "
                      f"Python {platform.python_version()}; load average {load_start:.2f} at start, {os.getloadavg()[0]:.2f} at end (shared machine).")
        write_section(BENCHMARKS_MD, "Secure aggregation (mpc_ml.secagg vs Flower 1.42 SecAgg+)", markdown(a, ours, flower, conditions))
    return 0


def markdown(a: argparse.Namespace, ours: dict, flower: dict | None, conditions: str) -> str:
    """The BENCHMARKS.md section."""
    args = " ".join(sys.argv[1:])
    rows = [
        ("per-client CPU s (median / max)", f"{ours['client_cpu_s_median']:.4f} / {ours['client_cpu_s_max']:.4f}",
         lambda f: f"{f['client_cpu_s_median']:.4f} / {f['client_cpu_s_max']:.4f}", lambda f: ours["client_cpu_s_median"] / f["client_cpu_s_median"]),
        ("server CPU s", f"{ours['server_cpu_s']:.3f}", lambda f: f"{f['server_cpu_s']:.3f}", lambda f: ours["server_cpu_s"] / f["server_cpu_s"]),
        ("total CPU s (all clients + server)", f"{ours['total_cpu_s']:.3f}", lambda f: f"{f['total_cpu_s']:.3f}", lambda f: ours["total_cpu_s"] / f["total_cpu_s"]),
        ("upload bytes per client", f"{ours['client_up_bytes_median']:.0f}", lambda f: f"{f['client_up_bytes_median']:.0f}",
         lambda f: ours["client_up_bytes_median"] / f["client_up_bytes_median"]),
        ("download bytes per client", f"{ours['client_down_bytes_median']:.0f}", lambda f: f"{f['client_down_bytes_median']:.0f}",
         lambda f: ours["client_down_bytes_median"] / f["client_down_bytes_median"]),
        ("masked-vector message bytes", f"{ours['masked_vector_bytes']:.0f}", lambda f: f"{f['client_masked_vector_bytes']:.0f}",
         lambda f: ours["masked_vector_bytes"] / f["client_masked_vector_bytes"]),
    ]
    lines = [
        f"Command: `.venv/bin/python benchmarks/secagg.py {args}` (anchor: `shared/anchors/secagg/bench_flwr_secagg.py`",
        "in `~/anchor-venvs/flwr`, run first by `benchmarks/anchors.py` in the same run).",
        conditions,
        f"n = {a.n} clients, d = {a.d}, {a.dropout:.0%} of clients drop after sharing keys (before their masked input),",
        f"{a.num_shares} shares per secret ({a.num_shares - 1} neighbours + self), threshold {a.threshold}, medians over {a.reps} rounds, CPU = `time.process_time`.",
        "",
        "| measure | ours | Flower SecAgg+ | ours / Flower |",
        "|---|---|---|---|",
    ]
    for name, mine, theirs, ratio in rows:
        lines.append(f"| {name} | {mine} | {theirs(flower) if flower else '-'} | {f'{ratio(flower):.3f}' if flower else '-'} |")
    lines += [
        "",
        f"Ours, also: max abs error of the sum {ours['max_abs_err']:.2e} (stated bound {ours['error_bound']:.2e});",
        "`verify(transcript)` (replays every message, cross-checks every revealed share, recomputes the",
        f"aggregate) {ours['verify_cpu_s']:.3f} s CPU; transcript {ours['transcript_bytes'] / 1e6:.1f} MB.",
        "Differences: our masks are AES-256-CTR keystreams under HKDF-derived 256-bit keys (Flower: numpy",
        "`RandomState` seeded with 32 bits); our masked vectors are uint32 (Flower: int64 `.npy`); every",
        "client message is Ed25519-signed and published; we sum the updates, Flower computes the",
        "num_examples-weighted mean (one extra multiply per value). Targets: upload <= 0.5 and total CPU <= 0.25.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
