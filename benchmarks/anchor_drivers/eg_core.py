"""ElectionGuard 1.4 half of ``benchmarks/core.py``: core operations through EG's public API.

Runs INSIDE the ``eg`` anchor venv (Python 3.10, electionguard 1.4.0), started by
``benchmarks/core.py`` through ``anchors.run_anchor``; it imports nothing from Quorum.
Every figure is CPU time (``time.process_time``) per operation, the median over
repetitions, each repetition a chunk of operations on fresh inputs; one chunk of
warm-up is run first and dropped.  Stdout is discarded by the caller (EG logs every
encryption at INFO there); results go to ``--out`` as JSON.

    ~/anchor-venvs/eg/bin/python benchmarks/anchor_drivers/eg_core.py --out eg.json [--quick]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from importlib.metadata import version
from typing import Any, Callable, Sequence

import gmpy2
from electionguard.chaum_pedersen import (
    DisjunctiveChaumPedersenProof,
    make_disjunctive_chaum_pedersen_one,
    make_disjunctive_chaum_pedersen_zero,
)
from electionguard.constants import get_large_prime, get_small_prime
from electionguard.elgamal import ElGamalCiphertext, elgamal_encrypt, elgamal_keypair_random
from electionguard.group import ElementModQ, g_pow_p, mult_p, pow_p, rand_q, rand_range_q
from electionguard.serialize import from_list_raw, to_raw

ONE_Q = ElementModQ(1)


def per_op(op: Callable[[Any], Any], inputs: Sequence[Any], reps: int, chunk: int) -> dict[str, Any]:
    """CPU seconds per call of ``op``: median over ``reps`` chunks of ``chunk`` fresh inputs.

    ``inputs`` must hold (reps + 1) * chunk items: the first chunk is the warm-up.
    """
    assert len(inputs) >= (reps + 1) * chunk, "not enough inputs"
    samples = []
    for rep in range(reps + 1):
        part = inputs[rep * chunk:(rep + 1) * chunk]
        t0 = time.process_time()
        for x in part:
            op(x)
        dt = (time.process_time() - t0) / chunk
        if rep:  # rep 0 is the warm-up
            samples.append(dt)
    return summary(samples, chunk)


def summary(samples: list[float], per: int) -> dict[str, Any]:
    return {"median_s": statistics.median(samples), "min_s": min(samples), "max_s": max(samples),
            "reps": len(samples), "ops_per_rep": per}


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--quick", action="store_true", help="smoke run: few repetitions")
    ap.add_argument("--reps", type=int, default=None, help="repetitions per figure (default 15; quick 2)")
    ap.add_argument("--n-json", type=int, default=None,
                    help="proofs per from-JSON verification run (default 50; quick 4)")
    args = ap.parse_args(argv)
    reps = args.reps or (2 if args.quick else 15)
    n_json = args.n_json or (4 if args.quick else 50)
    json_reps = 2 if args.quick else 5

    P, Q = get_large_prime(), get_small_prime()
    keypair = elgamal_keypair_random()
    K = keypair.public_key
    q_bar = rand_q()  # stands for the extended base hash Q-bar bound into every challenge
    results: dict[str, Any] = {}
    log = lambda msg: print(f"[eg_core] {msg}", file=sys.stderr, flush=True)  # noqa: E731

    # -- exponentiation ---------------------------------------------------------
    def exps(n: int) -> list[ElementModQ]:
        return [rand_range_q(ONE_Q) for _ in range(n)]

    chunk = 10
    k_mpz, mpz_p = K.value, gmpy2.mpz(P)
    raw_inputs = [e.value for e in exps((reps + 1) * chunk)]
    results["powmod_raw"] = per_op(lambda e: gmpy2.powmod(k_mpz, e, mpz_p), raw_inputs, reps, chunk)
    results["pow_p"] = per_op(lambda e: pow_p(K, e), exps((reps + 1) * chunk), reps, chunk)
    results["g_pow_p"] = per_op(g_pow_p, exps((reps + 1) * chunk), reps, chunk)
    a, b = g_pow_p(rand_q()), g_pow_p(rand_q())
    results["mulmod_raw"] = per_op(lambda _: a.value * b.value % mpz_p, list(range((reps + 1) * 100)), reps, 100)
    log("exponentiation done")

    # -- ElGamal encryption of one selection -------------------------------------
    chunk = 5
    nonces = exps((reps + 1) * chunk)
    results["encrypt"] = per_op(lambda r: elgamal_encrypt(1, r, K), nonces, reps, chunk)
    # the same arithmetic without the library's logging (3 exponentiations and a product)
    results["encrypt_arith_only"] = per_op(
        lambda r: (g_pow_p(r), mult_p(g_pow_p(ONE_Q), pow_p(K, r))), exps((reps + 1) * chunk), reps, chunk)
    log("encryption done")

    # -- disjunctive 0/1 proof: generation ---------------------------------------
    def selection(i: int) -> tuple[int, ElementModQ, ElGamalCiphertext]:
        m, r = i % 2, rand_range_q(ONE_Q)
        ct = elgamal_encrypt(m, r, K)
        assert ct is not None
        return m, r, ct

    def prove(item: tuple[int, ElementModQ, ElGamalCiphertext]) -> DisjunctiveChaumPedersenProof:
        m, r, ct = item
        make = make_disjunctive_chaum_pedersen_one if m else make_disjunctive_chaum_pedersen_zero
        return make(ct, r, K, q_bar, rand_q())

    chunk = 4  # two of each plaintext per chunk
    sels = [selection(i) for i in range((reps + 1) * chunk)]
    results["prove01"] = per_op(prove, sels, reps, chunk)
    log("proof generation done")

    # -- verification: one proof on objects (is_valid checks membership of all six elements) --
    chunk = 2
    items = [(ct, prove((m, r, ct))) for m, r, ct in sels[:(reps + 1) * chunk]]

    def verify(item: tuple[ElGamalCiphertext, DisjunctiveChaumPedersenProof]) -> None:
        ct, proof = item
        if not proof.is_valid(ct, K, q_bar):
            raise SystemExit("EG proof did not verify")

    results["verify01"] = per_op(verify, items, reps, chunk)
    log("single verification done")

    # -- verification from JSON: parse n_json ciphertexts and proofs (serialize.from_list_raw), is_valid each --
    more = [selection(i) for i in range(n_json)]
    pairs = [(ct, prove((m, r, ct))) for m, r, ct in more]
    raw_cts = to_raw([ct for ct, _ in pairs])
    raw_proofs = to_raw([p for _, p in pairs])
    json_bytes = len(raw_cts) + len(raw_proofs)
    samples = []
    for rep in range(json_reps + 1):
        t0 = time.process_time()
        cts = from_list_raw(ElGamalCiphertext, raw_cts)
        proofs = from_list_raw(DisjunctiveChaumPedersenProof, raw_proofs)
        ok = all(p.is_valid(ct, K, q_bar) for ct, p in zip(cts, proofs))
        dt = (time.process_time() - t0) / n_json
        if not ok:
            raise SystemExit("EG proof from JSON did not verify")
        if rep:
            samples.append(dt)
    results["verify01_from_json"] = summary(samples, n_json)
    results["verify01_from_json"]["json_bytes_per_proof"] = json_bytes / n_json
    log("from-JSON verification done")

    results["meta"] = {
        "electionguard": version("electionguard"), "gmpy2": gmpy2.version(),
        "python": platform.python_version(), "p_bits": int(P).bit_length(), "q_bits": int(Q).bit_length(),
        "reps": reps, "n_json": n_json, "json_reps": json_reps, "quick": args.quick,
        "logging": "as shipped (elgamal_encrypt logs 3 INFO lines through inspect.stack)",
    }
    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump(results, fh, indent=1, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
