"""`run_synthesize` (`sdsynth synthesize`): the aggregates and synthetic records of one run written as one release, or
synthetic records from a published release alone; and the two steps the Python API shares with it (`fit_records`,
`synthesize`)."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sdsynth._utils.context import RunContext, context
from sdsynth._utils.files import atomic_directory
from sdsynth.bundle.read import load_release
from sdsynth.bundle.write import release_date, write_aggregates_release
from sdsynth.count.analysis import SensitiveStatistics
from sdsynth.count.estimate import SYNTHESIS_STAGES
from sdsynth.encode.records import EncodedData, Records
from sdsynth.encode.tables import encode
from sdsynth.errors import ParameterError
from sdsynth.jobs.common import (
    Protected,
    check_dp_inputs,
    check_outputs,
    complete,
    counting_records,
    input_description,
    local_records,
    note_synthesis_fit,
    protect,
    reading,
    run_inputs,
    spending,
    warn_default_delta,
    write_private_figures,
)
from sdsynth.jobs.settings import AGGREGATE_SEEDED, JobSettings
from sdsynth.protect.aggregates import Aggregates
from sdsynth.read.options import IngestOptions
from sdsynth.schema.model import Schema
from sdsynth.synth.aggregate_seeded import synthesize_from_aggregates, target_records
from sdsynth.synth.base import create
from sdsynth.synth.calibrated import coverage_share
from sdsynth.synth.options import AggregateSeededParameters
from sdsynth.synth.output import write_synthetic_files

if TYPE_CHECKING:
    from sdsynth.backends.dask.engine import DaskRecords

Synthetic = EncodedData | Iterator[EncodedData]


@dataclass
class SynthesisResult:
    aggregates: Aggregates
    synthetic_records: int
    statistics: SensitiveStatistics | None
    release_id: str


def run_synthesize(
    data: Any, options: IngestOptions, settings: JobSettings, ctx: RunContext | None = None
) -> SynthesisResult:
    """Aggregates and synthetic records of one run, written as one release into `settings.out`; from the release in
    `settings.aggregates` instead of sensitive data when it is given.

    k-anonymity methods read the sensitive records into memory; aggregate-seeded synthesis (always, with DP) only
    ever sees the released aggregates, so the records are streamed once for counting and then dropped. With
    `ctx.cluster`, counting and (calibrated law) synthesis run on Dask workers; `ctx.seed` makes synthesis
    reproducible."""
    ctx = context(ctx)
    if settings.aggregates is not None:
        if data is not None:
            raise ParameterError("give either the sensitive input or `aggregates` (a release), not both")
        return _synthesize_from_release(settings, ctx)
    inputs = run_inputs(data, options, settings)
    created_at, release_id = release_date(), uuid.uuid4().hex
    with spending(settings, "synthesize", ctx) as entry:
        check_outputs(settings, inputs)
        if settings.dp is not None:
            check_dp_inputs(data, options, settings.dp, ctx)
        with (
            atomic_directory(settings.out, settings.overwrite, inputs=inputs) as tmp_out,
            reading(entry),
            ExitStack() as stack,
        ):
            records, protected = fit_records(stack, data, options, settings, ctx)
            aggs = protected.aggregates
            synthetic, law = synthesize(aggs, records, data, options, settings, ctx)
            info = {**input_description(options, ctx), "release_id": release_id, **_oversampling_info(settings)}
            written = write_synthetic_release(aggs, synthetic, Path(tmp_out), settings, law, info, ctx, created_at,
                                              options.schema)  # fmt: skip
            stats = None
            if settings.private_out is not None:
                with atomic_directory(settings.private_out, settings.overwrite, private=True, inputs=inputs) as tmp:
                    local = local_records(records, data, options, ctx)
                    stats, _ = write_private_figures(records, local, protected, settings, Path(tmp), ctx)
        complete(entry, release_id, aggs, settings.out)
    warn_default_delta(aggs, settings.dp, ctx)
    note_synthesis_fit(settings.method, aggs.record_count, written, ctx)
    return SynthesisResult(aggs, written, stats, release_id)


def fit_records(
    stack: ExitStack, data: Any, options: IngestOptions, settings: JobSettings, ctx: RunContext
) -> tuple[Records | DaskRecords, Protected]:
    """The sensitive records and the aggregates released from them: streamed (or loaded on the cluster, freed when
    `stack` closes) for aggregate-seeded synthesis, read into memory for the k-anonymity methods."""
    if settings.method == AGGREGATE_SEEDED:
        records: Records | DaskRecords = stack.enter_context(counting_records(data, options, ctx))
    elif ctx.cluster is not None:
        raise ParameterError(f"`engine` dask runs aggregate-seeded synthesis; `method` {settings.method} reads the "
                             "records into this machine's memory: use `engine` local")  # fmt: skip
    else:
        records = encode(data, options, ctx)
    return records, protect(records, settings, ctx, SYNTHESIS_STAGES)


def synthesize(
    aggs: Aggregates,
    records: Any,
    data: Any,
    options: IngestOptions,
    settings: JobSettings,
    ctx: RunContext,
) -> tuple[Synthetic, AggregateSeededParameters | None]:
    """The synthetic records (in memory or as batches) and the sampling law used: post-processing of the released
    aggregates (aggregate-seeded), or the k-anonymity synthesizers' records drawn from the sensitive ones (read
    into memory again when `records` is a stream)."""
    if settings.method == AGGREGATE_SEEDED:
        return synthesize_from_aggregates(aggs, settings.records, settings.law, ctx)
    extra: dict[str, Any] = {}
    if settings.oversampling is not None:
        extra = {"oversampling_ratio": settings.oversampling.ratio, "oversampling_tries": settings.oversampling.tries,
                 "oversampling_aggregates": aggs}  # fmt: skip
    with ctx.progress.stage(f"synthesizing ({settings.method})"):
        in_memory = records if isinstance(records, EncodedData) else encode(data, options, ctx)
        synthesizer = create(settings.method, resolution=settings.k, n_threads=ctx.threads, **extra).fit(in_memory)
        # unseeded makes the released record count by default: the true count is not public under k-anonymity
        n = (
            (settings.records if settings.records is not None else aggs.record_count)
            if settings.method == "unseeded"
            else None
        )
        return synthesizer.sample_records(n, seed=ctx.seed), None


def _synthesize_from_release(settings: JobSettings, ctx: RunContext) -> SynthesisResult:
    """Aggregate-seeded synthesis from a published release: no sensitive data at all."""
    assert settings.aggregates is not None
    aggs = load_release(settings.aggregates)
    with atomic_directory(settings.out, settings.overwrite, inputs=[settings.aggregates]) as tmp_out:
        synthetic, law = synthesize_from_aggregates(aggs, settings.records, settings.law, ctx)
        dropped = ("created_at", "software", "released_combinations")
        info = {k: v for k, v in aggs.parameters.items() if k not in dropped}
        # the source release by its id, never by a local folder name
        info["synthesized_from_release"] = aggs.parameters.get("release_id", True)
        info["engine"] = ctx.engine
        written = write_synthetic_release(aggs, synthetic, Path(tmp_out), settings, law, info, ctx)
    return SynthesisResult(aggs, written, None, str(aggs.parameters.get("release_id", "")))


def write_synthetic_release(
    aggs: Aggregates,
    synthetic: Synthetic,
    folder: Path,
    settings: JobSettings,
    law: AggregateSeededParameters | None,
    info: dict[str, Any],
    ctx: RunContext,
    created_at: str | None = None,
    schema: Schema | None = None,
) -> int:
    """synthetic.csv/.parquet plus the aggregates, with a `synthetic` table in release.duckdb (its columns described
    from the public codebook of `schema`); returns the number of synthetic records."""
    with tempfile.TemporaryDirectory(prefix=".synthetic-", dir=folder.parent) as scratch:
        output = write_synthetic_files(synthetic, aggs.attributes, folder, Path(scratch), ctx.progress,
                                       target_records(aggs, None))  # fmt: skip
        with ctx.progress.stage("writing release"):
            info = {**info, **synthesis_info(settings, law, output.n_records, output.streamed, ctx.seed)}
            write_aggregates_release(aggs, folder, info_extra=info, tables={"synthetic": output.parquet},
                                     created_at=created_at, schema=schema)  # fmt: skip
    return output.n_records


def synthesis_info(
    settings: JobSettings, law: AggregateSeededParameters | None, records: int, streamed: bool, seed: int | None
) -> dict[str, Any]:
    """How the synthetic records were made, for release_info."""
    info: dict[str, Any] = {"synthesis_method": settings.method, "synthetic_records": records,
                            "synthesis_seeded": seed is not None, "synthesis_streamed": streamed}  # fmt: skip
    if settings.method == AGGREGATE_SEEDED:
        info.update(synthesis_parameters(law or settings.law))
    return info


def _oversampling_info(settings: JobSettings) -> dict[str, Any]:
    if settings.oversampling is None:
        return {}
    return {"oversampling_ratio": settings.oversampling.ratio, "oversampling_tries": settings.oversampling.tries}


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
