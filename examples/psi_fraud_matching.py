"""Fraud matching across two banks: which of my suspicious accounts has the other bank flagged?

Bank A learns which of its suspects appear on bank B's fraud list, and nothing else about
that list; bank B learns nothing. The messages are plain bytes that the banks exchange over
their own channel (here: files in a shared folder, as a secure file drop would carry them).

    .venv/bin/python examples/psi_fraud_matching.py
"""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

from mpc_ml.psi import PsiClient, PsiServer


def iban(rng: random.Random) -> bytes:
    """A random demo IBAN, as bytes (items may be str or bytes)."""
    return f"DE{rng.randrange(10**20):020d}".encode()


def main() -> None:
    rng = random.Random(11)
    flagged_by_b = [iban(rng) for _ in range(20_000)]
    suspects_of_a = rng.sample(flagged_by_b, 25) + [iban(rng) for _ in range(475)]
    rng.shuffle(suspects_of_a)

    with tempfile.TemporaryDirectory() as drop:
        folder = Path(drop)
        bank_a = PsiClient(suspects_of_a, reveal="items")
        (folder / "request.bin").write_bytes(bank_a.request().to_bytes())  # A -> B

        bank_b = PsiServer(flagged_by_b, reveal="items")
        response = bank_b.respond((folder / "request.bin").read_bytes())
        (folder / "response.bin").write_bytes(response.to_bytes())  # B -> A
        (folder / "setup.bin").write_bytes(bank_b.setup.to_bytes())

        sizes = {p.name: p.stat().st_size for p in folder.iterdir()}
        result = bank_a.finish((folder / "response.bin").read_bytes(), (folder / "setup.bin").read_bytes())

    assert set(result.items) == set(suspects_of_a) & set(flagged_by_b)  # type: ignore[arg-type]
    print(f"bank A: {result.size} of its {len(suspects_of_a)} suspects are on bank B's list")
    print("messages exchanged (bytes):", sizes)


if __name__ == "__main__":
    main()
