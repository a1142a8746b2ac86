"""Joint statistics across organisations: counts, sums, means, variances and histograms by category.

Each organisation aggregates its own records per category (and per histogram bin) and
secret-shares only those aggregates; the parties add them, optionally suppress categories with
fewer than `min_count` records (the comparison runs on shares, so a suppressed category's
figures are never opened), and open the result to `dst`. This is the Boston wage-gap study's
design: no organisation's payroll leaves it, only the joint table is published.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .errors import InputError
from .runtime import current
from .tensor import MPCTensor, _to_numpy


def _local_aggregates(values: Any, categories: Any, levels: Sequence, bins: np.ndarray | None,
                      scale: float) -> np.ndarray:
    """One organisation's table: per level [count, sum, sum of squares, histogram counts...]."""
    v = _to_numpy(values).ravel() / scale
    cats = np.asarray(categories).ravel()
    if v.shape != cats.shape:
        raise InputError(f"{v.size} values but {cats.size} categories")
    if not np.all(np.isfinite(v)):
        raise InputError("values hold NaN or infinite entries")
    unknown = set(cats.tolist()) - set(levels)
    if unknown:
        raise InputError(f"categories {sorted(map(str, unknown))} are not among the levels {list(levels)}")
    nb = 0 if bins is None else len(bins) - 1
    out = np.zeros((len(levels), 3 + nb))
    for i, lev in enumerate(levels):
        x = v[cats == lev]
        out[i, :3] = [x.size, x.sum(), (x * x).sum()]
        if nb:
            out[i, 3:] = np.histogram(x * scale, bins=bins)[0]
    return out


def group_summary(data: dict[int, tuple[Any, Any]], levels: Sequence, bins: Any = None,
                  min_count: int | None = None, dst: int | None = None, scale: float = 1.0) -> dict | None:
    """Joint count, sum, mean, variance (population) and histogram per level, over all sources.

    data: {party: (values, categories)}; each party supplies its own entry (the others' entries,
    if present, are ignored: only the source party's data is ever read). scale: values are divided
    by it before sharing so that sums of squares stay inside the fixed-point range. The result's
    "evidence" holds the signed openings ({"kept", "table"}) that mpc_ml.verify checks.
    """
    rt = current()
    if len(data) < 1:
        raise InputError("no data sources")
    levels = list(levels)
    edges = None if bins is None else np.asarray(bins, dtype=np.float64)
    if edges is not None and (edges.ndim != 1 or len(edges) < 2 or np.any(np.diff(edges) <= 0)):
        raise InputError("bins must be increasing edges (at least two)")
    if min_count is not None and (not isinstance(min_count, int) or min_count < 1):
        raise InputError(f"min_count must be a positive integer, got {min_count!r}")
    for src in data:
        rt.check_party(src, "source")
    if dst is not None:
        rt.check_party(dst, "dst")
    width = 3 + (0 if edges is None else len(edges) - 1)
    total = None
    for src in sorted(data):
        table = None
        if src in rt.local_ids:
            table = _local_aggregates(*data[src], levels, edges, scale)
        share = MPCTensor.from_plain(table if table is not None else np.zeros((len(levels), width)), src)
        total = share if total is None else total + share
    suppressed = np.zeros(len(levels), dtype=bool)
    evidence: dict[str, Any] = {"kept": None}
    if min_count is not None:
        keep = total[:, 0] >= float(min_count)
        total = total * keep.unsqueeze(1)
        opened, evidence["kept"] = keep.get_plain_text_with_evidence(dst)
        if opened is not None:
            suppressed = opened < 0.5
    table, evidence["table"] = total.get_plain_text_with_evidence(dst)
    if table is None:
        return None
    # evidence: the signed openings (mpc_ml.verify) of the kept flags and of the (count, sum, sum of
    # squares, histogram) table, unscaled
    out: dict[str, Any] = {"levels": levels, "count": [], "sum": [], "mean": [], "variance": [],
                           "histogram": [] if edges is not None else None, "suppressed": suppressed.tolist(),
                           "evidence": evidence}
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
        out["variance"].append(float(q / cnt - (s / cnt) ** 2) if cnt else None)
        if edges is not None:
            out["histogram"].append([int(round(h)) for h in table[i, 3:]])
    return out
