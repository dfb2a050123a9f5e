"""End-to-end jobs the CLI runs: each reads the input once or streams it, and writes its outputs atomically."""

from __future__ import annotations

import json
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import ledger
from .aggregate import Aggregates, CombinationCounts, count_combinations, protect_k_anonymity
from .analysis import SensitiveStatistics, sensitive_statistics
from .dp.marginals import dp_marginals, undeclared_parts_message
from .dp.params import DEFAULT_DELTA, DpParameters
from .encode import EncodedData, Records, encode, planned_source, stream_encoded
from .errors import InputError, ParameterError, PrivacyParameterError
from .guards import check_counting, records_size
from .ingest import IngestOptions, open_and_plan
from .ledger import LedgerRequest
from .progress import NullProgress, Progress
from .release import atomic_directory, check_output_dir, release_date, write_aggregates_release
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
    """Public description of how the input was read (names and settings, no data, no file name or local path)."""
    info: dict[str, Any] = {"engine": "dask" if cluster is not None else "local"}
    if options.schema is not None:
        info["schema"] = options.schema.name or "(unnamed schema)"
    if options.subject_id or (options.schema and options.schema.subject_id):
        info["subject_id_joined"] = True
    if options.record_limit:
        info["record_limit"] = options.record_limit
    return info


def run_inputs(data: Any, options: IngestOptions, *others: Any) -> list[Any]:
    """The files a run reads (input, schema, ledger...): an output folder holding one is never replaced."""
    schema_file = options.schema.source if options.schema is not None else None
    return [p for p in (data, schema_file, *others) if isinstance(p, str | Path)]


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
    ledger_request: LedgerRequest | None = None,
) -> AggregateResult:
    """Count, protect (k-anonymity, or DP when `dp` is given) and write the release; private statistics when asked.

    In DP mode `reporting_length` and `resolution` are ignored (R comes from `dp`; `resolution` only sets the rare
    threshold of the private statistics). With a `cluster` the passes over the records run on Dask workers. With a
    `ledger_request` (DP only) the run's ε is reserved in the budget ledger before any record is read.
    """
    progress = progress or NullProgress()
    inputs = run_inputs(data, options, ledger_request.path if ledger_request else None)
    created_at, release_id = release_date(), uuid.uuid4().hex
    with ledger.spending(ledger_request, dp, "aggregate", progress.note) as entry:
        check_outputs(out, private_out, overwrite, inputs)
        if dp is not None:
            check_dp_inputs(data, options, dp, progress)
        with (
            atomic_directory(out, overwrite, inputs=inputs) as tmp_out,
            reading(entry),
            counting_records(data, options, cluster, progress) as records,
        ):
            aggs, counts, dp_private = protect(records, options, reporting_length, resolution, dp, n_threads, progress)
            stats = None
            if private_out is not None:
                with atomic_directory(private_out, overwrite, private=True, inputs=inputs) as tmp_private:
                    if counts is None:
                        counts = count_combinations(records, aggs.reporting_length, n_threads, progress)
                        write_release_errors(aggs, counts, Path(tmp_private))
                    write_dp_private(dp_private, Path(tmp_private))
                    local = local_records(records, data, options, progress)
                    stats = sensitive_statistics(local, counts, resolution, n_threads, progress)
                    write_private_statistics(stats, counts, Path(tmp_private))
            with progress.stage("writing release"):
                info = {**input_description(options, cluster), "release_id": release_id}
                write_aggregates_release(aggs, Path(tmp_out), info_extra=info, created_at=created_at)
        complete(entry, release_id, aggs, out)
    warn_default_delta(aggs, dp, progress)
    return AggregateResult(aggs, stats)


@contextmanager
def reading(entry: ledger.Reservation | None) -> Iterator[None]:
    """Marks the point where a run starts reading sensitive records: from here on its ledger entry is spent."""
    if entry is not None:
        entry.reading()
    yield


def complete(entry: ledger.Reservation | None, release_id: str, aggs: Aggregates, out: str | Path) -> None:
    """Record the finished release in its ledger entry, with every cost a tighter accountant needs."""
    if entry is not None:
        entry.complete(release_id, output=str(out), **ledger.costs_from_parameters(aggs.parameters))


def check_outputs(out: str | Path, private_out: str | Path | None, overwrite: bool, inputs: list[Any]) -> None:
    """Both output folders can be written, before any work starts."""
    check_output_dir(out, overwrite, inputs)
    if private_out is not None:
        if Path(out).resolve() == Path(private_out).resolve():
            raise ParameterError("--out and --private-out must be different folders")
        check_output_dir(private_out, overwrite, inputs)


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
) -> tuple[Aggregates, CombinationCounts | None, dict[str, Any]]:
    """The released aggregates (DP, or k-anonymous with the exact counts they come from), after the memory guard,
    and the figures of the DP run that belong to the private folder only."""
    check_counting(records.attributes, *records_size(records), dp.reporting_length if dp else reporting_length,
                   progress)  # fmt: skip
    if dp is None:
        counts = count_combinations(records, reporting_length, n_threads, progress)
        return protect_k_anonymity(counts, resolution), counts, {}
    result = dp_marginals(records, dp, n_threads, progress)
    return result.aggregates, None, result.private


