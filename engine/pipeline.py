"""End-to-end jobs the CLI runs: each reads the input once or streams it, and writes its outputs atomically."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .aggregate import Aggregates, CombinationCounts, count_combinations, protect_k_anonymity
from .analysis import SensitiveStatistics, sensitive_statistics
from .dp.marginals import dp_marginals, public_max_attributes
from .dp.params import DpParameters
from .encode import EncodedData, Records, encode, stream_encoded
from .errors import InputError, ParameterError
from .guards import check_counting, records_size
from .ingest import IngestOptions, norm
from .progress import NullProgress, Progress
from .release import atomic_directory, write_aggregates_release
from .release_reader import load_release
from .rust_format import rust_float
from .synth import AggregateSeededParameters, create
from .synth.aggregate_seeded import aggregate_seeded_batches, concat_records, resolve_sampling_law
from .synth.calibrated import coverage_share
from .synthetic_output import streamed, write_synthetic_files

if TYPE_CHECKING:
    from .distributed import DaskEngine, DaskRecords


@dataclass
class AggregateResult:
    aggregates: Aggregates
    statistics: SensitiveStatistics | None


def input_description(options: IngestOptions, cluster: DaskEngine | None = None) -> dict[str, Any]:
    """Public description of how the input was read (names and settings, no data)."""
    info: dict[str, Any] = {"engine": "dask" if cluster is not None else "local"}
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
    dp: DpParameters | None = None,
    cluster: DaskEngine | None = None,
) -> AggregateResult:
    """Count, protect (k-anonymity, or DP when `dp` is given) and write the release; private statistics when asked.

    In DP mode `reporting_length` and `resolution` are ignored (R comes from `dp`; `resolution` only sets the rare
    threshold of the private statistics). With a `cluster` the passes over the records run on Dask workers.
    """
    progress = progress or NullProgress()
    if dp is not None:
        warn_inferred_bins(options, progress)
    with atomic_directory(out, overwrite) as tmp_out, counting_records(data, options, cluster, progress) as records:
        aggs, counts = protect(records, options, reporting_length, resolution, dp, n_threads, progress)
        stats = None
        if private_out is not None:
            with atomic_directory(private_out, overwrite) as tmp_private:
                if counts is None:
                    counts = count_combinations(records, aggs.reporting_length, n_threads, progress)
                    write_release_errors(aggs, counts, Path(tmp_private))
                local = local_records(records, data, options, progress)
                stats = sensitive_statistics(local, counts, resolution, n_threads, progress)
                write_private_statistics(stats, counts, Path(tmp_private))
        with progress.stage("writing release"):
            write_aggregates_release(aggs, Path(tmp_out), info_extra=input_description(options, cluster))
    return AggregateResult(aggs, stats)


@contextmanager
def counting_records(
    data: Any, options: IngestOptions, cluster: DaskEngine | None, progress: Progress, local: Records | None = None
) -> Iterator[Records | DaskRecords]:
    """Where the passes over the sensitive records run: the local records (streamed from the file, or `local`), or
    the input loaded on a Dask cluster (freed on exit)."""
    if cluster is None:
        yield local if local is not None else stream_encoded(data, options, progress)
        return
    with cluster.load(data, options, progress) as records:
        yield records


def local_records(records: Records | DaskRecords, data: Any, options: IngestOptions, progress: Progress) -> Records:
    """Records this process can read batch by batch (the private statistics and evaluation run here); with the Dask
    engine the input is streamed again locally, with the same attribute ids as on the cluster."""
    from .distributed import DaskRecords  # no Dask import: the module loads it only when a cluster starts

    if not isinstance(records, DaskRecords):
        return records
    local = stream_encoded(data, options, progress)
    if local.attributes.values != records.attributes.values or local.attributes.labels != records.attributes.labels:
        raise InputError(f"{records.source_name}: the input changed while it was read (the cluster and this machine "
                         "see different values)")  # fmt: skip
    return local


def protect(
    records: Records | DaskRecords,
    options: IngestOptions,
    reporting_length: int,
    resolution: int,
    dp: DpParameters | None,
    n_threads: int | None,
    progress: Progress,
) -> tuple[Aggregates, CombinationCounts | None]:
    """The released aggregates (DP, or k-anonymous with the exact counts they come from), after the memory guard."""
    check_counting(records.attributes, *records_size(records), dp.reporting_length if dp else reporting_length,
                   progress)  # fmt: skip
    if dp is None:
        counts = count_combinations(records, reporting_length, n_threads, progress)
        return protect_k_anonymity(counts, resolution), counts
    W = public_max_attributes(records.attributes, declared_multi_value_parts(options))
    return dp_marginals(records, dp, W, n_threads, progress).aggregates, None


@dataclass
class SynthesisResult:
    aggregates: Aggregates
    synthetic_records: int
    statistics: SensitiveStatistics | None


def run_synthesize(
    data: Any,
    options: IngestOptions,
    out: str | Path,
    method: str = "row-seeded",
    reporting_length: int = 3,
    resolution: int = 10,
    seed: int | None = None,
    private_out: str | Path | None = None,
    overwrite: bool = False,
    n_threads: int | None = None,
    progress: Progress | None = None,
    synthesizer_options: dict[str, Any] | None = None,
    dp: DpParameters | None = None,
    records: int | str | None = None,
    aggregate_seeded_params: AggregateSeededParameters | None = None,
    cluster: DaskEngine | None = None,
) -> SynthesisResult:
    """Aggregates and synthetic records of the same run, written as one release.

    k-anonymity methods read the sensitive records into memory; aggregate-seeded synthesis (always, with `dp`)
    only ever sees the released aggregates, so the records are streamed once for counting and then dropped.
    `records` (aggregate-seeded): a number, "budget" (spend the single-attribute budget), or None for the released
    record count. With a `cluster`, counting and (calibrated law) synthesis run on Dask workers.
    """
    progress = progress or NullProgress()
    if dp is not None and method != "aggregate-seeded":
        raise ParameterError("DP synthesis is aggregate-seeded: drop --method or use --method aggregate-seeded")
    if dp is not None:
        warn_inferred_bins(options, progress)
    with atomic_directory(out, overwrite) as tmp_out, ExitStack() as stack:
        if method == "aggregate-seeded":
            encoded = stack.enter_context(counting_records(data, options, cluster, progress))
            aggs, counts = protect(encoded, options, reporting_length, resolution, dp, n_threads, progress)
            synthetic_records, aggregate_seeded_params = aggregate_seeded_output(
                aggs, records, aggregate_seeded_params, seed, n_threads, progress, cluster
            )
        else:
            if cluster is not None:
                raise ParameterError(f"--engine dask runs aggregate-seeded synthesis; --method {method} reads the "
                                     "records into this machine's memory: use --engine local")  # fmt: skip
            encoded = encode(data, options, progress)
            aggs, counts = protect(encoded, options, reporting_length, resolution, None, n_threads, progress)
            extra = dict(synthesizer_options or {})
            if extra.get("oversampling_ratio") is not None:
                extra["oversampling_aggregates"] = aggs
            synthesizer = create(method, resolution=resolution, n_threads=n_threads, **extra)
            with progress.stage(f"synthesizing ({method})"):
                synthetic_records = synthesizer.fit(encoded).sample_records(seed=seed)
        info = input_description(options, cluster)
        info.update({k: v for k, v in (synthesizer_options or {}).items() if v is not None})
        written = write_synthetic_release(
            aggs, synthetic_records, Path(tmp_out), method, seed, info, aggregate_seeded_params, progress
        )
        stats = None
        if private_out is not None:
            with atomic_directory(private_out, overwrite) as tmp_private:
                if counts is None:
                    counts = count_combinations(encoded, aggs.reporting_length, n_threads, progress)
                    write_release_errors(aggs, counts, Path(tmp_private))
                local = local_records(encoded, data, options, progress)
                stats = sensitive_statistics(local, counts, resolution, n_threads, progress)
                write_private_statistics(stats, counts, Path(tmp_private))
    return SynthesisResult(aggs, written, stats)


def run_synthesize_from_release(
    aggregates_dir: str | Path,
    out: str | Path,
    records: int | str | None = None,
    params: AggregateSeededParameters | None = None,
    seed: int | None = None,
    overwrite: bool = False,
    n_threads: int | None = None,
    progress: Progress | None = None,
    cluster: DaskEngine | None = None,
) -> SynthesisResult:
    """Aggregate-seeded synthesis from a published release (no sensitive data at all), on a Dask `cluster` if
    given."""
    progress = progress or NullProgress()
    aggs = load_release(aggregates_dir)
    with atomic_directory(out, overwrite) as tmp_out:
        synthetic_records, params = aggregate_seeded_output(aggs, records, params, seed, n_threads, progress, cluster)
        info = {
            k: v for k, v in aggs.parameters.items() if k not in ("created_at", "software", "released_combinations")
        }
        info["synthesized_from_release"] = str(Path(aggregates_dir).name)
        info["engine"] = "dask" if cluster is not None else "local"
        written = write_synthetic_release(aggs, synthetic_records, Path(tmp_out), "aggregate-seeded", seed, info,
                                          params, progress)  # fmt: skip
    return SynthesisResult(aggs, written, None)


def target_records(aggs: Aggregates, records: int | str | None) -> int | None:
    """The number of aggregate-seeded records asked for: a number, None for "budget", the released count by default."""
    if records == "budget":
        return None
    return aggs.record_count if records is None else int(records)


def aggregate_seeded_output(
    aggs: Aggregates,
    records: int | str | None,
    params: AggregateSeededParameters | None,
    seed: int | None,
    n_threads: int | None,
    progress: Progress,
    cluster: DaskEngine | None = None,
) -> tuple[EncodedData | Iterator[EncodedData], AggregateSeededParameters]:
    """The synthetic records in memory, or (large outputs) a generator of batches to write as they come, and the
    parameters used (an `auto` sampling law resolved, for the release's records).

    With a `cluster`, calibrated-law batches are drawn on its workers (the same records as locally); the reference
    law feeds each batch's counts into the next, so it runs here."""
    target = target_records(aggs, records)
    with progress.stage("choosing the sampling law"):
        params, drawn = resolve_sampling_law(aggs, target, params or AggregateSeededParameters(), seed)
    if drawn is not None:  # the calibrated law's pilot was the whole output
        return drawn, params
    if cluster is not None and params.sampling_law == "calibrated" and target is not None:
        from .distributed_synth import iter_synthesize_distributed

        batches = iter_synthesize_distributed(aggs, target, seed, cluster, params.coverage)
    else:
        batches = aggregate_seeded_batches(aggs, target, params, seed, n_threads)
    if streamed(target if target is not None else aggs.record_count):
        return batches, params
    with progress.stage("synthesizing (aggregate-seeded)"):
        return concat_records(aggs.attributes, batches), params


def write_synthetic_release(
    aggs: Aggregates,
    synthetic: EncodedData | Iterator[EncodedData],
    folder: Path,
    method: str,
    seed: int | None,
    info: dict[str, Any],
    params: AggregateSeededParameters | None,
    progress: Progress,
) -> int:
    """synthetic.csv/.parquet plus the aggregates, with a `synthetic` table in release.duckdb; returns the number of
    synthetic records."""
    with tempfile.TemporaryDirectory(prefix=".synthetic-", dir=folder.parent) as scratch:
        output = write_synthetic_files(synthetic, aggs.attributes, folder, Path(scratch), progress,
                                       target_records(aggs, None))  # fmt: skip
        with progress.stage("writing release"):
            info = dict(info)
            info.update(synthesis_method=method, synthetic_records=output.n_records, synthesis_seeded=seed is not None,
                        synthesis_streamed=output.streamed)  # fmt: skip
            if method == "aggregate-seeded":
                info.update(synthesis_parameters(params or AggregateSeededParameters()))
            write_aggregates_release(aggs, folder, info_extra=info, tables={"synthetic": output.parquet})
    return output.n_records


def synthesis_parameters(p: AggregateSeededParameters) -> dict[str, Any]:
    """The aggregate-seeded options that shaped the synthetic records (for release_info and the manifest)."""
    chosen = {"sampling_law_chosen_by": p.chosen_by} if p.chosen_by else {}
    if p.sampling_law != "reference":
        return {"sampling_law": p.sampling_law, **chosen, "coverage": coverage_share(p.coverage)}
    return {
        "sampling_law": p.sampling_law,
        **chosen,
        "use_synthetic_counts": p.use_synthetic_counts,
        "weight_selection_percentile": p.weight_selection_percentile,
        "aggregate_counts_scale_factor": p.aggregate_counts_scale_factor,
        "synthesis_batch_size": p.batch_size,
    }


def declared_multi_value_parts(options: IngestOptions) -> dict[str, int]:
    """Per multi-value column (escaped name), how many parts the schema allows: public knowledge for DP bounds."""
    out: dict[str, int] = {}
    if options.schema is not None:
        for col in options.schema.columns:
            if col.kind == "multi_value" and col.values is not None:
                out[norm(col.name)] = len(col.values)
    return out


def warn_inferred_bins(options: IngestOptions, progress: Progress) -> None:
    if options.schema is not None and options.schema.inferred_bin_columns:
        progress.note(
            "warning: the bins of " + ", ".join(options.schema.inferred_bin_columns) + " were inferred from the "
            "data (inferred: true in the schema); bin edges computed from the sensitive data leak information in a "
            "DP release: replace them with public edges"
        )


def write_release_errors(aggs: Aggregates, counts: CombinationCounts, folder: Path) -> None:
    """How far released counts are from the exact ones, per length (private: exact counts are involved)."""
    true = counts.lookup(aggs.keys)
    lengths = aggs.lengths
    released_all = counts.layout.lengths(counts.keys)
    rows = []
    for length in range(1, aggs.reporting_length + 1):
        sel = lengths == length
        present = true[sel] > 0
        rows.append(
            {
                "length": length,
                "released": int(sel.sum()),
                "true_combinations": int((released_all == length).sum()),
                "kept_true": int(present.sum()),
                "fabricated": int((~present).sum()),
                "mean_absolute_error_on_true": float(abs(aggs.counts[sel][present] - true[sel][present]).mean())
                if present.any()
                else 0.0,
            }
        )
    with (folder / "release_errors.tsv").open("w", encoding="utf-8") as fh:
        fh.write("\t".join(rows[0].keys()) + "\n")
        for row in rows:
            fh.write("\t".join(str(v) for v in row.values()) + "\n")


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
