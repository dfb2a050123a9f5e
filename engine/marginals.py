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

from .kernels.marginal_counts import Marginals


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


def shared_codes(a: pl.Series, b: pl.Series) -> tuple[np.ndarray, np.ndarray, int]:
    """Two string columns as int32 codes of one sorted dictionary (the union of their values)."""
    categories = pl.concat([a, b]).unique().sort().to_list()
    enum = pl.Enum(categories)
    code_a = a.cast(enum).to_physical().to_numpy().astype(np.int32)
    code_b = b.cast(enum).to_physical().to_numpy().astype(np.int32)
    return code_a, code_b, len(categories)


def category_codes(
    real: pl.DataFrame, synthetic: pl.DataFrame, columns: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Both tables as (columns, rows) int32 category codes sharing one dictionary per column."""
    real_codes = np.empty((len(columns), real.height), dtype=np.int32)
    syn_codes = np.empty((len(columns), synthetic.height), dtype=np.int32)
    sizes = []
    for j, col in enumerate(columns):
        real_codes[j], syn_codes[j], size = shared_codes(real.get_column(col), synthetic.get_column(col))
        sizes.append(size)
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
    missing = [c for c in columns if c not in synthetic.columns]
    if missing:
        raise ValueError(f"synthetic data lacks column(s) {missing}")
    real = canonical_cells(real.select(columns), multi_value)
    synthetic = canonical_cells(synthetic.select(columns), multi_value)
    real_codes, syn_codes, sizes = category_codes(real, synthetic, columns)
    frames = []
    for order in orders:
        combos = list(itertools.combinations(range(len(columns)), order))
        if not combos:
            continue
        tvd = 0.5 * Marginals(real_codes, sizes, combos).l1(syn_codes)
        names = [" × ".join(columns[j] for j in combo) for combo in combos]
        frames.append(pl.DataFrame({"order": [order] * len(combos), "columns": names, "tvd": tvd},
                                   schema={"order": pl.Int32, "columns": pl.String, "tvd": pl.Float64}))  # fmt: skip
    if not frames:
        return pl.DataFrame(schema={"order": pl.Int32, "columns": pl.String, "tvd": pl.Float64})
    return pl.concat(frames)


def mean_tvd_by_order(detail: pl.DataFrame) -> dict[int, float]:
    return {int(o): float(t) for o, t in detail.group_by("order").agg(pl.col("tvd").mean()).sort("order").iter_rows()}
