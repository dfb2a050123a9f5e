"""`run_synthesize` (`sdsynth synthesize`): aggregates and synthetic records of one run written as one release; and
`run_synthesize_from_release`, synthesis from a published release alone.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sdsynth._utils.files import atomic_directory
from sdsynth._utils.progress import NullProgress, Progress
from sdsynth.bundle.read import load_release
from sdsynth.bundle.write import release_date, write_aggregates_release
from sdsynth.count.analysis import SensitiveStatistics, sensitive_statistics
from sdsynth.count.combinations import count_combinations
from sdsynth.encode.records import EncodedData
from sdsynth.encode.tables import encode
from sdsynth.errors import ParameterError
from sdsynth.protect import ledger
from sdsynth.protect.aggregates import Aggregates
from sdsynth.protect.dp.params import DpParameters
from sdsynth.protect.ledger import LedgerRequest
from sdsynth.read.options import IngestOptions
from sdsynth.synth.aggregate_seeded import (
    AggregateSeededParameters,
    aggregate_seeded_batches,
    concat_records,
    resolve_sampling_law,
)
from sdsynth.synth.base import create
from sdsynth.synth.calibrated import coverage_share
from sdsynth.synth.output import streamed, write_synthetic_files

if TYPE_CHECKING:
    from sdsynth.backends.dask.engine import DaskEngine
from sdsynth.jobs.common import (
    check_dp_inputs,
    check_outputs,
    complete,
    counting_records,
    input_description,
    local_records,
    protect,
    reading,
    run_inputs,
    warn_default_delta,
    write_dp_private,
    write_private_statistics,
    write_release_errors,
)


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
        from sdsynth.synth.distributed import iter_synthesize_distributed

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
