"""mpc_ml beside CrypTen 0.4.1 and MPyC 0.11 (-M3): the anchors' tasks with 3 parties (and 4, checked), one run.

Run:  .venv/bin/python benchmarks/mpc_ml.py            (anchors from ~/anchor-venvs, `make anchors`)
      .venv/bin/python benchmarks/mpc_ml.py --no-anchors  (ours only; anchors' stored figures quoted)
Ours runs three times: as 3 processes over TCP on this machine (authenticated, encrypted channels; the
setting the anchors were measured in), as 4 processes (n = 3t + 1: every product and AND gate checked,
security with abort) and with the 3 parties simulated in one process.
Per task: wall = max over parties, CPU = time.process_time summed over parties (receiver threads
included), bytes = bytes sent summed over parties (frames with their headers and tags); medians
over repetitions; every repetition starts after a barrier. Writes the "Secure ML (mpc_ml)" section
of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]

import mpc_ml  # noqa: E402
from mpc_ml import launcher, runtime  # noqa: E402

TASKS = ["micro_mul_1e5", "micro_mul_1e5_online", "micro_mul_1e5_offline", "micro_matmul_128", "micro_relu_1e4", "micro_lt_1e4", "mlp_batch1", "mlp_batch100",
         "linreg_exact", "linreg_exact_default"]
BOUND = 1024.0  # declared public bound on |X| and |y| for the exact solve (diabetes: |X| < 5, y < 350)


def _barrier(rt) -> None:
    """A tiny all-to-all exchange so that every party starts the next repetition together."""
    rt.exchange(np.zeros((rt.L, 1), dtype=np.uint64), [list(range(rt.n))] * rt.n, rt.word_codec, (1,))


def party_bench(reps: int, reps_b1: int) -> dict:
    """Every task on the current runtime; per-repetition (wall, cpu, bytes sent) of this process."""
    from sklearn.datasets import load_diabetes, load_digits
    from sklearn.linear_model import LinearRegression

    rt = runtime.current()
    rows: dict[str, list] = {}
    extra: dict = {}

    def run(name, fn, n):
        out = None
        for _ in range(n):
            _barrier(rt)
            b0, w0, c0 = rt.stats.bytes_sent, time.perf_counter(), time.process_time()
            out = fn()
            rows.setdefault(name, []).append((time.perf_counter() - w0, time.process_time() - c0,
                                              rt.stats.bytes_sent - b0))
        return out

    rng = np.random.default_rng(1234)
    pa, pb = rng.standard_normal(100_000), rng.standard_normal(100_000)
    a, b = mpc_ml.cryptensor(pa, src=0), mpc_ml.cryptensor(pb, src=1)
    A_, B_ = rng.standard_normal((128, 128)), rng.standard_normal((128, 128))
    A, B = mpc_ml.cryptensor(A_, src=0), mpc_ml.cryptensor(B_, src=1)
    pr, ps = rng.standard_normal(10_000), rng.standard_normal(10_000)
    r, s = mpc_ml.cryptensor(pr, src=0), mpc_ml.cryptensor(ps, src=1)
    z_mul = run("micro_mul_1e5", lambda: a * b, reps)  # masks made on demand, inside the timed region
    for _ in range(reps):  # offline phase (PRSS masks for 10^5 products, no communication), then online
        run("micro_mul_1e5_offline", lambda: rt.preprocess(multiplications=100_000), 1)
        z_on = run("micro_mul_1e5_online", lambda: a * b, 1)
    extra["micro_mul_online_max_abs_err"] = float(np.abs(z_on.get_plain_text() - pa * pb).max())
    z_mm = run("micro_matmul_128", lambda: A @ B, reps)
    z_relu = run("micro_relu_1e4", lambda: r.relu(), reps)
    z_lt = run("micro_lt_1e4", lambda: r < s, reps)
    extra["micro_mul_max_abs_err"] = float(np.abs(z_mul.get_plain_text() - pa * pb).max())
    extra["micro_matmul_max_abs_err"] = float(np.abs(z_mm.get_plain_text() - A_ @ B_).max())
    extra["micro_relu_max_abs_err"] = float(np.abs(z_relu.get_plain_text() - np.maximum(pr, 0)).max())
    extra["micro_lt_mismatches"] = int((z_lt.get_plain_text() != (pr < ps)).sum())

    w = np.load(REPO / "examples" / "models" / "mlp_digits.npz")
    X, y = load_digits(return_X_y=True)
    xte, yte = (X / 16.0)[w["test_idx"]], y[w["test_idx"]]
    nn = mpc_ml.nn
    model = nn.Sequential(nn.Linear(64, 128, w["0_weight"], w["0_bias"]), nn.ReLU(),
                          nn.Linear(128, 64, w["2_weight"], w["2_bias"]), nn.ReLU(),
                          nn.Linear(64, 10, w["4_weight"], w["4_bias"])).encrypt(src=0)
    plain = xte
    for i, k in enumerate(("0", "2", "4")):
        plain = plain @ w[f"{k}_weight"].T + w[f"{k}_bias"]
        plain = np.maximum(plain, 0) if i < 2 else plain

    def infer(xb):  # client (party 1) shares its batch, forward pass, logits revealed to all
        return model(mpc_ml.cryptensor(xb, src=1)).get_plain_text()

    for i in range(reps_b1):
        run("mlp_batch1", lambda: infer(xte[i:i + 1]), 1)
    run("mlp_batch100", lambda: infer(xte[:100]), reps)
    sec = np.concatenate([infer(xte[k:k + 100]) for k in range(0, len(yte), 100)])
    extra.update(mlp_n_test=int(len(yte)), mlp_secure_acc=float((sec.argmax(1) == yte).mean()),
                 mlp_plain_acc=float((plain.argmax(1) == yte).mean()),
                 mlp_argmax_agreement=float((sec.argmax(1) == plain.argmax(1)).mean()),
                 mlp_max_abs_logit_err=float(np.abs(sec - plain).max()))

    Xd, yd = load_diabetes(return_X_y=True)
    Xs = (Xd - Xd.mean(0)) / Xd.std(0)
    sk = LinearRegression().fit(Xs, yd)
    for name, bound in (("linreg_exact", BOUND), ("linreg_exact_default", None)):
        lin = mpc_ml.linear_model.LinearRegression(value_bound=bound)
        lin.fit(mpc_ml.cryptensor(Xs, src=0), mpc_ml.cryptensor(yd, src=1))  # warm-up: ring set-up
        run(name, lambda: lin.fit(mpc_ml.cryptensor(Xs, src=0), mpc_ml.cryptensor(yd, src=1)), reps)
        extra[f"{name}_max_abs_coef_err"] = float(np.abs(lin.coef_ - sk.coef_).max())
        extra[f"{name}_intercept_err"] = float(abs(lin.intercept_ - sk.intercept_))
        extra[f"{name}_r2"] = float(lin.score(Xs, yd))
    return {"rows": rows, "extra": extra, "params": rt.params.describe()}


def summarize(per_party: list[dict]) -> dict:
    """wall = max over parties, cpu and bytes = sums over parties; medians over repetitions."""
    out = {}
    for name in per_party[0]["rows"]:
        reps = len(per_party[0]["rows"][name])
        walls = [max(p["rows"][name][i][0] for p in per_party) for i in range(reps)]
        cpus = [sum(p["rows"][name][i][1] for p in per_party) for i in range(reps)]
        byts = [sum(p["rows"][name][i][2] for p in per_party) for i in range(reps)]
        out[name] = {"reps": reps, "wall_s_median": statistics.median(walls),
                     "cpu_s_sum_parties_median": statistics.median(cpus), "bytes_sum_parties": statistics.median(byts),
                     "bytes_per_party": statistics.median(byts) / len(per_party)}
    return out


def _party_entry(out_dir: str, reps: int, reps_b1: int) -> None:
    """Inside `quorum mpc run`: bench this party, write its rows."""
    mpc_ml.init()
    res = party_bench(reps, reps_b1)
    Path(out_dir, f"party{mpc_ml.get_rank()}.json").write_text(json.dumps(res))


def ours_tcp(reps: int, reps_b1: int, parties: int = 3) -> dict:
    """The parties as processes over TCP."""
    with tempfile.TemporaryDirectory(prefix="mpc-bench-") as tmp:
        rc = launcher.run_local(parties, __file__, ["--party-out", tmp, "--reps", str(reps), "--reps-b1", str(reps_b1)])
        if rc:
            raise SystemExit("a party of the TCP benchmark failed")
        parts = [json.loads(Path(tmp, f"party{i}.json").read_text()) for i in range(parties)]
    return {"timings": summarize(parts), "extra": parts[0]["extra"], "params": parts[0]["params"]}


def ours_inprocess(reps: int, reps_b1: int) -> dict:
    """The 3 parties simulated in this process (wall = CPU of all three)."""
    mpc_ml.init(parties=3)
    res = party_bench(reps, reps_b1)
    mpc_ml.uninit()
    return {"timings": summarize([res]), "extra": res["extra"]}


def stored_anchors() -> tuple[dict, dict]:
    """The anchors' figures recorded in shared/anchors/mpc/results.json."""
    stored = json.loads((REPO.parent / "shared" / "anchors" / "mpc" / "results.json").read_text())
    return stored["crypten_3p"], stored["mpyc_M3"]


