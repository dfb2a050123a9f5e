"""Total variation distance between k-way marginals of two tables, on the tables as users load them.

Each column is a categorical variable whose categories are its cell texts: an empty cell is a category of its own and
a multi-value cell ("Female;Male") is one opaque category. This is how tools other than SDS see the data, so scores
are comparable across tools. Multi-value cells are first written canonically (parts trimmed, deduplicated, sorted,
joined by the delimiter), so "Male; Female" and "Female;Male" are the same category in both tables. For every set of
k columns, TVD = ½·Σ|p − q| over the joint cells.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import polars as pl

from sdsynth.evaluation.profile import TableProfile, category_codes


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
    real_codes, syn_codes, sizes, _ = category_codes(real, synthetic, columns)
    orders = tuple(orders)
    hint = max(real.height, synthetic.height)  # both profiles count each column set alike
    return tvd_from_profiles(
        TableProfile(sizes, orders, rows_hint=hint).add(real_codes),
        TableProfile(sizes, orders, rows_hint=hint).add(syn_codes),
        columns,
    )


def tvd_from_profiles(real: TableProfile, synthetic: TableProfile, names: Sequence[str]) -> pl.DataFrame:
    """The TVD of every column set both profiles counted (same dictionaries)."""
    frames = []
    for order, hist in real.histograms.items():
        tvd = 0.5 * hist.l1(synthetic.histograms[order])
        labels = [" × ".join(names[j] for j in combo) for combo in hist.combos.tolist()]
        frames.append(pl.DataFrame({"order": [order] * len(labels), "columns": labels, "tvd": tvd},
                                   schema=_TVD_SCHEMA))  # fmt: skip
    return pl.concat(frames) if frames else pl.DataFrame(schema=_TVD_SCHEMA)


_TVD_SCHEMA = {"order": pl.Int32, "columns": pl.String, "tvd": pl.Float64}


def mean_tvd_by_order(detail: pl.DataFrame) -> dict[int, float]:
    return {int(o): float(t) for o, t in detail.group_by("order").agg(pl.col("tvd").mean()).sort("order").iter_rows()}
