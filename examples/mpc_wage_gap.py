"""Wage-gap study across organisations (after the Boston Women's Workforce Council).

Each employer (one per party; at least 3) holds its payroll (wage, gender, job level). Only
per-category aggregates are secret-shared; the parties add them, suppress categories with fewer
than 10 employees, and open the joint table to the council (party 0).
Run in one process:            python examples/mpc_wage_gap.py
Run as 3 processes over TCP:   quorum mpc run -n 3 examples/mpc_wage_gap.py
"""

import numpy as np

import mpc_ml

mpc_ml.init()
n_parties = mpc_ml.get_world_size()
levels = [f"{g}/{lvl}" for g in ("F", "M") for lvl in ("junior", "senior", "executive")]


def payroll(employer: int) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic payroll of one employer (in a deployment: read from that employer's HR system)."""
    rng = np.random.default_rng(100 + employer)
    n = 150 + 60 * employer
    gender = rng.choice(["F", "M"], n)
    level = rng.choice(["junior", "senior", "executive"], n, p=[0.62, 0.35, 0.03])
    wage = rng.normal(52000, 9000, n) * np.where(level == "senior", 1.5, np.where(level == "executive", 3.0, 1.0))
    wage *= np.where(gender == "M", 1.07, 1.0)
    return wage, np.char.add(np.char.add(gender, "/"), level)


# party i supplies employer i's aggregates; only the source party's entry is ever read
sources = {i: payroll(i) for i in range(n_parties)}
table = mpc_ml.stats.group_summary(sources, levels, bins=[0, 40e3, 60e3, 80e3, 120e3, 1e7],
                                   min_count=10, dst=0, scale=1000.0)
if table is not None:
    print(f"{'category':18} {'count':>6} {'mean wage':>11} {'std dev':>9}  histogram")
    for i, lvl in enumerate(table["levels"]):
        if table["suppressed"][i]:
            print(f"{lvl:18} (suppressed: under 10 records, or under 10 besides one employer's)")
            continue
        print(f"{lvl:18} {table['count'][i]:6d} {table['mean'][i]:11.0f} {np.sqrt(table['variance'][i]):9.0f}  "
              f"{table['histogram'][i]}")
    for lvl in ("junior", "senior"):
        f, m = table["mean"][levels.index(f"F/{lvl}")], table["mean"][levels.index(f"M/{lvl}")]
        print(f"gap at {lvl} level: women earn {100 * f / m:.1f}% of men's mean wage")
    # anyone given the table, its evidence and the parties' keys rechecks every figure
    mpc_ml.stats.verify(table, verify_keys=mpc_ml.party_keys())
    print("the published table verifies against the parties' signed openings")
