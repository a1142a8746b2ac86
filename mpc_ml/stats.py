"""Joint statistics across organisations: counts, sums, means, variances and histograms by category.

Each organisation aggregates its own records per category (and per histogram bin) and
secret-shares only those aggregates; the parties add them, optionally suppress categories with
fewer than `min_count` records (the comparison runs on shares, so a suppressed category's
figures are never opened), and open the result to `dst`. This is the Boston wage-gap study's
design: no organisation's payroll leaves it, only the joint table is published.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any, Sequence

import numpy as np

from .errors import EvidenceError, InputError
from .protocols import arith, functions
from .runtime import current
from .tensor import MPCTensor, _to_numpy

PARAMETER_COLUMNS = 8  # 16-bit pieces of a 128-bit digest of the parameters, appended to every opened row


def _levels(levels: Sequence) -> list[str | int | float | None]:
    """The levels as the Python values JSON gives back: numpy scalars (np.unique's) become str / int / float, so
    that a result published as JSON digests as it did at the parties, and parties holding equal levels built
    differently agree. InputError for a level JSON cannot carry (bytes, tuples, NaN...): it could not be published."""
    out = []
    for level in levels:
        value = level.item() if isinstance(level, np.generic) else level
        if not (value is None or isinstance(value, (str, int)) or isinstance(value, float) and math.isfinite(value)):
            raise InputError(f"level {level!r} is not a string, a finite number or None: levels are published as JSON")
        out.append(value)
    return out


def _parameters(levels: list[str | int | float | None], edges: np.ndarray | None, scale: float,
                min_count: int | None) -> dict[str, Any]:
    """The public parameters that give the opened numbers their meaning (rows, bins, units, suppression); `levels`
    as `_levels` gives them (repr is then one text per value: the digest of a table published before holds)."""
    return {"levels": [repr(lev) for lev in levels], "bins": None if edges is None else [float(e) for e in edges],
            "scale": float(scale), "min_count": min_count}


def _parameter_columns(parameters: dict[str, Any]) -> np.ndarray:
    """The digest of the parameters as PARAMETER_COLUMNS small integers (exact in fixed point)."""
    digest = hashlib.sha256(b"quorum-mpc-group-summary" + repr(sorted(parameters.items())).encode()).digest()
    return np.frombuffer(digest[:2 * PARAMETER_COLUMNS], dtype=">u2").astype(float)


def _with_parameters(rt: Any, share: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """The shared table with the parameters' digest appended to every row as public constants: opened and signed
    with the figures, so that the evidence says which levels, bins, scale and min_count they are of."""
    zero = np.zeros_like(share[..., :1])
    return np.concatenate([share] + [functions.add_public(rt, zero, float(c)) for c in columns], axis=-1)


def _local_aggregates(values: Any, categories: Any, levels: Sequence, bins: np.ndarray | None,
                      scale: float, limit: float) -> np.ndarray:
    """One organisation's table: per level [count, sum, sum of squares, histogram counts...]; the bins are those of
    the values themselves (not of values / scale * scale, which rounding moves across an edge)."""
    raw = _to_numpy(values, "values").ravel()
    v = raw / scale
    cats = np.asarray(categories).ravel()
    if v.shape != cats.shape:
        raise InputError(f"{v.size} values but {cats.size} categories")
    if not np.all(np.isfinite(raw)) or not np.all(np.isfinite(v)):
        raise InputError("values hold NaN or infinite entries")
    unknown = set(cats.tolist()) - set(levels)
    if unknown:
        raise InputError(f"categories {sorted(map(str, unknown))} are not among the levels {list(levels)}")
    nb = 0 if bins is None else len(bins) - 1
    if nb:
        outside = int(np.count_nonzero((raw < bins[0]) | (raw > bins[-1])))
        if outside:
            raise InputError(f"{outside} value(s) lie outside the histogram's bins [{bins[0]:g}, {bins[-1]:g}]: "
                             "widen the first and last edges (they would be left out of every bin)")
    out = np.zeros((len(levels), 3 + nb))
    for i, lev in enumerate(levels):
        x = v[cats == lev]
        out[i, :3] = [x.size, x.sum(), (x * x).sum()]
        if nb:
            out[i, 3:] = np.histogram(raw[cats == lev], bins=bins)[0]
    if out.size and float(np.abs(out).max()) >= limit:
        raise InputError(f"a sum or sum of squares reaches {float(np.abs(out).max()):.6g}, outside the fixed-point "
                         f"range |x| < {limit:g}: pass a larger scale (values are divided by it before sharing)")
    return out


def _check_sources(data: Any) -> None:
    """data must map each source party to its (values, categories) pair."""
    if not isinstance(data, dict) or not data:
        raise InputError("data must be a non-empty dict {party: (values, categories)}")
    for src, entry in data.items():
        if not isinstance(entry, (tuple, list)) or len(entry) != 2:
            raise InputError(f"data[{src!r}] must be a (values, categories) pair, got {type(entry).__name__}")


def group_summary(data: dict[int, tuple[Any, Any]], levels: Sequence, bins: Any = None,
                  min_count: int | None = None, dst: int | None = None, scale: float = 1.0) -> dict | None:
    """Joint count, sum, mean, variance (population) and histogram per level, over all sources.

    data: {party: (values, categories)}; each party supplies its own entry (the others' entries,
    if present, are ignored: only the source party's data is ever read); a party without an entry contributes
    nothing (every party shares a table, zeros if it has no data). levels, bins, scale, min_count and dst must
    be the same at every party (checked before any input is shared). min_count suppresses a category with fewer
    records, or in which the records of the sources other than any one (when there are any) are fewer (so that
    no source padding a category with its own records learns another's few), and in a kept category every
    histogram cell with fewer (None; a suppressed category's figures and
    cells are never opened). scale: values are divided
    by it before sharing so that sums of squares stay inside the fixed-point range. Each source's
    sums are rounded to 2^-f once (f = init's precision), so a sum is within sources * scale * 2^-(f+1)
    and a variance within sources * 2^-(f+1) * (scale^2 + 2 |mean| scale) / count of the plaintext
    figure. Every value must lie inside the histogram's outer edges. The result's
    "evidence" holds the signed openings ({"kept", "table"}) that mpc_ml.verify checks.
    """
    rt = current()
    _check_sources(data)
    levels = _levels(levels)
    if len(set(levels)) != len(levels):
        raise InputError(f"levels must be distinct (a repeated level is counted twice), got {levels}")
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not (np.isfinite(scale) and scale > 0):
        raise InputError(f"scale must be a positive finite number, got {scale!r}")
    edges = None if bins is None else _to_numpy(bins, "bins")
    if edges is not None and (edges.ndim != 1 or len(edges) < 2 or not np.all(np.isfinite(edges))
                              or np.any(np.diff(edges) <= 0)):
        raise InputError("bins must be finite increasing edges (at least two)")
    limit = 2 ** (rt.params.value_bits - 1)  # where the comparison with a count is exact
    if min_count is not None and (not isinstance(min_count, int) or isinstance(min_count, bool)
                                  or not 1 <= min_count <= limit):
        raise InputError(f"min_count must be an integer in 1..{limit}, got {min_count!r}")
    for src in data:
        rt.check_party(src, "source")
    if dst is not None:
        rt.check_party(dst, "dst")
    parameters = _parameters(levels, edges, scale, min_count)
    rt.agree("group_summary", {**parameters, "dst": dst})
    columns = _parameter_columns(parameters)
    width = 3 + (0 if edges is None else len(edges) - 1)
    total, shares = None, []
    for src in range(rt.n):  # every party: one with no entry shares zeros (the parties run one protocol)
        table = None
        if src in rt.local_ids and src in data:
            table = _local_aggregates(*data[src], levels, edges, scale, 2.0 ** rt.params.value_bits)
        share = MPCTensor.from_plain(table if table is not None else np.zeros((len(levels), width)), src)
        shares.append(share)
        total = share if total is None else total + share
    suppressed = np.zeros(len(levels), dtype=bool)
    small = np.zeros((len(levels), width - 3), dtype=bool)
    evidence: dict[str, Any] = {"kept": None}
    if min_count is not None:
        # integer 0/1 shares of "published", per category and per histogram cell (_kept: min_count records, and
        # as many from the others than any one source): the table times them is exact (no truncation error, and no
        # fixed-point range limit on totals that several sources together push past 2^value_bits); a cell below
        # min_count is zeroed like a category
        def counts(t: MPCTensor) -> np.ndarray:
            return np.concatenate([t.share[..., :1], t.share[..., 3:]], axis=-1)

        bits = _kept(rt, counts(total), [counts(share) for share in shares], min_count)
        keep = MPCTensor(_with_parameters(rt, functions.scale_int(rt, bits, 1 << rt.params.frac_bits), columns), rt)
        row = bits[..., :1]
        mask = np.concatenate([np.repeat(row, 3, axis=-1), arith.mul(rt, bits[..., 1:], np.repeat(row, width - 3, axis=-1))],
                              axis=-1) if width > 3 else np.repeat(row, 3, axis=-1)
        total = MPCTensor(arith.mul(rt, total.share, mask), rt)
        opened, evidence["kept"] = keep._open(dst)
        if opened is not None:
            suppressed, small = opened[:, 0] < 0.5, opened[:, 1:-PARAMETER_COLUMNS] < 0.5
    table, evidence["table"] = MPCTensor(_with_parameters(rt, total.share, columns), rt)._open(dst)
    if table is None:
        return None
    # evidence: the signed openings (mpc_ml.verify) of the kept flags and of the (count, sum, sum of
    # squares, histogram) table, unscaled, each row followed by the parameters' digest; `verify` rechecks it all
    return _figures(levels, edges, scale, min_count, table[:, :width], suppressed, small, evidence)


def _kept(rt: Any, total: np.ndarray, sources: list[np.ndarray], min_count: int) -> np.ndarray:
    """Integer 0/1 shares of [total >= m] and, for every source s, [others_s = 0 or others_s >= m], others_s = total -
    source s's count (shares of counts; m = min_count). The second part is the dominance rule: a source that pads a
    category with records of its own cannot bring another source's few records to publication (it would subtract
    its own and learn them); a category of one source's records alone stays publishable. All comparisons in one
    batch, the conjunction in a tree of products."""
    ring, width = rt.ring, total.shape[-1]
    others = [ring.sub(total, c) for c in sources]
    shifted = [functions.add_public(rt, total, -float(min_count))]
    shifted += [functions.add_public(rt, o, -float(min_count)) for o in others]
    shifted += [functions.add_public(rt, o, -1.0) for o in others]
    bits = functions.ge_zero(rt, np.concatenate(shifted, axis=-1))
    n = len(sources)
    at_least = bits[..., width:width * (1 + n)]  # [others_s >= m]
    any_ = bits[..., width * (1 + n):]  # [others_s >= 1]
    one = arith.public(rt, 1, any_.shape[2:])
    allowed = ring.sub(ring.add(one, arith.mul(rt, any_, at_least)), any_)  # 1 - any + any * at_least
    factors = [bits[..., :width]] + [allowed[..., width * s:width * (s + 1)] for s in range(n)]
    while len(factors) > 1:  # one round of products per level of the tree
        pairs = len(factors) // 2
        left = np.concatenate(factors[0:2 * pairs:2], axis=-1)
        right = np.concatenate(factors[1:2 * pairs:2], axis=-1)
        products = arith.mul(rt, left, right)
        factors = [products[..., width * i:width * (i + 1)] for i in range(pairs)] + factors[2 * pairs:]
    return factors[0]


def _figures(levels: list, edges: np.ndarray | None, scale: float, min_count: int | None, table: np.ndarray,
             suppressed: np.ndarray, small: np.ndarray, evidence: dict[str, Any]) -> dict[str, Any]:
    """The published result from the opened table and flags (group_summary and verify compute it alike)."""
    out: dict[str, Any] = {"levels": levels, "bins": None if edges is None else [float(e) for e in edges],
                           "scale": float(scale), "min_count": min_count, "count": [], "sum": [], "mean": [],
                           "variance": [], "histogram": [] if edges is not None else None,
                           "suppressed": suppressed.tolist(), "evidence": evidence}
    for i in range(len(levels)):
        if suppressed[i]:
            for key in ("count", "sum", "mean", "variance"):
                out[key].append(None)
            if edges is not None:
                out["histogram"].append(None)
            continue
        c, s, q = table[i, 0], table[i, 1] * scale, table[i, 2] * scale * scale
        cnt = int(round(c))
        out["count"].append(cnt)
        out["sum"].append(float(s))
        out["mean"].append(float(s / cnt) if cnt else None)
        out["variance"].append(max(0.0, float(q / cnt - (s / cnt) ** 2)) if cnt else None)  # >= 0 despite rounding
        if edges is not None:
            out["histogram"].append([None if small[i, b] else int(round(h)) for b, h in enumerate(table[i, 3:])])
    return out


def verify(result: dict[str, Any], verify_keys: list[bytes] | None = None, session: bytes | None = None) -> dict[str, Any]:
    """Recheck a published group_summary result against its evidence: both openings signed by the parties (keys
    as mpc_ml.verify takes them) in one run, each row carrying the digest of the result's levels, bins, scale and
    min_count, and every published figure recomputed from the opened numbers. Returns the result; EvidenceError
    names what does not hold (swapped levels, another scale, an edited figure)."""
    from .evidence import verify as verify_opening

    try:
        levels, bins, scale, min_count = result["levels"], result["bins"], result["scale"], result["min_count"]
        evidence = result["evidence"]
        edges = None if bins is None else np.asarray(bins, dtype=float)
        columns = _parameter_columns(_parameters(_levels(levels), edges, scale, min_count))
        width = 3 + (0 if edges is None else len(edges) - 1)
        table = verify_opening(evidence["table"], verify_keys=verify_keys, session=session)
        run = evidence["table"]["session"]
        suppressed = np.zeros(len(levels), dtype=bool)
        small = np.zeros((len(levels), width - 3), dtype=bool)
        if min_count is not None:
            if evidence["kept"] is None or evidence["kept"]["session"] != run:
                raise EvidenceError("the kept flags' evidence is missing or of another run")
            kept = verify_opening(evidence["kept"], verify_keys=verify_keys, session=session)
            if kept.shape != (len(levels), width - 2 + PARAMETER_COLUMNS) or not np.array_equal(kept[:, -PARAMETER_COLUMNS:], np.tile(columns, (len(levels), 1))):
                raise EvidenceError("the kept flags are not of these levels, bins, scale and min_count")
            suppressed, small = kept[:, 0] < 0.5, kept[:, 1:-PARAMETER_COLUMNS] < 0.5
        if table.shape != (len(levels), width + PARAMETER_COLUMNS) or not np.array_equal(table[:, width:], np.tile(columns, (len(levels), 1))):
            raise EvidenceError("the table's evidence is not of these levels, bins, scale and min_count")
        again = _figures(list(levels), edges, scale, min_count, table[:, :width], suppressed, small, evidence)
    except (KeyError, TypeError, ValueError) as exc:
        raise EvidenceError(f"not a group_summary result: {exc}") from None
    for key in ("count", "sum", "mean", "variance", "histogram", "suppressed"):
        if again[key] != result[key]:
            raise EvidenceError(f"the published {key} is not what the evidence opens to")
    return result
