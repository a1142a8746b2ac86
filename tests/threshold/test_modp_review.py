"""Adversarial review of commit 5d15cd4 (and the Comb of 29d9399): the native modp multi-exponentiation
(threshold/groups/_modp.c) and the relaxed modp proof checks (commitments without the Jacobi test, equations
accepted up to sign).

The review's seven findings (list mutation through __index__ or another thread crashing multi_exp and products,
exponents read twice, an uninitialised Modulus, the browser refusing signed commitments that the server
accepts, folded membership trusting an unchecked precondition) are fixed and kept here as regression tests;
the other tests show attacks that the code resists. Crashing inputs run in a child interpreter so that a
segfault fails one test, not the run. The C code was also run under ASan+UBSan (a copy built in /tmp, loaded
in place of the tree's .so) with tests/threshold/test_modp_native.py, test_groups.py and a differential fuzzer.
"""

from __future__ import annotations

import gc
import json
import shutil
import subprocess
import sys
import textwrap
import threading
import weakref
from pathlib import Path

import gmpy2
import pytest
from gmpy2 import mpz

from threshold import dkg, hybrid
from threshold.batch import BatchVerifier, check_equations
from threshold.decryption import PartialDecryption, partial_decrypt, verify_partial
from threshold.decryption import _ctx as decryption_ctx
from threshold.elgamal import Ciphertext, PublicKey
from threshold.errors import DecodeError
from threshold.groups import get_group
from threshold.groups._modp import Modulus
from threshold.groups.modp import _NATIVE, COFACTOR, G, P, Q, multi_exp_mod
from threshold.proofs import ChaumPedersenProof, RangeProof, SchnorrProof, challenge

ROOT = Path(__file__).resolve().parents[2]
g = get_group("modp")
CTX = b"modp-review"
SMALL = 2**127 - 1
M521 = 2**521 - 1


def naive(bases, exps, p=P):
    acc = mpz(1)
    for b, e in zip(bases, exps):
        acc = acc * gmpy2.powmod(b, e, p) % p
    return acc


