"""Medical cohort overlap, size only: how many patients are in both studies?

Two hospitals ask how many patients took part in both trials, to judge whether pooling the
cohorts double-counts anyone. Only the number is revealed: the server sorts its answer so
that a querying hospital running this client cannot tell which of its patients matched (a
semi-honest guarantee: a hospital that changes the client's code can; see mpc_ml.psi).

    .venv/bin/python examples/psi_medical_cohort.py
"""

from __future__ import annotations

import hashlib
import random

from mpc_ml.psi import intersection


def pseudonym(national_id: str) -> str:
    """A shared pseudonymisation both hospitals apply before PSI (the items are just text)."""
    return hashlib.sha256(b"cohort-2026:" + national_id.encode()).hexdigest()


def main() -> None:
    rng = random.Random(5)
    population = [f"{rng.randrange(10**11):011d}" for _ in range(30_000)]
    trial_a = [pseudonym(p) for p in rng.sample(population, 8000)]
    trial_b = [pseudonym(p) for p in rng.sample(population, 6000)]

    overlap = intersection(trial_a, trial_b, reveal="size")
    assert overlap == len(set(trial_a) & set(trial_b))
    print(f"{overlap} patients are in both trials ({len(trial_a)} and {len(trial_b)} enrolled)")


if __name__ == "__main__":
    main()
