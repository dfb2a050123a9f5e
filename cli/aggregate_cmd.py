"""`sdsynth aggregate`: released aggregate counts of attribute combinations (k-anonymous)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._common import (
    DelimiterOpt,
    Engine,
    EngineOpt,
    InputArg,
    MissingOpt,
    MultiValueLegacyOpt,
    MultiValueOpt,
    OverwriteOpt,
    QuietOpt,
    RecordLimitOpt,
    RichProgress,
    SchedulerOpt,
    SchemaOpt,
    SensitiveZerosOpt,
    SubjectIdOpt,
    ThreadsOpt,
    UseColumnsOpt,
    WorkersOpt,
    err_console,
    handle_errors,
    ingest_options,
    resolve_input,
)
from ._dp_options import (
    AccuracyOpt,
    BudgetOpt,
    DatasetIdOpt,
    DeltaOpt,
    DpOpt,
    EpsilonOpt,
    FabricationOpt,
    LedgerOpt,
    MaxAttributesOpt,
    PercentileOpt,
    PercentileShareOpt,
    RecordShareOpt,
    SigmaOpt,
    ThresholdOpt,
    ThresholdTypeOpt,
    ThresholdValuesOpt,
    dp_parameters,
    ledger_request,
)

ReportingLengthOpt = Annotated[
    int,
    typer.Option(
        "--reporting-length", "-r", help="Longest attribute combination counted (R, at least 1).", show_default=True
    ),
]
ResolutionOpt = Annotated[
    int | None,
    typer.Option(
        "--resolution", "-k", help="k of k-anonymity: counts are rounded down to multiples of k [default: 10]"
    ),
]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Release folder to write (must not exist).")]
PrivateOutOpt = Annotated[
    Path | None,
    typer.Option(
        "--private-out",
        help="Folder for statistics computed from the sensitive data (rare/unique records analysis). Never publish.",
    ),
]


@handle_errors
def aggregate(
    input: InputArg = None,
    out: OutOpt = Path("release"),
    reporting_length: ReportingLengthOpt = 3,
    resolution: ResolutionOpt = None,
    private_out: PrivateOutOpt = None,
    dp: DpOpt = False,
    epsilon: EpsilonOpt = None,
    delta: DeltaOpt = None,
    percentile: PercentileOpt = None,
    percentile_epsilon_proportion: PercentileShareOpt = None,
    record_count_epsilon_proportion: RecordShareOpt = None,
    accuracy_mode: AccuracyOpt = None,
    sigma_proportions: SigmaOpt = None,
    fabrication_mode: FabricationOpt = None,
    threshold: ThresholdOpt = None,
    noise_threshold_type: ThresholdTypeOpt = None,
    noise_threshold_values: ThresholdValuesOpt = None,
    max_attributes_per_record: MaxAttributesOpt = None,
    ledger: LedgerOpt = None,
    dataset_id: DatasetIdOpt = None,
    budget: BudgetOpt = None,
    schema: SchemaOpt = None,
    use_columns: UseColumnsOpt = None,
    sensitive_zeros: SensitiveZerosOpt = None,
    multi_value: MultiValueOpt = None,
    multi_value_columns: MultiValueLegacyOpt = None,
    subject_id: SubjectIdOpt = None,
    record_limit: RecordLimitOpt = 0,
    missing_values: MissingOpt = None,
    delimiter: DelimiterOpt = None,
    threads: ThreadsOpt = None,
    engine: EngineOpt = Engine.local,
    scheduler: SchedulerOpt = None,
    workers: WorkersOpt = None,
    overwrite: OverwriteOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Count every combination of up to R attributes and release the counts, k-anonymous or (--dp) DP.

    Writes OUT/aggregates.tsv (the reference's format), OUT/aggregates.parquet and OUT/release.duckdb (tables
    aggregates, release_info, release_levels; view aggregates_by_source_column). Query it with `sdsynth query OUT`.
    With --dp every count, and the record count, carries noise; release_info and release_levels record every
    privacy parameter used (ε, δ, ρ, σ and contribution bound per length, thresholds).
    """
    from sdsynth.backends.dask.engine import compute_engine
    from sdsynth.errors import ParameterError
    from sdsynth.jobs.aggregate import run_aggregate

    if reporting_length < 1:
        raise ParameterError(f"--reporting-length must be at least 1, got {reporting_length}")
    if dp and resolution is not None:
        raise ParameterError("--resolution is the k of k-anonymity; a --dp release is protected by --epsilon instead")
    if resolution is not None and resolution < 1:
        raise ParameterError(f"--resolution must be at least 1, got {resolution}")
    dp_params = dp_parameters(
        dp,
        reporting_length,
        epsilon,
        delta,
        percentile,
        percentile_epsilon_proportion,
        record_count_epsilon_proportion,
        accuracy_mode,
        sigma_proportions,
        fabrication_mode,
        threshold,
        noise_threshold_type,
        noise_threshold_values,
        max_attributes_per_record,
    )
    resolution = resolution or 10
    path = resolve_input(input, quiet)
    options = ingest_options(
        schema,
        use_columns,
        sensitive_zeros,
        multi_value,
        multi_value_columns,
        subject_id,
        record_limit,
        missing_values,
        delimiter,
        input,
    )
    progress = RichProgress(quiet)
    with compute_engine(engine.value, scheduler, workers) as cluster:
        result = run_aggregate(
            path,
            options,
            out,
            reporting_length=reporting_length,
            resolution=resolution,
            private_out=private_out,
            overwrite=overwrite,
            n_threads=threads,
            progress=progress,
            dp=dp_params,
            cluster=cluster,
            ledger_request=ledger_request(ledger, dataset_id, budget),
        )
    if not quiet:
        aggs = result.aggregates
        by_len = ", ".join(f"length {lvl['length']}: {lvl['released_combinations']:,}" for lvl in aggs.levels)
        protection = f"k = {resolution}" if dp_params is None else f"ε = {dp_params.epsilon}, noisy"
        err_console.print(
            f"released {aggs.n_combinations:,} combinations ({by_len}); record count as released "
            f"{aggs.record_count:,} ({protection})"
        )
        err_console.print(f'wrote {out}/ — try: sdsynth query {out} "SELECT * FROM aggregates LIMIT 10"')
        if private_out is not None:
            err_console.print(f"wrote private statistics to {private_out}/ (do not publish)")