def run_crypten() -> dict:
    """CrypTen 0.4.1, 3 parties, in its venv (GD shortened: its regression is not compared)."""
    import anchors as anc

    return anc.run_anchor("crypten", "mpc/bench_crypten.py",
                          ["--parties", "3", "--reps", "5", "--reps-b1", "10", "--gd-iters", "10"],
                          timeout=1200)["crypten_3p"]


def run_mpyc() -> dict:
    """MPyC 0.11 -M3 in its venv (exact regression at alpha=12; no GD; no 450-image accuracy pass)."""
    import anchors as anc

    return anc.run_anchor("mpyc", "mpc/bench_mpyc.py",
                          ["-M3", "--reps", "3", "--reps-b1", "10", "--alphas", "12", "--skip", "mlpacc"],
                          timeout=2400)["mpyc_M3"]


def _fmt(x: float | None) -> str:
    if x is None:
        return "—"
    return f"{x * 1000:.1f} ms" if x < 1 else f"{x:.2f} s"


def _mb(x: float | None) -> str:
    return "—" if x is None else f"{x / 1e6:.2f} MB"


def report(tcp: dict, tcp4: dict, inproc: dict, cr: dict, mp: dict, how: str, cmd: str, wall: float) -> str:
    """The BENCHMARKS.md section."""
    names = {"micro_mul_1e5": "multiply 10^5 fixed-point values (total: masks made on demand)",
             "micro_mul_1e5_online": "the same, online (masks preprocessed)",
             "micro_mul_1e5_offline": "the same, offline (PRSS masks, local, no communication)",
             "micro_matmul_128": "128x128 @ 128x128",
             "micro_relu_1e4": "ReLU on 10^4 values", "micro_lt_1e4": "secret < secret on 10^4 values",
             "mlp_batch1": "MLP 64-128-64-10, batch 1", "mlp_batch100": "MLP 64-128-64-10, batch 100",
             "linreg_exact": f"linear regression, diabetes 442x10, input + exact fit, bound {BOUND:g}",
             "linreg_exact_default": "the same, no declared bound (fixed-point range)"}
    anchor_key = {"micro_mul_1e5_online": ("micro_mul_1e5", "micro_mul_1e5"),
                  "micro_mul_1e5_offline": ("micro_mul_1e5", "micro_mul_1e5"),
                  "linreg_exact": ("linreg_gd", "linreg_exact_alpha12"),
                  "linreg_exact_default": ("linreg_gd", "linreg_exact_alpha12")}
    lines = [
        f"Command: `{cmd}`  ",
        f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} (whole run {wall:.0f} s wall)  ",
        f"Machine: nproc = {os.cpu_count()}, {platform.machine()}, Python {platform.python_version()}, "
        f"numpy {np.__version__}; a machine shared with other jobs: wall times depend on its load, CPU times less.  ",
        f"Anchors: CrypTen 0.4.1 (torch 2.13.0, 3 parties, TFP dealer) and MPyC 0.11 -M3, {how}.  ",
        f"Ours: Shamir t=1 of n=3, no dealer (PRSS), ring {tcp['params']['primes']} x 21-bit primes "
        f"({tcp['params']['modulus_bits']} bits), {tcp['params']['frac_bits']} fractional bits, "
        f"kappa = {tcp['params']['kappa']}; TCP = 3 processes on this machine over X25519/AES-GCM channels; "
        f"in-process = the 3 parties simulated in one process; the elementwise loops of a product (PRSS masks, "
        f"product + mask, packing, opening with truncation) run in the C extension mpc_ml/_ring.c.",
        "",
        "Wall = max over parties, CPU = sum over parties, medians. Bytes = sent, summed over parties "
        "(CrypTen: its logged elements x 8 B / 2; MPyC: its byte counters).",
        "",
        "Like for like: CrypTen's multiply is timed with its dealer working inside it (provider TFP: each "
        "call generates its Beaver triple and its truncation (wrap) randomness on the spot, party 0's "
        "product c = a*b shared by PRZS, no communication), and MPyC makes its PRSS randomness inside the "
        "call too. Our first row is the same setting (PRSS masks made inside the timed multiply) and is the "
        "comparison; the online and offline rows split our figure by `runtime.preprocess(multiplications=10^5)` "
        "run before the timed multiply (offline = that call: local CPU, no communication, no dealer).",
        "",
        "The 4-party columns run the same tasks over TCP with 4 processes (t = 1, n = 3t + 1): every product's "
        "degree-2t opening and every AND message of the comparisons is checked, so a deviating party stops the "
        "run before any output is signed (security with abort); with 3 parties a deviating party goes undetected "
        "(mpc_ml/README.md). Their last column is the price of that check, 4-party wall over 3-party wall; "
        f"here the 4 processes share this machine's {os.cpu_count()} cores with each other (CPU sums are the "
        "steadier figure).",
        "",
        "| task | ours TCP wall / CPU | ours bytes (per party) | ours in-process | CrypTen wall / CPU | "
        "MPyC -M3 wall / CPU | ours / CrypTen (wall) | ours / MPyC (wall) | ours 4 parties, checked: TCP wall / CPU "
        "| 4 / 3 parties (wall) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key in TASKS:
        o, ip, o4 = tcp["timings"][key], inproc["timings"][key], tcp4["timings"][key]
        checked = (f" {_fmt(o4['wall_s_median'])} / {_fmt(o4['cpu_s_sum_parties_median'])} | "
                   f"{o4['wall_s_median'] / o['wall_s_median']:.2f} |")
        ck, mk = anchor_key.get(key, (key, key))
        c = cr["timings"].get(ck) if not key.startswith("linreg") else None
        m = mp["timings"].get(mk)
        cw = c["wall_s_median"] if c else None
        mw = m["wall_s_median"] if m else None
        ours = (f"| {names[key]} | {_fmt(o['wall_s_median'])} / {_fmt(o['cpu_s_sum_parties_median'])} | "
                f"{_mb(o['bytes_sum_parties'])} ({_mb(o['bytes_per_party'])}) | {_fmt(ip['wall_s_median'])} | ")
        if key in ("micro_mul_1e5_online", "micro_mul_1e5_offline"):  # CrypTen/MPyC time only the total
            lines.append(ours + f"(total above: {_fmt(cw)}) | (total above) | "
                         + (f"{o['wall_s_median'] / cw:.2f} (ours {key.rsplit('_', 1)[1]} / CrypTen total) |"
                            if cw else "— |") + " — |" + checked)
            continue
        lines.append(
            ours + f"{_fmt(cw)} / {_fmt(c['cpu_s_sum_parties_median']) if c else '—'} | "
            f"{_fmt(mw)} / {_fmt(m['cpu_s_sum_parties_median']) if m else '—'} | "
            f"{o['wall_s_median'] / cw:.2f} |" if cw else
            ours + "— (needs a trusted dealer / not run) | "
            f"{_fmt(mw)} / {_fmt(m['cpu_s_sum_parties_median']) if m else '—'} | — |")
        lines[-1] += (f" {o['wall_s_median'] / mw:.2f} |" if mw else " — |") + checked
    cm = cr["timings"].get("micro_mul_1e5")
    if cm:
        t = tcp["timings"]
        ratio = ", ".join(
            f"{label} {t[k]['wall_s_median'] / cm['wall_s_median']:.2f} / "
            f"{t[k]['cpu_s_sum_parties_median'] / cm['cpu_s_sum_parties_median']:.2f}"
            for label, k in (("total", "micro_mul_1e5"), ("online", "micro_mul_1e5_online"),
                             ("offline", "micro_mul_1e5_offline")))
        lines += ["", f"Multiply 10^5, ours (TCP) / CrypTen (its total, dealer included), wall / CPU: {ratio}."]
    e, mx = tcp["extra"], mp.get("extra_party0", {})
    cx = cr.get("extra_rank0", {})
    lines += [
        "",
        "Accuracy (ours over TCP): "
        f"mul max abs err {e['micro_mul_max_abs_err']:.2g}, matmul {e['micro_matmul_max_abs_err']:.2g}, "
        f"ReLU {e['micro_relu_max_abs_err']:.2g}, comparison mismatches {e['micro_lt_mismatches']}; "
        f"MLP on {e['mlp_n_test']} test digits: accuracy {e['mlp_secure_acc']:.4f} (plaintext {e['mlp_plain_acc']:.4f}), "
        f"argmax agreement {e['mlp_argmax_agreement']:.4f}, max logit error {e['mlp_max_abs_logit_err']:.2g}; "
        f"regression max |coef - sklearn| {e['linreg_exact_max_abs_coef_err']:.2g} (no bound: "
        f"{e['linreg_exact_default_max_abs_coef_err']:.2g}), intercept error {e['linreg_exact_intercept_err']:.2g}, "
        f"R^2 {e['linreg_exact_r2']:.7f} (sklearn 0.5177484).",
        f"Anchors: CrypTen MLP agreement {cx.get('mlp_argmax_agreement', '—')}, max logit error "
        f"{cx.get('mlp_max_abs_logit_err', '—')}; MPyC exact regression (alpha=12) coefficient error "
        f"{mx.get('linreg_exact_alpha12', {}).get('max_abs_coef_err', '—')}; CrypTen's regression is gradient descent "
        f"with a trusted dealer (3000 iterations: 36.8 s, error 0.63, from the stored anchor run).",
    ]
    return "\n".join(lines)


