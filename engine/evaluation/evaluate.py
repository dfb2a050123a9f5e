"""Evaluating a synthetic table: against the sensitive data (private) or against the released aggregates (public).

`evaluate_private` reads both tables with one shared attribute dictionary and computes every metric of docs/method.md,
"Evaluation" and the cross-tool scores; everything it returns is a function of the sensitive data and belongs in the
private folder. `evaluate_public` compares the synthetic data with the released aggregates only: no sensitive input, so
in DP mode it is post-processing and may be published.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from sdsynth._utils.context import RunContext, context
from sdsynth.count.analysis import SensitiveStatistics, sensitive_statistics
from sdsynth.count.combinations import CombinationCounts, count_combinations
from sdsynth.encode.records import EncodedData, Records
from sdsynth.encode.tables import encode_together
from sdsynth.errors import InputError
from sdsynth.evaluation.marginals import mean_tvd_by_order, tvd_from_profiles
from sdsynth.evaluation.metrics import CombinationComparison, compare_combinations
from sdsynth.evaluation.profile import SourceColumns, encoded_profile
from sdsynth.evaluation.scores import SUBSAMPLE_FRACTIONS, cross_tool_scores_from_profiles, kmarginal_bins
from sdsynth.protect.aggregates import Aggregates
from sdsynth.read.escape import unescape
from sdsynth.read.options import IngestOptions
from sdsynth.read.plan import open_and_plan
from sdsynth.read.sources import open_table
from sdsynth.schema.model import Schema, cmp_key


@dataclass
class Evaluation:
    """What a report shows. `private` says whether it was computed from the sensitive data."""

    private: bool
    summary: dict[str, Any]
    sds: CombinationComparison
    single_attributes: pl.DataFrame  # column, value, original, synthetic
    tvd: pl.DataFrame | None = None
    k_marginal_pairs: pl.DataFrame | None = None
    subsample: pl.DataFrame | None = None
    records_analysis: pl.DataFrame | None = None
    privacy: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def detail_tables(self) -> dict[str, pl.DataFrame]:
        tables = {
            "combinations": self.sds.detail,
            "by_length": self.sds.by_length,
            "by_count_bucket": self.sds.by_bucket,
            "single_attributes": self.single_attributes,
        }
        for name, frame in (
            ("marginals_tvd", self.tvd),
            ("k_marginal_pairs", self.k_marginal_pairs),
            ("subsample_baseline", self.subsample),
            ("records_analysis", self.records_analysis),
        ):
            if frame is not None:
                tables[name] = frame
        return tables

    def to_json(self) -> str:
        return json.dumps(
            {"private": self.private, "summary": self.summary, "privacy": self.privacy, "warnings": self.warnings},
            indent=2,
            default=_json_default,
        )


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def synthetic_side_options(options: IngestOptions, synthetic: Any = None) -> IngestOptions:
    """How to read a synthetic table: there is no subject id and the record limit does not apply; a numeric column
    of the schema that holds its bin labels (a release made with the schema) is read as those labels, one that holds
    numbers (a release made without it, another tool) is binned as the sensitive table is."""
    schema = options.schema
    if schema is not None and any(c.kind == "numeric" for c in schema.columns):
        labelled = _labelled_columns(synthetic, schema) if synthetic is not None else None
        columns = [
            replace(c, kind="categorical", bins=None, values=c.bins.labels if c.bins else None)
            if c.kind == "numeric" and (labelled is None or cmp_key(c.name) in labelled)
            else c
            for c in schema.columns
        ]
        schema = Schema(columns=tuple(columns), name=schema.name, missing_values=schema.missing_values)
    return replace(options, schema=schema, subject_id="", record_limit=0)


def _labelled_columns(synthetic: Any, schema: Schema) -> set[str]:
    """The numeric columns of `schema` whose cells, in the synthetic table's first batch, are all bin labels."""
    source = open_table(synthetic)
    batch = next(iter(source.iter_batches()), None)
    if batch is None:
        return {cmp_key(c.name) for c in schema.columns if c.kind == "numeric"}
    frame = pl.from_arrow(batch)
    assert isinstance(frame, pl.DataFrame)
    labelled = set()
    for name in frame.columns:
        spec = schema.column(name)
        if spec is None or spec.kind != "numeric" or spec.bins is None:
            continue
        cells = set(frame.get_column(name).cast(pl.String).str.strip_chars().drop_nulls().to_list()) - {""}
        if cells <= set(spec.bins.labels) | set(schema.missing_values) | set(spec.missing_values):
            labelled.add(cmp_key(name))
    return labelled


