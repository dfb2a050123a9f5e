"""Disclosure-risk statistics of the sensitive data (docs/method.md, "Records analysis"): rare and unique combinations
and the records that hold them.

Everything here is computed from exact counts of the sensitive data and belongs in the private output folder. Record
sets are never materialised: a second pass over the records probes the final counts (docs/method.md, "Records
analysis").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from sdsynth._utils.context import RunContext, context
from sdsynth.backends.local import default_threads, run_batches
from sdsynth.count.combinations import CombinationCounts, round_down
from sdsynth.encode.records import Records
from sdsynth.errors import PrivacyParameterError
from sdsynth.kernels.counting import analyse_csr, build_lookup_table
from sdsynth.read.escape import unescape


@dataclass(frozen=True)
class RecordsAnalysis:
    """Records with unique / rare (but not unique) combinations by shortest length, docs/method.md, "Records
    analysis"."""

    resolution: int
    protected: bool
    total_records: int  # denominator: N, or round_down(N, k) when protected
    unique_by_length: list[int]  # index 0 is length 1
    rare_by_length: list[int]

    def to_frame(self) -> pl.DataFrame:
        """The reference's records analysis table (`combo_length, sen_rare, sen_rare_pct, ...`)."""
        t = self.total_records

        def pct(x: int) -> float:
            return 100.0 * x / t if t else 0.0

        rows = []
        for i, (u, r) in enumerate(zip(self.unique_by_length, self.rare_by_length, strict=True)):
            rows.append(
                {
                    "combo_length": i + 1,
                    "sen_rare": r,
                    "sen_rare_pct": pct(r),
                    "sen_unique": u,
                    "sen_unique_pct": pct(u),
                    "sen_risky": u + r,
                    "sen_risky_pct": pct(u + r),
                }
            )
        return pl.DataFrame(rows)

    @property
    def total_unique(self) -> int:
        return sum(self.unique_by_length)

    @property
    def total_rare(self) -> int:
        return sum(self.rare_by_length)

    @property
    def total_risky(self) -> int:
        return self.total_unique + self.total_rare


@dataclass(frozen=True)
class SensitiveStatistics:
    """docs/method.md, "Records analysis" aggregate statistics plus the records analysis (protected and not)."""

    resolution: int
    n_records: int
    by_length: pl.DataFrame  # length, combinations, sum, mean, rare, rare_pct, unique, unique_pct
    pct_rare: float
    pct_unique: float
    records_with_rare: int
    records_with_unique: int
    rare_records_per_attribute: pl.DataFrame  # attribute, rare_records, pct_rare_records
    rare_records_pct_per_column: pl.DataFrame  # column, mean_pct_rare_records
    unique_records_per_column: pl.DataFrame  # column, unique_records
    analysis: RecordsAnalysis
    protected_analysis: RecordsAnalysis

    @property
    def pct_records_with_rare(self) -> float:
        return 100.0 * self.records_with_rare / self.n_records if self.n_records else 0.0

    @property
    def pct_records_with_unique(self) -> float:
        return 100.0 * self.records_with_unique / self.n_records if self.n_records else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "resolution": self.resolution,
            "records": self.n_records,
            "distinct_combinations": int(self.by_length.get_column("combinations").sum()),
            "pct_rare_combinations": self.pct_rare,
            "pct_unique_combinations": self.pct_unique,
            "pct_records_with_rare_combinations": self.pct_records_with_rare,
            "pct_records_with_unique_combinations": self.pct_records_with_unique,
            "unique_identifiable": self.protected_analysis.total_unique,
            "rare_identifiable": self.protected_analysis.total_rare,
            "risky_identifiable": self.protected_analysis.total_risky,
            "risky_identifiable_pct": (
                100.0 * self.protected_analysis.total_risky / self.protected_analysis.total_records
                if self.protected_analysis.total_records
                else 0.0
            ),
        }


