"""Session 18 adversarial review of mpc_ml.stats (joint counts, sums, means, variances and histograms across
organisations) and of the evidence of revealed outputs (mpc_ml/evidence.py, mpc_ml/protocols/opening.py).

Not repeated here (covered by tests/mpc_ml/test_mpc_stats_examples.py, test_mpc_verify.py and the earlier review
files): plaintext agreement of group_summary, category suppression, NaN/range refusal, bad party indices, evidence
tampering of shares/label/precision/receivers, session and label binding, mangled evidence JSON, absurd rings and
party counts, torch float32 claimed values.
"""

from __future__ import annotations

import copy
import sys
import warnings

import numpy as np
import pytest

import mpc_ml
from tests.mpc_ml.test_mpc_tcp import _run  # `quorum mpc run ... SCRIPT` with a dedented body as the script


@pytest.fixture
def mpc():
    mpc_ml.init(parties=3)
    yield mpc_ml
    mpc_ml.uninit()


def _summary(mpc, data, levels, **kw):
    return mpc.stats.group_summary(data, levels, **kw)


# ------------------------------------------------------------------ small-count suppression (min_count)


def test_min_count_cannot_be_met_by_one_source_padding_its_own_records(mpc):
    """Failed before (fixed in session 20): min_count is met by records the querying source adds itself: source 1
    (the dst) pads category 'exec' with two records of value 0, so the category of ONE record of source 0 passes
    min_count=3 and its sum (that person's wage, 250000) is published; subtracting its own zeros the attacker learns
    an individual input (mpc_ml/stats.py group_summary compares only the total count with min_count). Fix: keep a
    category only if, for every source, the records of the other sources reach min_count (dominance rule), computed
    on shares like the total"""
    data = {0: (np.array([250000.0, 40000.0, 41000.0, 42000.0]), np.array(["exec", "junior", "junior", "junior"])),
            1: (np.array([0.0, 0.0, 39000.0, 38000.0, 37000.0]),  # the two zeros are padding, not employees
                np.array(["exec", "exec", "junior", "junior", "junior"])),
            2: (np.array([45000.0, 46000.0, 47000.0]), np.array(["junior"] * 3))}
    res = _summary(mpc, data, ["exec", "junior"], min_count=3, dst=1, scale=1000.0)
    assert res["suppressed"][1] is False
    assert res["suppressed"][0] is True, (
        f"category 'exec' (one real record) was published: sum {res['sum'][0]}, which minus the attacker's "
        "padding is source 0's single wage")


def test_min_count_also_suppresses_small_histogram_cells(mpc):
    """Failed before (fixed in session 18): min_count protects categories but not the histogram cells published for
    them: a kept category of 5 records publishes a bin holding 1 record (in the wage-gap example: the one woman
    executive above 120k), which is exactly the small cell min_count exists to suppress (mpc_ml/stats.py
    group_summary applies the kept flag per level only). Fix: with min_count, also compare each histogram cell
    with min_count on shares and open 0 < cell < min_count as suppressed (None), or document that cells are not
    protected"""
    data = {0: (np.array([40.0, 41.0, 42.0, 43.0, 150.0]), np.array(["F"] * 5)),
            1: (np.array([], dtype=float), np.array([], dtype=str))}
    res = _summary(mpc, data, ["F"], bins=[0, 100, 200], min_count=3, dst=0)
    assert res["suppressed"] == [False]
    cells = [h for h in res["histogram"][0] if h is not None]
    assert all(h == 0 or h >= 3 for h in cells), f"histogram cell below min_count=3 published: {res['histogram']}"


def test_min_count_beyond_the_comparison_range_is_refused_or_suppresses(mpc):
    """Failed before (fixed in session 18): a min_count above the comparison range (|x| < 2^31) is accepted and FAILS
    OPEN: with min_count=2**33 a category of 2 records is kept and published, because count - min_count is
    outside the range where functions.ge_zero is exact (mpc_ml/stats.py:84 checks only min_count >= 1). A
    privacy threshold must never turn into 'publish'. Fix: refuse min_count > 2**(value_bits - 1) (or any count
    the sources could not reach) with InputError naming min_count"""
    data = {0: (np.array([1.0, 2.0]), np.array(["a", "a"]))}
    try:
        res = _summary(mpc, data, ["a"], min_count=2 ** 33)
    except mpc_ml.InputError as exc:
        assert "min_count" in str(exc)
        return
    assert res["suppressed"] == [True], f"2 records published under min_count=2**33: {res['count']}"


# ------------------------------------------------------------------ histograms and scale