def _single_attributes(original: Any, synthetic: Any) -> pl.DataFrame:
    """Per single attribute (multi-value parts under their source column): original and synthetic counts."""
    names: dict[str, tuple[str, str]] = {}
    for table in (original, synthetic):
        attrs = table.attributes
        for label, c, v in zip(attrs.labels, attrs.column_of.tolist(), attrs.values, strict=True):
            col = attrs.columns[c]
            names[label] = (unescape(col.source), unescape(col.part if col.part is not None else v))
    a, b = original.as_dict_single(), synthetic.as_dict_single()
    rows = [
        {"column": names[k][0], "value": names[k][1], "original": a.get(k, 0), "synthetic": b.get(k, 0)}
        for k in sorted(set(a) | set(b))
    ]
    return pl.DataFrame(rows, schema={"column": pl.String, "value": pl.String, "original": pl.Int64,
                                      "synthetic": pl.Int64})  # fmt: skip


def _quality_warnings(summary: dict[str, Any]) -> list[str]:
    out = []
    if summary.get("mean_tvd_1") is not None and summary["mean_tvd_1"] > 0.1:
        out.append(f"single-column distributions differ noticeably (mean TVD {summary['mean_tvd_1']:.3f} > 0.1)")
    if summary.get("mean_tvd_2") is not None and summary["mean_tvd_2"] > 0.25:
        out.append(f"pairs of columns differ noticeably (mean 2-way TVD {summary['mean_tvd_2']:.3f} > 0.25)")
    if summary.get("suppressed_pct", 0) > 50:
        out.append(
            f"{summary['suppressed_pct']:.0f} % of the original combinations are missing from the synthetic data"
        )
    if summary.get("fabricated_pct", 0) > 10:
        out.append(f"{summary['fabricated_pct']:.0f} % fabricated combinations (relative to the original ones)")
    if summary.get("leaked_combinations", 0) > 0:
        out.append(f"{summary['leaked_combinations']} rare combinations appear rare in the synthetic data too")
    if summary.get("k_marginal") is not None and summary["k_marginal"] < 800:
        out.append(f"k-marginal score {summary['k_marginal']:.0f} is low (1000 = identical marginals)")
    return out


def _real_category_counts(columns: SourceColumns, counts: CombinationCounts) -> list[np.ndarray]:
    """Per source column, the real count of each category, from the single-attribute counts (multi-value columns
    and the empty category are left at 0: only single-value columns can be numeric)."""
    out = [np.zeros(size, dtype=np.int64) for size in columns.sizes]
    singles = counts.lengths == 1
    ids = counts.layout.unpack(counts.keys[singles], 1)[:, 0]
    for a, c in zip(ids.tolist(), counts.counts[singles].tolist(), strict=True):
        s = int(columns.attr_source[a])
        if s >= 0 and not columns.multi[s]:
            out[s][int(columns.attr_code[a])] = c
    return out


def evaluate_records(
    real: Records,
    synthetic: Records,
    reporting_length: int = 3,
    resolution: int = 10,
    privacy: dict[str, Any] | None = None,
    ctx: RunContext | None = None,
    real_counts: CombinationCounts | None = None,
    statistics: SensitiveStatistics | None = None,
    synthetic_counts: CombinationCounts | None = None,
) -> Evaluation:
    """Synthetic against sensitive records sharing one attribute dictionary: docs/method.md, "Evaluation" metrics,
    marginal TVDs, k-marginal, pMSE, unique matches. Both may be streams: every part works batch by batch.
    `real_counts`, `synthetic_counts`: the tables' combinations up to `reporting_length`, when already counted."""
    progress = context(ctx).progress
    a, b = real.attributes, synthetic.attributes
    if a is not b and not (
        a.columns == b.columns and a.values == b.values and np.array_equal(a.column_of, b.column_of)
    ):
        raise ValueError("evaluation needs both tables encoded with one attribute dictionary")
    with progress.stage("evaluating combinations"):
        real_counts = real_counts or count_combinations(real, reporting_length)
        syn_counts = synthetic_counts or count_combinations(synthetic, reporting_length)
        syn_records = syn_counts.n_records
        sds = compare_combinations(real_counts, syn_counts, resolution, real_counts.n_records, syn_records)
        stats = statistics or sensitive_statistics(real, real_counts, resolution)
    with progress.stage("evaluating marginals and scores"):
        columns = SourceColumns.from_attributes(real.attributes)
        bins = kmarginal_bins(columns.labels, _real_category_counts(columns, real_counts))
        hint = max(real_counts.n_records, syn_records)  # both profiles count each column set alike
        real_profile = encoded_profile(real, columns, (1, 2, 3), bins, SUBSAMPLE_FRACTIONS, real_counts.n_records, hint)
        syn_profile = encoded_profile(synthetic, columns, (1, 2, 3), bins, (), syn_records, hint)
        tvd = tvd_from_profiles(real_profile, syn_profile, columns.names)
        cross = cross_tool_scores_from_profiles(real_profile, syn_profile, columns.names)
    summary = {
        **sds.metrics,
        "original_records": real_counts.n_records,
        "synthetic_records": syn_records,
        **{f"mean_tvd_{k}": v for k, v in mean_tvd_by_order(tvd).items()},
        **cross.scores,
        "risky_identifiable_pct": stats.summary()["risky_identifiable_pct"],
    }
    evaluation = Evaluation(
        private=True,
        summary=summary,
        sds=sds,
        single_attributes=_single_attributes(real_counts, syn_counts),
        tvd=tvd,
        k_marginal_pairs=cross.k_marginal_pairs,
        subsample=cross.subsample,
        records_analysis=stats.protected_analysis.to_frame(),
        privacy=privacy or {},
    )
    evaluation.warnings = _quality_warnings(summary)
    return evaluation