def main() -> None:
    """Parse arguments; party mode inside `quorum mpc run`, else orchestrate."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--reps-b1", type=int, default=10)
    ap.add_argument("--no-anchors", action="store_true")
    ap.add_argument("--party-out", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--json", default=None, help="also write all figures to this file")
    args = ap.parse_args()
    if args.party_out:
        _party_entry(args.party_out, args.reps, args.reps_b1)
        return
    t0 = time.perf_counter()
    loads = {"start": os.getloadavg()[0]}
    cr, mp = stored_anchors()
    how = "quoted from shared/anchors/mpc/results.json (not re-run)"
    if not args.no_anchors:
        import anchors as anc

        try:  # CrypTen right before ours, MPyC (minutes) after: the closest comparisons share the load
            cr = run_crypten()
            loads["after CrypTen"] = os.getloadavg()[0]
            tcp = ours_tcp(args.reps, args.reps_b1)
            loads["after ours"] = os.getloadavg()[0]
            mp = run_mpyc()
            how = "measured in this run (CrypTen, then ours, then MPyC)"
        except anc.AnchorError as exc:
            print(f"anchors failed, quoting stored figures: {exc}", file=sys.stderr)
            tcp = ours_tcp(args.reps, args.reps_b1)
    else:
        tcp = ours_tcp(args.reps, args.reps_b1)
    tcp4 = ours_tcp(args.reps, args.reps_b1, parties=4)
    loads["end"] = os.getloadavg()[0]
    inproc = ours_inprocess(args.reps, args.reps_b1)
    cmd = ".venv/bin/python benchmarks/mpc_ml.py" + (" --no-anchors" if args.no_anchors else "")
    how += "; 1-minute load average " + ", ".join(f"{k} {v:.1f}" for k, v in loads.items())
    body = report(tcp, tcp4, inproc, cr, mp, how, cmd, time.perf_counter() - t0)
    print(body)
    if args.json:
        Path(args.json).write_text(json.dumps({"tcp": tcp, "tcp_4_parties": tcp4, "inprocess": inproc, "crypten": cr,
                                               "mpyc": mp}, indent=1))
    from anchors import BENCHMARKS_MD, write_section

    write_section(BENCHMARKS_MD, "Secure ML (mpc_ml)", body)


if __name__ == "__main__":
    main()