def sensitive_statistics(
    records: Records,
    counts: CombinationCounts,
    resolution: int,
    ctx: RunContext | None = None,
) -> SensitiveStatistics:
    """All of docs/method.md, "Records analysis" in one more pass over the records."""
    if resolution < 1:
        raise PrivacyParameterError(f"resolution k must be at least 1, got {resolution}")
    ctx = context(ctx)
    progress = ctx.progress
    attributes = counts.attributes
    R = counts.reporting_length
    n_sources = len(attributes.source_columns)
    source_of = attributes.source_index_of()
    table_keys, table_counts = build_lookup_table(counts.keys, counts.counts)
    n_threads = ctx.threads or default_threads()

    def new_acc() -> dict[str, np.ndarray]:
        return {
            "unique": np.zeros(R + 1, np.int64),
            "rare": np.zeros(R + 1, np.int64),
            "per_attr": np.zeros(attributes.n_attributes, np.int64),
            "per_source": np.zeros(n_sources, np.int64),
            "totals": np.zeros(2, np.int64),
        }

    accs = [new_acc() for _ in range(n_threads)]

    def work(t: int, offsets: np.ndarray, ids: np.ndarray, lo: int, hi: int) -> None:
        a = accs[t]
        analyse_csr(
            offsets,
            ids,
            lo,
            hi,
            R,
            counts.layout.bits,
            counts.layout.slots,
            table_keys,
            table_counts,
            resolution,
            source_of,
            n_sources,
            a["unique"],
            a["rare"],
            a["per_attr"],
            a["per_source"],
            a["totals"],
        )

    with progress.stage("analysing rare records", unit="records") as bar:
        run_batches(records.batches(), n_threads, work, bar.advance)
    acc = {k: sum(a[k] for a in accs) for k in accs[0]}

    n = counts.n_records
    unique = acc["unique"][1:].tolist()
    rare = acc["rare"][1:].tolist()
    analysis = RecordsAnalysis(resolution, False, n, unique, rare)
    protected = RecordsAnalysis(
        resolution,
        True,
        int(round_down(n, resolution)),
        [int(round_down(u, resolution)) for u in unique],
        [int(round_down(r, resolution)) for r in rare],
    )

    lengths = counts.lengths
    by_len = (
        pl.DataFrame({"length": lengths.astype(np.int32), "count": counts.counts})
        .group_by("length")
        .agg(
            pl.len().alias("combinations"),
            pl.col("count").sum().alias("sum"),
            (pl.col("count") < resolution).sum().alias("rare"),
            (pl.col("count") == 1).sum().alias("unique"),
        )
        .sort("length")
        .with_columns(
            (pl.col("sum") / pl.col("combinations")).alias("mean"),
            (100.0 * pl.col("rare") / pl.col("combinations")).alias("rare_pct"),
            (100.0 * pl.col("unique") / pl.col("combinations")).alias("unique_pct"),
        )
    )
    n_comb = counts.n_combinations
    pct_rare = 100.0 * float((counts.counts < resolution).sum()) / n_comb if n_comb else 0.0
    pct_unique = 100.0 * float((counts.counts == 1).sum()) / n_comb if n_comb else 0.0

    single_mask = lengths == 1
    single_counts = np.zeros(attributes.n_attributes, np.int64)
    single_ids = counts.layout.unpack(counts.keys[single_mask], 1)[:, 0]
    single_counts[single_ids] = counts.counts[single_mask]
    has_rare = acc["per_attr"] > 0
    attr_names = _attribute_display_names(counts)
    sources = [unescape(s) for s in attributes.source_columns]
    per_attr = pl.DataFrame(
        {
            "attribute": [attr_names[i] for i in np.flatnonzero(has_rare)],
            "column": [sources[source_of[i]] for i in np.flatnonzero(has_rare)],
            "rare_records": acc["per_attr"][has_rare],
            "pct_rare_records": 100.0 * acc["per_attr"][has_rare] / np.maximum(single_counts[has_rare], 1),
        },
        schema={"attribute": pl.String, "column": pl.String, "rare_records": pl.Int64, "pct_rare_records": pl.Float64},
    )
    per_column = per_attr.group_by("column").agg(pl.col("pct_rare_records").mean().alias("mean_pct_rare_records"))
    unique_per_column = pl.DataFrame(
        {"column": sources, "unique_records": acc["per_source"]},
        schema={"column": pl.String, "unique_records": pl.Int64},
    ).filter(pl.col("unique_records") > 0)
    return SensitiveStatistics(
        resolution=resolution,
        n_records=n,
        by_length=by_len,
        pct_rare=pct_rare,
        pct_unique=pct_unique,
        records_with_rare=int(acc["totals"][0]),
        records_with_unique=int(acc["totals"][1]),
        rare_records_per_attribute=per_attr.sort("attribute"),
        rare_records_pct_per_column=per_column.sort("column"),
        unique_records_per_column=unique_per_column.sort("column"),
        analysis=analysis,
        protected_analysis=protected,
    )


def _attribute_display_names(counts: CombinationCounts) -> list[str]:
    """`column:value` with multi-value parts under their source column (docs/method.md, "Records analysis")."""
    attrs = counts.attributes
    out = []
    for c, v in zip(attrs.column_of.tolist(), attrs.values, strict=True):
        col = attrs.columns[c]
        out.append(
            f"{unescape(col.source)}:{unescape(col.part)}"
            if col.part is not None
            else f"{unescape(col.name)}:{unescape(v)}"
        )
    return out