def evaluate_private(
    sensitive: Any,
    synthetic: Any,
    options: IngestOptions,
    reporting_length: int = 3,
    resolution: int = 10,
    privacy: dict[str, Any] | None = None,
    ctx: RunContext | None = None,
) -> Evaluation:
    """A synthetic table (file or frame, as sdsynth writes it) against the sensitive one, read with one dictionary,
    over the columns both hold (the others are named in the evaluation's warnings)."""
    syn_options = synthetic_side_options(options, synthetic)
    options, syn_options, skipped = _shared_columns(sensitive, options, synthetic, syn_options)
    real, syn = encode_together([(sensitive, options), (synthetic, syn_options)], ctx)
    evaluation = evaluate_records(real, syn, reporting_length, resolution, privacy, ctx)
    evaluation.warnings[:0] = skipped
    return evaluation


def _shared_columns(
    sensitive: Any, options: IngestOptions, synthetic: Any, syn_options: IngestOptions
) -> tuple[IngestOptions, IngestOptions, list[str]]:
    """Both tables restricted to the columns both hold (in the sensitive table's order), and what was left out: a
    release may drop columns (`--drop-columns`, `use: false`), and a synthetic table from another tool may have
    more or fewer."""
    _, plan = open_and_plan(sensitive, options)
    syn_headers = {cmp_key(h) for h in open_table(synthetic, delimiter=syn_options.delimiter).headers}
    used = [c.header.strip() for c in plan.columns]
    shared = [name for name in used if cmp_key(name) in syn_headers]
    only_sensitive = [name for name in used if cmp_key(name) not in syn_headers]
    only_synthetic = sorted(syn_headers - {cmp_key(n) for n in used})
    if not shared:
        raise InputError("the synthetic table holds none of the sensitive table's columns: nothing to compare")
    if not only_sensitive and not only_synthetic:
        return options, syn_options, []
    notes = [f"compared the {len(shared)} columns both tables hold"]
    if only_sensitive:
        notes.append(f"not compared (not in the synthetic table): {', '.join(only_sensitive)}")
    if only_synthetic:
        notes.append(f"not compared (not used in the sensitive table): {', '.join(only_synthetic)}")
    restrict = {"use_columns": shared, "drop_columns": None}
    return replace(options, **restrict), replace(syn_options, **restrict), ["; ".join(notes)]


def evaluate_public(
    aggregates: Aggregates, synthetic: EncodedData, privacy: dict[str, Any] | None = None,
    synthetic_counts: CombinationCounts | None = None,
) -> Evaluation:  # fmt: skip
    """Synthetic data against the released aggregates only (safe to publish). `synthetic_counts`: the synthetic
    combinations up to the release's reporting length, when already counted."""
    R = aggregates.reporting_length
    syn_counts = aggregates.within_release(synthetic_counts or count_combinations(synthetic, R))
    resolution = int(aggregates.parameters.get("resolution", 1)) if aggregates.mode == "k-anonymity" else 1
    sds = compare_combinations(aggregates, syn_counts, resolution, aggregates.record_count, synthetic.n_records)
    summary = {**sds.metrics, "released_records": aggregates.record_count, "synthetic_records": synthetic.n_records}
    summary.pop("leaked_combinations", None)  # rare/leak notions need the sensitive counts
    evaluation = Evaluation(
        private=False,
        summary=summary,
        sds=replace(sds, detail=sds.detail.drop("rare_leak")),
        single_attributes=_single_attributes(aggregates, syn_counts),
        privacy=privacy or {},
    )
    evaluation.warnings = _quality_warnings(summary)
    return evaluation


def write_evaluation(evaluation: Evaluation, folder: Path, prefix: str = "") -> list[Path]:
    """evaluation.json and the detail tables (Parquet) that every headline number can be recomputed from."""
    written = []
    path = folder / f"{prefix}evaluation.json"
    path.write_text(evaluation.to_json(), encoding="utf-8")
    written.append(path)
    details = folder / f"{prefix}evaluation_details"
    details.mkdir(exist_ok=True)
    for name, frame in evaluation.detail_tables().items():
        p = details / f"{name}.parquet"
        frame.write_parquet(p)
        written.append(p)
    return written


def summary_rows(evaluation: Evaluation) -> pl.DataFrame:
    """The headline numbers as (metric, value) rows, for the release's `evaluation` table."""
    rows = []
    for k, v in evaluation.summary.items():
        if isinstance(v, float) and not math.isfinite(v):
            continue
        rows.append({"metric": k, "value": float(v) if isinstance(v, int | float | np.generic) else None})
    return pl.DataFrame(rows, schema={"metric": pl.String, "value": pl.Float64})
