"""Total variation distance between k-way marginals of two tables, on the tables as users load them.

Each column is a categorical variable whose categories are its cell texts: an empty cell is a category of its own and
a multi-value cell ("Female;Male") is one opaque category. This is how tools other than SDS see the data, so scores
are comparable across tools. Multi-value cells are first written canonically (parts trimmed, deduplicated, sorted,
joined by the delimiter), so "Male; Female" and "Female;Male" are the same category in both tables. For every set of
k columns, TVD = ½·Σ|p − q| over the joint cells.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import polars as pl


def canonical_cells(frame: pl.DataFrame, multi_value: Mapping[str, str] | None) -> pl.DataFrame:
    """Strings with nulls as "" and multi-value cells in canonical form (see the module docstring)."""
    exprs = []
    for col in frame.columns:
        e = pl.col(col).cast(pl.String).fill_null("")
        delim = (multi_value or {}).get(col)
        if delim:
            e = (
                e.str.split(delim)
                .list.eval(pl.element().str.strip_chars().filter(pl.element() != ""))
                .list.unique()
                .list.sort()
                .list.join(delim)
            )
        exprs.append(e.alias(col))
    return frame.select(exprs)


def _codes(
    real: pl.DataFrame, synthetic: pl.DataFrame, columns: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Both tables as (n, columns) category codes sharing one dictionary per column."""
    real_codes = np.empty((real.height, len(columns)), dtype=np.int64)
    syn_codes = np.empty((synthetic.height, len(columns)), dtype=np.int64)
    sizes = []
    for j, col in enumerate(columns):
        a = real.get_column(col)
        b = synthetic.get_column(col)
        categories = pl.concat([a, b]).unique().sort()
        mapping = dict(zip(categories.to_list(), range(len(categories)), strict=True))
        real_codes[:, j] = a.replace_strict(mapping, return_dtype=pl.Int64).to_numpy()
        syn_codes[:, j] = b.replace_strict(mapping, return_dtype=pl.Int64).to_numpy()
        sizes.append(len(categories))
    return real_codes, syn_codes, sizes


def marginal_tvd(
    real: pl.DataFrame,
    synthetic: pl.DataFrame,
    orders: Iterable[int] = (1, 2, 3),
    columns: Sequence[str] | None = None,
    multi_value: Mapping[str, str] | None = None,
) -> pl.DataFrame:
    """One row per column set: order, columns (joined by ' × '), tvd. `multi_value`: {column: delimiter}."""
    columns = list(columns or real.columns)
    real = canonical_cells(real.select(columns), multi_value)
    synthetic = canonical_cells(synthetic.select([c for c in columns if c in synthetic.columns]), multi_value)
    missing = [c for c in columns if c not in synthetic.columns]
    if missing:
        raise ValueError(f"synthetic data lacks column(s) {missing}")
    real_codes, syn_codes, sizes = _codes(real, synthetic, columns)
    rows = []
    n_real, n_syn = max(real.height, 1), max(synthetic.height, 1)
    for order in orders:
        for combo in itertools.combinations(range(len(columns)), order):
            dims = [sizes[j] for j in combo]
            cells = int(np.prod(dims))
            a = np.ravel_multi_index(tuple(real_codes[:, j] for j in combo), dims) if real.height else np.zeros(0, int)
            b = (
                np.ravel_multi_index(tuple(syn_codes[:, j] for j in combo), dims)
                if synthetic.height
                else np.zeros(0, int)
            )
            if cells <= 4 * (len(a) + len(b)) + 1024:
                p = np.bincount(a, minlength=cells) / n_real
                q = np.bincount(b, minlength=cells) / n_syn
                tvd = 0.5 * float(np.abs(p - q).sum())
            else:  # sparse joint domain: compare only the cells that occur
                ua, ca = np.unique(a, return_counts=True)
                ub, cb = np.unique(b, return_counts=True)
                keys = np.union1d(ua, ub)
                p = np.zeros(len(keys))
                q = np.zeros(len(keys))
                p[np.searchsorted(keys, ua)] = ca / n_real
                q[np.searchsorted(keys, ub)] = cb / n_syn
                tvd = 0.5 * float(np.abs(p - q).sum())
            rows.append({"order": order, "columns": " × ".join(columns[j] for j in combo), "tvd": tvd})
    return pl.DataFrame(rows, schema={"order": pl.Int32, "columns": pl.String, "tvd": pl.Float64})


def mean_tvd_by_order(detail: pl.DataFrame) -> dict[int, float]:
    return {int(o): float(t) for o, t in detail.group_by("order").agg(pl.col("tvd").mean()).sort("order").iter_rows()}
