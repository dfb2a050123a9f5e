"""Evaluation of synthetic data (docs/method.md, "Evaluation") and scores comparable across tools.

SDS metrics compare two sets of combination counts, an *original* (the sensitive data, or the released aggregates
for the public evaluation) and a *target* (the synthetic data re-aggregated), with SDS semantics: an empty cell is
absent, multi-value cells are exploded into parts. Cross-tool scores (k-marginal, marginal TVD, propensity MSE,
unique exact matches) look at the tables as users load them: empty is a category, a multi-value cell is one
category. Every headline number can be recomputed from the detail tables returned alongside.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from sdsynth.count.combinations import _CombinationTable


@dataclass
class CombinationComparison:
    """docs/method.md, "Combination metrics" metrics between an original and a target set of combination counts."""

    resolution: int
    metrics: dict[str, Any]
    by_length: pl.DataFrame
    by_bucket: pl.DataFrame
    detail: pl.DataFrame = field(repr=False)


def preservation_bins(max_count: int) -> list[int]:
    """docs/method.md, "Combination metrics": 10, 20, 40, ... up to the first bin ≥ the largest target count."""
    bins = [10]
    while bins[-1] < max_count:
        bins.append(bins[-1] * 2)
    return bins


def _key_frame(table: _CombinationTable, name: str) -> pl.DataFrame:
    return pl.DataFrame(
        {"combination": table.key_strings(), "length": table.lengths.astype(np.int32), name: table.counts},
        schema={"combination": pl.String, "length": pl.Int32, name: pl.Int64},
    )


def compare_combinations(
    original: _CombinationTable,
    target: _CombinationTable,
    resolution: int,
    original_records: int,
    target_records: int,
) -> CombinationComparison:
    """docs/method.md, "Combination metrics", vectorised over the union of both key sets (matched by their combination
    text, so the two sides may come from different dictionaries, e.g. a release read back and a synthetic file)."""
    joined = (
        _key_frame(original, "original_count")
        .join(_key_frame(target, "target_count"), on=["combination", "length"], how="full", coalesce=True)
        .fill_null(0)
        .sort("length", "combination")
    )
    sen = joined.get_column("original_count").to_numpy()
    syn = joined.get_column("target_count").to_numpy()
    lengths = joined.get_column("length").to_numpy().astype(np.int64)
    key_text = joined.get_column("combination")
    in_s = sen > 0
    in_t = syn > 0
    n_s = int(in_s.sum())
    common = in_s & in_t
    metrics: dict[str, Any] = {
        "original_combinations": n_s,
        "target_combinations": int(in_t.sum()),
        "suppressed_combinations": int((in_s & ~in_t).sum()),
        "fabricated_combinations": int((in_t & ~in_s).sum()),
    }
    metrics["suppressed_pct"] = 100.0 * metrics["suppressed_combinations"] / n_s if n_s else 0.0
    # docs/method.md, "Combination metrics"
    metrics["fabricated_pct"] = 100.0 * metrics["fabricated_combinations"] / n_s if n_s else 0.0
    err = np.abs(sen - syn).astype(np.float64)
    metrics["mean_absolute_error"] = float(err[common].mean()) if common.any() else 0.0
    metrics["original_count_mean"] = float(sen[in_s].mean()) if n_s else 0.0
    metrics["record_expansion_pct"] = 100.0 * (target_records / original_records - 1.0) if original_records else 0.0

    # preservation: original combinations with count ≥ k, plus every target combination
    considered = (in_s & (sen >= resolution)) | in_t
    bins = preservation_bins(int(syn.max()) if in_t.any() else 0)
    bucket = np.asarray(bins)[np.searchsorted(bins, syn)]
    preservation = np.where(sen > 0, np.minimum(syn / np.maximum(sen, 1), 1.0), 0.0)
    proportional = np.where(sen > 0, np.abs(syn - sen) / np.maximum(sen, 1), 1.0)
    leak = in_s & (sen < resolution) & in_t & (syn < resolution)
    R = max(original.reporting_length, target.reporting_length)
    detail = pl.DataFrame(
        {
            "combination": key_text,
            "length": lengths,
            "original_count": sen,
            "target_count": syn,
            "suppressed": in_s & ~in_t,
            "fabricated": in_t & ~in_s,
            "rare_leak": leak,
            "in_preservation": considered,
            "count_bucket": bucket,
            "preservation": preservation,
            "proportional_error": proportional,
        }
    )
    rows_len = []
    for length in range(1, R + 1):
        sel = lengths == length
        c = common & sel
        o = in_s & sel
        kept = considered & sel
        rows_len.append(
            {
                "length": length,
                "original_combinations": int(o.sum()),
                "original_count_mean": float(sen[o].mean()) if o.any() else 0.0,
                "mean_absolute_error": float(err[c].mean()) if c.any() else None,
                "leaks": int((leak & sel).sum()),
                "leak_pct": 100.0 * int((leak & sel).sum()) / int(o.sum()) if o.any() else 0.0,
                "preservation_size": int(kept.sum()),
                "mean_count": float(syn[kept].mean()) if kept.any() else 0.0,
                "count_preservation": float(preservation[kept].mean()) if kept.any() else 0.0,
                "mean_proportional_error": float(proportional[kept].mean()) if kept.any() else 0.0,
            }
        )
    rows_bucket = []
    for b in bins:
        sel = considered & (bucket == b)
        rows_bucket.append(
            {
                "bucket": b,
                "size": int(sel.sum()),
                "mean_count": float(syn[sel].mean()) if sel.any() else 0.0,
                "mean_length": float(lengths[sel].mean()) if sel.any() else 0.0,
                "count_preservation": float(preservation[sel].mean()) if sel.any() else 0.0,
                "mean_proportional_error": float(proportional[sel].mean()) if sel.any() else 0.0,
            }
        )
    by_bucket = pl.DataFrame(rows_bucket)
    # docs/method.md, "Combination metrics"
    metrics["mean_proportional_error"] = float(by_bucket.get_column("mean_proportional_error").mean())
    metrics["leaked_combinations"] = int(leak.sum())
    return CombinationComparison(resolution, metrics, pl.DataFrame(rows_len), by_bucket.sort("bucket", descending=True),
                                 detail)  # fmt: skip