def check_dp_inputs(data: Any, options: IngestOptions, dp: DpParameters, progress: Progress) -> None:
    """What a DP run must settle from public inputs before it reads a record: the bound on attributes per record
    (refused when a multi-value column declares no parts and no explicit bound is given), and warnings about
    schema content taken from the data and about the default δ."""
    if dp.max_attributes_per_record is None:
        _, plan = open_and_plan(data, options)
        sources = [planned_source(col) for col in plan.columns]
        undeclared = [col.display_name for col, s in zip(plan.columns, sources, strict=True)
                      if s.is_multi_value and s.declared_parts is None]  # fmt: skip
        if undeclared:
            raise PrivacyParameterError(undeclared_parts_message(undeclared))
    schema = options.schema
    if schema is not None and schema.inferred_bin_columns:
        progress.note(
            "warning: the bins of " + ", ".join(schema.inferred_bin_columns) + " were inferred from the data "
            "(inferred: true in the schema); bin edges computed from the sensitive data leak information in a DP "
            "release: replace them with public edges"
        )
    if schema is not None and schema.drafted_value_columns:
        progress.note(
            "warning: the values of " + ", ".join(schema.drafted_value_columns) + " were drafted from the data "
            "(drafted: true in the schema); review each list, then remove `drafted: true` (until then the release "
            "does not treat them as declared: the codebook shows released values only and multi-value parts do "
            "not bound the attributes per record)"
        )
    if dp.delta is None:
        progress.note(
            f"note: δ not given: using the public default δ = {DEFAULT_DELTA:g} (δ must not depend on the data; "
            "choose it below 1/n for your number of records n, see docs/privacy.md: --delta)"
        )


def warn_default_delta(aggs: Aggregates, dp: DpParameters | None, progress: Progress) -> None:
    """The default δ on data so large that it is above 1/(10·n), the least docs/privacy.md recommends (n: the
    released, noisy record count)."""
    if dp is not None and dp.delta is None and aggs.record_count * DEFAULT_DELTA > 0.1:
        progress.note(
            f"warning: δ = {DEFAULT_DELTA:g} (the default) is not far below 1/n for about {aggs.record_count:,} "
            f"records; pass a smaller --delta next time, e.g. --delta {1 / (10 * aggs.record_count**1.5):.0e}"
        )


def write_dp_private(figures: dict[str, Any], folder: Path) -> None:
    """Figures of the DP run computed from the sensitive records (e.g. how many records were cut)."""
    if figures:
        (folder / "dp_private.json").write_text(json.dumps(figures, indent=2), encoding="utf-8")


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
    ledger_request: LedgerRequest | None = None,
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
    if method == "aggregate-seeded":  # before any data is read
        (aggregate_seeded_params or AggregateSeededParameters()).check_target(None if records == "budget" else 0)
    inputs = run_inputs(data, options, ledger_request.path if ledger_request else None)
    created_at, release_id = release_date(), uuid.uuid4().hex
    with ledger.spending(ledger_request, dp, "synthesize", progress.note) as entry:
        check_outputs(out, private_out, overwrite, inputs)
        if dp is not None:
            check_dp_inputs(data, options, dp, progress)
        with (
            atomic_directory(out, overwrite, inputs=inputs) as tmp_out,
            reading(entry),
            ExitStack() as stack,
        ):
            dp_private: dict[str, Any] = {}
            if method == "aggregate-seeded":
                encoded = stack.enter_context(counting_records(data, options, cluster, progress))
                aggs, counts, dp_private = protect(encoded, options, reporting_length, resolution, dp, n_threads,
                                                   progress)  # fmt: skip
                synthetic_records, aggregate_seeded_params = aggregate_seeded_output(
                    aggs, records, aggregate_seeded_params, seed, n_threads, progress, cluster
                )
            else:
                if cluster is not None:
                    raise ParameterError(f"--engine dask runs aggregate-seeded synthesis; --method {method} reads the "
                                         "records into this machine's memory: use --engine local")  # fmt: skip
                encoded = encode(data, options, progress)
                aggs, counts, _ = protect(encoded, options, reporting_length, resolution, None, n_threads, progress)
                extra = dict(synthesizer_options or {})
                if extra.get("oversampling_ratio") is not None:
                    extra["oversampling_aggregates"] = aggs
                synthesizer = create(method, resolution=resolution, n_threads=n_threads, **extra)
                with progress.stage(f"synthesizing ({method})"):
                    synthetic_records = synthesizer.fit(encoded).sample_records(seed=seed)
            info = {**input_description(options, cluster), "release_id": release_id}
            info.update({k: v for k, v in (synthesizer_options or {}).items() if v is not None})
            written = write_synthetic_release(aggs, synthetic_records, Path(tmp_out), method, seed, info,
                                              aggregate_seeded_params, progress, created_at)  # fmt: skip
            stats = None
            if private_out is not None:
                with atomic_directory(private_out, overwrite, private=True, inputs=inputs) as tmp_private:
                    if counts is None:
                        counts = count_combinations(encoded, aggs.reporting_length, n_threads, progress)
                        write_release_errors(aggs, counts, Path(tmp_private))
                    write_dp_private(dp_private, Path(tmp_private))
                    local = local_records(encoded, data, options, progress)
                    stats = sensitive_statistics(local, counts, resolution, n_threads, progress)
                    write_private_statistics(stats, counts, Path(tmp_private))
        complete(entry, release_id, aggs, out)
    warn_default_delta(aggs, dp, progress)
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
    with atomic_directory(out, overwrite, inputs=[aggregates_dir]) as tmp_out:
        synthetic_records, params = aggregate_seeded_output(aggs, records, params, seed, n_threads, progress, cluster)
        info = {
            k: v for k, v in aggs.parameters.items() if k not in ("created_at", "software", "released_combinations")
        }
        # the source release by its id, never by a local folder name
        info["synthesized_from_release"] = aggs.parameters.get("release_id", True)
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
    created_at: str | None = None,
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
            write_aggregates_release(aggs, folder, info_extra=info, tables={"synthetic": output.parquet},
                                     created_at=created_at)  # fmt: skip
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