def test_histogram_uses_the_values_not_a_scale_round_trip(mpc):
    """Failed before (fixed in session 18): histogram bins are computed on values/scale*scale, not on the values: with
    scale=1000 a wage of 1001 on the edge [0, 1001, 5000] becomes 1000.9999999999999 and is counted in the wrong
    bin, and a wage of 2007 on the top edge becomes 2007.0000000000002 and is refused as 'outside the
    histogram's bins' (mpc_ml/stats.py:36 and :45 use v * scale). Fix: keep the raw float values for the bin
    test and np.histogram, divide by scale only for the count/sum/sum-of-squares columns"""
    data = {0: (np.array([1001.0, 3000.0]), np.array(["a", "a"]))}
    res = _summary(mpc, data, ["a"], bins=[0, 1001, 5000], scale=1000.0)
    assert res["histogram"][0] == np.histogram([1001.0, 3000.0], bins=[0, 1001, 5000])[0].tolist() == [0, 2]
    data = {0: (np.array([2007.0]), np.array(["a"]))}
    res = _summary(mpc, data, ["a"], bins=[0, 1000, 2007], scale=1000.0)  # 2007 is on the last (closed) edge
    assert res["histogram"][0] == [0, 1]


# ------------------------------------------------------------------ parties over TCP that disagree


_DISAGREE = """
    import sys, numpy as np, mpc_ml
    mpc_ml.init()
    me = mpc_ml.get_rank()
    say = lambda line: (sys.stdout.write(line.replace("\\n", " ") + "\\n"), sys.stdout.flush())  # one write per line
    kw = dict(levels=["F", "M"], bins=[0, 25, 100], scale=1.0, min_count=None, dst=0)
    kw.update({override} if me == 1 else {{}})
    mine = (np.array([10.0, 20.0, 30.0]), np.array(["F", "M", "M"]))
    data = {{i: (mine if i == me else ([], [])) for i in range(3)}}
    try:
        r = mpc_ml.stats.group_summary(data, **kw)
        say(f"{{'result' if r is not None else 'none'}} {{me}} {{None if r is None else (r['count'], r['sum'], r['histogram'])}}")
    except Exception as exc:
        say(f"{{type(exc).__name__}}: {{exc}}")
    """


@pytest.mark.slow
@pytest.mark.parametrize("override", ['{"levels": ["M", "F"]}', '{"scale": 10.0}', '{"bins": [0, 15, 100]}',
                                      '{"min_count": 1}'])
def test_parties_that_disagree_on_public_parameters_are_told_which(tmp_path, override):
    """Failed before (fixed in session 18): the public parameters of group_summary are never compared across parties:
    an organisation whose script lists the levels in another order, or uses another scale or other bin edges of
    the same count, is summed into the wrong rows/units/bins and the council publishes a wrong table (counts [4,
    5] for [3, 6]) with valid signed evidence, and no party is told (mpc_ml/stats.py group_summary; only shapes
    are compared on input). A different min_count makes the protocols diverge: 'ProtocolError: party 2 sent a
    frame of 184 bytes', blaming a party for a configuration mismatch. Fix: before the first input, agree on a
    hash of (levels, bins, scale, min_count, dst, sorted sources) like the session's start-up agreement, and
    raise InputError naming the differing parameter and party"""
    res = _run(tmp_path, _DISAGREE.format(override=override), "-n", "3", "--timeout", "5", timeout=60)
    name = override.split('"')[1]
    lines = res.stdout.strip().splitlines()
    assert lines, res.stderr
    assert all(name in line and not line.startswith(("result", "none")) for line in lines), lines


@pytest.mark.slow
def test_each_party_passing_only_its_own_data_works_or_is_told_why(tmp_path):
    """Failed before (fixed in session 18): group_summary's docstring says each party supplies its own entry ('the
    others' entries, if present, are ignored'), but a party that passes only {me: (values, categories)} under
    `quorum mpc run` runs another protocol (the loop is over sorted(data)) and the parties fail with
    'ProtocolError: party 1 sent a frame of 137 bytes where this round's is 56': no word about the data argument
    (mpc_ml/stats.py:92). Fix: iterate over every party (an absent source contributes a zero table) or agree on
    the set of sources and raise InputError naming the missing source entries"""
    res = _run(tmp_path, """
        import sys, numpy as np, mpc_ml
        mpc_ml.init()
        me = mpc_ml.get_rank()
        say = lambda line: (sys.stdout.write(line.replace("\\n", " ") + "\\n"), sys.stdout.flush())
        data = {me: (np.array([10.0, 20.0, 30.0]), np.array(["F", "M", "M"]))}
        try:
            r = mpc_ml.stats.group_summary(data, ["F", "M"], dst=0)
            say(f"{'result' if r is not None else 'none'} {me} {None if r is None else r['count']}")
        except Exception as exc:
            say(f"{type(exc).__name__}: {exc}")
        """, "-n", "3", "--timeout", "5", timeout=60)
    lines = sorted(res.stdout.strip().splitlines())
    assert lines, res.stderr
    ok = lines == ["none 1 None", "none 2 None", "result 0 [3, 6]"]
    told = all(("source" in line or "data" in line) and "frame" not in line for line in lines)
    assert ok or told, lines


# ------------------------------------------------------------------ evidence of a published table


