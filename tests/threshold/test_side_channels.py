"""ATTACKS row 19 (side channels in trustee secret operations): the trustee's share x_i reaches only the
constant-time paths (modp: the native fixed-window `ct_exp`; ed25519: the native constant-time ladder), never a variable-time
exponentiation nor the generator's table (whose running time varies with the exponent's zero bytes in modp); and the timing-variance measurement of benchmarks/timing_variance.py runs (its figures are in
BENCHMARKS.md: timings are measured there, never asserted in a test)."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import gmpy2

from threshold import hybrid
from threshold.decryption import partial_decrypt
from threshold.elgamal import PublicKey
from threshold.groups import get_group
from threshold.groups import ed25519 as ed_module
from threshold.groups import modp as modp_module

ROOT = Path(__file__).resolve().parents[2]


class _NativeSpy:
    """The modp group's native arithmetic, recording the exponents of its constant-time and variable-time paths."""

    def __init__(self, inner) -> None:
        self.inner, self.secure, self.leaky = inner, [], []

    def ct_exp(self, base, e, nbytes):
        self.secure.append(int(e))
        return self.inner.ct_exp(base, e, nbytes)

    def multi_exp(self, bases, exponents, *method):
        self.leaky.extend(int(e) for e in exponents)
        return self.inner.multi_exp(bases, exponents, *method)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_modp_trustee_secret_goes_through_the_constant_time_exponentiation_only(monkeypatch):
    g = get_group("modp")
    x = g.random_scalar()
    pk = PublicKey(g, g.exp_g(x))
    ct, _ = pk.encrypt(3)
    hct = hybrid.encrypt(g, pk.element, b"share", b"aad")
    spy = _NativeSpy(modp_module._NATIVE)
    monkeypatch.setattr(modp_module, "_NATIVE", spy)
    leaky = []
    powmod = gmpy2.powmod
    monkeypatch.setattr(modp_module.gmpy2, "powmod", lambda b, e, m: leaky.append(int(e)) or powmod(b, e, m))
    partial_decrypt(g, 1, x, [ct], b"ctx")
    assert hybrid.decrypt(g, x, hct, b"aad") == b"share"
    assert spy.secure.count(x) == 3  # g^x (the verification key for the proof), alpha^x, the KEM secret R^x
    assert x not in spy.leaky and x not in leaky


def test_ed25519_trustee_secret_goes_through_the_constant_time_ladder(monkeypatch):
    g = get_group("ed25519")
    x = g.random_scalar()
    pk = PublicKey(g, g.exp_g(x))
    ct, _ = pk.encrypt(3)
    ladder, variable = [], []
    native = ed_module.native
    scalarmult, multi_exp, torsion = native.scalarmult, native.multi_exp, native.multi_exp_torsion
    monkeypatch.setattr(native, "scalarmult", lambda p, e: ladder.append(e) or scalarmult(p, e))
    monkeypatch.setattr(native, "multi_exp", lambda ps, es: variable.extend(es) or multi_exp(ps, es))
    monkeypatch.setattr(native, "multi_exp_torsion", lambda ps, es: variable.extend(es) or torsion(ps, es))
    partial_decrypt(g, 1, x, [ct], b"ctx")
    assert ladder.count(x) == 2 and x not in variable  # g^x and alpha^x


def test_timing_variance_measurement_runs(monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))  # the script puts benchmarks/ first (its mpc_ml.py would shadow ours)
    spec = importlib.util.spec_from_file_location("timing_variance", ROOT / "benchmarks" / "timing_variance.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name in ("modp", "ed25519"):
        for operation in module.OPERATIONS:
            sparse, dense, t = module.measure(name, operation, 8)
            assert sparse > 0 and dense > 0 and math.isfinite(t)
