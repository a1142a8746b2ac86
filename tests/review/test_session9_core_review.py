"""Session 9 adversarial review of the threshold core: each test names the attack it shows we resist."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from threshold import dkg, elgamal, hybrid, keystore, keystore_browser
from threshold.encoding import encode
from threshold.errors import DecodeError, VerificationError
from threshold.groups import get_group
from threshold.proofs import SchnorrProof, challenge

ED = get_group("ed25519")


class _InterleavingGroup:
    """ed25519 under another name (its own baby-step table) whose `mul` runs `hook` once, on the first call from
    the thread that armed it: a deterministic stand-in for a thread switch inside the table's growth."""

    name = "ed25519-interleaved"

    def __init__(self) -> None:
        self.hook: Any = None
        self.armed_by: threading.Thread | None = None

    def __getattr__(self, attr: str) -> Any:
        return getattr(ED, attr)

    def mul(self, a: Any, b: Any) -> Any:
        if self.hook is not None and threading.current_thread() is self.armed_by:
            hook, self.hook = self.hook, None
            hook()
        return ED.mul(a, b)


def test_baby_step_table_grown_by_two_threads_stays_exact() -> None:
    """A second decryption growing the shared baby-step table while the first is between computing g^j and
    storing it used to file g^j under another j: every later decryption meeting that entry returned a wrong
    plaintext (web: tallies combined in concurrent requests). The growth is now serialized."""
    group = _InterleavingGroup()
    elgamal._BABY.pop(group.name, None)
    other: list[int] = []
    second = threading.Thread(target=lambda: other.append(elgamal.discrete_log(group, ED.exp_g(500), 40000)))

    def switch() -> None:
        second.start()
        second.join(timeout=1.0)  # without serialization the second growth runs to its end here

    group.hook, group.armed_by = switch, threading.current_thread()
    try:
        first = elgamal.discrete_log(group, ED.exp_g(20), 400)
        second.join()
        baby = elgamal._BABY[group.name]
        wrong = [j for x, j in baby.table.items() if ED.exp_g(j) != x]
        assert (first, other, wrong, len(baby.table)) == (20, [500], [], baby.size)
        assert [elgamal.discrete_log(group, ED.exp_g(m), 40000) for m in range(0, 40000, 97)] == list(range(0, 40000, 97))
    finally:
        elgamal._BABY.pop(group.name, None)


@pytest.mark.parametrize("key", ["nonce", "ciphertext"])
def test_browser_backup_hex_has_one_spelling(key: str) -> None:
    """Non-injective encodings (ATTACKS.md row 8): the browser backup parser took hex with spaces between bytes
    ('66 50 ee ...'), a second spelling of the same document; it now reads hex as every other parser does."""
    doc = keystore_browser.seal({"secret": "ab" * 32}, "pass phrase")
    spaced = {**doc, key: doc[key][:2] + " " + doc[key][2:]}
    with pytest.raises(DecodeError) as err:
        keystore_browser.unseal(spaced, "pass phrase")
    assert err.value.field == f"secret file.{key}"


def test_secret_file_nested_too_deep_is_a_decode_error(tmp_path: Path) -> None:
    """Security rule 4: a secret file of 100,000 nested '[' made keystore.load raise RecursionError, outside
    the project's errors; it is now a DecodeError naming the file."""
    path = tmp_path / "trustee.json"
    path.write_text("[" * 100_000)
    with pytest.raises(DecodeError) as err:
        keystore.load(path, "pass phrase")
    assert err.value.field == "secret file"


def test_negated_modp_encryption_key_cannot_frame_an_honest_dealer() -> None:
    """DKG framing (ATTACKS.md rows 4 and 10), without relying on the parser: trustee 2 announces p - E (outside
    the subgroup) with a proof made honestly over it, which holds up to the sign modp's `accepts` ignores. A dealer
    encrypting to it uses (p - E)^r = (-1)^r E^r, so for odd r its share does not open from the complaint's
    S = R^e and qualify disqualified the honest dealer. The announcement is now refused by deal and by qualify."""
    g = get_group("modp")
    params = dkg.CeremonyParams(g, 3, 2, b"session9-negated-key")
    trustees = [dkg.Trustee(params, i) for i in (1, 2, 3)]
    announcements = {t.index: t.announce() for t in trustees}
    t2 = trustees[1]
    negated = g.p - t2.enc_key
    w = g.random_scalar()
    a = g.exp_g(w)
    c = challenge(g, SchnorrProof.TAG, params.ctx("enc-key", 2), [g.g, negated], [a])
    announcements[2] = dkg.Announcement(2, negated, SchnorrProof(a, (w + c * t2.enc_secret) % g.q))
    assert announcements[2].verify(params)  # the proof alone cannot tell
    with pytest.raises(VerificationError, match="trustee 2"):
        trustees[0].deal(announcements)
    honest = {t.index: t.deal({**announcements, 2: t2.announce()}) for t in trustees}
    with pytest.raises(VerificationError, match="trustee 2"):
        dkg.qualify(params, announcements, honest, [])


def test_trustee_reveals_no_kem_secret_for_a_non_member_ephemeral() -> None:
    """Small-subgroup leak (ATTACKS.md row 5), without relying on the parser: dealer 1 sends trustee 2 a share
    under the ephemeral p - g^r with a knowledge proof made over it (it holds up to sign). Trustee 2 found the
    share wrong and complained with S = (p - g^r)^e = (-1)^e R^e, publishing e mod 2 of its encryption key; a
    non-member ephemeral is a public fault (qualify disqualifies the dealer), so no complaint reveals S now."""
    g = get_group("modp")
    params = dkg.CeremonyParams(g, 3, 2, b"session9-negated-ephemeral")
    trustees = [dkg.Trustee(params, i) for i in (1, 2, 3)]
    announcements = {t.index: t.announce() for t in trustees}
    messages = {t.index: t.deal(announcements) for t in trustees}
    r = g.random_scalar()
    negated = g.p - g.exp_g(r)
    w = g.random_scalar()
    a = g.exp_g(w)
    ctx = encode("quorum-hybrid-ephemeral", g.name, params.ctx("dkg-share", 1, 2))
    proof = SchnorrProof(a, (w + challenge(g, SchnorrProof.TAG, ctx, [g.g, negated], [a]) * r) % g.q)
    forged = hybrid.HybridCiphertext(negated, proof, bytes(12 + 64 + 16))
    messages[1] = trustees[0].sign_deal({**messages[1].shares, 2: forged})
    assert forged.ephemeral_valid(g, params.ctx("dkg-share", 1, 2))  # the proof alone cannot tell
    assert trustees[1].check_shares(messages) == []
    assert dkg.qualify(params, announcements, messages, []).disqualified[1].startswith("share ciphertext to trustee 2")
