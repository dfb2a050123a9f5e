"""End-to-end jobs the CLI runs: each reads the input once or streams it, and writes its outputs atomically."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .aggregate import Aggregates, CombinationCounts, count_combinations, protect_k_anonymity
from .analysis import SensitiveStatistics, sensitive_statistics
from .encode import stream_encoded
from .ingest import IngestOptions
from .progress import NullProgress, Progress
from .release import atomic_directory, write_aggregates_release
from .rust_format import rust_float


@dataclass
class AggregateResult:
    aggregates: Aggregates
    statistics: SensitiveStatistics | None


def input_description(options: IngestOptions) -> dict[str, Any]:
    """Public description of how the input was read (names and settings, no data)."""
    info: dict[str, Any] = {}
    if options.schema is not None:
        info["schema"] = options.schema.name or str(options.schema.source)
    if options.subject_id or (options.schema and options.schema.subject_id):
        info["subject_id_joined"] = True
    if options.record_limit:
        info["record_limit"] = options.record_limit
    return info


def run_aggregate(
    data: Any,
    options: IngestOptions,
    out: str | Path,
    reporting_length: int = 3,
    resolution: int = 10,
    private_out: str | Path | None = None,
    overwrite: bool = False,
    n_threads: int | None = None,
    progress: Progress | None = None,
) -> AggregateResult:
    """Count, protect with k-anonymity and write the release (and private statistics when asked)."""
    progress = progress or NullProgress()
    with atomic_directory(out, overwrite) as tmp_out:
        records = stream_encoded(data, options, progress)
        counts = count_combinations(records, reporting_length, n_threads, progress)
        aggs = protect_k_anonymity(counts, resolution)
        stats = None
        if private_out is not None:
            with atomic_directory(private_out, overwrite) as tmp_private:
                stats = sensitive_statistics(records, counts, resolution, n_threads, progress)
                write_private_statistics(stats, counts, Path(tmp_private))
        with progress.stage("writing release"):
            write_aggregates_release(aggs, Path(tmp_out), info_extra=input_description(options))
    return AggregateResult(aggs, stats)


def write_private_statistics(stats: SensitiveStatistics, counts: CombinationCounts, folder: Path) -> None:
    """Spec §2.4–2.6 statistics of the sensitive data, in the reference's file formats where it has one."""
    _write_records_analysis(stats.analysis.to_frame(), folder / "records_analysis.tsv")
    _write_records_analysis(stats.protected_analysis.to_frame(), folder / "records_analysis_protected.tsv")
    rare = stats.by_length.select(
        "length", "combinations", "rare", (stats.by_length["rare"] / stats.by_length["combinations"]).alias("p")
    )
    with (folder / "sensitive_rare_by_length.tsv").open("w", encoding="utf-8") as fh:
        fh.write("sen_combo_length\tcombo_count\trare_count\trare_proportion\n")
        for length, combos, n_rare, p in rare.iter_rows():
            fh.write(f"{length}\t{combos}\t{n_rare}\t{rust_float(p)}\n")
    stats.rare_records_per_attribute.write_csv(folder / "rare_records_per_attribute.tsv", separator="\t")
    stats.rare_records_pct_per_column.write_csv(folder / "rare_records_pct_per_column.tsv", separator="\t")
    stats.unique_records_per_column.write_csv(folder / "unique_records_per_column.tsv", separator="\t")
    summary = stats.summary()
    summary["by_length"] = stats.by_length.to_dicts()
    summary["true_record_count"] = counts.n_records
    (folder / "sensitive_statistics.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")


def _write_records_analysis(frame: Any, path: Path) -> None:
    with path.open("w", encoding="utf-8") as fh:
        fh.write("\t".join(frame.columns) + "\n")
        for row in frame.iter_rows():
            fh.write("\t".join(rust_float(v) if isinstance(v, float) else str(v) for v in row) + "\n")