def run_child(code: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter (the tree's extension); a segfault shows as returncode -11."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def order_s_element() -> mpz:
    """z != 1 with z^s = 1, s = (p-1)/(2q): a quadratic residue outside the order-q subgroup."""
    z = gmpy2.powmod(3, 2 * Q, P)
    assert z != 1 and gmpy2.jacobi(z, P) == 1 and gmpy2.powmod(z, Q, P) != 1
    return z


# ============================================================== native multi-exponentiation: answers

EDGE_EXPONENTS = sorted({0, 1, 2, 3, Q - 1, Q, Q + 1, 2**256 - 1, Q * (2**128 - 1), Q * 2**128 + 1}
                        | {(1 << k) + d for k in (4, 5, 6, 7, 8, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 256,
                                                  384, 385, 511, 512, 640, 1024) for d in (-1, 0, 1)})


def _arith_runs(name: str) -> bool:
    try:
        Modulus(int(P), arith=name)
        return True
    except ValueError:
        return False


ARITHS = [name for name in ("openssl", "avx2", "ifma") if _arith_runs(name)]


@pytest.mark.parametrize("count", [1, 2, 15, 16, 17, 23, 24, 25, 33])
def test_native_edge_values_every_method(count):
    """Bases 0, 1, p-1, duplicates; exponents 0, at every window width (Straus w <= 7, Pippenger <= 16) and limb
    boundary, q, q+1 and unreduced q*s; the switches of method 0 at 16 and 24 terms: every method exact, on the
    default arithmetic and on every other this CPU has (forced)."""
    mods = [_NATIVE] + [Modulus(int(P), arith=name) for name in ARITHS]
    special = [0, 1, P - 1, P - 2, G, (P - 1) // 2, 2]
    bases = [special[i % len(special)] if i % 3 else gmpy2.powmod(5, i + 7, P) for i in range(count)]
    if count > 3:
        bases[3] = bases[2]  # the same base twice
    for shift in range(0, len(EDGE_EXPONENTS), 7):
        exps = [EDGE_EXPONENTS[(shift + 5 * i) % len(EDGE_EXPONENTS)] for i in range(count)]
        want = naive(bases, exps)
        for method in (0, 1, 2, 3):
            for m in mods:
                assert m.multi_exp(bases, exps, method) == want, (count, shift, method, m.arith)
        assert multi_exp_mod(list(zip(bases, exps))) == want


def test_native_exponents_of_2_20_bits_and_many_terms():
    """The largest accepted exponent (exactly 2^20 bits, 16384 limbs) in every method, and thousands of mixed-size
    terms through Pippenger's per-window widths (exponent handling does not depend on the modulus size)."""
    m = Modulus(SMALL)
    top = (1 << (1 << 20)) - 1
    bases, exps = [3, 5, 7, 3], [top, 1 << ((1 << 20) - 1), (1 << 20) + 1, 2**64]
    want = naive(bases, exps, SMALL)
    assert [m.multi_exp(bases, exps, method) for method in (0, 1, 2)] == [want] * 3
    with pytest.raises(ValueError, match="2\\^20 bits"):
        m.multi_exp([3], [1 << (1 << 20)])

    import random
    rnd = random.Random(2026)
    n = 4000
    bases = [rnd.randrange(M521) for _ in range(n)]
    exps = [rnd.getrandbits(rnd.choice([1, 7, 64, 65, 128, 256, 384])) for _ in range(n)]
    bases[10], exps[11] = 0, 0
    want = naive(bases, exps, M521)
    assert [Modulus(M521).multi_exp(bases, exps, method) for method in (0, 2)] == [want] * 2
    bases = [gmpy2.powmod(G, i + 1, P) for i in range(300)]
    exps = [Q * rnd.getrandbits(128) if i % 3 == 0 else rnd.getrandbits(256) for i in range(300)]
    want = naive(bases, exps)
    assert _NATIVE.multi_exp(bases, exps) == _NATIVE.multi_exp(bases, exps, 2) == want
    for name in ARITHS:
        m = Modulus(int(P), arith=name)
        assert [m.multi_exp(bases, exps, method) for method in (0, 2, 3)] == [want] * 3, name


def test_native_index_errors_propagate_and_nothing_leaks():
    """__index__ raising (first or second read), int subclasses and mpz; error paths keep every reference
    count and free the converted objects."""
    class Boom:
        def __index__(self):
            raise KeyError("boom")

    class Second:
        calls = 0

        def __index__(self):
            Second.calls += 1
            if Second.calls == 2:
                raise KeyError("second read")
            return 5

    for bases, exps in (([Boom()], [1]), ([2], [Boom()])):
        with pytest.raises(KeyError):
            _NATIVE.multi_exp(bases, exps)
    assert _NATIVE.multi_exp([2], [Second()]) == 2**5 and Second.calls == 1  # each exponent is read once

    class Sub(int):
        pass

    assert _NATIVE.multi_exp([Sub(2), mpz(3)], [Sub(5), mpz(7)]) == 2**5 * 3**7

    class Tracked:
        def __init__(self, v):
            self.v = v

        def __index__(self):
            return self.v

    base, big, comb = 2**4000 + 77, 2**300 + 12345, _NATIVE.comb(3, 4)
    bases, exps = [base] * 17 + [P], [big] * 18
    calls = [
        lambda: _NATIVE.multi_exp(bases, exps),                 # a bad base after every allocation
        lambda: _NATIVE.multi_exp(bases[:17], exps[:17]),       # Pippenger
        lambda: _NATIVE.multi_exp(bases[:3], exps[:3]),         # Straus
        lambda: _NATIVE.multi_exp(bases[:5], exps[:4] + [-1]),
        lambda: _NATIVE.multi_exp(bases[:5], exps[:4] + [Boom()]),
        lambda: _NATIVE.multi_exp(bases[:5], exps[:4]),
        lambda: _NATIVE.products([[(comb, 1), (comb, 2**40)]]),
        lambda: _NATIVE.products([[(comb, 1), (comb, big)], []]),
        lambda: _NATIVE.comb(P, 2),
    ]
    before = [sys.getrefcount(x) for x in (base, big, comb, bases, exps)]
    for call in calls:
        for _ in range(200):
            try:
                call()
            except (ValueError, KeyError, TypeError):
                pass
    refs = []
    for i in range(50):
        t = Tracked(3 + i)
        refs.append(weakref.ref(t))
        _NATIVE.multi_exp([t, t], [t, t])
    del t
    gc.collect()
    assert [sys.getrefcount(x) for x in (base, big, comb, bases, exps)] == before
    assert all(r() is None for r in refs)


def test_native_threads_mixed_calls():
    """multi_exp (both methods), Comb.exp and products from several threads at once (GIL released): exact."""
    bases = [gmpy2.powmod(G, i + 2, P) for i in range(20)]
    exps = [Q * (2**127 + i) for i in range(20)]
    comb = _NATIVE.comb(int(bases[0]), 32)
    want = (naive(bases, exps), naive(bases[:3], exps[:3]), gmpy2.powmod(bases[0], Q - 2, P))
    errors = []

    def work():
        for _ in range(3):
            got = (_NATIVE.multi_exp(bases, exps, 2), _NATIVE.multi_exp(bases[:3], exps[:3], 1), comb.exp(Q - 2))
            prods = _NATIVE.products([[(comb, Q - 3), (comb, 1)], [(comb, 0)]])
            if got != want or prods != [want[2], 1]:
                errors.append(got)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


# ============================================================== native multi-exponentiation: findings

def test_index_shrinking_the_list_does_not_crash():
    for victim in ("bases", "exps"):
        proc = run_child(f"""
            from threshold.groups.modp import _NATIVE
            bases, exps = [], []
            class Evil:
                def __index__(self):
                    {victim}.clear()
                    return 2
            bases[:] = [Evil(), 3, 5] if "{victim}" == "bases" else [2, 3, 5]
            exps[:] = [Evil(), 3, 5] if "{victim}" == "exps" else [1, 1, 1]
            try:
                _NATIVE.multi_exp(bases, exps)
            except Exception:
                pass
            print("survived")
        """)
        assert proc.returncode == 0 and "survived" in proc.stdout, (victim, proc.returncode, proc.stderr[-300:])


def test_exponent_read_once():
    class Flip:
        def __init__(self, *values):
            self.values = list(values)

        def __index__(self):
            return self.values.pop(0) if len(self.values) > 1 else self.values[0]

    outcomes = []
    for first, second in ((1, 2**63), (1, 2)):
        for bases, extra in (([3], []), ([3, 5], [7])):
            try:
                got = _NATIVE.multi_exp(bases, [Flip(first, second)] + extra)
            except MemoryError:
                outcomes.append("MemoryError")
                continue
            candidates = [naive(bases, [v] + extra) for v in (first, second)]
            outcomes.append("ok" if got in candidates else "wrong")
    assert outcomes == ["ok"] * 4, outcomes


def test_products_index_growing_the_list_does_not_overflow():
    proc = run_child("""
        from threshold.groups.modp import _NATIVE
        comb = _NATIVE.comb(3, 2)
        inner = []
        class Evil:
            def __index__(self):
                inner.extend([(comb, 1)] * 2000)
                return 1
        inner.append((comb, Evil()))
        try:
            _NATIVE.products([inner])
        except Exception:
            pass
        print("survived")
    """)
    assert proc.returncode == 0 and "survived" in proc.stdout, (proc.returncode, proc.stderr[-300:])


def test_products_list_grown_by_another_thread_does_not_crash():
    proc = run_child("""
        import threading
        from threshold.groups.modp import _NATIVE
        comb = _NATIVE.comb(3, 32)
        inner = [(comb, 2**256 - 1)] * 2000
        go, done = threading.Event(), threading.Event()
        def grow():
            go.wait()
            while not done.is_set() and len(inner) < 200000:
                inner.append((comb, 1))
        t = threading.Thread(target=grow)
        t.start()
        go.set()
        try:
            _NATIVE.products([inner])
        finally:
            done.set()
            t.join()
        print("survived")
    """)
    assert proc.returncode == 0 and "survived" in proc.stdout, (proc.returncode, proc.stderr[-300:])


def test_uninitialised_modulus_raises():
    for call in ("m.multi_exp([0], [1])", "m.comb(0, 1)"):
        proc = run_child(f"""
            from threshold.groups._modp import Modulus
            m = Modulus.__new__(Modulus)
            try:
                {call}
            except Exception:
                pass
            print("survived")
        """)
        assert proc.returncode == 0 and "survived" in proc.stdout, (call, proc.returncode)


# ============================================================== sign relaxation: attacks that fail

def _schnorr_signed(x: int, X, context: bytes, sign: int = -1, extra=None) -> SchnorrProof:
    """A Schnorr proof whose commitment the prover chose as sign * g^w * extra (hashed as published)."""
    w = g.random_scalar()
    a = g.exp_g(w) * (extra or 1) % P
    if sign < 0:
        a = P - a
    c = challenge(g, SchnorrProof.TAG, context, [g.g, X], [a])
    return SchnorrProof(mpz(a), (w + c * x) % g.q)


def test_negating_a_published_commitment_fails_alone_and_in_batch():
    """The sign is the prover's choice only: flipping a commitment of someone else's Schnorr, Chaum-Pedersen or
    range proof changes its challenge, alone, in a batch and in a batch with folded membership terms."""
    pk = PublicKey(g, g.exp_g(g.random_scalar()))
    x = g.random_scalar()
    X = g.exp_g(x)
    ct, r = pk.encrypt(1)
    sp = SchnorrProof.prove(g, x, CTX)
    cp = ChaumPedersenProof.prove(g, x, g.g, X, ct.alpha, g.exp(ct.alpha, x), CTX)
    rp = RangeProof.prove(pk, ct, 1, r, 1, CTX)
    flipped = {
        "schnorr": (SchnorrProof(P - sp.commitment, sp.response).equations(g, X, CTX)),
        "cp.a": ChaumPedersenProof(P - cp.a, cp.b, cp.response).equations(g, g.g, X, ct.alpha, g.exp(ct.alpha, x), CTX),
        "cp.b": ChaumPedersenProof(cp.a, P - cp.b, cp.response).equations(g, g.g, X, ct.alpha, g.exp(ct.alpha, x), CTX),
        "range.a0": RangeProof((P - rp.a[0], rp.a[1]), rp.b, rp.challenges, rp.responses).equations(pk, ct, CTX),
        "range.b1": RangeProof(rp.a, (rp.b[0], P - rp.b[1]), rp.challenges, rp.responses).equations(pk, ct, CTX),
    }
    tables = {pk.element: pk.table}
    for label, eqs in flipped.items():
        assert not check_equations(g, eqs, tables), label
    batch = BatchVerifier(g, tables)
    batch.add("honest", rp.equations(pk, ct, CTX))
    for label, eqs in flipped.items():
        batch.add(label, eqs)
    reader = g.reader()
    reader.key(g.to_hex(ct.alpha), "alpha")
    reader.key(g.to_hex(ct.beta), "beta")
    assert sorted(batch.verify(reader)) == sorted(flipped)


def test_two_sign_flips_do_not_cancel_in_a_batch():
    """Two flipped proofs (each -1 alone) in one batch: the product's sign would cancel, but their challenges
    changed, so the y-parts do not: both are named."""
    x = g.random_scalar()
    X = g.exp_g(x)
    honest = [SchnorrProof.prove(g, x, CTX) for _ in range(2)]
    batch = BatchVerifier(g)
    for i, p in enumerate(honest):
        batch.add(i, SchnorrProof(P - p.commitment, p.response).equations(g, X, CTX))
    batch.add("signed", _schnorr_signed(x, X, CTX).equations(g, X, CTX))
    assert batch.verify() == [0, 1]


def test_order_s_and_order_2s_commitments_rejected_alone_batched_and_folded():
    """A commitment carrying an order-s part z (with or without the sign), even when the prover hashed it as
    published and knows the witness: the unreduced exponent (1 alone, an odd 128-bit weight batched) keeps z."""
    z = order_s_element()
    x = g.random_scalar()
    X = g.exp_g(x)
    for sign in (1, -1):
        bad = _schnorr_signed(x, X, CTX, sign, extra=z)
        assert gmpy2.jacobi(bad.commitment, P) == sign
        assert not bad.verify(g, X, CTX)
        batch = BatchVerifier(g)
        batch.add("good", _schnorr_signed(x, X, CTX).equations(g, X, CTX))
        batch.add("bad", bad.equations(g, X, CTX))
        batch.add("bad-inverse", _schnorr_signed(x, X, CTX, sign, extra=gmpy2.invert(z, P)).equations(g, X, CTX))
        assert batch.verify() == ["bad", "bad-inverse"]
        reader = g.reader()
        reader.key(g.to_hex(X), "X")
        assert batch.verify(reader) == ["bad", "bad-inverse"]


def test_commitment_identity_up_to_sign():
    """1 and p-1 are refused as Schnorr commitments, Chaum-Pedersen a and range a/b; CP b allows both (its base
    is the identity for an empty tally), and then still proves log equality (alpha = 1 forces the share 1)."""
    x = g.random_scalar()
    X = g.exp_g(x)
    honest = SchnorrProof.prove(g, x, CTX).to_json(g)
    for bad in (1, P - 1):
        with pytest.raises(DecodeError, match="identity"):
            SchnorrProof.from_json(g, {**honest, "commitment": g.to_hex(bad)})
    cp = ChaumPedersenProof.prove(g, x, g.g, X, g.g, X, CTX).to_json(g)
    for bad in (1, P - 1):
        with pytest.raises(DecodeError, match="identity"):
            ChaumPedersenProof.from_json(g, {**cp, "a": g.to_hex(bad)})
        assert ChaumPedersenProof.from_json(g, {**cp, "b": g.to_hex(bad)}).b == bad
    pk = PublicKey(g, g.exp_g(g.random_scalar()))
    ct, r = pk.encrypt(0)
    rp = RangeProof.prove(pk, ct, 0, r, 1, CTX).to_json(g)
    for key in ("a", "b"):
        doc = {**rp, key: [rp[key][0], g.to_hex(P - 1)]}
        with pytest.raises(DecodeError, match="identity"):
            RangeProof.from_json(g, doc, 1)
    # empty tally: alpha = beta = 1, honest share 1 with b = 1; a share != 1 cannot be proven even with b = -1
    empty = Ciphertext(mpz(1), mpz(1))
    partial = partial_decrypt(g, 1, x, [empty], CTX)
    assert verify_partial(g, X, [empty], partial, CTX)
    w = g.random_scalar()
    share = g.exp_g(7)
    a = g.exp_g(w)
    for b in (mpz(1), P - 1):
        c = challenge(g, "decryption", decryption_ctx(CTX, 1, 0), [g.g, X, mpz(1), share], [a, b])
        forged = PartialDecryption(1, (share,), (ChaumPedersenProof(a, b, (w + c * x) % g.q),))
        assert not verify_partial(g, X, [empty], forged, CTX)


def test_negated_statement_elements_refused_by_every_parser():
    """The sign relaxation makes the Jacobi test of statement elements load-bearing: a proof made for -X holds
    up to sign ((-1)^c is accepted), so -X must never reach an equation. Every parser of keys, ciphertexts,
    shares and DKG messages refuses it (and p-1), the folded membership test cannot be reached with it."""
    x = g.random_scalar()
    X = g.exp_g(x)
    minus = P - X
    # what the Jacobi test stands between: a valid-up-to-sign proof for a statement outside the subgroup
    c = None
    while c is None or c % 2 == 0:
        w = g.random_scalar()
        c = challenge(g, SchnorrProof.TAG, CTX, [g.g, minus], [g.exp_g(w)])
    assert SchnorrProof(g.exp_g(w), (w + c * x) % g.q).verify(g, minus, CTX)

    neg = g.to_hex(minus)
    for parse in (lambda h: g.from_hex(h, "k"), lambda h: g.reader().key(h, "k"),
                  lambda h: g.reader().element(h, "k", allow_identity=True),
                  lambda h: g.from_hex_many([(g.to_hex(X), "x"), (h, "k"), (g.to_hex(X), "y")]),
                  lambda h: Ciphertext.from_json(g, {"alpha": g.to_hex(X), "beta": h}),
                  lambda h: Ciphertext.from_json(g, {"alpha": h, "beta": g.to_hex(X)}, reader=g.reader())):
        for bad in (neg, g.to_hex(P - 1)):
            with pytest.raises(DecodeError, match="quadratic residue"):
                parse(bad)

    ct = Ciphertext(g.exp_g(3), g.exp_g(4))
    partial = partial_decrypt(g, 1, x, [ct], CTX).to_json(g)
    with pytest.raises(DecodeError, match="quadratic residue"):
        PartialDecryption.from_json(g, {**partial, "shares": [g.to_hex(P - g.exp(ct.alpha, x))]}, 1)

    params = dkg.CeremonyParams(g, 2, 1, CTX)
    trustees = [dkg.Trustee(params, i) for i in (1, 2)]
    announcements = {t.index: t.announce() for t in trustees}
    ann = announcements[1].to_json(g)
    with pytest.raises(DecodeError, match="quadratic residue"):
        dkg.Announcement.from_json(params, {**ann, "enc_key": g.to_hex(P - announcements[1].enc_key)})
    deal = trustees[0].deal(announcements).to_json(g)
    with pytest.raises(DecodeError, match="quadratic residue"):
        dkg.DealerMessage.from_json(params, {**deal, "commitments": [g.to_hex(P - trustees[0].commitments[0])]})
    share = deal["shares"]["2"]
    with pytest.raises(DecodeError, match="quadratic residue"):
        hybrid.HybridCiphertext.from_json(g, {**share, "ephemeral": g.to_hex(P - g.from_hex(share["ephemeral"]))})


def test_negated_ciphertext_with_sign_carrying_proof_is_refused():
    """A voter's (alpha, -beta) (decryption would give -g^m: no discrete log, the tally is blocked) with 0/1 and
    sum proofs made for it: the equations hold up to sign, so only the parsers stand in the way, and they do
    (the ballot parser reads ciphertexts with ElementReader.key); two such ciphertexts' signs cancel in a tally,
    a fact no batch can see."""
    pk = PublicKey(g, g.exp_g(g.random_scalar()))
    ct, r = pk.encrypt(1)
    neg = Ciphertext(ct.alpha, P - ct.beta)
    # simulate every branch but the true one, exactly as RangeProof.prove does, over the negated statement
    proof = RangeProof.prove(pk, neg, 1, r, 1, CTX)
    assert proof.verify(pk, neg, CTX)  # in process, past every parser: accepted up to sign
    batch = BatchVerifier(g, {pk.element: pk.table})
    batch.add(0, proof.equations(pk, neg, CTX))
    assert batch.verify() == []
    doc = neg.to_json(g)
    for reader in (None, g.reader()):
        with pytest.raises(DecodeError, match="beta: not in the order-q subgroup \\(not a quadratic residue\\)"):
            Ciphertext.from_json(g, doc, "ct", reader)
    from voting.ballot import _ciphertext
    with pytest.raises(DecodeError, match="quadratic residue"):
        _ciphertext(g.reader(), doc, "ballot.contests[0].selections[0]")


def test_non_member_residue_statement_with_compensating_commitments_caught_by_folded_test():
    """A quadratic-residue non-member alpha' = alpha z (Jacobi 1, so its test is owed to the folded batch) in a
    0/1 proof whose simulated branch carries z exactly (a_1 = g^v alpha'^-c_1) and whose real branch is left
    with z^(c_0), with or without a flipped sign: the folded x^(q s) term names alpha before any proof is judged."""
    z = order_s_element()
    pk = PublicKey(g, g.exp_g(g.random_scalar()))
    ct, r = pk.encrypt(0)
    bad = Ciphertext(ct.alpha * z % P, ct.beta)
    for sign in (1, -1):
        w, c1, v1 = g.random_scalar(), g.random_scalar(), g.random_scalar()
        a = [g.exp_g(w), g.exp_g(v1) * gmpy2.powmod(bad.alpha, g.q * COFACTOR - c1, P) % P]
        a[0] = a[0] if sign > 0 else P - a[0]
        b = [pk.exp(w), pk.exp(v1) * gmpy2.powmod(bad.beta * gmpy2.invert(g.g, P) % P, g.q - c1, P) % P]
        c = challenge(g, RangeProof.TAG, CTX, [g.g, pk.element, bad.alpha, bad.beta], a + b, [1])
        c0 = (c - c1) % g.q
        proof = RangeProof(tuple(a), tuple(b), (c0,), ((w + c0 * r) % g.q, v1))
        assert not proof.verify(pk, bad, CTX)
        reader = g.reader()
        parsed = Ciphertext.from_json(g, bad.to_json(g), "ct", reader)
        proof = RangeProof.from_json(g, proof.to_json(g), 1, "proof", reader)
        batch = BatchVerifier(g, {pk.element: pk.table})
        batch.add(0, proof.equations(pk, parsed, CTX))
        with pytest.raises(DecodeError, match="ct.alpha"):
            batch.verify(reader)


def test_folded_membership_only_from_a_reader():
    """Formerly a finding: BatchVerifier.verify took a raw list of owed members, trusting that each had passed
    the Jacobi test, and `accepts` ignores the sign, so -X would have passed the folded test. verify() now
    takes the ElementReader itself: its members passed the reader's parse (-X is refused there), and a reader
    whose folded test failed stays failed."""
    X = g.exp_g(g.random_scalar())
    batch = BatchVerifier(g)
    batch.add(0, SchnorrProof.prove(g, 5, CTX).equations(g, g.exp_g(5), CTX))
    with pytest.raises(AttributeError):
        batch.verify([(P - X, "x"), (X, "y"), (g.exp_g(3), "z")])
    reader = g.reader()
    with pytest.raises(DecodeError, match="x"):
        reader.key(g.to_hex(P - X), "x")
    reader = g.reader()
    reader.key(g.to_hex(X), "y")
    reader.key(g.to_hex(order_s_element()), "z")
    with pytest.raises(DecodeError, match="z"):
        batch.verify(reader)
    with pytest.raises(DecodeError, match="z"):
        batch.verify(reader)  # stays failed
    with pytest.raises(DecodeError, match="z"):
        reader.finish()


# ============================================================== sign relaxation: the browser implementation

def test_browser_and_server_agree_on_signed_commitments(tmp_path):
    node = shutil.which("node")
    if node is None:
        pytest.skip("node not installed")
    shutil.copytree(ROOT / "web" / "static" / "js" / "crypto", tmp_path / "crypto")
    (tmp_path / "package.json").write_text('{"type": "module"}')
    params = dkg.CeremonyParams(g, 2, 1, CTX)
    trustee = dkg.Trustee(params, 1)
    honest = trustee.announce()
    signed = dkg.Announcement(1, trustee.enc_key, _schnorr_signed(trustee.enc_secret, trustee.enc_key,
                                                                   params.ctx("enc-key", 1)))
    docs = {"honest": honest.to_json(g), "signed": signed.to_json(g)}
    python = {k: dkg.Announcement.from_json(params, d).verify(params) for k, d in docs.items()}
    assert python == {"honest": True, "signed": True}
    (tmp_path / "case.json").write_text(json.dumps({"docs": docs, "context": CTX.hex()}))
    (tmp_path / "run.js").write_text(textwrap.dedent("""
        import { readFileSync } from "node:fs";
        import { getGroup } from "./crypto/groups.js";
        import { Announcement, CeremonyParams } from "./crypto/dkg.js";
        const d = JSON.parse(readFileSync(process.argv[2], "utf8"));
        const params = new CeremonyParams(getGroup("modp"), 2, 1, Uint8Array.from(Buffer.from(d.context, "hex")));
        const out = {};
        for (const [k, doc] of Object.entries(d.docs)) {
          try { out[k] = await Announcement.fromJSON(params, doc).verify(params); }
          catch (e) { out[k] = `${e.constructor.name}: ${e.message}`; }
        }
        console.log(JSON.stringify(out));
    """))
    proc = subprocess.run([node, "run.js", "case.json"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    browser = json.loads(proc.stdout)
    assert browser["honest"] is True
    assert browser == python, browser


@pytest.mark.parametrize("n", [16384, 16385])
def test_method_0_on_both_sides_of_16384_terms(n):
    """Past 16384 terms method 0 leaves Bos-Coster for Pippenger on IFMA (and keeps it on OpenSSL): exact either way."""
    bases, x = [], mpz(3)
    for _ in range(n):
        bases.append(x)
        x = x * 3 % P
    exps = [1 + i % 3 for i in range(n)]
    want = mpz(1)
    for b, e in zip(bases, exps):
        want = want * b % P if e == 1 else want * gmpy2.powmod(b, e, P) % P
    assert _NATIVE.multi_exp(bases, exps) == want