def test_a_published_table_can_be_checked_against_its_evidence(mpc):
    """Failed before (fixed in session 18): the evidence of a group_summary result covers a bare numeric table: neither
    the levels, the bins, the scale nor min_count are signed, the result does not even record the scale, and the
    'kept' and 'table' openings are not bound to each other; so a published wage-gap table with the F and M
    labels swapped, or with every sum and mean doubled (claimed scale 2000 for 1000), passes every check its
    evidence allows, and nothing turns the evidence into the published means (DESIGN Contracts: 'every revealed
    output can come with its evidence ... and a verify(...) that checks it'; mpc_ml/stats.py:100-116). Fix: sign
    a digest of (levels, bins, scale, min_count, sources) into both openings' metadata, keep them in the result,
    and add mpc_ml.stats.verify(result, verify_keys=...) that recomputes every figure from the evidence"""
    data = {0: (np.array([50.0, 60.0, 70.0]), np.array(["F", "M", "M"])),
            1: (np.array([55.0, 65.0]), np.array(["F", "M"]))}
    res = _summary(mpc, data, ["F", "M"], bins=[0, 60, 100], min_count=1, dst=0, scale=10.0)
    keys = mpc.party_keys()
    mpc.stats.verify(res, verify_keys=keys)  # the honest result verifies
    swapped = copy.deepcopy(res)
    swapped["levels"] = ["M", "F"]
    doubled = copy.deepcopy(res)
    doubled["sum"] = [2 * s for s in res["sum"]]
    doubled["mean"] = [2 * m for m in res["mean"]]
    for forged in (swapped, doubled):
        with pytest.raises(mpc_ml.EvidenceError):
            mpc.stats.verify(forged, verify_keys=keys)


# ------------------------------------------------------------------ verify(value=...)


@pytest.mark.parametrize("claim", ["f16-inf", "f16-70000", "complex"])
def test_verify_refuses_a_claimed_value_that_is_not_the_output(mpc, claim):
    """Failed before (fixed in session 18): verify(evidence, value=claimed) accepts claimed values that differ from the
    opened one: a float16 claim is compared after casting the true value to float16, so 'inf' (or 70000) is
    accepted for 100000 (both overflow to inf, and allclose(inf, inf) is True), and a complex claim 100000+5j is
    accepted after its imaginary part is dropped with only a ComplexWarning (mpc_ml/evidence.py:186-192). Fix:
    refuse non-finite and non-real claims with EvidenceError, and narrow only to float32 (torch's default) or
    compare in float64 within the claimed dtype's half ulp"""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        claim = {"f16-inf": np.array([np.inf], dtype=np.float16), "f16-70000": np.array([70000.0], dtype=np.float16),
                 "complex": np.array([100000.0 + 5j])}[claim]
    _, ev = mpc.cryptensor(np.array([100000.0])).get_plain_text_with_evidence()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(mpc_ml.EvidenceError):
            mpc.verify(ev, value=claim, verify_keys=mpc.party_keys())


@pytest.mark.parametrize("arg", ["verify_keys", "session"])
def test_verify_keys_and_session_as_hex_strings_work_or_are_named(mpc, arg):
    """Failed before (fixed in session 18): verify() takes verify_keys and session as bytes, but the evidence (and any
    JSON a verifier reads) holds them as hex strings: verify(ev, verify_keys=ev_keys_as_published) or
    session=ev['session'] dies with 'TypeError: string argument without an encoding', naming neither argument
    (mpc_ml/evidence.py:161 and :169). Fix: accept hex strings (bytes.fromhex) or raise EvidenceError/InputError
    naming verify_keys or session and the type expected"""
    _, ev = mpc.cryptensor(np.array([1.0])).get_plain_text_with_evidence()
    kw = {"verify_keys": mpc.party_keys()}
    kw[arg] = ev[arg] if arg == "session" else list(ev["verify_keys"])
    try:
        mpc.verify(ev, **kw)
    except (mpc_ml.EvidenceError, mpc_ml.InputError) as exc:
        assert arg in str(exc)


# ------------------------------------------------------------------ what held (coverage the other tests lack)


def test_suppressed_rows_open_to_exact_zeros_in_the_signed_table(mpc):
    """Held: a suppressed category's figures are zeroed on shares before opening, so the signed table that the
    dst (and anyone it shows the evidence to) can reconstruct holds exact zeros for it, not the hidden figures;
    the kept flags verify too, and an empty source and negative zero are harmless."""
    data = {0: (np.array([-0.0, 5.0, 7.0, 123.0]), np.array(["a", "a", "a", "rare"])),
            1: (np.array([], dtype=float), np.array([], dtype=str))}
    res = _summary(mpc, data, ["a", "rare"], bins=[-1, 10, 200], min_count=2, dst=2)
    assert res["suppressed"] == [False, True] and res["count"] == [3, None]
    keys = mpc.party_keys()
    table = mpc.verify(res["evidence"]["table"], verify_keys=keys)
    kept = mpc.verify(res["evidence"]["kept"], verify_keys=keys)
    assert kept[:, 0].tolist() == [1.0, 0.0]  # per category (then per histogram cell)
    width = 5  # count, sum, sum of squares, two bins; then the parameters' digest (stats.PARAMETER_COLUMNS)
    assert np.all(table[1, :width] == 0.0) and table[0, 0] == 3.0 and table[0, 3:width].tolist() == [3.0, 0.0]
    assert res["evidence"]["table"]["receivers"] == [2]
