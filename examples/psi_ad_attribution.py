"""Private ad attribution with PSI-sum: total purchases by people who saw the ad.

The ad platform knows who saw the campaign; the merchant knows who bought and for how much.
The merchant encrypts each amount under the trustees' threshold ElGamal key (made by a DKG) and
signs them; the platform sums the ciphertexts of the matched buyers without learning which they
are; two of three trustees release only the total (once per signed request, and only over at
least 5 buyers), each with a Chaum-Pedersen proof that anyone checks.

    .venv/bin/python examples/psi_ad_attribution.py
"""

from __future__ import annotations

import random

from mpc_ml.psi import PsiSumClient, PsiSumServer, PsiSumResult, decrypt_share, release, verify_sum
from threshold.dkg import CeremonyParams, run_ceremony
from threshold.elgamal import PublicKey
from threshold.groups import get_group


def main() -> None:
    rng = random.Random(3)
    # Key ceremony: 3 trustees (say, an auditor, a regulator, a consumer group), any 2 decrypt.
    group = get_group("ed25519")
    _, trustees = run_ceremony(CeremonyParams(group, n=3, k=2, context=b"campaign-2026-11 attribution"))
    key = PublicKey(group, trustees[0].public_key)

    viewers = [f"user-{i}@example.com" for i in rng.sample(range(5000), 2000)]
    purchases = {f"user-{i}@example.com": rng.randrange(500, 20000) for i in rng.sample(range(5000), 300)}  # cents

    platform = PsiSumServer(viewers)
    merchant = PsiSumClient(purchases, key, max_value=100_000)
    request = merchant.reply(platform.hello().to_bytes()).to_bytes(group)  # bytes over any transport
    record = platform.total(request, key)
    print(f"platform: {record.count} buyers saw the ad (it learns this count, not who)")

    # Each trustee knows the merchant's verify key and the platform's blinding key, and keeps a ledger of the
    # requests it decrypted.
    registered, platforms, ledgers = {merchant.verify_key}, {platform.server_key}, {i: set() for i in range(3)}
    partials = [decrypt_share(record, trustees[i], registered, ledgers[i], server_keys=platforms)
                for i in (0, 2)]  # trustee 2 is away
    result = release(record, partials, trustees[0].verification_keys, quorum=2)  # up to what the values' proofs allow
    published = result.to_json()

    # What any auditor runs, with the trustees' keys taken from the key ceremony's record:
    total = verify_sum(PsiSumResult.from_json(published), trustees[0].public_key, trustees[0].verification_keys, merchant.verify_key,
                       platform.server_key)
    expected = sum(v for u, v in purchases.items() if u in set(viewers))
    assert total == expected
    print(f"attributed revenue: {total / 100:.2f} EUR from {result.count} buyers; proofs verified")


if __name__ == "__main__":
    main()
